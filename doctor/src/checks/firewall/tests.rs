//! The evaluator over real `nft -j list ruleset` output captured from
//! rulesets loaded into throw-away network namespaces (see
//! `doctor/tests/data/nft/capture.sh`; each `NAME.json` comes from `NAME.nft`).

use std::collections::BTreeSet;

use super::eval::{self, Ipv, L4, Model, Probe, Reach, XtDetails};
use super::nft::{self, Family};
use super::verdict::{self, Exposure, Facts, Judgement};
use super::{Read, UfwRead, legacy, pair_xt, render};
use crate::checks::Status;

pub(super) fn data(name: &str) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/nft/");
    std::fs::read_to_string(format!("{path}{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

pub(super) struct Case {
    pub(super) ruleset: nft::Ruleset,
    pub(super) xt: XtDetails,
    listeners: BTreeSet<(L4, u16)>,
    legacy: Vec<String>,
}

impl Case {
    pub(super) fn new(name: &str) -> Case {
        let ruleset = nft::parse(&data(&format!("{name}.json"))).unwrap();
        Case { ruleset, xt: XtDetails::new(), listeners: BTreeSet::new(), legacy: Vec::new() }
    }
    pub(super) fn raw(json: &str) -> Case {
        Case {
            ruleset: nft::parse(json).unwrap(),
            xt: XtDetails::new(),
            listeners: BTreeSet::new(),
            legacy: Vec::new(),
        }
    }
    /// With the iptables-nft-save output captured beside the JSON.
    pub(super) fn with_saves(mut self, name: &str) -> Case {
        let mut notes = Vec::new();
        for (family, ext) in [(Family::Ip, "iptables-save"), (Family::Ip6, "ip6tables-save")] {
            pair_xt(&self.ruleset, family, &data(&format!("{name}.{ext}")), ext, &mut self.xt, &mut notes);
        }
        assert!(notes.is_empty(), "{notes:?}");
        self
    }
    pub(super) fn listen(mut self, l4: L4, port: u16) -> Case {
        self.listeners.insert((l4, port));
        self
    }
    pub(super) fn judge(&self) -> Judgement {
        let facts = Facts {
            ruleset: &self.ruleset,
            xt: &self.xt,
            listeners: Some(&self.listeners),
            legacy_untracks: false,
            tailscale: &[],
        };
        verdict::judge(&facts)
    }
    fn reach(&self, ipv: Ipv, l4: L4, dport: u16) -> Reach {
        let m = Model { ruleset: &self.ruleset, xt: &self.xt, ct_new_certain: true, tailscale: &[] };
        eval::reach(&m, Probe { ipv, l4, dport, sport: None })
    }
    fn open(&self, l4: L4, dport: u16) -> bool {
        [Ipv::V4, Ipv::V6].into_iter().any(|ipv| matches!(self.reach(ipv, l4, dport), Reach::Open { .. }))
    }
}

/// The check's outcome for a judged case.
pub(super) fn rendered(c: &Case, j: &Judgement, unmodelled: &[String], legacy: &[String]) -> crate::checks::Outcome {
    let facts =
        Facts { ruleset: &c.ruleset, xt: &c.xt, listeners: Some(&c.listeners), legacy_untracks: false, tailscale: &[] };
    let m = Model { ruleset: &c.ruleset, xt: &c.xt, ct_new_certain: true, tailscale: &[] };
    let candidates = verdict::candidate_ports(&facts);
    let nat = super::nat::NatFacts { candidates: &candidates, locals: &[], loopback_routable: false };
    let read = Read {
        ufw: &UfwRead::Missing,
        listeners: Some(&c.listeners),
        unmodelled,
        legacy,
        tailnet_admits: Vec::new(),
        rewrites: super::nat::rewrites(&m, &nat),
    };
    render(j, &c.ruleset, &read, Vec::new(), String::new())
}

/// The failing exposures as `kind ports`.
fn failures(j: &Judgement) -> Vec<String> {
    j.failures()
        .map(|e| {
            let kind = match e {
                Exposure::Listener(_) => "listener",
                Exposure::Ports(_) => "ports",
                Exposure::WireGuard(_) | Exposure::DhcpClient(_) => "allowed",
            };
            format!("{kind} {}", e.open().ports())
        })
        .collect()
}

fn path_of(j: &Judgement, ports: &str) -> String {
    j.exposures.iter().find(|e| e.open().ports() == ports).map(|e| e.open().path.join(" ; ")).unwrap_or_default()
}

#[test]
fn contract_ruleset_passes_with_only_wireguard_open() {
    let j = Case::new("contract").listen(L4::Tcp, 22).listen(L4::Tcp, 5432).listen(L4::Udp, 41641).judge();
    assert_eq!(failures(&j), Vec::<String>::new(), "{j:#?}");
    assert!(!j.other_ports_open);
    assert!(matches!(j.exposures.as_slice(), [Exposure::WireGuard(o)] if o.families == [Ipv::V4, Ipv::V6]), "{j:#?}");
    assert_eq!(j.chains, ["inet filter input (prio 0, policy drop)"]);
}

#[test]
fn jump_to_a_chain_that_accepts_is_followed() {
    let j = Case::new("jump").listen(L4::Tcp, 5432).judge();
    assert_eq!(failures(&j), ["listener tcp/5432"]);
    assert_eq!(path_of(&j, "tcp/5432"), "inet filter input → jump extra → tcp dport 5432 accept");
}

#[test]
fn named_verdict_map_is_followed() {
    let c = Case::new("named_vmap");
    assert_eq!(failures(&c.judge()), ["ports tcp/5432"], "nothing listens: the opened port still fails");
    assert!(path_of(&c.judge(), "tcp/5432").contains("tcp dport vmap @ports [5432 : accept]"));
    assert!(!c.open(L4::Tcp, 23), "23 : drop");
    assert!(!c.open(L4::Tcp, 5433));
}

#[test]
fn anonymous_and_concatenated_verdict_maps_are_followed() {
    let c = Case::new("anon_vmap");
    assert!(c.open(L4::Tcp, 5432));
    assert!(!c.open(L4::Tcp, 22), "tcp . 22 : drop");
    assert!(!c.open(L4::Udp, 22));
    assert_eq!(failures(&c.judge()), ["ports tcp/5432"]);
}

#[test]
fn a_dormant_table_filters_nothing() {
    let c = Case::new("dormant");
    // nft 1.0.6 prints the table's name as its flags: unreadable flags count as dormant.
    assert!(matches!(c.ruleset.tables[0].dormancy, nft::Dormancy::Unclear(_)), "{:?}", c.ruleset.tables[0].dormancy);
    let j = c.listen(L4::Tcp, 5432).judge();
    assert!(j.other_ports_open);
    assert!(failures(&j).contains(&"listener tcp/5432".to_owned()), "{j:#?}");
    assert_eq!(path_of(&j, "tcp/5432"), "no active input chain filters IPv4");
    let flagged = nft::parse(r#"{"nftables":[{"table":{"family":"inet","name":"t","flags":["dormant"]}}]}"#).unwrap();
    assert_eq!(flagged.tables[0].dormancy, nft::Dormancy::Dormant);
}

#[test]
fn policy_accept_opens_every_port_a_rule_does_not_drop() {
    let c = Case::new("policy_accept");
    assert!(!c.open(L4::Tcp, 22));
    assert!(c.open(L4::Tcp, 5432) && c.open(L4::Udp, 53));
    let j = c.judge();
    assert!(j.other_ports_open);
    assert!(failures(&j).contains(&"ports tcp/1-21".to_owned()), "{:?}", failures(&j));
    assert!(path_of(&j, "tcp/1-21").contains("inet filter input: policy accept"));
}

#[test]
fn accept_in_one_base_chain_continues_and_a_later_base_chain_drops() {
    let c = Case::new("second_base_drop");
    assert!(
        matches!(c.reach(Ipv::V4, L4::Tcp, 5432), Reach::Blocked { by } if by == "inet filter input (policy drop)")
    );
    let j = c.listen(L4::Tcp, 5432).judge();
    assert_eq!(failures(&j), Vec::<String>::new());
    assert_eq!(j.chains, ["inet early input (prio -10, policy accept)", "inet filter input (prio 0, policy drop)"]);
}

#[test]
fn goto_returns_to_the_callers_caller_and_jump_returns_here() {
    // goto check → return: back to input's caller, i.e. input's policy (drop).
    assert!(!Case::new("goto_return").open(L4::Tcp, 5432));
    // jump check → return: on to the next rule, which accepts.
    let c = Case::new("jump_return");
    assert!(c.open(L4::Tcp, 5432));
    let j = c.judge();
    assert_eq!(path_of(&j, "tcp/5432"), "inet filter input → tcp dport 5432 accept");
}

#[test]
fn named_and_interval_sets_open_exactly_their_ports() {
    let j = Case::new("named_set").listen(L4::Tcp, 5432).judge();
    assert_eq!(failures(&j), ["ports tcp/8080", "ports tcp/8443"]);
    let j = Case::new("interval_set").judge();
    assert_eq!(failures(&j), ["ports tcp/5000-6000", "ports tcp/9000", "ports udp/60000-61000"]);
    assert!(!j.other_ports_open);
}

#[test]
fn negation_and_address_classes() {
    let c = Case::new("negation");
    // `ip saddr 100.64.0.0/10 accept` admits only the tailnet; `!=` admits the attacker.
    assert!(matches!(c.reach(Ipv::V4, L4::Tcp, 5432), Reach::Open { .. }));
    assert!(matches!(c.reach(Ipv::V6, L4::Tcp, 5432), Reach::Blocked { .. }), "ip saddr does not match IPv6");
    assert!(c.open(L4::Tcp, 7000));
    assert!(!c.open(L4::Tcp, 80));
    let j = c.listen(L4::Tcp, 5432).judge();
    assert_eq!(failures(&j), ["listener tcp/5432", "ports tcp/7000"]);
    let five = j.exposures.iter().find(|e| e.open().ports() == "tcp/5432").unwrap();
    assert_eq!(five.open().families, [Ipv::V4]);
}

#[test]
fn interface_names_and_wildcards() {
    let c = Case::new("iifname_wildcard");
    assert_eq!(failures(&c.judge()), ["ports tcp/5432"], "tailscale* and lo never match; eth* may");
}

#[test]
fn an_ipv6_only_hole_is_a_hole() {
    let j = Case::new("ip6_hole").listen(L4::Tcp, 5432).judge();
    assert!(j.other_ports_open);
    let e = j.exposures.iter().find(|e| e.open().ports() == "tcp/5432").unwrap();
    assert!(matches!(e, Exposure::Listener(_)));
    assert_eq!(e.open().families, [Ipv::V6]);
    assert_eq!(e.open().path, ["no active input chain filters IPv6"]);
}

#[test]
fn unmodelled_matches_are_conservative_both_ways() {
    let c = Case::new("unknown_expr");
    // `meta mark 1 drop` may not drop; `ct state new tcp dport 22 drop` does.
    assert!(!c.open(L4::Tcp, 22));
    // `meta skuid 0 tcp dport 5432 accept` may accept.
    assert_eq!(failures(&c.judge()), ["ports tcp/5432"]);
    // An expression we do not know at all may accept.
    let weird = r#"{"nftables":[{"table":{"family":"inet","name":"f"}},
        {"chain":{"family":"inet","table":"f","name":"input","type":"filter","hook":"input","prio":0,"policy":"drop"}},
        {"rule":{"family":"inet","table":"f","chain":"input","expr":[{"frobnicate":{"x":1}}]}}]}"#;
    let j = Case::raw(weird).judge();
    assert!(j.other_ports_open);
    assert!(path_of(&j, "tcp/1-65535").contains("do not model"), "{j:#?}");
}

#[test]
fn multicast_destinations_established_state_and_limits() {
    let c = Case::new("addr_classes").listen(L4::Udp, 5353);
    // ct state vmap: established/related accept, invalid drop: none applies to a new connection.
    // fib daddr type multicast / ip daddr 224.0.0.251 / pkttype multicast: our destination is unicast.
    // `... limit rate 10/second reject` may not reject, so the next rule accepts 443.
    assert_eq!(failures(&c.judge()), ["ports tcp/443"]);
}

#[test]
fn contract_ufw_passes_with_its_dhcp_client_allowance() {
    let c = Case::new("ufw_contract").with_saves("ufw_contract").listen(L4::Tcp, 5432).listen(L4::Udp, 41641);
    let j = c.judge();
    assert_eq!(failures(&j), Vec::<String>::new(), "{j:#?}");
    let kinds: Vec<String> =
        j.exposures.iter().map(|e| format!("{:?} {}", std::mem::discriminant(e), e.open().ports())).collect();
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    assert!(
        j.exposures
            .iter()
            .any(|e| matches!(e, Exposure::DhcpClient(o) if o.ports() == "udp/68" && o.families == [Ipv::V4]))
    );
    assert!(
        j.exposures
            .iter()
            .any(|e| matches!(e, Exposure::DhcpClient(o) if o.ports() == "udp/546" && o.families == [Ipv::V6]))
    );
    assert!(j.exposures.iter().any(|e| matches!(e, Exposure::WireGuard(_))));
    // Something listening on udp/68 is reachable by anyone who sends from port 67.
    let j = Case::new("ufw_contract").with_saves("ufw_contract").listen(L4::Udp, 68).judge();
    assert_eq!(failures(&j), ["listener udp/68"]);
}

#[test]
fn without_iptables_options_ufw_conntrack_rules_are_may_match() {
    // nft shows `-m conntrack --ctstate RELATED,ESTABLISHED` only as `xt match conntrack`.
    let j = Case::new("ufw_contract").judge();
    assert!(j.other_ports_open, "{j:#?}");
}

#[test]
fn an_iptables_rule_beside_ufw_is_found_with_its_path() {
    let j = Case::new("ufw_plus_iptables").with_saves("ufw_plus_iptables").listen(L4::Tcp, 5432).judge();
    assert_eq!(failures(&j), ["listener tcp/5432"]);
    assert_eq!(path_of(&j, "tcp/5432"), "ip filter INPUT → tcp dport 5432 counter accept");
    assert_eq!(j.exposures.iter().find(|e| e.open().ports() == "tcp/5432").unwrap().open().families, [Ipv::V4]);
}

#[test]
fn an_iptables_nft_user_chain_is_followed() {
    let j = Case::new("iptables_user_chain").listen(L4::Tcp, 5432).judge();
    assert_eq!(failures(&j), ["listener tcp/5432"]);
    let e = j.exposures.iter().find(|e| e.open().ports() == "tcp/5432").unwrap();
    assert_eq!(e.open().families, [Ipv::V4, Ipv::V6]);
    assert_eq!(
        e.open().path,
        ["ip filter INPUT → counter jump extra → tcp dport 5432 counter accept"],
        "the IPv4 path is shown, every statement with it"
    );
}

#[test]
fn legacy_rules_are_listed_and_turn_a_pass_into_a_warning() {
    let tables = legacy::parse(&data("legacy_filter.iptables-save"));
    let found = legacy::findings("ip", &tables).items;
    assert_eq!(found, ["ip filter INPUT: -p tcp -m tcp --dport 22 -j DROP"]);
    let mut c = Case::new("contract");
    c.legacy = found.clone();
    let j = c.judge();
    let out = rendered(&c, &j, &[], &found);
    assert_eq!(out.status, Status::Warn);
    assert!(out.summary.contains("iptables-legacy"), "{}", out.summary);
}

#[test]
fn a_failure_names_the_port_the_path_and_the_fix() {
    let c = Case::new("jump").listen(L4::Tcp, 5432);
    let out = rendered(&c, &c.judge(), &[], &[]);
    assert_eq!(out.status, Status::Fail);
    assert!(
        out.summary.contains("tcp/5432 (something listens) via inet filter input → jump extra → tcp dport 5432 accept"),
        "{}",
        out.summary
    );
    assert!(out.remediation.unwrap().0.join("\n").contains("nft delete rule"));
    let c = Case::new("contract");
    let out = rendered(&c, &c.judge(), &[], &[]);
    assert_eq!(out.status, Status::Pass, "{}", out.summary);
}

#[test]
fn not_json_or_no_envelope_is_an_error() {
    assert!(matches!(nft::parse("table inet filter {"), Err(nft::ParseError::NotJson(_))));
    assert_eq!(nft::parse("{}").unwrap_err(), nft::ParseError::NoEnvelope);
    // An empty ruleset filters nothing.
    let j = Case::raw(r#"{"nftables":[{"metainfo":{"version":"1.0.6"}}]}"#).judge();
    assert!(j.other_ports_open);
}

#[test]
fn every_fixture_survives_the_fuzz_invariants() {
    for name in [
        "contract",
        "jump",
        "named_vmap",
        "anon_vmap",
        "dormant",
        "policy_accept",
        "second_base_drop",
        "goto_return",
        "jump_return",
        "named_set",
        "interval_set",
        "negation",
        "iifname_wildcard",
        "ip6_hole",
        "unknown_expr",
        "addr_classes",
        "ufw_contract",
        "ufw_plus_iptables",
        "iptables_user_chain",
    ] {
        super::fuzzing::ruleset(&data(&format!("{name}.json")));
    }
    super::fuzzing::policy_accept_chain(
        r#"[[{"accept":null}], [{"jump":{"target":"nowhere"}}], [{"xt":{"type":"target","name":"LOG"}}]]"#,
    );
}

/// One inet input chain with policy drop holding `rules` (each a JSON expression array).
pub(super) fn chain_of(rules: &[&str]) -> String {
    let mut items = vec![
        r#"{"table":{"family":"inet","name":"f"}}"#.to_owned(),
        r#"{"chain":{"family":"inet","table":"f","name":"input","type":"filter","hook":"input","prio":0,"policy":"drop"}}"#.to_owned(),
    ];
    items.extend(
        rules.iter().map(|r| format!(r#"{{"rule":{{"family":"inet","table":"f","chain":"input","expr":{r}}}}}"#)),
    );
    format!(r#"{{"nftables":[{}]}}"#, items.join(","))
}

#[test]
fn a_loopback_destination_may_be_reached_with_route_localnet() {
    let to = |addr: &str| {
        Case::raw(&chain_of(&[&format!(
            r#"[{{"match":{{"op":"==","left":{{"payload":{{"protocol":"ip","field":"daddr"}}}},"right":{addr}}}}},{{"accept":null}}]"#
        )]))
        .open(L4::Tcp, 5432)
    };
    assert!(to(r#"{"prefix":{"addr":"127.0.0.0","len":8}}"#));
    assert!(!to(r#""224.0.0.251""#));
    assert!(to(r#"{"prefix":{"addr":"0.0.0.0","len":0}}"#));
}

#[test]
fn a_legacy_notrack_rule_makes_conntrack_state_uncertain() {
    let raw = legacy::parse("*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p tcp -j CT --notrack\nCOMMIT\n");
    assert!(legacy::untracks(&raw));
    assert!(!legacy::untracks(&legacy::parse(&data("legacy_filter.iptables-save"))));
    // `ct state new drop` then accept: certain only while nothing can untrack the packet.
    let c = Case::raw(&chain_of(&[
        r#"[{"match":{"op":"in","left":{"ct":{"key":"state"}},"right":"new"}},{"drop":null}]"#,
        r#"[{"accept":null}]"#,
    ]));
    let facts = |untracks| Facts {
        ruleset: &c.ruleset,
        xt: &c.xt,
        listeners: Some(&c.listeners),
        legacy_untracks: untracks,
        tailscale: &[],
    };
    assert!(!verdict::judge(&facts(false)).other_ports_open);
    assert!(verdict::judge(&facts(true)).other_ports_open);
}

#[test]
fn ufw_allow_and_limit_rules_open_their_port_on_both_families() {
    for name in ["ufw_allow_ssh", "ufw_limit_ssh"] {
        let j = Case::new(name).with_saves(name).listen(L4::Tcp, 22).judge();
        // `limit` is `-m recent` (may match) then ufw-user-limit-accept: still reachable.
        assert_eq!(failures(&j), ["listener tcp/22"], "{name}");
        let e = j.exposures.iter().find(|e| e.open().ports() == "tcp/22").unwrap();
        assert_eq!(e.open().families, [Ipv::V4, Ipv::V6], "{name}");
        assert!(e.open().path[0].contains("jump ufw-user-input"), "{name}: {:?}", e.open().path);
    }
}

#[test]
fn configured_tailscale_interfaces_count_as_the_tailnet() {
    use super::classes::iface;
    use super::eval::Tri;
    let configured = ["ts0".to_owned()];
    assert_eq!(iface("ts0", &[]), Tri::Maybe, "an unknown name may be the packet's interface");
    assert_eq!(iface("ts0", &configured), Tri::No);
    assert_eq!(iface("tailscale0", &[]), Tri::No);
    assert_eq!(iface("eth0", &configured), Tri::Maybe);
    assert_eq!(iface("lo", &configured), Tri::No);
}

/// A match `payload.field op right`.
pub(super) fn pmatch(protocol: &str, field: &str, op: &str, right: &str) -> String {
    format!(
        r#"{{"match":{{"op":"{op}","left":{{"payload":{{"protocol":"{protocol}","field":"{field}"}}}},"right":{right}}}}}"#
    )
}

#[test]
fn a_spoofable_source_match_admits_the_attacker() {
    // The attacker picks its source: a tailnet or class E source with no
    // interface condition is reachable; only multicast and 0/8 are impossible.
    for src in [r#"{"prefix":{"addr":"100.64.0.0","len":10}}"#, r#"{"prefix":{"addr":"240.0.0.0","len":4}}"#] {
        let rule = format!(r#"[{},{{"accept":null}}]"#, pmatch("ip", "saddr", "==", src));
        assert!(Case::raw(&chain_of(&[&rule])).open(L4::Tcp, 5432), "{src}");
    }
    let rule =
        format!(r#"[{},{{"accept":null}}]"#, pmatch("ip", "saddr", "==", r#"{"prefix":{"addr":"224.0.0.0","len":4}}"#));
    assert!(!Case::raw(&chain_of(&[&rule])).open(L4::Tcp, 5432));
}

#[test]
fn a_set_that_packets_fill_is_never_taken_at_its_current_contents() {
    // Port knocking: `tcp dport 7777 add @knocked { ip saddr } drop`, then
    // `ip saddr @knocked tcp dport 5432 accept`; @knocked is empty when read.
    let json = r#"{"nftables":[{"table":{"family":"inet","name":"f"}},
        {"set":{"family":"inet","table":"f","name":"knocked","type":"ipv4_addr","flags":["timeout"],"timeout":60}},
        {"chain":{"family":"inet","table":"f","name":"input","type":"filter","hook":"input","prio":0,"policy":"drop"}},
        {"rule":{"family":"inet","table":"f","chain":"input","expr":[{"match":{"op":"==","left":{"payload":{"protocol":"tcp","field":"dport"}},"right":7777}},{"set":{"op":"add","elem":{"payload":{"protocol":"ip","field":"saddr"}},"set":"@knocked"}},{"drop":null}]}},
        {"rule":{"family":"inet","table":"f","chain":"input","expr":[{"match":{"op":"==","left":{"payload":{"protocol":"ip","field":"saddr"}},"right":"@knocked"}},{"match":{"op":"==","left":{"payload":{"protocol":"tcp","field":"dport"}},"right":5432}},{"accept":null}]}}]}"#;
    assert!(Case::raw(json).open(L4::Tcp, 5432));
}

#[test]
fn drops_in_a_nat_input_chain_are_not_credited() {
    let json = r#"{"nftables":[{"table":{"family":"ip","name":"n"}},
        {"chain":{"family":"ip","table":"n","name":"input","type":"nat","hook":"input","prio":100,"policy":"drop"}}]}"#;
    assert!(Case::raw(json).open(L4::Tcp, 5432), "a nat chain runs only for packets that start a conntrack entry");
}

#[test]
fn iptables_nft_notrack_targets_make_conntrack_state_uncertain() {
    let rs = nft::parse(&chain_of(&[r#"[{"xt":{"type":"target","name":"CT"}}]"#])).unwrap();
    assert!(rs.has_notrack());
    let rs = nft::parse(&chain_of(&[r#"[{"xt":{"type":"target","name":"LOG"}}]"#])).unwrap();
    assert!(!rs.has_notrack());
}

#[test]
fn listeners_of_kinds_that_are_not_probed_keep_the_check_from_passing() {
    let c = Case::new("contract");
    let out = rendered(&c, &c.judge(), &["udplite 0.0.0.0:5000".to_owned()], &[]);
    assert_eq!(out.status, Status::Warn, "{}", out.summary);
    assert!(out.summary.contains("udplite 0.0.0.0:5000"), "{}", out.summary);
}
