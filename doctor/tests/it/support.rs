//! The doctor's side of the hermetic host: a `test_support::TempHost` whose
//! PATH holds only stubs plus the few utilities the stubs themselves need
//! (so a tool that is not stubbed is genuinely "not installed"), quiet config
//! defaults, and `check()` for one check's JSON entry.

use std::path::{Path, PathBuf};
use std::process::Command;

pub(crate) use test_support::{Run, is_root, skip};

pub(crate) const DOCTOR: &str = env!("CARGO_BIN_EXE_openclaw-doctor");

pub(crate) struct Host {
    host: test_support::TempHost,
    config: String,
}

/// The rest of the host (paths, the temp dir) is the shared harness's.
impl std::ops::Deref for Host {
    type Target = test_support::TempHost;
    fn deref(&self) -> &test_support::TempHost {
        &self.host
    }
}

pub(crate) fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

impl Host {
    pub(crate) fn new() -> Host {
        let host = test_support::TempHost::with_stub_path(&["sh", "cat", "sleep", "printf", "sed"]);
        // Quiet defaults: no health endpoints, no tracked units, logs in the temp dir.
        let config = format!(
            "[doctor]\nhttp_health = []\ntracked_units = []\nlog_dir = \"{}\"\ndisk_paths = [\"{}\"]\n",
            host.path("logs").display(),
            host.root().display()
        );
        Host { host, config }
    }

    /// The config file's text as it will be written.
    pub(crate) fn config_text(&self) -> String {
        self.config.clone()
    }

    /// Replaces the config file's text.
    pub(crate) fn config(&mut self, text: &str) -> &mut Host {
        self.config = text.to_owned();
        self
    }

    /// `rel` under the temp host.
    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.host.path(rel)
    }

    /// A stub tool: a shell script body (`$@` are its arguments).
    pub(crate) fn stub(&self, name: &str, script: &str) -> &Host {
        self.host.stub(name, script);
        self
    }

    /// `name` on the doctor's PATH as a symlink to the real `target`.
    pub(crate) fn link_tool(&self, name: &str, target: &str) -> &Host {
        std::os::unix::fs::symlink(target, self.host.bin_dir().join(name)).unwrap();
        self
    }

    /// A stub that prints a recorded fixture and exits with `code`.
    pub(crate) fn stub_fixture(&self, name: &str, fixture_name: &str, code: i32) -> &Host {
        self.host.stub_fixture(name, &fixture(fixture_name), code);
        self
    }

    pub(crate) fn command(&self) -> Command {
        self.command_via(&[])
    }

    /// The doctor started through a wrapper such as `setpriv …`.
    pub(crate) fn command_via(&self, wrapper: &[&str]) -> Command {
        self.host.write_config(&self.config);
        let mut cmd = match wrapper.split_first() {
            None => Command::new(DOCTOR),
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(DOCTOR);
                c
            }
        };
        self.host.hermetic(&mut cmd);
        cmd
    }

    /// Runs the doctor as uid/gid 65534 (root only); `None` without setpriv.
    pub(crate) fn run_as_nobody(&self, args: &[&str]) -> Option<Run> {
        use std::os::unix::fs::PermissionsExt;
        let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"].into_iter().find(|p| Path::new(p).exists())?;
        std::fs::set_permissions(self.root(), std::fs::Permissions::from_mode(0o755)).unwrap();
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
        text.replace(&self.root().display().to_string(), "[TMP]")
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
