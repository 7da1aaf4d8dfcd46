//! `audit-leaks`: finds managed key values where they must not be, and
//! reports locations only. A value is matched as a substring of what is
//! read; nothing read is ever printed.

use std::path::{Path, PathBuf};

use common::exit::Exit;
use common::paths::Paths;
use common::secrets::{ExposeSecret, Resolver, SecretError};
use serde_json::json;

use crate::output;
use crate::units;

/// Largest file scanned; bigger files are reported as skipped.
const MAX_SCAN: u64 = 16 * 1024 * 1024;

struct Finding {
    key: String,
    place: String,
}

/// Where to look besides argv and the secrets/artifacts trees.
pub(crate) struct Places<'a> {
    /// Prefix of every default location (`/`; `OPENCLAW_LEAKS_ROOT` to audit
    /// a mounted image, or a test's temp dir).
    pub(crate) root: &'a Path,
    /// Unit directories named on the command line (replace the defaults).
    pub(crate) systemd_dirs: &'a [PathBuf],
    /// History files named on the command line (replace the defaults).
    pub(crate) histories: &'a [PathBuf],
}

/// `OPENCLAW_LEAKS_ROOT` (absolute) or `/`.
pub(crate) fn scan_root(var: Option<std::ffi::OsString>) -> Result<PathBuf, String> {
    match var.filter(|v| !v.is_empty()).map(PathBuf::from) {
        None => Ok(PathBuf::from("/")),
        Some(p) if p.is_absolute() => Ok(p),
        Some(p) => Err(format!("OPENCLAW_LEAKS_ROOT must be an absolute path, got `{}`", p.display())),
    }
}

pub(crate) fn run(
    resolver: &Resolver<'_>,
    managed: &[String],
    paths: &Paths,
    places: &Places<'_>,
    json: bool,
) -> Result<Exit, String> {
    let Places { root, systemd_dirs, histories } = *places;
    // Every source's value counts (a shadowed or older value leaks just the
    // same). Values shorter than 8 characters would match by accident.
    let mut values: Vec<(String, String)> = Vec::new();
    let mut findings = Vec::new();
    let mut unchecked = Vec::new();
    for name in managed {
        match resolver.lookup_all(name) {
            Ok(found) => values.extend(
                found
                    .into_iter()
                    .map(|f| (name.clone(), f.value.expose_secret().to_owned()))
                    .filter(|(_, v)| v.len() >= 8),
            ),
            // A refused file (world-readable, symlinked…) is itself a finding; it is not read.
            Err(SecretError::Refused { path, problem, .. }) => {
                findings.push(Finding { key: name.clone(), place: format!("{} ({problem})", path.display()) })
            }
            Err(e) => unchecked.push(format!("{name}: {e}")),
        }
    }
    let mut scanned = 0usize;
    let mut check = |bytes: &[u8], place: String, findings: &mut Vec<Finding>| {
        scanned += 1;
        for (key, value) in &values {
            if contains(bytes, value.as_bytes())
                && !findings.iter().any(|f: &Finding| f.key == *key && f.place == place)
            {
                findings.push(Finding { key: key.clone(), place: place.clone() });
            }
        }
    };
    for p in systemd_dirs.iter().chain(histories) {
        if std::fs::metadata(p).is_err() {
            unchecked.push(format!("{} does not exist or cannot be read", p.display()));
        }
    }

    // 1. Every process's argv.
    for entry in std::fs::read_dir("/proc").map_err(|e| format!("/proc: {e}"))?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        if let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) {
            check(&cmdline, format!("argv of pid {pid}"), &mut findings);
        }
    }
    // 2. Unit files, drop-ins and manager settings, read as systemd reads
    // them: the raw bytes, every assignment's unquoted and unescaped words,
    // and the EnvironmentFile=s they name.
    let units: Vec<PathBuf> = if systemd_dirs.is_empty() { units::unit_locations(root) } else { systemd_dirs.to_vec() };
    for dir in &units {
        walk(dir, 3, &mut |p| {
            let Some(bytes) = read_small(p) else { return };
            let text = String::from_utf8_lossy(&bytes);
            let assignments = units::assignments(&text);
            let mut decoded = bytes.clone();
            for a in &assignments {
                for word in units::words(&a.value) {
                    decoded.push(b'\n');
                    decoded.extend_from_slice(word.as_bytes());
                }
            }
            check(&decoded, format!("unit file {}", p.display()), &mut findings);
            for env_file in assignments
                .iter()
                .filter(|a| a.key == "EnvironmentFile")
                .filter_map(|a| units::environment_file(&a.value))
                .flat_map(|pattern| units::expand_glob(&pattern))
            {
                if let Some(env) = read_small(&env_file) {
                    let mut decoded = env.clone();
                    for a in units::assignments(&String::from_utf8_lossy(&env)) {
                        decoded.push(b'\n');
                        decoded.extend_from_slice(units::words(&a.value).join(" ").as_bytes());
                    }
                    let place = format!("EnvironmentFile {} (from {})", env_file.display(), p.display());
                    check(&decoded, place, &mut findings);
                }
            }
        });
    }
    // 3. Shell history of root and the users.
    let histories: Vec<PathBuf> = if histories.is_empty() { default_histories(root) } else { histories.to_vec() };
    for h in &histories {
        if let Some(bytes) = read_small(h) {
            check(&bytes, format!("shell history {}", h.display()), &mut findings);
        }
    }
    // 4. World-readable files under the secrets directory and the artifacts root.
    for root in [&paths.secrets_dir, &paths.artifacts_root] {
        walk(root, 6, &mut |p| {
            use std::os::unix::fs::PermissionsExt;
            let readable = std::fs::symlink_metadata(p).is_ok_and(|m| m.permissions().mode() & 0o004 != 0);
            if readable && let Some(bytes) = read_small(p) {
                check(&bytes, format!("world-readable file {}", p.display()), &mut findings);
            }
        });
    }

    let exit = if !unchecked.is_empty() {
        Exit::Undecided
    } else if findings.is_empty() {
        Exit::Clean
    } else {
        Exit::Policy
    };
    if json {
        let rows: Vec<_> = findings.iter().map(|f| json!({"key": f.key, "location": f.place})).collect();
        let mut keys: Vec<&str> = values.iter().map(|(k, _)| k.as_str()).collect();
        keys.dedup();
        let body = json!({"keys_checked": keys, "places_scanned": scanned, "findings": rows, "unchecked": unchecked});
        output::stdout(&crate::INFO.envelope(&body))?;
    } else {
        let mut text =
            format!("checked {} value(s) against {scanned} places: {} finding(s)\n", values.len(), findings.len());
        for u in &unchecked {
            text.push_str(&format!("NOT CHECKED  {}\n", common::output::sanitize(u)));
        }
        for f in &findings {
            text.push_str(&format!("LEAK  {} found in {}\n", f.key, common::output::sanitize(&f.place)));
        }
        output::stdout(&text)?;
    }
    Ok(exit)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// A regular file (symlinks followed, as systemd follows them) of bounded size.
fn read_small(path: &Path) -> Option<Vec<u8>> {
    let meta = std::fs::metadata(path).ok()?;
    (meta.is_file() && meta.len() <= MAX_SCAN).then(|| std::fs::read(path).ok()).flatten()
}

/// Every regular file at or under `dir` (which may itself be a file).
fn walk(dir: &Path, depth: usize, f: &mut dyn FnMut(&Path)) {
    if std::fs::metadata(dir).is_ok_and(|m| m.is_file()) {
        return f(dir);
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        // Follow symlinks (`systemctl link` makes them); depth bounds any loop.
        match std::fs::metadata(&path) {
            Ok(m) if m.is_dir() && depth > 0 => walk(&path, depth - 1, f),
            Ok(m) if m.is_file() => f(&path),
            _ => {}
        }
    }
}

fn default_histories(root: &Path) -> Vec<PathBuf> {
    units::homes(root)
        .iter()
        .flat_map(|h| [".bash_history", ".zsh_history", ".local/share/fish/fish_history"].map(|f| h.join(f)))
        .collect()
}
