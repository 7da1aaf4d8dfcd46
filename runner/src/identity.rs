//! Who a job runs as. `run_as = "dynamic"` (the default) gives every run a
//! uid and gid of its own from `[runner] dynamic_uids` (61184–65519 unless
//! set, as systemd's `DynamicUser=`), leased for the run's whole life
//! under systemd's own lock for dynamic uids (an exclusive `flock` on
//! `/run/systemd/dynamic-uid/<uid>`, the file unlinked before the lock is
//! let go), so neither another run (of any runner on the host, whatever
//! its state directory) nor a `DynamicUser=` service started meanwhile
//! gets the same uid. No other run, and no host process, shares it, so what the
//! kernel keeps per uid (keyrings, the process count, signal and ptrace
//! rights, file ownership) reaches no one else. A uid is skipped when
//! `/etc/passwd` names it, `/etc/group` names its gid, the host's user
//! database names either (`getent`, through NSS: systemd's userdb, LDAP,
//! SSSD), `/etc/subuid` or `/etc/subgid` hands it to someone's user
//! namespaces, any thread holds it
//! (real, effective, saved, filesystem or supplementary id), or a job
//! directory left under the run directory, or anything in one, is owned by
//! it. Its files go with the job
//! directory at the end of the run; its processes die with the job's PID
//! namespace.
//!
//! The choice is a pure function ([`pick`]) over what was gathered.

use std::collections::BTreeSet;
use std::fs::{File, TryLockError};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::passwd::User;

/// The keyword of `run_as` that asks for a uid per run.
pub const DYNAMIC: &str = "dynamic";

/// systemd's registry of dynamic uids: one lock file per uid in use.
pub const REGISTRY: &str = "/run/systemd/dynamic-uid";

/// The default `[runner] dynamic_uids` (systemd's range for `DynamicUser=`).
pub const DEFAULT_RANGE: UidRange = UidRange { first: 61184, last: 65519 };

/// Who a job runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunAs {
    /// A fresh uid for each run.
    Dynamic,
    /// This user from `/etc/passwd`, for every run.
    User(User),
}

impl RunAs {
    /// Whether the job runs as root (uid 0).
    pub fn is_root(&self) -> bool {
        matches!(self, RunAs::User(u) if u.uid == 0)
    }

    /// The name shown (`dynamic` or the user's name).
    pub fn label(&self) -> &str {
        match self {
            RunAs::Dynamic => DYNAMIC,
            RunAs::User(u) => &u.name,
        }
    }
}

/// An inclusive range of uids (and the same gids).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UidRange {
    /// The first uid.
    pub first: u32,
    /// The last uid, included.
    pub last: u32,
}

impl UidRange {
    /// Why the range cannot be used, if it cannot: it must be ordered, start
    /// above the system ids (1000) and hold neither 65535 nor 4294967295
    /// (both mean "no id" to some calls).
    pub fn check(&self) -> Result<(), String> {
        if self.first > self.last {
            return Err(format!("{}-{} is not ordered", self.first, self.last));
        }
        if self.first < 1000 {
            return Err(format!("{} is a system id; start at 1000 or above", self.first));
        }
        if (self.first..=self.last).contains(&65535) || self.last == u32::MAX {
            return Err("65535 and 4294967295 mean `no id` to the kernel; leave them out".into());
        }
        Ok(())
    }

    /// How many ids it holds.
    pub fn len(&self) -> u64 {
        u64::from(self.last) - u64::from(self.first) + 1
    }

    /// Whether it holds no id (never, once checked).
    pub fn is_empty(&self) -> bool {
        self.first > self.last
    }
}

/// Why no uid could be leased.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// Every uid of the range is taken.
    #[error(
        "no free uid in [runner] dynamic_uids {first}-{last}: each is named in /etc/passwd or /etc/group, held by a process, owns a job directory, or leased to a running job"
    )]
    Exhausted {
        /// The range's first uid.
        first: u32,
        /// The range's last uid.
        last: u32,
    },
    /// The host's facts could not be read (fail closed: no guess).
    #[error("cannot lease a uid: {0}")]
    Facts(String),
}

/// A leased uid: held until dropped, which unlinks its lock file and then
/// lets the lock go (systemd's order: a holder that finds the file
/// unlinked knows to try again).
#[derive(Debug)]
pub struct Lease {
    /// The job's identity (`name` is `dynamic`).
    pub user: User,
    path: PathBuf,
    _lock: File,
}

impl Drop for Lease {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// What makes a uid unusable, gathered from the host.
#[derive(Debug, Default, Clone)]
pub struct Taken {
    /// Uids named in `/etc/passwd`, gids in `/etc/group`, uids of every
    /// process and owners of leftover job directories.
    pub ids: BTreeSet<u32>,
    /// Ranges of `/etc/subuid` and `/etc/subgid` (first, count).
    pub subordinate: Vec<(u32, u32)>,
}

impl Taken {
    /// Whether `id` is taken.
    pub fn holds(&self, id: u32) -> bool {
        self.ids.contains(&id)
            || self
                .subordinate
                .iter()
                .any(|&(first, count)| id >= first && u64::from(id) < u64::from(first) + u64::from(count))
    }
}

/// The candidates of `range` in the order they are tried: from `start`
/// (an offset, wrapped) round the range, skipping every id in `taken`
/// and `euid`. Pure.
pub fn pick(range: UidRange, start: u64, taken: &Taken, euid: u32) -> impl Iterator<Item = u32> + '_ {
    let len = range.len();
    let start = start % len;
    (0..len).map(move |i| range.first + ((start + i) % len) as u32).filter(move |id| *id != euid && !taken.holds(*id))
}

/// Leases a uid of `range`: the first candidate of [`pick`] whose lock in
/// `registry` ([`REGISTRY`]) is free. `jobs` is the run directory's
/// `runner/`, whose leftover job directories' owners are skipped.
pub fn lease(range: UidRange, registry: &Path, jobs: &Path, euid: u32) -> Result<Lease, LeaseError> {
    range.check().map_err(LeaseError::Facts)?;
    let taken = gather(jobs)?;
    let mut start = [0u8; 8];
    rustix::rand::getrandom(&mut start, rustix::rand::GetRandomFlags::empty())
        .map_err(|e| LeaseError::Facts(format!("cannot draw a starting point: {e}")))?;
    registry_dir(registry).map_err(LeaseError::Facts)?;
    for id in pick(range, u64::from_le_bytes(start), &taken, euid) {
        let path = registry.join(id.to_string());
        let Some(lock) = try_lock(&path).map_err(|e| LeaseError::Facts(format!("{}: {e}", path.display())))? else {
            continue;
        };
        let lease = Lease { user: User { name: DYNAMIC.into(), uid: id, gid: id }, path, _lock: lock };
        // A process that took this uid after `gather` (or a run that
        // leased it and died, leaving a process behind) keeps it taken, as
        // does a user or group the host's user database knows (systemd
        // asks the same of a uid it picks).
        if process_ids().map_err(LeaseError::Facts)?.contains(&id) || named_by_nss(id).map_err(LeaseError::Facts)? {
            continue;
        }
        return Ok(lease);
    }
    Err(LeaseError::Exhausted { first: range.first, last: range.last })
}

/// Makes sure the registry is a directory only root can change (0755 when
/// made here, as systemd makes it).
fn registry_dir(registry: &Path) -> Result<(), String> {
    if std::fs::symlink_metadata(registry).is_err() {
        match std::fs::DirBuilder::new().mode(0o755).create(registry) {
            // The umask may have narrowed it: systemd's lookups need 0755.
            Ok(()) => std::fs::set_permissions(registry, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .map_err(|e| format!("cannot open up {}: {e}", registry.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("cannot create {}: {e}", registry.display())),
        }
    }
    common::private_path::check_dir(registry, common::private_path::Class::Private)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Takes systemd's lock on one uid's file: `None` when someone holds it.
/// A file unlinked by its holder between our open and our lock is opened
/// again.
fn try_lock(path: &Path) -> std::io::Result<Option<File>> {
    loop {
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .mode(0o600)
            .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NOCTTY).bits() as i32)
            .open(path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(None),
            Err(TryLockError::Error(e)) => return Err(e),
        }
        if file.metadata()?.nlink() == 0 {
            continue;
        }
        // What systemd writes there: a name for the uid.
        file.set_len(0)?;
        file.write_all(
            format!("openclaw-job-{}", path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned()))
                .as_bytes(),
        )?;
        return Ok(Some(file));
    }
}

/// Everything that makes a uid unusable now.
fn gather(jobs: &Path) -> Result<Taken, LeaseError> {
    let fact = LeaseError::Facts;
    let mut ids = BTreeSet::new();
    let users = crate::passwd::load(Path::new(crate::passwd::PASSWD)).map_err(|e| fact(e.to_string()))?;
    ids.extend(users.iter().flat_map(|u| [u.uid, u.gid]));
    let groups =
        std::fs::read_to_string(crate::passwd::GROUP).map_err(|e| fact(format!("{}: {e}", crate::passwd::GROUP)))?;
    ids.extend(crate::passwd::parse_groups(&groups).map_err(fact)?.into_iter().map(|(_, gid)| gid));
    ids.extend(process_ids().map_err(fact)?);
    let mut subordinate = Vec::new();
    for file in ["/etc/subuid", "/etc/subgid"] {
        match std::fs::read_to_string(file) {
            Ok(text) => subordinate.extend(parse_subordinate(&text).map_err(|e| fact(format!("{file}: {e}")))?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(fact(format!("{file}: {e}"))),
        }
    }
    match std::fs::read_dir(jobs) {
        Ok(rd) => {
            // A job directory (its group is the job's gid) and what lies in
            // it (home, tmp, out, and what a removal cut short moved up).
            for entry in rd.flatten() {
                let Ok(m) = std::fs::symlink_metadata(entry.path()) else { continue };
                ids.extend([m.uid(), m.gid()]);
                let Ok(inner) = std::fs::read_dir(entry.path()) else { continue };
                for sub in inner.flatten() {
                    if let Ok(m) = std::fs::symlink_metadata(sub.path()) {
                        ids.extend([m.uid(), m.gid()]);
                    }
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(fact(format!("{}: {e}", jobs.display()))),
    }
    Ok(Taken { ids, subordinate })
}

/// The `(first, count)` ranges of a `/etc/subuid`-shaped text
/// (`name:first:count`; blank and `#` lines skipped). Pure.
pub fn parse_subordinate(text: &str) -> Result<Vec<(u32, u32)>, String> {
    let mut res = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#')) {
        let fields: Vec<&str> = line.split(':').collect();
        let [_, first, count] = fields.as_slice() else {
            return Err(format!("line {}: not `name:first:count`", i + 1));
        };
        let (Ok(first), Ok(count)) = (first.parse::<u32>(), count.parse::<u32>()) else {
            return Err(format!("line {}: not numbers", i + 1));
        };
        res.push((first, count));
    }
    Ok(res)
}

/// The name service's `getent` program (libc-bin).
const GETENT: &str = "/usr/bin/getent";

/// Whether the host's user database (through NSS) names `id` as a user or
/// a group: `getent` exits 0 when it finds one, 2 when it does not; any
/// other answer is an error (no guess).
fn named_by_nss(id: u32) -> Result<bool, String> {
    for db in ["passwd", "group"] {
        let out = common::process::run(GETENT, &[db, &id.to_string()], std::time::Duration::from_secs(10))
            .map_err(|e| format!("{GETENT} {db} {id}: {e}"))?;
        match out.status.code() {
            Some(0) => return Ok(true),
            Some(2) => {}
            other => return Err(format!("{GETENT} {db} {id} answered {other:?}: {}", out.stderr_line())),
        }
    }
    Ok(false)
}

/// Every uid and gid any thread of any process holds (real, effective,
/// saved, filesystem, supplementary): a thread can hold other credentials
/// than its process's leader, so each task is read.
fn process_ids() -> Result<BTreeSet<u32>, String> {
    let mut ids = BTreeSet::new();
    let rd = std::fs::read_dir("/proc").map_err(|e| format!("/proc: {e}"))?;
    for entry in rd.flatten() {
        let name = entry.file_name();
        if !name.as_encoded_bytes().iter().all(u8::is_ascii_digit) {
            continue;
        }
        // A process that exits meanwhile has nothing left to hold.
        let Ok(tasks) = std::fs::read_dir(entry.path().join("task")) else { continue };
        for task in tasks.flatten() {
            let Ok(status) = std::fs::read_to_string(task.path().join("status")) else { continue };
            ids.extend(ids_in_status(&status));
        }
    }
    Ok(ids)
}

/// The ids of a `/proc/<pid>/task/<tid>/status` text: its `Uid:`, `Gid:`
/// and `Groups:` lines. Pure.
pub fn ids_in_status(status: &str) -> impl Iterator<Item = u32> + '_ {
    status
        .lines()
        .filter_map(|line| ["Uid:", "Gid:", "Groups:"].iter().find_map(|key| line.strip_prefix(key)))
        .flat_map(|rest| rest.split_whitespace().filter_map(|s| s.parse::<u32>().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_wrap_round_the_range_and_skip_what_is_taken() {
        let range = UidRange { first: 100_000, last: 100_004 };
        let taken = Taken { ids: [100_001, 100_003].into(), subordinate: Vec::new() };
        let got: Vec<u32> = pick(range, 3, &taken, 100_004).collect();
        assert_eq!(got, [100_000, 100_002]);
        assert_eq!(pick(range, u64::MAX, &Taken::default(), 0).count(), 5);
    }

    #[test]
    fn every_id_of_a_task_counts_supplementary_groups_included() {
        let status = "Name:\tpy\nUid:\t65534\t70001\t65534\t70001\nGid:\t65534\t65534\t65534\t65534\nGroups:\t70002 70003\nNgid:\t0\n";
        let got: BTreeSet<u32> = ids_in_status(status).collect();
        assert_eq!(got, [65534, 70001, 70002, 70003].into());
        assert_eq!(ids_in_status("Groups:\nUid:\tx\n").count(), 0);
    }

    #[test]
    fn subordinate_ranges_are_taken_and_read_strictly() {
        let ranges = parse_subordinate("# x\nalice:100000:65536\n\nbob:165536:10\n").unwrap();
        assert_eq!(ranges, [(100_000, 65_536), (165_536, 10)]);
        let taken = Taken { ids: BTreeSet::new(), subordinate: ranges };
        assert!(taken.holds(100_000) && taken.holds(165_545) && !taken.holds(165_546) && !taken.holds(99_999));
        for bad in ["alice:100000\n", "alice:x:1\n", "a:1:2:3\n"] {
            assert!(parse_subordinate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ranges_holding_system_or_sentinel_ids_are_refused() {
        assert!(DEFAULT_RANGE.check().is_ok());
        for (first, last) in [(2000, 1000), (0, 10), (999, 2000), (65000, 65535), (70000, u32::MAX)] {
            assert!(UidRange { first, last }.check().is_err(), "{first}-{last}");
        }
    }
}
