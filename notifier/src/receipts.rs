//! Emergency receipts: cancelling them when their check recovers
//! (`POST /1/receipts/<r>/cancel.json`), by `send --resolved` and, for the
//! cancels that failed on the network, by `flush`.

use std::time::Instant;

use common::secrets::ExposeSecret;

use crate::api::Reply;
use crate::audit;
use crate::deliver::{Ctx, Keys, now};
use crate::report::Cancel;
use crate::state::{ReceiptState, State};

/// Cancels every unexpired receipt of a check; returns what happened to each.
pub fn cancel_all(ctx: &Ctx, check_id: &str, receipts: &[ReceiptState], keys: &Keys) -> Result<Vec<Cancel>, String> {
    receipts.iter().map(|rc| cancel_receipt(ctx, check_id, &rc.receipt, keys)).collect()
}

/// Cancels one emergency receipt of a check (`POST /1/receipts/<r>/cancel.json`).
/// The caller holds the check's lock; the receipt is looked up again here,
/// so only that receipt's record changes. A refusal (already acknowledged or
/// expired) drops it; a network failure marks it for `flush` to retry.
pub fn cancel_receipt(ctx: &Ctx, check_id: &str, receipt: &str, keys: &Keys) -> Result<Cancel, String> {
    let started = Instant::now();
    let now = now();
    let current =
        ctx.store.load()?.receipts.get(check_id).and_then(|v| v.iter().find(|r| r.receipt == receipt).cloned());
    let Some(rc) = current else { return Ok(Cancel::NotStored(receipt.to_owned())) };
    let drop_it = |s: &mut State| {
        if let Some(v) = s.receipts.get_mut(check_id) {
            v.retain(|r| r.receipt != receipt);
            if v.is_empty() {
                s.receipts.remove(check_id);
            }
        }
    };
    if rc.expires_at <= now {
        ctx.store.update(drop_it)?;
        return Ok(Cancel::Expired(receipt.to_owned()));
    }
    let path = format!("/1/receipts/{receipt}/cancel.json");
    let (reply, q) = ctx.client.post(&path, &[("token", keys.token.expose_secret())], ctx.client.timeout());
    let result = match &reply {
        Reply::Accepted { .. } => Cancel::Cancelled(receipt.to_owned()),
        Reply::Rejected { errors, .. } => Cancel::Refused { receipt: receipt.to_owned(), errors: errors.clone() },
        Reply::QuotaExhausted { .. } | Reply::Transient { .. } => Cancel::Pending(receipt.to_owned()),
    };
    let pending = matches!(result, Cancel::Pending(_));
    ctx.store.update(|s| {
        s.observe(q, now);
        if pending {
            for r in s.receipts.get_mut(check_id).into_iter().flatten().filter(|r| r.receipt == receipt) {
                r.cancel_pending = true;
            }
        } else {
            drop_it(s);
        }
    })?;
    audit::cancel(ctx, check_id, receipt, &reply, pending, started)?;
    Ok(result)
}
