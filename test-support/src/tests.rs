//! The harness tested on itself: a scanner that misses what it looks for
//! would let every leak test pass.

use std::collections::BTreeSet;

use crate::{Run, TempHost, run, run_watched};

#[test]
fn commands_get_exactly_the_hermetic_environment() {
    let host = TempHost::new();
    let out = run(host.command("/usr/bin/env").env("EXTRA", "1"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let vars: BTreeSet<&str> = out.stdout.lines().filter_map(|l| l.split_once('=')).map(|(k, _)| k).collect();
    let expected: BTreeSet<&str> = [
        "EXTRA",
        "HOME",
        "OPENCLAW_ARTIFACTS_ROOT",
        "OPENCLAW_AUDIT_LOG",
        "OPENCLAW_CONFIG",
        "OPENCLAW_GUARD_LOG",
        "OPENCLAW_RUN_DIR",
        "OPENCLAW_SECRETS_DIR",
        "OPENCLAW_STATE_DIR",
        "PATH",
    ]
    .into();
    assert_eq!(vars, expected);
    let root = host.root().to_str().unwrap();
    for line in out.stdout.lines().filter(|l| l.starts_with("OPENCLAW_") || l.starts_with("HOME=")) {
        assert!(line.split_once('=').unwrap().1.starts_with(root), "{line} is outside the temp dir");
    }
    assert!(out.stdout.lines().any(|l| l == format!("HOME={root}")), "HOME is the temp dir itself");
    assert_eq!(std::fs::read_to_string(host.config_path()).unwrap(), "");
}

#[test]
fn a_stub_path_finds_stubs_and_linked_tools_and_nothing_else() {
    let host = TempHost::with_stub_path(&["sh", "cat"]);
    host.stub("probe", "echo \"probe $*\"; exit 3");
    std::fs::write(host.path("fixture.txt"), "recorded\n").unwrap();
    host.stub_fixture("recorded", &host.path("fixture.txt"), 4);
    let out = run(host.command("sh").args(["-c", "probe a b; echo $?; recorded; echo $?; ls"]));
    assert_eq!(out.stdout, "probe a b\n3\nrecorded\n4\n", "{}", out.stderr);
    assert!(out.stderr.contains("ls"), "ls is not on the stub PATH: {}", out.stderr);
}

#[test]
fn persisted_canaries_are_found_except_where_skipped() {
    let host = TempHost::new();
    std::fs::create_dir_all(host.path("secrets")).unwrap();
    std::fs::write(host.path("secrets/key"), "CANARY-1").unwrap();
    host.assert_not_persisted("CANARY-1", &["secrets"]);
    std::fs::create_dir_all(host.path("state/deep")).unwrap();
    std::fs::write(host.path("state/deep/file"), "x CANARY-1 y").unwrap();
    let err = std::panic::catch_unwind(|| host.assert_not_persisted("CANARY-1", &["secrets"])).unwrap_err();
    let msg = err.downcast_ref::<String>().unwrap();
    assert!(msg.contains("state/deep/file") && !msg.contains("secrets/key"), "{msg}");
    assert!(host.text_under(&["state", "missing"]).contains("CANARY-1"));
    assert!(!host.text_except(&["state", "secrets"]).contains("CANARY-1"));
}

#[test]
fn the_argv_watch_sees_a_value_passed_on_a_command_line() {
    let host = TempHost::new();
    let needle = "argv-canary-Xq3Zt";
    let run = run_watched(host.command("sh").args(["-c", "read -r line; sleep 0.3", "sh", needle]), "in\n", needle);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.argv_hits.iter().any(|h| h.contains(needle)), "{:?}", run.argv_hits);
    assert!(std::panic::catch_unwind(|| run.assert_no_leak(needle, "argv")).is_err());
    let clean = run_watched(host.command("sh").args(["-c", "sleep 0.1"]), "", needle);
    assert!(clean.argv_hits.is_empty(), "{:?}", clean.argv_hits);
    clean.assert_no_leak(needle, "clean");
}

#[test]
fn a_canary_on_stdout_or_stderr_is_a_leak() {
    let run = |stdout: &str, stderr: &str| Run {
        code: 0,
        stdout: stdout.to_owned(),
        stderr: stderr.to_owned(),
        argv_hits: Vec::new(),
    };
    run("fine", "fine").assert_no_leak("CANARY", "clean");
    assert!(std::panic::catch_unwind(|| run("a CANARY", "").assert_no_leak("CANARY", "out")).is_err());
    assert!(std::panic::catch_unwind(|| run("", "a CANARY").assert_no_leak("CANARY", "err")).is_err());
    assert_eq!(run("{\"a\":1}", "").json()["a"], 1);
}

#[test]
fn wait_until_says_whether_the_condition_came_true() {
    let mut calls = 0;
    assert!(crate::wait_until(std::time::Duration::from_secs(5), || {
        calls += 1;
        calls == 3
    }));
    assert_eq!(calls, 3);
    assert!(!crate::wait_until(std::time::Duration::ZERO, || false));
}
