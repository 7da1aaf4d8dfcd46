//! `verify --rev REV`: does commit REV itself carry a valid verdict? Reads
//! both files from the commit (`git cat-file blob REV:…`), checks the
//! signature against an `allowed_signers` outside the repository, diffs the
//! commit's tree against the verdict's, then [`check::judge`]s. Exit 0
//! valid, 1 invalid (the refusal says which rule), 2 cannot decide.

use std::path::Path;
use std::time::Instant;

use common::exit::Exit;
use common::private_path::{self, Class};
use serde::Serialize;

use crate::check::{self, Facts, Judgement, Refusal, SigCheck};
use crate::cli::Settings;
use crate::gitio::{GitError, Repo};
use crate::sshsig::Signers;
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

/// Most bytes of `allowed_signers` read.
const MAX_SIGNERS: u64 = 1 << 20;

/// Reads `allowed_signers` once, refusing one the pushed content could have
/// changed (inside the repository), or that someone other than root or the
/// caller could (the file on its descriptor, then its parents:
/// `common::private_path::read_anchored`). The bytes read are what every
/// check uses: the path is never opened again.
fn read_signers(path: &Path, repo: &Repo) -> Result<Signers, String> {
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
    match private_path::read_anchored(path, Class::Private, MAX_SIGNERS) {
        Ok(Some(bytes)) => Ok(Signers { path: path.to_owned(), bytes }),
        Ok(None) => Err(format!("allowed_signers {} does not exist", path.display())),
        Err(e) => Err(format!("refusing allowed_signers: {e}; fix: {}", e.fix())),
    }
}

fn gather(repo: &Repo, commit: &str, signers: &Signers, now: i64, max_age_secs: Option<i64>) -> Result<Facts, String> {
    let git = |e: GitError| e.to_string();
    let mut unreadable = None;
    let mut read = |path: &str| match repo.file_at(commit, path, MAX_FILE) {
        Ok(bytes) => Ok(bytes),
        // Not a verdict: "not approved", never an error for the commits after it.
        Err(e @ GitError::TooLarge { .. }) => {
            unreadable = Some(e.to_string());
            Ok(None)
        }
        Err(e) => Err(git(e)),
    };
    let verdict = read(VERDICT_PATH)?;
    let sig = read(SIG_PATH)?;
    let sig_check = match (&verdict, &sig) {
        (Some(v), Some(s)) => sshsig::check(signers, v, s).map_err(|e| e.to_string())?,
        _ => SigCheck::Invalid("missing".into()),
    };
    let modes = repo.modes_at(commit, [VERDICT_PATH, SIG_PATH]).map_err(git)?;
    // The tree named by the verdict (read before it is trusted, only to diff).
    let tree_diff = match verdict.as_deref().map(Verdict::parse) {
        Some(Ok(v)) if repo.has_tree(&v.tree).map_err(git)? => {
            let ours = repo.tree(commit).map_err(git)?;
            Some(repo.diff_paths(&v.tree, &ours).map_err(git)?)
        }
        _ => None,
    };
    Ok(Facts {
        verdict,
        unreadable,
        sig_present: sig.is_some(),
        sig_exact: sig.as_deref().is_some_and(sshsig::is_exact_armor),
        modes,
        sig: sig_check,
        tree_diff,
        now,
        max_age_secs,
    })
}

/// Resolves `allowed_signers` and reads it, refusing one that is hostile or inside the repository.
pub(crate) fn signers(s: &Settings, repo: &Repo, flag: Option<&Path>) -> Result<Signers, String> {
    let path = settings::allowed_signers(flag, &common::paths::process_env, s.gate.allowed_signers.as_deref())?;
    read_signers(&path, repo)
}

/// How old a verdict may be: deploy targets and verified commits are held
/// to `max_age_days`; an approved base in the chain of trust is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Age {
    /// `[reviewgate] max_age_days` applies.
    Limited,
    /// No limit.
    Unlimited,
}

/// Judges whether `commit` carries a valid verdict.
pub(crate) fn judge_commit(
    s: &Settings,
    repo: &Repo,
    commit: &str,
    signers: &Signers,
    age: Age,
) -> Result<Judgement, String> {
    let j = judge_alone(s, repo, commit, signers, age)?;
    if let Judgement::Valid { verdict, .. } = &j
        && let Some((newer, newer_created_at)) = newer_in_history(repo, commit, verdict, signers)?
    {
        let created_at = verdict.created_at.clone();
        return Ok(Judgement::Invalid(Refusal::Superseded { created_at, newer, newer_created_at }));
    }
    Ok(j)
}

/// Rules 1 to 4 on the commit alone.
fn judge_alone(s: &Settings, repo: &Repo, commit: &str, signers: &Signers, age: Age) -> Result<Judgement, String> {
    let now = common::time_fmt::now_utc().unix_timestamp();
    let max = (age == Age::Limited).then(|| i64::from(s.gate.max_age_days) * 86_400);
    let facts = gather(repo, commit, signers, now, max)?;
    Ok(check::judge(&facts))
}

/// Verdict files read per `git cat-file --batch`.
const BATCH: usize = 500;

/// Rule 5: a commit (other than `commit`) of the verdict's own history
/// since the reviewed head (`v.head..commit`, every side of every merge;
/// all of `commit`'s history when the head is not here, never cut short)
/// that changed either verdict file and, at that commit, holds a verdict
/// created after `v`'s that is approved, not simulated and signed by an
/// allowed signer. Its tree need not match: a signed approval that landed
/// in two commits, or beside a stray file removed later, still counts. Only
/// verdicts that claim to be newer are checked, so an ordinary history costs
/// one `git log` and two `git cat-file --batch` per 500 commits.
fn newer_in_history(
    repo: &Repo,
    commit: &str,
    v: &Verdict,
    signers: &Signers,
) -> Result<Option<(String, String)>, String> {
    let git = |e: GitError| e.to_string();
    let range =
        if repo.has_commit(&v.head).map_err(git)? { format!("{}..{commit}", v.head) } else { commit.to_owned() };
    let commits: Vec<String> = repo
        .commits_touching_in(&range, &[VERDICT_PATH, SIG_PATH])
        .map_err(git)?
        .into_iter()
        .filter(|c| c != commit)
        .collect();
    for chunk in commits.chunks(BATCH) {
        let jsons = repo.files_at(chunk, VERDICT_PATH, MAX_FILE).map_err(git)?;
        let sigs = repo.files_at(chunk, SIG_PATH, MAX_FILE).map_err(git)?;
        for ((c, json), sig) in chunk.iter().zip(jsons).zip(sigs) {
            let (Some(json), Some(sig)) = (json, sig) else { continue };
            let Ok(other) = Verdict::parse(&json) else { continue };
            // Canonical RFC 3339 in UTC (`YYYY-MM-DDTHH:MM:SSZ`): text order is time order.
            if other.created_at <= v.created_at || check::approval(&other).is_err() {
                continue;
            }
            if let SigCheck::Valid { .. } = sshsig::check(signers, &json, &sig).map_err(|e| e.to_string())? {
                return Ok(Some((c.clone(), other.created_at.clone())));
            }
        }
    }
    Ok(None)
}

/// Runs `verify`.
pub fn verify(s: &Settings, rev: &str, repo_dir: &Path, flag: Option<&Path>, audit: bool) -> Result<Exit, String> {
    let started = Instant::now();
    let repo = Repo::new(repo_dir);
    let decided = (|| {
        repo.check_history_is_plain().map_err(|e| e.to_string())?;
        let commit = repo.commit(rev).map_err(|e| e.to_string())?;
        let signers = signers(s, &repo, flag)?;
        let judgement = judge_commit(s, &repo, &commit, &signers, Age::Limited)?;
        Ok::<_, String>((commit, signers, judgement))
    })();
    // Cannot decide (exit 2) is a refusal too, and a record.
    let (commit, signers, judgement) = decided.map_err(|e| {
        if !audit {
            return e;
        }
        s.audit_undecided("review.refuse", &serde_json::json!({"rev": rev, "rule": "cannot-decide"}), started, e)
    })?;
    let rep = match judgement {
        Judgement::Valid { verdict, principal } => VerifyReport {
            rev: rev.to_owned(),
            commit,
            valid: true,
            principal: Some(principal),
            verdict: Some(*verdict),
            refusal: None,
            allowed_signers: signers.path.display().to_string(),
        },
        Judgement::Invalid(refusal) => VerifyReport {
            rev: rev.to_owned(),
            commit,
            valid: false,
            principal: None,
            verdict: None,
            refusal: Some(refusal),
            allowed_signers: signers.path.display().to_string(),
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
