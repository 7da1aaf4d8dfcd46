//! Repairing what a crash leaves: a torn final line, a missing checkpoint
//! (docs/audit-log.md). The operator's `audit-recover` calls
//! [`AuditLog::recover`]; an append that finds a torn tail under its lock
//! calls the same repair first, since only a writer that died can have left
//! it there.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use serde::Serialize;

use super::{AuditError, AuditLog, Checkpoint, MAX_LINE, Pending, Problem, Record, params_hash, verify_reader};
use crate::hash::sha256_hex;

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

impl AuditLog {
    /// Repairs what a crash can leave behind, and records that it did:
    /// removes a torn final line, and rebuilds a missing checkpoint. Refuses
    /// (with [`AuditError::Damaged`]) to touch a log whose complete records
    /// are tampered with or do not reach the checkpoint or any of `extra`
    /// (an exported checkpoint, a head another tool remembered); refuses a
    /// log with records but no checkpoint unless `extra` vouches for it,
    /// because without one a truncation cannot be told from a crash; and
    /// refuses a "torn" tail that cannot be the start of one record (longer
    /// than a line may be, or not starting as every record does).
    pub fn recover(&self, tool: &str, actor: &str, extra: &[Checkpoint]) -> Result<RecoverOutcome, AuditError> {
        let mut file = self.open_locked()?;
        self.recover_locked(&mut file, tool, actor, extra)
    }

    /// [`AuditLog::recover`] on a log this process has open and locked.
    pub(super) fn recover_locked(
        &self,
        file: &mut File,
        tool: &str,
        actor: &str,
        extra: &[Checkpoint],
    ) -> Result<RecoverOutcome, AuditError> {
        let checkpoint = self.read_checkpoint()?;
        let mut checkpoints: Vec<Checkpoint> = checkpoint.iter().cloned().collect();
        checkpoints.extend_from_slice(extra);
        // Streamed, like verify; only the torn tail (at most one line) is read into memory.
        file.seek(SeekFrom::Start(0)).map_err(|e| self.io(e))?;
        let mut report = verify_reader(&mut *file, &checkpoints).map_err(|e| self.io(e))?;
        let (complete_len, torn_len) = match report.problems.first() {
            Some(Problem::TornTail { offset, bytes }) => (*offset, *bytes),
            _ => (file.metadata().map_err(|e| self.io(e))?.len(), 0),
        };
        if torn_len > 0 {
            report.problems.remove(0);
        }
        let damaged = |problem| Err(AuditError::Damaged { path: self.path.clone(), problem });
        let mut torn = Vec::new();
        if torn_len > MAX_LINE as u64 {
            return damaged(Problem::Malformed {
                line: 0,
                error: format!("the {torn_len} bytes after the last newline are not the start of one record"),
            });
        }
        if torn_len > 0 {
            file.seek(SeekFrom::Start(complete_len)).map_err(|e| self.io(e))?;
            (&mut *file).take(torn_len).read_to_end(&mut torn).map_err(|e| self.io(e))?;
        }
        let torn = torn.as_slice();
        if !torn.is_empty() && !torn.starts_with(&b"{\"action\":\""[..torn.len().min(11)]) {
            return damaged(Problem::Malformed {
                line: 0,
                error: format!("the {} bytes after the last newline are not the start of one record", torn.len()),
            });
        }
        if let Some(problem) = report.problems.first() {
            return damaged(problem.clone());
        }
        if checkpoint.is_none() && report.records > 1 && extra.is_empty() {
            return damaged(Problem::CheckpointMissing);
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
            file.set_len(complete_len).map_err(|e| self.io(e))?;
            file.sync_all().map_err(|e| self.io(e))?;
        }
        let params = serde_json::json!({
            "truncated_bytes": torn.len(),
            "torn_sha256": sha256_hex(torn),
            "checkpoint_rebuilt": checkpoint_rebuilt,
        });
        let pending = Pending {
            tool,
            actor,
            action: "audit.recover",
            params_hash: params_hash(&params),
            exit_code: 0,
            duration_ms: 0,
        };
        let record = self.write_records(file, report.head, &[pending])?.pop();
        Ok(RecoverOutcome {
            truncated_bytes: torn.len() as u64,
            torn_sha256: sha256_hex(torn),
            checkpoint_rebuilt,
            record,
        })
    }
}
