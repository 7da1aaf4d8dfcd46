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

/// Runs a tick inside a fresh network namespace (`unshare -n`, or `-rn`
/// when not root) where `tailscale0` carries `addr`; `None` when namespaces
/// cannot be made here.
fn run_in_netns(h: &Host, addr: &str) -> Option<test_support::Run> {
    let ip = "/usr/sbin/ip";
    if !std::path::Path::new(ip).exists() {
        test_support::skip("/usr/sbin/ip (iproute2) is not installed");
        return None;
    }
    let script = format!(
        "{ip} link set lo up && {ip} link add tailscale0 type veth peer name ts-peer && \
         {ip} addr add {addr}/32 dev tailscale0 && {ip} link set tailscale0 up && exec \"$0\" run"
    );
    let flag = if test_support::is_root() { "-n" } else { "-rn" };
    let probe = std::process::Command::new("/usr/bin/unshare").args([flag, "true"]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        test_support::skip("cannot create a network namespace (unshare) here");
        return None;
    }
    let guard = crate::support::GUARD;
    let mut cmd = std::process::Command::new("/usr/bin/unshare");
    h.hermetic(&mut cmd);
    cmd.env("OPENCLAW_DOCTOR_BIN", h.bin_dir().join("doctor-stub"))
        .env("OPENCLAW_NOTIFY_BIN", h.bin_dir().join("notify-stub"))
        .args([flag, "/bin/sh", "-c", &script, guard]);
    Some(test_support::run(&mut cmd))
}

#[test]
fn with_tailscale_healthy_and_its_address_local_the_interlock_opens_and_the_fix_is_tried() {
    let h = Host::new();
    h.doctor("doctor_fail_sshd.json", 1);
    h.tailscale("running.json", 0);
    let Some(r) = run_in_netns(&h, "100.101.102.103") else { return };
    assert_eq!(r.code, 1, "{r:?}");
    let log = h.log();
    assert!(log.contains("INTERLOCK OPEN: Tailscale Running and Online, 100.101.102.103 configured locally"), "{log}");
    // The stub PATH has no sshd: the fix refuses before changing anything, and that is a failed attempt.
    assert!(log.contains("REMEDIATING listeners/ssh-tailnet-only (ssh-tailnet-only)"), "{log}");
    assert!(log.contains("REMEDIATION FAILED listeners/ssh-tailnet-only (ssh-tailnet-only): refused, nothing changed: cannot read sshd's effective configuration: `sshd` is not installed"), "{log}");
    assert_eq!(h.state()["findings"]["listeners/ssh-tailnet-only"]["attempts"].as_array().unwrap().len(), 1);
    assert!(h.notify_calls().iter().any(|c| c.contains(&"guard.remediation_failed".to_owned())));
    // Another tailnet address on the interface is not the one tailscale reports.
    let h = Host::new();
    h.doctor("doctor_fail_sshd.json", 1);
    h.tailscale("running.json", 0);
    let Some(r) = run_in_netns(&h, "100.101.102.104") else { return };
    assert_eq!(r.code, 1, "{r:?}");
    assert!(h.log().contains("INTERLOCK CLOSED: the tailnet address 100.101.102.103 is not configured"), "{}", h.log());
}
