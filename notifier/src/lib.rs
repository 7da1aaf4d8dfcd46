//! `openclaw-notify`: Pushover alerts for contract §7.
//!
//! Outbound HTTPS POSTs only, no callback URL ever sent. One alert per
//! check_id per window (counted on delivery, with a digest of what was
//! suppressed), emergency receipts cancelled on recovery, HTTP 429 holding
//! every send until the quota resets, 5xx and network failures retried and
//! then kept in a durable outbox that `flush` delivers in order. Keys come
//! from `common::secrets` and travel only in request bodies.
//!
//! Shape: `cli` (arguments, flow, exit codes) → `status`/`flush`/`deliver`
//! gather facts and carry out the pure `plan` → `render` (the only output).

pub mod api;
mod audit;
mod cli;
pub mod deliver;
mod flush;
mod journal;
pub mod message;
pub mod plan;
pub mod receipts;
mod render;
pub mod report;
mod settings;
pub mod state;
mod status;

pub use cli::{Cli, main_with_args};

pub(crate) const TOOL: &str = "openclaw-notify";
pub(crate) const SCHEMA_VERSION: u32 = 1;
pub(crate) const INFO: common::cli::ToolInfo =
    common::cli::ToolInfo { name: TOOL, version: env!("CARGO_PKG_VERSION"), schema_version: SCHEMA_VERSION };

/// Entry points for `cargo fuzz` (see `fuzz/`).
/// Entry points for `cargo fuzz` (see `fuzz/`).
pub mod fuzzing {
    /// Classifies an arbitrary response; panics only if an invariant breaks.
    pub fn response(status: u16, headers: &[(String, String)], body: &[u8]) {
        let lookup = |n: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| v.clone());
        let (reply, quota) = crate::api::classify(status, &lookup, body);
        if let Some(q) = quota {
            assert!(q.remaining <= q.limit, "remaining above limit");
        }
        match &reply {
            crate::api::Reply::Accepted { request, receipt } => {
                assert!((200..300).contains(&status));
                for id in [request, receipt].into_iter().flatten() {
                    assert!(
                        !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    );
                }
                if let Some(r) = receipt {
                    assert!(!r.contains('-'), "receipt must be a plain token: used in a path");
                }
            }
            crate::api::Reply::QuotaExhausted { .. } => assert_eq!(status, 429),
            crate::api::Reply::Rejected { errors, .. } => {
                assert!(!(500..600).contains(&status) && status != 429, "a 5xx or 429 must not be final");
                assert!(errors.len() <= 10 && errors.iter().all(|e| e.chars().count() <= 300));
            }
            crate::api::Reply::Transient { .. } => assert!(!(400..500).contains(&status), "a 4xx must not be retried"),
        }
        // The state and outbox parsers see only our own files, but must not panic on junk either.
        let _ = serde_json::from_slice::<crate::state::State>(body);
        let _ = serde_json::from_slice::<crate::message::Alert>(body);
    }
}

/// The command-line definition, for generating man pages and shell
/// completions (the package build); parsing goes through `main_with_args`.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}
