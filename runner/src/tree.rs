//! The per-job directory `<run>/runner/<job_id>/`: the detached worktree
//! `tree/` (owned by the runner's uid, directories 0555, files 0444 with
//! execute bits kept) and the job's own writable `home/`, `tmp/` and
//! `out/` (0700, owned by the job's uid). Removal restores write bits,
//! removes everything and prunes the mirror's worktree list; a job
//! directory left by a crash is found and removed by the next run.
//!
//! Removal never follows a link the job could have planted: each directory
//! is opened relative to its parent's descriptor with `O_NOFOLLOW |
//! O_DIRECTORY`, its write bits restored with `fchmod` on that descriptor,
//! and each entry unlinked by name relative to it. A process of the job's
//! uid that swaps a directory for a symbolic link between two steps makes
//! the open fail (the link is then unlinked, never followed).

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Dir, Mode, OFlags};
use rustix::io::Errno;

use crate::gitargs;
use crate::mirror::{LOCAL_TIMEOUT, Mirror};
use crate::passwd::User;

/// One job's directories.
#[derive(Debug, Clone)]
pub struct JobDir {
    /// `<run>/runner/<job_id>`.
    pub root: PathBuf,
}

impl JobDir {
    /// The directory of `job_id` under `jobs` (`<run>/runner`).
    pub fn new(jobs: &Path, job_id: &str) -> JobDir {
        JobDir { root: jobs.join(job_id) }
    }

    /// The worktree.
    pub fn tree(&self) -> PathBuf {
        self.root.join("tree")
    }

    /// The job's HOME.
    pub fn home(&self) -> PathBuf {
        self.root.join("home")
    }

    /// The job's TMPDIR.
    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Where the job's init writes how the job itself ended.
    pub fn status(&self) -> PathBuf {
        self.root.join("status")
    }

    /// The job's ARTIFACT_DIR.
    pub fn out(&self) -> PathBuf {
        self.root.join("out")
    }

    /// The empty directory the job's init builds the job's filesystem on
    /// (in the job's own mount namespace; on the host it stays empty).
    pub fn view(&self) -> PathBuf {
        self.root.join("view")
    }

    /// Creates the job directory (0710, group the job's gid: the job may
    /// pass through, not list, and no other uid may even pass) and its
    /// private writable directories, owned by `user`.
    pub fn create(&self, user: &User) -> io::Result<()> {
        std::fs::create_dir(&self.root)?;
        rustix::fs::chown(&self.root, None, Some(rustix::fs::Gid::from_raw(user.gid)))?;
        std::fs::set_permissions(&self.root, std::fs::Permissions::from_mode(0o710))?;
        std::fs::create_dir(self.view())?;
        std::fs::set_permissions(self.view(), std::fs::Permissions::from_mode(0o700))?;
        for dir in [self.home(), self.tmp(), self.out()] {
            std::fs::create_dir(&dir)?;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
            rustix::fs::chown(
                &dir,
                Some(rustix::fs::Uid::from_raw(user.uid)),
                Some(rustix::fs::Gid::from_raw(user.gid)),
            )?;
        }
        Ok(())
    }

    /// Checks out `sha` from `mirror` as a detached worktree. The caller
    /// holds the repo's lock (the worktree list lives in the mirror).
    pub fn checkout(&self, mirror: &Mirror, sha: &str) -> Result<(), crate::git::GitError> {
        crate::git::run(
            &mirror.dir,
            gitargs!["worktree", "add", "--detach", "--quiet", "--", self.tree(), sha],
            LOCAL_TIMEOUT,
        )?;
        Ok(())
    }

    /// Removes everything, restoring write bits on the way (the job's own
    /// directories may hold anything the job left, including 0000 dirs),
    /// following no link.
    pub fn remove(&self) -> io::Result<()> {
        let dir = match rustix::fs::open(&self.root, DIR_FLAGS, Mode::empty()) {
            Ok(d) => d,
            Err(Errno::NOENT) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        empty_dir(&dir, 0, &mut Removal { top: &dir, hoisted: 0 })?;
        drop(dir);
        std::fs::remove_dir(&self.root)
    }
}

/// Makes the tree read-only: directories 0555, files 0444 plus 0111 when
/// any execute bit was set, links untouched. Returns how many paths it set.
pub fn lock_down(root: &Path) -> io::Result<usize> {
    let mut n = 0;
    walk(root, &mut |path, meta| {
        let ft = meta.file_type();
        let mode = if ft.is_dir() {
            0o555
        } else if ft.is_file() {
            if meta.mode() & 0o111 != 0 { 0o555 } else { 0o444 }
        } else {
            return Ok(());
        };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
        n += 1;
        Ok(())
    })?;
    Ok(n)
}

/// How every directory of a job's tree is opened: never through a link.
const DIR_FLAGS: OFlags = OFlags::RDONLY.union(OFlags::DIRECTORY).union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC);

/// How deep removal descends holding one descriptor per level; a deeper
/// directory is first moved up to the job directory itself and emptied
/// from there, so any depth is removed with at most this many descriptors
/// open (well under systemd's soft `RLIMIT_NOFILE` of 1024).
const HOIST_DEPTH: usize = 64;

/// Most directories one removal moves up (64 levels each: far deeper than
/// any tree a job writes within its limits).
const MAX_HOISTS: u64 = 1_000_000;

/// Where a removal stands: the job directory (where deep directories are
/// moved to) and how many were moved so far.
struct Removal<'a> {
    top: &'a OwnedFd,
    hoisted: u64,
}

/// Removes everything inside the open directory `dir`, after giving it
/// owner write and search bits through its descriptor.
fn empty_dir(dir: &OwnedFd, depth: usize, r: &mut Removal<'_>) -> io::Result<()> {
    let st = rustix::fs::fstat(dir)?;
    rustix::fs::fchmod(dir, Mode::from_raw_mode((st.st_mode & 0o7777) | 0o700))?;
    // A process of the job's uid may still be adding entries: a few passes,
    // then give up. At the top, a pass that moved deep directories up
    // (which the next pass finds) does not count.
    let mut passes = 0;
    while passes < 8 {
        let mut names = Vec::new();
        for entry in Dir::read_from(dir)? {
            let name = entry?.file_name().to_owned();
            if name.as_bytes() != b"." && name.as_bytes() != b".." {
                names.push(name);
            }
        }
        if names.is_empty() {
            return Ok(());
        }
        let before = r.hoisted;
        for name in &names {
            remove_entry(dir, name, depth, r)?;
        }
        if r.hoisted == before || depth > 0 {
            passes += 1;
        }
    }
    Err(io::Error::other("entries keep appearing in the job's tree"))
}

/// Moves the directory `name` of `dir` up into the job directory under a
/// fresh name (never replacing anything), to be emptied from there.
fn hoist(dir: &OwnedFd, name: &CStr, r: &mut Removal<'_>) -> io::Result<()> {
    loop {
        // A process still building chains meanwhile could keep the top
        // busy for ever: a bound, then `cleanup_failed`.
        if r.hoisted >= MAX_HOISTS {
            return Err(io::Error::other("the job's tree keeps growing deeper"));
        }
        r.hoisted += 1;
        let to = format!(".deep-{}", r.hoisted);
        match rustix::fs::renameat_with(dir, name, r.top, to.as_str(), rustix::fs::RenameFlags::NOREPLACE) {
            Ok(()) | Err(Errno::NOENT) => return Ok(()),
            Err(Errno::EXIST) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Removes one entry of `dir` by name: a directory is opened without
/// following links and emptied first (or, too deep, moved up first);
/// anything else (a link included) is unlinked itself.
fn remove_entry(dir: &OwnedFd, name: &CStr, depth: usize, r: &mut Removal<'_>) -> io::Result<()> {
    for _ in 0..8 {
        match rustix::fs::openat(dir, name, DIR_FLAGS, Mode::empty()) {
            Ok(_) if depth + 1 >= HOIST_DEPTH => return hoist(dir, name, r),
            Ok(sub) => {
                empty_dir(&sub, depth + 1, r)?;
                match rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR) {
                    Ok(()) | Err(Errno::NOENT) => return Ok(()),
                    // Swapped or refilled meanwhile: look again.
                    Err(Errno::NOTEMPTY | Errno::NOTDIR) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Err(Errno::NOTDIR | Errno::LOOP) => match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
                Ok(()) | Err(Errno::NOENT) => return Ok(()),
                Err(Errno::ISDIR) => {}
                Err(e) => return Err(e.into()),
            },
            Err(Errno::NOENT) => return Ok(()),
            // A 0000 directory of ours, without the privilege to override:
            // its mode is set through an O_PATH descriptor of that very
            // inode (never through a path), then it is opened again.
            Err(Errno::ACCESS) => {
                let flags = OFlags::PATH.union(OFlags::DIRECTORY).union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC);
                let p = rustix::fs::openat(dir, name, flags, Mode::empty())?;
                rustix::fs::chmod(format!("/proc/self/fd/{}", p.as_raw_fd()), Mode::from_raw_mode(0o700))?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(io::Error::other("an entry of the job's tree keeps changing"))
}

/// Visits `root` and everything below it, parents before children, never
/// following links.
fn walk(root: &Path, visit: &mut dyn FnMut(&Path, &std::fs::Metadata) -> io::Result<()>) -> io::Result<()> {
    let mut stack = vec![root.to_owned()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path)?;
        visit(&path, &meta)?;
        if meta.file_type().is_dir() {
            for entry in std::fs::read_dir(&path)? {
                stack.push(entry?.path());
            }
        }
    }
    Ok(())
}

/// Removes job directories under `jobs` that no running job holds (their
/// runner crashed), then prunes every mirror's worktree list. Returns the
/// ids removed.
pub fn clean_orphans(jobs: &Path, locks: &Path, mirrors: &Path) -> Vec<String> {
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(jobs) else { return removed };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !crate::validate::valid_job_id(&name) {
            continue;
        }
        // A running job holds its lock for its whole life; a free lock is a dead runner.
        let Ok(_held) = common::lock::NamedLock::acquire(locks, &name, std::time::Duration::ZERO) else { continue };
        let dir = JobDir::new(jobs, &name);
        kill_leftovers(&name, &dir.root);
        if dir.remove().is_ok() {
            // Still holding the lock: nobody else can be using this id.
            let _ = std::fs::remove_file(locks.join(format!("{name}.lock")));
            removed.push(name);
        }
    }
    if !removed.is_empty() {
        prune_all(mirrors);
    }
    removed
}

/// Kills what a dead runner's job left running: every process whose
/// environment names the job (`OPENCLAW_JOB_ID`) or whose working
/// directory is inside its directory, repeatedly, since a process killed
/// here may have had children. A job that cleared its environment and left
/// its directories is not found (docs/runner.md, Limits).
pub fn kill_leftovers(job_id: &str, root: &Path) -> usize {
    use std::os::unix::ffi::OsStrExt;
    let want = format!("OPENCLAW_JOB_ID={job_id}");
    let me = std::process::id();
    let mut killed = 0;
    for _ in 0..20 {
        let Ok(entries) = std::fs::read_dir("/proc") else { return killed };
        let mut found = 0;
        for e in entries.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
            if pid == me {
                continue;
            }
            let proc_dir = e.path();
            let by_env = std::fs::read(proc_dir.join("environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|v| v == want.as_bytes()));
            let by_cwd = std::fs::read_link(proc_dir.join("cwd")).is_ok_and(|cwd| {
                cwd.starts_with(root) || cwd.as_os_str().as_bytes().starts_with(root.as_os_str().as_bytes())
            });
            if (by_env || by_cwd)
                && let Some(p) = rustix::process::Pid::from_raw(pid as i32)
                && rustix::process::kill_process(p, rustix::process::Signal::KILL).is_ok()
            {
                found += 1;
            }
        }
        killed += found;
        if found == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    killed
}

/// `git worktree prune` in every mirror (best effort: a stale entry only
/// costs a line in the mirror's metadata, and the next run prunes again).
pub fn prune_all(mirrors: &Path) {
    let Ok(entries) = std::fs::read_dir(mirrors) else { return };
    for entry in entries.flatten() {
        let _ = crate::git::run(&entry.path(), gitargs!["worktree", "prune"], LOCAL_TIMEOUT);
    }
}
