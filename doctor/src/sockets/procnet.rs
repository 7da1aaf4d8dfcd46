//! The socket kinds read as text from `/proc/net`: UDP-Lite and raw IP
//! (`/proc/net/{udplite,udplite6,raw,raw6}`, the `udp` format) and SCTP
//! endpoints (`/proc/net/sctp/eps`, present only while the sctp module is
//! loaded). Parsing is pure; [`read_kind`] does the IO and says whether the
//! kind was read, cannot exist on this kernel, or could not be read.

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use common::policy::Proto;
use serde::Serialize;

use super::RawSocket;

/// How one kind of socket was covered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "note", rename_all = "lowercase")]
pub(crate) enum Coverage {
    /// Read in full from the named source.
    Read(String),
    /// This kernel cannot have such sockets right now (module not loaded,
    /// protocol not built): nothing to audit.
    Absent(String),
    /// Could not be read: a limitation of this report.
    Unreadable(String),
}

/// `st` of an unconnected socket in the `udp`-format tables (TCP_CLOSE).
const UNCONNECTED: u8 = 0x07;
/// The send-only raw protocol.
const IPPROTO_RAW: u16 = 255;
/// SCTP_SS_LISTENING.
const SCTP_LISTENING: u8 = 10;

/// Reads one of the `/proc/net` kinds (UDP-Lite, raw or SCTP).
pub(crate) fn read_kind(proto: Proto, found: &mut Vec<RawSocket>) -> Coverage {
    let read = |name: &str| std::fs::read_to_string(format!("/proc/net/{name}"));
    match proto {
        Proto::UdpLite | Proto::Raw | Proto::Icmp => {
            let (v4, v6) = match proto {
                Proto::Raw => ("raw", "raw6"),
                Proto::Icmp => ("icmp", "icmp6"),
                _ => ("udplite", "udplite6"),
            };
            match read(v4) {
                Ok(text) => found.extend(parse_udp_format(&text, proto)),
                Err(e) if e.kind() == ErrorKind::NotFound && proto == Proto::UdpLite => {
                    return Coverage::Absent("this kernel has no UDP-Lite (/proc/net/udplite absent)".into());
                }
                Err(e) => return Coverage::Unreadable(format!("/proc/net/{v4}: {e}")),
            }
            match read(v6) {
                Ok(text) => found.extend(parse_udp_format(&text, proto)),
                // A kernel without IPv6 has no *6 table: nothing can bind there.
                Err(e) if e.kind() == ErrorKind::NotFound && !std::path::Path::new("/proc/net/if_inet6").exists() => {}
                Err(e) => return Coverage::Unreadable(format!("/proc/net/{v6}: {e}")),
            }
            Coverage::Read(format!("/proc/net/{v4}, /proc/net/{v6}"))
        }
        Proto::Sctp => match read("sctp/eps") {
            Ok(text) => match parse_sctp_eps(&text) {
                Ok(eps) => {
                    found.extend(eps);
                    Coverage::Read("/proc/net/sctp/eps".into())
                }
                Err(e) => Coverage::Unreadable(format!("/proc/net/sctp/eps: {e}")),
            },
            Err(e) if e.kind() == ErrorKind::NotFound && !std::path::Path::new("/proc/net/sctp").exists() => {
                Coverage::Absent("the sctp module is not loaded, so no SCTP socket exists".into())
            }
            Err(e) => Coverage::Unreadable(format!("/proc/net/sctp/eps: {e}")),
        },
        Proto::Tcp | Proto::Udp => Coverage::Unreadable("not a /proc/net text kind".into()),
    }
}

/// Unconnected sockets from a table in the `udp` format. For raw sockets
/// the "port" is the IP protocol number.
pub(crate) fn parse_udp_format(text: &str, proto: Proto) -> Vec<RawSocket> {
    let mut res = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(local), Some(st), Some(inode)) = (f.get(1), f.get(3), f.get(9)) else { continue };
        let (Some(addr), Ok(st), Ok(inode)) = (hex_socket_addr(local), u8::from_str_radix(st, 16), inode.parse())
        else {
            continue;
        };
        // An IPv4 IPPROTO_RAW (255) socket is send-only (raw(7)): nothing
        // reaches it. An IPv6 one does receive next-header-255 packets.
        if st == UNCONNECTED && !(proto == Proto::Raw && addr.port() == IPPROTO_RAW && addr.is_ipv4()) {
            res.push((proto, addr, inode));
        }
    }
    res
}

/// `0100007F:1F40` → 127.0.0.1:8000; IPv6 as four native-endian words.
fn hex_socket_addr(s: &str) -> Option<SocketAddr> {
    let (ip, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| u32::from_str_radix(ip.get(i * 8..i * 8 + 8)?, 16).ok().map(u32::to_ne_bytes);
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut octets = [0u8; 16];
            for i in 0..4 {
                octets[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(octets))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Listening endpoints of `/proc/net/sctp/eps`: `ENDPT SOCK STY SST HBKT
/// LPORT UID INODE LADDRS…`, one entry per local address (an endpoint bound
/// to several addresses is reachable on each).
pub(crate) fn parse_sctp_eps(text: &str) -> Result<Vec<RawSocket>, String> {
    let mut res = Vec::new();
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let bad = || format!("unexpected line `{}`", line.trim());
        let sst: u8 = f.get(3).and_then(|v| v.parse().ok()).ok_or_else(bad)?;
        let port: u16 = f.get(5).and_then(|v| v.parse().ok()).ok_or_else(bad)?;
        let inode: u64 = f.get(7).and_then(|v| v.parse().ok()).ok_or_else(bad)?;
        if sst != SCTP_LISTENING {
            continue;
        }
        let addrs = f.get(8..).unwrap_or_default();
        if addrs.is_empty() {
            return Err(bad());
        }
        for a in addrs {
            let ip: IpAddr = a.trim_start_matches('*').parse().map_err(|_| bad())?;
            res.push((Proto::Sctp, SocketAddr::new(ip, port), inode));
        }
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_format_tables_keep_unconnected_sockets_only() {
        let text = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
            1: 00000000:1B58 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 0\n\
            2: 0100007F:1B59 0100007F:0035 01 00000000:00000000 00:00000000 00000000     0        0 4243 2 0000000000000000 0\n";
        let got = parse_udp_format(text, Proto::UdpLite);
        assert_eq!(got, vec![(Proto::UdpLite, "0.0.0.0:7000".parse().unwrap(), 4242)]);
        let v6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
            5: 00000000000000000000000001000000:00FD 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 99 2 0000000000000000 0\n";
        assert_eq!(parse_udp_format(v6, Proto::Raw), vec![(Proto::Raw, "[::1]:253".parse().unwrap(), 99)]);
        assert!(parse_udp_format("header\ngarbage line\n", Proto::Raw).is_empty());
        // IPv6 IPPROTO_RAW sockets do receive (next header 255); IPv4 ones do not.
        let v6_255 = v6.replace(":00FD ", ":00FF ");
        assert_eq!(parse_udp_format(&v6_255, Proto::Raw), vec![(Proto::Raw, "[::1]:255".parse().unwrap(), 99)]);
        let v4_255 = text.replace("00000000:1B58", "00000000:00FF");
        assert!(parse_udp_format(&v4_255, Proto::Raw).is_empty(), "IPv4 IPPROTO_RAW sockets receive nothing");
    }

    #[test]
    fn sctp_endpoints_give_one_socket_per_address_and_garbage_is_an_error() {
        let text = " ENDPT     SOCK   STY SST HBKT LPORT   UID INODE LADDRS\n\
            ffff88017e0a0200 ffff880299f7fa00 2   10  29   7002     0 11887 0.0.0.0\n\
            ffff88017e0a0300 ffff880299f7fb00 1   10  30   7003     0 11888 192.168.1.5 ::1\n\
            ffff88017e0a0400 ffff880299f7fc00 1   7   31   7004     0 11889 10.0.0.1\n";
        let got = parse_sctp_eps(text).unwrap();
        let shown: Vec<String> = got.iter().map(|(_, a, i)| format!("{a} {i}")).collect();
        assert_eq!(shown, ["0.0.0.0:7002 11887", "192.168.1.5:7003 11888", "[::1]:7003 11888"]);
        assert!(parse_sctp_eps("header\nnot a line\n").is_err());
    }
}
