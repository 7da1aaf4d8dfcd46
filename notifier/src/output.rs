//! The notifier's one output module. Nothing here ever receives a key:
//! callers pass reports, masked fingerprints and API text only.

use common::output::{Envelope, sanitize, write_stderr, write_stdout};
use serde::Serialize;

/// Results on stdout; a failed write is an error (no silent success).
pub(crate) fn stdout(text: &str) -> Result<(), String> {
    write_stdout(text).map_err(|e| format!("cannot write to stdout: {e}"))
}

/// A JSON document in the shared envelope.
pub(crate) fn json<T: Serialize>(body: &T) -> Result<(), String> {
    stdout(
        &Envelope {
            schema_version: crate::SCHEMA_VERSION,
            tool: crate::TOOL,
            tool_version: env!("CARGO_PKG_VERSION"),
            body,
        }
        .to_json(),
    )
}

/// A diagnostic on stderr, escaped (API errors and paths are untrusted).
pub(crate) fn error(msg: &str) {
    let _ = write_stderr(&format!("{}: {}\n", crate::TOOL, sanitize(msg)));
}

/// A warning on stderr.
pub(crate) fn warn(msg: &str) {
    let _ = write_stderr(&format!("{}: warning: {}\n", crate::TOOL, sanitize(msg)));
}
