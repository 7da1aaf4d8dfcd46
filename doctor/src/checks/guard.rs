//! `guard`: the regression loop is alive and has not given up. Reads the
//! guard's documented `<state>/guard/state.json` (never its log): a last run
//! older than 30 minutes warns, a pending rollback, a rollback in the last
//! 24 hours and an exhausted remediation budget fail, a guard that is not
//! installed is skipped.

use std::path::Path;

use common::private_path::{self, Class, OpenSpec};
use serde_json::{Value, json};

use super::{Ctx, Outcome};

/// A tick runs every 10 minutes; three missed ticks is a stopped guard.
pub(crate) const STALE_SECS: i64 = 30 * 60;

/// A rollback fails the check for a day, or until a successful `fix` clears it.
pub(crate) const ROLLBACK_SECS: i64 = 24 * 3600;

pub(crate) fn check(ctx: &Ctx) -> Outcome {
    let path = ctx.paths.state_dir.join("guard/state.json");
    let text = match read(&path) {
        Ok(Some(text)) => text,
        Ok(None) if guard_installed() => {
            return Outcome::warn(
                format!("openclaw-guard is installed but has never run (no {})", path.display()),
                "systemctl enable --now openclaw-guard.timer (or run: openclaw-guard run)",
            );
        }
        Ok(None) => return Outcome::skip("openclaw-guard is not installed"),
        Err(e) => return Outcome::error(e),
    };
    let state: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => return Outcome::error(format!("{}: not the guard's state: {e}", path.display())),
    };
    judge(&state, common::time_fmt::now_utc().unix_timestamp())
}

fn read(path: &Path) -> Result<Option<String>, String> {
    let read = private_path::read_file(path, OpenSpec::read(Class::Private), 1 << 20).map_err(|e| e.to_string())?;
    read.map(|bytes| String::from_utf8(bytes).map_err(|_| format!("{}: not UTF-8", path.display()))).transpose()
}

/// Beside the doctor (how the package installs it) or on PATH
/// (`OPENCLAW_GUARD_BIN` overrides), by the one sibling-tool rule.
fn guard_installed() -> bool {
    let own = std::env::current_exe().ok();
    let found =
        common::locate::locate("openclaw-guard", "OPENCLAW_GUARD_BIN", &common::paths::process_env, own.as_deref());
    matches!(found, common::locate::Located::Found(_))
}

/// Pure: the verdict on the guard's state at `now` (Unix seconds).
pub(crate) fn judge(state: &Value, now: i64) -> Outcome {
    if state["schema_version"] != 1 {
        return Outcome::error(format!("guard state has schema_version {}, expected 1", state["schema_version"]));
    }
    let last = &state["last_run"];
    let exhausted: Vec<String> = state["findings"]
        .as_object()
        .map(|m| m.iter().filter(|(_, f)| f["budget_exhausted"] == true).map(|(k, _)| k.clone()).collect())
        .unwrap_or_default();
    let details = json!({
        "last_run": last, "budget_exhausted": exhausted, "pending_rollback": state["pending_rollback"],
        "last_rollback": state["last_rollback"],
    });
    if !state["pending_rollback"].is_null() {
        return Outcome::fail(
            "the guard has a pending rollback: a remediation was not confirmed",
            "read /var/log/openclaw_guard.log and docs/guard.md (recovery runbook); openclaw-guard status",
        )
        .details(details);
    }
    let rollback = &state["last_rollback"];
    if let Some(at) = rollback["at_unix"].as_i64()
        && now.saturating_sub(at) < ROLLBACK_SECS
    {
        return Outcome::fail(
            format!(
                "the guard rolled back {} {} min ago{}: sshd may be public again",
                rollback["remediation"].as_str().unwrap_or("a fix"),
                now.saturating_sub(at) / 60,
                if rollback["restored"] == false { " and the rollback did NOT complete" } else { "" }
            ),
            "read the guard log and docs/guard.md (recovery runbook); fix the cause, then openclaw-guard fix ssh-tailnet-only (which clears this)",
        )
        .details(details);
    }
    if !exhausted.is_empty() {
        return Outcome::fail(
            format!("remediation budget exhausted for {}: the guard stopped trying", exhausted.join(", ")),
            "fix the finding by hand; the budget refills after 24 h (openclaw-guard status shows when)",
        )
        .details(details);
    }
    let Some(at) = last["at_unix"].as_i64() else {
        return Outcome::warn("the guard has not completed a run yet", "openclaw-guard run").details(details);
    };
    let age = now.saturating_sub(at);
    if age > STALE_SECS {
        return Outcome::warn(
            format!("the guard's last run was {} min ago (more than {} min)", age / 60, STALE_SECS / 60),
            "systemctl status openclaw-guard.timer; openclaw-guard run",
        )
        .details(details);
    }
    match last["outcome"].as_str() {
        Some("error") => Outcome::warn(
            format!("the guard's last run ({} min ago) could not run", age / 60),
            "openclaw-guard run; read its log",
        )
        .details(details),
        Some(outcome @ ("pass" | "fail")) => {
            Outcome::pass(format!("the guard ran {} min ago (outcome {outcome}), no budget exhausted", age / 60))
                .details(details)
        }
        other => Outcome::error(format!("guard state has an unknown last outcome {other:?}")).details(details),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Status;

    fn state(at: i64, outcome: &str, exhausted: bool, rollback: Value) -> Value {
        json!({
            "schema_version": 1,
            "last_run": {"at": "2026-11-28T08:00:00Z", "at_unix": at, "outcome": outcome, "exit_code": 0, "findings": [], "detail": ""},
            "doctor_fail_open": false,
            "findings": {"listeners/ssh-tailnet-only": {"first_seen": at, "last_seen": at, "attempts": [],
                "consecutive_failures": 3, "backoff_until": null, "budget_exhausted": exhausted}},
            "pending_rollback": rollback,
        })
    }

    #[test]
    fn fresh_runs_pass_stale_ones_warn_and_giving_up_fails() {
        let now = 1_800_000_000;
        assert_eq!(judge(&state(now - 600, "pass", false, Value::Null), now).status, Status::Pass);
        assert_eq!(judge(&state(now - 600, "fail", false, Value::Null), now).status, Status::Pass);
        assert_eq!(judge(&state(now - STALE_SECS - 1, "pass", false, Value::Null), now).status, Status::Warn);
        assert_eq!(judge(&state(now - 60, "error", false, Value::Null), now).status, Status::Warn);
        let exhausted = judge(&state(now - 60, "fail", true, Value::Null), now);
        assert_eq!(exhausted.status, Status::Fail);
        assert!(exhausted.summary.contains("listeners/ssh-tailnet-only"), "{}", exhausted.summary);
        let rollback = json!({"fix": "ssh-tailnet-only", "deadline_unix": now + 60});
        assert_eq!(judge(&state(now - 60, "pass", false, rollback), now).status, Status::Fail);
        let mut rolled = state(now - 60, "pass", false, Value::Null);
        rolled["last_rollback"] = json!({"at_unix": now - 3600, "remediation": "ssh-tailnet-only", "restored": false});
        let o = judge(&rolled, now);
        assert_eq!(o.status, Status::Fail);
        assert!(
            o.summary.contains("rolled back ssh-tailnet-only 60 min ago and the rollback did NOT complete"),
            "{}",
            o.summary
        );
        rolled["last_rollback"]["at_unix"] = json!(now - ROLLBACK_SECS - 1);
        assert_eq!(judge(&rolled, now).status, Status::Pass);
        let mut odd = state(now - 60, "pass", false, Value::Null);
        odd["schema_version"] = json!(2);
        assert_eq!(judge(&odd, now).status, Status::Error);
        odd["schema_version"] = json!(1);
        odd["last_run"]["outcome"] = json!("maybe");
        assert_eq!(judge(&odd, now).status, Status::Error);
    }
}
