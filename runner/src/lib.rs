//! `openclaw-runner`: runs allowlisted jobs on a pinned, read-only
//! worktree as an unprivileged uid, and fails any job that changed the
//! tree (MUTATION_DETECTED), whatever way it ended.
//!
//! `config` loads the allowlist and `request` validates a run against it
//! (both pure over their inputs); `mirror` and `tree` hold the repository
//! side (bare mirror, detached worktree, permissions, cleanup) through the
//! hardened `git` runner; `manifest` records and diffs the tree; `job`
//! runs the job in its own PID and mount namespace, whose PID 1 is `init`,
//! as the child subreaper; `outcome` is the
//! pure decision; `flow` is the run; `store` the artifacts; `render` the
//! output; `cli` the flow of each subcommand and the only place exit codes
//! are chosen.

pub mod alert;
pub mod bridge;
mod cli;
pub mod config;
mod flow;
pub mod git;
pub mod identity;
pub mod init;
pub mod job;
pub mod manifest;
pub mod mirror;
mod netns;
pub mod outcome;
pub mod passwd;
mod render;
pub mod request;
mod seccomp;
pub mod settings;
pub mod store;
pub mod tree;
pub mod validate;
pub mod view;

pub use cli::main_with_args;

pub(crate) const TOOL: &str = "openclaw-runner";
pub(crate) const SCHEMA_VERSION: u32 = 1;
pub(crate) const INFO: common::cli::ToolInfo =
    common::cli::ToolInfo { name: TOOL, version: env!("CARGO_PKG_VERSION"), schema_version: SCHEMA_VERSION };

/// The command-line definition, for generating man pages and shell
/// completions (the package build); parsing goes through `main_with_args`.
pub fn command() -> clap::Command {
    <cli::Cli as clap::CommandFactory>::command()
}
