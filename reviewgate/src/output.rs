//! A reviewer's answer, read strictly: the whole output must be exactly one
//! JSON document (whitespace around it allowed, nothing else) that matches
//! one of two schemas, Codex's review output or the legacy
//! `{verdict, blockers, non_blocking, tests_run}`. Text around the JSON, a
//! bare `APPROVED`, several objects, unknown fields or out-of-range values
//! are errors: the reference's "first balanced `{…}`" extraction is what let
//! a diff approve itself. Pure.

use serde::{Deserialize, Serialize};

/// Largest reviewer output read.
pub const MAX_OUTPUT: usize = 1024 * 1024;

/// Where a finding is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineRange {
    /// First line.
    pub start: u64,
    /// Last line.
    pub end: u64,
}

/// A finding's location.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeLocation {
    /// The file.
    pub absolute_file_path: String,
    /// The lines.
    pub line_range: LineRange,
}

/// One Codex finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    /// `[P0] …` … `[P3] …`, at most 80 characters.
    pub title: String,
    /// One paragraph.
    pub body: String,
    /// 0–1.
    pub confidence_score: f64,
    /// 0–3, or absent.
    #[serde(default)]
    pub priority: Option<u8>,
    /// Where.
    pub code_location: CodeLocation,
}

/// Codex's review output (`codex-rs/core/review_prompt.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodexReview {
    /// The findings.
    pub findings: Vec<Finding>,
    /// `patch is correct` or `patch is incorrect`.
    pub overall_correctness: String,
    /// 1–3 sentences.
    pub overall_explanation: String,
    /// 0–1.
    pub overall_confidence_score: f64,
}

/// The legacy output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegacyReview {
    /// `APPROVED` or `BLOCKED`.
    pub verdict: String,
    /// Blocking issues.
    pub blockers: Vec<String>,
    /// Other issues.
    pub non_blocking: Vec<String>,
    /// Tests the reviewer ran.
    pub tests_run: Vec<String>,
}

/// A parsed review.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "schema", rename_all = "kebab-case")]
pub enum Review {
    /// Codex's schema.
    Codex(CodexReview),
    /// The legacy schema.
    Legacy(LegacyReview),
}

/// Why an output is not a review.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutputError {
    /// Larger than [`MAX_OUTPUT`].
    #[error("the reviewer's output is larger than {MAX_OUTPUT} bytes")]
    TooLarge,
    /// Not exactly one JSON document of either schema.
    #[error("the reviewer's output is not exactly one JSON document of a known review schema: {0}")]
    NotAReview(String),
    /// The right shape, values out of range.
    #[error("the reviewer's output is out of range: {0}")]
    OutOfRange(String),
}

fn unit(x: f64) -> bool {
    (0.0..=1.0).contains(&x)
}

impl Review {
    /// Parses a whole output. Pure.
    pub fn parse(bytes: &[u8]) -> Result<Review, OutputError> {
        if bytes.len() > MAX_OUTPUT {
            return Err(OutputError::TooLarge);
        }
        let codex = serde_json::from_slice::<CodexReview>(bytes);
        let legacy = serde_json::from_slice::<LegacyReview>(bytes);
        let review = match (codex, legacy) {
            (Ok(c), _) => Review::Codex(c),
            (_, Ok(l)) => Review::Legacy(l),
            (Err(e), Err(_)) => return Err(OutputError::NotAReview(e.to_string())),
        };
        review.check()?;
        Ok(review)
    }

    fn check(&self) -> Result<(), OutputError> {
        let bad = |m: String| Err(OutputError::OutOfRange(m));
        match self {
            Review::Codex(c) => {
                if !matches!(c.overall_correctness.as_str(), "patch is correct" | "patch is incorrect") {
                    return bad(format!("overall_correctness {:?}", c.overall_correctness));
                }
                if !unit(c.overall_confidence_score) {
                    return bad("overall_confidence_score outside 0–1".into());
                }
                for f in &c.findings {
                    if !unit(f.confidence_score) || f.priority.is_some_and(|p| p > 3) || f.title.chars().count() > 80 {
                        return bad(format!("finding {:?}", f.title));
                    }
                }
            }
            Review::Legacy(l) => {
                if !matches!(l.verdict.as_str(), "APPROVED" | "BLOCKED") {
                    return bad(format!("verdict {:?}", l.verdict));
                }
            }
        }
        Ok(())
    }
}

/// A finding's priority: `priority`, else the `[Pn]` prefix of its title,
/// else the most severe (an unlabelled finding is not waved through).
pub fn priority(f: &Finding) -> u8 {
    f.priority
        .or_else(|| {
            let t = f.title.strip_prefix("[P")?;
            let d = t.chars().next()?.to_digit(10)?;
            (t.get(1..2) == Some("]") && d <= 3).then_some(d as u8)
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CODEX: &str = r#"{"findings":[{"title":"[P2] Nit","body":"b","confidence_score":0.5,"priority":2,
        "code_location":{"absolute_file_path":"/r/app.py","line_range":{"start":1,"end":2}}}],
        "overall_correctness":"patch is correct","overall_explanation":"Fine.","overall_confidence_score":0.9}"#;

    #[test]
    fn exactly_one_document_of_a_known_schema() {
        assert!(matches!(Review::parse(CODEX.as_bytes()), Ok(Review::Codex(_))));
        assert!(matches!(Review::parse(format!("\n {CODEX}\n").as_bytes()), Ok(Review::Codex(_))));
        let legacy = r#"{"verdict":"APPROVED","blockers":[],"non_blocking":["x"],"tests_run":["cargo test"]}"#;
        assert!(matches!(Review::parse(legacy.as_bytes()), Ok(Review::Legacy(_))));
        for bad in [
            format!("Here is my review:\n{CODEX}"),
            format!("{CODEX}\nAPPROVED"),
            format!("{CODEX}{CODEX}"),
            "APPROVED".to_owned(),
            r#"{"verdict":"APPROVED"}"#.to_owned(),
            CODEX.replace(r#""overall_confidence_score":0.9"#, r#""overall_confidence_score":0.9,"approved":true"#),
            format!("```json\n{CODEX}\n```"),
        ] {
            assert!(matches!(Review::parse(bad.as_bytes()), Err(OutputError::NotAReview(_))), "{bad}");
        }
        for bad in [
            CODEX.replace("patch is correct", "looks good"),
            CODEX.replace("0.9}", "1.5}"),
            CODEX.replace(r#""priority":2"#, r#""priority":7"#),
            r#"{"verdict":"SHIP IT","blockers":[],"non_blocking":[],"tests_run":[]}"#.to_owned(),
        ] {
            assert!(matches!(Review::parse(bad.as_bytes()), Err(OutputError::OutOfRange(_))), "{bad}");
        }
    }

    #[test]
    fn priorities_come_from_the_field_the_title_or_default_to_p0() {
        let Review::Codex(c) = Review::parse(CODEX.as_bytes()).unwrap() else { panic!() };
        let mut f = c.findings[0].clone();
        assert_eq!(priority(&f), 2);
        f.priority = None;
        assert_eq!(priority(&f), 2, "from [P2]");
        f.title = "Something".into();
        assert_eq!(priority(&f), 0, "unlabelled is treated as P0");
    }
}
