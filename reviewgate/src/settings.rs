//! The `[reviewgate]` table of the shared config file and where the gate
//! finds `allowed_signers`: `--allowed-signers`, then
//! `OPENCLAW_ALLOWED_SIGNERS`, then `[reviewgate] allowed_signers`, then
//! `/etc/openclaw/allowed_signers`. Only the gate knows these keys.

use std::path::{Path, PathBuf};

use common::config::{Config, ConfigError};
use serde::Deserialize;

/// The default `allowed_signers`.
pub const DEFAULT_ALLOWED_SIGNERS: &str = "/etc/openclaw/allowed_signers";

/// The `[reviewgate]` table; every key has a default.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GateSettings {
    /// The public keys whose verdicts count.
    pub allowed_signers: Option<PathBuf>,
    /// The oldest a verdict may be.
    pub max_age_days: u32,
    /// The branches the push hook protects.
    pub protected_branches: Vec<String>,
    /// The first commit trusted without a review (`OPENCLAW_REVIEW_GENESIS` wins).
    pub genesis: Option<String>,
    /// The lowest reviewer confidence that may approve.
    pub min_confidence: f64,
    /// The reviewer's model (empty: the engine's default).
    pub model: String,
    /// One reviewer attempt's timeout.
    pub review_timeout_secs: u64,
    /// The whole review's time budget.
    pub review_budget_secs: u64,
    /// Attempts per packet.
    pub review_attempts: u32,
    /// Untracked files the deploy accepts in its checkout (paths relative
    /// to the top, or directories ending in `/`).
    pub deploy_allow_untracked: Vec<String>,
    /// The only `host:port` the codex engine may reach (through the gate's proxy).
    pub engine_hosts: Vec<String>,
}

impl Default for GateSettings {
    fn default() -> GateSettings {
        GateSettings {
            allowed_signers: None,
            max_age_days: 30,
            protected_branches: vec!["main".into()],
            genesis: None,
            min_confidence: 0.6,
            model: String::new(),
            review_timeout_secs: 600,
            review_budget_secs: 1800,
            review_attempts: 3,
            deploy_allow_untracked: Vec::new(),
            engine_hosts: vec!["api.openai.com:443".into(), "chatgpt.com:443".into(), "auth.openai.com:443".into()],
        }
    }
}

impl GateSettings {
    /// The table of `config`, defaults where it is silent.
    pub fn from_config(config: &Config) -> Result<GateSettings, ConfigError> {
        let Some(table) = config.tool_table::<GateSettings>("reviewgate")? else { return Ok(GateSettings::default()) };
        let span = table.span();
        let g = table.into_inner();
        if !(1..=3650).contains(&g.max_age_days) {
            return Err(config.invalid_at(Some(span), "reviewgate.max_age_days must be between 1 and 3650".into()));
        }
        if g.protected_branches
            .iter()
            .any(|b| b.is_empty() || b.starts_with("refs/") || b.contains(char::is_whitespace))
        {
            return Err(config
                .invalid_at(Some(span), "reviewgate.protected_branches takes branch names such as \"main\"".into()));
        }
        if !(0.0..=1.0).contains(&g.min_confidence) {
            return Err(config.invalid_at(Some(span), "reviewgate.min_confidence must be between 0 and 1".into()));
        }
        if !(1..=3600).contains(&g.review_timeout_secs)
            || !(1..=14_400).contains(&g.review_budget_secs)
            || !(1..=5).contains(&g.review_attempts)
        {
            return Err(config.invalid_at(
                Some(span),
                "reviewgate.review_timeout_secs (1–3600), review_budget_secs (1–14400), review_attempts (1–5)".into(),
            ));
        }
        if g.deploy_allow_untracked
            .iter()
            .any(|p| p.is_empty() || p.starts_with('/') || p.split('/').any(|c| c == ".." || c == ".") || p == "/")
        {
            return Err(config.invalid_at(
                Some(span),
                "reviewgate.deploy_allow_untracked takes paths relative to the checkout (\".env\", \"data/\"), no `..`"
                    .into(),
            ));
        }
        if g.engine_hosts.iter().any(|h| {
            h.rsplit_once(':').is_none_or(|(host, port)| {
                host.is_empty()
                    || port.parse::<u16>().is_err()
                    || !host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-".contains(&b))
            })
        }) {
            return Err(config.invalid_at(Some(span), "reviewgate.engine_hosts takes \"host:port\" entries".into()));
        }
        if g.allowed_signers.as_deref().is_some_and(|p| !p.is_absolute()) {
            return Err(config.invalid_at(Some(span), "reviewgate.allowed_signers must be an absolute path".into()));
        }
        Ok(g)
    }
}

/// Where `allowed_signers` is: flag > environment > config > default.
pub fn allowed_signers(
    flag: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
    table: Option<&Path>,
) -> Result<PathBuf, String> {
    if let Some(p) = flag {
        return Ok(p.to_owned());
    }
    if let Some(v) = env("OPENCLAW_ALLOWED_SIGNERS").filter(|v| !v.is_empty()) {
        let p = PathBuf::from(&v);
        return if p.is_absolute() {
            Ok(p)
        } else {
            Err(format!("OPENCLAW_ALLOWED_SIGNERS must be absolute, got `{v}`"))
        };
    }
    Ok(table.map_or_else(|| PathBuf::from(DEFAULT_ALLOWED_SIGNERS), Path::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_then_env_then_config_then_default() {
        let none = |_: &str| None;
        let env = |k: &str| (k == "OPENCLAW_ALLOWED_SIGNERS").then(|| "/env/signers".to_owned());
        let cfg = Some(Path::new("/cfg/signers"));
        assert_eq!(allowed_signers(Some(Path::new("/flag")), &env, cfg).unwrap(), Path::new("/flag"));
        assert_eq!(allowed_signers(None, &env, cfg).unwrap(), Path::new("/env/signers"));
        assert_eq!(allowed_signers(None, &none, cfg).unwrap(), Path::new("/cfg/signers"));
        assert_eq!(allowed_signers(None, &none, None).unwrap(), Path::new(DEFAULT_ALLOWED_SIGNERS));
        let rel = |_: &str| Some("signers".to_owned());
        assert!(allowed_signers(None, &rel, None).is_err());
        let c = Config::parse("[reviewgate]\nmax_age_days = 0\n", Path::new("/c.toml")).unwrap();
        assert!(GateSettings::from_config(&c).unwrap_err().to_string().contains("max_age_days"));
    }
}
