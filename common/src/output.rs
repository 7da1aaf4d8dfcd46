//! Output rendering shared by every tool: the `--format` switch, the JSON
//! envelope, TTY-only colour, and escaping of untrusted text.
//!
//! Tools keep one output module of their own that calls into this one; the
//! `print_stdout`/`print_stderr` lints keep raw printing out of everything else.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, IsTerminal, Write};
use std::str::FromStr;

use serde::Serialize;

/// The `--format` value shared by every tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Text for a person at a terminal.
    #[default]
    Human,
    /// One JSON document with a `schema_version`.
    Json,
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "human" => Ok(Format::Human),
            "json" => Ok(Format::Json),
            other => Err(format!("unknown format `{}` (expected `human` or `json`)", sanitize(other))),
        }
    }
}

/// The JSON envelope every tool's machine output starts with.
#[derive(Debug, Serialize)]
pub struct Envelope<'a, T: Serialize> {
    /// Version of the document's schema; bumped on incompatible changes.
    pub schema_version: u32,
    /// The tool that produced the document, e.g. `openclaw-doctor`.
    pub tool: &'a str,
    /// The producing tool's version.
    pub tool_version: &'a str,
    /// The tool-specific body, flattened into the envelope.
    #[serde(flatten)]
    pub body: &'a T,
}

impl<T: Serialize> Envelope<'_, T> {
    /// Pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut res = serde_json::to_string_pretty(self).unwrap_or_else(|e| {
            format!("{{\"schema_version\":{},\"error\":\"serialisation failed: {e}\"}}", self.schema_version)
        });
        res.push('\n');
        res
    }
}

/// Escapes characters that could mislead a terminal or a reader.
///
/// Control characters (C0, DEL, C1), bidirectional overrides and isolates,
/// zero-width characters, line/paragraph separators and the backslash itself
/// become visible escapes (`\n`, `\t`, `\u{202e}`, `\\`). Everything else,
/// including ordinary non-ASCII text, is kept. Borrowed when nothing changes.
pub fn sanitize(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut res = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' => res.push_str("\\\\"),
            '\n' => res.push_str("\\n"),
            '\r' => res.push_str("\\r"),
            '\t' => res.push_str("\\t"),
            c if needs_escape(c) => {
                let _ = write!(res, "\\u{{{:x}}}", u32::from(c));
            }
            c => res.push(c),
        }
    }
    Cow::Owned(res)
}

fn needs_escape(c: char) -> bool {
    matches!(c,
        '\\'
        | '\u{0}'..='\u{1f}'
        | '\u{7f}'..='\u{9f}'
        // Soft hyphen and the Arabic letter mark hide or reorder text.
        | '\u{ad}' | '\u{61c}'
        // Zero-width space, non-joiner, joiner; LRM, RLM.
        | '\u{200b}'..='\u{200f}'
        // Line and paragraph separators; LRE, RLE, PDF, LRO, RLO.
        | '\u{2028}'..='\u{202e}'
        // Word joiner and invisible operators; LRI, RLI, FSI, PDI.
        | '\u{2060}'..='\u{2069}'
        // Byte-order mark / zero-width no-break space.
        | '\u{feff}'
        // Invisible fillers and selectors: combining grapheme joiner, Hangul
        // fillers, Mongolian vowel separator, variation selectors, interlinear
        // annotation marks, tag characters.
        | '\u{34f}' | '\u{115f}' | '\u{1160}' | '\u{180e}' | '\u{3164}' | '\u{ffa0}'
        | '\u{fe00}'..='\u{fe0f}'
        | '\u{fff9}'..='\u{fffb}'
        | '\u{e0000}'..='\u{e007f}'
    )
}

/// Whether to colour a stream: only a terminal, and never with `NO_COLOR` or `TERM=dumb`.
pub fn colour_wanted(is_terminal: bool, no_color: Option<&str>, term: Option<&str>) -> bool {
    is_terminal && no_color.is_none_or(str::is_empty) && term != Some("dumb")
}

/// ANSI styling that is a no-op unless colour is enabled.
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    colour: bool,
}

impl Style {
    /// Styling for stdout, following [`colour_wanted`] and the environment.
    pub fn for_stdout() -> Style {
        let no_color = std::env::var("NO_COLOR").ok();
        let term = std::env::var("TERM").ok();
        Style { colour: colour_wanted(io::stdout().is_terminal(), no_color.as_deref(), term.as_deref()) }
    }

    /// Styling with colour forced on or off (tests, `--color`).
    pub fn new(colour: bool) -> Style {
        Style { colour }
    }

    /// Green text, for passing checks.
    pub fn green(&self, s: &str) -> String {
        self.paint("32", s)
    }

    /// Yellow text, for warnings.
    pub fn yellow(&self, s: &str) -> String {
        self.paint("33", s)
    }

    /// Red text, for failures.
    pub fn red(&self, s: &str) -> String {
        self.paint("31", s)
    }

    /// Bold text, for headings.
    pub fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }

    fn paint(&self, code: &str, s: &str) -> String {
        if self.colour { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_owned() }
    }
}

/// Writes a tool's result to stdout and flushes it. Every failure is an
/// error, a closed pipe included: the one output policy of every tool is that
/// a result that did not reach its reader exits 2, never 0 with no output.
pub fn write_stdout(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// Writes `text` to stderr. A closed pipe is not an error.
pub fn write_stderr(text: &str) -> io::Result<()> {
    ignore_broken_pipe(io::stderr().lock().write_all(text.as_bytes()))
}

fn ignore_broken_pipe(res: io::Result<()>) -> io::Result<()> {
    match res {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests;
