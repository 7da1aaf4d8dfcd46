//! The git hardening profile: the one way every tool runs git over content
//! someone else wrote (the runner's mirror and checkouts; the review gate's
//! verify, bundle, review, push hook and deploy).
//!
//! Each call gets a cleared environment (no `GIT_DIR`, `GIT_INDEX_FILE`,
//! `GIT_EXEC_PATH` or other `GIT_*` of the caller's, no `HOME`, a fixed
//! `PATH`), no system or global config, no replace objects, no hook,
//! fsmonitor, pager or attributes file, no `ext::` transport, and only the
//! `file`, `https` and `ssh` transports. [`check_repository`] refuses the
//! files in a git directory that change what git shows without changing any
//! object id: `info/grafts`, `shallow`, `refs/replace/*` and
//! `info/attributes`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::process::{self, CHILD_PATH, CmdError, CmdOutput};

/// Options given before every subcommand.
pub const OPTIONS: &[&str] = &[
    "--no-replace-objects",
    "--no-pager",
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "core.fsmonitor=false",
    "-c",
    "core.attributesFile=/dev/null",
    "-c",
    "protocol.ext.allow=never",
    "-c",
    "core.untrackedCache=false",
];

/// The whole environment of every git call.
pub const ENV: &[(&str, &str)] = &[
    ("PATH", CHILD_PATH),
    ("LC_ALL", "C"),
    ("HOME", "/nonexistent"),
    ("GIT_CONFIG_NOSYSTEM", "1"),
    ("GIT_CONFIG_GLOBAL", "/dev/null"),
    ("GIT_NO_REPLACE_OBJECTS", "1"),
    ("GIT_ATTR_NOSYSTEM", "1"),
    ("GIT_TERMINAL_PROMPT", "0"),
    ("GIT_ALLOW_PROTOCOL", "file:https:ssh"),
    ("GIT_SSH_VARIANT", "ssh"),
    ("GIT_NO_LAZY_FETCH", "1"),
];

/// `git <profile>` run in `dir`, ready for the subcommand's arguments. `env`
/// with the fixed `PATH` finds git wherever the host installed it without
/// the caller's `PATH`.
pub fn command(dir: &Path) -> Command {
    let mut cmd = Command::new("/usr/bin/env");
    cmd.env_clear().envs(ENV.iter().copied()).current_dir(dir).arg("git").args(OPTIONS);
    cmd
}

/// Runs `git <profile> <args>` in `dir` under `common::process`'s
/// supervision (timeout, capped output), `input` on stdin; any exit code.
pub fn run(dir: &Path, args: &[&OsStr], input: Option<&[u8]>, timeout: Duration) -> Result<CmdOutput, CmdError> {
    let mut cmd = command(dir);
    cmd.args(args);
    match process::run_command("git", cmd, input, timeout) {
        // `env` exits 127 when git is not on the fixed PATH.
        Ok(out) if out.status.code() == Some(127) && out.stdout.is_empty() => Err(CmdError::NotFound("git".into())),
        other => other,
    }
}

/// Why a repository is refused.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// Its git directory holds a file that rewrites what git shows.
    #[error(
        "{} exists: {why}; this tool never trusts a repository that has one (remove it)",
        path.display()
    )]
    Override {
        /// The file.
        path: PathBuf,
        /// What it does.
        why: &'static str,
    },
    /// A replace ref exists.
    #[error("the repository has replace refs ({0}): they substitute objects for the ones named; remove them")]
    ReplaceRefs(String),
    /// git could not answer.
    #[error("git: {0}")]
    Git(String),
}

/// The files of a git directory that change what git shows without
/// changing any object id, and what each does.
const OVERRIDES: &[(&str, &str)] = &[
    ("info/grafts", "grafts rewrite ancestry (merge-base and log honour them even with replace objects off)"),
    ("shallow", "a shallow file cuts history, so ancestry cannot be proven"),
    ("info/attributes", "local attributes change diffs and the bytes a checkout writes"),
];

/// The common git directory of the repository at `dir`, absolute.
pub fn common_dir(dir: &Path, timeout: Duration) -> Result<PathBuf, RepoError> {
    let out = run(
        dir,
        &[OsStr::new("rev-parse"), OsStr::new("--path-format=absolute"), OsStr::new("--git-common-dir")],
        None,
        timeout,
    )
    .map_err(|e| RepoError::Git(e.to_string()))?;
    if !out.status.success() {
        return Err(RepoError::Git(format!("not a git repository: {}", out.stderr_line())));
    }
    let mut raw = out.stdout;
    while raw.last() == Some(&b'\n') {
        raw.pop();
    }
    Ok(PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(raw)))
}

/// Refuses a repository whose git directory holds a graft, a shallow file,
/// local attributes or a replace ref (loose, packed or in a reftable: git
/// itself lists them).
pub fn check_repository(dir: &Path, timeout: Duration) -> Result<(), RepoError> {
    let common = common_dir(dir, timeout)?;
    for (rel, why) in OVERRIDES {
        let path = common.join(rel);
        if std::fs::symlink_metadata(&path).is_ok() {
            return Err(RepoError::Override { path, why });
        }
    }
    let args = ["for-each-ref", "--count=1", "--format=%(refname)", "refs/replace/"].map(OsStr::new);
    let out = run(dir, &args, None, timeout).map_err(|e| RepoError::Git(e.to_string()))?;
    if !out.status.success() {
        return Err(RepoError::Git(format!("for-each-ref: {}", out.stderr_line())));
    }
    let first = out.stdout_text();
    if !first.trim().is_empty() {
        return Err(RepoError::ReplaceRefs(crate::output::sanitize(first.trim()).into_owned()));
    }
    Ok(())
}

/// The id of the empty tree in the repository's object format (computed,
/// never written): the attribute source that holds no attribute.
pub fn empty_tree(dir: &Path, timeout: Duration) -> Result<String, RepoError> {
    let args = ["hash-object", "-t", "tree", "--stdin"].map(OsStr::new);
    let out = run(dir, &args, Some(b""), timeout).map_err(|e| RepoError::Git(e.to_string()))?;
    let id = out.stdout_text().trim().to_owned();
    if out.status.success() && (id.len() == 40 || id.len() == 64) && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(id)
    } else {
        Err(RepoError::Git(format!("hash-object: {}", out.stderr_line())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(30);

    fn sh(dir: &Path, script: &str) {
        let ok = Command::new("sh").arg("-c").arg(script).current_dir(dir).status().unwrap().success();
        assert!(ok, "{script}");
    }

    fn repo() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        sh(
            d.path(),
            "git init -q . && git -c user.name=a -c user.email=a@b commit -q --allow-empty -m one \
             && git -c user.name=a -c user.email=a@b commit -q --allow-empty -m two",
        );
        d
    }

    #[test]
    fn no_variable_of_the_caller_reaches_git() {
        let d = repo();
        // cargo gives this test process CARGO_MANIFEST_DIR and a HOME: git's
        // own child (an alias running `env`) sees neither.
        assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
        let out = run(d.path(), &["-c", "alias.e=!env", "e"].map(OsStr::new), None, T).unwrap();
        let text = out.stdout_text();
        assert!(out.status.success(), "{}", out.stderr_line());
        assert!(text.lines().any(|l| l == "HOME=/nonexistent"), "{text}");
        assert!(text.lines().any(|l| l == "GIT_NO_REPLACE_OBJECTS=1"), "{text}");
        assert!(!text.contains("CARGO_MANIFEST_DIR"), "{text}");
    }

    #[test]
    fn grafts_shallow_attributes_and_replace_refs_are_refused_a_plain_repository_is_not() {
        let d = repo();
        check_repository(d.path(), T).unwrap();
        for (rel, body) in [("info/grafts", "x\n"), ("shallow", "x\n"), ("info/attributes", "* diff=python\n")] {
            let path = d.path().join(".git").join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, body).unwrap();
            let err = check_repository(d.path(), T).unwrap_err();
            assert!(matches!(&err, RepoError::Override { path: p, .. } if p.ends_with(rel)), "{err}");
            std::fs::remove_file(&path).unwrap();
        }
        sh(d.path(), "git replace HEAD HEAD~1");
        assert!(matches!(check_repository(d.path(), T), Err(RepoError::ReplaceRefs(_))));
        sh(d.path(), "git pack-refs --all && test ! -d .git/refs/replace/*");
        assert!(matches!(check_repository(d.path(), T), Err(RepoError::ReplaceRefs(_))), "packed");
    }

    #[test]
    fn the_empty_tree_follows_the_object_format() {
        let d = repo();
        assert_eq!(empty_tree(d.path(), T).unwrap(), "4b825dc642cb6eb9a060e54bf8d69288fbee4904");
        let s = tempfile::tempdir().unwrap();
        sh(s.path(), "git init -q --object-format=sha256 .");
        assert_eq!(empty_tree(s.path(), T).unwrap().len(), 64);
    }
}
