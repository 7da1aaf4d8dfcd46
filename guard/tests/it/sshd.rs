//! `ssh-tailnet-only` against a real sshd in a test-made network namespace
//! (see `sshlab`): the fix, every unhealthy Tailscale state, `sshd -t`
//! failing, verification failing, the guard killed mid-fix, socket
//! activation, no sshd unit, non-local bind off, and the reboot ordering.

use std::time::{Duration, Instant};

use crate::sshlab::{Lab, PORT, TAILNET};

const UNITS: &str = "ssh.service enabled enabled\nssh@.service static -\n";

#[test]
fn public_sshd_answers_only_on_the_tailnet_address_after_a_tick() {
    let Some(lab) = Lab::new("ssh.service enabled enabled\nssh.socket disabled enabled\n") else { return };
    assert!(lab.banner("198.51.100.7").is_some_and(|b| b.starts_with("SSH-2.0-")), "public before the fix");
    let r = lab.guard(&["run", "--format", "json"]);
    assert_eq!(r.code, 0, "{r:?}\n{}", lab.h.log());
    // Real TCP: the banner answers on the tailnet address, nothing on the public one.
    assert!(lab.banner(TAILNET).is_some_and(|b| b.starts_with("SSH-2.0-")), "{}", lab.h.log());
    assert_eq!(lab.banner("198.51.100.7"), None);
    assert_eq!(lab.binds(), [format!("{TAILNET}:{PORT}")], "the kernel shows no public bind; port {PORT} kept");
    let log = lab.h.log();
    for token in ["REMEDIATING listeners/ssh-tailnet-only", "REMEDIATION APPLIED", "RESULT: PASS after remediation"] {
        assert!(log.contains(token), "{token}: {log}");
    }
    // The socket unit is disabled and masked before the restart.
    let calls = lab.systemctl_calls();
    let order: Vec<&str> = calls.lines().filter(|l| !l.starts_with("is-") && !l.starts_with("list")).collect();
    assert_eq!(order, ["disable --now ssh.socket", "mask ssh.socket", "daemon-reload", "restart ssh.service"]);
    let st = lab.h.state();
    assert_eq!(st["pending_rollback"], serde_json::Value::Null);
    assert_eq!(st["last_run"]["outcome"], "pass");
    let j = r.json();
    assert_eq!(j["attempts"][0]["fix"]["outcome"], "applied");
    assert_eq!(j["attempts"][0]["result"]["succeeded"], true);
    // A second tick has nothing to do and touches nothing.
    let pid = lab.sshd_pid();
    let r = lab.guard(&["run"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(lab.sshd_pid(), pid);
    assert!(lab.h.log().matches("restart ssh.service").count() <= 1);
    let v = lab.guard(&["fix", "ssh-tailnet-only", "--verify"]);
    assert_eq!(v.code, 0, "{v:?}");
}

#[test]
fn every_unhealthy_tailscale_state_leaves_sshd_untouched() {
    let Some(lab) = Lab::new(UNITS) else { return };
    let before = lab.config_snapshot();
    let pid = lab.sshd_pid();
    for (fixture, code, why) in [
        ("stopped.json", 0, "Stopped"),
        ("needs_login.json", 0, "NeedsLogin"),
        ("starting.json", 0, "Starting"),
        ("offline.json", 0, "not Online"),
        ("no_ips.json", 0, "no"),
        ("garbage.txt", 0, ""),
        ("partial.json", 0, ""),
        ("running.json", 1, "exited 1"),
    ] {
        lab.h.tailscale(fixture, code);
        let r = lab.guard(&["run"]);
        assert_eq!(r.code, 1, "{fixture}: {r:?}");
        let log = lab.h.log();
        let last = log.rsplit("--- guard run").next().unwrap();
        assert!(last.contains("INTERLOCK CLOSED") && last.contains(why), "{fixture}: {last}");
        assert!(last.contains("sshd will NOT be touched") && last.contains("will retry next tick"), "{last}");
        assert_eq!(lab.config_snapshot(), before, "{fixture}: config files byte-identical");
        assert_eq!(lab.sshd_pid(), pid, "{fixture}: sshd not restarted");
        assert_eq!(lab.systemctl_calls(), "", "{fixture}: systemctl never called");
    }
    // A hang is bounded by the timeout and closes the interlock too.
    lab.h.stub("tailscale", "sleep 30");
    let r = lab.guard(&["run"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!((lab.config_snapshot(), lab.sshd_pid(), lab.systemctl_calls()), (before, pid, String::new()));
    // A tailnet address that is not on any interface here.
    lab.in_ns(&format!("ip addr del {TAILNET}/32 dev tailscale0"));
    lab.h.tailscale("running.json", 0);
    let r = lab.guard(&["run"]);
    assert_eq!(r.code, 1);
    assert!(lab.h.log().contains("is not configured"), "{}", lab.h.log());
    assert_eq!(lab.systemctl_calls(), "");
}

#[test]
fn a_failing_sshd_t_restores_the_files_and_restarts_nothing() {
    let Some(lab) = Lab::new(UNITS) else { return };
    std::fs::remove_file(lab.h.bin_dir().join("sshd")).unwrap();
    lab.h.stub("sshd", "if [ \"$1\" = -t ]; then echo 'line 3: Bad configuration option' >&2; exit 255; fi\nexec /usr/sbin/sshd \"$@\"");
    let before = lab.config_snapshot();
    let pid = lab.sshd_pid();
    let r = lab.guard(&["fix", "ssh-tailnet-only"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stdout.contains("sshd -t rejected the new configuration, nothing restarted"), "{r:?}");
    assert!(r.stdout.contains("files restored from"), "{r:?}");
    assert_eq!(lab.config_snapshot(), before);
    assert_eq!(lab.sshd_pid(), pid);
    assert!(!lab.systemctl_calls().contains("restart"));
    assert_eq!(lab.h.state()["pending_rollback"], serde_json::Value::Null);
}

#[test]
fn failed_verification_rolls_back_to_the_original_files_and_a_live_sshd() {
    let Some(lab) = Lab::new(UNITS) else { return };
    let before = lab.config_snapshot();
    // The first restart "succeeds" without restarting: sshd keeps its public bind.
    std::fs::write(lab.h.path("restart-noop-once"), "").unwrap();
    let r = lab.guard(&["run", "--format", "json"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(lab.config_snapshot(), before, "files restored byte for byte");
    assert!(lab.banner("198.51.100.7").is_some_and(|b| b.starts_with("SSH-2.0-")), "previous listener live");
    let log = lab.h.log();
    assert!(log.contains("ROLLED BACK listeners/ssh-tailnet-only"), "{log}");
    assert!(log.contains("verification failed after the restart"), "{log}");
    let calls = lab.h.notify_calls();
    let rb = calls.iter().find(|c| c.contains(&"guard.rolled_back".to_owned())).expect("rolled_back alert");
    assert!(rb.contains(&"emergency".to_owned()));
    let st = lab.h.state();
    assert_eq!(st["pending_rollback"], serde_json::Value::Null);
    assert_eq!(st["findings"]["listeners/ssh-tailnet-only"]["attempts"].as_array().unwrap().len(), 1);
    assert_eq!(r.json()["attempts"][0]["fix"]["undo"]["undo"], "rolled-back");
}

#[test]
fn a_guard_killed_between_restart_and_confirm_is_rolled_back_by_the_watchdog() {
    let Some(lab) = Lab::new(UNITS) else { return };
    lab.h.write_config(
        "[guard]\nlock_wait_secs = 2\ndoctor_timeout_secs = 30\ntailscale_timeout_secs = 2\n\
         rollback_after_secs = 4\nverify_secs = 2\ndeadman = \"watchdog\"\n",
    );
    let before = lab.config_snapshot();
    std::fs::write(lab.h.path("hang-after-restart"), "").unwrap();
    let mut child = lab.guard_command(&["fix", "ssh-tailnet-only"]).spawn().unwrap();
    assert!(
        crate::support::wait_for(|| lab.h.path("restarted").exists()),
        "the stub never restarted sshd: {}",
        lab.h.log()
    );
    assert!(lab.banner(TAILNET).is_some(), "sshd runs the new configuration");
    child.kill().unwrap(); // SIGKILL
    let killed = Instant::now();
    child.wait().unwrap();
    let mut restored = false;
    while killed.elapsed() < Duration::from_secs(20) {
        if lab.config_snapshot() == before && lab.h.state()["pending_rollback"].is_null() {
            restored = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let took = killed.elapsed();
    assert!(restored, "no rollback within 20 s: {}", lab.h.log());
    assert!(crate::support::wait_for(|| lab.banner("198.51.100.7").is_some()), "previous listener back");
    let log = lab.h.log();
    assert!(log.contains("ROLLED BACK ssh-tailnet-only") && log.contains("deadline passed"), "{log}");
    assert_eq!(lab.h.state()["last_rollback"]["restored"], true);
    assert!(took < Duration::from_secs(20), "{took:?}");
}

#[test]
fn no_sshd_unit_is_a_refusal_with_instructions_never_a_pass() {
    let Some(lab) = Lab::new("cron.service enabled enabled\n") else { return };
    let before = lab.config_snapshot();
    let r = lab.guard(&["fix", "ssh-tailnet-only"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stdout.contains("no ssh.service or sshd.service unit") && r.stdout.contains("by hand"), "{r:?}");
    assert_eq!(lab.config_snapshot(), before);
    let r = lab.guard(&["run"]);
    assert_eq!(r.code, 1, "{r:?}");
}

#[test]
fn without_nonlocal_bind_the_fix_refuses_and_the_reboot_case_shows_why() {
    let Some(lab) = Lab::new(UNITS) else { return };
    lab.in_ns("echo 0 > /proc/sys/net/ipv4/ip_nonlocal_bind");
    let before = lab.config_snapshot();
    let r = lab.guard(&["fix", "ssh-tailnet-only"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stdout.contains("ip_nonlocal_bind is 0"), "{r:?}");
    assert_eq!(lab.config_snapshot(), before);
    // With it on, apply, then "reboot": the tailnet address is gone when sshd starts.
    lab.in_ns("echo 1 > /proc/sys/net/ipv4/ip_nonlocal_bind");
    let r = lab.guard(&["fix", "ssh-tailnet-only"]);
    assert_eq!(r.code, 0, "{r:?}");
    let pid = lab.sshd_pid().unwrap();
    lab.in_ns(&format!("kill {pid}"));
    assert!(crate::support::wait_for(|| lab.binds().is_empty()));
    lab.in_ns(&format!("ip addr del {TAILNET}/32 dev tailscale0"));
    lab.start_sshd(); // sshd starts before tailscaled brings the address up
    assert_eq!(lab.binds(), [format!("{TAILNET}:{PORT}")]);
    lab.in_ns(&format!("ip addr add {TAILNET}/32 dev tailscale0"));
    assert!(lab.banner(TAILNET).is_some_and(|b| b.starts_with("SSH-2.0-")), "answers once the address is up");
    // Without non-local bind the same boot fails: sshd cannot bind and exits.
    lab.in_ns(&format!("kill $(cat '{}')", lab.h.path("sshd.pid").display()));
    assert!(crate::support::wait_for(|| lab.binds().is_empty()));
    lab.in_ns(&format!("ip addr del {TAILNET}/32 dev tailscale0; echo 0 > /proc/sys/net/ipv4/ip_nonlocal_bind"));
    let _ = std::fs::remove_file(lab.h.path("sshd.pid"));
    let (_, _) = lab.in_ns(&format!("/usr/sbin/sshd -f '{}'", lab.ssh.join("sshd_config").display()));
    std::thread::sleep(Duration::from_millis(500));
    assert!(lab.binds().is_empty(), "without ip_nonlocal_bind sshd has no listener at boot: a lockout");
}

#[test]
fn the_budget_stops_after_three_failures_with_one_emergency_alert() {
    let Some(lab) = Lab::new(UNITS) else { return };
    std::fs::remove_file(lab.h.bin_dir().join("sshd")).unwrap();
    lab.h.stub("sshd", "if [ \"$1\" = -t ]; then exit 255; fi\nexec /usr/sbin/sshd \"$@\"");
    // Two failed attempts earlier today, their back-off over.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let state = serde_json::json!({
        "schema_version": 1, "last_run": null, "doctor_fail_open": false, "pending_rollback": null,
        "findings": {"listeners/ssh-tailnet-only": {"first_seen": now - 4000, "last_seen": now - 1000,
            "attempts": [now - 4000, now - 2000], "consecutive_failures": 2, "backoff_until": null,
            "budget_exhausted": false}}
    });
    std::fs::create_dir_all(lab.h.path("state/guard")).unwrap();
    std::fs::write(lab.h.path("state/guard/state.json"), state.to_string()).unwrap();
    let r = lab.guard(&["run"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(lab.h.log().contains("REMEDIATION FAILED"), "{}", lab.h.log());
    let alerts = |id: &str| lab.h.notify_calls().iter().filter(|c| c.contains(&id.to_owned())).count();
    assert_eq!(alerts("guard.budget_exhausted"), 1);
    assert!(lab.h.state()["findings"]["listeners/ssh-tailnet-only"]["budget_exhausted"] == true);
    // The next tick: no fourth attempt, no second alert, the finding still reported.
    let calls = lab.systemctl_calls();
    let r = lab.guard(&["run"]);
    assert_eq!(r.code, 1);
    assert_eq!(lab.systemctl_calls(), calls, "no fourth attempt");
    assert_eq!(alerts("guard.budget_exhausted"), 1);
    assert!(lab.h.log().rsplit("--- guard run").next().unwrap().contains("budget exhausted"), "{}", lab.h.log());
    assert_eq!(alerts("guard.doctor_fail"), 2);
}
