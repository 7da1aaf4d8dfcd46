//! What the gate reads from git, each call bounded by a timeout and run in
//! the repository under the shared hardening profile (`common::git`): a
//! revision's commit and tree ids, a file as stored in a commit (`git
//! cat-file blob REV:path`, never the working tree), the entries by which
//! two trees differ (raw bytes, never a lossy name), and the repository's
//! top level.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::process::{self, CmdError};

use crate::child;
use crate::quote::c_quote;
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
    /// A file is larger than the gate reads.
    #[error("{path} in {commit} is {bytes} bytes, more than {max}")]
    TooLarge {
        /// The file.
        path: String,
        /// The commit.
        commit: String,
        /// Its size.
        bytes: usize,
        /// The limit.
        max: usize,
    },
}

/// One entry of a tree listing: the path's raw bytes and `<mode> <type> <id>`.
pub type TreeEntry = (Vec<u8>, Vec<u8>);

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
        let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        common::git::run(&self.dir, &args, None, GIT_TIMEOUT).map_err(|e| match e {
            CmdError::NotFound(_) => GitError::Failed("git is not installed".into()),
            other => GitError::Failed(other.to_string()),
        })
    }

    /// Refuses a repository whose history or content git would show
    /// rewritten without any object id changing: grafts, a shallow file,
    /// replace refs, local attributes (`common::git::check_repository`).
    pub fn check_history_is_plain(&self) -> Result<(), GitError> {
        common::git::check_repository(&self.dir, GIT_TIMEOUT).map_err(|e| GitError::Failed(e.to_string()))
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
            return Err(GitError::TooLarge { path: path.to_owned(), commit: commit.to_owned(), bytes: n, max });
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
    /// `git diff --text` that runs no external diff or textconv, reads
    /// attributes from no source (`--attr-source` the empty tree; the
    /// repository's `info/attributes` is refused before) and hides no
    /// submodule: the result is a function of the two commits alone. Paths
    /// are C-quoted. A type change (file to symlink) has two diffs, kept
    /// together. A gitlink, or a file whose diff is not UTF-8 or holds a
    /// NUL byte, is marked unreviewable: its content cannot be shown to a
    /// reviewer as it is.
    pub fn changes(&self, base: &str, head: &str) -> Result<Vec<crate::bundle::Change>, GitError> {
        let empty = common::git::empty_tree(&self.dir, GIT_TIMEOUT).map_err(|e| GitError::Failed(e.to_string()))?;
        let attr = format!("--attr-source={empty}");
        let raw =
            self.git(&[&attr, "diff", "--raw", "-z", "--no-renames", "--ignore-submodules=none", base, head, "--"])?;
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
            listed.push((status, c_quote(path), gitlink));
        }
        let out = self.git(&[
            &attr,
            "-c",
            "diff.suppressBlankEmpty=false",
            "-c",
            "diff.relative=false",
            "-c",
            "core.quotepath=on",
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
        // A type change is shown as a deletion and a creation: two diffs.
        let wanted: usize = listed.iter().map(|(status, _, _)| if *status == 'T' { 2 } else { 1 }).sum();
        if chunks.len() != wanted {
            return Err(GitError::Failed(format!(
                "diff {base} {head}: {} file(s) listed but {} diff(s) read",
                listed.len(),
                chunks.len()
            )));
        }
        let mut chunks = chunks.into_iter();
        Ok(listed
            .into_iter()
            .map(|(status, path, gitlink)| {
                let mut bytes = chunks.next().unwrap_or_default();
                if status == 'T' {
                    bytes.extend(chunks.next().unwrap_or_default());
                }
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

    /// The ancestors of `head` (itself included) that changed `path`, newest
    /// first, along the history git's default simplification follows.
    pub fn commits_touching(&self, head: &str, path: &str) -> Result<Vec<String>, GitError> {
        self.log_touching(&[head], &[path])
    }

    /// Every commit of `range` (`A..B`, or `B` for all its history) that
    /// changed any of `paths`, newest first: `--full-history`, so no side of a merge
    /// is pruned away (history simplification would follow only the parent
    /// a merge took the file from), and no count limit. `A` and `B` are full ids.
    pub fn commits_touching_in(&self, range: &str, paths: &[&str]) -> Result<Vec<String>, GitError> {
        self.log_touching(&["--full-history", range], paths)
    }

    /// `git log --format=%H --no-renames <revs> -- <paths>`, the full ids.
    fn log_touching(&self, revs: &[&str], paths: &[&str]) -> Result<Vec<String>, GitError> {
        let mut args = vec!["log", "--format=%H", "--no-renames"];
        args.extend_from_slice(revs);
        args.push("--");
        args.extend_from_slice(paths);
        let out = self.git(&args)?;
        if !out.status.success() {
            return Err(GitError::Failed(format!("log {}: {}", revs.join(" "), out.stderr_line())));
        }
        Ok(out.stdout_text().lines().map(str::to_owned).filter(|l| is_object_id(l)).collect())
    }

    /// Whether `id` names a commit this repository has.
    pub fn has_commit(&self, id: &str) -> Result<bool, GitError> {
        let out = self.git(&["cat-file", "-e", "--end-of-options", &format!("{id}^{{commit}}")])?;
        Ok(out.status.success())
    }

    /// `path` as stored in each of `commits`, from one `git cat-file
    /// --batch`: `None` where it is absent, not a blob or larger than `max`.
    pub fn files_at(&self, commits: &[String], path: &str, max: usize) -> Result<Vec<Option<Vec<u8>>>, GitError> {
        let input: String = commits.iter().map(|c| format!("{c}:{path}\n")).collect();
        let args = ["cat-file", "--batch"].map(OsStr::new);
        let out = common::git::run(&self.dir, &args, Some(input.as_bytes()), GIT_TIMEOUT)
            .map_err(|e| GitError::Failed(e.to_string()))?;
        if !out.status.success() {
            return Err(GitError::Failed(format!("cat-file --batch: {}", out.stderr_line())));
        }
        parse_batch(&out.stdout, commits.len(), max)
    }

    /// Commits `paths` (and nothing else staged) with `message`; the new
    /// commit's id. The author and committer are the caller's: the
    /// `GIT_AUTHOR_*`/`GIT_COMMITTER_*` variables when set, else the
    /// caller's `user.name` and `user.email` (read with the caller's own
    /// config; the commit itself runs under the hardening profile).
    pub fn commit_only(&self, paths: &[&str], message: &str) -> Result<String, GitError> {
        let mut add = vec!["add", "--"];
        add.extend_from_slice(paths);
        let out = self.git(&add)?;
        if !out.status.success() {
            return Err(GitError::Failed(format!("add: {}", out.stderr_line())));
        }
        let ident = self.identity()?;
        let mut cmd = common::git::command(&self.dir);
        cmd.args(["commit", "--quiet", "--no-verify", "-m", message, "--only", "--"]).args(paths);
        cmd.envs(ident.iter().map(|(k, v)| (k, v)));
        let out = process::run_command("git", cmd, None, GIT_TIMEOUT).map_err(|e| GitError::Failed(e.to_string()))?;
        if !out.status.success() {
            return Err(GitError::Failed(format!("commit: {}", out.stderr_line())));
        }
        self.commit("HEAD")
    }

    fn identity(&self) -> Result<Vec<(String, String)>, GitError> {
        const VARS: [&str; 6] = [
            "GIT_AUTHOR_NAME",
            "GIT_AUTHOR_EMAIL",
            "GIT_AUTHOR_DATE",
            "GIT_COMMITTER_NAME",
            "GIT_COMMITTER_EMAIL",
            "GIT_COMMITTER_DATE",
        ];
        let mut ident: Vec<(String, String)> =
            VARS.iter().filter_map(|k| common::paths::process_env(k).map(|v| ((*k).to_owned(), v))).collect();
        for (key, vars) in [
            ("user.name", ["GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"]),
            ("user.email", ["GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"]),
        ] {
            if vars.iter().all(|v| ident.iter().any(|(k, _)| k == v)) {
                continue;
            }
            let dir = self.dir.to_string_lossy();
            let out = child::run("git", &["-C", &dir, "config", "--get", key], None, &[], GIT_TIMEOUT)
                .map_err(|e| GitError::Failed(e.to_string()))?;
            let value = out.stdout_text().trim().to_owned();
            if !out.status.success() || value.is_empty() {
                return Err(GitError::Failed(format!("--commit needs {key} (git config --global {key} …)")));
            }
            for v in vars {
                if !ident.iter().any(|(k, _)| k == v) {
                    ident.push((v.to_owned(), value.clone()));
                }
            }
        }
        Ok(ident)
    }

    /// Whether `tree` is a tree object here.
    pub fn has_tree(&self, tree: &str) -> Result<bool, GitError> {
        let out = self.git(&["cat-file", "-t", "--end-of-options", tree])?;
        Ok(out.status.success() && out.stdout_text().trim() == "tree")
    }

    /// The paths (raw bytes) by which trees `a` and `b` differ: every entry
    /// (mode, type, object id) of `git ls-tree -r -z --full-tree`, keyed by
    /// the path's raw bytes and compared here, so no diff setting
    /// (submodule `ignore`, attributes) can hide one and no two names that
    /// differ in any byte can stand for each other.
    pub fn diff_paths(&self, a: &str, b: &str) -> Result<Vec<Vec<u8>>, GitError> {
        let (ta, tb) = (self.tree_entries(a)?, self.tree_entries(b)?);
        Ok(diff_entries(&ta, &tb))
    }

    fn tree_entries(&self, tree: &str) -> Result<Vec<TreeEntry>, GitError> {
        let out = self.git(&["ls-tree", "-r", "-z", "--full-tree", "--end-of-options", tree])?;
        if !out.status.success() {
            return Err(GitError::Failed(format!("ls-tree {tree}: {}", out.stderr_line())));
        }
        parse_ls_tree(&out.stdout)
    }

    /// The modes of `paths` in `commit` (`None` where absent), from one `ls-tree`.
    pub fn modes_at<const N: usize>(&self, commit: &str, paths: [&str; N]) -> Result<[Option<String>; N], GitError> {
        let mut args = vec!["ls-tree", "-z", "--full-tree", "--end-of-options", commit, "--"];
        args.extend_from_slice(&paths);
        let out = self.git(&args)?;
        if !out.status.success() {
            return Err(GitError::Failed(format!("ls-tree {commit}: {}", out.stderr_line())));
        }
        let entries = parse_ls_tree(&out.stdout)?;
        Ok(paths.map(|path| {
            entries
                .iter()
                .find(|(p, _)| p == path.as_bytes())
                .map(|(_, meta)| String::from_utf8_lossy(meta).split(' ').next().unwrap_or("").to_owned())
        }))
    }
}

/// `cat-file --batch` answers, one per request: the blob's bytes, or
/// `None` (missing, not a blob, larger than `max`). Pure.
pub fn parse_batch(mut out: &[u8], n: usize, max: usize) -> Result<Vec<Option<Vec<u8>>>, GitError> {
    let bad = || GitError::Failed("cat-file --batch: malformed output".into());
    let mut res = Vec::with_capacity(n);
    for _ in 0..n {
        let nl = out.iter().position(|&b| b == b'\n').ok_or_else(bad)?;
        let header = std::str::from_utf8(&out[..nl]).map_err(|_| bad())?;
        out = &out[nl + 1..];
        let fields: Vec<&str> = header.split(' ').collect();
        match fields.as_slice() {
            [_, kind, size] if size.bytes().all(|b| b.is_ascii_digit()) && !size.is_empty() => {
                let size: usize = size.parse().map_err(|_| bad())?;
                if out.len() < size + 1 || out[size] != b'\n' {
                    return Err(bad());
                }
                res.push((*kind == "blob" && size <= max).then(|| out[..size].to_vec()));
                out = &out[size + 1..];
            }
            [_, "missing" | "ambiguous"] => res.push(None),
            _ => return Err(bad()),
        }
    }
    Ok(res)
}

/// `ls-tree -z` records as (raw path, `<mode> <type> <id>`). Pure.
pub fn parse_ls_tree(out: &[u8]) -> Result<Vec<TreeEntry>, GitError> {
    let mut res = Vec::new();
    for rec in out.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        let tab = rec.iter().position(|&b| b == b'\t').ok_or_else(|| GitError::Failed("ls-tree: no tab".into()))?;
        res.push((rec[tab + 1..].to_vec(), rec[..tab].to_vec()));
    }
    Ok(res)
}

/// The raw paths present in one listing and not the other, or with another
/// entry, sorted. Pure.
pub fn diff_entries(a: &[TreeEntry], b: &[TreeEntry]) -> Vec<Vec<u8>> {
    use std::collections::BTreeMap;
    let (ma, mb): (BTreeMap<_, _>, BTreeMap<_, _>) =
        (a.iter().map(|(p, e)| (p, e)).collect(), b.iter().map(|(p, e)| (p, e)).collect());
    let mut diff: Vec<Vec<u8>> = ma.iter().filter(|(p, e)| mb.get(*p) != Some(*e)).map(|(p, _)| (*p).clone()).collect();
    diff.extend(mb.keys().filter(|p| !ma.contains_key(*p)).map(|p| (*p).clone()));
    // A listing that names one path twice is not a tree git wrote.
    if ma.len() != a.len() || mb.len() != b.len() {
        diff.push(b"(a path listed twice)".to_vec());
    }
    diff.sort();
    diff.dedup();
    diff
}
