//! The notifier's outbox backlog, for the Prometheus metrics: how many alerts
//! wait in `<state>/notifier/outbox/*.json` (docs/notifier.md, "State") and
//! how old the oldest is. Metadata only: the directory is listed and each
//! entry's modification time read (an entry is written once, by an atomic
//! rename, so that is when it was queued); no file is opened or changed.

use std::path::Path;
use std::time::SystemTime;

use common::private_path::{self, Class};

/// What the outbox holds now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Backlog {
    /// Queued alerts (`outbox/*.json`; `outbox/rejected/` is not counted).
    pub(crate) entries: usize,
    /// Seconds since the oldest of them was queued; 0 when there is none.
    pub(crate) oldest_age_secs: u64,
}

/// Reads the backlog of the outbox under `notifier_dir` at `now`. An absent
/// outbox (the notifier never ran here) is an empty one. A directory the
/// private-path rule refuses (a symlink, writable by others, a foreign
/// owner) or that cannot be listed is an error: its numbers would be
/// someone else's to choose.
pub(crate) fn backlog(notifier_dir: &Path, now: SystemTime) -> Result<Backlog, String> {
    for dir in [notifier_dir.to_owned(), notifier_dir.join("outbox")] {
        match private_path::check_dir(&dir, Class::Private) {
            Ok(true) => {}
            Ok(false) => return Ok(Backlog::default()),
            Err(e) => return Err(format!("{}: {}; {}", e.path().display(), e.problem(), e.fix())),
        }
    }
    let outbox = notifier_dir.join("outbox");
    let listing = std::fs::read_dir(&outbox).map_err(|e| format!("{}: {e}", outbox.display()))?;
    let mut res = Backlog::default();
    for entry in listing {
        let entry = entry.map_err(|e| format!("{}: {e}", outbox.display()))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        // The notifier's own rule for what is queued: `*.json`, not hidden (temp files are).
        if !name.ends_with(".json") || name.starts_with('.') {
            continue;
        }
        // Not following links: `DirEntry::metadata` describes the entry itself.
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.file_type().is_file() {
            continue;
        }
        res.entries += 1;
        let age = meta.modified().ok().and_then(|m| now.duration_since(m).ok()).map_or(0, |d| d.as_secs());
        res.oldest_age_secs = res.oldest_age_secs.max(age);
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::time::Duration;

    use super::*;

    fn private_dir(path: &Path) {
        std::fs::create_dir_all(path).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).unwrap();
    }

    #[test]
    fn an_absent_outbox_is_empty() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(backlog(&tmp.path().join("notifier"), SystemTime::now()), Ok(Backlog::default()));
        private_dir(&tmp.path().join("notifier"));
        assert_eq!(backlog(&tmp.path().join("notifier"), SystemTime::now()), Ok(Backlog::default()));
    }

    #[test]
    fn queued_entries_are_counted_and_the_oldest_aged_but_not_rejected_or_temp_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("notifier");
        private_dir(&dir.join("outbox/rejected"));
        for name in ["00000000001795728600-000000001-42.json", "00000000001795728700-000000001-43.json"] {
            std::fs::write(dir.join("outbox").join(name), "{}").unwrap();
        }
        std::fs::write(dir.join("outbox/.tmp-x.json"), "{}").unwrap();
        std::fs::write(dir.join("outbox/notes.txt"), "").unwrap();
        std::fs::write(dir.join("outbox/rejected/old.json"), "{}").unwrap();
        std::os::unix::fs::symlink("/etc/hostname", dir.join("outbox/link.json")).unwrap();
        let now = SystemTime::now() + Duration::from_secs(600);
        let got = backlog(&dir, now).unwrap();
        assert_eq!(got.entries, 2);
        assert!((600..=660).contains(&got.oldest_age_secs), "{got:?}");
    }

    #[test]
    fn an_outbox_others_can_write_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("notifier");
        private_dir(&dir.join("outbox"));
        std::fs::set_permissions(dir.join("outbox"), std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = backlog(&dir, SystemTime::now()).unwrap_err();
        assert!(err.contains("outbox"), "{err}");
    }
}
