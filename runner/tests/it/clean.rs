//! A clean job succeeds as nobody, with exactly the documented
//! environment (no runner variable, no canary), private writable dirs,
//! artifacts, one audit record, and `show`/`list` reading it back.

use crate::support::{Lab, need_root};

const CANARY: &str = "runner-canary-secret-5d1f0a9e7c3b2a4d6e8f";

#[test]
fn a_clean_job_succeeds_as_nobody_with_only_the_documented_environment() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    lab.run_as("nobody");
    lab.job(
        "probe",
        r#"set -e
id -u > "$ARTIFACT_DIR/uid"
env | sort > "$ARTIFACT_DIR/env"
echo x > "$HOME/h" && echo y > "$TMPDIR/t"
cat README
test "$(pwd)" = "${HOME%/home}/tree"
echo "ran $*""#,
        "[job.params.target]\ntype = \"enum\"\nvalues = [\"unit\", \"e2e\"]\n",
    );
    lab.write_config();
    let mut cmd = lab.command(&[
        "run",
        "--job",
        "probe",
        "--repo",
        "app",
        "--sha",
        &lab.sha,
        "--param",
        "target=unit",
        "--format",
        "json",
    ]);
    cmd.env("OPENCLAW_RUNNER_SECRET", CANARY).env("DATABASE_URL", CANARY);
    let run = test_support::run_watched(&mut cmd, "", CANARY);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    run.assert_no_leak(CANARY, "run");
    let v = run.json();
    assert_eq!(v["status"], "success");
    assert_eq!(v["invariants"]["clean_tree_ok"], true);
    assert_eq!(v["invariants"]["read_only_ok"], true);
    assert_eq!(v["exit_code"], 0);
    assert_eq!(v["branch"], "main");
    assert_eq!(v["run_as"]["uid"], 65534);
    for key in [
        "job_id",
        "repo",
        "sha",
        "job_type",
        "argv",
        "timeout_sec",
        "started_at",
        "finished_at",
        "duration_ms",
        "exit_code",
        "status",
        "input_hash",
        "allowlist_hash",
        "invariants",
    ] {
        assert!(!v[key].is_null(), "{key} missing");
    }
    let id = v["job_id"].as_str().unwrap();
    let dir = lab.artifacts(id);
    assert_eq!(std::fs::read_to_string(dir.join("outputs/uid")).unwrap().trim(), "65534");
    let env = std::fs::read_to_string(dir.join("outputs/env")).unwrap();
    let names: Vec<&str> = env.lines().map(|l| l.split('=').next().unwrap()).collect();
    assert_eq!(
        names,
        ["ARTIFACT_DIR", "HOME", "LANG", "OPENCLAW_JOB_ID", "OPENCLAW_PARAM_TARGET", "PATH", "PWD", "TMPDIR"],
        "{env}"
    );
    assert!(env.contains("OPENCLAW_PARAM_TARGET=unit"));
    assert!(std::fs::read_to_string(dir.join("stdout.log")).unwrap().contains("hello"));
    assert!(!dir.join("error.json").exists());
    lab.host.assert_not_persisted(CANARY, &[]);
    // The worktree and the job's dirs are gone; the mirror's worktree list is pruned.
    assert!(lab.job_dirs().is_empty(), "{:?}", lab.job_dirs());
    let mirror = lab.host.path("state/runner/mirrors/app.git");
    let list = crate::support::sh(&mirror, "git", &["worktree", "list", "--porcelain"]);
    assert_eq!(list.matches("worktree ").count(), 1, "{list}");
    // One audit record.
    let log = std::fs::read_to_string(lab.host.path("audit/audit.jsonl")).unwrap();
    assert_eq!(log.lines().filter(|l| l.contains("\"runner.run\"")).count(), 1, "{log}");
    // show and list read it back.
    let show = test_support::run(&mut lab.command(&["show", id, "--format", "json"]));
    assert_eq!(show.code, 0, "{}", show.stderr);
    assert_eq!(show.json()["job_id"], id);
    let list = test_support::run(&mut lab.command(&["list", "--limit", "5"]));
    assert!(list.stdout.contains(id), "{}", list.stdout);
    let bad = test_support::run(&mut lab.command(&["show", "../../etc"]));
    assert_eq!(bad.code, 2);
}

#[test]
fn a_failing_job_exits_1_with_its_error_class() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    lab.job("fails", "echo oops >&2; exit 3", "");
    lab.write_config();
    let run = lab.run("fails", &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let v = run.json();
    assert_eq!((v["status"].as_str(), v["exit_code"].as_i64()), (Some("failure"), Some(3)));
    assert_eq!(v["invariants"]["clean_tree_ok"], true);
    let dir = lab.artifacts(v["job_id"].as_str().unwrap());
    let err: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("error.json")).unwrap()).unwrap();
    assert_eq!(err["error_class"], "job_nonzero_exit");
    assert!(std::fs::read_to_string(dir.join("stderr.log")).unwrap().contains("oops"));
    use std::os::unix::fs::PermissionsExt;
    for f in ["artifact.json", "error.json", "stdout.log"] {
        assert_eq!(std::fs::metadata(dir.join(f)).unwrap().permissions().mode() & 0o777, 0o600);
    }
    assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
}

#[test]
fn a_job_without_a_repo_runs_in_its_home_and_refuses_a_target() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    lab.job("report", "pwd > \"$ARTIFACT_DIR/pwd\"; id -u", "requires_repo = false");
    lab.write_config();
    let run = test_support::run(&mut lab.command(&["run", "--job", "report", "--format", "json"]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v = run.json();
    assert_eq!(v["status"], "success");
    assert!(v["invariants"]["clean_tree_ok"].is_null() && v["repo"].is_null());
    let pwd = std::fs::read_to_string(lab.artifacts(v["job_id"].as_str().unwrap()).join("outputs/pwd")).unwrap();
    assert!(pwd.trim().ends_with("/home"), "{pwd}");
    assert!(!lab.cloned());
    let run = lab.run("report", &[]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("does not run on a repo"), "{}", run.stderr);
}

#[test]
fn a_runner_failure_is_a_job_exception_with_exit_2_and_nothing_runs() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    lab.job("probe", "touch \"$ARTIFACT_DIR/ran\"", "");
    lab.write_config();
    std::fs::rename(lab.host.path("origin.git"), lab.host.path("gone.git")).unwrap();
    let run = lab.run("probe", &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let v = run.json();
    assert_eq!(v["status"], "error");
    assert!(v["reason"].as_str().unwrap().contains("does not appear to be a git repository"), "{v}");
    assert!(v["outputs"].as_array().unwrap().is_empty(), "{v}");
    let err = std::fs::read_to_string(lab.artifacts(v["job_id"].as_str().unwrap()).join("error.json")).unwrap();
    assert!(err.contains("\"job_exception\""), "{err}");
    assert!(lab.job_dirs().is_empty(), "{:?}", lab.job_dirs());
}

#[test]
fn a_sha256_repository_runs_with_its_64_hex_commit_id() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    let work = lab.host.path("work256");
    std::fs::create_dir(&work).unwrap();
    crate::support::sh(&work, "git", &["init", "-q", "--object-format=sha256", "-b", "main"]);
    std::fs::write(work.join("f"), "x\n").unwrap();
    crate::support::sh(&work, "git", &["add", "."]);
    crate::support::sh(&work, "git", &["commit", "-q", "-m", "one"]);
    let sha = crate::support::sh(&work, "git", &["rev-parse", "HEAD"]);
    assert_eq!(sha.len(), 64);
    crate::support::sh(lab.host.root(), "git", &["clone", "-q", "--bare", "work256", "origin256.git"]);
    lab.job("noop", "test -f f", "");
    lab.write_config();
    let text = std::fs::read_to_string(lab.config_path()).unwrap().replace("origin.git", "origin256.git");
    std::fs::write(lab.config_path(), text).unwrap();
    let run = test_support::run(
        &mut lab.command(&["run", "--job", "noop", "--repo", "app", "--sha", &sha, "--format", "json"]),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["invariants"]["clean_tree_ok"], true);
}

#[test]
fn concurrent_runs_on_one_repo_each_get_their_own_clean_tree() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    lab.job("sleepy", "sleep 1; test -f README", "");
    lab.write_config();
    let children: Vec<_> = (0..3)
        .map(|_| {
            let mut cmd =
                lab.command(&["run", "--job", "sleepy", "--repo", "app", "--sha", &lab.sha, "--format", "json"]);
            cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap()
        })
        .collect();
    let mut ids = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["invariants"]["clean_tree_ok"], true);
        ids.push(v["job_id"].as_str().unwrap().to_owned());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3);
    assert!(lab.job_dirs().is_empty(), "{:?}", lab.job_dirs());
}

#[test]
fn from_console_takes_the_sha_and_params_from_the_consoles_variables() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    lab.job(
        "probe",
        "test \"$OPENCLAW_PARAM_TARGET\" = e2e",
        "[job.params.target]\ntype = \"enum\"\nvalues = [\"unit\", \"e2e\"]\n",
    );
    lab.write_config();
    let args = ["run", "--job", "probe", "--repo", "app", "--from-console", "--format", "json"];
    let mut cmd = lab.command(&args);
    cmd.env("OPENCLAW_PARAM_SHA", &lab.sha).env("OPENCLAW_PARAM_TARGET", "e2e").env("OPENCLAW_RUN_ID", "x");
    let run = test_support::run(&mut cmd);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["params"]["target"], "e2e");
    let mut cmd = lab.command(&args);
    cmd.env("OPENCLAW_PARAM_SHA", "--upload-pack=x").env("OPENCLAW_PARAM_TARGET", "e2e");
    assert_eq!(test_support::run(&mut cmd).code, 2);
    let mut cmd = lab.command(&args);
    cmd.env("OPENCLAW_PARAM_SHA", &lab.sha).env("OPENCLAW_PARAM_EVIL", "1");
    assert_eq!(test_support::run(&mut cmd).code, 2);
}
