//! The alert of a run whose cleanup did not complete: `openclaw-notify
//! send --check-id runner.cleanup_failed --priority high` (the notifier's
//! CLI is the interface; it is found by `OPENCLAW_NOTIFY_BIN`, then beside
//! this program, then on PATH). Whatever becomes of the alert, the run
//! stays an `error`; its artifact says whether the alert was handed over.

use std::time::Duration;

use common::locate::Located;

/// The notifier's check id for a run whose directories stayed behind.
pub const CHECK_ID: &str = "runner.cleanup_failed";

/// Longest the notifier may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The notifier's arguments for a failed cleanup of run `job_id` of `job`.
pub fn args(job_id: &str, job: &str, why: &str) -> Vec<String> {
    let message = format!(
        "run {job_id} of job {job}: its directories could not be removed ({}); the next run removes them",
        common::output::sanitize(why)
    );
    ["send", "--check-id", CHECK_ID, "--title", "OpenClaw Runner", "--priority", "high", "--"]
        .map(String::from)
        .into_iter()
        .chain([message])
        .collect()
}

/// Sends the alert; `Ok(())` when the notifier took it (sent, limited or
/// queued), else why not.
pub fn send(job_id: &str, job: &str, why: &str) -> Result<(), String> {
    let own = std::env::current_exe().ok();
    let bin = match common::locate::locate(
        "openclaw-notify",
        "OPENCLAW_NOTIFY_BIN",
        &common::paths::process_env,
        own.as_deref(),
    ) {
        Located::Found(p) => p,
        Located::Missing(why) => return Err(why),
    };
    let args = args(job_id, job, why);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    match common::process::run(&bin.to_string_lossy(), &argv, TIMEOUT) {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(format!("openclaw-notify exited {}: {}", out.status.code().unwrap_or(-1), out.stderr_line())),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reason_stays_one_sanitized_argument_after_the_separator() {
        let a = args("ab12", "selftest", "--resolved\nEPERM \x1b[31m");
        assert_eq!(a[..3], ["send", "--check-id", CHECK_ID].map(String::from));
        let sep = a.iter().position(|x| x == "--").unwrap();
        assert_eq!(a.len(), sep + 2);
        assert!(
            a[sep + 1].starts_with("run ab12 of job selftest: ")
                && !a[sep + 1].contains('\x1b')
                && !a[sep + 1].contains('\n'),
            "{}",
            a[sep + 1]
        );
    }
}
