//! Run ids and the run store: `<artifacts>/console/<run_id>/` with
//! `params.json`, `stdout.txt`, `stderr.txt` and `result.json` (0600 files
//! in 0700 directories, written atomically). `result.json` is written when
//! the run starts (status `running`) and again when it ends. While a
//! supervisor owns the run it holds a lock on `.supervisor` in the run's
//! directory; [`crate::recovery`] finishes runs whose supervisor is gone.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use common::artifacts::{create_private_dir_all, write_atomic};
use common::private_path::{self, Class, OpenSpec};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

/// Most runs `GET /api/runs` lists.
pub(crate) const MAX_LIST: usize = 100;

/// A run's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RunStatus {
    /// Still running.
    Running,
    /// Exited 0.
    Success,
    /// Exited non-zero or was ended by a signal.
    Failure,
    /// Killed at its timeout.
    Timeout,
    /// Killed because the console shut down.
    Killed,
    /// Could not be started, or its final result could not be written.
    Error,
    /// The console stopped (crashed, was killed) before the run ended.
    Interrupted,
}

/// `result.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RunRecord {
    /// The run id.
    pub(crate) run_id: String,
    /// The action id.
    pub(crate) action: String,
    /// The request that started it.
    pub(crate) request_id: String,
    /// Who asked (`token:<key id>`).
    pub(crate) actor: String,
    /// Its state.
    pub(crate) status: RunStatus,
    /// Start time, RFC 3339.
    pub(crate) started_at: String,
    /// End time, RFC 3339, once ended.
    pub(crate) finished_at: Option<String>,
    /// Wall time, once ended.
    pub(crate) duration_ms: Option<u64>,
    /// The child's exit code (-1: killed, timed out or not started), once ended.
    pub(crate) exit_code: Option<i32>,
    /// Whether stdout or stderr was cut at its cap.
    pub(crate) truncated: bool,
    /// The audit `params_hash` of the run's start record.
    pub(crate) params_hash: String,
    /// Why it could not be started, if so.
    pub(crate) error: Option<String>,
}

/// A new run id: `YYYYmmdd_HHMMSS_<8 hex>` in UTC, as the reference's hostd.
pub(crate) fn new_run_id(now: OffsetDateTime) -> String {
    let mut rnd = [0u8; 4];
    // getrandom(2) does not fail for 4 bytes once the pool is ready; a zero id still sorts and is unique per second.
    let _ = rustix::rand::getrandom(&mut rnd, rustix::rand::GetRandomFlags::empty());
    format!(
        "{:04}{:02}{:02}_{:02}{:02}{:02}_{}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        common::hash::to_hex(&rnd)
    )
}

/// Whether `s` has the shape of a run id (the only names looked up on disk).
pub(crate) fn valid_run_id(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 24
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 15 => *c == b'_',
            0..=14 => c.is_ascii_digit(),
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(c),
        })
}

/// The lock file a live supervisor holds in its run's directory.
pub(crate) const SUPERVISOR: &str = ".supervisor";
/// What `.supervisor` becomes once `console.finish` is durable but the final
/// `result.json` could not be written.
pub(crate) const FINISH_RECORDED: &str = ".finish-recorded";

/// The store under `<artifacts>/console`.
#[derive(Debug, Clone)]
pub(crate) struct RunStore {
    root: PathBuf,
    /// Final records this process could not write (a full disk), served
    /// in place of the `running` one on disk.
    unwritten: Arc<Mutex<HashMap<String, RunRecord>>>,
}

impl RunStore {
    /// The store at `root`.
    pub(crate) fn new(root: PathBuf) -> RunStore {
        RunStore { root, unwritten: Arc::default() }
    }

    /// The directory of `run_id`.
    pub(crate) fn dir(&self, run_id: &str) -> PathBuf {
        self.root.join(run_id)
    }

    /// Creates the run's directory (0700) and checks the store is private.
    pub(crate) fn create(&self, run_id: &str) -> io::Result<PathBuf> {
        private_path::ensure_dir(&self.root, Class::Private).map_err(io::Error::other)?;
        let dir = self.dir(run_id);
        create_private_dir_all(&dir)?;
        Ok(dir)
    }

    /// Writes a file of the run atomically.
    pub(crate) fn write(&self, run_id: &str, name: &str, bytes: &[u8]) -> io::Result<()> {
        write_atomic(&self.dir(run_id).join(name), bytes)
    }

    /// Writes `result.json`.
    pub(crate) fn write_record(&self, rec: &RunRecord) -> io::Result<()> {
        let text = serde_json::to_string_pretty(rec).map_err(io::Error::other)?;
        self.write(&rec.run_id, "result.json", text.as_bytes())?;
        self.unwritten.lock().unwrap_or_else(PoisonError::into_inner).remove(&rec.run_id);
        Ok(())
    }

    /// Remembers a final record that could not be written, for the API.
    pub(crate) fn hold_unwritten(&self, rec: RunRecord) {
        self.unwritten.lock().unwrap_or_else(PoisonError::into_inner).insert(rec.run_id.clone(), rec);
    }

    /// Creates `.supervisor` in the run's directory (0600, never through a
    /// link) and locks it; the lock lives as long as the returned file.
    pub(crate) fn supervise(&self, run_id: &str) -> io::Result<File> {
        use std::os::unix::fs::OpenOptionsExt;
        let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::CLOEXEC;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(flags.bits() as i32)
            .open(self.dir(run_id).join(SUPERVISOR))?;
        file.try_lock().map_err(io::Error::other)?;
        Ok(file)
    }

    /// Removes a run that never started (its directory and what is in it).
    pub(crate) fn discard(&self, run_id: &str) {
        if valid_run_id(run_id) {
            let _ = std::fs::remove_dir_all(self.dir(run_id));
        }
    }

    fn read(&self, run_id: &str, name: &str, max: u64) -> Option<Vec<u8>> {
        let path = self.dir(run_id).join(name);
        private_path::read_file(&path, OpenSpec::read(Class::Private), max).ok().flatten()
    }

    /// A run's `params.json`, read under the private-path rule, capped.
    pub(crate) fn read_params(&self, run_id: &str) -> Option<Value> {
        if !valid_run_id(run_id) {
            return None;
        }
        serde_json::from_slice(&self.read(run_id, "params.json", 64 * 1024)?).ok()
    }

    /// A run's record, if it exists.
    pub(crate) fn record(&self, run_id: &str) -> Option<RunRecord> {
        if !valid_run_id(run_id) {
            return None;
        }
        if let Some(rec) = self.unwritten.lock().unwrap_or_else(PoisonError::into_inner).get(run_id) {
            return Some(rec.clone());
        }
        serde_json::from_slice(&self.read(run_id, "result.json", 64 * 1024)?).ok()
    }

    /// A run's record with its output, for `GET /api/runs/<id>`.
    pub(crate) fn detail(&self, run_id: &str) -> Option<Value> {
        let rec = self.record(run_id)?;
        let mut v = serde_json::to_value(&rec).ok()?;
        if rec.status != RunStatus::Running {
            let text = |name, cap| self.read(run_id, name, cap).map(|b| String::from_utf8_lossy(&b).into_owned());
            v["stdout"] = text("stdout.txt", crate::exec::STDOUT_CAP as u64).into();
            v["stderr"] = text("stderr.txt", crate::exec::STDERR_CAP as u64).into();
        }
        v["artifact_dir"] = self.dir(run_id).display().to_string().into();
        Some(v)
    }

    /// The newest `limit` runs, newest first.
    pub(crate) fn list(&self, limit: usize) -> Vec<RunRecord> {
        let Ok(entries) = std::fs::read_dir(&self.root) else { return Vec::new() };
        let mut ids: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| valid_run_id(n))
            .collect();
        ids.sort_unstable_by(|a, b| b.cmp(a));
        ids.iter().filter_map(|id| self.record(id)).take(limit.min(MAX_LIST)).collect()
    }

    /// The store's root.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_have_one_shape() {
        let id = new_run_id(time::macros::datetime!(2026-11-28 09:05:07 UTC));
        assert!(id.starts_with("20261128_090507_"), "{id}");
        assert!(valid_run_id(&id), "{id}");
        for bad in
            ["", "../../etc/passwd", "20261128_090507_ABCDEF12", "20261128-090507_abcdef12", "20261128_090507_abcdef1"]
        {
            assert!(!valid_run_id(bad), "{bad}");
        }
    }

    #[test]
    fn records_round_trip_and_list_newest_first() {
        let tmp = tempfile::tempdir().unwrap();
        let store = RunStore::new(tmp.path().join("console"));
        for (i, id) in ["20261128_090507_00000001", "20261128_090508_00000002"].iter().enumerate() {
            store.create(id).unwrap();
            let rec = RunRecord {
                run_id: (*id).into(),
                action: "doctor".into(),
                request_id: format!("req{i}"),
                actor: "token:abcd1234".into(),
                status: RunStatus::Success,
                started_at: "2026-11-28T09:05:07Z".into(),
                finished_at: Some("2026-11-28T09:05:08Z".into()),
                duration_ms: Some(5),
                exit_code: Some(0),
                truncated: false,
                params_hash: "0".repeat(64),
                error: None,
            };
            store.write_record(&rec).unwrap();
            store.write(id, "stdout.txt", b"hello").unwrap();
        }
        let list = store.list(10);
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].run_id, "20261128_090508_00000002");
        assert_eq!(store.list(1).len(), 1);
        assert_eq!(store.detail("20261128_090507_00000001").unwrap()["stdout"], "hello");
        assert!(store.detail("../x").is_none());
    }
}
