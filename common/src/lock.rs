//! Named locks with a bounded wait, on `flock(2)` via `std::fs::File::lock`.
//!
//! A lock is a file `<dir>/<name>.lock`. The kernel releases it when the
//! holder exits, however it exits, so there are no stale locks to expire and
//! no TTL that can be shorter than the work it protects. The holder's pid is
//! written into the file for diagnostics only.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A held lock; released when dropped.
#[derive(Debug)]
pub struct NamedLock {
    _file: File,
    path: PathBuf,
}

/// Why a lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Lock names are `[a-z0-9._-]`, 1 to 64 characters, not starting with a dot.
    #[error("invalid lock name `{0}`")]
    BadName(String),
    /// Another process still held the lock when the wait ran out.
    #[error("lock {path} is held{holder}; gave up after {waited_ms} ms", holder = holder.map(|p| format!(" by pid {p}")).unwrap_or_default())]
    Busy {
        /// The lock file.
        path: PathBuf,
        /// The pid recorded by the holder, if readable.
        holder: Option<u32>,
        /// How long we waited.
        waited_ms: u64,
    },
    /// The lock file or its directory could not be used.
    #[error("lock {path}: {source}")]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

impl NamedLock {
    /// Takes the lock `name` in `dir`, waiting at most `wait` (zero: try once).
    pub fn acquire(dir: &Path, name: &str, wait: Duration) -> Result<NamedLock, LockError> {
        NamedLock::acquire_noting(dir, name, wait, "")
    }

    /// Like [`NamedLock::acquire`], and writes `note` (one line, e.g. the
    /// holder's run id) after the pid, for whoever finds the lock busy
    /// ([`read_note`]).
    pub fn acquire_noting(dir: &Path, name: &str, wait: Duration, note: &str) -> Result<NamedLock, LockError> {
        let valid = !name.is_empty()
            && name.len() <= 64
            && !name.starts_with('.')
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'));
        if !valid {
            return Err(LockError::BadName(name.to_owned()));
        }
        let path = dir.join(format!("{name}.lock"));
        let io_err = |source| LockError::Io { path: path.clone(), source };
        crate::private_path::ensure_dir(dir, crate::private_path::Class::Private)
            .map_err(|e| io_err(io::Error::new(io::ErrorKind::PermissionDenied, e)))?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32)
            .open(&path)
            .map_err(io_err)?;
        let facts = crate::private_path::Facts::from_metadata(&file.metadata().map_err(io_err)?);
        let euid = rustix::process::geteuid().as_raw();
        if let Err(problem) = crate::private_path::judge(
            facts,
            crate::private_path::Kind::File,
            crate::private_path::Class::Private,
            euid,
            None,
        ) {
            return Err(io_err(io::Error::new(io::ErrorKind::PermissionDenied, format!("{problem:?}"))));
        }
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) if started.elapsed() < wait => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Err(TryLockError::WouldBlock) => {
                    let mut text = String::new();
                    let _ = file.read_to_string(&mut text);
                    return Err(LockError::Busy {
                        path: path.clone(),
                        holder: text.lines().next().and_then(|l| l.trim().parse().ok()),
                        waited_ms: started.elapsed().as_millis() as u64,
                    });
                }
                Err(TryLockError::Error(e)) => return Err(io_err(e)),
            }
        }
        // The note is for diagnostics only: a full disk must not fail the
        // lock, so a note that cannot be written is left empty.
        let note = note.replace(['\n', '\r'], " ");
        let written = file
            .set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(format!("{}\n{note}\n", std::process::id()).as_bytes()));
        if written.is_err() {
            let _ = file.set_len(0);
        }
        Ok(NamedLock { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether a program started now inherits the lock's descriptor (it is
    /// close-on-exec by default). A child that inherits it holds the lock
    /// too: the kernel releases it only when every holder has closed it, so
    /// a lock handed to a child outlives a crash of its parent. Set it only
    /// around one spawn, under a mutex no other spawn can pass.
    pub fn set_inheritable(&self, inherit: bool) -> io::Result<()> {
        let flags = if inherit { rustix::io::FdFlags::empty() } else { rustix::io::FdFlags::CLOEXEC };
        Ok(rustix::io::fcntl_setfd(&self._file, flags)?)
    }
}

/// Whether someone holds lock `name` in `dir` right now, without taking it
/// for longer than the test or writing to it (a missing file is not held).
/// The file is opened without following links and judged like the lock.
pub fn is_held(dir: &Path, name: &str) -> Result<bool, LockError> {
    let path = dir.join(format!("{name}.lock"));
    let io_err = |source| LockError::Io { path: path.clone(), source };
    let spec = crate::private_path::OpenSpec::read(crate::private_path::Class::Private);
    let file = match crate::private_path::open_file(&path, spec) {
        Ok(Some(f)) => f,
        Ok(None) => return Ok(false),
        Err(e) => return Err(io_err(io::Error::new(io::ErrorKind::PermissionDenied, e.to_string()))),
    };
    match file.try_lock() {
        Ok(()) => Ok(false),
        Err(TryLockError::WouldBlock) => Ok(true),
        Err(TryLockError::Error(e)) => Err(io_err(e)),
    }
}

/// The note a holder of lock `name` in `dir` wrote, if it is readable and
/// not empty (the lock file is opened without following links).
pub fn read_note(dir: &Path, name: &str) -> Option<String> {
    let path = dir.join(format!("{name}.lock"));
    let bytes = crate::private_path::read_file(
        &path,
        crate::private_path::OpenSpec::read(crate::private_path::Class::Private),
        4096,
    )
    .ok()??;
    let text = String::from_utf8(bytes).ok()?;
    text.lines().nth(1).map(str::to_owned).filter(|n| !n.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_until_the_first_releases() {
        let tmp = tempfile::tempdir().unwrap();
        let first = NamedLock::acquire(tmp.path(), "guard-fix", Duration::ZERO).unwrap();
        let err = NamedLock::acquire(tmp.path(), "guard-fix", Duration::from_millis(50)).unwrap_err();
        match err {
            LockError::Busy { holder, waited_ms, .. } => {
                assert_eq!(holder, Some(std::process::id()));
                assert!(waited_ms >= 50, "waited {waited_ms} ms");
            }
            other => panic!("expected Busy, got {other}"),
        }
        // A different name is independent.
        let _other = NamedLock::acquire(tmp.path(), "doctor", Duration::ZERO).unwrap();
        drop(first);
        NamedLock::acquire(tmp.path(), "guard-fix", Duration::ZERO).unwrap();
    }

    #[test]
    fn a_note_is_readable_by_whoever_finds_the_lock_busy() {
        let tmp = tempfile::tempdir().unwrap();
        let held = NamedLock::acquire_noting(tmp.path(), "doctor", Duration::ZERO, "run 42\nforged").unwrap();
        assert_eq!(read_note(tmp.path(), "doctor").as_deref(), Some("run 42 forged"));
        match NamedLock::acquire(tmp.path(), "doctor", Duration::ZERO).unwrap_err() {
            LockError::Busy { holder, .. } => assert_eq!(holder, Some(std::process::id())),
            other => panic!("{other}"),
        }
        assert!(is_held(tmp.path(), "doctor").unwrap());
        assert!(!is_held(tmp.path(), "other").unwrap(), "a missing lock file is not held");
        assert!(
            matches!(NamedLock::acquire(tmp.path(), "doctor", Duration::ZERO), Err(LockError::Busy { .. })),
            "probing took nothing"
        );
        drop(held);
        assert!(!is_held(tmp.path(), "doctor").unwrap());
        let _plain = NamedLock::acquire(tmp.path(), "doctor", Duration::ZERO).unwrap();
        assert_eq!(read_note(tmp.path(), "doctor"), None, "the next holder's empty note replaces it");
    }

    #[test]
    fn bounded_wait_succeeds_when_the_holder_lets_go_in_time() {
        let tmp = tempfile::tempdir().unwrap();
        let first = NamedLock::acquire(tmp.path(), "x", Duration::ZERO).unwrap();
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            drop(first);
        });
        NamedLock::acquire(tmp.path(), "x", Duration::from_secs(5)).unwrap();
        releaser.join().unwrap();
    }

    #[test]
    fn names_that_could_escape_the_directory_are_rejected() {
        let tmp = tempfile::tempdir().unwrap();
        for bad in ["", "../x", "a/b", ".hidden", "UPPER", &"x".repeat(65)] {
            assert!(
                matches!(NamedLock::acquire(tmp.path(), bad, Duration::ZERO), Err(LockError::BadName(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn lock_directory_is_created_private() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run/openclaw");
        let lock = NamedLock::acquire(&dir, "x", Duration::ZERO).unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
        assert_eq!(lock.path(), dir.join("x.lock"));
    }
}
