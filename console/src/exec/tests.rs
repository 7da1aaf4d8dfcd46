//! Unit tests of the child runner with real processes: exit codes, the
//! cleared environment, caps, the timeout and the shutdown kill of the
//! whole group.

use super::*;

fn reaper() -> Arc<Reaper> {
    static R: std::sync::OnceLock<Arc<Reaper>> = std::sync::OnceLock::new();
    Arc::clone(R.get_or_init(|| Arc::new(Reaper::install())))
}

fn run(spec: &Spec, stop: &AtomicBool) -> Outcome {
    super::run(spec, stop, &reaper(), &|_| {})
}

fn spec(script: &str, timeout: Duration) -> Spec {
    Spec {
        run_id: "r1".into(),
        argv: vec!["/bin/sh".into(), "-c".into(), script.into()],
        env: vec![("OPENCLAW_RUN_ID".into(), "r1".into())],
        cwd: std::env::temp_dir(),
        timeout,
    }
}

#[test]
fn exit_codes_and_output_come_back() {
    let out = run(&spec("echo out; echo err >&2; exit 3", Duration::from_secs(5)), &AtomicBool::new(false));
    assert_eq!(out.ending, Ending::Exited(3));
    assert_eq!((out.stdout.as_slice(), out.stderr.as_slice(), out.truncated), (&b"out\n"[..], &b"err\n"[..], false));
    let out = run(&spec("kill -TERM $$", Duration::from_secs(5)), &AtomicBool::new(false));
    assert_eq!(out.ending, Ending::Signalled(15));
    assert_eq!(out.ending.code(), -1);
}

#[test]
fn the_environment_is_cleared_but_for_path_and_what_was_given() {
    // The test process's own environment holds HOME and more; none of it may pass.
    let out =
        run(&Spec { argv: vec!["/usr/bin/env".into()], ..spec("", Duration::from_secs(5)) }, &AtomicBool::new(false));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut keys: Vec<&str> = text.lines().map(|l| l.split('=').next().unwrap()).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["OPENCLAW_RUN_ID", "PATH"]);
}

#[test]
fn output_past_the_cap_is_cut_and_the_child_is_not_blocked() {
    let out = run(&spec("head -c 5000000 /dev/zero; echo done >&2", Duration::from_secs(20)), &AtomicBool::new(false));
    assert_eq!(out.ending, Ending::Exited(0));
    assert_eq!(out.stdout.len(), STDOUT_CAP);
    assert!(out.truncated);
    assert_eq!(out.stderr, b"done\n");
}

#[test]
fn the_timeout_and_the_stop_flag_kill_the_group() {
    let started = Instant::now();
    let out = run(&spec("sleep 60 & sleep 60", Duration::from_millis(300)), &AtomicBool::new(false));
    assert_eq!(out.ending, Ending::TimedOut);
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    let stop = AtomicBool::new(true);
    let out = run(&spec("sleep 60", Duration::from_secs(60)), &stop);
    assert_eq!(out.ending, Ending::Killed);
    let missing = run(
        &Spec { argv: vec!["/nonexistent/prog".into()], ..spec("", Duration::from_secs(1)) },
        &AtomicBool::new(false),
    );
    assert!(matches!(missing.ending, Ending::SpawnFailed(_)));
}
