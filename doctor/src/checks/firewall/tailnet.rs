//! Whether the firewall certainly admits a tailnet peer's new TCP
//! connection to one port: the guard removes sshd's public listener only
//! when the tailnet path is proven, and "may accept" is not proof. Every
//! filter and nat base chain on the prerouting and input hooks must let the
//! packet through on every branch; anything that may drop, reject, queue or
//! rewrite it, or that the evaluator does not model, makes the answer
//! uncertain.

use super::eval::{self, Model};
use super::nft::{Chain, Dormancy, Family, Policy};

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
                "prerouting" => 0,
                "input" => 1,
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
    let m = Model {
        ruleset: f.ruleset,
        xt: f.xt,
        ct_new_certain: !f.ruleset.has_notrack() && !f.legacy_untracks,
        tailscale: f.tailscale,
    };
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
