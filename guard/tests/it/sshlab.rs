//! A real sshd in a network namespace the test creates (`ip netns add`):
//! `tailscale0` carries the tailnet address 100.101.102.103 (the recorded
//! `running.json` reports it), `eth0` carries 198.51.100.7 standing in for
//! "public", and `sshd -f <its own config>` listens on 0.0.0.0:2222.
//! `systemctl` is a stub that really restarts that sshd (and can be told to
//! do nothing once, fail, or hang after the restart); `tailscale` replays
//! recorded states; the doctor is the real `openclaw-doctor --only
//! listeners`, so the finding comes from the kernel's socket table and
//! sshd's real executable path. Root only; dropped with the namespace.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::support::{GUARD, Host, Run};

pub(crate) const TAILNET: &str = "100.101.102.103";
pub(crate) const PORT: u16 = 2222;

pub(crate) struct Lab {
    pub(crate) h: Host,
    pub(crate) ns: String,
    pub(crate) ssh: PathBuf,
}

fn sh(cmd: &str) {
    let out = Command::new("/bin/sh").args(["-c", cmd]).output().unwrap();
    assert!(out.status.success(), "{cmd}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The lab's `[guard]` table: short waits, the watchdog dead-man, and this deadline.
fn write_guard_config(h: &Host, rollback_after_secs: u32, verify_secs: u32) {
    h.write_config(&format!(
        "[guard]\nlock_wait_secs = 2\ndoctor_timeout_secs = 30\ntailscale_timeout_secs = 2\n\
         rollback_after_secs = {rollback_after_secs}\nverify_secs = {verify_secs}\ndeadman = \"watchdog\"\n"
    ));
}

impl Lab {
    /// A shorter dead-man deadline (and verification window) for this lab.
    pub(crate) fn deadline(&self, rollback_after_secs: u32, verify_secs: u32) {
        write_guard_config(&self.h, rollback_after_secs, verify_secs);
    }

    /// `None` (with a skip line) when not root or sshd/ip are missing.
    pub(crate) fn new(units: &str) -> Option<Lab> {
        if !test_support::is_root() {
            test_support::skip("real-sshd tests need root (network namespaces, sshd)");
            return None;
        }
        for tool in ["/usr/sbin/sshd", "/usr/sbin/ip", "/usr/bin/ssh-keygen"] {
            if !std::path::Path::new(tool).exists() {
                test_support::skip(&format!("{tool} is not installed (cargo xtask ci installs it)"));
                return None;
            }
        }
        let doctor = std::path::Path::new(GUARD).with_file_name("openclaw-doctor");
        assert!(doctor.exists(), "build the workspace first: {} is missing", doctor.display());
        static N: AtomicU32 = AtomicU32::new(0);
        let ns = format!("ocg{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        let h = Host::new();
        for tool in ["rm", "kill", "grep", "sed"] {
            let real = ["/bin", "/usr/bin"].iter().map(|d| PathBuf::from(d).join(tool)).find(|p| p.exists());
            if let Some(real) = real {
                let _ = std::os::unix::fs::symlink(real, h.bin_dir().join(tool));
            }
        }
        std::os::unix::fs::symlink("/usr/sbin/sshd", h.bin_dir().join("sshd")).unwrap();
        write_guard_config(&h, 20, 5);
        h.tailscale("running.json", 0);
        let ssh = h.path("ssh");
        std::fs::create_dir_all(ssh.join("sshd_config.d")).unwrap();
        let key = ssh.join("ssh_host_ed25519_key");
        sh(&format!("/usr/bin/ssh-keygen -q -t ed25519 -N '' -f '{}'", key.display()));
        std::fs::write(
            ssh.join("sshd_config"),
            format!(
                "Include {ssh}/sshd_config.d/*.conf\nPort {PORT}\nListenAddress 0.0.0.0\nHostKey {key}\n\
                 PidFile {pid}\nUsePAM no\nPasswordAuthentication no\n",
                ssh = ssh.display(),
                key = key.display(),
                pid = h.path("sshd.pid").display()
            ),
        )
        .unwrap();
        std::fs::create_dir_all("/run/sshd").unwrap();
        std::fs::write(h.path("units"), units).unwrap();
        h.doctor_script(&format!("exec '{}' --only listeners --format json", doctor.display()));
        // sshd runs; the boot-time sysctl file is in place (as the installer leaves it).
        std::fs::write(h.path("active-ssh.service"), "").unwrap();
        std::fs::create_dir_all(h.path("sysroot/etc/sysctl.d")).unwrap();
        std::fs::write(h.path("sysroot/etc/sysctl.d/60-openclaw-guard.conf"), "net.ipv4.ip_nonlocal_bind = 1\n")
            .unwrap();
        let lab = Lab { h, ns, ssh };
        lab.systemctl_stub();
        let ns = &lab.ns;
        sh(&format!(
            "ip netns add {ns} && ip -n {ns} link set lo up && \
             ip -n {ns} link add tailscale0 type veth peer name ts-peer && \
             ip -n {ns} link add eth0 type veth peer name eth-peer && \
             ip -n {ns} addr add {TAILNET}/32 dev tailscale0 && ip -n {ns} addr add 198.51.100.7/24 dev eth0 && \
             for l in tailscale0 ts-peer eth0 eth-peer; do ip -n {ns} link set $l up; done && \
             ip netns exec {ns} sh -c 'echo 1 > /proc/sys/net/ipv4/ip_nonlocal_bind'"
        ));
        lab.start_sshd();
        Some(lab)
    }

    fn systemctl_stub(&self) {
        let p = |r: &str| self.h.path(r).display().to_string();
        let script = format!(
            r#"echo "$*" >> '{log}'
case "$1" in
  list-unit-files) cat '{units}' ;;
  is-active) [ -f '{root}/active-'"$3" ]; exit $? ;;
  is-enabled) s="$(sed -n "s/^$2 \([a-z-]*\).*/\1/p" '{units}')"; [ -n "$s" ] || exit 1; echo "$s"; [ "$s" = enabled ]; exit $? ;;
  mask) sed -i "s/^$2 [a-z]*/$2 masked/" '{units}' ;;
  restart)
    if [ -f '{fail}' ]; then echo "Job for ssh.service failed" >&2; exit 1; fi
    if [ -f '{noop}' ]; then rm -f '{noop}'; exit 0; fi
    if [ -f '{pid}' ]; then
      old="$(cat '{pid}')"; kill "$old"; i=0
      while [ -d "/proc/$old" ] && ! grep -q '^State:.*Z' "/proc/$old/status" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
    fi
    /usr/sbin/sshd -f '{cfg}' </dev/null >/dev/null 2>&1 || exit 1
    if [ -f '{hang}' ]; then rm -f '{hang}'; touch '{restarted}'; sleep 60; fi ;;
esac
exit 0"#,
            log = p("systemctl.log"),
            units = p("units"),
            root = self.h.root().display(),
            fail = p("restart-fails"),
            noop = p("restart-noop-once"),
            pid = p("sshd.pid"),
            cfg = self.ssh.join("sshd_config").display(),
            hang = p("hang-after-restart"),
            restarted = p("restarted"),
        );
        self.h.stub("systemctl", &script);
    }

    /// Starts sshd (daemon mode) in the namespace.
    pub(crate) fn start_sshd(&self) {
        sh(&format!("ip netns exec {} /usr/sbin/sshd -f '{}'", self.ns, self.ssh.join("sshd_config").display()));
        assert!(crate::support::wait_for(|| self.sshd_pid().is_some()), "sshd did not start");
    }

    pub(crate) fn sshd_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.h.path("sshd.pid")).ok()?.trim().parse().ok()
    }

    /// The guard with `args`, inside the namespace.
    pub(crate) fn guard(&self, args: &[&str]) -> Run {
        test_support::run(&mut self.guard_command(args))
    }

    pub(crate) fn guard_command(&self, args: &[&str]) -> Command {
        let mut cmd = self.h.command();
        let env: Vec<(std::ffi::OsString, std::ffi::OsString)> =
            cmd.get_envs().filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))).collect();
        let mut c = Command::new("/usr/sbin/ip");
        c.env_clear()
            .envs(env)
            .env("OPENCLAW_SSH_DIR", &self.ssh)
            .env("OPENCLAW_SYSCTL_ROOT", self.h.path("sysroot"))
            .current_dir(self.h.root());
        c.args(["netns", "exec", &self.ns, GUARD]).args(args);
        cmd = c;
        cmd
    }

    /// `script` run by sh inside the namespace: (exit ok, stdout).
    pub(crate) fn in_ns(&self, script: &str) -> (bool, String) {
        let out =
            Command::new("/usr/sbin/ip").args(["netns", "exec", &self.ns, "/bin/bash", "-c", script]).output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The first line sshd sends on `addr:port`, read with bash's /dev/tcp.
    pub(crate) fn banner(&self, addr: &str) -> Option<String> {
        let (ok, out) =
            self.in_ns(&format!("exec 3<>/dev/tcp/{addr}/{PORT} && /usr/bin/timeout 3 /usr/bin/head -n 1 <&3"));
        ok.then(|| out.trim().to_owned())
    }

    /// `ss -ltnH` in the namespace, the local addresses of port 2222.
    pub(crate) fn binds(&self) -> Vec<String> {
        let (_, out) = self.in_ns("/usr/bin/ss -ltnH");
        out.lines()
            .filter_map(|l| l.split_whitespace().nth(3).map(str::to_owned))
            .filter(|a| a.ends_with(&format!(":{PORT}")))
            .collect()
    }

    /// Every file under the ssh dir, with its bytes.
    pub(crate) fn config_snapshot(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut v = Vec::new();
        for dir in [self.ssh.clone(), self.ssh.join("sshd_config.d")] {
            for e in std::fs::read_dir(&dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_file() {
                    v.push((p.clone(), std::fs::read(&p).unwrap()));
                }
            }
        }
        v.sort();
        v
    }

    pub(crate) fn systemctl_calls(&self) -> String {
        std::fs::read_to_string(self.h.path("systemctl.log")).unwrap_or_default()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(pid) = self.sshd_pid() {
            let _ = Command::new("/bin/kill").arg(pid.to_string()).status();
        }
        let _ = Command::new("/usr/sbin/ip").args(["netns", "del", &self.ns]).status();
    }
}
