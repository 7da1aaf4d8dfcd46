//! `ssh-tailnet-only`: sshd listens on the tailnet address only, on the
//! port(s) it uses now, reached in two phases so that the guard never
//! removes the last path the operator has proven they can use. The caller
//! has already opened the Tailscale interlock and passes the tailnet
//! address with the facts about the path to it.
//!
//! Refused before any change: a pending rollback, `ip_nonlocal_bind` off
//! (sshd could not bind at boot before tailscaled), no `sshd_config`, an
//! unreadable `sshd -T`, no `ssh.service`/`sshd.service` unit (a failure
//! with instructions, never a pass), a hostile config file. Then, until
//! `tailnet_path::judge` proves the path (a login seen over the tailnet,
//! every local filter admitting it): phase 1, sshd also listens on the
//! tailnet address and keeps every listener, and the outcome says what the
//! guard waits for. Once proven: phase 2, the tailnet address only. Both
//! phases change sshd through `ssh_apply` (backup, dead-man, `sshd -t`,
//! `sshd -T`, restart, verify, confirm or roll back).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::backup::read_config;
use super::ssh_apply::{self, Target};
use super::sshd_config::{self, ConfigFile, Edit, Effective};
use super::{FixEnv, FixOutcome, Mode, Steps, Tailnet, host};
use crate::state::PendingRollback;
use crate::tailnet_path::{self, Evidence, Wait};

/// Where the guard keeps the pending rollback and the tailnet login (the
/// state file).
pub trait Journal {
    /// The pending rollback, if any.
    fn pending(&self) -> Option<PendingRollback>;
    /// Records or clears it (durably, before returning).
    fn set_pending(&mut self, p: Option<PendingRollback>) -> Result<(), String>;
    /// The last login seen over the tailnet.
    fn login(&self) -> Option<Evidence>;
    /// Records a login seen now (durably, before returning).
    fn record_login(&mut self, e: Evidence) -> Result<(), String>;
}

/// The facts gathered before deciding.
pub(super) struct Gathered {
    pub(super) main: PathBuf,
    pub(super) main_file: ConfigFile,
    pub(super) others: Vec<ConfigFile>,
    pub(super) dropin_dir: PathBuf,
    pub(super) effective: Effective,
    pub(super) effective_text: String,
    pub(super) ports: Vec<u16>,
    pub(super) service: String,
    sockets: Vec<(String, String)>,
    pub(super) service_enabled: String,
    /// Phase 2's edits.
    edits: Vec<Edit>,
}

pub(super) fn refuse(why: impl Into<String>) -> FixOutcome {
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
    let main_file = ConfigFile { path: main.clone(), text: main_text };
    let edits = sshd_config::plan_edits(&main_file, &others, &dropin_dir, ip, &ports, stamp);
    let service_enabled = host::is_enabled(&service);
    Ok(Gathered {
        main,
        main_file,
        others,
        dropin_dir,
        effective,
        effective_text,
        ports,
        service,
        sockets,
        service_enabled,
        edits,
    })
}

/// What must change about the units: the socket units that are not masked
/// or still active, and whether the service needs enabling.
fn unit_work(g: &Gathered) -> (Vec<String>, bool) {
    let sockets =
        g.sockets.iter().filter(|(n, state)| state != "masked" || host::is_active(n)).map(|(n, _)| n.clone()).collect();
    (sockets, g.service_enabled != "enabled")
}

/// Runs the fix.
pub fn run(env: &FixEnv, mode: Mode, tailnet: &Tailnet, journal: &mut dyn Journal, steps: &mut Steps) -> FixOutcome {
    let ip = tailnet.ip;
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
    steps.say(format!("sshd listens on port(s) {:?}; tailnet address {ip}; unit {}", g.ports, g.service));
    if mode == Mode::Verify {
        return verify(env, ip, &g, &sockets);
    }
    if let Some(refused) = nonlocal_bind_refusal(env) {
        return refused;
    }
    let config_ok = g.edits.is_empty() && g.effective.is_tailnet_only(ip, &g.ports);
    let sshd = host::SshdOwner::of(&g.service);
    let live = || ssh_apply::live_tailnet_only(ip, &g.ports, &sshd, Duration::from_secs(3));
    if config_ok && sockets.is_empty() && !enable && live().is_ok() {
        return FixOutcome::Compliant { detail: format!("sshd already answers on {ip} only, port(s) {:?}", g.ports) };
    }
    // The path first: a login seen now is recorded before anything changes.
    let now = common::time_fmt::now_utc().unix_timestamp();
    let seen = match (&tailnet.path.established, &tailnet.path.locals) {
        (Ok(conns), Ok(locals)) => tailnet_path::logins(conns, locals, ip, &g.ports, now),
        _ => Vec::new(),
    };
    if let Some(e) = seen.last() {
        steps.say(format!("login over the tailnet seen: {} -> {} ({})", e.remote, e.local, e.session));
        if mode == Mode::Apply
            && let Err(err) = journal.record_login(e.clone())
        {
            steps.say(format!("could not record it ({err}); it counts for this run only"));
        }
    }
    let login = seen.last().cloned().or_else(|| journal.login());
    match tailnet_path::judge(&tailnet.path, login.as_ref(), ip, &g.ports, now) {
        Ok(proof) => {
            steps.say(format!(
                "tailnet path proven: a login from {} to {} (seen {}); the firewall admits it ({})",
                proof.login.remote,
                proof.login.local,
                crate::plan::fmt_unix(proof.login.seen_at),
                proof.firewall.join(" | ")
            ));
            let changes = changes(&g.edits, &g, &sockets, enable);
            if mode == Mode::DryRun {
                return FixOutcome::WouldChange { changes };
            }
            ssh_apply::apply(env, Target::TailnetOnly, ip, &g, &g.edits, &sockets, enable, journal, steps)
        }
        Err(waits) => phase1(env, mode, ip, &g, (&sockets, enable), &waits, journal, steps),
    }
}

/// Until the path is proven: sshd also listens on the tailnet address and
/// keeps every listener it has.
#[expect(clippy::too_many_arguments, reason = "the gathered facts and the wait")]
fn phase1(
    env: &FixEnv,
    mode: Mode,
    ip: Ipv4Addr,
    g: &Gathered,
    (sockets, enable): (&[String], bool),
    waits: &[Wait],
    journal: &mut dyn Journal,
    steps: &mut Steps,
) -> FixOutcome {
    let waiting: Vec<String> = waits.iter().map(Wait::text).collect();
    let stamp = common::time_fmt::rfc3339(common::time_fmt::now_utc());
    let edits = sshd_config::plan_add_tailnet(&g.main_file, &g.others, &g.dropin_dir, ip, &g.ports, &stamp);
    if g.effective.reaches(ip, &g.ports) && sockets.is_empty() && !enable {
        let phase1 = format!(
            "phase 1 holds: sshd accepts on {ip} port(s) {:?} and keeps its other listeners; the public listener stays until the tailnet path is proven",
            g.ports
        );
        return FixOutcome::AwaitingTailnet { phase1, waiting };
    }
    let mut list = changes(&edits, g, sockets, enable);
    list.insert(0, "phase 1 (every listener kept):".into());
    if mode == Mode::DryRun {
        return FixOutcome::WouldChange { changes: list };
    }
    match ssh_apply::apply(env, Target::AddTailnet, ip, g, &edits, sockets, enable, journal, steps) {
        FixOutcome::Applied { backup, verified } => FixOutcome::AwaitingTailnet {
            phase1: format!(
                "phase 1 applied: sshd also answers on the tailnet ({verified}); backup {backup}; every other listener kept"
            ),
            waiting,
        },
        other => other,
    }
}

fn changes(edits: &[Edit], g: &Gathered, sockets: &[String], enable: bool) -> Vec<String> {
    let mut changes: Vec<String> = edits.iter().map(|e| format!("{}: {}", e.path.display(), e.why)).collect();
    changes.extend(sockets.iter().map(|s| format!("systemctl disable --now {s}; systemctl mask {s}")));
    if enable {
        changes.push(format!("systemctl enable {}", g.service));
    }
    changes.push(format!("systemctl restart {}", g.service));
    changes
}

/// `--verify`: is sshd on the tailnet only, now and after a reboot?
fn verify(env: &FixEnv, ip: Ipv4Addr, g: &Gathered, sockets: &[String]) -> FixOutcome {
    let mut problems: Vec<String> = g.edits.iter().map(|e| format!("{}: {}", e.path.display(), e.why)).collect();
    if !g.effective.is_tailnet_only(ip, &g.ports) {
        let l: Vec<String> = g.effective.listen.iter().map(ToString::to_string).collect();
        problems.push(format!("sshd -T listens on {} (addressfamily {})", l.join(", "), g.effective.address_family));
    }
    problems.extend(sockets.iter().map(|s| format!("{s} is not masked or is active (socket activation)")));
    if let Err(e) = ssh_apply::live_tailnet_only(ip, &g.ports, &host::SshdOwner::of(&g.service), Duration::from_secs(3))
    {
        problems.push(e);
    }
    if !host::nonlocal_bind_at_boot(&env.sysctl_root) {
        problems.push(
            "net.ipv4.ip_nonlocal_bind is not 1 in the sysctl.d files: after a reboot sshd could not bind the \
             tailnet address (run ops/openclaw_install_guard.sh)"
                .into(),
        );
    }
    if problems.is_empty() {
        FixOutcome::Compliant { detail: format!("sshd answers on {ip} only, port(s) {:?}", g.ports) }
    } else {
        FixOutcome::NotCompliant { problems }
    }
}

/// The refusal when non-local bind is not on now and at boot.
fn nonlocal_bind_refusal(env: &FixEnv) -> Option<FixOutcome> {
    let now_on = host::nonlocal_bind();
    let at_boot = host::nonlocal_bind_at_boot(&env.sysctl_root);
    if now_on == Ok(true) && at_boot {
        return None;
    }
    Some(refuse(format!(
        "net.ipv4.ip_nonlocal_bind must be 1 now and after a reboot (now: {}; at boot: {}): sshd bound to the \
         tailnet address only would start before tailscaled brings the address up, fail to bind and lock you \
         out; run ops/openclaw_install_guard.sh (it installs /etc/sysctl.d/60-openclaw-guard.conf and applies it)",
        match &now_on {
            Ok(true) => "1".to_owned(),
            Ok(false) => "0".to_owned(),
            Err(e) => format!("unreadable: {e}"),
        },
        if at_boot { "1" } else { "not 1 in the sysctl.d files" }
    )))
}
