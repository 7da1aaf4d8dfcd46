//! A small disk for fault tests: the calling test runs again in
//! a private mount namespace (`unshare --mount --propagation private`) with
//! a tmpfs of a given size mounted at a fresh directory, so a full disk is a
//! real `ENOSPC` from the kernel and no mount is ever seen by the host.
//!
//! ```text
//! #[test]
//! fn a_full_disk_leaves_nothing() {
//!     let Some(disk) = test_support::disk::small_disk("module::a_full_disk_leaves_nothing", "256k") else { return };
//!     // Here, in the child: `disk` is the tmpfs.
//! }
//! ```
//!
//! The parent (no environment variable) needs root: without it the test
//! skips with a reason, and fails under `CI=true`. It asserts that the child
//! ran exactly that one test and that it passed, so a misspelt name cannot
//! pass by running nothing.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Set in the child: the tmpfs directory.
const VAR: &str = "OPENCLAW_TEST_SMALL_DISK";

/// In the child, the small disk's directory; in the parent, runs the test
/// `test` (its path inside the test binary, as `--exact` takes it) in a
/// child on a tmpfs of `size` (`mount -o size=`), asserts it passed, and
/// returns `None`.
pub fn small_disk(test: &str, size: &str) -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(VAR) {
        return Some(PathBuf::from(dir));
    }
    if !crate::is_root() {
        let why = "a small tmpfs needs root (mount in a private namespace)";
        assert!(std::env::var_os("CI").is_none_or(|v| v != "true"), "{why}; under CI=true this may not skip");
        crate::skip(why);
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--", "/bin/sh", "-c"])
        .arg(r#"mount -t tmpfs -o size="$1",mode=0700 openclaw-test-disk "$2" && shift 2 && exec "$@""#)
        .arg("sh")
        .arg(size)
        .arg(dir.path())
        .arg(&exe)
        .args(["--exact", test, "--nocapture", "--test-threads", "1"])
        .env(VAR, dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let _ = writeln!(std::io::stderr(), "--- child on a {size} tmpfs ---\n{stdout}{stderr}");
    assert!(out.status.success(), "the test on the small disk failed ({}):\n{stdout}\n{stderr}", out.status);
    assert!(
        stdout.contains(&format!("test {test} ... ok")) && stdout.contains("1 passed"),
        "the child did not run exactly `{test}`:\n{stdout}\n{stderr}"
    );
    None
}

/// Fills the disk holding `dir` with a file `dir/<name>` until the kernel
/// answers `ENOSPC`, and returns its path; removing it frees the space.
pub fn fill(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let mut f = std::fs::File::create(&path).unwrap();
    let page = [0x5au8; 4096];
    loop {
        match f.write(&page) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(28) => break,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    // Whatever is left of the last page, byte by byte.
    while f.write(&page[..1]).is_ok_and(|n| n == 1) {}
    path
}
