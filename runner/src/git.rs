//! Every git call the runner makes goes through here: an absolute program
//! from a fixed PATH, a cleared environment (no runner variable, no user
//! or system config, no askpass, only the transports a URL in the
//! allowlist may use), no hook, fsmonitor, attribute file or replace
//! object, and a hard timeout. Arguments are passed as argv, and every
//! caller puts `--` or `--end-of-options` before a value.

use std::ffi::OsStr;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Most output kept from one git call.
const MAX_OUTPUT: u64 = 4 * 1024 * 1024;

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

/// Runs `git <hardening> <args>` in `dir` and returns its output, whatever
/// its exit code.
pub fn run_any(dir: &Path, args: &[&OsStr], timeout: Duration) -> Result<GitOutput, GitError> {
    let what = args.first().map(|a| a.to_string_lossy().into_owned()).unwrap_or_default();
    let io = |source| GitError::Io { what: what.clone(), source };
    let mut cmd = Command::new("/usr/bin/env");
    // `env` with an absolute PATH finds git where the host installed it
    // (/usr/bin or /usr/local/bin) without the runner's PATH.
    cmd.arg("git")
        .args([
            "--no-replace-objects",
            "--no-pager",
            "-c",
            "core.hooksPath=/dev/null",
            "-c",
            "core.fsmonitor=false",
            "-c",
            "core.attributesFile=/dev/null",
            "-c",
            "protocol.ext.allow=never",
            "-c",
            "core.quotepath=off",
        ])
        .args(args)
        .env_clear()
        .env("PATH", common::process::CHILD_PATH)
        .env("LC_ALL", "C")
        .env("HOME", "/nonexistent")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_NO_REPLACE_OBJECTS", "1")
        .env("GIT_ATTR_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ALLOW_PROTOCOL", "file:https:ssh")
        .env("GIT_SSH_VARIANT", "ssh")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let started = Instant::now();
    let mut child = cmd.spawn().map_err(io)?;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(p) = pipe {
                let _ = p.take(MAX_OUTPUT).read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let err = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let status = loop {
        if let Some(s) = child.try_wait().map_err(io)? {
            break s;
        }
        if started.elapsed() >= timeout {
            let pid = rustix::process::Pid::from_child(&child);
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            let _ = child.kill();
            let _ = child.wait();
            return Err(GitError::TimedOut { what, secs: timeout.as_secs() });
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    // Whatever git left in its group (a credential helper, ssh) goes with it.
    let _ =
        rustix::process::kill_process_group(rustix::process::Pid::from_child(&child), rustix::process::Signal::KILL);
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    Ok(GitOutput { code: status.code().unwrap_or(-1), stdout, stderr })
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
