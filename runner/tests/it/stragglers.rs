//! Timeouts and descendants: a job that times out after mutating is still
//! MUTATION_DETECTED; a writer double-forked into its own session that
//! outlives the job is waited for and caught; a descendant still running
//! at the deadline is killed, and none survives the run.

use std::time::{Duration, Instant};

use crate::support::{Lab, changed, need_root};

#[test]
fn a_job_that_times_out_after_mutating_is_still_mutation_detected() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    lab.job("slow", "echo x > late.txt\nexec sleep 60", "timeout_sec = 2\nrun_as = \"root\"");
    lab.write_config();
    let started = Instant::now();
    let run = lab.run("slow", &[]);
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(run.code, 1, "{}", run.stderr);
    let v = run.json();
    assert_eq!(v["invariants"]["reason"], "MUTATION_DETECTED", "{v}");
    assert_eq!(v["exit_code"], -1);
    assert!(changed(&v).contains(&"late.txt".to_owned()));
    let err = std::fs::read_to_string(lab.artifacts(v["job_id"].as_str().unwrap()).join("error.json")).unwrap();
    assert!(err.contains("mutation_detected"), "{err}");
}

#[test]
fn a_double_forked_writer_that_outlives_the_job_is_caught() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    // The writer leaves the job's process group and session, and its parent
    // exits at once, so it is nobody's child but the subreaper's.
    lab.job(
        "sneaky",
        "setsid sh -c '(sleep 2; echo later > sneaky.txt) & exit 0' </dev/null >/dev/null 2>&1 &\nexit 0",
        "timeout_sec = 20\nrun_as = \"root\"",
    );
    lab.write_config();
    let run = lab.run("sneaky", &[]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let v = run.json();
    assert_eq!(v["exit_code"], 0);
    assert_eq!(v["invariants"]["reason"], "MUTATION_DETECTED", "{v}");
    assert!(changed(&v).contains(&"sneaky.txt".to_owned()), "{v}");
}

#[test]
fn a_descendant_still_running_at_the_deadline_is_killed() {
    if !need_root() {
        return;
    }
    let marker = format!("{}", 4000 + std::process::id() % 1000);
    let mut lab = Lab::new();
    lab.job(
        "lingers",
        &format!("setsid sh -c '(sleep {marker}) & exit 0' </dev/null >/dev/null 2>&1 &\nexit 0"),
        "timeout_sec = 2",
    );
    lab.write_config();
    let run = lab.run("lingers", &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let v = run.json();
    assert_eq!(v["status"], "timeout", "{v}");
    assert_eq!(v["invariants"]["clean_tree_ok"], true);
    assert!(v["killed_processes"].as_u64().unwrap() >= 1, "{v}");
    let left = test_support::argv_containing(&[&format!("sleep {marker}")]);
    assert!(left.is_empty(), "survivors: {left:?}");
}
