//! The action registry: the only things the console can run.
//!
//! Operators write it in TOML (`/etc/openclaw/console-actions.toml`, shape
//! in docs/console.md). It is read under the shared config rules (private
//! file and directory, unknown keys refused with `file:line:column`) and
//! every action is checked before the server starts: id syntax, an
//! absolute program that only root or the console's user can change, a
//! bounded timeout, typed parameters. A registry with one bad action is
//! refused whole.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::config::{ConfigError, Document};
use common::params::{MAX_PARAMS, ParamSpec, RawParam};
use serde::Deserialize;
use toml::Spanned;

/// The default registry file.
pub const DEFAULT_REGISTRY: &str = "/etc/openclaw/console-actions.toml";

/// Most actions one registry may hold.
pub const MAX_ACTIONS: usize = 256;

/// Longest timeout an action may declare (a day).
pub const MAX_TIMEOUT_SEC: u64 = 86_400;

/// One runnable action.
#[derive(Debug, Clone)]
pub struct Action {
    /// `[a-z0-9._-]{1,64}`, not starting with a dot.
    pub id: String,
    /// A short label for people.
    pub label: String,
    /// What it does.
    pub description: String,
    /// The program and its fixed arguments; never a shell, never extended.
    pub argv: Vec<String>,
    /// The server-side timeout; the process group is killed at it.
    pub timeout: Duration,
    /// Whether runs may overlap (default: one at a time).
    pub concurrent: bool,
    /// Answer 202 at once and let the client poll.
    pub long_running: bool,
    /// Its typed parameters, by name.
    pub params: Vec<ParamSpec>,
}

/// Where the registry came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An operator's file.
    File(PathBuf),
    /// The built-in set (no file present at the default location).
    BuiltIn,
}

/// The checked registry.
#[derive(Debug, Clone)]
pub struct Registry {
    /// Where it came from.
    pub source: Source,
    /// The actions, in file order.
    pub actions: Vec<Action>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegistry {
    #[serde(default)]
    action: Vec<Spanned<RawAction>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAction {
    id: Spanned<String>,
    label: Spanned<String>,
    description: Spanned<String>,
    argv: Spanned<Vec<String>>,
    timeout_sec: Spanned<u64>,
    #[serde(default)]
    concurrent: bool,
    #[serde(default)]
    long_running: bool,
    #[serde(default)]
    params: BTreeMap<String, RawParam>,
}

/// True for a valid action id.
pub fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && !id.starts_with('.')
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
}

fn plain_text(s: &str, max: usize) -> bool {
    !s.trim().is_empty() && s.chars().count() <= max && !s.chars().any(char::is_control)
}

impl Registry {
    /// Parses and checks a registry document. `trust` judges each `argv[0]`
    /// (`true`: [`common::private_path::check_executable`]) and every later
    /// argument that is an absolute path (`false`:
    /// [`common::private_path::check_trusted_path`]: a script handed to an
    /// interpreter is as much the program as the interpreter). The fuzz
    /// target passes one that accepts everything.
    pub fn parse(doc: &Document, trust: &dyn Fn(&Path, bool) -> Result<(), String>) -> Result<Registry, ConfigError> {
        let raw: RawRegistry = doc.parse()?;
        if raw.action.is_empty() {
            return Err(doc.invalid_at(None, "the registry holds no [[action]]".to_owned()));
        }
        if raw.action.len() > MAX_ACTIONS {
            return Err(doc.invalid_at(None, format!("more than {MAX_ACTIONS} actions")));
        }
        let mut actions: Vec<Action> = Vec::with_capacity(raw.action.len());
        for spanned in raw.action {
            let span = spanned.span();
            let a = spanned.into_inner();
            let bad = |span: std::ops::Range<usize>, m: String| doc.invalid_at(Some(span), m);
            if !valid_id(a.id.get_ref()) {
                return Err(bad(
                    a.id.span(),
                    "action id must be [a-z0-9._-]{1,64}, not starting with a dot".to_owned(),
                ));
            }
            let id = a.id.get_ref().clone();
            if actions.iter().any(|x| x.id == id) {
                return Err(bad(a.id.span(), format!("action `{id}` is defined twice")));
            }
            let at = |m: &str| format!("action `{id}`: {m}");
            if !plain_text(a.label.get_ref(), 200) {
                return Err(bad(a.label.span(), at("label must be 1 to 200 characters without control characters")));
            }
            if !plain_text(a.description.get_ref(), 2000) {
                return Err(bad(
                    a.description.span(),
                    at("description must be 1 to 2000 characters without control characters"),
                ));
            }
            let argv = a.argv.get_ref();
            if argv.is_empty() || argv.len() > 64 {
                return Err(bad(a.argv.span(), at("argv must hold 1 to 64 entries")));
            }
            if argv.iter().any(|s| s.len() > 4096 || s.contains('\0')) {
                return Err(bad(a.argv.span(), at("argv entries must be under 4096 bytes, without NUL")));
            }
            if !Path::new(&argv[0]).is_absolute() {
                return Err(bad(
                    a.argv.span(),
                    at("argv[0] must be an absolute path (there is no shell and no PATH search)"),
                ));
            }
            if let Err(why) = trust(Path::new(&argv[0]), true) {
                return Err(bad(a.argv.span(), at(&format!("argv[0] cannot be trusted: {why}"))));
            }
            for (i, arg) in argv.iter().enumerate().skip(1) {
                if arg.starts_with("../") || arg.contains("/../") || arg == ".." {
                    return Err(bad(a.argv.span(), at(&format!("argv[{i}] leaves the run directory with `..`"))));
                }
                if arg.starts_with('/')
                    && let Err(why) = trust(Path::new(arg), false)
                {
                    return Err(bad(
                        a.argv.span(),
                        at(&format!("argv[{i}] names a path that cannot be trusted: {why}")),
                    ));
                }
            }
            if !(1..=MAX_TIMEOUT_SEC).contains(a.timeout_sec.get_ref()) {
                return Err(bad(a.timeout_sec.span(), at(&format!("timeout_sec must be 1 to {MAX_TIMEOUT_SEC}"))));
            }
            if a.params.len() > MAX_PARAMS {
                return Err(doc.invalid_at(Some(span.clone()), at(&format!("more than {MAX_PARAMS} params"))));
            }
            let mut params = Vec::with_capacity(a.params.len());
            for (name, raw) in a.params {
                let spec = ParamSpec::from_raw(&name, Some(span.clone()), raw)
                    .map_err(|e| doc.invalid_at(e.span.or(Some(span.clone())), at(&e.message)))?;
                params.push(spec);
            }
            actions.push(Action {
                id,
                label: a.label.into_inner(),
                description: a.description.into_inner(),
                argv: a.argv.into_inner(),
                timeout: Duration::from_secs(*a.timeout_sec.get_ref()),
                concurrent: a.concurrent,
                long_running: a.long_running,
                params,
            });
        }
        Ok(Registry { source: Source::File(doc.path().to_owned()), actions })
    }

    /// Loads the registry at `path`. A missing file at the default location
    /// (`explicit` false) means the built-in set; a named one must exist.
    pub fn load(path: &Path, explicit: bool, builtin: impl FnOnce() -> Registry) -> Result<Registry, ConfigError> {
        let trust = |p: &Path, program: bool| {
            let res = if program {
                common::private_path::check_executable(p).map(|_| ())
            } else {
                common::private_path::check_trusted_path(p)
            };
            res.map_err(|e| e.to_string())
        };
        match Document::load(path, explicit)? {
            Some(doc) => Registry::parse(&doc, &trust),
            None => Ok(builtin()),
        }
    }

    /// The action `id`, by exact, own-entry lookup (no prototype, no alias).
    pub fn get(&self, id: &str) -> Option<&Action> {
        self.actions.iter().find(|a| a.id == id)
    }
}

#[cfg(test)]
mod tests;
