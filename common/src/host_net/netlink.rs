//! One netlink dump, shared by the socket tables (`sock_diag`) and the
//! interface facts (`NETLINK_ROUTE`): build the request, send it, and walk
//! the answer's messages until `NLMSG_DONE`. Encoding follows
//! `linux/netlink.h`; all parsing is bounds-checked byte slicing.

use rustix::net::Protocol;
use rustix::net::netlink::SocketAddrNetlink;
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketType};

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
/// `struct nlmsghdr`: length, type, flags, sequence number, port id.
pub(super) const HEADER: usize = 16;

/// Sends one dump request (`kind` with `body`, numbered `seq`) on a
/// `protocol` socket (`None`: `NETLINK_ROUTE`) and hands each answering
/// message's type and body to `on_msg`, until `NLMSG_DONE`. A kernel error,
/// a malformed message or an error from `on_msg` ends the dump as `Err`.
pub(super) fn dump(
    protocol: Option<Protocol>,
    kind: u16,
    body: &[u8],
    seq: u32,
    mut on_msg: impl FnMut(u16, &[u8]) -> Result<(), String>,
) -> Result<(), String> {
    let sock = rustix::net::socket(AddressFamily::NETLINK, SocketType::DGRAM, protocol)
        .map_err(|e| format!("netlink socket: {e}"))?;
    rustix::net::sendto(&sock, &request(kind, body, seq), SendFlags::empty(), &SocketAddrNetlink::new(0, 0))
        .map_err(|e| format!("netlink send: {e}"))?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let (n, _) =
            rustix::net::recv(&sock, &mut buf[..], RecvFlags::empty()).map_err(|e| format!("netlink recv: {e}"))?;
        if n == 0 {
            return Err("netlink: connection closed before NLMSG_DONE".into());
        }
        if parse(&buf[..n], &mut on_msg)? {
            return Ok(());
        }
    }
}

/// A dump request: the header, then `body`.
fn request(kind: u16, body: &[u8], seq: u32) -> Vec<u8> {
    let mut req = Vec::with_capacity(HEADER + body.len());
    req.extend_from_slice(&((HEADER + body.len()) as u32).to_ne_bytes());
    req.extend_from_slice(&kind.to_ne_bytes());
    req.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    req.extend_from_slice(&seq.to_ne_bytes());
    req.extend_from_slice(&0u32.to_ne_bytes());
    req.extend_from_slice(body);
    req
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Walks one datagram of netlink messages, handing each type and body
/// (bounded by its own length) to `on_msg`; `Ok(true)` once `NLMSG_DONE` is seen.
pub(super) fn parse(mut b: &[u8], on_msg: &mut impl FnMut(u16, &[u8]) -> Result<(), String>) -> Result<bool, String> {
    while b.len() >= HEADER {
        let len = u32_at(b, 0).ok_or("short header")? as usize;
        let kind = u16::from_ne_bytes([b[4], b[5]]);
        if len < HEADER || len > b.len() {
            return Err(format!("netlink message length {len} out of bounds"));
        }
        match kind {
            NLMSG_DONE => return Ok(true),
            NLMSG_ERROR => {
                let errno = u32_at(b, HEADER).map_or(0, |e| (e as i32).unsigned_abs());
                return Err(format!("netlink error {errno}"));
            }
            _ => on_msg(kind, &b[HEADER..len])?,
        }
        b = b.get((len + 3) & !3..).unwrap_or_default();
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u16, body: &[u8]) -> Vec<u8> {
        let mut m = request(kind, body, 7);
        m.resize((m.len() + 3) & !3, 0);
        m
    }

    #[test]
    fn messages_are_walked_in_order_until_done() {
        let mut data = message(20, &[1, 2, 3]);
        data.extend(message(20, &[4; 8]));
        data.extend(message(NLMSG_DONE, &[]));
        data.extend(message(20, &[9]));
        let mut seen = Vec::new();
        let done = parse(&data, &mut |k, b| {
            seen.push((k, b.to_vec()));
            Ok(())
        })
        .unwrap();
        assert!(done);
        assert_eq!(seen, vec![(20, vec![1, 2, 3]), (20, vec![4; 8])]);
        let mut count = 0;
        let finished = parse(&message(20, &[1]), &mut |_, _| {
            count += 1;
            Ok(())
        });
        assert_eq!((finished, count), (Ok(false), 1), "no NLMSG_DONE yet");
    }

    #[test]
    fn errors_lengths_and_callback_failures_end_the_dump() {
        let mut error = message(NLMSG_ERROR, &(-13i32).to_ne_bytes());
        assert_eq!(parse(&error, &mut |_, _| Ok(())).unwrap_err(), "netlink error 13");
        error[0..4].copy_from_slice(&9999u32.to_ne_bytes());
        assert!(parse(&error, &mut |_, _| Ok(())).unwrap_err().contains("out of bounds"));
        error[0..4].copy_from_slice(&4u32.to_ne_bytes());
        assert!(parse(&error, &mut |_, _| Ok(())).unwrap_err().contains("out of bounds"));
        assert_eq!(parse(&message(20, &[1]), &mut |_, _| Err("bad body".into())).unwrap_err(), "bad body");
    }
}
