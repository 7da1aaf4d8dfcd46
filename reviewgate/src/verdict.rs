//! The canonical verdict: one JSON object, serialised in one form (keys
//! sorted at every level, no insignificant whitespace, strings escaped as
//! `serde_json` does: `common::audit::canonical_json`, the audit log's
//! form), with no trailing newline. The `.sig` beside it is an SSHSIG over
//! exactly those bytes. Pure: no IO.
//!
//! A file is a verdict only when it parses with exactly these fields and
//! is byte for byte its canonical encoding, so every verifier (ours,
//! `ssh-keygen -Y verify`, a human with `jq -cS`) judges the same bytes.

use serde::{Deserialize, Serialize};

/// The schema this version writes and accepts.
pub const SCHEMA: &str = "openclaw-review-verdict/v1";

/// Where the verdict lives in the repository.
pub const VERDICT_PATH: &str = "docs/LAST_APPROVED_VERDICT.json";

/// Its detached signature.
pub const SIG_PATH: &str = "docs/LAST_APPROVED_VERDICT.json.sig";

/// Largest verdict or signature file read.
pub const MAX_FILE: usize = 64 * 1024;

/// The verdict's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Decision {
    /// The policy approved the range.
    #[serde(rename = "APPROVED")]
    Approved,
    /// The policy blocked it (never committed, but parsed so the refusal can say so).
    #[serde(rename = "BLOCKED")]
    Blocked,
}

/// The policy that decided, with its thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Its id, e.g. `openclaw-default/v1`.
    pub id: String,
    /// The lowest reviewer confidence that may approve.
    pub min_confidence: f64,
    /// The highest finding priority that still approves (P2: only P2 and P3 findings allowed).
    pub max_priority_allowed: u8,
}

/// The reviewer that produced the review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Engine {
    /// `codex` or `openai`.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The model.
    pub model: String,
}

/// The verdict file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verdict {
    /// [`SCHEMA`].
    pub schema: String,
    /// The repository (its origin URL or name, informative).
    pub repo: String,
    /// The approved base commit (full id).
    pub base: String,
    /// The reviewed head commit (full id).
    pub head: String,
    /// The head's tree id: what the verdict is bound to.
    pub tree: String,
    /// The decision.
    pub verdict: Decision,
    /// The policy.
    pub policy: Policy,
    /// The reviewer.
    pub engine: Engine,
    /// SHA-256 of the review bundle.
    pub bundle_sha256: String,
    /// One line per finding, or a count.
    pub findings_summary: String,
    /// When, `YYYY-MM-DDTHH:MM:SSZ`.
    pub created_at: String,
    /// True for `--simulate` runs, which are never signed or committed.
    pub simulated: bool,
}

/// Why a file is not a verdict.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerdictError {
    /// Larger than [`MAX_FILE`].
    #[error("larger than {MAX_FILE} bytes")]
    TooLarge,
    /// Not JSON with exactly the verdict's fields.
    #[error("not a verdict: {0}")]
    Shape(String),
    /// Valid, but not its canonical encoding.
    #[error("not in canonical form (sorted keys, no whitespace, no trailing newline)")]
    NotCanonical,
    /// A commit or tree id that is not 40 or 64 lowercase hex characters.
    #[error("`{0}` is not a full object id")]
    BadId(&'static str),
    /// `created_at` is not `YYYY-MM-DDTHH:MM:SSZ`.
    #[error("created_at is not a UTC time of the form YYYY-MM-DDTHH:MM:SSZ")]
    BadTime,
}

/// A full git object id: 40 (SHA-1) or 64 (SHA-256) lowercase hex characters.
pub fn is_object_id(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Verdict {
    /// The canonical bytes (what is signed and stored).
    pub fn canonical(&self) -> Vec<u8> {
        let value = serde_json::to_value(self).expect("a verdict always serialises");
        common::audit::canonical_json(&value).into_bytes()
    }

    /// Parses a verdict file: exactly the fields, canonical bytes, full ids.
    pub fn parse(bytes: &[u8]) -> Result<Verdict, VerdictError> {
        if bytes.len() > MAX_FILE {
            return Err(VerdictError::TooLarge);
        }
        let v: Verdict = serde_json::from_slice(bytes).map_err(|e| VerdictError::Shape(e.to_string()))?;
        if v.canonical() != bytes {
            return Err(VerdictError::NotCanonical);
        }
        for (name, id) in [("base", &v.base), ("head", &v.head), ("tree", &v.tree)] {
            if !is_object_id(id) {
                return Err(VerdictError::BadId(name));
            }
        }
        if !common::hash::is_sha256_hex(&v.bundle_sha256) {
            return Err(VerdictError::Shape("bundle_sha256 is not 64 lowercase hex characters".into()));
        }
        if created_at(&v).is_none() {
            return Err(VerdictError::BadTime);
        }
        Ok(v)
    }
}

/// `created_at` as Unix time, when it is exactly `YYYY-MM-DDTHH:MM:SSZ`.
pub fn created_at(v: &Verdict) -> Option<i64> {
    let t = common::time_fmt::parse_rfc3339(&v.created_at)?;
    (v.created_at.len() == 20 && common::time_fmt::rfc3339(t) == v.created_at).then(|| t.unix_timestamp())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> Verdict {
        Verdict {
            schema: SCHEMA.into(),
            repo: "origin".into(),
            base: "a".repeat(40),
            head: "b".repeat(40),
            tree: "c".repeat(40),
            verdict: Decision::Approved,
            policy: Policy { id: "openclaw-default/v1".into(), min_confidence: 0.6, max_priority_allowed: 2 },
            engine: Engine { name: "codex".into(), version: "0.63.0".into(), model: "gpt-5-codex".into() },
            bundle_sha256: "d".repeat(64),
            findings_summary: "0 findings".into(),
            created_at: "2026-11-28T10:00:00Z".into(),
            simulated: false,
        }
    }

    #[test]
    fn the_canonical_form_round_trips_and_nothing_else_parses() {
        let v = sample();
        let bytes = v.canonical();
        assert!(bytes.starts_with(br#"{"base":"aaaa"#), "{}", String::from_utf8_lossy(&bytes));
        assert_eq!(Verdict::parse(&bytes).unwrap(), v);
        let mut nl = bytes.clone();
        nl.push(b'\n');
        assert_eq!(Verdict::parse(&nl), Err(VerdictError::NotCanonical));
        let pretty = serde_json::to_vec_pretty(&v).unwrap();
        assert_eq!(Verdict::parse(&pretty), Err(VerdictError::NotCanonical));
        let extra = String::from_utf8(bytes.clone()).unwrap().replacen('{', r#"{"approved_by":"me","#, 1);
        assert!(matches!(Verdict::parse(extra.as_bytes()), Err(VerdictError::Shape(_))));
        let short = Verdict { tree: "c".repeat(12), ..sample() };
        assert_eq!(Verdict::parse(&short.canonical()), Err(VerdictError::BadId("tree")));
        let late = Verdict { created_at: "2026-11-28T10:00:00+00:00".into(), ..sample() };
        assert_eq!(Verdict::parse(&late.canonical()), Err(VerdictError::BadTime));
        assert_eq!(Verdict::parse(&vec![b' '; MAX_FILE + 1]), Err(VerdictError::TooLarge));
    }
}
