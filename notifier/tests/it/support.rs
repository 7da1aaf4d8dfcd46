//! The notifier's side of the hermetic host: a `test_support::TempHost`
//! with canary keys in 0600 files and a fake Pushover on loopback that
//! every command is pointed at.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

pub(crate) use test_support::{Run, is_root, skip};

use crate::fake::Fake;

pub(crate) const NOTIFY: &str = env!("CARGO_BIN_EXE_openclaw-notify");
/// Canary keys: valid in shape (30 letters and digits), unique enough to grep for.
pub(crate) const TOKEN: &str = "aCanaryTok3nQ7xWv9LmT2pRz8NcB4";
pub(crate) const USER: &str = "uCanaryUs3rK5jHg7FdS1aQw9ErTy2";

pub(crate) struct Host {
    host: test_support::TempHost,
    pub(crate) fake: Fake,
}

/// Paths, the temp dir and file scanning are the shared harness's.
impl std::ops::Deref for Host {
    type Target = test_support::TempHost;
    fn deref(&self) -> &test_support::TempHost {
        &self.host
    }
}

impl Host {
    pub(crate) fn new() -> Host {
        Host::new_in(&std::env::temp_dir())
    }

    /// [`Host::new`] in a fresh directory under `parent` (a small disk).
    pub(crate) fn new_in(parent: &std::path::Path) -> Host {
        let host = test_support::TempHost::new_in(parent);
        let secrets = host.path("secrets");
        std::fs::create_dir(&secrets).unwrap();
        std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o700)).unwrap();
        for (name, value) in [("pushover_app_token", TOKEN), ("pushover_user_key", USER)] {
            let p = secrets.join(name);
            std::fs::write(&p, format!("{value}\n")).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        Host { fake: Fake::start(TOKEN, USER), host }
    }

    /// The notifier with a hermetic environment, pointed at the fake.
    pub(crate) fn command(&self) -> Command {
        self.command_for(NOTIFY)
    }

    /// `program` (e.g. the ops wrapper) with the notifier's hermetic environment.
    pub(crate) fn command_for(&self, program: &str) -> Command {
        let mut cmd = self.host.command(program);
        cmd.env("OPENCLAW_NOTIFY_API_BASE", &self.fake.base).stdin(Stdio::null());
        cmd
    }

    pub(crate) fn run(&self, args: &[&str]) -> Run {
        self.run_cmd(self.command().args(args))
    }

    pub(crate) fn run_cmd(&self, cmd: &mut Command) -> Run {
        test_support::run(cmd)
    }

    /// `send --format json --check-id ID [extra...] MESSAGE`.
    pub(crate) fn send(&self, id: &str, extra: &[&str], message: &str) -> Run {
        let mut args = vec!["send", "--format", "json", "--check-id", id];
        args.extend_from_slice(extra);
        args.push(message);
        self.run(&args)
    }

    /// Audit records as JSON values.
    pub(crate) fn audit_records(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.path("audit/audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// Unix time now.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

impl Host {
    /// `text` with the volatile parts written as placeholders, for snapshots:
    /// the temp dir as `[TMP]`, the fake's address as `[api]`, and every
    /// RFC 3339 time within a day of now as `[timestamp]` (a far-off time,
    /// such as the fake's quota reset, stays as it is).
    pub(crate) fn scrub(&self, text: &str) -> String {
        let text = text.replace(&self.root().display().to_string(), "[TMP]").replace(&self.fake.base, "[api]");
        let mut res = String::with_capacity(text.len());
        let mut rest = text.as_str();
        // `common::time_fmt::rfc3339`: whole seconds, UTC, `YYYY-MM-DDTHH:MM:SSZ`.
        while let Some(i) = rest.find('T') {
            let start = i.checked_sub(10);
            let stamp = start
                .and_then(|s| rest.get(s..s + 20))
                .filter(|c| c.ends_with('Z'))
                .and_then(common::time_fmt::parse_rfc3339)
                .filter(|t| (t.unix_timestamp() - now()).abs() < 86_400);
            match (start, stamp) {
                (Some(start), Some(_)) => {
                    res.push_str(&rest[..start]);
                    res.push_str("[timestamp]");
                    rest = &rest[start + 20..];
                }
                _ => {
                    res.push_str(&rest[..=i]);
                    rest = &rest[i + 1..];
                }
            }
        }
        res.push_str(rest);
        res
    }

    /// A JSON document from stdout, scrubbed (see [`Host::scrub`]).
    pub(crate) fn scrubbed_json(&self, run: &Run) -> serde_json::Value {
        serde_json::from_str(&self.scrub(&run.stdout))
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", run.stdout, run.stderr))
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

    /// A request id the fake counts up across the test process (`fake-NNNNNNNN`);
    /// the fixed ids of scripted answers (`e-1`, `q-1`) and a null stay as they are.
    pub(crate) fn request() -> Redaction {
        insta::dynamic_redaction(|c: Content, path| {
            let Some(text) = c.as_str().map(str::to_owned) else {
                assert!(matches!(c.resolve_inner(), Content::None | Content::Unit), "{path}: {c:?}");
                return c;
            };
            match text.strip_prefix("fake-") {
                Some(n) => {
                    assert!(n.len() == 8 && n.bytes().all(|b| b.is_ascii_digit()), "{path}: {text}");
                    Content::from("[request]")
                }
                None => c,
            }
        })
    }

    /// Unix seconds as a string (the `timestamp` field sent to Pushover), within a minute of now.
    pub(crate) fn unix_time() -> Redaction {
        insta::dynamic_redaction(|c: Content, path| {
            let secs: i64 = c.as_str().and_then(|t| t.parse().ok()).unwrap_or_else(|| panic!("{path}: {c:?}"));
            assert!((secs - super::now()).abs() < 60, "{path}: {secs}");
            "[unix time]"
        })
    }

    /// An outbox file name, `<unix secs:020>-<nanos:09>-<pid>.json`, after `prefix`.
    pub(crate) fn outbox_entry(prefix: &'static str) -> Redaction {
        insta::dynamic_redaction(move |c: Content, path| {
            let text = c.as_str().unwrap_or_else(|| panic!("{path} is not a string: {c:?}"));
            let name = text.strip_prefix(prefix).unwrap_or_else(|| panic!("{path}: {text} not under {prefix}"));
            let parts: Vec<&str> = name.strip_suffix(".json").unwrap_or_default().split('-').collect();
            assert!(
                parts.len() == 3
                    && parts[..2].iter().zip([20, 9]).all(|(p, n)| p.len() == n)
                    && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())),
                "{path}: {text}"
            );
            format!("{prefix}[entry].json")
        })
    }
}
