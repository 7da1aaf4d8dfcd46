//! The facts [`super::judge`] reads: the kernel's established connections,
//! the doctor's firewall verdicts for the tailnet path, and what the
//! Tailscale CLI shows of its shields and this node's packet filter.
//!
//! Parsing is pure and reads only the fields named here; the CLI's output
//! (which may hold keys) is never logged or stored.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use common::process::{self, CmdError};
use serde_json::Value;

use crate::doctor::DoctorReport;

/// One row of the doctor's `firewall` check `details.tailnet_admits`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirewallRow {
    /// The Tailscale interface.
    pub interface: String,
    /// The local tailnet address.
    pub address: Ipv4Addr,
    /// The TCP port.
    pub port: u16,
    /// `accepted`, `uncertain` or `blocked`.
    pub verdict: String,
    /// The accepting path, or what makes it uncertain or blocks it.
    pub path: Vec<String>,
}

/// One packet-filter rule as it bears on TCP to this node: its sources are
/// non-empty and its destinations are (first, last address, first, last port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Whether it applies to TCP.
    pub tcp: bool,
    /// Whether it names any source.
    pub has_sources: bool,
    /// IPv4 destinations: (first, last address, first, last port).
    pub dsts: Vec<(u32, u32, u16, u16)>,
}

impl Grant {
    /// Whether it admits some source to `ip:port` over TCP.
    pub fn grants(&self, ip: Ipv4Addr, port: u16) -> bool {
        let n = u32::from(ip);
        self.tcp && self.has_sources && self.dsts.iter().any(|&(a, b, p, q)| a <= n && n <= b && p <= port && port <= q)
    }
}

/// An established TCP connection and the sshd session holding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conn {
    /// This host's side.
    pub local: SocketAddr,
    /// The peer.
    pub remote: SocketAddr,
    /// The uid that owns the socket.
    pub uid: u32,
    /// The title of an authenticated sshd session process holding it
    /// (`sshd: user@pts/0`), if one does.
    pub session: Option<String>,
}

/// Everything the judgement reads besides the recorded login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathFacts {
    /// Established TCP connections to sshd's ports.
    pub established: Result<Vec<Conn>, String>,
    /// This host's addresses.
    pub locals: Result<Vec<std::net::IpAddr>, String>,
    /// The doctor's verdicts.
    pub firewall: Result<Vec<FirewallRow>, String>,
    /// `ShieldsUp`.
    pub shields_up: Result<bool, String>,
    /// The packet filter's rules; `None` when the CLI does not show it.
    pub packet_filter: Result<Option<Vec<Grant>>, String>,
}

/// The doctor's verdicts from its report.
pub fn firewall_rows(report: Option<&DoctorReport>) -> Result<Vec<FirewallRow>, String> {
    let report = report.ok_or("the doctor's report is not available")?;
    let check = report
        .checks
        .iter()
        .find(|c| c.id == "firewall")
        .ok_or("the doctor did not run its firewall check (`[doctor] checks`, or `--only`)")?;
    let rows = check.details.get("tailnet_admits").and_then(Value::as_array).ok_or_else(|| {
        format!("the doctor's firewall check judged no tailnet path ({}: {})", check.status, check.summary)
    })?;
    rows.iter()
        .map(|r| {
            let s = |k: &str| r.get(k).and_then(Value::as_str).map(str::to_owned);
            Some(FirewallRow {
                interface: s("interface")?,
                address: s("address")?.parse().ok()?,
                port: u16::try_from(r.get("port")?.as_u64()?).ok()?,
                verdict: s("verdict")?,
                path: r.get("path")?.as_array()?.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            })
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| "the doctor's tailnet_admits rows are not the documented shape".to_owned())
}

/// `ShieldsUp` from `tailscale debug prefs`. Pure.
pub fn parse_prefs(stdout: &[u8]) -> Result<bool, String> {
    let v: Value = serde_json::from_slice(stdout).map_err(|_| "`tailscale debug prefs` printed no JSON".to_owned())?;
    v.get("ShieldsUp").and_then(Value::as_bool).ok_or_else(|| "`tailscale debug prefs` has no ShieldsUp".to_owned())
}

fn proto_is_tcp(p: &Value) -> bool {
    p.as_u64() == Some(6) || p.as_str().is_some_and(|s| s.eq_ignore_ascii_case("tcp") || s == "6")
}

/// `(first, last)` of an IPv4 address, prefix, `a-b` range or `*`.
fn v4_span(s: &str) -> Option<(u32, u32)> {
    if s == "*" {
        return Some((0, u32::MAX));
    }
    if let Some((a, b)) = s.split_once('-') {
        return Some((u32::from(a.parse::<Ipv4Addr>().ok()?), u32::from(b.parse::<Ipv4Addr>().ok()?)));
    }
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, l.parse::<u32>().ok().filter(|l| *l <= 32)?),
        None => (s, 32),
    };
    let n = u32::from(addr.parse::<Ipv4Addr>().ok()?);
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    Some((n & mask, (n & mask) | !mask))
}

fn ports(p: &Value) -> Option<(u16, u16)> {
    let n = |k: &str| p.get(k).and_then(Value::as_u64).and_then(|n| u16::try_from(n).ok());
    Some((n("First")?, n("Last")?))
}

/// Where a netmap's packet-filter form keeps each part.
struct FilterForm {
    protos: &'static str,
    sources: &'static str,
    dsts: &'static str,
    /// The destination address field of each `dsts` entry.
    net: &'static str,
    /// An empty protocol list means TCP, UDP and ICMP (the rules as sent);
    /// the compiled filter always lists them.
    empty_protos_tcp: bool,
}

/// The compiled filter (`PacketFilter`, what tailscaled enforces): an
/// `IPProto` list, `Srcs` prefixes and `Dsts` of `{Net, Ports}`.
const COMPILED: FilterForm =
    FilterForm { protos: "IPProto", sources: "Srcs", dsts: "Dsts", net: "Net", empty_protos_tcp: false };

/// The rules as sent (`PacketFilterRules`): `SrcIPs`, `DstPorts` of `{IP,
/// Ports}`, and `IPProto` (empty means TCP, UDP and ICMP).
const RULES: FilterForm =
    FilterForm { protos: "IPProto", sources: "SrcIPs", dsts: "DstPorts", net: "IP", empty_protos_tcp: true };

fn grants(items: &[Value], form: &FilterForm) -> Vec<Grant> {
    items
        .iter()
        .map(|m| {
            let list = |k: &str| m.get(k).and_then(Value::as_array).cloned().unwrap_or_default();
            let protos = list(form.protos);
            Grant {
                tcp: (form.empty_protos_tcp && protos.is_empty()) || protos.iter().any(proto_is_tcp),
                has_sources: !list(form.sources).is_empty(),
                dsts: list(form.dsts)
                    .iter()
                    .filter_map(|d| {
                        let (a, b) = v4_span(d.get(form.net)?.as_str()?)?;
                        let (p, q) = ports(d.get("Ports")?)?;
                        Some((a, b, p, q))
                    })
                    .collect(),
            }
        })
        .collect()
}

/// This node's packet filter from `tailscale debug netmap`: `None` when the
/// netmap does not show one. Pure.
pub fn parse_netmap(stdout: &[u8]) -> Result<Option<Vec<Grant>>, String> {
    let v: Value = serde_json::from_slice(stdout).map_err(|_| "`tailscale debug netmap` printed no JSON".to_owned())?;
    if !v.is_object() {
        return Err("`tailscale debug netmap` printed no netmap".into());
    }
    if let Some(m) = v.get("PacketFilter").and_then(Value::as_array) {
        return Ok(Some(grants(m, &COMPILED)));
    }
    if let Some(r) = v.get("PacketFilterRules").and_then(Value::as_array) {
        return Ok(Some(grants(r, &RULES)));
    }
    Ok(None)
}

/// `tailscale <args>` under `timeout`: its stdout, `Ok(None)` when this CLI
/// has no such command.
fn tailscale(args: &[&str], timeout: Duration) -> Result<Option<Vec<u8>>, String> {
    let shown = format!("`tailscale {}`", args.join(" "));
    match process::run("tailscale", args, timeout) {
        Ok(out) if out.status.success() => Ok(Some(out.stdout)),
        Ok(out) => {
            let err = out.stderr_line();
            if err.contains("unknown subcommand") || err.contains("unknown command") {
                Ok(None)
            } else {
                Err(format!("{shown} failed: {err}"))
            }
        }
        Err(CmdError::TimedOut { waited_ms, .. }) => Err(format!("{shown} did not answer within {waited_ms} ms")),
        Err(e) => Err(format!("{shown}: {e}")),
    }
}

/// An authenticated sshd session's process title: the program is sshd (or
/// OpenSSH 9.8's sshd-session) and the title is the user alone (`sshd:
/// root`, a root session) or `user@tty`, which sshd sets only after
/// authentication; the bracketed titles (`[priv]`, `[net]`, `[preauth]`,
/// `[accepted]`, `[listener]`) and anything with a space are not sessions.
/// Pure.
pub fn session_title(exe_name: &str, cmdline: &[u8]) -> Option<String> {
    if !exe_name.starts_with("sshd") {
        return None;
    }
    let title = String::from_utf8_lossy(cmdline.split(|b| *b == 0).next()?).trim().to_owned();
    let rest = title.strip_prefix("sshd: ").or_else(|| title.strip_prefix("sshd-session: "))?;
    let user = rest.split('@').next().unwrap_or("");
    let ok = !user.is_empty() && !rest.ends_with('@') && !rest.contains(['[', ' ']);
    ok.then_some(title)
}

/// The established connections to a tailnet address of this host from a
/// tailnet peer, and the sshd sessions holding them.
fn connections() -> Result<Vec<Conn>, String> {
    let all = common::host_net::tcp_established().map_err(|e| e.to_string())?;
    let mine: Vec<_> =
        all.into_iter().filter(|(l, r, _, _)| super::is_tailnet(l.ip()) && super::is_tailnet(r.ip())).collect();
    if mine.is_empty() {
        return Ok(Vec::new());
    }
    let scan = common::host_net::procs::scan_socket_fds()?;
    Ok(mine
        .into_iter()
        .map(|(local, remote, uid, inode)| {
            let session = scan.held.iter().filter(|(i, _)| *i == inode).find_map(|&(_, pid)| {
                let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
                session_title(&exe.file_name()?.to_string_lossy(), &cmdline)
            });
            Conn { local, remote, uid, session }
        })
        .collect())
}

/// Gathers the facts; `report` is the doctor's latest report.
pub fn gather(report: Option<&DoctorReport>, timeout: Duration) -> PathFacts {
    let established = connections();
    let locals = common::host_net::interface_addresses()
        .map(|a| a.into_iter().map(|a| a.ip).collect())
        .map_err(|e| e.to_string());
    let shields_up = match tailscale(&["debug", "prefs"], timeout) {
        Ok(Some(out)) => parse_prefs(&out),
        Ok(None) => Err("this tailscale has no `debug prefs`".into()),
        Err(e) => Err(e),
    };
    let packet_filter = match tailscale(&["debug", "netmap"], timeout) {
        Ok(Some(out)) => parse_netmap(&out),
        Ok(None) => Ok(None),
        Err(e) => Err(e),
    };
    PathFacts { established, locals, firewall: firewall_rows(report), shields_up, packet_filter }
}
