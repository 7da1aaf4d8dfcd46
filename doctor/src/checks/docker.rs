//! `docker-ports` and `docker-health`, from docker's JSON output.

use std::net::IpAddr;
use std::path::Path;

use common::policy::{classify, parse_bind_addr};
use common::process::{CmdError, CmdOutput};
use serde_json::{Value, json};

use super::{Ctx, Outcome};

/// One published binding, `host_ip:start-end -> container/proto`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Binding {
    pub(crate) host_ip: IpAddr,
    pub(crate) ports: (u16, u16),
    pub(crate) target: String,
}

/// Runs docker; `Err` is the outcome to report instead (skip or error).
fn docker(ctx: &Ctx, args: &[&str]) -> Result<Vec<Value>, Outcome> {
    let out: CmdOutput = match ctx.cmd("docker", args) {
        Err(CmdError::NotFound(_)) => return Err(Outcome::skip("docker is not installed")),
        Err(e) => return Err(Outcome::from_cmd_error(&e)),
        Ok(out) => out,
    };
    if !out.status.success() {
        let line = out.stderr_line();
        if line.contains("Cannot connect to the Docker daemon") && !Path::new("/var/run/docker.sock").exists() {
            return Err(Outcome::skip("docker client installed but no Docker daemon on this host"));
        }
        return Err(Outcome::error(format!("`docker {}` failed: {line}", args.join(" "))));
    }
    out.stdout_text()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(|e| Outcome::error(format!("docker printed unparsable JSON: {e}"))))
        .collect()
}

pub(crate) fn ports(ctx: &Ctx) -> Outcome {
    match docker(ctx, &["ps", "--format", "{{json .}}"]) {
        Ok(containers) => judge_ports(&containers, &ctx.settings.docker_allowed),
        Err(outcome) => outcome,
    }
}

/// Parses docker's `Ports` column: `0.0.0.0:8000->8000/tcp, :::8000->8000/tcp, 6379/tcp`.
/// Exposed-but-unpublished entries (no `->`) are not bindings.
pub(crate) fn parse_ports(s: &str) -> Result<Vec<Binding>, String> {
    let mut res = Vec::new();
    for entry in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((host, target)) = entry.split_once("->") else { continue };
        let (ip, ports) = host.rsplit_once(':').ok_or_else(|| format!("no host port in `{entry}`"))?;
        let ip = if ip.is_empty() { "::" } else { ip };
        let ip = parse_bind_addr(ip).map_err(|_| format!("bad host address in `{entry}`"))?.ip;
        let (lo, hi) = match ports.split_once('-') {
            Some((lo, hi)) => (lo, hi),
            None => (ports, ports),
        };
        let lo: u16 = lo.parse().map_err(|_| format!("bad port in `{entry}`"))?;
        let hi: u16 = hi.parse().map_err(|_| format!("bad port in `{entry}`"))?;
        if hi < lo {
            return Err(format!("reversed port range in `{entry}`"));
        }
        res.push(Binding { host_ip: ip, ports: (lo, hi), target: target.to_owned() });
    }
    Ok(res)
}

pub(crate) fn judge_ports(containers: &[Value], allowed: &[String]) -> Outcome {
    let allowed: Vec<(IpAddr, u16)> = allowed
        .iter()
        .filter_map(|a| {
            let (ip, port) = a.rsplit_once(':')?;
            Some((parse_bind_addr(ip).ok()?.ip, port.parse().ok()?))
        })
        .collect();
    let mut bindings = Vec::new();
    let mut violations = Vec::new();
    for c in containers {
        let name = c["Names"].as_str().unwrap_or("?").to_string();
        let Some(ports) = c["Ports"].as_str() else {
            return Outcome::error(format!(
                "docker printed no Ports field for {name}; cannot judge its published ports"
            ));
        };
        let parsed = match parse_ports(ports) {
            Ok(p) => p,
            Err(e) => {
                return Outcome::fail(
                    format!("cannot judge {name}'s published ports: {}", e),
                    "publish ports as 127.0.0.1:HOST:CONTAINER in the compose file",
                );
            }
        };
        for b in parsed {
            let ok = (b.ports.0..=b.ports.1).all(|p| allowed.contains(&(b.host_ip, p)));
            let shown = format!("{}:{}", common::policy::BindAddr { ip: b.host_ip, scope: None }, port_text(b.ports));
            bindings.push(json!({"container": name, "host": shown, "target": b.target, "classification": classify(b.host_ip), "allowed": ok}));
            if !ok {
                violations.push(format!("{name}: {shown}->{}", b.target));
            }
        }
    }
    let details = json!({"containers": containers.len(), "bindings": bindings, "violations": violations});
    if violations.is_empty() {
        Outcome::pass(format!("{} containers, {} published bindings, all allowed", containers.len(), bindings.len()))
            .details(details)
    } else {
        Outcome::fail(
            format!("{} published binding(s) outside the allowed set: {}", violations.len(), violations.join(", ")),
            "publish only 127.0.0.1:8000 (compose `ports: [\"127.0.0.1:8000:8000\"]`); Docker's published ports bypass UFW",
        )
        .details(details)
    }
}

fn port_text((lo, hi): (u16, u16)) -> String {
    if lo == hi { lo.to_string() } else { format!("{lo}-{hi}") }
}

pub(crate) fn health(ctx: &Ctx) -> Outcome {
    let containers =
        match docker(ctx, &["ps", "-a", "--filter", "label=com.docker.compose.project", "--format", "{{json .}}"]) {
            Ok(c) => c,
            Err(outcome) => return outcome,
        };
    if containers.is_empty() {
        return Outcome::skip("no compose-managed containers on this host");
    }
    let bad: Vec<(String, String)> = containers
        .iter()
        .filter(|c| !is_healthy(c))
        .map(|c| (c["Names"].as_str().unwrap_or("?").to_owned(), c["Status"].as_str().unwrap_or("").to_owned()))
        .collect();
    let mut details = json!({"containers": containers.len(), "unhealthy": []});
    if bad.is_empty() {
        return Outcome::pass(format!("{} compose containers running and not unhealthy", containers.len()))
            .details(details);
    }
    let mut lines = Vec::new();
    for (name, status) in &bad {
        let log = match ctx.cmd("docker", &["inspect", "--format", "{{json .State.Health}}", name]) {
            Ok(out) if out.status.success() => last_health_lines(&out.stdout_text()),
            _ => Vec::new(),
        };
        details["unhealthy"]
            .as_array_mut()
            .expect("array")
            .push(json!({"name": name, "status": status, "health_log": log}));
        lines.push(format!("{} ({})", name, status));
    }
    Outcome::fail(
        format!("{} of {} compose containers not healthy: {}", bad.len(), containers.len(), lines.join(", ")),
        "inspect with `docker compose ps` and `docker compose logs <service>`; the health log is in this report's details",
    )
    .details(details)
}

fn is_healthy(c: &Value) -> bool {
    c["State"].as_str().is_some_and(|s| s.eq_ignore_ascii_case("running"))
        && !c["Status"].as_str().unwrap_or("").contains("(unhealthy)")
}

/// The last five health-check outputs, each at most 500 characters.
pub(crate) fn last_health_lines(json_text: &str) -> Vec<String> {
    let Ok(health) = serde_json::from_str::<Value>(json_text.trim()) else { return Vec::new() };
    let log = health["Log"].as_array().cloned().unwrap_or_default();
    log.iter()
        .rev()
        .take(5)
        .rev()
        .filter_map(|e| e["Output"].as_str())
        .map(|o| o.trim().chars().take(500).collect::<String>())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(ip: &str, lo: u16, hi: u16, target: &str) -> Binding {
        Binding { host_ip: ip.parse().unwrap(), ports: (lo, hi), target: target.into() }
    }

    #[test]
    fn every_docker_port_spelling_parses() {
        let got = parse_ports(
            "0.0.0.0:8080->80/tcp, :::8080->80/tcp, [::1]:5433->5432/tcp, 0.0.0.0:9000-9001->9000-9001/tcp, 6379/tcp",
        )
        .unwrap();
        assert_eq!(
            got,
            vec![
                b("0.0.0.0", 8080, 8080, "80/tcp"),
                b("::", 8080, 8080, "80/tcp"),
                b("::1", 5433, 5433, "5432/tcp"),
                b("0.0.0.0", 9000, 9001, "9000-9001/tcp"),
            ]
        );
        assert_eq!(parse_ports("").unwrap(), vec![]);
        assert!(parse_ports("0.0.0.0:x->80/tcp").is_err());
        assert!(parse_ports("nonsense->80/tcp").is_err());
        assert!(parse_ports("0.0.0.0:9-8->80/tcp").is_err());
    }

    #[test]
    fn only_the_allowed_bindings_pass_and_ranges_must_be_fully_allowed() {
        let allowed = vec!["127.0.0.1:8000".to_string(), "127.0.0.1:9000".to_string()];
        let ok = json!([{"Names": "api", "Ports": "127.0.0.1:8000->8000/tcp, 6379/tcp"}]);
        assert_eq!(judge_ports(ok.as_array().unwrap(), &allowed).status, crate::checks::Status::Pass);
        let range = json!([{"Names": "api", "Ports": "127.0.0.1:9000-9001->9000-9001/tcp"}]);
        assert_eq!(judge_ports(range.as_array().unwrap(), &allowed).status, crate::checks::Status::Fail);
        let v6 = json!([{"Names": "db", "Ports": ":::8000->8000/tcp"}]);
        let out = judge_ports(v6.as_array().unwrap(), &allowed);
        assert_eq!(out.status, crate::checks::Status::Fail);
        assert!(out.summary.contains("db: [::]:8000->8000/tcp"), "{}", out.summary);
    }

    #[test]
    fn a_container_without_a_ports_field_cannot_pass() {
        let odd = json!([{"Names": "api"}]);
        assert_eq!(judge_ports(odd.as_array().unwrap(), &[]).status, crate::checks::Status::Error);
    }

    #[test]
    fn health_log_keeps_the_last_five_outputs_truncated() {
        let log: Vec<Value> = (0..7).map(|i| json!({"Output": format!("out {i} {}", "x".repeat(600))})).collect();
        let lines = last_health_lines(&json!({"Status": "unhealthy", "Log": log}).to_string());
        assert_eq!(lines.len(), 5);
        assert!(lines[0].starts_with("out 2 "));
        assert!(lines.iter().all(|l| l.chars().count() <= 500));
    }
}
