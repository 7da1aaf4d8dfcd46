//! The real Codex CLI (`@openai/codex` from npm, installed by `.ci/run` into
//! a test-only prefix and named by `OPENCLAW_TEST_CODEX`) parses exactly the
//! arguments the gate passes, from an empty directory with an isolated
//! `CODEX_HOME` and no credential: it gets as far as wanting the model
//! service (an auth or network error), never a usage error. And it refuses
//! what the fake engine of the other tests refuses, so the two cannot drift.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn real_codex() -> Option<std::path::PathBuf> {
    match std::env::var_os("OPENCLAW_TEST_CODEX") {
        Some(p) => Some(p.into()),
        None if std::env::var_os("CI").is_some_and(|v| v == "true") => {
            panic!("CI=true but OPENCLAW_TEST_CODEX is unset: .ci/run installs @openai/codex from npm")
        }
        None => {
            test_support::skip(
                "OPENCLAW_TEST_CODEX is unset (npm install --prefix target/codex-cli @openai/codex@0.169.0)",
            );
            None
        }
    }
}

/// Runs the real codex for at most `secs`, returning its stderr (and exit code, if it exited).
fn codex(
    program: &std::path::Path,
    args: &[String],
    dir: &std::path::Path,
    home: &std::path::Path,
    secs: u64,
) -> (Option<i32>, String) {
    let mut child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", dir)
        .env("CODEX_HOME", home)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    if let Some(mut stdin) = child.stdin.take() {
        let _ = std::io::Write::write_all(&mut stdin, b"Review nothing.\n");
    }
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let started = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if started.elapsed() > Duration::from_secs(secs) {
            // The node wrapper's native child holds stderr too: end the whole group.
            let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", child.id())]).status();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    (code, reader.join().unwrap())
}

#[test]
fn the_real_codex_parses_our_exact_arguments_and_refuses_what_the_fake_refuses() {
    let Some(program) = real_codex() else { return };
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("codex-home");
    std::fs::create_dir(&home).unwrap();
    let (schema, last) = (work.path().join("schema.json"), work.path().join("last.json"));
    std::fs::write(&schema, reviewgate::engine::CODEX_SCHEMA).unwrap();
    let args = reviewgate::engine::codex_args(&schema.to_string_lossy(), &last.to_string_lossy(), "");
    let (code, err) = codex(&program, &args, work.path(), &home, 12);
    assert!(!err.contains("unexpected argument") && !err.contains("Usage:"), "a usage error: {err}");
    assert!(
        err.contains("sandbox: read-only") && err.contains(&format!("workdir: {}", work.path().display())),
        "{code:?} {err}"
    );
    // What the fake engine also refuses: no --skip-git-repo-check outside a repository ...
    let without: Vec<String> = args.iter().filter(|a| *a != "--skip-git-repo-check").cloned().collect();
    let (code, err) = codex(&program, &without, work.path(), &home, 20);
    assert!(code.is_some_and(|c| c != 0) && err.contains("--skip-git-repo-check"), "{code:?} {err}");
    // ... and a CODEX_HOME that does not exist.
    let (code, err) = codex(&program, &args, work.path(), &work.path().join("absent"), 20);
    assert!(code.is_some_and(|c| c != 0) && err.to_lowercase().contains("codex home"), "{code:?} {err}");
}
