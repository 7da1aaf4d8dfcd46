//! `run_as = "dynamic"` (a file that names no `run_as`): each run its own
//! uid from `[runner] dynamic_uids`, which no concurrent run, host process
//! or user in /etc/passwd shares, and which owns nothing once the run ends.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{Lab, need_root, processes_of, read};

/// Every path under `root` owned by `uid` (or with it as group).
fn owned_by(root: &Path, uid: u32) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else { continue };
        for e in rd.flatten() {
            let Ok(m) = std::fs::symlink_metadata(e.path()) else { continue };
            if m.uid() == uid || m.gid() == uid {
                found.push(e.path());
            }
            if m.is_dir() {
                stack.push(e.path());
            }
        }
    }
    found
}

#[test]
fn concurrent_runs_get_uids_of_their_own_and_cannot_forge_each_others_outputs() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    lab.job("victim", "echo genuine > \"$ARTIFACT_DIR/result\"\nsleep 4\nexit 0", "requires_repo = false\n");
    lab.job(
        "forger",
        "for i in 1 2 3 4 5 6 7 8 9 10; do\n  echo forged > \"$OPENCLAW_PARAM_TARGET/result\" 2>/dev/null && echo hit > \"$ARTIFACT_DIR/hit\"\n  sleep 0.1\ndone\nexit 0",
        "requires_repo = false\n[job.params.target]\ntype = \"string\"\npattern = \"^/[A-Za-z0-9/._-]+$\"\nmax_len = 4096\n",
    );
    lab.write_config();
    let mut victim = lab.command(&["run", "--job", "victim", "--format", "json"]);
    let victim = victim.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut out = None;
    assert!(
        test_support::wait_until(Duration::from_secs(10), || {
            out = lab.job_dir_holding("out", "result");
            out.is_some()
        }),
        "the victim never wrote its result"
    );
    let target = format!("target={}", out.unwrap().display());
    let forger =
        test_support::run(&mut lab.command(&["run", "--job", "forger", "--param", &target, "--format", "json"]));
    let victim = test_support::Run::from(victim.wait_with_output().unwrap());
    assert_eq!(victim.code, 0, "{}\n{}", victim.stdout, victim.stderr);
    assert_eq!(forger.code, 0, "{}\n{}", forger.stdout, forger.stderr);
    let (v, f) = (victim.json(), forger.json());
    let kept = |v: &serde_json::Value, name: &str| {
        read(&lab.artifacts(v["job_id"].as_str().unwrap()).join("outputs").join(name))
    };
    assert_eq!(kept(&v, "result"), "genuine\n", "another run rewrote the victim's ARTIFACT_DIR");
    assert_eq!(kept(&f, "hit"), "", "the forger wrote into another run's ARTIFACT_DIR");
    let uid = |v: &serde_json::Value| v["run_as"]["uid"].as_u64().unwrap();
    assert_ne!(uid(&v), uid(&f), "two concurrent runs shared a uid");
    for v in [&v, &f] {
        assert_eq!(v["run_as"]["user"], "dynamic");
        assert!((61184..=65519).contains(&uid(v)), "{v}");
        assert_eq!(v["run_as"]["gid"], v["run_as"]["uid"]);
    }
}

#[test]
fn a_dynamic_uid_owns_nothing_and_runs_nothing_once_its_run_ends() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    lab.job(
        "litter",
        "set -e\nid -u > \"$ARTIFACT_DIR/uid\"\nmkdir -p \"$HOME/a/b\" \"$TMPDIR/c\"\ntouch \"$HOME/a/b/f\" /tmp/left /var/tmp/left /dev/shm/left\nchmod 000 \"$HOME/a\"\n(setsid sleep 300 </dev/null >/dev/null 2>&1 &)\nexit 0",
        "timeout_sec = 3\n",
    );
    lab.write_config();
    let run = lab.run("litter", &[]);
    // The straggler holds the run to its deadline, where it is killed.
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let v = run.json();
    assert_eq!(v["status"], "timeout", "{}", read(&lab.artifacts(v["job_id"].as_str().unwrap()).join("stderr.log")));
    let uid = v["run_as"]["uid"].as_u64().unwrap() as u32;
    assert_eq!(read(&lab.artifacts(v["job_id"].as_str().unwrap()).join("outputs/uid")).trim(), uid.to_string());
    assert_eq!(processes_of(uid), Vec::<String>::new(), "a process of the run's uid outlived it");
    for root in [lab.host.root(), Path::new("/tmp"), Path::new("/var/tmp"), Path::new("/dev/shm")] {
        assert_eq!(
            owned_by(root, uid),
            Vec::<PathBuf>::new(),
            "the run's uid still owns files under {}",
            root.display()
        );
    }
    assert_eq!(v["invariants"]["cleanup_ok"], true);
}

#[test]
fn uids_that_are_named_held_or_leased_are_never_handed_out() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    lab.job("hold", "sleep 3\nexit 0", "requires_repo = false\n");
    lab.write_config();
    let refused = |lab: &Lab, needle: &str| {
        let run = test_support::run(&mut lab.command(&["run", "--job", "hold", "--format", "json"]));
        assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
        let v = run.json();
        assert_eq!(v["status"], "error");
        assert!(v["reason"].as_str().unwrap().contains(needle), "{v}");
    };
    // nobody (65534) is in /etc/passwd.
    lab.host.write_config("[runner]\ndynamic_uids = [65534, 65534]\n");
    refused(&lab, "no free uid in [runner] dynamic_uids 65534-65534");
    // A host process holds the only uid of the range.
    lab.host.write_config("[runner]\ndynamic_uids = [70999, 70999]\n");
    let mut squatter = Command::new("/usr/bin/setpriv")
        .args(["--reuid=70999", "--regid=70999", "--clear-groups", "--", "/bin/sleep", "30"])
        .spawn()
        .unwrap();
    assert!(test_support::wait_until(Duration::from_secs(5), || !processes_of(70999).is_empty()));
    refused(&lab, "no free uid");
    squatter.kill().unwrap();
    squatter.wait().unwrap();
    // A running job leases it: a second run at the same time finds none.
    let mut first = lab.command(&["run", "--job", "hold", "--format", "json"]);
    let first = first.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    assert!(test_support::wait_until(Duration::from_secs(10), || !processes_of(70999).is_empty()));
    refused(&lab, "no free uid");
    let first = test_support::Run::from(first.wait_with_output().unwrap());
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    assert_eq!(first.json()["run_as"]["uid"], 70999);
}

#[test]
fn every_job_root_included_starts_in_a_fresh_session_keyring() {
    if !need_root() {
        return;
    }
    let canary = format!("openclaw-runner-canary-{}", std::process::id());
    let mut lab = Lab::new();
    lab.job(
        "plant",
        &format!("keyctl add user {canary}-job planted @s > \"$ARTIFACT_DIR/added\"\nexit 0"),
        "requires_repo = false\nrun_as = \"root\"\n",
    );
    lab.job(
        "look",
        &format!(
            "for k in {canary}-caller {canary}-job; do keyctl search @s user $k >/dev/null 2>&1 && echo $k >> \"$ARTIFACT_DIR/found\"; done\nexit 0"
        ),
        "requires_repo = false\nrun_as = \"root\"\n",
    );
    lab.write_config();
    // The caller's session keyring holds a key; each run of the runner
    // inherits it, as both runs below do.
    let run = |job: &str| {
        let script = format!("keyctl add user {canary}-caller secret @s >/dev/null && exec \"$0\" \"$@\"");
        let inner = lab.command(&["run", "--job", job, "--format", "json"]);
        let mut cmd = lab.host.command("/usr/bin/keyctl");
        cmd.args(["session", "-", "/bin/sh", "-c", &script]).arg(inner.get_program()).args(inner.get_args());
        let run = test_support::run(&mut cmd);
        assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
        run.json()
    };
    let planted = run("plant");
    assert!(!read(&lab.artifacts(planted["job_id"].as_str().unwrap()).join("outputs/added")).is_empty(), "{planted}");
    let looked = run("look");
    let found = read(&lab.artifacts(looked["job_id"].as_str().unwrap()).join("outputs/found"));
    assert_eq!(found, "", "a root job found a key of the runner's session keyring or of an earlier job");
    let stderr = read(&lab.artifacts(looked["job_id"].as_str().unwrap()).join("stderr.log"));
    assert_eq!(stderr, "", "keyctl's line reached the job's stderr");
}
