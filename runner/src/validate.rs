//! The syntax rules every caller- or operator-supplied value passes before
//! it reaches a path, an argument or git: names, SHAs, URLs, branches and
//! job ids. Pure; no value that fails here is ever echoed back.

/// True for a repo or job name: `[a-z0-9._-]{1,64}`, not `.`/`..`-led and
/// not dash-led (so it is never a path component that climbs, nor an option).
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && !name.starts_with('.')
        && !name.starts_with('-')
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
}

/// True for a full commit id: 40 (SHA-1) or 64 (SHA-256) lowercase hex.
pub fn valid_sha(sha: &str) -> bool {
    matches!(sha.len(), 40 | 64) && sha.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// True for a job id as the runner makes them: 32 lowercase hex.
pub fn valid_job_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Whether an operator's repo URL may be fetched: `file://`, `https://` or
/// `ssh://` only (never `ext::`, a bare path or a dash-led string), no
/// whitespace, control characters or credentials in `https` URLs.
pub fn check_url(url: &str) -> Result<(), &'static str> {
    if url.len() > 2048 || url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("the URL must be at most 2048 characters without whitespace or control characters");
    }
    let rest = if let Some(r) = url.strip_prefix("file://") {
        if !r.starts_with('/') {
            return Err("a file:// URL must hold an absolute path (file:///srv/git/app.git)");
        }
        r
    } else if let Some(r) = url.strip_prefix("https://") {
        if r.split('/').next().is_some_and(|auth| auth.contains('@')) {
            return Err("credentials never belong in the URL (use a credential the fetch user owns)");
        }
        r
    } else if let Some(r) = url.strip_prefix("ssh://") {
        r
    } else {
        return Err("the URL must start with file://, https:// or ssh://");
    };
    if rest.is_empty() || rest.split('/').any(|seg| seg == "..") {
        return Err("the URL must name a repository without `..`");
    }
    Ok(())
}

/// True for an allowed branch name: a plain `refs/heads/` name (letters,
/// digits, `._/-`), no `..`, `//`, leading dash or slash, `.lock` suffix.
pub fn valid_branch(b: &str) -> bool {
    (1..=200).contains(&b.len())
        && b.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-' | b'/'))
        && !b.starts_with(['-', '/', '.'])
        && !b.ends_with(['/', '.'])
        && !b.ends_with(".lock")
        && !b.contains("..")
        && !b.contains("//")
        && !b.contains("/.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_refuse_traversal_options_and_case() {
        for ok in ["app", "my-app.v2", "a_b", "0"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "../x", "..", ".x", "-x", "--upload-pack=x", "A", "a/b", "a b", "ä", &"a".repeat(65)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn shas_are_full_lowercase_hex_of_either_length() {
        assert!(valid_sha(&"a".repeat(40)) && valid_sha(&"0".repeat(64)));
        for bad in ["", "--upload-pack=x", &"A".repeat(40), &"a".repeat(39), &"a".repeat(41), &"g".repeat(40), "HEAD"] {
            assert!(!valid_sha(bad), "{bad}");
        }
    }

    #[test]
    fn urls_come_in_three_safe_schemes() {
        for ok in ["file:///srv/git/app.git", "https://git.example/app.git", "ssh://git@host/app.git"] {
            assert_eq!(check_url(ok), Ok(()), "{ok}");
        }
        for bad in [
            "ext::sh -c evil",
            "/srv/git/app.git",
            "-uevil",
            "file://relative",
            "https://user:pw@host/x",
            "file:///srv/../etc",
            "https://host/a b",
            "http://host/x",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn branches_are_plain_head_names() {
        for ok in ["main", "release/1.2", "feat_x-y"] {
            assert!(valid_branch(ok), "{ok}");
        }
        for bad in ["", "-x", "/x", "a..b", "a//b", "x.lock", "a/.b", "x/", "a b", "a:b", "a~1", "HEAD^"] {
            assert!(!valid_branch(bad), "{bad}");
        }
    }

    #[test]
    fn job_ids_are_32_hex() {
        assert!(valid_job_id(&"0f".repeat(16)));
        assert!(!valid_job_id("../../etc") && !valid_job_id(&"F".repeat(32)));
    }
}
