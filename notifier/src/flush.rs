//! `openclaw-notify flush`: retries the receipt cancels that failed, then
//! delivers the outbox oldest first, one attempt each, through the same
//! rules as `send`; stops at the first entry that still fails. Entries
//! whose `send` is still alive (their lock is held) are left to it.

use serde::Serialize;

use crate::deliver::{self, Ctx, Keys, Mode};
use crate::receipts;
use crate::report::{Cancel, Outcome, Report};
use crate::state::Queued;

#[derive(Serialize)]
pub(crate) struct FlushReport {
    pub(crate) delivered: usize,
    pub(crate) suppressed: usize,
    pub(crate) rejected: usize,
    pub(crate) remaining: usize,
    pub(crate) receipts_cancelled: usize,
    /// Entries a live `send` is still delivering: left to it (counted in `remaining`).
    pub(crate) in_flight: usize,
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
        in_flight: 0,
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
        // A live `send` holds its entry's lock through its retries and
        // settles the entry itself; a dead one's lock is gone.
        let Some(entry_lock) = ctx.store.try_lock_entry(&q.path)? else {
            rep.in_flight += 1;
            continue;
        };
        let outcome = flush_entry(ctx, &q, &keys, &mut rep);
        ctx.store.release_entry(entry_lock);
        if !outcome? {
            break;
        }
    }
    Ok(rep)
}

/// Delivers one locked outbox entry; `false` stops the flush (still
/// failing, or held by the quota), keeping it and everything after it in
/// order.
fn flush_entry(ctx: &Ctx, q: &Queued, keys: &Keys, rep: &mut FlushReport) -> Result<bool, String> {
    if !q.path.exists() {
        // Its sender settled it between the listing and the lock.
        rep.remaining -= 1;
        return Ok(true);
    }
    let _lock = ctx.store.lock_check(&q.alert.check_id)?;
    let r = deliver::process(ctx, &q.alert, Some(keys), Mode::Flush, Some(&q.path))?;
    let go_on = match r.outcome {
        Outcome::Sent => {
            rep.delivered += 1;
            true
        }
        Outcome::RateLimited => {
            rep.suppressed += 1;
            true
        }
        Outcome::Rejected if r.hold_until.is_some() => {
            rep.hold_until = r.hold_until.clone();
            false
        }
        Outcome::Rejected => {
            rep.rejected += 1;
            true
        }
        Outcome::Queued | Outcome::DryRun => false,
    };
    if go_on {
        rep.remaining -= 1;
    }
    rep.items.push(r);
    Ok(go_on)
}
