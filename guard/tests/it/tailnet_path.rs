//! The guard proves the operator's tailnet path before it removes sshd's
//! public listener: real sshd, real nft, a tailnet peer and a WAN peer in
//! namespaces of their own (see `sshlab`).

use crate::sshlab::{CONTRACT_RULES, Lab, PORT, TAILNET};

const UNITS: &str = "ssh.service enabled enabled\nssh@.service static -\n";

/// SSH admitted on the public NIC only; the tailnet side admits 80 and 443.
const SSH_PUBLIC_ONLY: &str = "table inet filter {\n chain input {\n  type filter hook input priority 0; policy drop;\n  iif \"lo\" accept\n  ct state established,related accept\n  iifname \"eth0\" tcp dport 2222 accept\n  iifname \"tailscale0\" tcp dport { 80, 443 } accept\n }\n}\n";

/// The contract's ruleset plus SSH on the public NIC (the host before the fix).
fn contract_plus_public() -> String {
    CONTRACT_RULES.replace("udp dport 41641 accept", "udp dport 41641 accept\n  iifname \"eth0\" tcp dport 2222 accept")
}

fn awaiting_notices(lab: &Lab) -> usize {
    lab.h.notify_calls().iter().filter(|c| c.contains(&"guard.awaiting_tailnet".to_owned())).count()
}

#[test]
fn a_firewall_that_blocks_ssh_on_the_tailnet_keeps_the_public_listener() {
    let Some(lab) = Lab::unproven(UNITS) else { return };
    lab.ruleset(SSH_PUBLIC_ONLY);
    assert!(lab.peer_banner('w', "198.51.100.7").is_some(), "the WAN peer logs in before");
    assert_eq!(lab.peer_banner('t', TAILNET), None, "the tailnet side drops SSH");
    let before = lab.config_snapshot();
    for tick in 0..2 {
        let r = lab.guard(&["run", "--format", "json"]);
        assert_eq!(r.code, 1, "{r:?}\n{}", lab.h.log());
        assert_eq!(r.json()["attempts"][0]["fix"]["outcome"], "awaiting-tailnet", "tick {tick}");
    }
    let log = lab.h.log();
    assert!(log.contains("AWAITING TAILNET PROOF") && log.contains("blocked on tailscale0"), "{log}");
    assert!(
        log.contains("log in over the tailnet at 100.101.102.103:2222") && log.contains("does not certainly admit"),
        "{log}"
    );
    assert!(!log.contains("REMEDIATION APPLIED"), "{log}");
    assert_eq!(lab.config_snapshot(), before, "sshd already reaches the tailnet address: nothing to add");
    assert!(
        lab.peer_banner('w', "198.51.100.7").is_some_and(|b| b.starts_with("SSH-2.0-")),
        "the WAN peer still logs in"
    );
    assert_eq!(awaiting_notices(&lab), 1, "one notice per window, not one per tick");
    // No budget spent on waiting.
    let st = lab.h.state();
    assert!(st["findings"]["listeners/ssh-tailnet-only"]["attempts"].as_array().unwrap().is_empty(), "{st}");
    let status = lab.guard(&["status"]);
    assert!(status.stdout.contains("ssh-tailnet-only: phase 1 since"), "{status:?}");
    assert!(status.stdout.contains("tailnet login seen: none"), "{status:?}");
}

#[test]
fn shields_up_or_a_packet_filter_without_the_port_keeps_the_public_listener_despite_a_login() {
    let Some(lab) = Lab::new(UNITS) else { return };
    lab.ruleset(&contract_plus_public());
    for (prefs, netmap, why) in [
        ("prefs_shields_up.json", "netmap.json", "shields are up"),
        ("prefs.json", "netmap_web_only.json", "grants tcp/2222 on this node to no source"),
    ] {
        lab.h.tailscale_debug(prefs, netmap);
        let r = lab.guard(&["run"]);
        assert_eq!(r.code, 1, "{r:?}");
        let last = lab.h.log().rsplit("--- guard run").next().unwrap().to_owned();
        assert!(last.contains("AWAITING TAILNET PROOF") && last.contains(why), "{last}");
        assert!(lab.peer_banner('w', "198.51.100.7").is_some(), "{why}: the WAN peer still logs in");
    }
    // A changed reason is news: a second notice.
    assert_eq!(awaiting_notices(&lab), 2);
    assert!(lab.h.state()["tailnet_path"]["login"]["remote"].as_str().unwrap().starts_with("100.64.0.5:"));
}

#[test]
fn phase_one_adds_the_tailnet_listener_and_a_real_login_lets_phase_two_remove_the_public_one() {
    let Some(lab) = Lab::unproven(UNITS) else { return };
    lab.ruleset(&contract_plus_public());
    lab.restart_sshd_with("ListenAddress 198.51.100.7");
    assert_eq!(lab.peer_banner('t', TAILNET), None, "sshd is on the public address only");
    // Tick 1: phase 1, and the guard says where to log in.
    let r = lab.guard(&["run", "--format", "json"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(r.json()["attempts"][0]["fix"]["outcome"], "awaiting-tailnet");
    assert!(lab.h.log().contains("log in over the tailnet at 100.101.102.103:2222"), "{}", lab.h.log());
    let mut binds = lab.binds();
    binds.sort();
    assert_eq!(binds, [format!("{TAILNET}:{PORT}"), format!("198.51.100.7:{PORT}")]);
    assert!(lab.peer_banner('w', "198.51.100.7").is_some(), "the public listener stays");
    assert!(lab.peer_banner('t', TAILNET).is_some_and(|b| b.starts_with("SSH-2.0-")), "the tailnet peer reaches sshd");
    let status = lab.guard(&["status", "--format", "json"]).json();
    assert_eq!(status["tailnet_path"]["phase"], 1);
    // The operator logs in over the tailnet; the next tick finishes.
    lab.tailnet_login();
    let r = lab.guard(&["run", "--format", "json"]);
    assert_eq!(r.json()["attempts"][0]["fix"]["outcome"], "applied", "{r:?}\n{}", lab.h.log());
    assert_eq!(lab.binds(), [format!("{TAILNET}:{PORT}")]);
    assert!(lab.peer_banner('t', TAILNET).is_some_and(|b| b.starts_with("SSH-2.0-")), "the tailnet peer still logs in");
    assert_eq!(lab.peer_banner('w', "198.51.100.7"), None, "the WAN peer no longer reaches sshd");
    let log = lab.h.log();
    assert!(log.contains("tailnet path proven: a login from 100.64.0.5:"), "{log}");
    let status = lab.guard(&["status", "--format", "json"]).json();
    assert_eq!(status["tailnet_path"]["phase"], serde_json::Value::Null);
    assert!(status["tailnet_path"]["login"]["local"] == format!("{TAILNET}:{PORT}"), "{status}");
}

/// A connection is not a login: an unprivileged process on the host that
/// connects to its own tailnet address (over `lo`), and a tailnet peer
/// that never gets past the login prompt, leave the public listener where
/// it is.
#[test]
fn a_connection_from_the_host_itself_or_one_that_never_logged_in_proves_nothing() {
    let Some(lab) = Lab::unproven(UNITS) else { return };
    lab.ruleset(&contract_plus_public());
    // Held open for sshd's login grace time: the host to itself, as nobody,
    // and the tailnet peer at the prompt.
    let hold = |ns: String, setpriv: bool| {
        let mut c = std::process::Command::new("/usr/sbin/ip");
        c.args(["netns", "exec", &ns]);
        if setpriv {
            c.args(["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]);
        }
        c.args(["/bin/bash", "-c", &format!("exec 3<>/dev/tcp/{TAILNET}/{PORT} && exec sleep 60")]).spawn().unwrap()
    };
    let mut held = [hold(lab.ns.clone(), true), hold(format!("{}t", lab.ns), false)];
    let count = || lab.in_ns(&format!("/usr/bin/ss -tnH state established '( sport = :{PORT} )'")).1.lines().count();
    assert!(crate::support::wait_for(|| count() >= 2), "the two connections did not reach sshd");
    let r = lab.guard(&["run", "--format", "json"]);
    for c in &mut held {
        let _ = c.kill();
        let _ = c.wait();
    }
    assert_eq!(r.json()["attempts"][0]["fix"]["outcome"], "awaiting-tailnet", "{r:?}\n{}", lab.h.log());
    assert!(lab.peer_banner('w', "198.51.100.7").is_some(), "the public listener stays");
    assert_eq!(lab.h.state()["tailnet_path"]["login"], serde_json::Value::Null);
}
