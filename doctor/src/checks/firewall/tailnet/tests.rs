//! `admits` over real `nft -j` output (doctor/tests/data/nft): only a path
//! every chain certainly takes counts.

use std::net::Ipv4Addr;

use super::super::eval::{Model, XtDetails};
use super::super::{nft, pair_xt};
use super::{Admit, admits};
use crate::checks::firewall::nft::Family;

const DST: Ipv4Addr = Ipv4Addr::new(100, 101, 102, 103);

fn data(name: &str) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/nft/");
    std::fs::read_to_string(format!("{path}{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn judge(name: &str, saves: bool, port: u16) -> Admit {
    let rs = nft::parse(&data(&format!("{name}.json"))).unwrap();
    let mut xt = XtDetails::new();
    if saves {
        let mut notes = Vec::new();
        for (family, ext) in [(Family::Ip, "iptables-save"), (Family::Ip6, "ip6tables-save")] {
            pair_xt(&rs, family, &data(&format!("{name}.{ext}")), ext, &mut xt, &mut notes);
        }
        assert!(notes.is_empty(), "{notes:?}");
    }
    let ts = ["tailscale0".to_owned()];
    let m = Model { ruleset: &rs, xt: &xt, ct_new_certain: !rs.has_notrack(), tailscale: &ts };
    admits(&m, port, 0, DST)
}

#[test]
fn the_contract_ruleset_and_ufw_certainly_admit_the_tailnet() {
    for (name, saves) in [("tailnet_open", false), ("ufw_contract", true)] {
        match judge(name, saves, 2222) {
            Admit::Accepted { path } => assert!(path.iter().any(|p| p.contains("tailscale0")), "{name}: {path:?}"),
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn ssh_admitted_on_the_public_nic_only_is_blocked_on_the_tailnet() {
    assert!(matches!(judge("tailnet_filtered", false, 2222), Admit::Blocked { .. }));
    assert!(matches!(judge("tailnet_filtered", false, 443), Admit::Accepted { .. }));
}

#[test]
fn part_of_the_tailnet_range_or_a_rewrite_on_the_path_is_uncertain_never_accepted() {
    // 100.64.0.0/16 is not all of 100.64.0.0/10: some peers would be dropped.
    assert!(matches!(judge("tailnet_partial", false, 2222), Admit::Uncertain { .. }));
    assert!(matches!(judge("tailnet_partial", false, 2200), Admit::Uncertain { .. }));
}

#[test]
fn a_ruleset_with_no_chains_admits_and_unknown_expressions_do_not() {
    let empty = nft::parse(r#"{"nftables": [{"metainfo": {"version": "1.0.6"}}]}"#).unwrap();
    let ts = ["tailscale0".to_owned()];
    let xt = XtDetails::new();
    let m = Model { ruleset: &empty, xt: &xt, ct_new_certain: true, tailscale: &ts };
    assert_eq!(admits(&m, 22, 0, DST), Admit::Accepted { path: vec![] });
    let unknown = nft::parse(&data("unknown_expr.json")).unwrap();
    let m = Model { ruleset: &unknown, xt: &xt, ct_new_certain: true, tailscale: &ts };
    assert!(!matches!(admits(&m, 22, 0, DST), Admit::Accepted { .. }));
}

/// From the adversarial review: a drop at an `inet` ingress hook, and a
/// drop of the reply on its way out, were judged `accepted`.
#[test]
fn a_drop_at_ingress_or_on_the_replys_way_out_is_never_accepted() {
    for name in ["tailnet_ingress_drop", "tailnet_output_drop"] {
        let got = judge(name, false, 22);
        assert!(!matches!(got, Admit::Accepted { .. }), "{name}: {got:?}");
    }
}
