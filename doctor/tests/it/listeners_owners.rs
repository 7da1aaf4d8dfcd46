//! A service port held by the wrong process: sshd's ports (from `sshd -T`)
//! must be held by sshd's binary, and `[doctor] expected_owners` names
//! others. A root process on the tailnet address passes every address rule;
//! only its owner gives it away.

use std::path::Path;

use crate::netns::{Binder, IP, Netns, listeners_in, prerequisites, start_ready};
use crate::support::{Host, status};

const SSHD: &str = "/usr/sbin/sshd";

/// Holds a TCP listener on 100.101.102.103:<argv[1]>.
const SQUAT: &str = "import socket, sys\ns = socket.socket()\ns.bind(('100.101.102.103', int(sys.argv[1])))\ns.listen()\nprint('ready', flush=True)\nsys.stdin.read()\n";

fn squat(ns: &Netns, port: &str) -> Binder {
    start_ready(&[IP, "netns", "exec", &ns.name, "python3", "-c", SQUAT, port], &[])
}

#[test]
fn a_root_process_on_an_sshd_port_is_a_violation_naming_it() {
    if !prerequisites() {
        return;
    }
    assert!(Path::new(SSHD).exists(), "openssh-server is needed (cargo xtask ci installs it)");
    let mut host = Host::new();
    let key = host.path("ssh/host_ed25519");
    std::fs::create_dir_all(key.parent().unwrap()).unwrap();
    let out = std::process::Command::new("/usr/bin/ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cfg = host.path("ssh/sshd_config");
    std::fs::write(&cfg, format!("HostKey {}\nPort 2222\nListenAddress 100.101.102.103\n", key.display())).unwrap();
    std::fs::create_dir_all("/run/sshd").unwrap();
    host.link_tool("sshd", SSHD);
    let base = format!("{}sshd_config = \"{}\"\n", host.config_text(), cfg.display());
    host.config(&base);
    let ns = Netns::create().expect("ip netns add");
    let held = squat(&ns, "2222");
    let (code, check) = listeners_in(&host, &ns, &[]);
    assert_eq!((code, status(&check)), (1, "fail"), "{check:#}");
    let v = check["details"]["violations"].to_string();
    assert!(v.contains("port 2222 must be held by /usr/sbin/sshd but is held by pid"), "{v}");
    assert!(v.contains(&format!("pid {} {}", held.child.id(), held.exe())), "{v}");
    // Named in the table as the port's owner, the same process passes.
    host.config(&format!("{base}expected_owners = {{ \"2222\" = \"{}\" }}\n", held.exe()));
    let (code, check) = listeners_in(&host, &ns, &[]);
    assert_eq!((code, status(&check)), (0, "pass"), "{check:#}");
    // A table entry that is not a port is refused, naming the key.
    host.config(&format!("{base}expected_owners = {{ \"ssh\" = \"/usr/sbin/sshd\" }}\n"));
    assert_eq!(listeners_in_raw(&host, &ns), 2);
}

fn listeners_in_raw(host: &Host, ns: &Netns) -> i32 {
    host.command_via(&[IP, "netns", "exec", ns.name.as_str()])
        .args(["--only", "listeners", "--format", "json"])
        .output()
        .unwrap()
        .status
        .code()
        .unwrap()
}
