//! The reviewer's jail. A prompt-injected engine must never reach the
//! signing key, so `codex` runs under bubblewrap (`bwrap`):
//!
//! - its own PID namespace: no `/proc/<pid>/environ`, `fd` or `mem` of the
//!   gate, of the operator's shell or of an `ssh-agent` is visible;
//! - the host's root read-only, with empty tmpfs over `/tmp`, `/var/tmp`,
//!   `/run` (agent sockets, systemd credentials, `XDG_RUNTIME_DIR`) and over
//!   every place the key or a credential can be: the secrets directory, the
//!   key file's directory, `~/.ssh`, the operator's Codex home and the
//!   directory of `SSH_AUTH_SOCK`;
//! - no capability, even when the gate runs as root (none of those mounts
//!   can be undone), a new session (no terminal injection), and death with
//!   the gate;
//! - only its private work directory writable, its current directory: the
//!   engine never runs in the reviewed checkout, so no `AGENTS.md` or
//!   `.codex/` of the author's is read, and it sees the change only
//!   through the fenced bundle on stdin;
//! - a cleared environment: `PATH`, locale, proxy and CA settings, `HOME`
//!   and `CODEX_HOME` in the work directory, and the engine's own
//!   credential, nothing else (no `SSH_AUTH_SOCK`, no signing key).
//!
//! The program itself is bound back read-only (its package directory) when
//! it lives under a hidden path. No bwrap: no review (exit 2).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Variables an engine keeps from the gate's environment.
const KEPT: &[&str] = &[
    "PATH",
    "LANG",
    "LC_ALL",
    "TZ",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "NODE_EXTRA_CA_CERTS",
];

/// Where the engine must see nothing (each covered when it is a directory).
pub fn hidden(env: &dyn Fn(&str) -> Option<String>, secrets_dir: &Path, key_file: Option<&Path>) -> Vec<PathBuf> {
    let mut hide: Vec<PathBuf> = ["/tmp", "/var/tmp", "/run", "/dev/shm"].iter().map(PathBuf::from).collect();
    hide.push(secrets_dir.to_owned());
    if let Some(dir) = key_file.and_then(Path::parent) {
        hide.push(dir.to_owned());
    }
    if let Some(home) = env("HOME").filter(|h| h.starts_with('/')) {
        for rel in [".ssh", ".codex", ".gnupg", ".config/openclaw"] {
            hide.push(Path::new(&home).join(rel));
        }
    }
    for var in ["CODEX_HOME", "XDG_RUNTIME_DIR", "CREDENTIALS_DIRECTORY"] {
        if let Some(v) = env(var).filter(|v| v.starts_with('/')) {
            hide.push(PathBuf::from(v));
        }
    }
    if let Some(dir) =
        env("SSH_AUTH_SOCK").filter(|v| v.starts_with('/')).and_then(|v| Path::new(&v).parent().map(Path::to_owned))
    {
        hide.push(dir);
    }
    hide.retain(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()));
    hide.sort();
    hide.dedup();
    hide
}

/// The directory to bind back for `program` (its real path): the package
/// root when it sits in a `bin/` directory (npm's layout), else its own directory.
pub fn program_root(program: &Path) -> PathBuf {
    let dir = program.parent().unwrap_or(Path::new("/"));
    match (dir.file_name(), dir.parent()) {
        (Some(name), Some(up)) if name == "bin" && up != Path::new("/") && up != Path::new("/usr") => up.to_owned(),
        _ => dir.to_owned(),
    }
}

/// The jail for one engine run.
pub struct Jail {
    /// bwrap's real path.
    pub bwrap: PathBuf,
    /// The engine's real path.
    pub program: PathBuf,
    /// Covered with empty tmpfs.
    pub hide: Vec<PathBuf>,
    /// The engine's writable work directory (its cwd and HOME).
    pub work: PathBuf,
    /// The engine's environment beyond [`KEPT`] and HOME.
    pub env: Vec<(String, String)>,
    /// What the engine wrote to stderr, every call (kept in the packet
    /// directory as `engine-stderr.txt`, at most 1 MiB).
    pub stderr: std::sync::Mutex<Vec<u8>>,
}

impl Jail {
    /// Keeps `bytes` of the engine's stderr.
    pub fn keep_stderr(&self, bytes: &[u8]) {
        if let Ok(mut log) = self.stderr.lock() {
            let room = (1usize << 20).saturating_sub(log.len());
            log.extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
    }
}

impl Jail {
    /// `bwrap … -- <program> <args>` with the engine's whole environment. Pure.
    pub fn command(&self, args: &[String], env: &dyn Fn(&str) -> Option<String>) -> Command {
        let mut a: Vec<OsString> = [
            "--die-with-parent",
            "--new-session",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--cap-drop",
            "ALL",
            "--ro-bind",
            "/",
            "/",
            "--dev",
            "/dev",
            "--proc",
            "/proc",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let tmpfs = |a: &mut Vec<OsString>, p: &Path| a.extend(["--tmpfs".into(), p.as_os_str().to_owned()]);
        let (top, inner): (Vec<&PathBuf>, Vec<&PathBuf>) = self
            .hide
            .iter()
            .partition(|p| ["/tmp", "/var/tmp", "/run", "/dev/shm"].contains(&p.to_str().unwrap_or("")));
        for p in top {
            tmpfs(&mut a, p);
        }
        // The program's directory is bound back after the hidden places are
        // covered, unless it holds one of them: then before, so the cover wins.
        let root = program_root(&self.program);
        let bind = |a: &mut Vec<OsString>| {
            a.extend(["--ro-bind".into(), root.as_os_str().to_owned(), root.as_os_str().to_owned()]);
        };
        let holds_hidden = inner.iter().any(|h| h.starts_with(&root));
        if holds_hidden {
            bind(&mut a);
        }
        for p in inner {
            tmpfs(&mut a, p);
        }
        if !holds_hidden {
            bind(&mut a);
        }
        a.extend(["--bind".into(), self.work.as_os_str().to_owned(), self.work.as_os_str().to_owned()]);
        a.extend([
            "--chdir".into(),
            self.work.as_os_str().to_owned(),
            "--".into(),
            self.program.as_os_str().to_owned(),
        ]);
        a.extend(args.iter().map(OsString::from));
        let mut cmd = Command::new(&self.bwrap);
        cmd.args(a).env_clear().current_dir("/");
        for k in KEPT {
            if let Some(v) = env(k) {
                cmd.env(k, v);
            }
        }
        cmd.env("HOME", &self.work);
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_npm_package_is_bound_whole_and_a_system_binary_by_its_directory() {
        assert_eq!(
            program_root(Path::new("/home/op/.npm/lib/node_modules/@openai/codex/bin/codex.js")),
            Path::new("/home/op/.npm/lib/node_modules/@openai/codex")
        );
        assert_eq!(program_root(Path::new("/usr/bin/codex")), Path::new("/usr/bin"));
        assert_eq!(program_root(Path::new("/opt/codex/codex")), Path::new("/opt/codex"));
    }

    #[test]
    fn the_environment_is_rebuilt_from_nothing() {
        let jail = Jail {
            bwrap: "/usr/bin/bwrap".into(),
            program: "/opt/codex/codex".into(),
            hide: vec!["/tmp".into(), "/etc/openclaw/secrets".into()],
            work: "/tmp/w".into(),
            env: vec![("CODEX_HOME".into(), "/tmp/w/home".into())],
            stderr: Default::default(),
        };
        let env = |k: &str| match k {
            "PATH" => Some("/usr/bin".to_owned()),
            "SSH_AUTH_SOCK" | "OPENCLAW_REVIEW_SIGNING_KEY" => Some("secret".to_owned()),
            _ => None,
        };
        let cmd = jail.command(&["exec".into()], &env);
        let vars: Vec<(String, Option<String>)> = cmd
            .get_envs()
            .map(|(k, v)| (k.to_string_lossy().into_owned(), v.map(|v| v.to_string_lossy().into_owned())))
            .collect();
        let names: Vec<&str> = vars.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["CODEX_HOME", "HOME", "PATH"], "{vars:?}");
        let args: Vec<String> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        let at = |s: &str| args.iter().position(|a| a == s).unwrap();
        // A program in a hidden place (a home covered whole) is bound back after the cover.
        assert!(at("/opt/codex") > at("/etc/openclaw/secrets"), "{args:?}");
        assert!(args.ends_with(&["--".into(), "/opt/codex/codex".into(), "exec".into()]), "{args:?}");
        // A program whose directory holds a hidden place is bound first, so the cover wins.
        let beside = Jail { program: "/srv/tools/bin/codex".into(), hide: vec!["/srv/tools/secrets".into()], ..jail };
        let args: Vec<String> =
            beside.command(&[], &env).get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        let at = |s: &str| args.iter().position(|a| a == s).unwrap();
        assert!(at("/srv/tools/secrets") > at("/srv/tools"), "{args:?}");
    }
}
