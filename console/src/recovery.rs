//! Runs whose supervisor is gone. A supervisor holds a lock on
//! `<run>/.supervisor` from before the run's `console.start` until its
//! `console.finish` is durable and the final `result.json` written; then it
//! removes the file. If the final `result.json` could not be written (a full
//! disk) it renames the file `.finish-recorded` instead. At start, before it
//! listens, the console finishes every run a previous process left:
//!
//! - `.supervisor` present and not locked: that console died mid-run (or
//!   could not record the finish). Recovery appends a `console.finish` with
//!   error class `CONSOLE_RESTARTED` and exit code -1, and marks a `running`
//!   `result.json` `interrupted`.
//! - `.finish-recorded` present and not locked: the finish is recorded but
//!   `result.json` still says `running`; it becomes `error` with class
//!   `RESULT_UNWRITABLE`, and no second record is written.
//!
//! A lock someone holds (another console on the same directory) is left alone.

use std::fs::File;
use std::io;
use std::path::Path;

use serde_json::Value;

use crate::app::AppState;
use crate::audit::{Facts, Kind};
use crate::runs::{FINISH_RECORDED, RunRecord, RunStatus, RunStore, SUPERVISOR, valid_run_id};

/// What recovery did to one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Recovered {
    /// The run.
    pub(crate) run_id: String,
    /// `CONSOLE_RESTARTED` or `RESULT_UNWRITABLE`.
    pub(crate) class: &'static str,
}

/// Called by a supervisor once its `console.finish` is durable.
pub(crate) fn finished(store: &RunStore, rec: &RunRecord, result_written: bool) {
    let dir = store.dir(&rec.run_id);
    if result_written {
        let _ = std::fs::remove_file(dir.join(SUPERVISOR));
        return;
    }
    // No space is needed for a rename; the next start finds it if the retry
    // below fails too.
    let _ = std::fs::rename(dir.join(SUPERVISOR), dir.join(FINISH_RECORDED));
    if store.write_record(rec).is_ok() {
        let _ = std::fs::remove_file(dir.join(FINISH_RECORDED));
    } else {
        store.hold_unwritten(rec.clone());
    }
}

/// Opens `path` (never through a link) and takes its lock without waiting;
/// `None` when it does not exist or someone holds it.
fn unheld(path: &Path) -> io::Result<Option<File>> {
    use std::os::unix::fs::OpenOptionsExt;
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::CLOEXEC | rustix::fs::OFlags::NONBLOCK;
    let file = match std::fs::OpenOptions::new().read(true).custom_flags(flags.bits() as i32).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if !file.metadata()?.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Finishes every run a previous console left (see the module text).
/// Errors are per run and leave its marker for the next start.
pub(crate) fn reconcile(st: &AppState) -> (Vec<Recovered>, Vec<String>) {
    let (mut done, mut errors) = (Vec::new(), Vec::new());
    let Ok(entries) = std::fs::read_dir(st.runs.root()) else { return (done, errors) };
    let mut ids: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| valid_run_id(n))
        .collect();
    ids.sort_unstable();
    for id in ids {
        for (marker, class) in [(SUPERVISOR, "CONSOLE_RESTARTED"), (FINISH_RECORDED, "RESULT_UNWRITABLE")] {
            let path = st.runs.dir(&id).join(marker);
            match unheld(&path).and_then(|held| held.map(|lock| recover(st, &id, class, &path, lock)).transpose()) {
                Ok(Some(())) => done.push(Recovered { run_id: id.clone(), class }),
                Ok(None) => {}
                Err(e) => errors.push(format!("run {id}: {marker}: {e}")),
            }
        }
    }
    (done, errors)
}

/// SIGKILLs every process left from run `id`: its environment names the
/// run exactly (a dead console's children are no longer ours to reap, and
/// only processes of our own uid can be read or signalled). Waits up to 2 s
/// for them to go. Returns how many were found.
pub(crate) fn kill_leftovers(id: &str) -> usize {
    let want = format!("OPENCLAW_RUN_ID={id}");
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0 };
    let pids: Vec<i32> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|v| v == want.as_bytes()))
        })
        .collect();
    for pid in &pids {
        if let Some(p) = rustix::process::Pid::from_raw(*pid) {
            let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
        }
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    // Gone, or a zombie its new parent has yet to reap.
    let running = |p: &i32| {
        std::fs::read_to_string(format!("/proc/{p}/stat"))
            .is_ok_and(|s| s.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')))
    };
    while pids.iter().any(running) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    pids.len()
}

fn recover(st: &AppState, id: &str, class: &'static str, marker: &Path, _lock: File) -> io::Result<()> {
    let now = common::time_fmt::rfc3339(time::OffsetDateTime::now_utc());
    if class == "CONSOLE_RESTARTED" {
        // The dead console's child may still run (outside systemd nothing
        // killed its group): end it before saying how the run ended.
        kill_leftovers(id);
    }
    let rec = st.runs.record(id);
    if class == "CONSOLE_RESTARTED" {
        // Read like every run file (private-path rule, capped): a child of
        // the console's uid could have planted anything in a run directory.
        let params: Value = st.runs.read_params(id).unwrap_or(Value::Null);
        let (request_id, action) =
            rec.as_ref().map_or((String::new(), String::new()), |r| (r.request_id.clone(), r.action.clone()));
        // A result already final (only its finish record failed): its exit code.
        let exit = rec.as_ref().filter(|r| r.status != RunStatus::Running).and_then(|r| r.exit_code).unwrap_or(-1);
        let facts = Facts {
            request_id: &request_id,
            action: &action,
            params: &params,
            origin: None,
            lock: "none",
            run_id: Some(id),
            error_class: Some(class),
        };
        // The actor is the console itself; who asked is in the start record.
        st.audit.append_blocking(Kind::Finish, "console", &facts, exit, 0).map_err(io::Error::other)?;
        // Recorded: from here on this run is only a result to write, never
        // a second record.
        let recorded = marker.with_file_name(FINISH_RECORDED);
        std::fs::rename(marker, &recorded)?;
        return write_final(st, rec, class, now).and_then(|()| std::fs::remove_file(recorded));
    }
    write_final(st, rec, class, now).and_then(|()| std::fs::remove_file(marker))
}

fn write_final(st: &AppState, mut rec: Option<RunRecord>, class: &str, now: String) -> io::Result<()> {
    if let Some(r) = rec.as_mut().filter(|r| r.status == RunStatus::Running) {
        r.finished_at = Some(now);
        if class == "CONSOLE_RESTARTED" {
            r.status = RunStatus::Interrupted;
            r.exit_code = Some(-1);
            r.error = Some("the console stopped before this run ended (CONSOLE_RESTARTED)".into());
        } else {
            r.status = RunStatus::Error;
            r.error = Some(
                "the final result could not be written (RESULT_UNWRITABLE); its console.finish record holds the outcome"
                    .into(),
            );
        }
        st.runs.write_record(r)?;
    }
    Ok(())
}
