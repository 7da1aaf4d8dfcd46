//! Alerts through `openclaw-notify send` (its CLI is the interface; no
//! secret is involved on this side: the notifier resolves its own keys).
//! A notifier that is missing, fails or hangs is reported to the caller,
//! which logs it; it never changes the tick's outcome.

use std::path::Path;
use std::time::Duration;

use common::process;
use serde::Serialize;

use crate::plan::Notice;
use common::locate::Located;

/// What became of an alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum NotifyOutcome {
    /// Nothing to send (or a dry run).
    NotSent,
    /// The notifier accepted it (sent, rate-limited or queued: its exit 0).
    Accepted,
    /// It could not be handed over; the text says why.
    Failed {
        /// Why (may quote the notifier's stderr: escape it).
        why: String,
    },
}

/// The notifier's arguments for `notice`.
pub(crate) fn args(notice: &Notice) -> Vec<String> {
    let mut a: Vec<String> =
        ["send", "--check-id", notice.check_id(), "--title", "OpenClaw Guard"].map(String::from).to_vec();
    let (priority, message) = match notice {
        Notice::DoctorFail { message } => (Some("high"), message.clone()),
        Notice::Resolved => (None, "doctor passes again".to_owned()),
        Notice::RemediationFailed { message }
        | Notice::RolledBack { message }
        | Notice::BudgetExhausted { message } => (Some("emergency"), message.clone()),
        Notice::AwaitingTailnet { message } => (Some("high"), message.clone()),
    };
    match priority {
        Some(p) => a.extend(["--priority".into(), p.into()]),
        None => a.push("--resolved".into()),
    }
    a.extend(["--".into(), message]);
    a
}

/// Sends `notice` with the located notifier under `timeout`.
pub(crate) fn send(notifier: &Located, notice: &Notice, timeout: Duration) -> NotifyOutcome {
    let args = args(notice);
    let bin: &Path = match notifier {
        Located::Found(p) => p,
        Located::Missing(why) => return NotifyOutcome::Failed { why: why.clone() },
    };
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    match process::run(&bin.to_string_lossy(), &argv, timeout) {
        Ok(out) if out.status.success() => NotifyOutcome::Accepted,
        Ok(out) => NotifyOutcome::Failed {
            why: format!("openclaw-notify exited {}: {}", out.status.code().unwrap_or(-1), out.stderr_line()),
        },
        Err(e) => NotifyOutcome::Failed { why: e.to_string() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_starting_with_a_dash_stays_the_message() {
        let a = args(&Notice::DoctorFail { message: "--resolved".into() });
        assert_eq!(a[a.len() - 2..], ["--".to_owned(), "--resolved".to_owned()]);
        assert!(a.contains(&"high".to_owned()));
        assert!(args(&Notice::Resolved).contains(&"--resolved".to_owned()));
        let a = args(&Notice::RolledBack { message: "m".into() });
        assert_eq!(a[..3], ["send".to_owned(), "--check-id".into(), "guard.rolled_back".into()]);
        assert!(a.contains(&"emergency".to_owned()));
    }
}
