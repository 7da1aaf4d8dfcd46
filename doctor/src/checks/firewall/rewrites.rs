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
    /// rule only matches a loopback destination is left out only when a
    /// chain before destination NAT drops that destination from every
    /// interface but `lo` (Docker 28's raw `-d 127.0.0.1 ! -i lo -j DROP`)
    /// and `route_localnet` is off (`loopback_routable` false). The kernel's
    /// martian check does not help: it runs at the route lookup, after
    /// prerouting's NAT has rewritten the destination, so without such a
    /// drop a neighbour on the link reaches a port published on 127.0.0.1.
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
                    let excused = !loopback_routable && only_loopback_destination(r) && self.drops_loopback_early(r);
                    if rewrites && !excused {
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

impl Ruleset {
    /// Whether a `filter` base chain on prerouting, ahead of destination
    /// NAT (priority below -100), drops every loopback destination `r`
    /// matches when it arrives on any interface but `lo`: a rule of just
    /// `ip daddr <loopback>` (or `ip6 daddr ::1`), `iif`/`iifname != "lo"`
    /// and `drop` (counters allowed).
    fn drops_loopback_early(&self, r: &Rule) -> bool {
        let wanted: Vec<&Value> = r
            .exprs
            .iter()
            .filter_map(|e| match e {
                Expr::Match { left: Key::Payload { field, .. }, right, .. } if field == "daddr" => Some(right),
                _ => None,
            })
            .collect();
        let drops: Vec<&Value> = self
            .tables
            .iter()
            .filter(|t| t.family != Family::Other && t.dormancy == Dormancy::Active)
            .flat_map(|t| &t.chains)
            .filter(|c| c.base.as_ref().is_some_and(|b| b.hook == "prerouting" && b.kind == "filter" && b.prio < -100))
            .flat_map(|c| &c.rules)
            .filter_map(loopback_drop)
            .collect();
        let covered = |w: &Value| {
            let addrs = loopback_addrs(w);
            if addrs.is_empty() {
                // A prefix or anything else: only the very same value dropped covers it.
                return drops.contains(&w);
            }
            addrs.iter().all(|a| drops.iter().any(|d| loopback_addrs(d).contains(a) || covers_all_loopback(d, *a)))
        };
        !wanted.is_empty() && wanted.iter().all(|w| covered(w))
    }
}

/// The destination a rule of just `daddr <loopback>`, `iif(name) != "lo"`
/// and `drop` drops.
fn loopback_drop(r: &Rule) -> Option<&Value> {
    let mut daddr = None;
    let mut not_lo = false;
    let mut drop = false;
    for e in &r.exprs {
        match e {
            Expr::Match { op, left: Key::Payload { field, .. }, right } if field == "daddr" && op == "==" => {
                daddr = Some(right);
            }
            Expr::Match { op, left: Key::Meta(m), right: Value::Str(s) }
                if op == "!=" && (m == "iifname" || m == "iif") && s == "lo" =>
            {
                not_lo = true;
            }
            Expr::Verdict(super::nft::Verdict::Drop) => drop = true,
            Expr::Statement(_) => {}
            _ => return None,
        }
    }
    daddr.filter(|d| not_lo && drop && is_loopback(d))
}

/// The single loopback addresses a value names (a prefix yields none).
fn loopback_addrs(v: &Value) -> Vec<std::net::IpAddr> {
    match v {
        Value::Str(a) => a.parse().into_iter().collect(),
        Value::Set(items) => items.iter().flat_map(loopback_addrs).collect(),
        _ => Vec::new(),
    }
}

/// Whether a drop's destination prefix holds `a` (`127.0.0.0/8` holds every IPv4 loopback address).
fn covers_all_loopback(d: &Value, a: std::net::IpAddr) -> bool {
    match (d, a) {
        (Value::Prefix(p, len), std::net::IpAddr::V4(v4)) if p.parse::<std::net::Ipv4Addr>().is_ok() => {
            let base = u32::from(p.parse::<std::net::Ipv4Addr>().unwrap_or(std::net::Ipv4Addr::UNSPECIFIED));
            let mask = if *len == 0 { 0 } else { u32::MAX << (32 - u32::from(*len).min(32)) };
            base & mask == u32::from(v4) & mask
        }
        _ => false,
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
