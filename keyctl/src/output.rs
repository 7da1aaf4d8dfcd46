//! keyctl's one output module. Nothing here ever receives a secret value:
//! callers pass masked fingerprints and ids only (`get` writes raw bytes
//! through [`raw_stdout`], its single deliberate exception).

use std::io::Write;

use common::output::{sanitize, write_stderr, write_stdout};

pub(crate) fn stdout(text: &str) {
    let _ = write_stdout(text);
}

pub(crate) fn error(msg: &str) {
    let _ = write_stderr(&format!("openclaw-keyctl: {}\n", sanitize(msg)));
}

/// The one place a secret is written out: `get`, to a pipe or file, never a terminal.
pub(crate) fn raw_stdout(bytes: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()
}
