//! `audit-log`: the shared audit log verifies (the same code as `verify-audit`),
//! and still reaches the head the doctor remembered for it (`crate::heads`),
//! so deleting the log together with its checkpoint is a failure, not a
//! fresh start.

use common::audit::AuditLog;
use serde_json::json;

use super::{Ctx, Outcome};
use crate::heads;

const FIX: &str = "preserve the log and checkpoint as evidence (`openclaw-doctor evidence` copies both); compare with an \
                   exported checkpoint (`openclaw-doctor verify-audit --checkpoint-line LINE`); a torn final line from a \
                   crash, and only that, is repaired by `openclaw-doctor audit-recover`";

pub(crate) fn check(ctx: &Ctx) -> Outcome {
    let log_path = &ctx.paths.audit_log;
    let log = AuditLog::new(log_path, &ctx.paths.audit_checkpoint);
    let remembered = match heads::remembered(&ctx.paths.artifacts_root, log_path) {
        Ok(r) => r,
        Err(e) => {
            return Outcome::fail(
                format!("the remembered audit head cannot be trusted: {e}"),
                "restore the artifacts directory's ownership and mode (root, not writable by others)",
            );
        }
    };
    let report = match log.verify(remembered.as_slice()) {
        Ok(r) => r,
        Err(e) => return Outcome::error(e.to_string()),
    };
    let shown = log_path.display().to_string();
    let details = json!({
        "path": shown, "records": report.records, "head": report.head, "problems": report.problems,
        "remembered_head": remembered.as_ref().map(|c| json!({"seq": c.seq, "hash": c.hash, "seen_at": c.ts})),
    });
    if !report.is_intact() {
        let problems: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
        return Outcome::fail(format!("{shown} is damaged: {}", problems.join("; ")), FIX).details(details);
    }
    if ctx.remember_state
        && let Some((seq, hash)) = &report.head
        && let Err(e) = heads::remember(&ctx.paths.artifacts_root, log_path, *seq, hash)
    {
        return Outcome::error(format!("cannot remember the audit head: {e}")).details(details);
    }
    let head = report.head.as_ref().map_or_else(|| "no records yet".to_owned(), |(seq, _)| format!("head seq {seq}"));
    // A checkpoint that keeps failing to be rewritten (a full or read-only
    // filesystem) protects less and less: appends still work, so say so.
    let checkpoint_seq = log.read_checkpoint().ok().flatten().map_or(0, |c| c.seq);
    if let Some((seq, _)) = &report.head
        && checkpoint_seq < *seq
        && *seq > 1
    {
        return Outcome::warn(
            format!("{shown}: chain intact, {head}, but the checkpoint lags at seq {checkpoint_seq}"),
            format!("make {} writable (free space); the next append rewrites it", ctx.paths.audit_checkpoint.display()),
        )
        .details(details);
    }
    Outcome::pass(format!("{shown}: {} records, chain intact, {head}", report.records)).details(details)
}
