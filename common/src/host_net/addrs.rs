//! Interface addresses of this network namespace over `NETLINK_ROUTE`:
//! `RTM_GETLINK` names the interfaces, `RTM_GETADDR` lists their
//! addresses. All parsing is bounds-checked byte slicing.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::policy::IfAddr;

use super::netlink;

const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const IFLA_IFNAME: u16 = 3;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;

/// Every address of every interface in this network namespace, as `ip
/// addr` lists them (netlink `RTM_GETLINK` for the names, `RTM_GETADDR` for
/// the addresses; for IPv4 the interface's own address, not a peer's).
pub(crate) fn interface_addresses() -> Result<Vec<IfAddr>, String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_namespace_has_its_loopback_address() {
        let addrs = interface_addresses().unwrap();
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
    }
}
