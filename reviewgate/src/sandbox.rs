//! The reviewer's jail. A prompt-injected engine must never reach the
//! signing key, so `codex` runs under bubblewrap (`bwrap`):
//!
//! - its own PID namespace: no `/proc/<pid>/environ`, `fd` or `mem` of the
//!   gate, of the operator's shell or of an `ssh-agent` is visible;
//! - its own network namespace: no host loopback service and no abstract
//!   Unix socket of the host's (an X server's, an agent's); its only way
//!   out is the gate's `CONNECT` proxy to `[reviewgate] engine_hosts`
//!   (`proxy`), reached through `engine-bridge` (`bridge`), which runs the
//!   engine inside the jail through `engine-exec` and its system-call
//!   filter (`nounix`: no Unix socket, so no socket file on the read-only
//!   root is reachable either);
//! - the host's root read-only, with empty tmpfs over `/tmp`, `/var/tmp`,
//!   `/run` (agent sockets, systemd credentials, `XDG_RUNTIME_DIR`),
//!   `/dev/shm`, the whole of `$HOME` and of the user's home in the
//!   password database (keys, git and cloud credentials) and
//!   every other place the key or a credential can be: the secrets
//!   directory, the key file's directory, `$CODEX_HOME`,
//!   `$CREDENTIALS_DIRECTORY` and the directory of `SSH_AUTH_SOCK`;
//! - no capability, even when the gate runs as root (none of those mounts
//!   can be undone), a new session (no terminal injection), and death with
//!   the gate;
//! - only its private work directory writable, its current directory: the
//!   engine never runs in the reviewed checkout, so no `AGENTS.md` or
//!   `.codex/` of the author's is read, and it sees the change only
//!   through the fenced bundle on stdin;
//! - a cleared environment: `PATH`, locale and CA settings, `HOME` and
//!   `CODEX_HOME` in the work directory, and the engine's own credential,
//!   nothing else (no `SSH_AUTH_SOCK`, no signing key, no proxy of the
//!   operator's).
//!
//! What the engine needs to run (the codex package, node's directory, the
//! gate's own directory for the bridge) is bound back read-only after the
//! covers; one that is, or holds, a covered place (codex in `~/bin`, or
//! directly under `/`) is refused. No bwrap: no review (exit 2).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Variables an engine keeps from the gate's environment.
pub const KEPT: &[&str] = &["PATH", "LANG", "LC_ALL", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR", "NODE_EXTRA_CA_CERTS"];

/// Covered first, whatever else is.
pub const TOP: &[&str] = &["/tmp", "/var/tmp", "/run", "/dev/shm"];

/// Where the engine must see nothing beyond [`TOP`] (each covered when it is a directory).
pub fn hidden(env: &dyn Fn(&str) -> Option<String>, secrets_dir: &Path, key_file: Option<&Path>) -> Vec<PathBuf> {
    let mut hide = vec![secrets_dir.to_owned()];
    if let Some(dir) = key_file.and_then(Path::parent) {
        hide.push(dir.to_owned());
    }
    for var in ["HOME", "CODEX_HOME", "XDG_RUNTIME_DIR", "CREDENTIALS_DIRECTORY"] {
        if let Some(v) = env(var).filter(|v| v.starts_with('/') && v != "/") {
            hide.push(PathBuf::from(v));
        }
    }
    // The user's home by the password database too: `HOME` may name another place.
    if let Some(home) =
        passwd_home(&std::fs::read_to_string("/etc/passwd").unwrap_or_default(), rustix::process::geteuid().as_raw())
    {
        hide.push(home);
    }
    if let Some(dir) =
        env("SSH_AUTH_SOCK").filter(|v| v.starts_with('/')).and_then(|v| Path::new(&v).parent().map(Path::to_owned))
    {
        hide.push(dir);
    }
    hide.retain(|p| p != Path::new("/") && std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()));
    hide.sort();
    hide.dedup();
    hide
}

/// The home directory of `uid` in a passwd file's text. Pure.
pub fn passwd_home(passwd: &str, uid: u32) -> Option<PathBuf> {
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 7 && f[2].parse::<u32>().ok() == Some(uid) && f[5].starts_with('/')).then(|| PathBuf::from(f[5]))
    })
}

/// The directory to bind back for `program` (its real path): the npm
/// package root when it sits in the `bin/` directory of one (a parent
/// holding `package.json`, as `is_package` says), else its own directory;
/// `None` for `/`. Pure but for `is_package`.
pub fn program_root(program: &Path, is_package: &dyn Fn(&Path) -> bool) -> Option<PathBuf> {
    let dir = program.parent().unwrap_or(Path::new("/"));
    let root = match (dir.file_name(), dir.parent()) {
        (Some(name), Some(up)) if name == "bin" && is_package(up) => up.to_owned(),
        _ => dir.to_owned(),
    };
    (root != Path::new("/")).then_some(root)
}

/// Refuses a directory to bind back that is, or holds, a covered place:
/// binding it would undo the cover (codex in `~/bin` would bring back the
/// whole home). Pure.
pub fn check_bind_back(bind_back: &[PathBuf], hide: &[PathBuf]) -> Result<(), String> {
    let covered = TOP.iter().map(PathBuf::from).chain(hide.iter().cloned());
    for c in covered {
        if let Some(root) = bind_back.iter().find(|r| c.starts_with(r)) {
            return Err(format!(
                "refusing to run the engine from {}: it is or holds {}, which the jail hides; \
                 install it elsewhere (npm install -g, /usr/local, ~/.local/bin)",
                root.display(),
                c.display()
            ));
        }
    }
    Ok(())
}

/// The jail for one engine run.
pub struct Jail {
    /// bwrap's real path.
    pub bwrap: PathBuf,
    /// The gate's own binary (the bridge inside the jail).
    pub exe: PathBuf,
    /// The engine's real path.
    pub program: PathBuf,
    /// What is bound back read-only (the program's, node's and the gate's directories).
    pub bind_back: Vec<PathBuf>,
    /// Covered with empty tmpfs beyond [`TOP`].
    pub hide: Vec<PathBuf>,
    /// The engine's writable work directory (its cwd and HOME).
    pub work: PathBuf,
    /// The proxy socket in the work directory.
    pub socket: PathBuf,
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

    /// `bwrap … -- <gate> engine-bridge --socket S -- <program> <args>`
    /// with the engine's whole environment. Pure.
    pub fn command(&self, args: &[String], env: &dyn Fn(&str) -> Option<String>) -> Command {
        let mut a: Vec<OsString> = [
            "--die-with-parent",
            "--new-session",
            "--unshare-pid",
            "--as-pid-1",
            "--unshare-net",
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
        let pair = |a: &mut Vec<OsString>, flag: &str, p: &Path| {
            a.push(flag.into());
            a.push(p.as_os_str().to_owned());
            if flag != "--tmpfs" {
                a.push(p.as_os_str().to_owned());
            }
        };
        for t in TOP {
            pair(&mut a, "--tmpfs", Path::new(t));
        }
        // Bound back after the covers (so it shows); `check_bind_back`
        // refused any that is or holds a covered place.
        for p in &self.hide {
            pair(&mut a, "--tmpfs", p);
        }
        for root in &self.bind_back {
            pair(&mut a, "--ro-bind", root);
        }
        pair(&mut a, "--bind", &self.work);
        a.extend(["--chdir".into(), self.work.as_os_str().to_owned(), "--".into(), self.exe.as_os_str().to_owned()]);
        a.extend(["engine-bridge".into(), "--socket".into(), self.socket.as_os_str().to_owned(), "--".into()]);
        a.push(self.program.as_os_str().to_owned());
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
    fn the_home_of_a_uid_comes_from_the_password_database() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\nop:x:1000:1000::/home/op:/bin/sh\nbad:x:7:7\n";
        assert_eq!(passwd_home(passwd, 0), Some(PathBuf::from("/root")));
        assert_eq!(passwd_home(passwd, 1000), Some(PathBuf::from("/home/op")));
        assert_eq!(passwd_home(passwd, 7), None);
    }

    #[test]
    fn an_npm_package_is_bound_whole_any_other_program_by_its_directory_and_root_never() {
        let npm = |p: &Path| p.ends_with("@openai/codex");
        assert_eq!(
            program_root(Path::new("/home/op/.npm/lib/node_modules/@openai/codex/bin/codex.js"), &npm).unwrap(),
            Path::new("/home/op/.npm/lib/node_modules/@openai/codex")
        );
        assert_eq!(program_root(Path::new("/usr/bin/codex"), &npm).unwrap(), Path::new("/usr/bin"));
        assert_eq!(program_root(Path::new("/home/op/bin/codex"), &npm).unwrap(), Path::new("/home/op/bin"));
        assert_eq!(program_root(Path::new("/opt/codex/codex"), &npm).unwrap(), Path::new("/opt/codex"));
        assert_eq!(program_root(Path::new("/codex"), &npm), None);
    }

    #[test]
    fn a_bound_back_directory_that_is_or_holds_a_covered_place_is_refused() {
        let hide = vec![PathBuf::from("/home/op"), PathBuf::from("/srv/tools/secrets")];
        assert!(check_bind_back(&[PathBuf::from("/home/op/bin"), PathBuf::from("/usr/bin")], &hide).is_ok());
        for bad in ["/home/op", "/home", "/srv/tools", "/var", "/"] {
            let err = check_bind_back(&[PathBuf::from(bad)], &hide).unwrap_err();
            assert!(err.contains("refusing to run the engine"), "{bad}: {err}");
        }
    }

    fn jail(program: &str, bind_back: &[&str], hide: &[&str]) -> Jail {
        Jail {
            bwrap: "/usr/bin/bwrap".into(),
            exe: "/usr/bin/openclaw-reviewgate".into(),
            program: program.into(),
            bind_back: bind_back.iter().map(PathBuf::from).collect(),
            hide: hide.iter().map(PathBuf::from).collect(),
            work: "/tmp/w".into(),
            socket: "/tmp/w/proxy.sock".into(),
            env: vec![("CODEX_HOME".into(), "/tmp/w/home".into())],
            stderr: Default::default(),
        }
    }

    fn args(j: &Jail, env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
        j.command(&["exec".into()], env).get_args().map(|a| a.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn the_environment_is_rebuilt_from_nothing_and_the_network_is_the_jails_own() {
        let j = jail("/home/op/.npm/codex/bin/codex", &["/home/op/.npm/codex"], &["/home/op", "/etc/openclaw/secrets"]);
        let env = |k: &str| match k {
            "PATH" => Some("/usr/bin".to_owned()),
            "SSH_AUTH_SOCK" | "OPENCLAW_REVIEW_SIGNING_KEY" | "HTTPS_PROXY" => Some("secret".to_owned()),
            _ => None,
        };
        let cmd = j.command(&["exec".into()], &env);
        let names: Vec<String> = cmd.get_envs().map(|(k, _)| k.to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["CODEX_HOME", "HOME", "PATH"]);
        let a = args(&j, &env);
        assert!(a.contains(&"--unshare-net".to_owned()) && a.contains(&"--unshare-pid".to_owned()), "{a:?}");
        let at = |s: &str| a.iter().position(|x| x == s).unwrap();
        // The package under the covered home is bound back after the cover.
        assert!(at("/home/op/.npm/codex") > at("/home/op"), "{a:?}");
        let tail = ["--", "/usr/bin/openclaw-reviewgate", "engine-bridge", "--socket", "/tmp/w/proxy.sock", "--"];
        let start = a.len() - tail.len() - 2;
        assert_eq!(&a[start..], [&tail[..], &["/home/op/.npm/codex/bin/codex", "exec"]].concat(), "{a:?}");
    }
}
