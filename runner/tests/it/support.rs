//! The lab: a temp host (made searchable so the job's uid can reach its
//! directories), a bare origin with a `main` branch and a `side` branch
//! whose tip is on no allowed branch, job scripts, the allowlist, and the
//! real runner.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

pub(crate) use test_support::TempHost;

pub(crate) const RUNNER: &str = env!("CARGO_BIN_EXE_openclaw-runner");

/// Shell lines a root job runs first to undo the read-only bind of its
/// repo's mirror (root may remount in its own mount namespace): the
/// defences behind that bind must hold without it.
pub(crate) const UNLOCK_MIRROR: &str =
    "m=$(sed -n 's/^gitdir: //p' .git); m=${m%/worktrees/*}; mount -o remount,bind,rw \"$m\"\n";

pub(crate) struct Lab {
    pub(crate) host: TempHost,
    /// The tip of `main`.
    pub(crate) sha: String,
    /// A commit only on `side`.
    pub(crate) side: String,
    jobs: String,
    run_as: Option<String>,
}

pub(crate) use test_support::run_ok as sh;

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A file's text, empty when it is missing (what a job did not write).
pub(crate) fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Root-only tests call this first; `false` means skip.
pub(crate) fn need_root() -> bool {
    if test_support::is_root() {
        return true;
    }
    test_support::skip("jobs run as another uid (setpriv), which needs root");
    false
}

impl Lab {
    pub(crate) fn new() -> Lab {
        let host = TempHost::new();
        chmod(host.root(), 0o755);
        let work = host.path("work");
        std::fs::create_dir(&work).unwrap();
        sh(&work, "git", &["init", "-q", "-b", "main"]);
        std::fs::write(work.join("README"), "hello\n").unwrap();
        std::fs::write(work.join(".gitignore"), "build/\n").unwrap();
        std::fs::create_dir(work.join("src")).unwrap();
        std::fs::write(work.join("src/app.sh"), "#!/bin/sh\necho app\n").unwrap();
        chmod(&work.join("src/app.sh"), 0o755);
        std::fs::write(work.join("data.txt"), "data\n").unwrap();
        sh(&work, "git", &["add", "."]);
        sh(&work, "git", &["commit", "-q", "-m", "genesis"]);
        sh(&work, "git", &["checkout", "-q", "-b", "side"]);
        std::fs::write(work.join("side.txt"), "side\n").unwrap();
        sh(&work, "git", &["add", "."]);
        sh(&work, "git", &["commit", "-q", "-m", "side"]);
        let side = sh(&work, "git", &["rev-parse", "HEAD"]);
        sh(&work, "git", &["checkout", "-q", "main"]);
        let sha = sh(&work, "git", &["rev-parse", "HEAD"]);
        sh(host.root(), "git", &["clone", "-q", "--bare", "work", "origin.git"]);
        let etc = host.path("etc");
        std::fs::create_dir(&etc).unwrap();
        chmod(&etc, 0o700);
        std::fs::create_dir(host.path("bin")).unwrap();
        chmod(&host.path("bin"), 0o755);
        Lab { host, sha, side, jobs: String::new(), run_as: None }
    }

    /// Adds a job whose script is `body` (`#!/bin/sh`, cwd the worktree).
    pub(crate) fn job(&mut self, name: &str, body: &str, extra: &str) -> &mut Lab {
        let path = self.host.path(&format!("bin/{name}.sh"));
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        chmod(&path, 0o755);
        let timeout = if extra.contains("timeout_sec") { "" } else { "timeout_sec = 20\n" };
        self.jobs.push_str(&format!("[[job]]\nname = \"{name}\"\nargv = [\"{}\"]\n{timeout}{extra}\n", path.display()));
        self
    }

    pub(crate) fn config_path(&self) -> PathBuf {
        self.host.path("etc/runner.toml")
    }

    /// Sets the file's default `run_as` (none: each run a uid of its own).
    pub(crate) fn run_as(&mut self, user: &str) -> &mut Lab {
        self.run_as = Some(user.to_owned());
        self
    }

    /// Writes the allowlist: the default `run_as` if one was set, repo
    /// `app`, the jobs.
    pub(crate) fn write_config(&self) {
        let text = format!(
            "{}[[repo]]\nname = \"app\"\nurl = \"file://{}\"\nallowed_branches = [\"main\"]\n\n{}",
            self.run_as.as_ref().map_or(String::new(), |u| format!("run_as = \"{u}\"\n\n")),
            self.host.path("origin.git").display(),
            self.jobs
        );
        std::fs::write(self.config_path(), text).unwrap();
        chmod(&self.config_path(), 0o600);
    }

    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut cmd = self.host.command(RUNNER);
        cmd.arg("--config").arg(self.config_path()).args(args);
        cmd
    }

    /// `run --job NAME --repo app --sha <main> --format json` plus `extra`.
    pub(crate) fn run(&self, job: &str, extra: &[&str]) -> test_support::Run {
        let mut args = vec!["run", "--job", job, "--repo", "app", "--sha", &self.sha, "--format", "json"];
        args.extend_from_slice(extra);
        test_support::run(&mut self.command(&args))
    }

    /// The stored artifacts directory of a run.
    pub(crate) fn artifacts(&self, job_id: &str) -> PathBuf {
        self.host.path("artifacts/runner").join(job_id)
    }

    /// Whether any mirror was ever made.
    pub(crate) fn cloned(&self) -> bool {
        self.host.path("state/runner/mirrors/app.git").exists()
    }

    /// Leases from the one uid `uid` (`[runner] dynamic_uids`).
    pub(crate) fn uid_range(&self, uid: u32) {
        self.host.write_config(&format!("[runner]\ndynamic_uids = [{uid}, {uid}]\n"));
    }

    /// The `sub` directory (`home`, `out`, …) of the running job whose
    /// `sub` holds `name`.
    pub(crate) fn job_dir_holding(&self, sub: &str, name: &str) -> Option<PathBuf> {
        self.job_dirs()
            .into_iter()
            .map(|id| self.host.path("run/runner").join(id).join(sub))
            .find(|d| d.join(name).exists())
    }

    /// The job directories left under the run dir.
    pub(crate) fn job_dirs(&self) -> Vec<String> {
        let Ok(rd) = std::fs::read_dir(self.host.path("run/runner")) else { return Vec::new() };
        rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n != "locks").collect()
    }
}

/// Ids of the tasks under `dir` (a `/proc` or a `/proc/<pid>/task`)
/// whose status holds `uid` as real, effective, saved or filesystem uid.
fn tasks_holding(dir: &Path, uid: u32) -> Vec<String> {
    let want = uid.to_string();
    let Ok(rd) = std::fs::read_dir(dir) else { return Vec::new() };
    rd.flatten()
        .filter(|e| {
            std::fs::read_to_string(e.path().join("status")).is_ok_and(|status| {
                status
                    .lines()
                    .filter_map(|l| l.strip_prefix("Uid:"))
                    .any(|ids| ids.split_whitespace().any(|s| s == want))
            })
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// Pids whose `/proc/<pid>/status` (the thread-group leader) holds `uid`.
pub(crate) fn processes_of(uid: u32) -> Vec<String> {
    tasks_holding(Path::new("/proc"), uid)
}

/// `pid/tid` of every thread of any process that holds `uid`.
pub(crate) fn threads_of(uid: u32) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir("/proc") else { return Vec::new() };
    rd.flatten()
        .flat_map(|p| {
            let pid = p.file_name().to_string_lossy().into_owned();
            tasks_holding(&p.path().join("task"), uid).into_iter().map(move |t| format!("{pid}/{t}"))
        })
        .collect()
}

/// Whether someone holds the lease of `uid` (systemd's lock on its
/// registry file).
pub(crate) fn lease_held(uid: u32) -> bool {
    std::fs::File::open(Path::new(runner::identity::REGISTRY).join(uid.to_string()))
        .is_ok_and(|f| matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock)))
}

/// The changed paths of a run's JSON, as `path` strings.
pub(crate) fn changed(v: &serde_json::Value) -> Vec<String> {
    v["invariants"]["changed_paths"]
        .as_array()
        .map(|a| a.iter().map(|c| c["path"].as_str().unwrap_or("").to_owned()).collect())
        .unwrap_or_default()
}
