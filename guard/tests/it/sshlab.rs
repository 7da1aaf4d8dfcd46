//! A real sshd in a network namespace the test creates (`ip netns add`):
//! `tailscale0` carries the tailnet address 100.101.102.103 (the recorded
//! `running.json` reports it), `eth0` carries 198.51.100.7 standing in for
//! "public", and `sshd -f <its own config>` listens on 0.0.0.0:2222. Each
//! veth's other end sits in a peer namespace of its own: a tailnet peer
//! (100.64.0.5) and a WAN peer (198.51.100.9), which connect for real.
//! The host namespace loads a real nft ruleset (the contract's: lo,
//! established, tailscale0, udp/41641).
//! `systemctl` is a stub that really restarts that sshd (and can be told to
//! do nothing once, fail, or hang after the restart); `tailscale` replays
//! recorded states; the doctor is the real `openclaw-doctor --only
//! listeners --only firewall`, so the finding comes from the kernel's
//! socket table and the tailnet verdict from the real ruleset. `Lab::new`
//! also holds an SSH session from the tailnet peer open (`ssh -N` as root
//! with a key the lab made: the authenticated login the guard needs before
//! it removes the public listener); `Lab::unproven` does not. Root only;
//! dropped with the namespaces.

use std::cell::RefCell;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::support::{GUARD, Host, Run};

pub(crate) const TAILNET: &str = "100.101.102.103";
pub(crate) const PORT: u16 = 2222;
pub(crate) const TAILNET_PEER: &str = "100.64.0.5";
pub(crate) const WAN_PEER: &str = "198.51.100.9";

/// The contract's ruleset.
pub(crate) const CONTRACT_RULES: &str = "table inet filter {\n chain input {\n  type filter hook input priority 0; policy drop;\n  iif \"lo\" accept\n  ct state established,related accept\n  iifname \"tailscale0\" accept\n  udp dport 41641 accept\n }\n}\n";

pub(crate) struct Lab {
    pub(crate) h: Host,
    pub(crate) ns: String,
    pub(crate) ssh: PathBuf,
    holders: RefCell<Vec<Child>>,
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

    /// A lab whose tailnet path is proven: a tailnet peer holds a
    /// connection to sshd open. `None` (with a skip line) when not root or
    /// sshd/ip/nft are missing.
    pub(crate) fn new(units: &str) -> Option<Lab> {
        let lab = Lab::unproven(units)?;
        lab.tailnet_login();
        Some(lab)
    }

    /// A lab with no login over the tailnet yet.
    pub(crate) fn unproven(units: &str) -> Option<Lab> {
        if !test_support::is_root() {
            test_support::skip("real-sshd tests need root (network namespaces, sshd)");
            return None;
        }
        for tool in ["/usr/sbin/sshd", "/usr/sbin/ip", "/usr/bin/ssh-keygen", "/usr/sbin/nft"] {
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
        for tool in ["rm", "kill", "grep", "sed", "nft"] {
            let real =
                ["/bin", "/usr/bin", "/usr/sbin"].iter().map(|d| PathBuf::from(d).join(tool)).find(|p| p.exists());
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
        let client = h.path("client_key");
        sh(&format!("/usr/bin/ssh-keygen -q -t ed25519 -N '' -f '{}'", client.display()));
        std::fs::copy(h.path("client_key.pub"), ssh.join("authorized_keys")).unwrap();
        std::fs::write(
            ssh.join("sshd_config"),
            format!(
                "Include {ssh}/sshd_config.d/*.conf\nPort {PORT}\nListenAddress 0.0.0.0\nHostKey {key}\n\
                 PidFile {pid}\nUsePAM no\nPasswordAuthentication no\nAuthorizedKeysFile {ssh}/authorized_keys\n\
                 StrictModes no\nPermitRootLogin prohibit-password\n",
                ssh = ssh.display(),
                key = key.display(),
                pid = h.path("sshd.pid").display()
            ),
        )
        .unwrap();
        std::fs::create_dir_all("/run/sshd").unwrap();
        std::fs::write(h.path("units"), units).unwrap();
        h.doctor_script(&format!("exec '{}' --only listeners --only firewall --format json", doctor.display()));
        // sshd runs; the boot-time sysctl file is in place (as the installer leaves it).
        std::fs::write(h.path("active-ssh.service"), "").unwrap();
        std::fs::create_dir_all(h.path("sysroot/etc/sysctl.d")).unwrap();
        std::fs::write(h.path("sysroot/etc/sysctl.d/60-openclaw-guard.conf"), "net.ipv4.ip_nonlocal_bind = 1\n")
            .unwrap();
        let lab = Lab { h, ns, ssh, holders: RefCell::new(Vec::new()) };
        lab.systemctl_stub();
        let ns = &lab.ns;
        sh(&format!(
            "ip netns add {ns} && ip -n {ns} link set lo up && \
             ip -n {ns} link add tailscale0 type veth peer name ts-peer && \
             ip -n {ns} link add eth0 type veth peer name eth-peer && \
             ip -n {ns} addr add {TAILNET}/32 dev tailscale0 && ip -n {ns} addr add 198.51.100.7/24 dev eth0 && \
             for l in tailscale0 ts-peer eth0 eth-peer; do ip -n {ns} link set $l up; done && \
             ip netns exec {ns} sh -c 'echo 1 > /proc/sys/net/ipv4/ip_nonlocal_bind' && \
             ip netns add {ns}t && ip -n {ns} link set ts-peer netns {ns}t && \
             ip -n {ns}t link set lo up && ip -n {ns}t link set ts-peer up && \
             ip -n {ns}t addr add {TAILNET_PEER}/32 dev ts-peer && ip -n {ns}t route add {TAILNET}/32 dev ts-peer && \
             ip -n {ns} route add {TAILNET_PEER}/32 dev tailscale0 && \
             ip netns add {ns}w && ip -n {ns} link set eth-peer netns {ns}w && \
             ip -n {ns}w link set lo up && ip -n {ns}w link set eth-peer up && \
             ip -n {ns}w addr add {WAN_PEER}/24 dev eth-peer"
        ));
        lab.ruleset(CONTRACT_RULES);
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

    /// Replaces the host namespace's nft ruleset.
    pub(crate) fn ruleset(&self, rules: &str) {
        let file = self.h.path("rules.nft");
        std::fs::write(&file, format!("flush ruleset\n{rules}")).unwrap();
        sh(&format!("ip netns exec {} nft -f '{}'", self.ns, file.display()));
    }

    /// The tailnet peer logs in to sshd on the tailnet address (`ssh -N` as
    /// root with the lab's key) and stays logged in until the lab is
    /// dropped; returns once sshd runs the authenticated session.
    pub(crate) fn tailnet_login(&self) {
        let child = Command::new("/usr/sbin/ip")
            .args(["netns", "exec", &format!("{}t", self.ns), "/usr/bin/ssh", "-N", "-i"])
            .arg(self.h.path("client_key"))
            .args(["-p", &PORT.to_string(), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no"])
            .args(["-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", &format!("root@{TAILNET}")])
            .stdin(std::process::Stdio::null())
            .stderr(std::fs::File::create(self.h.path("ssh-client.err")).unwrap())
            .spawn()
            .unwrap();
        self.holders.borrow_mut().push(child);
        assert!(
            crate::support::wait_for(|| self.session_from(TAILNET_PEER)),
            "the tailnet peer could not log in: {}\n{}\n{}",
            std::fs::read_to_string(self.h.path("ssh-client.err")).unwrap_or_default(),
            self.in_ns("/usr/bin/ss -tnpH state established").1,
            self.in_ns("ps -eo pid,args | grep 'sshd:' | grep -v grep").1
        );
    }

    /// Whether an authenticated sshd session (`sshd: root`) holds a
    /// connection from `peer`.
    pub(crate) fn session_from(&self, peer: &str) -> bool {
        let (_, out) = self.in_ns(&format!("/usr/bin/ss -tnpH state established '( sport = :{PORT} )'"));
        out.lines().filter(|l| l.contains(peer)).any(|l| {
            l.split("pid=")
                .skip(1)
                .filter_map(|p| p.split(',').next()?.parse::<u32>().ok())
                .any(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.starts_with(b"sshd: root\0")))
        })
    }

    /// The first line sshd sends a peer (`t`: the tailnet peer, `w`: the
    /// WAN peer) connecting to `addr`, from that peer's namespace.
    pub(crate) fn peer_banner(&self, peer: char, addr: &str) -> Option<String> {
        let out = Command::new("/usr/sbin/ip")
            .args(["netns", "exec", &format!("{}{peer}", self.ns), "/usr/bin/timeout", "4", "/bin/bash", "-c"])
            .arg(format!("exec 3<>/dev/tcp/{addr}/{PORT} && /usr/bin/head -n 1 <&3"))
            .output()
            .unwrap();
        let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        (out.status.success() && !line.is_empty()).then_some(line)
    }

    /// Restarts sshd with its `ListenAddress 0.0.0.0` line replaced by `listen`.
    pub(crate) fn restart_sshd_with(&self, listen: &str) {
        let config = self.ssh.join("sshd_config");
        let text = std::fs::read_to_string(&config).unwrap();
        std::fs::write(&config, text.replace("ListenAddress 0.0.0.0\n", &format!("{listen}\n"))).unwrap();
        if let Some(pid) = self.sshd_pid() {
            let _ = Command::new("/bin/kill").arg(pid.to_string()).status();
            assert!(crate::support::wait_for(|| !std::path::Path::new(&format!("/proc/{pid}")).exists()));
        }
        let _ = std::fs::remove_file(self.h.path("sshd.pid"));
        self.start_sshd();
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
        for mut c in self.holders.borrow_mut().drain(..) {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(pid) = self.sshd_pid() {
            let _ = Command::new("/bin/kill").arg(pid.to_string()).status();
        }
        for ns in [self.ns.clone(), format!("{}t", self.ns), format!("{}w", self.ns)] {
            let _ = Command::new("/usr/sbin/ip").args(["netns", "del", &ns]).status();
        }
    }
}
