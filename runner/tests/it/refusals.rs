//! Refusals with exit 2 before any clone (unknown job or repo, `--repo
//! ../x`, `--sha --upload-pack=…`, a param not allowed) and after the
//! fetch but before any checkout (a SHA on no allowed branch). Each one
//! leaves a `refused` artifact and an audit record, and never echoes the
//! rejected value.

use crate::support::Lab;

fn lab() -> Lab {
    let mut lab = Lab::new();
    lab.job("probe", "touch \"$ARTIFACT_DIR/ran\"", "[job.params.target]\ntype = \"enum\"\nvalues = [\"unit\"]\n");
    lab.write_config();
    lab
}

#[test]
fn bad_requests_are_refused_before_any_clone() {
    let lab = lab();
    let sha = lab.sha.clone();
    for (args, needle, hostile) in [
        (vec!["--job", "ghost", "--repo", "app", "--sha", &sha], "unknown job", "ghost"),
        (vec!["--job", "probe", "--repo", "other", "--sha", &sha], "unknown repo", "other"),
        (vec!["--job", "probe", "--repo", "../x", "--sha", &sha], "unknown repo", "../x"),
        (vec!["--job", "probe", "--repo", "app", "--sha", "--upload-pack=touch /tmp/pwned"], "--sha must be", "pwned"),
        (vec!["--job", "probe", "--repo", "app", "--sha", "HEAD"], "--sha must be", "HEAD"),
        (vec!["--job", "probe", "--repo", "app", "--sha", &sha, "--param", "evil=1"], "unknown parameter", "evil"),
        (vec!["--job", "probe", "--repo", "app", "--sha", &sha, "--param", "target=prod"], "must be one of", "prod"),
    ] {
        let mut full = vec!["run", "--format", "json"];
        full.extend(args.iter().copied());
        let run = test_support::run(&mut lab.command(&full));
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(needle), "{args:?}: {}", run.stderr);
        assert!(!run.stderr.contains(hostile) && !run.stdout.contains(hostile), "{args:?} echoed: {}", run.stderr);
        let v = run.json();
        assert_eq!(v["status"], "refused");
        let err = std::fs::read_to_string(lab.artifacts(v["job_id"].as_str().unwrap()).join("error.json")).unwrap();
        assert!(err.contains("\"refused\""), "{err}");
        assert!(!lab.cloned(), "{args:?}: a mirror was made");
        assert!(!std::path::Path::new("/tmp/pwned").exists());
    }
    let log = std::fs::read_to_string(lab.host.path("audit/audit.jsonl")).unwrap();
    assert_eq!(log.lines().filter(|l| l.contains("\"runner.run\"")).count(), 7);
}

#[test]
fn a_sha_on_no_allowed_branch_is_refused_after_the_fetch_and_nothing_runs() {
    let lab = lab();
    let side = lab.side.clone();
    let run = test_support::run(
        &mut lab.command(&["run", "--job", "probe", "--repo", "app", "--sha", &side, "--format", "json"]),
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("not reachable from an allowed branch"), "{}", run.stderr);
    let v = run.json();
    assert_eq!(v["status"], "refused");
    assert!(v["outputs"].as_array().unwrap().is_empty());
    assert!(lab.job_dirs().is_empty(), "{:?}", lab.job_dirs());
    // An unknown commit is refused the same way.
    let run =
        test_support::run(&mut lab.command(&["run", "--job", "probe", "--repo", "app", "--sha", &"e".repeat(40)]));
    assert_eq!(run.code, 2);
}
