//! Running external commands with a hard timeout.
//!
//! A hung `tailscale status` must never hang a tool. Each command runs in its
//! own process group with stdin closed and `LC_ALL=C` (stable output to
//! parse); on timeout the whole group is killed and the caller gets
//! [`CmdError::TimedOut`] with the time waited. Output is capped so a
//! runaway command cannot exhaust memory.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The only `PATH` a child whose environment is cleared gets (a console
/// action, a runner job, the runner's git): fixed, never the caller's.
pub const CHILD_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The `LANG` a child whose environment is cleared gets: this process's
/// own when it is a plain locale name, else `C.UTF-8`.
pub fn child_lang() -> String {
    crate::paths::process_env("LANG")
        .filter(|l| {
            !l.is_empty() && l.len() < 64 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.@-".contains(&b))
        })
        .unwrap_or_else(|| "C.UTF-8".to_owned())
}

/// The real path of the first `program` on this process's `PATH` (what
/// [`run`] would start), links resolved; `None` when there is none.
pub fn on_path(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    let found = std::env::split_paths(&path).map(|d| d.join(program)).find(|c| c.is_file())?;
    std::fs::canonicalize(found).ok()
}

/// Most bytes kept from each of stdout and stderr.
pub const MAX_OUTPUT: usize = 8 * 1024 * 1024;

/// A finished command.
#[derive(Debug, Clone)]
pub struct CmdOutput {
    /// Exit status.
    pub status: ExitStatus,
    /// Captured stdout (at most [`MAX_OUTPUT`] bytes).
    pub stdout: Vec<u8>,
    /// Captured stderr (at most [`MAX_OUTPUT`] bytes).
    pub stderr: Vec<u8>,
}

impl CmdOutput {
    /// stdout as text, lossily.
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// The first non-empty line of stderr, for error messages.
    pub fn stderr_line(&self) -> String {
        String::from_utf8_lossy(&self.stderr).lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("").to_owned()
    }
}

/// Why a command produced no output to judge.
#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    /// The program is not installed (not on PATH).
    #[error("`{0}` is not installed")]
    NotFound(String),
    /// It ran past its timeout and was killed.
    #[error("`{program}` did not finish within {waited_ms} ms and was killed")]
    TimedOut {
        /// The program.
        program: String,
        /// How long we waited.
        waited_ms: u64,
    },
    /// It printed more than [`MAX_OUTPUT`], or its output did not arrive
    /// (a daemonised child kept the pipe open): partial output is not judged.
    #[error("`{program}`: output incomplete ({why})")]
    Incomplete {
        /// The program.
        program: String,
        /// What went wrong.
        why: &'static str,
    },
    /// It could not be started or waited for.
    #[error("`{program}`: {source}")]
    Io {
        /// The program.
        program: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Runs `program args…`, killing it (and its process group) after `timeout`.
pub fn run(program: &str, args: &[&str], timeout: Duration) -> Result<CmdOutput, CmdError> {
    run_opts(program, args, &RunOpts::default(), timeout)
}

/// How [`run_opts`] runs a command beyond its arguments.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOpts<'a> {
    /// Written to stdin, then closed (stdin is `/dev/null` otherwise): for
    /// data that must never be in argv, a message to verify, a request body.
    pub input: Option<&'a [u8]>,
    /// Variables set for the command.
    pub env: &'a [(&'a str, &'a str)],
    /// Variables the command must not inherit (a secret this process holds).
    pub env_remove: &'a [&'a str],
}

/// [`run`] with [`RunOpts`].
pub fn run_opts(program: &str, args: &[&str], opts: &RunOpts<'_>, timeout: Duration) -> Result<CmdOutput, CmdError> {
    let mut cmd = Command::new(program);
    for k in opts.env_remove {
        cmd.env_remove(k);
    }
    cmd.envs(opts.env.iter().copied()).args(args).env("LC_ALL", "C");
    run_command(program, cmd, opts.input, timeout)
}

/// Runs a command the caller built (its program, arguments, environment
/// and directory), with this module's supervision: its own process group,
/// `input` on stdin (`/dev/null` otherwise), output captured and capped,
/// and the whole group killed at `timeout`. `program` names it in errors.
pub fn run_command(
    program: &str,
    mut cmd: Command,
    input: Option<&[u8]>,
    timeout: Duration,
) -> Result<CmdOutput, CmdError> {
    let started = Instant::now();
    let io_err = |source| CmdError::Io { program: program.to_owned(), source };
    let input = input.map(<[u8]>::to_vec);
    let mut child = match cmd
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(CmdError::NotFound(program.to_owned())),
        Err(e) => return Err(io_err(e)),
    };
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        // A child that never reads must not block us: the write has its own thread,
        // and a closed pipe (the child exited) is not an error here.
        std::thread::spawn(move || {
            use std::io::Write;
            let _ = stdin.write_all(&input);
        });
    }
    let (tx, rx) = mpsc::channel();
    for (idx, pipe) in [
        child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>),
        child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .enumerate()
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(pipe) = pipe {
                // One byte past the cap tells truncation apart from an exact fit.
                let _ = pipe.take(MAX_OUTPUT as u64 + 1).read_to_end(&mut buf);
            }
            let _ = tx.send((idx, buf));
        });
    }
    drop(tx);
    let mut out = [Vec::new(), Vec::new()];
    let mut received = 0;
    let mut sleep = Duration::from_micros(200);
    let status = loop {
        if let Some(status) = child.try_wait().map_err(io_err)? {
            break status;
        }
        if started.elapsed() >= timeout {
            let pid = rustix::process::Pid::from_child(&child);
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            let _ = child.kill();
            let _ = child.wait();
            return Err(CmdError::TimedOut {
                program: program.to_owned(),
                waited_ms: started.elapsed().as_millis() as u64,
            });
        }
        let nap = sleep.min(timeout.saturating_sub(started.elapsed()));
        // The end of the child's output usually means it is exiting: wake on
        // that instead of sleeping through it, then look again soon.
        if received < 2 {
            if let Ok((idx, buf)) = rx.recv_timeout(nap) {
                out[idx] = buf;
                received += 1;
                sleep = Duration::from_micros(50);
                continue;
            }
        } else {
            std::thread::sleep(nap);
        }
        sleep = (sleep * 2).min(Duration::from_millis(5));
    };
    // A daemonised grandchild could hold the pipes open: wait for them only briefly.
    let pipe_deadline = Instant::now() + Duration::from_millis(200).max(timeout.saturating_sub(started.elapsed()));
    for _ in received..2 {
        match rx.recv_timeout(pipe_deadline.saturating_duration_since(Instant::now())) {
            Ok((idx, buf)) => out[idx] = buf,
            Err(_) => {
                return Err(CmdError::Incomplete { program: program.to_owned(), why: "a child kept its output open" });
            }
        }
    }
    if out.iter().any(|b| b.len() > MAX_OUTPUT) {
        return Err(CmdError::Incomplete { program: program.to_owned(), why: "more than 8 MiB of output" });
    }
    let [stdout, stderr] = out;
    Ok(CmdOutput { status, stdout, stderr })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_path_gives_the_real_path_of_the_first_match_or_none() {
        let sh = on_path("sh").expect("sh on PATH");
        assert!(sh.is_absolute() && std::fs::symlink_metadata(&sh).unwrap().is_file(), "{}", sh.display());
        assert_eq!(on_path("openclaw-no-such-program"), None);
    }

    #[test]
    fn captures_output_and_status() {
        let out = run("sh", &["-c", "echo out; echo err >&2; exit 3"], Duration::from_secs(5)).unwrap();
        assert_eq!(out.stdout_text(), "out\n");
        assert_eq!(out.stderr_line(), "err");
        assert_eq!(out.status.code(), Some(3));
    }

    #[test]
    fn runs_with_the_c_locale_and_no_stdin() {
        let out = run("sh", &["-c", "echo $LC_ALL; cat"], Duration::from_secs(5)).unwrap();
        assert_eq!(out.stdout_text(), "C\n");
    }

    #[test]
    fn a_hung_command_is_killed_with_its_children_at_the_timeout() {
        let started = Instant::now();
        let err = run("sh", &["-c", "sleep 30 & sleep 30"], Duration::from_millis(200)).unwrap_err();
        assert!(matches!(err, CmdError::TimedOut { waited_ms, .. } if waited_ms >= 200), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    }

    #[test]
    fn output_past_the_cap_or_held_open_is_incomplete_not_judged() {
        let err = run("sh", &["-c", "head -c 8388609 /dev/zero"], Duration::from_secs(10)).unwrap_err();
        assert!(matches!(err, CmdError::Incomplete { .. }), "{err}");
        let exact = run("sh", &["-c", "head -c 8388608 /dev/zero"], Duration::from_secs(10)).unwrap();
        assert_eq!(exact.stdout.len(), MAX_OUTPUT);
        let err = run("sh", &["-c", "sleep 5 & echo started"], Duration::from_millis(300)).unwrap_err();
        assert!(matches!(err, CmdError::Incomplete { .. }), "{err}");
    }

    fn with(input: &[u8]) -> RunOpts<'_> {
        RunOpts { input: Some(input), ..RunOpts::default() }
    }

    #[test]
    fn input_reaches_stdin_and_a_child_that_never_reads_does_not_hang_us() {
        let big = vec![b'x'; 1 << 20];
        let out = run_opts("wc", &["-c"], &with(&big), Duration::from_secs(5)).unwrap();
        assert_eq!(out.stdout_text().trim(), "1048576");
        let out = run_opts("sh", &["-c", "exit 0"], &with(&big), Duration::from_secs(5)).unwrap();
        assert!(out.status.success());
        assert!(matches!(
            run_opts("sleep", &["30"], &with(b"x"), Duration::from_millis(300)),
            Err(CmdError::TimedOut { .. })
        ));
    }

    #[test]
    fn a_removed_variable_never_reaches_the_child() {
        let opts =
            RunOpts { env: &[("SHOWN", "yes")], env_remove: &["PATH_SECRET_TEST", "HOME"], ..RunOpts::default() };
        let out = run_opts("/usr/bin/env", &[], &opts, Duration::from_secs(5)).unwrap();
        let text = out.stdout_text();
        assert!(text.contains("SHOWN=yes") && !text.lines().any(|l| l.starts_with("HOME=")), "{text}");
    }

    #[test]
    fn a_missing_program_is_not_found() {
        let err = run("openclaw-no-such-program", &[], Duration::from_secs(1)).unwrap_err();
        assert!(matches!(err, CmdError::NotFound(ref p) if p == "openclaw-no-such-program"), "{err}");
    }
}
