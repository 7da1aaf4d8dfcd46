//! What the job's own PID and mount namespace buys: a job cannot find or
//! touch a concurrent job of the same uid through `/proc`, files it leaves
//! in the shared temporary directories die with it, its init ignores its
//! signals, and an unprivileged job's process count is capped.

use std::process::Stdio;
use std::time::Duration;

use crate::support::{Lab, need_root, read};

#[test]
fn a_concurrent_job_of_the_same_uid_cannot_find_or_forge_another_jobs_outputs() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    lab.job(
        "victim",
        "echo genuine > \"$ARTIFACT_DIR/result.txt\"\ntouch \"$ARTIFACT_DIR/started\"\nsleep 4\nexit 0",
        "",
    );
    // The attack: every process's environment names its ARTIFACT_DIR.
    lab.job(
        "attacker",
        "ls /proc | grep -E '^[0-9]+$' > \"$ARTIFACT_DIR/pids\"\n\
         for e in /proc/[0-9]*/environ; do\n\
           d=$(tr '\\0' '\\n' < $e 2>/dev/null | sed -n 's/^ARTIFACT_DIR=//p')\n\
           [ -n \"$d\" ] && [ \"$d\" != \"$ARTIFACT_DIR\" ] || continue\n\
           echo \"$d\" >> \"$ARTIFACT_DIR/found\"\n\
           echo forged > \"$d/result.txt\"\n\
         done\nexit 0",
        "",
    );
    lab.write_config();
    let mut victim = lab.command(&["run", "--job", "victim", "--repo", "app", "--sha", &lab.sha, "--format", "json"]);
    let victim = victim.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let started = || lab.job_dirs().iter().any(|d| lab.host.path(&format!("run/runner/{d}/out/started")).exists());
    assert!(test_support::wait_until(Duration::from_secs(30), started), "the victim never started");
    let a = lab.run("attacker", &[]);
    let out = victim.wait_with_output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let attacker = lab.artifacts(a.json()["job_id"].as_str().unwrap()).join("outputs");
    assert_eq!(read(&attacker.join("found")), "", "the attacker found another job");
    // Its /proc holds its own namespace only: the init and the job's shell.
    let pids = read(&attacker.join("pids"));
    assert!(pids.lines().any(|p| p == "1") && pids.lines().count() <= 4, "{pids}");
    let got = read(&lab.artifacts(v["job_id"].as_str().unwrap()).join("outputs/result.txt"));
    assert_eq!(got, "genuine\n");
}

#[test]
fn files_a_job_leaves_in_the_shared_temporary_directories_die_with_it() {
    if !need_root() {
        return;
    }
    let name = format!("openclaw-runner-test-{}", std::process::id());
    let mut lab = Lab::new();
    // /tmp is left shared when the lab itself lives there (the job must see
    // its directory); /var/tmp and /dev/shm never hold it.
    lab.job(
        "litter",
        &format!("for d in /var/tmp /dev/shm; do echo planted > $d/{name} || exit 3; done\nls -A /dev/shm > \"$ARTIFACT_DIR/shm\"\nexit 0"),
        "",
    );
    lab.write_config();
    let run = lab.run("litter", &[]);
    let v = run.json();
    assert_eq!(v["status"], "success", "{v}\n{}", run.stderr);
    let left: Vec<String> = ["/var/tmp", "/dev/shm"]
        .iter()
        .map(|d| format!("{d}/{name}"))
        .filter(|p| std::path::Path::new(p).exists())
        .collect();
    for p in &left {
        let _ = std::fs::remove_file(p);
    }
    assert!(left.is_empty(), "a job left files that outlive it: {left:?}");
    // What it saw was its own empty /dev/shm, not the host's.
    let shm = read(&lab.artifacts(v["job_id"].as_str().unwrap()).join("outputs/shm"));
    assert_eq!(shm.trim(), name);
}

#[test]
fn a_job_cannot_kill_its_init_and_its_exit_code_is_its_own() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    lab.job("regicide", "kill -9 1; kill -9 $PPID; echo alive > \"$ARTIFACT_DIR/alive\"\nexit 7", "run_as = \"root\"");
    lab.write_config();
    let run = lab.run("regicide", &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let v = run.json();
    assert_eq!((v["status"].as_str(), v["exit_code"].as_i64()), (Some("failure"), Some(7)), "{v}");
    assert_eq!(read(&lab.artifacts(v["job_id"].as_str().unwrap()).join("outputs/alive")), "alive\n");
}

#[test]
fn an_unprivileged_job_has_a_process_cap_and_a_root_job_runs_as_root() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    lab.job("limits", "grep 'Max processes' /proc/self/limits > \"$ARTIFACT_DIR/limits\"", "");
    lab.job("rootjob", "id -u > \"$ARTIFACT_DIR/uid\"", "run_as = \"root\"");
    lab.write_config();
    let v = lab.run("limits", &[]).json();
    let limits = read(&lab.artifacts(v["job_id"].as_str().unwrap()).join("outputs/limits"));
    let cap = runner::init::NPROC_LIMIT.to_string();
    assert_eq!(limits.split_whitespace().filter(|w| *w == cap).count(), 2, "{limits}");
    let v = lab.run("rootjob", &[]).json();
    assert_eq!(v["status"], "success", "{v}");
    assert_eq!(read(&lab.artifacts(v["job_id"].as_str().unwrap()).join("outputs/uid")), "0\n");
}

/// A python3 one-liner for a job: `host` is whether 127.0.0.1:`port` (the
/// test's own listener) answers, `own` whether a listener the job makes on
/// its loopback does.
fn probe_script(port: u16) -> String {
    format!(
        "/usr/bin/python3 -c '\n\
         import socket\n\
         def reach(p):\n\
         \x20   try:\n\
         \x20       socket.create_connection((\"127.0.0.1\", p), 2).close(); return \"yes\"\n\
         \x20   except OSError: return \"no\"\n\
         s = socket.socket(); s.bind((\"127.0.0.1\", 0)); s.listen()\n\
         print(\"host\", reach({port}), \"own\", reach(s.getsockname()[1]))\n\
         ' > \"$ARTIFACT_DIR/net\""
    )
}

#[test]
fn a_job_gets_its_own_loopback_and_the_hosts_network_only_when_it_asks() {
    if !need_root() {
        return;
    }
    let host = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = host.local_addr().unwrap().port();
    let mut lab = Lab::new();
    lab.job("isolated", &probe_script(port), "");
    lab.job("networked", &probe_script(port), "network = true");
    lab.write_config();
    for (job, want) in [("isolated", "host no own yes"), ("networked", "host yes own yes")] {
        let v = lab.run(job, &[]).json();
        assert_eq!(v["status"], "success", "{v}");
        let got = read(&lab.artifacts(v["job_id"].as_str().unwrap()).join("outputs/net"));
        assert_eq!(got.trim(), want, "{job}");
    }
}

#[test]
fn a_runner_that_cannot_empty_an_unprivileged_jobs_bounding_set_refuses_to_start_it() {
    // A unit whose CapabilityBoundingSet= lacks CAP_SETPCAP (found booted, by
    // `cargo xtask systemd-test`): setpriv could not empty the job's bounding
    // set and would only warn, so the job must not run. (That a job started
    // normally has an empty one: review::an_unprivileged_job_has_no_capability_even_in_its_bounding_set.)
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    lab.job("bounds", "touch \"$ARTIFACT_DIR/ran\"", "");
    lab.write_config();
    let sha = lab.sha.clone();
    let args = ["run", "--job", "bounds", "--repo", "app", "--sha", &sha, "--format", "json"];
    let mut cmd = std::process::Command::new("setpriv");
    lab.host.hermetic(&mut cmd);
    cmd.args(["--bounding-set=-setpcap", "--", crate::support::RUNNER, "--config"]).arg(lab.config_path()).args(args);
    let run = test_support::run(&mut cmd);
    assert_ne!(run.code, 0, "{}", run.stderr);
    let v = run.json();
    assert_ne!(v["status"], "success", "{v}");
    assert!(v.to_string().contains("CAP_SETPCAP"), "{v}");
    assert!(!lab.artifacts(v["job_id"].as_str().unwrap()).join("outputs/ran").exists(), "the job ran");
}
