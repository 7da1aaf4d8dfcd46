//! Dev-only harness shared by the tools' black-box tests: a temp host with
//! every OpenClaw path redirected under it, PATH stubs, the `Run` result of
//! one command, and canary scanning (files, stdout/stderr, every process's
//! argv). Tool crates take it as a dev-dependency only; `cargo xtask
//! check-deps` refuses it anywhere else.

#![deny(missing_docs)]

mod canary;
pub mod disk;
mod host;
mod run;

pub use canary::{ArgvWatch, argv_containing, text_of_files};
pub use host::TempHost;
pub use run::{Run, run, run_watched};

/// Whether the tests run as effective uid 0 (read from `/proc/self/status`;
/// `false` when that cannot be read, so root-only tests skip rather than run).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").ok().is_some_and(|status| {
        status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            .is_some_and(|euid| euid == "0")
    })
}

/// Prints why a test is skipped (`SKIPPED: reason`); only for a missing
/// prerequisite such as root or a package.
#[expect(clippy::print_stderr, reason = "a skipped test must say why in the test output")]
pub fn skip(reason: &str) {
    eprintln!("SKIPPED: {reason}");
}

/// Runs `program` with `args` in `dir` (a fixed git identity, no system
/// git config, `HOME` = `dir`), asserts that it succeeded and returns its
/// stdout, trimmed: the setup step of a test, which must not fail quietly.
pub fn run_ok(dir: &std::path::Path, program: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Polls `f` every 20 ms until it holds (`true`) or `limit` passes
/// (`false`). The limit is a bound on waiting for something the test
/// caused, never a measurement: tests assert what happened, not how fast.
pub fn wait_until(limit: std::time::Duration, mut f: impl FnMut() -> bool) -> bool {
    let give_up = std::time::Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if std::time::Instant::now() >= give_up {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests;
