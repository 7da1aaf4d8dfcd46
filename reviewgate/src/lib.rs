//! `openclaw-reviewgate`: review verdicts bound to the reviewed code,
//! signed in OpenSSH's SSHSIG format, checked at push, CI and deploy
//! (contract §6, §8).
//!
//! This version carries the checking side: `verify --rev REV` reads the
//! verdict and its signature from the commit itself, checks the signature
//! with stock `ssh-keygen -Y` against an `allowed_signers` outside the
//! repository, and binds the verdict to the commit's content by diffing
//! trees. Producing verdicts (`bundle`, `review`, the engines and the
//! policy) and the push hook are the next steps (docs/reviewgate.md).
//!
//! Shape: `cli` (arguments, settings) → `verify` (the flow, exit codes) →
//! `gitio`/`sshsig` gather facts through `common::process` → the pure
//! `check::judge` and `verdict` decide → `render` writes.

mod bridge;
pub mod bundle;
mod bundle_cmd;
pub mod chain;
pub mod check;
mod child;
mod cli;
pub mod deploy;
pub mod engine;
pub mod gitio;
pub mod hook;
mod nounix;
pub mod openai;
pub mod output;
pub mod policy;
pub mod proxy;
pub mod quote;
mod render;
mod review;
pub mod sandbox;
pub mod settings;
pub mod signing;
pub mod sshsig;
pub mod verdict;
pub mod verify;
pub mod worktree;

pub use cli::{Cli, Settings, main_with_args};

pub(crate) const TOOL: &str = "openclaw-reviewgate";
pub(crate) const SCHEMA_VERSION: u32 = 1;
pub(crate) const INFO: common::cli::ToolInfo =
    common::cli::ToolInfo { name: TOOL, version: env!("CARGO_PKG_VERSION"), schema_version: SCHEMA_VERSION };

/// The command-line definition, for generating man pages and shell
/// completions (the package build); parsing goes through `main_with_args`.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}
