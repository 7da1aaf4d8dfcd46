//! What the gate reads from git, each call bounded by a timeout and run with
//! `git -C <repo>`: a revision's commit and tree ids, a file as stored in a
//! commit (`git cat-file blob REV:path`, never the working tree), the paths
//! by which two trees differ, and the repository's top level.

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::process::{self, CmdError};

use crate::child;
use crate::verdict::is_object_id;

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

impl Repo {
    /// The repository at (or above) `dir`.
    pub fn new(dir: &Path) -> Repo {
        Repo { dir: dir.to_owned() }
    }

    fn git(&self, args: &[&str]) -> Result<process::CmdOutput, GitError> {
        let dir = self.dir.to_string_lossy();
        // No hook, fsmonitor or pager of the repository runs, `refs/replace/*`
        // cannot substitute other objects for the ones named, and no
        // attribute file (the repository's, the user's or the system's) can
        // hide content: only plumbing on the objects themselves.
        let mut argv = vec![
            "-C",
            &dir,
            "--no-replace-objects",
            "-c",
            "core.quotepath=off",
            "-c",
            "core.fsmonitor=false",
            "-c",
            "core.attributesFile=/dev/null",
            "-c",
            "core.hooksPath=/dev/null",
            "--no-pager",
        ];
        argv.extend_from_slice(args);
        let env = [("GIT_ATTR_NOSYSTEM", "1"), ("GIT_NO_REPLACE_OBJECTS", "1")];
        child::run("git", &argv, None, &env, GIT_TIMEOUT).map_err(|e| match e {
            CmdError::NotFound(_) => GitError::Failed("git is not installed".into()),
            other => GitError::Failed(other.to_string()),
        })
    }

    /// Refuses a repository whose history can be rewritten locally without
    /// changing any object id: a grafts file (replace refs are ignored).
    pub fn check_history_is_plain(&self) -> Result<(), GitError> {
        let out = self.git(&["rev-parse", "--path-format=absolute", "--git-path", "info/grafts"])?;
        let grafts = PathBuf::from(out.stdout_text().trim_end_matches('\n'));
        if out.status.success() && grafts.exists() {
            return Err(GitError::Failed(format!(
                "{} exists: grafts rewrite history without changing object ids; remove it",
                grafts.display()
            )));
        }
        Ok(())
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

    /// Where hook `name` lives (honours the repository's `core.hooksPath`), absolute.
    pub fn hook_path(&self, name: &str) -> Result<PathBuf, GitError> {
        let dir = self.dir.to_string_lossy();
        let hook = format!("hooks/{name}");
        let args = ["-C", &dir, "rev-parse", "--path-format=absolute", "--git-path", &hook];
        let out = child::run("git", &args, None, &[], GIT_TIMEOUT).map_err(|e| GitError::Failed(e.to_string()))?;
        if !out.status.success() {
            return Err(GitError::Failed(format!("not a git repository: {}", out.stderr_line())));
        }
        Ok(PathBuf::from(out.stdout_text().trim_end_matches('\n')))
    }

    /// The files changed from `base` to `head` with their diffs, from one
    /// `git diff --text` that runs no external diff or textconv, reads no
    /// attributes and hides no submodule. A gitlink, or a file whose diff is
    /// not UTF-8 or holds a NUL byte, is marked unreviewable: its content
    /// cannot be shown to a reviewer as it is.
    pub fn changes(&self, base: &str, head: &str) -> Result<Vec<crate::bundle::Change>, GitError> {
        let raw = self.git(&["diff", "--raw", "-z", "--no-renames", "--ignore-submodules=none", base, head, "--"])?;
        if !raw.status.success() {
            return Err(GitError::Failed(format!("diff {base} {head}: {}", raw.stderr_line())));
        }
        // `:<old mode> <new mode> <old oid> <new oid> <status>\0<path>\0` per file.
        let fields: Vec<&[u8]> = raw.stdout.split(|&b| b == 0).filter(|f| !f.is_empty()).collect();
        let mut listed: Vec<(char, String, bool)> = Vec::new();
        for pair in fields.chunks(2) {
            let [meta, path] = pair else { return Err(GitError::Failed("diff --raw: odd output".into())) };
            let meta = String::from_utf8_lossy(meta);
            let mut w = meta.trim_start_matches(':').split(' ');
            let (old_mode, new_mode) = (w.next().unwrap_or(""), w.next().unwrap_or(""));
            let status = w.nth(2).and_then(|s| s.chars().next()).unwrap_or('?');
            let gitlink = old_mode == "160000" || new_mode == "160000";
            listed.push((status, String::from_utf8_lossy(path).into_owned(), gitlink));
        }
        let out = self.git(&[
            "-c",
            "diff.suppressBlankEmpty=false",
            "-c",
            "diff.relative=false",
            "diff",
            "--text",
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
            "--no-renames",
            "--ignore-submodules=none",
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
        let mut chunks: Vec<Vec<u8>> = Vec::new();
        for line in out.stdout.split_inclusive(|&b| b == b'\n') {
            if line.starts_with(b"diff --git ") || chunks.is_empty() {
                chunks.push(Vec::new());
            }
            if let Some(c) = chunks.last_mut() {
                c.extend_from_slice(line);
            }
        }
        if chunks.len() != listed.len() {
            return Err(GitError::Failed(format!(
                "diff {base} {head}: {} file(s) listed but {} diff(s) read",
                listed.len(),
                chunks.len()
            )));
        }
        Ok(listed
            .into_iter()
            .zip(chunks)
            .map(|((status, path, gitlink), bytes)| {
                let unreviewable = if gitlink {
                    Some("a submodule (gitlink): its content is not in this repository".to_owned())
                } else if bytes.contains(&0) || std::str::from_utf8(&bytes).is_err() {
                    Some("binary or not UTF-8: its content cannot be shown to a reviewer as it is".to_owned())
                } else {
                    None
                };
                let diff = String::from_utf8(bytes).unwrap_or_default();
                crate::bundle::Change { status, path, diff, unreviewable }
            })
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

    /// The paths by which trees `a` and `b` differ: every entry (mode,
    /// type, object id) of `git ls-tree -r -z --full-tree`, compared here, so
    /// no diff setting (submodule `ignore`, attributes) can hide one.
    pub fn diff_paths(&self, a: &str, b: &str) -> Result<Vec<String>, GitError> {
        let (ta, tb) = (self.tree_entries(a)?, self.tree_entries(b)?);
        let mut diff: Vec<String> = ta.iter().filter(|(p, e)| tb.get(*p) != Some(e)).map(|(p, _)| p.clone()).collect();
        diff.extend(tb.keys().filter(|p| !ta.contains_key(*p)).cloned());
        diff.sort();
        Ok(diff)
    }

    fn tree_entries(&self, tree: &str) -> Result<std::collections::BTreeMap<String, Vec<u8>>, GitError> {
        let out = self.git(&["ls-tree", "-r", "-z", "--full-tree", "--end-of-options", tree])?;
        if !out.status.success() {
            return Err(GitError::Failed(format!("ls-tree {tree}: {}", out.stderr_line())));
        }
        let mut res = std::collections::BTreeMap::new();
        for rec in out.stdout.split(|&b| b == 0).filter(|r| !r.is_empty()) {
            let tab = rec.iter().position(|&b| b == b'\t').ok_or_else(|| GitError::Failed("ls-tree: no tab".into()))?;
            res.insert(String::from_utf8_lossy(&rec[tab + 1..]).into_owned(), rec[..tab].to_vec());
        }
        Ok(res)
    }
}
