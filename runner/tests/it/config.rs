//! A hostile allowlist is refused with exit 2 before anything runs: one
//! others can write, one with an unknown key (named by file:line:column),
//! a run_as that names the worktree's owner; the file is found by
//! `--config`, then `OPENCLAW_RUNNER_CONFIG`.

use std::os::unix::fs::PermissionsExt;

use crate::support::Lab;

#[test]
fn hostile_allowlists_are_refused() {
    let mut lab = Lab::new();
    lab.job("probe", "exit 0", "");
    lab.write_config();
    let path = lab.config_path();
    let good = std::fs::read_to_string(&path).unwrap();
    let sha = lab.sha.clone();
    let args = ["run", "--job", "probe", "--repo", "app", "--sha", sha.as_str()];

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o620)).unwrap();
    let run = test_support::run(&mut lab.command(&args));
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("refusing the allowlist"), "{}", run.stderr);
    assert!(run.stderr.contains("writable"), "{}", run.stderr);

    std::fs::write(&path, format!("{good}\nshell = \"/bin/sh\"\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let run = test_support::run(&mut lab.command(&args));
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("runner.toml:") && run.stderr.contains("unknown field `shell`"), "{}", run.stderr);

    if test_support::is_root() {
        std::fs::write(&path, format!("run_as = \"root\"\n{good}")).unwrap();
        let run = test_support::run(&mut lab.command(&args));
        assert_eq!(run.code, 2);
        assert!(run.stderr.contains("the uid that owns the worktrees"), "{}", run.stderr);
    }
    assert!(!lab.cloned());
}

#[test]
fn the_allowlist_is_found_by_flag_then_variable() {
    let mut lab = Lab::new();
    lab.job("probe", "exit 0", "");
    lab.write_config();
    let mut cmd = lab.host.command(crate::support::RUNNER);
    cmd.args(["check-config", "--format", "json"]).env("OPENCLAW_RUNNER_CONFIG", lab.config_path());
    let run = test_support::run(&mut cmd);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["jobs"][0]["name"], "probe");
    let mut cmd = lab.host.command(crate::support::RUNNER);
    cmd.args(["--config", "/nonexistent/runner.toml", "check-config"]).env("OPENCLAW_RUNNER_CONFIG", lab.config_path());
    let run = test_support::run(&mut cmd);
    assert_eq!(run.code, 2, "the flag wins over the variable");
}

#[test]
fn an_unsafe_run_directory_stops_the_run_with_a_job_exception() {
    let mut lab = Lab::new();
    lab.job("probe", "touch \"$ARTIFACT_DIR/ran\"", "");
    lab.write_config();
    let run_dir = lab.host.path("run");
    std::fs::create_dir(&run_dir).unwrap();
    std::fs::set_permissions(&run_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let run = lab.run("probe", &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let v = run.json();
    assert_eq!(v["status"], "error");
    assert!(v["reason"].as_str().unwrap().contains("directories cannot be used"), "{v}");
    let err = std::fs::read_to_string(lab.artifacts(v["job_id"].as_str().unwrap()).join("error.json")).unwrap();
    assert!(err.contains("\"job_exception\""), "{err}");
    assert!(!lab.cloned());
}
