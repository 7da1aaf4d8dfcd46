//! `systemd`: failed units, and this product's units active.

use common::process::CmdError;
use serde_json::json;

use super::{Ctx, Outcome};

pub(crate) fn check(ctx: &Ctx) -> Outcome {
    let failed = match ctx.cmd("systemctl", &["list-units", "--failed", "--plain", "--no-legend", "--no-pager"]) {
        Err(CmdError::NotFound(_)) => return Outcome::skip("systemd is not installed"),
        Err(e) => return Outcome::from_cmd_error(&e),
        Ok(out) if !out.status.success() => {
            let line = out.stderr_line();
            // Only a host without systemd as init is a skip; a bus error on a
            // systemd host would otherwise leave tracked units unchecked.
            if !std::path::Path::new("/run/systemd/system").exists()
                && (line.contains("not been booted with systemd") || line.contains("Failed to connect to bus"))
            {
                return Outcome::skip("this host is not running systemd");
            }
            return Outcome::error(format!("`systemctl list-units --failed` failed: {}", line));
        }
        Ok(out) => out.stdout_text(),
    };
    let tracked = &ctx.settings.tracked_units;
    let states = if tracked.is_empty() {
        String::new()
    } else {
        let mut args = vec!["is-active"];
        args.extend(tracked.iter().map(String::as_str));
        // is-active exits non-zero when any unit is inactive; its stdout still has one line per unit.
        match ctx.cmd("systemctl", &args) {
            Ok(out) => out.stdout_text(),
            Err(e) => return Outcome::from_cmd_error(&e),
        }
    };
    judge(&failed, tracked, &states)
}

pub(crate) fn judge(failed_text: &str, tracked: &[String], is_active: &str) -> Outcome {
    let failed: Vec<String> =
        failed_text.lines().filter_map(|l| l.split_whitespace().next()).map(|u| u.to_string()).collect();
    let states: Vec<&str> = is_active.lines().map(str::trim).collect();
    let mut inactive = Vec::new();
    for (idx, unit) in tracked.iter().enumerate() {
        let state = states.get(idx).copied().unwrap_or("unknown");
        if state != "active" {
            inactive.push(format!("{} is {}", unit, state));
        }
    }
    let failed_tracked: Vec<&String> = failed.iter().filter(|u| tracked.contains(u)).collect();
    let details = json!({"failed_units": failed, "tracked": tracked, "tracked_states": states});
    if !inactive.is_empty() || !failed_tracked.is_empty() {
        return Outcome::fail(
            format!("tracked units not active: {}", inactive.join(", ")),
            "`systemctl status <unit>` and `journalctl -u <unit>`; enable timers with `systemctl enable --now <unit>`",
        )
        .details(details);
    }
    if !failed.is_empty() {
        return Outcome::warn(
            format!("{} failed unit(s): {}", failed.len(), failed.join(", ")),
            "inspect with `systemctl --failed`; clear with `systemctl reset-failed <unit>` once fixed",
        )
        .details(details);
    }
    Outcome::pass(format!("no failed units; {} tracked unit(s) active", tracked.len())).details(details)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Status;

    #[test]
    fn tracked_inactive_fails_untracked_failed_warns() {
        let tracked = vec!["openclaw-doctor.timer".to_string()];
        assert_eq!(judge("", &tracked, "active\n").status, Status::Pass);
        assert_eq!(judge("", &tracked, "inactive\n").status, Status::Fail);
        assert_eq!(judge("", &tracked, "").status, Status::Fail);
        assert_eq!(
            judge("apt-daily.service loaded failed failed Daily apt\n", &tracked, "active\n").status,
            Status::Warn
        );
    }
}
