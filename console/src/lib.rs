//! `openclaw-console`: a loopback HTTP API that runs only the actions of a
//! fixed registry, each with typed parameters, one at a time per action,
//! with a durable audit record before every answer.
//!
//! Every request passes the same gate in the same order before anything is
//! locked or started: Host, token, Origin, body size, body shape, action,
//! parameters, lock. `gate` and `request` decide purely; `server` is the
//! HTTP plumbing (timeouts, connection cap, shutdown); `routes` the
//! handlers; `exec` runs one child in its own process group; `runs` keeps
//! the artifacts; `audit` writes the records; `cli` is the flow and the only
//! place exit codes are chosen.

mod app;
mod audit;
mod builtin;
mod cli;
mod exec;
mod exec_route;
pub mod gate;
mod locks;
mod page;
mod reaper;
mod recovery;
pub mod refusal;
pub mod registry;
mod render;
pub mod request;
mod routes;
mod runs;
mod secevents;
mod server;
pub mod settings;
mod token;

pub use cli::main_with_args;

pub(crate) const TOOL: &str = "openclaw-console";
pub(crate) const SCHEMA_VERSION: u32 = 1;
pub(crate) const INFO: common::cli::ToolInfo =
    common::cli::ToolInfo { name: TOOL, version: env!("CARGO_PKG_VERSION"), schema_version: SCHEMA_VERSION };

/// Exposed for the fuzz targets only: the registry loader and the request
/// validator over untrusted bytes.
pub mod fuzzing {
    pub use crate::registry::Registry;
    pub use crate::request::parse_exec;
}

/// The command-line definition, for generating man pages and shell
/// completions (the package build); parsing goes through `main_with_args`.
pub fn command() -> clap::Command {
    <cli::Cli as clap::CommandFactory>::command()
}
