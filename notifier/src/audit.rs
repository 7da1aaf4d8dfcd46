//! The notifier's audit records (docs/audit-log.md, docs/notifier.md
//! "Audit"): one per delivery attempt and one per receipt cancel, appended
//! through `common::audit` as each happens.

use std::time::Instant;

use common::audit::Entry;
use serde::Serialize;
use serde_json::json;

use crate::api::Reply;
use crate::deliver::{Ctx, Mode};
use crate::message::Alert;

/// What one request came to, as the audit log records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Attempt {
    /// 2xx with `"status":1`.
    Delivered,
    /// Refused for good.
    Rejected,
    /// HTTP 429.
    QuotaExhausted,
    /// 5xx or a network failure.
    Transient,
}

impl Attempt {
    /// Classifies a reply.
    pub(crate) fn of(reply: &Reply) -> Attempt {
        match reply {
            Reply::Accepted { .. } => Attempt::Delivered,
            Reply::QuotaExhausted { .. } => Attempt::QuotaExhausted,
            Reply::Rejected { .. } => Attempt::Rejected,
            Reply::Transient { .. } => Attempt::Transient,
        }
    }

    fn word(self) -> &'static str {
        match self {
            Attempt::Delivered => "delivered",
            Attempt::Rejected => "rejected",
            Attempt::QuotaExhausted => "quota_exhausted",
            Attempt::Transient => "transient",
        }
    }
}

fn http(reply: &Reply) -> String {
    reply.status().map_or_else(|| "none".to_owned(), |s| s.to_string())
}

/// Records one attempt at delivering `alert`.
pub(crate) fn attempt(
    ctx: &Ctx,
    _mode: Mode,
    alert: &Alert,
    attempt: u32,
    reply: &Reply,
    started: Instant,
) -> Result<(), String> {
    let outcome = Attempt::of(reply);
    let action = format!(
        "notify.deliver check={} priority={} outcome={} http={} attempt={attempt}",
        alert.check_id,
        alert.priority.name(),
        outcome.word(),
        http(reply)
    );
    let params = json!({"check_id": alert.check_id, "priority": alert.priority.name(), "resolved": alert.resolved,
                        "attempt": attempt, "http_status": reply.status(), "outcome": outcome});
    append(ctx, &action, &params, i32::from(outcome != Attempt::Delivered), started)
}

/// Records one receipt cancel.
pub(crate) fn cancel(
    ctx: &Ctx,
    check_id: &str,
    receipt: &str,
    reply: &Reply,
    pending: bool,
    started: Instant,
) -> Result<(), String> {
    let outcome = Attempt::of(reply);
    let action = format!("notify.cancel check={check_id} outcome={} http={}", outcome.word(), http(reply));
    let params = json!({"check_id": check_id, "receipt": receipt, "outcome": outcome});
    append(ctx, &action, &params, i32::from(pending), started)
}

fn append(ctx: &Ctx, action: &str, params: &serde_json::Value, exit_code: i32, started: Instant) -> Result<(), String> {
    ctx.audit
        .append(&Entry {
            tool: crate::TOOL,
            actor: &ctx.actor,
            action,
            params,
            exit_code,
            duration_ms: started.elapsed().as_millis() as u64,
        })
        .map(|_| ())
        .map_err(|e| format!("audit log: {e} (the delivery outcome is saved in the notifier state but is not audited)"))
}
