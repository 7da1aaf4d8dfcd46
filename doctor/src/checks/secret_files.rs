//! `secret-files`: permissions of the secrets directory. Contents are never read.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use serde_json::json;

use super::{Ctx, Outcome};

pub(crate) fn check(ctx: &Ctx) -> Outcome {
    judge(&ctx.paths.secrets_dir)
}

pub(crate) fn judge(dir: &Path) -> Outcome {
    let shown = dir.display().to_string();
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Outcome::skip(format!("no secrets directory at {shown}"));
        }
        Err(e) => return Outcome::error(format!("cannot stat {shown}: {e}")),
    };
    let mut problems = Vec::new();
    let mut fixes = Vec::new();
    if meta.file_type().is_symlink() {
        problems.push(format!("{shown} is a symlink"));
        fixes.push(format!("replace the symlink {shown} with a real directory (mkdir -m 700)"));
    } else if !meta.is_dir() {
        return Outcome::fail(
            format!("{shown} is not a directory"),
            format!("remove {shown} and mkdir -m 700 {shown}"),
        );
    } else {
        perms(&shown, &meta, 0o700, "700", &mut problems, &mut fixes);
    }
    let mut files = Vec::new();
    if meta.is_dir() {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => return Outcome::error(format!("cannot list {shown}: {e}")),
        };
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => return Outcome::error(format!("cannot list {shown}: {e}")),
            };
            let path = (entry.path().display().to_string()).to_string();
            let m = match entry.metadata() {
                Ok(m) => m,
                Err(e) => return Outcome::error(format!("cannot stat {path}: {e}")),
            };
            files.push(
                json!({"path": path, "mode": format!("{:04o}", m.permissions().mode() & 0o7777), "uid": m.uid()}),
            );
            if m.file_type().is_symlink() {
                problems.push(format!("{path} is a symlink"));
                fixes.push(format!("replace {path} with a regular file (openclaw-keyctl set writes one)"));
            } else if !m.is_file() {
                problems.push(format!("{path} is not a regular file"));
                fixes.push(format!("move {path} out of the secrets directory"));
            } else {
                perms(&path, &m, 0o600, "600", &mut problems, &mut fixes);
            }
        }
    }
    let details = json!({"dir": shown, "entries": files});
    if problems.is_empty() {
        Outcome::pass(format!("{shown}: 0700 root-owned directory, {} file(s) 0600 root-owned", files.len()))
            .details(details)
    } else {
        Outcome::fail(problems.join("; "), fixes.join("\n")).details(details)
    }
}

fn perms(path: &str, m: &std::fs::Metadata, max: u32, want: &str, problems: &mut Vec<String>, fixes: &mut Vec<String>) {
    let mode = m.permissions().mode() & 0o7777;
    if mode & !max != 0 {
        problems.push(format!("{path} has mode {mode:04o}, wider than {want}"));
        fixes.push(format!("chmod {want} {path}"));
    }
    if m.uid() != 0 {
        problems.push(format!("{path} is owned by uid {}, not root", m.uid()));
        fixes.push(format!("chown root:root {path}"));
    }
}
