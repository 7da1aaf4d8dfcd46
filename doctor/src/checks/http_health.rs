//! `http-health`: plain HTTP GETs to loopback or tailnet endpoints only.
//!
//! The doctor never talks to the internet: an endpoint whose host is not a
//! loopback or tailnet IP literal (or `localhost`) is refused, not probed.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::policy::{Class, classify, parse_bind_addr};
use serde_json::json;

use super::{Ctx, Outcome, http};

/// A parsed `http://host:port/path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub(crate) addr: SocketAddr,
    pub(crate) host_header: String,
    pub(crate) path: String,
}

pub(crate) fn parse_endpoint(url: &str) -> Result<Endpoint, String> {
    let rest = url.strip_prefix("http://").ok_or("only plain http:// URLs are probed")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') && p.bytes().all(|b| b.is_ascii_digit()) => {
            (h, p.parse::<u16>().map_err(|_| "bad port".to_owned())?)
        }
        _ => (authority, 80),
    };
    let ip: IpAddr = if host == "localhost" {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        parse_bind_addr(host).map_err(|e| e.to_string())?.ip
    };
    if !matches!(classify(ip), Class::Loopback | Class::Tailnet | Class::TailnetV6) {
        return Err(format!("{host} is not a loopback or tailnet address; the doctor does not probe other hosts"));
    }
    if path.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err("path contains spaces or control characters".into());
    }
    Ok(Endpoint { addr: SocketAddr::new(ip, port), host_header: authority.to_owned(), path: path.to_owned() })
}

/// One GET through the doctor's HTTP client; returns the status code.
fn get(ep: &Endpoint, timeout: Duration) -> Result<u16, String> {
    let req = http::Request {
        method: "GET",
        path: &ep.path,
        host: &ep.host_header,
        headers: &[],
        body: None,
        read_body: false,
    };
    http::send(ep.addr, &req, timeout).map(|r| r.status).map_err(|e| e.to_string())
}

pub(crate) fn check(ctx: &Ctx) -> Outcome {
    let endpoints = &ctx.settings.http_health;
    if endpoints.is_empty() {
        return Outcome::skip("no health endpoints configured (doctor.http_health)");
    }
    let mut results = Vec::new();
    let mut failures = Vec::new();
    for url in endpoints {
        let shown = url.to_string();
        let ep = match parse_endpoint(url) {
            Ok(ep) => ep,
            Err(e) => return Outcome::error(format!("cannot probe {shown}: {e}")),
        };
        let mut last = String::new();
        let mut ok = false;
        for attempt in 0..=ctx.settings.http_retries {
            let remaining = ctx.deadline.saturating_duration_since(Instant::now());
            if remaining < Duration::from_millis(100) {
                last = format!("{last} (out of time after {attempt} attempts)");
                break;
            }
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(200).min(remaining / 4));
            }
            match get(&ep, Duration::from_millis(1000).min(remaining / 2)) {
                Ok(code) if (200..300).contains(&code) => {
                    ok = true;
                    last = format!("HTTP {code}");
                    break;
                }
                Ok(code) => last = format!("HTTP {code}"),
                Err(e) => last = e,
            }
        }
        results.push(json!({"url": shown, "ok": ok, "result": last}));
        if !ok {
            failures.push(format!("{shown}: {last}"));
        }
    }
    let details = json!({"endpoints": results});
    if failures.is_empty() {
        Outcome::pass(format!("{} endpoint(s) healthy", endpoints.len())).details(details)
    } else {
        Outcome::fail(
            failures.join("; "),
            "check the service behind the endpoint (`docker compose ps`, `systemctl status`) and its logs",
        )
        .details(details)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_and_tailnet_http_urls_are_accepted() {
        let ep = parse_endpoint("http://127.0.0.1:8000/healthz").unwrap();
        assert_eq!((ep.addr.to_string(), ep.path.as_str()), ("127.0.0.1:8000".into(), "/healthz"));
        assert_eq!(parse_endpoint("http://localhost/").unwrap().addr.to_string(), "127.0.0.1:80");
        assert_eq!(parse_endpoint("http://[::1]:9/x").unwrap().addr.to_string(), "[::1]:9");
        assert!(parse_endpoint("http://100.101.1.2:8788").is_ok());
        for bad in [
            "https://127.0.0.1/",
            "http://example.com/",
            "http://8.8.8.8/",
            "http://192.168.1.1/",
            "http://127.0.0.1:99999/",
            "http://127.0.0.1/a b",
        ] {
            assert!(parse_endpoint(bad).is_err(), "{bad}");
        }
    }
}
