//! Is the operator's tailnet path to sshd proven? `ssh-tailnet-only` removes
//! sshd's public listener only when it is: the guard never removes the last
//! path the operator has shown they can use.
//!
//! Proof needs both:
//! - **a login seen**: an established TCP connection owned by root (sshd's)
//!   whose local side is the tailnet address and an sshd port, whose remote
//!   side is a tailnet peer (100.64.0.0/10 or fd7a:115c:a1e0::/48) and not
//!   an address of this host (a connection the host makes to itself never
//!   crosses `tailscale0`), and which an authenticated sshd session holds
//!   (a process running sshd whose title names the user, `sshd: user@…`;
//!   a connection still at the login prompt proves nothing about logging
//!   in), from the kernel's table (`sock_diag`) and `/proc`. It is kept in
//!   the state file with the time it was seen, and counts for
//!   [`LOGIN_FRESH_SECS`];
//! - **every local filter admits it**, read now: the doctor's firewall
//!   evaluator (`details.tailnet_admits` of its `firewall` check) says
//!   `accepted` for that port on every Tailscale interface; `tailscale debug
//!   prefs` has `ShieldsUp` false; and where `tailscale debug netmap` shows
//!   this node's packet filter, some rule grants the port over TCP.
//!
//! [`judge`] is pure; anything unknown is a [`Wait`], never a proof.

mod facts;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use serde::{Deserialize, Serialize};

pub use facts::{Conn, FirewallRow, Grant, PathFacts, firewall_rows, gather, parse_netmap, parse_prefs, session_title};

/// How long a login seen counts: the path is proven only by a recent one.
pub const LOGIN_FRESH_SECS: i64 = 3600;

/// The tailnet's IPv6 prefix, fd7a:115c:a1e0::/48.
const TAILNET_V6: [u16; 3] = [0xfd7a, 0x115c, 0xa1e0];

/// A connection that reached sshd over the tailnet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    /// sshd's side: the tailnet address and an sshd port.
    pub local: SocketAddr,
    /// The peer, in the tailnet's range.
    pub remote: SocketAddr,
    /// Unix time the guard saw it.
    pub seen_at: i64,
    /// The sshd session that held it (its process title, `sshd: user@…`).
    #[serde(default)]
    pub session: String,
}

/// What the state file keeps about the tailnet path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathState {
    /// The last login seen over the tailnet.
    pub login: Option<Evidence>,
    /// Phase 1 holds and the guard waits for this (the last tick's words);
    /// `None` once sshd is on the tailnet only.
    #[serde(default)]
    pub waiting: Option<String>,
    /// Since when it waits.
    #[serde(default)]
    pub waiting_since: Option<i64>,
    /// When the guard last sent the waiting notice.
    pub notified_at: Option<i64>,
    /// What that notice said it waited for.
    pub notified: Option<String>,
}

/// Whether an address is a tailnet peer's.
pub fn is_tailnet(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => matches!(v4.octets(), [100, b, ..] if (64..=127).contains(&b)),
        IpAddr::V6(v6) => v6.segments()[..3] == TAILNET_V6,
    }
}

/// The connections that prove a tailnet login to sshd on `ip:ports`: root's
/// socket, local side `ip` and an sshd port, remote side a tailnet peer
/// that is not one of this host's addresses (`locals`), held by an
/// authenticated sshd session. Pure.
pub fn logins(conns: &[Conn], locals: &[IpAddr], ip: Ipv4Addr, ports: &[u16], now: i64) -> Vec<Evidence> {
    conns
        .iter()
        .filter(|c| {
            c.uid == 0
                && c.local.ip() == IpAddr::V4(ip)
                && ports.contains(&c.local.port())
                && is_tailnet(c.remote.ip())
                && !locals.contains(&c.remote.ip())
        })
        .filter_map(|c| {
            let session = c.session.clone()?;
            Some(Evidence { local: c.local, remote: c.remote, seen_at: now, session })
        })
        .collect()
}

/// What the guard waits for before it removes the public listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "kebab-case")]
pub enum Wait {
    /// No login over the tailnet seen yet (or none recent enough).
    Login {
        /// Where to log in.
        at: Vec<SocketAddr>,
    },
    /// The local addresses could not be read (a connection from this host
    /// to itself would look like a login).
    LocalsUnreadable {
        /// Why.
        why: String,
    },
    /// The connection table could not be read.
    LoginUnreadable {
        /// Why.
        why: String,
    },
    /// The firewall does not certainly admit the port on an interface.
    Firewall {
        /// The port.
        port: u16,
        /// Interface, verdict and the chain that decides.
        detail: String,
    },
    /// The doctor's firewall verdicts are not available.
    FirewallUnknown {
        /// Why.
        why: String,
    },
    /// Tailscale's shields are up: it drops every incoming connection.
    ShieldsUp,
    /// `tailscale debug prefs` did not say.
    ShieldsUnknown {
        /// Why.
        why: String,
    },
    /// Tailscale's packet filter grants the port to no source.
    PacketFilter {
        /// The port.
        port: u16,
    },
    /// `tailscale debug netmap` failed.
    PacketFilterUnknown {
        /// Why.
        why: String,
    },
}

impl Wait {
    /// The condition and what the operator should do (untrusted text inside: escape it).
    pub fn text(&self) -> String {
        match self {
            Wait::Login { at } => {
                let at: Vec<String> = at.iter().map(ToString::to_string).collect();
                format!(
                    "no SSH login over the tailnet seen in the last hour: log in over the tailnet at {} from another tailnet device and stay logged in until the next tick (or run `sudo openclaw-guard run` from that session) to let the guard finish",
                    at.join(" or ")
                )
            }
            Wait::LoginUnreadable { why } => format!("cannot read the kernel's connection table: {why}"),
            Wait::LocalsUnreadable { why } => format!("cannot read this host's addresses: {why}"),
            Wait::Firewall { port, detail } => format!(
                "the firewall does not certainly admit a tailnet peer to tcp/{port} ({detail}): admit it on the Tailscale interface (e.g. `ufw allow in on tailscale0`)"
            ),
            Wait::FirewallUnknown { why } => format!("the firewall's verdict for the tailnet path is unknown: {why}"),
            Wait::ShieldsUp => {
                "Tailscale's shields are up (it drops every incoming connection): `tailscale set --shields-up=false`"
                    .into()
            }
            Wait::ShieldsUnknown { why } => format!("cannot tell whether Tailscale's shields are up: {why}"),
            Wait::PacketFilter { port } => format!(
                "Tailscale's packet filter (your tailnet policy) grants tcp/{port} on this node to no source: allow it in the ACLs"
            ),
            Wait::PacketFilterUnknown { why } => format!("cannot read Tailscale's packet filter: {why}"),
        }
    }
}

/// The proof that lets phase 2 run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Proof {
    /// The login.
    pub login: Evidence,
    /// The firewall's accepting path per Tailscale interface.
    pub firewall: Vec<String>,
}

/// The filters on `port`: what is not yet shown to admit it. Pure.
fn filter_waits(f: &PathFacts, ip: Ipv4Addr, port: u16) -> (Vec<Wait>, Vec<String>) {
    let mut waits = Vec::new();
    let mut paths = Vec::new();
    match &f.firewall {
        Err(why) => waits.push(Wait::FirewallUnknown { why: why.clone() }),
        Ok(rows) => {
            let mine: Vec<&FirewallRow> = rows.iter().filter(|r| r.address == ip && r.port == port).collect();
            if mine.is_empty() {
                waits.push(Wait::FirewallUnknown {
                    why: format!("the doctor's firewall check judged no tailnet path to {ip}:{port}"),
                });
            }
            for r in mine {
                if r.verdict == "accepted" {
                    paths.push(format!("{}: {}", r.interface, r.path.join("; ")));
                } else {
                    waits.push(Wait::Firewall {
                        port,
                        detail: format!("{} on {}: {}", r.verdict, r.interface, r.path.join("; ")),
                    });
                }
            }
        }
    }
    match &f.shields_up {
        Ok(false) => {}
        Ok(true) => waits.push(Wait::ShieldsUp),
        Err(why) => waits.push(Wait::ShieldsUnknown { why: why.clone() }),
    }
    match &f.packet_filter {
        Ok(None) => {}
        Ok(Some(grants)) if grants.iter().any(|g| g.grants(ip, port)) => {}
        Ok(Some(_)) => waits.push(Wait::PacketFilter { port }),
        Err(why) => waits.push(Wait::PacketFilterUnknown { why: why.clone() }),
    }
    (waits, paths)
}

/// Judges the tailnet path to sshd on `ip:ports` at `now`, given the facts
/// and the login the state file recorded (or one seen now). Pure.
pub fn judge(
    f: &PathFacts,
    login: Option<&Evidence>,
    ip: Ipv4Addr,
    ports: &[u16],
    now: i64,
) -> Result<Proof, Vec<Wait>> {
    let fresh = |e: &&Evidence| e.seen_at <= now && now - e.seen_at <= LOGIN_FRESH_SECS;
    let login = login.filter(|e| e.local.ip() == IpAddr::V4(ip) && ports.contains(&e.local.port())).filter(fresh);
    if let Some(e) = login {
        let (waits, firewall) = filter_waits(f, ip, e.local.port());
        return if waits.is_empty() { Ok(Proof { login: e.clone(), firewall }) } else { Err(waits) };
    }
    let mut waits = Vec::new();
    if let Err(why) = &f.established {
        waits.push(Wait::LoginUnreadable { why: why.clone() });
    }
    if let Err(why) = &f.locals {
        waits.push(Wait::LocalsUnreadable { why: why.clone() });
    }
    let mut open = Vec::new();
    for &p in ports {
        let (w, _) = filter_waits(f, ip, p);
        if w.is_empty() {
            open.push(SocketAddr::from((ip, p)));
        }
        for x in w {
            if !waits.contains(&x) {
                waits.push(x);
            }
        }
    }
    // The login comes first: it is what the operator does next.
    let at = if open.is_empty() { ports.iter().map(|&p| SocketAddr::from((ip, p))).collect() } else { open };
    waits.insert(0, Wait::Login { at });
    Err(waits)
}

#[cfg(test)]
mod tests;
