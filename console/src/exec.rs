//! Runs one action's child: argv only (no shell), a cleared environment
//! (fixed `PATH`, `LANG`, `OPENCLAW_RUN_ID` and the parameters), its own
//! process group, stdin from /dev/null, stdout and stderr capped with a
//! `truncated` flag. At the timeout, or when the console shuts down, the
//! whole group is killed; after any exit the group is killed again so no
//! grandchild outlives the run. Blocking: the caller gives it a thread.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::reaper::Reaper;

/// Most stdout kept.
pub(crate) const STDOUT_CAP: usize = 2 * 1024 * 1024;

/// Most stderr kept.
pub(crate) const STDERR_CAP: usize = 512 * 1024;

/// How long output pipes are waited for after the group is gone (a
/// grandchild that left the group could hold them open).
const PIPE_GRACE: Duration = Duration::from_secs(2);

/// What to run.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    /// The run id (also `OPENCLAW_RUN_ID` in `env`), to find its orphans.
    pub(crate) run_id: String,
    /// Program (absolute) and arguments, exactly as registered.
    pub(crate) argv: Vec<String>,
    /// The variables the child gets besides `PATH`.
    pub(crate) env: Vec<(String, String)>,
    /// Its working directory (the run's artifact directory).
    pub(crate) cwd: PathBuf,
    /// The server-side timeout.
    pub(crate) timeout: Duration,
}

/// How the child ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ending {
    /// It exited with this code.
    Exited(i32),
    /// A signal ended it (not one of ours).
    Signalled(i32),
    /// It ran past its timeout and its group was killed.
    TimedOut,
    /// The console was shutting down and killed its group.
    Killed,
    /// It could not be started.
    SpawnFailed(String),
}

impl Ending {
    /// The exit code reported and audited: the child's own, or -1.
    pub(crate) fn code(&self) -> i32 {
        match self {
            Ending::Exited(c) => *c,
            Ending::Signalled(_) | Ending::TimedOut | Ending::Killed | Ending::SpawnFailed(_) => -1,
        }
    }
}

/// A finished child.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    /// How it ended.
    pub(crate) ending: Ending,
    /// Its stdout, at most [`STDOUT_CAP`] bytes.
    pub(crate) stdout: Vec<u8>,
    /// Its stderr, at most [`STDERR_CAP`] bytes.
    pub(crate) stderr: Vec<u8>,
    /// Whether either stream was cut.
    pub(crate) truncated: bool,
    /// Wall time from spawn to the end.
    pub(crate) duration: Duration,
}

type Sink = Arc<Mutex<(Vec<u8>, bool)>>;

fn drain(mut pipe: impl Read, cap: usize, sink: Sink, done: mpsc::Sender<()>) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match pipe.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let mut s = sink.lock().unwrap_or_else(PoisonError::into_inner);
                let room = cap.saturating_sub(s.0.len());
                s.0.extend_from_slice(&buf[..n.min(room)]);
                // Keep reading past the cap so the child never blocks on a full pipe.
                s.1 |= n > room;
            }
        }
    }
    let _ = done.send(());
}

fn kill_group(pid: u32) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

/// Runs `spec` to its end. `stop` asks for the group to be killed
/// (shutdown); `reaper` spawns the child and sweeps its orphans; `around`
/// runs just before and after the spawn (it hands the action's lock to the
/// child: the kernel then releases it only when every holder is gone).
pub(crate) fn run(spec: &Spec, stop: &AtomicBool, reaper: &Arc<Reaper>, around: &dyn Fn(bool)) -> Outcome {
    let started = Instant::now();
    let failed = |why: String| Outcome {
        ending: Ending::SpawnFailed(why),
        stdout: Vec::new(),
        stderr: Vec::new(),
        truncated: false,
        duration: started.elapsed(),
    };
    let Some((program, args)) = spec.argv.split_first() else { return failed("empty argv".into()) };
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_clear()
        .env("PATH", common::process::CHILD_PATH)
        .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(&spec.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = match reaper.spawn(&spec.run_id, &mut cmd, around) {
        Ok(c) => c,
        Err(e) => return failed(format!("cannot start {program}: {e}")),
    };
    let pid = child.id();
    let (done_tx, done_rx) = mpsc::channel();
    let sinks: [Sink; 2] = [Arc::default(), Arc::default()];
    if let Some(out) = child.stdout.take() {
        let (sink, tx) = (Arc::clone(&sinks[0]), done_tx.clone());
        std::thread::spawn(move || drain(out, STDOUT_CAP, sink, tx));
    }
    if let Some(err) = child.stderr.take() {
        let (sink, tx) = (Arc::clone(&sinks[1]), done_tx.clone());
        std::thread::spawn(move || drain(err, STDERR_CAP, sink, tx));
    }
    drop(done_tx);
    let (status_tx, status_rx) = mpsc::channel();
    let waiter = Arc::clone(reaper);
    std::thread::spawn(move || {
        let status = child.wait();
        waiter.waited(pid);
        let _ = status_tx.send(status);
    });
    let deadline = started + spec.timeout;
    let mut ours: Option<Ending> = None;
    let status = loop {
        let wait = deadline.saturating_duration_since(Instant::now()).min(Duration::from_millis(50));
        match status_rx.recv_timeout(if ours.is_some() { Duration::from_millis(50) } else { wait }) {
            Ok(status) => break status.ok(),
            Err(mpsc::RecvTimeoutError::Disconnected) => break None,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if ours.is_none() && stop.load(Ordering::SeqCst) {
            ours = Some(Ending::Killed);
            kill_group(pid);
        } else if ours.is_none() && Instant::now() >= deadline {
            ours = Some(Ending::TimedOut);
            kill_group(pid);
        }
    };
    // Whatever the child left behind goes with it: its group, then every
    // descendant that left the group and was re-parented to us.
    kill_group(pid);
    let swept = reaper.sweep(&spec.run_id);
    if swept > 0 {
        crate::INFO.error(&format!("run {}: killed {swept} process(es) it left behind", spec.run_id));
    }
    let pipes_deadline = Instant::now() + PIPE_GRACE;
    for _ in 0..2 {
        if done_rx.recv_timeout(pipes_deadline.saturating_duration_since(Instant::now())).is_err() {
            break;
        }
    }
    let duration = started.elapsed();
    let ending = ours.unwrap_or_else(|| {
        use std::os::unix::process::ExitStatusExt;
        match status {
            Some(s) => match (s.code(), s.signal()) {
                (Some(c), _) => Ending::Exited(c),
                (None, Some(sig)) => Ending::Signalled(sig),
                (None, None) => Ending::Exited(-1),
            },
            None => Ending::SpawnFailed("lost the child's status".into()),
        }
    });
    let take = |s: &Sink| {
        let g = s.lock().unwrap_or_else(PoisonError::into_inner);
        (g.0.clone(), g.1)
    };
    let ((stdout, t1), (stderr, t2)) = (take(&sinks[0]), take(&sinks[1]));
    Outcome { ending, stdout, stderr, truncated: t1 || t2, duration }
}

#[cfg(test)]
mod tests;
