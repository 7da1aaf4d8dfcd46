//! Cases from the adversarial review of the runner: a root job cannot
//! poison the shared mirror for later runs (config or objects), a nobody
//! job reaches none of the runner's state, an xattr change is caught, a
//! tree moved away is MUTATION_DETECTED, and a refused allowlist is audited.
//! The review's open findings keep their failing tests on branch
//! `wt-rreview` until they are fixed.

use crate::support::{Lab, UNLOCK_MIRROR, need_root, read};

#[test]
fn review_root_job_cannot_poison_mirror_config_for_later_runs() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    let marker = lab.host.path("pwned-by-uploadpack");
    let evil = lab.host.path("evil-upload-pack.sh");
    std::fs::write(&evil, format!("#!/bin/sh\nid > {}\nexec git upload-pack \"$@\"\n", marker.display())).unwrap();
    std::fs::set_permissions(&evil, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    lab.job(
        "poison-config",
        &format!(
            "{UNLOCK_MIRROR}\
             git config -f \"$m/config\" remote.origin.uploadpack {}\nexit 0",
            evil.display()
        ),
        "run_as = \"root\"",
    );
    lab.job("noop", "exit 0", "");
    lab.write_config();
    let first = lab.run("poison-config", &[]);
    let v1 = first.json();
    let second = lab.run("noop", &[]);
    let v2 = second.json();
    assert!(
        !marker.exists(),
        "the next run executed a program planted in the mirror by an earlier job, as {}.\nfirst: status={} clean_tree_ok={}\nsecond: status={}",
        read(&marker).trim(),
        v1["status"],
        v1["invariants"]["clean_tree_ok"],
        v2["status"]
    );
}

#[test]
fn review_root_job_cannot_poison_mirror_objects_for_later_checkouts() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    lab.job(
        "poison-object",
        &format!(
            "set -e\n{UNLOCK_MIRROR}\
         id=$(git rev-parse HEAD:README)\n\
         t=$(mktemp -d); git init -q --bare \"$t/r\"; printf 'poisoned\\n' > \"$t/f\"\n\
         n=$(git --git-dir=\"$t/r\" hash-object -w \"$t/f\")\n\
         o=\"$m/objects/$(echo $id | cut -c1-2)/$(echo $id | cut -c3-)\"\n\
         test -f \"$o\"\n\
         chmod u+w \"$o\"; cp \"$t/r/objects/$(echo $n | cut -c1-2)/$(echo $n | cut -c3-)\" \"$o\"\nexit 0"
        ),
        "run_as = \"root\"",
    );
    lab.job("reader", "cat README > \"$ARTIFACT_DIR/readme.txt\"", "");
    lab.write_config();
    let first = lab.run("poison-object", &[]);
    let v1 = first.json();
    assert_eq!(v1["exit_code"], 0, "the PoC job itself failed: {v1}\n{}", first.stderr);
    let second = lab.run("reader", &[]);
    let v2 = second.json();
    // Secure: the planted object is found before any checkout uses it, and the run refused.
    assert_eq!(second.code, 2, "{v2}");
    assert_eq!(v2["status"], "error");
    assert!(v2["reason"].as_str().unwrap_or("").contains("does not match its id"), "{v2}");
    let out = lab.artifacts(v2["job_id"].as_str().unwrap()).join("outputs/readme.txt");
    assert!(!out.exists() || read(&out) != "poisoned\n", "a later job read planted content; first run: {v1}");
}

#[test]
fn review_xattr_change_by_root_job_is_detected() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    lab.job(
        "xattr",
        "chmod u+w README; /usr/bin/python3 -c 'import os; os.setxattr(\"README\", \"user.evil\", b\"1\")' || exit 7\nchmod u-w README\nexit 0",
        "run_as = \"root\"",
    );
    lab.write_config();
    let run = lab.run("xattr", &[]);
    let v = run.json();
    if v["exit_code"] == 7 {
        test_support::skip("user xattrs not supported here");
        return;
    }
    assert_eq!(v["invariants"]["reason"], "MUTATION_DETECTED", "{v}");
}

#[test]
fn review_nobody_job_reaches_no_runner_state() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    let h = lab.host.root().display().to_string();
    lab.job(
        "snoop",
        &format!(
            "t() {{ if (eval \"$1\") >/dev/null 2>&1; then echo \"$1\" >> \"$ARTIFACT_DIR/reached\"; fi; }}\n\
             m=$(sed -n 's/^gitdir: //p' .git); m=${{m%/worktrees/*}}\n\
             t 'ls \"$m\"'\nt 'cat \"$m/config\"'\nt 'touch \"$m/x\"'\n\
             t 'cat {h}/audit/audit.jsonl'\nt 'ls {h}/artifacts/runner'\nt 'ls {h}/state/runner'\n\
             t 'cat {h}/etc/runner.toml'\nt 'ls {h}/run/runner'\n\
             t 'cat /proc/$PPID/environ'\nt 'ls /proc/$PPID/fd'\nt 'kill -0 $PPID'\nexit 0"
        ),
        "",
    );
    lab.write_config();
    let run = lab.run("snoop", &[]);
    let v = run.json();
    assert_eq!(v["status"], "success", "{v}");
    let reached = read(&lab.artifacts(v["job_id"].as_str().unwrap()).join("outputs/reached"));
    assert!(reached.is_empty(), "a nobody job reached: {reached}");
}

#[test]
fn review_deleting_the_whole_tree_is_mutation_detected() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    lab.job("vanish", "cd .. && mv tree gone && exit 0", "run_as = \"root\"");
    lab.write_config();
    let run = lab.run("vanish", &[]);
    let v = run.json();
    assert_eq!(
        (run.code, v["invariants"]["reason"].as_str()),
        (1, Some("MUTATION_DETECTED")),
        "status={} reason={} invariants={}",
        v["status"],
        v["reason"],
        v["invariants"]
    );
}

#[test]
fn review_hostile_config_refusal_is_audited() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    lab.job("noop", "exit 0", "");
    lab.write_config();
    std::fs::set_permissions(lab.config_path(), std::os::unix::fs::PermissionsExt::from_mode(0o660)).unwrap();
    let run = lab.run("noop", &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let audit = read(&lab.host.path("audit/audit.jsonl"));
    assert!(
        audit.contains("\"action\":\"runner.run\"") && audit.contains("\"exit_code\":2"),
        "refused (hostile config) with no audit record: {}",
        run.stderr
    );
}

#[test]
fn an_unprivileged_job_has_no_capability_even_in_its_bounding_set() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    lab.job("caps", "grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb):' /proc/self/status > \"$ARTIFACT_DIR/caps\"", "");
    lab.write_config();
    let run = lab.run("caps", &[]);
    let v = run.json();
    assert_eq!(v["status"], "success", "{v}");
    let caps = read(&lab.artifacts(v["job_id"].as_str().unwrap()).join("outputs/caps"));
    assert_eq!(caps.lines().count(), 5, "{caps}");
    for line in caps.lines() {
        assert!(line.ends_with("0000000000000000"), "{line}");
    }
}

#[test]
fn a_huge_sparse_file_left_by_a_job_is_a_mutation_and_is_never_read() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    lab.job("sparse", "truncate -s 1T big.bin\ntruncate -s 64G data.txt\nexit 0", "run_as = \"root\"");
    lab.write_config();
    let run = lab.run("sparse", &[]);
    let v = run.json();
    assert_eq!((run.code, v["invariants"]["reason"].as_str()), (1, Some("MUTATION_DETECTED")), "{v}");
    let changed = crate::support::changed(&v);
    assert!(
        changed.iter().any(|c| c.contains("big.bin")) && changed.iter().any(|c| c.contains("data.txt")),
        "{changed:?}"
    );
}

/// Starts `job` in the background, waits until its `out/started` exists
/// (the job writes it), then SIGKILLs the runner, as the OOM killer would.
fn kill_runner_mid_job(lab: &Lab, job: &str) {
    let mut runner = lab.command(&["run", "--job", job, "--repo", "app", "--sha", &lab.sha, "--format", "json"]);
    let mut child = runner.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
    let started = || lab.job_dirs().iter().any(|d| lab.host.path(&format!("run/runner/{d}/out/started")).exists());
    assert!(test_support::wait_until(std::time::Duration::from_secs(30), started), "the job never started");
    let _ = rustix::process::kill_process(rustix::process::Pid::from_child(&child), rustix::process::Signal::KILL);
    let _ = child.wait();
}

/// The pids of every process whose argv is exactly `needle`.
fn processes(needle: &str) -> Vec<i32> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        if let Ok(c) = std::fs::read(e.path().join("cmdline"))
            && String::from_utf8_lossy(&c).replace('\0', " ").trim_end() == needle
        {
            found.push(pid);
        }
    }
    found
}

#[test]
fn a_run_whose_runner_died_is_audited_by_the_next_run() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    lab.job("dies", "echo evil >> README\ntouch \"$ARTIFACT_DIR/started\"\nsleep 30", "run_as = \"root\"");
    lab.job("noop", "exit 0", "");
    lab.write_config();
    kill_runner_mid_job(&lab, "dies");
    let dirs = lab.job_dirs();
    assert_eq!(dirs.len(), 1, "the dead run's directory is left: {dirs:?}");
    let next = lab.run("noop", &[]);
    assert_eq!(next.code, 0, "{}", next.stderr);
    assert!(lab.job_dirs().is_empty(), "the next run removed it");
    let audit: Vec<serde_json::Value> =
        read(&lab.host.path("audit/audit.jsonl")).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let params = serde_json::json!({"job_id": dirs[0], "status": "crashed", "reason": "the runner died before the run ended; its directory was removed"});
    let want = common::audit::params_hash(&params);
    let crashed: Vec<&serde_json::Value> = audit.iter().filter(|r| r["params_hash"] == want.as_str()).collect();
    assert_eq!(crashed.len(), 1, "{audit:?}");
    assert_eq!((crashed[0]["action"].as_str(), crashed[0]["exit_code"].as_i64()), (Some("runner.run"), Some(-1)));
}

#[test]
fn the_runners_death_ends_every_job_process_at_once() {
    if !need_root() {
        return;
    }
    let marker = format!("{}", 7000 + std::process::id() % 1000);
    let mut lab = Lab::new();
    lab.job(
        "orphan",
        &format!(
            "setsid sh -c '(sleep {marker}) & exit 0' </dev/null >/dev/null 2>&1 &\n\
             touch \"$ARTIFACT_DIR/started\"\nsleep 30\nexit 0"
        ),
        "timeout_sec = 60",
    );
    lab.job("noop", "exit 0", "");
    lab.write_config();
    kill_runner_mid_job(&lab, "orphan");
    let needle = format!("sleep {marker}");
    // No other run is needed: the namespace dies with its init.
    let gone = test_support::wait_until(std::time::Duration::from_secs(10), || processes(&needle).is_empty());
    let left = processes(&needle);
    // A failing test leaves nothing behind either.
    for pid in left.iter().filter_map(|p| rustix::process::Pid::from_raw(*p)) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
    }
    assert!(gone, "job processes outlived the runner: {left:?}");
    let next = lab.run("noop", &[]);
    assert_eq!(next.code, 0, "{}", next.stderr);
    assert!(lab.job_dirs().is_empty());
}

/// A root job made a commit the origin never had and grafted it under
/// `main` (`info/grafts`, which `merge-base --is-ancestor` honours even
/// with replace objects off, and `fsck` accepts): a later run of that
/// commit was accepted as on `main`. A mirror holding grafts, a `shallow`
/// file or replace refs is now refused before any run.
#[test]
fn review_root_job_cannot_graft_a_commit_onto_an_allowed_branch() {
    if !need_root() {
        return;
    }
    for planted in ["grafts", "replace"] {
        let mut lab = Lab::new();
        let plant = if planted == "grafts" {
            "printf '%s %s\\n' \"$main\" \"$evil\" > \"$m/info/grafts\""
        } else {
            "git --git-dir=\"$m\" replace \"$main\" \"$(git --git-dir=\"$m\" commit-tree \"$main^{tree}\" -p \"$evil\" -m x)\""
        };
        lab.job(
            "graft",
            &format!(
                "set -e\nexport GIT_AUTHOR_NAME=x GIT_AUTHOR_EMAIL=x@x GIT_COMMITTER_NAME=x GIT_COMMITTER_EMAIL=x@x\n\
                 {UNLOCK_MIRROR}\
                 main=$(git --git-dir=\"$m\" rev-parse refs/remotes/origin/main)\n\
                 evil=$(git --git-dir=\"$m\" commit-tree \"$main^{{tree}}\" -m evil)\n\
                 {plant}\n\
                 echo \"$evil\" > \"$ARTIFACT_DIR/evil\"\nexit 0"
            ),
            "run_as = \"root\"",
        );
        lab.job("noop", "exit 0", "");
        lab.write_config();
        let first = lab.run("graft", &[]);
        let v1 = first.json();
        assert_eq!(v1["exit_code"], 0, "{planted}: the PoC job itself failed: {v1}\n{}", first.stderr);
        let evil = read(&lab.artifacts(v1["job_id"].as_str().unwrap()).join("outputs/evil")).trim().to_owned();
        assert_eq!(evil.len(), 40, "{planted}: {v1}");
        let second = test_support::run(
            &mut lab.command(&["run", "--job", "noop", "--repo", "app", "--sha", &evil, "--format", "json"]),
        );
        let v2 = second.json();
        assert_ne!(v2["status"], "success", "{planted}: a commit the origin never had ran as on main: {v2}");
        assert_eq!(second.code, 2, "{planted}: {v2}");
    }
}
