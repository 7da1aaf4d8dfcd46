//! The runner's allowlist: `runner.toml` (shape in docs/runner.md), read
//! under the shared config rules (private file and directory, unknown keys
//! refused with `file:line:column`). Every repo and job is checked before
//! anything runs; one bad entry refuses the whole file.
//!
//! The file is found by `--config FILE`, then `OPENCLAW_RUNNER_CONFIG`, then
//! [`DEFAULT_CONFIG`]; unlike `openclaw.toml` it is never optional.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use common::config::{ConfigError, Document};
use common::params::{MAX_PARAMS, ParamSpec, RawParam};
use serde::Deserialize;
use toml::Spanned;

use crate::identity::{DYNAMIC, RunAs};
use crate::validate::{check_url, valid_branch, valid_name};

/// The default allowlist file.
pub const DEFAULT_CONFIG: &str = "/etc/openclaw/runner.toml";

/// The variable naming the allowlist file when `--config` is not given.
pub const CONFIG_ENV: &str = "OPENCLAW_RUNNER_CONFIG";

/// Longest timeout a job may declare (a day).
pub const MAX_TIMEOUT_SEC: u64 = 86_400;

/// Most repos or jobs one file may hold.
pub const MAX_ENTRIES: usize = 256;

/// A repository jobs may run on.
#[derive(Debug, Clone)]
pub struct Repo {
    /// `[a-z0-9._-]{1,64}`.
    pub name: String,
    /// The only place it is fetched from (never from the caller).
    pub url: String,
    /// A SHA must be reachable from one of these after the fetch.
    pub allowed_branches: Vec<String>,
}

/// An allowlisted job.
#[derive(Debug, Clone)]
pub struct Job {
    /// `[a-z0-9._-]{1,64}`.
    pub name: String,
    /// The program (absolute, trusted) and its fixed arguments.
    pub argv: Vec<String>,
    /// Covers the job and every descendant it leaves behind.
    pub timeout: Duration,
    /// Whether it runs on a worktree (and needs `--repo` and `--sha`).
    pub requires_repo: bool,
    /// Who it runs as (the file's `run_as` unless overridden).
    pub run_as: RunAs,
    /// Its typed parameters.
    pub params: Vec<ParamSpec>,
    /// Whether it shares the host's network; by default it gets a network
    /// namespace of its own with loopback only.
    pub network: bool,
}

/// The checked allowlist.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Who jobs run as unless they say (`dynamic` when the file is silent).
    pub run_as: RunAs,
    /// The repos, in file order.
    pub repos: Vec<Repo>,
    /// The jobs, in file order.
    pub jobs: Vec<Job>,
    /// SHA-256 of the file's text (`allowlist_hash`).
    pub hash: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    run_as: Option<Spanned<String>>,
    #[serde(default)]
    repo: Vec<Spanned<RawRepo>>,
    #[serde(default)]
    job: Vec<Spanned<RawJob>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRepo {
    name: Spanned<String>,
    url: Spanned<String>,
    allowed_branches: Spanned<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    name: Spanned<String>,
    argv: Spanned<Vec<String>>,
    timeout_sec: Spanned<u64>,
    #[serde(default = "yes")]
    requires_repo: bool,
    run_as: Option<Spanned<String>>,
    #[serde(default)]
    params: BTreeMap<String, RawParam>,
    #[serde(default)]
    network: bool,
}

fn yes() -> bool {
    true
}

/// What the parser needs from the host, injected so parsing stays pure.
pub struct Host<'a> {
    /// Looks a user up by name.
    pub user: &'a dyn Fn(&str) -> Option<crate::passwd::User>,
    /// Judges `argv[0]` (the real check is `common::private_path::check_executable`).
    pub program_ok: &'a dyn Fn(&Path) -> Result<(), String>,
    /// The runner's effective uid: the owner of every worktree.
    pub euid: u32,
}

impl RunnerConfig {
    /// Parses and checks an allowlist document.
    pub fn parse(doc: &Document, host: &Host<'_>) -> Result<RunnerConfig, ConfigError> {
        let raw: RawConfig = doc.parse()?;
        let bad = |span: std::ops::Range<usize>, m: String| doc.invalid_at(Some(span), m);
        let resolve = |name: &Spanned<String>, per_job: bool| -> Result<RunAs, ConfigError> {
            if name.get_ref() == DYNAMIC {
                return Ok(RunAs::Dynamic);
            }
            let Some(user) = (host.user)(name.get_ref()) else {
                return Err(bad(name.span(), format!("run_as: no user `{}` in /etc/passwd", name.get_ref())));
            };
            // The worktree belongs to the runner's uid: a job with that uid
            // could chmod its way back to a writable tree. Only the explicit,
            // per-job `run_as = "root"` may (docs/runner.md says what it costs).
            let root_override = per_job && user.name == "root" && user.uid == 0;
            if user.uid == host.euid && !root_override {
                return Err(bad(
                    name.span(),
                    format!(
                        "run_as `{}` has uid {}, the uid that owns the worktrees; jobs must run as another user",
                        user.name, user.uid
                    ),
                ));
            }
            Ok(RunAs::User(user))
        };
        let default_user = match &raw.run_as {
            Some(name) => resolve(name, false)?,
            None => RunAs::Dynamic,
        };
        if raw.repo.len() > MAX_ENTRIES || raw.job.len() > MAX_ENTRIES {
            return Err(doc.invalid_at(None, format!("more than {MAX_ENTRIES} repos or jobs")));
        }
        if raw.job.is_empty() {
            return Err(doc.invalid_at(None, "the file holds no [[job]]".to_owned()));
        }
        let mut repos: Vec<Repo> = Vec::with_capacity(raw.repo.len());
        for spanned in raw.repo {
            let r = spanned.into_inner();
            if !valid_name(r.name.get_ref()) {
                return Err(bad(r.name.span(), "repo name must be [a-z0-9._-]{1,64}, not starting with . or -".into()));
            }
            let name = r.name.get_ref().clone();
            if repos.iter().any(|x| x.name == name) {
                return Err(bad(r.name.span(), format!("repo `{name}` is defined twice")));
            }
            check_url(r.url.get_ref()).map_err(|why| bad(r.url.span(), format!("repo `{name}`: {why}")))?;
            let branches = r.allowed_branches.get_ref();
            if branches.is_empty() || branches.len() > 64 || !branches.iter().all(|b| valid_branch(b)) {
                return Err(bad(
                    r.allowed_branches.span(),
                    format!("repo `{name}`: allowed_branches must hold 1 to 64 plain branch names"),
                ));
            }
            repos.push(Repo { name, url: r.url.into_inner(), allowed_branches: r.allowed_branches.into_inner() });
        }
        let mut jobs: Vec<Job> = Vec::with_capacity(raw.job.len());
        for spanned in raw.job {
            let span = spanned.span();
            let j = spanned.into_inner();
            if !valid_name(j.name.get_ref()) {
                return Err(bad(j.name.span(), "job name must be [a-z0-9._-]{1,64}, not starting with . or -".into()));
            }
            let name = j.name.get_ref().clone();
            if jobs.iter().any(|x| x.name == name) {
                return Err(bad(j.name.span(), format!("job `{name}` is defined twice")));
            }
            let at = |m: &str| format!("job `{name}`: {m}");
            let argv = j.argv.get_ref();
            if argv.is_empty() || argv.len() > 64 || argv.iter().any(|s| s.len() > 4096 || s.contains('\0')) {
                return Err(bad(j.argv.span(), at("argv must hold 1 to 64 entries under 4096 bytes, without NUL")));
            }
            if !Path::new(&argv[0]).is_absolute() {
                return Err(bad(j.argv.span(), at("argv[0] must be an absolute path (no shell, no PATH search)")));
            }
            if let Err(why) = (host.program_ok)(Path::new(&argv[0])) {
                return Err(bad(j.argv.span(), at(&format!("argv[0] cannot be trusted: {why}"))));
            }
            if !(1..=MAX_TIMEOUT_SEC).contains(j.timeout_sec.get_ref()) {
                return Err(bad(j.timeout_sec.span(), at(&format!("timeout_sec must be 1 to {MAX_TIMEOUT_SEC}"))));
            }
            let run_as = match &j.run_as {
                Some(n) => resolve(n, true)?,
                None => default_user.clone(),
            };
            if j.params.len() > MAX_PARAMS {
                return Err(doc.invalid_at(Some(span.clone()), at(&format!("more than {MAX_PARAMS} params"))));
            }
            let mut params = Vec::with_capacity(j.params.len());
            for (pname, rawp) in j.params {
                let spec = ParamSpec::from_raw(&pname, Some(span.clone()), rawp)
                    .map_err(|e| doc.invalid_at(e.span.or(Some(span.clone())), at(&e.message)))?;
                params.push(spec);
            }
            jobs.push(Job {
                name,
                argv: j.argv.into_inner(),
                timeout: Duration::from_secs(*j.timeout_sec.get_ref()),
                requires_repo: j.requires_repo,
                run_as,
                params,
                network: j.network,
            });
        }
        let hash = common::hash::sha256_hex(doc.text().as_bytes());
        Ok(RunnerConfig { run_as: default_user, repos, jobs, hash })
    }

    /// Loads the file at `path` (always explicit: there is no built-in set).
    pub fn load(path: &Path, host: &Host<'_>) -> Result<RunnerConfig, ConfigError> {
        match Document::load(path, true)? {
            Some(doc) => RunnerConfig::parse(&doc, host),
            None => Err(ConfigError::Io {
                path: path.to_owned(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            }),
        }
    }

    /// The job `name`, by exact lookup.
    pub fn job(&self, name: &str) -> Option<&Job> {
        self.jobs.iter().find(|j| j.name == name)
    }

    /// The repo `name`, by exact lookup.
    pub fn repo(&self, name: &str) -> Option<&Repo> {
        self.repos.iter().find(|r| r.name == name)
    }
}

#[cfg(test)]
mod tests;
