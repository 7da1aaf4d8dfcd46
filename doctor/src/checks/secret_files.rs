//! `secret-files`: the secrets directory and every entry in it, judged by
//! the one private-path rule (`common::private_path`, class `Secret`), the
//! same rule the resolver and `openclaw-keyctl set` apply. Contents are never read.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use common::private_path::{self, Class, Kind};
use serde_json::json;

use super::{Ctx, Outcome};

pub(crate) fn check(ctx: &Ctx) -> Outcome {
    let mut known: Vec<String> = ctx.config.managed_keys();
    known.extend(common::secrets::OTHER_KEY_FILES.iter().map(|k| (*k).to_owned()));
    judge(&ctx.paths.secrets_dir, &known)
}

/// Judges `dir` and its entries; an entry that is not the file of one of
/// `known` (key names) fails too: a killed writer's temporary file can hold
/// a whole key.
pub(crate) fn judge(dir: &Path, known: &[String]) -> Outcome {
    let shown = dir.display().to_string();
    let mut problems = Vec::new();
    let mut fixes = Vec::new();
    match private_path::check_dir(dir, Class::Secret) {
        Ok(false) => return Outcome::skip(format!("no secrets directory at {shown}")),
        Ok(true) => {}
        Err(private_path::UnsafePath::Io { source, .. }) => {
            return Outcome::error(format!("cannot stat {shown}: {source}"));
        }
        Err(e) => {
            problems.push(format!("{}: {}", e.path().display(), e.problem()));
            fixes.push(e.fix());
        }
    }
    let mut files = Vec::new();
    if std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir()) {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => return Outcome::error(format!("cannot list {shown}: {e}")),
        };
        for entry in entries {
            let path = match entry {
                Ok(e) => e.path(),
                Err(e) => return Outcome::error(format!("cannot list {shown}: {e}")),
            };
            let name = path.file_name().unwrap_or_default();
            if common::secrets::is_stale_name(name) {
                problems
                    .push(format!("{}: left by an interrupted key write (it may hold a whole key)", path.display()));
                fixes.push("openclaw-keyctl status removes it (audited as key.cleanup)".to_owned());
            } else if !known.iter().any(|k| k.to_ascii_lowercase().as_bytes() == name.as_encoded_bytes()) {
                problems.push(format!("{}: not the file of a managed key", path.display()));
                fixes.push(format!(
                    "remove {} from the secrets directory, or name its key in [keys] extra",
                    path.display()
                ));
            }
            if let Ok(m) = std::fs::symlink_metadata(&path) {
                files.push(json!({"path": path.display().to_string(), "mode": format!("{:04o}", m.permissions().mode() & 0o7777), "uid": m.uid()}));
            }
            match private_path::check_entry(&path, Kind::File, Class::Secret, None) {
                Ok(_) => {}
                Err(private_path::UnsafePath::Io { source, .. }) => {
                    return Outcome::error(format!("cannot stat {}: {source}", path.display()));
                }
                Err(e) => {
                    problems.push(format!("{}: {}", path.display(), e.problem()));
                    fixes.push(e.fix());
                }
            }
        }
    }
    let details = json!({"dir": shown, "entries": files});
    if problems.is_empty() {
        Outcome::pass(format!("{shown}: private directory (0700), {} file(s) 0600 or stricter", files.len()))
            .details(details)
    } else {
        Outcome::fail(problems.join("; "), fixes).details(details)
    }
}
