//! Fuzzes the review gate's parsers of untrusted input, the verdict file
//! and the reviewer's answer, with the judge and the policy over them: no
//! input may panic; a verdict that parses is exactly its canonical bytes; an
//! answer approves only as one document of a known schema that says `patch
//! is correct` with no P0/P1 and enough confidence; and a
//! judgement is Valid only with a good signature in its exact armoured
//! form, an approved, unsimulated verdict of the known schema, and no
//! changed path beyond the two verdict files. Names as text: C-quoting never
//! lets a control character through and never shows two names alike; the
//! raw tree listing parser compares a listing with itself as equal; the
//! engine proxy's request parser yields only a plain host name and a port.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reviewgate::check::{Facts, Judgement, SigCheck, judge};
use reviewgate::gitio::{diff_entries, parse_ls_tree};
use reviewgate::proxy::{allowed, connect_target};
use reviewgate::quote::c_quote;
use reviewgate::sshsig::is_exact_armor;
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
    let diff: Option<Vec<Vec<u8>>> = match sel >> 1 & 3 {
        0 => None,
        1 => Some(vec![]),
        2 => Some(vec![VERDICT_PATH.into(), SIG_PATH.into()]),
        _ => Some(vec![b"src/x".to_vec()]),
    };
    let mode = if sel & 32 == 0 { "100644" } else { "100755" };
    let facts = Facts {
        verdict: Some(rest.to_vec()),
        unreadable: None,
        sig_present: sel & 8 == 0,
        sig_exact: sel & 16 == 0,
        modes: [Some(mode.into()), Some("100644".into())],
        sig,
        tree_diff: diff.clone(),
        now: 1_795_860_000,
        max_age_secs: Some(30 * 86_400),
    };
    if let Judgement::Valid { verdict, .. } = judge(&facts) {
        assert!(sel & 1 == 0 && sel & 8 == 0 && sel & 16 == 0 && sel & 32 == 0);
        assert!(verdict.schema == SCHEMA && !verdict.simulated && verdict.verdict == Decision::Approved);
        assert!(diff.is_some_and(|d| d.iter().all(|p| p == VERDICT_PATH.as_bytes() || p == SIG_PATH.as_bytes())));
    }
    if is_exact_armor(rest) {
        assert!(rest.starts_with(b"-----BEGIN SSH SIGNATURE-----\n") && rest.ends_with(b"-----END SSH SIGNATURE-----\n"));
    }
    let quoted = c_quote(rest);
    assert!(!quoted.chars().any(char::is_control), "{quoted:?}");
    if let Some((first, tail)) = rest.split_first() {
        let mut other = vec![first.wrapping_add(1)];
        other.extend_from_slice(tail);
        assert_ne!(c_quote(&other), quoted, "two names shown alike");
    }
    // The engine's proxy requests (the engine is the attacker here).
    if let Ok(text) = std::str::from_utf8(rest)
        && let Some((host, port)) = connect_target(text)
    {
        assert!(!host.is_empty() && host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:".contains(&b)), "{host}");
        assert!(allowed(&[format!("{host}:{port}")], &host, port));
    }
    if let Ok(entries) = parse_ls_tree(rest) {
        let d = diff_entries(&entries, &entries);
        assert!(d.is_empty() || d == [b"(a path listed twice)".to_vec()], "{d:?}");
    }
});
