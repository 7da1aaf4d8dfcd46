//! Runs checks concurrently, each on its own thread, within a deadline.
//!
//! A check that has not answered by the deadline is reported as `error` with
//! the time waited, and the rest of the report still arrives. A check that
//! panics is reported as `error` too: nothing a check does can turn into a
//! silent pass.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Instant;

use serde::Serialize;

use crate::checks::{CheckDef, Ctx, Outcome, Status};

/// One check's entry in the report.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CheckResult {
    pub(crate) id: &'static str,
    pub(crate) title: &'static str,
    pub(crate) status: Status,
    pub(crate) summary: String,
    pub(crate) details: crate::checks::Details,
    pub(crate) remediation: Option<crate::checks::Remedy>,
    pub(crate) duration_ms: u64,
}

/// Runs `defs` against `ctx`; results come back in `defs` order.
pub(crate) fn run(ctx: &Arc<Ctx>, defs: &[&'static CheckDef]) -> Vec<CheckResult> {
    let started = Instant::now();
    let (tx, rx) = mpsc::channel();
    for (idx, def) in defs.iter().enumerate() {
        let (thread_tx, ctx, def) = (tx.clone(), Arc::clone(ctx), *def);
        let spawned = std::thread::Builder::new().name(def.id.to_owned()).spawn(move || {
            let check_started = Instant::now();
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| (def.run)(&ctx))).unwrap_or_else(|panic| {
                let msg = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                Outcome::error(format!("the check crashed: {msg}"))
            });
            let _ = thread_tx.send((idx, outcome, check_started.elapsed().as_millis() as u64));
        });
        if let Err(e) = spawned {
            let _ = tx.send((idx, Outcome::error(format!("could not start the check: {e}")), 0));
        }
    }
    drop(tx);
    let mut results: Vec<Option<(Outcome, u64)>> = vec![None; defs.len()];
    while results.iter().any(Option::is_none) {
        match rx.recv_timeout(ctx.deadline.saturating_duration_since(Instant::now())) {
            Ok((idx, outcome, ms)) => results[idx] = Some((outcome, ms)),
            Err(_) => break,
        }
    }
    let waited = started.elapsed().as_millis() as u64;
    defs.iter()
        .zip(results)
        .map(|(def, res)| {
            let (outcome, duration_ms) = res.unwrap_or_else(|| {
                (
                    Outcome::error(format!(
                        "no answer within the run's time limit ({waited} ms); the check was abandoned"
                    )),
                    waited,
                )
            });
            CheckResult {
                id: def.id,
                title: def.title,
                status: outcome.status,
                summary: outcome.summary,
                details: outcome.details,
                remediation: outcome.remediation,
                duration_ms,
            }
        })
        .collect()
}
