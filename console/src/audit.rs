//! The console's audit records, in the shared hash-chained log
//! (`common::audit`). Every request that reaches action resolution is
//! recorded before it is answered; a run is recorded before its child
//! starts (`console.start`) and when it ends (`console.finish`). The
//! record's fixed fields carry the actor (the token's key id), the exit
//! code and the duration; the request id, action id, checked parameters,
//! Origin, lock outcome and run id are the hashed parameters, kept in the
//! run's `result.json` or recomputable from the request (docs/console.md).

use common::audit::{AuditError, AuditLog, Entry, Record};
use serde_json::{Value, json};

/// What a record says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Refused at action resolution (unknown action, bad params).
    Refuse,
    /// Refused because the action's lock is held or too many runs are going.
    Busy,
    /// About to start a child.
    Start,
    /// A child ended (exit code -1: timed out, killed or not started).
    Finish,
}

impl Kind {
    /// The audit action name.
    pub(crate) fn action(self) -> &'static str {
        match self {
            Kind::Refuse => "console.refuse",
            Kind::Busy => "console.busy",
            Kind::Start => "console.start",
            Kind::Finish => "console.finish",
        }
    }
}

/// The hashed parameters of one record.
#[derive(Debug, Clone)]
pub(crate) struct Facts<'a> {
    /// The request id (also in the response and its `X-Request-Id`).
    pub(crate) request_id: &'a str,
    /// The action id as asked for (unknown ones included).
    pub(crate) action: &'a str,
    /// The checked parameters (empty when they were refused).
    pub(crate) params: &'a Value,
    /// The Origin header, if any.
    pub(crate) origin: Option<&'a str>,
    /// `acquired`, `not_needed`, `busy`, or `none` before the lock.
    pub(crate) lock: &'a str,
    /// The run id, when a run exists.
    pub(crate) run_id: Option<&'a str>,
    /// The refusal's error class, if refused.
    pub(crate) error_class: Option<&'a str>,
}

impl Facts<'_> {
    /// The parameters object whose canonical JSON is hashed.
    pub(crate) fn to_value(&self) -> Value {
        json!({
            "request_id": self.request_id,
            "action": self.action,
            "params": self.params,
            "origin": self.origin,
            "lock": self.lock,
            "run_id": self.run_id,
            "error_class": self.error_class,
        })
    }
}

/// Appends one record. Blocking (file lock and fsync): call it off the reactor.
pub(crate) fn append(
    log: &AuditLog,
    kind: Kind,
    actor: &str,
    facts: &Facts<'_>,
    exit_code: i32,
    duration_ms: u64,
) -> Result<Record, AuditError> {
    let params = facts.to_value();
    log.append(&Entry { tool: crate::TOOL, actor, action: kind.action(), params: &params, exit_code, duration_ms })
}
