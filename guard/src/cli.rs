//! The command line: arguments, settings (environment > file > default),
//! and dispatch to the flows in [`crate::tick`] (`run`) and
//! [`crate::fixcmd`] (`fix`, `confirm`, `rollback`). Exit codes are chosen
//! only in those flows and `status` here: 0 clean, 1 findings remain or a
//! fix did not succeed, 2 the guard could not run.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Instant;

use clap::{Parser, Subcommand, ValueEnum};
use common::audit::AuditLog;
use common::config::Config;
use common::exit::Exit;
use common::lock::{LockError, NamedLock};
use common::output::Format;
use common::paths::{self, PathFlags, Paths};

use crate::budget::Budget;
use crate::fix::FixEnv;
use crate::registry::RemediationId;
use crate::report::StatusReport;
use crate::settings::{self, GuardSettings};
use crate::state::{State, Store};
use crate::{fixcmd, render, tick};

/// Runs the doctor every tick and fixes what the registry allows behind a
/// fail-closed Tailscale interlock, with a dead-man rollback for sshd.
///
/// Exit codes: 0 the doctor passes (run), the fix succeeded or verifies
/// (fix); 1 findings remain, or the fix was refused, failed, rolled back or
/// waits for a login over the tailnet before it removes sshd's public
/// listener; 2 the guard could not run.
///
/// openclaw-doctor and openclaw-notify are taken from beside this executable,
/// then PATH (OPENCLAW_DOCTOR_BIN and OPENCLAW_NOTIFY_BIN override);
/// tailscale, sshd, systemctl and systemd-run from PATH. Log:
/// OPENCLAW_GUARD_LOG, else `[guard] log`, else /var/log/openclaw_guard.log as
/// root. State: `<state dir>/guard/state.json`; backups under
/// `<state dir>/guard/backups/`. ssh root: OPENCLAW_SSH_DIR (default /etc/ssh);
/// CUPS: OPENCLAW_CUPS_DIR (default /etc/cups and the snap's). sysctl files:
/// under OPENCLAW_SYSCTL_ROOT (default /).
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
    /// One tick: run the doctor, remediate what is allowed, re-run it, notify, log, audit (the timer runs this).
    Run {
        /// Run the doctor and decide; show what a fix would change; notify, log, record and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// The last run, its outcome, attempts and budgets per finding, ssh-tailnet-only's phase and the tailnet login it saw, any pending rollback.
    Status,
    /// Run one remediation now, for an operator (under the same lock and interlock as a tick).
    Fix {
        /// The remediation.
        #[arg(value_enum)]
        remediation: FixArg,
        /// Read-only: exit 0 when the host already complies, 1 when not.
        #[arg(long, conflicts_with = "dry_run")]
        verify: bool,
        /// Show what would change; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Confirm a pending rollback after checking sshd answers on the tailnet (normally done by the guard itself).
    Confirm,
    /// Create the guard log (0600) if it is missing, else check it as a tick would, changing nothing.
    ///
    /// Exit 2 for a link, anything but a regular file, another owner, or a mode group or others can
    /// write. openclaw-guard.service runs this as root before each sandboxed tick, which can only
    /// write a log that already exists.
    PrepareLog,
    /// Roll back the pending fix now: restore its backed-up files and restart sshd.
    Rollback {
        /// Used by the dead-man: wait for this pending rollback's deadline, then roll back if still pending.
        #[arg(long, value_name = "ID")]
        armed: Option<String>,
    },
}

/// The remediations `fix` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FixArg {
    /// sshd listens on the tailnet address only.
    SshTailnetOnly,
    /// cupsd listens on loopback only, or not at all.
    CupsLocalhost,
}

impl From<FixArg> for RemediationId {
    fn from(a: FixArg) -> RemediationId {
        match a {
            FixArg::SshTailnetOnly => RemediationId::SshTailnetOnly,
            FixArg::CupsLocalhost => RemediationId::CupsLocalhost,
        }
    }
}

/// Parses `args` (including the program name) and runs the guard.
pub fn main_with_args(args: impl IntoIterator<Item = OsString>) -> Exit {
    common::cli::main_with_args(crate::INFO, common::cli::UsageErrors::Echo, args, run)
}

/// Everything a flow needs, resolved once.
pub(crate) struct Settings {
    pub(crate) paths: Paths,
    pub(crate) guard: GuardSettings,
    pub(crate) log: PathBuf,
    pub(crate) format: Format,
    pub(crate) fix: FixEnv,
}

impl Settings {
    pub(crate) fn budget(&self) -> Budget {
        Budget { max_attempts: self.guard.max_attempts, tick_secs: self.guard.tick_secs as i64 }
    }

    /// Opens the guard's private state directory.
    pub(crate) fn store(&self) -> Result<Store, String> {
        Store::open(&self.paths.state_dir, self.paths.tool_dir("guard"))
    }

    /// The lock with its typed error (the dead-man waits only while it is busy).
    pub(crate) fn lock_raw(&self) -> Result<NamedLock, LockError> {
        NamedLock::acquire(&self.paths.run_dir, "guard", self.guard.lock_wait())
    }

    /// The exclusive lock of ticks and fixes, with the bounded wait.
    pub(crate) fn lock(&self) -> Result<NamedLock, String> {
        self.lock_raw().map_err(|e| match e {
            LockError::Busy { .. } => format!("another guard run or fix is in progress: {e}"),
            other => other.to_string(),
        })
    }

    /// Appends one record to the shared audit log (only a hash of `params`).
    pub(crate) fn audit(
        &self,
        action: &str,
        params: &serde_json::Value,
        exit: Exit,
        started: Instant,
    ) -> Result<(), String> {
        AuditLog::new(&self.paths.audit_log, &self.paths.audit_checkpoint)
            .append_for_process(crate::TOOL, action, params, i32::from(exit.code()), started)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// The environment the dead-man gets: the resolved paths and the tool
/// overrides, never a secret (the notifier resolves its own keys).
fn deadman_env(p: &Paths, env: &dyn Fn(&str) -> Option<String>) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = [
        ("OPENCLAW_STATE_DIR", &p.state_dir),
        ("OPENCLAW_RUN_DIR", &p.run_dir),
        ("OPENCLAW_AUDIT_LOG", &p.audit_log),
        ("OPENCLAW_AUDIT_CHECKPOINT", &p.audit_checkpoint),
        ("OPENCLAW_ARTIFACTS_ROOT", &p.artifacts_root),
        ("OPENCLAW_SECRETS_DIR", &p.secrets_dir),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.display().to_string()))
    .collect();
    for k in [
        "OPENCLAW_CONFIG",
        "OPENCLAW_GUARD_LOG",
        "OPENCLAW_SSH_DIR",
        "OPENCLAW_CUPS_DIR",
        "OPENCLAW_SYSCTL_ROOT",
        "OPENCLAW_NOTIFY_BIN",
        "OPENCLAW_DOCTOR_BIN",
        "PATH",
        "HOME",
    ] {
        if let Some(val) = env(k) {
            v.push((k.to_owned(), val));
        }
    }
    v
}

fn settings(cli: &Cli) -> Result<Settings, String> {
    let (config, paths) = Config::load_for_process(&cli.paths).map_err(|e| e.to_string())?;
    let guard = GuardSettings::from_config(&config).map_err(|e| format!("config: {e}"))?;
    let env = &paths::process_env;
    let log = settings::guard_log(guard.log.as_deref(), env, paths::is_root(), &paths.state_dir)?;
    let ssh_dir = settings::dir_from_env("OPENCLAW_SSH_DIR", &["/etc/ssh"], env)?.remove(0);
    let cups_dirs = settings::dir_from_env("OPENCLAW_CUPS_DIR", &["/etc/cups", "/var/snap/cups/common/etc/cups"], env)?;
    let own_exe = std::env::current_exe().map_err(|e| format!("cannot find my own executable: {e}"))?;
    let sysctl_root = settings::dir_from_env("OPENCLAW_SYSCTL_ROOT", &["/"], env)?.remove(0);
    let fix = FixEnv {
        ssh_dir,
        sysctl_root,
        cups_dirs,
        backups: paths.tool_dir("guard").join("backups"),
        rollback_after: std::time::Duration::from_secs(guard.rollback_after_secs),
        verify_for: std::time::Duration::from_secs(guard.verify_secs),
        deadman: guard.mechanism(),
        own_exe,
        deadman_env: deadman_env(&paths, env),
    };
    Ok(Settings { paths, guard, log, format: cli.format, fix })
}

fn run(cli: Cli) -> Result<Exit, String> {
    let s = settings(&cli)?;
    match cli.command {
        Command::Run { dry_run } => tick::tick(&s, dry_run),
        Command::Status => status(&s),
        Command::Fix { remediation, verify, dry_run } => {
            let mode = match (verify, dry_run) {
                (true, _) => crate::fix::Mode::Verify,
                (false, true) => crate::fix::Mode::DryRun,
                (false, false) => crate::fix::Mode::Apply,
            };
            fixcmd::fix(&s, remediation.into(), mode)
        }
        Command::Confirm => fixcmd::confirm(&s),
        Command::PrepareLog => crate::log::GuardLog::open(&s.log).map(|_| Exit::Clean),
        Command::Rollback { armed } => fixcmd::rollback(&s, armed.as_deref()),
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

pub(crate) fn now_unix() -> i64 {
    common::time_fmt::now_utc().unix_timestamp()
}
