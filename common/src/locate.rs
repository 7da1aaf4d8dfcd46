//! Where a tool finds a sibling tool it runs (the guard the doctor and the
//! notifier, the doctor the guard): an override variable such as
//! `OPENCLAW_DOCTOR_BIN` (absolute; a named file that is missing is an
//! error, never a fallback), else beside the caller's own executable, else
//! on PATH. Installed side by side, the tools are always the same release.
//! Tools talk to each other only through these binaries' CLIs and JSON.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// How a tool was (not) found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Located {
    /// The executable to run.
    Found(PathBuf),
    /// Not found; the text says where it was looked for.
    Missing(String),
}

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Finds `name` with the override variable `var`, the directory of `own_exe`
/// and the `path` variable, in that order.
pub fn locate(name: &str, var: &str, env: &dyn Fn(&str) -> Option<String>, own_exe: Option<&Path>) -> Located {
    if let Some(v) = env(var).filter(|v| !v.is_empty()) {
        let p = PathBuf::from(&v);
        if !p.is_absolute() {
            return Located::Missing(format!("{var} must be an absolute path, got `{v}`"));
        }
        return if is_executable(&p) {
            Located::Found(p)
        } else {
            Located::Missing(format!("{var} names {}, which is not an executable file", p.display()))
        };
    }
    if let Some(beside) = own_exe.and_then(Path::parent).map(|d| d.join(name))
        && is_executable(&beside)
    {
        return Located::Found(beside);
    }
    let path = env("PATH").unwrap_or_default();
    for dir in path.split(':').filter(|d| Path::new(d).is_absolute()) {
        let p = Path::new(dir).join(name);
        if is_executable(&p) {
            return Located::Found(p);
        }
    }
    let me = own_exe.and_then(Path::file_name).map_or("this tool".into(), |n| n.to_string_lossy().into_owned());
    Located::Missing(format!("`{name}` is neither beside {me} nor on PATH (or set {var})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exe(dir: &Path, name: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    #[test]
    fn override_then_beside_then_path() {
        let tmp = tempfile::tempdir().unwrap();
        let (own, on_path, other) = (tmp.path().join("own"), tmp.path().join("path"), tmp.path().join("o"));
        for d in [&own, &on_path, &other] {
            std::fs::create_dir(d).unwrap();
        }
        let via_path = exe(&on_path, "openclaw-doctor");
        let path_var = on_path.display().to_string();
        let guard = own.join("openclaw-guard");
        let env = |var: Option<String>| {
            let path_var = path_var.clone();
            move |k: &str| match k {
                "PATH" => Some(path_var.clone()),
                "OPENCLAW_DOCTOR_BIN" => var.clone(),
                _ => None,
            }
        };
        assert_eq!(
            locate("openclaw-doctor", "OPENCLAW_DOCTOR_BIN", &env(None), Some(&guard)),
            Located::Found(via_path)
        );
        let beside = exe(&own, "openclaw-doctor");
        assert_eq!(locate("openclaw-doctor", "OPENCLAW_DOCTOR_BIN", &env(None), Some(&guard)), Located::Found(beside));
        let chosen = exe(&other, "d");
        let e = env(Some(chosen.display().to_string()));
        assert_eq!(locate("openclaw-doctor", "OPENCLAW_DOCTOR_BIN", &e, Some(&guard)), Located::Found(chosen));
        for bad in ["/nonexistent/doctor", "relative"] {
            let e = env(Some(bad.into()));
            assert!(matches!(locate("openclaw-doctor", "OPENCLAW_DOCTOR_BIN", &e, Some(&guard)), Located::Missing(_)));
        }
        let nothing = |_: &str| None;
        assert!(matches!(locate("openclaw-notify", "OPENCLAW_NOTIFY_BIN", &nothing, None), Located::Missing(_)));
    }
}
