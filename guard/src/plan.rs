//! The pure decision of one tick: from the doctor's findings, the guard's
//! state, the interlock verdict, the time and the budget rules, a [`Plan`]
//! per finding, the notification to send, and the state to keep. No IO.
//!
//! Per finding with a registered remediation the gates are checked in this
//! order: the interlocks it needs (fail closed), the budget and back-off,
//! then whether this version carries the fix. Neither fix exists yet, so
//! every such finding ends as `SKIP REMEDIATION` and is notify-only.

use serde::Serialize;

use crate::budget::{self, Budget, Gate};
use crate::doctor::DoctorReport;
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
    /// This version does not carry the fix.
    NotAvailable,
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
            SkipReason::NotAvailable => "remediation not available in this version; treated as notify-only".into(),
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

/// The alert a tick sends through `openclaw-notify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Notice {
    /// Nothing to say.
    None,
    /// `guard.doctor_fail`, high: the first failing checks.
    DoctorFail {
        /// The message.
        message: String,
    },
    /// `guard.doctor_fail --resolved`: the doctor passes again.
    Resolved,
}

/// The whole tick's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TickPlan {
    /// `pass` or `fail` (a tick that could not run never gets a plan).
    pub outcome: RunOutcome,
    /// Per finding, in the doctor's order.
    pub findings: Vec<FindingPlan>,
    /// The alert.
    pub notify: Notice,
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
    let history = state.findings.get(&f.key).cloned().unwrap_or_default();
    match budget::gate(&history, now, b) {
        Gate::Exhausted => return skip(SkipReason::BudgetExhausted),
        Gate::BackOff { until } => return skip(SkipReason::BackOff { until }),
        Gate::Allowed { .. } => {}
    }
    // Every registry entry is unavailable in this version; the arm that
    // runs a fix arrives with the fixes themselves.
    debug_assert!(!entry.available);
    skip(SkipReason::NotAvailable)
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

/// Decides one tick. Pure.
pub fn decide(
    report: &DoctorReport,
    findings: &[Finding],
    state: &State,
    interlock: Option<&Verdict>,
    now: i64,
    b: Budget,
) -> TickPlan {
    let plans: Vec<FindingPlan> = findings
        .iter()
        .map(|f| FindingPlan { finding: f.clone(), plan: plan_for(f, state, interlock, now, b) })
        .collect();
    let (outcome, notify) = if findings.is_empty() {
        (RunOutcome::Pass, if state.doctor_fail_open { Notice::Resolved } else { Notice::None })
    } else {
        (RunOutcome::Fail, Notice::DoctorFail { message: alert_message(report) })
    };
    TickPlan { outcome, findings: plans, notify }
}

/// The state after a tick that ran. `notified`: whether the alert was
/// handed to the notifier (a failed `--resolved` keeps the alert open so the
/// next passing tick sends it again). Pure.
pub fn next_state(state: &State, plan: &TickPlan, last: LastRun, notified: bool, now: i64, b: Budget) -> State {
    let mut next = state.clone();
    for fp in &plan.findings {
        let f = next
            .findings
            .entry(fp.finding.key.clone())
            .or_insert_with(|| FindingState { first_seen: now, ..FindingState::default() });
        f.last_seen = now;
    }
    // A finding that is gone keeps its entry only while its attempts still count.
    next.findings.retain(|key, f| {
        budget::refresh(f, now, b);
        plan.findings.iter().any(|fp| &fp.finding.key == key) || !f.attempts.is_empty()
    });
    match (&plan.notify, notified) {
        (Notice::DoctorFail { .. }, true) => next.doctor_fail_open = true,
        (Notice::Resolved, true) => next.doctor_fail_open = false,
        _ => {}
    }
    next.last_run = Some(last);
    next
}

#[cfg(test)]
mod tests;
