//! Network namespaces made by a test (unique names, always deleted), child
//! processes holding sockets inside them, and the doctor run inside one.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::support::{Host, Run, is_root, skip};

pub(crate) const IP: &str = "/usr/sbin/ip";

pub(crate) struct Netns {
    pub(crate) name: String,
}

impl Netns {
    /// An empty namespace with `lo` up.
    pub(crate) fn bare() -> Option<Netns> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!("oc-doctor-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        let ns = Netns { name };
        ns.ip(&["netns", "add", &ns.name]).ok()?;
        ns.run(&["link", "set", "lo", "up"]);
        Some(ns)
    }

    /// Loopback, plus a veth pair: the tailnet addresses (v4 and v6) on
    /// `tailscale0`, LAN, public and link-local ones on `veth0`.
    pub(crate) fn create() -> Option<Netns> {
        let ns = Netns::bare()?;
        for args in [
            // veth, not dummy: the dummy module is missing on some kernels (this one).
            vec!["link", "add", "veth0", "type", "veth", "peer", "name", "veth1"],
            vec!["link", "add", "tailscale0", "type", "veth", "peer", "name", "ts-peer"],
            vec!["link", "set", "veth0", "up"],
            vec!["link", "set", "veth1", "up"],
            vec!["link", "set", "tailscale0", "up"],
            vec!["link", "set", "ts-peer", "up"],
            vec!["addr", "add", "100.101.102.103/32", "dev", "tailscale0"],
            vec!["addr", "add", "192.168.77.5/24", "dev", "veth0"],
            vec!["addr", "add", "203.0.113.9/32", "dev", "veth0"],
            vec!["-6", "addr", "add", "fd7a:115c:a1e0::5/128", "dev", "tailscale0", "nodad"],
            vec!["-6", "addr", "add", "fe80::5/64", "dev", "veth0", "nodad"],
        ] {
            ns.run(&args);
        }
        Some(ns)
    }

    /// `ip -n NAME ARGS…`, panicking on failure.
    pub(crate) fn run(&self, args: &[&str]) {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend(args);
        self.ip(&full).unwrap_or_else(|e| panic!("ip {full:?}: {e}"));
    }

    /// Sets a sysctl inside the namespace (never the host's).
    pub(crate) fn sysctl(&self, key: &str, value: &str) {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        let script = format!("echo {value} > {path}");
        let out = Command::new(IP).args(["netns", "exec", &self.name, "sh", "-c", &script]).output().unwrap();
        assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    }

    pub(crate) fn ip(&self, args: &[&str]) -> Result<(), String> {
        let out = Command::new(IP).args(args).output().map_err(|e| e.to_string())?;
        if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = self.ip(&["netns", "del", &self.name]);
    }
}

/// A child process holding sockets until it is dropped.
pub(crate) struct Binder {
    pub(crate) child: Child,
}

impl Binder {
    pub(crate) fn exe(&self) -> String {
        std::fs::read_link(format!("/proc/{}/exe", self.child.id())).unwrap().display().to_string()
    }
}

impl Drop for Binder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `argv` (inside the namespace), waits for its `ready` line.
pub(crate) fn start_ready(argv: &[&str], env: &[(&str, &str)]) -> Binder {
    let mut cmd = Command::new(argv[0]);
    cmd.args(&argv[1..]).stdin(Stdio::piped()).stdout(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready", "{argv:?} did not start");
    Binder { child }
}

/// Root and iproute2, or a printed reason to skip.
pub(crate) fn prerequisites() -> bool {
    if !is_root() {
        skip("network namespaces need root");
        return false;
    }
    if !Path::new(IP).exists() {
        skip("iproute2 is not installed");
        return false;
    }
    true
}

/// Runs `--only listeners` inside `ns` (through `wrapper`), returning the exit code and the check.
pub(crate) fn listeners_in(host: &Host, ns: &Netns, wrapper: &[&str]) -> (i32, serde_json::Value) {
    let mut via = vec![IP, "netns", "exec", ns.name.as_str()];
    via.extend(wrapper);
    let out =
        host.command_via(&via).args(["--only", "listeners", "--format", "json", "--no-artifacts"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout}{}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap(), v["checks"][0].clone())
}

/// Runs `--only ID` inside `ns`, returning the run and that check's entry.
pub(crate) fn check_in(host: &Host, ns: &Netns, id: &str) -> (Run, serde_json::Value) {
    let out = host
        .command_via(&[IP, "netns", "exec", ns.name.as_str()])
        .args(["--only", id, "--format", "json", "--no-artifacts"])
        .output()
        .unwrap();
    let run = Run::from(out);
    let check = run.json()["checks"][0].clone();
    (run, check)
}

/// `proto addr:port` of every socket with this verdict.
pub(crate) fn by_verdict(check: &serde_json::Value, verdict: &str) -> BTreeSet<String> {
    check["details"]["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["verdict"] == verdict)
        .map(|s| format!("{} {}:{}", s["proto"].as_str().unwrap(), s["addr"].as_str().unwrap(), s["port"]))
        .collect()
}

pub(crate) fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Holds one UDP socket on `0.0.0.0:<argv[1]>`.
pub(crate) const UDP_HOLDER: &str = "import socket, sys\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.bind(('0.0.0.0', int(sys.argv[1])))\nprint('ready', flush=True)\nsys.stdin.read()\n";
