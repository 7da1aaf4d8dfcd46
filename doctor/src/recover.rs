//! `openclaw-doctor audit-recover`: the operator's repair for a torn final
//! line in the shared audit log (a crash mid-append), which otherwise blocks
//! every tool's appends. A tampered log is refused and left untouched.

use common::audit::{AuditError, Checkpoint, RecoverOutcome, process_actor};
use common::exit::Exit;
use serde_json::json;

use crate::cli::LogTarget;
use crate::output;
use crate::report::INFO;

/// What the command concluded; each maps to one exit code.
enum Verdict {
    /// Nothing was torn and the checkpoint was present.
    NothingToDo,
    /// Bytes were cut and/or the checkpoint rebuilt, and recorded.
    Repaired(Box<RecoverOutcome>),
    /// The complete records do not verify: refuse, change nothing.
    Tampered(String),
    /// The log could not be read, locked or written.
    Failed(String),
}

fn decide(res: Result<RecoverOutcome, AuditError>) -> Verdict {
    match res {
        Ok(out) if out.record.is_none() => Verdict::NothingToDo,
        Ok(out) => Verdict::Repaired(Box::new(out)),
        Err(AuditError::Damaged { problem, .. }) => Verdict::Tampered(problem.to_string()),
        Err(e) => Verdict::Failed(e.to_string()),
    }
}

pub(crate) fn run(target: LogTarget, json_out: bool) -> Exit {
    let LogTarget { log, exported, remembered } = target;
    // The remembered head is a constraint only: a cut log must not be
    // "repaired", but records after it are not vouched for, so a missing
    // checkpoint file is rebuilt only against an operator's exported line.
    let vouched = !exported.is_empty();
    let extra: Vec<Checkpoint> = exported.into_iter().chain(remembered).collect();
    let verdict = if !vouched && std::fs::symlink_metadata(log.checkpoint_path()).is_err() {
        Verdict::Tampered(
            "the checkpoint file is missing, so a log cut at a record boundary cannot be told from a crash; pass an \
             exported checkpoint with --checkpoint-line"
                .to_owned(),
        )
    } else {
        decide(log.recover(INFO.name, &process_actor(), &extra))
    };
    let (exit, body, text) = match &verdict {
        Verdict::NothingToDo => (
            Exit::Clean,
            json!({"outcome": "nothing-to-do"}),
            "nothing to recover: the last line is complete and the checkpoint present".to_owned(),
        ),
        Verdict::Repaired(out) => {
            let rec = out.record.as_ref().map(|r| json!({"seq": r.seq, "hash": r.hash, "params_hash": r.params_hash}));
            (
                Exit::Clean,
                json!({
                    "outcome": "repaired", "truncated_bytes": out.truncated_bytes, "torn_sha256": out.torn_sha256,
                    "checkpoint_rebuilt": out.checkpoint_rebuilt, "record": rec,
                }),
                format!(
                    "repaired: removed {} torn byte(s) (sha256 {}){}; recorded as audit.recover seq {}",
                    out.truncated_bytes,
                    out.torn_sha256,
                    if out.checkpoint_rebuilt { ", rebuilt the missing checkpoint" } else { "" },
                    out.record.as_ref().map_or(0, |r| r.seq)
                ),
            )
        }
        Verdict::Tampered(problem) => (
            Exit::Policy,
            json!({"outcome": "refused-tampered", "problem": problem}),
            format!(
                "refused: the log is tampered ({problem}); nothing was changed. Preserve it as evidence \
                 (openclaw-doctor evidence) and compare it with an exported checkpoint (openclaw-doctor verify-audit \
                 --checkpoint-line ...)"
            ),
        ),
        Verdict::Failed(e) => {
            output::error(e);
            return Exit::Undecided;
        }
    };
    let mut body = body;
    body["log"] = json!(log.path());
    body["checkpoint"] = json!(log.checkpoint_path());
    let written = if json_out {
        output::stdout(&INFO.envelope(&body))
    } else {
        output::stdout(&format!(
            "{}: {}\n",
            common::output::sanitize(&log.path().display().to_string()),
            common::output::sanitize(&text)
        ))
    };
    match written {
        Ok(()) => exit,
        Err(()) => Exit::Undecided,
    }
}
