//! The artifact store `<artifacts>/runner/<job_id>/` (0700, files 0600,
//! atomic writes through `common::artifacts`): `artifact.json`,
//! `stdout.log`, `stderr.log`, `error.json` when the run was not a success,
//! and `outputs/` (the regular files the job left in its ARTIFACT_DIR,
//! capped). `show` and `list` read it back.

use std::io;
use std::path::{Path, PathBuf};

use common::private_path::{self, Class, OpenSpec};
use serde_json::Value;

use crate::validate::valid_job_id;

/// Most output files kept, and most bytes of each.
pub const MAX_OUTPUTS: usize = 64;

/// Most entries of `ARTIFACT_DIR` whose names are read (and sorted) before
/// the first [`MAX_OUTPUTS`] are taken; beyond it entries are only counted.
const MAX_SCANNED: usize = 4096;

/// Largest output file kept.
pub const MAX_OUTPUT_BYTES: u64 = 16 * 1024 * 1024;

/// Largest artifact.json read back.
const MAX_ARTIFACT_JSON: u64 = 4 * 1024 * 1024;

/// The runner's part of the artifacts root.
#[derive(Debug, Clone)]
pub struct Store {
    /// `<artifacts>/runner`.
    pub root: PathBuf,
}

/// Why a stored run could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The id is not one the runner makes.
    #[error("not a job id (32 lowercase hex)")]
    BadId,
    /// No run with that id.
    #[error("no run with that id")]
    NotFound,
    /// The file could not be read or trusted.
    #[error("{0}")]
    Io(String),
}

impl Store {
    /// The store under `artifacts_root`.
    pub fn new(artifacts_root: &Path) -> Store {
        Store { root: artifacts_root.join("runner") }
    }

    /// Creates `<root>/<job_id>/` (checking the root and `runner/`).
    pub fn create(&self, job_id: &str) -> io::Result<PathBuf> {
        let refused = |e: private_path::UnsafePath| io::Error::new(io::ErrorKind::PermissionDenied, e);
        if let Some(parent) = self.root.parent() {
            private_path::ensure_dir(parent, Class::Private).map_err(refused)?;
        }
        private_path::ensure_dir(&self.root, Class::Private).map_err(refused)?;
        let dir = self.root.join(job_id);
        std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700).create(&dir)?;
        Ok(dir)
    }

    /// The stored artifact.json of `job_id`.
    pub fn read(&self, job_id: &str) -> Result<Value, StoreError> {
        if !valid_job_id(job_id) {
            return Err(StoreError::BadId);
        }
        let path = self.root.join(job_id).join("artifact.json");
        let bytes = private_path::read_file(&path, OpenSpec::read(Class::Private), MAX_ARTIFACT_JSON)
            .map_err(|e| StoreError::Io(e.to_string()))?
            .ok_or(StoreError::NotFound)?;
        serde_json::from_slice(&bytes).map_err(|e| StoreError::Io(format!("{}: {e}", path.display())))
    }

    /// The newest `limit` runs, newest first (by `started_at`, then id).
    pub fn list(&self, limit: usize) -> Result<Vec<Value>, StoreError> {
        if !private_path::check_dir(&self.root, Class::Private).map_err(|e| StoreError::Io(e.to_string()))? {
            return Ok(Vec::new());
        }
        let mut runs = Vec::new();
        for entry in std::fs::read_dir(&self.root).map_err(|e| StoreError::Io(e.to_string()))?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Ok(v) = self.read(&name) {
                runs.push(v);
            }
        }
        let key = |v: &Value| {
            (v["started_at"].as_str().unwrap_or("").to_owned(), v["job_id"].as_str().unwrap_or("").to_owned())
        };
        runs.sort_by_key(|v| std::cmp::Reverse(key(v)));
        runs.truncate(limit);
        Ok(runs)
    }
}

/// Writes `value` as pretty JSON to `dir/name`, atomically, 0600.
pub fn write_json(dir: &Path, name: &str, value: &Value) -> io::Result<()> {
    let mut text = serde_json::to_string_pretty(value).map_err(io::Error::other)?;
    text.push('\n');
    common::artifacts::write_atomic(&dir.join(name), text.as_bytes())
}

/// Copies the regular files at the top of the job's `out` into
/// `dir/outputs/` (at most [`MAX_OUTPUTS`], each at most
/// [`MAX_OUTPUT_BYTES`], never following a link) and returns their names,
/// escaped, with what was skipped. Only files the job's uid owns with a
/// single link are kept: a hard link to someone else's file (possible
/// where `fs.protected_hardlinks` is off) is not copied.
pub fn keep_outputs(out: &Path, dir: &Path, job_uid: u32) -> io::Result<Vec<Value>> {
    use std::os::unix::fs::MetadataExt;
    let mut res = Vec::new();
    let Ok(entries) = std::fs::read_dir(out) else { return Ok(res) };
    // A job can leave any number of entries: at most MAX_SCANNED names are
    // held (and sorted), MAX_OUTPUTS listed, the rest only counted.
    let mut names = Vec::new();
    let mut unlisted = 0usize;
    for e in entries.flatten() {
        if names.len() < MAX_SCANNED {
            names.push(e.file_name());
        } else {
            unlisted += 1;
        }
    }
    names.sort();
    if names.len() > MAX_OUTPUTS {
        unlisted += names.len() - MAX_OUTPUTS;
        names.truncate(MAX_OUTPUTS);
    }
    for name in names {
        let escaped = crate::manifest::escape(std::os::unix::ffi::OsStrExt::as_bytes(name.as_os_str()));
        let src = out.join(&name);
        let meta = std::fs::symlink_metadata(&src)?;
        let plain = escaped.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            && !escaped.starts_with('.');
        let why = if !meta.file_type().is_file() {
            Some("not a regular file")
        } else if meta.uid() != job_uid || meta.nlink() != 1 {
            Some("not a file of the job's own (owner or link count)")
        } else if meta.len() > MAX_OUTPUT_BYTES {
            Some("larger than 16 MiB")
        } else if !plain {
            Some("name is not [A-Za-z0-9._-]")
        } else {
            None
        };
        if let Some(why) = why {
            res.push(serde_json::json!({"name": escaped, "kept": false, "why": why}));
            continue;
        }
        let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
        let mut file = std::os::unix::fs::OpenOptionsExt::custom_flags(
            std::fs::OpenOptions::new().read(true),
            flags.bits() as i32,
        )
        .open(&src)?;
        // Judged again on the descriptor: the name may have been swapped since.
        let opened = file.metadata()?;
        if !opened.file_type().is_file() || opened.uid() != job_uid || opened.nlink() != 1 {
            let why = "changed while it was read";
            res.push(serde_json::json!({"name": escaped, "kept": false, "why": why}));
            continue;
        }
        let mut bytes = Vec::new();
        io::Read::read_to_end(&mut io::Read::take(&mut file, MAX_OUTPUT_BYTES), &mut bytes)?;
        let outputs = dir.join("outputs");
        if !outputs.exists() {
            common::artifacts::create_private_dir_all(&outputs)?;
        }
        common::artifacts::write_atomic(&outputs.join(&name), &bytes)?;
        res.push(serde_json::json!({"name": escaped, "kept": true, "bytes": bytes.len(), "sha256": common::hash::sha256_hex(&bytes)}));
    }
    if unlisted > 0 {
        res.push(
            serde_json::json!({"name": null, "kept": false, "why": format!("{unlisted} more entries, not listed")}),
        );
    }
    Ok(res)
}
