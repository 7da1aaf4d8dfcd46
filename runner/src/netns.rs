//! The one thing the job's init does to its own network namespace: bring
//! the loopback interface up (a new namespace starts with `lo` down), over
//! `NETLINK_ROUTE` with an acknowledged `RTM_NEWLINK`, as `ip link set lo
//! up` does. In a new namespace `lo` is always interface 1.

use rustix::net::netlink::SocketAddrNetlink;
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketType};

const RTM_NEWLINK: u16 = 16;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const IFF_UP: u32 = 0x1;
const LOOPBACK_INDEX: i32 = 1;
const HEADER: usize = 16;

/// The request: `nlmsghdr`, then `ifinfomsg` (family, pad, type, index,
/// flags, change) setting IFF_UP on interface 1.
pub(crate) fn request(seq: u32) -> Vec<u8> {
    let mut req = Vec::with_capacity(HEADER + 16);
    req.extend_from_slice(&((HEADER + 16) as u32).to_ne_bytes());
    req.extend_from_slice(&RTM_NEWLINK.to_ne_bytes());
    req.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
    req.extend_from_slice(&seq.to_ne_bytes());
    req.extend_from_slice(&0u32.to_ne_bytes());
    req.extend_from_slice(&[0, 0]);
    req.extend_from_slice(&0u16.to_ne_bytes());
    req.extend_from_slice(&LOOPBACK_INDEX.to_ne_bytes());
    req.extend_from_slice(&IFF_UP.to_ne_bytes());
    req.extend_from_slice(&IFF_UP.to_ne_bytes());
    req
}

/// Reads the kernel's acknowledgement: `Ok` only for an `NLMSG_ERROR`
/// carrying error 0 for our sequence number.
pub(crate) fn judge_ack(answer: &[u8], seq: u32) -> Result<(), String> {
    let word = |at: usize| answer.get(at..at + 4).map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
    let len = word(0).ok_or("short answer")? as usize;
    if len < HEADER + 4 || len > answer.len() {
        return Err(format!("answer length {len} out of bounds"));
    }
    let kind = u16::from_ne_bytes([answer[4], answer[5]]);
    if kind != NLMSG_ERROR {
        return Err(format!("answer of type {kind}, not an acknowledgement"));
    }
    if word(8) != Some(seq) {
        return Err("an answer to another request".into());
    }
    match word(HEADER).map(|e| (e as i32).unsigned_abs()) {
        Some(0) => Ok(()),
        Some(errno) => Err(format!("the kernel refused: errno {errno}")),
        None => Err("short acknowledgement".into()),
    }
}

/// Brings `lo` up in this process's network namespace.
pub(crate) fn loopback_up() -> Result<(), String> {
    let sock = rustix::net::socket(AddressFamily::NETLINK, SocketType::DGRAM, None)
        .map_err(|e| format!("netlink socket: {e}"))?;
    let seq = 0x0c1a_1001;
    rustix::net::sendto(&sock, &request(seq), SendFlags::empty(), &SocketAddrNetlink::new(0, 0))
        .map_err(|e| format!("netlink send: {e}"))?;
    let mut buf = [0u8; 4096];
    let (n, _) =
        rustix::net::recv(&sock, &mut buf[..], RecvFlags::empty()).map_err(|e| format!("netlink recv: {e}"))?;
    judge_ack(&buf[..n], seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(seq: u32, errno: i32) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&36u32.to_ne_bytes());
        b.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        b.extend_from_slice(&0u16.to_ne_bytes());
        b.extend_from_slice(&seq.to_ne_bytes());
        b.extend_from_slice(&0u32.to_ne_bytes());
        b.extend_from_slice(&errno.to_ne_bytes());
        b.extend_from_slice(&request(seq)[..16]);
        b
    }

    #[test]
    fn the_request_sets_up_on_interface_one() {
        let r = request(7);
        assert_eq!(r.len(), 32);
        assert_eq!(u32::from_ne_bytes(r[0..4].try_into().unwrap()), 32);
        assert_eq!(i32::from_ne_bytes(r[20..24].try_into().unwrap()), 1);
        assert_eq!(u32::from_ne_bytes(r[24..28].try_into().unwrap()) & IFF_UP, IFF_UP);
        assert_eq!(u32::from_ne_bytes(r[28..32].try_into().unwrap()), IFF_UP);
    }

    #[test]
    fn only_a_zero_acknowledgement_of_our_request_is_success() {
        assert_eq!(judge_ack(&ack(7, 0), 7), Ok(()));
        assert!(judge_ack(&ack(7, -1), 7).unwrap_err().contains("errno 1"));
        assert!(judge_ack(&ack(8, 0), 7).unwrap_err().contains("another request"));
        assert!(judge_ack(&ack(7, 0)[..10], 7).is_err());
        let mut other = ack(7, 0);
        other[4..6].copy_from_slice(&RTM_NEWLINK.to_ne_bytes());
        assert!(judge_ack(&other, 7).unwrap_err().contains("not an acknowledgement"));
        let mut lying = ack(7, 0);
        lying[0..4].copy_from_slice(&9999u32.to_ne_bytes());
        assert!(judge_ack(&lying, 7).unwrap_err().contains("out of bounds"));
    }
}
