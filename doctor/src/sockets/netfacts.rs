//! Facts about this network namespace that change what an address means,
//! read from the kernel: every interface address (netlink `RTM_GETLINK` and
//! `RTM_GETADDR`, as `ip addr` reads them), `route_localnet` per interface,
//! and how many *other* network namespaces exist (which this run cannot see).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use common::policy::{IfAddr, NetFacts};

use super::netlink;

const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const IFLA_IFNAME: u16 = 3;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;

/// Interface addresses and `route_localnet`; a part that cannot be read is
/// returned as a limitation (and, for addresses, as `Err` in the facts, so
/// nothing is taken to be on a Tailscale interface).
pub(crate) fn gather() -> (NetFacts, Vec<String>) {
    let mut limitations = Vec::new();
    let addresses = interface_addresses();
    if let Err(e) = &addresses {
        limitations.push(format!("interface addresses: {e}"));
    }
    let route_localnet = match route_localnet() {
        Ok(v) => v,
        Err(e) => {
            limitations.push(format!("route_localnet: {e}"));
            Vec::new()
        }
    };
    (NetFacts { addresses, route_localnet }, limitations)
}

/// Entries of `/proc/sys/net/ipv4/conf` other than `lo` whose
/// `route_localnet` is 1 (`all` turns it on for every interface; `default`
/// for every new one).
fn route_localnet() -> Result<Vec<String>, String> {
    let dir = "/proc/sys/net/ipv4/conf";
    let mut on = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| format!("{dir}: {e}"))?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "lo" {
            continue;
        }
        let path = entry.path().join("route_localnet");
        let value = match std::fs::read_to_string(&path) {
            Ok(v) => v,
            // An interface removed while we read is gone, not hidden.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        if value.trim() != "0" {
            on.push(name);
        }
    }
    on.sort();
    Ok(on)
}

fn interface_addresses() -> Result<Vec<IfAddr>, String> {
    let mut names = BTreeMap::new();
    // ifinfomsg: family, pad, type, index, flags, change (16 bytes).
    dump(RTM_GETLINK, &[0u8; 16], |kind, body| {
        if kind == RTM_NEWLINK
            && let Some(index) = body.get(4..8).map(|b| u32::from_ne_bytes(b.try_into().unwrap_or_default()))
            && let Some(name) = attrs(body.get(16..).unwrap_or_default()).find(|(t, _)| *t == IFLA_IFNAME)
        {
            let name = name.1.split(|b| *b == 0).next().unwrap_or_default();
            names.insert(index, String::from_utf8_lossy(name).into_owned());
        }
    })?;
    let mut res = Vec::new();
    // ifaddrmsg: family, prefixlen, flags, scope, index (8 bytes).
    dump(RTM_GETADDR, &[0u8; 8], |kind, body| {
        if kind != RTM_NEWADDR || body.len() < 8 {
            return;
        }
        let index = u32::from_ne_bytes(body[4..8].try_into().unwrap_or_default());
        let all: Vec<(u16, &[u8])> = attrs(&body[8..]).collect();
        // For IPv4, IFA_LOCAL is the interface's own address (IFA_ADDRESS is the peer on point-to-point links).
        let pick = all.iter().find(|(t, _)| *t == IFA_LOCAL).or_else(|| all.iter().find(|(t, _)| *t == IFA_ADDRESS));
        let ip = match pick.map(|(_, d)| *d) {
            Some(d) if d.len() == 4 => IpAddr::V4(Ipv4Addr::new(d[0], d[1], d[2], d[3])),
            Some(d) if d.len() == 16 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(d).unwrap_or_default())),
            _ => return,
        };
        let interface = names.get(&index).cloned().unwrap_or_else(|| format!("if#{index}"));
        res.push(IfAddr { interface, ip });
    })?;
    Ok(res)
}

/// Route attributes `(type, payload)` of a netlink message body.
fn attrs(mut b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let len = usize::from(u16::from_ne_bytes(b.get(0..2)?.try_into().ok()?));
        let kind = u16::from_ne_bytes(b.get(2..4)?.try_into().ok()?);
        let data = b.get(4..len)?;
        b = b.get((len + 3) & !3..).unwrap_or_default();
        Some((kind, data))
    })
}

/// One `NETLINK_ROUTE` dump; `on_msg` gets each message's type and body.
fn dump(kind: u16, body: &[u8], mut on_msg: impl FnMut(u16, &[u8])) -> Result<(), String> {
    netlink::dump(None, kind, body, 0x0c1a_0100 | u32::from(kind), |t, b| {
        on_msg(t, b);
        Ok(())
    })
}

/// Network namespaces other than ours: distinct `/proc/*/ns/net` inodes
/// plus `/run/netns` entries. `unreadable` counts processes whose namespace
/// we could not read (not root), so the number is a lower bound then.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct OtherNamespaces {
    pub(crate) count: usize,
    pub(crate) unreadable: usize,
}

/// The other namespaces, from the `/proc/<pid>/ns/net` inodes the socket
/// scan read (`seen`; `unreadable` processes it could not) plus `/run/netns`.
pub(crate) fn other_namespaces(mut seen: BTreeSet<u64>, unreadable: usize) -> OtherNamespaces {
    use std::os::unix::fs::MetadataExt;
    let ours = std::fs::metadata("/proc/self/ns/net").map(|m| m.ino()).ok();
    for entry in std::fs::read_dir("/run/netns").into_iter().flatten().flatten() {
        if let Ok(m) = std::fs::metadata(entry.path()) {
            seen.insert(m.ino());
        }
    }
    if let Some(ours) = ours {
        seen.remove(&ours);
    }
    OtherNamespaces { count: seen.len(), unreadable }
}

/// `net:[4026531840]` → 4026531840.
pub(crate) fn parse_inode(link: &str) -> Option<u64> {
    link.split_once(":[")?.1.strip_suffix(']')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_namespace_has_loopback_addresses_and_a_readable_route_localnet() {
        let (facts, limitations) = gather();
        assert!(limitations.is_empty(), "{limitations:?}");
        let addrs = facts.addresses.unwrap();
        assert!(addrs.iter().any(|a| a.interface == "lo" && a.ip == IpAddr::V4(Ipv4Addr::LOCALHOST)), "{addrs:?}");
    }

    #[test]
    fn route_attributes_parse_and_stop_at_truncation() {
        let mut b = Vec::new();
        b.extend_from_slice(&8u16.to_ne_bytes());
        b.extend_from_slice(&IFA_LOCAL.to_ne_bytes());
        b.extend_from_slice(&[100, 99, 1, 1]);
        b.extend_from_slice(&40u16.to_ne_bytes());
        b.extend_from_slice(&IFA_ADDRESS.to_ne_bytes());
        let got: Vec<(u16, Vec<u8>)> = attrs(&b).map(|(t, d)| (t, d.to_vec())).collect();
        assert_eq!(got, vec![(IFA_LOCAL, vec![100, 99, 1, 1])]);
        assert_eq!(parse_inode("net:[4026531840]"), Some(4026531840));
    }
}
