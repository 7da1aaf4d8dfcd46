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
    decide(r, &registry::findings(r), state, interlock, NOW, B)
}

fn open() -> Verdict {
    Verdict::Open { tailnet_ip: "100.101.102.103".parse().unwrap() }
}

#[test]
fn a_passing_doctor_resolves_an_open_alert_once() {
    let r = report(vec![check("disk", "pass", Value::Null)]);
    let p = decide_with(&r, &State::default(), None);
    assert_eq!((p.outcome, &p.notify, p.findings.len()), (RunOutcome::Pass, &Notice::None, 0));
    let was_failing = State { doctor_fail_open: true, ..State::default() };
    assert_eq!(decide_with(&r, &was_failing, None).notify, Notice::Resolved);
}

#[test]
fn sshd_public_with_the_interlock_closed_is_skipped_with_the_reason() {
    let r = report(vec![sshd_public()]);
    let p = decide_with(&r, &State::default(), Some(&Verdict::Closed(Blocked::NeedsLogin)));
    assert_eq!(p.outcome, RunOutcome::Fail);
    let Plan::SkipRemediation { remediation, reason } = &p.findings[0].plan else { panic!("{p:?}") };
    assert_eq!(*remediation, RemediationId::SshTailnetOnly);
    assert_eq!(reason, &SkipReason::Interlock { blocked: Some(Blocked::NeedsLogin) });
    assert!(reason.text().contains("NeedsLogin") && reason.text().contains("will NOT be touched"));
    let p = decide_with(&r, &State::default(), None);
    assert!(matches!(
        &p.findings[0].plan,
        Plan::SkipRemediation { reason: SkipReason::Interlock { blocked: None }, .. }
    ));
}

#[test]
fn with_the_interlock_open_the_fix_is_still_not_available_in_this_version() {
    let r = report(vec![sshd_public()]);
    let p = decide_with(&r, &State::default(), Some(&open()));
    assert_eq!(
        p.findings[0].plan,
        Plan::SkipRemediation { remediation: RemediationId::SshTailnetOnly, reason: SkipReason::NotAvailable }
    );
    assert!(SkipReason::NotAvailable.text().contains("not available in this version"));
}

#[test]
fn budget_and_back_off_gate_before_availability() {
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
    let Notice::DoctorFail { message } = p.notify else { panic!() };
    assert_eq!(
        message,
        "doctor FAIL: disk fail: disk summary; keys error: keys summary; tailscale fail: tailscale summary; and 1 more"
    );
}

#[test]
fn next_state_tracks_findings_and_the_open_alert() {
    let r = report(vec![sshd_public(), check("disk", "fail", Value::Null)]);
    let p = decide_with(&r, &State::default(), None);
    let last =
        |o| LastRun { at: "t".into(), at_unix: NOW, outcome: o, exit_code: 1, findings: vec![], detail: String::new() };
    let s1 = next_state(&State::default(), &p, last(RunOutcome::Fail), true, NOW, B);
    assert!(s1.doctor_fail_open);
    assert_eq!(s1.findings.keys().collect::<Vec<_>>(), ["disk", "listeners/ssh-tailnet-only"]);
    assert_eq!(s1.findings["disk"].first_seen, NOW);
    // The notifier failed: the alert is not recorded as open.
    assert!(!next_state(&State::default(), &p, last(RunOutcome::Fail), false, NOW, B).doctor_fail_open);
    // Recovery: findings without attempts are forgotten, ones with attempts kept for the window.
    let mut s1b = s1.clone();
    s1b.findings.get_mut("disk").unwrap().attempts.push(NOW);
    let pass = decide_with(&report(vec![]), &s1b, None);
    assert_eq!(pass.notify, Notice::Resolved);
    let s2 = next_state(&s1b, &pass, last(RunOutcome::Pass), true, NOW + 600, B);
    assert!(!s2.doctor_fail_open);
    assert_eq!(s2.findings.keys().collect::<Vec<_>>(), ["disk"]);
    assert_eq!(s2.last_run.unwrap().outcome, RunOutcome::Pass);
}
