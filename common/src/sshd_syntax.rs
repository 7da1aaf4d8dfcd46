//! The line syntax of sshd's configuration files, as sshd reads them: a
//! keyword (case-insensitive) then its arguments, separated by whitespace or
//! one `=`; blank lines and `#` comments carry nothing. One reader for every
//! tool that reads those files (the guard edits them, the doctor looks for
//! `Match` blocks), so they never disagree on what a line says. Pure.

/// The keyword (lower-cased) and the arguments of an active line; `None`
/// for a blank line or a comment.
pub fn directive(line: &str) -> Option<(String, &str)> {
    let t = line.trim_start();
    if t.is_empty() || t.starts_with('#') {
        return None;
    }
    let end = t.find(|c: char| c.is_whitespace() || c == '=').unwrap_or(t.len());
    let (key, rest) = t.split_at(end);
    Some((key.to_ascii_lowercase(), rest.trim_start().strip_prefix('=').unwrap_or(rest).trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_arguments_and_comments() {
        assert_eq!(directive("  ListenAddress 0.0.0.0:22\n"), Some(("listenaddress".into(), "0.0.0.0:22")));
        assert_eq!(directive("listenaddress=[::]:22"), Some(("listenaddress".into(), "[::]:22")));
        assert_eq!(directive("Match = User x"), Some(("match".into(), "User x")));
        assert_eq!(directive("Port"), Some(("port".into(), "")));
        assert_eq!(directive("   # Match all"), None);
        assert_eq!(directive("\t\n"), None);
    }
}
