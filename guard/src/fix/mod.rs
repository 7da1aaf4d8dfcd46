//! The remediations: `ssh-tailnet-only` ([`ssh`]) and `cups-localhost`
//! ([`cups`]), their backups ([`backup`]), the dead-man rollback
//! ([`deadman`]) and the host facts they read ([`host`]).
//!
//! A fix runs under the guard's lock, from a tick or from `openclaw-guard
//! fix`. It reads, decides its edits with pure functions
//! ([`sshd_config`], [`cups::plan_conf`]), backs up every file it will
//! change, changes, checks, and for sshd arms the dead-man before the
//! restart and confirms only once the kernel shows root's listeners where
//! the phase wants them and sshd answers on the tailnet address; it
//! removes the public listener only once the tailnet path is proven.
//! The result is a [`FixOutcome`]; the lines in [`FixReport::steps`] go to
//! the guard log.

pub mod backup;
pub mod cups;
pub mod deadman;
pub mod host;
pub mod ssh;
mod ssh_apply;
pub mod sshd_config;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::registry::RemediationId;

/// How a fix is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Change the host.
    Apply,
    /// Say what would change; change nothing.
    DryRun,
    /// Read-only: is the host compliant?
    Verify,
}

/// Where the fixes work and how long they wait.
#[derive(Debug, Clone)]
pub struct FixEnv {
    /// The ssh configuration root (`/etc/ssh`, `OPENCLAW_SSH_DIR`).
    pub ssh_dir: PathBuf,
    /// The CUPS configuration directories.
    pub cups_dirs: Vec<PathBuf>,
    /// Where the sysctl files are read from (`/`; `OPENCLAW_SYSCTL_ROOT`).
    pub sysctl_root: PathBuf,
    /// `<state dir>/guard/backups`.
    pub backups: PathBuf,
    /// The dead-man's deadline.
    pub rollback_after: Duration,
    /// How long a restarted sshd has to answer.
    pub verify_for: Duration,
    /// How the dead-man is armed.
    pub deadman: deadman::Mechanism,
    /// This executable (what the dead-man runs).
    pub own_exe: PathBuf,
    /// Environment handed to the dead-man (the resolved paths, never secrets).
    pub deadman_env: Vec<(String, String)>,
}

/// The tailnet address (the interlock is open) and the facts about the
/// path to it.
#[derive(Debug, Clone)]
pub struct Tailnet {
    /// The local tailnet address.
    pub ip: Ipv4Addr,
    /// What `tailnet_path::judge` reads.
    pub path: crate::tailnet_path::PathFacts,
}

/// How a fix ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum FixOutcome {
    /// Nothing to change (or, for `--verify`, compliant).
    Compliant {
        /// What was checked.
        detail: String,
    },
    /// `--verify`: not compliant.
    NotCompliant {
        /// What is wrong.
        problems: Vec<String>,
    },
    /// `--dry-run`: what would change.
    WouldChange {
        /// The changes.
        changes: Vec<String>,
    },
    /// Changed, verified and confirmed.
    Applied {
        /// The backup of what it changed.
        backup: String,
        /// The proof.
        verified: String,
    },
    /// `ssh-tailnet-only` phase 1: sshd answers on the tailnet address
    /// beside its other listeners; the public listener stays until the
    /// tailnet path is proven.
    AwaitingTailnet {
        /// What phase 1 did or found.
        phase1: String,
        /// What the guard waits for, with what the operator should do.
        waiting: Vec<String>,
    },
    /// Refused before changing anything.
    Refused {
        /// Why.
        why: String,
    },
    /// Failed; what was changed is undone as [`Undo`] says.
    Failed {
        /// Why.
        why: String,
        /// What became of the changes.
        undo: Undo,
    },
}

impl FixOutcome {
    /// Whether the fix did its job (applied, or nothing was needed).
    pub fn succeeded(&self) -> bool {
        matches!(self, FixOutcome::Compliant { .. } | FixOutcome::Applied { .. })
    }
}

/// What became of a failed fix's changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "undo", rename_all = "kebab-case")]
pub enum Undo {
    /// Nothing had been changed.
    NothingChanged,
    /// What was changed is kept: it only closes access (CUPS).
    Kept {
        /// The backup.
        backup: String,
    },
    /// The files were restored; nothing had been restarted.
    FilesRestored {
        /// The backup.
        backup: String,
    },
    /// Rolled back: files restored, units returned, the service restarted.
    RolledBack {
        /// The backup.
        backup: String,
    },
    /// Restoring failed: the backup is left in place, restore by hand.
    RollbackFailed {
        /// The backup.
        backup: String,
        /// What failed.
        errors: Vec<String>,
        /// The commands that restore it.
        manual: Vec<String>,
    },
}

impl Undo {
    /// Whether this was a rollback (alerted as `guard.rolled_back`).
    pub fn is_rollback(&self) -> bool {
        matches!(self, Undo::RolledBack { .. } | Undo::RollbackFailed { .. })
    }
}

/// A fix's outcome and its log lines.
#[derive(Debug, Clone, Serialize)]
pub struct FixReport {
    /// The remediation.
    pub remediation: RemediationId,
    /// How it ended.
    #[serde(flatten)]
    pub outcome: FixOutcome,
    /// What it did, step by step (untrusted text: escaped when written).
    pub steps: Vec<String>,
}

/// Collects a fix's steps.
#[derive(Debug, Default)]
pub struct Steps(pub Vec<String>);

impl Steps {
    /// Records one step.
    pub fn say(&mut self, s: impl Into<String>) {
        self.0.push(s.into());
    }
}

/// Runs remediation `rem`. `tailnet` is asked only by the fixes that need
/// the Tailscale interlock: the tailnet address and the path's facts, or
/// why the interlock is closed (then the fix is refused, or for `--verify`
/// not compliant).
pub fn run(
    env: &FixEnv,
    rem: RemediationId,
    mode: Mode,
    tailnet: impl FnOnce() -> Result<Tailnet, String>,
    journal: &mut dyn ssh::Journal,
) -> FixReport {
    let mut steps = Steps::default();
    let outcome = match rem {
        RemediationId::SshTailnetOnly => match tailnet() {
            Ok(t) => ssh::run(env, mode, &t, journal, &mut steps),
            Err(why) if mode == Mode::Verify => FixOutcome::NotCompliant { problems: vec![why] },
            Err(why) => FixOutcome::Refused { why },
        },
        RemediationId::CupsLocalhost => cups::run(env, mode, &mut steps),
    };
    FixReport { remediation: rem, outcome, steps: steps.0 }
}

/// A fresh backup id: `<remediation>-<UTC stamp>-<pid>`.
pub fn new_id(r: RemediationId) -> String {
    let t = common::time_fmt::now_utc();
    format!(
        "{}-{:04}{:02}{:02}T{:02}{:02}{:02}Z-{}",
        r.as_str(),
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        std::process::id()
    )
}
