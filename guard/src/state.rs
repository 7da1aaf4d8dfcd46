//! The guard's state, `<state dir>/guard/state.json`: the last run and its
//! outcome, per-finding attempts, back-off and budget flags, whether a
//! `guard.doctor_fail` alert is open, the pending dead-man rollback and the
//! last rollback. The file's shape is documented in
//! docs/guard.md; the doctor's future `guard` check reads it.
//!
//! Both directories are refused unless they are real directories owned by
//! root or the caller and writable by nobody else (another user could erase
//! the budget and make the guard retry a failing fix every tick). The file
//! is read through the same rule on the open descriptor, written
//! atomically with mode 0600, and an unparsable file is an error, never
//! silently reset.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::artifacts::write_atomic;
use common::private_path::{self, Class, OpenSpec};
use serde::{Deserialize, Serialize};

use crate::fix::deadman::Armed;

/// Largest state file read.
const MAX_FILE: u64 = 1024 * 1024;

/// The state file's schema version.
pub const STATE_SCHEMA: u32 = 1;

/// The state file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// Bumped on any incompatible change.
    pub schema_version: u32,
    /// The last tick that ran (dry runs are not recorded).
    pub last_run: Option<LastRun>,
    /// A `guard.doctor_fail` alert was sent and no recovery since.
    pub doctor_fail_open: bool,
    /// Per finding key.
    pub findings: BTreeMap<String, FindingState>,
    /// An armed dead-man rollback.
    pub pending_rollback: Option<PendingRollback>,
    /// The last rollback (the doctor's `guard` check fails for 24 h after
    /// one; a successful `openclaw-guard fix` clears it).
    #[serde(default)]
    pub last_rollback: Option<RollbackRecord>,
    /// The tailnet path `ssh-tailnet-only` waits for: the last login seen
    /// over it and the last waiting notice.
    #[serde(default)]
    pub tailnet_path: crate::tailnet_path::PathState,
}

impl Default for State {
    fn default() -> State {
        State {
            schema_version: STATE_SCHEMA,
            last_run: None,
            doctor_fail_open: false,
            findings: BTreeMap::new(),
            pending_rollback: None,
            last_rollback: None,
            tailnet_path: crate::tailnet_path::PathState::default(),
        }
    }
}

/// How a tick ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunOutcome {
    /// The doctor passed (exit 0).
    Pass,
    /// Findings remain (exit 1).
    Fail,
    /// The guard could not run (exit 2).
    Error,
}

impl RunOutcome {
    /// `pass`, `fail` or `error`, as in the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Pass => "pass",
            RunOutcome::Fail => "fail",
            RunOutcome::Error => "error",
        }
    }
}

/// The last tick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LastRun {
    /// When it started, RFC 3339 UTC.
    pub at: String,
    /// The same as Unix time.
    pub at_unix: i64,
    /// How it ended.
    pub outcome: RunOutcome,
    /// Its exit code.
    pub exit_code: u8,
    /// The keys of the findings that remained.
    pub findings: Vec<String>,
    /// One line: what happened (untrusted text escaped when shown).
    pub detail: String,
}

/// One finding's history.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FindingState {
    /// Unix time first reported (in the current episode).
    pub first_seen: i64,
    /// Unix time last reported.
    pub last_seen: i64,
    /// Unix times of fix attempts in the last 24 h.
    pub attempts: Vec<i64>,
    /// Failed attempts since the last success.
    pub consecutive_failures: u32,
    /// No attempt before this Unix time.
    pub backoff_until: Option<i64>,
    /// The budget for the window is spent.
    pub budget_exhausted: bool,
    /// The `guard.budget_exhausted` alert went out for this exhaustion.
    pub exhaustion_alerted: bool,
}

/// An armed dead-man rollback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingRollback {
    /// The backup id (`<state dir>/guard/backups/<id>/`).
    pub id: String,
    /// The remediation that armed it.
    pub remediation: String,
    /// Unix time it was armed.
    pub armed_at: i64,
    /// Unix time it fires unless confirmed.
    pub deadline: i64,
    /// How it was armed.
    pub armed: Armed,
}

/// A rollback that happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackRecord {
    /// When, RFC 3339 UTC.
    pub at: String,
    /// The same as Unix time.
    pub at_unix: i64,
    /// The remediation rolled back.
    pub remediation: String,
    /// The backup directory.
    pub backup: String,
    /// Whether everything was restored.
    pub restored: bool,
    /// Why it rolled back, and what failed if anything (untrusted text).
    pub detail: String,
}

/// The guard's state directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

/// The refusal text for a state directory, with the command that fixes it.
fn describe(e: private_path::UnsafePath) -> String {
    match e {
        private_path::UnsafePath::Io { .. } => format!("cannot use state directory: {e}"),
        refused => format!(
            "refusing state directory {}: {}; fix: {} (another user could erase the fix budget)",
            refused.path().display(),
            refused.problem(),
            refused.fix()
        ),
    }
}

fn check_private_dir(dir: &Path) -> Result<(), String> {
    private_path::ensure_dir(dir, Class::Private).map_err(describe)
}

impl Store {
    /// Opens `guard_dir` (`<state dir>/guard`), creating it and the state
    /// directory 0700 where missing, after checking each is private.
    pub fn open(state_dir: &Path, guard_dir: PathBuf) -> Result<Store, String> {
        check_private_dir(state_dir)?;
        check_private_dir(&guard_dir)?;
        Ok(Store { dir: guard_dir })
    }

    /// Checks an existing directory without creating anything (`status`).
    pub fn existing(guard_dir: PathBuf) -> Result<Option<Store>, String> {
        match private_path::check_dir(&guard_dir, Class::Private).map_err(describe)? {
            true => Ok(Some(Store { dir: guard_dir })),
            false => Ok(None),
        }
    }

    /// `state.json`.
    pub fn path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    /// Reads the state; defaults when there is none yet.
    pub fn load(&self) -> Result<State, String> {
        let path = self.path();
        let read = private_path::read_file(&path, OpenSpec::read(Class::Private), MAX_FILE);
        let Some(bytes) = read.map_err(|e| e.to_string())? else { return Ok(State::default()) };
        let state: State = serde_json::from_slice(&bytes).map_err(|e| {
            format!("{}: unparsable ({e}); fix: move it aside (budgets and back-off start afresh)", path.display())
        })?;
        if state.schema_version != STATE_SCHEMA {
            return Err(format!("{}: schema_version {} is not {STATE_SCHEMA}", path.display(), state.schema_version));
        }
        Ok(state)
    }

    /// Writes the state atomically, 0600.
    pub fn save(&self, state: &State) -> Result<(), String> {
        let mut text = serde_json::to_string_pretty(state).map_err(|e| e.to_string())?;
        text.push('\n');
        let path = self.path();
        write_atomic(&path, text.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn round_trips_0600_and_refuses_junk() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path(), tmp.path().join("guard")).unwrap();
        assert_eq!(store.load().unwrap(), State::default());
        let mut s = State::default();
        s.findings.insert("listeners".into(), FindingState { attempts: vec![5], ..FindingState::default() });
        store.save(&s).unwrap();
        assert_eq!(store.load().unwrap(), s);
        assert_eq!(std::fs::metadata(store.path()).unwrap().permissions().mode() & 0o777, 0o600);
        std::fs::write(store.path(), "{").unwrap();
        assert!(store.load().unwrap_err().contains("unparsable"));
    }

    #[test]
    fn a_group_writable_directory_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("guard");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = Store::open(tmp.path(), dir.clone()).unwrap_err();
        assert!(err.starts_with("refusing state directory") && err.contains("chmod"), "{err}");
        assert!(Store::existing(dir).is_err());
    }
}
