//! Verification of a whole log against checkpoints, streamed: the log is
//! read through a fixed buffer one line at a time, lines longer than
//! [`MAX_LINE`] are reported without being held, and only the checkpoints'
//! seqs are remembered, so memory stays constant whatever the log's size.
//! Records take the allocation-free [`fast`](super::fast) path when they
//! can. Tampering is reported as [`Problem`]s in a [`VerifyReport`] (at most
//! [`MAX_PROBLEMS`] listed, the rest counted), never as an error.

use std::io::{self, Read};

use serde::Serialize;

use super::{Checkpoint, GENESIS, MAX_LINE, Record, fast};

/// Most problems listed in a report; the rest are only counted.
pub const MAX_PROBLEMS: usize = 1000;

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
                    "torn final line at byte {offset} ({bytes} bytes without newline, a writer that died mid-write); the next append cuts it and records audit.recover, or run `openclaw-doctor audit-recover`"
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
    /// Everything wrong, in file order (the first [`MAX_PROBLEMS`]); empty when intact.
    pub problems: Vec<Problem>,
    /// Problems found beyond the first [`MAX_PROBLEMS`].
    #[serde(skip_serializing_if = "is_zero")]
    pub problems_omitted: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl VerifyReport {
    /// True when the chain is intact and reaches every checkpoint.
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty() && self.problems_omitted == 0
    }

    /// Adds a problem, counting it once the list is full.
    pub fn push(&mut self, p: Problem) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(p);
        } else {
            self.problems_omitted = self.problems_omitted.saturating_add(1);
        }
    }
}

/// Verifies one line at a time. Pure: the caller reads.
pub struct Verifier {
    report: VerifyReport,
    prev_hash: String,
    expected_seq: u64,
    line_no: u64,
    /// Each checkpoint and the hash of the first record seen at its seq.
    checkpoints: Vec<(Checkpoint, Option<String>)>,
}

impl Verifier {
    /// A verifier that will compare the log against `checkpoints`.
    pub fn new(checkpoints: &[Checkpoint]) -> Verifier {
        Verifier {
            report: VerifyReport {
                records: 0,
                head: None,
                checkpoints_checked: checkpoints.len(),
                problems: Vec::new(),
                problems_omitted: 0,
            },
            prev_hash: GENESIS.to_owned(),
            expected_seq: 1,
            line_no: 0,
            checkpoints: checkpoints.iter().map(|c| (c.clone(), None)).collect(),
        }
    }

    /// The next complete line, without its newline.
    pub fn line(&mut self, raw: &[u8]) {
        self.line_no += 1;
        let line_no = self.line_no;
        let (seq, prev_ok, hash_ok, hash) = match fast::parse(raw) {
            Some(f) => (f.seq, f.prev == self.prev_hash, f.hash_ok, f.hash),
            None => {
                let rec = match std::str::from_utf8(raw)
                    .map_err(|e| e.to_string())
                    .and_then(|l| Record::parse_line(l).map_err(|e| e.to_string()))
                {
                    Ok(rec) => rec,
                    Err(error) => return self.report.push(Problem::Malformed { line: line_no, error }),
                };
                let ok = rec.compute_hash() == rec.hash;
                return self.accept(line_no, rec.seq, rec.prev == self.prev_hash, ok, &rec.hash);
            }
        };
        self.accept(line_no, seq, prev_ok, hash_ok, hash);
    }

    fn accept(&mut self, line: u64, seq: u64, prev_ok: bool, hash_ok: bool, hash: &str) {
        if seq != self.expected_seq {
            self.report.push(Problem::SeqGap { line, expected: self.expected_seq, found: seq });
        }
        if !prev_ok {
            self.report.push(Problem::BrokenLink { line, seq });
        }
        if !hash_ok {
            self.report.push(Problem::BadHash { line, seq });
        }
        self.expected_seq = seq.saturating_add(1);
        hash.clone_into(&mut self.prev_hash);
        self.report.records += 1;
        for (cp, seen) in &mut self.checkpoints {
            if cp.seq == seq && seen.is_none() {
                *seen = Some(hash.to_owned());
            }
        }
        match &mut self.report.head {
            Some((s, h)) => {
                *s = seq;
                hash.clone_into(h);
            }
            None => self.report.head = Some((seq, hash.to_owned())),
        }
    }

    /// A line longer than [`MAX_LINE`] (not held in memory).
    pub fn too_long(&mut self) {
        self.line_no += 1;
        let line = self.line_no;
        self.report.push(Problem::Malformed { line, error: format!("line longer than {MAX_LINE} bytes") });
    }

    /// Ends the log: `torn` is the offset and length of bytes after the last
    /// newline, if any.
    pub fn finish(mut self, torn: Option<(u64, u64)>) -> VerifyReport {
        if let Some((offset, bytes)) = torn {
            // Reported first, as a whole-file problem.
            let p = Problem::TornTail { offset, bytes };
            if self.report.problems.len() < MAX_PROBLEMS {
                self.report.problems.insert(0, p);
            } else {
                self.report.problems_omitted += 1;
            }
        }
        let last_seq = self.report.head.as_ref().map_or(0, |(seq, _)| *seq);
        for (cp, seen) in std::mem::take(&mut self.checkpoints) {
            match seen {
                Some(hash) if hash == cp.hash => {}
                Some(_) => self.report.push(Problem::CheckpointMismatch { seq: cp.seq }),
                None => self.report.push(Problem::Truncated { checkpoint_seq: cp.seq, last_seq }),
            }
        }
        self.report
    }
}

/// Verifies a log read from `r` in constant memory: a 256 KiB buffer and
/// one line of at most [`MAX_LINE`] bytes.
pub fn verify_reader(mut r: impl Read, checkpoints: &[Checkpoint]) -> io::Result<VerifyReport> {
    let mut v = Verifier::new(checkpoints);
    let mut buf = vec![0u8; 256 * 1024];
    let mut line: Vec<u8> = Vec::with_capacity(1024);
    let mut too_long = false;
    let mut offset: u64 = 0; // bytes consumed before the current line
    let mut line_start: u64 = 0;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let mut chunk = &buf[..n];
        while !chunk.is_empty() {
            match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    let part = &chunk[..i];
                    if too_long || line.len() + part.len() > MAX_LINE {
                        v.too_long();
                    } else if line.is_empty() {
                        v.line(part); // the whole line is in the buffer: no copy
                    } else {
                        line.extend_from_slice(part);
                        v.line(&line);
                    }
                    line.clear();
                    too_long = false;
                    offset += i as u64 + 1;
                    line_start = offset;
                    chunk = &chunk[i + 1..];
                }
                None => {
                    if !too_long && line.len() + chunk.len() <= MAX_LINE {
                        line.extend_from_slice(chunk);
                    } else {
                        too_long = true;
                        line.clear();
                    }
                    offset += chunk.len() as u64;
                    chunk = &[];
                }
            }
        }
    }
    let torn = (offset > line_start).then(|| (line_start, offset - line_start));
    Ok(v.finish(torn))
}

/// Verifies a log's bytes against zero or more checkpoints. Pure: no IO.
///
/// Without a checkpoint a log cut at a record boundary still verifies; that
/// is the reason checkpoints exist.
pub fn verify_bytes(bytes: &[u8], checkpoints: &[Checkpoint]) -> VerifyReport {
    verify_reader(bytes, checkpoints).expect("reading a slice cannot fail")
}
