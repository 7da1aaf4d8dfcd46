//! What the gate reads from git, each call bounded by a timeout and run with
//! `git -C <repo>`: a revision's commit and tree ids, a file as stored in a
//! commit (`git cat-file blob REV:path`, never the working tree), the paths
//! by which two trees differ, and the repository's top level.

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::process::{self, CmdError};

/// Longest one git call may take.
pub const GIT_TIMEOUT: Duration = Duration::from_secs(60);

/// Why git could not answer.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// git itself failed (not installed, timed out, not a repository…).
    #[error("git: {0}")]
    Failed(String),
    /// The revision does not name a commit.
    #[error("`{0}` is not a commit in this repository")]
    UnknownRev(String),
}

/// A repository to read.
#[derive(Debug, Clone)]
pub struct Repo {
    dir: PathBuf,
}

fn is_object_id(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Repo {
    /// The repository at (or above) `dir`.
    pub fn new(dir: &Path) -> Repo {
        Repo { dir: dir.to_owned() }
    }

    fn git(&self, args: &[&str]) -> Result<process::CmdOutput, GitError> {
        let dir = self.dir.to_string_lossy();
        // No hook, fsmonitor or pager of the repository runs, and `refs/replace/*`
        // cannot substitute other objects for the ones named: only plumbing on objects.
        let mut argv = vec![
            "-C",
            &dir,
            "--no-replace-objects",
            "-c",
            "core.quotepath=off",
            "-c",
            "core.fsmonitor=false",
            "--no-pager",
        ];
        argv.extend_from_slice(args);
        process::run("git", &argv, GIT_TIMEOUT).map_err(|e| match e {
            CmdError::NotFound(_) => GitError::Failed("git is not installed".into()),
            other => GitError::Failed(other.to_string()),
        })
    }

    /// The top-level directory of the working copy, if any.
    pub fn toplevel(&self) -> Option<PathBuf> {
        let out = self.git(&["rev-parse", "--show-toplevel"]).ok()?;
        out.status.success().then(|| PathBuf::from(out.stdout_text().trim_end_matches('\n')))
    }

    /// The full id of the commit `rev` names.
    pub fn commit(&self, rev: &str) -> Result<String, GitError> {
        let spec = format!("{rev}^{{commit}}");
        let out = self.git(&["rev-parse", "--verify", "--quiet", "--end-of-options", &spec])?;
        let id = out.stdout_text().trim().to_owned();
        if out.status.success() && is_object_id(&id) { Ok(id) } else { Err(GitError::UnknownRev(rev.to_owned())) }
    }

    /// The tree id of commit `commit`.
    pub fn tree(&self, commit: &str) -> Result<String, GitError> {
        let out = self.git(&["rev-parse", "--verify", "--end-of-options", &format!("{commit}^{{tree}}")])?;
        let id = out.stdout_text().trim().to_owned();
        if out.status.success() && is_object_id(&id) {
            Ok(id)
        } else {
            Err(GitError::Failed(format!("no tree for {commit}: {}", out.stderr_line())))
        }
    }

    /// The bytes of `path` as stored in `commit`; `None` when the commit has
    /// no such file. At most `max` bytes are accepted.
    pub fn file_at(&self, commit: &str, path: &str, max: usize) -> Result<Option<Vec<u8>>, GitError> {
        let spec = format!("{commit}:{path}");
        let exists = self.git(&["cat-file", "-e", &spec])?;
        if !exists.status.success() {
            return Ok(None);
        }
        let size = self.git(&["cat-file", "-s", &spec])?;
        let n: usize = size.stdout_text().trim().parse().map_err(|_| GitError::Failed(format!("size of {spec}")))?;
        if n > max {
            return Err(GitError::Failed(format!("{path} in {commit} is {n} bytes, more than {max}")));
        }
        let out = self.git(&["cat-file", "blob", &spec])?;
        if !out.status.success() {
            return Err(GitError::Failed(format!("cannot read {spec}: {}", out.stderr_line())));
        }
        Ok(Some(out.stdout))
    }

    /// Whether commit `a` is an ancestor of (or equal to) commit `b`; an
    /// object this repository does not have is an error.
    pub fn is_ancestor(&self, a: &str, b: &str) -> Result<bool, GitError> {
        for oid in [a, b] {
            let out = self.git(&["cat-file", "-e", &format!("{oid}^{{commit}}")])?;
            if !out.status.success() {
                return Err(GitError::UnknownRev(oid.to_owned()));
            }
        }
        let out = self.git(&["merge-base", "--is-ancestor", a, b])?;
        match out.status.code() {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => Err(GitError::Failed(format!("merge-base {a} {b}: {}", out.stderr_line()))),
        }
    }

    /// Where hook `name` lives (honours `core.hooksPath`), absolute.
    pub fn hook_path(&self, name: &str) -> Result<PathBuf, GitError> {
        let out = self.git(&["rev-parse", "--path-format=absolute", "--git-path", &format!("hooks/{name}")])?;
        if !out.status.success() {
            return Err(GitError::Failed(format!("not a git repository: {}", out.stderr_line())));
        }
        Ok(PathBuf::from(out.stdout_text().trim_end_matches('\n')))
    }

    /// The files changed from `base` to `head` with their diffs, from one
    /// `git diff` that runs no external diff or textconv and does not follow
    /// the repository's diff settings.
    pub fn changes(&self, base: &str, head: &str) -> Result<Vec<crate::bundle::Change>, GitError> {
        let names = self.git(&["diff", "--name-status", "-z", "--no-renames", base, head, "--"])?;
        if !names.status.success() {
            return Err(GitError::Failed(format!("diff {base} {head}: {}", names.stderr_line())));
        }
        let fields: Vec<&[u8]> = names.stdout.split(|&b| b == 0).filter(|f| !f.is_empty()).collect();
        let listed: Vec<(char, String)> = fields
            .chunks(2)
            .filter_map(|c| match c {
                [st, path] => Some((char::from(st[0]), String::from_utf8_lossy(path).into_owned())),
                _ => None,
            })
            .collect();
        let out = self.git(&[
            "-c",
            "diff.suppressBlankEmpty=false",
            "-c",
            "diff.relative=false",
            "diff",
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
            "--no-renames",
            "--full-index",
            "--unified=3",
            "--inter-hunk-context=0",
            "--diff-algorithm=myers",
            "--src-prefix=a/",
            "--dst-prefix=b/",
            base,
            head,
            "--",
        ])?;
        if !out.status.success() {
            return Err(GitError::Failed(format!("diff {base} {head}: {}", out.stderr_line())));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut diffs: Vec<String> = Vec::new();
        for line in text.split_inclusive('\n') {
            if line.starts_with("diff --git ") || diffs.is_empty() {
                diffs.push(String::new());
            }
            if let Some(d) = diffs.last_mut() {
                d.push_str(line);
            }
        }
        if diffs.len() != listed.len() {
            return Err(GitError::Failed(format!(
                "diff {base} {head}: {} file(s) listed but {} diff(s) read",
                listed.len(),
                diffs.len()
            )));
        }
        Ok(listed
            .into_iter()
            .zip(diffs)
            .map(|((status, path), diff)| crate::bundle::Change { status, path, diff })
            .collect())
    }

    /// The ancestors of `head` (itself included) that changed `path`, newest first.
    pub fn commits_touching(&self, head: &str, path: &str) -> Result<Vec<String>, GitError> {
        let out = self.git(&["log", "--format=%H", "--no-renames", head, "--", path])?;
        if !out.status.success() {
            return Err(GitError::Failed(format!("log {head} -- {path}: {}", out.stderr_line())));
        }
        Ok(out.stdout_text().lines().map(str::to_owned).filter(|l| is_object_id(l)).collect())
    }

    /// Commits `paths` (and nothing else staged) with `message`; the new commit's id.
    pub fn commit_only(&self, paths: &[&str], message: &str) -> Result<String, GitError> {
        let mut add = vec!["add", "--"];
        add.extend_from_slice(paths);
        let out = self.git(&add)?;
        if !out.status.success() {
            return Err(GitError::Failed(format!("add: {}", out.stderr_line())));
        }
        let mut args = vec!["commit", "--quiet", "--no-verify", "-m", message, "--only", "--"];
        args.extend_from_slice(paths);
        let out = self.git(&args)?;
        if !out.status.success() {
            return Err(GitError::Failed(format!("commit: {}", out.stderr_line())));
        }
        self.commit("HEAD")
    }

    /// Whether `tree` is a tree object here.
    pub fn has_tree(&self, tree: &str) -> Result<bool, GitError> {
        let out = self.git(&["cat-file", "-t", "--end-of-options", tree])?;
        Ok(out.status.success() && out.stdout_text().trim() == "tree")
    }

    /// The paths by which trees `a` and `b` differ (recursively, every kind of change).
    pub fn diff_paths(&self, a: &str, b: &str) -> Result<Vec<String>, GitError> {
        let out = self.git(&["diff-tree", "-r", "-z", "--name-only", "--no-renames", a, b])?;
        if !out.status.success() {
            return Err(GitError::Failed(format!("diff-tree {a} {b}: {}", out.stderr_line())));
        }
        Ok(out
            .stdout
            .split(|&b| b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect())
    }
}
