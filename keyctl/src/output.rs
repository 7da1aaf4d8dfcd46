//! keyctl's one output module. Nothing here ever receives a secret value:
//! callers pass masked fingerprints and ids only (`get` writes raw bytes
//! through [`raw_stdout`], its single deliberate exception).

use std::io::Write;

/// Results on stdout. A failed write (full disk, closed file) is an error for
/// the caller: empty output must never come with a success code.
pub(crate) fn stdout(text: &str) -> Result<(), String> {
    common::cli::write_result(text).map_err(|e| e.to_string())
}

/// The one place a secret is written out: `get`, to a pipe or file, never a terminal.
pub(crate) fn raw_stdout(bytes: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()
}
