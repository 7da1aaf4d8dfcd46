//! The approval policy, pure: from the review of every packet to APPROVED
//! or BLOCKED with reasons. A range is approved only when every packet
//! (together they cover every changed file) has a review, and each review
//! says `patch is correct`, has no finding above the allowed priority (no
//! P0/P1 by default), and a confidence of at least the threshold (0.6). A
//! legacy review carries no confidence, so it can block but never approve
//! (unless the threshold is 0). A packet that failed is a block.

use serde::Serialize;

use crate::output::{Review, priority};
use crate::verdict::Policy;

/// The policy this version applies, with its thresholds.
pub fn default_policy(min_confidence: f64) -> Policy {
    Policy { id: "openclaw-default/v1".into(), min_confidence, max_priority_allowed: 2 }
}

/// The decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Decision {
    /// Every rule holds for every packet.
    Approved {
        /// A one-line summary of the findings.
        summary: String,
    },
    /// At least one rule failed.
    Blocked {
        /// Why, per packet.
        reasons: Vec<String>,
    },
}

/// Decides over each packet's review (`Err`: why the packet has none). Pure.
pub fn decide(packets: &[Result<Review, String>], p: &Policy) -> Decision {
    let mut reasons = Vec::new();
    let mut findings = 0usize;
    if packets.is_empty() {
        reasons.push("nothing was reviewed".to_owned());
    }
    for (i, r) in packets.iter().enumerate() {
        let n = i + 1;
        match r {
            Err(e) => reasons.push(format!("packet {n}: no review: {e}")),
            Ok(Review::Codex(c)) => {
                if c.overall_correctness != "patch is correct" {
                    reasons.push(format!("packet {n}: {}", c.overall_correctness));
                }
                if c.overall_confidence_score < p.min_confidence {
                    reasons.push(format!(
                        "packet {n}: confidence {} below {}",
                        c.overall_confidence_score, p.min_confidence
                    ));
                }
                for f in &c.findings {
                    findings += 1;
                    if priority(f) < p.max_priority_allowed {
                        reasons.push(format!("packet {n}: P{} finding: {}", priority(f), f.title));
                    }
                }
            }
            Ok(Review::Legacy(l)) => {
                findings += l.blockers.len() + l.non_blocking.len();
                if l.verdict != "APPROVED" || !l.blockers.is_empty() {
                    reasons.push(format!("packet {n}: {} with {} blocker(s)", l.verdict, l.blockers.len()));
                }
                if p.min_confidence > 0.0 {
                    reasons.push(format!(
                        "packet {n}: a legacy review carries no confidence (threshold {})",
                        p.min_confidence
                    ));
                }
            }
        }
    }
    if reasons.is_empty() {
        Decision::Approved { summary: format!("{findings} finding(s) over {} packet(s), none blocking", packets.len()) }
    } else {
        Decision::Blocked { reasons }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{CodeLocation, CodexReview, Finding, LegacyReview, LineRange};

    fn codex(correct: bool, confidence: f64, priorities: &[Option<u8>]) -> Result<Review, String> {
        Ok(Review::Codex(CodexReview {
            findings: priorities
                .iter()
                .map(|p| Finding {
                    title: format!("[P{}] x", p.unwrap_or(3)),
                    body: "b".into(),
                    confidence_score: 0.5,
                    priority: *p,
                    code_location: CodeLocation {
                        absolute_file_path: "/a".into(),
                        line_range: LineRange { start: 1, end: 1 },
                    },
                })
                .collect(),
            overall_correctness: if correct { "patch is correct" } else { "patch is incorrect" }.into(),
            overall_explanation: "e".into(),
            overall_confidence_score: confidence,
        }))
    }

    #[test]
    fn every_rule_blocks_alone() {
        let p = default_policy(0.6);
        assert!(matches!(decide(&[codex(true, 0.9, &[Some(2), Some(3)])], &p), Decision::Approved { .. }));
        assert!(matches!(decide(&[codex(false, 0.9, &[])], &p), Decision::Blocked { .. }));
        assert!(matches!(decide(&[codex(true, 0.59, &[])], &p), Decision::Blocked { .. }));
        assert!(matches!(decide(&[codex(true, 0.9, &[Some(1)])], &p), Decision::Blocked { .. }));
        assert!(matches!(decide(&[codex(true, 0.9, &[Some(0)])], &p), Decision::Blocked { .. }));
        // One bad or missing packet blocks the whole range.
        let two = [codex(true, 0.9, &[]), Err("timed out".into())];
        let Decision::Blocked { reasons } = decide(&two, &p) else { panic!() };
        assert_eq!(reasons, ["packet 2: no review: timed out"]);
        assert!(matches!(decide(&[], &p), Decision::Blocked { .. }));
    }

    #[test]
    fn a_legacy_review_can_block_but_not_approve_under_a_confidence_threshold() {
        let legacy = |v: &str, blockers: usize| {
            Ok(Review::Legacy(LegacyReview {
                verdict: v.into(),
                blockers: vec!["b".into(); blockers],
                non_blocking: vec![],
                tests_run: vec![],
            }))
        };
        assert!(matches!(decide(&[legacy("APPROVED", 0)], &default_policy(0.6)), Decision::Blocked { .. }));
        assert!(matches!(decide(&[legacy("APPROVED", 0)], &default_policy(0.0)), Decision::Approved { .. }));
        assert!(matches!(decide(&[legacy("APPROVED", 1)], &default_policy(0.0)), Decision::Blocked { .. }));
        assert!(matches!(decide(&[legacy("BLOCKED", 0)], &default_policy(0.0)), Decision::Blocked { .. }));
    }
}
