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
mod heads;
mod outbox;
mod output;
mod recover;
mod report;
mod runner;
mod settings;
mod sockets;

use std::ffi::OsString;

use common::exit::Exit;

pub use cli::Cli;

/// Entry point for the fuzz targets (`fuzz/fuzz_targets/tool_output.rs`):
/// every parser of untrusted tool output, with the invariants that make
/// them fail closed. Not a stable API.
#[doc(hidden)]
pub mod fuzzing {
    use crate::checks::{Status, docker, firewall, http, http_health, sshd, systemd, tailscale};
    use common::policy::{Class, classify};

    /// Judges `text` as `nft -j list ruleset` output, and as the rules of an
    /// input chain with policy accept; panics if a ruleset that has no drop
    /// (no drop policy, no drop or reject anywhere) is said to block a port.
    pub fn nft_ruleset(text: &str) {
        firewall::fuzzing::ruleset(text);
        firewall::fuzzing::policy_accept_chain(text);
    }

    /// Runs every parser on `text`; panics if an invariant breaks.
    pub fn tool_output(text: &str) {
        if let Ok(bindings) = docker::parse_ports(text) {
            assert!(bindings.iter().all(|b| b.ports.0 <= b.ports.1), "reversed range accepted");
        }
        let _ = docker::last_health_lines(text);
        firewall::fuzzing::ruleset(text);
        let strict = common::policy::NetFacts::with_addresses(&[]);
        if sshd::judge(text, &common::policy::ListenerPolicy::default(), &strict).status == Status::Pass {
            assert!(text.lines().any(|l| l == "passwordauthentication no"), "password auth passed");
        }
        let _ = systemd::judge(text, &["openclaw-doctor.timer".to_owned()], text);
        if let Ok(status) = serde_json::from_str::<serde_json::Value>(text)
            && tailscale::judge(&status).status == Status::Pass
        {
            assert_eq!(status["BackendState"], "Running", "a non-running tailnet passed");
        }
        if let Ok(Some(head)) = http::parse_head(text.as_bytes()) {
            assert!((100..600).contains(&head.status), "status {} accepted", head.status);
            assert!(head.len <= text.len(), "head longer than the input");
        }
        if let Ok(ep) = http_health::parse_endpoint(text) {
            let class = classify(ep.addr.ip());
            assert!(
                matches!(class, Class::Loopback | Class::Tailnet | Class::TailnetV6),
                "would probe {class} {}",
                ep.addr
            );
        }
    }
}

/// Parses `args` (including the program name) and runs the doctor.
pub fn main_with_args(args: impl IntoIterator<Item = OsString>) -> Exit {
    common::cli::main_with_args(report::INFO, common::cli::UsageErrors::Echo, args, |cli: Cli| Ok(cli::run(cli)))
}

/// The command-line definition, for generating man pages and shell
/// completions (the package build); parsing goes through `main_with_args`.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}
