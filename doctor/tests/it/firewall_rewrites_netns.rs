//! Issue 31: rewrites the firewall check must see, against real rulesets
//! loaded into a namespace the test makes, with a real peer proving what
//! each really does. A raw payload mangle and iptables-nft's TPROXY carry a
//! datagram sent to the allowed udp/41641 to a listener on udp/5289; the
//! check fails naming the rule. Docker's rule for a port published on
//! 127.0.0.1 cannot match a packet from outside (the peer cannot reach it)
//! and no longer fails the check; a port published on every address does,
//! naming the port and the container it reaches (and the peer reaches it),
//! whether Docker wrote native nft or iptables-nft rules; one whose forward
//! path drops it passes (and the peer cannot reach it).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::firewall_netns::{CONTRACT_NFT, HOST_V4, IP, Pair, doctor, host_with_tools, ip, prerequisites, python};
use crate::support::status;

/// A UDP (or, with `tcp`, TCP) listener in namespace `ns` on `port`; it
/// prints what it receives (UDP) or `accepted` (TCP), one line each.
struct Catcher(Child);

impl Catcher {
    fn start(ns: &str, port: u16, tcp: bool, transparent: bool) -> Catcher {
        let script = format!(
            "import socket, sys\ns = socket.socket(socket.AF_INET, socket.{kind})\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n{tp}s.bind(('0.0.0.0', {port}))\n{listen}print('ready', flush=True)\nwhile True:\n{body}",
            kind = if tcp { "SOCK_STREAM" } else { "SOCK_DGRAM" },
            tp = if transparent { "s.setsockopt(socket.SOL_IP, 19, 1)\n" } else { "" },
            listen = if tcp { "s.listen(8)\n" } else { "" },
            body = if tcp {
                "    c, _ = s.accept()\n    print('accepted', flush=True)\n    c.close()\n"
            } else {
                "    d, _ = s.recvfrom(2048)\n    print(d.decode(errors='replace'), flush=True)\n"
            },
        );
        let mut child = Command::new(IP)
            .args(["netns", "exec", ns, python(), "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready");
        Catcher(child)
    }

    /// Whether `want` arrives within 3 s.
    fn caught(&mut self, want: &str) -> bool {
        let out = self.0.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let want = want.to_owned();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if line.trim() == want {
                    let _ = tx.send(());
                    return;
                }
            }
        });
        rx.recv_timeout(std::time::Duration::from_secs(3)).is_ok()
    }
}

impl Drop for Catcher {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sends a few datagrams from the peer to `addr`:41641.
fn send_udp(pair: &Pair, addr: &str, text: &str) {
    let script = format!(
        "import socket, time\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\nfor _ in range(5):\n    s.sendto(b'{text}', ('{addr}', 41641))\n    time.sleep(0.1)\n"
    );
    let ok = Command::new(IP).args(["netns", "exec", &pair.peer, python(), "-c", &script]).status().unwrap();
    assert!(ok.success());
}

fn fails_naming(check: &serde_json::Value, code: i32, what: &[&str]) {
    assert_eq!((status(check), code), ("fail", 1), "{check:#}");
    let summary = check["summary"].as_str().unwrap();
    for w in what {
        assert!(summary.contains(w), "the summary names `{w}`: {summary}");
    }
}

/// Finding 3: `udp dport 41641 @th,16,8 set 0x14` turns 41641 (0xa2a9)
/// into 5289 (0x14a9): the datagram really reaches udp/5289.
#[test]
fn a_raw_payload_mangle_really_moves_the_port_and_fails_naming_the_rule() {
    if !prerequisites(&["nft"]) {
        return;
    }
    let pair = Pair::create();
    let mut catcher = Catcher::start(&pair.host, 5289, false, false);
    pair.nft(&CONTRACT_NFT.replace("  udp dport 41641 accept\n", "  udp dport 41641 @th,16,8 set 0x14 accept\n"));
    send_udp(&pair, HOST_V4, "mangled");
    assert!(catcher.caught("mangled"), "the mangle did not deliver to udp/5289 (the attack needs proving)");
    let (code, check) = doctor(&host_with_tools(false), &pair, &[]);
    fails_naming(&check, code, &["mangle @th,16,8", "handle"]);
}

/// Finding 4: iptables-nft's TPROXY, seen by nft only as `xt target
/// TPROXY` in a prerouting chain: the datagram really reaches udp/5289.
#[test]
fn an_iptables_tproxy_really_diverts_and_fails_naming_the_target() {
    if !prerequisites(&["nft", "iptables-nft"]) {
        return;
    }
    let pair = Pair::create();
    let mut catcher = Catcher::start(&pair.host, 5289, false, true);
    pair.nft(CONTRACT_NFT);
    pair.exec(&[
        "iptables-nft",
        "-t",
        "mangle",
        "-A",
        "PREROUTING",
        "-p",
        "udp",
        "--dport",
        "41641",
        "-j",
        "TPROXY",
        "--on-port",
        "5289",
        "--tproxy-mark",
        "0x1/0x1",
    ]);
    pair.exec(&["ip", "rule", "add", "fwmark", "1", "lookup", "100"]);
    pair.exec(&["ip", "route", "add", "local", "0.0.0.0/0", "dev", "lo", "table", "100"]);
    send_udp(&pair, HOST_V4, "diverted");
    assert!(catcher.caught("diverted"), "TPROXY did not deliver to udp/5289 (the attack needs proving)");
    let (code, check) = doctor(&host_with_tools(false), &pair, &[]);
    fails_naming(&check, code, &["xt target TPROXY", "PREROUTING"]);
}

/// A "container" namespace behind a `docker0` veth, 172.17.0.2, with a TCP
/// listener on 8000 (or 8080), and forwarding on in the host namespace.
struct Container {
    ns: String,
}

impl Container {
    fn create(pair: &Pair) -> Container {
        let ns = format!("{}-ct", pair.host);
        ip(&["netns", "add", &ns]).unwrap();
        for args in [
            vec!["-n", &pair.host, "link", "add", "docker0", "type", "veth", "peer", "name", "eth0", "netns", &ns],
            vec!["-n", &pair.host, "addr", "add", "172.17.0.1/16", "dev", "docker0"],
            vec!["-n", &ns, "addr", "add", "172.17.0.2/16", "dev", "eth0"],
            vec!["-n", &pair.host, "link", "set", "docker0", "up"],
            vec!["-n", &ns, "link", "set", "eth0", "up"],
            vec!["-n", &ns, "link", "set", "lo", "up"],
            vec!["-n", &ns, "route", "add", "default", "via", "172.17.0.1"],
        ] {
            ip(&args).unwrap_or_else(|e| panic!("ip {args:?}: {e}"));
        }
        pair.exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
        Container { ns }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.ns]);
    }
}

/// A host namespace with the contract's ruleset, and a container behind
/// `docker0` whose TCP listener waits on `port` (dropped listener first).
struct DockerLab {
    _listener: Catcher,
    _ct: Container,
    pair: Pair,
}

fn docker_lab(port: u16) -> DockerLab {
    let pair = Pair::create();
    let ct = Container::create(&pair);
    let listener = Catcher::start(&ct.ns, port, true, false);
    pair.nft(CONTRACT_NFT);
    DockerLab { _listener: listener, _ct: ct, pair }
}

/// Docker's nat rules for one published port (as iptables-nft writes them,
/// in nft syntax), behind `fib daddr type local jump DOCKER`; `daddr` is
/// `ip daddr 127.0.0.1 ` for a port published on 127.0.0.1 only.
fn docker_nat(port: u16, daddr: &str) -> String {
    format!(
        "table ip nat {{\n chain DOCKER {{\n  iifname != \"docker0\" {daddr}tcp dport {port} dnat to 172.17.0.2:{port}\n }}\n chain PREROUTING {{\n  type nat hook prerouting priority dstnat; policy accept;\n  fib daddr type local jump DOCKER\n }}\n}}\ntable ip filter {{\n chain FORWARD {{\n  type filter hook forward priority filter; policy drop;\n  ct state established,related accept\n  oifname \"docker0\" ip daddr 172.17.0.2 tcp dport {port} accept\n }}\n}}\n"
    )
}

fn peer_connects(pair: &Pair, port: u16) -> bool {
    let script = format!(
        "import socket, sys\ntry:\n    socket.create_connection(('{HOST_V4}', {port}), timeout=1.5).close()\nexcept OSError:\n    sys.exit(1)\n"
    );
    Command::new(IP).args(["netns", "exec", &pair.peer, python(), "-c", &script]).status().unwrap().success()
}

/// Docker 28's guard for ports published on 127.0.0.1: a raw prerouting
/// rule dropping that destination from every interface but `lo`.
const DOCKER_RAW: &str = "table ip raw {\n chain PREROUTING {\n  type filter hook prerouting priority raw; policy accept;\n  ip daddr 127.0.0.1 iifname != \"lo\" counter drop\n }\n}\n";

/// Finding 5: the contract's own Docker setup (a port published on
/// 127.0.0.1, with Docker's raw drop of that destination off `lo`) passes;
/// the peer cannot reach it. Without the raw drop it fails: prerouting's
/// NAT rewrites a neighbour's packet to 127.0.0.1 before the route lookup
/// could drop it as a martian (the adversarial review saw such packets
/// reach the container).
#[test]
fn docker_publishing_on_loopback_only_passes_and_really_stays_unreachable() {
    if !prerequisites(&["nft", "sysctl"]) {
        return;
    }
    let lab = docker_lab(8000);
    let pair = &lab.pair;
    pair.nft(&docker_nat(8000, "ip daddr 127.0.0.1 "));
    let (code, check) = doctor(&host_with_tools(false), pair, &[]);
    fails_naming(&check, code, &["dnat to 172.17.0.2:8000", "reaches 172.17.0.2:8000 forwarded"]);
    pair.nft(DOCKER_RAW);
    assert!(!peer_connects(pair, 8000), "a loopback-only publish reached from outside");
    let (code, check) = doctor(&host_with_tools(false), pair, &[]);
    assert_eq!((status(&check), code), ("pass", 0), "{check:#}");
    assert!(check["details"]["rewrites"].as_array().unwrap().is_empty(), "{check:#}");
}

/// Finding 5: a port published on every address is reachable (the peer
/// really connects to the container) and fails, naming the port and the
/// container it reaches.
#[test]
fn docker_publishing_on_every_address_fails_naming_the_port_and_the_container() {
    if !prerequisites(&["nft", "sysctl"]) {
        return;
    }
    let lab = docker_lab(8080);
    let pair = &lab.pair;
    pair.nft(&docker_nat(8080, ""));
    assert!(peer_connects(pair, 8080), "the published port must really be reachable for this test to prove anything");
    let (code, check) = doctor(&host_with_tools(false), pair, &[]);
    fails_naming(
        &check,
        code,
        &["8080", "dnat to 172.17.0.2:8080", "outside tcp/8080 reaches 172.17.0.2:8080 forwarded"],
    );
}

/// The same publish behind a forward chain that does not admit it: the
/// rewrite is followed, lands nowhere (the peer cannot connect), and the
/// check passes.
#[test]
fn a_published_port_the_forward_path_drops_is_followed_and_passes() {
    if !prerequisites(&["nft", "sysctl"]) {
        return;
    }
    let lab = docker_lab(8080);
    let pair = &lab.pair;
    pair.nft(&docker_nat(8080, "").replace("  oifname \"docker0\" ip daddr 172.17.0.2 tcp dport 8080 accept\n", ""));
    assert!(!peer_connects(pair, 8080), "the forward path drops it");
    let (code, check) = doctor(&host_with_tools(false), pair, &[]);
    assert_eq!((status(&check), code), ("pass", 0), "{check:#}");
}

/// Docker as it really writes its rules (iptables-nft): the DNAT shows in
/// nft only as `xt target DNAT`; its destination comes from
/// iptables-nft-save, and the check names the port and the container the
/// peer really reaches.
#[test]
fn dockers_iptables_rules_are_followed_to_the_container() {
    if !prerequisites(&["nft", "sysctl", "iptables-nft"]) {
        return;
    }
    let lab = docker_lab(80);
    let pair = &lab.pair;
    for rule in [
        "-t nat -N DOCKER",
        "-t nat -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
        "-t nat -A DOCKER -i docker0 -j RETURN",
        "-t nat -A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80",
        "-P FORWARD DROP",
        "-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        "-A FORWARD -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT",
    ] {
        let mut argv = vec!["iptables-nft"];
        argv.extend(rule.split(' '));
        pair.exec(&argv);
    }
    assert!(peer_connects(pair, 8080), "the published port must really reach the container");
    let (code, check) = doctor(&host_with_tools(false), pair, &[]);
    fails_naming(&check, code, &["xt target DNAT", "outside tcp/8080 reaches 172.17.0.2:80 forwarded"]);
}

/// Finding 6: `iif "tailscale0"` is stored by index; once tailscaled
/// recreates the interface the rule matches nothing, and the report says so,
/// naming the index and what has it now.
#[test]
fn an_interface_matched_by_a_stale_index_is_named() {
    if !prerequisites(&["nft"]) {
        return;
    }
    let pair = Pair::create();
    pair.exec(&["ip", "link", "add", "tailscale0", "type", "veth", "peer", "name", "tsp0"]);
    pair.nft(&CONTRACT_NFT.replace("iifname \"tailscale0\" accept", "iif \"tailscale0\" accept"));
    pair.exec(&["ip", "link", "del", "tailscale0"]);
    pair.exec(&["ip", "link", "add", "tailscale0", "type", "veth", "peer", "name", "tsp0"]);
    let (_, check) = doctor(&host_with_tools(false), &pair, &[]);
    let notes = check["details"]["notes"].to_string();
    assert!(notes.contains("meta iif") && notes.contains("match by name with `iifname`"), "{check:#}");
    // The check fails (the stale rule is judged as it is), and says why.
    assert_eq!(status(&check), "fail", "{check:#}");
    assert!(check["summary"].as_str().unwrap().contains("interface index"), "{check:#}");
}
