//! The doctor's one output module: everything it prints goes through here.

use common::output::{sanitize, write_stderr, write_stdout};

pub(crate) fn stdout(text: &str) {
    // A closed pipe is ignored inside; anything else cannot be reported anywhere better.
    let _ = write_stdout(text);
}

/// A diagnostic line on stderr, escaped: error texts can carry untrusted strings.
pub(crate) fn error(msg: &str) {
    let _ = write_stderr(&format!("openclaw-doctor: {}\n", sanitize(msg)));
}

/// A note on stderr (artifact paths and the like).
pub(crate) fn note(msg: &str) {
    let _ = write_stderr(&format!("{}\n", sanitize(msg)));
}
