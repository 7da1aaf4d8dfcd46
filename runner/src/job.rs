//! Runs one job in its own PID, mount, IPC and (unless it asks for the
//! host's) network namespace, as its unprivileged uid, and waits for every
//! process it made. The chain is `setpriv --pdeathsig=KILL -- unshare --pid
//! --mount --ipc [--net] --fork --kill-child --propagation=private --
//! openclaw-runner __job-init … -- ARGV`: the runner's
//! death kills `unshare`, whose death kills the namespace's init, whose
//! death kills everything in the namespace. The init (`init`) starts the job
//! through `setpriv` and reaps every descendant, so "no descendant remains"
//! is the init exiting. The runner is also the child subreaper, and at the
//! deadline (which covers stragglers too) every descendant is killed, by
//! process group and one by one. No `unsafe` here, so no `pre_exec`.
//!
//! The chain starts with `keyctl session -` (keyutils), which joins a new
//! anonymous session keyring and then execs `setpriv`: no job, root or
//! not, shares the runner's session keyring (or another run's). keyctl's
//! one line on stderr (`Joined session keyring: N`) is taken off the job's
//! stderr ([`strip_keyctl_line`]).

use std::collections::BTreeSet;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, WaitOptions};

/// The uid switcher (util-linux).
pub const SETPRIV: &str = "/usr/bin/setpriv";

/// The namespace maker (util-linux).
pub const UNSHARE: &str = "/usr/bin/unshare";

/// The session keyring maker (keyutils).
pub const KEYCTL: &str = "/usr/bin/keyctl";

/// What `keyctl session` prints on stderr before it execs.
const KEYCTL_LINE: &[u8] = b"Joined session keyring: ";

/// `stderr` without the line `keyctl session` wrote first (its prefix, a
/// decimal serial, a newline), when it is there. Pure.
pub fn strip_keyctl_line(stderr: &[u8]) -> &[u8] {
    let Some(rest) = stderr.strip_prefix(KEYCTL_LINE) else { return stderr };
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    match rest.get(digits) {
        Some(b'\n') if digits > 0 => &rest[digits + 1..],
        _ => stderr,
    }
}

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
    /// Where the init writes how the job itself ended (a new file in a
    /// directory only the runner can write).
    pub status: PathBuf,
    /// The empty directory the job's filesystem is built on.
    pub root: PathBuf,
    /// What its filesystem binds beside the system directories.
    pub binds: crate::view::Binds,
    /// Whether the job shares the host's network (else its own namespace,
    /// loopback only).
    pub network: bool,
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
    // The uid switch and the namespaces are only as trustworthy as the
    // programs that make them.
    for tool in [KEYCTL, SETPRIV, UNSHARE] {
        if let Err(e) = common::private_path::check_executable(std::path::Path::new(tool)) {
            return failed(format!("{tool} cannot be trusted: {e}"));
        }
    }
    // The init runs as root: it is this very program, found again by path,
    // so that path must be one nobody else can rewrite (and not a binary
    // deleted, or replaced, since this run started).
    let me = match std::env::current_exe() {
        Ok(p) if p.to_string_lossy().ends_with(" (deleted)") => {
            return failed(format!(
                "the runner's own program was removed while it ran ({}); run it again",
                p.display()
            ));
        }
        Ok(p) => p,
        Err(e) => return failed(format!("cannot find the runner's own program for the job's init: {e}")),
    };
    if let Err(e) = common::private_path::check_executable(&me) {
        return failed(format!("the runner's own program cannot be trusted as the job's init: {e}"));
    }
    if let Err(e) = become_subreaper() {
        return failed(format!("cannot become the child subreaper: {e}"));
    }
    let init = crate::init::InitArgs {
        status: spec.status.clone(),
        uid: spec.uid,
        gid: spec.gid,
        root: spec.root.clone(),
        binds: spec.binds.clone(),
        cwd: spec.cwd.clone(),
        lo_up: !spec.network,
        argv: spec.argv.clone(),
    };
    let mut cmd = Command::new(KEYCTL);
    cmd.args(["session", "-", SETPRIV, "--pdeathsig=KILL", "--", UNSHARE, "--pid", "--mount", "--ipc"])
        .args(if spec.network { &[][..] } else { &["--net"][..] })
        .args(["--fork", "--kill-child=SIGKILL", "--propagation=private"])
        .arg("--")
        .arg(me)
        .args(crate::init::to_args(&init))
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(&spec.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return failed(format!("cannot start {KEYCTL}: {e}")),
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
    let mut init_status: Option<(Option<i32>, Option<i32>)> = None;
    let mut killed = 0;
    let mut timed_out = false;
    let mut nap = Duration::from_micros(500);
    loop {
        match rustix::process::wait(WaitOptions::NOHANG) {
            Ok(Some((reaped, status))) => {
                if reaped == pid {
                    init_status = Some((status.exit_status(), status.terminating_signal()));
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
    let stderr = strip_keyctl_line(&stderr).to_vec();
    let ending = ending(timed_out, crate::init::read_status(&spec.status), init_status);
    Outcome { ending, stdout, stderr, truncated: t1 || t2, killed, duration: started.elapsed() }
}

/// How the job ended, from the deadline, the init's status file and how
/// the init's chain itself ended. A missing status is never a success.
pub fn ending(
    timed_out: bool,
    status: Option<crate::init::JobStatus>,
    init: Option<(Option<i32>, Option<i32>)>,
) -> Ending {
    use crate::init::JobStatus;
    match (timed_out, status) {
        (true, Some(JobStatus::Exited(c))) => Ending::TimedOut { main: Some(c) },
        (true, _) => Ending::TimedOut { main: None },
        (false, Some(JobStatus::Exited(c))) => Ending::Exited(c),
        (false, Some(JobStatus::Signalled(s))) => Ending::Signalled(s),
        (false, Some(JobStatus::Failed(why))) => Ending::SpawnFailed(why),
        (false, None) => Ending::SpawnFailed(match init {
            Some((Some(c), _)) => format!("the job's init exited {c} without saying how the job ended"),
            Some((None, Some(s))) => format!("the job's init was killed by signal {s} before the job ended"),
            _ => "lost the job's status".into(),
        }),
    }
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

#[cfg(test)]
mod tests {
    use super::strip_keyctl_line;

    #[test]
    fn only_keyctls_own_first_line_is_taken_off_stderr() {
        assert_eq!(strip_keyctl_line(b"Joined session keyring: 123\njob says\n"), b"job says\n");
        assert_eq!(strip_keyctl_line(b"Joined session keyring: 9\n"), b"");
        for kept in [
            &b"job says\nJoined session keyring: 1\n"[..],
            b"Joined session keyring: \n",
            b"Joined session keyring: 12x\n",
            b"Joined session keyring: 12",
        ] {
            assert_eq!(strip_keyctl_line(kept), kept);
        }
    }
}
