//! `ssh-tailnet-only`: sshd listens on the tailnet address only, on the
//! port(s) it uses now. The caller has already opened the Tailscale
//! interlock and passes the tailnet address.
//!
//! Refused before any change: a pending rollback, `ip_nonlocal_bind` off
//! (sshd could not bind at boot before tailscaled), no `sshd_config`, an
//! unreadable `sshd -T`, no `ssh.service`/`sshd.service` unit (a failure
//! with instructions, never a pass), a hostile config file. Then: back up,
//! edit, `sshd -t`, check `sshd -T`, arm the dead-man, disable and mask the
//! socket units, enable and restart the service, verify (every listener on
//! the ports owned by root, a TCP connect to `<ip>:<port>` answered by
//! `SSH-2.0-`, and no other bind on the port in the kernel's table), confirm. A failed test restores the files (nothing was
//! restarted); a failure after the restart rolls back at once.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::backup::{Backup, SavedUnit, read_config};
use super::deadman::{self, Armed};
use super::sshd_config::{self, ConfigFile, Edit, Effective};
use super::{FixEnv, FixOutcome, Mode, Steps, Undo, host, new_id};
use crate::registry::RemediationId;
use crate::state::PendingRollback;

/// Where the guard keeps the pending rollback (the state file).
pub trait Journal {
    /// The pending rollback, if any.
    fn pending(&self) -> Option<PendingRollback>;
    /// Records or clears it (durably, before returning).
    fn set_pending(&mut self, p: Option<PendingRollback>) -> Result<(), String>;
}

/// The facts gathered before deciding.
struct Gathered {
    main: PathBuf,
    dropin_dir: PathBuf,
    effective: Effective,
    effective_text: String,
    ports: Vec<u16>,
    service: String,
    sockets: Vec<(String, String)>,
    service_enabled: String,
    edits: Vec<Edit>,
}

fn refuse(why: impl Into<String>) -> FixOutcome {
    FixOutcome::Refused { why: why.into() }
}

fn text_of(path: &Path) -> Result<Option<String>, String> {
    read_config(path)?.map(|b| String::from_utf8(b).map_err(|_| format!("{}: not UTF-8", path.display()))).transpose()
}

fn gather(env: &FixEnv, ip: Ipv4Addr, stamp: &str) -> Result<Gathered, FixOutcome> {
    let main = env.ssh_dir.join("sshd_config");
    let dropin_dir = env.ssh_dir.join("sshd_config.d");
    let main_text = text_of(&main).map_err(refuse)?;
    if main_text.is_none() {
        return Err(refuse(format!("{} does not exist; nothing to fix safely", main.display())));
    }
    let effective_text =
        host::sshd_effective(&main).map_err(|e| refuse(format!("cannot read sshd's effective configuration: {e}")))?;
    let effective = sshd_config::parse_effective(&effective_text).map_err(|e| refuse(e.to_string()))?;
    let units = host::unit_files().map_err(|e| refuse(format!("cannot list systemd units: {e}")))?;
    let service = ["ssh.service", "sshd.service"]
        .into_iter()
        .find(|s| units.iter().any(|(n, _)| n == s))
        .ok_or_else(|| {
            refuse(
                "no ssh.service or sshd.service unit: sshd is not managed by systemd here, so the guard cannot \
                 restart or verify it; bind sshd to the tailnet address by hand (docs/guard.md, ssh-tailnet-only) \
                 or install openssh-server",
            )
        })?
        .to_owned();
    let sockets: Vec<(String, String)> = units
        .iter()
        .filter(|(n, _)| n == "ssh.socket" || n == "sshd.socket" || (n.starts_with("ssh@") && n.ends_with(".socket")))
        .cloned()
        .collect();
    let mut others = Vec::new();
    if let Ok(rd) = std::fs::read_dir(&dropin_dir) {
        let mut names: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        names.sort();
        for p in names.into_iter().filter(|p| p.extension().is_some_and(|e| e == "conf")) {
            others.push(ConfigFile { text: text_of(&p).map_err(refuse)?, path: p });
        }
    }
    let ports = effective.ports();
    let edits = sshd_config::plan_edits(
        &ConfigFile { path: main.clone(), text: main_text },
        &others,
        &dropin_dir,
        ip,
        &ports,
        stamp,
    );
    let service_enabled = host::is_enabled(&service);
    Ok(Gathered { main, dropin_dir, effective, effective_text, ports, service, sockets, service_enabled, edits })
}

/// What must change about the units: the socket units that are not masked
/// or still active, and whether the service needs enabling.
fn unit_work(g: &Gathered) -> (Vec<String>, bool) {
    let sockets =
        g.sockets.iter().filter(|(n, state)| state != "masked" || host::is_active(n)).map(|(n, _)| n.clone()).collect();
    (sockets, g.service_enabled != "enabled")
}

/// Whether sshd answers on the tailnet address only, right now.
fn live(ip: Ipv4Addr, ports: &[u16], timeout: Duration) -> Result<String, String> {
    let listeners = host::tcp_listeners()?;
    let public = host::public_binds(&listeners, ip, ports);
    if !public.is_empty() {
        let list: Vec<String> = public.iter().map(ToString::to_string).collect();
        return Err(format!("still bound beyond the tailnet on {}", list.join(", ")));
    }
    // A banner proves nothing about who sends it: a process that won a
    // port during the restart can answer `SSH-2.0-` too.
    let foreign = host::foreign_owners(ports)?;
    if !foreign.is_empty() {
        return Err(format!("sshd's port held by a socket that is not root's, not sshd's: {}", foreign.join(", ")));
    }
    let mut banners = Vec::new();
    for &p in ports {
        let b = host::ssh_banner(SocketAddr::from((ip, p)), timeout)?;
        banners.push(format!("{ip}:{p} answered {b}"));
    }
    Ok(banners.join("; "))
}

/// Runs the fix.
pub fn run(env: &FixEnv, mode: Mode, ip: Ipv4Addr, journal: &mut dyn Journal, steps: &mut Steps) -> FixOutcome {
    let stamp = common::time_fmt::rfc3339(common::time_fmt::now_utc());
    if mode == Mode::Apply
        && let Some(p) = journal.pending()
    {
        return refuse(format!(
            "a rollback of {} (backup {}) is still pending; run `openclaw-guard confirm` or `openclaw-guard rollback` first",
            p.remediation, p.id
        ));
    }
    let g = match gather(env, ip, &stamp) {
        Ok(g) => g,
        Err(o) => return o,
    };
    let (sockets, enable) = unit_work(&g);
    let config_ok = g.edits.is_empty() && g.effective.is_tailnet_only(ip, &g.ports);
    steps.say(format!("sshd listens on port(s) {:?}; tailnet address {ip}; unit {}", g.ports, g.service));
    if mode == Mode::Verify {
        let mut problems: Vec<String> = g.edits.iter().map(|e| format!("{}: {}", e.path.display(), e.why)).collect();
        if !g.effective.is_tailnet_only(ip, &g.ports) {
            let l: Vec<String> = g.effective.listen.iter().map(ToString::to_string).collect();
            problems.push(format!(
                "sshd -T listens on {} (addressfamily {})",
                l.join(", "),
                g.effective.address_family
            ));
        }
        problems.extend(sockets.iter().map(|s| format!("{s} is not masked or is active (socket activation)")));
        if let Err(e) = live(ip, &g.ports, Duration::from_secs(3)) {
            problems.push(e);
        }
        if !host::nonlocal_bind_at_boot(&env.sysctl_root) {
            problems.push(
                "net.ipv4.ip_nonlocal_bind is not 1 in the sysctl.d files: after a reboot sshd could not bind the \
                 tailnet address (run ops/openclaw_install_guard.sh)"
                    .into(),
            );
        }
        return if problems.is_empty() {
            FixOutcome::Compliant { detail: format!("sshd answers on {ip} only, port(s) {:?}", g.ports) }
        } else {
            FixOutcome::NotCompliant { problems }
        };
    }
    let now_on = host::nonlocal_bind();
    let at_boot = host::nonlocal_bind_at_boot(&env.sysctl_root);
    if now_on != Ok(true) || !at_boot {
        return refuse(format!(
            "net.ipv4.ip_nonlocal_bind must be 1 now and after a reboot (now: {}; at boot: {}): sshd bound to the \
             tailnet address only would start before tailscaled brings the address up, fail to bind and lock you \
             out; run ops/openclaw_install_guard.sh (it installs /etc/sysctl.d/60-openclaw-guard.conf and applies it)",
            match &now_on {
                Ok(true) => "1".to_owned(),
                Ok(false) => "0".to_owned(),
                Err(e) => format!("unreadable: {e}"),
            },
            if at_boot { "1" } else { "not 1 in the sysctl.d files" }
        ));
    }
    if config_ok && sockets.is_empty() && !enable && live(ip, &g.ports, Duration::from_secs(3)).is_ok() {
        return FixOutcome::Compliant { detail: format!("sshd already answers on {ip} only, port(s) {:?}", g.ports) };
    }
    let mut changes: Vec<String> = g.edits.iter().map(|e| format!("{}: {}", e.path.display(), e.why)).collect();
    changes.extend(sockets.iter().map(|s| format!("systemctl disable --now {s}; systemctl mask {s}")));
    if enable {
        changes.push(format!("systemctl enable {}", g.service));
    }
    changes.push(format!("systemctl restart {}", g.service));
    if mode == Mode::DryRun {
        return FixOutcome::WouldChange { changes };
    }
    apply(env, ip, &g, &sockets, enable, journal, steps)
}

fn apply(
    env: &FixEnv,
    ip: Ipv4Addr,
    g: &Gathered,
    sockets: &[String],
    enable: bool,
    journal: &mut dyn Journal,
    steps: &mut Steps,
) -> FixOutcome {
    let id = new_id(RemediationId::SshTailnetOnly);
    let paths: Vec<PathBuf> = g.edits.iter().map(|e| e.path.clone()).collect();
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
    for (e, saved) in g.edits.iter().zip(&backup.manifest.files) {
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
        Ok(eff) if eff.is_tailnet_only(ip, &g.ports) => {}
        Ok(eff) => {
            let l: Vec<String> = eff.listen.iter().map(ToString::to_string).collect();
            let why =
                format!("after the edit sshd -T still listens on {} (an Include outside the ssh dir?)", l.join(", "));
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
    steps.say("sshd -t passes; sshd -T listens on the tailnet only and nothing else changed");
    let restarted = restart(g, sockets, enable);
    let verified = restarted.and_then(|()| {
        host::poll(env.verify_for, || live(ip, &g.ports, Duration::from_secs(2)))
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
