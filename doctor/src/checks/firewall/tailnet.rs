//! Whether the firewall certainly admits a tailnet peer's new TCP
//! connection to one port: the guard removes sshd's public listener only
//! when the tailnet path is proven, and "may accept" is not proof. Every
//! filter and nat base chain on the ingress, prerouting and input hooks must
//! let the packet through on every branch; anything that may drop, reject,
//! queue or rewrite it, or that the evaluator does not model, makes the
//! answer uncertain. The reply leaves through the output and postrouting
//! hooks: any chain there that can drop anything at all, or reroute (a
//! `route` chain), makes it uncertain too (the evaluator models arriving
//! packets, so the reply path is judged by what its chains can do at all).

use super::eval::{self, Model};
use super::nft::{Chain, Dormancy, Expr, Family, MapRef, Policy, Ruleset, Verdict, XtKind};

/// A base chain on the reply's way out (output, postrouting) that may drop
/// or reroute some packet: its label and why. Pure.
fn reply_path_may_drop(rs: &Ruleset) -> Option<String> {
    for t in rs.tables.iter().filter(|t| matches!(t.family, Family::Inet | Family::Ip)) {
        if t.dormancy == Dormancy::Dormant {
            continue;
        }
        for c in &t.chains {
            let Some(b) = c.base.as_ref().filter(|b| matches!(b.hook.as_str(), "output" | "postrouting")) else {
                continue;
            };
            let label = format!("{} {} ({} hook)", t.label(), c.name, b.hook);
            if b.kind == "route" {
                return Some(format!("{label} may reroute the reply"));
            }
            if b.policy == Policy::Drop {
                return Some(format!("{label} drops by policy"));
            }
            // Every chain reachable from it, by name.
            let mut todo = vec![c.name.clone()];
            let mut seen = std::collections::BTreeSet::new();
            while let Some(name) = todo.pop() {
                if !seen.insert(name.clone()) {
                    continue;
                }
                let Some(chain) = t.chain(&name) else { return Some(format!("{label} jumps to a missing chain")) };
                for r in &chain.rules {
                    for e in &r.exprs {
                        let verdicts: Vec<&Verdict> = match e {
                            Expr::Verdict(v) => vec![v],
                            Expr::Vmap { map: MapRef::Inline(pairs), .. } => pairs.iter().map(|(_, v)| v).collect(),
                            Expr::Vmap { map: MapRef::Named(n), .. } => {
                                t.maps.get(n).map(|p| p.iter().map(|(_, v)| v).collect()).unwrap_or_default()
                            }
                            Expr::Vmap { .. } | Expr::Unknown(_) => {
                                return Some(format!("{label} holds what the evaluator does not model"));
                            }
                            Expr::Xt { kind: XtKind::Target, name } if name != "ACCEPT" && name != "RETURN" => {
                                if !matches!(name.as_str(), "LOG" | "NFLOG" | "MARK" | "CONNMARK" | "CT" | "NOTRACK") {
                                    return Some(format!("{label} has an iptables target {name}"));
                                }
                                vec![]
                            }
                            _ => vec![],
                        };
                        for v in verdicts {
                            match v {
                                Verdict::Drop | Verdict::Reject | Verdict::Queue => {
                                    return Some(format!("{label} may drop the reply"));
                                }
                                Verdict::Jump(n) | Verdict::Goto(n) => todo.push(n.clone()),
                                _ => {}
                            }
                        }
                    }
                }
            }
        }
    }
    None
}

/// Whether a new TCP connection from a tailnet peer certainly reaches port
/// `dport` of `dst`, arriving on `Model::tailscale[iface]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Every filter and nat base chain on the prerouting and input hooks
    /// certainly lets it through; one way through each.
    Accepted { path: Vec<String> },
    /// Some chain may drop, reject, queue or rewrite it, or holds something
    /// the evaluator does not model.
    Uncertain { why: String },
    /// A chain cannot let it through.
    Blocked { by: String },
}

/// Judges a tailnet peer's new TCP connection. `Maybe` is never enough:
/// only a path every chain certainly takes is `Accepted`.
pub(crate) fn admits(m: &Model<'_>, dport: u16, iface: usize, dst: std::net::Ipv4Addr) -> Admit {
    let other = |t: &&super::nft::Table| t.family == Family::Other && t.chains.iter().any(|c| c.base.is_some());
    if let Some(t) = m.ruleset.tables.iter().find(other) {
        return Admit::Uncertain { why: format!("{} has base chains the evaluator does not follow", t.label()) };
    }
    if let Some(why) = reply_path_may_drop(m.ruleset) {
        return Admit::Uncertain { why };
    }
    let mut chains: Vec<(u8, i64, usize, &Chain)> = Vec::new();
    for (i, t) in m.ruleset.tables.iter().enumerate() {
        if !matches!(t.family, Family::Inet | Family::Ip) {
            continue;
        }
        // A table that may be dormant is walked as active: if the packet
        // certainly passes it active, it passes it either way.
        if t.dormancy == Dormancy::Dormant {
            continue;
        }
        for c in &t.chains {
            let Some(b) = c.base.as_ref() else { continue };
            let hook = match b.hook.as_str() {
                "ingress" => 0,
                "prerouting" => 1,
                "input" => 2,
                _ => continue,
            };
            if b.kind == "filter" || b.kind == "nat" {
                chains.push((hook, b.prio, i, c));
            }
        }
    }
    chains.sort_by_key(|(hook, prio, i, _)| (*hook, *prio, *i));
    let mut walk = eval::tailnet_walk(m, dport, iface, dst);
    let mut path = Vec::new();
    for (_, _, t, chain) in chains {
        let label = format!("{} {}", m.ruleset.tables[t].label(), chain.name);
        let flow = walk.chain(t, &chain.name);
        let policy = chain.base.as_ref().map_or(Policy::Accept, |b| b.policy);
        let falls_to_drop = flow.ret && policy == Policy::Drop;
        if flow.accept.is_none() && (!flow.ret || policy == Policy::Drop) {
            return Admit::Blocked { by: label };
        }
        if flow.may_drop || falls_to_drop {
            return Admit::Uncertain { why: format!("{label} may drop or rewrite it") };
        }
        match flow.accept {
            Some(p) if !flow.ret => path.push(format!("{label} → {}", p.join(" → "))),
            _ => path.push(format!("{label}: policy accept")),
        }
    }
    Admit::Accepted { path }
}

/// `details.tailnet_admits`: for each configured Tailscale interface, each
/// local tailnet address and each TCP port something listens on, whether a
/// tailnet peer's new connection is certainly admitted. The guard reads it
/// before it removes sshd's public listener (docs/doctor.md).
pub(crate) fn report(
    f: &super::verdict::Facts<'_>,
    locals: &[std::net::Ipv4Addr],
    ports: &[u16],
    legacy_rules: bool,
) -> Vec<serde_json::Value> {
    let m = f.model();
    let mut out = Vec::new();
    for (i, name) in f.tailscale.iter().enumerate() {
        for &dst in locals {
            for &port in ports {
                let (verdict, text) = match admits(&m, port, i, dst) {
                    _ if legacy_rules => {
                        ("uncertain", vec!["iptables-legacy holds rules the evaluator cannot see".to_owned()])
                    }
                    Admit::Accepted { path } => ("accepted", path),
                    Admit::Uncertain { why } => ("uncertain", vec![why]),
                    Admit::Blocked { by } => ("blocked", vec![by]),
                };
                out.push(serde_json::json!({
                    "interface": name, "address": dst.to_string(), "proto": "tcp", "port": port,
                    "verdict": verdict, "path": text,
                }));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
