//! The firewall check against real firewalls: nftables, iptables-nft and
//! ufw loaded into a network namespace the test creates, with a veth link
//! to a peer namespace. For every ruleset the real `openclaw-doctor` judges
//! it from inside, and a real client in the peer tries to reach a real TCP
//! listener on 5432: a ruleset the check passes must really block, and one
//! it fails must really admit. The host's own firewall is never touched;
//! ufw runs in a private mount namespace over a copy of /etc/ufw.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::support::{Host, is_root, skip, status};

pub(crate) const IP: &str = "/usr/sbin/ip";
/// The host under test (veth0) and its peer (veth1).
pub(crate) const HOST_V4: &str = "203.0.113.1";
const HOST_V6: &str = "2001:db8:f::1";

/// Two namespaces joined by a veth pair; deleted on drop.
pub(crate) struct Pair {
    pub(crate) host: String,
    pub(crate) peer: String,
}

pub(crate) fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new(IP).args(args).output().map_err(|e| e.to_string())?;
    if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) }
}

impl Pair {
    pub(crate) fn create() -> Pair {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let pair = Pair {
            host: format!("oc-fw-{}-{n}", std::process::id()),
            peer: format!("oc-fwp-{}-{n}", std::process::id()),
        };
        ip(&["netns", "add", &pair.host]).expect("ip netns add");
        ip(&["netns", "add", &pair.peer]).expect("ip netns add");
        let (h, p) = (pair.host.as_str(), pair.peer.as_str());
        for args in [
            vec!["-n", h, "link", "set", "lo", "up"],
            vec!["-n", p, "link", "set", "lo", "up"],
            vec!["-n", h, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1", "netns", p],
            vec!["-n", h, "addr", "add", "203.0.113.1/24", "dev", "veth0"],
            vec!["-n", p, "addr", "add", "203.0.113.2/24", "dev", "veth1"],
            vec!["-n", h, "-6", "addr", "add", "2001:db8:f::1/64", "dev", "veth0", "nodad"],
            vec!["-n", p, "-6", "addr", "add", "2001:db8:f::2/64", "dev", "veth1", "nodad"],
            vec!["-n", h, "link", "set", "veth0", "up"],
            vec!["-n", p, "link", "set", "veth1", "up"],
        ] {
            ip(&args).unwrap_or_else(|e| panic!("ip {args:?}: {e}"));
        }
        pair
    }

    /// Runs `argv` inside the host namespace; panics with its stderr on failure.
    pub(crate) fn exec(&self, argv: &[&str]) {
        let out = Command::new(IP).args(["netns", "exec", &self.host]).args(argv).output().unwrap();
        assert!(
            out.status.success(),
            "{argv:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub(crate) fn nft(&self, ruleset: &str) {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), ruleset).unwrap();
        self.exec(&["nft", "-f", file.path().to_str().unwrap()]);
    }

    /// Can a client in the peer namespace open a TCP connection to `addr`:5432?
    fn reachable(&self, addr: &str) -> bool {
        let script = "import socket, sys\ntry:\n    socket.create_connection((sys.argv[1], 5432), timeout=1.5).close()\nexcept OSError:\n    sys.exit(1)\n";
        Command::new(IP).args(["netns", "exec", &self.peer, python(), "-c", script, addr]).status().unwrap().success()
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.host]);
        let _ = ip(&["netns", "del", &self.peer]);
    }
}

pub(crate) fn python() -> &'static str {
    if Path::new("/usr/bin/python3").exists() { "/usr/bin/python3" } else { "python3" }
}

/// A dual-stack TCP listener on [::]:5432 in the host namespace.
struct Listener(Child);

impl Listener {
    fn start(pair: &Pair) -> Listener {
        let script = "import socket, sys\ns = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)\ns.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\ns.bind(('::', 5432))\ns.listen(64)\nprint('ready', flush=True)\nsys.stdin.read()\n";
        let mut child = Command::new(IP)
            .args(["netns", "exec", &pair.host, python(), "-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready");
        Listener(child)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The tools the firewall check runs, linked from the real system into the stub PATH.
const TOOLS: &[&str] =
    &["nft", "iptables-nft-save", "ip6tables-nft-save", "iptables-legacy-save", "ip6tables-legacy-save", "ufw"];

pub(crate) fn prerequisites(need: &[&str]) -> bool {
    if !is_root() {
        skip("network namespaces and firewalls need root");
        return false;
    }
    for tool in need.iter().chain([&"ip", &"unshare"]) {
        if which(tool).is_none() {
            skip(&format!("{tool} is not installed"));
            return false;
        }
    }
    true
}

fn which(tool: &str) -> Option<String> {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin"].iter().map(|d| format!("{d}/{tool}")).find(|p| Path::new(p).exists())
}

pub(crate) fn host_with_tools(with_ufw: bool) -> Host {
    let host = Host::new();
    for tool in TOOLS.iter().filter(|t| with_ufw || **t != "ufw") {
        // A wrapper, not a symlink: ufw refuses to run from a world-writable
        // /tmp path, and it runs sysctl and iptables from the system PATH.
        if let Some(real) = which(tool) {
            host.stub(tool, &format!("PATH=/usr/sbin:/usr/bin:/sbin:/bin exec {real} \"$@\""));
        }
    }
    host
}

/// Runs the real doctor's firewall check inside the host namespace, optionally
/// under the ufw mount wrapper, and returns (exit code, the check's entry).
pub(crate) fn doctor(host: &Host, pair: &Pair, wrapper: &[&str]) -> (i32, serde_json::Value) {
    let mut via = vec![IP, "netns", "exec", pair.host.as_str()];
    via.extend(wrapper);
    let out =
        host.command_via(&via).args(["--only", "firewall", "--format", "json", "--no-artifacts"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout}{}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap(), v["checks"][0].clone())
}

/// Loads `setup` (nft text, or shell for iptables), then asserts the check
/// and real reachability agree: `open` means the check fails naming 5432 and
/// the peer connects over IPv4 or IPv6; otherwise it passes and both are blocked.
fn scenario(name: &str, setup: impl FnOnce(&Pair), open: bool) {
    let pair = Pair::create();
    let _listener = Listener::start(&pair);
    setup(&pair);
    let host = host_with_tools(false);
    let (code, check) = doctor(&host, &pair, &[]);
    let reached = pair.reachable(HOST_V4) || pair.reachable(HOST_V6);
    assert_eq!(reached, open, "{name}: the peer {} reach tcp/5432", if reached { "could" } else { "could not" });
    if open {
        assert_eq!((status(&check), code), ("fail", 1), "{name}: {check:#}");
        assert!(check["summary"].as_str().unwrap().contains("5432"), "{name}: the port is named: {check:#}");
    } else {
        assert_eq!((status(&check), code), ("pass", 0), "{name}: {check:#}");
    }
}

pub(crate) const CONTRACT_NFT: &str = "table inet filter {\n chain input {\n  type filter hook input priority filter; policy drop;\n  ct state established,related accept\n  ct state invalid drop\n  iif \"lo\" accept\n  iifname \"tailscale0\" accept\n  udp dport 41641 accept\n }\n}\n";

#[test]
fn contract_nft_ruleset_passes_and_really_blocks() {
    if !prerequisites(&["nft"]) {
        return;
    }
    scenario("contract nft", |p| p.nft(CONTRACT_NFT), false);
}

#[test]
fn bypass_jump_to_a_chain_that_accepts_the_port_fails_and_really_admits() {
    if !prerequisites(&["nft"]) {
        return;
    }
    let rules = CONTRACT_NFT.replace(
        "  udp dport 41641 accept\n",
        "  udp dport 41641 accept\n  jump extra\n }\n chain extra {\n  tcp dport 5432 accept\n",
    );
    scenario("jump", |p| p.nft(&rules), true);
}

#[test]
fn bypass_verdict_map_fails_and_really_admits() {
    if !prerequisites(&["nft"]) {
        return;
    }
    let rules = CONTRACT_NFT
        .replace(" chain input {\n", " map ports {\n  type inet_service : verdict\n  elements = { 5432 : accept, 23 : drop }\n }\n chain input {\n")
        .replace("  udp dport 41641 accept\n", "  udp dport 41641 accept\n  tcp dport vmap @ports\n");
    scenario("vmap", |p| p.nft(&rules), true);
}

#[test]
fn bypass_dormant_table_fails_and_really_admits() {
    if !prerequisites(&["nft"]) {
        return;
    }
    let rules = CONTRACT_NFT.replace("table inet filter {\n", "table inet filter {\n flags dormant\n");
    scenario("dormant", |p| p.nft(&rules), true);
}

#[test]
fn bypass_iptables_nft_user_chain_fails_and_really_admits() {
    if !prerequisites(&["nft", "iptables", "ip6tables"]) {
        return;
    }
    scenario(
        "iptables user chain",
        |p| {
            for tool in ["iptables", "ip6tables"] {
                p.exec(&[tool, "-P", "INPUT", "DROP"]);
                p.exec(&[tool, "-A", "INPUT", "-i", "lo", "-j", "ACCEPT"]);
                p.exec(&[tool, "-N", "extra"]);
                p.exec(&[tool, "-A", "extra", "-p", "tcp", "--dport", "5432", "-j", "ACCEPT"]);
                p.exec(&[tool, "-A", "INPUT", "-j", "extra"]);
            }
        },
        true,
    );
}

#[test]
fn ipv6_only_hole_fails_and_really_admits() {
    if !prerequisites(&["nft"]) {
        return;
    }
    let v4_only = CONTRACT_NFT.replace("table inet filter", "table ip filter");
    let pair_check = |p: &Pair| p.nft(&v4_only);
    scenario("ip6 hole", pair_check, true);
}

#[test]
fn legacy_iptables_rules_beside_a_contract_ruleset_warn_and_it_still_blocks() {
    if !prerequisites(&["nft", "iptables-legacy", "iptables-legacy-save"]) {
        return;
    }
    let pair = Pair::create();
    let _listener = Listener::start(&pair);
    pair.nft(CONTRACT_NFT);
    pair.exec(&["iptables-legacy", "-w", "-A", "INPUT", "-p", "tcp", "--dport", "2222", "-j", "DROP"]);
    let host = host_with_tools(false);
    let (code, check) = doctor(&host, &pair, &[]);
    assert_eq!((status(&check), code), ("warn", 0), "{check:#}");
    let summary = check["summary"].as_str().unwrap();
    assert!(summary.contains("ip filter INPUT: -p tcp -m tcp --dport 2222 -j DROP"), "{summary}");
    assert!(!pair.reachable(HOST_V4) && !pair.reachable(HOST_V6));
}

/// Runs ufw (and then the doctor) in a private mount namespace over a copy of
/// /etc/ufw and /etc/default/ufw, so the host's ufw configuration is never touched.
struct UfwRoot {
    dir: tempfile::TempDir,
}

impl UfwRoot {
    fn new() -> UfwRoot {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc");
        let ok = Command::new("cp").args(["-a", "/etc/ufw", etc.to_str().unwrap()]).status().unwrap().success();
        assert!(ok, "copy /etc/ufw");
        let sysctl = dir.path().join("sysctl.conf");
        std::fs::write(&sysctl, "").unwrap();
        let default = std::fs::read_to_string("/etc/default/ufw").unwrap();
        let default: String = default
            .lines()
            .map(|l| {
                if l.starts_with("IPT_SYSCTL=") {
                    format!("IPT_SYSCTL={}\n", sysctl.display())
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        std::fs::write(dir.path().join("default"), default).unwrap();
        let wrap = format!(
            "set -e\n/usr/bin/mount --bind '{0}/etc' /etc/ufw\n/usr/bin/mount --bind '{0}/default' /etc/default/ufw\nexec \"$@\"\n",
            dir.path().display()
        );
        std::fs::write(dir.path().join("wrap.sh"), wrap).unwrap();
        UfwRoot { dir }
    }

    fn wrapper(&self) -> Vec<String> {
        let wrap = self.dir.path().join("wrap.sh").display().to_string();
        ["/usr/bin/unshare", "-m", "--propagation", "private", "/bin/sh", &wrap].iter().map(|s| s.to_string()).collect()
    }

    fn ufw(&self, pair: &Pair, args: &[&str]) {
        let mut argv: Vec<String> = self.wrapper();
        argv.push("ufw".into());
        argv.extend(args.iter().map(|s| s.to_string()));
        pair.exec(&argv.iter().map(String::as_str).collect::<Vec<_>>());
    }
}

fn ufw_scenario(name: &str, extra: &[&[&str]], open: bool) {
    if !prerequisites(&["nft", "ufw", "iptables"]) || !Path::new("/etc/ufw").is_dir() {
        return;
    }
    let pair = Pair::create();
    let _listener = Listener::start(&pair);
    let root = UfwRoot::new();
    root.ufw(&pair, &["--force", "reset"]);
    for args in [
        &["default", "deny", "incoming"][..],
        &["allow", "in", "on", "tailscale0"],
        &["allow", "41641/udp"],
        &["--force", "enable"],
    ] {
        root.ufw(&pair, args);
    }
    for argv in extra {
        pair.exec(argv);
    }
    let host = host_with_tools(true);
    let wrapper = root.wrapper();
    let (code, check) = doctor(&host, &pair, &wrapper.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        check["details"]["ufw"].to_string().contains("active")
            || check["details"].to_string().contains("Status: active"),
        "{name}: ufw's status is in the report: {check:#}"
    );
    let reached = pair.reachable(HOST_V4) || pair.reachable(HOST_V6);
    assert_eq!(reached, open, "{name}: the peer {} reach tcp/5432", if reached { "could" } else { "could not" });
    if open {
        assert_eq!((status(&check), code), ("fail", 1), "{name}: {check:#}");
        assert!(check["summary"].as_str().unwrap().contains("5432"), "{name}: {check:#}");
    } else {
        assert_eq!((status(&check), code), ("pass", 0), "{name}: {check:#}");
    }
}

#[test]
fn contract_ufw_setup_passes_and_really_blocks() {
    ufw_scenario("contract ufw", &[], false);
}

#[test]
fn bypass_iptables_accept_beside_active_ufw_fails_and_really_admits() {
    ufw_scenario(
        "iptables -I beside ufw",
        &[&["iptables", "-I", "INPUT", "-p", "tcp", "--dport", "5432", "-j", "ACCEPT"]],
        true,
    );
}
