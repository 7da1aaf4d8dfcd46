//! A hermetic keyctl environment: temp secrets/state/audit paths, a cleared
//! environment, and a watcher that samples every process's argv while the
//! command runs.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub(crate) const KEYCTL: &str = env!("CARGO_BIN_EXE_openclaw-keyctl");
pub(crate) const CANARY: &str = "sk-canaryQ7xWv9LmT2pRz8NcB4hJk6Dy";

pub(crate) struct Host {
    pub(crate) tmp: tempfile::TempDir,
}

/// Prints why a test is skipped; only for a missing prerequisite.
#[expect(clippy::print_stderr, reason = "a skipped test must say why in the test output")]
pub(crate) fn skip(reason: &str) {
    eprintln!("SKIPPED: {reason}");
}

pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    /// argv lines of any process that contained a watched value while this ran.
    pub(crate) argv_hits: Vec<String>,
}

impl Host {
    pub(crate) fn new() -> Host {
        Host { tmp: tempfile::tempdir().unwrap() }
    }

    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    pub(crate) fn command(&self) -> Command {
        self.command_for(KEYCTL)
    }

    /// `program` with keyctl's hermetic environment (for wrappers such as `script`).
    pub(crate) fn command_for(&self, program: &str) -> Command {
        let config = self.path("openclaw.toml");
        if !config.exists() {
            std::fs::write(&config, "").unwrap();
        }
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", self.tmp.path())
            .env("OPENCLAW_CONFIG", config)
            .env("OPENCLAW_SECRETS_DIR", self.path("secrets"))
            .env("OPENCLAW_STATE_DIR", self.path("state"))
            .env("OPENCLAW_AUDIT_LOG", self.path("audit/audit.jsonl"))
            .env("OPENCLAW_ARTIFACTS_ROOT", self.path("artifacts"))
            .current_dir(self.tmp.path());
        cmd
    }

    /// Runs keyctl with `stdin` piped in, watching all argv for `watch`.
    pub(crate) fn run_with(&self, args: &[&str], stdin: &str, env: &[(&str, &str)], watch: &str) -> Run {
        let mut cmd = self.command();
        cmd.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let done = Arc::new(AtomicBool::new(false));
        let watcher = {
            let (done, watch) = (Arc::clone(&done), watch.to_owned());
            std::thread::spawn(move || {
                let mut hits = Vec::new();
                while !done.load(Ordering::Relaxed) {
                    for e in std::fs::read_dir("/proc").unwrap().flatten() {
                        if let Ok(c) = std::fs::read(e.path().join("cmdline"))
                            && String::from_utf8_lossy(&c).contains(&watch)
                        {
                            hits.push(String::from_utf8_lossy(&c).replace('\0', " "));
                        }
                    }
                }
                hits
            })
        };
        let mut child = cmd.spawn().unwrap();
        // keyctl may refuse before reading stdin (bad usage): a closed pipe is fine.
        if let Err(e) = child.stdin.take().unwrap().write_all(stdin.as_bytes()) {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
        }
        let out = child.wait_with_output().unwrap();
        done.store(true, Ordering::Relaxed);
        let argv_hits = watcher.join().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            argv_hits,
        }
    }

    pub(crate) fn run(&self, args: &[&str], stdin: &str) -> Run {
        self.run_with(args, stdin, &[], CANARY)
    }

    /// Every byte keyctl left on disk (state, audit log, artifacts), excluding the secrets themselves.
    pub(crate) fn persisted_text(&self) -> String {
        let mut res = String::new();
        for dir in ["state", "audit", "artifacts"] {
            collect(&self.path(dir), &mut res);
        }
        res
    }
}

fn collect(dir: &Path, out: &mut String) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else if let Ok(b) = std::fs::read(&p) {
            out.push_str(&String::from_utf8_lossy(&b));
        }
    }
}

impl Run {
    /// The canary is in none of stdout, stderr or any process's argv.
    pub(crate) fn assert_no_leak(&self, what: &str) {
        assert!(!self.stdout.contains(CANARY), "{what}: canary on stdout: {}", self.stdout);
        assert!(!self.stderr.contains(CANARY), "{what}: canary on stderr: {}", self.stderr);
        assert!(self.argv_hits.is_empty(), "{what}: canary in argv: {:?}", self.argv_hits);
    }
}
