//! `status` reads state.json back in the documented JSON shape.

use crate::support::Host;

#[test]
fn status_before_any_run_and_after_a_failing_one() {
    let h = Host::new();
    let r = h.run(&["status", "--format", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let j = r.json();
    assert_eq!((j["schema_version"].as_u64(), j["tool"].as_str()), (Some(1), Some("openclaw-guard")));
    assert_eq!(j["last_run"], serde_json::Value::Null);
    assert!(!h.path("state/guard").exists(), "status creates nothing");

    h.doctor("doctor_fail_sshd.json", 1);
    assert_eq!(h.run(&["run"]).code, 1);
    let r = h.run(&["status", "--format", "json"]);
    assert_eq!(r.code, 1, "the last run failed: {r:?}");
    let j = r.json();
    assert_eq!(j["last_run"]["outcome"], "fail");
    assert_eq!(j["last_run"]["exit_code"], 1);
    assert_eq!(j["doctor_fail_open"], true);
    assert_eq!(j["pending_rollback"], serde_json::Value::Null);
    let f = &j["findings"][1];
    assert_eq!(f["key"], "listeners/ssh-tailnet-only");
    assert_eq!((f["attempts_24h"].as_u64(), f["budget_left"].as_u64()), (Some(0), Some(3)));
    assert_eq!((f["budget_exhausted"].as_bool(), &f["backoff_until"]), (Some(false), &serde_json::Value::Null));
    assert!(f["first_seen"].as_str().unwrap().ends_with('Z'));
    let human = h.run(&["status"]);
    assert!(human.stdout.contains("finding listeners/ssh-tailnet-only: since"), "{}", human.stdout);
}
