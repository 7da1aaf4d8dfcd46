//! Listening sockets from the kernel over netlink `sock_diag`, as `ss` reads
//! them: the kernel filters by state and sends binary records, instead of
//! formatting every socket of the namespace as text in `/proc/net/*`.
//!
//! Encoding follows `linux/inet_diag.h`; the netlink framing is [`netlink`]'s.
//! All parsing is bounds-checked byte slicing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::policy::Proto;

use super::{RawSocket, netlink};

const SOCK_DIAG_BY_FAMILY: u16 = 20;
const TCP_ESTABLISHED: u32 = 1;
const TCP_LISTEN: u32 = 10;
/// A bound, unconnected UDP socket; a connected one is ESTABLISHED (1).
const TCP_CLOSE: u32 = 7;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const MSG: usize = 72;

/// Every TCP listener and unconnected UDP socket, IPv4 and IPv6.
pub(crate) fn listening() -> Result<Vec<RawSocket>, String> {
    let mut res = Vec::new();
    for (proto, ip_proto, state) in [(Proto::Tcp, IPPROTO_TCP, TCP_LISTEN), (Proto::Udp, IPPROTO_UDP, TCP_CLOSE)] {
        for family in [AF_INET, AF_INET6] {
            dump(family, ip_proto, 1 << state, |d| res.push((proto, d.local, d.inode)))?;
        }
    }
    Ok(res)
}

/// Every TCP listener with the uid that owns its socket, IPv4 and IPv6.
pub(crate) fn tcp_listener_uids() -> Result<Vec<(SocketAddr, u32, u64)>, String> {
    let mut res = Vec::new();
    for family in [AF_INET, AF_INET6] {
        dump(family, IPPROTO_TCP, 1 << TCP_LISTEN, |d| res.push((d.local, d.uid, d.inode)))?;
    }
    Ok(res)
}

/// Every established TCP connection: (local, remote, owner's uid, inode), IPv4 and IPv6.
pub(crate) fn tcp_established() -> Result<Vec<(SocketAddr, SocketAddr, u32, u64)>, String> {
    let mut res = Vec::new();
    for family in [AF_INET, AF_INET6] {
        dump(family, IPPROTO_TCP, 1 << TCP_ESTABLISHED, |d| res.push((d.local, d.remote, d.uid, d.inode)))?;
    }
    Ok(res)
}

/// One socket as `inet_diag_msg` describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Diag {
    local: SocketAddr,
    remote: SocketAddr,
    inode: u64,
    uid: u32,
}

/// `inet_diag_req_v2`: family, protocol, ext, pad, states, then a zeroed
/// `inet_diag_sockid` (48 bytes).
fn request_body(family: u8, protocol: u8, states: u32) -> Vec<u8> {
    let mut body = Vec::with_capacity(56);
    body.extend_from_slice(&[family, protocol, 0, 0]);
    body.extend_from_slice(&states.to_ne_bytes());
    body.extend_from_slice(&[0u8; 48]);
    body
}

fn dump(family: u8, protocol: u8, states: u32, mut found: impl FnMut(Diag)) -> Result<(), String> {
    let seq = 0x0c1a_0000 | u32::from(family) << 8 | u32::from(protocol);
    netlink::dump(
        Some(rustix::net::netlink::SOCK_DIAG),
        SOCK_DIAG_BY_FAMILY,
        &request_body(family, protocol, states),
        seq,
        |kind, body| record(kind, body, &mut found),
    )
}

/// One `inet_diag_msg`: its local and remote addresses, socket inode and
/// owner's uid; other message types are skipped.
fn record(kind: u16, body: &[u8], found: &mut impl FnMut(Diag)) -> Result<(), String> {
    if kind != SOCK_DIAG_BY_FAMILY {
        return Ok(());
    }
    let m = body.get(..MSG).ok_or("short inet_diag_msg")?;
    let ip = |a: &[u8]| -> Result<IpAddr, String> {
        match m[0] {
            AF_INET => Ok(IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]))),
            AF_INET6 => {
                let octets: [u8; 16] = a.try_into().map_err(|_| "bad address")?;
                Ok(IpAddr::V6(Ipv6Addr::from(octets)))
            }
            other => Err(format!("unexpected address family {other}")),
        }
    };
    let local = SocketAddr::new(ip(&m[8..24])?, u16::from_be_bytes([m[4], m[5]]));
    let remote = SocketAddr::new(ip(&m[24..40])?, u16::from_be_bytes([m[6], m[7]]));
    let uid = u32::from_ne_bytes(m[64..68].try_into().map_err(|_| "short uid")?);
    let inode = u32::from_ne_bytes(m[68..72].try_into().map_err(|_| "short inode")?);
    found(Diag { local, remote, inode: u64::from(inode), uid });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host_net::netlink::HEADER;

    const NLMSG_ERROR: u16 = 2;
    const NLMSG_DONE: u16 = 3;

    /// One datagram as `dump` reads it; `Ok(true)` once NLMSG_DONE is seen.
    fn parse(b: &[u8], found: &mut impl FnMut(SocketAddr, u64, u32)) -> Result<bool, String> {
        netlink::parse(b, &mut |kind, body| record(kind, body, &mut |d: Diag| found(d.local, d.inode, d.uid)))
    }

    fn msg(family: u8, port: u16, addr: &[u8], inode: u32) -> Vec<u8> {
        msg_uid(family, port, addr, inode, 0)
    }

    fn msg_uid(family: u8, port: u16, addr: &[u8], inode: u32, uid: u32) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&((HEADER + MSG) as u32).to_ne_bytes());
        b.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        b.extend_from_slice(&[0u8; 10]);
        let mut m = [0u8; MSG];
        m[0] = family;
        m[4..6].copy_from_slice(&port.to_be_bytes());
        m[8..8 + addr.len()].copy_from_slice(addr);
        m[64..68].copy_from_slice(&uid.to_ne_bytes());
        m[68..72].copy_from_slice(&inode.to_ne_bytes());
        b.extend_from_slice(&m);
        b
    }

    #[test]
    fn records_decode_and_done_ends_the_dump() {
        let mut data = msg(AF_INET, 22, &[100, 101, 102, 103], 77);
        data.extend(msg_uid(AF_INET6, 8080, &Ipv6Addr::LOCALHOST.octets(), 78, 65534));
        let mut done = Vec::new();
        data.extend_from_slice(&(HEADER as u32).to_ne_bytes());
        data.extend_from_slice(&NLMSG_DONE.to_ne_bytes());
        data.extend_from_slice(&[0u8; 10]);
        let finished = parse(&data, &mut |a, i, u| done.push((a.to_string(), i, u))).unwrap();
        assert!(finished);
        assert_eq!(done, vec![("100.101.102.103:22".to_owned(), 77, 0), ("[::1]:8080".to_owned(), 78, 65534)]);
    }

    #[test]
    fn the_remote_side_of_a_connection_is_decoded() {
        let mut data = msg_uid(AF_INET, 2222, &[100, 101, 102, 103], 5, 0);
        let m = HEADER;
        data[m + 6..m + 8].copy_from_slice(&51000u16.to_be_bytes());
        data[m + 24..m + 28].copy_from_slice(&[100, 64, 0, 5]);
        let mut seen = Vec::new();
        netlink::parse(&data, &mut |kind, body| record(kind, body, &mut |d: Diag| seen.push(d))).unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].local.to_string(), "100.101.102.103:2222");
        assert_eq!(seen[0].remote.to_string(), "100.64.0.5:51000");
    }

    #[test]
    fn truncated_or_lying_lengths_are_errors_not_panics() {
        let data = msg(AF_INET, 22, &[127, 0, 0, 1], 1);
        assert!(parse(&data[..40], &mut |_, _, _| {}).is_err());
        let mut lying = data.clone();
        lying[0..4].copy_from_slice(&9999u32.to_ne_bytes());
        assert!(parse(&lying, &mut |_, _, _| {}).is_err());
        let mut error = data;
        error[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        assert!(parse(&error, &mut |_, _, _| {}).unwrap_err().contains("netlink error"));
    }
}
