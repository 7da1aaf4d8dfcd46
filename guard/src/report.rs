//! The documented JSON bodies of `run`, `status`, `fix`, `confirm` and
//! `rollback` (docs/guard.md), each
//! printed inside the shared envelope (`schema_version`, `tool`,
//! `tool_version`).

use serde::Serialize;

use crate::budget::{self, Budget};
use crate::doctor::DoctorResult;
use crate::fix::FixReport;
use crate::interlock::Verdict;
use crate::notify::NotifyOutcome;
use crate::plan::AttemptResult;
use crate::plan::{FindingPlan, Notice, fmt_unix};
use crate::state::{LastRun, PendingRollback, RollbackRecord, RunOutcome, State};

/// What the notifier was asked and what became of it.
#[derive(Debug, Clone, Serialize)]
pub struct NotifyReport {
    /// The alert decided.
    pub notice: Notice,
    /// Its fate: `not-sent`, `accepted`, `failed`.
    pub result: NotifyOutcome,
}

/// One remediation run this tick.
#[derive(Debug, Clone, Serialize)]
pub struct AttemptReport {
    /// The finding it was for.
    pub key: String,
    /// The fix's report.
    pub fix: FixReport,
    /// How it counts once the doctor re-ran (`null` in a dry run).
    pub result: Option<AttemptResult>,
}

/// `confirm`'s and `rollback`'s body.
#[derive(Debug, Clone, Serialize)]
pub struct ActionReport {
    /// `confirm` or `rollback`.
    pub action: &'static str,
    /// `confirmed`, `not-confirmed`, `rolled-back`, `rollback-failed`, `nothing-pending`.
    pub outcome: &'static str,
    /// One line (untrusted text: escaped when shown).
    pub detail: String,
}

impl ActionReport {
    /// A report.
    pub fn new(action: &'static str, outcome: &'static str, detail: &str) -> ActionReport {
        ActionReport { action, outcome, detail: detail.to_owned() }
    }
}

/// `run`'s body.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// When the tick started, RFC 3339 UTC.
    pub started_at: String,
    /// Nothing was notified, logged or recorded.
    pub dry_run: bool,
    /// `pass` or `fail`.
    pub outcome: RunOutcome,
    /// The exit code.
    pub exit_code: u8,
    /// The doctor's verdict.
    pub doctor_result: DoctorResult,
    /// The interlock, when a finding needed it.
    pub interlock: Option<Verdict>,
    /// Each finding and its plan.
    pub findings: Vec<FindingPlan>,
    /// The remediations run (or, in a dry run, what they would change).
    pub attempts: Vec<AttemptReport>,
    /// The doctor's verdict after remediation (`null` when none ran).
    pub doctor_after: Option<DoctorResult>,
    /// The alerts and their fate.
    pub notify: Vec<NotifyReport>,
    /// The guard log (none in a dry run).
    pub log: Option<String>,
}

/// One finding in `status`.
#[derive(Debug, Clone, Serialize)]
pub struct FindingStatus {
    /// The finding key.
    pub key: String,
    /// First and last reported, RFC 3339.
    pub first_seen: String,
    /// Last reported.
    pub last_seen: String,
    /// Fix attempts in the last 24 h.
    pub attempts_24h: u32,
    /// Attempts left in the window.
    pub budget_left: u32,
    /// The budget is spent.
    pub budget_exhausted: bool,
    /// No attempt before this time (RFC 3339), if backing off.
    pub backoff_until: Option<String>,
}

/// `status`'s body.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// The state file read.
    pub state_file: String,
    /// The last tick, `null` when the guard never ran.
    pub last_run: Option<LastRun>,
    /// A `guard.doctor_fail` alert is open.
    pub doctor_fail_open: bool,
    /// Per finding.
    pub findings: Vec<FindingStatus>,
    /// An armed rollback.
    pub pending_rollback: Option<PendingRollback>,
    /// The last rollback.
    pub last_rollback: Option<RollbackRecord>,
    /// `ssh-tailnet-only`'s phase and the proof it waits for.
    pub tailnet_path: TailnetPathStatus,
}

/// Where `ssh-tailnet-only` stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TailnetPathStatus {
    /// `1` while the public listener stays and the guard waits; `null`
    /// when it does not wait (never started, or sshd is on the tailnet only).
    pub phase: Option<u8>,
    /// What it waits for (untrusted text inside).
    pub waiting_for: Option<String>,
    /// Since when (RFC 3339).
    pub waiting_since: Option<String>,
    /// The last login seen over the tailnet.
    pub login: Option<crate::tailnet_path::Evidence>,
    /// When it was seen (RFC 3339).
    pub login_seen: Option<String>,
}

impl StatusReport {
    /// The status of `state` at `now`. Pure.
    pub fn new(state_file: String, state: &State, now: i64, b: Budget) -> StatusReport {
        let findings = state
            .findings
            .iter()
            .map(|(key, f)| {
                let used = budget::attempts_in_window(f, now);
                FindingStatus {
                    key: key.clone(),
                    first_seen: fmt_unix(f.first_seen),
                    last_seen: fmt_unix(f.last_seen),
                    attempts_24h: used,
                    budget_left: b.max_attempts.saturating_sub(used),
                    budget_exhausted: budget::gate(f, now, b) == budget::Gate::Exhausted,
                    backoff_until: f.backoff_until.filter(|&u| u > now).map(fmt_unix),
                }
            })
            .collect();
        StatusReport {
            state_file,
            last_run: state.last_run.clone(),
            doctor_fail_open: state.doctor_fail_open,
            findings,
            pending_rollback: state.pending_rollback.clone(),
            last_rollback: state.last_rollback.clone(),
            tailnet_path: TailnetPathStatus {
                phase: state.tailnet_path.waiting.as_ref().map(|_| 1),
                waiting_for: state.tailnet_path.waiting.clone(),
                waiting_since: state.tailnet_path.waiting_since.map(fmt_unix),
                login: state.tailnet_path.login.clone(),
                login_seen: state.tailnet_path.login.as_ref().map(|e| fmt_unix(e.seen_at)),
            },
        }
    }

    /// Whether the status is a policy failure: the last run did not pass, a
    /// budget is spent or a rollback is pending.
    pub fn is_failure(&self) -> bool {
        self.last_run.as_ref().is_some_and(|r| r.outcome != RunOutcome::Pass)
            || self.findings.iter().any(|f| f.budget_exhausted)
            || self.pending_rollback.is_some()
    }
}
