//! The optional TOML configuration file (docs/config.md).
//!
//! Every key has a built-in default equal to the contract, so the tools run
//! with no file at all. Unknown keys and bad values are errors that name the
//! file, line, column and key. The file itself must not be writable by
//! anyone but root or its owner: it can widen the listener policy.
//! The full key reference is `docs/config.md`.

use std::ops::Range;

use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::Deserialize;
use serde::de::IgnoredAny;
use toml::Spanned;

use crate::paths::PathSettings;
use crate::policy::{Exemption, ListenerPolicy, Proto, parse_bind_addr};
use crate::private_path;

/// Largest config file we read; anything bigger is not a config file.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// The parsed configuration, with defaults filled in. Holds the shared keys
/// only; each tool reads its own table with [`Config::tool_table`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    /// The file it came from, or `None` when built-in defaults were used.
    pub source: Option<PathBuf>,
    /// The file's text, for the tools' own tables and their error locations.
    text: String,
    /// Path settings (the top-level `*_dir`, `*_root`, `*_log` keys).
    pub paths: PathSettings,
    /// The `[listeners]` table.
    pub listeners: ListenerPolicy,
    /// `[keys] extra`: keys managed in addition to the contract's four.
    pub extra_keys: Vec<String>,
}

impl Config {
    /// The contract's managed keys followed by `[keys] extra`.
    pub fn managed_keys(&self) -> Vec<String> {
        let mut res: Vec<String> = crate::secrets::MANAGED.iter().map(|s| (*s).to_owned()).collect();
        res.extend(self.extra_keys.iter().filter(|k| !res.contains(k)).cloned().collect::<Vec<_>>());
        res
    }
}

/// Why the configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A syntax error, an unknown key or a bad value, with its location.
    #[error("{path}:{line}:{column}: {message}", path = path.display())]
    Invalid {
        /// The config file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong, naming the key.
        message: String,
    },
    /// The file could not be read.
    #[error("{path}: {source}", path = path.display())]
    Io {
        /// The config file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file's ownership or mode would let someone else rewrite the policy.
    #[error("{path}: {problem}; fix: {fix}", path = path.display())]
    Unsafe {
        /// The config file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
        /// The command that fixes it.
        fix: String,
    },
}

/// Why a tool could not load its configuration and locations.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The config file is unusable.
    #[error("config: {0}")]
    Config(#[from] ConfigError),
    /// A location could not be determined.
    #[error(transparent)]
    Paths(#[from] crate::paths::PathError),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    secrets_dir: Option<Spanned<String>>,
    state_dir: Option<Spanned<String>>,
    artifacts_root: Option<Spanned<String>>,
    audit_log: Option<Spanned<String>>,
    audit_checkpoint: Option<Spanned<String>>,
    run_dir: Option<Spanned<String>>,
    listeners: Option<RawListeners>,
    keys: Option<RawKeys>,
    // The tools' own tables (section::TOOL_TABLES): each tool checks its own.
    #[serde(rename = "doctor")]
    _doctor: Option<IgnoredAny>,
    #[serde(rename = "notify")]
    _notify: Option<IgnoredAny>,
    #[serde(rename = "guard")]
    _guard: Option<IgnoredAny>,
    #[serde(rename = "reviewgate")]
    _reviewgate: Option<IgnoredAny>,
    #[serde(rename = "console")]
    _console: Option<IgnoredAny>,
    #[serde(rename = "runner")]
    _runner: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKeys {
    extra: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawListeners {
    allowed_cidrs: Option<Vec<Spanned<String>>>,
    allow_tailnet_v6: Option<bool>,
    exemptions: Option<Vec<RawExemption>>,
    tailscale_interfaces: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExemption {
    exe: Spanned<String>,
    proto: Option<Spanned<String>>,
    port: Option<u16>,
    addr: Option<Spanned<String>>,
    reason: Spanned<String>,
}

impl Config {
    /// Loads `path`. A missing file means built-in defaults unless the file
    /// was named explicitly (`OPENCLAW_CONFIG`), in which case it is an error.
    pub fn load(path: &Path, explicit: bool) -> Result<Config, ConfigError> {
        match Document::load(path, explicit)? {
            Some(doc) => Config::parse(doc.text(), path),
            None => Ok(Config::default()),
        }
    }

    /// The running tool's configuration and locations: the config file from
    /// `OPENCLAW_CONFIG` (or the default), then every path resolved with
    /// `flags` > environment > file > default for this process's uid.
    /// Errors are ready to print (config errors start with `config:`).
    pub fn load_for_process(flags: &crate::paths::PathFlags) -> Result<(Config, crate::paths::Paths), LoadError> {
        use crate::paths;
        let (config_path, explicit) = paths::config_path(&paths::process_env);
        let config = Config::load(&config_path, explicit)?;
        let resolved = paths::Paths::resolve(flags, &config.paths, &paths::process_env, paths::is_root())?;
        Ok((config, resolved))
    }

    /// Parses config text; `origin` is used in error messages.
    pub fn parse(text: &str, origin: &Path) -> Result<Config, ConfigError> {
        let invalid = |span: Option<Range<usize>>, message: String| {
            let (line, column) = line_col(text, span.map_or(0, |s| s.start));
            ConfigError::Invalid { path: origin.to_owned(), line, column, message }
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| invalid(e.span(), e.message().to_owned()))?;

        let abs = |key: &str, v: Option<Spanned<String>>| -> Result<Option<PathBuf>, ConfigError> {
            match v {
                None => Ok(None),
                Some(s) if Path::new(s.get_ref()).is_absolute() => Ok(Some(PathBuf::from(s.into_inner()))),
                Some(s) => {
                    Err(invalid(Some(s.span()), format!("{key} must be an absolute path, got `{}`", s.get_ref())))
                }
            }
        };
        let paths = PathSettings {
            secrets_dir: abs("secrets_dir", raw.secrets_dir)?,
            state_dir: abs("state_dir", raw.state_dir)?,
            artifacts_root: abs("artifacts_root", raw.artifacts_root)?,
            audit_log: abs("audit_log", raw.audit_log)?,
            audit_checkpoint: abs("audit_checkpoint", raw.audit_checkpoint)?,
            run_dir: abs("run_dir", raw.run_dir)?,
        };

        let mut listeners = ListenerPolicy::default();
        if let Some(l) = raw.listeners {
            if let Some(cidrs) = l.allowed_cidrs {
                listeners.allowed = cidrs
                    .into_iter()
                    .map(|c| {
                        c.get_ref().parse::<IpNet>().map(|n| n.trunc()).map_err(|_| {
                            invalid(
                                Some(c.span()),
                                format!("listeners.allowed_cidrs: `{}` is not a CIDR like 127.0.0.0/8", c.get_ref()),
                            )
                        })
                    })
                    .collect::<Result<_, _>>()?;
            }
            if let Some(v6) = l.allow_tailnet_v6 {
                listeners.allow_tailnet_v6 = v6;
            }
            if let Some(names) = l.tailscale_interfaces {
                let valid = |n: &str| {
                    (1..16).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b))
                };
                if let Some(bad) = names.iter().find(|n| !valid(n.get_ref())) {
                    return Err(invalid(
                        Some(bad.span()),
                        format!("listeners.tailscale_interfaces: `{}` is not an interface name", bad.get_ref()),
                    ));
                }
                listeners.tailscale_interfaces = names.into_iter().map(Spanned::into_inner).collect();
            }
            if let Some(exemptions) = l.exemptions {
                listeners.exemptions = exemptions
                    .into_iter()
                    .map(|e| {
                        let key = "listeners.exemptions";
                        if !Path::new(e.exe.get_ref()).is_absolute() {
                            return Err(invalid(
                                Some(e.exe.span()),
                                format!("{key}.exe must be the executable's absolute real path (process names are spoofable), got `{}`", e.exe.get_ref()),
                            ));
                        }
                        if e.reason.get_ref().trim().is_empty() {
                            return Err(invalid(Some(e.reason.span()), format!("{key}.reason must say why the exemption exists")));
                        }
                        let proto = e
                            .proto
                            .map(|p| p.get_ref().parse::<Proto>().map_err(|err| invalid(Some(p.span()), format!("{key}.proto: {err}"))))
                            .transpose()?;
                        let addr = e
                            .addr
                            .map(|a| parse_bind_addr(a.get_ref()).map(|b| b.ip).map_err(|err| invalid(Some(a.span()), format!("{key}.addr: {err}"))))
                            .transpose()?;
                        Ok(Exemption { exe: PathBuf::from(e.exe.into_inner()), proto, port: e.port, addr, reason: e.reason.into_inner() })
                    })
                    .collect::<Result<_, _>>()?;
            }
        }
        let mut extra_keys = Vec::new();
        for name in raw.keys.and_then(|k| k.extra).unwrap_or_default() {
            if crate::secrets::validate_name(name.get_ref()).is_err() {
                return Err(invalid(
                    Some(name.span()),
                    "keys.extra: not a key name (A-Z, 0-9 and _, starting with a letter; the text is not repeated)"
                        .to_owned(),
                ));
            }
            extra_keys.push(name.into_inner());
        }
        Ok(Config { source: Some(origin.to_owned()), text: text.to_owned(), paths, listeners, extra_keys })
    }
}

fn unsafe_path(e: &private_path::UnsafePath) -> ConfigError {
    ConfigError::Unsafe { path: e.path().to_owned(), problem: e.problem(), fix: e.fix() }
}

pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    // toml's spans fall on character boundaries; `get` keeps a bad one harmless.
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

mod document;
mod section;
pub use document::Document;
pub use section::TOOL_TABLES;

#[cfg(test)]
mod tests;
