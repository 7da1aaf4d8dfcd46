//! The evidence for MUTATION_DETECTED: a manifest of every path under the
//! worktree (tracked, untracked, ignored, skipped by git, and the `.git`
//! file itself), taken right after checkout and again after the job, and
//! a pure diff between the two.
//!
//! Each entry records what a job could change without git noticing: type,
//! permission bits, owner, size, inode, mtime, ctime, the SHA-256 of a
//! file's content and a link's target. Nothing is followed; only regular
//! files are opened (`O_NOFOLLOW|O_NONBLOCK`), so a FIFO or a link a job
//! planted cannot hang or redirect the check.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use sha2::{Digest, Sha256};

/// Most changed paths listed; the total is always given.
pub const MAX_LISTED: usize = 100;

/// What one path is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A directory.
    Dir,
    /// A regular file and the SHA-256 of its content.
    File {
        /// Hex SHA-256.
        sha256: String,
    },
    /// A symbolic link and its target bytes.
    Symlink {
        /// The target, never followed.
        target: Vec<u8>,
    },
    /// Anything else (FIFO, socket, device).
    Other(&'static str),
}

/// One path's facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its type (and content).
    pub kind: Kind,
    /// `st_mode & 0o7777`.
    pub mode: u32,
    /// Owner uid and gid.
    pub owner: (u32, u32),
    /// Size in bytes.
    pub size: u64,
    /// Inode number (a delete-and-recreate changes it).
    pub ino: u64,
    /// Modification time (s, ns).
    pub mtime: (i64, i64),
    /// Status-change time (s, ns): any chmod, chown, link or write moves it.
    pub ctime: (i64, i64),
}

/// Every path under a root, by relative path bytes (`""` is the root).
pub type Manifest = BTreeMap<Vec<u8>, Entry>;

/// How one path differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The relative path.
    pub path: Vec<u8>,
    /// `added`, `removed`, or the facts that differ (`content`, `mode`, …).
    pub what: Vec<&'static str>,
}

/// The pure comparison: every path added, removed or changed, in path order.
pub fn diff(before: &Manifest, after: &Manifest) -> Vec<Change> {
    let mut res = Vec::new();
    for (path, b) in before {
        match after.get(path) {
            None => res.push(Change { path: path.clone(), what: vec!["removed"] }),
            Some(a) if a != b => res.push(Change { path: path.clone(), what: differences(b, a) }),
            Some(_) => {}
        }
    }
    for path in after.keys().filter(|p| !before.contains_key(*p)) {
        res.push(Change { path: path.clone(), what: vec!["added"] });
    }
    res.sort_by(|x, y| x.path.cmp(&y.path));
    res
}

fn differences(b: &Entry, a: &Entry) -> Vec<&'static str> {
    let mut what = Vec::new();
    match (&b.kind, &a.kind) {
        (Kind::File { sha256: x }, Kind::File { sha256: y }) if x != y => what.push("content"),
        (Kind::Symlink { target: x }, Kind::Symlink { target: y }) if x != y => what.push("target"),
        (x, y) if std::mem::discriminant(x) != std::mem::discriminant(y) => what.push("type"),
        _ => {}
    }
    for (differs, name) in [
        (b.mode != a.mode, "mode"),
        (b.owner != a.owner, "owner"),
        (b.size != a.size, "size"),
        (b.ino != a.ino, "inode"),
        (b.mtime != a.mtime, "mtime"),
        (b.ctime != a.ctime, "ctime"),
    ] {
        if differs {
            what.push(name);
        }
    }
    what
}

/// A path for people and JSON: printable ASCII as is, every other byte
/// (and the backslash) as `\xNN`, so no name can forge a line or a colour.
pub fn escape(path: &[u8]) -> String {
    if path.is_empty() {
        return ".".to_owned();
    }
    let mut res = String::with_capacity(path.len());
    for &b in path {
        if (0x20..0x7f).contains(&b) && b != b'\\' {
            res.push(char::from(b));
        } else {
            res.push_str(&format!("\\x{b:02x}"));
        }
    }
    res
}

/// The changes as listed in artifacts: at most [`MAX_LISTED`], escaped.
pub fn listed(changes: &[Change]) -> Vec<serde_json::Value> {
    changes.iter().take(MAX_LISTED).map(|c| serde_json::json!({"path": escape(&c.path), "changes": c.what})).collect()
}

/// Largest changed file the after-job walk re-hashes; a bigger one is
/// recorded as changed without reading it (it is a mutation either way).
pub const MAX_REHASH: u64 = 16 * 1024 * 1024;

/// Walks `root` without following links and records every path.
pub fn take(root: &Path) -> io::Result<Manifest> {
    walk(root, None)
}

/// The after-job walk: a regular file whose mode, owner, size, inode, mtime
/// and ctime all equal its entry in `before` keeps that entry's hash
/// without being read (no write can leave ctime unchanged); a new file is
/// not read at all (it is `added` whatever it holds); a changed file is
/// re-hashed only up to [`MAX_REHASH`]. So the check costs at most what
/// the first walk did, and a job cannot stall it with a huge sparse file.
///
/// With `rehash_all` (the job ran as root, which can set the clock and a
/// file's times, so equal facts prove nothing) every file whose size is
/// unchanged is read again in full: no shortcut, and still no more than
/// the first walk read.
pub fn take_after(root: &Path, before: &Manifest, rehash_all: bool) -> io::Result<Manifest> {
    walk(root, Some((before, rehash_all)))
}

fn same_facts(a: &Entry, meta: &std::fs::Metadata) -> bool {
    a.mode == meta.mode() & 0o7777
        && a.owner == (meta.uid(), meta.gid())
        && a.size == meta.size()
        && a.ino == meta.ino()
        && a.mtime == (meta.mtime(), meta.mtime_nsec())
        && a.ctime == (meta.ctime(), meta.ctime_nsec())
}

fn walk(root: &Path, before: Option<(&Manifest, bool)>) -> io::Result<Manifest> {
    let mut res = Manifest::new();
    let mut stack: Vec<Vec<u8>> = vec![Vec::new()];
    while let Some(rel) = stack.pop() {
        let full = if rel.is_empty() { root.to_owned() } else { root.join(std::ffi::OsStr::from_bytes(&rel)) };
        let meta = std::fs::symlink_metadata(&full)?;
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            for entry in std::fs::read_dir(&full)? {
                let name = entry?.file_name();
                let mut child = rel.clone();
                if !child.is_empty() {
                    child.push(b'/');
                }
                child.extend_from_slice(name.as_bytes());
                stack.push(child);
            }
            Kind::Dir
        } else if ft.is_symlink() {
            Kind::Symlink { target: std::fs::read_link(&full)?.into_os_string().as_bytes().to_vec() }
        } else if ft.is_file() {
            let rehash_all = before.is_some_and(|(_, all)| all);
            match before.map(|(b, _)| b.get(&rel)) {
                None => Kind::File { sha256: hash_file(&full)? },
                Some(Some(Entry { kind: Kind::File { .. }, size, .. })) if rehash_all && *size == meta.size() => {
                    Kind::File { sha256: hash_file(&full)? }
                }
                Some(Some(prev @ Entry { kind: Kind::File { sha256 }, .. }))
                    if !rehash_all && same_facts(prev, &meta) =>
                {
                    Kind::File { sha256: sha256.clone() }
                }
                Some(Some(Entry { kind: Kind::File { .. }, .. })) if meta.size() <= MAX_REHASH => {
                    Kind::File { sha256: hash_file(&full)? }
                }
                Some(_) => Kind::File { sha256: format!("not read: {} bytes", meta.size()) },
            }
        } else if ft.is_fifo() {
            Kind::Other("fifo")
        } else if ft.is_socket() {
            Kind::Other("socket")
        } else {
            Kind::Other("device")
        };
        let entry = Entry {
            kind,
            mode: meta.mode() & 0o7777,
            owner: (meta.uid(), meta.gid()),
            size: meta.size(),
            ino: meta.ino(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        };
        res.insert(rel, entry);
    }
    Ok(res)
}

fn hash_file(path: &Path) -> io::Result<String> {
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    let mut file = OpenOptions::new().read(true).custom_flags(flags.bits() as i32).open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(common::hash::to_hex(&hasher.finalize()))
}

#[cfg(test)]
mod tests;
