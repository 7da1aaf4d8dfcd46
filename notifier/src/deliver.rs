//! One alert through the rules: quota hold, per-check window, digest and
//! quota lines, the emergency receipt, bounded retries, the outbox, the
//! audit log. `send` and `flush` both come through [`process`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::audit::{AuditLog, Entry};
use common::secrets::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::json;

use crate::api::{Client, Quota, Reply};
use crate::message::{self, Alert, Priority};
use crate::state::{CheckState, ReceiptState, State, Store};

/// Pushover: retry 5xx and network errors "no sooner than 5 seconds".
pub const FIRST_RETRY: Duration = Duration::from_secs(5);
/// All attempts of one send end within this (the 60 s).
pub const MAX_RETRY_WITHIN: Duration = Duration::from_secs(60);

/// The two keys, resolved; they go into request bodies and nowhere else.
pub struct Keys {
    /// `PUSHOVER_APP_TOKEN`.
    pub token: SecretString,
    /// `PUSHOVER_USER_KEY`.
    pub user: SecretString,
}

/// Everything a delivery needs.
pub struct Ctx {
    /// `<state>/notifier`.
    pub store: Store,
    /// The API client.
    pub client: Client,
    /// Window length in seconds.
    pub window: i64,
    /// Retry budget for a send (flush makes one attempt per message).
    pub retry_within: Duration,
    /// The whole-request timeout.
    pub timeout: Duration,
    /// The shared audit log.
    pub audit: AuditLog,
    /// The audit actor.
    pub actor: String,
    /// The state directory (last-success records for the keys live under it).
    pub state_dir: PathBuf,
}

/// Whether this is a fresh send or an outbox entry being flushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `send`; `dry_run` stops before any request or state change.
    Send {
        /// Preview only.
        dry_run: bool,
    },
    /// `flush`: one attempt; a transient failure leaves the entry queued.
    Flush,
}

/// The documented outcome of one alert (`send`'s JSON body).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `sent`, `rate_limited`, `queued`, `dry_run` or `rejected`.
    pub outcome: &'static str,
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
    pub would: Option<&'static str>,
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
    fn new(alert: &Alert, outcome: &'static str, detail: String) -> Report {
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

    /// Exit status: 0 for everything but `rejected`.
    pub fn is_rejected(&self) -> bool {
        self.outcome == "rejected"
    }
}

fn ts(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t).map(common::time_fmt::rfc3339).unwrap_or_else(|_| t.to_string())
}

/// Unix time now.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The first second of next month (UTC): Pushover's quotas reset on the 1st.
pub fn next_month_start(now: i64) -> i64 {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(now) else { return now + 31 * 86_400 };
    let (y, m) = if t.month() == time::Month::December {
        (t.year() + 1, time::Month::January)
    } else {
        (t.year(), t.month().next())
    };
    time::Date::from_calendar_date(y, m, 1)
        .map(|d| d.midnight().assume_utc().unix_timestamp())
        .unwrap_or(now + 31 * 86_400)
}

/// Runs one alert through the rules. The caller holds the check's lock.
/// `keys` is `None` only for a dry run.
pub fn process(ctx: &Ctx, alert: &Alert, keys: Option<&Keys>, mode: Mode) -> Result<Report, String> {
    let dry_run = mode == Mode::Send { dry_run: true };
    let now = now();
    let state = ctx.store.load()?;
    let check = state.checks.get(&alert.check_id).cloned().unwrap_or_default();
    let quota = state.current_quota(now);

    if let Some(hold) = state.hold_until.filter(|h| *h > now) {
        let mut r = Report::new(
            alert,
            "rejected",
            format!("Pushover's monthly quota is used up (HTTP 429); nothing is sent before {}", ts(hold)),
        );
        r.errors.push(format!("quota exhausted until {}", ts(hold)));
        r.hold_until = Some(ts(hold));
        r.quota = quota;
        return Ok(dry(r, dry_run, "rejected"));
    }

    let receipt = state.receipts.get(&alert.check_id).cloned();
    if alert.resolved && !check.open && receipt.is_none() {
        let r = Report::new(
            alert,
            "rate_limited",
            format!("nothing to resolve: no alert for {} is open (a recovery is sent once)", alert.check_id),
        );
        return Ok(dry(r, dry_run, "rate_limited"));
    }
    // An outbox entry older than a delivery made since is superseded.
    let superseded = mode == Mode::Flush && check.last_sent.is_some_and(|l| l > alert.created);
    let in_window = !alert.resolved && check.last_sent.is_some_and(|l| now - l < ctx.window);
    if superseded || in_window {
        let mut r = Report::new(alert, "rate_limited", String::new());
        let count = check.suppressed + 1;
        let since = check.suppressed_since.unwrap_or(now);
        r.suppressed_since_last = Some(count);
        r.quota = quota;
        if let Some(l) = check.last_sent {
            r.window_ends = Some(ts(l + ctx.window));
        }
        r.detail = if superseded {
            format!("superseded: a newer alert for {} was delivered after this one was queued", alert.check_id)
        } else {
            format!(
                "rate-limited: {} was alerted at {}; one alert per check per {} s; {count} suppressed since {}",
                alert.check_id,
                ts(check.last_sent.unwrap_or(now)),
                ctx.window,
                ts(since)
            )
        };
        if dry_run || (superseded && alert.resolved) {
            return Ok(dry(r, dry_run, "rate_limited"));
        }
        ctx.store.update(|s| {
            let c = s.checks.entry(alert.check_id.clone()).or_default();
            c.suppressed += 1;
            c.suppressed_since.get_or_insert(now);
        })?;
        return Ok(r);
    }

    let mut extra = Vec::new();
    if check.suppressed > 0 {
        extra.push(message::digest_line(&alert.check_id, check.suppressed, check.suppressed_since.unwrap_or(now)));
    }
    if let Some(q) = quota.filter(|q| q.is_low() && alert.priority != Priority::Emergency) {
        extra.push(format!("Pushover quota low: {} of {} messages left until {}", q.remaining, q.limit, ts(q.reset)));
    }
    let fields = message::fields(alert, &extra);
    if dry_run {
        let mut r = Report::new(alert, "dry_run", "dry run: nothing sent, no state changed".into());
        r.preview = Some(fields.iter().cloned().collect());
        r.quota = quota;
        r.suppressed_since_last = (check.suppressed > 0).then_some(check.suppressed);
        return Ok(dry(r, true, "send"));
    }
    let keys = keys.ok_or("internal: keys were not resolved")?;
    let started = Instant::now();
    let mut r = Report::new(alert, "sent", String::new());

    if alert.resolved
        && let Some(rc) = receipt
    {
        r.cancel = Some(cancel_receipt(ctx, &alert.check_id, &rc, keys, now)?);
    }

    let mut form: Vec<(&str, &str)> = vec![("token", keys.token.expose_secret()), ("user", keys.user.expose_secret())];
    form.extend(fields.iter().map(|(k, v)| (*k, v.as_str())));
    let within = if mode == Mode::Flush { Duration::ZERO } else { ctx.retry_within.min(MAX_RETRY_WITHIN) };
    let mut attempts: Vec<(u32, Option<u16>, &'static str)> = Vec::new();
    let mut delay = FIRST_RETRY;
    let (reply, last_quota) = loop {
        let spent = started.elapsed();
        let timeout = if attempts.is_empty() { ctx.timeout } else { ctx.timeout.min(within.saturating_sub(spent)) };
        let (reply, q) = ctx.client.post("/1/messages.json", &form, timeout);
        let n = attempts.len() as u32 + 1;
        attempts.push((n, reply.status(), reply_word(&reply)));
        ctx.store.update(|s| s.observe(q, now))?;
        let next_at = started.elapsed() + delay;
        // Only 5xx and network failures are retried, and only while a retry
        // can start and get at least a second before the budget ends.
        if matches!(reply, Reply::Transient { .. }) && next_at + Duration::from_secs(1) <= within {
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_secs(20));
            continue;
        }
        break (reply, q);
    };
    r.attempts = attempts.len() as u32;
    r.http_status = reply.status();
    let state_now = ctx.store.load()?;
    r.quota = state_now.current_quota(now).or(last_quota);

    match reply {
        Reply::Accepted { request, receipt } => {
            r.request = request;
            r.suppressed_since_last = (check.suppressed > 0).then_some(check.suppressed);
            let emergency_receipt = receipt.filter(|_| alert.priority == Priority::Emergency);
            r.receipt = emergency_receipt.clone();
            ctx.store.update(|s: &mut State| {
                s.checks.insert(
                    alert.check_id.clone(),
                    CheckState {
                        last_sent: (!alert.resolved).then_some(now),
                        open: !alert.resolved,
                        suppressed: 0,
                        suppressed_since: None,
                    },
                );
                if let Some(rc) = &emergency_receipt {
                    s.receipts.insert(
                        alert.check_id.clone(),
                        ReceiptState {
                            receipt: rc.clone(),
                            sent_at: now,
                            expires_at: now + i64::from(alert.expire),
                            cancel_pending: false,
                        },
                    );
                }
            })?;
            r.detail = if alert.resolved {
                format!("sent the recovery message for {}; its window is closed", alert.check_id)
            } else {
                format!("sent {} alert for {}", alert.priority.name(), alert.check_id)
            };
            if let Some(w) = record_key_success(&ctx.state_dir, keys) {
                r.warnings.push(w);
            }
            if alert.priority == Priority::Emergency && r.receipt.is_none() {
                r.warnings.push("the API returned no usable receipt; --resolved cannot cancel this emergency".into());
            }
            if let Some(q) = r.quota.filter(|q| q.is_low()) {
                r.warnings.push(format!(
                    "Pushover quota low: {} of {} left until {}",
                    q.remaining,
                    q.limit,
                    ts(q.reset)
                ));
            }
        }
        Reply::QuotaExhausted { request, reset } => {
            let hold = reset.filter(|t| *t > now).or(quota.map(|q| q.reset)).unwrap_or_else(|| next_month_start(now));
            ctx.store.update(|s| s.hold_until = Some(hold))?;
            r.outcome = "rejected";
            r.request = request;
            r.hold_until = Some(ts(hold));
            r.errors.push(format!("HTTP 429: the monthly message quota is used up until {}", ts(hold)));
            r.detail = format!("Pushover's monthly quota is used up; every send is held until {}", ts(hold));
        }
        Reply::Rejected { status, request, errors } => {
            r.outcome = "rejected";
            r.request = request;
            r.detail = format!("the API refused the message (HTTP {status}); repeating it will not help");
            r.errors = errors;
        }
        Reply::Transient { reason, .. } => {
            r.outcome = "queued";
            r.detail = match mode {
                Mode::Flush => format!("still undeliverable ({reason}); it stays in the outbox"),
                Mode::Send { .. } => {
                    let path = ctx.store.enqueue(alert)?;
                    let text = format!(
                        "delivery failed after {} attempt(s) ({reason}); queued in the outbox for openclaw-notify flush",
                        attempts.len()
                    );
                    r.outbox = Some(path);
                    text
                }
            };
        }
    }
    for (n, status, word) in attempts {
        let action = format!(
            "notify.deliver check={} priority={} outcome={word} http={} attempt={n}",
            alert.check_id,
            alert.priority.name(),
            status.map_or_else(|| "none".to_owned(), |s| s.to_string())
        );
        let params = json!({"check_id": alert.check_id, "priority": alert.priority.name(), "resolved": alert.resolved,
                            "attempt": n, "http_status": status, "outcome": word});
        audit(ctx, &action, &params, if word == "delivered" { 0 } else { 1 }, started)?;
    }
    Ok(r)
}

/// Records that both keys just worked (`openclaw-keyctl status` shows it).
/// A failure is a warning: the alert itself was delivered.
pub fn record_key_success(state_dir: &std::path::Path, keys: &Keys) -> Option<String> {
    let res = (|| -> Result<(), String> {
        let salt = common::secrets::host_salt(state_dir).map_err(|e| e.to_string())?;
        for (name, value) in [("PUSHOVER_APP_TOKEN", &keys.token), ("PUSHOVER_USER_KEY", &keys.user)] {
            common::secrets::record_success(state_dir, name, &common::secrets::key_id(value, &salt))
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    })();
    res.err().map(|e| format!("could not record the keys' last success: {e}"))
}

fn dry(mut r: Report, dry_run: bool, would: &'static str) -> Report {
    if dry_run {
        r.would = Some(would);
        r.detail = format!("dry run: would be {would}: {}", r.detail);
        r.outcome = "dry_run";
    }
    r
}

fn reply_word(reply: &Reply) -> &'static str {
    match reply {
        Reply::Accepted { .. } => "delivered",
        Reply::QuotaExhausted { .. } => "quota_exhausted",
        Reply::Rejected { .. } => "rejected",
        Reply::Transient { .. } => "transient",
    }
}

fn audit(ctx: &Ctx, action: &str, params: &serde_json::Value, exit_code: i32, started: Instant) -> Result<(), String> {
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

/// Cancels a check's emergency receipt (`POST /1/receipts/<r>/cancel.json`).
/// A refusal (already acknowledged or expired) drops it; a network failure
/// marks it for `flush` to retry. Returns what happened.
pub fn cancel_receipt(ctx: &Ctx, check_id: &str, rc: &ReceiptState, keys: &Keys, now: i64) -> Result<String, String> {
    let started = Instant::now();
    if rc.expires_at <= now {
        ctx.store.update(|s| s.receipts.remove(check_id))?;
        return Ok(format!("receipt {} had already expired", rc.receipt));
    }
    let path = format!("/1/receipts/{}/cancel.json", rc.receipt);
    let (reply, q) = ctx.client.post(&path, &[("token", keys.token.expose_secret())], ctx.timeout);
    let word = reply_word(&reply);
    let text = match &reply {
        Reply::Accepted { .. } => format!("cancelled emergency receipt {}", rc.receipt),
        Reply::Rejected { errors, .. } => {
            format!("receipt {} not cancelled ({}); dropped", rc.receipt, errors.join("; "))
        }
        Reply::QuotaExhausted { .. } | Reply::Transient { .. } => {
            format!("receipt {} not cancelled yet; openclaw-notify flush retries", rc.receipt)
        }
    };
    let pending = matches!(reply, Reply::QuotaExhausted { .. } | Reply::Transient { .. });
    ctx.store.update(|s| {
        s.observe(q, now);
        if pending {
            if let Some(r) = s.receipts.get_mut(check_id) {
                r.cancel_pending = true;
            }
        } else {
            s.receipts.remove(check_id);
        }
    })?;
    let action = format!(
        "notify.cancel check={check_id} outcome={word} http={}",
        reply.status().map_or_else(|| "none".to_owned(), |s| s.to_string())
    );
    audit(
        ctx,
        &action,
        &json!({"check_id": check_id, "receipt": rc.receipt, "outcome": word}),
        i32::from(pending),
        started,
    )?;
    Ok(text)
}
