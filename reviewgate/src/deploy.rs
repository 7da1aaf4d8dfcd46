//! The deploy's decisions, for `ops/vps_self_update.sh`:
//!
//! - `deploy-check --rev TARGET`: may TARGET replace the checkout's HEAD?
//!   The repository passes the shared hygiene rule; TARGET carries a valid
//!   verdict (every `verify` rule); HEAD is an ancestor of TARGET; the
//!   verdict's reviewed base is HEAD or a descendant of it; the verdict is
//!   no older than the one HEAD carries nor than the newest this host has
//!   checked out (verdicts only move forward on a host); every tracked file
//!   on disk is HEAD's blob; no untracked file is present unless `[reviewgate]
//!   deploy_allow_untracked` names it.
//! - `deploy-checkout --rev REV [--rollback]`: the checkout moved to REV
//!   under the hardening profile with attributes from no source, then
//!   checked byte for byte against REV's tree; forward, every
//!   `deploy-check` rule is applied again first, and the host's mark moves
//!   to REV's verdict. `--rollback` (back to the commit deployed before)
//!   skips the forward rules, never the byte check.
//!
//! Exit 0 go, 1 refused (the rule named), 2 cannot decide. Every refusal
//! and every exit 2 is a `deploy.refuse` audit record.

use std::path::{Path, PathBuf};
use std::time::Instant;

use common::exit::Exit;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::check::{Judgement, Refusal};
use crate::cli::Settings;
use crate::gitio::Repo;
use crate::verdict::{self, Verdict};
use crate::verify::{Age, judge_commit, signers};
use crate::worktree;

/// Why a target is not deployed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeployRefusal {
    /// The target carries no valid verdict.
    #[error("the target carries no valid verdict: {0}")]
    NotApproved(Refusal),
    /// HEAD is not an ancestor of the target.
    #[error("the target is not a fast-forward of the deployed commit: history was rewritten")]
    NotFastForward,
    /// The verdict's reviewed base is not the deployed commit or a descendant of it.
    #[error(
        "the verdict reviewed {base}..{head}, whose base is not the deployed commit or a descendant of it: an older reviewed tree would roll back what is deployed"
    )]
    BaseBehind {
        /// The verdict's base.
        base: String,
        /// The verdict's head.
        head: String,
    },
    /// The verdict is older than one already deployed here.
    #[error(
        "the verdict was created {target}, before {deployed} (the verdict of {commit}, already deployed here): verdicts only move forward"
    )]
    Older {
        /// The target verdict's `created_at`.
        target: String,
        /// The newer verdict's `created_at`.
        deployed: String,
        /// The commit that carried it.
        commit: String,
    },
    /// The checkout differs from HEAD.
    #[error("the checkout is not the deployed tree: {} (to rewrite it from HEAD's blobs: openclaw-reviewgate deploy-checkout --rollback --rev HEAD)", paths.join("; "))]
    Modified {
        /// What differs (C-quoted paths, the first 20).
        paths: Vec<String>,
    },
    /// Untracked files the build could read.
    #[error("untracked files in the checkout could change what runs: {} (list them in [reviewgate] deploy_allow_untracked to allow them)", paths.join(", "))]
    Untracked {
        /// The files (C-quoted, the first 20).
        paths: Vec<String>,
    },
}

/// The newest verdict this host has checked out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    /// The commit that carried it.
    pub commit: String,
    /// Its `created_at`.
    pub created_at: String,
}

/// What `deploy-check` knows.
#[derive(Debug, Clone)]
pub struct Facts {
    /// The target's judgement.
    pub judgement: Judgement,
    /// Whether HEAD is an ancestor of (or equal to) the target.
    pub fast_forward: bool,
    /// Whether the verdict's base is HEAD or a descendant of it.
    pub base_after_head: bool,
    /// The newest verdict already deployed: HEAD's (when valid) or the host's mark.
    pub newest: Option<Mark>,
    /// Tracked paths on disk that differ from HEAD.
    pub modified: Vec<String>,
    /// Untracked files not allowed.
    pub untracked: Vec<String>,
}

/// The deploy rules, in order. Pure.
pub fn judge(f: &Facts) -> Result<Verdict, DeployRefusal> {
    let v = match &f.judgement {
        Judgement::Valid { verdict, .. } => (**verdict).clone(),
        Judgement::Invalid(r) => return Err(DeployRefusal::NotApproved(r.clone())),
    };
    if !f.fast_forward {
        return Err(DeployRefusal::NotFastForward);
    }
    if !f.base_after_head {
        return Err(DeployRefusal::BaseBehind { base: v.base.clone(), head: v.head.clone() });
    }
    if let Some(m) = &f.newest {
        let newest = common::time_fmt::parse_rfc3339(&m.created_at).map(|t| t.unix_timestamp());
        if verdict::created_at(&v).zip(newest).is_none_or(|(t, n)| t < n) {
            return Err(DeployRefusal::Older {
                target: v.created_at.clone(),
                deployed: m.created_at.clone(),
                commit: m.commit.clone(),
            });
        }
    }
    if !f.modified.is_empty() {
        return Err(DeployRefusal::Modified { paths: f.modified.iter().take(20).cloned().collect() });
    }
    if !f.untracked.is_empty() {
        return Err(DeployRefusal::Untracked { paths: f.untracked.iter().take(20).cloned().collect() });
    }
    Ok(v)
}

fn mark_path(s: &Settings) -> PathBuf {
    s.paths.state_dir.join("reviewgate").join("deployed-verdict.json")
}

fn read_mark(s: &Settings) -> Result<Option<Mark>, String> {
    let path = mark_path(s);
    let spec = common::private_path::OpenSpec::read(common::private_path::Class::Private);
    match common::private_path::read_file(&path, spec, 64 * 1024) {
        Ok(None) => Ok(None),
        Ok(Some(bytes)) => serde_json::from_slice(&bytes).map(Some).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) => Err(format!("{e}; fix: {}", e.fix())),
    }
}

fn write_mark(s: &Settings, m: &Mark) -> Result<(), String> {
    let path = mark_path(s);
    let dir = path.parent().unwrap_or(Path::new("/"));
    common::private_path::ensure_dir(dir, common::private_path::Class::Private)
        .map_err(|e| format!("{e}; fix: {}", e.fix()))?;
    let bytes = serde_json::to_vec(m).map_err(|e| e.to_string())?;
    common::artifacts::write_atomic(&path, &bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn newer(a: Option<Mark>, b: Option<Mark>) -> Option<Mark> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.created_at > a.created_at { b } else { a }),
        (a, b) => a.or(b),
    }
}

fn top(repo: &Repo) -> Result<PathBuf, String> {
    repo.toplevel().ok_or_else(|| "the deploy needs a working copy".to_owned())
}

fn gather(s: &Settings, repo: &Repo, target: &str, flag: Option<&Path>) -> Result<Facts, String> {
    let git = |e: crate::gitio::GitError| e.to_string();
    let head = repo.commit("HEAD").map_err(git)?;
    let keys = signers(s, repo, flag)?;
    let judgement = judge_commit(s, repo, target, &keys, Age::Limited)?;
    let fast_forward = repo.is_ancestor(&head, target).map_err(git)?;
    let base_after_head = match &judgement {
        Judgement::Valid { verdict, .. } => repo.is_ancestor(&head, &verdict.base).map_err(git)?,
        Judgement::Invalid(_) => false,
    };
    let head_mark = match judge_commit(s, repo, &head, &keys, Age::Unlimited)? {
        Judgement::Valid { verdict, .. } => Some(Mark { commit: head.clone(), created_at: verdict.created_at.clone() }),
        Judgement::Invalid(_) => None,
    };
    let top = top(repo)?;
    let modified = worktree::differences(&top, &head).map_err(git)?;
    let untracked = worktree::untracked(&top)
        .map_err(git)?
        .into_iter()
        .filter(|p| !worktree::allowed(p, &s.gate.deploy_allow_untracked))
        .map(|p| crate::quote::c_quote(&p))
        .collect();
    Ok(Facts { judgement, fast_forward, base_after_head, newest: newer(head_mark, read_mark(s)?), modified, untracked })
}

fn refuse(s: &Settings, rev: &str, rule: &str, why: &str, exit: Exit, started: Instant) -> Result<Exit, String> {
    s.audit("deploy.refuse", &json!({"rev": rev, "rule": rule}), exit, started)?;
    common::cli::write_result(&format!("REFUSED: {}\n", common::output::sanitize(why))).map_err(|e| e.to_string())?;
    Ok(exit)
}

/// An exit 2 that is still a record.
fn cannot(s: &Settings, rev: &str, why: String, started: Instant) -> String {
    s.audit_undecided("deploy.refuse", &json!({"rev": rev, "rule": "cannot-decide"}), started, why)
}

/// Runs `deploy-check`.
pub(crate) fn check(s: &Settings, rev: &str, repo_dir: &Path, flag: Option<&Path>) -> Result<Exit, String> {
    let started = Instant::now();
    let repo = Repo::new(repo_dir);
    let facts = (|| {
        repo.check_history_is_plain().map_err(|e| e.to_string())?;
        let target = repo.commit(rev).map_err(|e| e.to_string())?;
        gather(s, &repo, &target, flag).map(|f| (target, f))
    })();
    let (target, facts) = facts.map_err(|e| cannot(s, rev, e, started))?;
    match judge(&facts) {
        Ok(v) => {
            common::cli::write_result(&format!(
                "GO: {target} carries a verdict created {}, reviewed {}..{}\n",
                v.created_at, v.base, v.head
            ))
            .map_err(|e| e.to_string())?;
            Ok(Exit::Clean)
        }
        Err(r) => refuse(s, &target, &rule_of(&r), &r.to_string(), Exit::Policy, started),
    }
}

/// Runs `deploy-checkout`.
pub(crate) fn checkout(
    s: &Settings,
    rev: &str,
    repo_dir: &Path,
    rollback: bool,
    flag: Option<&Path>,
) -> Result<Exit, String> {
    let started = Instant::now();
    let repo = Repo::new(repo_dir);
    let moved = (|| {
        repo.check_history_is_plain().map_err(|e| e.to_string())?;
        let target = repo.commit(rev).map_err(|e| e.to_string())?;
        let top = top(&repo)?;
        // Forward, every deploy-check rule again: this command alone never
        // moves a checkout anywhere deploy-check would refuse.
        let mark = if rollback {
            None
        } else {
            match judge(&gather(s, &repo, &target, flag)?) {
                Ok(v) => Some(Mark { commit: target.clone(), created_at: v.created_at.clone() }),
                Err(r) => return Ok((target, Err(r), None)),
            }
        };
        worktree::checkout(&top, &target).map_err(|e| e.to_string())?;
        let diffs = worktree::differences(&top, &target).map_err(|e| e.to_string())?;
        let res = if diffs.is_empty() {
            Ok(())
        } else {
            Err(DeployRefusal::Modified { paths: diffs.into_iter().take(20).collect() })
        };
        Ok((target, res, mark))
    })();
    let (target, res, mark) = moved.map_err(|e| cannot(s, rev, e, started))?;
    match res {
        Ok(()) => {
            if let Some(m) = mark {
                let keep = newer(read_mark(s).map_err(|e| cannot(s, rev, e, started))?, Some(m.clone()));
                if keep.as_ref() == Some(&m) {
                    write_mark(s, &m).map_err(|e| cannot(s, rev, e, started))?;
                }
            }
            common::cli::write_result(&format!("CHECKED OUT: {target}, every tracked file byte for byte its blob\n"))
                .map_err(|e| e.to_string())?;
            Ok(Exit::Clean)
        }
        Err(r) => refuse(s, &target, &rule_of(&r), &r.to_string(), Exit::Policy, started),
    }
}

/// The refusal's rule id (the verify rule for an unapproved target).
pub fn rule_of(r: &DeployRefusal) -> String {
    match r {
        DeployRefusal::NotApproved(inner) => crate::verify::rule_of(inner),
        DeployRefusal::NotFastForward => "not-fast-forward".into(),
        DeployRefusal::BaseBehind { .. } => "base-behind".into(),
        DeployRefusal::Older { .. } => "older".into(),
        DeployRefusal::Modified { .. } => "modified".into(),
        DeployRefusal::Untracked { .. } => "untracked".into(),
    }
}
