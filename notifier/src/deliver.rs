//! Carries out one alert: reads the state, asks the pure planner
//! ([`crate::plan`]) what to do, then makes the requests (bounded retries),
//! saves the outcome and audits every attempt. `send` and `flush` both come
//! through [`process`].

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::audit::AuditLog;
use common::secrets::{ExposeSecret, SecretString};

use crate::api::{Client, Quota, Reply};
use crate::audit;
use crate::journal;
use crate::message::{self, Alert, Priority, ts};
use crate::plan::{self, Delivery, Plan, Reason, Suppression};
use crate::receipts;
use crate::report::{Cancel, Outcome, Report, Would, dry};
use crate::state::{ReceiptState, State, Store};

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

/// Unix time now.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Runs one alert through the rules. The caller holds the check's lock
/// and, unless this is a dry run, the lock of the alert's outbox `entry`,
/// which is settled here once the outcome is saved: removed when the alert
/// was delivered, suppressed or (by `send`) refused, set aside to
/// `outbox/rejected/` when `flush` had it refused, kept while it is still
/// undeliverable or held by the quota (in `flush`). `keys` is `None` only
/// for a dry run.
pub fn process(
    ctx: &Ctx,
    alert: &Alert,
    keys: Option<&Keys>,
    mode: Mode,
    entry: Option<&Path>,
) -> Result<Report, String> {
    let dry_run = mode == Mode::Send { dry_run: true };
    let now = now();
    let state = ctx.store.load()?;
    let settings = plan::Settings { window: ctx.window, flush: mode == Mode::Flush };
    let (mut r, deferred) = match plan::plan(&state, alert, now, settings) {
        Plan::Held { until, quota } => {
            let mut r = Report::new(
                alert,
                Outcome::Rejected,
                format!("Pushover's monthly quota is used up (HTTP 429); nothing is sent before {}", ts(until)),
            );
            r.errors.push(format!("quota exhausted until {}", ts(until)));
            r.hold_until = Some(ts(until));
            r.quota = quota;
            (dry(r, dry_run, Would::Rejected), None)
        }
        Plan::NothingToResolve { receipts } => (nothing_to_resolve(ctx, alert, &receipts, keys, dry_run)?, None),
        Plan::Suppress(s) => (suppress(ctx, alert, &s, dry_run, now)?, None),
        Plan::Deliver(d) => deliver(ctx, alert, d, keys, mode, entry)?,
    };
    if !dry_run {
        settle(ctx, alert, &mut r, mode, entry)?;
    }
    // Reported only now: a delivered alert's entry must be removed first,
    // or a later flush would deliver it again.
    if let Some(e) = deferred {
        return Err(format!("{e} [outcome: {}]", r.outcome.human()));
    }
    Ok(r)
}

/// Settles the alert's outbox entry by its outcome (see [`process`]).
fn settle(ctx: &Ctx, alert: &Alert, r: &mut Report, mode: Mode, entry: Option<&Path>) -> Result<(), String> {
    match (r.outcome, mode, entry) {
        (Outcome::Queued, Mode::Send { .. }, Some(path)) => r.outbox = Some(path.to_owned()),
        // Only for a caller without an entry: queue it now.
        (Outcome::Queued, Mode::Send { .. }, None) => r.outbox = Some(ctx.store.enqueue(alert)?.path.clone()),
        (Outcome::Queued | Outcome::DryRun, _, _) | (_, _, None) => {}
        (Outcome::Sent | Outcome::RateLimited, _, Some(path)) | (Outcome::Rejected, Mode::Send { .. }, Some(path)) => {
            ctx.store.remove(path)?
        }
        // Held by the quota: it stays queued, in order, until the reset.
        (Outcome::Rejected, Mode::Flush, Some(_)) if r.hold_until.is_some() => {}
        (Outcome::Rejected, Mode::Flush, Some(path)) => ctx.store.reject(path)?,
    }
    Ok(())
}

/// A recovery with nothing open. Older queued alerts for the check are now
/// stale, and an emergency whose cancel failed earlier is retried, silently.
fn nothing_to_resolve(
    ctx: &Ctx,
    alert: &Alert,
    receipts: &[ReceiptState],
    keys: Option<&Keys>,
    dry_run: bool,
) -> Result<Report, String> {
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
        r.cancel = cancel_text(&receipts::cancel_all(ctx, &alert.check_id, receipts, keys)?);
    }
    Ok(r)
}

fn suppress(ctx: &Ctx, alert: &Alert, s: &Suppression, dry_run: bool, now: i64) -> Result<Report, String> {
    let detail = match s.reason {
        Reason::Superseded => {
            format!("superseded: {} was alerted or resolved after this alert was queued", alert.check_id)
        }
        Reason::InWindow { last_sent } => format!(
            "{} was alerted at {}; one alert per check per {} s; {} suppressed since {}",
            alert.check_id,
            ts(last_sent),
            ctx.window,
            s.count,
            ts(s.since)
        ),
    };
    let mut r = Report::new(alert, Outcome::RateLimited, detail);
    r.suppressed_since_last = Some(s.count);
    r.quota = s.quota;
    r.window_ends = s.window_ends.map(ts);
    if dry_run || !s.counted {
        return Ok(dry(r, dry_run, Would::RateLimited));
    }
    ctx.store.update(|st| {
        let c = st.checks.entry(alert.check_id.clone()).or_default();
        c.suppressed += 1;
        c.suppressed_since.get_or_insert(now);
    })?;
    Ok(r)
}

fn cancel_text(results: &[Cancel]) -> Option<String> {
    (!results.is_empty()).then(|| results.iter().map(Cancel::text).collect::<Vec<_>>().join("; "))
}

/// What the attempts at one message came to.
struct Attempts {
    reply: Reply,
    count: u32,
    /// The latest quota reading: this run's responses, else the stored one.
    quota: Option<Quota>,
    /// The first failed audit append, reported once the outcome is saved.
    audit_error: Option<String>,
}

/// Sends the message; returns the report and the first failure that must
/// wait until the entry is settled (an audit append, or saving a delivery).
fn deliver(
    ctx: &Ctx,
    alert: &Alert,
    d: Delivery,
    keys: Option<&Keys>,
    mode: Mode,
    entry: Option<&Path>,
) -> Result<(Report, Option<String>), String> {
    let fields = message::fields(alert, &d.extra);
    if mode == (Mode::Send { dry_run: true }) {
        let mut r = Report::new(alert, Outcome::DryRun, "nothing sent, no state changed".into());
        r.preview = Some(fields.iter().cloned().collect());
        r.quota = d.quota;
        r.suppressed_since_last = d.digest;
        return Ok((dry(r, true, Would::Send), None));
    }
    let keys = keys.ok_or("internal: keys were not resolved")?;
    let mut r = Report::new(alert, Outcome::Sent, String::new());
    if alert.resolved {
        r.cancel = cancel_text(&receipts::cancel_all(ctx, &alert.check_id, &d.cancel, keys)?);
    }
    let a = attempts(ctx, alert, &fields, keys, (mode, entry), d.quota, &mut r.warnings);
    // The first failure to report once the outbox entry is settled.
    let mut deferred = a.audit_error.clone();
    let done = now();
    r.attempts = a.count;
    r.http_status = a.reply.status();
    r.quota = a.quota;
    match a.reply {
        Reply::Accepted { request, receipt } => {
            r.request = request;
            r.suppressed_since_last = d.digest;
            let emergency_receipt = receipt.filter(|_| alert.priority == Priority::Emergency);
            r.receipt = emergency_receipt.clone();
            let saved = ctx.store.update(|s: &mut State| {
                s.checks.insert(alert.check_id.clone(), plan::after_delivery(&d.check, alert, done));
                if let Some(rc) = &emergency_receipt {
                    s.receipts.entry(alert.check_id.clone()).or_default().push(ReceiptState {
                        receipt: rc.clone(),
                        sent_at: done,
                        expires_at: done + i64::from(alert.expire),
                        cancel_pending: false,
                    });
                }
            });
            if let Err(e) = saved {
                deferred.get_or_insert(format!("{e} (the alert was delivered; its window is not recorded)"));
            }
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
            let hold = plan::hold_after_429(reset, d.quota, done);
            if hold.clamped() {
                r.warnings.push(format!(
                    "the API's reset time {} is past any monthly reset; holding only until {}",
                    ts(hold.wanted),
                    ts(hold.until)
                ));
            }
            ctx.store.update(|s| s.hold_until = Some(hold.until))?;
            r.outcome = Outcome::Rejected;
            r.request = request;
            r.hold_until = Some(ts(hold.until));
            r.errors.push(format!("HTTP 429: the monthly message quota is used up until {}", ts(hold.until)));
            r.detail = format!("Pushover's monthly quota is used up; every send is held until {}", ts(hold.until));
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
                Mode::Send { .. } => format!(
                    "delivery failed after {} attempt(s) ({reason}); queued in the outbox for openclaw-notify flush",
                    a.count
                ),
            };
        }
    }
    Ok((r, deferred))
}

/// Posts the message: once for a flush; for a send, 5xx and network
/// failures are retried after 5 s, 10 s, 20 s… within the retry budget.
/// Every attempt is audited as it happens.
fn attempts(
    ctx: &Ctx,
    alert: &Alert,
    fields: &[(&'static str, String)],
    keys: &Keys,
    (mode, entry): (Mode, Option<&Path>),
    stored_quota: Option<Quota>,
    warnings: &mut Vec<String>,
) -> Attempts {
    let started = Instant::now();
    let mut form: Vec<(&str, &str)> = vec![("token", keys.token.expose_secret()), ("user", keys.user.expose_secret())];
    form.extend(fields.iter().map(|(k, v)| (*k, v.as_str())));
    let within = if mode == Mode::Flush { Duration::ZERO } else { ctx.retry_within.min(MAX_RETRY_WITHIN) };
    let mut delay = FIRST_RETRY;
    let mut count = 0u32;
    let mut quota = stored_quota;
    let mut audit_error = None;
    loop {
        let full = ctx.client.timeout();
        let timeout = if count == 0 { full } else { full.min(within.saturating_sub(started.elapsed())) };
        let mode_name = if mode == Mode::Flush { "flush" } else { "send" };
        // Before the request: a sender that dies while it is in flight
        // leaves a start with no answer, and the next attempt is a resend.
        match entry.map(|e| journal::started(&ctx.store, e, &alert.check_id, mode_name, count + 1)) {
            Some(Ok(true)) => warnings.push(
                "resend: an earlier attempt at this alert got no answer (its sender died); Pushover may already have delivered it, so it may arrive twice (openclaw-notify log)".into(),
            ),
            Some(Err(e)) => warnings.push(format!("could not record the attempt in the journal: {e}")),
            Some(Ok(false)) | None => {}
        }
        let (reply, q) = ctx.client.post("/1/messages.json", &form, timeout);
        count += 1;
        if let Some(e) = entry {
            // Accepted: the entry goes first, before any bookkeeping, so the
            // window in which a death makes `flush` send it again is as
            // small as the protocol allows.
            if matches!(reply, Reply::Accepted { .. })
                && let Err(err) = ctx.store.remove(e)
            {
                warnings.push(format!("could not remove the delivered outbox entry: {err}"));
            }
            if let Err(err) = journal::ended(&ctx.store, e, &alert.check_id, mode_name, count, reply_word(&reply)) {
                warnings.push(format!("could not record the answer in the journal: {err}"));
            }
        }
        quota = q.or(quota);
        // Bookkeeping never stops the delivery logic: the quota reading is best-effort,
        // and an audit failure is reported once the outcome is safe in the state.
        if let Err(e) = ctx.store.update(|s| s.observe(q, now())) {
            warnings.push(format!("could not record the quota reading: {e}"));
        }
        if let Err(e) = audit::attempt(ctx, mode, alert, count, &reply, started) {
            audit_error.get_or_insert(e);
        }
        let next_at = started.elapsed() + delay;
        // Only 5xx and network failures are retried, and only while a retry
        // can start and get at least a second before the budget ends.
        if matches!(reply, Reply::Transient { .. }) && next_at + Duration::from_secs(1) <= within {
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_secs(20));
            continue;
        }
        return Attempts { reply, count, quota, audit_error };
    }
}

/// The journal's word for an answer.
fn reply_word(reply: &Reply) -> &'static str {
    match reply {
        Reply::Accepted { .. } => "accepted",
        Reply::QuotaExhausted { .. } => "quota",
        Reply::Rejected { .. } => "rejected",
        Reply::Transient { .. } => "transient",
    }
}

/// Records that both keys just worked (`openclaw-keyctl status` shows it).
/// A failure is a warning: the alert itself was delivered.
pub fn record_key_success(state_dir: &Path, keys: &Keys) -> Option<String> {
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
