//! The reference doctor self-test's 23 cases, the §1.4 edge cases the
//! rewrite must decide explicitly, and property tests over whole ranges.

use super::*;
use proptest::prelude::*;

const SSHD: &str = "/usr/sbin/sshd";
const TAILSCALED: &str = "/usr/sbin/tailscaled";

fn sock(proto: Proto, addr: &str, port: u16, exe: Option<&str>) -> Socket {
    Socket {
        proto,
        addr: addr.to_owned(),
        port,
        owner: exe.map(|e| Owner { pid: 42, exe: Some(PathBuf::from(e)), privilege: Privilege::InitialRoot }),
    }
}

/// The classic cases: the socket's own address sits on `tailscale0`.
trait DecideOnTailscale {
    fn decide_ts(&self, s: &Socket) -> Result<Decision, PolicyError>;
}

impl DecideOnTailscale for ListenerPolicy {
    fn decide_ts(&self, s: &Socket) -> Result<Decision, PolicyError> {
        let ip = parse_bind_addr(&s.addr)?.ip;
        self.decide(s, &NetFacts::with_addresses(&[("tailscale0", ip)]))
    }
}

fn tcp(addr: &str, port: u16, exe: &str) -> Socket {
    sock(Proto::Tcp, addr, port, Some(exe))
}

/// Decides every socket and returns the violations as `exe addr:port`.
fn violations(policy: &ListenerPolicy, sockets: &[Socket]) -> Vec<String> {
    sockets
        .iter()
        .filter_map(|s| {
            let d = policy.decide_ts(s).unwrap();
            (d.verdict == Verdict::Violation).then(|| {
                let exe = s.owner.as_ref().and_then(|o| o.exe.as_ref()).map_or("?".into(), |e| e.display().to_string());
                format!("{exe} {}:{}", d.addr, s.port)
            })
        })
        .collect()
}

fn check(sockets: &[Socket], expected: &[&str]) {
    assert_eq!(violations(&ListenerPolicy::default(), sockets), expected);
}

fn check_one(socket: Socket, class: Class, verdict: Verdict) {
    let d = ListenerPolicy::default().decide_ts(&socket).unwrap();
    assert_eq!((d.class, d.verdict), (class, verdict), "{socket:?} → {d:?}");
}

// Reference cases 1–23 (ai-ops-runner-behaviour.md §9, doctor self-test).

#[test]
fn ref_01_sshd_on_ipv4_wildcard_is_a_violation_and_sshd() {
    let s = tcp("0.0.0.0", 22, SSHD);
    check(std::slice::from_ref(&s), &["/usr/sbin/sshd 0.0.0.0:22"]);
    assert!(is_sshd(Path::new(SSHD)));
    assert_eq!(ListenerPolicy::default().decide_ts(&s).unwrap().class, Class::Wildcard);
}

#[test]
fn ref_02_sshd_on_tailnet_ip_is_allowed() {
    check_one(tcp("100.123.61.57", 22, SSHD), Class::Tailnet, Verdict::Allowed);
}

#[test]
fn ref_03_tailscaled_on_tailnet_is_allowed() {
    check_one(tcp("100.100.100.100", 53, TAILSCALED), Class::Tailnet, Verdict::Allowed);
}

#[test]
fn ref_04_tailscaled_wireguard_on_wildcard_is_exempt_by_exe_path() {
    let d = ListenerPolicy::default().decide_ts(&sock(Proto::Udp, "0.0.0.0", 41641, Some(TAILSCALED))).unwrap();
    assert_eq!(d.verdict, Verdict::Allowed);
    assert_eq!(d.exemption, Some(0));
    assert!(d.reason.contains("exempted for /usr/sbin/tailscaled"), "{}", d.reason);
}

#[test]
fn ref_05_uvicorn_on_loopback_is_allowed() {
    check_one(tcp("127.0.0.1", 8000, "/usr/bin/python3.11"), Class::Loopback, Verdict::Allowed);
}

#[test]
fn ref_06_nginx_on_wildcard_is_a_violation() {
    check(&[tcp("0.0.0.0", 9999, "/usr/sbin/nginx")], &["/usr/sbin/nginx 0.0.0.0:9999"]);
}

#[test]
fn ref_07_mixed_host_has_exactly_one_violation() {
    check(
        &[tcp("0.0.0.0", 22, SSHD), tcp("100.64.1.2", 443, TAILSCALED), tcp("127.0.0.1", 8000, "/usr/bin/uvicorn")],
        &["/usr/sbin/sshd 0.0.0.0:22"],
    );
}

#[test]
fn ref_08_all_clean_host_has_none() {
    check(
        &[
            tcp("127.0.0.1", 8000, "/usr/bin/uvicorn"),
            tcp("100.64.1.2", 22, SSHD),
            tcp("::1", 5432, "/usr/lib/postgresql/15/bin/postgres"),
        ],
        &[],
    );
}

#[test]
fn ref_09_sshd_on_ipv6_wildcard_is_a_violation() {
    check(&[tcp("[::]", 22, SSHD)], &["/usr/sbin/sshd [::]:22"]);
}

#[test]
fn ref_10_to_13_tailnet_range_bounds() {
    check_one(tcp("100.63.255.255", 80, "/x"), Class::Public, Verdict::Violation);
    check_one(tcp("100.64.0.0", 80, "/x"), Class::Tailnet, Verdict::Allowed);
    check_one(tcp("100.127.255.255", 80, "/x"), Class::Tailnet, Verdict::Allowed);
    check_one(tcp("100.128.0.0", 80, "/x"), Class::Public, Verdict::Violation);
}

#[test]
fn ref_14_ipv6_loopback_is_allowed() {
    check_one(tcp("[::1]", 5432, "/usr/lib/postgresql/15/bin/postgres"), Class::Loopback, Verdict::Allowed);
}

#[test]
fn ref_15_no_sockets_means_no_violations() {
    check(&[], &[]);
}

#[test]
fn ref_16_17_systemd_resolved_stub_listeners_are_loopback() {
    check_one(
        sock(Proto::Udp, "127.0.0.53%lo", 53, Some("/usr/lib/systemd/systemd-resolved")),
        Class::Loopback,
        Verdict::Allowed,
    );
    check_one(tcp("127.0.0.54", 53, "/usr/lib/systemd/systemd-resolved"), Class::Loopback, Verdict::Allowed);
}

#[test]
fn ref_18_full_clean_vps_passes() {
    check(
        &[
            tcp("127.0.0.53%lo", 53, "/usr/lib/systemd/systemd-resolved"),
            tcp("127.0.0.1", 8000, "/usr/bin/docker-proxy"),
            tcp("100.101.102.103", 22, SSHD),
            sock(Proto::Udp, "0.0.0.0", 41641, Some(TAILSCALED)),
            sock(Proto::Udp, "[::]", 41641, Some(TAILSCALED)),
            tcp("::1", 8787, "/usr/local/bin/openclaw-console"),
        ],
        &[],
    );
}

#[test]
fn ref_19_public_sshd_plus_resolver_is_one_violation() {
    check(
        &[tcp("0.0.0.0", 22, SSHD), tcp("127.0.0.53%lo", 53, "/usr/lib/systemd/systemd-resolved")],
        &["/usr/sbin/sshd 0.0.0.0:22"],
    );
}

#[test]
fn ref_20_all_of_127_slash_8_is_loopback() {
    check_one(tcp("127.99.99.99", 9000, "/x"), Class::Loopback, Verdict::Allowed);
}

#[test]
fn ref_21_sshd_on_both_wildcards_is_two_violations() {
    check(&[tcp("0.0.0.0", 22, SSHD), tcp("::", 22, SSHD)], &["/usr/sbin/sshd 0.0.0.0:22", "/usr/sbin/sshd [::]:22"]);
}

#[test]
fn ref_22_sshd_on_loopback_is_allowed() {
    check_one(tcp("127.0.0.1", 22, SSHD), Class::Loopback, Verdict::Allowed);
}

#[test]
fn ref_23_sshd_on_tailnet_and_wildcard_is_one_violation() {
    check(&[tcp("100.99.1.1", 22, SSHD), tcp("0.0.0.0", 22, SSHD)], &["/usr/sbin/sshd 0.0.0.0:22"]);
}

// Edge cases from §1.4, each decided explicitly.

#[test]
fn dual_stack_star_is_a_wildcard_violation() {
    check_one(tcp("*", 8788, "/usr/bin/caddy"), Class::Wildcard, Verdict::Violation);
}

#[test]
fn ipv4_mapped_loopback_is_loopback_not_a_false_positive() {
    check_one(tcp("[::ffff:127.0.0.1]", 8080, "/x"), Class::Loopback, Verdict::Allowed);
    check_one(tcp("::ffff:100.64.0.1", 8080, "/x"), Class::Tailnet, Verdict::Allowed);
    check_one(tcp("::ffff:0.0.0.0", 8080, "/x"), Class::Wildcard, Verdict::Violation);
    check_one(tcp("::ffff:8.8.8.8", 8080, "/x"), Class::Public, Verdict::Violation);
}

#[test]
fn tailscale_ipv6_is_a_warning_unless_config_allows_it() {
    check_one(tcp("fd7a:115c:a1e0::1", 22, SSHD), Class::TailnetV6, Verdict::Warn);
    let policy = ListenerPolicy { allow_tailnet_v6: true, ..ListenerPolicy::default() };
    assert_eq!(policy.decide_ts(&tcp("[fd7a:115c:a1e0:ab12::5]", 22, SSHD)).unwrap().verdict, Verdict::Allowed);
    // Just outside Tailscale's /48 is ordinary unique-local LAN space.
    check_one(tcp("fd7a:115c:a1e1::1", 22, SSHD), Class::PrivateLan, Verdict::Violation);
}

#[test]
fn scoped_tailnet_address_keeps_its_class() {
    check_one(tcp("100.101.1.2%tailscale0", 22, SSHD), Class::Tailnet, Verdict::Allowed);
    let d = ListenerPolicy::default().decide_ts(&tcp("[fd7a:115c:a1e0::9%tailscale0]", 22, SSHD)).unwrap();
    assert_eq!(d.addr.scope.as_deref(), Some("tailscale0"));
    assert_eq!(d.class, Class::TailnetV6);
}

#[test]
fn link_local_and_lan_are_violations() {
    check_one(tcp("fe80::1%eth0", 22, SSHD), Class::LinkLocal, Verdict::Violation);
    check_one(tcp("169.254.10.1", 22, SSHD), Class::LinkLocal, Verdict::Violation);
    check_one(tcp("192.168.1.10", 22, SSHD), Class::PrivateLan, Verdict::Violation);
    check_one(tcp("10.0.0.5", 22, SSHD), Class::PrivateLan, Verdict::Violation);
    check_one(tcp("172.16.0.1", 22, SSHD), Class::PrivateLan, Verdict::Violation);
    check_one(tcp("203.0.113.7", 443, "/usr/sbin/nginx"), Class::Public, Verdict::Violation);
}

#[test]
fn socket_activated_sshd_owned_by_systemd_is_still_a_violation() {
    let d = ListenerPolicy::default().decide_ts(&tcp("[::]", 22, "/usr/lib/systemd/systemd")).unwrap();
    assert_eq!(d.verdict, Verdict::Violation);
}

#[test]
fn unreadable_owner_can_never_be_exempted_and_says_why() {
    let d = ListenerPolicy::default().decide_ts(&sock(Proto::Udp, "0.0.0.0", 41641, None)).unwrap();
    assert_eq!(d.verdict, Verdict::Violation);
    assert!(d.reason.contains("run as root"), "{}", d.reason);
    let no_exe = Socket {
        owner: Some(Owner { pid: 7, exe: None, privilege: Privilege::InitialRoot }),
        ..sock(Proto::Udp, "0.0.0.0", 41641, None)
    };
    assert_eq!(ListenerPolicy::default().decide_ts(&no_exe).unwrap().verdict, Verdict::Violation);
}

#[test]
fn exemption_is_keyed_on_exe_path_not_process_name() {
    // A binary merely *named* tailscaled elsewhere is not exempt.
    check_one(sock(Proto::Udp, "0.0.0.0", 41641, Some("/tmp/tailscaled")), Class::Wildcard, Verdict::Violation);
    // The default exemption is UDP 41641 only: tailscaled has no business on a
    // TCP wildcard or another UDP port.
    check_one(tcp("0.0.0.0", 41641, TAILSCALED), Class::Wildcard, Verdict::Violation);
    check_one(sock(Proto::Udp, "0.0.0.0", 5353, Some(TAILSCALED)), Class::Wildcard, Verdict::Violation);
}

#[test]
fn exemption_narrowed_by_port_and_address() {
    let policy = ListenerPolicy {
        exemptions: vec![Exemption {
            exe: PathBuf::from("/usr/bin/caddy"),
            proto: Some(Proto::Tcp),
            port: Some(443),
            addr: Some("203.0.113.7".parse().unwrap()),
            reason: "public TLS front door, reviewed".into(),
        }],
        ..ListenerPolicy::default()
    };
    let ok = policy.decide_ts(&tcp("::ffff:203.0.113.7", 443, "/usr/bin/caddy")).unwrap();
    assert_eq!((ok.verdict, ok.exemption), (Verdict::Allowed, Some(0)));
    assert_eq!(policy.decide_ts(&tcp("203.0.113.7", 80, "/usr/bin/caddy")).unwrap().verdict, Verdict::Violation);
    assert_eq!(policy.decide_ts(&tcp("0.0.0.0", 443, "/usr/bin/caddy")).unwrap().verdict, Verdict::Violation);
}

#[test]
fn wildcard_stays_a_violation_even_if_config_allows_everything() {
    let policy = ListenerPolicy {
        allowed: vec!["0.0.0.0/0".parse().unwrap(), "::/0".parse().unwrap()],
        ..ListenerPolicy::default()
    };
    assert_eq!(policy.decide_ts(&tcp("0.0.0.0", 80, "/x")).unwrap().verdict, Verdict::Violation);
    assert_eq!(policy.decide_ts(&tcp("::", 80, "/x")).unwrap().verdict, Verdict::Violation);
}

#[test]
fn narrowed_allowed_ranges_are_honoured() {
    let policy = ListenerPolicy { allowed: vec!["127.0.0.1/32".parse().unwrap()], ..ListenerPolicy::default() };
    let d = policy.decide_ts(&tcp("100.64.0.1", 22, SSHD)).unwrap();
    assert_eq!((d.class, d.verdict), (Class::Tailnet, Verdict::Violation));
    assert!(d.reason.contains("not in the configured allowed ranges"));
}

#[test]
fn unparsable_addresses_are_errors_not_passes() {
    for bad in ["", "localhost", "[::1", "1.2.3", "127.0.0.1%", "127.0.0.1%a b", "::1]", "300.1.1.1"] {
        assert!(ListenerPolicy::default().decide_ts(&tcp(bad, 1, "/x")).is_err(), "{bad:?} parsed");
    }
}

#[test]
fn remediation_names_the_safe_addresses_and_the_current_bind() {
    let s = tcp("0.0.0.0", 9999, "/usr/sbin/nginx");
    let d = ListenerPolicy::default().decide_ts(&s).unwrap();
    let text = remediation(&s, &d);
    assert!(text.contains("127.0.0.1") && text.contains("Tailscale IP") && text.contains("0.0.0.0"), "{text}");
}

#[test]
fn sshd_detection_is_by_file_name_of_the_real_path() {
    assert!(is_sshd(Path::new("/usr/sbin/sshd")));
    assert!(is_sshd(Path::new("/usr/lib/openssh/sshd-session")));
    assert!(!is_sshd(Path::new("/usr/sbin/sshd-evil")));
}

proptest! {
    #[test]
    fn every_address_in_100_64_slash_10_is_tailnet_and_allowed(host in 0u32..(1 << 22)) {
        let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(100, 64, 0, 0)) | host);
        prop_assert_eq!(classify(IpAddr::V4(ip)), Class::Tailnet);
        let d = ListenerPolicy::default().decide_ts(&tcp(&ip.to_string(), 22, "/x")).unwrap();
        prop_assert_eq!(d.verdict, Verdict::Allowed);
    }

    #[test]
    fn nothing_outside_100_64_slash_10_is_tailnet(raw in any::<u32>()) {
        let ip = Ipv4Addr::from(raw);
        prop_assume!(!TAILNET_V4.contains(&ip));
        prop_assert_ne!(classify(IpAddr::V4(ip)), Class::Tailnet);
    }

    #[test]
    fn every_address_in_127_slash_8_is_loopback(host in 0u32..(1 << 24), port in any::<u16>()) {
        let ip = Ipv4Addr::from((127u32 << 24) | host);
        let d = ListenerPolicy::default().decide_ts(&tcp(&ip.to_string(), port, "/x")).unwrap();
        prop_assert_eq!((d.class, d.verdict), (Class::Loopback, Verdict::Allowed));
    }

    #[test]
    fn mapped_and_unmapped_forms_agree(raw in any::<u32>(), port in any::<u16>(), scoped in any::<bool>()) {
        let ip = Ipv4Addr::from(raw);
        let policy = ListenerPolicy::default();
        let plain = policy.decide_ts(&tcp(&ip.to_string(), port, "/x")).unwrap();
        let suffix = if scoped { "%eth0" } else { "" };
        let mapped = policy.decide_ts(&tcp(&format!("[::ffff:{ip}{suffix}]"), port, "/x")).unwrap();
        prop_assert_eq!(plain.class, mapped.class);
        prop_assert_eq!(plain.verdict, mapped.verdict);
        prop_assert_eq!(mapped.addr.ip, IpAddr::V4(ip));
    }

    #[test]
    fn only_wildcard_tailnet_and_loopback_v4_classes_depend_on_range(raw in any::<u32>()) {
        // Anything the classifier calls allowed by default must be in the contract's CIDRs.
        let ip = IpAddr::V4(Ipv4Addr::from(raw));
        let d = ListenerPolicy::default().decide_ts(&tcp(&ip.to_string(), 1, "/x")).unwrap();
        if d.verdict == Verdict::Allowed {
            prop_assert!(contract_cidrs().iter().any(|n| n.contains(&ip)));
        }
    }

    #[test]
    fn parse_never_panics_and_roundtrips_display(s in "\\PC{0,40}") {
        if let Ok(addr) = parse_bind_addr(&s) {
            let again = parse_bind_addr(&addr.to_string()).unwrap();
            prop_assert_eq!(again, addr);
        }
    }
}

#[test]
fn an_exemption_needs_root_in_the_initial_user_namespace() {
    let owned_by = |privilege| Socket {
        owner: Some(Owner { pid: 9, exe: Some(PathBuf::from(TAILSCALED)), privilege }),
        ..sock(Proto::Udp, "0.0.0.0", 41641, None)
    };
    let policy = ListenerPolicy::default();
    assert_eq!(policy.decide_ts(&owned_by(Privilege::InitialRoot)).unwrap().verdict, Verdict::Allowed);
    let userns = Privilege::Other("in user namespace 4026532201, not the initial one".into());
    let d = policy.decide_ts(&owned_by(userns)).unwrap();
    assert_eq!((d.verdict, d.exemption), (Verdict::Violation, None));
    assert!(
        d.reason.contains("not root in the initial user namespace") && d.reason.contains("4026532201"),
        "{}",
        d.reason
    );
    let d = policy.decide_ts(&owned_by(Privilege::Other("real uid 1000, effective uid 1000".into()))).unwrap();
    assert!(d.reason.contains("uid 1000"), "{}", d.reason);
}

#[test]
fn a_tailnet_range_address_is_the_tailnet_only_on_a_tailscale_interface() {
    let policy = ListenerPolicy::default();
    let wan: IpAddr = "100.99.1.1".parse().unwrap();
    let s = tcp("100.99.1.1", 443, "/x");
    let on = |iface: &str| NetFacts::with_addresses(&[(iface, wan)]);
    assert_eq!(policy.decide(&s, &on("tailscale0")).unwrap().verdict, Verdict::Allowed);
    let d = policy.decide(&s, &on("eth0")).unwrap();
    assert_eq!((d.class, d.verdict), (Class::Cgnat, Verdict::Violation));
    assert!(d.reason.contains("carrier-grade NAT") && d.reason.contains("tailscale0"), "{}", d.reason);
    // Bound without being assigned anywhere (IP_FREEBIND), or facts unreadable: not proven tailnet.
    assert_eq!(policy.decide(&s, &NetFacts::with_addresses(&[])).unwrap().class, Class::Cgnat);
    let unknown = NetFacts { addresses: Err("netlink refused".into()), route_localnet: Vec::new() };
    let d = policy.decide(&s, &unknown).unwrap();
    assert!(d.verdict == Verdict::Violation && d.reason.contains("netlink refused"), "{}", d.reason);
    // Configured names count; the default name then does not.
    let renamed = ListenerPolicy { tailscale_interfaces: vec!["ts-main".into()], ..ListenerPolicy::default() };
    assert_eq!(renamed.decide(&s, &on("ts-main")).unwrap().verdict, Verdict::Allowed);
    assert_eq!(renamed.decide(&s, &on("tailscale0")).unwrap().verdict, Verdict::Violation);
    // Tailscale's IPv6 range off the interface is just a unique-local address.
    let v6: IpAddr = "fd7a:115c:a1e0::9".parse().unwrap();
    let d = policy.decide(&tcp("fd7a:115c:a1e0::9", 22, "/x"), &NetFacts::with_addresses(&[("eth0", v6)])).unwrap();
    assert_eq!((d.class, d.verdict), (Class::PrivateLan, Verdict::Violation));
}

#[test]
fn route_localnet_makes_ipv4_loopback_a_violation_naming_the_sysctl() {
    let policy = ListenerPolicy::default();
    let net = NetFacts { route_localnet: vec!["eth0".into()], ..NetFacts::with_addresses(&[]) };
    for addr in ["127.0.0.1", "127.1.2.3", "::ffff:127.0.0.1"] {
        let d = policy.decide(&tcp(addr, 8000, "/x"), &net).unwrap();
        assert_eq!((d.class, d.verdict), (Class::Loopback, Verdict::Violation), "{addr}");
        assert!(d.reason.contains("net.ipv4.conf.eth0.route_localnet = 1"), "{}", d.reason);
    }
    // IPv6 loopback is not affected by an IPv4 sysctl.
    assert_eq!(policy.decide(&tcp("::1", 8000, "/x"), &net).unwrap().verdict, Verdict::Allowed);
    assert_eq!(
        policy.decide(&tcp("127.0.0.1", 8000, "/x"), &NetFacts::with_addresses(&[])).unwrap().verdict,
        Verdict::Allowed
    );
}

#[test]
fn every_socket_kind_parses_from_config_spelling() {
    for p in Proto::ALL {
        assert_eq!(p.as_str().parse::<Proto>().unwrap(), p);
    }
    assert!("icmp6".parse::<Proto>().is_err());
}
