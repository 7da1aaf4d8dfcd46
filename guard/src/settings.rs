//! The `[guard]` table of the shared config file: the guard log, timeouts,
//! the lock wait, the fix budget and the dead-man; and the fixes' roots
//! (`OPENCLAW_SSH_DIR`, `OPENCLAW_CUPS_DIR`). Only the guard knows these keys;
//! `common` hands the table over and keeps `file:line` for errors.

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::config::{Config, ConfigError};
use serde::Deserialize;

use crate::fix::deadman::Mechanism;

/// The `[guard]` table; every key defaults to the contract's value.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct GuardSettings {
    /// The guard log (`OPENCLAW_GUARD_LOG` overrides it).
    pub(crate) log: Option<PathBuf>,
    /// Longest the doctor may run.
    pub(crate) doctor_timeout_secs: u64,
    /// Longest `tailscale status --json` may take.
    pub(crate) tailscale_timeout_secs: u64,
    /// Longest `openclaw-notify send` may take.
    pub(crate) notify_timeout_secs: u64,
    /// Longest a tick waits for another guard's lock.
    pub(crate) lock_wait_secs: u64,
    /// The timer's interval: the first back-off step.
    pub(crate) tick_secs: u64,
    /// Fix attempts allowed per finding per 24 hours.
    pub(crate) max_attempts: u32,
    /// The dead-man's deadline after a fix arms it.
    pub(crate) rollback_after_secs: u64,
    /// How long a restarted sshd has to answer on the tailnet address.
    pub(crate) verify_secs: u64,
    /// How the dead-man is armed.
    pub(crate) deadman: DeadmanSetting,
}

/// `[guard] deadman`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum DeadmanSetting {
    /// systemd when it runs, else the watchdog.
    Auto,
    /// Always a systemd transient timer.
    Systemd,
    /// Always a detached watchdog process.
    Watchdog,
}

impl Default for GuardSettings {
    fn default() -> GuardSettings {
        GuardSettings {
            log: None,
            doctor_timeout_secs: 90,
            tailscale_timeout_secs: 10,
            notify_timeout_secs: 30,
            lock_wait_secs: 30,
            tick_secs: 600,
            max_attempts: 3,
            rollback_after_secs: 120,
            verify_secs: 15,
            deadman: DeadmanSetting::Auto,
        }
    }
}

impl GuardSettings {
    /// The `[guard]` table of `config`, defaults where it is silent.
    pub(crate) fn from_config(config: &Config) -> Result<GuardSettings, ConfigError> {
        let Some(table) = config.tool_table::<GuardSettings>("guard")? else { return Ok(GuardSettings::default()) };
        let span = table.span();
        let g = table.into_inner();
        let bad = |msg: &str| Err(config.invalid_at(Some(span.clone()), format!("guard.{msg}")));
        for (name, v, max) in [
            ("doctor_timeout_secs", g.doctor_timeout_secs, 150),
            ("tailscale_timeout_secs", g.tailscale_timeout_secs, 30),
            ("notify_timeout_secs", g.notify_timeout_secs, 60),
            ("lock_wait_secs", g.lock_wait_secs, 120),
        ] {
            if !(1..=max).contains(&v) {
                return bad(&format!("{name} must be between 1 and {max}"));
            }
        }
        if !(60..=86_400).contains(&g.tick_secs) {
            return bad("tick_secs must be between 60 and 86400");
        }
        if !(1..=10).contains(&g.max_attempts) {
            return bad("max_attempts must be between 1 and 10");
        }
        if !(2..=600).contains(&g.rollback_after_secs) {
            return bad("rollback_after_secs must be between 2 and 600");
        }
        if !(1..=60).contains(&g.verify_secs) || g.verify_secs >= g.rollback_after_secs {
            return bad("verify_secs must be between 1 and 60 and below rollback_after_secs");
        }
        if g.log.as_deref().is_some_and(|p| !p.is_absolute()) {
            return bad("log must be an absolute path");
        }
        Ok(g)
    }

    pub(crate) fn doctor_timeout(&self) -> Duration {
        Duration::from_secs(self.doctor_timeout_secs)
    }

    pub(crate) fn tailscale_timeout(&self) -> Duration {
        Duration::from_secs(self.tailscale_timeout_secs)
    }

    pub(crate) fn notify_timeout(&self) -> Duration {
        Duration::from_secs(self.notify_timeout_secs)
    }

    pub(crate) fn lock_wait(&self) -> Duration {
        Duration::from_secs(self.lock_wait_secs)
    }

    pub(crate) fn mechanism(&self) -> Mechanism {
        match self.deadman {
            DeadmanSetting::Auto => Mechanism::detect(),
            DeadmanSetting::Systemd => Mechanism::Systemd,
            DeadmanSetting::Watchdog => Mechanism::Watchdog,
        }
    }
}

/// An absolute directory from `var`, else `default`.
pub(crate) fn dir_from_env(
    var: &str,
    default: &[&str],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<PathBuf>, String> {
    match env(var).filter(|v| !v.is_empty()) {
        Some(v) if Path::new(&v).is_absolute() => Ok(vec![PathBuf::from(v)]),
        Some(v) => Err(format!("{var} must be an absolute path, got `{v}`")),
        None => Ok(default.iter().map(PathBuf::from).collect()),
    }
}

/// The guard log: `OPENCLAW_GUARD_LOG` > `[guard] log` > the default
/// (`/var/log/openclaw_guard.log` as root, `<state dir>/guard.log`
/// otherwise, i.e. `$XDG_STATE_HOME/openclaw/guard.log` unless the state
/// directory is given), the precedence every path of the shared table follows.
pub(crate) fn guard_log(
    table: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
    root: bool,
    state_dir: &Path,
) -> Result<PathBuf, String> {
    if let Some(v) = env("OPENCLAW_GUARD_LOG").filter(|v| !v.is_empty()) {
        let p = PathBuf::from(&v);
        return if p.is_absolute() {
            Ok(p)
        } else {
            Err(format!("OPENCLAW_GUARD_LOG must be an absolute path, got `{v}`"))
        };
    }
    if let Some(p) = table {
        return Ok(p.to_owned());
    }
    if root {
        return Ok(PathBuf::from("/var/log/openclaw_guard.log"));
    }
    Ok(state_dir.join("guard.log"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<GuardSettings, ConfigError> {
        GuardSettings::from_config(&Config::parse(text, Path::new("/c.toml")).unwrap())
    }

    #[test]
    fn defaults_overrides_and_errors_with_locations() {
        assert_eq!(parse("").unwrap(), GuardSettings::default());
        assert_eq!(parse("[guard]\nlock_wait_secs = 2\n").unwrap().lock_wait_secs, 2);
        let err = parse("[guard]\nmax_attempts = 0\n").unwrap_err().to_string();
        assert!(err.starts_with("/c.toml:1:1:") && err.contains("max_attempts"), "{err}");
        let err = parse("[guard]\nlog = \"rel.log\"\n").unwrap_err().to_string();
        assert!(err.contains("absolute"), "{err}");
        let err = parse("[guard]\nlok = 1\n").unwrap_err().to_string();
        assert!(err.contains("unknown field `lok`"), "{err}");
    }

    #[test]
    fn guard_log_follows_env_then_file_then_default() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
        };
        let file = Some(Path::new("/etc/x.log"));
        let state = Path::new("/home/u/.local/state/openclaw");
        assert_eq!(
            guard_log(file, &env(&[("OPENCLAW_GUARD_LOG", "/e.log")]), true, state).unwrap(),
            Path::new("/e.log")
        );
        assert_eq!(guard_log(file, &env(&[]), true, state).unwrap(), Path::new("/etc/x.log"));
        assert_eq!(guard_log(None, &env(&[]), true, state).unwrap(), Path::new("/var/log/openclaw_guard.log"));
        assert_eq!(
            guard_log(None, &env(&[]), false, state).unwrap(),
            Path::new("/home/u/.local/state/openclaw/guard.log")
        );
        assert!(guard_log(None, &env(&[("OPENCLAW_GUARD_LOG", "rel")]), true, state).is_err());
    }

    #[test]
    fn a_given_state_dir_names_the_guard_log_without_home() {
        // `guard status` as a systemd DynamicUser child: no HOME, the state
        // directory given as a flag.
        assert_eq!(
            guard_log(None, &|_| None, false, Path::new("/var/lib/private/c")).unwrap(),
            Path::new("/var/lib/private/c/guard.log")
        );
        assert_eq!(
            guard_log(None, &|_| None, true, Path::new("/var/lib/openclaw")).unwrap(),
            Path::new("/var/log/openclaw_guard.log")
        );
    }
}
