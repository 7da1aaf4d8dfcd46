//! One alert through the rules: quota hold, per-check window, digest and
//! quota lines, the emergency receipt, bounded retries, the outbox, the
//! audit log. `send` and `flush` both come through [`process`].

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::audit::{AuditLog, Entry};
use common::secrets::{ExposeSecret, SecretString};
use serde_json::json;

use crate::api::{Client, Reply};
use crate::message::{self, Alert, Priority};
use crate::report::{Cancel, Outcome, Report, Would, dry};
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

/// RFC 3339 for a Unix time (the raw number if out of range).
pub(crate) fn ts(t: i64) -> String {
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

/// A `last_sent` this far in the future (a clock jump backwards) no longer
/// holds a window shut.
const CLOCK_SLACK: i64 = 300;
/// A 429's `X-Limit-App-Reset` is trusted up to a day past the next month's
/// start (quotas reset monthly); a later one is clamped, so a broken proxy
/// cannot silence every alert for years.
const MAX_HOLD_PAST_MONTH: i64 = 86_400;

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
            Outcome::Rejected,
            format!("Pushover's monthly quota is used up (HTTP 429); nothing is sent before {}", ts(hold)),
        );
        r.errors.push(format!("quota exhausted until {}", ts(hold)));
        r.hold_until = Some(ts(hold));
        r.quota = quota;
        return Ok(dry(r, dry_run, Would::Rejected));
    }

    let receipts = state.receipts.get(&alert.check_id).cloned().unwrap_or_default();
    if alert.resolved && !check.open {
        // Nothing to announce. Older queued alerts for the check are now stale,
        // and an emergency whose cancel failed earlier is retried, silently.
        let mut r = Report::new(
            alert,
            Outcome::RateLimited,
            format!("nothing to resolve: no alert for {} is open (a recovery is sent once)", alert.check_id),
        );
        if dry_run {
            return Ok(dry(r, true, Would::RateLimited));
        }
        ctx.store.update(|s| {
            let c = s.checks.entry(alert.check_id.clone()).or_default();
            c.resolved_at = c.resolved_at.max(Some(alert.created));
        })?;
        if let Some(keys) = keys {
            let texts = cancel_all(ctx, &alert.check_id, &receipts, keys)?;
            r.cancel = (!texts.is_empty()).then(|| texts.iter().map(Cancel::text).collect::<Vec<_>>().join("; "));
        }
        return Ok(r);
    }
    // In the flush, an entry raised before a later delivery or recovery of its check is stale.
    let superseded = mode == Mode::Flush
        && (check.last_sent.is_some_and(|l| l > alert.created)
            || check.resolved_at.is_some_and(|t| t >= alert.created));
    let in_window = !alert.resolved && check.last_sent.is_some_and(|l| now - l < ctx.window && l <= now + CLOCK_SLACK);
    if superseded || in_window {
        let mut r = Report::new(alert, Outcome::RateLimited, String::new());
        let count = check.suppressed + 1;
        let since = check.suppressed_since.unwrap_or(now);
        r.suppressed_since_last = Some(count);
        r.quota = quota;
        if let Some(l) = check.last_sent {
            r.window_ends = Some(ts(l + ctx.window));
        }
        r.detail = if superseded {
            format!("superseded: {} was alerted or resolved after this alert was queued", alert.check_id)
        } else {
            format!(
                "rate-limited: {} was alerted at {}; one alert per check per {} s; {count} suppressed since {}",
                alert.check_id,
                ts(check.last_sent.unwrap_or(now)),
                ctx.window,
                ts(since)
            )
        };
        // A stale recovery, or an alert older than the check's recovery, is not counted.
        let counted = !alert.resolved && check.resolved_at.is_none_or(|t| t < alert.created);
        if dry_run || !counted {
            return Ok(dry(r, dry_run, Would::RateLimited));
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
        let mut r = Report::new(alert, Outcome::DryRun, "dry run: nothing sent, no state changed".into());
        r.preview = Some(fields.iter().cloned().collect());
        r.quota = quota;
        r.suppressed_since_last = (check.suppressed > 0).then_some(check.suppressed);
        return Ok(dry(r, true, Would::Send));
    }
    let keys = keys.ok_or("internal: keys were not resolved")?;
    let started = Instant::now();
    let mut r = Report::new(alert, Outcome::Sent, String::new());
    let mut audit_errors = Vec::new();

    if alert.resolved {
        let texts = cancel_all(ctx, &alert.check_id, &receipts, keys)?;
        r.cancel = (!texts.is_empty()).then(|| texts.iter().map(Cancel::text).collect::<Vec<_>>().join("; "));
    }

    let mut form: Vec<(&str, &str)> = vec![("token", keys.token.expose_secret()), ("user", keys.user.expose_secret())];
    form.extend(fields.iter().map(|(k, v)| (*k, v.as_str())));
    let within = if mode == Mode::Flush { Duration::ZERO } else { ctx.retry_within.min(MAX_RETRY_WITHIN) };
    let mut delay = FIRST_RETRY;
    let mut attempts = 0u32;
    // The latest quota reading: this run's responses, else the stored one.
    let mut seen = quota;
    let reply = loop {
        let spent = started.elapsed();
        let full = ctx.client.timeout();
        let timeout = if attempts == 0 { full } else { full.min(within.saturating_sub(spent)) };
        let (reply, q) = ctx.client.post("/1/messages.json", &form, timeout);
        attempts += 1;
        seen = q.or(seen);
        // Bookkeeping never stops the delivery logic: the quota reading is best-effort,
        // and an audit failure is reported once the outcome is safe in the state.
        if let Err(e) = ctx.store.update(|s| s.observe(q, self::now())) {
            r.warnings.push(format!("could not record the quota reading: {e}"));
        }
        let word = reply_word(&reply);
        let status = reply.status();
        let action = format!(
            "notify.deliver check={} priority={} outcome={word} http={} attempt={attempts}",
            alert.check_id,
            alert.priority.name(),
            status.map_or_else(|| "none".to_owned(), |s| s.to_string())
        );
        let params = json!({"check_id": alert.check_id, "priority": alert.priority.name(), "resolved": alert.resolved,
                            "attempt": attempts, "http_status": status, "outcome": word});
        if let Err(e) = audit(ctx, &action, &params, i32::from(word != "delivered"), started) {
            audit_errors.push(e);
        }
        let next_at = started.elapsed() + delay;
        // Only 5xx and network failures are retried, and only while a retry
        // can start and get at least a second before the budget ends.
        if matches!(reply, Reply::Transient { .. }) && next_at + Duration::from_secs(1) <= within {
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_secs(20));
            continue;
        }
        break reply;
    };
    let done = self::now();
    r.attempts = attempts;
    r.http_status = reply.status();
    r.quota = seen;

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
                        last_sent: (!alert.resolved).then_some(done),
                        open: !alert.resolved,
                        suppressed: 0,
                        suppressed_since: None,
                        // The recovery happened when it was raised (a queued one earlier than
                        // its delivery); alerts raised after that are new failures.
                        resolved_at: if alert.resolved {
                            check.resolved_at.max(Some(alert.created))
                        } else {
                            check.resolved_at
                        },
                    },
                );
                if let Some(rc) = &emergency_receipt {
                    s.receipts.entry(alert.check_id.clone()).or_default().push(ReceiptState {
                        receipt: rc.clone(),
                        sent_at: done,
                        expires_at: done + i64::from(alert.expire),
                        cancel_pending: false,
                    });
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
            let latest = next_month_start(done) + MAX_HOLD_PAST_MONTH;
            let wanted =
                reset.filter(|t| *t > done).or(quota.map(|q| q.reset)).unwrap_or_else(|| next_month_start(done));
            if wanted > latest {
                r.warnings.push(format!(
                    "the API's reset time {} is past any monthly reset; holding only until {}",
                    ts(wanted),
                    ts(latest)
                ));
            }
            let hold = wanted.min(latest);
            ctx.store.update(|s| s.hold_until = Some(hold))?;
            r.outcome = Outcome::Rejected;
            r.request = request;
            r.hold_until = Some(ts(hold));
            r.errors.push(format!("HTTP 429: the monthly message quota is used up until {}", ts(hold)));
            r.detail = format!("Pushover's monthly quota is used up; every send is held until {}", ts(hold));
        }
        Reply::Rejected { status, request, errors } => {
            r.outcome = Outcome::Rejected;
            r.request = request;
            r.detail = format!("the API refused the message (HTTP {status}); repeating it will not help");
            r.errors = errors;
        }
        Reply::Transient { reason, .. } => {
            r.outcome = Outcome::Queued;
            r.detail = match mode {
                Mode::Flush => format!("still undeliverable ({reason}); it stays in the outbox"),
                Mode::Send { .. } => {
                    let path = ctx.store.enqueue(alert)?;
                    let text = format!(
                        "delivery failed after {attempts} attempt(s) ({reason}); queued in the outbox for openclaw-notify flush"
                    );
                    r.outbox = Some(path);
                    text
                }
            };
        }
    }
    if let Some(e) = audit_errors.into_iter().next() {
        return Err(format!("{e} [outcome: {}]", r.outcome.human()));
    }
    Ok(r)
}

/// Cancels every unexpired receipt of a check; returns what happened to each.
pub fn cancel_all(ctx: &Ctx, check_id: &str, receipts: &[ReceiptState], keys: &Keys) -> Result<Vec<Cancel>, String> {
    receipts.iter().map(|rc| cancel_receipt(ctx, check_id, &rc.receipt, keys)).collect()
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
    let word = reply_word(&reply);
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
    let action = format!(
        "notify.cancel check={check_id} outcome={word} http={}",
        reply.status().map_or_else(|| "none".to_owned(), |s| s.to_string())
    );
    audit(
        ctx,
        &action,
        &json!({"check_id": check_id, "receipt": receipt, "outcome": word}),
        i32::from(pending),
        started,
    )?;
    Ok(result)
}
