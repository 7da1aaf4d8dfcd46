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
mod procnet;

pub(crate) use netfacts::{OtherNamespaces, route_localnet};
pub(crate) use procnet::Coverage;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;

use common::host_net::owner;
pub(crate) use common::host_net::owner::OwnerInfo;
use common::host_net::procs::{PidScan, scan_socket_fds};
use common::policy::{NetFacts, Proto};

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

/// A table of `sockets` with every kind read, for tests.
#[cfg(test)]
pub(crate) fn test_table(sockets: Vec<ListenSocket>) -> SocketTable {
    SocketTable {
        sockets,
        unreadable_processes: 0,
        kinds: Proto::ALL.iter().map(|p| (*p, Coverage::Read("test".into()))).collect(),
        net: NetFacts::with_addresses(&[("tailscale0", "100.101.102.103".parse().unwrap())]),
        limitations: Vec::new(),
        other_netns: OtherNamespaces::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
