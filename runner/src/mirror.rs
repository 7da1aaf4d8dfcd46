//! The bare mirror of one allowlisted repo, `<state>/runner/mirrors/<name>.git`:
//! created on first use, its fetch URL re-set from the allowlist on every
//! run (never from the caller), its push URL a transport that does not
//! exist (and a push is proven to fail before any job runs), fetched under
//! a per-repo lock. A SHA is accepted only when the fetched history of an
//! allowed branch contains it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::Repo;
use crate::git::{self, GitError};
use crate::gitargs;

/// The push URL every mirror gets: an unknown transport, refused by
/// `GIT_ALLOW_PROTOCOL` in the runner and unknown to any git a job runs.
pub const PUSH_DISABLED: &str = "openclaw-push-disabled::/";

/// How long one fetch may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(600);

/// How long a local git call may take.
pub const LOCAL_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a mirror could not be used.
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    /// git failed.
    #[error(transparent)]
    Git(#[from] GitError),
    /// The mirror directory is unusable.
    #[error("mirror {path}: {why}")]
    Unusable {
        /// The mirror.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// The push URL could not be proven disabled.
    #[error("mirror {0}: a push did not fail as it must; refusing to run anything from it")]
    PushNotDisabled(PathBuf),
}

/// One repo's mirror.
#[derive(Debug, Clone)]
pub struct Mirror {
    /// The bare repository.
    pub dir: PathBuf,
}

impl Mirror {
    /// The mirror of `repo` under `mirrors`.
    pub fn of(mirrors: &Path, repo: &Repo) -> Mirror {
        Mirror { dir: mirrors.join(format!("{}.git", repo.name)) }
    }

    fn git(&self, args: &[&std::ffi::OsStr]) -> Result<git::GitOutput, GitError> {
        git::run(&self.dir, args, LOCAL_TIMEOUT)
    }

    /// Creates the mirror when absent and (re)writes its remote from the
    /// allowlist. The caller holds the repo's lock.
    pub fn prepare(&self, repo: &Repo) -> Result<(), MirrorError> {
        let parent = self.dir.parent().unwrap_or(Path::new("/"));
        match std::fs::symlink_metadata(&self.dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(MirrorError::Unusable { path: self.dir.clone(), why: "not a directory".into() });
            }
            Err(_) => {
                // The mirror must use the origin's object format (SHA-1 or
                // SHA-256): read it from the length of the ids the origin lists.
                let listed = git::run(parent, gitargs!["ls-remote", "--", repo.url], FETCH_TIMEOUT)?;
                let sha256 = listed.text().split('\t').next().is_some_and(|id| id.len() == 64);
                let format = if sha256 { "--object-format=sha256" } else { "--object-format=sha1" };
                git::run(parent, gitargs!["init", "--bare", "--quiet", format, "--", self.dir], LOCAL_TIMEOUT)?;
            }
        }
        common::private_path::check_dir(&self.dir, common::private_path::Class::Private)
            .map_err(|e| MirrorError::Unusable { path: self.dir.clone(), why: e.to_string() })?;
        self.refuse_foreign_files()?;
        self.rewrite_config()?;
        self.refuse_rewrites()?;
        for (key, value) in [
            ("remote.origin.url", repo.url.as_str()),
            ("remote.origin.pushurl", PUSH_DISABLED),
            ("remote.origin.fetch", "+refs/heads/*:refs/remotes/origin/*"),
            ("remote.origin.tagOpt", "--no-tags"),
            ("core.hooksPath", "/dev/null"),
            ("core.fsmonitor", "false"),
            ("gc.auto", "0"),
        ] {
            self.git(gitargs!["config", "--replace-all", "--", key, value])?;
        }
        Ok(())
    }

    /// Files git would obey that only someone other than the runner could
    /// have put in a mirror: borrowed object stores, a redirected common
    /// directory, a per-worktree config (what rewrites history is
    /// [`Self::refuse_rewrites`]). A mirror holding one is refused, never
    /// repaired silently: remove it and the next run re-creates it.
    fn refuse_foreign_files(&self) -> Result<(), MirrorError> {
        let refuse = |what: &str| MirrorError::Unusable {
            path: self.dir.clone(),
            why: format!(
                "holds {what}, which the runner never writes; remove the mirror (rm -rf {}) and the next run re-creates it",
                self.dir.display()
            ),
        };
        for rel in ["objects/info/alternates", "objects/info/http-alternates", "commondir", "config.worktree"] {
            if std::fs::symlink_metadata(self.dir.join(rel)).is_ok() {
                return Err(refuse(rel));
            }
        }
        Ok(())
    }

    /// What rewrites history or checkouts, by the shared rule
    /// (`common::git::check_repository`: grafts, shallow, local attributes,
    /// replace refs however stored); run once the config is the runner's own.
    fn refuse_rewrites(&self) -> Result<(), MirrorError> {
        common::git::check_repository(&self.dir, LOCAL_TIMEOUT).map_err(|e| MirrorError::Unusable {
            path: self.dir.clone(),
            why: format!(
                "{e}; the runner never writes one: remove the mirror (rm -rf {}) and the next run re-creates it",
                self.dir.display()
            ),
        })
    }

    /// Replaces the whole config with the runner's own before any git call
    /// reads it, so no key a job (run as root) could have added survives:
    /// `remote.*.uploadpack`, `url.*.insteadOf`, `filter.*`, `include.*`,
    /// `core.sshCommand`, `credential.*`. Only the object format is kept.
    fn rewrite_config(&self) -> Result<(), MirrorError> {
        let path = self.dir.join("config");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| MirrorError::Unusable { path: self.dir.clone(), why: format!("config: {e}") })?;
        let sha256 = text.lines().any(|l| {
            let l = l.trim().to_ascii_lowercase().replace(' ', "");
            l == "objectformat=sha256"
        });
        let fresh = if sha256 {
            "[core]\n\trepositoryformatversion = 1\n\tfilemode = true\n\tbare = true\n[extensions]\n\tobjectformat = sha256\n"
        } else {
            "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = true\n"
        };
        common::artifacts::write_atomic(&path, fresh.as_bytes())
            .map_err(|e| MirrorError::Unusable { path: self.dir.clone(), why: format!("config: {e}") })
    }

    /// Re-hashes every object in the mirror (`git fsck --strict`): a stored
    /// object whose content does not match its id is refused before any
    /// checkout uses it. Only a job that runs as root can write a mirror,
    /// so the caller asks for this when the allowlist has such a job.
    pub fn verify_objects(&self) -> Result<(), MirrorError> {
        let out = git::run_any(
            &self.dir,
            gitargs!["fsck", "--strict", "--no-dangling", "--no-progress", "--full"],
            FETCH_TIMEOUT,
        )?;
        if out.code != 0 {
            let first = String::from_utf8_lossy(&out.stderr)
                .lines()
                .chain(String::from_utf8_lossy(&out.stdout).lines())
                .next()
                .unwrap_or("")
                .chars()
                .take(200)
                .collect::<String>();
            return Err(MirrorError::Unusable {
                path: self.dir.clone(),
                why: format!(
                    "an object does not match its id ({}); remove the mirror (rm -rf {}) and the next run re-creates it",
                    common::output::sanitize(&first),
                    self.dir.display()
                ),
            });
        }
        Ok(())
    }

    /// Fetches every branch of the allowlisted URL (pruning).
    pub fn fetch(&self) -> Result<(), MirrorError> {
        // The remote-side program is named here, never taken from any config.
        git::run(
            &self.dir,
            gitargs!["fetch", "--upload-pack=git-upload-pack", "--prune", "--no-tags", "--quiet", "--", "origin"],
            FETCH_TIMEOUT,
        )?;
        Ok(())
    }

    /// Proves the push URL is the disabled one and that a push fails on it.
    pub fn prove_push_fails(&self) -> Result<(), MirrorError> {
        let url = self.git(gitargs!["remote", "get-url", "--push", "--", "origin"])?.text();
        if url != PUSH_DISABLED {
            return Err(MirrorError::PushNotDisabled(self.dir.clone()));
        }
        let out = git::run_any(
            &self.dir,
            gitargs!["push", "--dry-run", "--porcelain", "--", "origin", "refs/remotes/origin/*:refs/heads/*"],
            LOCAL_TIMEOUT,
        )?;
        let refused = String::from_utf8_lossy(&out.stderr).contains("openclaw-push-disabled");
        if out.code == 0 || !refused {
            return Err(MirrorError::PushNotDisabled(self.dir.clone()));
        }
        Ok(())
    }

    /// The first allowed branch whose fetched history contains `sha`
    /// (`None`: the commit is absent or on no allowed branch).
    pub fn branch_containing(&self, sha: &str, branches: &[String]) -> Result<Option<String>, MirrorError> {
        let commit = format!("{sha}^{{commit}}");
        let exists = git::run_any(&self.dir, gitargs!["cat-file", "-e", "--end-of-options", commit], LOCAL_TIMEOUT)?;
        if exists.code != 0 {
            return Ok(None);
        }
        for b in branches {
            let tip = format!("refs/remotes/origin/{b}");
            let has = git::run_any(
                &self.dir,
                gitargs!["rev-parse", "--verify", "--quiet", "--end-of-options", tip],
                LOCAL_TIMEOUT,
            )?;
            if has.code != 0 {
                continue;
            }
            let out = git::run_any(
                &self.dir,
                gitargs!["merge-base", "--is-ancestor", "--end-of-options", sha, tip],
                LOCAL_TIMEOUT,
            )?;
            match out.code {
                0 => return Ok(Some(b.clone())),
                1 => {}
                _ => {
                    return Err(MirrorError::Git(GitError::Failed {
                        what: "merge-base".into(),
                        code: out.code,
                        stderr: String::from_utf8_lossy(&out.stderr).lines().next().unwrap_or("").to_owned(),
                    }));
                }
            }
        }
        Ok(None)
    }
}
