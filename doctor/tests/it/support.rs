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

/// The host name the doctor reports (it reads the same file).
pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map_or_else(|_| "unknown".into(), |h| h.trim().to_owned())
}

impl Host {
    /// `text` with this host's temp dir written as `[TMP]`, for snapshots.
    pub(crate) fn scrub(&self, text: &str) -> String {
        text.replace(&self.tmp.path().display().to_string(), "[TMP]")
    }
}

/// Snapshot redactions that check a volatile value's shape before hiding it,
/// so a redacted field that disappears or changes type still fails.
pub(crate) mod redact {
    use insta::internals::{Content, Redaction};

    /// This crate's version (it churns on every release, the snapshot must not).
    pub(crate) fn version() -> Redaction {
        insta::dynamic_redaction(|c: Content, _| {
            assert_eq!(c.as_str(), Some(env!("CARGO_PKG_VERSION")), "tool_version");
            "[version]"
        })
    }

    /// An RFC 3339 UTC time.
    pub(crate) fn timestamp() -> Redaction {
        insta::dynamic_redaction(|c: Content, path| {
            let text = c.as_str().unwrap_or_else(|| panic!("{path} is not a string: {c:?}"));
            assert!(common::time_fmt::parse_rfc3339(text).is_some() && text.ends_with('Z'), "{path}: {text}");
            "[timestamp]"
        })
    }

    /// A duration in whole milliseconds.
    pub(crate) fn millis() -> Redaction {
        insta::dynamic_redaction(|c: Content, path| {
            assert!(c.as_u64().is_some(), "{path} is not a whole number of ms: {c:?}");
            "[ms]"
        })
    }

    /// Exactly this string (the host name).
    pub(crate) fn exactly(expected: String, shown: &'static str) -> Redaction {
        insta::dynamic_redaction(move |c: Content, path| {
            assert_eq!(c.as_str(), Some(expected.as_str()), "{path}");
            shown
        })
    }

    /// A hex SHA-256 digest.
    pub(crate) fn sha256() -> Redaction {
        insta::dynamic_redaction(|c: Content, path| {
            let text = c.as_str().unwrap_or_else(|| panic!("{path} is not a string: {c:?}"));
            assert!(text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()), "{path}: {text}");
            "[sha256]"
        })
    }

    /// Every run of digits right before " ms" in human text becomes `[ms]`.
    pub(crate) fn human_millis(text: &str) -> String {
        let mut res = String::with_capacity(text.len());
        let mut digits = String::new();
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            if c.is_ascii_digit() {
                digits.push(c);
            } else {
                if !digits.is_empty() {
                    res.push_str(if rest.starts_with(" ms") { "[ms]" } else { &digits });
                    digits.clear();
                }
                res.push(c);
            }
            rest = &rest[c.len_utf8()..];
        }
        res.push_str(&digits);
        res
    }
}
