//! The `[runner]` table of the shared config file (`openclaw.toml`): the
//! host's side of running jobs, apart from the allowlist (`runner.toml`).
//! Only the runner reads these keys.
//!
//! ```toml
//! [runner]
//! dynamic_uids = [61184, 65519]   # uids (and gids) leased to `run_as = "dynamic"` runs
//! ```

use common::config::{Config, ConfigError};
use serde::Deserialize;

use crate::identity::{DEFAULT_RANGE, UidRange};

/// The `[runner]` table as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    #[serde(default)]
    dynamic_uids: Option<[u32; 2]>,
}

/// The checked `[runner]` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunnerSettings {
    /// The uids leased to `run_as = "dynamic"` runs.
    pub dynamic_uids: UidRange,
}

impl Default for RunnerSettings {
    fn default() -> RunnerSettings {
        RunnerSettings { dynamic_uids: DEFAULT_RANGE }
    }
}

impl RunnerSettings {
    /// The `[runner]` table of `config`, defaults where it is silent.
    pub fn from_config(config: &Config) -> Result<RunnerSettings, ConfigError> {
        let Some(table) = config.tool_table::<RawSettings>("runner")? else { return Ok(RunnerSettings::default()) };
        let span = table.span();
        let raw = table.into_inner();
        let dynamic_uids = raw.dynamic_uids.map_or(DEFAULT_RANGE, |[first, last]| UidRange { first, last });
        dynamic_uids.check().map_err(|why| config.invalid_at(Some(span), format!("runner.dynamic_uids: {why}")))?;
        Ok(RunnerSettings { dynamic_uids })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn parse(text: &str) -> Result<RunnerSettings, ConfigError> {
        RunnerSettings::from_config(&Config::parse(text, Path::new("/etc/openclaw/openclaw.toml")).unwrap())
    }

    #[test]
    fn the_range_defaults_to_systemds_and_is_checked_where_written() {
        assert_eq!(parse("").unwrap().dynamic_uids, DEFAULT_RANGE);
        assert_eq!(parse("[runner]\n").unwrap().dynamic_uids, DEFAULT_RANGE);
        let r = parse("[runner]\ndynamic_uids = [200000, 200099]\n").unwrap().dynamic_uids;
        assert_eq!((r.first, r.last, r.len()), (200_000, 200_099, 100));
        let err = parse("[runner]\ndynamic_uids = [65000, 65535]\n").unwrap_err().to_string();
        assert!(
            err.contains("openclaw.toml:1:1") && err.contains("runner.dynamic_uids") && err.contains("65535"),
            "{err}"
        );
        assert!(parse("[runner]\ndynamic_uids = [5]\n").is_err());
        assert!(parse("[runner]\nuids = [61184, 65519]\n").unwrap_err().to_string().contains("unknown field"));
    }
}
