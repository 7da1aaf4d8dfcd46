//! keyctl's side of the hermetic host: the canary secret every test plants,
//! and runs that pipe stdin in while every process's argv is watched for it.
//! keyctl needs no state of its own, so its host is `test_support::TempHost`
//! itself, with these runs added by [`KeyctlRuns`].

pub(crate) use test_support::{Run, TempHost as Host, skip};

pub(crate) const KEYCTL: &str = env!("CARGO_BIN_EXE_openclaw-keyctl");
pub(crate) const CANARY: &str = "sk-canaryQ7xWv9LmT2pRz8NcB4hJk6Dy";

/// keyctl runs on a temp host.
pub(crate) trait KeyctlRuns {
    /// Runs keyctl with `stdin` piped in, watching all argv for `watch`.
    fn run_with(&self, args: &[&str], stdin: &str, env: &[(&str, &str)], watch: &str) -> Run;

    /// Runs keyctl with `stdin` piped in, watching all argv for the canary.
    fn run(&self, args: &[&str], stdin: &str) -> Run {
        self.run_with(args, stdin, &[], CANARY)
    }
}

impl KeyctlRuns for Host {
    fn run_with(&self, args: &[&str], stdin: &str, env: &[(&str, &str)], watch: &str) -> Run {
        let mut cmd = self.command(KEYCTL);
        cmd.args(args).envs(env.iter().copied());
        test_support::run_watched(&mut cmd, stdin, watch)
    }
}
