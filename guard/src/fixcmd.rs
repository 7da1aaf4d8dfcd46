//! `fix`, `confirm` and `rollback`: the remediations run alone for an
//! operator, and the two ends of the dead-man. Each change runs under the
//! guard's lock, writes the guard log, one audit record (`guard.fix`,
//! `guard.confirm`, `guard.rollback`) and, when something was undone or
//! failed, an emergency alert. `fix --verify` and `--dry-run` change
//! nothing, take no lock and write no log.

use std::time::{Duration, Instant};

use common::exit::Exit;
use common::lock::LockError;
use serde_json::json;

use crate::cli::{Settings, now_unix};
use crate::doctor::DoctorReport;
use crate::fix::backup::Backup;
use crate::fix::ssh::Journal;
use crate::fix::{self, FixOutcome, FixReport, Mode, Steps, Tailnet, Undo, deadman};
use crate::interlock::{self, Verdict};
use crate::log::{GuardLog, token};
use crate::plan::{Notice, undo_text};
use crate::registry::RemediationId;
use crate::report::ActionReport;
use crate::state::{PendingRollback, RollbackRecord, State, Store};
use crate::tailnet_path::{self, Evidence, PathFacts};
use crate::{render, tick};

/// The state file as the fix's journal: every change saved at once.
pub(crate) struct StateJournal<'a> {
    pub(crate) store: &'a Store,
    pub(crate) state: &'a mut State,
}

impl Journal for StateJournal<'_> {
    fn pending(&self) -> Option<PendingRollback> {
        self.state.pending_rollback.clone()
    }

    fn set_pending(&mut self, p: Option<PendingRollback>) -> Result<(), String> {
        // Memory follows the disk only once the disk has it.
        let next = State { pending_rollback: p, ..self.state.clone() };
        self.store.save(&next)?;
        *self.state = next;
        Ok(())
    }

    fn login(&self) -> Option<Evidence> {
        self.state.tailnet_path.login.clone()
    }

    fn record_login(&mut self, e: Evidence) -> Result<(), String> {
        let mut next = self.state.clone();
        next.tailnet_path.login = Some(e);
        self.store.save(&next)?;
        *self.state = next;
        Ok(())
    }
}

/// A journal for read-only runs.
struct ReadOnly(Option<State>);

impl Journal for ReadOnly {
    fn pending(&self) -> Option<PendingRollback> {
        self.0.as_ref().and_then(|s| s.pending_rollback.clone())
    }

    fn set_pending(&mut self, _: Option<PendingRollback>) -> Result<(), String> {
        Err("read-only run".into())
    }

    fn login(&self) -> Option<Evidence> {
        self.0.as_ref().and_then(|s| s.tailnet_path.login.clone())
    }

    fn record_login(&mut self, _: Evidence) -> Result<(), String> {
        Err("read-only run".into())
    }
}

/// Writes a fix's steps and its ending to the log.
pub(crate) fn log_fix(log: &mut GuardLog, key: &str, rep: &FixReport) -> Result<(), String> {
    for s in &rep.steps {
        log.line(&format!("  {s}"))?;
    }
    let id = rep.remediation.as_str();
    match &rep.outcome {
        FixOutcome::Compliant { detail } => {
            log.line(&format!("{} {key} ({id}): nothing to change: {detail}", token::APPLIED))
        }
        FixOutcome::Applied { backup, verified } => {
            log.line(&format!("{} {key} ({id}): verified ({verified}); backup {backup}", token::APPLIED))
        }
        FixOutcome::WouldChange { changes } => {
            log.line(&format!("{} {key} ({id}) would: {}", token::WOULD_REMEDIATE, changes.join("; ")))
        }
        FixOutcome::NotCompliant { problems } => {
            log.line(&format!("{key} ({id}) not compliant: {}", problems.join("; ")))
        }
        FixOutcome::Refused { why } => {
            log.line(&format!("{} {key} ({id}): refused, nothing changed: {why}", token::FAILED))
        }
        FixOutcome::AwaitingTailnet { phase1, waiting } => {
            log.line(&format!("{} {key} ({id}): {phase1}", token::AWAITING))?;
            for w in waiting {
                log.line(&format!("  waiting for: {w}"))?;
            }
            Ok(())
        }
        FixOutcome::Failed { why, undo } => {
            let tok = match undo {
                Undo::RolledBack { .. } => token::ROLLED_BACK,
                Undo::RollbackFailed { .. } => token::ROLLBACK_FAILED,
                _ => token::FAILED,
            };
            log.line(&format!("{} {key} ({id}): {why}; {}", tok, undo_text(undo)))?;
            if let Undo::RollbackFailed { manual, .. } = undo {
                for m in manual {
                    log.line(&format!("  restore by hand: {m}"))?;
                }
            }
            Ok(())
        }
    }
}

/// The tailnet address and, except for `--verify`, the path's facts (the
/// doctor runs for its firewall verdicts).
fn interlock_ip(s: &Settings, mode: Mode) -> Result<Tailnet, String> {
    match interlock::judge(&interlock::gather(s.guard.tailscale_timeout())) {
        Verdict::Open { tailnet_ip } => Ok(Tailnet { ip: tailnet_ip, path: path_facts(s, mode, None) }),
        Verdict::Closed(b) => Err(format!(
            "{}: {}; sshd will NOT be touched (it could cut off access)",
            token::INTERLOCK_CLOSED,
            b.reason()
        )),
    }
}

/// The tailnet path's facts: `report` is the doctor's report when the
/// caller has one; otherwise the doctor runs now. `--verify` needs none.
pub(crate) fn path_facts(s: &Settings, mode: Mode, report: Option<&DoctorReport>) -> PathFacts {
    if mode == Mode::Verify {
        let why = "not read for --verify".to_owned();
        return PathFacts {
            established: Ok(Vec::new()),
            locals: Ok(Vec::new()),
            firewall: Err(why.clone()),
            shields_up: Err(why.clone()),
            packet_filter: Err(why),
        };
    }
    let ran;
    let report = match report {
        Some(r) => Some(r),
        None => {
            ran = tick::run_doctor(s).ok();
            ran.as_ref()
        }
    };
    tailnet_path::gather(report, s.guard.tailscale_timeout())
}

/// `openclaw-guard fix <remediation> [--verify|--dry-run]`.
pub(crate) fn fix(s: &Settings, rem: RemediationId, mode: Mode) -> Result<Exit, String> {
    let started = Instant::now();
    if mode != Mode::Apply {
        // Read-only: an existing state dir is read, none is created.
        let state = Store::existing(s.paths.tool_dir("guard")).ok().flatten().and_then(|st| st.load().ok());
        let rep = fix::run(&s.fix, rem, mode, || interlock_ip(s, mode), &mut ReadOnly(state));
        render::fix(s.format, &rep)?;
        return Ok(fix_exit(&rep.outcome));
    }
    let _lock = s.lock()?;
    let store = s.store()?;
    let mut state = store.load()?;
    let mut log = GuardLog::open(&s.log)?;
    log.line(&format!("--- guard fix {} (pid {}) ---", rem.as_str(), std::process::id()))?;
    log.line(&format!("{} {} (operator)", token::REMEDIATING, rem.as_str()))?;
    let rep =
        fix::run(&s.fix, rem, mode, || interlock_ip(s, mode), &mut StateJournal { store: &store, state: &mut state });
    log_fix(&mut log, "operator", &rep)?;
    let exit = fix_exit(&rep.outcome);
    let mut notices = Vec::new();
    match &rep.outcome {
        o if o.succeeded() => state.last_rollback = None,
        FixOutcome::Failed { why, undo } if undo.is_rollback() => {
            state.last_rollback = Some(record(rem, undo, why));
            notices.push(Notice::RolledBack {
                message: format!("ROLLED BACK {} (operator fix): {why}; {}", rem.as_str(), undo_text(undo)),
            });
        }
        FixOutcome::Failed { why, .. } | FixOutcome::Refused { why } => notices.push(Notice::RemediationFailed {
            message: format!("REMEDIATION FAILED {} (operator fix): {why}", rem.as_str()),
        }),
        _ => {}
    }
    store.save(&state)?;
    tick::send_all(s, &notices, &mut log, false)?;
    s.audit(
        "guard.fix",
        &json!({"remediation": rem.as_str(), "finding": "operator", "outcome": tick::outcome_code(&rep.outcome)}),
        exit,
        started,
    )?;
    render::fix(s.format, &rep)?;
    Ok(exit)
}

fn fix_exit(o: &FixOutcome) -> Exit {
    match o {
        FixOutcome::Compliant { .. } | FixOutcome::Applied { .. } | FixOutcome::WouldChange { .. } => Exit::Clean,
        FixOutcome::NotCompliant { .. }
        | FixOutcome::Refused { .. }
        | FixOutcome::Failed { .. }
        | FixOutcome::AwaitingTailnet { .. } => Exit::Policy,
    }
}

fn record(rem: RemediationId, undo: &Undo, why: &str) -> RollbackRecord {
    let now = common::time_fmt::now_utc();
    let backup = match undo {
        Undo::RolledBack { backup }
        | Undo::RollbackFailed { backup, .. }
        | Undo::FilesRestored { backup }
        | Undo::Kept { backup } => backup.clone(),
        Undo::NothingChanged => String::new(),
    };
    RollbackRecord {
        at: common::time_fmt::rfc3339(now),
        at_unix: now.unix_timestamp(),
        remediation: rem.as_str().into(),
        backup,
        restored: matches!(undo, Undo::RolledBack { .. }),
        detail: format!("{why}; {}", undo_text(undo)),
    }
}

/// `openclaw-guard confirm`: checks sshd answers on the tailnet only, then
/// disarms the pending rollback.
pub(crate) fn confirm(s: &Settings) -> Result<Exit, String> {
    let started = Instant::now();
    let _lock = s.lock()?;
    let store = s.store()?;
    let mut state = store.load()?;
    let Some(pending) = state.pending_rollback.clone() else {
        render::action(s.format, &ActionReport::new("confirm", "nothing-pending", "no rollback is pending"))?;
        return Ok(Exit::Clean);
    };
    let mut log = GuardLog::open(&s.log)?;
    let mut steps = Steps::default();
    let check = match interlock_ip(s, Mode::Verify) {
        Ok(t) => fix::ssh::run(&s.fix, Mode::Verify, &t, &mut ReadOnly(None), &mut steps),
        Err(why) => FixOutcome::NotCompliant { problems: vec![why] },
    };
    let (exit, rep) = match check {
        FixOutcome::Compliant { detail } => {
            state.pending_rollback = None;
            store.save(&state)?;
            deadman::disarm(&pending.armed, &mut steps);
            log.line(&format!("{} {} (backup {}): {detail}", token::CONFIRMED, pending.remediation, pending.id))?;
            (Exit::Clean, ActionReport::new("confirm", "confirmed", &detail))
        }
        other => {
            let why = match other {
                FixOutcome::NotCompliant { problems } => problems.join("; "),
                o => format!("{o:?}"),
            };
            let detail =
                format!("not confirmed: {why}; the dead-man rolls back at {}", crate::plan::fmt_unix(pending.deadline));
            log.line(&format!("{} {}: {detail}", token::FAILED, pending.remediation))?;
            (Exit::Policy, ActionReport::new("confirm", "not-confirmed", &detail))
        }
    };
    s.audit("guard.confirm", &json!({"id": pending.id, "outcome": rep.outcome}), exit, started)?;
    render::action(s.format, &rep)?;
    Ok(exit)
}

/// `openclaw-guard rollback [--armed ID]`.
pub(crate) fn rollback(s: &Settings, armed: Option<&str>) -> Result<Exit, String> {
    let store = s.store()?;
    let still = |store: &Store, id: &str| -> Result<Option<PendingRollback>, String> {
        Ok(store.load()?.pending_rollback.filter(|p| p.id == id))
    };
    let _lock = match armed {
        None => s.lock()?,
        Some(id) => {
            // Wait for the deadline, leaving as soon as the rollback is confirmed or done.
            loop {
                let Some(p) = still(&store, id)? else { return nothing(s, id) };
                let left = p.deadline - now_unix();
                if left <= 0 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(500).min(Duration::from_secs(left as u64)));
            }
            // A tick still mid-fix holds the lock: wait for it while the rollback is pending.
            loop {
                match s.lock_raw() {
                    Ok(l) => break l,
                    Err(LockError::Busy { .. }) if still(&store, id)?.is_some() => {
                        std::thread::sleep(Duration::from_secs(1))
                    }
                    Err(LockError::Busy { .. }) => return nothing(s, id),
                    Err(e) => return Err(e.to_string()),
                }
            }
        }
    };
    let mut state = store.load()?;
    let pending = match (&state.pending_rollback, armed) {
        (Some(p), Some(id)) if p.id == id => p.clone(),
        (Some(p), None) => p.clone(),
        (_, Some(id)) => return nothing(s, id),
        (None, None) => {
            render::action(s.format, &ActionReport::new("rollback", "nothing-pending", "no rollback is pending"))?;
            return Ok(Exit::Clean);
        }
    };
    let why = match armed {
        Some(_) => "the dead-man's deadline passed without a confirm",
        None => "rolled back by an operator",
    };
    let (exit, rep) = roll_back_pending(s, &store, &mut state, &pending, why, armed.is_some())?;
    render::action(s.format, &rep)?;
    Ok(exit)
}

/// Rolls back `pending` under the lock the caller holds. Restoring comes
/// first; the log, the alert and the audit record are best effort after it,
/// so a broken log or audit file never keeps the files from coming back.
pub(crate) fn roll_back_pending(
    s: &Settings,
    store: &Store,
    state: &mut State,
    pending: &PendingRollback,
    why: &str,
    armed: bool,
) -> Result<(Exit, ActionReport), String> {
    let started = Instant::now();
    let mut steps = Steps::default();
    let rem = if pending.remediation == RemediationId::CupsLocalhost.as_str() {
        RemediationId::CupsLocalhost
    } else {
        RemediationId::SshTailnetOnly
    };
    let undo = match Backup::load(&s.fix.backups, &pending.id) {
        Ok(b) => deadman::roll_back(&b, &mut steps),
        Err(e) => Undo::RollbackFailed {
            backup: s.fix.backups.join(&pending.id).display().to_string(),
            errors: vec![e],
            manual: vec![format!(
                "restore the files listed in {}/manifest.json by hand",
                s.fix.backups.join(&pending.id).display()
            )],
        },
    };
    let restored = matches!(undo, Undo::RolledBack { .. });
    if restored {
        state.pending_rollback = None;
        deadman::disarm(&pending.armed, &mut steps);
    }
    state.last_rollback = Some(record(rem, &undo, why));
    let saved = store.save(state);
    let mut problems: Vec<String> = saved.err().into_iter().collect();
    let mut log = GuardLog::open(&s.log).unwrap_or_else(|e| {
        problems.push(e);
        GuardLog::dry()
    });
    let tok = if restored { token::ROLLED_BACK } else { token::ROLLBACK_FAILED };
    let mut lines: Vec<String> = steps.0.iter().map(|st| format!("  {st}")).collect();
    lines.push(format!("{tok} {} (backup {}): {why}; {}", pending.remediation, pending.id, undo_text(&undo)));
    if let Undo::RollbackFailed { manual, .. } = &undo {
        lines.extend(manual.iter().map(|m| format!("  restore by hand: {m}")));
    }
    for l in &lines {
        if let Err(e) = log.line(l) {
            problems.push(e);
            break;
        }
    }
    let notice = Notice::RolledBack { message: format!("{tok} {}: {why}; {}", pending.remediation, undo_text(&undo)) };
    if let Err(e) = tick::send_all(s, &[notice], &mut log, false) {
        problems.push(e);
    }
    let exit = if restored { Exit::Clean } else { Exit::Policy };
    let code = if restored { "rolled-back" } else { "rollback-failed" };
    if let Err(e) =
        s.audit("guard.rollback", &json!({"id": pending.id, "outcome": code, "armed": armed}), exit, started)
    {
        problems.push(e);
    }
    let mut detail = undo_text(&undo);
    if !problems.is_empty() {
        detail.push_str(&format!("; also: {}", problems.join("; ")));
    }
    Ok((exit, ActionReport::new("rollback", code, &detail)))
}

fn nothing(s: &Settings, id: &str) -> Result<Exit, String> {
    render::action(
        s.format,
        &ActionReport::new(
            "rollback",
            "nothing-pending",
            &format!("rollback {id} is no longer pending (confirmed or done)"),
        ),
    )?;
    Ok(Exit::Clean)
}
