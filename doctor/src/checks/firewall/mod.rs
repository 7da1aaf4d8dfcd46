//! `firewall`: can a new connection from outside the tailnet reach this host?
//!
//! Gather (IO): `nft -j list ruleset`, the iptables-nft options nft shows
//! only by name (`iptables-nft-save`), the legacy tables nft cannot see
//! (`iptables-legacy-save`), `ufw status verbose` for the report, and the
//! listening sockets. Decide (pure): `verdict::judge` over `eval`. Render:
//! one `Outcome` naming each reachable port and the chain path that admits it.

mod classes;
mod eval;
mod legacy;
mod nat;
mod nft;
mod rewrites;
mod tailnet;
mod types;
mod ufw;
mod verdict;

#[cfg(test)]
mod rewrite_tests;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use common::policy::{Class, Proto, classify};
use common::process::CmdError;
use serde_json::{Value, json};

use self::eval::{Ipv, L4, XtDetails};
use self::nft::{Family, Ruleset};
use self::verdict::{Exposure, Facts, Judgement};
use super::{Ctx, Outcome};

const FIX_INSTALL: &str =
    "install ufw and run: ufw default deny incoming; ufw allow in on tailscale0; ufw allow 41641/udp; ufw enable";
const FIX_OPEN: &str = "make every input base chain drop new inbound traffic except on lo and tailscale0 and udp/41641: \
    remove the accepting rule, jump or map element named above (`nft -a list ruleset` shows handles; \
    `nft delete rule FAMILY TABLE CHAIN handle N`), and remove rules added beside ufw (`iptables -S INPUT`, `iptables -D INPUT N`). \
    With ufw: ufw default deny incoming; ufw allow in on tailscale0; ufw allow 41641/udp; delete other ALLOW rules (`ufw status numbered`, `ufw delete N`)";

/// What `ufw status verbose` gave.
enum UfwRead {
    Missing,
    Failed(String),
    Status(String),
}

pub(crate) fn check(ctx: &Ctx) -> Outcome {
    if !ctx.is_root {
        return Outcome::error("reading the firewall state needs root; run openclaw-doctor as root");
    }
    // ufw is a slow Python start-up and only feeds the report: read it beside nft.
    let (ufw, nft_out) = std::thread::scope(|s| {
        let ufw = s.spawn(|| read_ufw(ctx));
        let nft_out = ctx.cmd("nft", &["-j", "list", "ruleset"]);
        (ufw.join().unwrap_or_else(|_| UfwRead::Failed("reading ufw's status panicked".into())), nft_out)
    });
    let nft_text = match nft_out {
        Err(CmdError::NotFound(_)) if matches!(ufw, UfwRead::Missing) => {
            return Outcome::fail("no firewall found (neither ufw nor nft is installed)", FIX_INSTALL);
        }
        Err(CmdError::NotFound(_)) => {
            return Outcome::error(
                "nft is not installed, so the ruleset the kernel enforces cannot be read (ufw's own status is not enough); install the nftables package",
            )
            .details(json!({"ufw": ufw_json(&ufw)}));
        }
        Err(e) => return Outcome::from_cmd_error(&e),
        Ok(out) if !out.status.success() => {
            return Outcome::error(format!("`nft -j list ruleset` failed: {}", out.stderr_line()));
        }
        Ok(out) => out.stdout_text(),
    };
    let ruleset = match nft::parse(&nft_text) {
        Ok(r) => r,
        Err(e) => return Outcome::error(e.to_string()),
    };
    let mut notes = Vec::new();
    let mut raw = String::new();
    if let UfwRead::Status(text) = &ufw {
        raw.push_str(&format!("# ufw status verbose\n{text}\n"));
    }
    raw.push_str(&format!("# nft -j list ruleset\n{nft_text}\n"));
    let xt = if ruleset.has_xt() { read_xt(ctx, &ruleset, &mut notes) } else { XtDetails::new() };
    let (legacy, legacy_untracks) = read_legacy(ctx, &mut notes, &mut raw);
    // Only TCP and UDP are probed; other kinds (UDP-Lite, SCTP, raw, ICMP)
    // are named as not evaluated and keep the check from passing.
    let mut unmodelled = Vec::new();
    let listeners = match ctx.sockets() {
        Ok(table) => Some(
            table
                .sockets
                .iter()
                .filter(|s| classify(s.local.ip()) != Class::Loopback)
                .filter_map(|s| match s.proto {
                    Proto::Tcp => Some((L4::Tcp, s.local.port())),
                    Proto::Udp => Some((L4::Udp, s.local.port())),
                    other => {
                        unmodelled.push(format!("{other} {}", s.local));
                        None
                    }
                })
                .collect::<BTreeSet<_>>(),
        ),
        Err(e) => {
            notes.push(format!(
                "listening sockets unreadable ({e}): every reachable port is judged as if something listened"
            ));
            None
        }
    };
    let tailscale = &ctx.config.listeners.tailscale_interfaces;
    let facts = Facts { ruleset: &ruleset, xt: &xt, listeners: listeners.as_ref(), legacy_untracks, tailscale };
    let judgement = verdict::judge(&facts);
    let tcp_ports: Vec<u16> = listeners.iter().flatten().filter(|(l4, _)| *l4 == L4::Tcp).map(|(_, p)| *p).collect();
    // This host's addresses, as the socket table already read them (read
    // here only when that table could not be).
    let locals: Vec<std::net::IpAddr> = match ctx.sockets().ok().and_then(|t| t.net.addresses.clone().ok()) {
        Some(addrs) => addrs,
        None => common::host_net::interface_addresses().unwrap_or_default(),
    }
    .into_iter()
    .map(|a| a.ip)
    .collect();
    let tailnet_locals: Vec<std::net::Ipv4Addr> = locals
        .iter()
        .filter_map(|ip| match ip {
            std::net::IpAddr::V4(v4) if matches!(v4.octets(), [100, b, ..] if (64..=127).contains(&b)) => Some(*v4),
            _ => None,
        })
        .collect();
    let tailnet_admits = tailnet::report(&facts, &tailnet_locals, &tcp_ports, !legacy.is_empty());
    // Unreadable counts as on: a loopback-only rewrite is then not excused.
    let loopback_routable = crate::sockets::route_localnet().map_or(true, |on| !on.is_empty());
    let model = facts.model();
    let candidates = verdict::candidate_ports(&facts);
    let rewrites =
        nat::rewrites(&model, &nat::NatFacts { candidates: &candidates, locals: &locals, loopback_routable });
    // Interfaces matched by index: an index tailscaled's recreated
    // interface no longer has (the check then fails on dropped tailnet
    // traffic, and this says why).
    let by_index = ruleset.iif_by_index(&interface_indexes());
    notes.extend(by_index.iter().cloned());
    let read = Read {
        ufw: &ufw,
        listeners: listeners.as_ref(),
        unmodelled: &unmodelled,
        legacy: &legacy,
        tailnet_admits,
        rewrites,
    };
    let mut out = render(&judgement, &ruleset, &read, notes, raw);
    if out.status == crate::checks::Status::Fail && !by_index.is_empty() {
        out.summary.push_str(&format!(" (and: {})", by_index.join("; ")));
    }
    out
}

fn read_ufw(ctx: &Ctx) -> UfwRead {
    match ctx.cmd("ufw", &["status", "verbose"]) {
        Err(CmdError::NotFound(_)) => UfwRead::Missing,
        Err(e) => UfwRead::Failed(e.to_string()),
        Ok(out) if !out.status.success() => {
            UfwRead::Failed(format!("`ufw status verbose` failed: {}", out.stderr_line()))
        }
        Ok(out) => UfwRead::Status(out.stdout_text()),
    }
}

/// The iptables-save lines of iptables-nft chains whose rules use `xt` expressions.
/// Interface index → name, from `/sys/class/net/*/ifindex`.
fn interface_indexes() -> std::collections::BTreeMap<i64, String> {
    let mut res = std::collections::BTreeMap::new();
    for e in std::fs::read_dir("/sys/class/net").into_iter().flatten().flatten() {
        if let Some(i) = std::fs::read_to_string(e.path().join("ifindex")).ok().and_then(|t| t.trim().parse().ok()) {
            res.insert(i, e.file_name().to_string_lossy().into_owned());
        }
    }
    res
}

fn read_xt(ctx: &Ctx, ruleset: &Ruleset, notes: &mut Vec<String>) -> XtDetails {
    let mut xt = XtDetails::new();
    for (family, tool) in [(Family::Ip, "iptables-nft-save"), (Family::Ip6, "ip6tables-nft-save")] {
        if !ruleset.tables.iter().any(|t| t.family == family) {
            continue;
        }
        match ctx.cmd(tool, &[]) {
            Ok(out) if out.status.success() => pair_xt(ruleset, family, &out.stdout_text(), tool, &mut xt, notes),
            Ok(out) => {
                notes.push(format!("`{tool}` failed ({}): iptables matches are taken as may-match", out.stderr_line()))
            }
            Err(e) => notes.push(format!("`{tool}` could not run ({e}): iptables matches are taken as may-match")),
        }
    }
    xt
}

/// Pairs the `-A` lines of `save` (iptables-nft-save output for `family`)
/// with nft's rules, chain by chain, where the counts agree.
fn pair_xt(ruleset: &Ruleset, family: Family, save: &str, tool: &str, xt: &mut XtDetails, notes: &mut Vec<String>) {
    let saved = legacy::parse(save);
    for t in ruleset.tables.iter().filter(|t| t.family == family) {
        let Some(st) = saved.iter().find(|s| s.name == t.name) else { continue };
        for c in &t.chains {
            let lines = st.chain_rules(&c.name);
            if lines.len() == c.rules.len() {
                xt.insert((family, t.name.clone(), c.name.clone()), lines.into_iter().cloned().collect());
            } else {
                notes.push(format!(
                    "{} {} {}: `{tool}` shows {} rules, nft {}; its iptables matches are taken as may-match",
                    family.as_str(),
                    t.name,
                    c.name,
                    lines.len(),
                    c.rules.len()
                ));
            }
        }
    }
}

/// Every rule and non-ACCEPT policy in the legacy x_tables, which nft cannot
/// see, and whether a legacy raw-table rule may make packets untracked.
fn read_legacy(ctx: &Ctx, notes: &mut Vec<String>, raw: &mut String) -> (Vec<String>, bool) {
    let mut items = Vec::new();
    let mut untracks = false;
    for (family, tool) in [("ip", "iptables-legacy-save"), ("ip6", "ip6tables-legacy-save")] {
        match ctx.cmd(tool, &[]) {
            Err(CmdError::NotFound(_)) => {}
            Err(e) => notes.push(format!("`{tool}` could not run: {e}")),
            Ok(out) if !out.status.success() => notes.push(format!("`{tool}` failed: {}", out.stderr_line())),
            Ok(out) => {
                let text = out.stdout_text();
                if !text.trim().is_empty() {
                    raw.push_str(&format!("# {tool}\n{text}\n"));
                }
                let tables = legacy::parse(&text);
                untracks |= legacy::untracks(&tables);
                items.extend(legacy::findings(family, &tables).items);
            }
        }
    }
    (items, untracks)
}

fn ufw_json(ufw: &UfwRead) -> Value {
    match ufw {
        UfwRead::Missing => Value::Null,
        UfwRead::Failed(e) => json!({ "error": e }),
        UfwRead::Status(text) => serde_json::to_value(ufw::parse(text)).unwrap_or(Value::Null),
    }
}

fn families(o: &verdict::Open) -> Vec<&'static str> {
    o.families
        .iter()
        .map(|f| match f {
            Ipv::V4 => "ipv4",
            Ipv::V6 => "ipv6",
        })
        .collect()
}

fn describe(e: &Exposure) -> String {
    let o = e.open();
    let what = match e {
        Exposure::Listener(_) => " (something listens)",
        Exposure::Ports(_) => "",
        Exposure::WireGuard(_) => " (WireGuard, allowed)",
        Exposure::DhcpClient(_) => " from the DHCP server port only (DHCP client replies, nothing listening; allowed)",
    };
    let fams = if o.families.len() == 2 { String::new() } else { format!(" [{} only]", families(o).join("")) };
    format!("{}{what}{fams} via {}", o.ports(), o.path.join("; then "))
}

/// What the check read besides the ruleset, for the report.
struct Read<'a> {
    ufw: &'a UfwRead,
    listeners: Option<&'a BTreeSet<(L4, u16)>>,
    unmodelled: &'a [String],
    legacy: &'a [String],
    tailnet_admits: Vec<Value>,
    /// Rewrites outside traffic can meet that land somewhere (`nat`).
    rewrites: Vec<String>,
}

fn render(j: &Judgement, ruleset: &Ruleset, read: &Read<'_>, notes: Vec<String>, raw: String) -> Outcome {
    let Read { ufw, listeners, unmodelled, legacy, .. } = *read;
    let exposures: Vec<Value> = j
        .exposures
        .iter()
        .map(|e| {
            let kind = match e {
                Exposure::Listener(_) => "listener",
                Exposure::Ports(_) => "ports",
                Exposure::WireGuard(_) => "wireguard",
                Exposure::DhcpClient(_) => "dhcp-client",
            };
            let o = e.open();
            json!({"kind": kind, "allowed": e.allowed(), "ports": o.ports(), "families": families(o), "path": o.path})
        })
        .collect();
    let backend = match ufw {
        UfwRead::Status(t) if ufw::parse(t).active => "ufw (its ruleset, read through nft)",
        UfwRead::Status(_) | UfwRead::Missing | UfwRead::Failed(_) => "nftables",
    };
    let rewrites = &read.rewrites;
    let details = json!({
        "backend": backend,
        "nft_version": ruleset.version,
        "ufw": ufw_json(ufw),
        "input_chains": j.chains,
        "exposures": exposures,
        "other_ports_open": j.other_ports_open,
        "listeners": listeners.map(verdict::port_list),
        "tables_treated_as_dormant": j.unclear_tables,
        "legacy_rules": legacy,
        "rewrites": rewrites,
        "unmodelled_listeners": unmodelled,
        "tailnet_admits": read.tailnet_admits,
        "notes": notes,
        "raw": raw,
    });
    if !rewrites.is_empty() {
        // A dnat, redirect, tproxy or a rewritten destination port can carry
        // traffic the ruleset accepts (even udp/41641) to any port or host.
        let shown: Vec<&str> = rewrites.iter().take(4).map(String::as_str).collect();
        return Outcome::fail(
            format!(
                "the ruleset rewrites where inbound traffic goes ({}{}): what it reaches is not evaluated, so no port can be proven closed",
                shown.join("; "),
                if rewrites.len() > shown.len() { format!("; and {} more", rewrites.len() - shown.len()) } else { String::new() }
            ),
            "remove the dnat/redirect/tproxy rules, header rewrites and iptables targets such as TPROXY from the prerouting, input and forward paths; a contract host forwards nothing to other ports or hosts (a port published on 127.0.0.1 only is fine)",
        )
        .details(details);
    }
    let failures: Vec<String> = j.failures().map(describe).collect();
    if !failures.is_empty() {
        let mut summary = String::from("reachable from outside the tailnet: ");
        if j.other_ports_open {
            summary.push_str("ports the ruleset does not name (its default admits them); ");
        }
        let shown: Vec<&str> = failures.iter().take(6).map(String::as_str).collect();
        summary.push_str(&shown.join(" | "));
        if failures.len() > shown.len() {
            summary.push_str(&format!(" | and {} more (see details.exposures)", failures.len() - shown.len()));
        }
        return Outcome::fail(summary, FIX_OPEN).details(details);
    }
    let allowed: Vec<String> = j.exposures.iter().map(describe).collect();
    let checked = listeners.map_or_else(
        || "listeners unknown".to_owned(),
        |l| {
            if l.is_empty() {
                "no non-loopback listeners".to_owned()
            } else {
                format!("listeners {}", verdict::port_list(l))
            }
        },
    );
    let summary = format!(
        "no new inbound connection from outside the tailnet is admitted ({checked} and every other port, IPv4 and IPv6, through {} input chain(s)){}",
        j.chains.len(),
        if allowed.is_empty() { String::new() } else { format!("; allowed: {}", allowed.join(" | ")) }
    );
    if !unmodelled.is_empty() {
        let shown: Vec<&str> = unmodelled.iter().take(5).map(String::as_str).collect();
        return Outcome::warn(
            format!(
                "{summary}; but listeners of kinds the evaluator does not probe ({}{}) may be reachable: only TCP and UDP are evaluated",
                shown.join("; "),
                if unmodelled.len() > shown.len() { format!("; and {} more", unmodelled.len() - shown.len()) } else { String::new() }
            ),
            "bind these sockets to loopback or the Tailscale address (the listeners check names them), or drop their protocols in the input chain",
        )
        .details(details);
    }
    if !legacy.is_empty() {
        let shown: Vec<&str> = legacy.iter().take(5).map(String::as_str).collect();
        return Outcome::warn(
            format!(
                "{summary}; but iptables-legacy holds rules that nft and ufw do not show ({}{}): they can only drop more, yet hide what the host really does",
                shown.join("; "),
                if legacy.len() > shown.len() { format!("; and {} more", legacy.len() - shown.len()) } else { String::new() }
            ),
            "move these rules into nftables (or ufw) and flush the legacy tables: iptables-legacy-save to review, then iptables-legacy -F; iptables-legacy -X (and ip6tables-legacy)",
        )
        .details(details);
    }
    Outcome::pass(summary).details(details)
}

/// Entry points for the fuzz targets.
pub(crate) mod fuzzing {
    use super::eval::{self, Ipv, L4, Model, Probe, Reach, XtDetails};
    use super::nft::{self, Expr, MapRef, Verdict};

    fn drops(v: &Verdict) -> bool {
        matches!(v, Verdict::Drop | Verdict::Reject)
    }

    /// Whether any rule could drop: a drop/reject verdict, an iptables REJECT, a map.
    fn can_drop(rs: &nft::Ruleset) -> bool {
        rs.rules().any(|(_, _, r)| {
            r.exprs.iter().any(|e| match e {
                Expr::Verdict(v) => drops(v),
                Expr::Xt { name, .. } => name == "REJECT",
                Expr::Vmap { map: MapRef::Inline(p), .. } => p.iter().any(|(_, v)| drops(v)),
                Expr::Vmap { .. } => true,
                _ => false,
            })
        }) || rs.tables.iter().any(|t| t.maps.values().flatten().any(|(_, v)| drops(v)))
    }

    /// Parses `text` as `nft -j list ruleset` output and judges it; panics if
    /// a ruleset without any drop (no drop policy, no drop/reject) blocks a port.
    pub(crate) fn ruleset(text: &str) {
        let Ok(rs) = nft::parse(text) else { return };
        let xt = XtDetails::new();
        let facts =
            super::verdict::Facts { ruleset: &rs, xt: &xt, listeners: None, legacy_untracks: false, tailscale: &[] };
        let judgement = super::verdict::judge(&facts);
        // Following rewrites and judging the tailnet path must not panic either.
        let m = Model { ruleset: &rs, xt: &xt, ct_new_certain: true, tailscale: &[] };
        let candidates = super::verdict::candidate_ports(&facts);
        let nat = super::nat::NatFacts { candidates: &candidates, locals: &[], loopback_routable: false };
        let _ = super::nat::rewrites(&m, &nat);
        let ts = ["tailscale0".to_owned()];
        let tm = Model { ruleset: &rs, xt: &xt, ct_new_certain: true, tailscale: &ts };
        let _ = super::tailnet::admits(&tm, 22, 0, std::net::Ipv4Addr::new(100, 101, 102, 103));
        let drop_policy = [Ipv::V4, Ipv::V6]
            .into_iter()
            .flat_map(|ipv| eval::input_chains(&rs, ipv))
            .any(|(_, c)| c.base.as_ref().is_some_and(|b| b.policy == nft::Policy::Drop));
        if !drop_policy && !can_drop(&rs) {
            assert!(
                judgement.other_ports_open || !judgement.exposures.is_empty(),
                "a ruleset that cannot drop blocked everything"
            );
            let m = Model { ruleset: &rs, xt: &xt, ct_new_certain: true, tailscale: &[] };
            for (l4, dport) in [(L4::Tcp, 5432), (L4::Udp, 53), (L4::Tcp, 1)] {
                for ipv in [Ipv::V4, Ipv::V6] {
                    let r = eval::reach(&m, Probe { ipv, l4, dport, sport: None });
                    assert!(matches!(r, Reach::Open { .. }), "blocked without any drop: {r:?}");
                }
            }
        }
    }

    /// Wraps `rules` (a JSON array of rule expression arrays) in one inet
    /// input chain with policy accept and runs [`ruleset`] on it.
    pub(crate) fn policy_accept_chain(rules: &str) {
        let Ok(serde_json::Value::Array(rules)) = serde_json::from_str::<serde_json::Value>(rules) else { return };
        let mut items = vec![
            serde_json::json!({"table": {"family": "inet", "name": "f", "handle": 1}}),
            serde_json::json!({"chain": {"family": "inet", "table": "f", "name": "input", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}}),
        ];
        for expr in rules {
            items.push(serde_json::json!({"rule": {"family": "inet", "table": "f", "chain": "input", "expr": expr}}));
        }
        ruleset(&serde_json::json!({ "nftables": items }).to_string());
    }
}
