//! What the abstract packet's fields can match: ports, protocols, interface
//! names, address classes, and the iptables extensions nft shows only by name.

use std::net::IpAddr;

use super::eval::{Ipv, L4, Probe, Tri};
use super::nft::Value;

/// What an iptables target does to the verdict.
pub(crate) enum TargetEffect {
    Continue,
    Drop,
    MayAccept,
}

/// An iptables match, read from its iptables-save options where we have them.
pub(crate) fn xt_match(name: &str, opts: Option<&[String]>, p: Probe, ct_state: impl Fn(&str) -> Tri) -> Tri {
    match name {
        "icmp" | "icmp6" => return Tri::No,
        "comment" => return Tri::Yes,
        _ => {}
    }
    let Some(opts) = opts else { return Tri::Maybe };
    if matches!(name, "tcp" | "udp") && name != p.l4.as_str() {
        return Tri::No;
    }
    let mut result = Tri::Yes;
    let mut i = 0;
    while i < opts.len() {
        let negate = opts[i] == "!";
        if negate {
            i += 1;
        }
        let (Some(opt), arg) = (opts.get(i), opts.get(i + 1).map(String::as_str).unwrap_or("")) else { break };
        let list = || arg.split(',');
        let r = match (name, opt.as_str()) {
            ("conntrack", "--ctstate") | ("state", "--state") => Tri::any(list().map(&ct_state)),
            ("addrtype", "--dst-type") => Tri::any(list().map(|s| Tri::from(s == "LOCAL"))),
            ("addrtype", "--src-type") => Tri::any(list().map(|s| Tri::from(s == "UNICAST"))),
            ("multiport", "--dports" | "--destination-ports") | ("tcp" | "udp", "--dport" | "--destination-port") => {
                Tri::any(list().map(|r| port_range(p.dport, r)))
            }
            ("multiport", "--sports" | "--source-ports") | ("tcp" | "udp", "--sport" | "--source-port") => {
                p.sport.map_or(Tri::Maybe, |s| Tri::any(list().map(|r| port_range(s, r))))
            }
            _ => Tri::Maybe,
        };
        result = result.and(if negate { r.not() } else { r });
        // Options with an argument skip it; flags such as `--syn` do not.
        i += if opts.get(i + 1).is_some_and(|a| !a.starts_with("--") && a != "!") { 2 } else { 1 };
    }
    result
}

pub(crate) fn xt_target(name: &str) -> TargetEffect {
    match name {
        "LOG" | "NFLOG" | "ULOG" | "TRACE" | "AUDIT" | "MARK" | "CONNMARK" | "TCPMSS" | "DSCP" | "TOS" | "CLASSIFY"
        | "SECMARK" | "CONNSECMARK" | "CHECKSUM" | "SET" | "IDLETIMER" | "LED" => TargetEffect::Continue,
        "REJECT" => TargetEffect::Drop,
        _ => TargetEffect::MayAccept,
    }
}

/// `a` or `a:b`, as iptables writes port ranges.
fn port_range(p: u16, r: &str) -> Tri {
    let mut it = r.splitn(2, ':');
    let lo = it.next().and_then(|s| s.parse::<u16>().ok());
    let hi = match it.next() {
        Some(h) => h.parse::<u16>().ok(),
        None => lo,
    };
    match (lo, hi) {
        (Some(lo), Some(hi)) => Tri::from(lo <= p && p <= hi),
        _ => Tri::Maybe,
    }
}

pub(crate) fn port_eq(p: u16, v: &Value) -> Tri {
    match v {
        Value::Num(n) => Tri::from(i64::from(p) == *n),
        Value::Range(a, b) => match (a.as_ref(), b.as_ref()) {
            (Value::Num(a), Value::Num(b)) => Tri::from(*a <= i64::from(p) && i64::from(p) <= *b),
            _ => Tri::Maybe,
        },
        _ => Tri::Maybe,
    }
}

pub(crate) fn l4_eq(l: L4, v: &Value) -> Tri {
    let n = match v {
        Value::Num(n) => *n,
        Value::Str(s) => match s.as_str() {
            "tcp" => 6,
            "udp" => 17,
            _ => return Tri::No,
        },
        Value::Range(a, b) => {
            return match (a.as_ref(), b.as_ref()) {
                (Value::Num(a), Value::Num(b)) => Tri::from((*a..=*b).contains(&if l == L4::Tcp { 6 } else { 17 })),
                _ => Tri::Maybe,
            };
        }
        _ => return Tri::Maybe,
    };
    Tri::from(n == if l == L4::Tcp { 6 } else { 17 })
}

/// An interface pattern against the packet's interface: not `lo`, not
/// `tailscale*`, not one of `listeners.tailscale_interfaces` (`tailscale`),
/// otherwise unknown.
pub(crate) fn iface(pattern: &str, tailscale: &[String]) -> Tri {
    let ours = |n: &str| n.starts_with("tailscale") || tailscale.iter().any(|t| t == n);
    match pattern.strip_suffix('*').filter(|p| !p.ends_with('\\')) {
        Some("") => Tri::Yes,
        Some(prefix) if ours(prefix) => Tri::No,
        Some(_) => Tri::Maybe,
        None if pattern == "lo" || ours(pattern) => Tri::No,
        None => Tri::Maybe,
    }
}

#[derive(Clone, Copy)]
pub(crate) enum Role {
    Source,
    Destination,
}

/// Address spaces the packet's address can never be in, as inclusive u128 ranges.
fn excluded(ipv: Ipv, role: Role) -> Vec<(u128, u128)> {
    let v4 = |a: [u8; 4], len: u32| {
        let base = u128::from(u32::from_be_bytes(a)) & !((1u128 << (32 - len)) - 1);
        (base, base | ((1u128 << (32 - len)) - 1))
    };
    let v6 = |s: &str, len: u32| {
        let base = s.parse::<std::net::Ipv6Addr>().map(u128::from).unwrap_or(0);
        let mask = if len == 0 { u128::MAX } else { (1u128 << (128 - len)) - 1 };
        (base & !mask, base | mask)
    };
    match (ipv, role) {
        // "This network" and multicast. Not the tailnet range: the source is
        // the attacker's choice on a non-Tailscale interface, so a bare
        // `ip saddr 100.64.0.0/10 accept` admits a spoofed packet. Not 127/8
        // (accepted from outside under route_localnet) nor 240/4 (Linux
        // treats class E as unicast).
        (Ipv::V4, Role::Source) => vec![v4([0, 0, 0, 0], 8), v4([224, 0, 0, 0], 4)],
        // Not 127/8: with net.ipv4.conf.*.route_localnet=1 a peer can send to it.
        (Ipv::V4, Role::Destination) => vec![v4([0, 0, 0, 0], 8), v4([224, 0, 0, 0], 4)],
        (Ipv::V6, Role::Source) => vec![v6("::1", 128), v6("::", 128), v6("ff00::", 8)],
        (Ipv::V6, Role::Destination) => vec![v6("::1", 128), v6("::", 128), v6("ff00::", 8)],
    }
}

fn ip_num(s: &str) -> Option<(Ipv, u128)> {
    match s.parse::<IpAddr>().ok()? {
        IpAddr::V4(a) => Some((Ipv::V4, u128::from(u32::from(a)))),
        IpAddr::V6(a) => Some((Ipv::V6, u128::from(a))),
    }
}

/// The tailnet's IPv4 range, 100.64.0.0/10, as an inclusive u128 span.
pub(crate) const TAILNET_V4: (u128, u128) = (0x6440_0000, 0x647f_ffff);

/// An interface pattern against one known interface name.
pub(crate) fn iface_is(pattern: &str, name: &str) -> Tri {
    match pattern.strip_suffix('*').filter(|p| !p.ends_with('\\')) {
        Some(prefix) => Tri::from(name.starts_with(prefix)),
        None => Tri::from(pattern == name),
    }
}

/// An IPv4 address, prefix or range against an IPv4 `span` the packet's
/// address is somewhere in: `Yes` when it covers the whole span, `No` when
/// it misses all of it.
pub(crate) fn covers(v: &Value, span: (u128, u128)) -> Tri {
    let Some((fam, lo, hi)) = value_span(Ipv::V4, v) else { return Tri::Maybe };
    if fam != Ipv::V4 || hi < span.0 || lo > span.1 {
        Tri::No
    } else if lo <= span.0 && span.1 <= hi {
        Tri::Yes
    } else {
        Tri::Maybe
    }
}

/// Whether the value (address, prefix, range) holds the concrete address `a`.
pub(crate) fn is_addr(a: IpAddr, v: &Value) -> Tri {
    let (ipv, n) = match a {
        IpAddr::V4(x) => (Ipv::V4, u128::from(u32::from(x))),
        IpAddr::V6(x) => (Ipv::V6, u128::from(x)),
    };
    match value_span(ipv, v) {
        Some((fam, lo, hi)) => Tri::from(fam == ipv && lo <= n && n <= hi),
        None => Tri::Maybe,
    }
}

/// An address, prefix or range as (family, first, last).
fn value_span(ipv: Ipv, v: &Value) -> Option<(Ipv, u128, u128)> {
    let bits = if ipv == Ipv::V4 { 32 } else { 128 };
    match v {
        Value::Str(s) => ip_num(s).map(|(f, n)| (f, n, n)),
        Value::Prefix(s, len) => ip_num(s).filter(|_| u32::from(*len) <= bits).map(|(f, n)| {
            let host = bits - u32::from(*len);
            let mask = if host >= 128 { u128::MAX } else { (1u128 << host) - 1 };
            (f, n & !mask, n | mask)
        }),
        Value::Range(a, b) => match (a.as_ref(), b.as_ref()) {
            (Value::Str(a), Value::Str(b)) => ip_num(a).zip(ip_num(b)).map(|((f, lo), (_, hi))| (f, lo, hi)),
            _ => None,
        },
        _ => None,
    }
}

/// An address, prefix or range against the abstract source or destination.
pub(crate) fn addr(ipv: Ipv, v: &Value, role: Role) -> Tri {
    let Some((fam, lo, hi)) = value_span(ipv, v) else { return Tri::Maybe };
    if fam != ipv {
        return Tri::No;
    }
    let full = if ipv == Ipv::V4 { u128::from(u32::MAX) } else { u128::MAX };
    if lo == 0 && hi == full {
        return Tri::Yes;
    }
    if excluded(ipv, role).iter().any(|(elo, ehi)| *elo <= lo && hi <= *ehi) { Tri::No } else { Tri::Maybe }
}
