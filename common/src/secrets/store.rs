//! Writing keys and the host salt so that a kill or a full disk at any
//! instant leaves the old file or the new one, never a partial or empty one,
//! and so that a replacement can be taken back when its audit record could
//! not be written.
//!
//! A key is written in two steps: [`stage_secret_file`] writes and syncs a
//! temporary `.<name>.tmp.<pid>.<n>` beside it; [`Staged::commit`] keeps the
//! old file as `.<name>.prev` (a hard link: no data blocks, so it works on a
//! full disk) and renames the new one into place. The caller then records the
//! change and either [`Replaced::keep`]s it or [`Replaced::undo`]es it. Files
//! a killed writer left are found by [`stale_files`]; only a caller that holds
//! the writers' lock may remove them.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{SecretError, SecretString, validate_name};
use crate::hash::to_hex;
use crate::private_path::{self, Class, OpenSpec};
use secrecy::ExposeSecret;

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn io_err(path: &Path) -> impl Fn(io::Error) -> SecretError + '_ {
    move |source| SecretError::Io { path: path.to_owned(), source }
}

/// A fresh temporary name beside `path`'s file name `name`.
fn temp_name(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!(".{name}.tmp.{}.{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)))
}

/// Creates `tmp` (0600, never through a link), writes `bytes` and syncs it.
fn write_new(tmp: &Path, bytes: &[u8]) -> io::Result<()> {
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::CLOEXEC;
    let res = (|| {
        let mut f =
            OpenOptions::new().write(true).create_new(true).mode(0o600).custom_flags(flags.bits() as i32).open(tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    if res.is_err() {
        let _ = fs::remove_file(tmp);
    }
    res
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// A new key written beside its place, not yet in it. Dropped uncommitted,
/// its temporary file is removed.
#[derive(Debug)]
pub struct Staged {
    tmp: PathBuf,
    path: PathBuf,
    prev: PathBuf,
    dir: PathBuf,
}

/// A key put in place, with the file it replaced kept until the caller
/// decides. Dropped undecided, the `.prev` file stays for the next cleanup.
#[derive(Debug)]
#[must_use = "keep() or undo() the replacement"]
pub struct Replaced {
    path: PathBuf,
    prev: Option<PathBuf>,
    dir: PathBuf,
}

/// Writes `value` to a synced temporary file beside `<dir>/<name lowercase>`.
pub fn stage_secret_file(dir: &Path, name: &str, value: &SecretString) -> Result<Staged, SecretError> {
    validate_name(name)?;
    private_path::ensure_dir(dir, Class::Secret)?;
    let file = name.to_ascii_lowercase();
    let tmp = temp_name(dir, &file);
    write_new(&tmp, value.expose_secret().as_bytes()).map_err(io_err(&tmp))?;
    Ok(Staged { tmp, path: dir.join(&file), prev: dir.join(format!(".{file}.prev")), dir: dir.to_owned() })
}

impl Staged {
    /// Where the key goes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Puts the new key in place; the old one (if any) stays as `.<name>.prev`.
    pub fn commit(self) -> Result<Replaced, SecretError> {
        match fs::remove_file(&self.prev) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_err(&self.prev)(e)),
            _ => {}
        }
        let had_old = match fs::hard_link(&self.path, &self.prev) {
            Ok(()) => true,
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(io_err(&self.prev)(e)),
        };
        if let Err(e) = fs::rename(&self.tmp, &self.path) {
            if had_old {
                let _ = fs::remove_file(&self.prev);
            }
            return Err(io_err(&self.path)(e));
        }
        let replaced =
            Replaced { path: self.path.clone(), prev: had_old.then(|| self.prev.clone()), dir: self.dir.clone() };
        // The rename is what must be durable before anyone records it.
        sync_dir(&self.dir).map_err(io_err(&self.dir))?;
        Ok(replaced)
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.tmp);
    }
}

/// Moves `<dir>/<name lowercase>` aside to `.<name>.prev` (deleting it, until
/// [`Replaced::keep`]); `None` when there is no such file.
pub fn remove_secret_file(dir: &Path, name: &str) -> Result<Option<Replaced>, SecretError> {
    validate_name(name)?;
    let file = name.to_ascii_lowercase();
    let (path, prev) = (dir.join(&file), dir.join(format!(".{file}.prev")));
    match fs::remove_file(&prev) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_err(&prev)(e)),
        _ => {}
    }
    match fs::rename(&path, &prev) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(&path)(e)),
    }
    sync_dir(dir).map_err(io_err(dir))?;
    Ok(Some(Replaced { path, prev: Some(prev), dir: dir.to_owned() }))
}

impl Replaced {
    /// The change stands: the old file goes.
    pub fn keep(self) {
        if let Some(prev) = &self.prev {
            let _ = fs::remove_file(prev);
            let _ = sync_dir(&self.dir);
        }
    }

    /// Takes the change back: the old file returns (or the new one goes,
    /// when there was none). Needs no free space.
    pub fn undo(self) -> Result<(), SecretError> {
        match &self.prev {
            Some(prev) => fs::rename(prev, &self.path).map_err(io_err(&self.path))?,
            None => fs::remove_file(&self.path).map_err(io_err(&self.path))?,
        }
        sync_dir(&self.dir).map_err(io_err(&self.dir))
    }
}

/// Writes `value` to `<dir>/<name lowercase>` atomically, mode 0600 from
/// creation. Tests only: a real change goes through keyctl's lock and record.
#[cfg(test)]
pub fn write_secret_file(dir: &Path, name: &str, value: &SecretString) -> Result<PathBuf, SecretError> {
    let staged = stage_secret_file(dir, name, value)?;
    let path = staged.path().to_owned();
    staged.commit()?.keep();
    Ok(path)
}

/// Whether `name` is a file a killed key writer leaves: `.<key>.tmp.<pid>.<n>`
/// or `.<key>.prev`, with `<key>` a lowercase key name. Raw bytes, no lossy
/// conversion.
pub fn is_stale_name(name: &OsStr) -> bool {
    let Some(rest) = name.as_encoded_bytes().strip_prefix(b".") else { return false };
    let key_ok = |k: &[u8]| {
        k.first().is_some_and(u8::is_ascii_lowercase)
            && k.len() <= 128
            && k.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
    };
    let digits = |d: &[u8]| !d.is_empty() && d.len() <= 20 && d.iter().all(u8::is_ascii_digit);
    if let Some(key) = rest.strip_suffix(b".prev") {
        return key_ok(key);
    }
    let mut parts = rest.rsplitn(4, |b| *b == b'.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(n), Some(pid), Some(b"tmp"), Some(key)) => digits(n) && digits(pid) && key_ok(key),
        _ => false,
    }
}

/// The files killed writers left in `dir` ([`is_stale_name`]), sorted.
pub fn stale_files(dir: &Path) -> Result<Vec<PathBuf>, SecretError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(dir)(e)),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_err(dir))?;
        // Files (or links) only: a directory by such a name is not ours to remove.
        if is_stale_name(&entry.file_name()) && entry.file_type().is_ok_and(|t| !t.is_dir()) {
            found.push(entry.path());
        }
    }
    found.sort();
    Ok(found)
}

/// What [`host_salt_repairing`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaltFound {
    /// A salt was there.
    Existing,
    /// There was none; one was created.
    Created,
    /// A 0-byte salt (an older writer's interrupted creation) was replaced.
    ReplacedEmpty,
}

enum SaltState {
    Missing,
    Empty,
    Hex(Vec<u8>),
}

fn read_salt(path: &Path) -> Result<SaltState, SecretError> {
    let spec = OpenSpec { class: Class::Secret, max_file_mode: Some(0o600), append: false };
    let Some(file) = private_path::open_file(path, spec)? else { return Ok(SaltState::Missing) };
    let mut raw = Vec::new();
    file.take(129).read_to_end(&mut raw).map_err(io_err(path))?;
    if raw.is_empty() {
        return Ok(SaltState::Empty);
    }
    let text = std::str::from_utf8(&raw).ok().map(|t| t.trim_end_matches(['\n', '\r']));
    text.and_then(decode_salt).map(SaltState::Hex).ok_or_else(|| SecretError::Refused {
        path: path.to_owned(),
        problem: "not 64 hex characters".into(),
        fix: format!("delete {}; a new salt is created (older key ids stop matching)", path.display()),
    })
}

fn decode_salt(hex: &str) -> Option<Vec<u8>> {
    if hex.len() != 64 {
        return None;
    }
    (0..32).map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()).collect()
}

/// A fresh salt written to a synced temporary file in `dir`.
fn new_salt_file(dir: &Path) -> Result<(Vec<u8>, PathBuf), SecretError> {
    let mut salt = [0u8; 32];
    rustix::rand::getrandom(&mut salt[..], rustix::rand::GetRandomFlags::empty()).map_err(|e| io_err(dir)(e.into()))?;
    let tmp = temp_name(dir, "salt");
    write_new(&tmp, to_hex(&salt).as_bytes()).map_err(io_err(&tmp))?;
    Ok((salt.to_vec(), tmp))
}

/// The per-host salt for [`super::key_id`]: 32 random bytes kept as hex in
/// `<state>/keyctl/salt`, read with the same checks as a secret file (a
/// readable salt would let anyone confirm guessed values against logged ids).
/// Created atomically (a synced temporary file linked into place, never
/// over one another process just made), so it is never seen empty or
/// partial. A 0-byte salt, which only an older version could leave, is
/// refused here; `openclaw-keyctl` replaces it ([`host_salt_repairing`]).
pub fn host_salt(state_dir: &Path) -> Result<Vec<u8>, SecretError> {
    salt(state_dir, false).map(|(s, _)| s)
}

/// [`host_salt`], and a 0-byte salt is replaced (it never identified a key,
/// so nothing is lost). For the one caller that holds keyctl's lock and
/// audits what it reports.
pub fn host_salt_repairing(state_dir: &Path) -> Result<(Vec<u8>, SaltFound), SecretError> {
    salt(state_dir, true)
}

/// The salt if one exists, never creating or repairing one (for readers
/// such as the doctor).
pub fn existing_host_salt(state_dir: &Path) -> Result<Option<Vec<u8>>, SecretError> {
    let path = state_dir.join("keyctl/salt");
    match read_salt(&path)? {
        SaltState::Hex(s) => Ok(Some(s)),
        SaltState::Missing | SaltState::Empty => Ok(None),
    }
}

fn salt(state_dir: &Path, repair: bool) -> Result<(Vec<u8>, SaltFound), SecretError> {
    let path = state_dir.join("keyctl/salt");
    let dir = path.parent().unwrap_or(state_dir);
    match read_salt(&path)? {
        SaltState::Hex(s) => Ok((s, SaltFound::Existing)),
        SaltState::Empty if !repair => Err(SecretError::Refused {
            path: path.clone(),
            problem: "empty (an interrupted write by an older version)".into(),
            fix: "run openclaw-keyctl status, which replaces it".into(),
        }),
        SaltState::Empty => {
            let (salt, tmp) = new_salt_file(dir)?;
            let res = fs::rename(&tmp, &path).and_then(|()| sync_dir(dir));
            if res.is_err() {
                let _ = fs::remove_file(&tmp);
            }
            res.map_err(io_err(&path))?;
            Ok((salt, SaltFound::ReplacedEmpty))
        }
        SaltState::Missing => {
            private_path::ensure_dir(dir, Class::Private)?;
            let (salt, tmp) = new_salt_file(dir)?;
            let linked = fs::hard_link(&tmp, &path);
            let _ = fs::remove_file(&tmp);
            match linked {
                Ok(()) => {
                    sync_dir(dir).map_err(io_err(dir))?;
                    Ok((salt, SaltFound::Created))
                }
                // Another process made it first: use theirs.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => match read_salt(&path)? {
                    SaltState::Hex(s) => Ok((s, SaltFound::Existing)),
                    _ => Err(io_err(&path)(io::Error::other("the salt another process made is not readable"))),
                },
                Err(e) => Err(io_err(&path)(e)),
            }
        }
    }
}
