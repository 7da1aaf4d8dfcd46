//! The `[notify]` table of the shared config file: the rate-limit window and
//! the Pushover API base. Only the notifier knows these keys; `common` hands
//! the table over and keeps `file:line` for errors.

use common::config::{Config, ConfigError};
use serde::Deserialize;

/// The contract's rate-limit window: one alert per check_id per 30 minutes.
pub(crate) const DEFAULT_WINDOW_SECS: u64 = 1800;

/// Longest window accepted anywhere (a week); longer would silence a check for good.
pub(crate) const MAX_WINDOW_SECS: u64 = 7 * 24 * 3600;

/// The `[notify]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct NotifySettings {
    /// One alert per check_id per this many seconds (contract §7: 1800).
    pub(crate) window_secs: u64,
    /// The Pushover API base URL (`https://`; plain `http://` only for a loopback address).
    pub(crate) api_base: String,
}

impl Default for NotifySettings {
    fn default() -> NotifySettings {
        NotifySettings { window_secs: DEFAULT_WINDOW_SECS, api_base: "https://api.pushover.net".into() }
    }
}

impl NotifySettings {
    /// The `[notify]` table of `config`, defaults where it is silent.
    pub(crate) fn from_config(config: &Config) -> Result<NotifySettings, ConfigError> {
        let Some(table) = config.tool_table::<NotifySettings>("notify")? else { return Ok(NotifySettings::default()) };
        let span = table.span();
        let n = table.into_inner();
        if !(1..=MAX_WINDOW_SECS).contains(&n.window_secs) {
            return Err(
                config.invalid_at(Some(span), format!("notify.window_secs must be between 1 and {MAX_WINDOW_SECS}"))
            );
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn parse(text: &str) -> Result<NotifySettings, ConfigError> {
        NotifySettings::from_config(&Config::parse(text, Path::new("/c.toml")).unwrap())
    }

    #[test]
    fn defaults_overrides_and_errors_with_locations() {
        assert_eq!(parse("").unwrap(), NotifySettings::default());
        assert_eq!(parse("[notify]\nwindow_secs = 60\n").unwrap().window_secs, 60);
        let err = parse("[notify]\nwindow_secs = 0\n").unwrap_err().to_string();
        assert!(err.starts_with("/c.toml:1:1:") && err.contains("between 1 and"), "{err}");
        let err = parse("[notify]\napi_bse = \"x\"\n").unwrap_err().to_string();
        assert!(err.starts_with("/c.toml:2:1: notify: unknown field `api_bse`"), "{err}");
    }
}
