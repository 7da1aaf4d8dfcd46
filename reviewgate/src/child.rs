//! Every program the gate runs with its caller's environment goes through
//! here (ssh-keygen, and the two git calls that need the caller's own
//! config: `install-hook`'s hook lookup and `review --commit`'s identity):
//! `common::process` with its timeout, and without
//! `OPENCLAW_REVIEW_SIGNING_KEY` in its environment. The key may sit in this
//! process's environment (one of its sources); no such child ever inherits
//! it. Every other git call runs under `common::git` and the reviewer in its
//! jail (`sandbox`), both with an environment built from nothing.

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
