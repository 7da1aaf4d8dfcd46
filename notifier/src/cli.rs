//! The command line: arguments, settings (flag > environment > file >
//! default), the keys, and the flow of each subcommand. The only place
//! exit codes are chosen.

use std::ffi::OsString;
use std::io::Read;
use std::time::Duration;

use clap::{Parser, Subcommand};
use common::audit::AuditLog;
use common::config::Config;

use crate::settings::{MAX_WINDOW_SECS, NotifySettings};
use common::exit::Exit;
use common::output::Format;
use common::paths::{self, PathFlags, Paths};
use common::secrets::{self, ExposeSecret, Resolver, mask};

use crate::api::{self, Client, Reply};
use crate::deliver::{self, Ctx, Keys, Mode};
use crate::message::{self, Alert, Priority};
use crate::report::{KeyCheck, KeyTest, Outcome};
use crate::state::Store;
use crate::{flush, render, status};

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
    // The help text is an attribute, not a doc comment: rustdoc would read its URLs as links.
    #[arg(
        long,
        value_name = "URL",
        env = "OPENCLAW_NOTIFY_API_BASE",
        hide_env_values = true,
        global = true,
        help = "Pushover API base: https://, or http:// to a loopback IP only [default: https://api.pushover.net]"
    )]
    api_base: Option<String>,
    #[command(flatten)]
    paths: PathFlags,
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
    /// Delivery attempts, newest last: each one's answer, `unknown` when its
    /// sender died in flight, and resends that may have arrived twice.
    Log {
        /// Show at most this many attempts.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10000))]
        limit: u32,
    },
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
    common::cli::main_with_args(crate::INFO, common::cli::UsageErrors::Echo, args, run)
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
    let (config, paths) = Config::load_for_process(&cli.paths).map_err(|e| e.to_string())?;
    let notify = NotifySettings::from_config(&config).map_err(|e| format!("config: {e}"))?;
    let api_base = api::parse_api_base(cli.api_base.as_deref().unwrap_or(&notify.api_base))?;
    let window = cli.window.unwrap_or(notify.window_secs);
    if !(1..=MAX_WINDOW_SECS).contains(&window) {
        return Err(format!("--window must be between 1 and {MAX_WINDOW_SECS} seconds"));
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
        Command::Status => {
            let (rep, problems) = status::gather(&s.paths.state_dir, &s.api_base.url, s.window)?;
            render::status(s.format, &rep, &problems)?;
            Ok(if rep.hold_until.is_some() { Exit::Policy } else { Exit::Clean })
        }
        Command::Log { limit } => {
            let store = Store::open(&s.paths.state_dir)?;
            let all = crate::journal::attempts(&crate::journal::read(&store)?);
            let shown = &all[all.len().saturating_sub(limit as usize)..];
            render::log(s.format, shown)?;
            Ok(Exit::Clean)
        }
        Command::Flush => {
            let ctx = ctx(&s)?;
            let rep = flush::run(&ctx, || resolve_keys(&s.paths.secrets_dir).map(|(keys, _)| keys))?;
            render::flush(s.format, &rep)?;
            Ok(if rep.is_policy_failure() { Exit::Policy } else { Exit::Clean })
        }
        Command::Test { dry_run } => {
            let rep = key_test(&s, dry_run)?;
            render::key_test(s.format, &rep)?;
            Ok(match rep.outcome {
                KeyCheck::Valid | KeyCheck::DryRun => Exit::Clean,
                KeyCheck::Invalid | KeyCheck::QuotaExhausted => Exit::Policy,
                KeyCheck::Unknown => Exit::Undecided,
            })
        }
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
    // Outbox first: from here on a kill at any moment loses nothing. The
    // entry stays locked while this process lives, so `flush` leaves it
    // alone; `process` removes it once the outcome is saved.
    let pending = if args.dry_run { None } else { Some(ctx.store.enqueue(&alert)?) };
    let check_lock = ctx.store.lock_check(&alert.check_id)?;
    let mode = Mode::Send { dry_run: args.dry_run };
    let report = deliver::process(&ctx, &alert, Some(&keys), mode, pending.as_ref().map(|p| p.path.as_path()))?;
    drop(check_lock);
    drop(pending);
    render::send(s.format, &report)?;
    Ok(match report.outcome {
        Outcome::Rejected => Exit::Policy,
        Outcome::Sent | Outcome::RateLimited | Outcome::Queued | Outcome::DryRun => Exit::Clean,
    })
}

/// `test`: validates both keys with `users/validate.json` (or, with
/// `--dry-run`, only their presence and shape).
fn key_test(s: &Settings, dry_run: bool) -> Result<KeyTest, String> {
    let (keys, found) = resolve_keys(&s.paths.secrets_dir)?;
    let mut rep = KeyTest {
        outcome: KeyCheck::DryRun,
        keys: found,
        http_status: None,
        errors: Vec::new(),
        detail: "both keys are present and well-formed; nothing sent".to_owned(),
    };
    if dry_run {
        return Ok(rep);
    }
    let ctx = ctx(s)?;
    let form = [("token", keys.token.expose_secret()), ("user", keys.user.expose_secret())];
    let (reply, q) = ctx.client.post("/1/users/validate.json", &form, ctx.client.timeout());
    ctx.store.update(|st| st.observe(q, deliver::now()))?;
    rep.http_status = reply.status();
    (rep.outcome, rep.detail) = match reply {
        Reply::Accepted { .. } => {
            if let Some(w) = deliver::record_key_success(&s.paths.state_dir, &keys) {
                render::warn(&w);
            }
            (KeyCheck::Valid, "Pushover accepted the app token and user key".to_owned())
        }
        Reply::Rejected { errors, .. } => {
            rep.errors = errors;
            (KeyCheck::Invalid, "Pushover refused the keys".to_owned())
        }
        Reply::QuotaExhausted { .. } => {
            rep.errors.push("HTTP 429: monthly quota used up".into());
            (KeyCheck::QuotaExhausted, "the quota is used up".to_owned())
        }
        Reply::Transient { reason, .. } => (KeyCheck::Unknown, format!("could not reach Pushover: {reason}")),
    };
    Ok(rep)
}
