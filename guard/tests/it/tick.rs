//! One tick end to end: the doctor's verdict, the exit code, the log, the
//! state, the audit record and the notifier's argv.

use std::os::unix::fs::PermissionsExt;

use crate::support::Host;

#[test]
fn doctor_pass_exits_0_logs_result_pass_and_records_state() {
    let h = Host::new();
    h.doctor("doctor_pass.json", 0);
    let r = h.run(&["run"]);
    assert_eq!(r.code, 0, "{r:?}");
    let log = h.log();
    assert!(log.contains("RESULT: PASS (doctor)"), "{log}");
    assert!(log.lines().all(|l| l.starts_with("[20") && l.contains("Z] ")), "every line has its own timestamp: {log}");
    assert!(r.stdout.contains("RESULT: PASS"), "{}", r.stdout);
    let st = h.state();
    assert_eq!(st["last_run"]["outcome"], "pass");
    assert_eq!(st["last_run"]["exit_code"], 0);
    assert_eq!(st["pending_rollback"], serde_json::Value::Null);
    let mode = std::fs::metadata(h.path("state/guard/state.json")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(h.notify_calls().is_empty(), "nothing to notify or resolve");
    let audit = std::fs::read_to_string(h.path("audit/audit.jsonl")).unwrap();
    assert!(audit.contains("\"action\":\"guard.run\"") && audit.contains("\"exit_code\":0"), "{audit}");
    assert!(!audit.contains("listeners"), "parameters are hashed, never stored: {audit}");
}

#[test]
fn doctor_fail_exits_1_skips_remediation_notifies_and_resolves_on_recovery() {
    let h = Host::new();
    h.doctor("doctor_fail_sshd.json", 1);
    h.tailscale("stopped.json", 0);
    let r = h.run(&["run"]);
    assert_eq!(r.code, 1, "{r:?}");
    let log = h.log();
    for want in [
        "RESULT: FAIL (doctor: 2 finding(s): listeners/ssh-tailnet-only, disk)",
        "INTERLOCK CLOSED: Tailscale is Stopped",
        "SKIP REMEDIATION listeners/ssh-tailnet-only (ssh-tailnet-only): interlock closed: Tailscale is Stopped; sshd will NOT be touched",
        "NOTIFY ONLY disk: no remediation registered",
        "STILL FAILING: 2 finding(s) remain",
        "NOTIFIED guard.doctor_fail (high)",
    ] {
        assert!(log.contains(want), "missing {want:?} in:\n{log}");
    }
    assert!(!log.contains('\u{202e}'), "untrusted text is escaped: {log}");
    let calls = h.notify_calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let c = &calls[0];
    assert_eq!(c[..5], ["send", "--check-id", "guard.doctor_fail", "--title", "OpenClaw Guard"]);
    assert_eq!(c[5..8], ["--priority", "high", "--"]);
    assert!(c[8].starts_with("doctor FAIL: listeners fail: ") && c[8].contains("disk fail:"), "{c:?}");
    let st = h.state();
    assert_eq!(st["last_run"]["outcome"], "fail");
    assert_eq!(st["doctor_fail_open"], true);
    assert!(
        st["findings"]["listeners/ssh-tailnet-only"]["attempts"].as_array().unwrap().is_empty(),
        "nothing attempted"
    );

    h.doctor("doctor_pass.json", 0);
    let r = h.run(&["run"]);
    assert_eq!(r.code, 0, "{r:?}");
    let calls = h.notify_calls();
    assert_eq!(calls.len(), 2);
    assert!(calls[1].contains(&"--resolved".to_owned()) && calls[1].contains(&"guard.doctor_fail".to_owned()));
    assert_eq!(h.state()["doctor_fail_open"], false);
    assert_eq!(h.state()["findings"], serde_json::json!({}));
}

#[test]
fn doctor_missing_garbage_hung_or_broken_exits_2_and_notifies_nothing() {
    for (name, script, want) in [
        ("missing", None, "the doctor is missing"),
        ("garbage", Some("echo 'not json'; exit 1"), "unreadable"),
        ("partial", Some("echo '{\"schema_version\":1,'; exit 0"), "unreadable"),
        ("exit 2", Some("echo 'bad config' >&2; exit 2"), "could not run (exit 2): bad config"),
        ("hang", Some("sleep 30"), "did not finish within"),
    ] {
        let h = Host::new();
        if let Some(s) = script {
            h.doctor_script(s);
        }
        let r = h.run(&["run"]);
        assert_eq!(r.code, 2, "{name}: {r:?}");
        assert!(r.stderr.contains(want), "{name}: {}", r.stderr);
        assert!(h.notify_calls().is_empty(), "{name}: nothing notified");
        let log = h.log();
        assert!(
            log.contains("RESULT: ERROR") && !log.contains("SKIP REMEDIATION") && !log.contains("RESULT: FAIL"),
            "{name}: {log}"
        );
        assert_eq!(h.state()["last_run"]["outcome"], "error", "{name}");
    }
}

#[test]
fn a_failing_notifier_is_logged_and_changes_nothing() {
    let h = Host::new();
    h.doctor("doctor_fail_sshd.json", 1);
    h.stub("notify-stub", "echo 'PUSHOVER_APP_TOKEN missing' >&2\nexit 2");
    let r = h.run(&["run"]);
    assert_eq!(r.code, 1, "{r:?}");
    let log = h.log();
    assert!(
        log.contains("NOTIFY FAILED guard.doctor_fail: openclaw-notify exited 2: PUSHOVER_APP_TOKEN missing"),
        "{log}"
    );
    assert!(log.contains("INTERLOCK CLOSED: tailscale is not installed"), "{log}");
    assert_eq!(h.state()["doctor_fail_open"], false, "an alert that was not handed over is not open");
}

#[test]
fn dry_run_decides_but_logs_notifies_and_records_nothing() {
    let h = Host::new();
    h.doctor("doctor_fail_sshd.json", 1);
    let r = h.run(&["run", "--dry-run"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stdout.contains("(dry run) SKIP REMEDIATION listeners/ssh-tailnet-only"), "{}", r.stdout);
    assert!(!h.path("guard.log").exists() && !h.path("state/guard/state.json").exists());
    assert!(!h.path("audit/audit.jsonl").exists());
    assert!(h.notify_calls().is_empty());
}
