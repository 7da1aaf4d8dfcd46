//! The interlock judge for every state, over recorded `tailscale status
//! --json` outputs and a set of local addresses.

use super::*;

const TAILNET_IP: Ipv4Addr = Ipv4Addr::new(100, 101, 102, 103);

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn local_with_tailnet() -> Result<BTreeSet<Ipv4Addr>, String> {
    Ok([TAILNET_IP, Ipv4Addr::LOCALHOST, Ipv4Addr::new(203, 0, 113, 10)].into())
}

fn judge_fixture(name: &str) -> Verdict {
    judge(&Facts {
        tailscale: TailscaleAnswer::Output(fixture(&format!("tailscale/{name}"))),
        local_v4: local_with_tailnet(),
    })
}

#[test]
fn running_online_with_the_address_configured_opens() {
    assert_eq!(judge_fixture("running.json"), Verdict::Open { tailnet_ip: TAILNET_IP });
}

#[test]
fn every_unhealthy_state_closes_with_its_own_reason() {
    for (name, want) in [
        ("stopped.json", Blocked::Stopped),
        ("needs_login.json", Blocked::NeedsLogin),
        ("starting.json", Blocked::Starting),
        ("offline.json", Blocked::Offline),
        ("no_ips.json", Blocked::NoTailnetIp),
        ("no_ipv4.json", Blocked::NoTailnetIp),
    ] {
        assert_eq!(judge_fixture(name), Verdict::Closed(want), "{name}");
    }
    for name in ["partial.json", "garbage.txt"] {
        assert!(matches!(judge_fixture(name), Verdict::Closed(Blocked::Garbage { .. })), "{name}");
    }
}

#[test]
fn an_address_tailscale_reports_but_the_kernel_does_not_have_closes() {
    let local = Ok(["127.0.0.1", "203.0.113.10"].iter().map(|s| s.parse().unwrap()).collect());
    let facts = Facts { tailscale: TailscaleAnswer::Output(fixture("tailscale/running.json")), local_v4: local };
    assert_eq!(judge(&facts), Verdict::Closed(Blocked::IpNotLocal { ip: TAILNET_IP }));
    let facts = Facts { local_v4: Err("EACCES".into()), ..facts };
    assert!(matches!(judge(&facts), Verdict::Closed(Blocked::LocalAddressesUnreadable { .. })));
}

#[test]
fn command_failures_close() {
    let cases = [
        (TailscaleAnswer::Missing, Blocked::TailscaleMissing),
        (
            TailscaleAnswer::Failed(Some(1), "no daemon".into()),
            Blocked::TailscaleFailed { exit: Some(1), stderr: "no daemon".into() },
        ),
        (TailscaleAnswer::TimedOut(10_000), Blocked::TailscaleHung { waited_ms: 10_000 }),
        (TailscaleAnswer::Broken("output incomplete".into()), Blocked::Garbage { why: "output incomplete".into() }),
    ];
    for (answer, want) in cases {
        assert_eq!(judge(&Facts { tailscale: answer, local_v4: local_with_tailnet() }), Verdict::Closed(want));
    }
}

#[test]
fn odd_shapes_fail_closed() {
    let local = local_with_tailnet();
    for (json, want) in [
        (r#"{"BackendState":"Running"}"#, "garbage"),
        (r#"{"Self":{"Online":true}}"#, "garbage"),
        (r#"{"BackendState":"Running","Self":{"Online":"yes","TailscaleIPs":["100.101.102.103"]}}"#, "offline"),
        (r#"{"BackendState":"Running","Self":{"Online":true,"TailscaleIPs":"100.101.102.103"}}"#, "garbage"),
        (
            r#"{"BackendState":"Running","Self":{"Online":true,"TailscaleIPs":["100.128.0.1","10.0.0.1"]}}"#,
            "no-tailnet-ip",
        ),
        (r#"{"BackendState":"NeedsMachineAuth","Self":{"Online":true}}"#, "not-running"),
    ] {
        let v = judge(&Facts { tailscale: TailscaleAnswer::Output(json.into()), local_v4: local.clone() });
        let Verdict::Closed(b) = v else { panic!("{json} opened") };
        assert_eq!(serde_json::to_value(&b).unwrap()["code"], want, "{json}");
        assert!(!b.reason().is_empty());
    }
}
