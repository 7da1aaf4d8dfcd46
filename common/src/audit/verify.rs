//! Verification of a whole log against checkpoints. Pure: no IO; tampering
//! is reported as [`Problem`]s in a [`VerifyReport`], never as an error.

use serde::Serialize;

use super::{Checkpoint, GENESIS, Record};

/// A problem found while verifying a log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Problem {
    /// A complete line that is not a valid record.
    Malformed {
        /// 1-based line number; 0 for "the last line" when only the tail was read.
        line: u64,
        /// What is wrong with it.
        error: String,
    },
    /// `seq` is not the previous record's plus one.
    SeqGap {
        /// 1-based line number.
        line: u64,
        /// The seq expected here.
        expected: u64,
        /// The seq found.
        found: u64,
    },
    /// `prev` does not name the previous record's hash.
    BrokenLink {
        /// 1-based line number.
        line: u64,
        /// The record's seq.
        seq: u64,
    },
    /// `hash` does not match the record's contents.
    BadHash {
        /// 1-based line number; 0 for "the last line" when only the tail was read.
        line: u64,
        /// The record's seq.
        seq: u64,
    },
    /// The final line has no newline: a torn write.
    TornTail {
        /// Byte offset where the torn line starts.
        offset: u64,
        /// Its length in bytes.
        bytes: u64,
    },
    /// The log ends before a checkpoint's seq: records were cut off.
    Truncated {
        /// The checkpoint's seq.
        checkpoint_seq: u64,
        /// The last seq in the log (0 when empty).
        last_seq: u64,
    },
    /// The record at a checkpoint's seq has a different hash.
    CheckpointMismatch {
        /// The checkpoint's seq.
        seq: u64,
    },
    /// The log has records but its checkpoint file is missing.
    CheckpointMissing,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Malformed { line, error } => {
                write!(f, "line {line}: not a valid record: {}", crate::output::sanitize(error))
            }
            Problem::SeqGap { line, expected, found } => {
                write!(f, "line {line}: seq {found}, expected {expected} (records missing or reordered)")
            }
            Problem::BrokenLink { line, seq } => {
                write!(f, "line {line}: record {seq} does not link to the record before it")
            }
            Problem::BadHash { line, seq } => write!(f, "line {line}: record {seq} was modified (hash mismatch)"),
            Problem::TornTail { offset, bytes } => {
                write!(
                    f,
                    "torn final line at byte {offset} ({bytes} bytes without newline); run `openclaw-doctor audit-recover`"
                )
            }
            Problem::Truncated { checkpoint_seq, last_seq } => {
                write!(
                    f,
                    "log ends at seq {last_seq} but a checkpoint reached seq {checkpoint_seq}: records were removed"
                )
            }
            Problem::CheckpointMismatch { seq } => {
                write!(f, "record {seq} differs from the checkpoint taken at that seq")
            }
            Problem::CheckpointMissing => f.write_str("the log has records but its checkpoint file is missing"),
        }
    }
}

/// The result of verifying a log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Complete records read.
    pub records: u64,
    /// The last valid record's `(seq, hash)`.
    pub head: Option<(u64, String)>,
    /// Number of checkpoints compared against the log.
    pub checkpoints_checked: usize,
    /// Everything wrong, in file order; empty when intact.
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    /// True when the chain is intact and reaches every checkpoint.
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Verifies a log's bytes against zero or more checkpoints. Pure: no IO.
///
/// Without a checkpoint a log cut at a record boundary still verifies; that
/// is the reason checkpoints exist.
pub fn verify_bytes(bytes: &[u8], checkpoints: &[Checkpoint]) -> VerifyReport {
    let mut report =
        VerifyReport { records: 0, head: None, checkpoints_checked: checkpoints.len(), problems: Vec::new() };
    let complete_len = match bytes.iter().rposition(|&b| b == b'\n') {
        Some(idx) => idx + 1,
        None => 0,
    };
    if complete_len < bytes.len() {
        report
            .problems
            .push(Problem::TornTail { offset: complete_len as u64, bytes: (bytes.len() - complete_len) as u64 });
    }
    let mut prev_hash = GENESIS.to_owned();
    let mut expected_seq = 1;
    let mut hashes: Vec<(u64, String)> = Vec::new();
    for (idx, raw) in bytes[..complete_len].split_inclusive(|&b| b == b'\n').enumerate() {
        let raw = &raw[..raw.len() - 1];
        let line_no = idx as u64 + 1;
        let rec = match std::str::from_utf8(raw)
            .map_err(|e| e.to_string())
            .and_then(|l| Record::parse_line(l).map_err(|e| e.to_string()))
        {
            Ok(rec) => rec,
            Err(error) => {
                report.problems.push(Problem::Malformed { line: line_no, error });
                continue;
            }
        };
        if rec.seq != expected_seq {
            report.problems.push(Problem::SeqGap { line: line_no, expected: expected_seq, found: rec.seq });
        }
        if rec.prev != prev_hash {
            report.problems.push(Problem::BrokenLink { line: line_no, seq: rec.seq });
        }
        if rec.compute_hash() != rec.hash {
            report.problems.push(Problem::BadHash { line: line_no, seq: rec.seq });
        }
        expected_seq = rec.seq.saturating_add(1);
        prev_hash = rec.hash.clone();
        report.records += 1;
        hashes.push((rec.seq, rec.hash.clone()));
        report.head = Some((rec.seq, rec.hash));
    }
    let last_seq = report.head.as_ref().map_or(0, |(seq, _)| *seq);
    for cp in checkpoints {
        match hashes.iter().find(|(seq, _)| *seq == cp.seq) {
            Some((_, hash)) if *hash == cp.hash => {}
            Some(_) => report.problems.push(Problem::CheckpointMismatch { seq: cp.seq }),
            None => report.problems.push(Problem::Truncated { checkpoint_seq: cp.seq, last_seq }),
        }
    }
    report
}
