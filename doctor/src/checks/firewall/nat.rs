//! Following destination NAT. A rule that rewrites where a packet goes
//! matters only for the packets from outside it can match, and only if the
//! packet then gets somewhere:
//! - a rule no outside packet can match (its interface is a Tailscale one,
//!   its destination loopback while `route_localnet` is off, …) is left
//!   alone;
//! - a `dnat`/`redirect` to one address and port (native, or iptables-nft's
//!   `DNAT`/`REDIRECT` with the options `iptables-nft-save` shows) is
//!   followed: to this host's input path for a local target, to the
//!   forward path for another host or a container. Where that path admits
//!   the packet, it is named: the outside port, where it lands, the path;
//! - anything else (a header mangle, `tproxy`, a target with a range or a
//!   map, another iptables target) cannot be followed and is named as it is.

use std::net::IpAddr;

use super::eval::{self, From, Ipv, L4, Model, Probe, Reach};
use super::legacy::SaveRule;
use super::nft::{Expr, NatTo, XtKind};

/// What the follower reads besides the model.
pub(crate) struct NatFacts<'a> {
    /// The ports the sweep probes (each stands for its neighbours).
    pub(crate) candidates: &'a [u16],
    /// This host's addresses: a `dnat` to one of them lands on the input path.
    pub(crate) locals: &'a [IpAddr],
    /// `route_localnet` is on (or unreadable): loopback destinations are routable.
    pub(crate) loopback_routable: bool,
}

/// `--to-destination A[:P]` / `--to-ports P` of an iptables-nft target.
fn xt_target(name: &str, save: Option<&SaveRule>) -> Option<NatTo> {
    let tokens = &save?.tokens;
    let arg = |opt: &str| tokens.iter().position(|t| t == opt).and_then(|i| tokens.get(i + 1));
    match name {
        "REDIRECT" => match arg("--to-ports") {
            None => Some(NatTo::Local { port: None }),
            Some(p) => Some(NatTo::Local { port: Some(p.parse().ok()?) }),
        },
        "DNAT" => {
            let to = arg("--to-destination")?;
            if let Ok(sa) = to.parse::<std::net::SocketAddr>() {
                return Some(NatTo::Addr { addr: sa.ip(), port: Some(sa.port()) });
            }
            Some(NatTo::Addr { addr: to.trim_matches(['[', ']']).parse().ok()?, port: None })
        }
        _ => None,
    }
}

/// The rule's rewrite, if it is one the follower can follow.
fn target(m: &Model<'_>, t: usize, c: usize, r: usize) -> Option<NatTo> {
    let table = &m.ruleset.tables[t];
    let chain = &table.chains[c];
    let save = m.xt.get(&(table.family, table.name.clone(), chain.name.clone())).and_then(|v| v.get(r));
    let mut found = None;
    for e in &chain.rules[r].exprs {
        let this = match e {
            Expr::Rewrite(_, to) => to.clone(),
            Expr::Xt { kind: XtKind::Target, name } if name != "ACCEPT" && name != "RETURN" => xt_target(name, save),
            _ => continue,
        };
        // Two rewrites in one rule, or one we cannot read: not followed.
        if found.is_some() || this.is_none() {
            return None;
        }
        found = this;
    }
    found
}

fn is_local(a: IpAddr, locals: &[IpAddr]) -> bool {
    a.is_loopback() || locals.contains(&a)
}

/// Where one outside packet lands after the rewrite, if a path admits it.
fn follow(m: &Model<'_>, f: &NatFacts<'_>, to: &NatTo, p: Probe) -> Option<String> {
    let (dst, port) = match to {
        NatTo::Local { port } => (None, port.unwrap_or(p.dport)),
        NatTo::Addr { addr, port } => (Some(*addr), port.unwrap_or(p.dport)),
    };
    let moved = Probe { dport: port, ..p };
    let proto = p.l4.as_str();
    match dst {
        Some(a) if !is_local(a, f.locals) => {
            if matches!((a, p.ipv), (IpAddr::V4(_), Ipv::V6) | (IpAddr::V6(_), Ipv::V4)) {
                return None;
            }
            match eval::reach_on(m, moved, "forward", From::Forwarded { dst: a }) {
                Reach::Open { path } => Some(format!(
                    "outside {proto}/{} reaches {} forwarded ({})",
                    p.dport,
                    std::net::SocketAddr::new(a, port),
                    path.join("; then ")
                )),
                Reach::Blocked { .. } => None,
            }
        }
        _ => match eval::reach(m, moved) {
            Reach::Open { path } => Some(format!(
                "outside {proto}/{} reaches this host's {proto}/{port} ({})",
                p.dport,
                path.join("; then ")
            )),
            Reach::Blocked { .. } => None,
        },
    }
}

/// The rewrites that fail the check, each named with what it does to
/// outside traffic. Pure.
pub(crate) fn rewrites(m: &Model<'_>, f: &NatFacts<'_>) -> Vec<String> {
    let mut out = Vec::new();
    for (t, c, r) in m.ruleset.rewrite_rules(f.loopback_routable) {
        let chain = &m.ruleset.tables[t].chains[c];
        let rule = &chain.rules[r];
        let mut matched = Vec::new();
        for l4 in [L4::Tcp, L4::Udp] {
            for ipv in [Ipv::V4, Ipv::V6] {
                for &dport in f.candidates {
                    let p = Probe { ipv, l4, dport, sport: None };
                    if eval::walk_from(m, p, From::Outside).rewrite_cond(t, chain, r, rule) != eval::Tri::No {
                        matched.push(p);
                    }
                }
            }
        }
        if matched.is_empty() {
            continue;
        }
        let label = m.ruleset.rule_label(t, c, r);
        let Some(to) = target(m, t, c, r) else {
            out.push(label);
            continue;
        };
        let mut landed: Vec<String> = matched.iter().filter_map(|p| follow(m, f, &to, *p)).collect();
        landed.dedup();
        if let Some(first) = landed.first() {
            let more = if landed.len() > 1 { format!("; and {} more", landed.len() - 1) } else { String::new() };
            out.push(format!("{label}: {first}{more}"));
        }
    }
    out
}
