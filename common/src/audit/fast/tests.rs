//! The fast path against the one definition of a record: whatever it
//! accepts, `Record::parse_line` accepts with the same fields and hash
//! verdict; appended records always take it.

use super::*;
use crate::audit::{GENESIS, Record};

fn record(seq: u64, tool: &str, actor: &str, action: &str, exit_code: i32, ts: &str) -> Record {
    let mut r = Record {
        seq,
        ts: ts.into(),
        tool: tool.into(),
        actor: actor.into(),
        action: action.into(),
        params_hash: "ab".repeat(32),
        exit_code,
        duration_ms: seq * 7,
        prev: GENESIS.into(),
        hash: String::new(),
    };
    r.hash = r.compute_hash();
    r
}

#[test]
fn appended_records_take_the_fast_path_with_the_right_verdict() {
    for (i, (tool, actor, action, code, ts)) in [
        ("openclaw-guard", "root", "guard.run", 0, "2026-11-28T10:00:00Z"),
        ("openclaw-keyctl", "unit:openclaw-guard.service", "key.rotate", -1, "1970-01-01T00:00:00Z"),
        ("t", "ünïcödé actor ✓", "a.b", i32::MIN, "2024-02-29T23:59:59Z"),
        ("tool with spaces", "x", "notify.send", i32::MAX, "9999-12-31T23:59:59Z"),
    ]
    .into_iter()
    .enumerate()
    {
        let r = record(i as u64 + 1, tool, actor, action, code, ts);
        let line = r.to_line();
        let f = parse(line.as_bytes()).unwrap_or_else(|| panic!("not on the fast path: {line}"));
        assert!(f.hash_ok);
        assert_eq!((f.seq, f.prev, f.hash), (r.seq, r.prev.as_str(), r.hash.as_str()));
        let tampered = line.replace(r#""duration_ms":"#, r#""duration_ms":1"#);
        assert_eq!(parse(tampered.as_bytes()).map(|f| f.hash_ok), Some(false), "{tampered}");
        crate::audit::fuzzing::fast_path_agrees(tampered.as_bytes());
    }
}

#[test]
fn every_single_byte_change_of_a_record_keeps_the_implication() {
    let line = record(42, "openclaw-guard", "root", "guard.fix", 1, "2026-11-28T10:00:00Z").to_line();
    let bytes = line.as_bytes();
    for i in 0..bytes.len() {
        for b in [b'0', b'9', b'a', b'f', b'g', b'"', b'\\', b',', b' ', b'-', 0x1f, 0x7f, 0xc2, b'}'] {
            let mut m = bytes.to_vec();
            m[i] = b;
            crate::audit::fuzzing::fast_path_agrees(&m);
            m.remove(i);
            crate::audit::fuzzing::fast_path_agrees(&m);
        }
        crate::audit::fuzzing::fast_path_agrees(&bytes[..i]);
    }
}

#[test]
fn times_match_the_full_check() {
    for ts in [
        "2026-11-28T10:00:00Z",
        "2024-02-29T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2000-02-29T00:00:00Z",
        "1969-12-31T23:59:59Z",
        "2026-13-01T00:00:00Z",
        "2026-00-10T00:00:00Z",
        "2026-04-31T00:00:00Z",
        "2026-01-01T24:00:00Z",
        "2026-01-01T23:60:00Z",
        "2026-12-31T23:59:60Z",
        "0999-01-01T00:00:00Z",
        "2026-01-01t00:00:00Z",
        "2026-01-01T00:00:00+",
        "+026-01-01T00:00:00Z",
    ] {
        assert_eq!(is_time(ts.as_bytes()), crate::audit::record::is_record_time(ts), "{ts}");
    }
}

#[test]
fn unusual_but_valid_records_go_to_the_full_parser() {
    // An escaped quote is valid (parse_line accepts it) but not plain: the full parser handles it.
    let line = record(1, "to\"ol", "a\\b", "x.y", 0, "2026-11-28T10:00:00Z").to_line();
    assert!(Record::parse_line(&line).is_ok());
    assert_eq!(parse(line.as_bytes()), None);
}
