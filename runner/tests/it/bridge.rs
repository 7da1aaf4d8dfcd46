//! The privilege bridge: `serve` (root) runs jobs for callers that can
//! connect to its socket, `submit` is their side. A caller outside the
//! socket's group cannot connect; one inside gets the same artifact and exit
//! code as `run`; a request with an unknown field or a hostile value is
//! refused without running anything.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Lab, RUNNER, need_root};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(lab: &Lab, group: Option<&str>) -> (Server, std::path::PathBuf) {
    let dir = lab.host.path("sock");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let socket = dir.join("runner.sock");
    let mut cmd = lab.command(&["serve", "--socket", socket.to_str().unwrap()]);
    if let Some(g) = group {
        cmd.args(["--group", g]);
    }
    let child = cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(Instant::now() < until, "serve did not bind");
        std::thread::sleep(Duration::from_millis(20));
    }
    (Server(child), socket)
}

fn submit_as(lab: &Lab, socket: &std::path::Path, uid: Option<u32>, args: &[&str]) -> test_support::Run {
    let mut cmd = match uid {
        Some(uid) => {
            let mut c = lab.host.command("setpriv");
            c.args([
                format!("--reuid={uid}"),
                format!("--regid={uid}"),
                "--clear-groups".into(),
                "--".into(),
                RUNNER.into(),
            ]);
            c
        }
        None => lab.host.command(RUNNER),
    };
    cmd.args(["submit", "--socket", socket.to_str().unwrap(), "--format", "json"]).args(args);
    test_support::run(&mut cmd)
}

#[test]
fn a_caller_in_the_group_runs_a_job_and_one_outside_cannot_connect() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    lab.job("ok", "echo fine", "");
    lab.job("bad", "exit 3", "");
    lab.write_config();
    let (_server, socket) = serve(&lab, Some("nogroup"));
    let run = submit_as(&lab, &socket, None, &["--job", "ok", "--repo", "app", "--sha", &lab.sha]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let v = run.json();
    assert_eq!((v["status"].as_str(), v["invariants"]["clean_tree_ok"].as_bool()), (Some("success"), Some(true)));
    let run = submit_as(&lab, &socket, None, &["--job", "bad", "--repo", "app", "--sha", &lab.sha]);
    assert_eq!(run.code, 1, "the job's failure passes through: {}", run.stderr);
    let run = submit_as(&lab, &socket, None, &["--job", "--upload-pack=/bin/sh", "--repo", "app", "--sha", &lab.sha]);
    assert_eq!(run.code, 2, "a dash-led job name is a value, and an unknown job");
    assert!(run.stderr.contains("unknown job"), "{}", run.stderr);
    // nobody's primary group is nogroup (65534): in the socket's group, it may connect.
    let run = submit_as(&lab, &socket, Some(65534), &["--job", "ok", "--repo", "app", "--sha", &lab.sha]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    // A uid outside the group cannot connect at all.
    let run = submit_as(&lab, &socket, Some(4242), &["--job", "ok", "--repo", "app", "--sha", &lab.sha]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("cannot reach the runner") && run.stderr.contains("Permission denied"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_bridge_refuses_malformed_requests_and_serves_only_as_root() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    lab.job("ok", "echo fine", "");
    lab.write_config();
    let (_server, socket) = serve(&lab, None);
    use std::io::{Read, Write};
    for bad in [&b"{\"job\":\"ok\",\"argv\":[\"/bin/sh\"]}\n"[..], b"not json\n", b"[]\n"] {
        let mut s = std::os::unix::net::UnixStream::connect(&socket).unwrap();
        s.write_all(bad).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["exit_code"], 2, "{out}");
        assert!(v["artifact"].is_null() && !out.contains("/bin/sh"), "{out}");
    }
    let big = vec![b'x'; 70 * 1024];
    let mut s = std::os::unix::net::UnixStream::connect(&socket).unwrap();
    let _ = s.write_all(&big);
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert!(out.contains("larger than"), "{out}");
    assert!(!lab.cloned(), "nothing was fetched for a bad request");
    // Without --group the socket is root's alone.
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&socket).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let run = submit_as(&lab, &socket, Some(65534), &["--job", "ok", "--repo", "app", "--sha", &lab.sha]);
    assert_eq!(run.code, 2);
    // serve itself refuses to run unprivileged.
    let mut c = lab.host.command("setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--", RUNNER, "serve", "--socket", "/tmp/x.sock"]);
    let out = test_support::run(&mut c);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("serve runs as root"), "{}", out.stderr);
}

/// `serve --state-dir X --artifacts-root Y --audit-log Z` runs every job
/// with those directories, not the environment's: it passed only
/// `--config` on, and a run wrote its artifact and audit record elsewhere.
#[test]
fn serve_passes_its_path_flags_to_every_run() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    lab.job("ok", "echo fine", "");
    lab.write_config();
    let (state, arts, audit) =
        (lab.host.path("alt/state"), lab.host.path("alt/artifacts"), lab.host.path("alt/audit.jsonl"));
    std::fs::create_dir_all(lab.host.path("alt")).unwrap();
    let dir = lab.host.path("sock");
    std::fs::create_dir_all(&dir).unwrap();
    let socket = dir.join("runner.sock");
    let child = lab
        .command(&[
            "--state-dir",
            state.to_str().unwrap(),
            "--artifacts-root",
            arts.to_str().unwrap(),
            "--audit-log",
            audit.to_str().unwrap(),
            "serve",
            "--socket",
            socket.to_str().unwrap(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _server = Server(child);
    let until = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(Instant::now() < until, "serve did not bind");
        std::thread::sleep(Duration::from_millis(20));
    }
    let run = submit_as(&lab, &socket, None, &["--job", "ok", "--repo", "app", "--sha", &lab.sha]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let job_id = run.json()["job_id"].as_str().unwrap().to_owned();
    assert!(
        arts.join("runner").join(&job_id).join("artifact.json").exists() || walk_has(&arts, &job_id),
        "the run's artifacts are not under --artifacts-root"
    );
    let records = std::fs::read_to_string(&audit).unwrap_or_default();
    assert!(records.contains("\"action\":\"runner.run\""), "the run's audit record is not in --audit-log: {records}");
    assert!(state.exists(), "the run did not use --state-dir");
}

/// Whether any path under `root` names `needle`.
fn walk_has(root: &std::path::Path, needle: &str) -> bool {
    let Ok(entries) = std::fs::read_dir(root) else { return false };
    entries.flatten().any(|e| {
        let p = e.path();
        p.to_string_lossy().contains(needle) || (p.is_dir() && walk_has(&p, needle))
    })
}
