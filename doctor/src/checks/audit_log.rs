//! `audit-log`: the shared audit log verifies (the same code as `verify-audit`),
//! and still reaches the head an earlier doctor run saw, so deleting the log
//! together with its checkpoint is a failure, not a fresh start.

use std::path::Path;

use common::audit::{AuditLog, Checkpoint};
use common::private_path::{self, Class, OpenSpec};
use serde_json::{Value, json};

use super::{Ctx, Outcome};

/// How many of the newest doctor reports are searched for a remembered head.
const REPORTS_SEARCHED: usize = 50;

pub(crate) fn check(ctx: &Ctx) -> Outcome {
    let log = AuditLog::new(&ctx.paths.audit_log, &ctx.paths.audit_checkpoint);
    let remembered = remembered_head(&ctx.paths.artifacts_root);
    let report = match log.verify(remembered.as_slice()) {
        Ok(r) => r,
        Err(e) => return Outcome::error(e.to_string()),
    };
    let shown = ctx.paths.audit_log.display().to_string();
    let details = json!({
        "path": shown, "records": report.records, "head": report.head, "problems": report.problems,
        "remembered_head": remembered.as_ref().map(|c| json!({"seq": c.seq, "hash": c.hash, "seen_at": c.ts})),
    });
    if report.is_intact() {
        let head =
            report.head.as_ref().map_or_else(|| "no records yet".to_owned(), |(seq, _)| format!("head seq {seq}"));
        Outcome::pass(format!("{shown}: {} records, chain intact, {head}", report.records)).details(details)
    } else {
        let problems: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
        Outcome::fail(
            format!("{shown} is damaged: {}", problems.join("; ")),
            "preserve the log and checkpoint as evidence (`openclaw-doctor evidence`); compare with an exported checkpoint \
             (`openclaw-doctor verify-audit --checkpoint-line LINE`); a torn final line from a crash, and only that, is \
             repaired by `openclaw-doctor audit-recover`",
        )
        .details(details)
    }
}

/// The head the newest passing `audit-log` check recorded in a doctor
/// report under the artifacts root, as a checkpoint the log must still reach.
/// Reports that fail the private-path rule are not believed.
fn remembered_head(artifacts_root: &Path) -> Option<Checkpoint> {
    let dir = artifacts_root.join("doctor");
    private_path::check_dir(&dir, Class::Private).ok().filter(|exists| *exists)?;
    let mut runs: Vec<String> = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.len() >= 16 && n.as_bytes()[0].is_ascii_digit())
        .collect();
    // `<stamp>` and `<stamp>-N` sort in time order as text.
    runs.sort_unstable_by(|a, b| b.cmp(a));
    runs.iter().take(REPORTS_SEARCHED).find_map(|run| head_in_report(&dir.join(run).join("doctor.json")))
}

fn head_in_report(path: &Path) -> Option<Checkpoint> {
    let mut file = private_path::open_file(path, OpenSpec::read(Class::Private)).ok()??;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(&mut file, 64 << 20), &mut text).ok()?;
    head_from_report(&text)
}

/// Pure: the `(seq, hash)` of a passing `audit-log` check in a report.
pub(crate) fn head_from_report(text: &str) -> Option<Checkpoint> {
    let report: Value = serde_json::from_str(text).ok()?;
    let check = report["checks"].as_array()?.iter().find(|c| c["id"] == "audit-log" && c["status"] == "pass")?;
    let head = check["details"]["head"].as_array()?;
    let seq = head.first()?.as_u64()?;
    let hash = head.get(1)?.as_str()?;
    common::hash::is_sha256_hex(hash).then(|| Checkpoint {
        seq,
        hash: hash.to_owned(),
        ts: report["started_at"].as_str().unwrap_or_default().to_owned(),
    })
}
