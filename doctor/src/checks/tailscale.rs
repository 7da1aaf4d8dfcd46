//! `tailscale`: the tailnet is the only way in, so it must be Running and Online.

use common::process::CmdError;
use serde_json::{Value, json};

use super::{Ctx, Outcome};

pub(crate) fn check(ctx: &Ctx) -> Outcome {
    match ctx.cmd("tailscale", &["status", "--json"]) {
        Err(CmdError::NotFound(_)) => Outcome::fail(
            "tailscale is not installed; Tailscale is the only way into this host",
            "install Tailscale (https://tailscale.com/download/linux) and run `tailscale up`",
        ),
        Err(e) => Outcome::from_cmd_error(&e),
        Ok(out) if !out.status.success() => Outcome::fail(
            format!("`tailscale status` failed: {}", out.stderr_line()),
            "start tailscaled (`systemctl start tailscaled`) and run `tailscale up`",
        ),
        Ok(out) => match serde_json::from_slice::<Value>(&out.stdout) {
            Ok(status) => judge(&status),
            Err(e) => Outcome::error(format!("`tailscale status --json` printed unparsable JSON: {e}")),
        },
    }
}

pub(crate) fn judge(status: &Value) -> Outcome {
    let backend = status["BackendState"].as_str().unwrap_or("");
    let online = status["Self"]["Online"].as_bool().unwrap_or(false);
    let ips: Vec<&str> = status["Self"]["TailscaleIPs"]
        .as_array()
        .or_else(|| status["TailscaleIPs"].as_array())
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let health: Vec<String> = status["Health"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).map(|s| s.to_string()).collect())
        .unwrap_or_default();
    let details = json!({
        "backend_state": backend, "online": online, "tailscale_ips": ips,
        "dns_name": status["Self"]["DNSName"], "health": health,
    });
    if backend != "Running" {
        return Outcome::fail(
            format!("Tailscale backend is {}, not Running", if backend.is_empty() { "unknown" } else { backend }),
            "run `tailscale up` (and `tailscale login` if it asks); until then the host is unreachable over the tailnet",
        )
        .details(details);
    }
    if !online {
        return Outcome::fail(
            "Tailscale is Running but this node is not Online",
            "check the node's connectivity and `tailscale netcheck`; the control plane cannot see it",
        )
        .details(details);
    }
    if ips.is_empty() {
        return Outcome::fail("Tailscale is Running but has no tailnet IP", "run `tailscale up` again")
            .details(details);
    }
    if !health.is_empty() {
        return Outcome::warn(
            format!(
                "Running and Online ({}), {} health warning(s): {}",
                ips.join(", "),
                health.len(),
                health.join("; ")
            ),
            "see `tailscale status` for the warnings",
        )
        .details(details);
    }
    Outcome::pass(format!("Running and Online as {}", ips.join(", "))).details(details)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Status;

    #[test]
    fn running_online_passes_and_anything_else_fails() {
        let ok = json!({"BackendState": "Running", "Self": {"Online": true, "TailscaleIPs": ["100.101.102.103"]}, "Health": []});
        assert_eq!(judge(&ok).status, Status::Pass);
        let stopped = json!({"BackendState": "Stopped", "Self": {"Online": false}});
        assert_eq!(judge(&stopped).status, Status::Fail);
        let offline = json!({"BackendState": "Running", "Self": {"Online": false, "TailscaleIPs": ["100.64.0.1"]}});
        assert_eq!(judge(&offline).status, Status::Fail);
        let warn = json!({"BackendState": "Running", "Self": {"Online": true, "TailscaleIPs": ["100.64.0.1"]}, "Health": ["x"]});
        assert_eq!(judge(&warn).status, Status::Warn);
        assert_eq!(judge(&json!({})).status, Status::Fail);
    }
}
