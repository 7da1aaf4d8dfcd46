//! `cups-localhost` in a test-made network namespace: a real listener on
//! 0.0.0.0:631 (a python3 process standing in for cupsd, stopped only by
//! the `systemctl` stub as systemd would stop cups.service), a real
//! `cupsd.conf` under `OPENCLAW_CUPS_DIR`, and a doctor stub that reports
//! the listener as owned by `/usr/sbin/cupsd` while the kernel still shows
//! it (`ss`). Root only.

use std::process::Command;

use crate::support::{GUARD, Host, fixture};

struct CupsLab {
    h: Host,
    ns: String,
    listener: std::process::Child,
}

impl Drop for CupsLab {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.h.path("cupsd.pid")) {
            let _ = Command::new("/bin/kill").arg(pid.trim()).status();
        }
        let _ = self.listener.kill();
        let _ = self.listener.wait();
        let _ = Command::new("/usr/sbin/ip").args(["netns", "del", &self.ns]).status();
    }
}

fn lab(stop_kills: bool) -> Option<CupsLab> {
    if !test_support::is_root() || !std::path::Path::new("/usr/bin/python3").exists() {
        test_support::skip("the CUPS lab needs root and python3");
        return None;
    }
    let h = Host::new();
    for tool in ["rm", "kill", "grep", "sed"] {
        if let Some(real) = ["/bin", "/usr/bin"].iter().map(|d| std::path::Path::new(d).join(tool)).find(|p| p.exists())
        {
            let _ = std::os::unix::fs::symlink(real, h.bin_dir().join(tool));
        }
    }
    let ns = format!("occ{}-{}", std::process::id(), stop_kills as u8);
    let ok = Command::new("/bin/sh")
        .args(["-c", &format!("ip netns add {ns} && ip -n {ns} link set lo up")])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let pidfile = h.path("cupsd.pid");
    let listener = format!(
        "import socket,os\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
         s.bind(('0.0.0.0',631))\ns.listen()\nopen('{}','w').write(str(os.getpid()))\nimport time\ntime.sleep(600)",
        pidfile.display()
    );
    let listener = Command::new("/usr/sbin/ip")
        .args(["netns", "exec", &ns, "/usr/bin/python3", "-c", &listener])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(crate::support::wait_for(|| pidfile.exists()));
    let conf = h.path("cups");
    std::fs::create_dir(&conf).unwrap();
    std::fs::write(conf.join("cupsd.conf"), "LogLevel warn\nPort 631\nListen /run/cups/cups.sock\n").unwrap();
    std::fs::write(
        h.path("units"),
        "cups.service enabled enabled\ncups.socket enabled enabled\ncups-browsed.service enabled enabled\n",
    )
    .unwrap();
    let kill = if stop_kills { format!("kill \"$(cat '{}')\"", pidfile.display()) } else { ":".into() };
    h.stub(
        "systemctl",
        &format!(
            "echo \"$*\" >> '{log}'\ncase \"$1\" in\n  list-unit-files) cat '{units}' ;;\n  is-active) exit 1 ;;\n  \
             mask) sed -i \"s/^$2 [a-z]*/$2 masked/\" '{units}' ;;\n  disable) [ \"$3\" = cups.service ] && {kill} ;;\nesac\nexit 0",
            log = h.path("systemctl.log").display(),
            units = h.path("units").display(),
        ),
    );
    let fail = std::fs::read_to_string(fixture("doctor_fail_sshd.json"))
        .unwrap()
        .replace("/usr/sbin/sshd", "/usr/sbin/cupsd")
        .replace("\"port\": 22", "\"port\": 631");
    std::fs::write(h.path("doctor_cups.json"), fail).unwrap();
    h.doctor_script(&format!(
        "if /usr/bin/ss -ltnH | grep -q ':631 '; then cat '{}'; exit 1; fi\ncat '{}'",
        h.path("doctor_cups.json").display(),
        fixture("doctor_pass.json").display()
    ));
    Some(CupsLab { h, ns, listener })
}

fn guard(l: &CupsLab, args: &[&str]) -> test_support::Run {
    let mut inner = l.h.command();
    let env: Vec<_> = inner.get_envs().filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))).collect();
    let mut c = Command::new("/usr/sbin/ip");
    c.env_clear().envs(env).env("OPENCLAW_CUPS_DIR", l.h.path("cups")).current_dir(l.h.root());
    c.args(["netns", "exec", &l.ns, GUARD]).args(args);
    inner = c;
    test_support::run(&mut inner)
}

#[test]
fn a_public_cupsd_is_stopped_masked_and_its_config_closed_without_an_interlock() {
    let Some(l) = lab(true) else { return };
    let r = guard(&l, &["run", "--format", "json"]);
    assert_eq!(r.code, 0, "{r:?}\n{}", l.h.log());
    let log = l.h.log();
    assert!(!log.contains("INTERLOCK"), "cups needs no tailnet interlock: {log}");
    assert!(
        log.contains("REMEDIATION APPLIED listeners/cups-localhost") && log.contains("PASS after remediation"),
        "{log}"
    );
    let calls = std::fs::read_to_string(l.h.path("systemctl.log")).unwrap();
    for u in ["cups.socket", "cups.service", "cups-browsed.service"] {
        assert!(calls.contains(&format!("disable --now {u}\nmask {u}\n")), "{u}: {calls}");
    }
    let conf = std::fs::read_to_string(l.h.path("cups/cupsd.conf")).unwrap();
    assert!(
        conf.contains("# DISABLED by openclaw-guard") && conf.contains("was: Port 631\nListen /run/cups/cups.sock\n"),
        "{conf}"
    );
    let j = r.json();
    let backup = j["attempts"][0]["fix"]["backup"].as_str().unwrap();
    assert_eq!(
        std::fs::read_to_string(format!("{backup}/files/0")).unwrap(),
        "LogLevel warn\nPort 631\nListen /run/cups/cups.sock\n"
    );
    // A second run finds nothing to do.
    assert_eq!(guard(&l, &["fix", "cups-localhost", "--verify"]).code, 0);
}

#[test]
fn a_listener_that_survives_the_stop_is_reported_never_killed_by_name() {
    let Some(l) = lab(false) else { return };
    let pid = std::fs::read_to_string(l.h.path("cupsd.pid")).unwrap();
    let r = guard(&l, &["fix", "cups-localhost"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout.contains("a CUPS listener remains on 0.0.0.0:631") && r.stdout.contains("never kills by name"),
        "{r:?}"
    );
    assert!(std::path::Path::new(&format!("/proc/{}", pid.trim())).exists(), "the process is left alone");
    assert!(l.h.notify_calls().iter().any(|c| c.contains(&"guard.remediation_failed".to_owned())));
}
