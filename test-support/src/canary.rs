//! Canary scanning: where a planted secret must never show up. Files left
//! on disk are read as text; every process's argv is read from
//! `/proc/*/cmdline`, once or continuously while a command runs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// Every regular file under `dir` (not below `skip`, not through symbolic
/// links), each read as lossy UTF-8, concatenated. A missing `dir` is empty;
/// a directory or file that exists but cannot be read fails the test, so an
/// unreadable place never passes as clean.
pub fn text_of_files(dir: &Path, skip: &[PathBuf]) -> String {
    let mut res = String::new();
    walk(dir, skip, &mut |_, bytes| res.push_str(&String::from_utf8_lossy(bytes)));
    res
}

/// The regular files under `dir` (not below `skip`) whose bytes contain `needle`.
pub(crate) fn files_containing(dir: &Path, skip: &[PathBuf], needle: &str) -> Vec<PathBuf> {
    let mut res = Vec::new();
    walk(dir, skip, &mut |path, bytes| {
        if bytes.windows(needle.len().max(1)).any(|w| w == needle.as_bytes()) {
            res.push(path.to_owned());
        }
    });
    res
}

fn walk(dir: &Path, skip: &[PathBuf], visit: &mut dyn FnMut(&Path, &[u8])) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => panic!("cannot list {}: {e}", dir.display()),
    };
    let mut paths: Vec<(PathBuf, std::fs::FileType)> =
        entries.map(|e| e.unwrap()).map(|e| (e.path(), e.file_type().unwrap())).collect();
    paths.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, kind) in paths {
        if skip.contains(&path) {
            continue;
        }
        if kind.is_dir() {
            walk(&path, skip, visit);
        } else if kind.is_file() {
            match std::fs::read(&path) {
                Ok(bytes) => visit(&path, &bytes),
                // Removed since it was listed (a tool's temp file): nothing left to leak.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => panic!("cannot read {}: {e}", path.display()),
            }
        }
    }
}

/// One look at every process's argv: the command lines (NULs shown as
/// spaces) that contain any of `needles`.
pub fn argv_containing(needles: &[&str]) -> Vec<String> {
    let mut hits = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        // Processes come and go while we look: one that has gone has no argv to leak.
        if let Ok(c) = std::fs::read(e.path().join("cmdline")) {
            let raw = String::from_utf8_lossy(&c);
            let line = raw.replace('\0', " ");
            if needles.iter().any(|n| raw.contains(n) || line.contains(n)) {
                hits.push(line);
            }
        }
    }
    hits
}

/// Samples every process's argv continuously on a thread until stopped.
pub struct ArgvWatch {
    done: Arc<AtomicBool>,
    thread: JoinHandle<Vec<String>>,
}

impl ArgvWatch {
    /// Starts watching for `needles`.
    pub fn start(needles: &[&str]) -> ArgvWatch {
        let done = Arc::new(AtomicBool::new(false));
        let needles: Vec<String> = needles.iter().map(|n| (*n).to_owned()).collect();
        let thread = {
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
                let mut hits = Vec::new();
                while !done.load(Ordering::Relaxed) {
                    hits.extend(argv_containing(&needles));
                }
                hits
            })
        };
        ArgvWatch { done, thread }
    }

    /// Stops watching; every argv seen with a needle in it.
    pub fn stop(self) -> Vec<String> {
        self.done.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}
