//! What a host's interfaces do to an address's meaning: a tailnet-range
//! address is the tailnet only on a Tailscale interface, and loopback is
//! not private while `route_localnet` routes it from another interface.
//! Pure: the facts are gathered by the caller (the doctor reads them from
//! the kernel).

use std::net::IpAddr;

use serde::Serialize;

use super::{Class, classify};

/// One address assigned to an interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IfAddr {
    /// Interface name (`tailscale0`, `eth0`).
    pub interface: String,
    /// The address, IPv4-mapped IPv6 converted to IPv4.
    pub ip: IpAddr,
}

/// Facts about this host's network namespace that the classifier needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetFacts {
    /// Every interface address, or why they could not be read (then no
    /// address can be proven to be on a Tailscale interface).
    pub addresses: Result<Vec<IfAddr>, String>,
    /// Entries of `/proc/sys/net/ipv4/conf/` other than `lo` (including
    /// `all` and `default`) whose `route_localnet` is 1.
    pub route_localnet: Vec<String>,
}

impl NetFacts {
    /// A host where the given addresses sit on the given interfaces and
    /// `route_localnet` is off everywhere (for tests and callers that know).
    pub fn with_addresses(addrs: &[(&str, IpAddr)]) -> NetFacts {
        NetFacts {
            addresses: Ok(addrs
                .iter()
                .map(|(i, ip)| IfAddr { interface: (*i).to_owned(), ip: ip.to_canonical() })
                .collect()),
            route_localnet: Vec::new(),
        }
    }
}

/// The sysctl's name for one `/proc/sys/net/ipv4/conf/<entry>`.
pub fn route_localnet_sysctl(entry: &str) -> String {
    format!("net.ipv4.conf.{entry}.route_localnet")
}

/// [`classify`], then corrected by where the address really is: a
/// `100.64.0.0/10` address not assigned to one of `tailscale_interfaces` is
/// [`Class::Cgnat`], and a `fd7a:115c:a1e0::/48` one is [`Class::PrivateLan`]
/// (a unique-local address like any other). Unreadable interface addresses
/// prove nothing, so the ranges are not the tailnet then either.
pub fn classify_on(ip: IpAddr, net: &NetFacts, tailscale_interfaces: &[String]) -> Class {
    let ip = ip.to_canonical();
    let class = classify(ip);
    if !matches!(class, Class::Tailnet | Class::TailnetV6) {
        return class;
    }
    let on_tailscale = net
        .addresses
        .as_ref()
        .is_ok_and(|addrs| addrs.iter().any(|a| a.ip == ip && tailscale_interfaces.contains(&a.interface)));
    match (class, on_tailscale) {
        (_, true) => class,
        (Class::Tailnet, false) => Class::Cgnat,
        _ => Class::PrivateLan,
    }
}
