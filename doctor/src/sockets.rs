//! The kernel's socket table: TCP listeners and unconnected UDP sockets from
//! `/proc/net/{tcp,tcp6,udp,udp6}`, with owners from `/proc/*/fd`.
//!
//! Sockets whose owner cannot be read are kept with an empty owner list,
//! never dropped, and the number of processes we could not inspect is
//! counted so the report can say that root gives full attribution.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;

use common::policy::Proto;
use procfs::ProcError;
use procfs::net::{TcpState, UdpState};
use procfs::process::FDTarget;
use serde::Serialize;

/// A process holding a socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct OwnerInfo {
    pub(crate) pid: u32,
    /// Real path of the executable; `None` when unreadable.
    pub(crate) exe: Option<PathBuf>,
    /// The systemd unit from the process's cgroup, when it has one.
    pub(crate) unit: Option<String>,
}

/// One listening socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListenSocket {
    pub(crate) proto: Proto,
    pub(crate) local: SocketAddr,
    pub(crate) inode: u64,
    /// Every process holding it (forked servers share sockets); empty when unknown.
    pub(crate) owners: Vec<OwnerInfo>,
}

/// What the kernel says is listening.
#[derive(Debug, Clone, Default)]
pub(crate) struct SocketTable {
    pub(crate) sockets: Vec<ListenSocket>,
    /// Processes whose descriptors we were not allowed to read.
    pub(crate) unreadable_processes: usize,
}

/// Reads the table for this process's network namespace.
pub(crate) fn gather() -> Result<SocketTable, String> {
    let mut sockets = Vec::new();
    let table_err = |name: &str, e: ProcError| format!("/proc/net/{name}: {e}");
    for e in procfs::net::tcp().map_err(|e| table_err("tcp", e))? {
        if e.state == TcpState::Listen {
            sockets.push((Proto::Tcp, e.local_address, e.inode));
        }
    }
    for e in optional_v6(procfs::net::tcp6()).map_err(|e| table_err("tcp6", e))? {
        if e.state == TcpState::Listen {
            sockets.push((Proto::Tcp, e.local_address, e.inode));
        }
    }
    for e in procfs::net::udp().map_err(|e| table_err("udp", e))? {
        if e.state == UdpState::Close {
            sockets.push((Proto::Udp, e.local_address, e.inode));
        }
    }
    for e in optional_v6(procfs::net::udp6()).map_err(|e| table_err("udp6", e))? {
        if e.state == UdpState::Close {
            sockets.push((Proto::Udp, e.local_address, e.inode));
        }
    }
    let wanted: HashSet<u64> = sockets.iter().map(|(_, _, inode)| *inode).collect();
    let (owners, unreadable_processes) = if wanted.is_empty() { (BTreeMap::new(), 0) } else { owners_of(&wanted)? };
    let mut res: Vec<ListenSocket> = sockets
        .into_iter()
        .map(|(proto, local, inode)| ListenSocket {
            proto,
            local,
            inode,
            owners: owners.get(&inode).cloned().unwrap_or_default(),
        })
        .collect();
    res.sort_by_key(|s| (s.local.port(), s.proto == Proto::Udp, s.local.ip()));
    Ok(SocketTable { sockets: res, unreadable_processes })
}

/// A kernel built without IPv6 has no tcp6/udp6 file: that is an empty table.
fn optional_v6<T>(res: Result<Vec<T>, ProcError>) -> Result<Vec<T>, ProcError> {
    match res {
        Err(ProcError::NotFound(_)) => Ok(Vec::new()),
        other => other,
    }
}

fn owners_of(wanted: &HashSet<u64>) -> Result<(BTreeMap<u64, Vec<OwnerInfo>>, usize), String> {
    let mut owners: BTreeMap<u64, Vec<OwnerInfo>> = BTreeMap::new();
    let mut unreadable = 0;
    for process in procfs::process::all_processes().map_err(|e| format!("/proc: {e}"))? {
        // A process that exits while we look is simply gone.
        let Ok(process) = process else { continue };
        let fds = match process.fd() {
            Ok(fds) => fds,
            Err(ProcError::PermissionDenied(_)) => {
                unreadable += 1;
                continue;
            }
            Err(_) => continue,
        };
        let mut held: Vec<u64> = fds
            .filter_map(|fd| match fd.ok()?.target {
                FDTarget::Socket(inode) if wanted.contains(&inode) => Some(inode),
                _ => None,
            })
            .collect();
        if held.is_empty() {
            continue;
        }
        held.sort_unstable();
        held.dedup();
        let info = OwnerInfo {
            pid: process.pid as u32,
            exe: process.exe().ok(),
            unit: std::fs::read_to_string(format!("/proc/{}/cgroup", process.pid))
                .ok()
                .and_then(|c| unit_from_cgroup(&c)),
        };
        for inode in held {
            owners.entry(inode).or_default().push(info.clone());
        }
    }
    Ok((owners, unreadable))
}

/// `0::/system.slice/ssh.service` → `ssh.service`.
pub(crate) fn unit_from_cgroup(cgroup: &str) -> Option<String> {
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
