//! The shared append-only, tamper-evident audit log (contract §8; format in docs/audit-log.md).
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
//! caller, never swallowed, and a failed write (a full disk) is cut back to
//! the length before it, so it leaves nothing behind. Once a record is
//! durable, a checkpoint that cannot be rewritten only lags: the next append
//! repairs it. A torn final line (a writer killed mid-write) is reported by
//! [`verify_bytes`]; the next append, or [`AuditLog::recover`], removes it
//! and records that it did. The record schema and canonical encoding are
//! documented in `docs/audit-log.md`.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::artifacts;
use crate::private_path::{self, Class, OpenSpec};
use crate::time_fmt;

/// `prev` of the first record: 64 zeros.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Longest accepted line; longer lines are corruption, not records.
pub const MAX_LINE: usize = 64 * 1024;

/// Longest accepted `tool`, `actor` or `action` value, in bytes.
pub const MAX_FIELD: usize = 256;

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

/// One record about to be written (its `params` already hashed).
struct Pending<'a> {
    tool: &'a str,
    actor: &'a str,
    action: &'a str,
    params_hash: String,
    exit_code: i32,
    duration_ms: u64,
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
    Unsafe(#[from] private_path::UnsafePath),
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
        error: CheckpointError,
    },
    /// The log already holds seq `u64::MAX`: no record can follow it.
    #[error("audit log {0}: seq cannot grow past u64::MAX")]
    SeqOverflow(PathBuf),
    /// A field of the entry is empty, too long, or contains control characters.
    #[error("audit entry rejected: {0}")]
    BadEntry(#[from] RecordError),
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

    /// Appends the record of an action this process took: the actor is
    /// [`process_actor`], the duration runs from `started` to now.
    pub fn append_for_process(
        &self,
        tool: &str,
        action: &str,
        params: &Value,
        exit_code: i32,
        started: Instant,
    ) -> Result<Record, AuditError> {
        let actor = process_actor();
        let duration_ms = started.elapsed().as_millis() as u64;
        self.append(&Entry { tool, actor: &actor, action, params, exit_code, duration_ms })
    }

    /// Appends one record and returns it once it is on disk.
    pub fn append(&self, entry: &Entry<'_>) -> Result<Record, AuditError> {
        let mut recs = self.append_batch(std::slice::from_ref(entry))?;
        recs.pop().ok_or_else(|| self.io(io::Error::other("no record was written")))
    }

    /// Appends several records under one lock, one write and one `fsync`
    /// (group commit), in order, and returns them once they are all on disk.
    /// Either every entry is checked and written, or an error is returned; a
    /// crash mid-write leaves at most a torn last line, which the next append
    /// (or `audit-recover`) cuts.
    pub fn append_batch(&self, entries: &[Entry<'_>]) -> Result<Vec<Record>, AuditError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        for entry in entries {
            for (name, value) in [("tool", entry.tool), ("actor", entry.actor), ("action", entry.action)] {
                check_field(name, value)?;
            }
            validate_action(entry.action)?;
        }
        let mut file = self.open_locked()?;
        let head = self.head_repairing(&mut file, entries[0].tool, entries[0].actor)?;
        self.check_against_checkpoint(&mut file, head.as_ref())?;
        let pending: Vec<Pending<'_>> = entries
            .iter()
            .map(|e| Pending {
                tool: e.tool,
                actor: e.actor,
                action: e.action,
                params_hash: params_hash(e.params),
                exit_code: e.exit_code,
                duration_ms: e.duration_ms,
            })
            .collect();
        self.write_records(&mut file, head, &pending)
    }

    /// Checks, without writing a record, that an append would be accepted now: the log
    /// and its checkpoint are usable, agree, and nobody else holds the lock
    /// past the wait. A tool calls it before a change it must audit, so the
    /// change is not made when its record could not be written.
    pub fn preflight(&self) -> Result<(), AuditError> {
        let mut file = self.open_locked()?;
        let head = self.head_repairing(&mut file, "openclaw", &process_actor())?;
        self.check_against_checkpoint(&mut file, head.as_ref())
    }

    /// The head, after cutting a torn final line if there is one. Under the
    /// lock a torn line can only be a dead writer's (a SIGKILL can stop a
    /// `write` at a page boundary), and that writer never reported its record
    /// done, so the repair loses nothing reported: it is the same repair as
    /// [`AuditLog::recover`], recorded as `audit.recover` by `tool`/`actor`,
    /// and it refuses exactly what that refuses.
    fn head_repairing(&self, file: &mut File, tool: &str, actor: &str) -> Result<Option<(u64, String)>, AuditError> {
        match self.read_head(file) {
            Err(AuditError::Damaged { problem: Problem::TornTail { .. }, .. }) => {
                self.recover_locked(file, tool, actor, &[])?;
                self.read_head(file)
            }
            other => other,
        }
    }

    /// Reads and verifies the whole log against its checkpoint file and any
    /// `extra` checkpoints (for example one exported to a notification).
    pub fn verify(&self, extra: &[Checkpoint]) -> Result<VerifyReport, AuditError> {
        // Whoever can write these directories can delete or swap the files.
        for file in [&self.path, &self.checkpoint] {
            if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
                private_path::check_dir(dir, Class::Private)?;
            }
        }
        let local = self.read_checkpoint()?;
        let mut checkpoints: Vec<Checkpoint> = local.iter().cloned().collect();
        checkpoints.extend_from_slice(extra);
        // Streamed: constant memory whatever the log's size.
        let mut report = match private_path::open_file(&self.path, OpenSpec::read(Class::Private))? {
            Some(file) => verify_reader(file, &checkpoints).map_err(|e| self.io(e))?,
            None => verify_bytes(b"", &checkpoints),
        };
        if local.is_none() && report.records > 1 {
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
                    error: CheckpointError::NotUtf8,
                })?;
                Checkpoint::parse_line(&text)
                    .map(Some)
                    .map_err(|error| AuditError::BadCheckpoint { path: self.checkpoint.clone(), error })
            }
            Err(AuditError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
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
            // The first record's checkpoint may not have been written (a
            // crash or a full disk right after it): a log of exactly one
            // intact record needs none. Any longer log does.
            // The second record is only written once the first has its
            // checkpoint, so no crash can leave two records without one.
            (None, Some((1, hash))) => {
                file.seek(SeekFrom::Start(0)).map_err(|e| self.io(e))?;
                let report = verify_reader(&mut *file, &[]).map_err(|e| self.io(e))?;
                match report.problems.into_iter().next() {
                    None if report.records == 1 => self.write_checkpoint(&Checkpoint {
                        seq: 1,
                        hash: hash.clone(),
                        ts: time_fmt::rfc3339(time_fmt::now_utc()),
                    }),
                    None => damaged(Problem::CheckpointMissing),
                    Some(problem) => damaged(problem),
                }
            }
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
                file.seek(SeekFrom::Start(0)).map_err(|e| self.io(e))?;
                match verify_reader(&mut *file, &[cp]).map_err(|e| self.io(e))?.problems.into_iter().next() {
                    None => Ok(()),
                    Some(problem) => damaged(problem),
                }
            }
        }
    }

    fn write_records(
        &self,
        file: &mut File,
        head: Option<(u64, String)>,
        pending: &[Pending<'_>],
    ) -> Result<Vec<Record>, AuditError> {
        let (mut last_seq, mut prev) = head.unwrap_or_else(|| (0, GENESIS.to_owned()));
        let ts = time_fmt::rfc3339(time_fmt::now_utc());
        let mut recs = Vec::with_capacity(pending.len());
        let mut lines = String::new();
        for p in pending {
            let seq = last_seq.checked_add(1).ok_or_else(|| AuditError::SeqOverflow(self.path.clone()))?;
            let mut rec = Record {
                seq,
                ts: ts.clone(),
                tool: p.tool.to_owned(),
                actor: p.actor.to_owned(),
                action: p.action.to_owned(),
                params_hash: p.params_hash.clone(),
                exit_code: p.exit_code,
                duration_ms: p.duration_ms,
                prev,
                hash: String::new(),
            };
            rec.hash = rec.compute_hash();
            lines.push_str(&rec.to_line());
            lines.push('\n');
            (last_seq, prev) = (seq, rec.hash.clone());
            recs.push(rec);
        }
        let last = recs.last().ok_or_else(|| self.io(io::Error::other("empty batch")))?;
        let cp = Checkpoint { seq: last.seq, hash: last.hash.clone(), ts: last.ts.clone() };
        // Under the lock nobody else appends: this is where our bytes start.
        let before = file.metadata().map_err(|e| self.io(e))?.len();
        if let Err(e) = file.write_all(lines.as_bytes()).and_then(|()| file.sync_data()) {
            // A full disk cuts the line at a page boundary: never leave our
            // own partial write behind, or every later append is refused.
            take_back(file, before);
            return Err(self.io(e));
        }
        // The record is durable. A checkpoint that could not be rewritten
        // lags (or, after a first single record, is missing): the next append
        // repairs it (`check_against_checkpoint`), so it is never a reason to
        // report failure for what is already recorded. Only with no
        // checkpoint at all is there nothing to lag behind: a log of more
        // than one record without one is refused, so such a write is taken
        // back and reported failed.
        if let Err(e) = self.write_checkpoint(&cp)
            && cp.seq > 1
            && matches!(self.read_checkpoint(), Ok(None))
        {
            take_back(file, before);
            return Err(e);
        }
        Ok(recs)
    }

    fn write_checkpoint(&self, cp: &Checkpoint) -> Result<(), AuditError> {
        if let Some(dir) = self.checkpoint.parent().filter(|d| !d.as_os_str().is_empty()) {
            private_path::ensure_dir(dir, Class::Private)?;
        }
        artifacts::write_atomic(&self.checkpoint, format!("{}\n", cp.to_line()).as_bytes())
            .map_err(|e| AuditError::Io { path: self.checkpoint.clone(), source: e })
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
        let rec = match std::str::from_utf8(line)
            .map_err(|e| e.to_string())
            .and_then(|l| Record::parse_line(l).map_err(|e| e.to_string()))
        {
            Ok(rec) => rec,
            Err(error) => return damaged(Problem::Malformed { line: 0, error }),
        };
        if rec.compute_hash() != rec.hash {
            return damaged(Problem::BadHash { line: 0, seq: rec.seq });
        }
        Ok(Some((rec.seq, rec.hash)))
    }

    fn io(&self, source: io::Error) -> AuditError {
        AuditError::Io { path: self.path.clone(), source }
    }
}

/// Cuts the log back to `len` bytes and syncs it, after a failed append.
/// Best effort: if even this fails, the torn tail stays for `audit-recover`.
fn take_back(file: &File, len: u64) {
    if file.set_len(len).is_ok() {
        let _ = file.sync_data();
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

mod fast;
mod record;
mod recover;
mod verify;

pub use recover::RecoverOutcome;

use record::check_field;
#[cfg(test)]
use record::is_user_name;
pub use record::{
    Checkpoint, CheckpointError, Record, RecordError, canonical_json, params_hash, process_actor, validate_action,
};
pub use verify::{MAX_PROBLEMS, Problem, Verifier, VerifyReport, verify_bytes, verify_reader};

/// Entry points for `cargo fuzz` (see `fuzz/`).
pub mod fuzzing {
    pub use super::fast::agrees as fast_path_agrees;
}

#[cfg(test)]
mod batch_tests;
#[cfg(test)]
mod tests;
