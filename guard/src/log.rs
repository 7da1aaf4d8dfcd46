//! The guard log (`/var/log/openclaw_guard.log` as root): one line per
//! event, each with its own RFC 3339 timestamp, carrying the tokens
//! operators grep (`RESULT: PASS`, `RESULT: FAIL`, `SKIP REMEDIATION`, …;
//! docs/guard.md lists them all). Untrusted text (check summaries, tool
//! stderr) is escaped, so one event is always one line.
//!
//! The file is opened for appending without following a link and judged on
//! the open descriptor with the private-path rule (0600, owner root or the
//! caller). Its directory is created 0700 only when missing; an existing
//! one such as `/var/log` is left as it is. A dry run writes no file.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use common::output::sanitize;
use common::private_path::{self, Class, OpenSpec};

/// Every token the guard writes, as it appears in the log.
pub(crate) mod token {
    pub(crate) const RUN: &str = "--- guard run";
    pub(crate) const PASS: &str = "RESULT: PASS";
    pub(crate) const FAIL: &str = "RESULT: FAIL";
    pub(crate) const ERROR: &str = "RESULT: ERROR";
    pub(crate) const SKIP: &str = "SKIP REMEDIATION";
    pub(crate) const NOTIFY_ONLY: &str = "NOTIFY ONLY";
    pub(crate) const INTERLOCK_OPEN: &str = "INTERLOCK OPEN";
    pub(crate) const INTERLOCK_CLOSED: &str = "INTERLOCK CLOSED";
    pub(crate) const STILL_FAILING: &str = "STILL FAILING";
    pub(crate) const NOTIFIED: &str = "NOTIFIED";
    pub(crate) const NOTIFY_FAILED: &str = "NOTIFY FAILED";
    pub(crate) const REMEDIATING: &str = "REMEDIATING";
    pub(crate) const WOULD_REMEDIATE: &str = "WOULD REMEDIATE";
    pub(crate) const APPLIED: &str = "REMEDIATION APPLIED";
    pub(crate) const FAILED: &str = "REMEDIATION FAILED";
    pub(crate) const PASS_AFTER: &str = "RESULT: PASS after remediation";
    pub(crate) const ROLLED_BACK: &str = "ROLLED BACK";
    pub(crate) const ROLLBACK_FAILED: &str = "ROLLBACK FAILED";
    pub(crate) const CONFIRMED: &str = "CONFIRMED";
    pub(crate) const AWAITING: &str = "AWAITING TAILNET PROOF";
}

/// The log of one tick: the file (none in a dry run) and the lines written,
/// which the human output repeats.
pub(crate) struct GuardLog {
    file: Option<(File, PathBuf)>,
    lines: Vec<String>,
}

impl GuardLog {
    /// Opens `path` for appending (created 0600 when absent).
    pub(crate) fn open(path: &Path) -> Result<GuardLog, String> {
        if let Some(dir) = path.parent()
            && std::fs::symlink_metadata(dir).is_err()
        {
            common::artifacts::create_private_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let spec = OpenSpec { class: Class::Private, max_file_mode: None, append: true };
        let file = private_path::open_file(path, spec)
            .map_err(|e| format!("guard log: {e}"))?
            .ok_or_else(|| format!("guard log {}: not created", path.display()))?;
        // A second name for the file (a hard link someone made to another
        // root-owned file) would have us append to that file too.
        let links = std::os::unix::fs::MetadataExt::nlink(&file.metadata().map_err(|e| format!("guard log: {e}"))?);
        if links != 1 {
            return Err(format!(
                "guard log {}: refusing a file with {links} names (a hard link); fix: remove it, the next tick creates it",
                path.display()
            ));
        }
        Ok(GuardLog { file: Some((file, path.to_owned())), lines: Vec::new() })
    }

    /// A log that only collects lines (dry run).
    pub(crate) fn dry() -> GuardLog {
        GuardLog { file: None, lines: Vec::new() }
    }

    /// Appends `[<now>] <escaped message>`; a failed write is an error.
    pub(crate) fn line(&mut self, msg: &str) -> Result<(), String> {
        let text = sanitize(msg).into_owned();
        if let Some((file, path)) = &mut self.file {
            let stamp = common::time_fmt::rfc3339(common::time_fmt::now_utc());
            file.write_all(format!("[{stamp}] {text}\n").as_bytes())
                .and_then(|()| file.sync_data())
                .map_err(|e| format!("guard log {}: {e}", path.display()))?;
        }
        self.lines.push(text);
        Ok(())
    }

    /// The lines written so far (escaped, without timestamps).
    pub(crate) fn lines(&self) -> &[String] {
        &self.lines
    }
}
