//! The one private-path rule: which files and directories a tool may trust.
//!
//! Every tool reads or writes files that decide what it does: the config,
//! secrets, the audit log and its checkpoint, state, locks and artifacts. A
//! path is trusted only when nobody but root or the caller can change it, and
//! for secrets, when nobody else can read it either. The rule is one pure
//! function, [`judge`], over the facts of one path ([`Facts`]); the IO
//! wrappers below gather those facts without following symbolic links and
//! without blocking on a FIFO, and every caller goes through them.
//!
//! | [`Class`] | directory | file |
//! | --- | --- | --- |
//! | `Secret` | real directory, owner root or caller, no group/other bits (0700) | regular file, owner root or caller, mode within 0600 |
//! | `Private` | real directory, owner root or caller, not group/other-writable | regular file, owner root or caller, not group/other-writable |
//!
//! Existing ancestors of a directory must be owned by root or the caller and
//! not writable by others, unless the sticky bit is set (as on `/tmp`), where
//! others may add entries but not replace ours. A group-writable ancestor is
//! accepted: Ubuntu ships `/var/log` as `root:syslog 0775`, and refusing it
//! would stop every tool there; the directories the tools own are stricter.
//!
//! Errors carry the path, the problem and the command that fixes it.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// How much a path must be protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Secrets: only root or the caller may read or change it.
    Secret,
    /// Config, state, logs and artifacts: only root or the caller may change it.
    Private,
}

/// What a path turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (never followed).
    Symlink,
    /// A named pipe.
    Fifo,
    /// A Unix socket.
    Socket,
    /// A block or character device.
    Device,
}

impl Kind {
    fn of(ft: std::fs::FileType) -> Kind {
        if ft.is_symlink() {
            Kind::Symlink
        } else if ft.is_dir() {
            Kind::Dir
        } else if ft.is_fifo() {
            Kind::Fifo
        } else if ft.is_socket() {
            Kind::Socket
        } else if ft.is_block_device() || ft.is_char_device() {
            Kind::Device
        } else {
            Kind::File
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Kind::File => "a regular file",
            Kind::Dir => "a directory",
            Kind::Symlink => "a symbolic link",
            Kind::Fifo => "a named pipe (FIFO)",
            Kind::Socket => "a socket",
            Kind::Device => "a device",
        }
    }
}

/// The facts [`judge`] decides on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// What the path is.
    pub kind: Kind,
    /// Its owner.
    pub uid: u32,
    /// Its permission bits (`st_mode & 0o7777`).
    pub mode: u32,
}

impl Facts {
    /// Facts from metadata that was read without following links.
    pub fn from_metadata(meta: &std::fs::Metadata) -> Facts {
        Facts { kind: Kind::of(meta.file_type()), uid: meta.uid(), mode: meta.mode() & 0o7777 }
    }
}

/// Why a path is not trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// It is not the kind of thing expected (a symlink, FIFO, …).
    WrongKind {
        /// What it is.
        found: Kind,
        /// What it should be.
        want: Kind,
    },
    /// Someone other than root or the caller owns it.
    ForeignOwner {
        /// The owner.
        uid: u32,
        /// The caller.
        euid: u32,
    },
    /// Group or others have more access than the class allows.
    TooOpen {
        /// Its mode.
        mode: u32,
        /// The widest mode allowed.
        max: u32,
    },
}

/// The decision for one path: `Ok` when it may be trusted.
///
/// `want` is [`Kind::File`] or [`Kind::Dir`]. A secret file may be narrowed
/// further with `max_file_mode` (systemd credentials are 0440 via an ACL).
pub fn judge(facts: Facts, want: Kind, class: Class, euid: u32, max_file_mode: Option<u32>) -> Result<(), Problem> {
    if facts.kind != want {
        return Err(Problem::WrongKind { found: facts.kind, want });
    }
    if facts.uid != 0 && facts.uid != euid {
        return Err(Problem::ForeignOwner { uid: facts.uid, euid });
    }
    let max = match (class, want) {
        (Class::Secret, Kind::Dir) => 0o700,
        (Class::Secret, _) => max_file_mode.unwrap_or(0o600),
        // Not writable by group or others; setuid/setgid/sticky do not matter here.
        (Class::Private, _) => 0o7755,
    };
    if facts.mode & !max & 0o777 != 0 {
        return Err(Problem::TooOpen { mode: facts.mode, max });
    }
    Ok(())
}

/// Whether an existing ancestor directory is safe to pass through.
pub fn judge_ancestor(facts: Facts, euid: u32) -> Result<(), Problem> {
    if facts.kind != Kind::Dir {
        return Err(Problem::WrongKind { found: facts.kind, want: Kind::Dir });
    }
    if facts.uid != 0 && facts.uid != euid {
        return Err(Problem::ForeignOwner { uid: facts.uid, euid });
    }
    let sticky = facts.mode & 0o1000 != 0;
    if facts.mode & 0o002 != 0 && !sticky {
        return Err(Problem::TooOpen { mode: facts.mode, max: 0o775 });
    }
    Ok(())
}

/// A refused path, with the command that fixes it.
#[derive(Debug, thiserror::Error)]
pub enum UnsafePath {
    /// The path exists but may not be trusted.
    #[error("refusing {path}: {}; fix: {}", problem_text(problem, *ancestor), fix_text(path, problem, *class, *want))]
    Refused {
        /// The path that failed the rule.
        path: PathBuf,
        /// What is wrong.
        problem: Problem,
        /// The rule it was judged by.
        class: Class,
        /// What it should have been.
        want: Kind,
        /// Whether it is an ancestor of the path that was asked for.
        ancestor: bool,
    },
    /// It holds more than the reader accepts ([`read_file`]).
    #[error("{path}: larger than {max} bytes", path = path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The most the reader accepts.
        max: u64,
    },
    /// Reading or creating it failed.
    #[error("{path}: {source}", path = path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

impl UnsafePath {
    /// The path the error is about.
    pub fn path(&self) -> &Path {
        match self {
            UnsafePath::Refused { path, .. } | UnsafePath::TooLarge { path, .. } | UnsafePath::Io { path, .. } => path,
        }
    }

    /// The problem in words, without the path (for callers with their own wording).
    pub fn problem(&self) -> String {
        match self {
            UnsafePath::Refused { problem, ancestor, .. } => problem_text(problem, *ancestor),
            UnsafePath::TooLarge { max, .. } => format!("larger than {max} bytes"),
            UnsafePath::Io { source, .. } => source.to_string(),
        }
    }

    /// The command that fixes it.
    pub fn fix(&self) -> String {
        match self {
            UnsafePath::Refused { path, problem, class, want, .. } => fix_text(path, problem, *class, *want),
            UnsafePath::TooLarge { path, .. } => {
                format!("move {} aside; no file the tools write is that large", path.display())
            }
            UnsafePath::Io { path, .. } => format!("check that {} can be read", path.display()),
        }
    }
}

fn problem_text(problem: &Problem, ancestor: bool) -> String {
    let what = if ancestor { "a parent directory is " } else { "it is " };
    match problem {
        Problem::WrongKind { found, want } => format!("{what}{}, not {}", found.describe(), want.describe()),
        Problem::ForeignOwner { uid, euid } => format!("{what}owned by uid {uid}, not root or the caller (uid {euid})"),
        Problem::TooOpen { mode, max } if *max == 0o700 || *max == 0o600 || *max == 0o440 => {
            format!("{what}mode {mode:04o}; group and others may have no access (at most {max:04o})")
        }
        Problem::TooOpen { mode, .. } => format!("{what}mode {mode:04o}, writable by group or others"),
    }
}

fn fix_text(path: &Path, problem: &Problem, class: Class, want: Kind) -> String {
    let p = path.display();
    match (problem, want) {
        (Problem::WrongKind { found: Kind::Symlink, .. }, Kind::Dir) => {
            format!("use the real path, or replace the link with a directory: rm {p} && mkdir -m 700 {p}")
        }
        (Problem::WrongKind { .. }, Kind::Dir) => format!("move it away and mkdir -m 700 {p}"),
        (Problem::WrongKind { .. }, _) => format!("replace it with a regular file (move the current one away): {p}"),
        (Problem::ForeignOwner { euid: 0, .. }, _) => {
            format!("chown root:root {p} (or remove it if you did not create it)")
        }
        (Problem::ForeignOwner { euid, .. }, _) => format!("chown {euid} {p} (or remove it if you did not create it)"),
        (Problem::TooOpen { .. }, Kind::Dir) if class == Class::Secret => format!("chmod 700 {p}"),
        (Problem::TooOpen { .. }, Kind::Dir) => format!("chmod go-w {p}"),
        (Problem::TooOpen { max, .. }, _) if class == Class::Secret => format!("chmod {:o} {p}", max & 0o600),
        (Problem::TooOpen { .. }, _) => format!("chmod go-w {p}"),
    }
}

fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

fn refused(path: &Path, problem: Problem, class: Class, want: Kind, ancestor: bool) -> UnsafePath {
    UnsafePath::Refused { path: path.to_owned(), problem, class, want, ancestor }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> UnsafePath + '_ {
    move |source| UnsafePath::Io { path: path.to_owned(), source }
}

/// Checks an existing directory (not following a link) and its ancestors.
/// `Ok(false)` when it does not exist.
pub fn check_dir(path: &Path, class: Class) -> Result<bool, UnsafePath> {
    let euid = euid();
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io_err(path)(e)),
    };
    judge(Facts::from_metadata(&meta), Kind::Dir, class, euid, None)
        .map_err(|p| refused(path, p, class, Kind::Dir, false))?;
    check_ancestors(path, class, euid)?;
    Ok(true)
}

fn check_ancestors(path: &Path, class: Class, euid: u32) -> Result<(), UnsafePath> {
    let abs =
        if path.is_absolute() { path.to_owned() } else { std::env::current_dir().map_err(io_err(path))?.join(path) };
    // Judge the parents as written and, when a link sits among them, the real
    // directories it leads through too: `/a/link/secrets` with `link -> /b/c`
    // is only as safe as `/b` and `/b/c`.
    let mut walks = vec![abs.clone()];
    if let Ok(real) = std::fs::canonicalize(&abs)
        && real != abs
    {
        walks.push(real);
    }
    for walk in &walks {
        for anc in walk.ancestors().skip(1) {
            let meta = match std::fs::metadata(anc) {
                Ok(m) => m,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err(anc)(e)),
            };
            judge_ancestor(Facts::from_metadata(&meta), euid).map_err(|p| refused(anc, p, class, Kind::Dir, true))?;
        }
    }
    Ok(())
}

/// Creates `path` (and missing parents) 0700 when absent, then checks it
/// with [`check_dir`]. An existing directory is never loosened or adopted.
pub fn ensure_dir(path: &Path, class: Class) -> Result<(), UnsafePath> {
    if std::fs::symlink_metadata(path).is_err() {
        crate::artifacts::create_private_dir_all(path).map_err(io_err(path))?;
    }
    check_dir(path, class).map(|_| ())
}

/// Judges one existing entry without opening it (the doctor's audit of the
/// secrets directory, which never reads contents). `Ok(false)` when absent.
pub fn check_entry(path: &Path, want: Kind, class: Class, max_file_mode: Option<u32>) -> Result<bool, UnsafePath> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io_err(path)(e)),
    };
    judge(Facts::from_metadata(&meta), want, class, euid(), max_file_mode)
        .map_err(|p| refused(path, p, class, want, false))?;
    Ok(true)
}

/// Whether `path` may be run as an allowlisted action's or job's program:
/// absolute, and (after resolving links) a regular executable file that
/// only root or the caller owns, not writable by group or others, in
/// directories nobody else can swap it out of. Returns the real path.
pub fn check_executable(path: &Path) -> Result<PathBuf, UnsafePath> {
    use std::os::unix::fs::PermissionsExt;
    let (real, meta) = trusted_existing(path, Some(Kind::File))?;
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(invalid(path, "not executable"));
    }
    Ok(real)
}

/// Whether an absolute path an allowlisted command names as an argument (a
/// script given to an interpreter, a config file) can be trusted: if it
/// exists, it is (after resolving links) a regular file or directory only
/// root or the caller owns, not writable by group or others, in directories
/// nobody else can write; if it does not exist, nobody else can create it
/// (its directory passes [`check_dir`]).
pub fn check_trusted_path(path: &Path) -> Result<(), UnsafePath> {
    match trusted_existing(path, None) {
        Ok(_) => Ok(()),
        Err(UnsafePath::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            let parent = path.parent().ok_or_else(|| invalid(path, "no parent directory"))?;
            match check_dir(parent, Class::Private)? {
                true => Ok(()),
                false => Err(invalid(path, "neither it nor its directory exists")),
            }
        }
        Err(e) => Err(e),
    }
}

fn invalid(path: &Path, what: &str) -> UnsafePath {
    UnsafePath::Io { path: path.to_owned(), source: io::Error::new(io::ErrorKind::InvalidInput, what.to_owned()) }
}

/// The one rule both checks above share: `path` is absolute and, after
/// resolving links, an entry of kind `want` (a file or a directory when
/// `None`) judged [`Class::Private`], with its real and written parents
/// safe. Returns the real path and its metadata.
fn trusted_existing(path: &Path, want: Option<Kind>) -> Result<(PathBuf, std::fs::Metadata), UnsafePath> {
    if !path.is_absolute() {
        return Err(invalid(path, "not an absolute path"));
    }
    let real = std::fs::canonicalize(path).map_err(io_err(path))?;
    let meta = std::fs::metadata(&real).map_err(io_err(&real))?;
    let want = want.unwrap_or(if meta.is_dir() { Kind::Dir } else { Kind::File });
    judge(Facts::from_metadata(&meta), want, Class::Private, euid(), None)
        .map_err(|p| refused(&real, p, Class::Private, want, false))?;
    check_ancestors(&real, Class::Private, euid())?;
    check_ancestors(path, Class::Private, euid())?;
    Ok((real, meta))
}

/// How to open a file.
#[derive(Debug, Clone, Copy)]
pub struct OpenSpec {
    /// The rule it is judged by.
    pub class: Class,
    /// For secrets, the widest mode allowed (default 0600).
    pub max_file_mode: Option<u32>,
    /// Open for appending (creating it 0600 when absent).
    pub append: bool,
}

impl OpenSpec {
    /// Read-only, judged by `class`.
    pub fn read(class: Class) -> OpenSpec {
        OpenSpec { class, max_file_mode: None, append: false }
    }
}

/// Opens a file without following a link and without blocking on a FIFO,
/// then judges the open descriptor (so what is judged is what is read).
/// `Ok(None)` when it does not exist (and is not being created).
pub fn open_file(path: &Path, spec: OpenSpec) -> Result<Option<File>, UnsafePath> {
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::CLOEXEC;
    let mut opts = OpenOptions::new();
    opts.read(true).custom_flags(flags.bits() as i32);
    if spec.append {
        opts.append(true).create(true).mode(0o600);
    }
    let file = match opts.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound && !spec.append => return Ok(None),
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
            let problem = Problem::WrongKind { found: Kind::Symlink, want: Kind::File };
            return Err(refused(path, problem, spec.class, Kind::File, false));
        }
        // Opening a FIFO for writing with O_NONBLOCK and no reader fails with ENXIO.
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NXIO.raw_os_error()) => {
            let problem = Problem::WrongKind { found: Kind::Fifo, want: Kind::File };
            return Err(refused(path, problem, spec.class, Kind::File, false));
        }
        Err(e) => return Err(io_err(path)(e)),
    };
    let meta = file.metadata().map_err(io_err(path))?;
    judge(Facts::from_metadata(&meta), Kind::File, spec.class, euid(), spec.max_file_mode)
        .map_err(|p| refused(path, p, spec.class, Kind::File, false))?;
    // Regular files ignore O_NONBLOCK; clear it anyway so no later read surprises.
    let keep = if spec.append { rustix::fs::OFlags::APPEND } else { rustix::fs::OFlags::empty() };
    rustix::fs::fcntl_setfl(&file, keep).map_err(|e| io_err(path)(e.into()))?;
    Ok(Some(file))
}

/// [`open_file`], then its whole content, refusing a file of more than `max`
/// bytes (without reading past `max + 1`). `Ok(None)` when it does not exist.
pub fn read_file(path: &Path, spec: OpenSpec, max: u64) -> Result<Option<Vec<u8>>, UnsafePath> {
    let Some(file) = open_file(path, spec)? else { return Ok(None) };
    let mut bytes = Vec::new();
    io::Read::read_to_end(&mut io::Read::take(file, max.saturating_add(1)), &mut bytes).map_err(io_err(path))?;
    if bytes.len() as u64 > max {
        return Err(UnsafePath::TooLarge { path: path.to_owned(), max });
    }
    Ok(Some(bytes))
}

/// [`read_file`] for a file whose parents matter too (a trust anchor such
/// as `allowed_signers`): the file is opened once, without following a
/// link, judged on its descriptor by `class`, and its parents are judged
/// after the open (a parent only root or this user can write cannot have
/// been swapped between the open and the check). The caller uses the bytes
/// returned, never the path again.
pub fn read_anchored(path: &Path, class: Class, max: u64) -> Result<Option<Vec<u8>>, UnsafePath> {
    let bytes = read_file(path, OpenSpec::read(class), max)?;
    if bytes.is_some() {
        check_ancestors(path, class, euid())?;
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests;
