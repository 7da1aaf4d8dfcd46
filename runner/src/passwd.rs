//! Users from `/etc/passwd`, read strictly: seven fields on every line,
//! numeric ids, no name twice. A file that breaks these rules names no one,
//! so a job never runs as a uid guessed from a mangled line. NSS (LDAP,
//! systemd-userdb) is deliberately not consulted: a job's uid must be one
//! the operator can see in the file.

use std::path::Path;

/// The password database.
pub const PASSWD: &str = "/etc/passwd";

/// The group database.
pub const GROUP: &str = "/etc/group";

/// A user a job may run as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The login name.
    pub name: String,
    /// Its uid.
    pub uid: u32,
    /// Its primary gid.
    pub gid: u32,
}

/// Why the database could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswdError {
    /// It could not be read.
    #[error("cannot read {path}: {why}")]
    Unreadable {
        /// The file.
        path: String,
        /// The error.
        why: String,
    },
    /// A line does not have the standard shape.
    #[error("{path}:{line}: not `name:password:uid:gid:gecos:home:shell`")]
    Malformed {
        /// The file.
        path: String,
        /// The line number.
        line: usize,
    },
    /// The same name appears twice.
    #[error("{path}:{line}: user `{name}` is listed twice")]
    Duplicate {
        /// The file.
        path: String,
        /// The line number.
        line: usize,
        /// The name.
        name: String,
    },
}

/// Parses the whole text of a passwd file.
pub fn parse(path: &str, text: &str) -> Result<Vec<User>, PasswdError> {
    let mut res: Vec<User> = Vec::new();
    for (idx, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let malformed = || PasswdError::Malformed { path: path.to_owned(), line: idx + 1 };
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() != 7 || fields[0].is_empty() {
            return Err(malformed());
        }
        let id =
            |s: &str| (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse::<u32>().ok()).flatten();
        let (Some(uid), Some(gid)) = (id(fields[2]), id(fields[3])) else { return Err(malformed()) };
        if res.iter().any(|u| u.name == fields[0]) {
            return Err(PasswdError::Duplicate { path: path.to_owned(), line: idx + 1, name: fields[0].to_owned() });
        }
        res.push(User { name: fields[0].to_owned(), uid, gid });
    }
    Ok(res)
}

/// Reads and parses `path`.
pub fn load(path: &Path) -> Result<Vec<User>, PasswdError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| PasswdError::Unreadable { path: path.display().to_string(), why: e.to_string() })?;
    parse(&path.display().to_string(), &text)
}

/// Parses the whole text of a group file into `(name, gid)` pairs: four
/// fields on every line and a numeric gid (blank and `#` lines skipped).
pub fn parse_groups(text: &str) -> Result<Vec<(String, u32)>, String> {
    let mut res = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#')) {
        let fields: Vec<&str> = line.split(':').collect();
        let [name, _, gid, _] = fields.as_slice() else {
            return Err(format!("{GROUP}:{}: not `name:password:gid:members`", i + 1));
        };
        let gid: u32 = gid.parse().map_err(|_| format!("{GROUP}:{}: the gid is not a number", i + 1))?;
        res.push(((*name).to_owned(), gid));
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_lines_parse_and_lookups_are_exact() {
        let users = parse(
            "p",
            "root:x:0:0:root:/root:/bin/bash\n\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
        )
        .unwrap();
        assert_eq!(users[1], User { name: "nobody".into(), uid: 65534, gid: 65534 });
        assert_eq!(users.len(), 2);
    }

    #[test]
    fn a_mangled_or_ambiguous_file_names_no_one() {
        for text in [
            "root:x:0:0:root:/root\n",
            "root:x:0:0:root:/root:/bin/sh:extra\n",
            "root:x:-1:0:root:/root:/bin/sh\n",
            "root:x: 0:0:root:/root:/bin/sh\n",
            ":x:0:0:root:/root:/bin/sh\n",
            "+nis::::::\n",
            "a:x:1:1::/:/bin/sh\na:x:2:2::/:/bin/sh\n",
        ] {
            assert!(parse("p", text).is_err(), "{text:?}");
        }
    }
}
