//! Each verification rule broken alone, over hand-built facts.

use super::*;

const NOW: i64 = 1_795_860_000; // 2026-11-28T10:00:00Z, the verdict's created_at

fn verdict() -> Verdict {
    verdict::tests::sample()
}

fn facts(v: &Verdict) -> Facts {
    Facts {
        verdict: Some(v.canonical()),
        unreadable: None,
        sig_present: true,
        sig_exact: true,
        modes: [Some("100644".into()), Some("100644".into())],
        sig: SigCheck::Valid { principal: "reviewer@openclaw".into() },
        tree_diff: Some(vec![VERDICT_PATH.into(), SIG_PATH.into()]),
        now: NOW,
        max_age_secs: Some(30 * 86_400),
    }
}

fn refusal(f: &Facts) -> Refusal {
    match judge(f) {
        Judgement::Invalid(r) => r,
        other => panic!("accepted: {other:?}"),
    }
}

#[test]
fn a_good_verdict_is_valid_and_names_its_signer() {
    let Judgement::Valid { principal, verdict: v } = judge(&facts(&verdict())) else { panic!() };
    assert_eq!(principal, "reviewer@openclaw");
    assert_eq!(*v, verdict());
    // A squash merge whose tree equals the reviewed one plus the verdict files, or exactly it.
    let mut f = facts(&verdict());
    f.tree_diff = Some(vec![]);
    assert!(matches!(judge(&f), Judgement::Valid { .. }));
}

#[test]
fn each_rule_refuses_alone() {
    let v = verdict();
    let mut f = facts(&v);
    f.verdict = None;
    assert_eq!(refusal(&f), Refusal::NoVerdict);
    let mut f = facts(&v);
    f.sig_present = false;
    assert_eq!(refusal(&f), Refusal::NoSignature);
    let mut f = facts(&v);
    f.sig = SigCheck::Invalid("no principal matched".into());
    assert!(matches!(refusal(&f), Refusal::BadSignature { .. }));
    let mut f = facts(&v);
    let mut bytes = v.canonical();
    bytes.push(b'\n');
    f.verdict = Some(bytes);
    assert!(matches!(refusal(&f), Refusal::NotAVerdict { .. }));
    let f = facts(&Verdict { schema: "openclaw-review-verdict/v0".into(), ..verdict() });
    assert!(matches!(refusal(&f), Refusal::UnknownSchema { .. }));
    assert_eq!(refusal(&facts(&Verdict { simulated: true, ..verdict() })), Refusal::Simulated);
    assert_eq!(refusal(&facts(&Verdict { verdict: Decision::Blocked, ..verdict() })), Refusal::NotApproved);
    let mut f = facts(&v);
    f.tree_diff = None;
    assert!(matches!(refusal(&f), Refusal::UnknownTree { .. }));
    let mut f = facts(&v);
    f.tree_diff = Some(vec![VERDICT_PATH.into(), b"src/main.rs".to_vec()]);
    assert_eq!(refusal(&f), Refusal::TreeMismatch { paths: vec!["src/main.rs".into()] });
    let mut f = facts(&v);
    f.now = NOW + 40 * 86_400;
    assert!(matches!(refusal(&f), Refusal::TooOld { age_days: 40, max_days: 30 }));
    let mut f = facts(&v);
    f.now = NOW - 3600 - 2400;
    assert!(matches!(refusal(&f), Refusal::FromTheFuture { .. }));
}

#[test]
fn the_signature_is_checked_before_anything_in_the_file_is_believed() {
    // A simulated, unsigned verdict says "simulated" only once its signature is good.
    let mut f = facts(&Verdict { simulated: true, ..verdict() });
    f.sig = SigCheck::Invalid("bad".into());
    assert!(matches!(refusal(&f), Refusal::BadSignature { .. }));
}
