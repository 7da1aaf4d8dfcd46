//! Torn final lines: what `recover` and an append do with them.

use super::*;

#[test]
fn torn_tail_is_reported_and_recover_repairs_it() {
    let f = filled(3);
    let good_len = fs::metadata(f.log.path()).unwrap().len();
    let mut bytes = fs::read(f.log.path()).unwrap();
    bytes.extend_from_slice(b"{\"action\":\"half-writ");
    fs::write(f.log.path(), &bytes).unwrap();

    assert_eq!(problems(&f.log), vec![Problem::TornTail { offset: good_len, bytes: 20 }]);
    let outcome = f.log.recover("openclaw-test", "root", &[]).unwrap();
    assert_eq!(outcome.truncated_bytes, 20);
    let rec = outcome.record.unwrap();
    assert_eq!((rec.seq, rec.action.as_str()), (4, "audit.recover"));
    assert_eq!(
        rec.params_hash,
        params_hash(&serde_json::json!({
            "truncated_bytes": 20, "torn_sha256": sha256_hex(b"{\"action\":\"half-writ"), "checkpoint_rebuilt": false
        }))
    );
    assert!(f.log.verify(&[]).unwrap().is_intact());
    append(&f.log, "after.recover");
    assert_eq!(f.log.verify(&[]).unwrap().records, 5);
}

#[test]
fn an_append_cuts_a_dead_writers_torn_tail_and_records_that_it_did() {
    let f = filled(3);
    let mut bytes = fs::read(f.log.path()).unwrap();
    bytes.extend_from_slice(b"{\"action\":\"half-writ");
    fs::write(f.log.path(), &bytes).unwrap();
    let rec = append(&f.log, "after.torn");
    assert_eq!(rec.seq, 5, "audit.recover took seq 4");
    let recs: Vec<Record> = lines(&f.log).iter().map(|l| Record::parse_line(l).unwrap()).collect();
    assert_eq!(recs[3].action, "audit.recover");
    assert_eq!(
        recs[3].params_hash,
        params_hash(&serde_json::json!({
            "truncated_bytes": 20, "torn_sha256": sha256_hex(b"{\"action\":\"half-writ"), "checkpoint_rebuilt": false
        }))
    );
    assert!(f.log.verify(&[]).unwrap().is_intact());
    // What recover refuses, an append refuses too: a tail that is no record's start.
    let f = filled(2);
    let mut bytes = fs::read(f.log.path()).unwrap();
    bytes.extend_from_slice(b"garbage without a newline");
    fs::write(f.log.path(), &bytes).unwrap();
    let params = serde_json::json!({});
    let err = f
        .log
        .append(&Entry { tool: "t", actor: "a", action: "test.append", params: &params, exit_code: 0, duration_ms: 0 })
        .unwrap_err();
    assert!(matches!(err, AuditError::Damaged { .. }), "{err}");
    assert_eq!(fs::read(f.log.path()).unwrap(), bytes, "nothing changed");
}
