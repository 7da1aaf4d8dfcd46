//! One tick (`openclaw-guard run`), under the lock: run the doctor, decide
//! ([`plan::decide`]), run each allowed remediation, re-run the doctor,
//! conclude ([`plan::conclude`]), notify, write the log, the state and the
//! audit records. Exit 0 when the doctor passes at once or after
//! remediation, 1 when findings remain, 2 when the guard could not run
//! (nothing decided or notified when the first doctor run fails).

use std::time::Instant;

use common::audit::AuditLog;
use common::exit::Exit;
use common::paths;
use serde_json::json;

use crate::cli::Settings;
use crate::doctor::{self, DoctorReport};
use crate::fix::{self, FixOutcome, FixReport, Mode};
use crate::fixcmd::{self, StateJournal};
use crate::interlock::{self, Verdict};
use crate::log::{GuardLog, token};
use crate::notify::{self, NotifyOutcome};
use crate::plan::{self, Attempt, Notice, Plan, TickPlan};
use crate::registry::{self, Finding, RemediationId};
use crate::render;
use crate::report::{AttemptReport, NotifyReport, RunReport};
use crate::state::{LastRun, RunOutcome, State, Store};
use common::locate::{Located, locate};

/// How long after its deadline a pending rollback is the tick's to do.
const OVERDUE_SECS: i64 = 60;

pub(crate) fn run_doctor(s: &Settings) -> Result<DoctorReport, doctor::DoctorError> {
    let own_exe = std::env::current_exe().ok();
    match locate("openclaw-doctor", "OPENCLAW_DOCTOR_BIN", &paths::process_env, own_exe.as_deref()) {
        Located::Found(bin) => doctor::run(&bin, s.guard.doctor_timeout()),
        Located::Missing(why) => Err(doctor::DoctorError::Missing(why)),
    }
}

/// Locates the notifier (beside the guard, then PATH).
pub(crate) fn notifier() -> Located {
    let own_exe = std::env::current_exe().ok();
    locate("openclaw-notify", "OPENCLAW_NOTIFY_BIN", &paths::process_env, own_exe.as_deref())
}

/// Sends each notice and logs its fate; returns the reports and whether
/// the `guard.doctor_fail` alert (or its recovery) was accepted.
pub(crate) fn send_all(
    s: &Settings,
    notices: &[Notice],
    log: &mut GuardLog,
    dry_run: bool,
) -> Result<(Vec<NotifyReport>, bool), String> {
    let who = notifier();
    let mut reports = Vec::new();
    let mut doctor_ok = false;
    for n in notices {
        let result = if dry_run { NotifyOutcome::NotSent } else { notify::send(&who, n, s.guard.notify_timeout()) };
        match &result {
            NotifyOutcome::NotSent => {}
            NotifyOutcome::Accepted => log.line(&format!("{} {} ({})", token::NOTIFIED, n.check_id(), kind(n)))?,
            NotifyOutcome::Failed { why } => log.line(&format!(
                "{} {}: {why}; what the guard does is unchanged",
                token::NOTIFY_FAILED,
                n.check_id()
            ))?,
        }
        if matches!(n, Notice::DoctorFail { .. } | Notice::Resolved) {
            doctor_ok = result == NotifyOutcome::Accepted;
        }
        reports.push(NotifyReport { notice: n.clone(), result });
    }
    Ok((reports, doctor_ok))
}

fn kind(n: &Notice) -> &'static str {
    match n {
        Notice::DoctorFail { .. } => "high",
        Notice::Resolved => "resolved",
        Notice::RemediationFailed { .. } | Notice::RolledBack { .. } | Notice::BudgetExhausted { .. } => "emergency",
        Notice::AwaitingTailnet { .. } => "high",
    }
}

/// One tick.
pub(crate) fn tick(s: &Settings, dry_run: bool) -> Result<Exit, String> {
    let started = Instant::now();
    let start = common::time_fmt::now_utc();
    let now = start.unix_timestamp();
    let _lock = s.lock()?;
    let store = s.store()?;
    let mut state = store.load()?;
    let mut log = if dry_run { GuardLog::dry() } else { GuardLog::open(&s.log)? };
    log.line(&format!("{} (pid {}) ---", token::RUN, std::process::id()))?;
    // A dead-man that never fired (killed with its host, a lost timer): the
    // tick holds the lock, so it rolls back itself.
    if !dry_run
        && let Some(p) = state.pending_rollback.clone()
        && now > p.deadline.saturating_add(OVERDUE_SECS)
    {
        let why = "the dead-man had not fired a minute after its deadline; the tick rolled back instead";
        let (_, rep) = fixcmd::roll_back_pending(s, &store, &mut state, &p, why, false)?;
        log.line(&format!("overdue rollback of {}: {}: {}", p.id, rep.outcome, rep.detail))?;
    }
    let report = match run_doctor(s) {
        Ok(r) => r,
        Err(e) => {
            let detail = e.to_string();
            log.line(&format!(
                "{}: the guard could not run: {detail}; nothing decided, nothing notified",
                token::ERROR
            ))?;
            if !dry_run {
                state.last_run = Some(last_run(start, RunOutcome::Error, Exit::Undecided, vec![], detail.clone()));
                store.save(&state)?;
                s.audit("guard.run", &json!({"outcome": "error", "findings": []}), Exit::Undecided, started)?;
            }
            return Err(detail);
        }
    };
    let findings = registry::findings(&report);
    let interlock =
        plan::needs_interlock(&findings).then(|| interlock::judge(&interlock::gather(s.guard.tailscale_timeout())));
    let tick_plan = plan::decide(&findings, &state, interlock.as_ref(), now, s.budget());
    log_plan(&mut log, &findings, &tick_plan, interlock.as_ref())?;
    let mut attempts = Vec::new();
    let mut attempt_reports = Vec::new();
    // Every attempt must be recorded: a log or audit log that cannot take a
    // record stops the tick before anything changes.
    if !dry_run && !tick_plan.remediations().is_empty() {
        AuditLog::new(&s.paths.audit_log, &s.paths.audit_checkpoint)
            .preflight()
            .map_err(|e| format!("no remediation: the audit log cannot take a record: {e}"))?;
    }
    // After a fix ran, a failed log line or audit record no longer stops the
    // tick: the attempt is still judged, counted, saved and alerted, then
    // the tick exits 2.
    let mut deferred: Vec<String> = Vec::new();
    // The state the attempts are judged against; on disk, each attempt is
    // first recorded as failed, so a tick killed mid-fix still spends budget
    // and backs off (the conclusion below replaces it with the real result).
    let mut before = state.clone();
    for (key, rem) in tick_plan.remediations() {
        if !dry_run {
            let f = state.findings.entry(key.clone()).or_insert_with(|| crate::state::FindingState {
                first_seen: now,
                last_seen: now,
                ..Default::default()
            });
            crate::budget::record_attempt(f, now, false, s.budget());
            store.save(&state)?;
        }
        let mode = if dry_run { Mode::DryRun } else { Mode::Apply };
        log.line(&format!(
            "{} {key} ({})",
            if dry_run { token::WOULD_REMEDIATE } else { token::REMEDIATING },
            rem.as_str()
        ))?;
        let fix_started = Instant::now();
        let rep = run_fix(s, rem, mode, &report, interlock.as_ref(), &store, &mut state);
        if let Err(e) = fixcmd::log_fix(&mut log, &key, &rep) {
            deferred.push(e);
        }
        if !dry_run {
            let params = json!({"remediation": rem.as_str(), "finding": key, "outcome": outcome_code(&rep.outcome)});
            let exit = if rep.outcome.succeeded() { Exit::Clean } else { Exit::Policy };
            if let Err(e) = s.audit("guard.fix", &params, exit, fix_started) {
                deferred.push(e);
            }
            attempts.push(Attempt { key: key.clone(), remediation: rem, fix: rep.outcome.clone() });
        }
        attempt_reports.push(AttemptReport { key, fix: rep, result: None });
    }
    // The doctor again, only when something was changed (or tried).
    let after = if attempts.is_empty() {
        Ok(report.clone())
    } else {
        run_doctor(s).inspect_err(|e| {
            if let Err(le) = log.line(&format!("{}: the doctor could not re-run after remediation: {e}", token::ERROR))
            {
                deferred.push(le);
            }
        })
    };
    let after_findings = after.as_ref().ok().map(registry::findings);
    let last = after.as_ref().ok().zip(after_findings.as_deref());
    // A login the fix saw and recorded is kept.
    before.tailnet_path.login.clone_from(&state.tailnet_path.login);
    let (conclusion, next) = plan::conclude(last, &attempts, &before, now, s.budget());
    for (r, a) in attempt_reports.iter_mut().zip(&conclusion.attempts) {
        r.result = Some(a.clone());
    }
    log_conclusion(
        &mut log,
        &conclusion.outcome,
        after_findings.as_deref().unwrap_or(&findings),
        !attempts.is_empty(),
    )?;
    let (notify, doctor_notified) = send_all(s, &conclusion.notices, &mut log, dry_run)?;
    let exit = match conclusion.outcome {
        RunOutcome::Pass => Exit::Clean,
        RunOutcome::Fail => Exit::Policy,
        RunOutcome::Error => Exit::Undecided,
    };
    let keys: Vec<String> = after_findings.as_deref().unwrap_or(&findings).iter().map(|f| f.key.clone()).collect();
    if !dry_run {
        let detail = match conclusion.outcome {
            RunOutcome::Pass if attempts.is_empty() => "doctor passes".to_owned(),
            RunOutcome::Pass => "doctor passes after remediation".to_owned(),
            RunOutcome::Fail => format!("{} finding(s) remain: {}", keys.len(), keys.join(", ")),
            RunOutcome::Error => "the doctor could not re-run after remediation".to_owned(),
        };
        let last = last_run(start, conclusion.outcome, exit, keys.clone(), detail);
        let next = plan::finish_state(next, &conclusion.notices, doctor_notified, last);
        // The pending rollback is the fix's to set and clear (already saved).
        let next = State {
            pending_rollback: state.pending_rollback.clone(),
            last_rollback: state.last_rollback.clone(),
            ..next
        };
        store.save(&next)?;
        if let Err(e) =
            s.audit("guard.run", &json!({ "outcome": conclusion.outcome.as_str(), "findings": keys }), exit, started)
        {
            deferred.push(e);
        }
    }
    let rep = RunReport {
        started_at: common::time_fmt::rfc3339(start),
        dry_run,
        outcome: conclusion.outcome,
        exit_code: exit.code(),
        doctor_result: report.result,
        interlock,
        findings: tick_plan.findings.clone(),
        attempts: attempt_reports,
        doctor_after: if attempts.is_empty() { None } else { after.as_ref().ok().map(|r| r.result) },
        notify,
        log: (!dry_run).then(|| s.log.display().to_string()),
    };
    render::run(s.format, &rep, log.lines())?;
    if !deferred.is_empty() {
        return Err(format!("the tick's record is incomplete: {}", deferred.join("; ")));
    }
    match conclusion.outcome {
        RunOutcome::Error => Err("the doctor could not re-run after remediation".into()),
        _ => Ok(exit),
    }
}

/// Runs one remediation with the tick's interlock verdict.
fn run_fix(
    s: &Settings,
    rem: RemediationId,
    mode: Mode,
    report: &DoctorReport,
    interlock: Option<&Verdict>,
    store: &Store,
    state: &mut State,
) -> FixReport {
    let tailnet = || match interlock {
        Some(Verdict::Open { tailnet_ip }) => {
            Ok(fix::Tailnet { ip: *tailnet_ip, path: fixcmd::path_facts(s, mode, Some(report)) })
        }
        _ => Err("the Tailscale interlock is not open".to_owned()),
    };
    fix::run(&s.fix, rem, mode, tailnet, &mut StateJournal { store, state })
}

/// The audit code of an outcome.
pub(crate) fn outcome_code(o: &FixOutcome) -> &'static str {
    match o {
        FixOutcome::Compliant { .. } => "compliant",
        FixOutcome::NotCompliant { .. } => "not-compliant",
        FixOutcome::WouldChange { .. } => "would-change",
        FixOutcome::Applied { .. } => "applied",
        FixOutcome::Refused { .. } => "refused",
        FixOutcome::AwaitingTailnet { .. } => "awaiting-tailnet-proof",
        FixOutcome::Failed { undo, .. } if undo.is_rollback() => "rolled-back",
        FixOutcome::Failed { .. } => "failed",
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

/// The log lines of the decision.
fn log_plan(log: &mut GuardLog, findings: &[Finding], p: &TickPlan, interlock: Option<&Verdict>) -> Result<(), String> {
    if findings.is_empty() {
        return log.line(&format!("{} (doctor)", token::PASS));
    }
    let keys: Vec<&str> = findings.iter().map(|f| f.key.as_str()).collect();
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
            Plan::Remediate { .. } => {}
        }
    }
    Ok(())
}

fn log_conclusion(
    log: &mut GuardLog,
    outcome: &RunOutcome,
    remaining: &[Finding],
    remediated: bool,
) -> Result<(), String> {
    match (outcome, remediated) {
        (RunOutcome::Pass, true) => log.line(&format!("FINAL {} (doctor)", token::PASS_AFTER)),
        (RunOutcome::Pass, false) => Ok(()),
        (RunOutcome::Fail, _) => {
            let keys: Vec<&str> = remaining.iter().map(|f| f.key.as_str()).collect();
            log.line(&format!(
                "{}: {} finding(s) remain ({}); manual investigation required",
                token::STILL_FAILING,
                keys.len(),
                keys.join(", ")
            ))
        }
        (RunOutcome::Error, _) => {
            log.line(&format!("{}: remediation could not be confirmed by the doctor", token::ERROR))
        }
    }
}
