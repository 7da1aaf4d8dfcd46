//! Sockets of every kind the kernel delivers remote traffic to (UDP-Lite,
//! raw IP, SCTP when available), what the report says it could not audit,
//! and addresses that are not what their range suggests: loopback made
//! routable by `route_localnet`, and CGNAT addresses off the Tailscale
//! interface. All inside namespaces the test makes.

use std::process::Command;

use crate::netns::{Binder, IP, Netns, by_verdict, listeners_in, prerequisites, start_ready};
use crate::support::{Host, status};

/// Holds one socket per line of argv[1] (`kind family addr port`), echoes
/// one UDP-Lite datagram, prints the kinds it could open, then `ready`.
const KINDS: &str = r#"
import socket, sys, threading
held, opened = [], []
for spec in sys.argv[1].split(";"):
    kind, fam, addr, port = spec.split()
    fam = socket.AF_INET6 if fam == "6" else socket.AF_INET
    try:
        if kind == "udplite":
            s = socket.socket(fam, socket.SOCK_DGRAM, socket.IPPROTO_UDPLITE)
        elif kind == "raw":
            s = socket.socket(fam, socket.SOCK_RAW, int(port))
        elif kind == "icmp":
            s = socket.socket(fam, socket.SOCK_DGRAM, socket.IPPROTO_ICMP if fam == socket.AF_INET else socket.IPPROTO_ICMPV6)
        elif kind == "sctp":
            s = socket.socket(fam, socket.SOCK_STREAM, socket.IPPROTO_SCTP)
        else:
            s = socket.socket(fam, socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM)
        if kind == "freebind":
            s.setsockopt(socket.IPPROTO_IP, 15, 1)  # IP_FREEBIND
        if kind != "raw":
            s.bind((addr, int(port)))
        if kind in ("sctp", "tcp", "freebind"):
            s.listen()
    except OSError as e:
        print("could not open", spec, e, file=sys.stderr)
        continue
    held.append(s)
    opened.append(kind)
    if kind == "udplite" and fam == socket.AF_INET:
        def echo(s=s):
            data, peer = s.recvfrom(100)
            s.sendto(data, peer)
        threading.Thread(target=echo, daemon=True).start()
print(" ".join(opened), file=sys.stderr, flush=True)
print("ready", flush=True)
sys.stdin.read()
"#;

fn hold(ns: &Netns, specs: &[&str]) -> Binder {
    start_ready(&[IP, "netns", "exec", &ns.name, "python3", "-c", KINDS, &specs.join(";")], &[])
}

fn sctp_available() -> bool {
    Command::new("python3")
        .args(["-c", "import socket; socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_SCTP)"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn udplite_raw_and_sctp_sockets_are_reported_and_other_namespaces_counted() {
    if !prerequisites() {
        return;
    }
    let ns = Netns::create().expect("ip netns add");
    // A peer namespace on the other end of veth0's link.
    let peer = Netns::bare().expect("ip netns add");
    ns.run(&["link", "set", "veth1", "netns", &peer.name]);
    peer.run(&["addr", "add", "192.168.77.6/24", "dev", "veth1"]);
    peer.run(&["link", "set", "veth1", "up"]);
    let sctp = sctp_available();
    let mut specs = vec!["udplite 4 0.0.0.0 7000", "udplite 6 :: 7001", "raw 4 - 253", "raw 6 - 253"];
    if sctp {
        specs.push("sctp 4 0.0.0.0 7002");
    }
    let _held = hold(&ns, &specs);

    // The UDP-Lite socket really answers a neighbour.
    let probe = "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDPLITE)\ns.settimeout(3)\ns.sendto(b'hi', ('192.168.77.5', 7000))\nprint(s.recvfrom(100)[0].decode())\n";
    let out = Command::new(IP).args(["netns", "exec", &peer.name, "python3", "-c", probe]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hi", "{}", String::from_utf8_lossy(&out.stderr));

    let (code, check) = listeners_in(&Host::new(), &ns, &[]);
    assert_eq!((code, status(&check)), (1, "fail"), "{check:#}");
    let violations = by_verdict(&check, "violation");
    for want in ["udplite 0.0.0.0:7000", "udplite [::]:7001", "raw 0.0.0.0:253", "raw [::]:253"] {
        assert!(violations.contains(want), "{want} missing: {check:#}");
    }
    if sctp {
        assert!(violations.contains("sctp 0.0.0.0:7002"), "{check:#}");
    }
    // Every kind is accounted for: read, absent from this kernel, or a stated limitation.
    let kinds: Vec<&str> =
        check["details"]["kinds"].as_array().unwrap().iter().map(|k| k["kind"].as_str().unwrap()).collect();
    for kind in ["tcp", "udp", "udplite", "sctp", "raw", "icmp"] {
        assert!(kinds.contains(&kind), "{kind} not accounted for: {check:#}");
    }
    // The host's namespace and the peer's at least: said, not audited.
    let others = check["details"]["other_network_namespaces"].as_u64().unwrap();
    assert!(others >= 2, "{check:#}");
    let summary = check["summary"].as_str().unwrap();
    assert!(summary.contains("other network namespace") && summary.contains("not audited"), "{summary}");
}

#[test]
fn icmp_ping_sockets_are_audited_because_any_host_can_reach_them() {
    if !prerequisites() {
        return;
    }
    let ns = Netns::create().expect("ip netns add");
    // The systemd default on Debian/Ubuntu lets every group open ping sockets.
    ns.sysctl("net.ipv4.ping_group_range", "0 2147483647");
    let _held = hold(&ns, &["icmp 4 0.0.0.0 4242", "icmp 4 127.0.0.1 4243"]);
    let (code, check) = listeners_in(&Host::new(), &ns, &[]);
    assert_eq!((code, status(&check)), (1, "fail"), "{check:#}");
    assert!(by_verdict(&check, "violation").contains("icmp 0.0.0.0:4242"), "{check:#}");
    assert!(!by_verdict(&check, "violation").contains("4243"), "loopback is fine: {check:#}");
}

#[test]
fn route_localnet_makes_loopback_reachable_and_fails_naming_the_sysctl() {
    if !prerequisites() {
        return;
    }
    let ns = Netns::create().expect("ip netns add");
    // Only inside the test's namespace: the host's own sysctls are untouched.
    ns.sysctl("net.ipv4.conf.veth0.route_localnet", "1");
    let _held = hold(&ns, &["tcp 4 127.0.0.1 8000"]);
    let (code, check) = listeners_in(&Host::new(), &ns, &[]);
    assert_eq!((code, status(&check)), (1, "fail"), "{check:#}");
    assert!(by_verdict(&check, "violation").contains("tcp 127.0.0.1:8000"), "{check:#}");
    let text = check.to_string();
    assert!(text.contains("net.ipv4.conf.veth0.route_localnet"), "{check:#}");

    // Without route_localnet the same listener is fine.
    ns.sysctl("net.ipv4.conf.veth0.route_localnet", "0");
    let (code, check) = listeners_in(&Host::new(), &ns, &[]);
    assert_eq!((code, status(&check)), (0, "pass"), "{check:#}");
}

#[test]
fn a_cgnat_address_counts_as_tailnet_only_on_a_tailscale_interface() {
    if !prerequisites() {
        return;
    }
    let ns = Netns::create().expect("ip netns add");
    // A carrier-grade NAT WAN address on an ordinary interface, one bound without being assigned, and
    // Tailscale's IPv6 range off tailscale0; 100.101.102.103 and fd7a:115c:a1e0::5 sit on tailscale0.
    ns.run(&["addr", "add", "100.99.1.1/32", "dev", "veth0"]);
    ns.run(&["-6", "addr", "add", "fd7a:115c:a1e0::9/128", "dev", "veth0", "nodad"]);
    let _held = hold(
        &ns,
        &[
            "tcp 4 100.99.1.1 8443",
            "freebind 4 100.77.7.7 8444",
            "tcp 6 fd7a:115c:a1e0::9 8445",
            "tcp 4 100.101.102.103 443",
        ],
    );
    let (code, check) = listeners_in(&Host::new(), &ns, &[]);
    assert_eq!((code, status(&check)), (1, "fail"), "{check:#}");
    let violations = by_verdict(&check, "violation");
    for want in ["tcp 100.99.1.1:8443", "tcp 100.77.7.7:8444", "tcp [fd7a:115c:a1e0::9]:8445"] {
        assert!(violations.contains(want), "{want}: {check:#}");
    }
    assert!(by_verdict(&check, "allowed").contains("tcp 100.101.102.103:443"), "{check:#}");

    // A renamed interface list: tailscale0 is no longer one, veth0 is.
    let mut host = Host::new();
    host.config("[doctor]\nhttp_health = []\ntracked_units = []\n[listeners]\ntailscale_interfaces = [\"veth0\"]\n");
    let (_, check) = listeners_in(&host, &ns, &[]);
    assert!(by_verdict(&check, "allowed").contains("tcp 100.99.1.1:8443"), "{check:#}");
    assert!(by_verdict(&check, "violation").contains("tcp 100.101.102.103:443"), "{check:#}");
}
