//! `disk` and `log-dir`.

use std::path::Path;

use serde_json::json;

use super::{Ctx, Outcome};

/// Used percentage as `df` computes it: used / (used + available to users).
pub(crate) fn used_percent(blocks: u64, free: u64, avail: u64) -> u8 {
    let used = blocks.saturating_sub(free);
    let denom = used + avail;
    if denom == 0 { 0 } else { (used * 100).div_ceil(denom).min(100) as u8 }
}

pub(crate) fn disk(ctx: &Ctx) -> Outcome {
    let s = &ctx.settings;
    let mut worst = (0u8, String::new());
    let mut rows = Vec::new();
    for path in &s.disk_paths {
        let st = match rustix::fs::statvfs(path) {
            Ok(st) => st,
            Err(e) => return Outcome::error(format!("statvfs {}: {e}", path.display())),
        };
        let pct = used_percent(st.f_blocks, st.f_bfree, st.f_bavail);
        rows.push(json!({"path": path, "used_percent": pct}));
        if pct >= worst.0 {
            worst = (pct, path.display().to_string());
        }
    }
    let details =
        json!({"filesystems": rows, "warn_percent": s.disk_warn_percent, "fail_percent": s.disk_fail_percent});
    let summary = format!("{} is {}% full", worst.1, worst.0);
    let fix =
        "free space: `journalctl --vacuum-size=200M`, `docker system prune`, old artifacts under the artifacts root";
    if worst.0 >= s.disk_fail_percent {
        Outcome::fail(format!("{summary} (fail at {}%)", s.disk_fail_percent), fix).details(details)
    } else if worst.0 >= s.disk_warn_percent {
        Outcome::warn(format!("{summary} (warn at {}%)", s.disk_warn_percent), fix).details(details)
    } else {
        Outcome::pass(summary).details(details)
    }
}

/// Total bytes under `dir`, not following symlinks, reading at most 100,000 entries.
pub(crate) fn dir_size(dir: &Path) -> std::io::Result<(u64, bool)> {
    let mut total = 0;
    let mut seen = 0usize;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            seen += 1;
            if seen > 100_000 {
                return Ok((total, true));
            }
            let meta = entry.metadata()?;
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                total += meta.len();
            }
        }
    }
    Ok((total, false))
}

pub(crate) fn log_dir(ctx: &Ctx) -> Outcome {
    let s = &ctx.settings;
    let shown = s.log_dir.display().to_string();
    if !s.log_dir.exists() {
        return Outcome::skip(format!("log directory {shown} does not exist"));
    }
    let (bytes, truncated) = match dir_size(&s.log_dir) {
        Ok(r) => r,
        Err(e) => return Outcome::error(format!("cannot size {shown}: {e}")),
    };
    let mb = bytes / (1024 * 1024);
    let details = json!({"path": shown, "bytes": bytes, "incomplete": truncated, "warn_mb": s.log_warn_mb, "fail_mb": s.log_fail_mb});
    let summary =
        format!("{shown} holds {mb} MB{}", if truncated { " (stopped counting at 100,000 entries)" } else { "" });
    let fix = format!("rotate or remove old logs under {shown} (logrotate, `find {shown} -mtime +30 -delete`)");
    if mb >= s.log_fail_mb {
        Outcome::fail(format!("{summary} (fail at {} MB)", s.log_fail_mb), fix).details(details)
    } else if mb >= s.log_warn_mb || truncated {
        Outcome::warn(format!("{summary} (warn at {} MB)", s.log_warn_mb), fix).details(details)
    } else {
        Outcome::pass(summary).details(details)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_matches_df_rounding() {
        assert_eq!(used_percent(100, 100, 95), 0);
        assert_eq!(used_percent(100, 50, 45), 53); // df: 50 / 95, rounded up
        assert_eq!(used_percent(100, 5, 0), 100);
        assert_eq!(used_percent(0, 0, 0), 0);
    }

    #[test]
    fn dir_size_counts_files_but_not_symlink_targets() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("sub")).unwrap();
        std::fs::write(tmp.path().join("a"), vec![0u8; 1000]).unwrap();
        std::fs::write(tmp.path().join("sub/b"), vec![0u8; 24]).unwrap();
        std::os::unix::fs::symlink("/usr", tmp.path().join("link")).unwrap();
        let (bytes, truncated) = dir_size(tmp.path()).unwrap();
        assert!(!truncated);
        assert!((1024..1100).contains(&bytes), "{bytes}");
    }
}
