//! One lock per non-concurrent action: an exclusive `flock` on
//! `<run dir>/console/locks/<action>.lock` (`common::lock`), held by the
//! run's supervisor thread until the child and its process group are gone,
//! whatever the HTTP client does. The kernel releases it if the console
//! dies; there is no TTL. An in-process table, taken under one mutex
//! together with the `flock`, makes check-and-set atomic and lets a 409
//! name the holder's run id without reading a half-written file.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use common::lock::{LockError, NamedLock, read_note};
use serde::{Deserialize, Serialize};

/// Who holds a lock: the note written into the lock file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Holder {
    /// The holder's run id.
    pub(crate) run_id: String,
    /// When it started (RFC 3339).
    pub(crate) started_at: String,
}

/// The result of asking for an action's lock.
#[derive(Debug)]
pub(crate) enum LockOutcome {
    /// Taken; released when the value is dropped.
    Acquired(Held),
    /// The action is `concurrent`: no lock is taken.
    NotNeeded,
    /// Someone holds it.
    Busy(Option<Holder>),
}

impl LockOutcome {
    /// The outcome's name in audit parameters.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            LockOutcome::Acquired(_) => "acquired",
            LockOutcome::NotNeeded => "not_needed",
            LockOutcome::Busy(_) => "busy",
        }
    }
}

/// The console's action locks.
#[derive(Debug)]
pub(crate) struct ActionLocks {
    dir: PathBuf,
    active: Mutex<HashMap<String, Holder>>,
}

/// A held lock; dropping it forgets the holder, then unlocks.
#[derive(Debug)]
pub(crate) struct Held {
    locks: Arc<ActionLocks>,
    action: String,
    lock: Option<NamedLock>,
}

impl Held {
    /// Lets the next spawned child inherit the lock (see
    /// `NamedLock::set_inheritable`); a failure leaves it close-on-exec.
    pub(crate) fn set_inheritable(&self, on: bool) {
        if let Some(lock) = &self.lock {
            let _ = lock.set_inheritable(on);
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.locks.active.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.action);
        drop(self.lock.take());
    }
}

/// Why the lock could not even be tried.
#[derive(Debug, thiserror::Error)]
#[error("action lock: {0}")]
pub(crate) struct LockIoError(#[from] LockError);

impl ActionLocks {
    /// Locks under `dir` (created 0700 on first use).
    pub(crate) fn new(dir: PathBuf) -> Arc<ActionLocks> {
        Arc::new(ActionLocks { dir, active: Mutex::new(HashMap::new()) })
    }

    /// Tries, without waiting, to take `action`'s lock for `holder`.
    pub(crate) fn try_take(self: &Arc<Self>, action: &str, holder: &Holder) -> Result<LockOutcome, LockIoError> {
        let mut active = self.active.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(h) = active.get(action) {
            return Ok(LockOutcome::Busy(Some(h.clone())));
        }
        let note = serde_json::to_string(holder).unwrap_or_default();
        match NamedLock::acquire_noting(&self.dir, action, Duration::ZERO, &note) {
            Ok(lock) => {
                active.insert(action.to_owned(), holder.clone());
                Ok(LockOutcome::Acquired(Held { locks: Arc::clone(self), action: action.to_owned(), lock: Some(lock) }))
            }
            // Held by another process (an earlier console's orphan, a second console).
            Err(LockError::Busy { .. }) => Ok(LockOutcome::Busy(self.note(action))),
            Err(e) => Err(e.into()),
        }
    }

    /// Who holds `action`'s lock, if anyone (`GET /api/exec?check=lock`).
    /// Read-only: it never enters the table or writes the lock file, so a
    /// probe cannot make a concurrent run fail.
    pub(crate) fn holder(self: &Arc<Self>, action: &str) -> Result<Option<Holder>, LockIoError> {
        let active = self.active.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(h) = active.get(action) {
            return Ok(Some(h.clone()));
        }
        if common::lock::is_held(&self.dir, action)? {
            return Ok(Some(self.note(action).unwrap_or_else(unknown)));
        }
        Ok(None)
    }

    fn note(&self, action: &str) -> Option<Holder> {
        read_note(&self.dir, action).and_then(|n| serde_json::from_str(&n).ok())
    }
}

/// The holder named when the lock file could not be read.
pub(crate) fn unknown() -> Holder {
    Holder { run_id: "(unknown)".into(), started_at: String::new() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(id: &str) -> Holder {
        Holder { run_id: id.into(), started_at: "2026-11-28T00:00:00Z".into() }
    }

    #[test]
    fn a_second_taker_is_told_who_holds_it_until_it_is_dropped() {
        let tmp = tempfile::tempdir().unwrap();
        let locks = ActionLocks::new(tmp.path().join("locks"));
        let first = locks.try_take("doctor", &holder("r1")).unwrap();
        assert!(matches!(first, LockOutcome::Acquired(_)));
        match locks.try_take("doctor", &holder("r2")).unwrap() {
            LockOutcome::Busy(Some(h)) => assert_eq!(h.run_id, "r1"),
            other => panic!("{other:?}"),
        }
        assert_eq!(locks.holder("doctor").unwrap().unwrap().run_id, "r1");
        // Another process's view: a fresh table over the same directory reads the note.
        let other = ActionLocks::new(tmp.path().join("locks"));
        match other.try_take("doctor", &holder("r3")).unwrap() {
            LockOutcome::Busy(Some(h)) => assert_eq!(h.run_id, "r1"),
            o => panic!("{o:?}"),
        }
        drop(first);
        assert_eq!(locks.holder("doctor").unwrap(), None);
        assert!(matches!(locks.try_take("doctor", &holder("r4")).unwrap(), LockOutcome::Acquired(_)));
    }
}
