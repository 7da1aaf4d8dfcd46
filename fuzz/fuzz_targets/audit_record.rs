//! Fuzzes everything that reads audit-log bytes: whole-log verification,
//! single-line record parsing, and checkpoint lines. None may panic, a
//! record that parses must round-trip through its canonical line, and the
//! verifier's fast path may only accept what `Record::parse_line` accepts,
//! with the same fields and hash verdict.
#![no_main]

use common::audit::{Checkpoint, Record, verify_bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let checkpoints: Vec<Checkpoint> = std::str::from_utf8(data)
        .ok()
        .and_then(|s| s.lines().next())
        .and_then(|l| Checkpoint::parse_line(l).ok())
        .into_iter()
        .collect();
    let report = verify_bytes(data, &checkpoints);
    assert!(report.records as usize <= data.len());
    if let Ok(text) = std::str::from_utf8(data) {
        for line in text.lines() {
            common::audit::fuzzing::fast_path_agrees(line.as_bytes());
            if let Ok(rec) = Record::parse_line(line) {
                let again = Record::parse_line(&rec.to_line()).expect("canonical line must parse");
                assert_eq!(again, rec);
            }
            if let Ok(cp) = Checkpoint::parse_line(line) {
                assert_eq!(Checkpoint::parse_line(&cp.to_line()).expect("round trip"), cp);
            }
        }
    }
});
