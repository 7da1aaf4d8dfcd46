//! The audit trail: one record per request that reached action resolution,
//! written before the answer; the chain verifies with the independent
//! Python verifier; a record's `params_hash` is recomputable from what the
//! request and its run say; an audit log that cannot be written turns the
//! request into a 500 and nothing runs.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::support::{Console, marker_action, ran};

#[test]
fn records_chain_verify_independently_and_bind_the_request() {
    let c = Console::start(|h| {
        marker_action(h, "hello", "echo hi", "[action.params.n]\ntype = \"int\"\nmin = 0\nmax = 9\n")
    });
    let ok = c.exec(r#"{"action":"hello","params":{"n":3}}"#);
    assert_eq!(ok.status, 200);
    let refused = c.exec(r#"{"action":"nope"}"#);
    assert_eq!(refused.status, 400);
    let recs = c.audit();
    let actions: Vec<&str> = recs.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["console.start", "console.finish", "console.refuse"]);
    assert!(recs.iter().all(|r| r["tool"] == "openclaw-console" && r["actor"].as_str().unwrap().starts_with("token:")));
    let log = c.host.path("audit/audit.jsonl");
    let verified = Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/verify_audit.py"))
        .arg(&log)
        .output()
        .unwrap();
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stdout));
    // The run's facts hash to the records' params_hash.
    let j = ok.json();
    let origin = c.origin();
    let facts = serde_json::json!({
        "request_id": j["request_id"], "action": "hello", "params": {"n": "3"},
        "origin": origin, "lock": "acquired", "run_id": j["run_id"], "error_class": null,
    });
    let want = common::audit::params_hash(&facts);
    assert_eq!(recs[0]["params_hash"], want.as_str());
    assert_eq!(recs[1]["params_hash"], want.as_str());
    let run = c.get(&format!("/api/runs/{}", j["run_id"].as_str().unwrap())).json();
    assert_eq!(run["params_hash"], want.as_str());
    let r = refused.json();
    let facts = serde_json::json!({
        "request_id": r["request_id"], "action": "nope", "params": {},
        "origin": origin, "lock": "none", "run_id": null, "error_class": "UNKNOWN_ACTION",
    });
    assert_eq!(recs[2]["params_hash"], common::audit::params_hash(&facts).as_str());
}

#[test]
fn an_audit_log_that_cannot_be_written_refuses_the_run() {
    let c = Console::start(|h| marker_action(h, "hello", "echo hi", ""));
    assert_eq!(c.exec(r#"{"action":"hello"}"#).status, 200);
    std::fs::remove_file(c.host.path("ran-hello")).unwrap();
    // Tamper: the log is no longer the console's to append (foreign mode).
    let log = c.host.path("audit/audit.jsonl");
    std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o666)).unwrap();
    let a = c.exec(r#"{"action":"hello"}"#);
    assert_eq!((a.status, a.class()), (500, "AUDIT_UNAVAILABLE".to_owned()));
    assert!(!ran(&c.host, "hello"), "nothing runs without its record");
    let a = c.exec(r#"{"action":"nope"}"#);
    assert_eq!((a.status, a.class()), (500, "AUDIT_UNAVAILABLE".to_owned()), "refusals are durable or nothing too");
    assert!(c.stderr().contains("audit log"));
}

#[test]
fn an_unsafe_run_store_or_lock_refuses_the_run() {
    let c = Console::start(|h| marker_action(h, "hello", "echo hi", ""));
    // Someone else can now write the run store: refuse to put a run there.
    let runs = c.host.path("artifacts/console");
    std::fs::set_permissions(&runs, std::fs::Permissions::from_mode(0o777)).unwrap();
    let a = c.exec(r#"{"action":"hello"}"#);
    assert_eq!((a.status, a.class()), (500, "INTERNAL".to_owned()));
    assert!(!ran(&c.host, "hello"));
    std::fs::set_permissions(&runs, std::fs::Permissions::from_mode(0o700)).unwrap();
    // A lock file replaced by a link is never followed.
    let lock = c.host.path("run/console/locks/hello.lock");
    let _ = std::fs::remove_file(&lock);
    std::os::unix::fs::symlink(c.host.path("elsewhere"), &lock).unwrap();
    let a = c.exec(r#"{"action":"hello"}"#);
    assert_eq!((a.status, a.class()), (500, "INTERNAL".to_owned()));
    assert!(!ran(&c.host, "hello"));
    assert!(!c.host.path("elsewhere").exists());
    std::fs::remove_file(&lock).unwrap();
    let refusals = c.audit().iter().filter(|r| r["action"] == "console.refuse").count();
    assert_eq!(refusals, 2, "each internal refusal after resolution is audited too");
    assert_eq!(c.exec(r#"{"action":"hello"}"#).status, 200, "recovers once the store is safe again");
}
