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
}

/// The fixed action names (docs/notifier.md "Audit"). Everything else
/// about the action (the check, the alert's text, the outcome) goes only
/// into the hashed parameters, never into the stored record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// One attempt by `send` to deliver an alert.
    Send,
    /// One attempt by `flush` to deliver an outbox entry.
    Flush,
    /// One request to cancel an emergency receipt.
    Cancel,
}

impl Action {
    /// The stored `action`: a fixed `noun.verb`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Action::Send => "notify.send",
            Action::Flush => "notify.flush",
            Action::Cancel => "notify.cancel",
        }
    }
}

/// Records one attempt at delivering `alert`. The parameters are the
/// alert exactly as the outbox stores it, the attempt number, the HTTP
/// status and the outcome; only their hash is stored.
pub(crate) fn attempt(
    ctx: &Ctx,
    mode: Mode,
    alert: &Alert,
    attempt: u32,
    reply: &Reply,
    started: Instant,
) -> Result<(), String> {
    let outcome = Attempt::of(reply);
    let action = match mode {
        Mode::Send { .. } => Action::Send,
        Mode::Flush => Action::Flush,
    };
    let params = json!({"alert": alert, "attempt": attempt, "http_status": reply.status(), "outcome": outcome});
    append(ctx, action, &params, i32::from(outcome != Attempt::Delivered), started)
}

/// Records one receipt cancel (the check and the receipt only in the hash).
pub(crate) fn cancel(
    ctx: &Ctx,
    check_id: &str,
    receipt: &str,
    reply: &Reply,
    pending: bool,
    started: Instant,
) -> Result<(), String> {
    let params = json!({"check_id": check_id, "receipt": receipt, "http_status": reply.status(),
                        "outcome": Attempt::of(reply)});
    append(ctx, Action::Cancel, &params, i32::from(pending), started)
}

fn append(
    ctx: &Ctx,
    action: Action,
    params: &serde_json::Value,
    exit_code: i32,
    started: Instant,
) -> Result<(), String> {
    ctx.audit
        .append(&Entry {
            tool: crate::TOOL,
            actor: &ctx.actor,
            action: action.name(),
            params,
            exit_code,
            duration_ms: started.elapsed().as_millis() as u64,
        })
        .map(|_| ())
        .map_err(|e| format!("audit log: {e} (the delivery outcome is saved in the notifier state but is not audited)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape `common::audit` requires of an action (`noun.verb`), from its one validator.
    fn is_noun_verb(name: &str) -> bool {
        common::audit::validate_action(name).is_ok()
    }

    #[test]
    fn action_names_are_fixed_noun_verb_names() {
        let names: Vec<&str> = [Action::Send, Action::Flush, Action::Cancel].iter().map(|a| a.name()).collect();
        assert_eq!(names, ["notify.send", "notify.flush", "notify.cancel"]);
        assert!(names.iter().all(|n| is_noun_verb(n)));
        for bad in ["notify", "Notify.send", "notify.send check=x", "notify..send", ".send", "notify.1send"] {
            assert!(!is_noun_verb(bad), "{bad}");
        }
    }

    #[test]
    fn attempt_outcomes_serialise_to_their_words() {
        let word = |a: Attempt| serde_json::to_value(a).unwrap();
        assert_eq!(word(Attempt::Delivered), "delivered");
        assert_eq!(word(Attempt::QuotaExhausted), "quota_exhausted");
        assert_eq!(word(Attempt::Rejected), "rejected");
        assert_eq!(word(Attempt::Transient), "transient");
    }
}
