//! `verify --rev REV`: does commit REV itself carry a valid verdict? Reads
//! both files from the commit (`git cat-file blob REV:…`), checks the
//! signature against an `allowed_signers` outside the repository, diffs the
//! commit's tree against the verdict's, then [`check::judge`]s. Exit 0
//! valid, 1 invalid (the refusal says which rule), 2 cannot decide.

use std::path::{Path, PathBuf};
use std::time::Instant;

use common::exit::Exit;
use common::private_path::{self, Class, Kind};
use serde::Serialize;

use crate::check::{self, Facts, Judgement, Refusal, SigCheck};
use crate::cli::Settings;
use crate::gitio::{GitError, Repo};
use crate::verdict::{MAX_FILE, SIG_PATH, VERDICT_PATH, Verdict};
use crate::{render, settings, sshsig};

/// `verify`'s JSON body.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// The revision asked about.
    pub rev: String,
    /// The commit it names.
    pub commit: String,
    /// Whether it carries a valid verdict.
    pub valid: bool,
    /// Who signed it (when valid).
    pub principal: Option<String>,
    /// The verdict (when valid).
    pub verdict: Option<Verdict>,
    /// Why not (when invalid).
    pub refusal: Option<Refusal>,
    /// The `allowed_signers` used.
    pub allowed_signers: String,
}

/// Refuses an `allowed_signers` the pushed content could have changed, or
/// that someone other than root or the caller could.
fn check_signers(path: &Path, repo: &Repo) -> Result<(), String> {
    if let Some(top) = repo.toplevel() {
        let real = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned());
        if real(path).starts_with(real(&top)) {
            return Err(format!(
                "allowed_signers {} lies inside the repository being verified ({}); a push could change it. \
                 Keep it outside, e.g. {}",
                path.display(),
                top.display(),
                settings::DEFAULT_ALLOWED_SIGNERS
            ));
        }
    }
    match private_path::check_entry(path, Kind::File, Class::Private, None) {
        Ok(true) => Ok(()),
        Ok(false) => Err(format!("allowed_signers {} does not exist", path.display())),
        Err(e) => Err(format!("refusing allowed_signers: {e}; fix: {}", e.fix())),
    }
}

fn gather(repo: &Repo, commit: &str, signers: &Path, now: i64, max_age_secs: i64) -> Result<Facts, String> {
    let git = |e: GitError| e.to_string();
    let verdict = repo.file_at(commit, VERDICT_PATH, MAX_FILE).map_err(git)?;
    let sig = repo.file_at(commit, SIG_PATH, MAX_FILE).map_err(git)?;
    let sig_check = match (&verdict, &sig) {
        (Some(v), Some(s)) => sshsig::check(signers, v, s).map_err(|e| e.to_string())?,
        _ => SigCheck::Invalid("missing".into()),
    };
    // The tree named by the verdict (read before it is trusted, only to diff).
    let tree_diff = match verdict.as_deref().map(Verdict::parse) {
        Some(Ok(v)) if repo.has_tree(&v.tree).map_err(git)? => {
            let ours = repo.tree(commit).map_err(git)?;
            Some(repo.diff_paths(&v.tree, &ours).map_err(git)?)
        }
        _ => None,
    };
    Ok(Facts { verdict, sig_present: sig.is_some(), sig: sig_check, tree_diff, now, max_age_secs })
}

/// Resolves `allowed_signers` and refuses one that is hostile or inside the repository.
pub(crate) fn signers(s: &Settings, repo: &Repo, flag: Option<&Path>) -> Result<PathBuf, String> {
    let path = settings::allowed_signers(flag, &common::paths::process_env, s.gate.allowed_signers.as_deref())?;
    check_signers(&path, repo)?;
    Ok(path)
}

/// Judges whether `commit` carries a valid verdict.
pub(crate) fn judge_commit(s: &Settings, repo: &Repo, commit: &str, signers: &Path) -> Result<Judgement, String> {
    let now = common::time_fmt::now_utc().unix_timestamp();
    let facts = gather(repo, commit, signers, now, i64::from(s.gate.max_age_days) * 86_400)?;
    Ok(check::judge(&facts))
}

/// Runs `verify`.
pub fn verify(s: &Settings, rev: &str, repo_dir: &Path, flag: Option<&Path>, audit: bool) -> Result<Exit, String> {
    let started = Instant::now();
    let repo = Repo::new(repo_dir);
    repo.check_history_is_plain().map_err(|e| e.to_string())?;
    let commit = repo.commit(rev).map_err(|e| e.to_string())?;
    let signers = signers(s, &repo, flag)?;
    let judgement = judge_commit(s, &repo, &commit, &signers)?;
    let rep = match judgement {
        Judgement::Valid { verdict, principal } => VerifyReport {
            rev: rev.to_owned(),
            commit,
            valid: true,
            principal: Some(principal),
            verdict: Some(*verdict),
            refusal: None,
            allowed_signers: signers.display().to_string(),
        },
        Judgement::Invalid(refusal) => VerifyReport {
            rev: rev.to_owned(),
            commit,
            valid: false,
            principal: None,
            verdict: None,
            refusal: Some(refusal),
            allowed_signers: signers.display().to_string(),
        },
    };
    let exit = if rep.valid { Exit::Clean } else { Exit::Policy };
    if !rep.valid && audit {
        let rule = rep.refusal.as_ref().map(rule_of);
        s.audit("review.refuse", &serde_json::json!({"rev": rep.commit, "rule": rule}), exit, started)?;
    }
    render::verify(s.format, &rep)?;
    Ok(exit)
}

/// A refusal's rule id, as in the JSON.
pub(crate) fn rule_of(r: &Refusal) -> String {
    serde_json::to_value(r).ok().and_then(|v| v["rule"].as_str().map(str::to_owned)).unwrap_or_default()
}
