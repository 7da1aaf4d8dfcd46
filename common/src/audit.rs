//! The shared append-only, tamper-evident audit log (contract §8, DESIGN.md §3.6).
//!
//! One JSON object per line. Each record carries the SHA-256 of the record
//! before it (`prev`) and of its own canonical encoding (`hash`), so editing,
//! deleting or reordering a record breaks the chain. A chain alone cannot
//! notice a clean cut at a record boundary, so every append also rewrites a
//! checkpoint file `(seq, hash, ts)` beside the log, and [`verify_bytes`]
//! demands that the log reach every checkpoint it is given. Checkpoints can be
//! exported as one line ([`Checkpoint::to_line`]) and kept off the host.
//!
//! Appends hold an exclusive `flock` on the log, write one line with
//! `O_APPEND`, and `fsync` before returning; any failure is an error for the
//! caller, never swallowed. A torn final line (a crash mid-write) is reported
//! by [`verify_bytes`] and blocks appends until [`AuditLog::recover`] removes
//! it and records that it did. The record schema and canonical encoding are
//! documented in `docs/audit-log.md`.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::artifacts;
use crate::hash::{is_sha256_hex, sha256_hex};
use crate::private_path::{self, Class, OpenSpec};
use crate::time_fmt;

/// `prev` of the first record: 64 zeros.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Longest accepted line; longer lines are corruption, not records.
pub const MAX_LINE: usize = 64 * 1024;

/// Longest accepted `tool`, `actor` or `action` value, in bytes.
pub const MAX_FIELD: usize = 256;

/// One audit record, exactly as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// Position in the log, starting at 1, without gaps.
    pub seq: u64,
    /// UTC time of the append, RFC 3339, whole seconds.
    pub ts: String,
    /// The tool that acted, e.g. `openclaw-keyctl`.
    pub tool: String,
    /// Who asked: a user name, a unit name, or a token fingerprint; never a secret.
    pub actor: String,
    /// What was done, e.g. `key.rotate`.
    pub action: String,
    /// SHA-256 of the canonical JSON of the action's parameters.
    pub params_hash: String,
    /// The action's exit code.
    pub exit_code: i32,
    /// How long the action took.
    pub duration_ms: u64,
    /// `hash` of the previous record, or [`GENESIS`].
    pub prev: String,
    /// SHA-256 of this record's canonical encoding without `hash`.
    pub hash: String,
}

impl Record {
    /// The canonical encoding that `hash` covers: every field but `hash`.
    pub fn canonical(&self) -> String {
        canonical_json(&self.fields(false))
    }

    /// The hash this record should carry.
    pub fn compute_hash(&self) -> String {
        sha256_hex(self.canonical().as_bytes())
    }

    /// The stored line (canonical JSON including `hash`, no newline).
    pub fn to_line(&self) -> String {
        canonical_json(&self.fields(true))
    }

    fn fields(&self, with_hash: bool) -> Value {
        let mut v = serde_json::json!({
            "seq": self.seq,
            "ts": self.ts,
            "tool": self.tool,
            "actor": self.actor,
            "action": self.action,
            "params_hash": self.params_hash,
            "exit_code": self.exit_code,
            "duration_ms": self.duration_ms,
            "prev": self.prev,
        });
        if with_hash {
            v["hash"] = Value::String(self.hash.clone());
        }
        v
    }

    /// Parses and shape-checks one line. Does not check the chain.
    pub fn parse_line(line: &str) -> Result<Record, String> {
        if line.len() > MAX_LINE {
            return Err(format!("line longer than {MAX_LINE} bytes"));
        }
        let rec: Record = serde_json::from_str(line).map_err(|e| e.to_string())?;
        // Only the canonical encoding is a record: no reordered keys, spaces,
        // needless escapes or array form, so every verifier sees the same bytes.
        if rec.to_line() != line {
            return Err("not in canonical form (see docs/audit-log.md)".into());
        }
        if rec.seq == 0 {
            return Err("seq must start at 1".into());
        }
        for (name, value) in [("tool", &rec.tool), ("actor", &rec.actor), ("action", &rec.action)] {
            check_field(name, value)?;
        }
        for (name, value) in [("params_hash", &rec.params_hash), ("prev", &rec.prev), ("hash", &rec.hash)] {
            if !is_sha256_hex(value) {
                return Err(format!("{name} is not 64 lowercase hex characters"));
            }
        }
        if time_fmt::parse_rfc3339(&rec.ts).is_none() {
            return Err("ts is not an RFC 3339 timestamp".into());
        }
        Ok(rec)
    }
}

/// Checks an action name: a fixed `noun.verb` such as `key.rotate` or
/// `audit.recover`, `^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+$`, at most 64
/// bytes. Parameters never go here: they go into `params_hash`, so free text
/// (an alert message, a path, a value) can never reach the log in the clear.
pub fn validate_action(action: &str) -> Result<(), AuditError> {
    let word = |w: &str| {
        w.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
            && w.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    let mut parts = action.split('.');
    let ok = action.len() <= 64 && parts.clone().count() >= 2 && parts.all(word);
    if ok { Ok(()) } else { Err(AuditError::BadAction { len: action.len() }) }
}

fn check_field(name: &str, value: &str) -> Result<(), String> {
    if value.is_empty() || value.len() > MAX_FIELD {
        return Err(format!("{name} must be 1 to {MAX_FIELD} bytes"));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("{name} contains a control character"));
    }
    Ok(())
}

/// Canonical JSON: object keys sorted by code point, no insignificant
/// whitespace, strings escaped as `serde_json` does (the same bytes as
/// Python's `json.dumps(v, sort_keys=True, separators=(",", ":"),
/// ensure_ascii=False)` for the integer-only documents we hash).
pub fn canonical_json(value: &Value) -> String {
    let mut res = String::new();
    write_canonical(&mut res, value);
    res
}

fn write_canonical(out: &mut String, value: &Value) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(out, &Value::String(key.clone()));
                out.push(':');
                write_canonical(out, &map[key]);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(out, item);
            }
            out.push(']');
        }
        scalar => {
            let _ = write!(out, "{scalar}");
        }
    }
}

/// SHA-256 of the canonical JSON of an action's parameters.
pub fn params_hash(params: &Value) -> String {
    sha256_hex(canonical_json(params).as_bytes())
}

/// A checkpoint: the log had reached `seq` with head `hash` at `ts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Checkpoint {
    /// Sequence number of the last record covered.
    pub seq: u64,
    /// That record's hash.
    pub hash: String,
    /// When the checkpoint was taken.
    pub ts: String,
}

const CHECKPOINT_TAG: &str = "openclaw-audit-checkpoint/v1";

impl Checkpoint {
    /// One line, safe to paste into a notification or a git note:
    /// `openclaw-audit-checkpoint/v1 seq=N hash=H ts=T`.
    pub fn to_line(&self) -> String {
        format!("{CHECKPOINT_TAG} seq={} hash={} ts={}", self.seq, self.hash, self.ts)
    }

    /// Parses [`Checkpoint::to_line`]'s format, strictly.
    pub fn parse_line(line: &str) -> Result<Checkpoint, String> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let mut parts = line.split(' ');
        let (Some(tag), Some(seq), Some(hash), Some(ts), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(format!("expected `{CHECKPOINT_TAG} seq=N hash=H ts=T`"));
        };
        if tag != CHECKPOINT_TAG {
            return Err(format!("unknown checkpoint format `{}`", crate::output::sanitize(tag)));
        }
        let seq =
            seq.strip_prefix("seq=").and_then(|s| s.parse::<u64>().ok()).filter(|s| *s > 0).ok_or("bad seq= field")?;
        let hash = hash.strip_prefix("hash=").filter(|h| is_sha256_hex(h)).ok_or("bad hash= field")?;
        let ts = ts.strip_prefix("ts=").filter(|t| time_fmt::parse_rfc3339(t).is_some()).ok_or("bad ts= field")?;
        Ok(Checkpoint { seq, hash: hash.to_owned(), ts: ts.to_owned() })
    }
}

/// The actor for a process's own records: `SUDO_USER` when a person used
/// sudo, otherwise `uid:<euid>` (a unit's user, or whoever ran it).
pub fn process_actor() -> String {
    std::env::var("SUDO_USER")
        .ok()
        .filter(|u| !u.is_empty() && check_field("actor", u).is_ok())
        .unwrap_or_else(|| format!("uid:{}", rustix::process::geteuid().as_raw()))
}

/// What a tool wants recorded.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    /// The acting tool.
    pub tool: &'a str,
    /// Who asked (never a secret).
    pub actor: &'a str,
    /// What was done.
    pub action: &'a str,
    /// Parameters; only their hash is stored. Never put a secret here.
    pub params: &'a Value,
    /// The action's exit code.
    pub exit_code: i32,
    /// The action's duration.
    pub duration_ms: u64,
}

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
        let rec = match std::str::from_utf8(raw).map_err(|e| e.to_string()).and_then(Record::parse_line) {
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

/// Errors from using the audit log. Tampering found by verification is a
/// [`VerifyReport`], not an error; these are the reasons an operation could
/// not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// Reading or writing the log or checkpoint failed.
    #[error("audit log {path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The log, the checkpoint or a directory above them fails the
    /// private-path rule (a link, a FIFO, another owner, group-writable).
    #[error("audit log: {0}")]
    Unsafe(#[from] private_path::PathError),
    /// Another process held the lock for longer than the bounded wait.
    #[error("audit log {path}: lock not acquired within {waited_ms} ms")]
    LockTimeout {
        /// The log.
        path: PathBuf,
        /// How long we waited.
        waited_ms: u64,
    },
    /// The log is damaged, so appending would extend a broken chain.
    #[error("audit log {path}: refusing to append: {problem}")]
    Damaged {
        /// The log.
        path: PathBuf,
        /// What is wrong.
        problem: Problem,
    },
    /// The checkpoint file exists but cannot be parsed.
    #[error("audit checkpoint {path}: {error}")]
    BadCheckpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What is wrong.
        error: String,
    },
    /// A field of the entry is empty, too long, or contains control characters.
    #[error("audit entry rejected: {0}")]
    BadEntry(String),
    /// The action is not a fixed `noun.verb` name; its text is not repeated
    /// (it may be a parameter written where a name belongs).
    #[error(
        "audit entry rejected: the action ({len} bytes) is not a `noun.verb` name such as `key.rotate`; parameters belong in params"
    )]
    BadAction {
        /// Its length in bytes.
        len: usize,
    },
}

/// What [`AuditLog::recover`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecoverOutcome {
    /// Bytes of torn tail removed (0 when none).
    pub truncated_bytes: u64,
    /// SHA-256 of the removed bytes (of nothing, when none were removed).
    pub torn_sha256: String,
    /// Whether a missing checkpoint was rebuilt from an intact chain.
    pub checkpoint_rebuilt: bool,
    /// The record appended to say what was done, if anything was.
    pub record: Option<Record>,
}

/// A log file and its checkpoint file.
#[derive(Debug, Clone)]
pub struct AuditLog {
    path: PathBuf,
    checkpoint: PathBuf,
    lock_wait: Duration,
}

impl AuditLog {
    /// The log at `path` with its checkpoint at `checkpoint`.
    pub fn new(path: impl Into<PathBuf>, checkpoint: impl Into<PathBuf>) -> AuditLog {
        AuditLog { path: path.into(), checkpoint: checkpoint.into(), lock_wait: Duration::from_secs(10) }
    }

    /// Changes the bounded wait for the exclusive lock (default 10 s).
    #[must_use]
    pub fn with_lock_wait(mut self, wait: Duration) -> AuditLog {
        self.lock_wait = wait;
        self
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The checkpoint file.
    pub fn checkpoint_path(&self) -> &Path {
        &self.checkpoint
    }

    /// Appends one record and returns it once it is on disk.
    pub fn append(&self, entry: &Entry<'_>) -> Result<Record, AuditError> {
        for (name, value) in [("tool", entry.tool), ("actor", entry.actor), ("action", entry.action)] {
            check_field(name, value).map_err(AuditError::BadEntry)?;
        }
        validate_action(entry.action)?;
        let mut file = self.open_locked()?;
        let head = self.read_head(&mut file)?;
        self.check_against_checkpoint(&mut file, head.as_ref())?;
        self.write_record(
            &mut file,
            head,
            entry.tool,
            entry.actor,
            entry.action,
            params_hash(entry.params),
            entry.exit_code,
            entry.duration_ms,
        )
    }

    /// Reads and verifies the whole log against its checkpoint file and any
    /// `extra` checkpoints (for example one exported to a notification).
    pub fn verify(&self, extra: &[Checkpoint]) -> Result<VerifyReport, AuditError> {
        let bytes = match read_regular(&self.path) {
            Ok(bytes) => bytes,
            Err(AuditError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let local = self.read_checkpoint()?;
        let mut checkpoints: Vec<Checkpoint> = local.iter().cloned().collect();
        checkpoints.extend_from_slice(extra);
        let mut report = verify_bytes(&bytes, &checkpoints);
        if local.is_none() && report.records > 0 {
            report.problems.push(Problem::CheckpointMissing);
        }
        Ok(report)
    }

    /// Reads the checkpoint file; `None` when it does not exist.
    pub fn read_checkpoint(&self) -> Result<Option<Checkpoint>, AuditError> {
        match read_regular(&self.checkpoint) {
            Ok(bytes) => {
                let text = String::from_utf8(bytes).map_err(|_| AuditError::BadCheckpoint {
                    path: self.checkpoint.clone(),
                    error: "not UTF-8".into(),
                })?;
                Checkpoint::parse_line(&text)
                    .map(Some)
                    .map_err(|error| AuditError::BadCheckpoint { path: self.checkpoint.clone(), error })
            }
            Err(AuditError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Repairs what a crash can leave behind, and records that it did:
    /// removes a torn final line, and rebuilds a missing checkpoint when the
    /// chain is otherwise intact. Refuses (with [`AuditError::Damaged`]) to
    /// touch a log whose complete records are tampered with.
    pub fn recover(&self, tool: &str, actor: &str) -> Result<RecoverOutcome, AuditError> {
        let mut file = self.open_locked()?;
        let bytes = self.read_all(&mut file)?;
        let complete_len = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let torn = &bytes[complete_len..];
        let checkpoint = self.read_checkpoint()?;
        let report = verify_bytes(&bytes[..complete_len], checkpoint.as_slice());
        if let Some(problem) = report.problems.first() {
            return Err(AuditError::Damaged { path: self.path.clone(), problem: problem.clone() });
        }
        let checkpoint_rebuilt = checkpoint.is_none() && report.records > 0;
        if torn.is_empty() && !checkpoint_rebuilt {
            return Ok(RecoverOutcome {
                truncated_bytes: 0,
                torn_sha256: sha256_hex(b""),
                checkpoint_rebuilt: false,
                record: None,
            });
        }
        if !torn.is_empty() {
            file.set_len(complete_len as u64).map_err(|e| self.io(e))?;
            file.sync_all().map_err(|e| self.io(e))?;
        }
        let params = serde_json::json!({
            "truncated_bytes": torn.len(),
            "torn_sha256": sha256_hex(torn),
            "checkpoint_rebuilt": checkpoint_rebuilt,
        });
        let record =
            self.write_record(&mut file, report.head, tool, actor, "audit.recover", params_hash(&params), 0, 0)?;
        Ok(RecoverOutcome {
            truncated_bytes: torn.len() as u64,
            torn_sha256: sha256_hex(torn),
            checkpoint_rebuilt,
            record: Some(record),
        })
    }

    /// The checkpoint must not be ahead of the log, and the log must still
    /// hold the checkpointed record. Normally the checkpoint names the head
    /// and this costs nothing; when it is behind (a crash between the log's
    /// fsync and the checkpoint's rename, or a forged tail), the whole log is
    /// verified against it, so an append can never paper over a rewrite.
    fn check_against_checkpoint(&self, file: &mut File, head: Option<&(u64, String)>) -> Result<(), AuditError> {
        let last_seq = head.map_or(0, |(seq, _)| *seq);
        let damaged = |problem| Err(AuditError::Damaged { path: self.path.clone(), problem });
        match (self.read_checkpoint()?, head) {
            (None, None) => Ok(()),
            (None, Some(_)) => damaged(Problem::CheckpointMissing),
            (Some(cp), _) if cp.seq > last_seq => damaged(Problem::Truncated { checkpoint_seq: cp.seq, last_seq }),
            (Some(cp), Some((seq, hash))) if cp.seq == *seq => {
                if cp.hash == *hash {
                    Ok(())
                } else {
                    damaged(Problem::CheckpointMismatch { seq: cp.seq })
                }
            }
            (Some(cp), _) => {
                let bytes = self.read_all(file)?;
                match verify_bytes(&bytes, &[cp]).problems.into_iter().next() {
                    None => Ok(()),
                    Some(problem) => damaged(problem),
                }
            }
        }
    }

    #[expect(clippy::too_many_arguments, reason = "private helper mirroring the record's fields")]
    fn write_record(
        &self,
        file: &mut File,
        head: Option<(u64, String)>,
        tool: &str,
        actor: &str,
        action: &str,
        params_hash: String,
        exit_code: i32,
        duration_ms: u64,
    ) -> Result<Record, AuditError> {
        let (last_seq, prev) = head.unwrap_or_else(|| (0, GENESIS.to_owned()));
        let seq = last_seq.checked_add(1).ok_or_else(|| AuditError::Damaged {
            path: self.path.clone(),
            problem: Problem::Malformed { line: 0, error: "seq cannot grow past u64::MAX".into() },
        })?;
        let mut rec = Record {
            seq,
            ts: time_fmt::rfc3339(time_fmt::now_utc()),
            tool: tool.to_owned(),
            actor: actor.to_owned(),
            action: action.to_owned(),
            params_hash,
            exit_code,
            duration_ms,
            prev,
            hash: String::new(),
        };
        rec.hash = rec.compute_hash();
        let mut line = rec.to_line();
        line.push('\n');
        file.write_all(line.as_bytes()).map_err(|e| self.io(e))?;
        file.sync_data().map_err(|e| self.io(e))?;
        let cp = Checkpoint { seq: rec.seq, hash: rec.hash.clone(), ts: rec.ts.clone() };
        artifacts::write_atomic(&self.checkpoint, format!("{}\n", cp.to_line()).as_bytes())
            .map_err(|e| AuditError::Io { path: self.checkpoint.clone(), source: e })?;
        Ok(rec)
    }

    fn open_locked(&self) -> Result<File, AuditError> {
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            private_path::ensure_dir(parent, Class::Private)?;
        }
        let spec = OpenSpec { class: Class::Private, max_file_mode: None, append: true };
        let file = private_path::open_file(&self.path, spec)?.ok_or_else(|| self.io(io::ErrorKind::NotFound.into()))?;
        let meta = file.metadata().map_err(|e| self.io(e))?;
        if meta.permissions().mode() & 0o077 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(|e| self.io(e))?;
        }
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(file),
                Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < self.lock_wait => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(AuditError::LockTimeout {
                        path: self.path.clone(),
                        waited_ms: started.elapsed().as_millis() as u64,
                    });
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(self.io(e)),
            }
        }
    }

    /// The last record's `(seq, hash)`, checked on its own.
    ///
    /// Appends read only the tail, so their cost does not grow with the log:
    /// the last line must be complete, parse, and carry its own hash, and
    /// [`AuditLog::check_against_checkpoint`] ties it to the checkpoint.
    /// Whole-chain checks are [`AuditLog::verify`]'s job.
    fn read_head(&self, file: &mut File) -> Result<Option<(u64, String)>, AuditError> {
        let len = file.metadata().map_err(|e| self.io(e))?.len();
        if len == 0 {
            return Ok(None);
        }
        let start = len.saturating_sub(MAX_LINE as u64 + 1);
        let mut buf = Vec::new();
        file.seek(SeekFrom::Start(start)).map_err(|e| self.io(e))?;
        file.read_to_end(&mut buf).map_err(|e| self.io(e))?;
        let damaged = |problem| Err(AuditError::Damaged { path: self.path.clone(), problem });
        let Some((&b'\n', body)) = buf.split_last() else {
            let offset = buf.iter().rposition(|&b| b == b'\n').map_or(start, |i| start + i as u64 + 1);
            return damaged(Problem::TornTail { offset, bytes: len - offset });
        };
        let line = match body.iter().rposition(|&b| b == b'\n') {
            Some(i) => &body[i + 1..],
            None if start == 0 => body,
            None => {
                return damaged(Problem::Malformed {
                    line: 0,
                    error: format!("last line longer than {MAX_LINE} bytes"),
                });
            }
        };
        let rec = match std::str::from_utf8(line).map_err(|e| e.to_string()).and_then(Record::parse_line) {
            Ok(rec) => rec,
            Err(error) => return damaged(Problem::Malformed { line: 0, error }),
        };
        if rec.compute_hash() != rec.hash {
            return damaged(Problem::BadHash { line: 0, seq: rec.seq });
        }
        Ok(Some((rec.seq, rec.hash)))
    }

    fn read_all(&self, file: &mut File) -> Result<Vec<u8>, AuditError> {
        let mut bytes = Vec::new();
        file.seek(SeekFrom::Start(0)).map_err(|e| self.io(e))?;
        file.read_to_end(&mut bytes).map_err(|e| self.io(e))?;
        Ok(bytes)
    }

    fn io(&self, source: io::Error) -> AuditError {
        AuditError::Io { path: self.path.clone(), source }
    }
}

/// Reads a whole log or checkpoint through the private-path rule (no link,
/// no FIFO, no other owner); a missing file is `Io` with `NotFound`.
fn read_regular(path: &Path) -> Result<Vec<u8>, AuditError> {
    let io_err = |source| AuditError::Io { path: path.to_owned(), source };
    let mut file = private_path::open_file(path, OpenSpec::read(Class::Private))?
        .ok_or_else(|| io_err(io::ErrorKind::NotFound.into()))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(io_err)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests;
