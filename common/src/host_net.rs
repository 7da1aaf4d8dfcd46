//! What this network namespace listens on and which addresses are its own,
//! read from the kernel, once for every tool: the doctor's socket audit and
//! the guard's interlock and post-fix checks read the same tables the same
//! way, so they cannot disagree about what is listening or what is local.
//!
//! Listening sockets come over netlink `sock_diag` (as `ss` reads
//! them), or from `/proc/net/{tcp,tcp6,udp,udp6}` when netlink is refused
//! (a seccomp filter, an old kernel); a test checks that both agree.
//! Interface addresses come over `NETLINK_ROUTE` (as `ip addr`
//! reads them). Neither is ever guessed: a table that cannot be read is an
//! error, never an empty list.

mod addrs;
mod diag;
mod netlink;
pub mod owner;
pub mod procs;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use procfs::ProcError;
use procfs::net::{TcpState, UdpState};

use crate::policy::{IfAddr, Proto};

/// A listening socket: its kind, local address and socket inode.
pub type RawSocket = (Proto, SocketAddr, u64);

/// Why a table could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NetError(String);

/// Where the TCP and UDP tables were read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableSource {
    /// Netlink `sock_diag`.
    SockDiag,
    /// `/proc/net/{tcp,tcp6,udp,udp6}`, netlink being refused.
    ProcNet,
}

impl TableSource {
    /// How a report names it.
    pub fn describe(self) -> &'static str {
        match self {
            TableSource::SockDiag => "netlink sock_diag",
            TableSource::ProcNet => "/proc/net/{tcp,tcp6,udp,udp6}",
        }
    }
}

/// Every TCP listener and bound, unconnected UDP socket, IPv4 and IPv6.
pub fn listening() -> Result<(Vec<RawSocket>, TableSource), NetError> {
    match diag::listening() {
        Ok(found) => Ok((found, TableSource::SockDiag)),
        Err(_) => Ok((read_tables().map_err(NetError)?, TableSource::ProcNet)),
    }
}

/// The local address of every TCP listener.
pub fn tcp_listeners() -> Result<Vec<SocketAddr>, NetError> {
    let (all, _) = listening()?;
    Ok(all.into_iter().filter(|(proto, _, _)| *proto == Proto::Tcp).map(|(_, addr, _)| addr).collect())
}

/// Every TCP listener's local address, the uid that owns its socket and
/// its inode (netlink `sock_diag`, else `/proc/net/tcp{,6}`): who could
/// have bound it, and what to look for in `/proc/<pid>/fd`.
pub fn tcp_listener_uids() -> Result<Vec<(SocketAddr, u32, u64)>, NetError> {
    if let Ok(found) = diag::tcp_listener_uids() {
        return Ok(found);
    }
    let mut res = Vec::new();
    for (name, table) in [("tcp", procfs::net::tcp()), ("tcp6", optional_v6(procfs::net::tcp6()))] {
        let table = table.map_err(|e| NetError(format!("/proc/net/{name}: {e}")))?;
        res.extend(
            table.into_iter().filter(|e| e.state == TcpState::Listen).map(|e| (e.local_address, e.uid, e.inode)),
        );
    }
    Ok(res)
}

/// Every established TCP connection as (local, remote, the uid that owns
/// its socket, its inode), over netlink `sock_diag` only: a connection's
/// owner decides whether it is evidence, so there is no `/proc` fallback
/// that guesses.
pub fn tcp_established() -> Result<Vec<(SocketAddr, SocketAddr, u32, u64)>, NetError> {
    diag::tcp_established().map_err(NetError)
}

/// Every address of every interface.
pub fn interface_addresses() -> Result<Vec<IfAddr>, NetError> {
    addrs::interface_addresses().map_err(NetError)
}

/// The IPv4 addresses of this namespace's interfaces. Even loopback missing
/// means the list cannot be trusted: that is an error, not an empty set.
pub fn local_v4() -> Result<BTreeSet<Ipv4Addr>, NetError> {
    let set: BTreeSet<Ipv4Addr> = interface_addresses()?
        .into_iter()
        .filter_map(|a| match a.ip {
            IpAddr::V4(ip) => Some(ip),
            IpAddr::V6(_) => None,
        })
        .collect();
    if set.is_empty() {
        return Err(NetError("no IPv4 address on any interface (not even loopback)".into()));
    }
    Ok(set)
}

fn read_tables() -> Result<Vec<RawSocket>, String> {
    let mut sockets = Vec::new();
    let table_err = |name: &str, e: ProcError| format!("/proc/net/{name}: {e}");
    for (name, table) in [("tcp", procfs::net::tcp()), ("tcp6", optional_v6(procfs::net::tcp6()))] {
        let listening = table.map_err(|e| table_err(name, e))?.into_iter().filter(|e| e.state == TcpState::Listen);
        sockets.extend(listening.map(|e| (Proto::Tcp, e.local_address, e.inode)));
    }
    // A bound but unconnected UDP socket is in state CLOSE; a connected client is ESTABLISHED.
    for (name, table) in [("udp", procfs::net::udp()), ("udp6", optional_v6(procfs::net::udp6()))] {
        let bound = table.map_err(|e| table_err(name, e))?.into_iter().filter(|e| e.state == UdpState::Close);
        sockets.extend(bound.map(|e| (Proto::Udp, e.local_address, e.inode)));
    }
    Ok(sockets)
}

/// A kernel built without IPv6 has no tcp6/udp6 file: that is an empty table.
fn optional_v6<T>(res: Result<Vec<T>, ProcError>) -> Result<Vec<T>, ProcError> {
    match res {
        Err(ProcError::NotFound(_)) => Ok(Vec::new()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netlink_and_proc_net_agree_on_the_listening_sockets() {
        // Other tests bind sockets concurrently, so compare the ones we own.
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp6 = std::net::TcpListener::bind("[::1]:0").ok();
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut ours = vec![(Proto::Tcp, tcp.local_addr().unwrap()), (Proto::Udp, udp.local_addr().unwrap())];
        ours.extend(tcp6.as_ref().map(|l| (Proto::Tcp, l.local_addr().unwrap())));
        let from_netlink = diag::listening().unwrap();
        let from_proc = read_tables().unwrap();
        for (proto, addr) in ours {
            let find =
                |v: &[RawSocket]| v.iter().find(|(p, a, _)| *p == proto && *a == addr).map(|(_, _, inode)| *inode);
            let (n, p) = (find(&from_netlink), find(&from_proc));
            assert!(n.is_some() && n == p, "{proto} {addr}: netlink {n:?}, /proc/net {p:?}");
        }
        assert!(from_netlink.iter().all(|(_, _, inode)| *inode != 0));
    }

    #[test]
    fn a_listener_is_owned_by_the_uid_that_bound_it() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let uid = rustix::process::geteuid().as_raw();
        let found = tcp_listener_uids().unwrap();
        assert!(found.iter().any(|&(a, u, i)| a == addr && u == uid && i != 0), "{addr} owned by {uid} in {found:?}");
    }

    #[test]
    fn tcp_listeners_hold_our_listener_and_not_a_udp_socket_or_a_client() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let got = tcp_listeners().unwrap();
        assert!(got.contains(&listener.local_addr().unwrap()));
        assert!(!got.contains(&udp.local_addr().unwrap()));
        assert!(!got.contains(&client.local_addr().unwrap()));
    }

    #[test]
    fn local_v4_holds_loopback() {
        assert!(local_v4().unwrap().contains(&Ipv4Addr::LOCALHOST));
    }
}
