//! Output helpers: escaping of untrusted text, formats and the envelope.

use super::*;

fn check(input: &str, expected: &str) {
    assert_eq!(sanitize(input), expected, "input {input:?}");
}

#[test]
fn plain_text_is_borrowed_unchanged() {
    assert!(matches!(sanitize("sshd on 0.0.0.0:22"), Cow::Borrowed(_)));
    check("nginx: worker process", "nginx: worker process");
    check("caf\u{e9} \u{4e2d}\u{6587}", "caf\u{e9} \u{4e2d}\u{6587}");
}

#[test]
fn control_characters_become_visible() {
    check("evil\x1b[31mred", "evil\\u{1b}[31mred");
    check("a\nb\tc\rd", "a\\nb\\tc\\rd");
    check("nul\0here", "nul\\u{0}here");
    check("del\x7f", "del\\u{7f}");
    check("c1\u{9b}31m", "c1\\u{9b}31m");
}

#[test]
fn bidi_and_zero_width_characters_become_visible() {
    // A right-to-left override makes "exe.txt" display as "txt.exe".
    check("file\u{202e}txt.exe", "file\\u{202e}txt.exe");
    check("a\u{2066}b\u{2069}", "a\\u{2066}b\\u{2069}");
    check("zero\u{200b}width\u{200d}joiner\u{feff}", "zero\\u{200b}width\\u{200d}joiner\\u{feff}");
    check("line\u{2028}sep", "line\\u{2028}sep");
    check("soft\u{ad}hyphen", "soft\\u{ad}hyphen");
    check("tag\u{e0041}chars\u{fe0f}\u{3164}", "tag\\u{e0041}chars\\u{fe0f}\\u{3164}");
}

#[test]
fn backslash_is_escaped_so_escapes_cannot_be_forged() {
    // Without this, a literal `\u{202e}` in a process name would look escaped.
    check("\\u{202e}", "\\\\u{202e}");
}

#[test]
fn colour_only_on_a_terminal_without_no_color() {
    assert!(colour_wanted(true, None, Some("xterm-256color")));
    assert!(!colour_wanted(false, None, Some("xterm")));
    assert!(!colour_wanted(true, Some("1"), Some("xterm")));
    assert!(colour_wanted(true, Some(""), Some("xterm")));
    assert!(!colour_wanted(true, None, Some("dumb")));
    assert_eq!(Style::new(false).red("FAIL"), "FAIL");
    assert_eq!(Style::new(true).red("FAIL"), "\x1b[31mFAIL\x1b[0m");
}

#[test]
fn format_parses_known_values_and_names_bad_ones() {
    assert_eq!("human".parse::<Format>(), Ok(Format::Human));
    assert_eq!("json".parse::<Format>(), Ok(Format::Json));
    let err = "xml".parse::<Format>().unwrap_err();
    assert!(err.contains("`xml`") && err.contains("human"), "{err}");
}

#[test]
fn envelope_flattens_the_body_under_schema_version() {
    #[derive(Serialize)]
    struct Body {
        result: &'static str,
    }
    let json =
        Envelope { schema_version: 3, tool: "openclaw-x", tool_version: "0.1.0", body: &Body { result: "PASS" } }
            .to_json();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["schema_version"], 3);
    assert_eq!(v["tool"], "openclaw-x");
    assert_eq!(v["result"], "PASS");
}
