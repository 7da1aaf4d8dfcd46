//! keyctl's side of the hermetic host: a `test_support::TempHost` with the
//! canary secret every test plants, and runs that pipe stdin in while every
//! process's argv is watched for it.

use std::process::Command;

pub(crate) use test_support::{Run, skip};

pub(crate) const KEYCTL: &str = env!("CARGO_BIN_EXE_openclaw-keyctl");
pub(crate) const CANARY: &str = "sk-canaryQ7xWv9LmT2pRz8NcB4hJk6Dy";

pub(crate) struct Host {
    host: test_support::TempHost,
}

/// Paths and the temp dir are the shared harness's.
impl std::ops::Deref for Host {
    type Target = test_support::TempHost;
    fn deref(&self) -> &test_support::TempHost {
        &self.host
    }
}

impl Host {
    pub(crate) fn new() -> Host {
        Host { host: test_support::TempHost::new() }
    }

    /// keyctl with the hermetic environment.
    pub(crate) fn command(&self) -> Command {
        self.host.command(KEYCTL)
    }

    /// `program` (a wrapper such as `script`) with keyctl's hermetic environment.
    pub(crate) fn command_for(&self, program: &str) -> Command {
        self.host.command(program)
    }

    /// Runs keyctl with `stdin` piped in, watching all argv for `watch`.
    pub(crate) fn run_with(&self, args: &[&str], stdin: &str, env: &[(&str, &str)], watch: &str) -> Run {
        let mut cmd = self.command();
        cmd.args(args).envs(env.iter().copied());
        test_support::run_watched(&mut cmd, stdin, watch)
    }

    pub(crate) fn run(&self, args: &[&str], stdin: &str) -> Run {
        self.run_with(args, stdin, &[], CANARY)
    }
}
