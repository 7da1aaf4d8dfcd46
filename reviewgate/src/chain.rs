//! The chain of trust: a review's base must be approved code. By default
//! the base is the newest ancestor of head whose own commit carries a valid
//! verdict; failing that, the genesis commit the operator trusts without a
//! review (`[reviewgate] genesis`, `OPENCLAW_REVIEW_GENESIS`): a full commit
//! id, never a name or an abbreviation, which must be an ancestor of head.
//! An approved base counts whatever its age (`max_age_days` limits deploy
//! targets, not the chain), and a commit whose verdict cannot be read is
//! simply not approved. Any other `--base` is refused: otherwise commit X
//! pushed past the hook with `--no-verify`, then a review of X..Y, would
//! sign a tree containing X that nobody reviewed.

use crate::check::Judgement;
use crate::cli::Settings;
use crate::gitio::Repo;
use crate::sshsig::Signers;
use crate::verdict::VERDICT_PATH;
use crate::verify::{Age, judge_commit};

/// Where the base came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseKind {
    /// A commit carrying a valid verdict.
    Approved,
    /// The configured genesis.
    Genesis,
}

/// The approved base for `head`, or why there is none.
pub fn approved_base(
    s: &Settings,
    repo: &Repo,
    head: &str,
    signers: &Signers,
    genesis: Option<&str>,
) -> Result<(String, BaseKind), String> {
    for c in repo.commits_touching(head, VERDICT_PATH).map_err(|e| e.to_string())? {
        if let Judgement::Valid { .. } = judge_commit(s, repo, &c, signers, Age::Unlimited)? {
            return Ok((c, BaseKind::Approved));
        }
    }
    let Some(g) = genesis else {
        return Err(format!(
            "no ancestor of {head} carries a valid verdict and no genesis is configured \
             ([reviewgate] genesis or OPENCLAW_REVIEW_GENESIS: the first commit you trust without a review)"
        ));
    };
    // A full commit id only: an abbreviated id, a branch or a tag can resolve
    // to a ref an author pushed (refs win over abbreviated ids).
    if !crate::verdict::is_object_id(g) || g.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(format!(
            "genesis `{}` must be a full object id (40 or 64 lowercase hex digits): \
             an abbreviated id, a branch or a tag can resolve to a commit someone pushed",
            common::output::sanitize(g)
        ));
    }
    let resolved = repo.commit(g).map_err(|e| format!("genesis: {e}"))?;
    if resolved != g {
        return Err(format!("genesis {g} is not a commit object (it resolves to {resolved})"));
    }
    let g = resolved;
    if !repo.is_ancestor(&g, head).map_err(|e| e.to_string())? {
        return Err(format!("genesis {g} is not an ancestor of {head}"));
    }
    Ok((g, BaseKind::Genesis))
}
