//! Which process holds which socket: one walk of `/proc/<pid>/fd` (and
//! `/proc/<pid>/ns/net`) for the whole host. The doctor joins it with the
//! listening sockets; the guard uses it to name who holds sshd's ports.

use std::collections::BTreeSet;

/// What one pass over `/proc/<pid>/` found: the sockets each process holds
/// and the network namespace each lives in (one walk of /proc serves both).
#[derive(Debug, Default)]
pub struct PidScan {
    /// `(socket inode, pid)` for every socket descriptor.
    pub held: Vec<(u64, u32)>,
    /// Processes whose descriptors could not be read (not root).
    pub unreadable: usize,
    /// `/proc/<pid>/ns/net` inodes.
    pub netns: BTreeSet<u64>,
    /// Processes whose network namespace could not be read.
    pub netns_unreadable: usize,
}

/// Every (socket inode, pid) pair on the host, how many processes we were
/// not allowed to inspect, and every network namespace seen.
///
/// One `readlinkat` per descriptor against the open `/proc/<pid>/fd`
/// directory, as `ss -p` does (procfs's `Process::fd()` also opens and stats
/// every descriptor); pids are split across up to four threads.
pub fn scan_socket_fds() -> Result<PidScan, String> {
    let pids: Vec<u32> = std::fs::read_dir("/proc")
        .map_err(|e| format!("/proc: {e}"))?
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .collect();
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4);
    // Round-robin, not contiguous chunks: busy servers tend to have
    // neighbouring pids, and one chunk holding all of them serialises the scan.
    let parts: Vec<Vec<u32>> = (0..workers).map(|w| pids.iter().skip(w).step_by(workers).copied().collect()).collect();
    let results: Vec<PidScan> = std::thread::scope(|scope| {
        let handles: Vec<_> = parts.iter().map(|part| scope.spawn(move || scan_pids(part))).collect();
        handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
    });
    let mut all = PidScan::default();
    for part in results {
        all.held.extend(part.held);
        all.unreadable += part.unreadable;
        all.netns.extend(part.netns);
        all.netns_unreadable += part.netns_unreadable;
    }
    Ok(all)
}

fn scan_pids(pids: &[u32]) -> PidScan {
    use rustix::fs::{CWD, Dir, Mode, OFlags, openat, readlinkat};
    let mut res = PidScan::default();
    let mut link = Vec::with_capacity(64);
    for &pid in pids {
        link.clear();
        match readlinkat(CWD, format!("/proc/{pid}/ns/net"), std::mem::take(&mut link)) {
            Ok(target) => {
                res.netns.extend(target.to_str().ok().and_then(super::owner::parse_ns_link));
                link = target.into_bytes();
            }
            Err(rustix::io::Errno::ACCESS | rustix::io::Errno::PERM) => res.netns_unreadable += 1,
            Err(_) => {}
        }
        let fd_dir = match openat(
            CWD,
            format!("/proc/{pid}/fd"),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::ACCESS | rustix::io::Errno::PERM) => {
                res.unreadable += 1;
                continue;
            }
            // A process that exits while we look is simply gone.
            Err(_) => continue,
        };
        let Ok(dir) = Dir::read_from(&fd_dir) else { continue };
        for fd_entry in dir.flatten() {
            let name = fd_entry.file_name();
            if name.to_bytes().first() == Some(&b'.') {
                continue;
            }
            link.clear();
            let Ok(target) = readlinkat(&fd_dir, name, std::mem::take(&mut link)) else { continue };
            if let Some(inode) = socket_inode(target.as_bytes()) {
                res.held.push((inode, pid));
            }
            link = target.into_bytes();
        }
    }
    res
}

/// `socket:[12345]` → 12345.
pub fn socket_inode(link: &[u8]) -> Option<u64> {
    std::str::from_utf8(link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_links_are_parsed_and_others_ignored() {
        assert_eq!(socket_inode(b"socket:[12345]"), Some(12345));
        assert_eq!(socket_inode(b"pipe:[12345]"), None);
        assert_eq!(socket_inode(b"/dev/null"), None);
        assert_eq!(socket_inode(b"socket:[x]"), None);
    }
}
