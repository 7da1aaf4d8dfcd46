//! The pure validation of a `run` request against the allowlist, before
//! anything touches the disk or git: job and repo names by syntax and exact
//! lookup, the SHA's shape, and the parameters by their declared types. A
//! refusal never repeats a value the caller gave that failed its check.

use common::params::{self, Checked};

use crate::config::{Job, Repo, RunnerConfig};
use crate::validate::{valid_name, valid_sha};

/// What the caller asked for, as given.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// `--job`.
    pub job: String,
    /// `--repo`.
    pub repo: Option<String>,
    /// `--sha`.
    pub sha: Option<String>,
    /// `--param KEY=VALUE`, in order.
    pub params: Vec<String>,
}

/// A request that passed every check.
#[derive(Debug, Clone)]
pub struct Valid<'c> {
    /// The job.
    pub job: &'c Job,
    /// The repo and SHA, for a job that needs one.
    pub target: Option<(&'c Repo, String)>,
    /// The checked parameters.
    pub params: Checked,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The job name is malformed or not in the allowlist.
    #[error("unknown job (names are [a-z0-9._-]{{1,64}}); allowed: {0}")]
    UnknownJob(String),
    /// The repo name is malformed or not in the allowlist.
    #[error("unknown repo (names are [a-z0-9._-]{{1,64}}); allowed: {0}")]
    UnknownRepo(String),
    /// The SHA is not 40 or 64 lowercase hex.
    #[error("--sha must be a full commit id: 40 (or 64) lowercase hex characters")]
    BadSha,
    /// The job needs a repo and SHA that were not given.
    #[error("job `{0}` runs on a repo: give --repo and --sha")]
    MissingTarget(String),
    /// The job takes no repo but one was given.
    #[error("job `{0}` does not run on a repo: drop --repo and --sha")]
    UnexpectedTarget(String),
    /// A `--param` is not `KEY=VALUE`.
    #[error("--param must be KEY=VALUE")]
    MalformedParam,
    /// The parameters do not fit the declarations.
    #[error("{0}")]
    Param(#[from] params::ParamError),
    /// The SHA is not on an allowed branch (found after the fetch).
    #[error("the commit is not reachable from an allowed branch of `{repo}` ({branches})")]
    NotOnAllowedBranch {
        /// The repo.
        repo: String,
        /// Its allowed branches.
        branches: String,
    },
}

fn names<'a>(it: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<&str> = it.collect();
    if v.is_empty() { "none".into() } else { v.join(", ") }
}

/// Checks `req` against `cfg`.
pub fn check<'c>(cfg: &'c RunnerConfig, req: &Request) -> Result<Valid<'c>, Refusal> {
    let job = valid_name(&req.job)
        .then(|| cfg.job(&req.job))
        .flatten()
        .ok_or_else(|| Refusal::UnknownJob(names(cfg.jobs.iter().map(|j| j.name.as_str()))))?;
    let target = match (job.requires_repo, &req.repo, &req.sha) {
        (true, Some(repo), Some(sha)) => {
            let repo = valid_name(repo)
                .then(|| cfg.repo(repo))
                .flatten()
                .ok_or_else(|| Refusal::UnknownRepo(names(cfg.repos.iter().map(|r| r.name.as_str()))))?;
            if !valid_sha(sha) {
                return Err(Refusal::BadSha);
            }
            Some((repo, sha.clone()))
        }
        (true, _, _) => return Err(Refusal::MissingTarget(job.name.clone())),
        (false, None, None) => None,
        (false, _, _) => return Err(Refusal::UnexpectedTarget(job.name.clone())),
    };
    let mut pairs = Vec::with_capacity(req.params.len());
    for p in &req.params {
        let Some((k, v)) = p.split_once('=') else { return Err(Refusal::MalformedParam) };
        pairs.push((k.to_owned(), v.to_owned()));
    }
    let params = params::check_pairs(&job.params, &pairs)?;
    Ok(Valid { job, target, params })
}

#[cfg(test)]
mod tests;
