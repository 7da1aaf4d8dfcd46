//! The pure evaluator: can a new connection from outside the tailnet reach
//! one port of this host, given the ruleset the kernel enforces?
//!
//! The packet is abstract where the attacker or the host chooses: its source
//! is any unicast address outside the tailnet (and not loopback), its source
//! port is any, it arrives on an interface that is neither `lo` nor a
//! `tailscale*` one, and its destination is one of this host's unicast
//! addresses. Matches are three-valued: a match on something the attacker
//! chooses, or that we do not model, is `Maybe`, and a `Maybe` rule is taken
//! both ways. A chain is followed through jump, goto, return, verdict maps
//! and named sets; the packet passes only if every active input base chain
//! (of each family that sees it) may accept it.

use std::collections::{BTreeMap, HashMap};

use super::classes::{self, Role, TargetEffect, addr, iface, l4_eq, port_eq, xt_target};
use super::legacy::SaveRule;
use super::nft::{Chain, Dormancy, Expr, Family, Key, MapRef, Policy, Rule, Ruleset, Value, Verdict, XtKind};
use super::nft::{render_rule, render_value, render_verdict};

pub(crate) use super::types::{Ipv, L4, Probe, Tri};

/// The iptables-save lines of iptables-nft chains, keyed by (family, table,
/// chain), used to read the options of `xt` matches. Only chains whose rule
/// count equals nft's are kept, so lines and rules pair up by position.
pub(crate) type XtDetails = BTreeMap<(Family, String, String), Vec<SaveRule>>;

/// Everything the evaluator reads.
pub(crate) struct Model<'a> {
    pub(crate) ruleset: &'a Ruleset,
    pub(crate) xt: &'a XtDetails,
    /// The packet's conntrack state is certainly `new`: nothing (nft
    /// `notrack`, an unmodelled expression, legacy rules) may make it untracked.
    pub(crate) ct_new_certain: bool,
    /// `listeners.tailscale_interfaces`: names a packet from outside never arrives on.
    pub(crate) tailscale: &'a [String],
}

/// Where the probe's packet comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum From {
    /// Outside the tailnet: the abstract packet above.
    Outside,
    /// A tailnet peer (source in 100.64.0.0/10) arriving on the Tailscale
    /// interface `Model::tailscale[iface]`, to the local address `dst`.
    Tailnet { iface: usize, dst: std::net::Ipv4Addr },
    /// From outside, its destination rewritten by a `dnat` to `dst`, on the
    /// forward path.
    Forwarded { dst: std::net::IpAddr },
}

/// The answer for one probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reach {
    /// Dropped by this base chain (a drop, reject, or its drop policy).
    Blocked { by: String },
    /// Accepted by every input base chain; one way through each.
    Open { path: Vec<String> },
}

/// Tables that may be dormant (an unreadable `flags` value): not credited with drops.
pub(crate) fn unclear_tables(rs: &Ruleset) -> Vec<String> {
    rs.tables.iter().filter(|t| matches!(t.dormancy, Dormancy::Unclear(_))).map(|t| t.label()).collect()
}

/// The input base chains that see packets of `ipv`, in priority order.
pub(crate) fn input_chains(rs: &Ruleset, ipv: Ipv) -> Vec<(usize, &Chain)> {
    hook_chains(rs, ipv, "input")
}

/// The filter base chains on `hook` that see packets of `ipv`, in priority order.
pub(crate) fn hook_chains<'r>(rs: &'r Ruleset, ipv: Ipv, hook: &str) -> Vec<(usize, &'r Chain)> {
    let mut chains: Vec<(i64, usize, &Chain)> = Vec::new();
    for (i, t) in rs.tables.iter().enumerate() {
        let sees = match (t.family, ipv) {
            (Family::Inet, _) | (Family::Ip, Ipv::V4) | (Family::Ip6, Ipv::V6) => true,
            (Family::Ip, Ipv::V6) | (Family::Ip6, Ipv::V4) | (Family::Other, _) => false,
        };
        let active = match t.dormancy {
            Dormancy::Active => true,
            Dormancy::Dormant | Dormancy::Unclear(_) => false,
        };
        if sees && active {
            for c in &t.chains {
                // Only filter chains: a `type nat` chain runs only for packets
                // that start a conntrack entry, so its drops cannot be relied on.
                if let Some(b) = c.base.as_ref().filter(|b| b.hook == hook && b.kind == "filter") {
                    chains.push((b.prio, i, c));
                }
            }
        }
    }
    chains.sort_by_key(|(prio, i, _)| (*prio, *i));
    chains.into_iter().map(|(_, i, c)| (i, c)).collect()
}

/// Can `probe` reach its port? Accept in one base chain moves on to the next;
/// a drop in any ends it.
pub(crate) fn reach(m: &Model<'_>, probe: Probe) -> Reach {
    reach_on(m, probe, "input", From::Outside)
}

/// [`reach`] through the filter base chains of `hook`, for a packet `from`.
pub(crate) fn reach_on(m: &Model<'_>, probe: Probe, hook: &str, from: From) -> Reach {
    let chains = hook_chains(m.ruleset, probe.ipv, hook);
    if chains.is_empty() {
        let fam = match probe.ipv {
            Ipv::V4 => "IPv4",
            Ipv::V6 => "IPv6",
        };
        return Reach::Open { path: vec![format!("no active {hook} chain filters {fam}")] };
    }
    let mut walk = walk_from(m, probe, from);
    let mut path = Vec::new();
    for (t, chain) in chains {
        let label = format!("{} {}", m.ruleset.tables[t].label(), chain.name);
        let flow = walk.chain(t, &chain.name);
        let policy = chain.base.as_ref().map_or(Policy::Accept, |b| b.policy);
        match (flow.accept, flow.ret, policy) {
            (Some(p), _, _) => path.push(format!("{label} → {}", p.join(" → "))),
            (None, true, Policy::Accept) => path.push(format!("{label}: policy accept")),
            (None, true, Policy::Drop) => return Reach::Blocked { by: format!("{label} (policy drop)") },
            (None, false, _) => return Reach::Blocked { by: label },
        }
    }
    Reach::Open { path }
}

/// A walker for a tailnet peer's new TCP connection to `dst:dport` on
/// `Model::tailscale[iface]` (see `tailnet::admits`).
pub(super) fn tailnet_walk<'a>(m: &'a Model<'a>, dport: u16, iface: usize, dst: std::net::Ipv4Addr) -> Walk<'a> {
    walk_from(m, Probe { ipv: Ipv::V4, l4: L4::Tcp, dport, sport: None }, From::Tailnet { iface, dst })
}

/// A walker for `p` coming `from`.
pub(super) fn walk_from<'a>(m: &'a Model<'a>, p: Probe, from: From) -> Walk<'a> {
    Walk { m, p, from, memo: HashMap::new(), stack: Vec::new() }
}

/// What one chain may do with the packet.
#[derive(Debug, Clone, Default)]
pub(super) struct Flow {
    /// One way it may be accepted (rule texts, through jumps).
    pub(super) accept: Option<Vec<String>>,
    /// It may return to the caller (return, or the end of the chain).
    pub(super) ret: bool,
    /// It may be dropped, rejected, queued, rewritten or meet something we
    /// do not model (what `tailnet::admits` needs ruled out).
    pub(super) may_drop: bool,
}

impl Flow {
    /// Records a way to accept; the path is rendered only for the first one.
    fn may_accept(&mut self, path: impl FnOnce() -> Vec<String>) {
        if self.accept.is_none() {
            self.accept = Some(path());
        }
    }
}

/// A step of the report's path, rendered only when an accept needs it.
enum Step<'r> {
    Rule(&'r Rule),
    /// One element of a verdict map in a rule.
    Element(&'r Step<'r>, &'r Value, &'r Verdict),
}

impl Step<'_> {
    fn render(&self) -> String {
        match self {
            Step::Rule(r) => render_rule(r),
            Step::Element(rule, k, v) => format!("{} [{} : {}]", rule.render(), render_value(k), render_verdict(v)),
        }
    }
}

/// Deeper than the kernel allows (16), so reached only by a malformed ruleset.
const MAX_DEPTH: usize = 32;

pub(super) struct Walk<'a> {
    m: &'a Model<'a>,
    p: Probe,
    from: From,
    memo: HashMap<(usize, String), Flow>,
    stack: Vec<(usize, String)>,
}

/// An abstract packet field.
#[derive(Debug, Clone, PartialEq)]
enum Lv {
    /// The protocol the field belongs to is not this packet's: no match, even for `!=`.
    Absent,
    Port(u16),
    SrcPort(Option<u16>),
    L4(L4),
    /// `ip6 nexthdr`: extension headers may come first.
    NextHdr(L4),
    NfProto(Ipv),
    EtherProto(Ipv),
    PktHost,
    Iface,
    Saddr(Ipv),
    Daddr(Ipv),
    FibLocal,
    CtState,
    Concat(Vec<Lv>),
    Unknown,
}

impl Walk<'_> {
    pub(super) fn chain(&mut self, t: usize, name: &str) -> Flow {
        let key = (t, name.to_owned());
        if let Some(f) = self.memo.get(&key) {
            return f.clone();
        }
        let assumed = |why: String| Flow { accept: Some(vec![why]), ret: true, may_drop: true };
        if self.stack.contains(&key) || self.stack.len() > MAX_DEPTH {
            return assumed(format!("{name}: jump loop or depth limit (assumed to accept)"));
        }
        let m = self.m;
        let Some(chain) = m.ruleset.tables[t].chain(name) else {
            return assumed(format!("jump to missing chain {name} (assumed to accept)"));
        };
        self.stack.push(key.clone());
        let mut flow = Flow::default();
        let mut reached_end = true;
        for (i, rule) in chain.rules.iter().enumerate() {
            if !self.rule(t, chain, i, rule, &mut flow) {
                reached_end = false;
                break;
            }
        }
        flow.ret |= reached_end;
        self.stack.pop();
        self.memo.insert(key, flow.clone());
        flow
    }

    /// Whether this probe may match `rule` up to its first rewrite (a
    /// rewrite's own condition; what comes after it does not gate it).
    pub(super) fn rewrite_cond(&mut self, t: usize, chain: &Chain, idx: usize, rule: &Rule) -> Tri {
        let table = &self.m.ruleset.tables[t];
        let save = self.m.xt.get(&(table.family, table.name.clone(), chain.name.clone())).and_then(|v| v.get(idx));
        let mut cond = Tri::Yes;
        let mut xt_seen: HashMap<&str, usize> = HashMap::new();
        for e in &rule.exprs {
            match e {
                Expr::Match { op, left, right } => cond = cond.and(self.matches(t, op, left, right)),
                Expr::MaybeMatch(_) | Expr::Unknown(_) => cond = cond.and(Tri::Maybe),
                Expr::Xt { kind: XtKind::Match, name } => {
                    let n = xt_seen.entry(name.as_str()).or_insert(0);
                    let opts = save.and_then(|s| s.module(name, *n));
                    *n += 1;
                    cond = cond.and(self.xt_match(name, opts));
                }
                Expr::Rewrite(..) | Expr::Xt { kind: XtKind::Target, .. } => return cond,
                _ => {}
            }
            if cond == Tri::No {
                return Tri::No;
            }
        }
        cond
    }

    /// Evaluates one rule; returns whether evaluation may go on after it.
    fn rule(&mut self, t: usize, chain: &Chain, idx: usize, rule: &Rule, flow: &mut Flow) -> bool {
        let m = self.m;
        let table = &m.ruleset.tables[t];
        let save = m.xt.get(&(table.family, table.name.clone(), chain.name.clone())).and_then(|v| v.get(idx));
        let text = Step::Rule(rule);
        let mut cond = Tri::Yes;
        let mut xt_seen: HashMap<&str, usize> = HashMap::new();
        for e in &rule.exprs {
            match e {
                Expr::Match { op, left, right } => cond = cond.and(self.matches(t, op, left, right)),
                Expr::MaybeMatch(_) => cond = cond.and(Tri::Maybe),
                Expr::Statement(_) | Expr::Notrack => {}
                Expr::Rewrite(..) => flow.may_drop |= cond != Tri::No,
                Expr::Xt { kind: XtKind::Match, name } => {
                    let n = xt_seen.entry(name.as_str()).or_insert(0);
                    let opts = save.and_then(|s| s.module(name, *n));
                    *n += 1;
                    cond = cond.and(self.xt_match(name, opts));
                }
                Expr::Xt { kind: XtKind::Target, name } => match xt_target(name) {
                    TargetEffect::Continue => {}
                    TargetEffect::Drop => return self.apply(t, &Verdict::Drop, cond, &text, flow),
                    TargetEffect::MayAccept => {
                        flow.may_drop |= cond != Tri::No;
                        if cond != Tri::No {
                            flow.may_accept(|| {
                                vec![format!(
                                    "{} (an iptables target we do not model: assumed to accept)",
                                    text.render()
                                )]
                            });
                        }
                        return true;
                    }
                },
                Expr::Verdict(v) => return self.apply(t, v, cond, &text, flow),
                Expr::Vmap { key, map } => return self.vmap(t, key, map, cond, &text, flow),
                Expr::Unknown(_) => {
                    flow.may_drop |= cond != Tri::No;
                    if cond != Tri::No {
                        flow.may_accept(|| {
                            vec![format!("{} (an expression we do not model: assumed it may accept)", text.render())]
                        });
                    }
                    cond = cond.and(Tri::Maybe);
                }
            }
            if cond == Tri::No {
                return true;
            }
        }
        true
    }

    fn apply(&mut self, t: usize, v: &Verdict, cond: Tri, text: &Step<'_>, flow: &mut Flow) -> bool {
        if cond == Tri::No {
            return true;
        }
        let unsure = cond == Tri::Maybe;
        match v {
            Verdict::Accept => {
                flow.may_accept(|| vec![text.render()]);
                unsure
            }
            Verdict::Queue => {
                flow.may_accept(|| vec![text.render()]);
                flow.may_drop = true;
                unsure
            }
            Verdict::Drop | Verdict::Reject => {
                flow.may_drop = true;
                unsure
            }
            Verdict::Continue => true,
            Verdict::Return => {
                flow.ret = true;
                unsure
            }
            Verdict::Jump(target) | Verdict::Goto(target) => {
                let sub = self.chain(t, target);
                flow.may_drop |= sub.may_drop;
                if let Some(p) = sub.accept {
                    flow.may_accept(|| std::iter::once(text.render()).chain(p).collect());
                }
                match v {
                    // A jump's return comes back here; a goto's returns from this chain.
                    Verdict::Jump(_) => sub.ret || unsure,
                    _ => {
                        flow.ret |= sub.ret;
                        unsure
                    }
                }
            }
        }
    }

    fn vmap(&mut self, t: usize, key: &Key, map: &MapRef, cond: Tri, text: &Step<'_>, flow: &mut Flow) -> bool {
        let m = self.m;
        let elems: &[(Value, Verdict)] = match map {
            MapRef::Inline(pairs) => pairs,
            MapRef::Named(name) => match m.ruleset.tables[t].maps.get(name) {
                Some(pairs) => pairs,
                None => {
                    flow.may_drop = true;
                    flow.may_accept(|| vec![format!("{} (map not found: assumed it may accept)", text.render())]);
                    return true;
                }
            },
            MapRef::Other(_) => {
                flow.may_drop = true;
                flow.may_accept(|| vec![format!("{} (map we do not model: assumed it may accept)", text.render())]);
                return true;
            }
        };
        let lv = self.left(key);
        if lv == Lv::Absent {
            return true;
        }
        for (k, v) in elems {
            let hit = cond.and(self.member(t, &lv, k));
            let step = Step::Element(text, k, v);
            let go_on = self.apply(t, v, hit, &step, flow);
            if hit == Tri::Yes {
                return go_on;
            }
        }
        true
    }

    fn matches(&self, t: usize, op: &str, left: &Key, right: &Value) -> Tri {
        let lv = self.left(left);
        if lv == Lv::Absent {
            return Tri::No;
        }
        match op {
            "==" | "in" => self.member(t, &lv, right),
            "!=" => self.member(t, &lv, right).not(),
            "<" | ">" | "<=" | ">=" => {
                let (Lv::Port(p) | Lv::SrcPort(Some(p)), Value::Num(n)) = (&lv, right) else { return Tri::Maybe };
                let (p, n) = (i64::from(*p), *n);
                Tri::from(match op {
                    "<" => p < n,
                    ">" => p > n,
                    "<=" => p <= n,
                    _ => p >= n,
                })
            }
            _ => Tri::Maybe,
        }
    }

    fn member(&self, t: usize, lv: &Lv, v: &Value) -> Tri {
        match v {
            Value::Set(items) => Tri::any(items.iter().map(|i| self.member(t, lv, i))),
            Value::SetRef(name) if self.m.ruleset.tables[t].dynamic_sets.contains(name) => {
                // Packets can add themselves (port knocking): not a fixed set.
                Tri::Maybe
            }
            Value::SetRef(name) => match self.m.ruleset.tables[t].sets.get(name) {
                Some(items) => Tri::any(items.iter().map(|i| self.member(t, lv, i))),
                None => Tri::Maybe,
            },
            _ => self.eq(lv, v),
        }
    }

    fn left(&self, k: &Key) -> Lv {
        let p = self.p;
        match k {
            Key::Payload { protocol, field } => {
                let transport = |field: &str| match field {
                    "dport" => Lv::Port(p.dport),
                    "sport" => Lv::SrcPort(p.sport),
                    _ => Lv::Unknown,
                };
                match (protocol.as_str(), field.as_str()) {
                    ("tcp", f) if p.l4 == L4::Tcp => transport(f),
                    ("udp", f) if p.l4 == L4::Udp => transport(f),
                    ("th", f) => transport(f),
                    ("tcp" | "udp", _) => Lv::Absent,
                    ("ip", _) if p.ipv != Ipv::V4 => Lv::Absent,
                    ("ip6", _) if p.ipv != Ipv::V6 => Lv::Absent,
                    ("ip" | "ip6", "saddr") => Lv::Saddr(p.ipv),
                    ("ip" | "ip6", "daddr") => Lv::Daddr(p.ipv),
                    ("ip", "protocol") => Lv::L4(p.l4),
                    ("ip6", "nexthdr") => Lv::NextHdr(p.l4),
                    ("icmp" | "icmpv6" | "igmp" | "sctp" | "dccp" | "udplite" | "gre" | "arp", _) => Lv::Absent,
                    _ => Lv::Unknown,
                }
            }
            Key::Meta(key) => match key.as_str() {
                "iif" | "iifname" => Lv::Iface,
                "l4proto" => Lv::L4(p.l4),
                "nfproto" => Lv::NfProto(p.ipv),
                "protocol" => Lv::EtherProto(p.ipv),
                "pkttype" => Lv::PktHost,
                _ => Lv::Unknown,
            },
            Key::Ct(key) if key == "state" => Lv::CtState,
            Key::Fib { result, flags } if result == "type" && flags.iter().any(|f| f == "daddr") => Lv::FibLocal,
            Key::Concat(keys) => {
                let parts: Vec<Lv> = keys.iter().map(|k| self.left(k)).collect();
                if parts.contains(&Lv::Absent) { Lv::Absent } else { Lv::Concat(parts) }
            }
            Key::Ct(_) | Key::Fib { .. } | Key::Other(_) => Lv::Unknown,
        }
    }

    fn eq(&self, lv: &Lv, v: &Value) -> Tri {
        match (lv, v) {
            (Lv::Absent, _) => Tri::No,
            (Lv::Unknown, _) | (_, Value::Other(_)) => Tri::Maybe,
            (Lv::Concat(parts), Value::Concat(vals)) if parts.len() == vals.len() => {
                parts.iter().zip(vals).fold(Tri::Yes, |acc, (l, v)| acc.and(self.eq(l, v)))
            }
            (Lv::Port(p) | Lv::SrcPort(Some(p)), v) => port_eq(*p, v),
            (Lv::SrcPort(None), _) => Tri::Maybe,
            (Lv::L4(l), v) => l4_eq(*l, v),
            (Lv::NextHdr(l), v) => l4_eq(*l, v).min(Tri::Maybe),
            (Lv::NfProto(i), Value::Str(s)) => {
                Tri::from(matches!((i, s.as_str()), (Ipv::V4, "ipv4") | (Ipv::V6, "ipv6")))
            }
            (Lv::NfProto(i), Value::Num(n)) => Tri::from(matches!((i, n), (Ipv::V4, 2) | (Ipv::V6, 10))),
            (Lv::EtherProto(i), Value::Str(s)) => {
                Tri::from(matches!((i, s.as_str()), (Ipv::V4, "ip") | (Ipv::V6, "ip6")))
            }
            (Lv::EtherProto(i), Value::Num(n)) => Tri::from(matches!((i, n), (Ipv::V4, 0x0800) | (Ipv::V6, 0x86dd))),
            (Lv::PktHost | Lv::FibLocal, Value::Str(s)) => Tri::from(matches!(s.as_str(), "host" | "local")),
            (Lv::Iface, Value::Str(name)) => match self.from {
                From::Outside | From::Forwarded { .. } => iface(name, self.m.tailscale),
                From::Tailnet { iface, .. } => classes::iface_is(name, &self.m.tailscale[iface]),
            },
            (Lv::Saddr(i), v) => match self.from {
                From::Outside | From::Forwarded { .. } => addr(*i, v, Role::Source),
                From::Tailnet { .. } => classes::covers(v, classes::TAILNET_V4),
            },
            (Lv::Daddr(i), v) => match self.from {
                From::Outside => addr(*i, v, Role::Destination),
                From::Forwarded { dst } => classes::is_addr(dst, v),
                From::Tailnet { dst, .. } => {
                    let n = u128::from(u32::from(dst));
                    classes::covers(v, (n, n))
                }
            },
            (Lv::CtState, Value::Str(s)) => self.ct_state(s),
            _ => Tri::Maybe,
        }
    }

    fn ct_state(&self, state: &str) -> Tri {
        if !self.m.ct_new_certain {
            return Tri::Maybe;
        }
        match state.to_ascii_lowercase().as_str() {
            "new" => Tri::Yes,
            "established" | "related" | "invalid" | "untracked" => Tri::No,
            _ => Tri::Maybe,
        }
    }

    fn xt_match(&self, name: &str, opts: Option<&[String]>) -> Tri {
        classes::xt_match(name, opts, self.p, |s| self.ct_state(s))
    }
}
