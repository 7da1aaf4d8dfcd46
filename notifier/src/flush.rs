//! `openclaw-notify flush`: retries the receipt cancels that failed, then
//! delivers the outbox oldest first, one attempt each, through the same
//! rules as `send`; stops at the first entry that still fails.

use serde::Serialize;

use crate::deliver::{self, Ctx, Keys, Mode};
use crate::receipts;
use crate::report::{Cancel, Outcome, Report};

#[derive(Serialize)]
pub(crate) struct FlushReport {
    pub(crate) delivered: usize,
    pub(crate) suppressed: usize,
    pub(crate) rejected: usize,
    pub(crate) remaining: usize,
    pub(crate) receipts_cancelled: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) hold_until: Option<String>,
    pub(crate) items: Vec<Report>,
    pub(crate) problems: Vec<String>,
}
impl FlushReport {
    /// An entry was refused or set aside, or the quota holds.
    pub(crate) fn is_policy_failure(&self) -> bool {
        self.rejected > 0 || self.hold_until.is_some()
    }
}

/// Flushes under the flush lock. `keys` is called only when there is work.
pub(crate) fn run(ctx: &Ctx, keys: impl FnOnce() -> Result<Keys, String>) -> Result<FlushReport, String> {
    let _flush = ctx.store.lock_flush()?;
    let (queue, problems) = ctx.store.queued()?;
    let state = ctx.store.load()?;
    let pending_cancels: Vec<String> =
        state.receipts.iter().filter(|(_, v)| v.iter().any(|r| r.cancel_pending)).map(|(k, _)| k.clone()).collect();
    let mut rep = FlushReport {
        delivered: 0,
        suppressed: 0,
        rejected: problems.len(),
        remaining: queue.len(),
        receipts_cancelled: 0,
        hold_until: None,
        items: Vec::new(),
        problems,
    };
    if queue.is_empty() && pending_cancels.is_empty() {
        return Ok(rep);
    }
    let keys = keys()?;
    for check_id in pending_cancels {
        let _lock = ctx.store.lock_check(&check_id)?;
        // Re-read under the lock: a send may have changed the receipts meanwhile.
        let pending: Vec<String> = ctx
            .store
            .load()?
            .receipts
            .get(&check_id)
            .into_iter()
            .flatten()
            .filter(|r| r.cancel_pending)
            .map(|r| r.receipt.clone())
            .collect();
        for receipt in pending {
            match receipts::cancel_receipt(ctx, &check_id, &receipt, &keys)? {
                Cancel::Cancelled(_) => rep.receipts_cancelled += 1,
                other @ (Cancel::NotStored(_) | Cancel::Expired(_) | Cancel::Refused { .. } | Cancel::Pending(_)) => {
                    rep.problems.push(other.text())
                }
            }
        }
    }
    for q in queue {
        let _lock = ctx.store.lock_check(&q.alert.check_id)?;
        let r = deliver::process(ctx, &q.alert, Some(&keys), Mode::Flush)?;
        match r.outcome {
            Outcome::Sent => {
                ctx.store.remove(&q.path)?;
                rep.delivered += 1;
            }
            Outcome::RateLimited => {
                ctx.store.remove(&q.path)?;
                rep.suppressed += 1;
            }
            Outcome::Rejected if r.hold_until.is_some() => {
                rep.hold_until = r.hold_until.clone();
                rep.items.push(r);
                break;
            }
            Outcome::Rejected => {
                ctx.store.reject(&q.path)?;
                rep.rejected += 1;
            }
            // Still failing: keep this and everything after it, in order.
            Outcome::Queued | Outcome::DryRun => {
                rep.items.push(r);
                break;
            }
        }
        rep.remaining -= 1;
        rep.items.push(r);
    }
    Ok(rep)
}
