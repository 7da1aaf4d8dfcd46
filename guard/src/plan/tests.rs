//! The tick decision over hand-built reports, states and interlock verdicts.

use serde_json::{Value, json};

use super::*;
use crate::doctor::{CheckResult, DoctorResult};

const B: Budget = Budget { max_attempts: 3, tick_secs: 600 };
const NOW: i64 = 2_000_000_000;

fn check(id: &str, status: &str, details: Value) -> CheckResult {
    CheckResult { id: id.into(), status: status.into(), summary: format!("{id} summary"), details }
}

fn sshd_public() -> CheckResult {
    let sock = json!({"proto": "tcp", "addr": "0.0.0.0", "port": 22, "verdict": "violation",
                      "owners": [{"pid": 1, "exe": "/usr/sbin/sshd"}]});
    check("listeners", "fail", json!({"sockets": [sock], "violations": ["tcp 0.0.0.0:22"]}))
}

fn report(checks: Vec<CheckResult>) -> DoctorReport {
    let failing = checks.iter().any(CheckResult::is_failing);
    DoctorReport {
        schema_version: 1,
        tool: "openclaw-doctor".into(),
        result: if failing { DoctorResult::Fail } else { DoctorResult::Pass },
        checks,
    }
}

fn decide_with(r: &DoctorReport, state: &State, interlock: Option<&Verdict>) -> TickPlan {
    decide(&registry::findings(r), state, interlock, NOW, B)
}

fn open() -> Verdict {
    Verdict::Open { tailnet_ip: "100.101.102.103".parse().unwrap() }
}

fn conclude_with(r: &DoctorReport, attempts: &[Attempt], state: &State) -> (Conclusion, State) {
    let f = registry::findings(r);
    conclude(Some((r, &f)), attempts, state, NOW, B)
}

fn attempt(fix: FixOutcome) -> Attempt {
    Attempt { key: "listeners/ssh-tailnet-only".into(), remediation: RemediationId::SshTailnetOnly, fix }
}

fn applied() -> FixOutcome {
    FixOutcome::Applied { backup: "b".into(), verified: "v".into() }
}

#[test]
fn a_passing_doctor_resolves_an_open_alert_once() {
    let r = report(vec![check("disk", "pass", Value::Null)]);
    assert!(decide_with(&r, &State::default(), None).findings.is_empty());
    let (c, _) = conclude_with(&r, &[], &State::default());
    assert_eq!((c.outcome, c.notices.len()), (RunOutcome::Pass, 0));
    let was_failing = State { doctor_fail_open: true, ..State::default() };
    assert_eq!(conclude_with(&r, &[], &was_failing).0.notices, [Notice::Resolved]);
}

#[test]
fn sshd_public_with_the_interlock_closed_is_skipped_with_the_reason() {
    let r = report(vec![sshd_public()]);
    let p = decide_with(&r, &State::default(), Some(&Verdict::Closed(Blocked::NeedsLogin)));
    let Plan::SkipRemediation { remediation, reason } = &p.findings[0].plan else { panic!("{p:?}") };
    assert_eq!(*remediation, RemediationId::SshTailnetOnly);
    assert_eq!(reason, &SkipReason::Interlock { blocked: Some(Blocked::NeedsLogin) });
    assert!(reason.text().contains("NeedsLogin") && reason.text().contains("will NOT be touched"));
    assert!(p.remediations().is_empty());
    let p = decide_with(&r, &State::default(), None);
    assert!(matches!(
        &p.findings[0].plan,
        Plan::SkipRemediation { reason: SkipReason::Interlock { blocked: None }, .. }
    ));
    assert_eq!(conclude_with(&r, &[], &State::default()).0.outcome, RunOutcome::Fail);
}

#[test]
fn with_the_interlock_open_the_fix_runs_unless_a_rollback_is_pending() {
    let r = report(vec![sshd_public()]);
    let p = decide_with(&r, &State::default(), Some(&open()));
    assert_eq!(p.findings[0].plan, Plan::Remediate { remediation: RemediationId::SshTailnetOnly });
    assert_eq!(p.remediations(), [("listeners/ssh-tailnet-only".to_owned(), RemediationId::SshTailnetOnly)]);
    let pending = State {
        pending_rollback: Some(crate::state::PendingRollback {
            id: "x".into(),
            remediation: "ssh-tailnet-only".into(),
            armed_at: NOW,
            deadline: NOW + 120,
            armed: crate::fix::deadman::Armed::Watchdog { pid: 1 },
        }),
        ..State::default()
    };
    let p = decide_with(&r, &pending, Some(&open()));
    assert!(matches!(p.findings[0].plan, Plan::SkipRemediation { reason: SkipReason::RollbackPending, .. }));
}

#[test]
fn budget_and_back_off_gate_the_fix() {
    let r = report(vec![sshd_public()]);
    let key = "listeners/ssh-tailnet-only".to_owned();
    let mut state = State::default();
    state.findings.insert(
        key.clone(),
        FindingState { attempts: vec![NOW - 100], backoff_until: Some(NOW + 500), ..FindingState::default() },
    );
    let p = decide_with(&r, &state, Some(&open()));
    assert!(
        matches!(p.findings[0].plan, Plan::SkipRemediation { reason: SkipReason::BackOff { until }, .. } if until == NOW + 500)
    );
    state
        .findings
        .insert(key, FindingState { attempts: vec![NOW - 300, NOW - 200, NOW - 100], ..FindingState::default() });
    let p = decide_with(&r, &state, Some(&open()));
    assert!(matches!(p.findings[0].plan, Plan::SkipRemediation { reason: SkipReason::BudgetExhausted, .. }));
}

#[test]
fn unregistered_findings_are_notify_only_and_the_alert_names_three_checks() {
    let r = report(vec![
        check("disk", "fail", Value::Null),
        check("keys", "error", Value::Null),
        check("tailscale", "fail", Value::Null),
        check("systemd", "fail", Value::Null),
        check("sshd", "warn", Value::Null),
    ]);
    let p = decide_with(&r, &State::default(), None);
    assert!(p.findings.iter().all(|f| f.plan == Plan::NotifyOnly));
    assert!(!needs_interlock(&registry::findings(&r)));
    let (c, _) = conclude_with(&r, &[], &State::default());
    let [Notice::DoctorFail { message }] = c.notices.as_slice() else { panic!("{c:?}") };
    assert_eq!(
        message,
        "doctor FAIL: disk fail: disk summary; keys error: keys summary; tailscale fail: tailscale summary; and 1 more"
    );
}

#[test]
fn a_fix_that_clears_the_finding_passes_and_resolves() {
    let before = State { doctor_fail_open: true, ..State::default() };
    let (c, next) = conclude_with(&report(vec![]), &[attempt(applied())], &before);
    assert_eq!(c.outcome, RunOutcome::Pass);
    assert!(c.attempts[0].succeeded);
    assert_eq!(c.notices, [Notice::Resolved]);
    let f = &next.findings["listeners/ssh-tailnet-only"];
    assert_eq!((f.attempts.as_slice(), f.backoff_until), (&[NOW][..], None));
}

#[test]
fn success_while_the_doctor_still_reports_the_finding_is_a_failed_attempt() {
    let r = report(vec![sshd_public(), check("disk", "fail", Value::Null)]);
    let (c, next) = conclude_with(&r, &[attempt(applied())], &State::default());
    assert!(!c.attempts[0].succeeded);
    assert!(c.attempts[0].detail.contains("still reports"));
    assert!(matches!(&c.notices[0], Notice::RemediationFailed { message } if message.contains("still reports")));
    assert_eq!(next.findings["listeners/ssh-tailnet-only"].backoff_until, Some(NOW + 600));
    // An unrelated finding that remains does not fail the attempt.
    let r = report(vec![check("disk", "fail", Value::Null)]);
    let (c, _) = conclude_with(&r, &[attempt(applied())], &State::default());
    assert!(c.attempts[0].succeeded);
    assert_eq!(c.outcome, RunOutcome::Fail);
}

#[test]
fn a_rollback_alerts_as_rolled_back_and_the_third_failure_exhausts_once() {
    let r = report(vec![sshd_public()]);
    let rolled =
        FixOutcome::Failed { why: "verification failed".into(), undo: Undo::RolledBack { backup: "/b".into() } };
    let mut state = State::default();
    state.findings.insert(
        "listeners/ssh-tailnet-only".into(),
        FindingState { attempts: vec![NOW - 2000, NOW - 1000], consecutive_failures: 2, ..FindingState::default() },
    );
    let (c, next) = conclude_with(&r, &[attempt(rolled.clone())], &state);
    assert!(matches!(&c.notices[0], Notice::RolledBack { message } if message.contains("possibly public")));
    assert!(matches!(&c.notices[1], Notice::BudgetExhausted { message } if message.contains("remediation exhausted")));
    assert!(matches!(c.notices[2], Notice::DoctorFail { .. }));
    assert!(next.findings["listeners/ssh-tailnet-only"].budget_exhausted);
    // The next tick: still exhausted, no second alert.
    let (c, _) = conclude_with(&r, &[], &next);
    assert!(!c.notices.iter().any(|n| matches!(n, Notice::BudgetExhausted { .. })), "{c:?}");
    // A third attempt that cleared its finding spends the budget without an alert;
    // the alert comes when the finding returns and the guard will not try.
    let (c, next) = conclude_with(&report(vec![]), &[attempt(applied())], &state);
    assert!(c.notices.is_empty(), "{c:?}");
    assert!(next.findings["listeners/ssh-tailnet-only"].budget_exhausted);
    let (c, _) = conclude_with(&r, &[], &next);
    assert!(matches!(&c.notices[0], Notice::BudgetExhausted { message } if message.contains("still reported")));
    // The doctor could not re-run: the tick errors and the attempt failed.
    let (c, _) = conclude(None, &[attempt(applied())], &State::default(), NOW, B);
    assert_eq!(c.outcome, RunOutcome::Error);
    assert!(!c.attempts[0].succeeded);
}

#[test]
fn finish_state_records_the_open_alert_only_when_accepted() {
    let r = report(vec![sshd_public(), check("disk", "fail", Value::Null)]);
    let (c, next) = conclude_with(&r, &[], &State::default());
    let last =
        |o| LastRun { at: "t".into(), at_unix: NOW, outcome: o, exit_code: 1, findings: vec![], detail: String::new() };
    let s1 = finish_state(next.clone(), &c.notices, true, last(RunOutcome::Fail));
    assert!(s1.doctor_fail_open);
    assert_eq!(s1.findings.keys().collect::<Vec<_>>(), ["disk", "listeners/ssh-tailnet-only"]);
    assert_eq!(s1.findings["disk"].first_seen, NOW);
    assert!(!finish_state(next, &c.notices, false, last(RunOutcome::Fail)).doctor_fail_open);
    // Recovery: findings without attempts are forgotten, ones with attempts kept for the window.
    let mut s1b = s1.clone();
    s1b.findings.get_mut("disk").unwrap().attempts.push(NOW);
    let (c, next) = conclude(Some((&report(vec![]), &[])), &[], &s1b, NOW + 600, B);
    assert_eq!(c.notices, [Notice::Resolved]);
    let s2 = finish_state(next, &c.notices, true, last(RunOutcome::Pass));
    assert!(!s2.doctor_fail_open);
    assert_eq!(s2.findings.keys().collect::<Vec<_>>(), ["disk"]);
    assert_eq!(s2.last_run.unwrap().outcome, RunOutcome::Pass);
}
