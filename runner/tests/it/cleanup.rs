//! Cleanup after a crash: a job directory no running job holds (its
//! worktree still read-only) is removed by the next run, and the mirror's
//! worktree list is pruned.

use std::os::unix::fs::PermissionsExt;

use crate::support::{Lab, need_root};

#[test]
fn the_next_run_removes_an_orphan_left_by_a_crash() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    lab.job("noop", "exit 0", "");
    lab.write_config();
    assert_eq!(lab.run("noop", &[]).code, 0);
    let orphan = lab.host.path("run/runner/0123456789abcdef0123456789abcdef");
    std::fs::create_dir_all(orphan.join("tree/sub")).unwrap();
    std::fs::write(orphan.join("tree/sub/f"), "x").unwrap();
    for d in [orphan.join("tree/sub"), orphan.join("tree")] {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o555)).unwrap();
    }
    let run = lab.run("noop", &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!orphan.exists(), "the orphan is still there");
    assert!(lab.job_dirs().is_empty(), "{:?}", lab.job_dirs());
}

/// Swaps `a` (a directory) and `b` (a link to the decoy) in the cwd with
/// `renameat2(RENAME_EXCHANGE)` until killed; prints `ready` first.
const SWAPPER: &str = r#"
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, RENAME_EXCHANGE, SYS_renameat2 = -100, 2, 316
os.mkdir("a")
for i in range(50):
    open(os.path.join("a", str(i)), "w").close()
os.symlink(sys.argv[1], "b")
print("ready", flush=True)
while True:
    libc.syscall(SYS_renameat2, AT_FDCWD, b"a", AT_FDCWD, b"b", RENAME_EXCHANGE)
"#;

/// Root's cleanup of a job's directories follows no link: a process of the
/// job's uid that keeps swapping a directory of its HOME for a symbolic
/// link to a root-owned directory, while root removes the job directory,
/// never gets that directory's mode changed (the old cleanup checked each
/// path with lstat, then chmodded it by path, following the swapped link).
#[test]
fn cleanup_never_follows_a_link_the_jobs_uid_swaps_in() {
    use std::io::BufRead;
    use std::os::unix::fs::MetadataExt;
    if !need_root() {
        return;
    }
    let host = crate::support::TempHost::new();
    std::fs::set_permissions(host.root(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let decoy = host.path("decoy");
    std::fs::create_dir(&decoy).unwrap();
    std::fs::write(decoy.join("keep"), "root's").unwrap();
    std::fs::set_permissions(&decoy, std::fs::Permissions::from_mode(0o500)).unwrap();
    let jobs = host.path("run");
    std::fs::create_dir(&jobs).unwrap();
    std::fs::set_permissions(&jobs, std::fs::Permissions::from_mode(0o711)).unwrap();
    let nobody = runner::passwd::User { name: "nobody".into(), uid: 65534, gid: 65534 };
    for attempt in 0..60 {
        let jd = runner::tree::JobDir::new(&jobs, &format!("{attempt:032x}"));
        jd.create(&nobody).unwrap();
        let mut swapper = std::process::Command::new("/usr/bin/setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c", SWAPPER])
            .arg(&decoy)
            .current_dir(jd.home())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(swapper.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready");
        let _ = jd.remove();
        let _ = swapper.kill();
        let _ = swapper.wait();
        let _ = jd.remove();
        let meta = std::fs::metadata(&decoy).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o500, "attempt {attempt}: root chmodded the decoy through a swapped link");
        assert_eq!(std::fs::read_to_string(decoy.join("keep")).unwrap(), "root's");
        assert!(!jd.root.exists(), "attempt {attempt}: the job directory is still there");
    }
}

/// A cleanup that cannot complete (a root job made a file in its HOME
/// immutable) makes the run an `error` of class `cleanup_failed`, and
/// alerts through `openclaw-notify` (a stub here, recording its arguments).
#[test]
fn a_cleanup_that_cannot_complete_is_an_error_and_alerts() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    lab.job("pin", "touch \"$HOME/pin\" && chattr +i \"$HOME/pin\"", "requires_repo = false\nrun_as = \"root\"\n");
    lab.write_config();
    let said = lab.host.path("notify.args");
    let stub = lab.host.path("bin/notify-stub.sh");
    std::fs::write(&stub, format!("#!/bin/sh\nprintf '%s\\n' \"$@\" > {}\n", said.display())).unwrap();
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = lab.command(&["run", "--job", "pin", "--format", "json"]);
    cmd.env("OPENCLAW_NOTIFY_BIN", &stub);
    let run = test_support::run(&mut cmd);
    let left = lab.job_dirs();
    for d in &left {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(lab.host.path("run/runner").join(d).join("home/pin"))
            .status();
    }
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    let v = run.json();
    assert_eq!(v["status"], "error", "{v}");
    assert_eq!(v["invariants"]["cleanup_ok"], false, "{v}");
    assert_eq!(v["invariants"]["cleanup_alert"], "accepted", "{v}");
    let error = crate::support::read(&lab.artifacts(v["job_id"].as_str().unwrap()).join("error.json"));
    assert!(error.contains("\"cleanup_failed\""), "{error}");
    let args = crate::support::read(&said);
    assert!(args.starts_with("send\n--check-id\nrunner.cleanup_failed\n"), "{args}");
    assert!(args.contains(v["job_id"].as_str().unwrap()), "{args}");
    // The next run removes what was left once nothing pins it.
    lab.job("noop", "exit 0", "requires_repo = false\n");
    lab.write_config();
    assert_eq!(test_support::run(&mut lab.command(&["run", "--job", "noop"])).code, 0);
    assert!(lab.job_dirs().is_empty(), "{:?}", lab.job_dirs());
}
