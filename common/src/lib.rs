//! Shared plumbing for the OpenClaw hardening tools.
//!
//! Every tool crate depends on this crate and on no other tool. It holds the
//! one copy of each cross-cutting policy: the listener classifier
//! ([`policy`]), configuration and path resolution ([`config`], [`paths`]),
//! the tamper-evident audit log ([`audit`]), atomic artifact writing
//! ([`artifacts`]), the private-path rule ([`private_path`]), named locks
//! ([`lock`]), output rendering ([`output`]) and
//! the exit-code contract ([`exit`]).
//!
//! Nothing here prints on its own: functions return data or typed errors and
//! the calling tool decides what to show.
#![deny(missing_docs)]

pub mod api_base;
pub mod artifacts;
pub mod audit;
pub mod cli;
pub mod config;
pub mod exit;
pub mod git;
pub mod hash;
pub mod host_net;
pub mod locate;
pub mod lock;
pub mod output;
pub mod params;
pub mod paths;
pub mod policy;
pub mod private_path;
pub mod process;
pub mod secrets;
pub mod sshd_syntax;
pub mod time_fmt;
