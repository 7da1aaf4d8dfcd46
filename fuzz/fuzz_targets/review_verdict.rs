//! Fuzzes the review gate's parsers of untrusted input, the verdict file
//! and the reviewer's answer, with the judge and the policy over them: no
//! input may panic; a verdict that parses is exactly its canonical bytes; an
//! answer approves only as one document of a known schema that says `patch
//! is correct` with no P0/P1 and enough confidence; and a
//! judgement is Valid only with a good signature, an approved, unsimulated
//! verdict of the known schema, and no changed path beyond the two verdict
//! files.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reviewgate::check::{Facts, Judgement, SigCheck, judge};
use reviewgate::output::{Review, priority};
use reviewgate::policy::{self, Decision as PolicyDecision};
use reviewgate::verdict::{Decision, SCHEMA, SIG_PATH, VERDICT_PATH, Verdict};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else { return };
    if let Ok(v) = Verdict::parse(rest) {
        assert_eq!(v.canonical(), rest);
    }
    let review = Review::parse(rest);
    let pol = policy::default_policy(0.6);
    if let PolicyDecision::Approved { .. } = policy::decide(&[review.clone().map_err(|e| e.to_string())], &pol) {
        let Ok(Review::Codex(c)) = review else { panic!("approved without a Codex review") };
        assert!(c.overall_correctness == "patch is correct" && c.overall_confidence_score >= 0.6);
        assert!(c.findings.iter().all(|f| priority(f) >= 2));
    }
    let sig = if sel & 1 == 0 { SigCheck::Valid { principal: "p".into() } } else { SigCheck::Invalid("x".into()) };
    let diff: Option<Vec<String>> = match sel >> 1 & 3 {
        0 => None,
        1 => Some(vec![]),
        2 => Some(vec![VERDICT_PATH.into(), SIG_PATH.into()]),
        _ => Some(vec!["src/x".into()]),
    };
    let facts = Facts {
        verdict: Some(rest.to_vec()),
        sig_present: sel & 8 == 0,
        sig,
        tree_diff: diff.clone(),
        now: 1_795_860_000,
        max_age_secs: 30 * 86_400,
    };
    if let Judgement::Valid { verdict, .. } = judge(&facts) {
        assert!(sel & 1 == 0 && sel & 8 == 0);
        assert!(verdict.schema == SCHEMA && !verdict.simulated && verdict.verdict == Decision::Approved);
        assert!(diff.is_some_and(|d| d.iter().all(|p| p == VERDICT_PATH || p == SIG_PATH)));
    }
});
