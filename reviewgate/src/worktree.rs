//! The deployed checkout, byte for byte: a checkout under the hardening
//! profile that reads attributes from no source (`--attr-source` the empty
//! tree, no end-of-line conversion, so `working-tree-encoding`, `eol`,
//! `filter` and `ident` in the repository's `.gitattributes` do nothing),
//! and a check that every tracked path on disk is what the commit's tree
//! holds: a regular file whose bytes hash (`git hash-object --no-filters`)
//! to its blob with the tree's executable bit, a symlink whose target is
//! its blob. Submodules cannot be checked, so they are refused; untracked
//! files are listed (every one, ignored ones included).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::process::{self, CmdError};

use crate::gitio::{GIT_TIMEOUT, GitError, parse_ls_tree};
use crate::quote::c_quote;

fn git(top: &Path, args: &[&OsStr], input: Option<&[u8]>) -> Result<process::CmdOutput, GitError> {
    common::git::run(top, args, input, GIT_TIMEOUT).map_err(|e: CmdError| GitError::Failed(e.to_string()))
}

fn ok(out: process::CmdOutput, what: &str) -> Result<process::CmdOutput, GitError> {
    if out.status.success() { Ok(out) } else { Err(GitError::Failed(format!("{what}: {}", out.stderr_line()))) }
}

/// Moves the checkout at `top` (and its branch) to `commit`: `git reset
/// --hard` under the profile, attributes from no source, no conversion.
pub fn checkout(top: &Path, commit: &str) -> Result<(), GitError> {
    let empty = common::git::empty_tree(top, GIT_TIMEOUT).map_err(|e| GitError::Failed(e.to_string()))?;
    let attr = format!("--attr-source={empty}");
    let args = [
        attr.as_str(),
        "-c",
        "core.autocrlf=false",
        "-c",
        "core.eol=lf",
        "-c",
        "core.symlinks=true",
        "reset",
        "--hard",
        "--quiet",
        "--end-of-options",
        commit,
    ]
    .map(OsStr::new);
    ok(git(top, &args, None)?, "reset --hard").map(|_| ())
}

/// The tracked paths on disk that differ from `commit`'s tree (C-quoted,
/// with why), and refusals for what cannot be checked (a submodule).
pub fn differences(top: &Path, commit: &str) -> Result<Vec<String>, GitError> {
    let listing = ok(
        git(top, &["ls-tree", "-r", "-z", "--full-tree", "--end-of-options", commit].map(OsStr::new), None)?,
        "ls-tree",
    )?;
    let entries = parse_ls_tree(&listing.stdout)?;
    let mut diffs = Vec::new();
    let mut files: Vec<(Vec<u8>, String)> = Vec::new();
    for (path, meta) in entries {
        let meta = String::from_utf8_lossy(&meta).into_owned();
        let mut w = meta.split(' ');
        let (mode, _kind, id) = (w.next().unwrap_or(""), w.next().unwrap_or(""), w.next().unwrap_or("").to_owned());
        let on_disk = top.join(OsStr::from_bytes(&path));
        let shown = c_quote(&path);
        let lstat = std::fs::symlink_metadata(&on_disk);
        match (mode, lstat) {
            ("160000", _) => diffs.push(format!("{shown}: a submodule, which cannot be checked byte for byte")),
            (_, Err(_)) => diffs.push(format!("{shown}: missing")),
            ("120000", Ok(m)) if m.file_type().is_symlink() => {
                let target = std::fs::read_link(&on_disk).map_err(|e| GitError::Failed(format!("{shown}: {e}")))?;
                let out = ok(
                    git(
                        top,
                        &["hash-object", "-t", "blob", "--stdin"].map(OsStr::new),
                        Some(target.as_os_str().as_bytes()),
                    )?,
                    "hash-object",
                )?;
                if out.stdout_text().trim() != id {
                    diffs.push(format!("{shown}: the link's target is not the reviewed one"));
                }
            }
            ("100644" | "100755", Ok(m)) if m.file_type().is_file() => {
                let exec = m.permissions().mode() & 0o111 != 0;
                if exec != (mode == "100755") {
                    diffs.push(format!("{shown}: its executable bit is not the tree's ({mode})"));
                }
                files.push((path, id));
            }
            (_, Ok(_)) => diffs.push(format!("{shown}: not the kind of file the tree holds ({mode})")),
        }
    }
    for chunk in files.chunks(256) {
        let mut args: Vec<&OsStr> = ["hash-object", "--no-filters", "--"].map(OsStr::new).to_vec();
        args.extend(chunk.iter().map(|(p, _)| OsStr::from_bytes(p)));
        let out = ok(git(top, &args, None)?, "hash-object")?;
        let ids: Vec<String> = out.stdout_text().lines().map(str::to_owned).collect();
        if ids.len() != chunk.len() {
            return Err(GitError::Failed(format!("hash-object: {} ids for {} files", ids.len(), chunk.len())));
        }
        for ((path, want), got) in chunk.iter().zip(ids) {
            if *want != got {
                diffs.push(format!("{}: its bytes on disk are not the reviewed blob", c_quote(path)));
            }
        }
    }
    Ok(diffs)
}

/// Every untracked file under `top` (ignored ones included), raw paths.
pub fn untracked(top: &Path) -> Result<Vec<Vec<u8>>, GitError> {
    let out =
        ok(git(top, &["ls-files", "-z", "--others", "--full-name", "--", ":/"].map(OsStr::new), None)?, "ls-files")?;
    Ok(out.stdout.split(|&b| b == 0).filter(|p| !p.is_empty()).map(<[u8]>::to_vec).collect())
}

/// Whether `path` (raw) is covered by an entry of `[reviewgate]
/// deploy_allow_untracked`: the same path, or a directory entry ending in
/// `/` that holds it. Pure.
pub fn allowed(path: &[u8], allow: &[String]) -> bool {
    allow.iter().any(|a| {
        let a = a.as_bytes();
        path == a || (a.ends_with(b"/") && path.starts_with(a))
    })
}

#[cfg(test)]
mod tests {
    use super::allowed;

    #[test]
    fn an_allowance_names_a_path_or_a_directory_never_a_prefix() {
        let allow = vec![".env".to_owned(), "data/".to_owned()];
        assert!(allowed(b".env", &allow) && allowed(b"data/x.db", &allow));
        assert!(
            !allowed(b".env.local", &allow) && !allowed(b"data", &allow) && !allowed(b"compose.override.yaml", &allow)
        );
    }
}
