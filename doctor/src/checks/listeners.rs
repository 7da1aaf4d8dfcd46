//! `listeners` (contract check 4) and `console-bind`, both from the kernel's
//! socket table and judged by `common::policy` with the interface facts
//! (Tailscale interfaces' addresses, `route_localnet`).

use common::policy::{
    self, BindAddr, Class, Decision, ListenerPolicy, NetFacts, Owner, Privilege, Proto, Socket, Verdict,
    route_localnet_sysctl,
};
use std::sync::{Arc, OnceLock};

use serde::ser::{Serialize, SerializeMap};
use serde_json::{Value, json};

use super::{Ctx, Details, Outcome};
use crate::sockets::{Coverage, ListenSocket, OwnerInfo, SocketTable};

pub(crate) fn check(ctx: &Ctx) -> Outcome {
    match ctx.sockets() {
        Ok(table) => {
            let (expected, notes) = super::expected_owners::expected(ctx);
            let owners =
                Owners { unexpected: super::expected_owners::violations(&table, &expected, ctx.is_root), notes };
            judge_shared(table, &ctx.config.listeners, ctx.is_root, owners)
        }
        Err(e) => Outcome::error(format!("cannot read the kernel socket tables: {e}")),
    }
}

/// What `expected_owners` found: listeners held by the wrong process
/// (violation, fix), and what it could not read.
#[derive(Debug, Default)]
pub(crate) struct Owners {
    pub(crate) unexpected: Vec<(String, String)>,
    pub(crate) notes: Vec<String>,
}

pub(crate) fn console_bind(ctx: &Ctx) -> Outcome {
    match ctx.sockets() {
        Ok(table) => judge_console(&table, ctx.settings.console_port),
        Err(e) => Outcome::error(format!("cannot read the kernel socket tables: {e}")),
    }
}

/// The `listeners` check's details: the socket inventory (one entry per
/// socket, serialised straight from the shared socket table and each
/// socket's decision, with no per-socket JSON tree) and the other fields as a
/// small JSON object. Serialises exactly as the object with `sockets` in
/// its sorted place.
#[derive(Debug)]
pub(crate) struct Inventory {
    table: Arc<SocketTable>,
    /// One decision per socket of `table`, in the same order.
    decisions: Vec<Decision>,
    /// Every other field of the details.
    rest: serde_json::Map<String, Value>,
    /// The whole details as a value, built only if someone asks for it.
    value: OnceLock<Value>,
}

const SOCKETS_KEY: &str = "sockets";

impl Inventory {
    pub(crate) fn value(&self) -> &Value {
        self.value.get_or_init(|| serde_json::to_value(self).unwrap_or(Value::Null))
    }
}

impl Serialize for Inventory {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.rest.len() + 1))?;
        let mut sockets_done = false;
        for (k, v) in &self.rest {
            if !sockets_done && k.as_str() > SOCKETS_KEY {
                map.serialize_entry(SOCKETS_KEY, &SocketEntries(self))?;
                sockets_done = true;
            }
            map.serialize_entry(k, v)?;
        }
        if !sockets_done {
            map.serialize_entry(SOCKETS_KEY, &SocketEntries(self))?;
        }
        map.end()
    }
}

struct SocketEntries<'a>(&'a Inventory);

impl Serialize for SocketEntries<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let inv = self.0;
        s.collect_seq(inv.table.sockets.iter().zip(&inv.decisions).map(|(s, d)| SocketEntry { s, d }))
    }
}

/// One socket, keys in sorted order (as a `serde_json::Map` would give them).
struct SocketEntry<'a> {
    s: &'a ListenSocket,
    d: &'a Decision,
}

impl Serialize for SocketEntry<'_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let (s, d) = (self.s, self.d);
        let mut map = ser.serialize_map(Some(7))?;
        map.serialize_entry("addr", &Display(&d.addr))?;
        map.serialize_entry("classification", &d.class)?;
        map.serialize_entry("owners", &OwnerEntries(&s.owners))?;
        map.serialize_entry("port", &s.local.port())?;
        map.serialize_entry("proto", &s.proto)?;
        map.serialize_entry("reason", &d.reason)?;
        map.serialize_entry("verdict", &d.verdict)?;
        map.end()
    }
}

struct OwnerEntries<'a>(&'a [Arc<OwnerInfo>]);

impl Serialize for OwnerEntries<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|o| OwnerEntry(o)))
    }
}

struct OwnerEntry<'a>(&'a OwnerInfo);

impl Serialize for OwnerEntry<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let o = self.0;
        let mut map = s.serialize_map(Some(4))?;
        map.serialize_entry("exe", &o.exe.as_ref().map(|e| Display(e.display())))?;
        map.serialize_entry("initial_root", &(o.privilege == Privilege::InitialRoot))?;
        map.serialize_entry("pid", &o.pid)?;
        map.serialize_entry("unit", &o.unit)?;
        map.end()
    }
}

/// Serialises through `Display`, without an intermediate `String`.
struct Display<T>(T);

impl<T: std::fmt::Display> Serialize for Display<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// The worst decision over every owner of a socket (a shared socket is only
/// exempt if it is exempt for each process holding it).
fn decide(policy: &ListenerPolicy, s: &ListenSocket, net: &NetFacts) -> Decision {
    let addr = || BindAddr { ip: s.local.ip(), scope: None };
    let (proto, port) = (s.proto, s.local.port());
    if s.owners.is_empty() {
        return policy.decide_addr(addr(), proto, port, None, net);
    }
    s.owners
        .iter()
        .map(|o| {
            policy.decide_addr(
                addr(),
                proto,
                port,
                Some(&Owner { pid: o.pid, exe: o.exe.clone(), privilege: o.privilege.clone() }),
                net,
            )
        })
        .max_by_key(|d| d.verdict)
        .expect("at least one owner")
}

#[cfg(test)]
pub(crate) fn judge(table: &SocketTable, policy: &ListenerPolicy, is_root: bool) -> Outcome {
    judge_shared(Arc::new(table.clone()), policy, is_root, Owners::default())
}

pub(crate) fn judge_shared(table: Arc<SocketTable>, policy: &ListenerPolicy, is_root: bool, owners: Owners) -> Outcome {
    let mut decisions = Vec::with_capacity(table.sockets.len());
    let mut violations = Vec::new();
    let mut fixes = Vec::new();
    let mut n_warn = 0;
    let mut n_unknown = 0;
    for s in &table.sockets {
        let d = decide(policy, s, &table.net);
        if s.owners.is_empty() {
            n_unknown += 1;
        }
        match d.verdict {
            Verdict::Violation => {
                let who = owner_label(s);
                violations.push(format!("{} {}:{} ({who}): {}", s.proto, d.addr, s.local.port(), d.reason));
                fixes.push(fix_for(s, &d));
            }
            Verdict::Warn => n_warn += 1,
            Verdict::Allowed => {}
        }
        decisions.push(d);
    }
    for (v, fix) in owners.unexpected {
        violations.push(v);
        fixes.push(fix);
    }
    // route_localnet is a violation by itself: any 127.0.0.0/8 listener, now or later, is reachable.
    let sysctls: Vec<String> = table.net.route_localnet.iter().map(|i| route_localnet_sysctl(i)).collect();
    for (entry, sysctl) in table.net.route_localnet.iter().zip(&sysctls) {
        violations.push(format!(
            "{sysctl} = 1: 127.0.0.0/8 is routable from {}, so loopback listeners are not private",
            if entry == "all" || entry == "default" { format!("every interface ({entry})") } else { entry.clone() }
        ));
    }
    if !sysctls.is_empty() {
        fixes.push(format!(
            "set {} = 0 (`sysctl -w`, and remove it from /etc/sysctl.d); kube-proxy sets it for localhost NodePorts: \
             run it with --iptables-localhost-nodeports=false",
            sysctls.join(", ")
        ));
    }
    let mut limitations: Vec<String> = table
        .kinds
        .iter()
        .filter_map(|(p, c)| match c {
            Coverage::Unreadable(why) => Some(format!("{p} sockets not read: {why}")),
            _ => None,
        })
        .collect();
    limitations.extend(table.limitations.iter().cloned());
    let n = table.sockets.len();
    let plural = |k: usize| if k == 1 { "" } else { "s" };
    let mut summary = format!(
        "{n} listening socket{} (tcp, udp, udplite, sctp, raw): {} violation{}, {n_warn} warning{}",
        plural(n),
        violations.len(),
        plural(violations.len()),
        plural(n_warn)
    );
    if n_unknown > 0 {
        summary.push_str(&format!("; {n_unknown} with unknown owner"));
        if !is_root {
            summary.push_str(&format!(
                " ({} processes unreadable: run as root for full attribution)",
                table.unreadable_processes
            ));
        }
    }
    if !limitations.is_empty() {
        summary.push_str(&format!("; NOT AUDITED: {}", limitations.join("; ")));
    }
    let others = table.other_netns;
    if others.count > 0 {
        summary.push_str(&format!(
            "; {}{} other network namespace{} not audited (run the doctor inside each, e.g. `ip netns exec NAME openclaw-doctor`)",
            if others.unreadable > 0 { "at least " } else { "" },
            others.count,
            if others.count == 1 { " exists and was" } else { "s exist and were" },
        ));
    }
    if others.unreadable > 0 {
        summary.push_str(&format!(
            "; the network namespace of {} process{} could not be read, so other namespaces may exist unaudited",
            others.unreadable,
            if others.unreadable == 1 { "" } else { "es" }
        ));
    }
    let kinds: Vec<Value> = table.kinds.iter().map(|(p, c)| json!({"kind": p, "coverage": c})).collect();
    let mut rest = serde_json::Map::new();
    for (key, value) in [
        ("violations", json!(violations)),
        ("owner_unknown", json!(n_unknown)),
        ("unreadable_processes", json!(table.unreadable_processes)),
        ("root", json!(is_root)),
        ("kinds", Value::Array(kinds)),
        ("limitations", json!(limitations)),
        ("route_localnet", json!(sysctls)),
        ("tailscale_interfaces", json!(policy.tailscale_interfaces)),
        ("other_network_namespaces", json!(others.count)),
        ("other_network_namespaces_unreadable_processes", json!(others.unreadable)),
        ("expected_owner_notes", json!(owners.notes)),
    ] {
        rest.insert(key.to_owned(), value);
    }
    let outcome = if !violations.is_empty() {
        fixes.dedup();
        Outcome::fail(summary, fixes)
    } else if !limitations.is_empty() {
        Outcome::warn(summary, "run as root with the full /proc and netlink available so every socket kind can be read")
    } else if n_warn > 0 {
        Outcome::warn(
            summary,
            "tailnet IPv6 binds are private but outside the contract's table; bind the IPv4 tailnet address or set listeners.allow_tailnet_v6 = true",
        )
    } else {
        Outcome::pass(summary)
    };
    outcome.details(Details::Listeners(Arc::new(Inventory { table, decisions, rest, value: OnceLock::new() })))
}

fn owner_label(s: &ListenSocket) -> String {
    match s.owners.first() {
        None => "owner unknown".into(),
        Some(o) => {
            let exe = o.exe.as_ref().map_or_else(|| "exe unreadable".into(), |e| e.display().to_string());
            let unit = o.unit.as_ref().map(|u| format!(", {}", u)).unwrap_or_default();
            format!("pid {} {exe}{unit}", o.pid)
        }
    }
}

/// The fix for one violation: sshd on a wildcard gets the SSH steps.
fn fix_for(s: &ListenSocket, d: &Decision) -> String {
    let is_ssh = s.local.port() == 22
        || s.owners.iter().any(|o| {
            o.exe.as_deref().is_some_and(policy::is_sshd) || o.unit.as_deref().is_some_and(|u| u.starts_with("ssh"))
        });
    if is_ssh && d.class == Class::Wildcard {
        return String::from(
            "sshd is reachable on every interface. Keep your current session open and confirm Tailscale is up \
             (`tailscale status`), then: (1) if socket-activated, `systemctl disable --now ssh.socket`; \
             (2) write /etc/ssh/sshd_config.d/99-tailscale-only.conf with `AddressFamily inet` and \
             `ListenAddress <this host's 100.x Tailscale IP>`; (3) `sshd -t`; (4) `systemctl restart ssh`; \
             (5) log in again over the tailnet before closing the old session, then re-run openclaw-doctor.",
        );
    }
    let socket = Socket { proto: s.proto, addr: s.local.ip().to_string(), port: s.local.port(), owner: None };
    format!("{} ({})", policy::remediation(&socket, d), owner_label(s))
}

pub(crate) fn judge_console(table: &SocketTable, port: u16) -> Outcome {
    let binds: Vec<(String, Class)> = table
        .sockets
        .iter()
        .filter(|s| s.proto == Proto::Tcp && s.local.port() == port)
        .map(|s| {
            let ip = s.local.ip().to_canonical();
            // With route_localnet on, IPv4 loopback is reachable from outside: not "loopback only".
            let class = match policy::classify(ip) {
                Class::Loopback if ip.is_ipv4() && !table.net.route_localnet.is_empty() => Class::Public,
                class => class,
            };
            (BindAddr { ip, scope: None }.to_string(), class)
        })
        .collect();
    let addrs: Vec<&str> = binds.iter().map(|(a, _)| a.as_str()).collect();
    let details = json!({ "port": port, "addresses": addrs });
    if binds.is_empty() {
        return Outcome::pass(format!("nothing listens on port {port} (console not running)")).details(details);
    }
    let exposed: Vec<&str> = binds.iter().filter(|(_, c)| *c != Class::Loopback).map(|(a, _)| a.as_str()).collect();
    if exposed.is_empty() {
        Outcome::pass(format!("port {port} bound on loopback only ({})", addrs.join(", "))).details(details)
    } else {
        Outcome::fail(
            format!(
                "port {port} is reachable beyond loopback on {} (all binds: {}){}",
                exposed.join(", "),
                addrs.join(", "),
                if table.net.route_localnet.is_empty() {
                    String::new()
                } else {
                    let names: Vec<String> = table.net.route_localnet.iter().map(|i| route_localnet_sysctl(i)).collect();
                    format!("; {} = 1 routes 127.0.0.0/8 from outside", names.join(", "))
                }
            ),
            format!("bind the console to 127.0.0.1:{port} only (with route_localnet = 0) and restart it; a loopback bind next to a public one still exposes it"),
        )
        .details(details)
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;
    use crate::checks::Status;
    use crate::sockets::OtherNamespaces;

    fn table(sockets: &[(Proto, &str)]) -> SocketTable {
        SocketTable {
            sockets: sockets
                .iter()
                .map(|(proto, addr)| ListenSocket {
                    proto: *proto,
                    local: addr.parse::<SocketAddr>().unwrap(),
                    inode: 1,
                    owners: Vec::new(),
                })
                .collect(),
            unreadable_processes: 0,
            kinds: Proto::ALL.iter().map(|p| (*p, Coverage::Read("test".into()))).collect(),
            net: NetFacts::with_addresses(&[("tailscale0", "100.101.102.103".parse().unwrap())]),
            limitations: Vec::new(),
            other_netns: OtherNamespaces::default(),
        }
    }

    #[test]
    fn a_kind_that_could_not_be_read_warns_and_is_named() {
        let mut t = table(&[(Proto::Tcp, "127.0.0.1:8000")]);
        assert_eq!(judge(&t, &ListenerPolicy::default(), true).status, Status::Pass);
        t.kinds[4].1 = Coverage::Unreadable("/proc/net/raw: permission denied".into());
        let out = judge(&t, &ListenerPolicy::default(), true);
        assert_eq!(out.status, Status::Warn);
        assert!(out.summary.contains("NOT AUDITED: raw sockets not read"), "{}", out.summary);
        t.kinds[3].1 = Coverage::Absent("the sctp module is not loaded".into());
        t.kinds[4].1 = Coverage::Read("test".into());
        assert_eq!(judge(&t, &ListenerPolicy::default(), true).status, Status::Pass, "absent is not a gap");
        t.limitations.push("interface addresses: netlink refused".into());
        assert_eq!(judge(&t, &ListenerPolicy::default(), true).status, Status::Warn);
    }

    #[test]
    fn route_localnet_fails_by_itself_and_other_namespaces_are_stated() {
        let mut t = table(&[]);
        t.net.route_localnet = vec!["all".into()];
        t.other_netns = OtherNamespaces { count: 3, unreadable: 0 };
        let out = judge(&t, &ListenerPolicy::default(), true);
        assert_eq!(out.status, Status::Fail);
        assert!(out.details["violations"][0].as_str().unwrap().contains("net.ipv4.conf.all.route_localnet"));
        assert!(out.summary.contains("3 other network namespaces exist and were not audited"), "{}", out.summary);
        let out = judge_console(&table(&[(Proto::Tcp, "127.0.0.1:8787")]), 8787);
        assert_eq!(out.status, Status::Pass);
        let mut exposed = table(&[(Proto::Tcp, "127.0.0.1:8787")]);
        exposed.net.route_localnet = vec!["eth0".into()];
        assert_eq!(judge_console(&exposed, 8787).status, Status::Fail);
    }

    #[test]
    fn every_kind_is_judged_by_the_policy() {
        let t = table(&[
            (Proto::UdpLite, "0.0.0.0:7000"),
            (Proto::Raw, "[::]:58"),
            (Proto::Sctp, "100.101.102.103:7002"),
            (Proto::Sctp, "100.99.1.1:7002"),
        ]);
        let out = judge(&t, &ListenerPolicy::default(), true);
        let v = out.details["violations"].as_array().unwrap();
        assert_eq!(v.len(), 3, "{v:?}");
        assert!(v[2].as_str().unwrap().contains("carrier-grade NAT"), "{v:?}");
    }

    #[test]
    fn the_inventory_serialises_as_the_json_object_it_replaced() {
        let mut t = table(&[(Proto::Tcp, "0.0.0.0:22"), (Proto::Udp, "127.0.0.1:53"), (Proto::Tcp, "[::1]:8000")]);
        let owner = |pid: u32, exe: Option<&str>, privilege: Privilege| {
            Arc::new(OwnerInfo {
                pid,
                exe: exe.map(std::path::PathBuf::from),
                unit: Some("ssh.service".into()).filter(|_| pid == 1),
                privilege,
            })
        };
        t.sockets[0].owners = vec![owner(1, Some("/usr/sbin/sshd"), Privilege::InitialRoot)];
        t.sockets[1].owners = vec![
            owner(2, None, Privilege::Other("uids unreadable".into())),
            owner(3, Some("/bin/x"), Privilege::InitialRoot),
        ];
        let policy = ListenerPolicy::default();
        let out = judge(&t, &policy, true);
        // The object the check built before the inventory was serialised directly.
        let entries: Vec<Value> = t
            .sockets
            .iter()
            .map(|s| {
                let d = decide(&policy, s, &t.net);
                let owners: Vec<Value> = s
                    .owners
                    .iter()
                    .map(|o| {
                        json!({
                            "pid": o.pid, "exe": o.exe.as_ref().map(|e| e.display().to_string()), "unit": o.unit,
                            "initial_root": o.privilege == Privilege::InitialRoot,
                        })
                    })
                    .collect();
                json!({
                    "proto": s.proto, "addr": d.addr.to_string(), "port": s.local.port(), "classification": d.class,
                    "verdict": d.verdict, "reason": d.reason, "owners": owners,
                })
            })
            .collect();
        let mut expected = out.details.to_value();
        expected["sockets"] = Value::Array(entries);
        assert_eq!(serde_json::to_string(&out.details).unwrap(), serde_json::to_string(&expected).unwrap());
        assert_eq!(out.details["sockets"].as_array().map(Vec::len), Some(3));
        assert_eq!(out.details["sockets"][1]["owners"][1]["exe"], "/bin/x");
    }
}
