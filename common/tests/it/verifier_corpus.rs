//! Our verifier and the third-party `docs/verify_audit.py` must give the same
//! verdict on every tampering case: a corpus of logs whose records were
//! altered and, where it matters, re-hashed and re-chained so that only the
//! shape rules (types, ranges, line endings, canonical form) can catch them.

use std::path::Path;
use std::process::Command;

use common::audit::{AuditLog, Entry, canonical_json, verify_bytes};
use common::hash::sha256_hex;
use serde_json::{Value, json};

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn python_intact(path: &Path) -> bool {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/verify_audit.py");
    let out = Command::new("python3").arg(script).arg(path).output().expect("python3 is installed by xtask ci");
    match out.status.code() {
        Some(0) => true,
        Some(1) => false,
        other => panic!("verify_audit.py exit {other:?}: {}", String::from_utf8_lossy(&out.stderr)),
    }
}

fn base_records() -> Vec<Value> {
    let tmp = tempfile::tempdir().unwrap();
    let log = AuditLog::new(tmp.path().join("a.jsonl"), tmp.path().join("a.jsonl.checkpoint"));
    for i in 0..3 {
        let params = json!({ "i": i });
        log.append(&Entry {
            tool: "it",
            actor: "root",
            action: "test.append",
            params: &params,
            exit_code: 0,
            duration_ms: 1,
        })
        .unwrap();
    }
    std::fs::read_to_string(log.path()).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Recomputes every `prev` and `hash`, as a forger with the format would.
fn rechain(records: &mut [Value]) {
    let mut prev = GENESIS.to_owned();
    for r in records.iter_mut() {
        r["prev"] = json!(prev);
        let mut body = r.clone();
        body.as_object_mut().unwrap().remove("hash");
        let hash = sha256_hex(canonical_json(&body).as_bytes());
        r["hash"] = json!(hash);
        prev = hash;
    }
}

fn encode(records: &[Value]) -> Vec<u8> {
    records.iter().flat_map(|r| format!("{}\n", canonical_json(r)).into_bytes()).collect()
}

/// A record field replaced (and the chain re-hashed, so only shape rules can object).
fn with_field(line: usize, field: &str, value: Value) -> Vec<u8> {
    let mut recs = base_records();
    recs[line][field] = value;
    rechain(&mut recs);
    encode(&recs)
}

fn corpus() -> Vec<(&'static str, Vec<u8>)> {
    let base = encode(&base_records());
    let text = String::from_utf8(base.clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let join = |ls: &[&str]| ls.iter().map(|l| format!("{l}\n")).collect::<String>().into_bytes();
    let reordered = format!(
        "{{{},\"action\":\"test.append\"}}",
        lines[1].strip_prefix("{\"action\":\"test.append\",").unwrap().strip_suffix('}').unwrap()
    );
    let mut extra = base_records();
    extra[1]["extra"] = json!(1);
    rechain(&mut extra);
    let mut missing = base_records();
    missing[1].as_object_mut().unwrap().remove("duration_ms");
    rechain(&mut missing);
    vec![
        ("intact", base.clone()),
        ("empty", Vec::new()),
        ("crlf line ending", join(&[lines[0], &format!("{}\r", lines[1]), lines[2]])),
        ("bare cr inside a line", join(&[lines[0], &lines[1].replacen(",", ",\r", 1), lines[2]])),
        ("blank line", join(&[lines[0], "", lines[1], lines[2]])),
        ("trailing space", join(&[lines[0], &format!("{} ", lines[1]), lines[2]])),
        ("bom", [b"\xef\xbb\xbf".as_slice(), &base].concat()),
        ("torn tail", [base.as_slice(), b"{\"seq\":4"].concat()),
        ("deleted middle", join(&[lines[0], lines[2]])),
        ("duplicated line", join(&[lines[0], lines[1], lines[1], lines[2]])),
        ("reordered keys", join(&[lines[0], &reordered, lines[2]])),
        ("non-utf8 byte", base.iter().map(|&b| if b == b'r' { 0xff } else { b }).collect()),
        ("seq as float", with_field(1, "seq", json!(2.0))),
        ("seq as bool", with_field(0, "seq", json!(true))),
        ("seq as string", with_field(1, "seq", json!("2"))),
        ("seq zero", with_field(0, "seq", json!(0))),
        ("exit_code beyond i32", with_field(1, "exit_code", json!(2_147_483_648_i64))),
        ("duration negative", with_field(1, "duration_ms", json!(-1))),
        ("actor with bell", with_field(1, "actor", json!("ro\u{7}ot"))),
        ("actor with c1 control", with_field(1, "actor", json!("ro\u{85}ot"))),
        ("empty action", with_field(1, "action", json!(""))),
        ("tool over 256 bytes", with_field(1, "tool", json!("t".repeat(257)))),
        ("tool of 256 bytes", with_field(1, "tool", json!("t".repeat(256)))),
        ("actor non-ascii", with_field(1, "actor", json!("op \u{e9}\u{4e2d}"))),
        ("uppercase params_hash", with_field(1, "params_hash", json!(sha256_hex(b"x").to_uppercase()))),
        ("short params_hash", with_field(1, "params_hash", json!("abc"))),
        ("ts garbage", with_field(1, "ts", json!("yesterday"))),
        ("ts month 13", with_field(1, "ts", json!("2026-13-01T00:00:00Z"))),
        ("ts second 60", with_field(1, "ts", json!("2026-11-24T19:47:60Z"))),
        ("ts with offset", with_field(1, "ts", json!("2026-11-24T20:47:05+01:00"))),
        ("ts with fraction", with_field(1, "ts", json!("2026-11-24T19:47:05.25Z"))),
        ("ts without zone", with_field(1, "ts", json!("2026-11-24T19:47:05"))),
        ("ts offset out of range", with_field(1, "ts", json!("2026-11-24T19:47:05+05:99"))),
        ("ts arabic-indic digits", with_field(1, "ts", json!("\u{662}\u{660}\u{662}\u{666}-11-24T19:47:05Z"))),
        ("ts leap second", with_field(1, "ts", json!("2026-12-31T23:59:60Z"))),
        ("ts year zero", with_field(1, "ts", json!("0000-11-24T19:47:05Z"))),
        ("ts space separator", with_field(1, "ts", json!("2026-11-24 19:47:05Z"))),
        ("ts lowercase", with_field(1, "ts", json!("2026-11-24t19:47:05z"))),
        ("ts february 30", with_field(1, "ts", json!("2026-02-30T19:47:05Z"))),
        ("actor as number", with_field(1, "actor", json!(7))),
        ("extra field", encode(&extra)),
        ("missing field", encode(&missing)),
    ]
}

#[test]
fn both_verifiers_agree_on_every_tampering_case() {
    let tmp = tempfile::tempdir().unwrap();
    let mut disagreements = Vec::new();
    for (name, bytes) in corpus() {
        let path = tmp.path().join("case.jsonl");
        std::fs::write(&path, &bytes).unwrap();
        let ours = verify_bytes(&bytes, &[]).is_intact();
        let theirs = python_intact(&path);
        if ours != theirs {
            disagreements.push(format!("{name}: rust intact={ours}, python intact={theirs}"));
        }
        let expect_intact = matches!(name, "intact" | "empty" | "tool of 256 bytes" | "actor non-ascii");
        assert_eq!(ours, expect_intact, "{name}: rust verdict");
    }
    assert!(disagreements.is_empty(), "{disagreements:#?}");
}

fn python_accepts_checkpoint(log: &Path, line: &str) -> bool {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/verify_audit.py");
    let out = Command::new("python3").arg(script).arg(log).args(["--checkpoint-line", line]).output().unwrap();
    match out.status.code() {
        Some(0 | 1) => true,
        Some(2) => false,
        other => panic!("verify_audit.py exit {other:?}"),
    }
}

#[test]
fn both_verifiers_accept_the_same_checkpoint_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("empty.jsonl");
    std::fs::write(&log, b"").unwrap();
    let hash = sha256_hex(b"x");
    let good = format!("openclaw-audit-checkpoint/v1 seq=2 hash={hash} ts=2026-11-24T19:47:05Z");
    let cases = [
        good.clone(),
        format!("{good}\n"),
        format!("{good}\r"),
        format!(" {good}"),
        format!("{good} "),
        good.replace("seq=2", "seq=0"),
        good.replace("seq=2", "seq=0_2"),
        good.replace("seq=2", "seq=+2"),
        good.replace("seq=2", "seq=\u{662}"),
        good.replace("seq=2", "seq=18446744073709551616"),
        good.replace("seq=2 hash", "hash").replace(&format!("{hash} ts"), &format!("{hash} seq=2 ts")),
        good.replace(&hash, &hash.to_uppercase()),
        good.replace("ts=2026-11-24T19:47:05Z", "ts=garbage"),
        good.replace("ts=2026-11-24T19:47:05Z", "ts=2026-11-24T19:47:05+00:00"),
        good.replace("v1", "v2"),
    ];
    let mut disagreements = Vec::new();
    for line in &cases {
        let ours = common::audit::Checkpoint::parse_line(line).is_ok();
        let theirs = python_accepts_checkpoint(&log, line);
        if ours != theirs {
            disagreements.push(format!("{line:?}: rust {ours}, python {theirs}"));
        }
    }
    assert!(disagreements.is_empty(), "{disagreements:#?}");
    assert!(
        common::audit::Checkpoint::parse_line(&cases[0]).is_ok()
            && common::audit::Checkpoint::parse_line(&cases[1]).is_ok()
    );
}
