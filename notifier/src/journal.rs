//! The delivery journal, `<state>/notifier/attempts.jsonl`:
//! one line when an attempt starts, written and synced *before* the request,
//! and one when its answer is known. Pushover has no idempotency key, so
//! delivery is at-least-once: a sender that dies after Pushover accepted a
//! message but before its outbox entry was removed leaves the entry for
//! `flush`, which sends it again. The journal makes that visible: the first
//! attempt has no answer (`unknown`), and the next attempt at the same entry
//! is marked `resend`. `openclaw-notify log` shows it. Best effort: a journal
//! that cannot be written is a warning, never a reason to hold an alert.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::lock::NamedLock;
use common::private_path::{self, Class, OpenSpec};
use serde::{Deserialize, Serialize};

use crate::state::Store;

/// The journal is cut back to its newest half past this size.
const MAX_BYTES: u64 = 1024 * 1024;

/// One journal line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Line {
    /// Unix time.
    pub(crate) ts: i64,
    /// The outbox entry's file name (the alert's identity).
    pub(crate) entry: String,
    /// The alert's check.
    pub(crate) check_id: String,
    /// `send` or `flush`.
    pub(crate) mode: String,
    /// The attempt's number within its run.
    pub(crate) attempt: u32,
    /// `started` (before the request) or `ended` (its answer is known).
    pub(crate) phase: String,
    /// For `ended`: `accepted`, `rejected`, `quota`, `transient`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) outcome: Option<String>,
    /// For `started`: an earlier attempt at this entry has no answer, so
    /// Pushover may already have delivered it.
    #[serde(default)]
    pub(crate) resend: bool,
}

fn path(store: &Store) -> PathBuf {
    store.dir().join("attempts.jsonl")
}

/// Every line, oldest first (unparsable lines are skipped).
pub(crate) fn read(store: &Store) -> Result<Vec<Line>, String> {
    let p = path(store);
    let bytes = match private_path::read_file(&p, OpenSpec::read(Class::Private), 2 * MAX_BYTES) {
        Ok(Some(b)) => b,
        Ok(None) => return Ok(Vec::new()),
        Err(e) => return Err(e.to_string()),
    };
    Ok(bytes.split(|b| *b == b'\n').filter_map(|l| serde_json::from_slice(l).ok()).collect())
}

/// Whether an attempt at `entry` started and never ended.
fn unanswered(lines: &[Line], entry: &str) -> bool {
    let mut open = 0i64;
    for l in lines.iter().filter(|l| l.entry == entry) {
        open += if l.phase == "started" { 1 } else { -1 };
    }
    open > 0
}

fn append(store: &Store, line: &Line) -> Result<(), String> {
    let _lock =
        NamedLock::acquire(&store.dir().join("locks"), "journal", Duration::from_secs(5)).map_err(|e| e.to_string())?;
    let p = path(store);
    if std::fs::symlink_metadata(&p).is_ok_and(|m| m.len() > MAX_BYTES) {
        let lines = read(store)?;
        let keep = &lines[lines.len() / 2..];
        let text: String = keep.iter().filter_map(|l| serde_json::to_string(l).ok()).map(|l| l + "\n").collect();
        common::artifacts::write_atomic(&p, text.as_bytes()).map_err(|e| e.to_string())?;
    }
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::CLOEXEC;
    let mut f = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(flags.bits() as i32)
        .open(&p)
        .map_err(|e| format!("{}: {e}", p.display()))?;
    let text = serde_json::to_string(line).map_err(|e| e.to_string())? + "\n";
    let before = f.metadata().map_err(|e| e.to_string())?.len();
    if let Err(e) = f.write_all(text.as_bytes()).and_then(|()| f.sync_data()) {
        let _ = f.set_len(before);
        return Err(format!("{}: {e}", p.display()));
    }
    Ok(())
}

fn entry_name(entry: &Path) -> String {
    entry.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Records, before the request, that an attempt at `entry` starts; returns
/// whether it is a resend of an attempt whose answer never came.
pub(crate) fn started(store: &Store, entry: &Path, check_id: &str, mode: &str, attempt: u32) -> Result<bool, String> {
    let name = entry_name(entry);
    let resend = unanswered(&read(store)?, &name);
    let line = Line {
        ts: crate::deliver::now(),
        entry: name,
        check_id: check_id.to_owned(),
        mode: mode.to_owned(),
        attempt,
        phase: "started".into(),
        outcome: None,
        resend,
    };
    append(store, &line).map(|()| resend)
}

/// Records the answer of the attempt that started last at `entry`.
pub(crate) fn ended(
    store: &Store,
    entry: &Path,
    check_id: &str,
    mode: &str,
    attempt: u32,
    outcome: &str,
) -> Result<(), String> {
    let line = Line {
        ts: crate::deliver::now(),
        entry: entry_name(entry),
        check_id: check_id.to_owned(),
        mode: mode.to_owned(),
        attempt,
        phase: "ended".into(),
        outcome: Some(outcome.to_owned()),
        resend: false,
    };
    append(store, &line)
}

/// One attempt for `openclaw-notify log`: its start, and its answer if any.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Attempt {
    /// When it started (Unix time).
    pub(crate) ts: i64,
    /// The outbox entry.
    pub(crate) entry: String,
    /// The check.
    pub(crate) check_id: String,
    /// `send` or `flush`.
    pub(crate) mode: String,
    /// Its number within its run.
    pub(crate) attempt: u32,
    /// The answer, or `unknown` when the sender died before it came (or it
    /// is still in flight).
    pub(crate) outcome: String,
    /// A resend of an attempt whose answer never came: a possible duplicate.
    pub(crate) resend: bool,
}

/// Pairs starts with their answers, oldest first.
pub(crate) fn attempts(lines: &[Line]) -> Vec<Attempt> {
    let mut out: Vec<Attempt> = Vec::new();
    for l in lines {
        if l.phase == "started" {
            out.push(Attempt {
                ts: l.ts,
                entry: l.entry.clone(),
                check_id: l.check_id.clone(),
                mode: l.mode.clone(),
                attempt: l.attempt,
                outcome: "unknown".into(),
                resend: l.resend,
            });
        } else if let Some(a) = out.iter_mut().rev().find(|a| a.entry == l.entry && a.outcome == "unknown") {
            a.outcome = l.outcome.clone().unwrap_or_else(|| "unknown".into());
        }
    }
    out
}
