//! systemd unit files as systemd reads them: where they live, and their
//! assignments with systemd's syntax (comments, continuations, whitespace
//! around `=`, quoted words with C escapes). Pure parsing plus one
//! function that lists locations.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// One `Key=value` assignment, the key and value trimmed as systemd trims them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Assignment {
    pub(crate) key: String,
    pub(crate) value: String,
}

/// The assignments of a unit file (or an environment file): lines ending in
/// a backslash continue on the next (the backslash becomes a space),
/// comment lines start with `#` or `;` (also inside a continuation), section
/// headers are skipped, and whitespace around `=` is dropped.
pub(crate) fn assignments(text: &str) -> Vec<Assignment> {
    let mut res = Vec::new();
    let mut pending: Option<String> = None;
    for raw in text.lines() {
        let line = raw.trim();
        if line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let (body, continues) = match line.strip_suffix('\\') {
            Some(body) => (body, true),
            None => (line, false),
        };
        let mut logical = pending.take().unwrap_or_default();
        logical.push_str(body);
        if continues {
            logical.push(' ');
            pending = Some(logical);
            continue;
        }
        push_assignment(&logical, &mut res);
    }
    if let Some(rest) = pending {
        push_assignment(&rest, &mut res);
    }
    res
}

fn push_assignment(logical: &str, res: &mut Vec<Assignment>) {
    let logical = logical.trim();
    if logical.starts_with('[') {
        return;
    }
    if let Some((key, value)) = logical.split_once('=') {
        res.push(Assignment { key: key.trim().to_owned(), value: value.trim().to_owned() });
    }
}

/// The words of a value as systemd's `extract_first_word(…, EXTRACT_UNQUOTE
/// | EXTRACT_CUNESCAPE)` yields them (`Environment="A=b" "C=d"` → `A=b`,
/// `C=d`), with `%%` specifiers made `%`.
pub(crate) fn words(value: &str) -> Vec<String> {
    let mut res = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quote) {
            ('\\', _) => {
                in_word = true;
                unescape(&mut chars, &mut cur);
            }
            (q, Some(open)) if q == open => quote = None,
            (c, Some(_)) => cur.push(c),
            ('"' | '\'', None) => {
                in_word = true;
                quote = Some(c);
            }
            (c, None) if c.is_whitespace() => {
                if in_word {
                    res.push(std::mem::take(&mut cur).replace("%%", "%"));
                    in_word = false;
                }
            }
            (c, None) => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        res.push(cur.replace("%%", "%"));
    }
    res
}

/// One C escape after a backslash: `\n \t \r \a \b \f \v \s \\ \" \'`,
/// `\xNN`, `\NNN` (octal), `\uNNNN`, `\UNNNNNNNN`. Anything else is kept as written.
fn unescape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, out: &mut String) {
    let take = |n: usize, radix: u32, chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
        let mut digits = String::new();
        while digits.len() < n && chars.peek().is_some_and(|c| c.is_digit(radix)) {
            digits.extend(chars.next());
        }
        u32::from_str_radix(&digits, radix).ok().and_then(char::from_u32)
    };
    let Some(c) = chars.next() else {
        out.push('\\');
        return;
    };
    let decoded = match c {
        'n' => Some('\n'),
        't' => Some('\t'),
        'r' => Some('\r'),
        'a' => Some('\u{7}'),
        'b' => Some('\u{8}'),
        'f' => Some('\u{c}'),
        'v' => Some('\u{b}'),
        's' => Some(' '),
        '\\' | '"' | '\'' => Some(c),
        'x' => take(2, 16, chars),
        'u' => take(4, 16, chars),
        'U' => take(8, 16, chars),
        '0'..='7' => {
            let rest = take(2, 8, chars).map_or(0, |d| d as u32);
            char::from_u32((c as u32 - '0' as u32) * 64 + rest)
        }
        _ => None,
    };
    match decoded {
        Some(d) => out.push(d),
        None => {
            out.push('\\');
            out.push(c);
        }
    }
}

/// The paths an `EnvironmentFile=` value names (`-` prefix for optional files).
pub(crate) fn environment_file(value: &str) -> Option<PathBuf> {
    let path = value.trim().trim_start_matches('-').trim().replace("%%", "%");
    Path::new(&path).is_absolute().then(|| PathBuf::from(path))
}

/// The files an `EnvironmentFile=` names: the path itself, or, when its
/// last component is a wildcard pattern (`*`, `?`, `[…]`, as systemd
/// accepts), every matching entry of its directory.
pub(crate) fn expand_glob(path: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return vec![path.to_owned()];
    };
    if !name.contains(['*', '?', '[']) {
        return vec![path.to_owned()];
    }
    let mut res: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(|n| glob_match(name.as_bytes(), n.as_bytes())))
        .map(|e| e.path())
        .collect();
    res.sort();
    res
}

/// fnmatch-style `*`, `?` and `[abc]`/`[a-z]`/`[!x]` over one path component.
pub(crate) fn glob_match(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => glob_match(&pattern[1..], name) || (!name.is_empty() && glob_match(pattern, &name[1..])),
        (Some(b'?'), Some(_)) => glob_match(&pattern[1..], &name[1..]),
        (Some(b'['), Some(&c)) => {
            let Some(end) = pattern.iter().skip(2).position(|&b| b == b']').map(|i| i + 2) else {
                return c == b'[' && glob_match(&pattern[1..], &name[1..]);
            };
            let set = &pattern[1..end];
            let (negate, set) = match set.first() {
                Some(b'!' | b'^') => (true, &set[1..]),
                _ => (false, set),
            };
            let mut hit = false;
            let mut i = 0;
            while i < set.len() {
                if i + 2 < set.len() && set[i + 1] == b'-' {
                    hit |= (set[i]..=set[i + 2]).contains(&c);
                    i += 3;
                } else {
                    hit |= set[i] == c;
                    i += 1;
                }
            }
            hit != negate && glob_match(&pattern[end + 1..], &name[1..])
        }
        (Some(&p), Some(&c)) => p == c && glob_match(&pattern[1..], &name[1..]),
        _ => false,
    }
}

/// Every place systemd reads units, drop-ins and manager settings from,
/// under `root` (`/` normally). The documented fixed list, plus what
/// `systemd-analyze unit-paths` and `systemd-analyze --user unit-paths`
/// report when available (a local `SYSTEMD_UNIT_PATH` shows up there), plus
/// each home directory's and each `/run/user/<uid>`'s user unit directories.
pub(crate) fn unit_locations(root: &Path) -> Vec<PathBuf> {
    const SYSTEM: &[&str] = &[
        "etc/systemd/system.control",
        "run/systemd/system.control",
        "run/systemd/transient",
        "run/systemd/generator.early",
        "etc/systemd/system",
        "etc/systemd/system.attached",
        "run/systemd/system",
        "run/systemd/system.attached",
        "run/systemd/generator",
        "usr/local/lib/systemd/system",
        "lib/systemd/system",
        "usr/lib/systemd/system",
        "run/systemd/generator.late",
        // User units shared by every user.
        "etc/systemd/user",
        "etc/xdg/systemd/user",
        "run/systemd/user",
        "usr/local/share/systemd/user",
        "usr/share/systemd/user",
        "usr/local/lib/systemd/user",
        "usr/lib/systemd/user",
        // The managers' own settings (DefaultEnvironment=).
        "etc/systemd/system.conf",
        "etc/systemd/user.conf",
        "etc/systemd/system.conf.d",
        "etc/systemd/user.conf.d",
        "run/systemd/system.conf.d",
        "run/systemd/user.conf.d",
        "usr/lib/systemd/system.conf.d",
        "usr/lib/systemd/user.conf.d",
    ];
    const PER_HOME: &[&str] = &[
        ".config/systemd/user",
        ".config/systemd/user.control",
        ".local/share/systemd/user",
        ".config/systemd/user.conf",
    ];
    let mut res: Vec<PathBuf> = SYSTEM.iter().map(|p| root.join(p)).collect();
    for args in [&["unit-paths"][..], &["--user", "unit-paths"][..]] {
        if let Ok(out) = common::process::run("systemd-analyze", args, Duration::from_secs(2))
            && out.status.success()
        {
            let listed = out.stdout_text();
            res.extend(listed.lines().filter(|l| l.starts_with('/')).map(|l| root.join(l.trim_start_matches('/'))));
        }
    }
    for home in homes(root) {
        res.extend(PER_HOME.iter().map(|p| home.join(p)));
    }
    // /run/user/<uid>/systemd holds user.control, transient and the generator outputs.
    if let Ok(entries) = std::fs::read_dir(root.join("run/user")) {
        res.extend(entries.flatten().map(|e| e.path().join("systemd")));
    }
    let mut seen = std::collections::HashSet::new();
    res.retain(|p| seen.insert(p.clone()));
    res
}

/// `/root`, every directory under `/home`, and every home directory in
/// `/etc/passwd` (service accounts with lingering user managers live
/// elsewhere), all under `root`.
pub(crate) fn homes(root: &Path) -> Vec<PathBuf> {
    let mut homes = vec![root.join("root")];
    if let Ok(entries) = std::fs::read_dir(root.join("home")) {
        homes.extend(entries.flatten().map(|e| e.path()));
    }
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap_or_default();
    homes.extend(
        passwd
            .lines()
            .filter_map(|l| l.split(':').nth(5))
            .filter(|h| h.starts_with('/') && *h != "/")
            .map(|h| root.join(h.trim_start_matches('/'))),
    );
    let mut seen = std::collections::HashSet::new();
    homes.retain(|h| seen.insert(h.clone()));
    homes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        assignments(text).into_iter().map(|a| (a.key, a.value)).collect()
    }

    #[test]
    fn assignments_follow_systemd_syntax() {
        let text = "[Service]\n  Environment = A=b  \n# Environment=X=commented\n; EnvironmentFile=/no\n\
                    ExecStart=/bin/app \\\n  --flag \\\n# a comment inside the continuation\n  last\nEnvironmentFile=\\\n-/etc/x.env\n";
        assert_eq!(
            pairs(text),
            [
                ("Environment".to_owned(), "A=b".to_owned()),
                ("ExecStart".to_owned(), "/bin/app  --flag  last".to_owned()),
                ("EnvironmentFile".to_owned(), "-/etc/x.env".to_owned()),
            ]
        );
        assert_eq!(environment_file("-/etc/x.env"), Some(PathBuf::from("/etc/x.env")));
        assert_eq!(environment_file("relative"), None);
        assert!(glob_match(b"*.env", b"app.env") && !glob_match(b"*.env", b"app.conf"));
        assert!(glob_match(b"a?[0-9][!x]*", b"ab1yz") && !glob_match(b"a?[0-9][!x]", b"ab1x"));
        assert_eq!(expand_glob(Path::new("/etc/x.env")), [PathBuf::from("/etc/x.env")]);
    }

    #[test]
    fn words_unquote_and_unescape_like_systemd() {
        assert_eq!(words(r#""A=b c" 'D=e' F=g\x41 H=100%%"#), ["A=b c", "D=e", "F=gA", "H=100%"]);
        assert_eq!(words(r#"A=\101\u0042\U00000043\s\"x\""#), ["A=ABC \"x\""]);
        assert_eq!(words(r"A=b\q"), [r"A=b\q"], "an unknown escape is kept");
        assert!(words("   ").is_empty());
    }
}
