//! Facts about a socket's owning process: its verified executable, its
//! systemd unit, and whether it is root in the initial user namespace.
//! The doctor's listener audit and the guard's check of who holds sshd's
//! ports read owners this one way.

use std::path::PathBuf;

use serde::Serialize;

use crate::policy::Privilege;

/// A process holding a socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OwnerInfo {
    /// Its pid.
    pub pid: u32,
    /// Real path of the executable; `None` when unreadable.
    pub exe: Option<PathBuf>,
    /// The systemd unit from the process's cgroup, when it has one.
    pub unit: Option<String>,
    /// Whether it is root in the initial user namespace (only such an owner can be exempted).
    pub privilege: Privilege,
}

/// The kernel's fixed inode number for the initial user namespace
/// (`PROC_USER_INIT_INO` in `include/linux/proc_ns.h`).
pub const INITIAL_USERNS_INO: u64 = 0xEFFF_FFFD;

/// Everything we read about one owner.
pub fn read(pid: u32, initial_userns: &Result<u64, String>) -> OwnerInfo {
    OwnerInfo {
        pid,
        exe: verified_exe(pid),
        unit: std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok().and_then(|c| unit_from_cgroup(&c)),
        privilege: privilege(pid, initial_userns),
    }
}

/// The inode of the initial user namespace, as this host shows it.
///
/// The reference is pid 1's user namespace. It must be the kernel's initial
/// one: if pid 1 lives in another (the doctor runs in a container), nothing
/// can be proven about any owner, so no exemption applies. When pid 1 is
/// unreadable (not root, `hidepid`), the doctor's own namespace stands in,
/// again only when it is the initial one; a doctor inside a user namespace
/// of its own cannot tell a host root from a namespace root.
pub fn initial_userns() -> Result<u64, String> {
    let check = |who: &str, ino: u64| {
        if ino == INITIAL_USERNS_INO {
            Ok(ino)
        } else {
            Err(format!("{who} is in user namespace {ino}, not the initial one, so no owner can be verified"))
        }
    };
    match userns_of("1") {
        Ok(ino) => check("pid 1", ino),
        Err(_) => match userns_of("self") {
            Ok(ino) => check("the doctor", ino),
            Err(e) => Err(format!("cannot read any user namespace to compare with ({e})")),
        },
    }
}

fn userns_of(pid: &str) -> Result<u64, String> {
    let link = std::fs::read_link(format!("/proc/{pid}/ns/user")).map_err(|e| format!("/proc/{pid}/ns/user: {e}"))?;
    parse_ns_link(&link.to_string_lossy())
        .ok_or_else(|| format!("/proc/{pid}/ns/user: unexpected `{}`", link.display()))
}

/// `user:[4026531837]` (or `net:[…]`, any namespace link) → 4026531837.
pub fn parse_ns_link(link: &str) -> Option<u64> {
    link.split_once(":[")?.1.strip_suffix(']')?.parse().ok()
}

/// Real and effective uid from `/proc/<pid>/status`.
pub fn uids(status: &str) -> Option<(u32, u32)> {
    let line = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    let mut ids = line.split_whitespace().map(str::parse::<u32>);
    Some((ids.next()?.ok()?, ids.next()?.ok()?))
}

/// Pure: root in the initial user namespace, from the owner's user namespace
/// inode, its uids, and the reference namespace.
pub fn judge_privilege(
    userns: Result<u64, String>,
    uids: Option<(u32, u32)>,
    initial: &Result<u64, String>,
) -> Privilege {
    let initial = match initial {
        Ok(ino) => *ino,
        Err(e) => return Privilege::Other(e.clone()),
    };
    match (userns, uids) {
        (Err(e), _) => Privilege::Other(format!("user namespace unreadable: {e}")),
        (_, None) => Privilege::Other("uids unreadable".into()),
        (Ok(ns), _) if ns != initial => {
            Privilege::Other(format!("in user namespace {ns}, not the initial one ({initial})"))
        }
        (Ok(_), Some((0, 0))) => Privilege::InitialRoot,
        (Ok(_), Some((real, effective))) => Privilege::Other(format!("real uid {real}, effective uid {effective}")),
    }
}

fn privilege(pid: u32, initial: &Result<u64, String>) -> Privilege {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok();
    judge_privilege(userns_of(&pid.to_string()), status.as_deref().and_then(uids), initial)
}

/// The owner's executable path, only if that path names the very file the
/// process runs *in our mount namespace*.
///
/// `/proc/<pid>/exe` shows the path as the process sees it: a user who
/// bind-mounts their own binary over `/usr/sbin/tailscaled` in a private mount
/// namespace would otherwise match tailscaled's exemption. When the device
/// and inode differ, the path is marked so that no exemption can match it.
pub fn verified_exe(pid: u32) -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let link = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    let running = std::fs::metadata(format!("/proc/{pid}/exe")).ok()?;
    let same_file = std::fs::metadata(&link).is_ok_and(|m| m.dev() == running.dev() && m.ino() == running.ino());
    if same_file {
        Some(link)
    } else {
        let mut marked = link.into_os_string();
        marked.push(" (not the same file in this mount namespace)");
        Some(PathBuf::from(marked))
    }
}

/// `0::/system.slice/ssh.service` → `ssh.service`.
pub fn unit_from_cgroup(cgroup: &str) -> Option<String> {
    cgroup
        .lines()
        .filter_map(|l| l.splitn(3, ':').nth(2))
        .flat_map(|path| path.rsplit('/'))
        .find_map(|part| [".service", ".socket", ".scope"].iter().any(|s| part.ends_with(s)).then(|| part.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_exe_verifies_and_a_missing_process_has_none() {
        let exe = verified_exe(std::process::id()).unwrap();
        assert_eq!(exe, std::env::current_exe().unwrap());
        assert_eq!(verified_exe(u32::MAX), None);
    }

    #[test]
    fn unit_is_read_from_the_cgroup_path() {
        assert_eq!(unit_from_cgroup("0::/system.slice/ssh.service\n").as_deref(), Some("ssh.service"));
        assert_eq!(unit_from_cgroup("0::/system.slice/docker-abc.scope\n").as_deref(), Some("docker-abc.scope"));
        assert_eq!(
            unit_from_cgroup("0::/user.slice/user-0.slice/session-3.scope\n").as_deref(),
            Some("session-3.scope")
        );
        assert_eq!(unit_from_cgroup("0::/\n"), None);
        assert_eq!(unit_from_cgroup(""), None);
    }

    #[test]
    fn only_uid_0_in_the_initial_user_namespace_is_initial_root() {
        let init: Result<u64, String> = Ok(INITIAL_USERNS_INO);
        assert_eq!(judge_privilege(Ok(INITIAL_USERNS_INO), Some((0, 0)), &init), Privilege::InitialRoot);
        let other = |p: Privilege| match p {
            Privilege::Other(why) => why,
            Privilege::InitialRoot => panic!("must not be initial root"),
        };
        assert!(other(judge_privilege(Ok(4026532201), Some((0, 0)), &init)).contains("4026532201"));
        assert!(other(judge_privilege(Ok(INITIAL_USERNS_INO), Some((0, 1000)), &init)).contains("effective uid 1000"));
        assert!(other(judge_privilege(Ok(INITIAL_USERNS_INO), Some((1000, 0)), &init)).contains("real uid 1000"));
        assert!(other(judge_privilege(Ok(INITIAL_USERNS_INO), None, &init)).contains("unreadable"));
        assert!(other(judge_privilege(Err("gone".into()), Some((0, 0)), &init)).contains("gone"));
        let container: Result<u64, String> = Err("pid 1 is in user namespace 5, not the initial one".into());
        assert!(other(judge_privilege(Ok(INITIAL_USERNS_INO), Some((0, 0)), &container)).contains("pid 1"));
    }

    #[test]
    fn status_and_namespace_links_parse() {
        assert_eq!(uids("Name:\tx\nUid:\t0\t1000\t0\t0\nGid:\t0\t0\t0\t0\n"), Some((0, 1000)));
        assert_eq!(uids("Name:\tx\n"), None);
        assert_eq!(uids("Uid:\tx\t0\n"), None);
        assert_eq!(parse_ns_link("user:[4026531837]"), Some(INITIAL_USERNS_INO));
        assert_eq!(parse_ns_link("user:[x]"), None);
        if userns_of("self") == Ok(INITIAL_USERNS_INO) {
            assert_eq!(initial_userns(), Ok(INITIAL_USERNS_INO));
        }
    }
}
