//! The notifier's state under `<state dir>/notifier/`: rate-limit windows,
//! the last quota reading, the 429 hold, emergency receipts, and the outbox.
//!
//! The directory is refused unless it is a real directory owned by root or
//! the caller and writable by nobody else (the reference kept its limits in
//! world-writable `/tmp`, where anyone could suppress alerts). Every change
//! is a read-modify-write under an exclusive lock with an atomic rewrite.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::artifacts::write_atomic;
use common::lock::{LockError, NamedLock};
use common::private_path::{self, Class};
use serde::{Deserialize, Serialize};

use crate::api::Quota;
use crate::message::Alert;

/// Longest a state update waits for another process.
const STATE_LOCK_WAIT: Duration = Duration::from_secs(10);
/// Longest a send waits for another send of the same check (retries take ≤ 60 s).
pub const CHECK_LOCK_WAIT: Duration = Duration::from_secs(90);
/// Largest state or outbox file read.
const MAX_FILE: u64 = 4 * 1024 * 1024;

/// The state file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// Per check_id.
    #[serde(default)]
    pub checks: BTreeMap<String, CheckState>,
    /// The last `X-Limit-App-*` reading.
    #[serde(default)]
    pub quota: Option<QuotaReading>,
    /// After an HTTP 429: nothing is sent before this Unix time.
    #[serde(default)]
    pub hold_until: Option<i64>,
    /// Emergency receipts by check_id, oldest first (a check may have
    /// several: each keeps paging until acknowledged, cancelled or expired).
    #[serde(default)]
    pub receipts: BTreeMap<String, Vec<ReceiptState>>,
}

/// One check's window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckState {
    /// Unix time of the last delivered alert (the window's start); `None` once resolved.
    pub last_sent: Option<i64>,
    /// An alert was delivered and no recovery has been sent since.
    pub open: bool,
    /// Alerts suppressed since the last delivery.
    pub suppressed: u64,
    /// Unix time of the first of those.
    pub suppressed_since: Option<i64>,
    /// Unix time of the last `--resolved` for this check: outbox entries
    /// raised before it are stale and are never delivered after it.
    #[serde(default)]
    pub resolved_at: Option<i64>,
}

/// A quota reading with the time it was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaReading {
    /// The numbers.
    #[serde(flatten)]
    pub quota: Quota,
    /// Unix time of the response they came from.
    pub observed_at: i64,
}

/// An emergency receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptState {
    /// The receipt id.
    pub receipt: String,
    /// Unix time sent.
    pub sent_at: i64,
    /// Unix time Pushover stops repeating it by itself.
    pub expires_at: i64,
    /// The check recovered but the cancel did not get through; `flush` retries it.
    pub cancel_pending: bool,
}

impl State {
    /// Records a quota reading, if the response carried one.
    pub fn observe(&mut self, quota: Option<Quota>, now: i64) {
        if let Some(quota) = quota {
            self.quota = Some(QuotaReading { quota, observed_at: now });
        }
    }

    /// The reading, if it still describes the current period.
    pub fn current_quota(&self, now: i64) -> Option<Quota> {
        self.quota.map(|r| r.quota).filter(|q| q.reset > now)
    }
}

/// A queued alert: its file and content.
#[derive(Debug, Clone)]
pub struct Queued {
    /// The outbox file.
    pub path: PathBuf,
    /// The alert.
    pub alert: Alert,
}

/// An outbox entry being delivered by the process that wrote it; its lock
/// is held until this is released or dropped.
#[derive(Debug)]
pub struct Pending {
    /// The outbox file.
    pub path: PathBuf,
    /// The entry's lock; dropped with its file, however this process ends
    /// the send (a failure included), so no `locks/outbox-*.lock` is left.
    lock: Option<NamedLock>,
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(lock) = self.lock.take() {
            let _ = fs::remove_file(lock.path());
        }
    }
}

/// The lock of one outbox entry, named by a hash of its file name (any
/// file name in the outbox yields a valid lock name).
fn entry_lock_name(file_name: &str) -> String {
    format!("outbox-{}", &common::hash::sha256_hex(file_name.as_bytes())[..32])
}

/// The notifier's directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

/// Creates (0700) or checks a state directory with the one private-path
/// rule: a real directory, owned by root or `euid`, not writable by others.
pub fn check_private_dir(dir: &Path) -> Result<(), String> {
    private_path::ensure_dir(dir, Class::Private).map_err(|e| match e {
        private_path::UnsafePath::Io { .. } => format!("cannot use state directory: {e}"),
        refused => format!(
            "refusing state directory {}: {}; fix: {} (another user could suppress or forge alerts)",
            refused.path().display(),
            refused.problem(),
            refused.fix()
        ),
    })
}

impl Store {
    /// Opens `<state_dir>/notifier`, creating both 0700 where missing, after
    /// checking each is a private directory.
    pub fn open(state_dir: &Path) -> Result<Store, String> {
        let dir = state_dir.join("notifier");
        for d in [state_dir, dir.as_path()] {
            check_private_dir(d)?;
        }
        for sub in ["outbox", "outbox/rejected", "locks"] {
            check_private_dir(&dir.join(sub))?;
        }
        Ok(Store { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Serialises sends of one check across processes. The lock file is
    /// named by a hash of the id, never by the id itself.
    pub fn lock_check(&self, check_id: &str) -> Result<NamedLock, String> {
        let name = format!("check-{}", &common::hash::sha256_hex(check_id.as_bytes())[..32]);
        NamedLock::acquire(&self.dir.join("locks"), &name, CHECK_LOCK_WAIT).map_err(|e| e.to_string())
    }

    /// Serialises flushes.
    pub fn lock_flush(&self) -> Result<NamedLock, String> {
        NamedLock::acquire(&self.dir.join("locks"), "flush", CHECK_LOCK_WAIT).map_err(|e| e.to_string())
    }

    fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    /// Reads the state (defaults when there is none yet). An unreadable or
    /// unparsable file is an error, never silently reset: resetting would
    /// reopen every window.
    pub fn load(&self) -> Result<State, String> {
        let path = self.state_path();
        match read_limited(&path)? {
            None => Ok(State::default()),
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                format!(
                    "{}: unparsable ({e}); fix: move it aside (windows and the quota hold start afresh)",
                    path.display()
                )
            }),
        }
    }

    /// Read-modify-write of the state under the state lock.
    pub fn update<R>(&self, f: impl FnOnce(&mut State) -> R) -> Result<R, String> {
        let _lock = NamedLock::acquire(&self.dir.join("locks"), "state", STATE_LOCK_WAIT).map_err(|e| e.to_string())?;
        let mut state = self.load()?;
        let before = state.clone();
        let res = f(&mut state);
        if state != before {
            let mut text = serde_json::to_string_pretty(&state).map_err(|e| e.to_string())?;
            text.push('\n');
            let path = self.state_path();
            write_atomic(&path, text.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Ok(res)
    }

    /// Adds an alert to the outbox, durably (temp file, fsync, rename,
    /// directory fsync), before anything is sent: a sender killed at any
    /// moment after this loses nothing. Names sort in arrival order:
    /// `<now, 20 digits>-<nanos>-<pid>.json`. The entry's lock is taken
    /// before the file appears and is held by the returned [`Pending`], so
    /// `flush` never delivers an entry whose sender is still alive.
    pub fn enqueue(&self, alert: &Alert) -> Result<Pending, String> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let name = format!("{:020}-{:09}-{}.json", now.as_secs(), now.subsec_nanos(), std::process::id());
        let path = self.dir.join("outbox").join(&name);
        let lock = NamedLock::acquire(&self.dir.join("locks"), &entry_lock_name(&name), Duration::ZERO)
            .map_err(|e| e.to_string())?;
        // Made first, so a failed write below drops the lock and its file.
        let pending = Pending { path, lock: Some(lock) };
        let text = serde_json::to_string_pretty(alert).map_err(|e| e.to_string())?;
        write_atomic(&pending.path, text.as_bytes()).map_err(|e| format!("{}: {e}", pending.path.display()))?;
        Ok(pending)
    }

    /// Takes an outbox entry's lock without waiting. `None`: a live process
    /// holds it (the `send` that wrote it is still delivering it). The
    /// kernel drops the lock of a process that died, however it died.
    pub fn try_lock_entry(&self, path: &Path) -> Result<Option<NamedLock>, String> {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        match NamedLock::acquire(&self.dir.join("locks"), &entry_lock_name(&name), Duration::ZERO) {
            Ok(lock) => Ok(Some(lock)),
            Err(LockError::Busy { .. }) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Releases an entry's lock and deletes its lock file (the entry is
    /// settled; whoever locks it next finds it gone or re-creates the file).
    pub fn release_entry(&self, lock: NamedLock) {
        let _ = fs::remove_file(lock.path());
        drop(lock);
    }

    /// The outbox in delivery order. A file that cannot be parsed is moved
    /// to `outbox/rejected/` and reported, so it cannot block the queue.
    pub fn queued(&self) -> Result<(Vec<Queued>, Vec<String>), String> {
        let dir = self.dir.join("outbox");
        let mut names: Vec<String> = fs::read_dir(&dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.ends_with(".json") && !n.starts_with('.'))
            .collect();
        names.sort();
        let mut res = Vec::new();
        let mut problems = Vec::new();
        for name in names {
            let path = dir.join(&name);
            // One bad entry must never block the queue: it is set aside and reported.
            let parsed = read_limited(&path).and_then(|b| {
                b.map(|b| serde_json::from_slice::<Alert>(&b).map_err(|e| format!("unparsable ({e})"))).transpose()
            });
            match parsed {
                Ok(Some(alert)) => res.push(Queued { path, alert }),
                Ok(None) => {}
                Err(e) => {
                    problems.push(format!("{name}: {e}; moved to outbox/rejected/"));
                    self.reject(&path)?;
                }
            }
        }
        Ok((res, problems))
    }

    /// Files in `outbox/rejected/`.
    pub fn rejected_count(&self) -> usize {
        fs::read_dir(self.dir.join("outbox/rejected")).map(|d| d.filter_map(|e| e.ok()).count()).unwrap_or(0)
    }

    /// Removes a delivered (or superseded) outbox entry.
    pub fn remove(&self, path: &Path) -> Result<(), String> {
        match fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    /// Moves an entry the API refused for good to `outbox/rejected/`.
    pub fn reject(&self, path: &Path) -> Result<(), String> {
        let to = self.dir.join("outbox/rejected").join(path.file_name().unwrap_or_default());
        fs::rename(path, &to).map_err(|e| format!("{}: {e}", path.display()))
    }
}

fn read_limited(path: &Path) -> Result<Option<Vec<u8>>, String> {
    // The one private-path rule: no link followed, no FIFO waited on, no file
    // another user owns or can write believed.
    private_path::read_file(path, private_path::OpenSpec::read(Class::Private), MAX_FILE).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_fifo_or_a_link_as_the_state_file_is_refused_without_hanging() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&tmp.path().join("state")).unwrap();
        let path = store.dir().join("state.json");
        rustix::fs::mkfifoat(rustix::fs::CWD, &path, rustix::fs::Mode::from_raw_mode(0o600)).unwrap();
        assert!(store.load().unwrap_err().contains("named pipe"));
        fs::remove_file(&path).unwrap();
        let elsewhere = tmp.path().join("elsewhere.json");
        fs::write(&elsewhere, "{}").unwrap();
        std::os::unix::fs::symlink(&elsewhere, &path).unwrap();
        assert!(store.load().unwrap_err().contains("symbolic link"));
    }

    #[test]
    fn state_round_trips_and_a_corrupt_file_is_refused_not_reset() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&tmp.path().join("state")).unwrap();
        store
            .update(|s| {
                s.checks.insert("a".into(), CheckState { last_sent: Some(5), open: true, ..Default::default() });
                s.observe(Some(Quota { limit: 10, remaining: 3, reset: 99 }), 7);
            })
            .unwrap();
        let s = store.load().unwrap();
        assert_eq!(s.checks["a"].last_sent, Some(5));
        assert_eq!(s.current_quota(50), Some(Quota { limit: 10, remaining: 3, reset: 99 }));
        assert_eq!(s.current_quota(100), None);
        fs::write(store.dir().join("state.json"), b"{not json").unwrap();
        assert!(store.load().unwrap_err().contains("unparsable"));
        assert!(store.update(|_| ()).is_err());
    }

    #[test]
    fn an_outbox_entry_is_durable_at_once_and_locked_until_its_writer_lets_go() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&tmp.path().join("state")).unwrap();
        let alert = Alert {
            check_id: "c".into(),
            priority: crate::message::Priority::Normal,
            title: "t".into(),
            message: "m".into(),
            url: None,
            url_title: None,
            resolved: false,
            retry: 60,
            expire: 3600,
            created: 1,
        };
        let pending = store.enqueue(&alert).unwrap();
        let (queue, problems) = store.queued().unwrap();
        assert!(problems.is_empty());
        assert_eq!((queue.len(), &queue[0].alert), (1, &alert));
        assert!(store.try_lock_entry(&pending.path).unwrap().is_none(), "its writer still holds it");
        let path = pending.path.clone();
        drop(pending);
        let lock = store.try_lock_entry(&path).unwrap().expect("free once the writer is gone");
        let lock_file = lock.path().to_owned();
        store.release_entry(lock);
        assert!(!lock_file.exists(), "the lock file goes with the lock");
        assert!(path.exists(), "releasing the lock never removes the entry");
    }

    #[test]
    fn hostile_directories_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let open = tmp.path().join("open");
        fs::create_dir(&open).unwrap();
        fs::set_permissions(&open, fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(Store::open(&open).unwrap_err().contains("writable by group or others"));
        let real = tmp.path().join("real");
        fs::create_dir(&real).unwrap();
        fs::set_permissions(&real, fs::Permissions::from_mode(0o700)).unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert!(Store::open(&link).unwrap_err().contains("symbolic link"));
        // The notifier/ subdirectory is checked as well as its parent.
        fs::create_dir(real.join("notifier")).unwrap();
        fs::set_permissions(real.join("notifier"), fs::Permissions::from_mode(0o770)).unwrap();
        assert!(Store::open(&real).unwrap_err().contains("notifier"));
        let fresh = tmp.path().join("fresh/deeper");
        Store::open(&fresh).unwrap();
        assert_eq!(fs::metadata(fresh.join("notifier")).unwrap().permissions().mode() & 0o777, 0o700);
    }
}
