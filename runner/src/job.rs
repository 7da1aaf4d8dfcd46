//! Runs one job as its unprivileged uid and waits for every process it
//! made. The runner is the child subreaper, so a descendant that
//! `setsid`s and double-forks is reparented to the runner, not to init:
//! "no descendant remains" is simply `waitpid(-1)` answering ECHILD. The
//! uid switch is `setpriv` (no `unsafe` here, so no `pre_exec`): real and
//! effective ids, no supplementary groups, no new privileges, killed if
//! the runner dies. At the deadline (which covers stragglers too) every
//! descendant is killed, by process group and one by one.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, WaitOptions};

/// The uid switcher (util-linux).
pub const SETPRIV: &str = "/usr/bin/setpriv";

/// Most stdout kept.
pub const STDOUT_CAP: usize = 4 * 1024 * 1024;

/// Most stderr kept.
pub const STDERR_CAP: usize = 1024 * 1024;

/// What to run.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Program (absolute) and arguments, exactly as allowlisted.
    pub argv: Vec<String>,
    /// The whole environment of the job.
    pub env: Vec<(String, String)>,
    /// Its working directory (the worktree).
    pub cwd: PathBuf,
    /// Its uid and gid.
    pub uid: u32,
    /// Its gid.
    pub gid: u32,
    /// Covers the job and every descendant.
    pub timeout: Duration,
}

/// How the job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// It exited with this code and left no descendant running.
    Exited(i32),
    /// A signal ended it.
    Signalled(i32),
    /// The deadline passed; `main` is the job's own exit code if it had
    /// exited (descendants outlived it), `None` if it was still running.
    TimedOut {
        /// The job's own code, when it had exited.
        main: Option<i32>,
    },
    /// It could not be started.
    SpawnFailed(String),
}

/// A finished job.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// How it ended.
    pub ending: Ending,
    /// Its stdout, capped.
    pub stdout: Vec<u8>,
    /// Its stderr, capped.
    pub stderr: Vec<u8>,
    /// Whether either stream was cut.
    pub truncated: bool,
    /// Processes killed at the deadline.
    pub killed: usize,
    /// Wall time from spawn to the last descendant gone.
    pub duration: Duration,
}

/// Makes this process the subreaper of its descendants.
pub fn become_subreaper() -> std::io::Result<()> {
    Ok(rustix::process::set_child_subreaper(Some(rustix::process::getpid()))?)
}

fn drain(mut pipe: impl Read, cap: usize, done: mpsc::Sender<(usize, Vec<u8>, bool)>, idx: usize) {
    let mut kept = Vec::new();
    let mut cut = false;
    let mut buf = [0u8; 16 * 1024];
    loop {
        match pipe.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = cap.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
                // Keep reading past the cap so the job never blocks on a full pipe.
                cut |= n > room;
            }
        }
    }
    let _ = done.send((idx, kept, cut));
}

/// Runs `spec` to its end and returns once no descendant remains.
pub fn run(spec: &Spec) -> Outcome {
    let started = Instant::now();
    let failed = |why: String| Outcome {
        ending: Ending::SpawnFailed(why),
        stdout: Vec::new(),
        stderr: Vec::new(),
        truncated: false,
        killed: 0,
        duration: started.elapsed(),
    };
    // The uid switch is only as trustworthy as the program that makes it.
    if let Err(e) = common::private_path::check_executable(std::path::Path::new(SETPRIV)) {
        return failed(format!("{SETPRIV} cannot be trusted: {e}"));
    }
    if let Err(e) = become_subreaper() {
        return failed(format!("cannot become the child subreaper: {e}"));
    }
    let mut cmd = Command::new(SETPRIV);
    cmd.arg(format!("--reuid={}", spec.uid))
        .arg(format!("--regid={}", spec.gid))
        .args(["--clear-groups", "--no-new-privs", "--pdeathsig=KILL"])
        // An unprivileged job keeps no capability even in its bounding set;
        // a `run_as = "root"` job is root by the operator's choice.
        .args(if spec.uid == 0 { &[][..] } else { &["--inh-caps=-all", "--bounding-set=-all"][..] })
        .arg("--")
        .args(&spec.argv)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(&spec.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return failed(format!("cannot start {SETPRIV}: {e}")),
    };
    let pid = Pid::from_child(&child);
    let (tx, rx) = mpsc::channel();
    if let Some(out) = child.stdout.take() {
        let tx = tx.clone();
        std::thread::spawn(move || drain(out, STDOUT_CAP, tx, 0));
    }
    if let Some(err) = child.stderr.take() {
        let tx = tx.clone();
        std::thread::spawn(move || drain(err, STDERR_CAP, tx, 1));
    }
    drop(tx);
    // The child is reaped below by waitpid(-1); std's handle is never waited on.
    drop(child);
    let deadline = started + spec.timeout;
    let mut main: Option<Result<i32, i32>> = None;
    let mut killed = 0;
    let mut timed_out = false;
    let mut nap = Duration::from_micros(500);
    loop {
        match rustix::process::wait(WaitOptions::NOHANG) {
            Ok(Some((reaped, status))) => {
                if reaped == pid {
                    main = Some(match (status.exit_status(), status.terminating_signal()) {
                        (Some(c), _) => Ok(c),
                        (None, Some(s)) => Err(s),
                        (None, None) => Ok(-1),
                    });
                }
                continue;
            }
            Ok(None) => {}
            // ECHILD: neither the job nor anything it started is alive.
            Err(_) => break,
        }
        if Instant::now() >= deadline {
            timed_out = true;
            killed = kill_all(pid);
            break;
        }
        std::thread::sleep(nap.min(deadline.saturating_duration_since(Instant::now())));
        nap = (nap * 2).min(Duration::from_millis(20));
    }
    let mut outputs = [(Vec::new(), false), (Vec::new(), false)];
    let pipes_deadline = Instant::now() + Duration::from_secs(2);
    for _ in 0..2 {
        match rx.recv_timeout(pipes_deadline.saturating_duration_since(Instant::now())) {
            Ok((idx, kept, cut)) => outputs[idx] = (kept, cut),
            Err(_) => break,
        }
    }
    let [(stdout, t1), (stderr, t2)] = outputs;
    let ending = match (timed_out, main) {
        (true, m) => Ending::TimedOut { main: m.and_then(Result::ok) },
        (false, Some(Ok(c))) => Ending::Exited(c),
        (false, Some(Err(s))) => Ending::Signalled(s),
        (false, None) => Ending::SpawnFailed("lost the job's status".into()),
    };
    Outcome { ending, stdout, stderr, truncated: t1 || t2, killed, duration: started.elapsed() }
}

/// Kills the job's group and every descendant of this process, reaping
/// them, until none remains (or 10 s pass). Returns how many were killed.
fn kill_all(group: Pid) -> usize {
    let me = rustix::process::getpid().as_raw_nonzero().get();
    let mut killed = BTreeSet::new();
    let give_up = Instant::now() + Duration::from_secs(10);
    let _ = rustix::process::kill_process_group(group, Signal::KILL);
    loop {
        for p in descendants(me) {
            if let Some(pid) = Pid::from_raw(p) {
                // Stop first so a forking process cannot outrun the kill.
                let _ = rustix::process::kill_process(pid, Signal::STOP);
                let _ = rustix::process::kill_process(pid, Signal::KILL);
                killed.insert(p);
            }
        }
        loop {
            match rustix::process::wait(WaitOptions::NOHANG) {
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(_) => return killed.len(),
            }
        }
        if Instant::now() >= give_up {
            return killed.len();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Every live descendant of `root` (by `/proc/<pid>/stat` parent links).
fn descendants(root: i32) -> Vec<i32> {
    let mut parent_of = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
            // The command name may hold spaces and parentheses: parse after the last ')'.
            let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else { continue };
            let ppid = after.split_whitespace().nth(1).and_then(|s| s.parse::<i32>().ok());
            if let Some(ppid) = ppid {
                parent_of.push((pid, ppid));
            }
        }
    }
    let mut res: Vec<i32> = Vec::new();
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for &(pid, ppid) in &parent_of {
            if ppid == p && !res.contains(&pid) {
                res.push(pid);
                frontier.push(pid);
            }
        }
    }
    res
}
