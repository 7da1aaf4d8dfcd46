//! Whether sshd's configuration has any `Match` block, read the way sshd
//! reads it: the main file, then every `Include` (relative paths under
//! `/etc/ssh`, `*`/`?` globs in the last component, matches in sorted
//! order), recursively. Without a `Match` block, `sshd -T -C <any spec>`
//! prints the same as the global `sshd -T`, so the `sshd` check need not
//! start one sshd per probed login to learn what every login gets.
//!
//! Fail-safe: anything this reader cannot follow with certainty (an
//! unreadable file, quotes, a glob outside the last component, too deep a
//! nesting) answers "unknown", and the check probes every login as before.

use std::path::{Path, PathBuf};

use common::sshd_syntax::directive;

/// How deep `Include`s may nest before the answer is "unknown".
const MAX_DEPTH: usize = 16;

/// The answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Matches {
    /// No `Match` anywhere in the include tree.
    None,
    /// At least one `Match` block.
    Some,
    /// Could not tell for certain.
    Unknown,
}

/// Whether `name` matches a glob of `*` and `?`. Pure.
fn glob_match(pat: &[u8], name: &[u8]) -> bool {
    match (pat.split_first(), name.split_first()) {
        (None, None) => true,
        (Some((b'*', rest)), _) => glob_match(rest, name) || (!name.is_empty() && glob_match(pat, &name[1..])),
        (Some((b'?', rest)), Some((_, nrest))) => glob_match(rest, nrest),
        (Some((p, rest)), Some((n, nrest))) if p == n => glob_match(rest, nrest),
        _ => false,
    }
}

/// Scans `main` and its includes with `read` (a file's text) and `list`
/// (a directory's entry names). Pure over those two.
pub(crate) fn scan(
    main: &Path,
    ssh_dir: &Path,
    read: &dyn Fn(&Path) -> Option<String>,
    list: &dyn Fn(&Path) -> Option<Vec<String>>,
) -> Matches {
    fn walk(
        file: &Path,
        ssh_dir: &Path,
        depth: usize,
        read: &dyn Fn(&Path) -> Option<String>,
        list: &dyn Fn(&Path) -> Option<Vec<String>>,
    ) -> Matches {
        if depth > MAX_DEPTH {
            return Matches::Unknown;
        }
        let Some(text) = read(file) else { return Matches::Unknown };
        for line in text.lines() {
            let Some((key, args)) = directive(line) else { continue };
            match key.as_str() {
                "match" => return Matches::Some,
                "include" => {
                    if args.contains(['"', '\'', '\\', '[', '{']) {
                        return Matches::Unknown;
                    }
                    for arg in args.split_whitespace() {
                        let path = if Path::new(arg).is_absolute() { PathBuf::from(arg) } else { ssh_dir.join(arg) };
                        let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
                            return Matches::Unknown;
                        };
                        if dir.to_string_lossy().contains(['*', '?']) {
                            return Matches::Unknown;
                        }
                        let files: Vec<PathBuf> = if name.contains(['*', '?']) {
                            // A glob that matches nothing is fine for sshd; an unreadable directory is not known.
                            let Some(mut names) = list(dir) else { return Matches::Unknown };
                            names.sort();
                            names
                                .into_iter()
                                .filter(|n| glob_match(name.as_bytes(), n.as_bytes()) && !n.starts_with('.'))
                                .map(|n| dir.join(n))
                                .collect()
                        } else {
                            vec![path.clone()]
                        };
                        for f in files {
                            match walk(&f, ssh_dir, depth + 1, read, list) {
                                Matches::None => {}
                                other => return other,
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        Matches::None
    }
    walk(main, ssh_dir, 0, read, list)
}

/// [`scan`] over the real files.
pub(crate) fn scan_files(main: &Path) -> Matches {
    let read = |p: &Path| std::fs::read_to_string(p).ok();
    let list = |d: &Path| -> Option<Vec<String>> {
        match std::fs::read_dir(d) {
            Ok(rd) => Some(rd.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect()),
            // sshd ignores an Include whose directory does not exist.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(Vec::new()),
            Err(_) => None,
        }
    };
    scan(main, Path::new("/etc/ssh"), &read, &list)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn scan_map(files: &[(&str, &str)]) -> Matches {
        let map: BTreeMap<PathBuf, String> = files.iter().map(|(p, t)| (PathBuf::from(p), (*t).to_owned())).collect();
        let read = |p: &Path| map.get(p).cloned();
        let list = |d: &Path| -> Option<Vec<String>> {
            Some(
                map.keys()
                    .filter(|p| p.parent() == Some(d))
                    .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                    .collect(),
            )
        };
        scan(Path::new("/etc/ssh/sshd_config"), Path::new("/etc/ssh"), &read, &list)
    }

    #[test]
    fn a_match_anywhere_in_the_include_tree_is_found() {
        assert_eq!(
            scan_map(&[("/etc/ssh/sshd_config", "Include /etc/ssh/sshd_config.d/*.conf\nPort 22\n")]),
            Matches::None
        );
        assert_eq!(
            scan_map(&[
                ("/etc/ssh/sshd_config", "include sshd_config.d/*.conf\n"),
                ("/etc/ssh/sshd_config.d/10-a.conf", "PasswordAuthentication no\n"),
                ("/etc/ssh/sshd_config.d/20-b.conf", "Include /etc/ssh/more/x\n"),
                ("/etc/ssh/more/x", "  match=User deploy\n  PasswordAuthentication yes\n"),
            ]),
            Matches::Some
        );
        assert_eq!(scan_map(&[("/etc/ssh/sshd_config", "# Match User x\nPort 22\n")]), Matches::None, "a comment");
        assert_eq!(
            scan_map(&[
                ("/etc/ssh/sshd_config", "Include /etc/ssh/sshd_config.d/*.conf\n"),
                ("/etc/ssh/sshd_config.d/x.conf.disabled", "Match all\n"),
            ]),
            Matches::None,
            "only what the glob names"
        );
    }

    #[test]
    fn anything_uncertain_is_unknown_never_none() {
        assert_eq!(scan_map(&[]), Matches::Unknown, "unreadable main file");
        assert_eq!(scan_map(&[("/etc/ssh/sshd_config", "Include /etc/ssh/missing.conf\n")]), Matches::Unknown);
        assert_eq!(scan_map(&[("/etc/ssh/sshd_config", "Include \"/etc/ssh/a b.conf\"\n")]), Matches::Unknown);
        assert_eq!(scan_map(&[("/etc/ssh/sshd_config", "Include /etc/*/x.conf\n")]), Matches::Unknown);
        assert_eq!(scan_map(&[("/etc/ssh/sshd_config", "Include /etc/ssh/sshd_config\n")]), Matches::Unknown, "a loop");
        assert!(
            glob_match(b"*.conf", b"10-a.conf") && !glob_match(b"*.conf", b"a.conf.bak") && glob_match(b"a?c", b"abc")
        );
    }
}
