//! Rewrites on the paths outside traffic takes: header mangles, iptables
//! targets, destination NAT (followed where it can be), and interfaces
//! matched by index.

use super::nft;
use super::tests::{Case, chain_of, pmatch, rendered};
use crate::checks::Status;

#[test]
fn destination_rewrites_on_the_input_path_fail_the_check() {
    // `udp dport 41641 udp dport set 5353 accept`: the allowed port leads elsewhere.
    let mangle = format!(
        r#"[{},{{"mangle":{{"key":{{"payload":{{"protocol":"udp","field":"dport"}}}},"value":5353}}}},{{"accept":null}}]"#,
        pmatch("udp", "dport", "==", "41641")
    );
    let c = Case::raw(&chain_of(&[&mangle]));
    assert_eq!(c.ruleset.rewrites(false), ["inet f input: udp dport 41641 mangle udp dport accept"]);
    let out = rendered(&c, &c.judge(), &[], &[]);
    assert_eq!(out.status, Status::Fail, "{}", out.summary);
    assert!(out.summary.contains("rewrites where inbound traffic goes"), "{}", out.summary);
    // A meta mark set is not a rewrite.
    let mark = r#"[{"mangle":{"key":{"meta":{"key":"mark"}},"value":1}},{"accept":null}]"#;
    assert!(Case::raw(&chain_of(&[mark])).ruleset.rewrites(false).is_empty());
    // tproxy in prerouting, dnat anywhere on the input path: the same.
    let tproxy = r#"{"nftables":[{"table":{"family":"ip","name":"m"}},
        {"chain":{"family":"ip","table":"m","name":"pre","type":"filter","hook":"prerouting","prio":-150,"policy":"accept"}},
        {"rule":{"family":"ip","table":"m","chain":"pre","handle":7,"expr":[{"tproxy":{"port":5353}}]}}]}"#;
    assert_eq!(nft::parse(tproxy).unwrap().rewrites(false), ["ip m pre (handle 7): tproxy to :5353"]);
}

/// Issue 31, finding 3: a raw payload mangle (`@th,16,8 set 0x14`, which
/// moves udp/41641 to udp/5289) and named-field mangles that change what
/// a packet is (`ip protocol set`, `ip6 nexthdr set`) are rewrites.
#[test]
fn every_header_mangle_is_a_rewrite() {
    let raw = format!(
        r#"[{},{{"mangle":{{"key":{{"payload":{{"base":"th","offset":16,"len":8}}}},"value":20}}}},{{"accept":null}}]"#,
        pmatch("udp", "dport", "==", "41641")
    );
    let found = Case::raw(&chain_of(&[&raw])).ruleset.rewrites(false);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("mangle @th,16,8"), "{found:?}");
    for (proto, field) in [("ip", "protocol"), ("ip6", "nexthdr")] {
        let rule =
            format!(r#"[{{"mangle":{{"key":{{"payload":{{"protocol":"{proto}","field":"{field}"}}}},"value":6}}}}]"#);
        let found = Case::raw(&chain_of(&[&rule])).ruleset.rewrites(false);
        assert_eq!(found, [format!("inet f input: mangle {proto} {field}")]);
    }
    let exthdr = r#"[{"mangle":{"key":{"exthdr":{"name":"hbh","field":"nexthdr"}},"value":6}}]"#;
    assert_eq!(Case::raw(&chain_of(&[exthdr])).ruleset.rewrites(false), ["inet f input: mangle exthdr"]);
    // MSS clamping (what iptables-nft makes of `-j TCPMSS --clamp-mss-to-pmtu`) redirects nothing.
    let mss = r#"[{"mangle":{"key":{"tcp option":{"name":"maxseg","field":"size"}},"value":{"rt":{"key":"mtu"}}}}]"#;
    assert!(Case::raw(&chain_of(&[mss])).ruleset.rewrites(false).is_empty());
}

/// Issue 31, finding 4: iptables-nft's TPROXY shows in `nft -j` only as an
/// `xt` target in a prerouting chain; every target but the plain verdicts
/// and observers is a rewrite there.
#[test]
fn iptables_targets_that_redirect_are_rewrites_in_prerouting() {
    let ruleset = |target: &str| {
        format!(
            r#"{{"nftables":[{{"table":{{"family":"ip","name":"mangle"}}}},
            {{"chain":{{"family":"ip","table":"mangle","name":"PREROUTING","type":"filter","hook":"prerouting","prio":-150,"policy":"accept"}}}},
            {{"rule":{{"family":"ip","table":"mangle","chain":"PREROUTING","handle":4,"expr":[{},{{"xt":{{"type":"target","name":"{target}"}}}}]}}}}]}}"#,
            pmatch("udp", "dport", "==", "41641")
        )
    };
    for target in ["TPROXY", "DNAT", "REDIRECT", "NETMAP"] {
        let found = nft::parse(&ruleset(target)).unwrap().rewrites(false);
        assert_eq!(found, [format!("ip mangle PREROUTING (handle 4): udp dport 41641 xt target {target}")]);
    }
    for target in ["LOG", "ACCEPT", "CT", "NOTRACK"] {
        assert!(nft::parse(&ruleset(target)).unwrap().rewrites(false).is_empty(), "{target}");
    }
}

/// Issue 31, finding 5: Docker's rule for a port published on 127.0.0.1
/// needs a loopback destination, which no packet from outside has while
/// route_localnet is off; a port published on every address is a rewrite
/// naming the port and the container it reaches.
#[test]
fn a_dnat_that_only_matches_loopback_is_no_rewrite_while_route_localnet_is_off() {
    // Docker 28's raw rule: `-t raw -A PREROUTING -d 127.0.0.1 ! -i lo -j DROP`.
    let raw = format!(
        r#"{{"table":{{"family":"ip","name":"raw"}}}},
        {{"chain":{{"family":"ip","table":"raw","name":"PREROUTING","type":"filter","hook":"prerouting","prio":-300,"policy":"accept"}}}},
        {{"rule":{{"family":"ip","table":"raw","chain":"PREROUTING","expr":[{},{{"match":{{"op":"!=","left":{{"meta":{{"key":"iifname"}}}},"right":"lo"}}}},{{"counter":null}},{{"drop":null}}]}}}},"#,
        pmatch("ip", "daddr", "==", "\"127.0.0.1\"")
    );
    let docker = |daddr: Option<&str>, raw: &str| {
        let m = daddr.map(|a| format!("{},", pmatch("ip", "daddr", "==", &format!("\"{a}\"")))).unwrap_or_default();
        format!(
            r#"{{"nftables":[{raw}{{"table":{{"family":"ip","name":"nat"}}}},
            {{"chain":{{"family":"ip","table":"nat","name":"PREROUTING","type":"nat","hook":"prerouting","prio":-100,"policy":"accept"}}}},
            {{"chain":{{"family":"ip","table":"nat","name":"DOCKER"}}}},
            {{"rule":{{"family":"ip","table":"nat","chain":"PREROUTING","expr":[{{"jump":{{"target":"DOCKER"}}}}]}}}},
            {{"rule":{{"family":"ip","table":"nat","chain":"DOCKER","handle":12,"expr":[{m}{},{{"dnat":{{"addr":"172.17.0.2","port":8000}}}}]}}}}]}}"#,
            pmatch("tcp", "dport", "==", "8000")
        )
    };
    let local = nft::parse(&docker(Some("127.0.0.1"), &raw)).unwrap();
    assert!(local.rewrites(false).is_empty(), "{:?}", local.rewrites(false));
    assert_eq!(local.rewrites(true).len(), 1, "with route_localnet on, loopback destinations are routable");
    // Without the raw drop a neighbour's packet to 127.0.0.1 is NATed
    // before the route lookup could call it a martian: a rewrite.
    let unguarded = nft::parse(&docker(Some("127.0.0.1"), "")).unwrap();
    assert_eq!(unguarded.rewrites(false).len(), 1, "the martian check runs after prerouting's NAT");
    // A drop of another address does not cover it.
    let other = nft::parse(&docker(Some("127.0.0.2"), &raw)).unwrap();
    assert_eq!(other.rewrites(false).len(), 1);
    let public = nft::parse(&docker(None, "")).unwrap().rewrites(false);
    assert_eq!(public, ["ip nat DOCKER (handle 12): tcp dport 8000 dnat to 172.17.0.2:8000"]);
}

/// Issue 31, finding 6: an interface matched by index is named, with the
/// interface that has that index now.
#[test]
fn an_interface_matched_by_index_is_named_with_what_has_that_index_now() {
    let rule = r#"[{"match":{"op":"==","left":{"meta":{"key":"iif"}},"right":4}},{"accept":null}]"#;
    let rs = Case::raw(&chain_of(&[rule])).ruleset;
    let names: std::collections::BTreeMap<i64, String> = [(7, "tailscale0".to_owned())].into();
    let found = rs.iif_by_index(&names);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].contains("`meta iif 4`: interface index 4 is now no interface; match by name with `iifname`"),
        "{found:?}"
    );
    let names: std::collections::BTreeMap<i64, String> = [(4, "eth0".to_owned())].into();
    assert!(rs.iif_by_index(&names)[0].contains("index 4 is now `eth0`"));
}

/// The rewrites the check names for a recorded ruleset.
fn named(c: &Case, locals: &[std::net::IpAddr]) -> Vec<String> {
    let facts = super::verdict::Facts {
        ruleset: &c.ruleset,
        xt: &c.xt,
        listeners: None,
        legacy_untracks: false,
        tailscale: &[],
    };
    let m = super::eval::Model { ruleset: &c.ruleset, xt: &c.xt, ct_new_certain: true, tailscale: &[] };
    let candidates = super::verdict::candidate_ports(&facts);
    super::nat::rewrites(&m, &super::nat::NatFacts { candidates: &candidates, locals, loopback_routable: false })
}

/// A redirect only tailnet traffic meets is no rewrite of outside traffic.
#[test]
fn a_rewrite_no_outside_packet_can_match_is_left_alone() {
    let c = Case::new("nat_tailnet_redirect");
    assert!(named(&c, &[]).is_empty(), "{:?}", named(&c, &[]));
    assert_eq!(c.ruleset.rewrites(false).len(), 1, "it is a rewrite, just not one outside traffic meets");
}

/// A dnat to a container whose forward path drops it lands nowhere; a
/// redirect to a local port the input chain admits is followed and named.
#[test]
fn destination_nat_is_followed_to_where_the_packet_lands() {
    let c = Case::new("nat_forward_drop");
    let found = named(&c, &[]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("redirect to :8443: outside tcp/443 reaches this host's tcp/8443"), "{found:?}");
    // The same dnat to an address of this host lands on the input path (8080 → 80, dropped there).
    let local: std::net::IpAddr = "172.17.0.2".parse().unwrap();
    assert_eq!(named(&c, &[local]).len(), 1);
}

/// Docker's iptables-nft rules: the DNAT target's options come from
/// iptables-nft-save, and the forward path admits the container's port.
#[test]
fn an_iptables_dnat_to_a_container_is_named_with_the_port_and_the_container() {
    let c = Case::new("docker_iptables").with_saves("docker_iptables");
    let found = named(&c, &[]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("xt target DNAT: outside tcp/8080 reaches 172.17.0.2:80 forwarded"), "{found:?}");
    // Without the save lines the target cannot be read: still named, as a rewrite not followed.
    let bare = Case::new("docker_iptables");
    let found = named(&bare, &[]);
    assert!(found.len() == 1 && !found[0].contains("reaches"), "{found:?}");
}
