//! What one alert came to: the outcome enums and the report `send` prints
//! (and `flush` lists). The JSON words are a documented interface
//! (docs/notifier.md): each enum serialises to exactly those strings.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::api::Quota;
use crate::message::{Alert, Priority};

/// The outcome of one alert, `outcome` in the JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Pushover accepted it.
    Sent,
    /// Deliberately not sent (inside the window, stale, or nothing to resolve).
    RateLimited,
    /// Transient failure: it waits in the outbox for `flush`.
    Queued,
    /// `--dry-run`: nothing sent, nothing changed.
    DryRun,
    /// Refused by the API, or held by an exhausted quota.
    Rejected,
}

impl Outcome {
    /// The word people read: the JSON word with `-` for `_`.
    pub fn human(self) -> &'static str {
        match self {
            Outcome::Sent => "sent",
            Outcome::RateLimited => "rate-limited",
            Outcome::Queued => "queued",
            Outcome::DryRun => "dry-run",
            Outcome::Rejected => "rejected",
        }
    }
}

/// What a dry run would have done, `would` in the JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Would {
    /// It would be sent.
    Send,
    /// It would be suppressed.
    RateLimited,
    /// It would be refused (the quota hold).
    Rejected,
}

impl Would {
    /// The JSON word.
    pub fn word(self) -> &'static str {
        match self {
            Would::Send => "send",
            Would::RateLimited => "rate_limited",
            Would::Rejected => "rejected",
        }
    }

    /// The same, for a sentence.
    pub fn human(self) -> &'static str {
        match self {
            Would::Send => "would send",
            Would::RateLimited => "would be rate-limited",
            Would::Rejected => "would be refused",
        }
    }
}

/// What happened to one emergency receipt when its check recovered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cancel {
    /// Pushover cancelled it.
    Cancelled(String),
    /// Another process already dealt with it.
    NotStored(String),
    /// It had expired by itself; dropped without a request.
    Expired(String),
    /// The API refused (already acknowledged or expired); dropped.
    Refused {
        /// The receipt.
        receipt: String,
        /// The API's `errors[]`.
        errors: Vec<String>,
    },
    /// The request failed (network, 5xx, quota); `flush` retries it.
    Pending(String),
}

impl Cancel {
    /// One sentence for people (and the `cancel` field).
    pub fn text(&self) -> String {
        match self {
            Cancel::Cancelled(r) => format!("cancelled emergency receipt {r}"),
            Cancel::NotStored(r) => format!("receipt {r} is no longer stored"),
            Cancel::Expired(r) => format!("receipt {r} had already expired"),
            Cancel::Refused { receipt, errors } => {
                format!("receipt {receipt} not cancelled ({}); dropped", errors.join("; "))
            }
            Cancel::Pending(r) => format!("receipt {r} not cancelled yet; openclaw-notify flush retries"),
        }
    }
}

/// What `openclaw-notify test` found, `outcome` in its JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyCheck {
    /// Pushover accepted both keys.
    Valid,
    /// Pushover refused them.
    Invalid,
    /// The monthly quota is used up.
    QuotaExhausted,
    /// Pushover could not be reached.
    Unknown,
    /// `--dry-run`: both keys present and well-formed; nothing sent.
    DryRun,
}

impl KeyCheck {
    /// The JSON word, also shown to people.
    pub fn word(self) -> &'static str {
        match self {
            KeyCheck::Valid => "valid",
            KeyCheck::Invalid => "invalid",
            KeyCheck::QuotaExhausted => "quota_exhausted",
            KeyCheck::Unknown => "unknown",
            KeyCheck::DryRun => "dry_run",
        }
    }
}

/// `openclaw-notify test`'s report.
#[derive(Debug, Clone, Serialize)]
pub struct KeyTest {
    /// What was found.
    pub outcome: KeyCheck,
    /// Each key's name with its masked fingerprint and source.
    pub keys: Vec<(String, String)>,
    /// HTTP status of the validation request.
    pub http_status: Option<u16>,
    /// The API's `errors[]`.
    pub errors: Vec<String>,
    /// One sentence for people.
    pub detail: String,
}

/// The documented outcome of one alert (`send`'s JSON body).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// What happened.
    pub outcome: Outcome,
    /// The check.
    pub check_id: String,
    /// The API's request id of the delivering response.
    pub request: Option<String>,
    /// The emergency receipt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt: Option<String>,
    /// Sent: how many suppressed alerts the digest line reported.
    /// Rate-limited: how many are suppressed in this window so far, this one included.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppressed_since_last: Option<u64>,
    /// The latest quota reading.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota: Option<Quota>,
    /// Priority.
    pub priority: Priority,
    /// A recovery message.
    pub resolved: bool,
    /// One sentence for people.
    pub detail: String,
    /// The API's `errors[]` (rejected).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    /// HTTP status of the last attempt.
    pub http_status: Option<u16>,
    /// Requests made for the message.
    pub attempts: u32,
    /// Rate-limited: when the window ends (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_ends: Option<String>,
    /// Quota hold: when sending resumes (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold_until: Option<String>,
    /// Queued: the outbox file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outbox: Option<PathBuf>,
    /// Dry run: what would happen (`send`, `rate_limited`, `rejected`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub would: Option<Would>,
    /// Dry run: the fields that would be sent (without `token` and `user`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview: Option<BTreeMap<&'static str, String>>,
    /// `--resolved`: what happened to the check's emergency receipt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancel: Option<String>,
    /// Things the operator should know (low quota, bookkeeping failures).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl Report {
    pub(crate) fn new(alert: &Alert, outcome: Outcome, detail: String) -> Report {
        Report {
            outcome,
            check_id: alert.check_id.clone(),
            request: None,
            receipt: None,
            suppressed_since_last: None,
            quota: None,
            priority: alert.priority,
            resolved: alert.resolved,
            detail,
            errors: Vec::new(),
            http_status: None,
            attempts: 0,
            window_ends: None,
            hold_until: None,
            outbox: None,
            would: None,
            preview: None,
            cancel: None,
            warnings: Vec::new(),
        }
    }
}

/// Turns a report into a dry run's: `would` says what the real run would do.
pub(crate) fn dry(mut r: Report, dry_run: bool, would: Would) -> Report {
    if dry_run {
        r.would = Some(would);
        r.detail = format!("{}: {}", would.human(), r.detail);
        r.outcome = Outcome::DryRun;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_serialise_to_the_documented_words() {
        let words = |v: serde_json::Value| v.as_str().unwrap().to_owned();
        let all = [Outcome::Sent, Outcome::RateLimited, Outcome::Queued, Outcome::DryRun, Outcome::Rejected];
        let json: Vec<String> = all.iter().map(|o| words(serde_json::to_value(o).unwrap())).collect();
        assert_eq!(json, ["sent", "rate_limited", "queued", "dry_run", "rejected"]);
        for o in all {
            assert_eq!(o.human(), words(serde_json::to_value(o).unwrap()).replace('_', "-"));
        }
        for w in [Would::Send, Would::RateLimited, Would::Rejected] {
            assert_eq!(words(serde_json::to_value(w).unwrap()), w.word());
        }
        for k in [KeyCheck::Valid, KeyCheck::Invalid, KeyCheck::QuotaExhausted, KeyCheck::Unknown, KeyCheck::DryRun] {
            assert_eq!(words(serde_json::to_value(k).unwrap()), k.word());
        }
    }
}
