//! What the fixes read from and do to the host, each bounded by a timeout:
//! `systemctl` (from PATH), `sshd -t`/`sshd -T` (from PATH, always with
//! `-f <ssh dir>/sshd_config`), the kernel's TCP listeners
//! (`common::host_net`, as the doctor reads them), the non-local-bind sysctl, and a
//! TCP connect that reads sshd's banner.

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::host_net::owner::{self, OwnerInfo};
use common::host_net::procs;
use common::process;

/// Longest any one `systemctl` or `sshd` call may take.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(45);

/// Runs `program args`, success or the reason it failed.
pub fn run_ok(program: &str, args: &[&str], timeout: Duration) -> Result<String, String> {
    match process::run(program, args, timeout) {
        Ok(out) if out.status.success() => Ok(out.stdout_text()),
        Ok(out) => Err(format!(
            "`{program} {}` exited {}: {}",
            args.join(" "),
            out.status.code().map_or("by a signal".to_owned(), |c| c.to_string()),
            out.stderr_line()
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// `systemctl` with the fix's timeout.
pub fn systemctl(args: &[&str]) -> Result<String, String> {
    run_ok("systemctl", args, CMD_TIMEOUT)
}

/// The unit files systemd knows, as (name, state), from
/// `systemctl list-unit-files --no-legend --no-pager`.
pub fn unit_files() -> Result<Vec<(String, String)>, String> {
    let out = systemctl(&["list-unit-files", "--no-legend", "--no-pager", "--type=service,socket,path"])?;
    Ok(parse_unit_files(&out))
}

/// Parses `list-unit-files` rows. Pure.
pub fn parse_unit_files(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let name = w.next()?;
            let state = w.next()?;
            [".service", ".socket", ".path"]
                .iter()
                .any(|s| name.ends_with(s))
                .then(|| (name.to_owned(), state.to_owned()))
        })
        .collect()
}

/// `systemctl is-active --quiet <unit>`.
pub fn is_active(unit: &str) -> bool {
    process::run("systemctl", &["is-active", "--quiet", unit], CMD_TIMEOUT).is_ok_and(|o| o.status.success())
}

/// `systemctl is-enabled <unit>`: its first word, `unknown` when unreadable.
pub fn is_enabled(unit: &str) -> String {
    match process::run("systemctl", &["is-enabled", unit], CMD_TIMEOUT) {
        Ok(o) => o.stdout_text().split_whitespace().next().unwrap_or("unknown").to_owned(),
        Err(_) => "unknown".into(),
    }
}

/// `sshd -t -f <config>`.
pub fn sshd_test(config: &Path) -> Result<(), String> {
    run_ok("sshd", &["-t", "-f", &config.to_string_lossy()], CMD_TIMEOUT).map(|_| ())
}

/// `sshd -T -f <config>`.
pub fn sshd_effective(config: &Path) -> Result<String, String> {
    run_ok("sshd", &["-T", "-f", &config.to_string_lossy()], CMD_TIMEOUT)
}

/// Whether `net.ipv4.ip_nonlocal_bind` is on in this network namespace now.
pub fn nonlocal_bind() -> Result<bool, String> {
    let p = "/proc/sys/net/ipv4/ip_nonlocal_bind";
    let t = std::fs::read_to_string(p).map_err(|e| format!("{p}: {e}"))?;
    Ok(t.trim() == "1")
}

/// The sysctl.d directories, highest priority first (a file name in an
/// earlier one hides the same name in a later one).
const SYSCTL_DIRS: &[&str] =
    &["etc/sysctl.d", "run/sysctl.d", "usr/local/lib/sysctl.d", "usr/lib/sysctl.d", "lib/sysctl.d"];

/// Whether `net.ipv4.ip_nonlocal_bind` will be 1 after a reboot, from the
/// sysctl files under `root` (`/`), as both systemd-sysctl (sysctl.d files
/// by name) and `sysctl --system` (then `/etc/sysctl.conf`) apply them.
pub fn nonlocal_bind_at_boot(root: &Path) -> bool {
    let mut files: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    for dir in SYSCTL_DIRS.iter().rev() {
        let Ok(rd) = std::fs::read_dir(root.join(dir)) else { continue };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".conf")
                && let Ok(text) = std::fs::read_to_string(e.path())
            {
                files.insert(name, text);
            }
        }
    }
    let texts: Vec<&str> = files.values().map(String::as_str).collect();
    let conf = std::fs::read_to_string(root.join("etc/sysctl.conf")).unwrap_or_default();
    let with_conf: Vec<&str> = texts.iter().copied().chain([conf.as_str()]).collect();
    boot_value(&texts) == Some(true) && boot_value(&with_conf) == Some(true)
}

/// The last `net.ipv4.ip_nonlocal_bind` assignment of sysctl files applied
/// in order. Pure.
pub fn boot_value(texts: &[&str]) -> Option<bool> {
    let mut v = None;
    for line in texts.iter().flat_map(|t| t.lines()) {
        let l = line.trim().trim_start_matches('-');
        if l.starts_with(['#', ';']) {
            continue;
        }
        if let Some((k, val)) = l.split_once('=')
            && k.trim().replace('/', ".") == "net.ipv4.ip_nonlocal_bind"
        {
            v = Some(val.trim() == "1");
        }
    }
    v
}

/// Every TCP listener in this network namespace, read the way the doctor
/// reads it (`common::host_net`: netlink `sock_diag`, else `/proc/net/tcp{,6}`).
pub fn tcp_listeners() -> Result<Vec<SocketAddr>, String> {
    common::host_net::tcp_listeners().map_err(|e| format!("the TCP listeners: {e}"))
}

/// Who may hold sshd's ports: a process of sshd's unit (by its cgroup) or
/// one running the sshd binary the guard runs for `sshd -t`.
#[derive(Debug, Clone)]
pub struct SshdOwner {
    /// The service unit (`ssh.service`).
    pub unit: String,
    /// The real path of `sshd` on PATH, when it resolves.
    pub exe: Option<PathBuf>,
}

impl SshdOwner {
    /// sshd's unit and the binary `sshd` resolves to on PATH.
    pub fn of(unit: &str) -> SshdOwner {
        // Only a root-owned binary nobody else can write names sshd.
        let exe = process::on_path("sshd").filter(|c| {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata(c).is_ok_and(|m| m.uid() == 0 && m.mode() & 0o022 == 0)
        });
        SshdOwner { unit: unit.to_owned(), exe }
    }

    fn admits(&self, o: &OwnerInfo) -> bool {
        o.unit.as_deref() == Some(self.unit.as_str()) || (self.exe.is_some() && o.exe == self.exe)
    }
}

/// The listeners on `ports` that are not sshd's: a socket not owned by
/// root, or held by a process that is neither in sshd's unit nor running
/// sshd's binary, or held by no process we can find. Each is named with
/// the pid, uid and executable that hold it, whatever banner it sends.
pub fn foreign_owners(ports: &[u16], sshd: &SshdOwner) -> Result<Vec<String>, String> {
    let listeners = common::host_net::tcp_listener_uids().map_err(|e| format!("the TCP listeners' owners: {e}"))?;
    let mine: Vec<(SocketAddr, u32, u64)> =
        listeners.into_iter().filter(|(a, _, _)| ports.contains(&a.port())).collect();
    if mine.is_empty() {
        return Ok(Vec::new());
    }
    let scan = procs::scan_socket_fds()?;
    let initial = owner::initial_userns();
    let mut foreign = Vec::new();
    for (addr, uid, inode) in mine {
        let holders: Vec<OwnerInfo> =
            scan.held.iter().filter(|(i, _)| *i == inode).map(|&(_, pid)| owner::read(pid, &initial)).collect();
        let named = |o: &OwnerInfo| {
            format!(
                "pid {} (exe {}, unit {})",
                o.pid,
                o.exe.as_ref().map_or("unreadable".into(), |e| e.display().to_string()),
                o.unit.as_deref().unwrap_or("none")
            )
        };
        let strangers: Vec<String> = holders.iter().filter(|o| !sshd.admits(o)).map(named).collect();
        if uid != 0 || !strangers.is_empty() || holders.is_empty() {
            let who = if holders.is_empty() {
                "no process found holding it".to_owned()
            } else {
                holders.iter().map(named).collect::<Vec<_>>().join(", ")
            };
            foreign.push(format!("{addr} (uid {uid}) held by {who}"));
        }
    }
    Ok(foreign)
}

/// The listeners on `ports` that are anywhere but `ip` or loopback.
pub fn public_binds(listeners: &[SocketAddr], ip: Ipv4Addr, ports: &[u16]) -> Vec<SocketAddr> {
    listeners
        .iter()
        .filter(|a| ports.contains(&a.port()) && a.ip() != IpAddr::V4(ip) && !a.ip().is_loopback())
        .copied()
        .collect()
}

/// Connects to `addr` and reads the first line; `Ok` only for an
/// `SSH-2.0-` banner.
pub fn ssh_banner(addr: SocketAddr, timeout: Duration) -> Result<String, String> {
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while buf.len() < 255 && !buf.ends_with(b"\n") {
        match s.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => buf.push(byte[0]),
            Err(e) => return Err(format!("read {addr}: {e}")),
        }
    }
    let line = String::from_utf8_lossy(&buf).trim_end().to_owned();
    if line.starts_with("SSH-2.0-") {
        Ok(line)
    } else {
        Err(format!("{addr} answered {line:?}, not an SSH-2.0 banner"))
    }
}

/// Polls `check` every 250 ms until it succeeds or `limit` passes; the
/// last error otherwise.
pub fn poll<T>(limit: Duration, mut check: impl FnMut() -> Result<T, String>) -> Result<T, String> {
    let start = Instant::now();
    loop {
        match check() {
            Ok(v) => return Ok(v),
            Err(e) if start.elapsed() >= limit => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(250)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_binds_are_all_but_the_tailnet_ip_and_loopback() {
        let l: Vec<SocketAddr> = ["127.0.0.1:22", "100.64.0.5:22", "[::]:22", "0.0.0.0:80", "10.0.0.1:22"]
            .map(|s| s.parse().unwrap())
            .into();
        let p = public_binds(&l, Ipv4Addr::new(100, 64, 0, 5), &[22]);
        assert_eq!(p, ["[::]:22".parse::<SocketAddr>().unwrap(), "10.0.0.1:22".parse().unwrap()]);
    }

    #[test]
    fn the_boot_value_is_the_last_assignment() {
        assert_eq!(boot_value(&["net.ipv4.ip_nonlocal_bind = 1\n"]), Some(true));
        assert_eq!(boot_value(&["net.ipv4.ip_nonlocal_bind=1", "# x\nnet/ipv4/ip_nonlocal_bind = 0"]), Some(false));
        assert_eq!(boot_value(&["-net.ipv4.ip_nonlocal_bind = 1", "; net.ipv4.ip_nonlocal_bind = 0"]), Some(true));
        assert_eq!(boot_value(&["vm.swappiness = 1"]), None);
        let tmp = tempfile::tempdir().unwrap();
        let w = |rel: &str, text: &str| {
            let p = tmp.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        assert!(!nonlocal_bind_at_boot(tmp.path()));
        w("etc/sysctl.d/60-openclaw-guard.conf", "net.ipv4.ip_nonlocal_bind = 1\n");
        assert!(nonlocal_bind_at_boot(tmp.path()));
        w("usr/lib/sysctl.d/99-vendor.conf", "net.ipv4.ip_nonlocal_bind = 0\n");
        assert!(!nonlocal_bind_at_boot(tmp.path()), "a later file wins");
        w("etc/sysctl.d/99-vendor.conf", "# masked\n");
        assert!(nonlocal_bind_at_boot(tmp.path()), "the same name in /etc hides /usr/lib's");
        w("etc/sysctl.conf", "net.ipv4.ip_nonlocal_bind = 0\n");
        assert!(!nonlocal_bind_at_boot(tmp.path()), "sysctl --system applies /etc/sysctl.conf last");
    }

    #[test]
    fn unit_file_rows() {
        let rows =
            parse_unit_files("ssh.service enabled enabled\nssh.socket disabled enabled\nssh@.service static -\n\n");
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1], ("ssh.socket".into(), "disabled".into()));
    }

    #[test]
    fn a_banner_must_be_ssh_2() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            use std::io::Write;
            for reply in [&b"SSH-2.0-OpenSSH_9.2\r\n"[..], b"HTTP/1.0 200 OK\r\n"] {
                let (mut c, _) = l.accept().unwrap();
                c.write_all(reply).unwrap();
            }
        });
        assert_eq!(ssh_banner(addr, Duration::from_secs(2)).unwrap(), "SSH-2.0-OpenSSH_9.2");
        assert!(ssh_banner(addr, Duration::from_secs(2)).unwrap_err().contains("not an SSH-2.0"));
        t.join().unwrap();
    }
}
