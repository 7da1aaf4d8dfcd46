//! Every program the gate runs (git, ssh-keygen, codex) goes through here:
//! `common::process` with its timeout, and without
//! `OPENCLAW_REVIEW_SIGNING_KEY` in its environment. The key may sit in this
//! process's environment (one of its sources); no child, least of all a
//! reviewer reading an attacker's diff, or a git hook, ever inherits it.

use std::time::Duration;

use common::process::{self, CmdError, CmdOutput, RunOpts};

/// Variables no child inherits.
pub(crate) const NEVER_INHERITED: &[&str] = &[crate::signing::KEY_NAME];

/// Runs `program args` with `input` on stdin (if any) and `env` set.
pub(crate) fn run(
    program: &str,
    args: &[&str],
    input: Option<&[u8]>,
    env: &[(&str, &str)],
    timeout: Duration,
) -> Result<CmdOutput, CmdError> {
    process::run_opts(program, args, &RunOpts { input, env, env_remove: NEVER_INHERITED }, timeout)
}
