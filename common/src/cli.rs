//! Command-line plumbing every tool shares, in the manner of age's
//! `cli_common`: one `main_with_args` (parse, run, map to [`Exit`]), the
//! shared path flags ([`crate::paths::PathFlags`], flattened into each
//! tool's clap struct), and one writer for the JSON envelope and for
//! diagnostics.
//!
//! The output policy is the same for every tool: a result that cannot be
//! written to stdout (a full disk, a closed pipe) makes the run exit 2, and
//! diagnostics on stderr are escaped because they quote untrusted text.

use std::ffi::OsString;
use std::io;

use clap::Parser;
use serde::Serialize;

use crate::exit::Exit;
use crate::output::{Envelope, sanitize, write_stderr, write_stdout};

/// Who a tool is, for diagnostics and the JSON envelope.
#[derive(Debug, Clone, Copy)]
pub struct ToolInfo {
    /// The binary's name, e.g. `openclaw-doctor`.
    pub name: &'static str,
    /// Its version.
    pub version: &'static str,
    /// The version of its JSON documents' schema.
    pub schema_version: u32,
}

impl ToolInfo {
    /// `body` in the shared envelope, pretty-printed with a trailing newline.
    pub fn envelope<T: Serialize>(&self, body: &T) -> String {
        Envelope { schema_version: self.schema_version, tool: self.name, tool_version: self.version, body }.to_json()
    }

    /// Writes `body` in the shared envelope to stdout.
    pub fn write_json<T: Serialize>(&self, body: &T) -> Result<(), StdoutError> {
        write_result(&self.envelope(body))
    }

    /// A diagnostic line on stderr, `<tool>: <message>`, escaped. A failure
    /// to write stderr cannot be reported anywhere better and is ignored.
    pub fn error(&self, msg: &str) {
        let _ = write_stderr(&format!("{}: {}\n", self.name, sanitize(msg)));
    }
}

/// A result that did not reach stdout (a full disk, a closed pipe): the
/// tool's run then exits 2, never 0 with no output.
#[derive(Debug, thiserror::Error)]
#[error("cannot write to stdout: {0}")]
pub struct StdoutError(#[from] io::Error);

/// Writes a tool's result to stdout under the output policy above.
pub fn write_result(text: &str) -> Result<(), StdoutError> {
    Ok(write_stdout(text)?)
}

/// What a usage error may show of the arguments.
#[derive(Debug, Clone, Copy)]
pub enum UsageErrors {
    /// clap's own message, which quotes the offending argument.
    Echo,
    /// Only the kind of error and this hint: for tools where a mistyped
    /// argument may be a secret (a key pasted where a name belongs).
    Conceal {
        /// What to do instead, e.g. "pipe values on stdin".
        hint: &'static str,
    },
}

/// Parses `args` (program name first), runs `run`, and maps the result to
/// an exit code: help and version are 0, usage errors and an `Err` from
/// `run` are 2 (printed as a diagnostic), anything else is what `run` chose.
pub fn main_with_args<C: Parser>(
    tool: ToolInfo,
    usage: UsageErrors,
    args: impl IntoIterator<Item = OsString>,
    run: impl FnOnce(C) -> Result<Exit, String>,
) -> Exit {
    let cli = match C::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version: their text is the result.
            return if e.print().is_ok() { Exit::Clean } else { Exit::Undecided };
        }
        Err(e) => {
            match usage {
                UsageErrors::Echo => {
                    let _ = e.print();
                }
                UsageErrors::Conceal { hint } => tool.error(&format!(
                    "{} (arguments are not repeated here); {hint}. See {} --help",
                    e.kind().as_str().unwrap_or("invalid usage"),
                    tool.name
                )),
            }
            return Exit::Undecided;
        }
    };
    match run(cli) {
        Ok(exit) => exit,
        Err(e) => {
            tool.error(&e);
            Exit::Undecided
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::PathFlags;

    const TOOL: ToolInfo = ToolInfo { name: "openclaw-test", version: "0.0.0", schema_version: 1 };

    #[derive(Debug, Parser)]
    #[command(name = "openclaw-test")]
    struct Cli {
        #[command(flatten)]
        paths: PathFlags,
        #[arg(long)]
        fail: bool,
    }

    fn args(a: &[&str]) -> Vec<OsString> {
        std::iter::once("openclaw-test").chain(a.iter().copied()).map(OsString::from).collect()
    }

    #[test]
    fn exit_codes_follow_the_contract() {
        let run = |cli: Cli| if cli.fail { Err("broken".to_owned()) } else { Ok(Exit::Policy) };
        assert_eq!(main_with_args(TOOL, UsageErrors::Echo, args(&[]), run), Exit::Policy);
        assert_eq!(main_with_args(TOOL, UsageErrors::Echo, args(&["--fail"]), run), Exit::Undecided);
        assert_eq!(main_with_args(TOOL, UsageErrors::Echo, args(&["--bogus"]), run), Exit::Undecided);
        let conceal = UsageErrors::Conceal { hint: "pipe values on stdin" };
        assert_eq!(main_with_args(TOOL, conceal, args(&["sk-pasted-key"]), run), Exit::Undecided);
    }

    #[test]
    fn the_shared_path_flags_parse_into_path_flags() {
        let cli = Cli::try_parse_from(args(&[
            "--secrets-dir",
            "/s",
            "--state-dir",
            "/st",
            "--artifacts-root",
            "/a",
            "--audit-log",
            "/l",
        ]))
        .unwrap();
        assert_eq!(
            cli.paths,
            PathFlags {
                secrets_dir: Some("/s".into()),
                state_dir: Some("/st".into()),
                artifacts_root: Some("/a".into()),
                audit_log: Some("/l".into()),
            }
        );
    }

    #[test]
    fn the_envelope_leads_with_the_schema() {
        let text = TOOL.envelope(&serde_json::json!({"x": 1}));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            (v["schema_version"].as_u64(), v["tool"].as_str(), v["x"].as_u64()),
            (Some(1), Some("openclaw-test"), Some(1))
        );
        assert!(text.ends_with('\n'));
    }
}
