//! Untrusted strings cannot forge report lines: a listener whose executable
//! path holds a newline followed by a fake `PASS` line, run through the real
//! binary in a network namespace of its own.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::support::{Host, is_root, skip};

const FORGED: &str = "PASS   firewall  forged";

#[test]
fn a_newline_in_an_exe_path_never_starts_a_report_line() {
    if !is_root() || !std::path::Path::new("/usr/sbin/ip").exists() {
        return skip("network namespaces need root and iproute2");
    }
    let host = Host::new();
    let dir = host.path(&format!("evil\n{FORGED}"));
    std::fs::create_dir_all(&dir).unwrap();
    let exe = dir.join("python3");
    let real = std::fs::canonicalize("/usr/bin/python3").unwrap();
    std::fs::copy(real, &exe).unwrap();
    let ns = format!("oc-escape-{}", std::process::id());
    let ip = |args: &[&str]| assert!(Command::new("/usr/sbin/ip").args(args).status().unwrap().success(), "{args:?}");
    ip(&["netns", "add", &ns]);
    struct Del(String);
    impl Drop for Del {
        fn drop(&mut self) {
            let _ = Command::new("/usr/sbin/ip").args(["netns", "del", &self.0]).status();
        }
    }
    let _del = Del(ns.clone());
    ip(&["-n", &ns, "link", "set", "lo", "up"]);
    let script = "import socket,sys\ns=socket.socket()\ns.bind(('0.0.0.0',5432))\ns.listen()\nprint('ready',flush=True)\nsys.stdin.read()";
    let mut child = Command::new("/usr/sbin/ip")
        .args(["netns", "exec", &ns])
        .arg(&exe)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    let out = host
        .command_via(&["/usr/sbin/ip", "netns", "exec", &ns])
        .args(["--only", "listeners", "--no-artifacts"])
        .output()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "the wildcard listener fails: {stdout}");
    assert!(stdout.contains(&format!("evil\\n{FORGED}")), "the path is shown, escaped: {stdout}");
    for l in stdout.lines() {
        assert!(!l.trim_start().starts_with("PASS   firewall"), "forged line: {l:?}\n{stdout}");
    }
}
