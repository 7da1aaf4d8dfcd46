//! Fuzzes the review gate's verdict parser and its judge: no input may
//! panic; a file that parses is exactly its canonical bytes; and a
//! judgement is Valid only with a good signature, an approved, unsimulated
//! verdict of the known schema, and no changed path beyond the two verdict
//! files.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reviewgate::check::{Facts, Judgement, SigCheck, judge};
use reviewgate::verdict::{Decision, SCHEMA, SIG_PATH, VERDICT_PATH, Verdict};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else { return };
    if let Ok(v) = Verdict::parse(rest) {
        assert_eq!(v.canonical(), rest);
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
