//! Every unhealthy Tailscale state closes the interlock, and the log says
//! which condition failed and that the guard retries next tick.

use crate::support::Host;

/// Runs a tick and returns the reason of its (the last) INTERLOCK CLOSED line.
fn closed_reason(h: &Host) -> String {
    let r = h.run(&["run"]);
    assert_eq!(r.code, 1, "{r:?}");
    let log = h.log();
    assert!(
        log.contains("SKIP REMEDIATION listeners/ssh-tailnet-only (ssh-tailnet-only): interlock closed: ")
            && log.contains("sshd will NOT be touched (it could cut off access); will retry next tick"),
        "{log}"
    );
    log.lines()
        .rfind(|l| l.contains("INTERLOCK CLOSED: "))
        .unwrap()
        .split("INTERLOCK CLOSED: ")
        .nth(1)
        .unwrap()
        .to_owned()
}

#[test]
fn every_unhealthy_tailscale_state_is_logged_with_its_reason() {
    for (fixture, code, want) in [
        ("stopped.json", 0, "Tailscale is Stopped"),
        ("needs_login.json", 0, "Tailscale needs login"),
        ("starting.json", 0, "Tailscale is still Starting"),
        ("offline.json", 0, "not Online"),
        ("no_ips.json", 0, "no 100.64.0.0/10 address"),
        ("no_ipv4.json", 0, "no 100.64.0.0/10 address"),
        ("partial.json", 0, "output is unusable: not JSON"),
        ("garbage.txt", 0, "output is unusable: not JSON"),
        ("garbage.txt", 1, "`tailscale status --json` exited 1"),
        // The recorded address is not configured on this test host.
        ("running.json", 0, "the tailnet address 100.101.102.103 is not configured on any local interface"),
    ] {
        let h = Host::new();
        h.doctor("doctor_fail_sshd.json", 1);
        h.tailscale(fixture, code);
        let reason = closed_reason(&h);
        assert!(reason.contains(want), "{fixture} (exit {code}): {reason}");
    }
}

#[test]
fn a_missing_or_hung_tailscale_closes_the_interlock() {
    let h = Host::new();
    h.doctor("doctor_fail_sshd.json", 1);
    assert!(closed_reason(&h).contains("tailscale is not installed"));
    h.stub("tailscale", "sleep 30");
    let started = std::time::Instant::now();
    let reason = closed_reason(&h);
    assert!(reason.contains("did not answer within"), "{reason}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "bounded by the timeout");
}
