//! The kernel's socket table: every socket that remote traffic can reach
//! (TCP listeners, unconnected UDP, UDP-Lite and raw IP sockets, listening
//! SCTP endpoints), with owners from `/proc/*/fd`, plus what the report
//! could not cover (a kind it could not read, other network namespaces) and
//! the interface facts the classifier needs.
//!
//! Sockets whose owner cannot be read are kept with an empty owner list,
//! never dropped, and the number of processes we could not inspect is
//! counted so the report can say that root gives full attribution.
//!
//! The TCP and UDP tables come from `common::host_net` (netlink
//! `sock_diag`, or `/proc/net/*` when that is refused), the other kinds from
//! `/proc/net/*` ([`procnet`]).

mod netfacts;
mod owner;
mod procnet;

pub(crate) use netfacts::{OtherNamespaces, route_localnet};
pub(crate) use procnet::Coverage;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use common::policy::{NetFacts, Privilege, Proto};
use serde::Serialize;

/// A process holding a socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct OwnerInfo {
    pub(crate) pid: u32,
    /// Real path of the executable; `None` when unreadable.
    pub(crate) exe: Option<PathBuf>,
    /// The systemd unit from the process's cgroup, when it has one.
    pub(crate) unit: Option<String>,
    /// Whether it is root in the initial user namespace (only such an owner can be exempted).
    pub(crate) privilege: Privilege,
}

/// One listening socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListenSocket {
    pub(crate) proto: Proto,
    pub(crate) local: SocketAddr,
    pub(crate) inode: u64,
    /// Every process holding it (forked servers share sockets); empty when unknown.
    pub(crate) owners: Vec<Arc<OwnerInfo>>,
}

/// What the kernel says is listening.
#[derive(Debug, Clone)]
pub(crate) struct SocketTable {
    pub(crate) sockets: Vec<ListenSocket>,
    /// Processes whose descriptors we were not allowed to read.
    pub(crate) unreadable_processes: usize,
    /// How each kind of socket was covered, in [`Proto::ALL`] order.
    pub(crate) kinds: Vec<(Proto, Coverage)>,
    /// Interface addresses and `route_localnet`.
    pub(crate) net: NetFacts,
    /// Facts that could not be read (interface addresses, sysctls).
    pub(crate) limitations: Vec<String>,
    /// Network namespaces this run did not audit.
    pub(crate) other_netns: OtherNamespaces,
}

/// Reads the table for this process's network namespace.
///
/// The `/proc/*/fd` scan (one `readlinkat` per descriptor on the host) is
/// the expensive part, so it runs split across the available cores while
/// this thread reads the socket tables; the two halves are joined by inode.
pub(crate) fn gather() -> Result<SocketTable, String> {
    let scan = std::thread::spawn(scan_socket_fds);
    let (mut sockets, source) = common::host_net::listening().map_err(|e| e.to_string())?;
    let source = source.describe();
    let mut kinds = vec![(Proto::Tcp, Coverage::Read(source.into())), (Proto::Udp, Coverage::Read(source.into()))];
    for proto in [Proto::UdpLite, Proto::Sctp, Proto::Raw, Proto::Icmp] {
        kinds.push((proto, procnet::read_kind(proto, &mut sockets)));
    }
    let (net, limitations) = netfacts::gather();
    let PidScan { held, unreadable: unreadable_processes, netns, netns_unreadable } =
        scan.join().map_err(|_| "the /proc scan crashed".to_owned())??;
    let other_netns = netfacts::other_namespaces(netns, netns_unreadable);
    let wanted: HashSet<u64> = sockets.iter().map(|(_, _, inode)| *inode).collect();
    let mut owners: HashMap<u64, Vec<Arc<OwnerInfo>>> = HashMap::with_capacity(wanted.len());
    let mut infos: BTreeMap<u32, Arc<OwnerInfo>> = BTreeMap::new();
    let initial_userns = owner::initial_userns();
    for (inode, pid) in held.into_iter().filter(|(inode, _)| wanted.contains(inode)) {
        let info = infos.entry(pid).or_insert_with(|| Arc::new(owner::read(pid, &initial_userns)));
        let list = owners.entry(inode).or_default();
        if !list.iter().any(|o| o.pid == pid) {
            list.push(Arc::clone(info));
        }
    }
    let mut res: Vec<ListenSocket> = sockets
        .into_iter()
        .map(|(proto, local, inode)| ListenSocket {
            proto,
            local,
            inode,
            // An SCTP endpoint bound to several addresses is one inode on several rows.
            owners: owners.get(&inode).cloned().unwrap_or_default(),
        })
        .collect();
    res.sort_by_key(|s| (s.proto == Proto::Raw, s.local.port(), s.proto, s.local.ip()));
    Ok(SocketTable { sockets: res, unreadable_processes, kinds, net, limitations, other_netns })
}

pub(crate) use common::host_net::RawSocket;

/// Every (socket inode, pid) pair on the host, and how many processes we
/// were not allowed to inspect.
///
/// One `readlinkat` per descriptor against the open `/proc/<pid>/fd`
/// directory, as `ss -p` does (procfs's `Process::fd()` also opens and stats
/// every descriptor); pids are split across up to four threads.
/// What one pass over `/proc/<pid>/` found: the sockets each process holds
/// and the network namespace each lives in (one walk of /proc serves both).
#[derive(Default)]
struct PidScan {
    /// `(socket inode, pid)` for every socket descriptor.
    held: Vec<(u64, u32)>,
    /// Processes whose descriptors could not be read (not root).
    unreadable: usize,
    /// `/proc/<pid>/ns/net` inodes.
    netns: BTreeSet<u64>,
    /// Processes whose network namespace could not be read.
    netns_unreadable: usize,
}

fn scan_socket_fds() -> Result<PidScan, String> {
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
                res.netns.extend(target.to_str().ok().and_then(netfacts::parse_inode));
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
pub(crate) fn socket_inode(link: &[u8]) -> Option<u64> {
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

    #[test]
    fn our_own_listener_is_found_with_us_as_owner() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let table = gather().unwrap();
        let ours =
            table.sockets.iter().find(|s| s.proto == Proto::Tcp && s.local.port() == port).expect("listener in table");
        assert_eq!(ours.local.ip().to_string(), "127.0.0.1");
        assert!(ours.owners.iter().any(|o| o.pid == std::process::id()), "{ours:?}");
    }

    #[test]
    fn a_connected_udp_client_is_not_a_listener_but_a_bound_one_is() {
        let bound = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        client.connect(bound.local_addr().unwrap()).unwrap();
        let table = gather().unwrap();
        let ports: Vec<u16> = table.sockets.iter().filter(|s| s.proto == Proto::Udp).map(|s| s.local.port()).collect();
        assert!(ports.contains(&bound.local_addr().unwrap().port()));
        assert!(!ports.contains(&client.local_addr().unwrap().port()));
    }
}
