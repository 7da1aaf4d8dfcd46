//! The audit log in one process: records, canonical form, checkpoints, tampering, recovery.

use super::*;
use crate::hash::sha256_hex;
use std::fs;
use std::fs::OpenOptions;

struct Fixture {
    _tmp: tempfile::TempDir,
    log: AuditLog,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let log = AuditLog::new(tmp.path().join("log/audit.jsonl"), tmp.path().join("log/audit.jsonl.checkpoint"));
    Fixture { _tmp: tmp, log }
}

fn append(log: &AuditLog, action: &str) -> Record {
    let params = serde_json::json!({ "n": action.len(), "name": action });
    log.append(&Entry { tool: "openclaw-test", actor: "root", action, params: &params, exit_code: 0, duration_ms: 3 })
        .unwrap()
}

fn filled(n: usize) -> Fixture {
    let f = fixture();
    for i in 0..n {
        append(&f.log, &format!("action.n{i}"));
    }
    f
}

fn lines(log: &AuditLog) -> Vec<String> {
    fs::read_to_string(log.path()).unwrap().lines().map(str::to_owned).collect()
}

fn write_lines(log: &AuditLog, lines: &[String]) {
    fs::write(log.path(), lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
}

fn problems(log: &AuditLog) -> Vec<Problem> {
    log.verify(&[]).unwrap().problems
}

#[test]
fn appends_form_a_chain_that_verifies() {
    let f = filled(5);
    let report = f.log.verify(&[]).unwrap();
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(report.records, 5);
    let recs: Vec<Record> = lines(&f.log).iter().map(|l| Record::parse_line(l).unwrap()).collect();
    assert_eq!(recs[0].prev, GENESIS);
    for pair in recs.windows(2) {
        assert_eq!(pair[1].prev, pair[0].hash);
        assert_eq!(pair[1].seq, pair[0].seq + 1);
    }
    let cp = f.log.read_checkpoint().unwrap().unwrap();
    assert_eq!((cp.seq, &cp.hash), (5, &recs[4].hash));
}

#[test]
fn stored_lines_are_canonical_and_params_are_only_hashed() {
    let f = fixture();
    let params = serde_json::json!({ "z": 1, "a": { "y": [true, null], "b": "secret-looking" } });
    let rec = f
        .log
        .append(&Entry { tool: "t", actor: "a", action: "test.append", params: &params, exit_code: 1, duration_ms: 9 })
        .unwrap();
    let line = &lines(&f.log)[0];
    assert_eq!(line, &rec.to_line());
    assert!(
        line.starts_with("{\"action\":\"test.append\",\"actor\":\"a\",\"duration_ms\":9,\"exit_code\":1,\"hash\":"),
        "{line}"
    );
    assert!(!line.contains("secret-looking"));
    assert_eq!(rec.params_hash, sha256_hex(br#"{"a":{"b":"secret-looking","y":[true,null]},"z":1}"#));
}

#[test]
fn modified_middle_record_is_detected() {
    let f = filled(5);
    let mut l = lines(&f.log);
    l[2] = l[2].replace("\"exit_code\":0", "\"exit_code\":7");
    write_lines(&f.log, &l);
    assert_eq!(problems(&f.log), vec![Problem::BadHash { line: 3, seq: 3 }]);
}

#[test]
fn modified_record_with_recomputed_hash_breaks_the_next_link() {
    let f = filled(5);
    let mut l = lines(&f.log);
    let mut rec = Record::parse_line(&l[2]).unwrap();
    rec.actor = "attacker".into();
    rec.hash = rec.compute_hash();
    l[2] = rec.to_line();
    write_lines(&f.log, &l);
    // Record 3 now hashes correctly on its own, but record 4 still names the old hash.
    assert_eq!(problems(&f.log), vec![Problem::BrokenLink { line: 4, seq: 4 }]);
}

#[test]
fn deleted_middle_record_is_detected() {
    let f = filled(5);
    let mut l = lines(&f.log);
    l.remove(2);
    write_lines(&f.log, &l);
    let p = problems(&f.log);
    assert!(p.contains(&Problem::SeqGap { line: 3, expected: 3, found: 4 }), "{p:?}");
    assert!(p.contains(&Problem::BrokenLink { line: 3, seq: 4 }), "{p:?}");
}

#[test]
fn reordered_records_are_detected() {
    let f = filled(5);
    let mut l = lines(&f.log);
    l.swap(1, 2);
    write_lines(&f.log, &l);
    let p = problems(&f.log);
    assert!(p.contains(&Problem::SeqGap { line: 2, expected: 2, found: 3 }), "{p:?}");
    assert!(p.contains(&Problem::BrokenLink { line: 2, seq: 3 }), "{p:?}");
}

#[test]
fn truncation_at_a_record_boundary_passes_without_a_checkpoint() {
    // This is why checkpoints exist: a clean cut leaves a valid chain.
    let f = filled(5);
    let cut: Vec<String> = lines(&f.log)[..3].to_vec();
    let bytes: String = cut.iter().map(|l| format!("{l}\n")).collect();
    let report = verify_bytes(bytes.as_bytes(), &[]);
    assert!(report.is_intact());
    assert_eq!(report.records, 3);
}

#[test]
fn truncation_at_a_record_boundary_is_caught_by_the_checkpoint() {
    let f = filled(5);
    let cut: Vec<String> = lines(&f.log)[..3].to_vec();
    write_lines(&f.log, &cut);
    assert_eq!(problems(&f.log), vec![Problem::Truncated { checkpoint_seq: 5, last_seq: 3 }]);
    // An exported checkpoint kept off-host catches it even if the local one is rewritten too.
    let exported = f.log.read_checkpoint().unwrap().unwrap();
    let line = exported.to_line();
    fs::remove_file(f.log.checkpoint_path()).unwrap();
    let report = f.log.verify(&[Checkpoint::parse_line(&line).unwrap()]).unwrap();
    assert!(report.problems.contains(&Problem::Truncated { checkpoint_seq: 5, last_seq: 3 }), "{:?}", report.problems);
    assert!(report.problems.contains(&Problem::CheckpointMissing));
}

#[test]
fn appends_refuse_to_continue_a_truncated_log() {
    let f = filled(4);
    let cut: Vec<String> = lines(&f.log)[..2].to_vec();
    write_lines(&f.log, &cut);
    let params = serde_json::json!({});
    let err = f
        .log
        .append(&Entry { tool: "t", actor: "a", action: "test.append", params: &params, exit_code: 0, duration_ms: 0 })
        .unwrap_err();
    assert!(
        matches!(err, AuditError::Damaged { problem: Problem::Truncated { checkpoint_seq: 4, last_seq: 2 }, .. }),
        "{err}"
    );
}

#[test]
fn appends_refuse_a_log_whose_checkpoint_was_deleted() {
    let f = filled(2);
    fs::remove_file(f.log.checkpoint_path()).unwrap();
    let params = serde_json::json!({});
    let err = f
        .log
        .append(&Entry { tool: "t", actor: "a", action: "test.append", params: &params, exit_code: 0, duration_ms: 0 })
        .unwrap_err();
    assert!(matches!(err, AuditError::Damaged { problem: Problem::CheckpointMissing, .. }), "{err}");
    // Without a checkpoint a cut log looks intact: recover refuses on its own...
    let before = fs::read(f.log.path()).unwrap();
    let err = f.log.recover("openclaw-test", "root", &[]).unwrap_err();
    assert!(matches!(err, AuditError::Damaged { problem: Problem::CheckpointMissing, .. }), "{err}");
    assert_eq!(fs::read(f.log.path()).unwrap(), before, "nothing changed");
    // ...and rebuilds it only when an exported checkpoint vouches for the log.
    let head = f.log.verify(&[]).unwrap().head.unwrap();
    let exported = Checkpoint { seq: head.0, hash: head.1, ts: "2026-11-24T19:47:05Z".into() };
    let outcome = f.log.recover("openclaw-test", "root", &[exported]).unwrap();
    assert!(outcome.checkpoint_rebuilt);
    assert_eq!(outcome.record.as_ref().unwrap().action, "audit.recover");
    assert!(f.log.verify(&[]).unwrap().is_intact());
}

#[test]
fn recover_never_cuts_more_than_one_partial_record() {
    // Every record merged into one "torn" line, with the checkpoint gone: the
    // old recover cut them all and rebuilt a checkpoint for the empty log.
    let f = filled(3);
    let joined: Vec<u8> = fs::read(f.log.path()).unwrap().into_iter().filter(|&b| b != b'\n').collect();
    fs::write(f.log.path(), &joined).unwrap();
    assert!(f.log.recover("t", "a", &[]).is_err(), "the checkpoint (seq 3) is not reached");
    fs::remove_file(f.log.checkpoint_path()).unwrap();
    assert!(f.log.recover("t", "a", &[]).is_ok(), "no records, no checkpoint: only a first record's tail to cut");
    // A tail that does not start like a record is not a torn record.
    let f = filled(2);
    let mut bytes = fs::read(f.log.path()).unwrap();
    bytes.extend_from_slice(b"garbage without a newline");
    fs::write(f.log.path(), &bytes).unwrap();
    let err = f.log.recover("t", "a", &[]).unwrap_err();
    assert!(err.to_string().contains("not the start of one record"), "{err}");
    assert_eq!(fs::read(f.log.path()).unwrap(), bytes);
    // Nor is one longer than a line may be.
    let f = filled(1);
    let mut bytes = fs::read(f.log.path()).unwrap();
    bytes.extend_from_slice(b"{\"action\":\"");
    bytes.extend(std::iter::repeat_n(b'x', MAX_LINE));
    fs::write(f.log.path(), &bytes).unwrap();
    assert!(f.log.recover("t", "a", &[]).is_err());
}

#[test]
fn recover_refuses_a_tampered_log_and_is_a_no_op_on_a_clean_one() {
    let f = filled(3);
    assert_eq!(
        f.log.recover("t", "a", &[]).unwrap(),
        RecoverOutcome { truncated_bytes: 0, torn_sha256: sha256_hex(b""), checkpoint_rebuilt: false, record: None }
    );
    let mut l = lines(&f.log);
    l[0] = l[0].replace("\"actor\":\"root\"", "\"actor\":\"mallory\"");
    write_lines(&f.log, &l);
    assert!(matches!(f.log.recover("t", "a", &[]), Err(AuditError::Damaged { problem: Problem::BadHash { .. }, .. })));
}

#[test]
fn appends_refuse_when_the_last_record_was_edited() {
    let f = filled(2);
    let mut l = lines(&f.log);
    l[1] = l[1].replace("\"duration_ms\":3", "\"duration_ms\":4");
    write_lines(&f.log, &l);
    let params = serde_json::json!({});
    let err = f
        .log
        .append(&Entry { tool: "t", actor: "a", action: "test.append", params: &params, exit_code: 0, duration_ms: 0 })
        .unwrap_err();
    assert!(matches!(err, AuditError::Damaged { problem: Problem::BadHash { .. }, .. }), "{err}");
}

#[test]
fn unknown_fields_duplicate_keys_and_bad_shapes_are_malformed() {
    let f = filled(1);
    let good = lines(&f.log)[0].clone();
    let cases = [
        good.replacen('{', "{\"extra\":1,", 1),
        good.replacen('{', "{\"seq\":1,", 1),
        good.replace("\"tool\":\"openclaw-test\"", "\"tool\":\"\""),
        good.replace("\"tool\":\"openclaw-test\"", "\"tool\":\"a\\u001bb\""),
        good.replace("\"seq\":1", "\"seq\":0"),
        good.replace("\"seq\":1", "\"seq\":-1"),
        good.replace("\"seq\":1", "\"seq\":1.0"),
        String::from("not json"),
        String::new(),
    ];
    for bad in cases {
        let report = verify_bytes(format!("{bad}\n").as_bytes(), &[]);
        assert!(
            matches!(report.problems.first(), Some(Problem::Malformed { line: 1, .. })),
            "{bad} → {:?}",
            report.problems
        );
    }
}

#[test]
fn bad_entries_are_refused_before_touching_the_log() {
    let f = fixture();
    let params = serde_json::json!({});
    for (tool, actor, action) in [("", "a", "x"), ("t", "a\nb", "x"), ("t", "a", &"x".repeat(MAX_FIELD + 1))] {
        let err =
            f.log.append(&Entry { tool, actor, action, params: &params, exit_code: 0, duration_ms: 0 }).unwrap_err();
        assert!(matches!(err, AuditError::BadEntry(_)), "{err}");
    }
    assert!(!f.log.path().exists());
}

#[test]
fn a_symlinked_log_is_refused() {
    let f = fixture();
    fs::create_dir_all(f.log.path().parent().unwrap()).unwrap();
    let target = f.log.path().with_file_name("elsewhere");
    fs::write(&target, b"").unwrap();
    std::os::unix::fs::symlink(&target, f.log.path()).unwrap();
    let params = serde_json::json!({});
    let err = f
        .log
        .append(&Entry { tool: "t", actor: "a", action: "test.append", params: &params, exit_code: 0, duration_ms: 0 })
        .unwrap_err();
    assert!(matches!(err, AuditError::Unsafe(_)), "{err}");
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert!(matches!(f.log.verify(&[]), Err(AuditError::Unsafe(_))));
}

#[test]
fn fifos_as_log_or_checkpoint_are_refused_without_hanging() {
    let params = serde_json::json!({});
    let entry = Entry { tool: "t", actor: "a", action: "x.y", params: &params, exit_code: 0, duration_ms: 0 };
    for which in ["log", "checkpoint"] {
        let f = fixture();
        f.log.append(&entry).unwrap();
        let path = if which == "log" { f.log.path() } else { f.log.checkpoint_path() };
        fs::remove_file(path).unwrap();
        rustix::fs::mkfifoat(rustix::fs::CWD, path, rustix::fs::Mode::from_raw_mode(0o600)).unwrap();
        let err = f.log.append(&entry).unwrap_err();
        assert!(err.to_string().contains("named pipe"), "{which}: {err}");
        let err = f.log.verify(&[]).unwrap_err();
        assert!(err.to_string().contains("named pipe"), "{which}: {err}");
    }
}

#[test]
fn log_and_checkpoint_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let f = filled(1);
    for p in [f.log.path(), f.log.checkpoint_path()] {
        assert_eq!(fs::metadata(p).unwrap().permissions().mode() & 0o777, 0o600, "{}", p.display());
    }
    assert_eq!(fs::metadata(f.log.path().parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
}

#[test]
fn lock_wait_is_bounded() {
    let f = filled(1);
    let holder = OpenOptions::new().read(true).open(f.log.path()).unwrap();
    holder.lock().unwrap();
    let log = f.log.clone().with_lock_wait(Duration::from_millis(30));
    let params = serde_json::json!({});
    let err = log
        .append(&Entry { tool: "t", actor: "a", action: "test.append", params: &params, exit_code: 0, duration_ms: 0 })
        .unwrap_err();
    assert!(matches!(err, AuditError::LockTimeout { .. }), "{err}");
}

#[test]
fn checkpoint_lines_round_trip_and_reject_garbage() {
    let cp = Checkpoint { seq: 12, hash: sha256_hex(b"x"), ts: "2026-11-24T19:47:05Z".into() };
    let line = cp.to_line();
    assert_eq!(line, format!("openclaw-audit-checkpoint/v1 seq=12 hash={} ts=2026-11-24T19:47:05Z", cp.hash));
    assert_eq!(Checkpoint::parse_line(&format!("{line}\n")).unwrap(), cp);
    for bad in [
        String::new(),
        line.replace("/v1", "/v2"),
        line.replace("seq=12", "seq=0"),
        line.replace("seq=12", "seq=x"),
        line.replace("hash=", "hash=A"),
        line.replace("ts=2026", "ts=26"),
        format!("{line} extra"),
        line.replace(' ', "  "),
    ] {
        assert!(Checkpoint::parse_line(&bad).is_err(), "{bad:?}");
    }
}

#[test]
fn a_mismatching_checkpoint_is_reported() {
    let f = filled(3);
    let cp = Checkpoint { seq: 2, hash: sha256_hex(b"not it"), ts: "2026-11-24T19:47:05Z".into() };
    assert!(f.log.verify(&[cp]).unwrap().problems.contains(&Problem::CheckpointMismatch { seq: 2 }));
}

#[test]
fn missing_log_and_checkpoint_is_an_empty_intact_log() {
    let f = fixture();
    let report = f.log.verify(&[]).unwrap();
    assert!(report.is_intact());
    assert_eq!(report.records, 0);
}

#[test]
fn an_append_cannot_paper_over_a_forged_tail_behind_the_checkpoint() {
    // Records 1..=5 with the checkpoint at 5; an attacker who can write the log
    // but not the checkpoint replaces 4..=5 with a self-consistent 4..=6.
    let f = filled(5);
    let mut l = lines(&f.log);
    l.truncate(3);
    let mut prev = Record::parse_line(&l[2]).unwrap().hash;
    for seq in 4..=6 {
        let mut rec = Record::parse_line(&l[0]).unwrap();
        rec.seq = seq;
        rec.actor = "mallory".into();
        rec.prev = prev.clone();
        rec.hash = rec.compute_hash();
        prev = rec.hash.clone();
        l.push(rec.to_line());
    }
    write_lines(&f.log, &l);
    assert!(problems(&f.log).contains(&Problem::CheckpointMismatch { seq: 5 }));
    let params = serde_json::json!({});
    let err = f
        .log
        .append(&Entry { tool: "t", actor: "a", action: "test.append", params: &params, exit_code: 0, duration_ms: 0 })
        .unwrap_err();
    assert!(matches!(err, AuditError::Damaged { problem: Problem::CheckpointMismatch { seq: 5 }, .. }), "{err}");
    assert!(!f.log.verify(&[]).unwrap().is_intact(), "the evidence is still there");
}

#[test]
fn a_crash_between_log_and_checkpoint_is_fine_to_append_after() {
    // The checkpoint lags one record behind a genuine head.
    let f = filled(3);
    let cp_after_two = {
        let recs: Vec<Record> = lines(&f.log).iter().map(|l| Record::parse_line(l).unwrap()).collect();
        Checkpoint { seq: 2, hash: recs[1].hash.clone(), ts: recs[1].ts.clone() }
    };
    fs::write(f.log.checkpoint_path(), format!("{}\n", cp_after_two.to_line())).unwrap();
    append(&f.log, "after.crash");
    assert!(f.log.verify(&[]).unwrap().is_intact());
}

#[test]
fn a_forged_maximal_seq_is_refused_not_wrapped() {
    let f = fixture();
    let mut rec = Record {
        seq: u64::MAX,
        ts: "2026-11-24T19:47:05Z".into(),
        tool: "t".into(),
        actor: "a".into(),
        action: "x".into(),
        params_hash: sha256_hex(b"{}"),
        exit_code: 0,
        duration_ms: 0,
        prev: GENESIS.into(),
        hash: String::new(),
    };
    rec.hash = rec.compute_hash();
    fs::create_dir_all(f.log.path().parent().unwrap()).unwrap();
    fs::write(f.log.path(), format!("{}\n", rec.to_line())).unwrap();
    let cp = Checkpoint { seq: u64::MAX, hash: rec.hash.clone(), ts: rec.ts.clone() };
    fs::write(f.log.checkpoint_path(), format!("{}\n", cp.to_line())).unwrap();
    let params = serde_json::json!({});
    let err = f
        .log
        .append(&Entry { tool: "t", actor: "a", action: "test.append", params: &params, exit_code: 0, duration_ms: 0 })
        .unwrap_err();
    assert!(matches!(err, AuditError::SeqOverflow(_)), "{err}");
}

#[test]
fn only_the_canonical_encoding_is_a_record() {
    let f = filled(1);
    let good = lines(&f.log)[0].clone();
    let rec = Record::parse_line(&good).unwrap();
    let spaced = good.replacen(':', ": ", 1);
    let escaped = good.replacen("\"action\":\"action.n0\"", "\"action\":\"\\u0061ction.n0\"", 1);
    let reordered = serde_json::to_string(&rec).unwrap();
    for bad in [spaced, escaped, reordered] {
        assert_ne!(bad, good);
        assert!(Record::parse_line(&bad).is_err(), "{bad}");
    }
}

#[test]
fn actions_are_fixed_noun_verb_names_and_free_text_is_refused_unrepeated() {
    for ok in ["key.set", "audit.recover", "notify.send", "console.exec-action", "a.b.c", "guard.fix2"] {
        assert!(validate_action(ok).is_ok(), "{ok}");
    }
    for bad in ["x", "key", "Key.set", "key.", ".set", "key..set", "disk full on /var", "key.set now", "1.a", "a.-b"] {
        assert!(validate_action(bad).is_err(), "{bad}");
    }
    assert!(validate_action(&format!("a.{}", "b".repeat(63))).is_err(), "over 64 bytes");
    let f = fixture();
    let params = serde_json::json!({});
    let err = f
        .log
        .append(&Entry {
            tool: "t",
            actor: "a",
            action: "alert: db down on 10.0.0.5",
            params: &params,
            exit_code: 0,
            duration_ms: 0,
        })
        .unwrap_err();
    assert!(matches!(err, AuditError::BadAction { .. }), "{err}");
    assert!(!err.to_string().contains("db down"), "{err}");
    assert!(!f.log.path().exists(), "nothing was written");
}

#[test]
fn only_a_real_user_name_from_sudo_becomes_the_actor() {
    for ok in ["root", "op", "_svc", "deploy-bot", "machine$", "a1"] {
        assert!(is_user_name(ok), "{ok}");
    }
    let long = "a".repeat(33);
    for bad in ["", "Root", "1op", "op name", "sk-proj-abcdefghijklmnopqrstuvwxyz", "op\u{202e}", long.as_str(), "a/b"]
    {
        assert!(!is_user_name(bad), "{bad}");
    }
}

/// A reader that hands out one byte at a time: every line crosses buffer ends.
struct Trickle<'a>(&'a [u8]);

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some((&b, rest)) = self.0.split_first() else { return Ok(0) };
        if buf.is_empty() {
            return Ok(0);
        }
        buf[0] = b;
        self.0 = rest;
        Ok(1)
    }
}

#[test]
fn streaming_in_any_chunks_gives_the_same_report() {
    let f = filled(6);
    let good = fs::read(f.log.path()).unwrap();
    let mut cases: Vec<Vec<u8>> = vec![good.clone(), Vec::new(), b"\n\n".to_vec()];
    let mut torn = good.clone();
    torn.extend_from_slice(b"{\"action\":\"x");
    cases.push(torn);
    let mut edited = good.clone();
    let at = edited.iter().position(|&b| b == b'7').unwrap_or(10);
    edited[at] = b'8';
    cases.push(edited);
    let mut long = good[..good.len() / 2].to_vec();
    long.extend(std::iter::repeat_n(b'x', MAX_LINE + 5));
    long.push(b'\n');
    long.extend_from_slice(&good);
    cases.push(long);
    let cp = f.log.read_checkpoint().unwrap().unwrap();
    for bytes in &cases {
        let whole = verify_bytes(bytes, std::slice::from_ref(&cp));
        let trickled = verify_reader(Trickle(bytes), std::slice::from_ref(&cp)).unwrap();
        assert_eq!(whole, trickled);
    }
    // The over-long line is one Malformed problem at its own line number, not an allocation.
    let long = &cases[5];
    let r = verify_bytes(long, &[]);
    assert!(r.problems.iter().any(|p| matches!(p, Problem::Malformed { error, .. } if error.contains("longer than"))));
}

#[test]
fn a_flood_of_bad_lines_lists_the_first_problems_and_counts_the_rest() {
    let bytes = "garbage\n".repeat(MAX_PROBLEMS + 250);
    let r = verify_bytes(bytes.as_bytes(), &[]);
    assert_eq!(r.problems.len(), MAX_PROBLEMS);
    assert_eq!(r.problems_omitted, 250);
    assert!(!r.is_intact());
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["problems_omitted"], 250);
    assert!(serde_json::to_value(verify_bytes(b"", &[])).unwrap().get("problems_omitted").is_none());
}

#[test]
fn a_large_log_verifies_through_the_file_and_recover_streams_it_too() {
    let f = filled(3);
    let mut bytes = fs::read(f.log.path()).unwrap();
    bytes.extend_from_slice(b"{\"action\":\"torn");
    fs::write(f.log.path(), &bytes).unwrap();
    let out = f.log.recover("openclaw-test", "root", &[]).unwrap();
    assert_eq!(out.truncated_bytes, 15);
    assert!(f.log.verify(&[]).unwrap().is_intact());
    assert_eq!(lines(&f.log).len(), 4);
}

mod torn;
