//! `cups-localhost`: no CUPS listener beyond loopback. Stops, disables and
//! masks the CUPS units (deb: `cups.service`, `cups.socket`, `cups.path`,
//! `cups-browsed.service`; snap: `snap.cups.cupsd.service`,
//! `snap.cups.cups-browsed.service`, and `snap stop --disable cups`), and
//! comments out every `Port` line and every `Listen` line that is not
//! loopback or a socket path in each `cupsd.conf`, after a backup. It never
//! kills a process by name: a listener that remains is a failure to report.
//! Closing CUPS cannot lock anyone out, so nothing is rolled back: a
//! failure keeps what was done and says what remains.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use super::backup::{Backup, read_config};
use super::{FixEnv, FixOutcome, Mode, Steps, Undo, host, new_id};
use crate::registry::RemediationId;

/// CUPS's port.
pub const PORT: u16 = 631;

/// The units the fix stops and masks, where they exist.
pub const UNITS: &[&str] = &[
    "cups.path",
    "cups.socket",
    "cups.service",
    "cups-browsed.service",
    "snap.cups.cupsd.service",
    "snap.cups.cups-browsed.service",
];

fn is_local_listen(arg: &str) -> bool {
    let a = arg.trim();
    if a.starts_with('/') {
        return true; // a Unix socket
    }
    let host = a.rsplit_once(':').map_or(a, |(h, _)| h);
    matches!(host.to_ascii_lowercase().as_str(), "localhost" | "127.0.0.1" | "[::1]")
        || host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// The new text of a `cupsd.conf`, `None` when it needs no change. Pure.
pub fn plan_conf(text: &str, stamp: &str) -> Option<String> {
    let mut changed = false;
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.split_inclusive('\n') {
        let t = line.trim_start();
        let mut words = t.split_whitespace();
        let key = words.next().unwrap_or("").to_ascii_lowercase();
        let arg = words.next().unwrap_or("");
        let bad = !t.starts_with('#') && (key == "port" || (key == "listen" && !is_local_listen(arg)));
        if bad {
            changed = true;
            out.push_str(&format!(
                "# DISABLED by openclaw-guard {stamp}, was: {}\n",
                line.trim_end_matches(['\n', '\r'])
            ));
        } else {
            out.push_str(line);
        }
    }
    changed.then_some(out)
}

/// The CUPS listeners beyond loopback in the kernel's table.
fn public_listeners() -> Result<Vec<String>, String> {
    let l = host::tcp_listeners()?;
    Ok(l.iter().filter(|a| a.port() == PORT && !a.ip().is_loopback()).map(ToString::to_string).collect())
}

fn snap_cups() -> bool {
    std::path::Path::new("/snap/cups").is_dir()
}

/// Runs the fix.
pub fn run(env: &FixEnv, mode: Mode, steps: &mut Steps) -> FixOutcome {
    let stamp = common::time_fmt::rfc3339(common::time_fmt::now_utc());
    let units = match host::unit_files() {
        Ok(u) => u,
        Err(e) => return FixOutcome::Refused { why: format!("cannot list systemd units: {e}") },
    };
    let present: Vec<(String, String)> =
        UNITS.iter().filter_map(|u| units.iter().find(|(n, _)| n == u).cloned()).collect();
    let mut edits = Vec::new();
    for dir in &env.cups_dirs {
        let path = dir.join("cupsd.conf");
        match read_config(&path) {
            Ok(None) => {}
            Ok(Some(bytes)) => {
                let Ok(text) = String::from_utf8(bytes) else {
                    return FixOutcome::Refused { why: format!("{}: not UTF-8; edit it by hand", path.display()) };
                };
                if let Some(new) = plan_conf(&text, &stamp) {
                    edits.push((path, new));
                }
            }
            Err(e) => return FixOutcome::Refused { why: e },
        }
    }
    let to_stop: Vec<String> =
        present.iter().filter(|(n, s)| s != "masked" || host::is_active(n)).map(|(n, _)| n.clone()).collect();
    let public = match public_listeners() {
        Ok(p) => p,
        Err(e) => return FixOutcome::Refused { why: e },
    };
    let mut changes: Vec<String> =
        edits.iter().map(|(p, _)| format!("{}: comment out Port and non-loopback Listen lines", p.display())).collect();
    changes.extend(to_stop.iter().map(|u| format!("systemctl disable --now {u}; systemctl mask {u}")));
    match mode {
        Mode::Verify => {
            let mut problems = changes;
            problems.extend(public.iter().map(|a| format!("a listener remains on {a}")));
            return if problems.is_empty() {
                FixOutcome::Compliant { detail: "no CUPS listener beyond loopback; CUPS units masked or absent".into() }
            } else {
                FixOutcome::NotCompliant { problems }
            };
        }
        Mode::DryRun => return FixOutcome::WouldChange { changes },
        Mode::Apply => {}
    }
    if changes.is_empty() && public.is_empty() {
        return FixOutcome::Compliant { detail: "no CUPS listener beyond loopback; nothing to change".into() };
    }
    let id = new_id(RemediationId::CupsLocalhost);
    let paths: Vec<PathBuf> = edits.iter().map(|(p, _)| p.clone()).collect();
    let backup = match Backup::create(&env.backups, &id, RemediationId::CupsLocalhost.as_str(), &paths) {
        Ok(b) => b,
        Err(e) => return FixOutcome::Refused { why: format!("cannot back up before editing: {e}") },
    };
    let kept = Undo::Kept { backup: backup.dir.display().to_string() };
    let mut errors = Vec::new();
    for ((path, text), saved) in edits.iter().zip(&backup.manifest.files) {
        match super::backup::write_like(saved, text.as_bytes()) {
            Ok(()) => steps.say(format!("{}: commented out Port and non-loopback Listen lines", path.display())),
            Err(e) => errors.push(e),
        }
    }
    if snap_cups() {
        match host::run_ok("snap", &["stop", "--disable", "cups"], host::CMD_TIMEOUT) {
            Ok(_) => steps.say("snap stop --disable cups"),
            Err(e) => errors.push(e),
        }
    }
    for u in &to_stop {
        for args in [&["disable", "--now", u.as_str()][..], &["mask", u.as_str()]] {
            match host::systemctl(args) {
                Ok(_) => steps.say(format!("systemctl {}", args.join(" "))),
                Err(e) => errors.push(e),
            }
        }
    }
    let remaining = host::poll(Duration::from_secs(10), || match public_listeners()? {
        l if l.is_empty() => Ok(()),
        l => Err(format!("a CUPS listener remains on {} (not killed: the guard never kills by name)", l.join(", "))),
    });
    if let Err(e) = remaining {
        errors.push(e);
    }
    if errors.is_empty() {
        FixOutcome::Applied {
            backup: backup.dir.display().to_string(),
            verified: format!("nothing listens on port {PORT} beyond loopback"),
        }
    } else {
        FixOutcome::Failed { why: errors.join("; "), undo: kept }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_and_public_listen_lines_are_commented_out() {
        let conf = "LogLevel warn\nPort 631\nListen 0.0.0.0:631\nListen localhost:631\nListen [::1]:631\nListen /run/cups/cups.sock\n  listen *:631\n# Port 631\n";
        let out = plan_conf(conf, "T").unwrap();
        assert_eq!(
            out,
            "LogLevel warn\n# DISABLED by openclaw-guard T, was: Port 631\n# DISABLED by openclaw-guard T, was: Listen 0.0.0.0:631\nListen localhost:631\nListen [::1]:631\nListen /run/cups/cups.sock\n# DISABLED by openclaw-guard T, was:   listen *:631\n# Port 631\n"
        );
        assert_eq!(plan_conf("Listen localhost:631\nListen 127.0.0.1:631\n", "T"), None);
        assert!(plan_conf("Listen 192.168.1.5:631\n", "T").is_some());
        assert!(plan_conf("Listen [::]:631\n", "T").is_some());
    }
}
