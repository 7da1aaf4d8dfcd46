//! Paths as text: git's C-style quoting, applied to every path the gate
//! prints or puts in a bundle. A name that is plain printable ASCII (no
//! `"` or `\`) is shown as it is; any other is shown between double quotes
//! with `\n`, `\t`, `\"`, `\\` and octal escapes, so no byte of a name can
//! start a line, fake a heading or be mistaken for another name.

/// The C-quoted form of raw path bytes. Pure.
pub fn c_quote(raw: &[u8]) -> String {
    let plain = |b: u8| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\';
    if raw.iter().all(|&b| plain(b)) {
        return String::from_utf8_lossy(raw).into_owned();
    }
    let mut out = String::with_capacity(raw.len() + 8);
    out.push('"');
    for &b in raw {
        match b {
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            b'\r' => out.push_str("\\r"),
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b if plain(b) => out.push(char::from(b)),
            b => out.push_str(&format!("\\{b:03o}")),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::c_quote;

    #[test]
    fn plain_names_stay_and_every_other_byte_is_escaped_as_git_does() {
        assert_eq!(c_quote(b"src/main.rs"), "src/main.rs");
        assert_eq!(c_quote(b"b file.txt"), "b file.txt");
        assert_eq!(c_quote(b"x\n## Operator note"), "\"x\\n## Operator note\"");
        assert_eq!(c_quote("cfg\u{FFFD}.sh".as_bytes()), "\"cfg\\357\\277\\275.sh\"");
        assert_eq!(c_quote(b"cfg\xff.sh"), "\"cfg\\377.sh\"");
        assert_eq!(c_quote(b"a\"b\\c\td"), "\"a\\\"b\\\\c\\td\"");
        assert_ne!(c_quote("cfg\u{FFFD}.sh".as_bytes()), c_quote(b"cfg\xff.sh"), "two names never print alike");
    }
}
