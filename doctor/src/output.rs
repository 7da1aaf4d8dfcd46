//! The doctor's one output module: everything it prints goes through here.

use common::output::{sanitize, write_stderr};

/// Results on stdout. A failed write (a closed pipe, a full disk) is
/// reported on stderr and returned: the caller exits 2, never 0 with no output.
pub(crate) fn stdout(text: &str) -> Result<(), ()> {
    common::cli::write_result(text).map_err(|e| error(&e.to_string()))
}

/// The JSON report on stdout, serialised straight to a buffered writer;
/// failures are handled as [`stdout`]'s.
pub(crate) fn stdout_json(report: &crate::report::Report) -> Result<(), ()> {
    use std::io::Write as _;
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    report
        .write_json(&mut out)
        .and_then(|()| out.flush())
        .map_err(|e| error(&common::cli::StdoutError::from(e).to_string()))
}

/// A diagnostic line on stderr, escaped: error texts can carry untrusted strings.
pub(crate) fn error(msg: &str) {
    crate::report::INFO.error(msg);
}

/// A note on stderr (artifact paths and the like).
pub(crate) fn note(msg: &str) {
    let _ = write_stderr(&format!("{}\n", sanitize(msg)));
}
