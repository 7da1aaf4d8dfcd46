//! Every git call the runner makes goes through here, under the shared
//! hardening profile (`common::git`): git from a fixed PATH, a cleared
//! environment (no runner variable, no user or system config, no askpass,
//! only the file, https and ssh transports), no hook, fsmonitor, attribute
//! file or replace object, and a hard timeout. Arguments are passed as argv, and every
//! caller puts `--` or `--end-of-options` before a value.

use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use common::process::CmdError;

/// Why git could not answer.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// git could not be started or waited for.
    #[error("git {what}: {source}")]
    Io {
        /// The subcommand.
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// It ran past its timeout and was killed.
    #[error("git {what} timed out after {secs} s")]
    TimedOut {
        /// The subcommand.
        what: String,
        /// The timeout.
        secs: u64,
    },
    /// It exited non-zero.
    #[error("git {what} failed: {stderr}")]
    Failed {
        /// The subcommand.
        what: String,
        /// Its exit code (-1 for a signal).
        code: i32,
        /// The first line of its stderr, escaped.
        stderr: String,
    },
}

/// A finished git call.
#[derive(Debug)]
pub struct GitOutput {
    /// The exit code, -1 for a signal.
    pub code: i32,
    /// Its stdout.
    pub stdout: Vec<u8>,
    /// Its stderr.
    pub stderr: Vec<u8>,
}

impl GitOutput {
    /// stdout as text, trimmed.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).trim().to_owned()
    }
}

fn first_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("").chars().take(300).collect::<String>();
    common::output::sanitize(&line).into_owned()
}

/// Runs `git <hardening> <args>` in `dir` (`common::git`'s profile, with
/// paths printed as they are) and returns its output, whatever its exit code.
pub fn run_any(dir: &Path, args: &[&OsStr], timeout: Duration) -> Result<GitOutput, GitError> {
    let what = args.first().map(|a| a.to_string_lossy().into_owned()).unwrap_or_default();
    let mut all: Vec<&OsStr> = vec![OsStr::new("-c"), OsStr::new("core.quotepath=off")];
    all.extend_from_slice(args);
    match common::git::run(dir, &all, None, timeout) {
        Ok(out) => Ok(GitOutput { code: out.status.code().unwrap_or(-1), stdout: out.stdout, stderr: out.stderr }),
        Err(CmdError::TimedOut { waited_ms, .. }) => Err(GitError::TimedOut { what, secs: waited_ms / 1000 }),
        Err(e) => Err(GitError::Io { what, source: std::io::Error::other(e.to_string()) }),
    }
}

/// [`run_any`], requiring exit 0.
pub fn run(dir: &Path, args: &[&OsStr], timeout: Duration) -> Result<GitOutput, GitError> {
    let out = run_any(dir, args, timeout)?;
    if out.code != 0 {
        let what = args.first().map(|a| a.to_string_lossy().into_owned()).unwrap_or_default();
        return Err(GitError::Failed { what, code: out.code, stderr: first_line(&out.stderr) });
    }
    Ok(out)
}

/// Shorthand for an argument list of mixed strings and paths.
#[macro_export]
macro_rules! gitargs {
    ($($a:expr),* $(,)?) => { &[$(::std::convert::AsRef::<::std::ffi::OsStr>::as_ref(&$a)),*] };
}
