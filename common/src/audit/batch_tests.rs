//! Group commit: `AuditLog::append_batch` writes several records as one
//! chained write under one lock and one fsync, or refuses them all.

use super::*;

#[test]
fn a_batch_is_one_chained_write_or_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let log = AuditLog::new(tmp.path().join("log/audit.jsonl"), tmp.path().join("log/audit.jsonl.checkpoint"));
    let p0 = serde_json::json!({});
    for action in ["action.a", "action.b"] {
        log.append(&Entry { tool: "openclaw-test", actor: "root", action, params: &p0, exit_code: 0, duration_ms: 0 })
            .unwrap();
    }
    let p = serde_json::json!({"k": 1});
    let entry =
        |action| Entry { tool: "openclaw-test", actor: "token:abcd", action, params: &p, exit_code: 0, duration_ms: 0 };
    let recs = log.append_batch(&[entry("console.refuse"), entry("console.start"), entry("console.finish")]).unwrap();
    assert_eq!(recs.iter().map(|r| r.seq).collect::<Vec<_>>(), [3, 4, 5]);
    assert_eq!(recs[1].prev, recs[0].hash);
    assert!(log.verify(&[]).unwrap().problems.is_empty());
    assert_eq!(log.read_checkpoint().unwrap().unwrap().seq, 5, "one checkpoint, at the batch's last record");
    // One bad entry refuses the whole batch before anything is written.
    let err = log.append_batch(&[entry("console.start"), entry("Not An Action")]).unwrap_err();
    assert!(matches!(err, AuditError::BadAction { .. }), "{err}");
    assert_eq!(std::fs::read_to_string(log.path()).unwrap().lines().count(), 5);
    assert!(log.append_batch(&[]).unwrap().is_empty());
    assert_eq!(log.append(&entry("action.after")).unwrap().seq, 6);
}
