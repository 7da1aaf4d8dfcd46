//! Applying `ssh-tailnet-only`'s edits, for either phase: back up, arm the
//! dead-man, write, `sshd -t`, check `sshd -T`, restart, verify, confirm;
//! a failed test restores the files (nothing was restarted), a failure
//! after the restart rolls back at once.
//!
//! Phase 1 ([`Target::AddTailnet`]) adds `ListenAddress <tailnet ip>:<port>`
//! and keeps every listener sshd has; phase 2 ([`Target::TailnetOnly`])
//! leaves the tailnet listener only. Verification reads the kernel, never
//! a banner alone: every listener on sshd's ports must be root's, the
//! listeners the phase keeps must still be bound, and sshd must answer
//! `SSH-2.0-` on `<ip>:<port>`.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use super::backup::{Backup, SavedUnit};
use super::deadman::{self, Armed};
use super::ssh::{Gathered, Journal, refuse};
use super::sshd_config::{self, Effective};
use super::{FixEnv, FixOutcome, Steps, Undo, host, new_id};
use crate::registry::RemediationId;
use crate::state::PendingRollback;

/// What the edits must leave sshd doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Target {
    /// Phase 1: the tailnet address added, every listener kept.
    AddTailnet,
    /// Phase 2: the tailnet address only.
    TailnetOnly,
}

impl Target {
    /// Whether `sshd -T` after the edit is what this phase wants.
    fn effective_ok(self, before: &Effective, after: &Effective, ip: Ipv4Addr, ports: &[u16]) -> bool {
        match self {
            Target::TailnetOnly => after.is_tailnet_only(ip, ports),
            Target::AddTailnet => {
                before.listen.iter().all(|a| after.listen.contains(a))
                    && after.reaches(ip, ports)
                    && after.address_family == before.address_family
            }
        }
    }
}

/// Whether sshd serves the phase's listeners, right now.
fn live(
    target: Target,
    ip: Ipv4Addr,
    keep: &[SocketAddr],
    ports: &[u16],
    sshd: &host::SshdOwner,
    timeout: Duration,
) -> Result<String, String> {
    let listeners = host::tcp_listeners()?;
    match target {
        Target::TailnetOnly => {
            let public = host::public_binds(&listeners, ip, ports);
            if !public.is_empty() {
                let list: Vec<String> = public.iter().map(ToString::to_string).collect();
                return Err(format!("still bound beyond the tailnet on {}", list.join(", ")));
            }
        }
        Target::AddTailnet => {
            let lost: Vec<String> = keep.iter().filter(|a| !listeners.contains(a)).map(ToString::to_string).collect();
            if !lost.is_empty() {
                return Err(format!("sshd no longer listens on {}", lost.join(", ")));
            }
        }
    }
    // A banner proves nothing about who sends it: a process that won a
    // port during the restart can answer `SSH-2.0-` too.
    let foreign = host::foreign_owners(ports, sshd)?;
    if !foreign.is_empty() {
        return Err(format!("sshd's port held by a process that is not sshd's: {}", foreign.join("; ")));
    }
    let mut banners = Vec::new();
    for &p in ports {
        let b = host::ssh_banner(SocketAddr::from((ip, p)), timeout)?;
        banners.push(format!("{ip}:{p} answered {b}"));
    }
    Ok(banners.join("; "))
}

/// Whether sshd answers on the tailnet address only, right now.
pub(super) fn live_tailnet_only(
    ip: Ipv4Addr,
    ports: &[u16],
    sshd: &host::SshdOwner,
    timeout: Duration,
) -> Result<String, String> {
    live(Target::TailnetOnly, ip, &[], ports, sshd, timeout)
}

/// Applies `edits` for `target`.
#[expect(clippy::too_many_arguments, reason = "the gathered facts and the phase's edits")]
pub(super) fn apply(
    env: &FixEnv,
    target: Target,
    ip: Ipv4Addr,
    g: &Gathered,
    edits: &[sshd_config::Edit],
    sockets: &[String],
    enable: bool,
    journal: &mut dyn Journal,
    steps: &mut Steps,
) -> FixOutcome {
    let id = new_id(RemediationId::SshTailnetOnly);
    let paths: Vec<PathBuf> = edits.iter().map(|e| e.path.clone()).collect();
    let mut backup = match Backup::create(&env.backups, &id, RemediationId::SshTailnetOnly.as_str(), &paths) {
        Ok(b) => b,
        Err(e) => return refuse(format!("cannot back up before editing: {e}")),
    };
    let backup_dir = backup.dir.display().to_string();
    steps.say(format!("backed up {} file(s) to {backup_dir}", paths.len()));
    // The units' state goes into the manifest before anything changes, so a
    // rollback at any point knows what to return them to.
    backup.manifest.units = sockets
        .iter()
        .map(|s| SavedUnit { name: s.clone(), enabled: host::is_enabled(s), active: host::is_active(s) })
        .collect();
    backup.manifest.units.push(SavedUnit {
        name: g.service.clone(),
        enabled: g.service_enabled.clone(),
        active: host::is_active(&g.service),
    });
    backup.manifest.service = Some(g.service.clone());
    if let Err(e) = backup.save() {
        return refuse(format!("cannot write the backup manifest: {e}"));
    }
    // The dead-man is armed before the first byte changes: a guard killed
    // anywhere from here on is rolled back.
    let now = common::time_fmt::now_utc().unix_timestamp();
    let deadline = now.saturating_add(env.rollback_after.as_secs() as i64);
    let mut pending = PendingRollback {
        id: id.clone(),
        remediation: RemediationId::SshTailnetOnly.as_str().into(),
        armed_at: now,
        deadline,
        armed: Armed::Arming,
    };
    if let Err(e) = journal.set_pending(Some(pending.clone())) {
        return refuse(format!("cannot record the pending rollback, so nothing is changed: {e}"));
    }
    let armed = match deadman::arm(env.deadman, &env.own_exe, &id, env.rollback_after, &env.deadman_env) {
        Ok(a) => a,
        Err(e) => {
            let _ = journal.set_pending(None);
            return refuse(format!("cannot arm the dead-man rollback, so nothing is changed: {e}"));
        }
    };
    pending.armed = armed.clone();
    if let Err(e) = journal.set_pending(Some(pending)) {
        steps.say(format!("could not record how the dead-man was armed ({e}); it is armed all the same"));
    }
    steps.say(format!(
        "dead-man armed ({}): rollback at {} unless confirmed",
        mechanism_text(&armed),
        crate::plan::fmt_unix(deadline)
    ));
    // Before any restart: a failure restores the files and disarms.
    let abort = |why: String, journal: &mut dyn Journal, steps: &mut Steps| -> FixOutcome {
        let undo = match backup.restore_files() {
            Ok(()) => Undo::FilesRestored { backup: backup_dir.clone() },
            Err(errors) => {
                return FixOutcome::Failed {
                    why,
                    undo: Undo::RollbackFailed { backup: backup_dir.clone(), errors, manual: backup.manual_steps() },
                };
            }
        };
        match journal.set_pending(None) {
            Ok(()) => deadman::disarm(&armed, steps),
            Err(e) => steps
                .say(format!("could not clear the pending rollback ({e}); the dead-man will find the files restored")),
        }
        FixOutcome::Failed { why, undo }
    };
    if !g.dropin_dir.exists()
        && let Err(e) = std::fs::create_dir(&g.dropin_dir)
    {
        return abort(format!("{}: {e}", g.dropin_dir.display()), journal, steps);
    }
    for (e, saved) in edits.iter().zip(&backup.manifest.files) {
        if let Err(err) = super::backup::write_like(saved, e.text.as_bytes()) {
            return abort(err, journal, steps);
        }
        steps.say(format!("{}: {}", e.path.display(), e.why));
    }
    if let Err(e) = host::sshd_test(&g.main) {
        return abort(format!("sshd -t rejected the new configuration, nothing restarted: {e}"), journal, steps);
    }
    let after = match host::sshd_effective(&g.main) {
        Ok(t) => t,
        Err(e) => return abort(e, journal, steps),
    };
    match sshd_config::parse_effective(&after) {
        Ok(eff) if target.effective_ok(&g.effective, &eff, ip, &g.ports) => {}
        Ok(eff) => {
            let l: Vec<String> = eff.listen.iter().map(ToString::to_string).collect();
            let why = format!(
                "after the edit sshd -T listens on {}, not what {target:?} needs (an Include outside the ssh dir?)",
                l.join(", ")
            );
            return abort(why, journal, steps);
        }
        Err(e) => return abort(e.to_string(), journal, steps),
    }
    let others = sshd_config::other_changes(&g.effective_text, &after);
    if !others.is_empty() {
        let why = format!(
            "the edit would change more than where sshd listens (sshd -T: {}), nothing restarted",
            others.join(", ")
        );
        return abort(why, journal, steps);
    }
    steps.say(match target {
        Target::TailnetOnly => "sshd -t passes; sshd -T listens on the tailnet only and nothing else changed",
        Target::AddTailnet => {
            "sshd -t passes; sshd -T adds the tailnet address, keeps every listener, changes nothing else"
        }
    });
    let keep: Vec<SocketAddr> = g.effective.listen.clone();
    let restarted = restart(g, sockets, enable);
    let verified = restarted.and_then(|()| {
        let sshd = host::SshdOwner::of(&g.service);
        host::poll(env.verify_for, || live(target, ip, &keep, &g.ports, &sshd, Duration::from_secs(2)))
            .map_err(|e| format!("verification failed after the restart: {e}"))
    });
    match verified {
        Ok(proof) => {
            steps.say(format!("verified: {proof}"));
            if let Err(e) = journal.set_pending(None) {
                // Unconfirmed: the dead-man will roll back; say so rather than claim success.
                return FixOutcome::Failed {
                    why: format!("verified, but the confirm could not be recorded ({e}); the dead-man will roll back"),
                    undo: Undo::NothingChanged,
                };
            }
            deadman::disarm(&armed, steps);
            FixOutcome::Applied { backup: backup_dir, verified: proof }
        }
        Err(why) => {
            steps.say(format!("{why}; rolling back now"));
            let undo = deadman::roll_back(&backup, steps);
            if matches!(undo, Undo::RolledBack { .. }) {
                match journal.set_pending(None) {
                    Ok(()) => deadman::disarm(&armed, steps),
                    Err(e) => steps
                        .say(format!("could not clear the pending rollback ({e}); the dead-man will find it restored")),
                }
            }
            FixOutcome::Failed { why, undo }
        }
    }
}

fn mechanism_text(a: &Armed) -> String {
    match a {
        Armed::Systemd { unit } => format!("systemd timer {unit}.timer"),
        Armed::Watchdog { pid } => format!("watchdog pid {pid}"),
        Armed::Arming => "being armed".into(),
    }
}

fn restart(g: &Gathered, sockets: &[String], enable: bool) -> Result<(), String> {
    for s in sockets {
        host::systemctl(&["disable", "--now", s])?;
        host::systemctl(&["mask", s])?;
    }
    if !sockets.is_empty() {
        host::systemctl(&["daemon-reload"])?;
    }
    if enable {
        host::systemctl(&["enable", &g.service])?;
    }
    host::systemctl(&["restart", &g.service]).map(|_| ())
}
