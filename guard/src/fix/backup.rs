//! Backups of everything a fix changes, kept where a locked-out operator
//! can find them: `<state dir>/guard/backups/<id>/` (0700), holding
//! `manifest.json` (each file's path, whether it existed, its mode and
//! SHA-256, and the units changed with their previous state) and
//! `files/<n>`, a byte-for-byte copy of each file.
//!
//! [`Backup::restore_files`] puts every file back byte for byte (mode kept,
//! written atomically, checked against the recorded SHA-256), removes the
//! files the fix created, and on any failure leaves the backup in place and
//! returns the exact commands that restore it by hand.

use std::path::{Path, PathBuf};

use common::artifacts::write_atomic_with_mode;
use common::private_path::{self, Class, OpenSpec};
use serde::{Deserialize, Serialize};

/// Largest file a fix backs up or edits.
pub const MAX_FILE: u64 = 1024 * 1024;

/// One backed-up file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedFile {
    /// The file's path.
    pub path: PathBuf,
    /// Whether it existed (a file the fix creates is removed on restore).
    pub existed: bool,
    /// Its permission bits.
    pub mode: u32,
    /// Its owner and group (`root:lp` for `cupsd.conf`), kept on every write.
    pub uid: u32,
    /// Its group.
    pub gid: u32,
    /// SHA-256 of its bytes, hex.
    pub sha256: String,
    /// The copy under `files/`.
    pub copy: String,
}

/// A unit the fix changed and the state to return it to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedUnit {
    /// `ssh.socket`, `cups.service`, ….
    pub name: String,
    /// `systemctl is-enabled` before (`enabled`, `disabled`, `masked`, …).
    pub enabled: String,
    /// Whether it was active.
    pub active: bool,
}

/// The manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The backup id (also the directory name).
    pub id: String,
    /// The remediation that made it.
    pub remediation: String,
    /// When, RFC 3339.
    pub created_at: String,
    /// The files.
    pub files: Vec<SavedFile>,
    /// The units changed, in the order they were changed.
    pub units: Vec<SavedUnit>,
    /// The service the fix restarted, restarted again on rollback.
    pub service: Option<String>,
}

/// A backup on disk.
#[derive(Debug, Clone)]
pub struct Backup {
    /// Its directory.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
}

/// Reads a file the fix may edit: a regular file owned by root or the
/// caller, writable by nobody else, not a link; `None` when absent.
pub fn read_config(path: &Path) -> Result<Option<Vec<u8>>, String> {
    private_path::read_file(path, OpenSpec::read(Class::Private), MAX_FILE).map_err(|e| match e {
        private_path::UnsafePath::Io { .. } => e.to_string(),
        refused => {
            format!("refusing to edit {}: {}; fix: {}", refused.path().display(), refused.problem(), refused.fix())
        }
    })
}

fn mode_of(path: &Path) -> Result<(u32, u32, u32), String> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path)
        .map(|m| (m.mode() & 0o7777, m.uid(), m.gid()))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes `bytes` to `f.path` atomically with the saved mode, owner and group.
pub fn write_like(f: &SavedFile, bytes: &[u8]) -> Result<(), String> {
    let err = |e: std::io::Error| format!("{}: {e}", f.path.display());
    write_atomic_with_mode(&f.path, bytes, f.mode).map_err(err)?;
    std::os::unix::fs::chown(&f.path, Some(f.uid), Some(f.gid)).map_err(err)
}

impl Backup {
    /// Copies `paths` into a new backup `<backups>/<id>/`.
    pub fn create(backups: &Path, id: &str, remediation: &str, paths: &[PathBuf]) -> Result<Backup, String> {
        private_path::ensure_dir(backups, Class::Private).map_err(|e| e.to_string())?;
        let dir = backups.join(id);
        std::fs::create_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        private_path::ensure_dir(&dir.join("files"), Class::Private).map_err(|e| e.to_string())?;
        let mut files = Vec::new();
        for (n, path) in paths.iter().enumerate() {
            let copy = format!("{n}");
            let (existed, bytes, (mode, uid, gid)) = match read_config(path)? {
                Some(b) => (true, b, mode_of(path)?),
                None => (false, Vec::new(), (0o644, 0, 0)),
            };
            let dest = dir.join("files").join(&copy);
            write_atomic_with_mode(&dest, &bytes, 0o600).map_err(|e| format!("{}: {e}", dest.display()))?;
            let (uid, gid) = if existed {
                (uid, gid)
            } else {
                (rustix::process::geteuid().as_raw(), rustix::process::getegid().as_raw())
            };
            files.push(SavedFile {
                path: path.clone(),
                existed,
                mode,
                uid,
                gid,
                sha256: common::hash::sha256_hex(&bytes),
                copy,
            });
        }
        let manifest = Manifest {
            id: id.to_owned(),
            remediation: remediation.to_owned(),
            created_at: common::time_fmt::rfc3339(common::time_fmt::now_utc()),
            files,
            units: Vec::new(),
            service: None,
        };
        let b = Backup { dir, manifest };
        b.save()?;
        Ok(b)
    }

    /// Writes the manifest (after a unit change is recorded, too).
    pub fn save(&self) -> Result<(), String> {
        let mut text = serde_json::to_string_pretty(&self.manifest).map_err(|e| e.to_string())?;
        text.push('\n');
        let p = self.dir.join("manifest.json");
        common::artifacts::write_atomic(&p, text.as_bytes()).map_err(|e| format!("{}: {e}", p.display()))
    }

    /// Loads `<backups>/<id>/`.
    pub fn load(backups: &Path, id: &str) -> Result<Backup, String> {
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(format!("not a backup id: {id:?}"));
        }
        let dir = backups.join(id);
        let p = dir.join("manifest.json");
        let bytes = private_path::read_file(&p, OpenSpec::read(Class::Private), MAX_FILE)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("{}: missing", p.display()))?;
        let manifest: Manifest =
            serde_json::from_slice(&bytes).map_err(|e| format!("{}: unparsable ({e})", p.display()))?;
        Ok(Backup { dir, manifest })
    }

    /// The commands that restore every file by hand.
    pub fn manual_steps(&self) -> Vec<String> {
        let mut steps: Vec<String> = self
            .manifest
            .files
            .iter()
            .map(|f| {
                if f.existed {
                    format!(
                        "cp -p {} {} && chmod {:o} {}",
                        self.dir.join("files").join(&f.copy).display(),
                        f.path.display(),
                        f.mode,
                        f.path.display()
                    )
                } else {
                    format!("rm -f {}", f.path.display())
                }
            })
            .collect();
        for u in &self.manifest.units {
            steps.push(format!("systemctl unmask {}  # was {}, active: {}", u.name, u.enabled, u.active));
        }
        if let Some(s) = &self.manifest.service {
            steps.push(format!("systemctl restart {s}"));
        }
        steps
    }

    /// Restores every file byte for byte. Errors name each file that could
    /// not be restored; the backup is never removed here.
    pub fn restore_files(&self) -> Result<(), Vec<String>> {
        let mut errors = Vec::new();
        for f in &self.manifest.files {
            let res = if f.existed {
                let src = self.dir.join("files").join(&f.copy);
                restore_one(&src, f)
            } else {
                match std::fs::remove_file(&f.path) {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(format!("{}: {e}", f.path.display())),
                }
            };
            if let Err(e) = res {
                errors.push(e);
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }
}

fn restore_one(src: &Path, f: &SavedFile) -> Result<(), String> {
    let bytes = private_path::read_file(src, OpenSpec::read(Class::Private), MAX_FILE)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{}: backup copy missing", src.display()))?;
    if common::hash::sha256_hex(&bytes) != f.sha256 {
        return Err(format!("{}: backup copy does not match its recorded SHA-256", src.display()));
    }
    write_like(f, &bytes)?;
    let back = std::fs::read(&f.path).map_err(|e| format!("{}: {e}", f.path.display()))?;
    if common::hash::sha256_hex(&back) != f.sha256 {
        return Err(format!("{}: restored bytes differ from the backup", f.path.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_puts_back_bytes_and_mode_and_removes_created_files() {
        let tmp = tempfile::tempdir().unwrap();
        let etc = tmp.path().join("etc");
        std::fs::create_dir(&etc).unwrap();
        let a = etc.join("a");
        std::fs::write(&a, b"original\r\nbytes\0").unwrap();
        std::fs::set_permissions(&a, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
        let created = etc.join("new.conf");
        let _b = Backup::create(&tmp.path().join("backups"), "x-1", "ssh-tailnet-only", &[a.clone(), created.clone()])
            .unwrap();
        std::fs::write(&a, b"edited").unwrap();
        std::fs::set_permissions(&a, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
        std::fs::write(&created, b"dropin").unwrap();
        let loaded = Backup::load(&tmp.path().join("backups"), "x-1").unwrap();
        loaded.restore_files().unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), b"original\r\nbytes\0");
        assert_eq!(mode_of(&a).unwrap().0, 0o640);
        assert!(!created.exists());
        // Owner and group come back too (cupsd.conf is root:lp); needs root to chgrp.
        if rustix::process::geteuid().is_root() {
            std::os::unix::fs::chown(&a, Some(0), Some(4321)).unwrap();
            let b =
                Backup::create(&tmp.path().join("backups"), "x-2", "cups-localhost", std::slice::from_ref(&a)).unwrap();
            write_like(&b.manifest.files[0], b"edited").unwrap();
            assert_eq!(mode_of(&a).unwrap(), (0o640, 0, 4321));
            std::os::unix::fs::chown(&a, Some(0), Some(0)).unwrap();
            b.restore_files().unwrap();
            assert_eq!(mode_of(&a).unwrap(), (0o640, 0, 4321));
        }
        assert!(loaded.manual_steps()[0].starts_with("cp -p "));
    }

    #[test]
    fn a_tampered_copy_is_not_restored_and_names_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let a = tmp.path().join("a");
        std::fs::write(&a, b"one").unwrap();
        let b = Backup::create(&tmp.path().join("b"), "id", "r", std::slice::from_ref(&a)).unwrap();
        std::fs::write(b.dir.join("files/0"), b"two").unwrap();
        std::fs::write(&a, b"edited").unwrap();
        let err = b.restore_files().unwrap_err();
        assert!(err[0].contains("does not match"), "{err:?}");
        assert_eq!(std::fs::read(&a).unwrap(), b"edited");
        assert!(Backup::load(tmp.path(), "../x").is_err());
    }

    #[test]
    fn hostile_files_are_refused_before_any_copy() {
        let tmp = tempfile::tempdir().unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink("/etc/passwd", &link).unwrap();
        assert!(Backup::create(&tmp.path().join("b"), "id", "r", &[link]).unwrap_err().contains("refusing"));
        let fifo = tmp.path().join("fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        assert!(read_config(&fifo).unwrap_err().contains("refusing"));
        let ww = tmp.path().join("ww");
        std::fs::write(&ww, "x").unwrap();
        std::fs::set_permissions(&ww, std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
        assert!(read_config(&ww).unwrap_err().contains("refusing"));
    }
}
