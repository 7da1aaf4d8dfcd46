//! A hermetic environment for one doctor run: every path the doctor touches
//! lives in a temp dir, the environment is cleared, and PATH holds only
//! stubs plus the few utilities the stubs themselves need, so a tool that
//! is not stubbed is genuinely "not installed".

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub(crate) const DOCTOR: &str = env!("CARGO_BIN_EXE_openclaw-doctor");

pub(crate) struct Host {
    pub(crate) tmp: tempfile::TempDir,
    config: String,
}

pub(crate) fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

pub(crate) fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Prints why a test is skipped; only for a missing prerequisite (root, a package).
#[expect(clippy::print_stderr, reason = "a skipped test must say why in the test output")]
pub(crate) fn skip(reason: &str) {
    eprintln!("SKIPPED: {reason}");
}

impl Host {
    pub(crate) fn new() -> Host {
        let tmp = tempfile::tempdir().unwrap();
        let bin = tmp.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        for tool in ["sh", "cat", "sleep", "printf", "sed"] {
            let real = ["/bin", "/usr/bin"].iter().map(|d| Path::new(d).join(tool)).find(|p| p.exists()).unwrap();
            std::os::unix::fs::symlink(real, bin.join(tool)).unwrap();
        }
        // Quiet defaults: no health endpoints, no tracked units, logs in the temp dir.
        let config = format!(
            "[doctor]\nhttp_health = []\ntracked_units = []\nlog_dir = \"{}\"\ndisk_paths = [\"{}\"]\n",
            tmp.path().join("logs").display(),
            tmp.path().display()
        );
        Host { tmp, config }
    }

    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    /// Replaces the config file's text.
    pub(crate) fn config(&mut self, text: &str) -> &mut Host {
        self.config = text.to_owned();
        self
    }

    /// A stub tool: a shell script body (`$@` are its arguments).
    pub(crate) fn stub(&self, name: &str, script: &str) -> &Host {
        let path = self.path("bin").join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        self
    }

    /// A stub that prints a recorded fixture and exits with `code`.
    pub(crate) fn stub_fixture(&self, name: &str, fixture_name: &str, code: i32) -> &Host {
        self.stub(name, &format!("cat '{}'\nexit {code}", fixture(fixture_name).display()))
    }

    pub(crate) fn command(&self) -> Command {
        self.command_via(&[])
    }

    /// The doctor started through a wrapper such as `setpriv …`.
    pub(crate) fn command_via(&self, wrapper: &[&str]) -> Command {
        let cfg = self.path("openclaw.toml");
        std::fs::write(&cfg, &self.config).unwrap();
        let mut cmd = match wrapper.split_first() {
            None => Command::new(DOCTOR),
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(DOCTOR);
                c
            }
        };
        cmd.env_clear()
            .env("PATH", self.path("bin"))
            .env("HOME", self.tmp.path())
            .env("OPENCLAW_CONFIG", &cfg)
            .env("OPENCLAW_STATE_DIR", self.path("state"))
            .env("OPENCLAW_ARTIFACTS_ROOT", self.path("artifacts"))
            .env("OPENCLAW_AUDIT_LOG", self.path("audit/audit.jsonl"))
            .env("OPENCLAW_SECRETS_DIR", self.path("secrets"))
            .env("OPENCLAW_RUN_DIR", self.path("run"))
            .env("OPENCLAW_GUARD_LOG", self.path("guard.log"))
            .current_dir(self.tmp.path());
        cmd
    }

    /// Runs the doctor as uid/gid 65534 (root only); `None` without setpriv.
    pub(crate) fn run_as_nobody(&self, args: &[&str]) -> Option<Run> {
        use std::os::unix::fs::PermissionsExt;
        let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"].into_iter().find(|p| Path::new(p).exists())?;
        std::fs::set_permissions(self.tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let out = self
            .command_via(&[setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .args(args)
            .output()
            .unwrap();
        Some(Run::from(out))
    }

    pub(crate) fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command().args(args).output().unwrap())
    }

    /// Runs `--only ID --format json --no-artifacts` and returns that check's entry.
    pub(crate) fn check(&self, id: &str) -> (Run, serde_json::Value) {
        let run = self.run(&["--only", id, "--format", "json", "--no-artifacts"]);
        let check = run.json()["checks"][0].clone();
        assert_eq!(check["id"], id, "{}", run.stderr);
        (run, check)
    }
}

pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\nstderr:\n{}", self.stdout, self.stderr))
    }
}

/// The status string of a check entry.
pub(crate) fn status(check: &serde_json::Value) -> &str {
    check["status"].as_str().unwrap_or("?")
}
