//! `openclaw-guard`: the regression loop of contract §1 and §6.
//!
//! One `run` is one tick: under the run-dir lock it runs the doctor
//! (`openclaw-doctor --format json`, its documented JSON), turns the report
//! into findings through the remediation [`registry`], gathers the Tailscale
//! [`interlock`] when a finding could need sshd touched, decides with the
//! pure [`plan`] over the report, the guard's [`state`], the interlock, the
//! time and the [`budget`] rules, then notifies through `openclaw-notify`,
//! writes the guard log, the state and one audit record. `status` reads the
//! state back.
//!
//! This version changes nothing on the host: the two registered
//! remediations (`ssh-tailnet-only`, `cups-localhost`) are not built yet, so
//! every finding is planned as notify-only and logged as `SKIP REMEDIATION`
//! with the reason.
//!
//! Shape: `cli` (arguments, flow, the only place exit codes are chosen) →
//! `doctor`/`interlock`/`notify` gather facts through `common::process` →
//! the pure `plan`, `budget`, `registry` and `interlock::judge` decide →
//! `log`, `state` and `render` (the only output) write.

pub mod budget;
mod cli;
pub mod doctor;
pub mod interlock;
mod locate;
mod log;
mod notify;
pub mod plan;
pub mod registry;
mod render;
pub mod report;
mod settings;
pub mod state;

pub use cli::{Cli, main_with_args};

pub(crate) const TOOL: &str = "openclaw-guard";
pub(crate) const SCHEMA_VERSION: u32 = 1;
pub(crate) const INFO: common::cli::ToolInfo =
    common::cli::ToolInfo { name: TOOL, version: env!("CARGO_PKG_VERSION"), schema_version: SCHEMA_VERSION };
