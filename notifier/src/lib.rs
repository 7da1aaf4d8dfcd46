//! `openclaw-notify`: Pushover alerts for contract §7.
//!
//! Outbound HTTPS POSTs only, no callback URL ever sent. One alert per
//! check_id per window (counted on delivery, with a digest of what was
//! suppressed), emergency receipts cancelled on recovery, HTTP 429 holding
//! every send until the quota resets, 5xx and network failures retried and
//! then kept in a durable outbox that `flush` delivers in order. Keys come
//! from `common::secrets` and travel only in request bodies.

pub mod api;
mod audit;
pub mod deliver;
pub mod message;
mod output;
pub mod plan;
pub mod receipts;
pub mod report;
pub mod state;

use std::ffi::OsString;
use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use common::audit::AuditLog;
use common::config::{Config, MAX_NOTIFY_WINDOW_SECS};
use common::exit::Exit;
use common::output::{Format, sanitize};
use common::paths::{self, PathFlags, Paths};
use common::secrets::{self, ExposeSecret, Resolver, mask};
use serde::Serialize;

use crate::api::{Client, Quota, Reply};
use crate::deliver::{Ctx, Keys, Mode};
use crate::message::ts;
use crate::message::{Alert, Priority};
use crate::report::{Cancel, KeyCheck, Outcome, Report};
use crate::state::Store;

pub(crate) const TOOL: &str = "openclaw-notify";
pub(crate) const SCHEMA_VERSION: u32 = 1;
/// Largest message read from stdin; Pushover keeps 1024 characters of it.
const MAX_STDIN: u64 = 1024 * 1024;

/// Pushover alerts that arrive once, survive outages and never leak a key.
///
/// Exit codes: 0 sent, dry run, deliberately rate-limited, or queued in the
/// outbox after a transient failure (the `outcome` field says which);
/// 1 rejected by the API (4xx, or the monthly quota used up);
/// 2 missing key, bad arguments, unusable state directory.
#[derive(Debug, Parser)]
#[command(name = "openclaw-notify", version, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Pushover API base: https://, or http:// to a loopback IP only [default: https://api.pushover.net].
    #[arg(long, value_name = "URL", env = "OPENCLAW_NOTIFY_API_BASE", hide_env_values = true, global = true)]
    api_base: Option<String>,
    /// State directory; the notifier keeps its files in DIR/notifier/ [env: OPENCLAW_STATE_DIR].
    #[arg(long, value_name = "DIR", global = true)]
    state_dir: Option<PathBuf>,
    /// Secrets directory for the Pushover keys [env: OPENCLAW_SECRETS_DIR].
    #[arg(long, value_name = "DIR", global = true)]
    secrets_dir: Option<PathBuf>,
    /// Audit log [env: OPENCLAW_AUDIT_LOG].
    #[arg(long, value_name = "PATH", global = true)]
    audit_log: Option<PathBuf>,
    /// One alert per check_id per this many seconds [default: 1800].
    #[arg(long, value_name = "SECS", env = "OPENCLAW_NOTIFY_RATE_LIMIT_SEC", hide_env_values = true, global = true)]
    window: Option<u64>,
    /// Retry 5xx and network failures (first after 5 s) for at most this long, 0-60 s.
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(0..=60), global = true)]
    retry_within: u64,
    /// Whole-request timeout, 1-15 s (connecting gets at most 5 s of it).
    #[arg(long, value_name = "SECS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=15), global = true)]
    timeout: u64,
    /// Output format.
    #[arg(long, value_name = "human|json", default_value = "human", global = true)]
    format: Format,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Send an alert for a check, at most one per check per window.
    Send(SendArgs),
    /// Quota, open windows, queued messages and receipts (no secrets).
    Status,
    /// Deliver the outbox in order (run by openclaw-notify-flush.timer).
    Flush,
    /// Validate the keys with Pushover (users/validate.json).
    Test {
        /// Only check that both keys are present and well-formed; no request.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, clap::Args)]
struct SendArgs {
    /// The check this alert is about: the rate-limit key (A-Z a-z 0-9 . _ : / -, at most 64).
    #[arg(long, value_name = "ID")]
    check_id: String,
    /// low (-1), normal (0), high (1) or emergency (2: repeats until acknowledged).
    #[arg(long, value_enum, default_value = "normal")]
    priority: Priority,
    /// Title (cut to 250 characters) [default: OpenClaw].
    #[arg(long, value_name = "T")]
    title: Option<String>,
    /// Supplementary URL (at most 512 characters; never cut).
    #[arg(long, value_name = "U")]
    url: Option<String>,
    /// Its title (cut to 100 characters).
    #[arg(long, value_name = "T", requires = "url")]
    url_title: Option<String>,
    /// The check recovered: send one recovery message, close its window, cancel its emergency receipt.
    #[arg(long)]
    resolved: bool,
    /// Emergency: seconds between repeats (at least 30).
    #[arg(long, value_name = "SECS", default_value_t = message::RETRY_DEFAULT)]
    retry: u32,
    /// Emergency: seconds until Pushover stops repeating (at most 10800).
    #[arg(long, value_name = "SECS", default_value_t = message::EXPIRE_DEFAULT)]
    expire: u32,
    /// Show what would be sent and whether it would be rate-limited; send nothing, change nothing.
    #[arg(long)]
    dry_run: bool,
    /// The message (cut to 1024 characters with a marker); `-` reads stdin.
    message: String,
}

/// Parses `args` (including the program name) and runs the notifier.
pub fn main_with_args(args: impl IntoIterator<Item = OsString>) -> Exit {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return Exit::Clean;
        }
        Err(e) => {
            let _ = e.print();
            return Exit::Undecided;
        }
    };
    match run(cli) {
        Ok(exit) => exit,
        Err(e) => {
            output::error(&e);
            Exit::Undecided
        }
    }
}

struct Settings {
    paths: Paths,
    api_base: api::ApiBase,
    window: u64,
    format: Format,
    retry_within: Duration,
    timeout: Duration,
}

fn settings(cli: &Cli) -> Result<Settings, String> {
    let flags = PathFlags {
        secrets_dir: cli.secrets_dir.clone(),
        state_dir: cli.state_dir.clone(),
        audit_log: cli.audit_log.clone(),
        artifacts_root: None,
    };
    let (config, paths) = Config::load_for_process(&flags)?;
    let api_base = api::parse_api_base(cli.api_base.as_deref().unwrap_or(&config.notify.api_base))?;
    let window = cli.window.unwrap_or(config.notify.window_secs);
    if !(1..=MAX_NOTIFY_WINDOW_SECS).contains(&window) {
        return Err(format!("--window must be between 1 and {MAX_NOTIFY_WINDOW_SECS} seconds"));
    }
    Ok(Settings {
        paths,
        api_base,
        window,
        format: cli.format,
        retry_within: Duration::from_secs(cli.retry_within),
        timeout: Duration::from_secs(cli.timeout),
    })
}

fn ctx(s: &Settings) -> Result<Ctx, String> {
    let store = Store::open(&s.paths.state_dir)?;
    let client = Client::new(s.api_base.clone(), s.timeout, &paths::process_env)?;
    Ok(Ctx {
        store,
        client,
        window: s.window as i64,
        retry_within: s.retry_within,
        audit: AuditLog::new(&s.paths.audit_log, &s.paths.audit_checkpoint),
        actor: common::audit::process_actor(),
        state_dir: s.paths.state_dir.clone(),
    })
}

/// Resolves both keys (environment, keychain, credentials, 0600 file) and
/// checks their shape. Errors name the key and its source, never the value.
fn resolve_keys(secrets_dir: &std::path::Path) -> Result<(Keys, Vec<(String, String)>), String> {
    let keychain = secrets::platform_keychain();
    let resolver = Resolver::for_process(keychain.as_ref(), secrets_dir.to_owned());
    let mut found = Vec::new();
    let mut values = Vec::new();
    for name in ["PUSHOVER_APP_TOKEN", "PUSHOVER_USER_KEY"] {
        let r = resolver.resolve(name).map_err(|e| e.to_string())?;
        if !secrets::has_expected_format(name, r.winner.value.expose_secret()) {
            return Err(format!(
                "{name} from {} is not 30 letters and digits (the value is not shown); fix: openclaw-keyctl set {name} < /path/to/file-with-the-value",
                r.winner.source
            ));
        }
        found.push((name.to_owned(), format!("{} from {}", mask(&r.winner.value), r.winner.source)));
        values.push(r.winner.value);
    }
    let user = values.pop().ok_or("internal: no user key")?;
    let token = values.pop().ok_or("internal: no app token")?;
    Ok((Keys { token, user }, found))
}

fn run(cli: Cli) -> Result<Exit, String> {
    let s = settings(&cli)?;
    match cli.command {
        Command::Send(args) => send(&s, args),
        Command::Status => status(&s),
        Command::Flush => flush(&s),
        Command::Test { dry_run } => test(&s, dry_run),
    }
}

fn read_message(arg: &str) -> Result<String, String> {
    if arg != "-" {
        return Ok(arg.to_owned());
    }
    let mut bytes = Vec::new();
    std::io::stdin()
        .take(MAX_STDIN)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("reading the message from stdin: {e}"))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn send(s: &Settings, args: SendArgs) -> Result<Exit, String> {
    let mut alert = Alert {
        check_id: args.check_id,
        priority: args.priority,
        title: args.title.unwrap_or_default(),
        message: read_message(&args.message)?,
        url: args.url,
        url_title: args.url_title,
        resolved: args.resolved,
        retry: args.retry,
        expire: args.expire,
        created: deliver::now(),
    };
    message::normalise(&mut alert)?;
    let ctx = ctx(s)?;
    // Keys first, even for a dry run or a message that will be rate-limited:
    // a missing key must surface now, not when the window next opens.
    let (keys, _) = resolve_keys(&s.paths.secrets_dir)?;
    let _lock = ctx.store.lock_check(&alert.check_id)?;
    let report = deliver::process(&ctx, &alert, Some(&keys), Mode::Send { dry_run: args.dry_run })?;
    render_send(s.format, &report)?;
    Ok(if report.is_rejected() { Exit::Policy } else { Exit::Clean })
}

fn render_send(format: Format, r: &Report) -> Result<(), String> {
    for w in &r.warnings {
        output::warn(w);
    }
    if format == Format::Json {
        return output::json(r);
    }
    let mut text = format!("{}: {}\n", r.outcome.human(), r.detail);
    for e in &r.errors {
        text.push_str(&format!("  api error: {e}\n"));
    }
    if let Some(c) = &r.cancel {
        text.push_str(&format!("  {c}\n"));
    }
    if let Some(p) = &r.preview {
        for (k, v) in p {
            text.push_str(&format!("  {k}: {v}\n"));
        }
    }
    output::stdout(&sanitize_lines(&text))
}

/// Escapes each line (API errors and messages are untrusted) but keeps the newlines.
fn sanitize_lines(text: &str) -> String {
    text.lines().map(|l| format!("{}\n", sanitize(l))).collect()
}

#[derive(Serialize)]
struct FlushReport {
    delivered: usize,
    suppressed: usize,
    rejected: usize,
    remaining: usize,
    receipts_cancelled: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    hold_until: Option<String>,
    items: Vec<Report>,
    problems: Vec<String>,
}

fn flush(s: &Settings) -> Result<Exit, String> {
    let ctx = ctx(s)?;
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
        hold_until: None,
        items: Vec::new(),
        problems,
    };
    if !queue.is_empty() || !pending_cancels.is_empty() {
        let (keys, _) = resolve_keys(&s.paths.secrets_dir)?;
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
                match receipts::cancel_receipt(&ctx, &check_id, &receipt, &keys)? {
                    Cancel::Cancelled(_) => rep.receipts_cancelled += 1,
                    other @ (Cancel::NotStored(_)
                    | Cancel::Expired(_)
                    | Cancel::Refused { .. }
                    | Cancel::Pending(_)) => rep.problems.push(other.text()),
                }
            }
        }
        for q in queue {
            let _lock = ctx.store.lock_check(&q.alert.check_id)?;
            let r = deliver::process(&ctx, &q.alert, Some(&keys), Mode::Flush)?;
            match r.outcome {
                Outcome::Sent => {
                    ctx.store.remove(&q.path)?;
                    rep.delivered += 1;
                }
                Outcome::RateLimited => {
                    ctx.store.remove(&q.path)?;
                    rep.suppressed += 1;
                }
                Outcome::Rejected if r.hold_until.is_some() => {
                    rep.hold_until = r.hold_until.clone();
                    rep.items.push(r);
                    break;
                }
                Outcome::Rejected => {
                    ctx.store.reject(&q.path)?;
                    rep.rejected += 1;
                }
                // Still failing: keep this and everything after it, in order.
                Outcome::Queued | Outcome::DryRun => {
                    rep.items.push(r);
                    break;
                }
            }
            rep.remaining -= 1;
            rep.items.push(r);
        }
    }
    for w in rep.items.iter().flat_map(|r| &r.warnings) {
        output::warn(w);
    }
    if s.format == Format::Json {
        output::json(&rep)?;
    } else {
        let mut text = format!(
            "flush: {} delivered, {} suppressed, {} rejected, {} still queued, {} receipt(s) cancelled\n",
            rep.delivered, rep.suppressed, rep.rejected, rep.remaining, rep.receipts_cancelled
        );
        if let Some(h) = &rep.hold_until {
            text.push_str(&format!("  held: the monthly quota is used up until {h}\n"));
        }
        for r in &rep.items {
            text.push_str(&format!("  {} {}: {}\n", r.outcome.human(), r.check_id, r.detail));
            for e in &r.errors {
                text.push_str(&format!("    api error: {e}\n"));
            }
        }
        for p in &rep.problems {
            text.push_str(&format!("  problem: {p}\n"));
        }
        output::stdout(&sanitize_lines(&text))?;
    }
    Ok(if rep.rejected > 0 || rep.hold_until.is_some() { Exit::Policy } else { Exit::Clean })
}

#[derive(Serialize)]
struct WindowRow {
    check_id: String,
    open: bool,
    last_sent: Option<String>,
    window_ends: Option<String>,
    in_window: bool,
    suppressed: u64,
    suppressed_since: Option<String>,
}

#[derive(Serialize)]
struct QueueRow {
    file: String,
    check_id: String,
    priority: Priority,
    resolved: bool,
    created: String,
}

#[derive(Serialize)]
struct ReceiptRow {
    check_id: String,
    receipt: String,
    sent_at: String,
    expires_at: String,
    cancel_pending: bool,
}

#[derive(Serialize)]
struct StatusReport {
    api_base: String,
    window_secs: u64,
    quota: Option<Quota>,
    quota_observed_at: Option<String>,
    quota_low: bool,
    hold_until: Option<String>,
    windows: Vec<WindowRow>,
    queued: Vec<QueueRow>,
    rejected_in_outbox: usize,
    receipts: Vec<ReceiptRow>,
}

fn status(s: &Settings) -> Result<Exit, String> {
    let store = Store::open(&s.paths.state_dir)?;
    let state = store.load()?;
    let (queue, problems) = store.queued()?;
    for p in &problems {
        output::warn(p);
    }
    let now = deliver::now();
    let window = s.window as i64;
    let quota = state.current_quota(now);
    let hold = state.hold_until.filter(|h| *h > now);
    let rep = StatusReport {
        api_base: s.api_base.url.clone(),
        window_secs: s.window,
        quota,
        quota_observed_at: state.quota.map(|q| ts(q.observed_at)),
        quota_low: quota.is_some_and(|q| q.is_low()),
        hold_until: hold.map(ts),
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
    if s.format == Format::Json {
        output::json(&rep)?;
    } else {
        let mut text = format!("api: {}\nwindow: one alert per check per {} s\n", rep.api_base, rep.window_secs);
        match (&rep.quota, &rep.hold_until) {
            (_, Some(h)) => text.push_str(&format!("quota: USED UP (HTTP 429); every send is held until {h}\n")),
            (Some(q), None) => text.push_str(&format!(
                "quota: {} of {} left until {}{}\n",
                q.remaining,
                q.limit,
                ts(q.reset),
                if rep.quota_low { "  WARNING: below 5%" } else { "" }
            )),
            (None, None) => text.push_str("quota: not known yet (read from the next API response)\n"),
        }
        text.push_str(&format!("windows: {}\n", rep.windows.len()));
        for w in &rep.windows {
            text.push_str(&format!(
                "  {:<32} {}  last sent {}  suppressed {}{}\n",
                w.check_id,
                if w.in_window {
                    "in window"
                } else if w.open {
                    "open     "
                } else {
                    "closed   "
                },
                w.last_sent.as_deref().unwrap_or("-"),
                w.suppressed,
                w.suppressed_since.as_deref().map(|t| format!(" since {t}")).unwrap_or_default()
            ));
        }
        text.push_str(&format!(
            "queued: {} (rejected kept in outbox/rejected/: {})\n",
            rep.queued.len(),
            rep.rejected_in_outbox
        ));
        for q in &rep.queued {
            text.push_str(&format!("  {} {} {} {}\n", q.created, q.check_id, q.priority.name(), q.file));
        }
        text.push_str(&format!("receipts: {}\n", rep.receipts.len()));
        for r in &rep.receipts {
            text.push_str(&format!(
                "  {} {} expires {}{}\n",
                r.check_id,
                r.receipt,
                r.expires_at,
                if r.cancel_pending { " (cancel pending)" } else { "" }
            ));
        }
        output::stdout(&sanitize_lines(&text))?;
    }
    Ok(if hold.is_some() { Exit::Policy } else { Exit::Clean })
}

#[derive(Serialize)]
struct TestReport {
    outcome: KeyCheck,
    keys: Vec<(String, String)>,
    http_status: Option<u16>,
    errors: Vec<String>,
    detail: String,
}

fn test(s: &Settings, dry_run: bool) -> Result<Exit, String> {
    let (keys, found) = resolve_keys(&s.paths.secrets_dir)?;
    let (outcome, http_status, errors, detail, exit) = if dry_run {
        (
            KeyCheck::DryRun,
            None,
            Vec::new(),
            "both keys are present and well-formed; nothing sent".to_owned(),
            Exit::Clean,
        )
    } else {
        let ctx = ctx(s)?;
        let form = [("token", keys.token.expose_secret()), ("user", keys.user.expose_secret())];
        let (reply, q) = ctx.client.post("/1/users/validate.json", &form, ctx.client.timeout());
        ctx.store.update(|st| st.observe(q, deliver::now()))?;
        let status = reply.status();
        match reply {
            Reply::Accepted { .. } => {
                if let Some(w) = deliver::record_key_success(&s.paths.state_dir, &keys) {
                    output::warn(&w);
                }
                (
                    KeyCheck::Valid,
                    status,
                    Vec::new(),
                    "Pushover accepted the app token and user key".to_owned(),
                    Exit::Clean,
                )
            }
            Reply::Rejected { errors, .. } => {
                (KeyCheck::Invalid, status, errors, "Pushover refused the keys".to_owned(), Exit::Policy)
            }
            Reply::QuotaExhausted { .. } => (
                KeyCheck::QuotaExhausted,
                status,
                vec!["HTTP 429: monthly quota used up".into()],
                "the quota is used up".to_owned(),
                Exit::Policy,
            ),
            Reply::Transient { reason, .. } => {
                (KeyCheck::Unknown, status, Vec::new(), format!("could not reach Pushover: {reason}"), Exit::Undecided)
            }
        }
    };
    let rep = TestReport { outcome, keys: found, http_status, errors, detail };
    if s.format == Format::Json {
        output::json(&rep)?;
    } else {
        let mut text = format!("{}: {}\n", rep.outcome.word(), rep.detail);
        for (name, how) in &rep.keys {
            text.push_str(&format!("  {name}: {how}\n"));
        }
        for e in &rep.errors {
            text.push_str(&format!("  api error: {e}\n"));
        }
        output::stdout(&sanitize_lines(&text))?;
    }
    Ok(exit)
}

/// Entry points for `cargo fuzz` (see `fuzz/`).
pub mod fuzzing {
    /// Classifies an arbitrary response; panics only if an invariant breaks.
    pub fn response(status: u16, headers: &[(String, String)], body: &[u8]) {
        let lookup = |n: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| v.clone());
        let (reply, quota) = crate::api::classify(status, &lookup, body);
        if let Some(q) = quota {
            assert!(q.remaining <= q.limit, "remaining above limit");
        }
        match &reply {
            crate::api::Reply::Accepted { request, receipt } => {
                assert!((200..300).contains(&status));
                for id in [request, receipt].into_iter().flatten() {
                    assert!(
                        !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    );
                }
                if let Some(r) = receipt {
                    assert!(!r.contains('-'), "receipt must be a plain token: used in a path");
                }
            }
            crate::api::Reply::QuotaExhausted { .. } => assert_eq!(status, 429),
            crate::api::Reply::Rejected { errors, .. } => {
                assert!(!(500..600).contains(&status) && status != 429, "a 5xx or 429 must not be final");
                assert!(errors.len() <= 10 && errors.iter().all(|e| e.chars().count() <= 300));
            }
            crate::api::Reply::Transient { .. } => assert!(!(400..500).contains(&status), "a 4xx must not be retried"),
        }
        // The state and outbox parsers see only our own files, but must not panic on junk either.
        let _ = serde_json::from_slice::<crate::state::State>(body);
        let _ = serde_json::from_slice::<crate::message::Alert>(body);
    }
}
