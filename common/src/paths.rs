//! Where every tool keeps its files (the table in docs/config.md, "Keys and paths"), resolved with the
//! precedence flag > environment > config file > built-in default.
//!
//! The environment is passed in as a function so the resolution is a pure,
//! testable decision. An empty variable counts as unset. Paths from the
//! environment or the config file must be absolute: a relative audit log
//! would follow the working directory (a reference bug).

use std::path::{Path, PathBuf};

/// Reads an environment variable, treating empty as unset.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// True when running with effective uid 0.
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The config file's default location.
pub const DEFAULT_CONFIG: &str = "/etc/openclaw/openclaw.toml";
/// The contract's secrets directory.
pub const DEFAULT_SECRETS_DIR: &str = "/etc/ai-ops-runner/secrets";

/// The config file to read and whether it was named explicitly
/// (`OPENCLAW_CONFIG`); an explicitly named file must exist.
pub fn config_path(env: &dyn Fn(&str) -> Option<String>) -> (PathBuf, bool) {
    match env("OPENCLAW_CONFIG") {
        Some(p) => (PathBuf::from(p), true),
        None => (PathBuf::from(DEFAULT_CONFIG), false),
    }
}

/// The default checkpoint file of an audit log: `<log>.checkpoint`.
pub fn checkpoint_for(audit_log: &Path) -> PathBuf {
    let mut p = audit_log.as_os_str().to_owned();
    p.push(".checkpoint");
    PathBuf::from(p)
}

/// Path overrides given on a tool's command line: one clap struct that every
/// tool flattens into its own, so the flags are spelled and explained alike.
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct PathFlags {
    /// Secrets directory [env: OPENCLAW_SECRETS_DIR] [default: /etc/ai-ops-runner/secrets].
    #[arg(long, value_name = "DIR", global = true)]
    pub secrets_dir: Option<PathBuf>,
    /// State directory [env: OPENCLAW_STATE_DIR] [default: /var/lib/openclaw as root].
    #[arg(long, value_name = "DIR", global = true)]
    pub state_dir: Option<PathBuf>,
    /// Artifacts root: reports, evidence bundles [env: OPENCLAW_ARTIFACTS_ROOT].
    #[arg(long, value_name = "DIR", global = true)]
    pub artifacts_root: Option<PathBuf>,
    /// The shared audit log [env: OPENCLAW_AUDIT_LOG] [default: /var/log/openclaw/audit.jsonl as root].
    #[arg(long, value_name = "PATH", global = true)]
    pub audit_log: Option<PathBuf>,
}

/// Path settings from the config file (already checked to be absolute).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathSettings {
    /// `secrets_dir`.
    pub secrets_dir: Option<PathBuf>,
    /// `state_dir`.
    pub state_dir: Option<PathBuf>,
    /// `artifacts_root`.
    pub artifacts_root: Option<PathBuf>,
    /// `audit_log`.
    pub audit_log: Option<PathBuf>,
    /// `audit_checkpoint`.
    pub audit_checkpoint: Option<PathBuf>,
    /// `run_dir`.
    pub run_dir: Option<PathBuf>,
}

/// Every resolved location.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Paths {
    /// Secrets directory (contract §3).
    pub secrets_dir: PathBuf,
    /// Tool state (rate limits, last-success times).
    pub state_dir: PathBuf,
    /// Artifacts root (`doctor/`, `evidence/`, `review_packets/`).
    pub artifacts_root: PathBuf,
    /// The shared audit log.
    pub audit_log: PathBuf,
    /// The audit log's checkpoint file.
    pub audit_checkpoint: PathBuf,
    /// Locks and runtime files.
    pub run_dir: PathBuf,
}

impl Paths {
    /// The private state directory of one tool, `<state_dir>/<tool>`: the one
    /// way a tool names where its own state lives (created and checked by the
    /// tool with `common::private_path::ensure_dir`). `tool` is a short
    /// lowercase word such as `notifier` or `guard`.
    pub fn tool_dir(&self, tool: &str) -> PathBuf {
        assert!(
            !tool.is_empty() && tool.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
            "tool_dir takes a fixed lowercase tool name"
        );
        self.state_dir.join(tool)
    }
}

/// A location could not be determined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// An environment variable holds a relative path.
    #[error("{var} must be an absolute path, got `{value}`")]
    RelativeEnv {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
    },
    /// No default exists for a non-root user without HOME or XDG_STATE_HOME.
    #[error("cannot choose a default for {what}: set HOME, XDG_STATE_HOME or {var}")]
    NoHome {
        /// What was being located.
        what: &'static str,
        /// The variable that would override it.
        var: &'static str,
    },
    /// A flag's path could not be made absolute.
    #[error("--{flag}: cannot make `{value}` absolute")]
    BadFlag {
        /// The flag.
        flag: &'static str,
        /// Its value.
        value: String,
    },
}

impl Paths {
    /// Resolves every location for a process running as root or not.
    ///
    /// A non-root process's defaults for the artifacts root, the audit log
    /// and (without `XDG_RUNTIME_DIR`) the run directory live under its
    /// resolved state directory, so a state directory given by flag,
    /// environment or file is enough: a systemd `DynamicUser` child with a
    /// cleared environment and no HOME needs nothing else.
    pub fn resolve(
        flags: &PathFlags,
        file: &PathSettings,
        env: &dyn Fn(&str) -> Option<String>,
        is_root: bool,
    ) -> Result<Paths, PathError> {
        let user_state = || -> Result<PathBuf, PathError> {
            let base = match (env("XDG_STATE_HOME").filter(|p| Path::new(p).is_absolute()), env("HOME")) {
                (Some(xdg), _) => PathBuf::from(xdg),
                (None, Some(home)) if Path::new(&home).is_absolute() => Path::new(&home).join(".local/state"),
                _ => return Err(PathError::NoHome { what: "the state directory", var: "OPENCLAW_STATE_DIR" }),
            };
            Ok(base.join("openclaw"))
        };
        let pick = |flag: Option<(&PathBuf, &'static str)>,
                    var: &'static str,
                    file: &Option<PathBuf>,
                    default: &dyn Fn() -> Result<PathBuf, PathError>|
         -> Result<PathBuf, PathError> {
            if let Some((value, name)) = flag {
                return std::path::absolute(value)
                    .map_err(|_| PathError::BadFlag { flag: name, value: value.display().to_string() });
            }
            if let Some(value) = env(var) {
                if !Path::new(&value).is_absolute() {
                    return Err(PathError::RelativeEnv { var, value });
                }
                return Ok(PathBuf::from(value));
            }
            match file {
                Some(p) => Ok(p.clone()),
                None => default(),
            }
        };

        let secrets_dir = pick(
            flags.secrets_dir.as_ref().map(|p| (p, "secrets-dir")),
            "OPENCLAW_SECRETS_DIR",
            &file.secrets_dir,
            &|| Ok(PathBuf::from(DEFAULT_SECRETS_DIR)),
        )?;
        let state_dir =
            pick(flags.state_dir.as_ref().map(|p| (p, "state-dir")), "OPENCLAW_STATE_DIR", &file.state_dir, &|| {
                if is_root { Ok(PathBuf::from("/var/lib/openclaw")) } else { user_state() }
            })?;
        let artifacts_root = pick(
            flags.artifacts_root.as_ref().map(|p| (p, "artifacts-root")),
            "OPENCLAW_ARTIFACTS_ROOT",
            &file.artifacts_root,
            &|| {
                if is_root { Ok(PathBuf::from("/var/lib/openclaw/artifacts")) } else { Ok(state_dir.join("artifacts")) }
            },
        )?;
        let audit_log =
            pick(flags.audit_log.as_ref().map(|p| (p, "audit-log")), "OPENCLAW_AUDIT_LOG", &file.audit_log, &|| {
                if is_root {
                    Ok(PathBuf::from("/var/log/openclaw/audit.jsonl"))
                } else {
                    Ok(state_dir.join("audit.jsonl"))
                }
            })?;
        let audit_checkpoint =
            pick(None, "OPENCLAW_AUDIT_CHECKPOINT", &file.audit_checkpoint, &|| Ok(checkpoint_for(&audit_log)))?;
        let run_dir = pick(None, "OPENCLAW_RUN_DIR", &file.run_dir, &|| {
            if is_root {
                return Ok(PathBuf::from("/run/openclaw"));
            }
            match env("XDG_RUNTIME_DIR").filter(|p| Path::new(p).is_absolute()) {
                Some(dir) => Ok(Path::new(&dir).join("openclaw")),
                None => Ok(state_dir.join("run")),
            }
        })?;
        Ok(Paths { secrets_dir, state_dir, artifacts_root, audit_log, audit_checkpoint, run_dir })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned().filter(|v| !v.is_empty())
    }

    #[test]
    fn root_defaults_are_the_design_table() {
        let p = Paths::resolve(&PathFlags::default(), &PathSettings::default(), &env_of(&[]), true).unwrap();
        assert_eq!(p.secrets_dir, Path::new("/etc/ai-ops-runner/secrets"));
        assert_eq!(p.state_dir, Path::new("/var/lib/openclaw"));
        assert_eq!(p.artifacts_root, Path::new("/var/lib/openclaw/artifacts"));
        assert_eq!(p.audit_log, Path::new("/var/log/openclaw/audit.jsonl"));
        assert_eq!(p.audit_checkpoint, Path::new("/var/log/openclaw/audit.jsonl.checkpoint"));
        assert_eq!(p.run_dir, Path::new("/run/openclaw"));
    }

    #[test]
    fn user_defaults_live_under_xdg_state_home_or_home() {
        let p =
            Paths::resolve(&PathFlags::default(), &PathSettings::default(), &env_of(&[("HOME", "/home/op")]), false)
                .unwrap();
        assert_eq!(p.state_dir, Path::new("/home/op/.local/state/openclaw"));
        assert_eq!(p.artifacts_root, Path::new("/home/op/.local/state/openclaw/artifacts"));
        assert_eq!(p.audit_log, Path::new("/home/op/.local/state/openclaw/audit.jsonl"));
        assert_eq!(p.run_dir, Path::new("/home/op/.local/state/openclaw/run"));
        assert_eq!(p.secrets_dir, Path::new("/etc/ai-ops-runner/secrets"));
        let env = env_of(&[("HOME", "/home/op"), ("XDG_STATE_HOME", "/xdg"), ("XDG_RUNTIME_DIR", "/run/user/1000")]);
        let p = Paths::resolve(&PathFlags::default(), &PathSettings::default(), &env, false).unwrap();
        assert_eq!(p.state_dir, Path::new("/xdg/openclaw"));
        assert_eq!(p.run_dir, Path::new("/run/user/1000/openclaw"));
    }

    #[test]
    fn flag_beats_env_beats_file_beats_default() {
        let file = PathSettings {
            artifacts_root: Some("/from/file".into()),
            state_dir: Some("/file/state".into()),
            ..Default::default()
        };
        let env = env_of(&[("OPENCLAW_ARTIFACTS_ROOT", "/from/env")]);
        let flags = PathFlags { artifacts_root: Some("/from/flag".into()), ..Default::default() };
        assert_eq!(Paths::resolve(&flags, &file, &env, true).unwrap().artifacts_root, Path::new("/from/flag"));
        let p = Paths::resolve(&PathFlags::default(), &file, &env, true).unwrap();
        assert_eq!(p.artifacts_root, Path::new("/from/env"));
        assert_eq!(p.state_dir, Path::new("/file/state"));
        assert_eq!(
            Paths::resolve(&PathFlags::default(), &file, &env_of(&[]), true).unwrap().artifacts_root,
            Path::new("/from/file")
        );
    }

    #[test]
    fn checkpoint_follows_the_audit_log_unless_overridden() {
        let env = env_of(&[("OPENCLAW_AUDIT_LOG", "/srv/audit.jsonl")]);
        let p = Paths::resolve(&PathFlags::default(), &PathSettings::default(), &env, true).unwrap();
        assert_eq!(p.audit_checkpoint, Path::new("/srv/audit.jsonl.checkpoint"));
        let env = env_of(&[("OPENCLAW_AUDIT_LOG", "/srv/audit.jsonl"), ("OPENCLAW_AUDIT_CHECKPOINT", "/elsewhere/cp")]);
        let p = Paths::resolve(&PathFlags::default(), &PathSettings::default(), &env, true).unwrap();
        assert_eq!(p.audit_checkpoint, Path::new("/elsewhere/cp"));
    }

    #[test]
    fn relative_env_paths_and_missing_home_are_refused() {
        let err = Paths::resolve(
            &PathFlags::default(),
            &PathSettings::default(),
            &env_of(&[("OPENCLAW_AUDIT_LOG", "audit.jsonl")]),
            true,
        )
        .unwrap_err();
        assert_eq!(err, PathError::RelativeEnv { var: "OPENCLAW_AUDIT_LOG", value: "audit.jsonl".into() });
        let err = Paths::resolve(&PathFlags::default(), &PathSettings::default(), &env_of(&[]), false).unwrap_err();
        assert!(matches!(err, PathError::NoHome { .. }), "{err}");
        // Empty counts as unset, so the root default applies.
        let p = Paths::resolve(
            &PathFlags::default(),
            &PathSettings::default(),
            &env_of(&[("OPENCLAW_STATE_DIR", "")]),
            true,
        )
        .unwrap();
        assert_eq!(p.state_dir, Path::new("/var/lib/openclaw"));
    }

    #[test]
    fn a_given_state_dir_is_enough_without_home() {
        // A systemd DynamicUser's child: a cleared environment (no HOME, no
        // XDG_*), the locations given as flags. Nothing may need HOME then.
        let flags = PathFlags { state_dir: Some("/var/lib/private/c".into()), ..Default::default() };
        let p = Paths::resolve(&flags, &PathSettings::default(), &env_of(&[]), false).unwrap();
        assert_eq!(p.state_dir, Path::new("/var/lib/private/c"));
        assert_eq!(p.artifacts_root, Path::new("/var/lib/private/c/artifacts"));
        assert_eq!(p.audit_log, Path::new("/var/lib/private/c/audit.jsonl"));
        assert_eq!(p.run_dir, Path::new("/var/lib/private/c/run"));
        // The same from the environment and from the config file.
        let p = Paths::resolve(
            &PathFlags::default(),
            &PathSettings::default(),
            &env_of(&[("OPENCLAW_STATE_DIR", "/s")]),
            false,
        )
        .unwrap();
        assert_eq!(p.run_dir, Path::new("/s/run"));
        let file = PathSettings { state_dir: Some("/f".into()), ..Default::default() };
        assert_eq!(
            Paths::resolve(&PathFlags::default(), &file, &env_of(&[]), false).unwrap().run_dir,
            Path::new("/f/run")
        );
        // XDG_RUNTIME_DIR still wins for the run directory when it is set.
        let p = Paths::resolve(&flags, &PathSettings::default(), &env_of(&[("XDG_RUNTIME_DIR", "/run/user/7")]), false)
            .unwrap();
        assert_eq!(p.run_dir, Path::new("/run/user/7/openclaw"));
    }

    #[test]
    fn relative_flags_are_made_absolute() {
        let flags = PathFlags { state_dir: Some("rel/state".into()), ..Default::default() };
        let p = Paths::resolve(&flags, &PathSettings::default(), &env_of(&[]), true).unwrap();
        assert!(p.state_dir.is_absolute() && p.state_dir.ends_with("rel/state"));
    }

    #[test]
    fn config_path_comes_from_openclaw_config() {
        assert_eq!(config_path(&env_of(&[])), (PathBuf::from(DEFAULT_CONFIG), false));
        assert_eq!(config_path(&env_of(&[("OPENCLAW_CONFIG", "/tmp/x.toml")])), (PathBuf::from("/tmp/x.toml"), true));
    }
}
