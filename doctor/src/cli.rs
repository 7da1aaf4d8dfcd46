//! Arguments and the top-level flow: load config, resolve paths, run the
//! selected checks, render, write artifacts, choose the exit code.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use common::audit::{AuditLog, Checkpoint};
use common::config::Config;
use common::exit::Exit;
use common::output::Style;
use common::paths::{self, PathFlags, Paths};
use serde_json::json;

use crate::checks::{self, CHECKS, CheckDef, Ctx};
use crate::report::{INFO, Report};
use crate::settings::DoctorSettings;
use crate::{evidence, output, runner};

/// Fail-closed posture audit of an OpenClaw host: socket-truth port audit,
/// Tailscale, Docker, firewall, sshd, health endpoints, disk, secrets,
/// systemd and the audit log.
///
/// Exit codes: 0 no check failed; 1 a check failed or errored (with
/// --strict, a warning too); 2 the doctor itself could not run.
#[derive(Debug, Parser)]
#[command(name = "openclaw-doctor", version, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the checks and write an evidence bundle (evidence/<stamp>_<host>/) whatever the result.
    Evidence,
    /// Verify the shared audit log: exit 0 intact, 1 tampered or truncated, 2 unreadable.
    VerifyAudit(LogArgs),
    /// Repair a torn final line (a crash mid-append) so appends work again: exit 0 repaired or
    /// nothing to do, 1 the log is tampered (nothing changed), 2 unreadable or locked.
    AuditRecover(LogArgs),
    /// List every check id with what it reads and how it judges.
    ListChecks,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Run only this check (repeatable).
    #[arg(long = "only", value_name = "ID", global = true)]
    only: Vec<String>,
    /// Skip this check (repeatable).
    #[arg(long = "skip", value_name = "ID", global = true)]
    skip: Vec<String>,
    /// Output format.
    #[arg(long, value_name = "human|json|prometheus", default_value = "human", global = true)]
    format: Format,
    /// Treat warnings as failures for the exit code.
    #[arg(long, global = true)]
    strict: bool,
    /// Do not write doctor.json.
    #[arg(long, global = true)]
    no_artifacts: bool,
    /// Whole-run time budget in milliseconds (config doctor.budget_ms, default 10000).
    #[arg(long, value_name = "N", global = true)]
    budget_ms: Option<u64>,
    /// Per-check timeout in milliseconds (config doctor.check_timeout_ms, default 3000).
    #[arg(long, value_name = "N", global = true)]
    timeout_ms: Option<u64>,
    /// Also write Prometheus metrics atomically to this file (node_exporter textfile collector).
    #[arg(long, value_name = "PATH", global = true)]
    textfile: Option<PathBuf>,
    /// With --textfile: when the file's directory does not exist (node_exporter is not installed), skip the textfile
    /// with a note instead of failing the run (exit 2). The packaged timer uses it.
    #[arg(long, global = true, requires = "textfile")]
    textfile_optional: bool,
    #[command(flatten)]
    paths: PathFlags,
}

/// Which audit log `verify-audit` and `audit-recover` work on.
#[derive(Debug, clap::Args)]
struct LogArgs {
    /// The log (default: the configured audit log).
    #[arg(long, value_name = "PATH")]
    log: Option<PathBuf>,
    /// Its checkpoint file (default: <log>.checkpoint).
    #[arg(long, value_name = "PATH")]
    checkpoint: Option<PathBuf>,
    /// An exported checkpoint line the log must reach (repeatable); audit-recover
    /// rebuilds a missing checkpoint file only against one.
    #[arg(long, value_name = "LINE")]
    checkpoint_line: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Human,
    Json,
    Prometheus,
}

pub(crate) fn run(cli: Cli) -> Exit {
    let loaded = Config::load_for_process(&cli.run.paths).map_err(|e| e.to_string()).and_then(|(config, paths)| {
        let settings = DoctorSettings::from_config(&config).map_err(|e| format!("config: {e}"))?;
        Ok((config, settings, paths))
    });
    let (config, settings, paths) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => {
            output::error(&e);
            return Exit::Undecided;
        }
    };
    match cli.command {
        None => run_checks(&cli.run, config, settings, paths, false),
        Some(Command::Evidence) => run_checks(&cli.run, config, settings, paths, true),
        Some(Command::VerifyAudit(v)) => verify_audit(&v, &paths, cli.run.format),
        Some(Command::AuditRecover(r)) => match log_target(&r, &paths) {
            Ok(target) => crate::recover::run(target, cli.run.format == Format::Json),
            Err(e) => {
                output::error(&e);
                Exit::Undecided
            }
        },
        Some(Command::ListChecks) => list_checks(cli.run.format),
    }
}

fn select(args: &RunArgs) -> Result<Vec<&'static CheckDef>, String> {
    for id in args.only.iter().chain(&args.skip) {
        if checks::find(id).is_none() {
            let valid: Vec<&str> = CHECKS.iter().map(|c| c.id).collect();
            return Err(format!("unknown check id `{id}`; valid ids: {}", valid.join(", ")));
        }
    }
    let selected: Vec<&'static CheckDef> = CHECKS
        .iter()
        .filter(|c| args.only.is_empty() || args.only.iter().any(|o| o == c.id))
        .filter(|c| !args.skip.iter().any(|s| s == c.id))
        .collect();
    if selected.is_empty() {
        // A run that checked nothing must not read as a pass.
        return Err("--only/--skip leave no check to run".into());
    }
    Ok(selected)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map_or_else(|_| "unknown".into(), |h| h.trim().to_owned())
}

fn run_checks(args: &RunArgs, config: Config, settings: DoctorSettings, paths: Paths, evidence: bool) -> Exit {
    let defs = match select(args) {
        Ok(d) => d,
        Err(e) => {
            output::error(&e);
            return Exit::Undecided;
        }
    };
    let started = Instant::now();
    let started_at = common::time_fmt::now_utc();
    let timeout = args.timeout_ms.unwrap_or(settings.check_timeout_ms);
    let budget = args.budget_ms.unwrap_or(settings.budget_ms);
    let deadline = started + Duration::from_millis(timeout.min(budget));
    let artifacts_root = paths.artifacts_root.clone();
    let mut ctx = Ctx::new(config, settings, paths, paths::is_root(), deadline);
    ctx.remember_state = !args.no_artifacts;
    let ctx = Arc::new(ctx);
    let results = runner::run(&ctx, &defs);
    let report = Report::new(hostname(), started_at, started.elapsed().as_millis() as u64, args.strict, results);
    let mut exit = if report.passed() { Exit::Clean } else { Exit::Policy };

    let metrics = (args.format == Format::Prometheus || args.textfile.is_some())
        .then(|| report.to_prometheus(outbox_backlog(&ctx.paths)));
    let written = match args.format {
        Format::Human => output::stdout(&report.to_human(Style::for_stdout())),
        Format::Json => output::stdout_json(&report),
        Format::Prometheus => output::stdout(metrics.as_deref().unwrap_or_default()),
    };
    if written.is_err() {
        exit = Exit::Undecided;
    }
    if let (Some(path), Some(metrics)) = (&args.textfile, &metrics) {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
        // Only a directory that does not exist is skipped: a file in its
        // place, a link or no permission is still an error.
        let missing = std::fs::symlink_metadata(dir).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound);
        if args.textfile_optional && missing {
            output::note(&format!("textfile skipped: {} does not exist (no node_exporter)", dir.display()));
        // 0644: node_exporter runs as its own user and must read it; it holds no secrets.
        } else if let Err(e) = write_textfile(path, metrics) {
            output::error(&format!("cannot write textfile {}: {e}", path.display()));
            exit = Exit::Undecided;
        }
    }
    if !args.no_artifacts {
        let written = common::artifacts::new_run_dir(&artifacts_root, "doctor", None, started_at).and_then(|dir| {
            common::artifacts::write_atomic(&dir.join("doctor.json"), report.to_json().as_bytes()).map(|()| dir)
        });
        match written {
            Ok(dir) => output::note(&format!("report: {}", dir.join("doctor.json").display())),
            Err(e) => {
                output::error(&format!("cannot write the report under {}: {e}", artifacts_root.display()));
                exit = Exit::Undecided;
            }
        }
    }
    if evidence {
        let audit = AuditLog::new(&ctx.paths.audit_log, &ctx.paths.audit_checkpoint);
        match evidence::write(&artifacts_root, &report, exit.code(), started_at, &audit) {
            Ok(dir) => output::note(&format!("evidence: {}", dir.display())),
            Err(e) => {
                output::error(&format!("cannot write the evidence bundle under {}: {e}", artifacts_root.display()));
                exit = Exit::Undecided;
            }
        }
    }
    // The process exits right after this; freeing a report of 10,000 sockets
    // (built on a check thread's malloc arena) cost ~8% of the listener audit.
    std::mem::forget(report);
    exit
}

/// The notifier's outbox backlog for the metrics. When it cannot be read the
/// series are left out (the `OpenClawNotifierOutboxUnmeasured` alert fires on
/// that) and the reason goes to stderr; the run's verdict is the checks'.
fn outbox_backlog(paths: &Paths) -> Option<crate::outbox::Backlog> {
    crate::outbox::backlog(&paths.tool_dir("notifier"), std::time::SystemTime::now())
        .map_err(|e| output::error(&format!("notifier outbox not measured: {e}")))
        .ok()
}

/// Replaces `path` with the metrics, but only a regular file or nothing: the
/// rename would otherwise replace a device (`/dev/full`), a FIFO or a socket.
fn write_textfile(path: &std::path::Path, text: &str) -> Result<(), String> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if !m.file_type().is_file() && !m.file_type().is_symlink() => {
            return Err("it exists and is not a regular file; refusing to replace it".into());
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.to_string()),
    }
    common::artifacts::write_atomic_with_mode(path, text.as_bytes(), 0o644).map_err(|e| e.to_string())
}

/// What `verify-audit` and `audit-recover` both start from: the log named by
/// `--log`/`--checkpoint` (else the configured one), which must exist ("0
/// records, intact" would hide a deleted log), the operator's exported
/// checkpoints, and the head the doctor remembered for that log.
pub(crate) struct LogTarget {
    pub(crate) log: AuditLog,
    pub(crate) exported: Vec<Checkpoint>,
    pub(crate) remembered: Option<Checkpoint>,
}

fn log_target(args: &LogArgs, paths: &Paths) -> Result<LogTarget, String> {
    let log_path = args.log.clone().unwrap_or_else(|| paths.audit_log.clone());
    let checkpoint_path = match (&args.checkpoint, &args.log) {
        (Some(cp), _) => cp.clone(),
        (None, Some(log)) => paths::checkpoint_for(log),
        (None, None) => paths.audit_checkpoint.clone(),
    };
    if let Err(e) = std::fs::symlink_metadata(&log_path) {
        return Err(format!("no audit log at {}: {e}", log_path.display()));
    }
    let exported = args
        .checkpoint_line
        .iter()
        .map(|line| Checkpoint::parse_line(line).map_err(|e| format!("--checkpoint-line: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let remembered = crate::heads::remembered(&paths.artifacts_root, &log_path)
        .map_err(|e| format!("the remembered audit head cannot be trusted: {e}"))?;
    Ok(LogTarget { log: AuditLog::new(log_path, checkpoint_path), exported, remembered })
}

fn verify_audit(v: &LogArgs, paths: &Paths, format: Format) -> Exit {
    let LogTarget { log, exported, remembered } = match log_target(v, paths) {
        Ok(t) => t,
        Err(e) => {
            output::error(&e);
            return Exit::Undecided;
        }
    };
    let (log_path, checkpoint_path) = (log.path().to_owned(), log.checkpoint_path().to_owned());
    let extra: Vec<Checkpoint> = exported.into_iter().chain(remembered).collect();
    let report = match log.verify(&extra) {
        Ok(r) => r,
        Err(e) => {
            output::error(&e.to_string());
            return Exit::Undecided;
        }
    };
    let exit = if report.is_intact() { Exit::Clean } else { Exit::Policy };
    let written = if format == Format::Json {
        let body = json!({
            "log": log_path, "checkpoint": checkpoint_path, "intact": report.is_intact(), "records": report.records,
            "head": report.head, "checkpoints_checked": report.checkpoints_checked, "problems": report.problems,
        });
        output::stdout(&INFO.envelope(&body))
    } else {
        // Each line is escaped on its own: problem texts can quote log content.
        let mut lines = vec![format!(
            "{}: {} records, {}",
            log_path.display(),
            report.records,
            if report.is_intact() { "INTACT" } else { "TAMPERED" }
        )];
        lines.extend(report.problems.iter().map(|p| format!("  {p}")));
        let text: String = lines.iter().map(|l| format!("{}\n", common::output::sanitize(l))).collect();
        output::stdout(&text)
    };
    if written.is_err() { Exit::Undecided } else { exit }
}

fn list_checks(format: Format) -> Exit {
    let written = if format == Format::Json {
        let checks: Vec<_> = CHECKS.iter().map(|c| json!({"id": c.id, "title": c.title, "rules": c.rules})).collect();
        output::stdout(&INFO.envelope(&json!({"checks": checks})))
    } else {
        let mut text = String::new();
        for c in CHECKS {
            text.push_str(&format!("{}\t{}\n", c.id, c.title));
        }
        output::stdout(&text)
    };
    if written.is_err() { Exit::Undecided } else { Exit::Clean }
}
