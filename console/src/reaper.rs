//! Descendants that try to outlive their run. The console makes itself the
//! child subreaper (`PR_SET_CHILD_SUBREAPER`), so a grandchild that
//! `setsid()`s out of its process group and loses its parent is re-parented
//! to the console instead of to init. When a run ends, its supervisor
//! sweeps: every such orphan that carries the run's `OPENCLAW_RUN_ID`, no
//! run id, or the id of no run still going (one it forged) is killed and
//! reaped, repeatedly, until none is left; only then is the action's lock
//! released. An orphan carrying another live run's id is left to that
//! run's sweep. Zombie orphans are reaped
//! periodically. Spawns and sweeps share one mutex, so a direct child (whose
//! status belongs to its own waiter) is never mistaken for an orphan.

use std::collections::HashSet;
use std::process::{Child, Command};
use std::sync::{Mutex, MutexGuard, PoisonError};

use rustix::process::{Pid, Signal, WaitOptions, getpid, kill_process, set_child_subreaper, waitpid};

/// Longest one sweep may take (it holds the spawn mutex meanwhile).
const SWEEP_BUDGET: std::time::Duration = std::time::Duration::from_secs(3);

/// The console's reaper.
#[derive(Debug)]
pub(crate) struct Reaper {
    me: u32,
    /// Children spawned and not yet waited for by their own waiter thread.
    direct: Mutex<HashSet<u32>>,
    /// Whether this process is the subreaper (false: sweeping finds nothing).
    active: bool,
    /// The ids of runs whose child was started and not yet swept.
    runs: Mutex<HashSet<String>>,
}

/// One process seen in /proc.
struct Proc {
    pid: u32,
    ppid: u32,
    zombie: bool,
}

fn stat(pid: u32) -> Option<Proc> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: parse after the last `)`.
    let rest = text.rsplit_once(')')?.1;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some(Proc { pid, ppid, zombie: state == "Z" || state == "X" })
}

/// Whether the orphan with environment `env` (`None`: unreadable) is run
/// `run_id`'s to kill: it names that run, names no run (it cleared its
/// environment to hide), or names a run that is not going (it forged an
/// id to escape); an unreadable environment is not given the benefit of
/// the doubt either. Only an orphan naming another live run is left. Pure.
pub(crate) fn belongs_to(env: Option<&[u8]>, run_id: &str, live: &HashSet<String>) -> bool {
    let Some(env) = env else { return true };
    let mut named = None;
    for var in env.split(|b| *b == 0) {
        if let Some(id) = var.strip_prefix(b"OPENCLAW_RUN_ID=") {
            named = Some(id);
        }
    }
    match named {
        None => true,
        Some(id) if id == run_id.as_bytes() => true,
        Some(id) => !std::str::from_utf8(id).is_ok_and(|id| live.contains(id)),
    }
}

impl Reaper {
    /// Makes this process the subreaper. If the kernel refuses, the console
    /// still runs; group kills then remain the only cleanup.
    pub(crate) fn install() -> Reaper {
        let active = set_child_subreaper(Some(getpid())).is_ok();
        Reaper { me: getpid().as_raw_nonzero().get() as u32, direct: Mutex::default(), active, runs: Mutex::default() }
    }

    fn guard(&self) -> MutexGuard<'_, HashSet<u32>> {
        self.direct.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn live(&self) -> MutexGuard<'_, HashSet<String>> {
        self.runs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Spawns `cmd`, the child of run `run_id`, and remembers it as a
    /// direct child and the run as going until its [`Reaper::sweep`];
    /// `around` runs just before and after the spawn, under the same mutex
    /// (used to hand the action's lock to this child and to no other).
    pub(crate) fn spawn(&self, run_id: &str, cmd: &mut Command, around: &dyn Fn(bool)) -> std::io::Result<Child> {
        let mut direct = self.guard();
        around(true);
        let res = cmd.spawn();
        around(false);
        let child = res?;
        direct.insert(child.id());
        self.live().insert(run_id.to_owned());
        Ok(child)
    }

    /// Forgets a direct child once its waiter has its status.
    pub(crate) fn waited(&self, pid: u32) {
        self.guard().remove(&pid);
    }

    fn orphans(&self, direct: &HashSet<u32>) -> Vec<Proc> {
        let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
        entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter_map(stat)
            .filter(|p| p.ppid == self.me && !direct.contains(&p.pid))
            .collect()
    }

    /// Kills and reaps every orphan of run `run_id` until none is left (each
    /// kill may re-parent that orphan's own children to us), then counts
    /// the run as no longer going. Returns how many were killed.
    pub(crate) fn sweep(&self, run_id: &str) -> usize {
        let killed = self.sweep_orphans(run_id);
        self.live().remove(run_id);
        killed
    }

    fn sweep_orphans(&self, run_id: &str) -> usize {
        if !self.active {
            return 0;
        }
        let deadline = std::time::Instant::now() + SWEEP_BUDGET;
        let mut killed = 0;
        // Orphans we may not signal (a setuid program's): left alone, never retried.
        let mut stubborn: HashSet<u32> = HashSet::new();
        while std::time::Instant::now() < deadline {
            let direct = self.guard();
            let live = self.live().clone();
            let found: Vec<Proc> = self
                .orphans(&direct)
                .into_iter()
                .filter(|p| {
                    let env = || std::fs::read(format!("/proc/{}/environ", p.pid)).ok();
                    !stubborn.contains(&p.pid) && (p.zombie || belongs_to(env().as_deref(), run_id, &live))
                })
                .collect();
            if found.is_empty() {
                break;
            }
            let mut reap = Vec::new();
            for p in &found {
                let Some(pid) = Pid::from_raw(p.pid as i32) else { continue };
                if p.zombie || kill_process(pid, Signal::KILL).is_ok() {
                    killed += usize::from(!p.zombie);
                    reap.push(pid);
                } else {
                    stubborn.insert(p.pid);
                }
            }
            // Ours to reap: none is a direct child, and we hold the mutex. A
            // process stuck in the kernel is left to `reap_zombies` later.
            for pid in reap {
                while std::time::Instant::now() < deadline {
                    if !matches!(waitpid(Some(pid), WaitOptions::NOHANG), Ok(None)) {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
            }
        }
        killed
    }

    /// Reaps orphans that have already exited.
    pub(crate) fn reap_zombies(&self) {
        if !self.active {
            return;
        }
        let direct = self.guard();
        for p in self.orphans(&direct).into_iter().filter(|p| p.zombie) {
            if let Some(pid) = Pid::from_raw(p.pid as i32) {
                let _ = waitpid(Some(pid), WaitOptions::NOHANG);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_orphan_is_spared_only_when_it_names_another_live_run() {
        let live: HashSet<String> = ["r1".to_owned(), "r2".to_owned()].into();
        let env = |id: &str| format!("PATH=/bin\0OPENCLAW_RUN_ID={id}\0").into_bytes();
        assert!(belongs_to(Some(&env("r1")), "r1", &live));
        assert!(!belongs_to(Some(&env("r2")), "r1", &live), "another live run's orphan");
        assert!(belongs_to(Some(&env("forged")), "r1", &live), "an id no run has");
        assert!(belongs_to(Some(b"PATH=/bin\0"), "r1", &live), "no id at all");
        assert!(belongs_to(None, "r1", &live), "an unreadable environment");
        assert!(belongs_to(Some(b"OPENCLAW_RUN_ID=\xff\0"), "r1", &live));
    }
}
