//! Decides the `firewall` check from gathered facts (pure): sweeps every
//! port class the ruleset distinguishes, for TCP and UDP over IPv4 and IPv6,
//! and sorts what is reachable into the contract's allowances and failures.

use std::collections::{BTreeMap, BTreeSet};

use super::eval::{self, Ipv, L4, Model, Probe, Reach, XtDetails};
use super::nft::{Expr, MapRef, Ruleset, Value};

/// WireGuard's UDP port, which Tailscale needs open for direct connections.
pub(crate) const WIREGUARD: u16 = 41641;
/// DHCP and DHCPv6 (client port, server port): ufw's stock before-rules
/// accept replies to the client port from the server port.
pub(crate) const DHCP: [(u16, u16); 2] = [(68, 67), (546, 547)];

/// What the decision reads.
pub(crate) struct Facts<'a> {
    pub(crate) ruleset: &'a Ruleset,
    pub(crate) xt: &'a XtDetails,
    /// Non-loopback listeners, or `None` if the socket table could not be read.
    pub(crate) listeners: Option<&'a BTreeSet<(L4, u16)>>,
    /// A legacy raw-table rule may make the packet untracked (NOTRACK, CT).
    pub(crate) legacy_untracks: bool,
    /// `listeners.tailscale_interfaces`.
    pub(crate) tailscale: &'a [String],
}

/// A reachable port range, with one chain path that admits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Open {
    pub(crate) l4: L4,
    pub(crate) lo: u16,
    pub(crate) hi: u16,
    pub(crate) families: Vec<Ipv>,
    pub(crate) path: Vec<String>,
}

impl Open {
    pub(crate) fn ports(&self) -> String {
        if self.lo == self.hi {
            format!("{}/{}", self.l4.as_str(), self.lo)
        } else {
            format!("{}/{}-{}", self.l4.as_str(), self.lo, self.hi)
        }
    }
}

/// One thing the sweep found reachable from outside the tailnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Exposure {
    /// A port with a non-loopback listener: a failure.
    Listener(Open),
    /// Ports the ruleset opens with nothing listening now: a failure.
    Ports(Open),
    /// udp/41641 (contract: WireGuard).
    WireGuard(Open),
    /// udp/68 from source port 67 only (DHCPv6: 546 from 547), nothing
    /// listening: ufw's stock DHCP-client rules.
    DhcpClient(Open),
}

impl Exposure {
    pub(crate) fn allowed(&self) -> bool {
        match self {
            Exposure::Listener(_) | Exposure::Ports(_) => false,
            Exposure::WireGuard(_) | Exposure::DhcpClient(_) => true,
        }
    }
    pub(crate) fn open(&self) -> &Open {
        match self {
            Exposure::Listener(o) | Exposure::Ports(o) | Exposure::WireGuard(o) | Exposure::DhcpClient(o) => o,
        }
    }
}

/// The decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Judgement {
    pub(crate) exposures: Vec<Exposure>,
    /// Reachable ports the ruleset does not name: its default lets traffic in.
    pub(crate) other_ports_open: bool,
    /// Input base chains considered, as `family table chain (prio N, policy P)`.
    pub(crate) chains: Vec<String>,
    /// Tables whose `flags` could not be read: treated as dormant.
    pub(crate) unclear_tables: Vec<String>,
}

impl Judgement {
    pub(crate) fn failures(&self) -> impl Iterator<Item = &Exposure> {
        self.exposures.iter().filter(|e| !e.allowed())
    }
}

/// The ports the sweep probes: the bounds of every interval the ruleset
/// names, every listener, their neighbours, and a few fixed ones; each
/// stands for itself and the ports up to the next.
pub(crate) fn candidate_ports(f: &Facts<'_>) -> Vec<u16> {
    let mentioned = mentioned_ports(f.ruleset, f.xt);
    let listeners: BTreeSet<(L4, u16)> = f.listeners.cloned().unwrap_or_default();
    let mut candidates: BTreeSet<u16> = [1, u16::MAX, WIREGUARD, DHCP[0].0, DHCP[1].0].into_iter().collect();
    let bounds = mentioned.iter().flat_map(|&(a, b)| [a, b]);
    for p in bounds.chain(listeners.iter().map(|(_, p)| *p)) {
        candidates.extend([p.saturating_sub(1).max(1), p, p.saturating_add(1)]);
    }
    candidates.into_iter().collect()
}

impl<'a> Facts<'a> {
    /// The evaluator's model of these facts: the packet's conntrack state is
    /// certainly `new` unless nft's `notrack` or a legacy raw rule may make
    /// it untracked.
    pub(crate) fn model(&self) -> Model<'a> {
        Model {
            ruleset: self.ruleset,
            xt: self.xt,
            ct_new_certain: !self.ruleset.has_notrack() && !self.legacy_untracks,
            tailscale: self.tailscale,
        }
    }
}

/// Sweeps the ports and classifies what is reachable.
pub(crate) fn judge(f: &Facts<'_>) -> Judgement {
    let model = f.model();
    let mentioned = mentioned_ports(f.ruleset, f.xt);
    let listeners: BTreeSet<(L4, u16)> = f.listeners.cloned().unwrap_or_default();
    let candidates = candidate_ports(f);

    let mut exposures = Vec::new();
    let mut other_ports_open = false;
    for l4 in [L4::Tcp, L4::Udp] {
        // Each candidate stands for itself and the ports up to the next one.
        let results: Vec<(u16, u16, Vec<Ipv>, Vec<String>)> = candidates
            .iter()
            .enumerate()
            .filter_map(|(i, &port)| {
                let hi = candidates.get(i + 1).map_or(port, |next| next - 1);
                let mut fams = Vec::new();
                let mut path = Vec::new();
                for ipv in [Ipv::V4, Ipv::V6] {
                    if let Reach::Open { path: p } = eval::reach(&model, Probe { ipv, l4, dport: port, sport: None }) {
                        if path.is_empty() {
                            path = p;
                        }
                        fams.push(ipv);
                    }
                }
                (!fams.is_empty()).then_some((port, hi, fams, path))
            })
            .collect();
        let paths: BTreeMap<u16, Vec<String>> = results.iter().map(|(p, _, _, path)| (*p, path.clone())).collect();
        for (lo, hi, families, path) in merge(results) {
            let open = Open { l4, lo, hi, families, path };
            // A reachable port outside every interval the ruleset names: its default admits it.
            let named = |p: u16| mentioned.iter().any(|&(a, b)| a <= p && p <= b);
            other_ports_open |= candidates.iter().any(|&p| lo <= p && p <= hi && !named(p));
            classify(&model, &candidates, f.listeners.is_some(), &listeners, &paths, open, &mut exposures);
        }
    }
    let chains = [Ipv::V4, Ipv::V6]
        .into_iter()
        .flat_map(|ipv| eval::input_chains(f.ruleset, ipv))
        .map(|(t, c)| {
            let b = c.base.as_ref();
            let policy = b.map_or("accept", |b| if b.policy == super::nft::Policy::Drop { "drop" } else { "accept" });
            format!("{} {} (prio {}, policy {policy})", f.ruleset.tables[t].label(), c.name, b.map_or(0, |b| b.prio))
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    Judgement { exposures, other_ports_open, chains, unclear_tables: eval::unclear_tables(f.ruleset) }
}

/// Merges adjacent reachable ranges with the same families into runs.
fn merge(results: Vec<(u16, u16, Vec<Ipv>, Vec<String>)>) -> Vec<(u16, u16, Vec<Ipv>, Vec<String>)> {
    let mut runs: Vec<(u16, u16, Vec<Ipv>, Vec<String>)> = Vec::new();
    for (lo, hi, fams, path) in results {
        match runs.last_mut() {
            Some(last) if u32::from(last.1) + 1 == u32::from(lo) && last.2 == fams => last.1 = hi,
            _ => runs.push((lo, hi, fams, path)),
        }
    }
    runs
}

/// Splits one reachable run into allowances, listeners and other ports.
fn classify(
    model: &Model<'_>,
    candidates: &[u16],
    listeners_known: bool,
    listeners: &BTreeSet<(L4, u16)>,
    paths: &BTreeMap<u16, Vec<String>>,
    open: Open,
    out: &mut Vec<Exposure>,
) {
    let mut rest = vec![(open.lo, open.hi)];
    let single = |port: u16| Open { lo: port, hi: port, ..open.clone() };
    if open.l4 == L4::Udp && (open.lo..=open.hi).contains(&WIREGUARD) {
        out.push(Exposure::WireGuard(single(WIREGUARD)));
        carve(&mut rest, WIREGUARD);
    }
    for (client, server) in DHCP {
        let listened = !listeners_known || listeners.contains(&(L4::Udp, client));
        if open.l4 == L4::Udp
            && (open.lo..=open.hi).contains(&client)
            && !listened
            && dhcp_only_from_server(model, candidates, client, server)
        {
            out.push(Exposure::DhcpClient(single(client)));
            carve(&mut rest, client);
        }
    }
    for (l4, port) in listeners.iter().filter(|(l4, p)| *l4 == open.l4 && (open.lo..=open.hi).contains(p)) {
        if rest.iter().any(|(lo, hi)| (lo..=hi).contains(&port)) {
            let mut o = single(*port);
            o.l4 = *l4;
            // A listener's port is a candidate of its own: show its own path.
            if let Some(path) = paths.get(port) {
                o.path.clone_from(path);
            }
            out.push(Exposure::Listener(o));
        }
    }
    for (lo, hi) in rest {
        let only_listeners = (lo..=hi).all(|p| listeners.contains(&(open.l4, p)));
        if !only_listeners {
            out.push(Exposure::Ports(Open { lo, hi, ..open.clone() }));
        }
    }
}

/// Removes one port from a list of ranges.
fn carve(rest: &mut Vec<(u16, u16)>, port: u16) {
    *rest = rest
        .iter()
        .flat_map(|&(lo, hi)| {
            if !(lo..=hi).contains(&port) {
                return vec![(lo, hi)];
            }
            let mut parts = Vec::new();
            if port > lo {
                parts.push((lo, port - 1));
            }
            if port < hi {
                parts.push((port + 1, hi));
            }
            parts
        })
        .collect();
}

/// udp/`client` is reachable from source port `server` and from no other source port.
fn dhcp_only_from_server(model: &Model<'_>, candidates: &[u16], client: u16, server: u16) -> bool {
    let reach = |ipv, sport| {
        matches!(eval::reach(model, Probe { ipv, l4: L4::Udp, dport: client, sport: Some(sport) }), Reach::Open { .. })
    };
    let both = [Ipv::V4, Ipv::V6];
    let from_server = both.into_iter().any(|ipv| reach(ipv, server));
    let from_others = candidates.iter().filter(|&&s| s != server).any(|&s| both.into_iter().any(|ipv| reach(ipv, s)));
    from_server && !from_others
}

/// Listener ports grouped for the report: `tcp/22, udp/5353`.
pub(crate) fn port_list(ports: &BTreeSet<(L4, u16)>) -> String {
    let by: BTreeMap<L4, Vec<String>> = ports.iter().fold(BTreeMap::new(), |mut m, (l4, p)| {
        m.entry(*l4).or_insert_with(Vec::new).push(p.to_string());
        m
    });
    by.iter().map(|(l4, ps)| format!("{}/{}", l4.as_str(), ps.join(","))).collect::<Vec<_>>().join(" ")
}

/// Every port interval the ruleset names (match constants and ranges, set
/// and map elements, iptables options): ports between two bounds behave alike,
/// and a port outside all of them is one the ruleset does not name.
fn mentioned_ports(rs: &Ruleset, xt: &XtDetails) -> Vec<(u16, u16)> {
    fn walk(v: &Value, out: &mut Vec<(u16, u16)>) {
        match v {
            Value::Num(n) => out.extend(u16::try_from(*n).ok().map(|p| (p, p))),
            Value::Range(a, b) => match (a.as_ref(), b.as_ref()) {
                (Value::Num(a), Value::Num(b)) => {
                    if let (Ok(a), Ok(b)) = (u16::try_from(*a), u16::try_from(*b)) {
                        out.push((a.min(b), a.max(b)));
                    }
                }
                _ => {
                    walk(a, out);
                    walk(b, out);
                }
            },
            Value::Set(items) | Value::Concat(items) => items.iter().for_each(|i| walk(i, out)),
            Value::Str(_) | Value::Prefix(..) | Value::SetRef(_) | Value::Other(_) => {}
        }
    }
    let mut out = Vec::new();
    for t in &rs.tables {
        t.sets.values().flatten().for_each(|v| walk(v, &mut out));
        t.maps.values().flatten().for_each(|(k, _)| walk(k, &mut out));
    }
    for (_, _, r) in rs.rules() {
        for e in &r.exprs {
            match e {
                Expr::Match { right, .. } => walk(right, &mut out),
                Expr::Vmap { map: MapRef::Inline(pairs), .. } => pairs.iter().for_each(|(k, _)| walk(k, &mut out)),
                _ => {}
            }
        }
    }
    for rule in xt.values().flatten() {
        for tok in &rule.tokens {
            for part in tok.split(',') {
                let mut ends = part.splitn(2, ':').map(|s| s.parse::<u16>().ok());
                match (ends.next().flatten(), ends.next()) {
                    (Some(a), None) => out.push((a, a)),
                    (Some(a), Some(Some(b))) => out.push((a.min(b), a.max(b))),
                    _ => {}
                }
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}
