//! The guard's one output module: `run`, `status`, `fix`, `confirm` and
//! `rollback` as JSON (the shared
//! envelope) or as escaped human text. The only code that writes stdout.

use common::output::{Format, sanitize};
use serde::Serialize;

use crate::fix::{FixOutcome, FixReport};
use crate::report::{ActionReport, RunReport, StatusReport};

fn stdout(text: &str) -> Result<(), String> {
    common::cli::write_result(text).map_err(|e| e.to_string())
}

fn json<T: Serialize>(body: &T) -> Result<(), String> {
    crate::INFO.write_json(body).map_err(|e| e.to_string())
}

/// `run`: the log lines of the tick (already escaped), or the report.
pub(crate) fn run(format: Format, rep: &RunReport, lines: &[String]) -> Result<(), String> {
    if format == Format::Json {
        return json(rep);
    }
    let prefix = if rep.dry_run { "(dry run) " } else { "" };
    let text: String = lines.iter().map(|l| format!("{prefix}{l}\n")).collect();
    stdout(&text)
}

/// `status`.
pub(crate) fn status(format: Format, rep: &StatusReport) -> Result<(), String> {
    if format == Format::Json {
        return json(rep);
    }
    let mut t = format!("state: {}\n", sanitize(&rep.state_file));
    match &rep.last_run {
        None => t.push_str("last run: never\n"),
        Some(r) => t.push_str(&format!(
            "last run: {} {} (exit {}): {}\n",
            r.at,
            r.outcome.as_str(),
            r.exit_code,
            sanitize(&r.detail)
        )),
    }
    t.push_str(&format!("doctor_fail alert open: {}\n", if rep.doctor_fail_open { "yes" } else { "no" }));
    for f in &rep.findings {
        t.push_str(&format!(
            "finding {}: since {}, {} attempt(s) in 24 h, {} left{}{}\n",
            sanitize(&f.key),
            f.first_seen,
            f.attempts_24h,
            f.budget_left,
            if f.budget_exhausted { ", BUDGET EXHAUSTED" } else { "" },
            f.backoff_until.as_deref().map(|u| format!(", backing off until {u}")).unwrap_or_default()
        ));
    }
    let tp = &rep.tailnet_path;
    match (&tp.waiting_for, &tp.waiting_since) {
        (Some(w), since) => t.push_str(&format!(
            "ssh-tailnet-only: phase 1 since {}: the public listener stays; waiting for: {}\n",
            since.as_deref().unwrap_or("?"),
            sanitize(w)
        )),
        (None, _) => t.push_str("ssh-tailnet-only: not waiting\n"),
    }
    t.push_str(&match (&tp.login, &tp.login_seen) {
        (Some(e), Some(at)) => format!("tailnet login seen: {} -> {} at {at}\n", e.remote, e.local),
        _ => "tailnet login seen: none\n".to_owned(),
    });
    t.push_str(&format!(
        "pending rollback: {}\n",
        rep.pending_rollback.as_ref().map_or("none".to_owned(), |p| format!(
            "{} (backup {}, rolls back at {})",
            p.remediation,
            p.id,
            crate::plan::fmt_unix(p.deadline)
        ))
    ));
    if let Some(r) = &rep.last_rollback {
        t.push_str(&format!(
            "last rollback: {} {} ({}): {}\n",
            r.at,
            r.remediation,
            if r.restored { "restored" } else { "NOT fully restored" },
            sanitize(&r.detail)
        ));
    }
    stdout(&t)
}

/// `fix`: its steps, then one line with the outcome.
pub(crate) fn fix(format: Format, rep: &FixReport) -> Result<(), String> {
    if format == Format::Json {
        return json(rep);
    }
    let mut t: String = rep.steps.iter().map(|s| format!("  {}\n", sanitize(s))).collect();
    let id = rep.remediation.as_str();
    let list = |items: &[String]| items.iter().map(|p| format!("\n  - {}", sanitize(p))).collect::<String>();
    let last = match &rep.outcome {
        FixOutcome::Compliant { detail } => format!("{id}: PASS: {}", sanitize(detail)),
        FixOutcome::NotCompliant { problems } => format!("{id}: FAIL:{}", list(problems)),
        FixOutcome::WouldChange { changes } => format!("{id}: would change:{}", list(changes)),
        FixOutcome::Applied { backup, verified } => {
            format!("{id}: APPLIED and verified: {} (backup {})", sanitize(verified), sanitize(backup))
        }
        FixOutcome::Refused { why } => format!("{id}: REFUSED, nothing changed: {}", sanitize(why)),
        FixOutcome::AwaitingTailnet { phase1, waiting } => {
            format!("{id}: AWAITING TAILNET PROOF: {}; waiting for:{}", sanitize(phase1), list(waiting))
        }
        FixOutcome::Failed { why, undo } => {
            format!("{id}: FAILED: {}; {}", sanitize(why), sanitize(&crate::plan::undo_text(undo)))
        }
    };
    t.push_str(&last);
    t.push('\n');
    if let FixOutcome::Failed { undo: crate::fix::Undo::RollbackFailed { manual, .. }, .. } = &rep.outcome {
        for m in manual {
            t.push_str(&format!("restore by hand: {}\n", sanitize(m)));
        }
    }
    stdout(&t)
}

/// `confirm` and `rollback`.
pub(crate) fn action(format: Format, rep: &ActionReport) -> Result<(), String> {
    if format == Format::Json {
        return json(rep);
    }
    stdout(&format!("{}: {}: {}\n", rep.action, rep.outcome, sanitize(&rep.detail)))
}
