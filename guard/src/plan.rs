//! The pure decisions of one tick: from the doctor's findings, the guard's
//! state, the interlock verdict, the time and the budget rules, a [`Plan`]
//! per finding; then, from the attempts and the doctor's second report,
//! the outcome, the alerts to send and the state to keep. No IO.
//!
//! Per finding with a registered remediation the gates are checked in this
//! order: the interlocks it needs (fail closed), no dead-man rollback
//! pending, then the budget and back-off. After the remediations ran and
//! the doctor re-ran, [`conclude`] judges each attempt (a fix that
//! "succeeded" while the doctor still reports its finding failed), records
//! it against the budget and chooses the alerts.

use serde::Serialize;

use crate::budget::{self, Budget, Gate};
use crate::doctor::DoctorReport;
use crate::fix::{FixOutcome, Undo};
use crate::interlock::{Blocked, Verdict};
use crate::registry::{self, Finding, Interlock, RemediationId};
use crate::state::{FindingState, LastRun, RunOutcome, State};

/// How many failing checks the alert names.
const ALERT_CHECKS: usize = 3;

/// What the guard does about one finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Plan {
    /// No remediation is registered: report and notify only.
    NotifyOnly,
    /// Every gate is open: run the remediation this tick.
    Remediate {
        /// The remediation.
        remediation: RemediationId,
    },
    /// A remediation is registered but is not run this tick.
    SkipRemediation {
        /// The remediation.
        remediation: RemediationId,
        /// Why not.
        reason: SkipReason,
    },
}

/// Why a registered remediation is not run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "kebab-case")]
pub enum SkipReason {
    /// The Tailscale interlock is closed (or was not evaluated).
    Interlock {
        /// The failed condition.
        blocked: Option<Blocked>,
    },
    /// Backing off after a failed attempt.
    BackOff {
        /// Unix time it ends.
        until: i64,
    },
    /// The budget for 24 hours is spent.
    BudgetExhausted,
    /// A dead-man rollback is still pending: nothing else is changed until
    /// it is confirmed or has fired.
    RollbackPending,
}

impl SkipReason {
    /// The reason in words (may quote untrusted text: escape it).
    pub fn text(&self) -> String {
        match self {
            SkipReason::Interlock { blocked: Some(b) } => format!(
                "interlock closed: {}; sshd will NOT be touched (it could cut off access); will retry next tick",
                b.reason()
            ),
            SkipReason::Interlock { blocked: None } => {
                "interlock not evaluated; sshd will NOT be touched; will retry next tick".into()
            }
            SkipReason::BackOff { until } => format!("backing off after a failed attempt until {}", fmt_unix(*until)),
            SkipReason::BudgetExhausted => "fix budget exhausted for the last 24 h; reporting only".into(),
            SkipReason::RollbackPending => {
                "a dead-man rollback is pending; nothing is changed until it is confirmed or fires".into()
            }
        }
    }
}

/// RFC 3339 of a Unix time (the raw number when out of range).
pub fn fmt_unix(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t).map(common::time_fmt::rfc3339).unwrap_or_else(|_| t.to_string())
}

/// A finding and its plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FindingPlan {
    /// The finding.
    #[serde(flatten)]
    pub finding: Finding,
    /// What to do.
    pub plan: Plan,
}

/// An alert a tick sends through `openclaw-notify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Notice {
    /// `guard.doctor_fail`, high: the first failing checks.
    DoctorFail {
        /// The message.
        message: String,
    },
    /// `guard.doctor_fail --resolved`: the doctor passes again.
    Resolved,
    /// `guard.remediation_failed`, emergency.
    RemediationFailed {
        /// The message.
        message: String,
    },
    /// `guard.rolled_back`, emergency: a fix was undone.
    RolledBack {
        /// The message.
        message: String,
    },
    /// `guard.budget_exhausted`, emergency, once when a budget is spent.
    BudgetExhausted {
        /// The message.
        message: String,
    },
    /// `guard.awaiting_tailnet`, high: the public sshd listener stays until
    /// the tailnet path is proven; what is missing and what to do. Once per
    /// [`WAIT_NOTICE_SECS`], or sooner when what is missing changes.
    AwaitingTailnet {
        /// The message.
        message: String,
    },
}

/// How often the same waiting notice is repeated.
pub const WAIT_NOTICE_SECS: i64 = 6 * 3600;

impl Notice {
    /// The notifier's check id.
    pub fn check_id(&self) -> &'static str {
        match self {
            Notice::DoctorFail { .. } | Notice::Resolved => "guard.doctor_fail",
            Notice::RemediationFailed { .. } => "guard.remediation_failed",
            Notice::RolledBack { .. } => "guard.rolled_back",
            Notice::BudgetExhausted { .. } => "guard.budget_exhausted",
            Notice::AwaitingTailnet { .. } => "guard.awaiting_tailnet",
        }
    }
}

/// The decision before any remediation runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TickPlan {
    /// Per finding, in the doctor's order.
    pub findings: Vec<FindingPlan>,
}

impl TickPlan {
    /// The remediations to run, in order (each at most once).
    pub fn remediations(&self) -> Vec<(String, RemediationId)> {
        let mut seen = Vec::new();
        for f in &self.findings {
            if let Plan::Remediate { remediation } = f.plan
                && !seen.iter().any(|(_, r)| *r == remediation)
            {
                seen.push((f.finding.key.clone(), remediation));
            }
        }
        seen
    }
}

/// One remediation that ran this tick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    /// The finding key it was for.
    pub key: String,
    /// The remediation.
    pub remediation: RemediationId,
    /// How the fix ended.
    pub fix: FixOutcome,
}

/// What an attempt amounted to once the doctor re-ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttemptResult {
    /// The finding key.
    pub key: String,
    /// The remediation.
    pub remediation: RemediationId,
    /// The fix did its job and the doctor no longer reports the finding.
    pub succeeded: bool,
    /// One line: why it counts as it does (untrusted text).
    pub detail: String,
}

/// How the tick ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conclusion {
    /// `pass`, `fail`, or `error` when the doctor could not re-run.
    pub outcome: RunOutcome,
    /// Each attempt, judged.
    pub attempts: Vec<AttemptResult>,
    /// The alerts to send, in order.
    pub notices: Vec<Notice>,
}

/// Whether any finding needs an interlock, so the guard must gather it.
pub fn needs_interlock(findings: &[Finding]) -> bool {
    findings.iter().filter_map(|f| f.remediation).any(|r| registry::entry(r).interlocks.contains(&Interlock::TailnetUp))
}

fn plan_for(f: &Finding, state: &State, interlock: Option<&Verdict>, now: i64, b: Budget) -> Plan {
    let Some(rem) = f.remediation else { return Plan::NotifyOnly };
    let entry = registry::entry(rem);
    let skip = |reason| Plan::SkipRemediation { remediation: rem, reason };
    if entry.interlocks.contains(&Interlock::TailnetUp) {
        match interlock {
            Some(Verdict::Open { .. }) => {}
            Some(Verdict::Closed(blocked)) => return skip(SkipReason::Interlock { blocked: Some(blocked.clone()) }),
            None => return skip(SkipReason::Interlock { blocked: None }),
        }
    }
    if state.pending_rollback.is_some() {
        return skip(SkipReason::RollbackPending);
    }
    let history = state.findings.get(&f.key).cloned().unwrap_or_default();
    match budget::gate(&history, now, b) {
        Gate::Exhausted => skip(SkipReason::BudgetExhausted),
        Gate::BackOff { until } => skip(SkipReason::BackOff { until }),
        Gate::Allowed { .. } => Plan::Remediate { remediation: rem },
    }
}

/// The alert text: the first failing checks, `id: summary` joined by `; `.
fn alert_message(report: &DoctorReport) -> String {
    let failing: Vec<_> = report.checks.iter().filter(|c| c.is_failing()).collect();
    let mut parts: Vec<String> =
        failing.iter().take(ALERT_CHECKS).map(|c| format!("{} {}: {}", c.id, c.status, c.summary)).collect();
    if failing.len() > ALERT_CHECKS {
        parts.push(format!("and {} more", failing.len() - ALERT_CHECKS));
    }
    format!("doctor FAIL: {}", parts.join("; "))
}

/// Decides what to do about each finding. Pure.
pub fn decide(findings: &[Finding], state: &State, interlock: Option<&Verdict>, now: i64, b: Budget) -> TickPlan {
    TickPlan {
        findings: findings
            .iter()
            .map(|f| FindingPlan { finding: f.clone(), plan: plan_for(f, state, interlock, now, b) })
            .collect(),
    }
}

/// Judges one attempt against the doctor's report after it. Pure.
fn judge_attempt(a: &Attempt, after: Option<&[Finding]>) -> AttemptResult {
    let still = after.is_none_or(|fs| fs.iter().any(|f| f.key == a.key));
    let (succeeded, detail) = match (&a.fix, after) {
        (_, None) => (false, "the doctor could not re-run to confirm the fix".to_owned()),
        (fix, Some(_)) if fix.succeeded() && !still => (true, "the doctor no longer reports it".to_owned()),
        (fix, Some(_)) if fix.succeeded() => (false, "the fix reported success but the doctor still reports it".into()),
        (FixOutcome::Failed { why, .. }, _) => (false, why.clone()),
        (FixOutcome::Refused { why }, _) => (false, format!("refused: {why}")),
        (FixOutcome::AwaitingTailnet { waiting, .. }, _) => {
            (false, format!("the public listener stays until: {}", waiting.join("; ")))
        }
        (other, _) => (false, format!("unexpected outcome {other:?}")),
    };
    AttemptResult { key: a.key.clone(), remediation: a.remediation, succeeded, detail }
}

/// Concludes a tick from the doctor's final report (`None`: it could not
/// re-run after a remediation), the attempts and the state before the tick,
/// and returns the conclusion and the next state (without `last_run` and
/// the alert flag, which [`finish_state`] sets once the alerts are sent).
/// Pure.
pub fn conclude(
    last: Option<(&DoctorReport, &[Finding])>,
    attempts: &[Attempt],
    state: &State,
    now: i64,
    b: Budget,
) -> (Conclusion, State) {
    let after = last.map(|(_, f)| f);
    let results: Vec<AttemptResult> = attempts.iter().map(|a| judge_attempt(a, after)).collect();
    let mut next = state.clone();
    let mut notices = Vec::new();
    for (a, r) in attempts.iter().zip(&results) {
        // Waiting for the operator is no failed attempt: no budget spent,
        // no back-off, one notice per window (or when the reason changes).
        if let FixOutcome::AwaitingTailnet { phase1, waiting } = &a.fix {
            let said = waiting.join("; ");
            let p = &mut next.tailnet_path;
            p.waiting = Some(said.clone());
            p.waiting_since.get_or_insert(now);
            let due = p.notified_at.is_none_or(|t| now - t >= WAIT_NOTICE_SECS) || p.notified.as_deref() != Some(&said);
            if due {
                p.notified_at = Some(now);
                p.notified = Some(said.clone());
                notices.push(Notice::AwaitingTailnet {
                    message: format!("sshd keeps its public listener: {said} ({phase1})"),
                });
            }
            continue;
        }
        if a.remediation == RemediationId::SshTailnetOnly && a.fix.succeeded() {
            let login = next.tailnet_path.login.take();
            next.tailnet_path = crate::tailnet_path::PathState { login, ..Default::default() };
        }
        let f = next.findings.entry(a.key.clone()).or_insert_with(|| FindingState {
            first_seen: now,
            last_seen: now,
            ..FindingState::default()
        });
        budget::record_attempt(f, now, r.succeeded, b);
        if !r.succeeded {
            let msg = format!("{} for {}: {}", a.remediation.as_str(), a.key, r.detail);
            notices.push(match &a.fix {
                FixOutcome::Failed { undo, .. } if undo.is_rollback() => {
                    Notice::RolledBack { message: format!("ROLLED BACK {msg}; {}", undo_text(undo)) }
                }
                _ => Notice::RemediationFailed { message: format!("REMEDIATION FAILED {msg}") },
            });
        }
    }
    let findings = after.unwrap_or(&[]);
    for fnd in findings {
        let f = next
            .findings
            .entry(fnd.key.clone())
            .or_insert_with(|| FindingState { first_seen: now, ..FindingState::default() });
        f.last_seen = now;
    }
    next.findings.retain(|key, f| {
        budget::refresh(f, now, b);
        findings.iter().any(|x| &x.key == key) || !f.attempts.is_empty()
    });
    // One alert when the guard stops trying a finding that is still there
    // (a spent budget whose last attempt cleared its finding is no news).
    for fnd in findings {
        let (Some(rem), Some(f)) = (fnd.remediation, next.findings.get_mut(&fnd.key)) else { continue };
        if f.budget_exhausted && !f.exhaustion_alerted {
            f.exhaustion_alerted = true;
            notices.push(Notice::BudgetExhausted {
                message: format!(
                    "remediation exhausted: {} for {}: {} attempt(s) in 24 h and it is still reported; the guard stops trying and keeps reporting",
                    rem.as_str(),
                    fnd.key,
                    budget::attempts_in_window(f, now)
                ),
            });
        }
    }
    let outcome = match last {
        None => RunOutcome::Error,
        Some((_, [])) => RunOutcome::Pass,
        Some(_) => RunOutcome::Fail,
    };
    match last {
        Some((report, f)) if !f.is_empty() => notices.push(Notice::DoctorFail { message: alert_message(report) }),
        Some(_) if state.doctor_fail_open => notices.push(Notice::Resolved),
        _ => {}
    }
    (Conclusion { outcome, attempts: results, notices }, next)
}

/// What a rollback left, for an alert.
pub fn undo_text(u: &Undo) -> String {
    match u {
        Undo::NothingChanged => "nothing had been changed".into(),
        Undo::Kept { backup } => format!("the changes are kept (backup {backup})"),
        Undo::FilesRestored { backup } => format!("files restored from {backup}, nothing restarted"),
        Undo::RolledBack { backup } => {
            format!("the previous sshd configuration (possibly public) is restored from {backup} and sshd restarted")
        }
        Undo::RollbackFailed { backup, errors, .. } => format!(
            "ROLLBACK INCOMPLETE ({}); restore by hand from {backup} (openclaw-guard status, docs/guard.md runbook)",
            errors.join("; ")
        ),
    }
}

/// Sets `last_run` and the open-alert flag once the alerts were sent:
/// `doctor_notified` says whether the notifier accepted the
/// `guard.doctor_fail` alert or its recovery (a failed `--resolved` keeps the
/// alert open so the next passing tick sends it again). Pure.
pub fn finish_state(mut next: State, notices: &[Notice], doctor_notified: bool, last: LastRun) -> State {
    for n in notices {
        match (n, doctor_notified) {
            (Notice::DoctorFail { .. }, true) => next.doctor_fail_open = true,
            (Notice::Resolved, true) => next.doctor_fail_open = false,
            _ => {}
        }
    }
    next.last_run = Some(last);
    next
}

#[cfg(test)]
mod tests;
