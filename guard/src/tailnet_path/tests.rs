//! The judgement: a login and every filter, or a list of what is missing.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::*;

const IP: Ipv4Addr = Ipv4Addr::new(100, 101, 102, 103);
const NOW: i64 = 1_800_000_000;

fn row(port: u16, verdict: &str) -> FirewallRow {
    FirewallRow {
        interface: "tailscale0".into(),
        address: IP,
        port,
        verdict: verdict.into(),
        path: vec!["inet filter input → iifname \"tailscale0\" accept".into()],
    }
}

fn open_facts() -> PathFacts {
    PathFacts {
        established: Ok(Vec::new()),
        locals: Ok(vec![IpAddr::V4(IP), "127.0.0.1".parse().unwrap()]),
        firewall: Ok(vec![row(22, "accepted")]),
        shields_up: Ok(false),
        packet_filter: Ok(None),
    }
}

fn login(port: u16) -> Evidence {
    Evidence {
        local: SocketAddr::from((IP, port)),
        remote: "100.64.0.5:50000".parse().unwrap(),
        seen_at: NOW - 60,
        session: "sshd: op@pts/0".into(),
    }
}

#[test]
fn a_login_and_every_filter_prove_the_path() {
    let proof = judge(&open_facts(), Some(&login(22)), IP, &[22], NOW).unwrap();
    assert_eq!(proof.login, login(22));
    assert!(proof.firewall[0].contains("tailscale0"));
}

#[test]
fn without_a_login_the_guard_waits_and_names_where_to_log_in() {
    let waits = judge(&open_facts(), None, IP, &[22], NOW).unwrap_err();
    assert_eq!(waits, vec![Wait::Login { at: vec!["100.101.102.103:22".parse().unwrap()] }]);
    assert!(waits[0].text().contains("log in over the tailnet at 100.101.102.103:22"));
    // A login on another address or port is not this path.
    assert!(judge(&open_facts(), Some(&login(2222)), IP, &[22], NOW).is_err());
}

#[test]
fn every_filter_that_is_not_shown_to_admit_keeps_the_public_listener() {
    let cases: Vec<(PathFacts, &str)> = vec![
        (PathFacts { firewall: Ok(vec![row(22, "blocked")]), ..open_facts() }, "firewall"),
        (PathFacts { firewall: Ok(vec![row(22, "uncertain")]), ..open_facts() }, "firewall"),
        (PathFacts { firewall: Ok(vec![row(80, "accepted")]), ..open_facts() }, "firewall-unknown"),
        (PathFacts { firewall: Err("no report".into()), ..open_facts() }, "firewall-unknown"),
        (PathFacts { shields_up: Ok(true), ..open_facts() }, "shields-up"),
        (PathFacts { shields_up: Err("hung".into()), ..open_facts() }, "shields-unknown"),
        (PathFacts { packet_filter: Ok(Some(Vec::new())), ..open_facts() }, "packet-filter"),
        (PathFacts { packet_filter: Err("garbage".into()), ..open_facts() }, "packet-filter-unknown"),
    ];
    for (facts, code) in cases {
        let waits = judge(&facts, Some(&login(22)), IP, &[22], NOW).unwrap_err();
        let codes: Vec<String> =
            waits.iter().map(|w| serde_json::to_value(w).unwrap()["code"].as_str().unwrap().to_owned()).collect();
        assert_eq!(codes, [code], "{waits:?}");
    }
    // Two interfaces: one that does not certainly admit is enough to wait.
    let mut two = vec![row(22, "accepted"), row(22, "uncertain")];
    two[1].interface = "tailscale1".into();
    assert!(judge(&PathFacts { firewall: Ok(two), ..open_facts() }, Some(&login(22)), IP, &[22], NOW).is_err());
}

#[test]
fn only_authenticated_sessions_from_other_tailnet_hosts_to_sshd_on_the_tailnet_are_logins() {
    let c = |local: &str, remote: &str, uid: u32, session: Option<&str>| Conn {
        local: local.parse().unwrap(),
        remote: remote.parse().unwrap(),
        uid,
        session: session.map(str::to_owned),
    };
    let s = Some("sshd: op@pts/0");
    let table = vec![
        c("100.101.102.103:22", "100.64.0.5:50000", 0, s),
        c("100.101.102.103:22", "203.0.113.9:50000", 0, s),
        c("100.101.102.103:22", "100.64.0.6:50000", 1000, s),
        c("198.51.100.7:22", "100.64.0.7:50000", 0, s),
        c("100.101.102.103:80", "100.64.0.8:50000", 0, s),
        // The host connecting to itself over lo: its remote is its own address.
        c("100.101.102.103:22", "100.101.102.103:46306", 0, s),
        // A peer still at the login prompt.
        c("100.101.102.103:22", "100.64.0.9:50000", 0, None),
        c("[fd7a:115c:a1e0::5]:22", "[fd7a:115c:a1e0::6]:50000", 0, s),
    ];
    let locals = [IpAddr::V4(IP)];
    let found = logins(&table, &locals, IP, &[22], 7);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].remote.to_string(), "100.64.0.5:50000");
    assert_eq!((found[0].seen_at, found[0].session.as_str()), (7, "sshd: op@pts/0"));
    assert!(is_tailnet("fd7a:115c:a1e0::6".parse().unwrap()) && !is_tailnet("fd7a:115c:a1e1::6".parse().unwrap()));
}

#[test]
fn a_login_counts_for_an_hour_and_unreadable_addresses_are_a_wait() {
    let mut old = login(22);
    old.seen_at = NOW - LOGIN_FRESH_SECS - 1;
    let waits = judge(&open_facts(), Some(&old), IP, &[22], NOW).unwrap_err();
    assert!(matches!(waits[0], Wait::Login { .. }), "{waits:?}");
    let mut future = login(22);
    future.seen_at = NOW + 10;
    assert!(judge(&open_facts(), Some(&future), IP, &[22], NOW).is_err(), "a login from the future is no login");
    let facts = PathFacts { locals: Err("netlink refused".into()), ..open_facts() };
    let waits = judge(&facts, None, IP, &[22], NOW).unwrap_err();
    assert!(waits.iter().any(|w| matches!(w, Wait::LocalsUnreadable { .. })), "{waits:?}");
}

#[test]
fn only_an_authenticated_sshd_title_is_a_session() {
    let t = |exe: &str, title: &str| session_title(exe, format!("{title}\0").as_bytes());
    assert_eq!(t("sshd", "sshd: op@pts/0").as_deref(), Some("sshd: op@pts/0"));
    assert_eq!(t("sshd-session", "sshd-session: op@notty").as_deref(), Some("sshd-session: op@notty"));
    assert_eq!(t("sshd", "sshd: root").as_deref(), Some("sshd: root"), "a root session has no @tty");
    for (exe, title) in [
        ("sshd", "sshd: op [priv]"),
        ("sshd", "sshd: unknown [preauth]"),
        ("sshd-session", "sshd-session: [accepted]"),
        ("sshd", "sshd: [net]"),
        ("sshd", "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups"),
        ("python3", "sshd: op@pts/0"),
        ("sshd", "sshd: @pts/0"),
        ("sshd", "sshd: op@"),
        ("sshd", "sshd: root [preauth]"),
        ("sshd", "/usr/sbin/sshd -D"),
    ] {
        assert_eq!(t(exe, title), None, "{exe}: {title}");
    }
}

#[test]
fn the_cli_outputs_are_read_by_their_field_names_and_nothing_else() {
    assert_eq!(parse_prefs(br#"{"ControlURL":"x","ShieldsUp":true,"WantRunning":true}"#), Ok(true));
    assert!(parse_prefs(br#"{"WantRunning":true}"#).is_err());
    assert!(parse_prefs(b"not json").is_err());
    // The compiled filter (what tailscaled enforces) wins over the rules.
    let netmap = br#"{"PacketFilter":[{"IPProto":[6,17],"Srcs":["100.64.0.0/10"],
        "Dsts":[{"Net":"100.101.102.103/32","Ports":{"First":22,"Last":22}}],"Caps":[]}],
        "PacketFilterRules":[{"SrcIPs":["*"],"DstPorts":[{"IP":"*","Ports":{"First":0,"Last":65535}}]}]}"#;
    let g = parse_netmap(netmap).unwrap().unwrap();
    assert!(g.iter().any(|g| g.grants(IP, 22)) && !g.iter().any(|g| g.grants(IP, 2222)));
    let rules = br#"{"PacketFilterRules":[{"SrcIPs":["100.64.0.9"],"DstPorts":[{"IP":"100.101.102.0-100.101.102.200","Ports":{"First":2000,"Last":3000}}]}]}"#;
    let g = parse_netmap(rules).unwrap().unwrap();
    assert!(g[0].grants(IP, 2222), "no IPProto means TCP, UDP and ICMP");
    let udp_only = br#"{"PacketFilter":[{"IPProto":[17],"Srcs":["*"],"Dsts":[{"Net":"0.0.0.0/0","Ports":{"First":0,"Last":65535}}]}]}"#;
    assert!(!parse_netmap(udp_only).unwrap().unwrap()[0].grants(IP, 22));
    let no_sources = br#"{"PacketFilter":[{"IPProto":[6],"Srcs":[],"Dsts":[{"Net":"0.0.0.0/0","Ports":{"First":0,"Last":65535}}]}]}"#;
    assert!(!parse_netmap(no_sources).unwrap().unwrap()[0].grants(IP, 22));
    assert_eq!(parse_netmap(br#"{"Peers":[]}"#), Ok(None), "a netmap without a filter does not show one");
    assert!(parse_netmap(b"[]").is_err());
}
