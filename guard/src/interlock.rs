//! The fail-closed interlock: may the guard touch sshd, its sockets or the
//! firewall right now? Only when `tailscale status --json` answers in time
//! with `BackendState` `Running`, `Self.Online` true, a `Self.TailscaleIPs`
//! address in 100.64.0.0/10, and that address is configured on a local
//! interface at this moment according to the kernel (not to tailscale).
//!
//! [`gather`] collects the facts (IO: the command under a timeout, and the
//! IPv4 addresses of this network namespace's interfaces from the kernel
//! over netlink, `common::host_net::local_v4`, which the doctor reads the
//! same way); [`judge`] is pure. Every way to fail is a [`Blocked`]
//! variant with its reason text.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use common::process::{self, CmdError};
use serde::Serialize;
use serde_json::Value;

/// What `tailscale status --json` gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TailscaleAnswer {
    /// It exited 0 with this stdout.
    Output(Vec<u8>),
    /// Not installed.
    Missing,
    /// Non-zero exit (or a signal: `None`) with its first stderr line.
    Failed(Option<i32>, String),
    /// Killed at the timeout.
    TimedOut(u64),
    /// Output incomplete or the command could not be started.
    Broken(String),
}

/// The facts the interlock judges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// The tailscale answer.
    pub tailscale: TailscaleAnswer,
    /// IPv4 addresses configured locally, or why they could not be read.
    pub local_v4: Result<BTreeSet<Ipv4Addr>, String>,
}

/// Why the interlock is closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "kebab-case")]
pub enum Blocked {
    /// `tailscale` is not on PATH.
    TailscaleMissing,
    /// `tailscale status --json` exited non-zero.
    TailscaleFailed {
        /// Exit code (`None`: killed by a signal).
        exit: Option<i32>,
        /// Its first stderr line (untrusted).
        stderr: String,
    },
    /// It did not answer within its timeout.
    TailscaleHung {
        /// How long the guard waited.
        waited_ms: u64,
    },
    /// Its output is not complete, valid status JSON.
    Garbage {
        /// What was wrong.
        why: String,
    },
    /// `BackendState` is `Stopped`.
    Stopped,
    /// `BackendState` is `NeedsLogin`.
    NeedsLogin,
    /// `BackendState` is `Starting`.
    Starting,
    /// Any other `BackendState` (`NoState`, `NeedsMachineAuth`, …).
    NotRunning {
        /// The state (untrusted).
        state: String,
    },
    /// Running, but `Self.Online` is not true.
    Offline,
    /// No 100.64.0.0/10 address in `Self.TailscaleIPs`.
    NoTailnetIp,
    /// The tailnet address is not configured on any local interface.
    IpNotLocal {
        /// The address tailscale reported.
        ip: Ipv4Addr,
    },
    /// The kernel's address table could not be read.
    LocalAddressesUnreadable {
        /// Why.
        why: String,
    },
}

impl Blocked {
    /// The condition in words, for the log (may quote untrusted text: escape it).
    pub fn reason(&self) -> String {
        match self {
            Blocked::TailscaleMissing => "tailscale is not installed (not on PATH)".into(),
            Blocked::TailscaleFailed { exit: Some(c), stderr } => {
                format!("`tailscale status --json` exited {c}: {stderr}")
            }
            Blocked::TailscaleFailed { exit: None, stderr } => {
                format!("`tailscale status --json` was killed by a signal: {stderr}")
            }
            Blocked::TailscaleHung { waited_ms } => {
                format!("`tailscale status --json` did not answer within {waited_ms} ms")
            }
            Blocked::Garbage { why } => format!("`tailscale status --json` output is unusable: {why}"),
            Blocked::Stopped => "Tailscale is Stopped".into(),
            Blocked::NeedsLogin => "Tailscale needs login (BackendState NeedsLogin)".into(),
            Blocked::Starting => "Tailscale is still Starting".into(),
            Blocked::NotRunning { state } => format!("Tailscale BackendState is {state}, not Running"),
            Blocked::Offline => "Tailscale is Running but this node is not Online".into(),
            Blocked::NoTailnetIp => "Tailscale reports no 100.64.0.0/10 address for this node".into(),
            Blocked::IpNotLocal { ip } => {
                format!("the tailnet address {ip} is not configured on any local interface")
            }
            Blocked::LocalAddressesUnreadable { why } => format!("cannot read the local addresses: {why}"),
        }
    }
}

/// The interlock's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    /// sshd may be touched; this is the tailnet address to bind.
    Open {
        /// The local tailnet address.
        tailnet_ip: Ipv4Addr,
    },
    /// sshd must not be touched.
    Closed(Blocked),
}

fn is_tailnet(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    a == 100 && (64..=127).contains(&b)
}

/// Judges the facts. Pure.
pub fn judge(facts: &Facts) -> Verdict {
    match judge_inner(facts) {
        Ok(tailnet_ip) => Verdict::Open { tailnet_ip },
        Err(b) => Verdict::Closed(b),
    }
}

fn judge_inner(facts: &Facts) -> Result<Ipv4Addr, Blocked> {
    let stdout = match &facts.tailscale {
        TailscaleAnswer::Output(s) => s,
        TailscaleAnswer::Missing => return Err(Blocked::TailscaleMissing),
        TailscaleAnswer::Failed(exit, stderr) => {
            return Err(Blocked::TailscaleFailed { exit: *exit, stderr: stderr.clone() });
        }
        TailscaleAnswer::TimedOut(waited_ms) => return Err(Blocked::TailscaleHung { waited_ms: *waited_ms }),
        TailscaleAnswer::Broken(why) => return Err(Blocked::Garbage { why: why.clone() }),
    };
    let v: Value = serde_json::from_slice(stdout).map_err(|e| Blocked::Garbage { why: format!("not JSON ({e})") })?;
    let state = v
        .get("BackendState")
        .and_then(Value::as_str)
        .ok_or_else(|| Blocked::Garbage { why: "no BackendState".into() })?;
    match state {
        "Running" => {}
        "Stopped" => return Err(Blocked::Stopped),
        "NeedsLogin" => return Err(Blocked::NeedsLogin),
        "Starting" => return Err(Blocked::Starting),
        other => return Err(Blocked::NotRunning { state: other.chars().take(64).collect() }),
    }
    let me = v.get("Self").filter(|s| s.is_object()).ok_or_else(|| Blocked::Garbage { why: "no Self".into() })?;
    if me.get("Online").and_then(Value::as_bool) != Some(true) {
        return Err(Blocked::Offline);
    }
    let ips: Vec<Ipv4Addr> = match me.get("TailscaleIPs") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).filter_map(|s| s.parse().ok()).collect(),
        Some(_) => return Err(Blocked::Garbage { why: "Self.TailscaleIPs is not a list".into() }),
    };
    let ip = ips.into_iter().find(|ip| is_tailnet(*ip)).ok_or(Blocked::NoTailnetIp)?;
    let local = facts.local_v4.as_ref().map_err(|why| Blocked::LocalAddressesUnreadable { why: why.clone() })?;
    if !local.contains(&ip) {
        return Err(Blocked::IpNotLocal { ip });
    }
    Ok(ip)
}

/// Gathers the facts: `tailscale status --json` (from PATH) under `timeout`,
/// then the kernel's local addresses.
pub fn gather(timeout: Duration) -> Facts {
    let tailscale = match process::run("tailscale", &["status", "--json"], timeout) {
        Ok(out) if out.status.success() => TailscaleAnswer::Output(out.stdout),
        Ok(out) => TailscaleAnswer::Failed(out.status.code(), out.stderr_line()),
        Err(CmdError::NotFound(_)) => TailscaleAnswer::Missing,
        Err(CmdError::TimedOut { waited_ms, .. }) => TailscaleAnswer::TimedOut(waited_ms),
        Err(e) => TailscaleAnswer::Broken(e.to_string()),
    };
    Facts { tailscale, local_v4: common::host_net::local_v4().map_err(|e| format!("the local addresses: {e}")) }
}

#[cfg(test)]
mod tests;
