//! `openclaw-notify status`: what the notifier knows (quota, the 429 hold,
//! windows, the outbox, receipts), gathered from the state without a
//! request and without a secret.

use std::path::Path;

use serde::Serialize;

use crate::api::Quota;
use crate::deliver;
use crate::message::{Priority, ts};
use crate::state::Store;

#[derive(Serialize)]
pub(crate) struct WindowRow {
    pub(crate) check_id: String,
    pub(crate) open: bool,
    pub(crate) last_sent: Option<String>,
    pub(crate) window_ends: Option<String>,
    pub(crate) in_window: bool,
    pub(crate) suppressed: u64,
    pub(crate) suppressed_since: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct QueueRow {
    pub(crate) file: String,
    pub(crate) check_id: String,
    pub(crate) priority: Priority,
    pub(crate) resolved: bool,
    pub(crate) created: String,
}

#[derive(Serialize)]
pub(crate) struct ReceiptRow {
    pub(crate) check_id: String,
    pub(crate) receipt: String,
    pub(crate) sent_at: String,
    pub(crate) expires_at: String,
    pub(crate) cancel_pending: bool,
}

#[derive(Serialize)]
pub(crate) struct StatusReport {
    pub(crate) api_base: String,
    pub(crate) window_secs: u64,
    pub(crate) quota: Option<Quota>,
    pub(crate) quota_observed_at: Option<String>,
    pub(crate) quota_low: bool,
    pub(crate) hold_until: Option<String>,
    pub(crate) windows: Vec<WindowRow>,
    pub(crate) queued: Vec<QueueRow>,
    pub(crate) rejected_in_outbox: usize,
    pub(crate) receipts: Vec<ReceiptRow>,
}

/// Reads the state and the outbox. Unreadable outbox entries are set
/// aside and returned as problems.
pub(crate) fn gather(
    state_dir: &Path,
    api_base: &str,
    window_secs: u64,
) -> Result<(StatusReport, Vec<String>), String> {
    let store = Store::open(state_dir)?;
    let state = store.load()?;
    let (queue, problems) = store.queued()?;
    let now = deliver::now();
    let window = window_secs as i64;
    let quota = state.current_quota(now);
    let rep = StatusReport {
        api_base: api_base.to_owned(),
        window_secs,
        quota,
        quota_observed_at: state.quota.map(|q| ts(q.observed_at)),
        quota_low: quota.is_some_and(|q| q.is_low()),
        hold_until: state.hold_until.filter(|h| *h > now).map(ts),
        windows: state
            .checks
            .iter()
            .map(|(id, c)| WindowRow {
                check_id: id.clone(),
                open: c.open,
                last_sent: c.last_sent.map(ts),
                window_ends: c.last_sent.map(|l| ts(l + window)),
                in_window: c.last_sent.is_some_and(|l| now - l < window),
                suppressed: c.suppressed,
                suppressed_since: c.suppressed_since.map(ts),
            })
            .collect(),
        queued: queue
            .iter()
            .map(|q| QueueRow {
                file: q.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                check_id: q.alert.check_id.clone(),
                priority: q.alert.priority,
                resolved: q.alert.resolved,
                created: ts(q.alert.created),
            })
            .collect(),
        rejected_in_outbox: store.rejected_count(),
        receipts: state
            .receipts
            .iter()
            .flat_map(|(id, v)| v.iter().map(move |r| (id, r)))
            .map(|(id, r)| ReceiptRow {
                check_id: id.clone(),
                receipt: r.receipt.clone(),
                sent_at: ts(r.sent_at),
                expires_at: ts(r.expires_at),
                cancel_pending: r.cancel_pending,
            })
            .collect(),
    };
    Ok((rep, problems))
}
