//! The one listener classifier (contract §1).
//!
//! Input is a socket as the kernel reports it: protocol, local address in
//! any of its spellings (`0.0.0.0`, `[::]`, `*`, `::ffff:127.0.0.1`,
//! `100.101.1.2%tailscale0`), port, and the owning process when it could be
//! read. Output is a [`Decision`]: which kind of address it is, whether the
//! policy allows it, and a sentence saying why.
//!
//! Addresses are normalised before classifying: brackets and `%scope`
//! suffixes are stripped and IPv4-mapped IPv6 addresses become IPv4, so the
//! same bind can never be judged two ways. Exemptions are keyed on the owning
//! executable's real path, never on a process name, and a socket whose owner
//! could not be read can never be exempted.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::Serialize;

/// The kind of socket: every kind the kernel can deliver remote traffic to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// A TCP socket in LISTEN state.
    Tcp,
    /// An unconnected (bound) UDP socket.
    Udp,
    /// An unconnected UDP-Lite socket.
    UdpLite,
    /// A listening SCTP endpoint.
    Sctp,
    /// An unconnected raw IP socket; its "port" is the IP protocol number.
    Raw,
    /// An unconnected ICMP "ping" socket; its "port" is the echo identifier.
    /// Any host can deliver an echo reply carrying that identifier to it.
    Icmp,
}

impl Proto {
    /// Every kind, in report order.
    pub const ALL: [Proto; 6] = [Proto::Tcp, Proto::Udp, Proto::UdpLite, Proto::Sctp, Proto::Raw, Proto::Icmp];

    /// The lowercase name used in config, reports and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::UdpLite => "udplite",
            Proto::Sctp => "sctp",
            Proto::Raw => "raw",
            Proto::Icmp => "icmp",
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Proto {
    type Err = PolicyError;

    fn from_str(s: &str) -> Result<Proto, PolicyError> {
        Proto::ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| PolicyError::BadProto(s.to_owned()))
    }
}

/// What kind of address a socket is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    /// `127.0.0.0/8` or `::1`.
    Loopback,
    /// Tailscale's CGNAT range `100.64.0.0/10`.
    Tailnet,
    /// Tailscale's IPv6 range `fd7a:115c:a1e0::/48`.
    TailnetV6,
    /// `100.64.0.0/10` *not* on a Tailscale interface: a carrier-grade NAT
    /// (WAN) address, reachable from that link (see [`classify_on`]).
    Cgnat,
    /// `0.0.0.0`, `::` or `*`: every interface.
    Wildcard,
    /// RFC 1918 IPv4 or IPv6 unique-local (other than Tailscale's).
    PrivateLan,
    /// `169.254.0.0/16` or `fe80::/10`.
    LinkLocal,
    /// Anything else, including multicast and globally routable addresses.
    Public,
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Class::Loopback => "loopback",
            Class::Tailnet => "tailnet",
            Class::TailnetV6 => "tailnet-v6",
            Class::Cgnat => "cgnat",
            Class::Wildcard => "wildcard",
            Class::PrivateLan => "private-lan",
            Class::LinkLocal => "link-local",
            Class::Public => "public",
        })
    }
}

/// What the policy says about a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Allowed by the contract's CIDRs or by an exemption.
    Allowed,
    /// Private but outside the contract's table (Tailscale IPv6): report it.
    Warn,
    /// Reachable beyond loopback and the tailnet: a contract violation.
    Violation,
}

/// A bind address after normalisation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct BindAddr {
    /// The address, IPv4-mapped IPv6 converted to IPv4; `*` becomes `::`.
    pub ip: IpAddr,
    /// The `%scope` suffix, if the kernel or a tool reported one.
    pub scope: Option<String>,
}

impl fmt::Display for BindAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.ip, &self.scope) {
            (IpAddr::V4(ip), None) => write!(f, "{ip}"),
            (IpAddr::V4(ip), Some(scope)) => write!(f, "{ip}%{scope}"),
            (IpAddr::V6(ip), None) => write!(f, "[{ip}]"),
            (IpAddr::V6(ip), Some(scope)) => write!(f, "[{ip}%{scope}]"),
        }
    }
}

/// Parses a bind address in any spelling the kernel or `ss` uses.
///
/// Accepts `a.b.c.d`, IPv6 with or without brackets, `*`, a `%scope`
/// suffix inside or outside the brackets, and IPv4-mapped IPv6. The port is
/// not part of the input.
pub fn parse_bind_addr(raw: &str) -> Result<BindAddr, PolicyError> {
    let bad = || PolicyError::BadAddress(raw.to_owned());
    let s = raw.trim();
    let s = match s.strip_prefix('[') {
        Some(rest) => rest.strip_suffix(']').ok_or_else(bad)?,
        None => s,
    };
    let (host, scope) = match s.split_once('%') {
        Some((host, scope)) if !scope.is_empty() && scope.bytes().all(is_scope_byte) => (host, Some(scope.to_owned())),
        Some(_) => return Err(bad()),
        None => (s, None),
    };
    if host == "*" {
        return Ok(BindAddr { ip: IpAddr::V6(Ipv6Addr::UNSPECIFIED), scope });
    }
    let ip: IpAddr = host.parse().map_err(|_| bad())?;
    Ok(BindAddr { ip: ip.to_canonical(), scope })
}

fn is_scope_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@')
}

/// Tailscale's IPv4 range, also the contract's tailnet CIDR.
pub const TAILNET_V4: Ipv4Net = Ipv4Net::new_assert(Ipv4Addr::new(100, 64, 0, 0), 10);
/// Tailscale's IPv6 range (tailnet-private, not in the contract's table).
pub const TAILNET_V6: Ipv6Net = Ipv6Net::new_assert(Ipv6Addr::new(0xfd7a, 0x115c, 0xa1e0, 0, 0, 0, 0, 0), 48);

/// The kind of address, independent of any policy.
pub fn classify(ip: IpAddr) -> Class {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            if v4.is_unspecified() {
                Class::Wildcard
            } else if v4.is_loopback() {
                Class::Loopback
            } else if TAILNET_V4.contains(&v4) {
                Class::Tailnet
            } else if v4.is_private() {
                Class::PrivateLan
            } else if v4.is_link_local() {
                Class::LinkLocal
            } else {
                Class::Public
            }
        }
        IpAddr::V6(v6) => {
            if v6.is_unspecified() {
                Class::Wildcard
            } else if v6.is_loopback() {
                Class::Loopback
            } else if TAILNET_V6.contains(&v6) {
                Class::TailnetV6
            } else if v6.is_unique_local() {
                Class::PrivateLan
            } else if v6.is_unicast_link_local() {
                Class::LinkLocal
            } else {
                Class::Public
            }
        }
    }
}

/// An exemption: sockets owned by this executable (optionally only on this
/// protocol, port or address) are allowed wherever they bind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exemption {
    /// Real path of the owning executable, as `/proc/<pid>/exe` shows it.
    pub exe: PathBuf,
    /// Only this protocol, if set.
    pub proto: Option<Proto>,
    /// Only this port, if set.
    pub port: Option<u16>,
    /// Only this (normalised) address, if set.
    pub addr: Option<IpAddr>,
    /// Why the exemption exists; shown in reports.
    pub reason: String,
}

impl Exemption {
    /// Whether this exemption names the socket's executable, protocol, port
    /// and address. Whether the owner may use it is [`Owner::privilege`]'s
    /// business, judged by the caller.
    fn matches(&self, proto: Proto, port: u16, owner: Option<&Owner>, ip: IpAddr) -> bool {
        let Some(exe) = owner.and_then(|o| o.exe.as_deref()) else {
            return false;
        };
        exe == self.exe
            && self.proto.is_none_or(|p| p == proto)
            && self.port.is_none_or(|p| p == port)
            && self.addr.is_none_or(|a| a.to_canonical() == ip)
    }
}

/// The listener policy: the contract's CIDRs plus the operator's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListenerPolicy {
    /// Binds inside these networks are allowed.
    pub allowed: Vec<IpNet>,
    /// Treat Tailscale's IPv6 range as allowed instead of a warning.
    pub allow_tailnet_v6: bool,
    /// Per-executable exemptions.
    pub exemptions: Vec<Exemption>,
    /// Interfaces whose `100.64.0.0/10` and `fd7a:115c:a1e0::/48` addresses are
    /// the tailnet; the same ranges elsewhere are not.
    pub tailscale_interfaces: Vec<String>,
}

/// The contract's allowed CIDRs: `127.0.0.0/8`, `::1`, `100.64.0.0/10`.
pub fn contract_cidrs() -> Vec<IpNet> {
    vec![
        IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(127, 0, 0, 0), 8)),
        IpNet::V6(Ipv6Net::new_assert(Ipv6Addr::LOCALHOST, 128)),
        IpNet::V4(TAILNET_V4),
    ]
}

impl Default for ListenerPolicy {
    /// The contract as written, with Tailscale's own WireGuard socket exempt.
    fn default() -> ListenerPolicy {
        ListenerPolicy {
            allowed: contract_cidrs(),
            allow_tailnet_v6: false,
            exemptions: vec![Exemption {
                exe: PathBuf::from("/usr/sbin/tailscaled"),
                proto: Some(Proto::Udp),
                port: Some(41641),
                addr: None,
                reason: String::from("tailscaled's WireGuard UDP socket (41641) must bind every interface"),
            }],
            tailscale_interfaces: vec![String::from("tailscale0")],
        }
    }
}

/// The process that owns a socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Owner {
    /// Process id.
    pub pid: u32,
    /// Real path of its executable; `None` when `/proc/<pid>/exe` was unreadable.
    pub exe: Option<PathBuf>,
    /// Whether it is root in the initial user namespace.
    pub privilege: Privilege,
}

/// Who an owner is, as far as exemptions care.
///
/// Only root in the initial user namespace (real and effective uid 0, and
/// `/proc/<pid>/ns/user` the initial namespace) can be exempted: any local
/// user can be "root" inside a user namespace of their own, and there point
/// `/proc/<pid>/exe` at any executable (`prctl(PR_SET_MM_MAP)`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Privilege {
    /// Real and effective uid 0 in the initial user namespace.
    InitialRoot,
    /// Anything else, or not established; the text says which (e.g. "uid 1000",
    /// "in user namespace 4026532201, not the initial one").
    Other(String),
}

/// A socket to judge, as gathered from the kernel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Socket {
    /// TCP listener or bound UDP socket.
    pub proto: Proto,
    /// Local address, in whatever spelling it was reported.
    pub addr: String,
    /// Local port.
    pub port: u16,
    /// Owning process, `None` when it could not be read (not root).
    pub owner: Option<Owner>,
}

/// The policy's judgement of one socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// The normalised bind address.
    pub addr: BindAddr,
    /// What kind of address it is.
    pub class: Class,
    /// Allowed, warn or violation.
    pub verdict: Verdict,
    /// One sentence explaining the verdict.
    pub reason: String,
    /// Index into [`ListenerPolicy::exemptions`] of the exemption that applied.
    pub exemption: Option<usize>,
}

impl ListenerPolicy {
    /// Judges one socket on a host whose interfaces are described by `net`.
    /// An address that cannot be parsed is an error, not a pass.
    pub fn decide(&self, socket: &Socket, net: &NetFacts) -> Result<Decision, PolicyError> {
        let addr = parse_bind_addr(&socket.addr)?;
        Ok(self.decide_addr(addr, socket.proto, socket.port, socket.owner.as_ref(), net))
    }

    /// Judges an already-parsed address (the kernel's own, from a socket
    /// table) without a round trip through text. [`ListenerPolicy::decide`]
    /// is this plus parsing.
    ///
    /// Before the allowed ranges are consulted: a wildcard is never allowed
    /// by them, a tailnet-range address off the Tailscale interfaces is
    /// classed by where it really is ([`classify_on`]), and an IPv4 loopback
    /// address is a violation while `route_localnet` routes 127.0.0.0/8 from
    /// another interface.
    pub fn decide_addr(
        &self,
        addr: BindAddr,
        proto: Proto,
        port: u16,
        owner: Option<&Owner>,
        net: &NetFacts,
    ) -> Decision {
        let addr = BindAddr { ip: addr.ip.to_canonical(), scope: addr.scope };
        let ip = addr.ip;
        let class = classify_on(ip, net, &self.tailscale_interfaces);
        let decision =
            |verdict, reason: String, exemption| Decision { addr: addr.clone(), class, verdict, reason, exemption };
        let routable_loopback = class == Class::Loopback && ip.is_ipv4() && !net.route_localnet.is_empty();

        if !matches!(class, Class::Wildcard | Class::Cgnat)
            && !routable_loopback
            && let Some(net) = self.allowed.iter().find(|net| net.contains(&ip))
        {
            return decision(Verdict::Allowed, format!("{class} address inside allowed range {net}"), None);
        }
        let matching = self.exemptions.iter().position(|e| e.matches(proto, port, owner, ip));
        let owner_note = match (owner, matching) {
            (Some(Owner { privilege: Privilege::InitialRoot, .. }), Some(idx)) => {
                let e = &self.exemptions[idx];
                let reason = format!("exempted for {}: {}", e.exe.display(), e.reason);
                return decision(Verdict::Allowed, reason, Some(idx));
            }
            (Some(Owner { privilege: Privilege::Other(why), .. }), Some(idx)) => format!(
                "; the exemption for {} does not apply: its owner is not root in the initial user namespace ({why})",
                self.exemptions[idx].exe.display()
            ),
            (None, _) => "; owner unreadable, so no exemption can apply (run as root for attribution)".to_owned(),
            (Some(Owner { exe: None, .. }), _) => {
                "; owner's executable unreadable, so no exemption can apply".to_owned()
            }
            (Some(_), None) => String::new(),
        };
        let (verdict, reason) = match class {
            Class::TailnetV6 if self.allow_tailnet_v6 => {
                (Verdict::Allowed, format!("Tailscale IPv6 address inside {TAILNET_V6} (allowed by config)"))
            }
            Class::TailnetV6 => (
                Verdict::Warn,
                format!(
                    "Tailscale IPv6 address inside {TAILNET_V6}: tailnet-private but not in the contract's table \
                     (set listeners.allow_tailnet_v6 = true to accept)"
                ),
            ),
            Class::Wildcard => {
                (Verdict::Violation, format!("wildcard bind {addr} listens on every interface{owner_note}"))
            }
            Class::PrivateLan => {
                (Verdict::Violation, format!("LAN address {addr} is outside loopback and the tailnet{owner_note}"))
            }
            Class::LinkLocal => {
                (Verdict::Violation, format!("link-local address {addr} is reachable on the local link{owner_note}"))
            }
            Class::Public => {
                (Verdict::Violation, format!("address {addr} is outside loopback and the tailnet{owner_note}"))
            }
            Class::Loopback if routable_loopback => (
                Verdict::Violation,
                format!(
                    "loopback address {addr} is reachable from other interfaces: {} = 1{owner_note}",
                    net.route_localnet.iter().map(|i| route_localnet_sysctl(i)).collect::<Vec<_>>().join(", ")
                ),
            ),
            Class::Cgnat => (
                Verdict::Violation,
                format!(
                    "{addr} is in {TAILNET_V4} but not on a Tailscale interface ({}): a carrier-grade NAT address, \
                     reachable from its link{}{owner_note}",
                    self.tailscale_interfaces.join(", "),
                    net.addresses
                        .as_ref()
                        .err()
                        .map(|e| format!(" (interface addresses unreadable: {e})"))
                        .unwrap_or_default()
                ),
            ),
            Class::Loopback | Class::Tailnet => (
                Verdict::Violation,
                format!("{class} address {addr} is not in the configured allowed ranges{owner_note}"),
            ),
        };
        decision(verdict, reason, None)
    }
}

/// The standard fix for a listener that violates the policy.
pub fn remediation(socket: &Socket, decision: &Decision) -> String {
    if decision.class == Class::Loopback {
        return format!(
            "{proto} port {port} on {addr} is loopback, which is private only while route_localnet is 0 on every \
             interface (and 127.0.0.0/8 is in listeners.allowed_cidrs): turn route_localnet off, or bind ::1",
            proto = socket.proto,
            port = socket.port,
            addr = decision.addr,
        );
    }
    let what = match socket.proto {
        Proto::Raw => format!("the raw socket for IP protocol {}", socket.port),
        Proto::Icmp => format!("the ICMP ping socket with echo id {}", socket.port),
        proto => format!("{proto} port {}", socket.port),
    };
    let tailnet = if decision.class == Class::Cgnat {
        "the Tailscale IP on a Tailscale interface (this 100.64.0.0/10 address is not on one)"
    } else {
        "the Tailscale IP (100.64.0.0/10)"
    };
    format!(
        "rebind {what} to 127.0.0.1 (or ::1) if only this host uses it, or to {tailnet} if the tailnet needs it; \
         it is on {addr} now",
        addr = decision.addr,
    )
}

/// True when `exe` looks like an OpenSSH server binary (`sshd`, `sshd-session`).
pub fn is_sshd(exe: &Path) -> bool {
    exe.file_name().and_then(|n| n.to_str()).is_some_and(|n| n == "sshd" || n == "sshd-session")
}

/// Errors from parsing policy input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The address is not an IP address in any accepted spelling.
    #[error("unparsable bind address `{0}`")]
    BadAddress(String),
    /// The protocol is not one of the socket kinds.
    #[error("unknown protocol `{0}` (expected `tcp`, `udp`, `udplite`, `sctp` or `raw`)")]
    BadProto(String),
}

mod net;
pub use net::{IfAddr, NetFacts, classify_on, route_localnet_sysctl};

#[cfg(test)]
mod tests;
