//! The one artifact writer.
//!
//! Run directories are `<root>/<kind>/<stamp>[-N][_<host>]` where `<stamp>`
//! is UTC `YYYYMMDDTHHMMSSZ` and `-N` separates runs that share a second.
//! Files are written atomically (temp file in the same directory, fsync,
//! rename, fsync of the directory) with mode 0600; directories are 0700.

use std::ffi::OsString;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use time::OffsetDateTime;

use crate::time_fmt;

/// Creates `dir` and any missing parents with mode 0700.
pub fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// Writes `bytes` to `path` atomically with mode 0600.
///
/// Readers see either the old file or the complete new one, never a partial
/// write, and a crash leaves at most a stray `.tmp` file beside it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with_mode(path, bytes, 0o600)
}

/// [`write_atomic`] with another mode, for the rare file another user must
/// read (node_exporter's textfile). The mode is set before the rename, so the
/// file never appears with the wrong one.
pub fn write_atomic_with_mode(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let mut tmp_name = OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp.{}.{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)));
    let tmp = dir.join(tmp_name);
    let res = (|| {
        // create_new: O_EXCL never follows a planted symlink; mode is set at creation.
        let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        if mode != 0o600 {
            // Explicit chmod: the umask may have narrowed the creation mode.
            file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))?;
        }
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

/// Creates a fresh run directory `<root>/<kind>/<stamp>[-N][_<host>]`.
///
/// `kind` is a fixed word such as `doctor` or `evidence`; `host`, when given,
/// is reduced to `[A-Za-z0-9.-]` so a hostile hostname cannot escape the root.
pub fn new_run_dir(root: &Path, kind: &str, host: Option<&str>, now: OffsetDateTime) -> io::Result<PathBuf> {
    if kind.is_empty() || !kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'-') {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("bad artifact kind `{kind}`")));
    }
    // The whole artifacts path follows the private-path rule: a symlinked root
    // or a `doctor/` another user owns would let them swap in a forged report.
    let parent = root.join(kind);
    let refused = |e: crate::private_path::UnsafePath| io::Error::new(io::ErrorKind::PermissionDenied, e);
    crate::private_path::ensure_dir(root, crate::private_path::Class::Private).map_err(refused)?;
    crate::private_path::ensure_dir(&parent, crate::private_path::Class::Private).map_err(refused)?;
    let stamp = time_fmt::stamp(now);
    let host_suffix = host.map(|h| format!("_{}", safe_component(h))).unwrap_or_default();
    for n in 1..1000 {
        let name = if n == 1 { format!("{stamp}{host_suffix}") } else { format!("{stamp}-{n}{host_suffix}") };
        let dir = parent.join(name);
        match DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(io::ErrorKind::AlreadyExists, "1000 runs in one second; refusing to continue"))
}

/// Reduces `s` to `[A-Za-z0-9.-]`, replacing anything else with `-`, and
/// never returns an empty, `.` or `..` component.
pub fn safe_component(s: &str) -> String {
    let res: String =
        s.chars().take(64).map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '-' }).collect();
    if res.is_empty() || res.bytes().all(|b| b == b'.') { String::from("unknown") } else { res }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use time::macros::datetime;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn atomic_write_creates_0600_and_replaces_whole_files() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("doctor.json");
        write_atomic(&path, b"first").unwrap();
        assert_eq!(mode(&path), 0o600);
        write_atomic(&path, b"second").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        let names: Vec<_> = fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![OsString::from("doctor.json")], "no temp files left behind");
    }

    #[test]
    fn atomic_write_with_mode_sets_it_before_the_file_appears() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("openclaw_doctor.prom");
        write_atomic_with_mode(&path, b"x 1\n", 0o644).unwrap();
        assert_eq!(mode(&path), 0o644);
    }

    #[test]
    fn atomic_write_replaces_a_planted_symlink_instead_of_following_it() {
        let tmp = tempfile::tempdir().unwrap();
        let victim = tmp.path().join("victim");
        fs::write(&victim, b"untouched").unwrap();
        let path = tmp.path().join("out.json");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        write_atomic(&path, b"data").unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"untouched");
        assert!(fs::symlink_metadata(&path).unwrap().file_type().is_file());
    }

    #[test]
    fn atomic_write_into_a_missing_directory_fails() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(write_atomic(&tmp.path().join("nope/x.json"), b"x").is_err());
    }

    #[test]
    fn run_dirs_are_private_stamped_and_never_reused() {
        let tmp = tempfile::tempdir().unwrap();
        let now = datetime!(2026-11-24 19:47:05 UTC);
        let a = new_run_dir(tmp.path(), "doctor", None, now).unwrap();
        let b = new_run_dir(tmp.path(), "doctor", None, now).unwrap();
        let c = new_run_dir(tmp.path(), "evidence", Some("vps-1"), now).unwrap();
        assert_eq!(a, tmp.path().join("doctor/20261124T194705Z"));
        assert_eq!(b, tmp.path().join("doctor/20261124T194705Z-2"));
        assert_eq!(c, tmp.path().join("evidence/20261124T194705Z_vps-1"));
        for dir in [&a, &b, &c, &tmp.path().join("doctor")] {
            assert_eq!(mode(dir), 0o700, "{}", dir.display());
        }
    }

    #[test]
    fn a_symlinked_root_or_a_foreign_kind_dir_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let now = datetime!(2026-11-24 19:47:05 UTC);
        let real = tmp.path().join("real");
        fs::create_dir(&real).unwrap();
        let root = tmp.path().join("artifacts");
        std::os::unix::fs::symlink(&real, &root).unwrap();
        let err = new_run_dir(&root, "doctor", None, now).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert!(fs::read_dir(&real).unwrap().next().is_none(), "nothing written through the link");
        let root = tmp.path().join("root");
        fs::create_dir_all(root.join("doctor")).unwrap();
        fs::set_permissions(root.join("doctor"), fs::Permissions::from_mode(0o777)).unwrap();
        let err = new_run_dir(&root, "doctor", None, now).unwrap_err();
        assert!(err.to_string().contains("writable by group or others"), "{err}");
        if rustix::process::geteuid().is_root() {
            fs::set_permissions(root.join("doctor"), fs::Permissions::from_mode(0o700)).unwrap();
            std::os::unix::fs::chown(root.join("doctor"), Some(65534), None).unwrap();
            let err = new_run_dir(&root, "doctor", None, now).unwrap_err();
            assert!(err.to_string().contains("owned by uid 65534"), "{err}");
        }
    }

    #[test]
    fn hostile_host_and_kind_cannot_escape_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let now = datetime!(2026-11-24 19:47:05 UTC);
        let dir = new_run_dir(tmp.path(), "evidence", Some("../../etc/x"), now).unwrap();
        assert!(dir.starts_with(tmp.path().join("evidence")));
        assert_eq!(dir.file_name().unwrap(), "20261124T194705Z_..-..-etc-x");
        assert!(new_run_dir(tmp.path(), "../x", None, now).is_err());
        assert_eq!(safe_component(".."), "unknown");
        assert_eq!(safe_component(""), "unknown");
    }
}
