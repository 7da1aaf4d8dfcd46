//! Rewrites the firewall check cannot follow: destination NAT,
//! header mangles and iptables targets nft shows only by name, and rules
//! that match an interface by index.

use std::collections::BTreeMap;

use super::nft::{Dormancy, Expr, Family, Key, Rule, Ruleset, Value, XtKind, render_rule};

impl Ruleset {
    /// Rules that may send inbound traffic elsewhere than it was addressed,
    /// or turn it into something else (see [`Expr::Rewrite`]), and iptables
    /// targets nft shows only by name that are not plain verdicts (TPROXY,
    /// DNAT, REDIRECT, NETMAP…): as `table chain (handle N): rule`. Base
    /// chains of the output and postrouting hooks are left out: they do not
    /// touch traffic arriving for this host. A destination rewrite whose
    /// rule only matches a loopback destination cannot match a packet from
    /// outside while `route_localnet` is off (`loopback_routable` false:
    /// the kernel drops such martians first), as Docker's rules for a port
    /// published on 127.0.0.1 are.
    #[cfg(test)]
    pub(crate) fn rewrites(&self, loopback_routable: bool) -> Vec<String> {
        self.rewrite_rules(loopback_routable).into_iter().map(|(t, c, r)| self.rule_label(t, c, r)).collect()
    }

    /// The rules [`Ruleset::rewrites`] names, as (table, chain, rule) indexes.
    pub(crate) fn rewrite_rules(&self, loopback_routable: bool) -> Vec<(usize, usize, usize)> {
        let mut res = Vec::new();
        for (ti, t) in self.tables.iter().enumerate() {
            if t.family == Family::Other || t.dormancy != Dormancy::Active {
                continue;
            }
            for (ci, c) in t.chains.iter().enumerate() {
                if c.base.as_ref().is_some_and(|b| matches!(b.hook.as_str(), "output" | "postrouting")) {
                    continue;
                }
                for (ri, r) in c.rules.iter().enumerate() {
                    let rewrites = r.exprs.iter().any(|e| match e {
                        Expr::Rewrite(..) => true,
                        Expr::Xt { kind: XtKind::Target, name } => !PLAIN_XT_TARGETS.contains(&name.as_str()),
                        _ => false,
                    });
                    if rewrites && (loopback_routable || !only_loopback_destination(r)) {
                        res.push((ti, ci, ri));
                    }
                }
            }
        }
        res
    }

    /// `table chain (handle N): rule`, every statement shown.
    pub(crate) fn rule_label(&self, t: usize, c: usize, r: usize) -> String {
        let (table, chain) = (&self.tables[t], &self.tables[t].chains[c]);
        let rule = &chain.rules[r];
        let handle = rule.handle.map(|h| format!(" (handle {h})")).unwrap_or_default();
        format!("{} {}{handle}: {}", table.label(), chain.name, render_rule(rule))
    }

    /// Rules that match an interface by index (`meta iif 4`): an index a
    /// recreated interface (tailscaled's) no longer has. With what has that
    /// index now, from `names` (index → name).
    pub(crate) fn iif_by_index(&self, names: &BTreeMap<i64, String>) -> Vec<String> {
        let mut res = Vec::new();
        for (t, c, r) in self.rules() {
            for e in &r.exprs {
                // nft writes the index as a number or, for `iif "name"`
                // resolved at load time, as a numeric string.
                let index = match e {
                    Expr::Match { left: Key::Meta(m), right: Value::Num(i), .. } => Some((m, *i)),
                    Expr::Match { left: Key::Meta(m), right: Value::Str(t), .. } => t.parse().ok().map(|i| (m, i)),
                    _ => None,
                };
                if let Some((m, i)) = index
                    && matches!(m.as_str(), "iif" | "oif")
                {
                    let i = &i;
                    let now = names.get(i).map_or_else(|| "no interface".to_owned(), |n| format!("`{n}`"));
                    let handle = r.handle.map(|h| format!(" (handle {h})")).unwrap_or_default();
                    res.push(format!(
                        "{} {}{handle} matches `meta {m} {i}`: interface index {i} is now {now}; match by name with `{m}name` instead",
                        t.label(),
                        c.name
                    ));
                }
            }
        }
        res
    }
}

/// iptables targets that only decide or observe: every other one is a
/// rewrite the evaluator cannot follow.
const PLAIN_XT_TARGETS: &[&str] = &["ACCEPT", "DROP", "REJECT", "RETURN", "LOG", "NFLOG", "CT", "NOTRACK"];

/// Whether every match on the destination address of `r` requires a
/// loopback address (127.0.0.0/8, ::1): and there is one.
fn only_loopback_destination(r: &Rule) -> bool {
    let mut any = false;
    for e in &r.exprs {
        if let Expr::Match { op, left: Key::Payload { protocol, field }, right } = e
            && field == "daddr"
            && matches!(protocol.as_str(), "ip" | "ip6")
            && matches!(op.as_str(), "==" | "in")
        {
            if !is_loopback(right) {
                return false;
            }
            any = true;
        }
    }
    any
}

fn is_loopback(v: &Value) -> bool {
    let addr = |a: &str| a.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    match v {
        Value::Str(a) => addr(a),
        Value::Prefix(a, len) => addr(a) && (a.contains(':') && *len == 128 || !a.contains(':') && *len >= 8),
        Value::Set(items) => !items.is_empty() && items.iter().all(is_loopback),
        _ => false,
    }
}
