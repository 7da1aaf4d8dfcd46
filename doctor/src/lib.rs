//! `openclaw-doctor`: a fail-closed posture audit of an OpenClaw host.
//!
//! Gathers facts from the kernel (socket tables, `/proc`) and from tools
//! (`tailscale`, `docker`, `ufw`/`nft`, `sshd -T`, `systemctl`), each under a
//! timeout, judges them with pure functions and `common::policy`, and reports
//! per-check results as human text, JSON or Prometheus metrics. It changes
//! nothing on the host except its own artifact files.

mod checks;
mod cli;
mod evidence;
mod output;
mod report;
mod runner;
mod sockets;

use std::ffi::OsString;

use clap::Parser;
use common::exit::Exit;

pub use cli::Cli;

/// Parses `args` (including the program name) and runs the doctor.
pub fn main_with_args(args: impl IntoIterator<Item = OsString>) -> Exit {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { Exit::Undecided } else { Exit::Clean };
            let _ = e.print();
            return code;
        }
    };
    cli::run(cli)
}
