//! `bundle --base REV [--head REV] [--max-bytes N] [--out FILE]`: the
//! review bundle of a range, to stdout or files. Exit 0 written; 1 a file
//! too large to review (named); 2 the range cannot be read or changes
//! nothing.

use std::path::Path;

use common::exit::Exit;

use crate::bundle::{self, BundleError, Range};
use crate::gitio::Repo;

/// Runs `bundle`.
pub(crate) fn bundle(repo_dir: &Path, base: &str, head: &str, max: usize, out: Option<&Path>) -> Result<Exit, String> {
    if max < 4096 {
        return Err("--max-bytes must be at least 4096".into());
    }
    let repo = Repo::new(repo_dir);
    repo.check_history_is_plain().map_err(|e| e.to_string())?;
    let (base_id, head_id) =
        (repo.commit(base).map_err(|e| e.to_string())?, repo.commit(head).map_err(|e| e.to_string())?);
    let changes = repo.changes(&base_id, &head_id).map_err(|e| e.to_string())?;
    let name =
        repo.toplevel().and_then(|t| t.file_name().map(|n| n.to_string_lossy().into_owned())).unwrap_or_default();
    let range = Range { repo: name, base: base_id, head: head_id };
    let packets = match bundle::packets(&range, &changes, max) {
        Ok(p) => p,
        Err(e @ (BundleError::FileTooLarge { .. } | BundleError::Unreviewable { .. })) => {
            crate::INFO.error(&e.to_string());
            return Ok(Exit::Policy);
        }
        Err(e @ BundleError::Empty) => return Err(e.to_string()),
    };
    match out {
        None => common::cli::write_result(&packets.concat()).map_err(|e| e.to_string())?,
        Some(file) => {
            let mut written = Vec::new();
            for (i, p) in packets.iter().enumerate() {
                let path = if i == 0 {
                    file.to_owned()
                } else {
                    std::path::PathBuf::from(format!("{}.{}", file.display(), i + 1))
                };
                common::artifacts::write_atomic_with_mode(&path, p.as_bytes(), 0o644)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                written.push(format!("{} ({} bytes)", path.display(), p.len()));
            }
            common::cli::write_result(&format!("{}\n", written.join("\n"))).map_err(|e| e.to_string())?;
        }
    }
    Ok(Exit::Clean)
}
