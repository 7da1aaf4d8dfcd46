//! The dead-man rollback, after JunOS `commit confirmed`: before a fix
//! restarts sshd it arms a rollback that fires at a deadline unless the
//! guard confirms first, which it does only after a real SSH banner on the
//! tailnet address. A guard killed mid-fix, a verification that hangs, a
//! host that lost the tailnet: the rollback fires anyway.
//!
//! Two mechanisms, the same command underneath (`openclaw-guard rollback
//! --armed <id>`):
//! - [`Mechanism::Systemd`]: a transient timer, `systemd-run
//!   --on-active=<secs>s --unit=openclaw-guard-rollback-<id>`, which
//!   survives the guard and its cgroup;
//! - [`Mechanism::Watchdog`]: where systemd is absent (and in tests), a
//!   detached child in its own process group that waits for the deadline.
//!
//! The pending rollback lives in `state.json`; the armed command acts only
//! while the state still names its id, under the guard's lock, so a
//! confirm, a rollback done by the guard itself, or a second firing makes
//! it a no-op. [`roll_back`] restores the files byte for byte, returns the
//! units to their recorded state and restarts sshd: it deliberately brings
//! back the previous (possibly public) listener rather than risk a lockout.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::backup::Backup;
use super::host;
use super::{Steps, Undo};

/// How the dead-man is armed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mechanism {
    /// A systemd transient timer.
    Systemd,
    /// A detached watchdog process.
    Watchdog,
}

impl Mechanism {
    /// `auto`: systemd when it is the running init and `systemd-run` is on
    /// PATH, or when this process runs inside a systemd unit.
    pub fn detect() -> Mechanism {
        if in_systemd_unit() {
            return Mechanism::Systemd;
        }
        let systemd = Path::new("/run/systemd/system").is_dir() && common::process::on_path("systemd-run").is_some();
        if systemd { Mechanism::Systemd } else { Mechanism::Watchdog }
    }
}

/// An armed dead-man.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mechanism", rename_all = "lowercase", deny_unknown_fields)]
pub enum Armed {
    /// Recorded, not armed yet (the state is written before the dead-man
    /// starts, so it always finds its rollback pending).
    Arming,
    /// The transient unit (`<unit>.timer` is stopped on confirm).
    Systemd {
        /// The unit name.
        unit: String,
    },
    /// The watchdog's pid.
    Watchdog {
        /// Its pid.
        pid: u32,
    },
}

/// Whether this process runs in a systemd unit (`INVOCATION_ID` is set):
/// there a watchdog child would be killed with the unit's cgroup.
fn in_systemd_unit() -> bool {
    std::env::var_os("INVOCATION_ID").is_some_and(|v| !v.is_empty())
}

/// The transient unit's name for backup `id`.
pub fn unit_name(id: &str) -> String {
    format!("openclaw-guard-rollback-{id}")
}

/// Arms the rollback of backup `id` to fire after `after`.
pub fn arm(
    mechanism: Mechanism,
    own_exe: &Path,
    id: &str,
    after: Duration,
    env: &[(String, String)],
) -> Result<Armed, String> {
    let exe = own_exe.to_string_lossy().into_owned();
    match mechanism {
        Mechanism::Systemd => {
            let unit = unit_name(id);
            let mut args = vec![
                format!("--unit={unit}"),
                format!("--on-active={}s", after.as_secs().max(1)),
                "--timer-property=AccuracySec=1s".into(),
                "--description=OpenClaw guard dead-man rollback".into(),
                "--collect".into(),
            ];
            // Paths only: the notifier resolves its own keys, so no secret is in this argv.
            args.extend(env.iter().map(|(k, v)| format!("--setenv={k}={v}")));
            args.extend([exe, "rollback".into(), "--armed".into(), id.to_owned()]);
            let argv: Vec<&str> = args.iter().map(String::as_str).collect();
            host::run_ok("systemd-run", &argv, host::CMD_TIMEOUT)?;
            Ok(Armed::Systemd { unit })
        }
        Mechanism::Watchdog if in_systemd_unit() => {
            Err("refusing a watchdog dead-man inside a systemd unit: it would be killed with the unit's cgroup; \
             set [guard] deadman = \"auto\" or \"systemd\""
                .into())
        }
        Mechanism::Watchdog => {
            let child = Command::new(&exe)
                .args(["rollback", "--armed", id])
                .envs(env.iter().map(|(k, v)| (k, v)))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                // Its own process group: a signal to the guard's group does not reach it.
                .process_group(0)
                .spawn()
                .map_err(|e| format!("cannot start the rollback watchdog {exe}: {e}"))?;
            // Not waited for: it outlives the guard when the guard is killed.
            Ok(Armed::Watchdog { pid: child.id() })
        }
    }
}

/// Stops a systemd dead-man's timer after a confirm (best effort: a timer
/// that still fires finds nothing pending). A watchdog sees the confirm in
/// the state and exits by itself.
pub fn disarm(armed: &Armed, steps: &mut Steps) {
    if let Armed::Systemd { unit } = armed
        && let Err(e) = host::systemctl(&["stop", &format!("{unit}.timer")])
    {
        steps.say(format!("could not stop {unit}.timer ({e}); when it fires it will find nothing pending"));
    }
}

/// Rolls back `backup`: the files byte for byte, then the units to their
/// recorded state (unmasked, re-enabled or disabled again), then sshd as it
/// ran before: with socket activation the service is stopped and the
/// sockets started (the tailnet-only sshd would hold the port), otherwise
/// the service is restarted. A unit whose earlier state is unknown is left
/// as it is and named in the errors.
pub fn roll_back(backup: &Backup, steps: &mut Steps) -> Undo {
    let id = backup.manifest.id.clone();
    let mut errors = Vec::new();
    match backup.restore_files() {
        Ok(()) => steps.say(format!("restored {} file(s) from backup {id}", backup.manifest.files.len())),
        Err(e) => errors.extend(e),
    }
    let call = |args: &[&str], errors: &mut Vec<String>| {
        if let Err(e) = host::systemctl(args) {
            errors.push(e);
        }
    };
    let service = backup.manifest.service.as_deref();
    let units = &backup.manifest.units;
    for u in units.iter().rev() {
        match u.enabled.as_str() {
            "masked" => {}
            "unknown" => errors.push(format!("the state of {} before the fix is unknown; left as it is", u.name)),
            state => {
                call(&["unmask", &u.name], &mut errors);
                if state == "enabled" {
                    call(&["enable", &u.name], &mut errors);
                } else if Some(u.name.as_str()) == service {
                    call(&["disable", &u.name], &mut errors);
                }
            }
        }
    }
    call(&["daemon-reload"], &mut errors);
    let sockets: Vec<&str> =
        units.iter().filter(|u| u.active && u.name.ends_with(".socket")).map(|u| u.name.as_str()).collect();
    if let Some(svc) = service {
        if sockets.is_empty() {
            call(&["restart", svc], &mut errors);
            steps.say(format!("restarted {svc} with the previous configuration"));
        } else {
            // The socket starts sshd on the next connection, with the restored files.
            call(&["stop", svc], &mut errors);
            for s in &sockets {
                call(&["start", s], &mut errors);
            }
            steps.say(format!("stopped {svc} and started {} again (socket activation)", sockets.join(", ")));
        }
    }
    if errors.is_empty() {
        Undo::RolledBack { backup: backup.dir.display().to_string() }
    } else {
        Undo::RollbackFailed { backup: backup.dir.display().to_string(), errors, manual: backup.manual_steps() }
    }
}
