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
        let host = test_support::TempHost::new();
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
