//! The job's filesystem, built rather than inherited. The job's init makes
//! a new root on an empty tmpfs, binds into it only what the job needs and
//! pivots into it, so the host's `/run`, `/var/run`, `/var/lib`, `/home`,
//! `/root`, `/srv`, `/mnt` and their Unix sockets do not exist for the job:
//!
//! | Path | What the job sees |
//! |---|---|
//! | `/usr`, `/etc`, `/bin`, `/sbin`, `/lib*` | the host's, read-only, nosuid (a link such as `/bin -> usr/bin` stays a link) |
//! | `/proc` | its own PID namespace's |
//! | `/dev` | `null`, `zero`, `full`, `random`, `urandom`; `fd`, `stdin`, `stdout`, `stderr` links; private `shm` and `mqueue` |
//! | `/tmp`, `/var/tmp` | private, empty tmpfs (512 MiB each) |
//! | `/run` | private, empty tmpfs; `/run/lock` world-writable |
//! | the job directory | read-write: the worktree (its modes keep it read-only), `HOME`, `TMPDIR`, `ARTIFACT_DIR` |
//! | the repo's mirror | read-only, for a `run_as = "root"` job only (the worktree's `.git` names it; no other uid could read it on the host either) |
//! | `argv[0]` | read-only, alone, when it is outside the system directories |
//! | `/etc/resolv.conf`'s target | read-only, alone, for a `network = true` job whose resolver file lives under `/run` |
//! | everything else | nothing |
//!
//! The root itself is read-only once built. [`plan`] decides what to bind
//! (pure); [`build`] runs in the init, as root, before the job exists.

use std::ffi::OsString;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use rustix::mount::{MountFlags, UnmountFlags};

/// The host's system directories, bound read-only (links are recreated).
pub const SYSTEM: [&str; 8] = ["/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];

/// Device nodes bound from the host's `/dev`.
/// No `tty`: the job has no controlling terminal (its init starts a new
/// session), and the host's terminal devices stay out of reach.
const DEVICES: [&str; 5] = ["null", "zero", "full", "random", "urandom"];

/// Size of the private `/tmp` and `/var/tmp`.
pub const TMP_SIZE: &str = "512m";

/// Paths bound into the view at their own place.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Binds {
    /// Bound read-write (the job directory).
    pub rw: Vec<PathBuf>,
    /// Bound read-only (the mirror, the program, the resolver file).
    pub ro: Vec<PathBuf>,
}

/// Whether `path` is visible in every view (under a system directory).
pub fn in_system(path: &Path) -> bool {
    SYSTEM.iter().any(|d| path.starts_with(d))
}

/// What a job's view binds beside the fixed parts: its directory
/// (read-write), its mirror, its program when outside the system
/// directories, and (`network`) the resolver file `resolv` when it lives
/// outside them. Pure.
pub fn plan(jobdir: &Path, mirror: Option<&Path>, program: &Path, resolv: Option<&Path>) -> Binds {
    let mut ro: Vec<PathBuf> = mirror.map(Path::to_owned).into_iter().collect();
    for extra in [Some(program), resolv].into_iter().flatten() {
        if !in_system(extra) && !extra.starts_with(jobdir) && !ro.iter().any(|p| extra.starts_with(p)) {
            ro.push(extra.to_owned());
        }
    }
    Binds { rw: vec![jobdir.to_owned()], ro }
}

/// Why a bound path is refused: it must be absolute, plain (no `.`, `..`),
/// outside the fixed parts of the view and apart from every other bind.
pub fn check(binds: &Binds) -> Result<(), String> {
    let all: Vec<&PathBuf> = binds.rw.iter().chain(&binds.ro).collect();
    for (i, p) in all.iter().enumerate() {
        let plain = p.is_absolute() && p.components().skip(1).all(|c| matches!(c, Component::Normal(_)));
        if !plain || p.components().count() < 2 {
            return Err(format!("{} is not a plain absolute path below /", p.display()));
        }
        let fixed = ["/proc", "/dev"];
        if in_system(p) || fixed.iter().any(|d| p.starts_with(d)) {
            return Err(format!("{} lies in a fixed part of the job's view", p.display()));
        }
        if all.iter().enumerate().any(|(j, q)| i != j && (p.starts_with(q) || q.starts_with(p))) {
            return Err(format!("{} overlaps another path bound into the job's view", p.display()));
        }
    }
    Ok(())
}

/// The init's flags for `binds` (`--rw PATH`, `--ro PATH`).
pub fn to_args(binds: &Binds) -> Vec<OsString> {
    let mut v = Vec::new();
    for (flag, paths) in [("--rw", &binds.rw), ("--ro", &binds.ro)] {
        for p in paths {
            v.extend([flag.into(), p.clone().into_os_string()]);
        }
    }
    v
}

fn err(what: &str, path: &Path, e: impl std::fmt::Display) -> String {
    format!("cannot {what} {}: {e}", path.display())
}

fn tmpfs(at: &Path, data: &str, flags: MountFlags) -> Result<(), String> {
    let data = std::ffi::CString::new(data).map_err(|e| e.to_string())?;
    rustix::mount::mount("tmpfs", at, "tmpfs", flags, Some(data.as_c_str())).map_err(|e| err("mount a tmpfs on", at, e))
}

fn mkdir(at: &Path) -> Result<(), String> {
    match std::fs::create_dir(at) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(err("create", at, e)),
        _ => Ok(()),
    }
}

/// Binds `src` at `dst` (made first: a directory, or an empty file) and
/// sets its flags (`RDONLY` for a read-only bind).
fn bind(src: &Path, dst: &Path, extra: MountFlags) -> Result<(), String> {
    let meta = std::fs::metadata(src).map_err(|e| err("bind", src, e))?;
    if meta.is_dir() {
        mkdir(dst)?;
    } else {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o444)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(dst)
            .map_err(|e| err("create", dst, e))?;
    }
    rustix::mount::mount_bind(src, dst).map_err(|e| err("bind", src, e))?;
    let flags = MountFlags::BIND | MountFlags::NOSUID | extra;
    rustix::mount::mount_remount(dst, flags, "").map_err(|e| err("set the flags of", dst, e))
}

/// `path` inside the view rooted at `root`.
fn inside(root: &Path, path: &Path) -> PathBuf {
    root.join(path.strip_prefix("/").unwrap_or(path))
}

/// Builds the view on `root` (an empty directory) and pivots into it;
/// the caller's working directory is `/` afterwards. Runs in the job's
/// own mount namespace, whose mounts are private.
pub fn build(root: &Path, binds: &Binds) -> Result<(), String> {
    check(binds)?;
    let (nosuid, nodev, noexec) = (MountFlags::NOSUID, MountFlags::NODEV, MountFlags::NOEXEC);
    tmpfs(root, "mode=0755,size=1m", nosuid | nodev)?;
    for sys in SYSTEM.iter().map(Path::new) {
        match std::fs::symlink_metadata(sys) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = std::fs::read_link(sys).map_err(|e| err("read", sys, e))?;
                std::os::unix::fs::symlink(target, inside(root, sys)).map_err(|e| err("link", sys, e))?;
            }
            Ok(m) if m.is_dir() => bind(sys, &inside(root, sys), nodev | MountFlags::RDONLY)?,
            _ => {}
        }
    }
    let at = |p: &str| inside(root, Path::new(p));
    mkdir(&at("/proc"))?;
    rustix::mount::mount("proc", at("/proc"), "proc", nosuid | nodev | noexec, None)
        .map_err(|e| err("mount the job's", Path::new("/proc"), e))?;
    mkdir(&at("/dev"))?;
    tmpfs(&at("/dev"), "mode=0755,size=64k", nosuid | noexec)?;
    for dev in DEVICES {
        let host = Path::new("/dev").join(dev);
        if host.exists() {
            bind(&host, &at(&format!("/dev/{dev}")), MountFlags::empty())?;
        }
    }
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        std::os::unix::fs::symlink(target, at(&format!("/dev/{name}"))).map_err(|e| err("link", Path::new(name), e))?;
    }
    mkdir(&at("/dev/shm"))?;
    tmpfs(&at("/dev/shm"), &format!("mode=1777,size={TMP_SIZE}"), nosuid | nodev)?;
    mkdir(&at("/dev/mqueue"))?;
    rustix::mount::mount("mqueue", at("/dev/mqueue"), "mqueue", nosuid | nodev | noexec, None)
        .map_err(|e| err("mount the job's", Path::new("/dev/mqueue"), e))?;
    for dir in ["/tmp", "/var", "/var/tmp", "/run"] {
        mkdir(&at(dir))?;
    }
    for dir in ["/tmp", "/var/tmp"] {
        tmpfs(&at(dir), &format!("mode=1777,size={TMP_SIZE}"), nosuid | nodev)?;
    }
    tmpfs(&at("/run"), "mode=0755,size=1m", nosuid | nodev)?;
    mkdir(&at("/run/lock"))?;
    std::fs::set_permissions(at("/run/lock"), std::os::unix::fs::PermissionsExt::from_mode(0o1777))
        .map_err(|e| err("open up", Path::new("/run/lock"), e))?;
    for (paths, extra) in [(&binds.rw, MountFlags::empty()), (&binds.ro, MountFlags::RDONLY)] {
        for p in paths {
            let dst = inside(root, p);
            if let Some(parent) = dst.parent() {
                // Passage only: the job reaches what is bound, never lists its neighbours.
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o711)
                    .create(parent)
                    .map_err(|e| err("create", parent, e))?;
            }
            bind(p, &dst, nodev | extra)?;
        }
    }
    pivot(root)
}

/// Makes `root` the root: the old one is detached, so nothing of the
/// host's filesystem stays reachable; then the new root goes read-only.
fn pivot(root: &Path) -> Result<(), String> {
    rustix::process::chdir(root).map_err(|e| err("enter", root, e))?;
    // pivot_root(".", "."): the old root ends up stacked on the new one,
    // and detaching "." removes it.
    rustix::process::pivot_root(".", ".").map_err(|e| err("pivot into", root, e))?;
    rustix::mount::unmount(".", UnmountFlags::DETACH).map_err(|e| err("detach the host's root at", root, e))?;
    rustix::process::chdir("/").map_err(|e| err("enter", Path::new("/"), e))?;
    rustix::mount::mount_remount("/", MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV, "")
        .map_err(|e| err("make read-only", Path::new("/"), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_binds_the_job_directory_the_mirror_and_only_outside_programs() {
        let b = plan(Path::new("/run/o/j1"), Some(Path::new("/var/lib/o/m.git")), Path::new("/usr/bin/make"), None);
        assert_eq!(b, Binds { rw: vec!["/run/o/j1".into()], ro: vec!["/var/lib/o/m.git".into()] });
        let b = plan(Path::new("/run/o/j1"), None, Path::new("/srv/jobs/a.sh"), Some(Path::new("/run/resolv.conf")));
        assert_eq!(b.ro, [PathBuf::from("/srv/jobs/a.sh"), PathBuf::from("/run/resolv.conf")]);
        assert!(check(&b).is_ok());
    }

    #[test]
    fn binds_that_are_relative_fixed_or_overlapping_are_refused() {
        for (rw, ro) in [
            ("run/j", "/m"),
            ("/run/j/../x", "/m"),
            ("/run/j", "/usr/local/m"),
            ("/run/j", "/proc/1/root"),
            ("/run/j", "/run/j/m"),
            ("/run", "/run/x"),
            ("/", "/m"),
        ] {
            let b = Binds { rw: vec![rw.into()], ro: vec![ro.into()] };
            assert!(check(&b).is_err(), "{rw} {ro}");
        }
    }
}
