//! The command line: arguments, settings (environment > file > default),
//! and the flow of `run` and `status`. The only place exit codes are
//! chosen: `run` exits 0 when the doctor passes, 1 when findings remain,
//! 2 when the guard could not run (doctor missing, hung or unreadable, the
//! lock held past the wait, bad config, an unusable state dir or log).

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Instant;

use clap::{Parser, Subcommand};
use common::audit::{AuditLog, Entry};
use common::config::Config;
use common::exit::Exit;
use common::lock::{LockError, NamedLock};
use common::output::Format;
use common::paths::{self, PathFlags, Paths};
use serde_json::json;

use crate::budget::Budget;
use crate::interlock::{self, Verdict};
use crate::locate::{Located, locate};
use crate::log::{GuardLog, token};
use crate::notify::{self, NotifyOutcome};
use crate::plan::{self, Notice, Plan, TickPlan};
use crate::report::{NotifyReport, RunReport, StatusReport};
use crate::settings::{self, GuardSettings};
use crate::state::{LastRun, RunOutcome, State, Store};
use crate::{doctor, registry, render};

/// Runs the doctor every tick and decides, per finding, what may be done
/// behind a fail-closed Tailscale interlock; this version fixes nothing.
///
/// Exit codes: 0 the doctor passes; 1 findings remain (remediation skipped,
/// not available, or budget exhausted); 2 the guard could not run.
///
/// openclaw-doctor and openclaw-notify are taken from beside this executable,
/// then PATH (OPENCLAW_DOCTOR_BIN and OPENCLAW_NOTIFY_BIN override); tailscale
/// from PATH. Log: OPENCLAW_GUARD_LOG, else `[guard] log`, else
/// /var/log/openclaw_guard.log as root. State: `<state dir>/guard/state.json`.
#[derive(Debug, Parser)]
#[command(name = "openclaw-guard", version, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    paths: PathFlags,
    /// Output format.
    #[arg(long, value_name = "human|json", default_value = "human", global = true)]
    format: Format,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// One tick: run the doctor, decide, notify, log and audit (the timer runs this).
    Run {
        /// Run the doctor and decide; notify, log, record and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// The last run, its outcome, attempts and budgets per finding, any pending rollback.
    Status,
}

/// Parses `args` (including the program name) and runs the guard.
pub fn main_with_args(args: impl IntoIterator<Item = OsString>) -> Exit {
    common::cli::main_with_args(crate::INFO, common::cli::UsageErrors::Echo, args, run)
}

struct Settings {
    paths: Paths,
    guard: GuardSettings,
    log: PathBuf,
    format: Format,
}

impl Settings {
    fn budget(&self) -> Budget {
        Budget { max_attempts: self.guard.max_attempts, tick_secs: self.guard.tick_secs as i64 }
    }
}

fn settings(cli: &Cli) -> Result<Settings, String> {
    let (config, paths) = Config::load_for_process(&cli.paths).map_err(|e| e.to_string())?;
    let guard = GuardSettings::from_config(&config).map_err(|e| format!("config: {e}"))?;
    let log = settings::guard_log(guard.log.as_deref(), &paths::process_env, paths::is_root())?;
    Ok(Settings { paths, guard, log, format: cli.format })
}

fn run(cli: Cli) -> Result<Exit, String> {
    let s = settings(&cli)?;
    match cli.command {
        Command::Run { dry_run } => tick(&s, dry_run),
        Command::Status => status(&s),
    }
}

fn status(s: &Settings) -> Result<Exit, String> {
    let dir = s.paths.tool_dir("guard");
    let state_file = dir.join("state.json").display().to_string();
    let state = match Store::existing(dir)? {
        Some(store) => store.load()?,
        None => State::default(),
    };
    let rep = StatusReport::new(state_file, &state, now_unix(), s.budget());
    render::status(s.format, &rep)?;
    Ok(if rep.is_failure() { Exit::Policy } else { Exit::Clean })
}

fn now_unix() -> i64 {
    common::time_fmt::now_utc().unix_timestamp()
}

fn take_lock(s: &Settings) -> Result<NamedLock, String> {
    NamedLock::acquire(&s.paths.run_dir, "guard", s.guard.lock_wait()).map_err(|e| match e {
        LockError::Busy { .. } => format!("another guard run or fix is in progress: {e}"),
        other => other.to_string(),
    })
}

/// One tick. A failure before the doctor's report is read (the lock, the
/// state dir, the log, the doctor itself) ends it with exit 2 and nothing
/// decided or notified.
fn tick(s: &Settings, dry_run: bool) -> Result<Exit, String> {
    let started = Instant::now();
    let start = common::time_fmt::now_utc();
    let now = start.unix_timestamp();
    let _lock = take_lock(s)?;
    let store = Store::open(&s.paths.state_dir, s.paths.tool_dir("guard"))?;
    let state = store.load()?;
    let mut log = if dry_run { GuardLog::dry() } else { GuardLog::open(&s.log)? };
    log.line(&format!("{} (pid {}) ---", token::RUN, std::process::id()))?;
    let own_exe = std::env::current_exe().ok();
    let report = match locate("openclaw-doctor", "OPENCLAW_DOCTOR_BIN", &paths::process_env, own_exe.as_deref()) {
        Located::Found(bin) => doctor::run(&bin, s.guard.doctor_timeout()),
        Located::Missing(why) => Err(doctor::DoctorError::Missing(why)),
    };
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            let detail = e.to_string();
            log.line(&format!(
                "{}: the guard could not run: {detail}; nothing decided, nothing notified",
                token::ERROR
            ))?;
            if !dry_run {
                let last = last_run(start, RunOutcome::Error, Exit::Undecided, vec![], detail.clone());
                let mut next = state.clone();
                next.last_run = Some(last);
                store.save(&next)?;
                audit(s, RunOutcome::Error.as_str(), &[], Exit::Undecided, started)?;
            }
            return Err(detail);
        }
    };
    let findings = registry::findings(&report);
    let interlock =
        plan::needs_interlock(&findings).then(|| interlock::judge(&interlock::gather(s.guard.tailscale_timeout())));
    let tick_plan = plan::decide(&report, &findings, &state, interlock.as_ref(), now, s.budget());
    log_plan(&mut log, &tick_plan, interlock.as_ref())?;
    let notified = if dry_run {
        NotifyOutcome::NotSent
    } else {
        let notifier = locate("openclaw-notify", "OPENCLAW_NOTIFY_BIN", &paths::process_env, own_exe.as_deref());
        notify::send(&notifier, &tick_plan.notify, s.guard.notify_timeout())
    };
    match &notified {
        NotifyOutcome::NotSent => {}
        NotifyOutcome::Accepted => {
            log.line(&format!("{} {} ({})", token::NOTIFIED, notify::DOCTOR_FAIL, notice_kind(&tick_plan.notify)))?
        }
        NotifyOutcome::Failed { why } => {
            log.line(&format!("{} {}: {why}; the outcome is unchanged", token::NOTIFY_FAILED, notify::DOCTOR_FAIL))?
        }
    }
    let exit = if tick_plan.outcome == RunOutcome::Pass { Exit::Clean } else { Exit::Policy };
    let keys: Vec<String> = tick_plan.findings.iter().map(|f| f.finding.key.clone()).collect();
    if !dry_run {
        let detail = match exit {
            Exit::Clean => "doctor passes".to_owned(),
            _ => format!("{} finding(s) remain: {}", keys.len(), keys.join(", ")),
        };
        let last = last_run(start, tick_plan.outcome, exit, keys.clone(), detail);
        let next = plan::next_state(&state, &tick_plan, last, notified == NotifyOutcome::Accepted, now, s.budget());
        store.save(&next)?;
        audit(s, tick_plan.outcome.as_str(), &keys, exit, started)?;
    }
    let rep = RunReport {
        started_at: common::time_fmt::rfc3339(start),
        dry_run,
        outcome: tick_plan.outcome,
        exit_code: exit.code(),
        doctor_result: report.result,
        interlock,
        findings: tick_plan.findings.clone(),
        notify: NotifyReport {
            notice: tick_plan.notify.clone(),
            result: serde_json::to_value(&notified).map_err(|e| e.to_string())?,
        },
        log: (!dry_run).then(|| s.log.display().to_string()),
    };
    render::run(s.format, &rep, log.lines())?;
    Ok(exit)
}

fn notice_kind(n: &Notice) -> &'static str {
    match n {
        Notice::None => "nothing",
        Notice::DoctorFail { .. } => "high",
        Notice::Resolved => "resolved",
    }
}

fn last_run(
    start: time::OffsetDateTime,
    outcome: RunOutcome,
    exit: Exit,
    findings: Vec<String>,
    detail: String,
) -> LastRun {
    LastRun {
        at: common::time_fmt::rfc3339(start),
        at_unix: start.unix_timestamp(),
        outcome,
        exit_code: exit.code(),
        findings,
        detail,
    }
}

/// The log lines of a decided tick.
fn log_plan(log: &mut GuardLog, p: &TickPlan, interlock: Option<&Verdict>) -> Result<(), String> {
    if p.outcome == RunOutcome::Pass {
        return log.line(&format!("{} (doctor)", token::PASS));
    }
    let keys: Vec<&str> = p.findings.iter().map(|f| f.finding.key.as_str()).collect();
    log.line(&format!("{} (doctor: {} finding(s): {})", token::FAIL, keys.len(), keys.join(", ")))?;
    match interlock {
        Some(Verdict::Open { tailnet_ip }) => log.line(&format!(
            "{}: Tailscale Running and Online, {tailnet_ip} configured locally",
            token::INTERLOCK_OPEN
        ))?,
        Some(Verdict::Closed(b)) => log.line(&format!("{}: {}", token::INTERLOCK_CLOSED, b.reason()))?,
        None => {}
    }
    for fp in &p.findings {
        match &fp.plan {
            Plan::NotifyOnly => log.line(&format!(
                "{} {}: no remediation registered: {}",
                token::NOTIFY_ONLY,
                fp.finding.key,
                fp.finding.summary
            ))?,
            Plan::SkipRemediation { remediation, reason } => {
                log.line(&format!("{} {} ({}): {}", token::SKIP, fp.finding.key, remediation.as_str(), reason.text()))?
            }
        }
    }
    log.line(&format!("{}: {} finding(s) remain; manual investigation required", token::STILL_FAILING, keys.len()))
}

/// One `guard.run` record in the shared audit log (only a hash of the
/// parameters is stored). A failed append fails the tick.
fn audit(s: &Settings, outcome: &str, findings: &[String], exit: Exit, started: Instant) -> Result<(), String> {
    let params = json!({ "outcome": outcome, "findings": findings });
    AuditLog::new(&s.paths.audit_log, &s.paths.audit_checkpoint)
        .append(&Entry {
            tool: crate::TOOL,
            actor: &common::audit::process_actor(),
            action: "guard.run",
            params: &params,
            exit_code: i32::from(exit.code()),
            duration_ms: started.elapsed().as_millis() as u64,
        })
        .map(|_| ())
        .map_err(|e| e.to_string())
}
