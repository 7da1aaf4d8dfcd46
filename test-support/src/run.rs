//! One finished command as a test sees it, and the two ways to run one:
//! plainly, or with stdin piped in while every argv is watched.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::canary::ArgvWatch;

/// A finished command: exit code (`-1` when killed by a signal), output as
/// lossy UTF-8, and the argv lines a watch saw (empty when not watched).
#[derive(Debug)]
pub struct Run {
    /// The exit code, `-1` when the process was killed by a signal.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Command lines of any process that contained a watched value while it ran.
    pub argv_hits: Vec<String>,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            argv_hits: Vec::new(),
        }
    }
}

impl Run {
    /// stdout parsed as JSON; panics with both streams when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\nstderr:\n{}", self.stdout, self.stderr))
    }

    /// Asserts `canary` is on neither stdout nor stderr and was in no
    /// watched argv; `what` names the step in the failure.
    pub fn assert_no_leak(&self, canary: &str, what: &str) {
        assert!(!self.stdout.contains(canary), "{what}: canary on stdout: {}", self.stdout);
        assert!(!self.stderr.contains(canary), "{what}: canary on stderr: {}", self.stderr);
        let in_argv: Vec<&String> = self.argv_hits.iter().filter(|h| h.contains(canary)).collect();
        assert!(in_argv.is_empty(), "{what}: canary in argv: {in_argv:?}");
    }
}

/// Runs `cmd` to completion, capturing stdout and stderr.
pub fn run(cmd: &mut Command) -> Run {
    Run::from(cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).output().unwrap())
}

/// Runs `cmd` with `stdin` piped in, sampling every process's argv for
/// `watch` from before it starts until it has exited.
pub fn run_watched(cmd: &mut Command, stdin: &str, watch: &str) -> Run {
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let watcher = ArgvWatch::start(&[watch]);
    let mut child = cmd.spawn().unwrap();
    // The command may refuse before reading stdin (bad usage): a closed pipe is fine.
    if let Err(e) = child.stdin.take().unwrap().write_all(stdin.as_bytes()) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    let out = child.wait_with_output().unwrap();
    let argv_hits = watcher.stop();
    Run { argv_hits, ..Run::from(out) }
}
