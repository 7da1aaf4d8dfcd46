//! `audit-log`: the shared audit log verifies (the same code as `verify-audit`).

use common::audit::AuditLog;
use serde_json::json;

use super::{Ctx, Outcome};

pub(crate) fn check(ctx: &Ctx) -> Outcome {
    let log = AuditLog::new(&ctx.paths.audit_log, &ctx.paths.audit_checkpoint);
    let report = match log.verify(&[]) {
        Ok(r) => r,
        Err(e) => return Outcome::error(e.to_string()),
    };
    let shown = ctx.paths.audit_log.display().to_string();
    let details = json!({"path": shown, "records": report.records, "head": report.head, "problems": report.problems});
    if report.is_intact() {
        let head =
            report.head.as_ref().map_or_else(|| "no records yet".to_owned(), |(seq, _)| format!("head seq {seq}"));
        Outcome::pass(format!("{shown}: {} records, chain intact, {head}", report.records)).details(details)
    } else {
        let problems: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
        Outcome::fail(
            format!("{shown} is damaged: {}", problems.join("; ")),
            "preserve the log and checkpoint as evidence (`openclaw-doctor evidence`); compare with an exported checkpoint; \
             a torn final line from a crash is repaired by an explicit recover",
        )
        .details(details)
    }
}
