//! The `[doctor]` table of the shared config file: what the doctor checks
//! and its limits. `common` hands the table over; the doctor alone knows its
//! keys, defaults and rules (unknown keys are errors with `file:line`).

use std::path::PathBuf;

use common::config::{Config, ConfigError};
use serde::Deserialize;

/// The `[doctor]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct DoctorSettings {
    /// The console's port; it must listen on loopback only.
    pub(crate) console_port: u16,
    /// The only Docker published bindings allowed, as `ip:port`.
    pub(crate) docker_allowed: Vec<String>,
    /// HTTP health endpoints (plain `http://` on loopback or the tailnet).
    pub(crate) http_health: Vec<String>,
    /// Extra attempts per endpoint after the first.
    pub(crate) http_retries: u32,
    /// Filesystems whose usage is checked.
    pub(crate) disk_paths: Vec<PathBuf>,
    /// Usage percentage that warns.
    pub(crate) disk_warn_percent: u8,
    /// Usage percentage that fails.
    pub(crate) disk_fail_percent: u8,
    /// Log directory whose size is checked.
    pub(crate) log_dir: PathBuf,
    /// Size in MB that warns.
    pub(crate) log_warn_mb: u64,
    /// Size in MB that fails.
    pub(crate) log_fail_mb: u64,
    /// systemd units of this product that must be active.
    pub(crate) tracked_units: Vec<String>,
    /// Per-check timeout in milliseconds.
    pub(crate) check_timeout_ms: u64,
    /// Whole-run budget in milliseconds.
    pub(crate) budget_ms: u64,
    /// The sshd configuration file the `sshd` check asks about (`sshd -T -f`);
    /// `None` is sshd's own default, `/etc/ssh/sshd_config`.
    pub(crate) sshd_config: Option<PathBuf>,
    /// The deployed checkout whose HEAD must carry a valid review verdict.
    pub(crate) review_repo: Option<PathBuf>,
    /// Working copies that must have the pre-push review hook.
    pub(crate) review_workcopies: Vec<PathBuf>,
    /// Where `console-auth` probes the console: `http://<loopback IP>:<port>`.
    pub(crate) console_url: String,
    /// Days after its last rotation that the console token warns (`token-age`).
    pub(crate) token_max_age_days: u32,
    /// Port → the executable that must hold every listener on it
    /// (`listeners`); sshd's ports map to sshd's binary unless named here.
    pub(crate) expected_owners: std::collections::BTreeMap<String, PathBuf>,
}

impl Default for DoctorSettings {
    fn default() -> DoctorSettings {
        DoctorSettings {
            console_port: 8787,
            docker_allowed: vec!["127.0.0.1:8000".into()],
            http_health: vec!["http://127.0.0.1:8000/healthz".into()],
            http_retries: 2,
            disk_paths: vec![PathBuf::from("/")],
            disk_warn_percent: 85,
            disk_fail_percent: 95,
            log_dir: PathBuf::from("/var/log/openclaw"),
            log_warn_mb: 500,
            log_fail_mb: 2000,
            tracked_units: vec!["openclaw-doctor.timer".into()],
            check_timeout_ms: 3000,
            budget_ms: 10_000,
            sshd_config: None,
            review_repo: None,
            review_workcopies: Vec::new(),
            console_url: "http://127.0.0.1:8787".into(),
            token_max_age_days: 30,
            expected_owners: std::collections::BTreeMap::new(),
        }
    }
}

impl DoctorSettings {
    /// The `[doctor]` table of `config`, defaults where it is silent.
    pub(crate) fn from_config(config: &Config) -> Result<DoctorSettings, ConfigError> {
        let Some(table) = config.tool_table::<DoctorSettings>("doctor")? else { return Ok(DoctorSettings::default()) };
        let span = table.span();
        let d = table.into_inner();
        match d.problem() {
            Some(problem) => Err(config.invalid_at(Some(span), problem.to_owned())),
            None => Ok(d),
        }
    }

    /// Pure: the first rule a table breaks.
    fn problem(&self) -> Option<&'static str> {
        if self.disk_warn_percent > self.disk_fail_percent || self.disk_fail_percent > 100 {
            Some("doctor.disk_warn_percent must be ≤ doctor.disk_fail_percent ≤ 100")
        } else if self.log_warn_mb > self.log_fail_mb {
            Some("doctor.log_warn_mb must be ≤ doctor.log_fail_mb")
        } else if self.check_timeout_ms == 0 || self.budget_ms == 0 {
            Some("doctor.check_timeout_ms and doctor.budget_ms must be positive")
        } else if self
            .disk_paths
            .iter()
            .chain([&self.log_dir])
            .chain(&self.sshd_config)
            .chain(&self.review_repo)
            .chain(&self.review_workcopies)
            .any(|p| !p.is_absolute())
        {
            Some("doctor.disk_paths, log_dir, sshd_config, review_repo and review_workcopies must be absolute paths")
        } else if crate::checks::console_auth::endpoint(&self.console_url).is_err() {
            Some(
                "doctor.console_url must be http://<loopback IP>:<port> with no path (the console listens on loopback only)",
            )
        } else if self.token_max_age_days == 0 {
            Some("doctor.token_max_age_days must be positive")
        } else if !crate::checks::expected_owners::valid(&self.expected_owners) {
            Some("doctor.expected_owners maps ports (1-65535, as strings) to absolute executable paths")
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn parse(text: &str) -> Result<DoctorSettings, ConfigError> {
        DoctorSettings::from_config(&Config::parse(text, Path::new("/etc/openclaw/openclaw.toml")).unwrap())
    }

    #[test]
    fn defaults_and_overrides() {
        assert_eq!(parse("").unwrap(), DoctorSettings::default());
        let d = parse("[doctor]\nconsole_port = 9000\nhttp_retries = 0\n").unwrap();
        assert_eq!((d.console_port, d.http_retries, d.disk_fail_percent), (9000, 0, 95));
    }

    #[test]
    fn unknown_keys_and_bad_values_name_file_line_and_key() {
        let err = parse("secrets_dir = \"/s\"\n\n[doctor]\nconsole_prot = 1\n").unwrap_err().to_string();
        assert!(err.starts_with("/etc/openclaw/openclaw.toml:4:1: doctor: unknown field `console_prot`"), "{err}");
        let err = parse("[doctor]\nconsole_port = \"x\"\n").unwrap_err().to_string();
        assert!(err.contains(":2:") && err.contains("doctor:"), "{err}");
        let err = parse("[doctor]\ndisk_warn_percent = 96\n").unwrap_err().to_string();
        assert!(err.contains("doctor.disk_warn_percent must be"), "{err}");
        let err = parse("[doctor]\nlog_dir = \"relative\"\n").unwrap_err().to_string();
        assert!(err.contains("must be absolute paths"), "{err}");
        for bad in ["https://127.0.0.1:8787", "http://localhost:8787", "http://10.0.0.1:8787", "http://127.0.0.1"] {
            let err = parse(&format!("[doctor]\nconsole_url = \"{bad}\"\n")).unwrap_err().to_string();
            assert!(err.contains("doctor.console_url must be http://<loopback IP>:<port>"), "{bad}: {err}");
        }
        let err = parse("[doctor]\ntoken_max_age_days = 0\n").unwrap_err().to_string();
        assert!(err.contains("doctor.token_max_age_days must be positive"), "{err}");
        let d = parse("[doctor]\nconsole_url = \"http://[::1]:9000\"\ntoken_max_age_days = 7\n").unwrap();
        assert_eq!((d.console_url.as_str(), d.token_max_age_days), ("http://[::1]:9000", 7));
    }

    #[test]
    fn other_tools_tables_are_not_the_doctors_business() {
        assert_eq!(parse("[notify]\nwindow_secs = 60\n[guard]\nanything = 1\n").unwrap(), DoctorSettings::default());
    }
}
