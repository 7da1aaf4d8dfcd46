//! The verdict rules, pure: from the facts gathered about one commit (the
//! verdict and signature files read from the commit itself, the signature
//! check, the paths by which the commit's tree differs from the verdict's
//! tree, the time) to a [`Judgement`]. Each rule is one [`Refusal`] variant
//! and each has a test that breaks it alone.

use serde::Serialize;

use crate::verdict::{self, Decision, SCHEMA, SIG_PATH, VERDICT_PATH, Verdict, VerdictError};

/// What `ssh-keygen -Y` said about the signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigCheck {
    /// Good signature by this principal of `allowed_signers`, in our namespace.
    Valid {
        /// The principal.
        principal: String,
    },
    /// Not a good signature by an allowed signer (the text says why).
    Invalid(String),
}

/// The facts about one commit.
#[derive(Debug, Clone)]
pub struct Facts {
    /// The verdict file's bytes in the commit, `None` when absent.
    pub verdict: Option<Vec<u8>>,
    /// Why the verdict or its signature could not be read (too large), if so.
    pub unreadable: Option<String>,
    /// Whether the signature file is in the commit.
    pub sig_present: bool,
    /// Whether the signature file is exactly one armoured SSHSIG block
    /// (nothing before or after it).
    pub sig_exact: bool,
    /// The modes of the verdict and signature files in the commit's tree.
    pub modes: [Option<String>; 2],
    /// The signature check (only meaningful when both files are present).
    pub sig: SigCheck,
    /// Paths (raw bytes) by which the commit's tree differs from the
    /// verdict's `tree`; `None` when the verdict's tree is not in the repository.
    pub tree_diff: Option<Vec<Vec<u8>>>,
    /// Now, Unix seconds.
    pub now: i64,
    /// The oldest a verdict may be, in seconds; `None` for no limit (an
    /// approved base in the chain of trust: age limits deploy targets only).
    pub max_age_secs: Option<i64>,
}

/// Why a commit carries no valid verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "rule", rename_all = "kebab-case")]
pub enum Refusal {
    /// The commit has no verdict file.
    #[error("the commit carries no {VERDICT_PATH}")]
    NoVerdict,
    /// The commit has no signature file.
    #[error("the commit carries no {SIG_PATH}")]
    NoSignature,
    /// The verdict or signature file cannot be read (larger than the gate reads).
    #[error("the verdict files cannot be read: {reason}")]
    Unreadable {
        /// Why.
        reason: String,
    },
    /// The files are not in their exact form: the signature file holds
    /// bytes beyond its one armoured block, or a file is not mode 100644.
    #[error("the verdict files are not in their exact form: {reason}")]
    FileForm {
        /// Why.
        reason: String,
    },
    /// The file is not a canonical verdict.
    #[error("{VERDICT_PATH} is not a valid verdict: {reason}")]
    NotAVerdict {
        /// Why.
        reason: String,
    },
    /// Rule 1: the signature does not verify against `allowed_signers`.
    #[error("the signature does not verify against allowed_signers for namespace openclaw-review-verdict: {reason}")]
    BadSignature {
        /// Why.
        reason: String,
    },
    /// Rule 2: an unknown schema.
    #[error("unknown verdict schema `{schema}` (this version accepts {SCHEMA})")]
    UnknownSchema {
        /// The schema found (untrusted text: escaped when shown).
        schema: String,
    },
    /// Rule 2: a simulated verdict.
    #[error("the verdict is simulated (`--simulate`), never valid for a gate")]
    Simulated,
    /// Rule 2: not approved.
    #[error("the verdict is BLOCKED, not APPROVED")]
    NotApproved,
    /// Rule 3: the verdict's tree is not in the repository.
    #[error("the verdict's tree {tree} is not in this repository (a verdict for other content)")]
    UnknownTree {
        /// The tree id.
        tree: String,
    },
    /// Rule 3: the commit's content differs from what was reviewed.
    #[error("the commit differs from the reviewed tree beyond the two verdict files: {}", paths.join(", "))]
    TreeMismatch {
        /// The differing paths (the first 20, C-quoted).
        paths: Vec<String>,
    },
    /// Rule 5: a valid verdict newer than this one sits in the commit's own
    /// history since the reviewed head: the commit would bring back an older
    /// reviewed tree over newer reviewed code.
    #[error(
        "the verdict (created {created_at}) is older than the valid verdict of {newer} (created {newer_created_at}) \
         in this commit's own history: it would revert reviewed code to an older reviewed tree"
    )]
    Superseded {
        /// This verdict's `created_at`.
        created_at: String,
        /// The commit carrying the newer verdict.
        newer: String,
        /// Its `created_at`.
        newer_created_at: String,
    },
    /// Rule 4: too old.
    #[error("the verdict is {age_days} day(s) old; the maximum is {max_days}")]
    TooOld {
        /// Its age.
        age_days: i64,
        /// The maximum.
        max_days: i64,
    },
    /// Rule 4: dated in the future (beyond five minutes of clock skew).
    #[error("the verdict is dated {secs} s in the future")]
    FromTheFuture {
        /// How far.
        secs: i64,
    },
}

/// The outcome for one commit.
#[derive(Debug, Clone, PartialEq)]
pub enum Judgement {
    /// A valid verdict.
    Valid {
        /// The verdict.
        verdict: Box<Verdict>,
        /// Who signed it.
        principal: String,
    },
    /// No valid verdict.
    Invalid(Refusal),
}

/// Clock skew tolerated for `created_at`.
pub const SKEW_SECS: i64 = 300;

/// Judges the facts. Pure.
pub fn judge(f: &Facts) -> Judgement {
    match judge_inner(f) {
        Ok((verdict, principal)) => Judgement::Valid { verdict: Box::new(verdict), principal },
        Err(r) => Judgement::Invalid(r),
    }
}

/// Rule 2: a known schema, not simulated, approved. Pure.
pub fn approval(v: &Verdict) -> Result<(), Refusal> {
    if v.schema != SCHEMA {
        return Err(Refusal::UnknownSchema { schema: v.schema.clone() });
    }
    if v.simulated {
        return Err(Refusal::Simulated);
    }
    if v.verdict != Decision::Approved {
        return Err(Refusal::NotApproved);
    }
    Ok(())
}

fn judge_inner(f: &Facts) -> Result<(Verdict, String), Refusal> {
    if let Some(reason) = &f.unreadable {
        return Err(Refusal::Unreadable { reason: reason.clone() });
    }
    let bytes = f.verdict.as_deref().ok_or(Refusal::NoVerdict)?;
    if !f.sig_present {
        return Err(Refusal::NoSignature);
    }
    if !f.sig_exact {
        return Err(Refusal::FileForm {
            reason: format!("{SIG_PATH} holds more than one armoured SSH SIGNATURE block"),
        });
    }
    for (path, mode) in [VERDICT_PATH, SIG_PATH].iter().zip(&f.modes) {
        if mode.as_deref() != Some("100644") {
            return Err(Refusal::FileForm {
                reason: format!("{path} has mode {}, not 100644", mode.as_deref().unwrap_or("(none)")),
            });
        }
    }
    let principal = match &f.sig {
        SigCheck::Valid { principal } => principal.clone(),
        SigCheck::Invalid(reason) => return Err(Refusal::BadSignature { reason: reason.clone() }),
    };
    // Only signed bytes are parsed further (and what is signed must be canonical).
    let v = Verdict::parse(bytes).map_err(|e: VerdictError| Refusal::NotAVerdict { reason: e.to_string() })?;
    approval(&v)?;
    let allowed = [VERDICT_PATH.as_bytes(), SIG_PATH.as_bytes()];
    match &f.tree_diff {
        None => return Err(Refusal::UnknownTree { tree: v.tree.clone() }),
        Some(paths) => {
            let other: Vec<String> = paths
                .iter()
                .filter(|p| !allowed.contains(&p.as_slice()))
                .take(20)
                .map(|p| crate::quote::c_quote(p))
                .collect();
            if !other.is_empty() {
                return Err(Refusal::TreeMismatch { paths: other });
            }
        }
    }
    let created = verdict::created_at(&v).ok_or(Refusal::NotAVerdict { reason: "bad created_at".into() })?;
    if created > f.now + SKEW_SECS {
        return Err(Refusal::FromTheFuture { secs: created - f.now });
    }
    if let Some(max) = f.max_age_secs
        && f.now - created > max
    {
        return Err(Refusal::TooOld { age_days: (f.now - created) / 86_400, max_days: max / 86_400 });
    }
    Ok((v, principal))
}

#[cfg(test)]
mod tests;
