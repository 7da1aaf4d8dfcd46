//! `console-auth`: the console's gate seen from outside, over HTTP only
//! (tools never link each other). Three probes at `doctor.console_url`:
//! no token on `/api/*` (401), a foreign `Host` (403, DNS rebinding) and,
//! with the console token, a foreign `Origin` on a POST (403; the console
//! checks the token before the Origin, so without the token it would be
//! 401). No answer may carry an `Access-Control-Allow-*` header. Nothing the
//! server sends is repeated as text: a hostile server could reflect the
//! token, so the facts keep only statuses, a fixed header vocabulary and
//! whether the body's `error_class` was the console's.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::secrets::{self, ExposeSecret, SecretError, SecretString};
use serde_json::{Value, json};

use super::http::{self, Failure};
use super::{Ctx, Outcome};

/// The console token's key name.
pub(crate) const TOKEN_NAME: &str = "OPENCLAW_CONSOLE_TOKEN";

/// Longest one probe may take (less when the run's deadline is nearer).
const PROBE_TIMEOUT: Duration = Duration::from_millis(1000);

/// Kept free before the run's deadline.
const MARGIN: Duration = Duration::from_millis(100);

/// The body of the Origin probe: no such action exists, and the Origin
/// refusal comes before the body is read, so nothing can run.
const PROBE_BODY: &[u8] = br#"{"action":"__doctor_probe__"}"#;

/// The address and `Host` header of `doctor.console_url`: plain `http://`
/// to a loopback IP address with an explicit port and no path (the rule of
/// `common::api_base`, narrowed to loopback).
pub(crate) fn endpoint(url: &str) -> Result<(SocketAddr, String), String> {
    let base = common::api_base::parse_api_base(url)?;
    if !base.loopback_http {
        return Err("the console listens on loopback only: use http://127.0.0.1:<port>".into());
    }
    let authority = base.url.strip_prefix("http://").unwrap_or_default();
    if authority.contains('/') {
        return Err("no path: the console's routes are at its root".into());
    }
    let addr = authority.parse::<SocketAddr>().map_err(|_| "name the port: http://127.0.0.1:<port>".to_owned())?;
    Ok((addr, authority.to_owned()))
}

/// One probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Probe {
    /// `GET /api/actions` without a token.
    NoToken,
    /// `GET /healthz` with `Host: evil.example`.
    ForeignHost,
    /// `POST /api/exec` with the token and `Origin: https://evil.example`.
    ForeignOrigin,
}

impl Probe {
    fn id(self) -> &'static str {
        match self {
            Probe::NoToken => "no-token",
            Probe::ForeignHost => "foreign-host",
            Probe::ForeignOrigin => "foreign-origin",
        }
    }
    fn request(self) -> &'static str {
        match self {
            Probe::NoToken => "GET /api/actions without a token",
            Probe::ForeignHost => "GET /healthz with Host: evil.example",
            Probe::ForeignOrigin => "POST /api/exec with the token and Origin: https://evil.example",
        }
    }
    fn expected(self) -> u16 {
        match self {
            Probe::NoToken => 401,
            Probe::ForeignHost | Probe::ForeignOrigin => 403,
        }
    }
    fn expected_class(self) -> &'static str {
        match self {
            Probe::NoToken => "HQ_TOKEN_MISSING",
            Probe::ForeignHost => "HOST_BLOCKED",
            Probe::ForeignOrigin => "ORIGIN_BLOCKED",
        }
    }
    fn fix(self, status: u16) -> &'static str {
        match (self, status) {
            (Probe::NoToken, _) => {
                "the console must refuse /api/* without X-OpenClaw-Token (401): make sure the real openclaw-console \
                 (not another service or a proxy) listens at doctor.console_url, and upgrade it"
            }
            (Probe::ForeignHost, _) => {
                "the console must refuse a Host it does not serve (403, the DNS-rebinding defence): run the real \
                 openclaw-console behind no proxy that rewrites Host, and upgrade it"
            }
            (Probe::ForeignOrigin, 401) => {
                "the token the doctor resolves is not the console's, so the Origin rule was not reached: give both \
                 the same OPENCLAW_CONSOLE_TOKEN (openclaw-keyctl status OPENCLAW_CONSOLE_TOKEN) and restart the console"
            }
            (Probe::ForeignOrigin, _) => {
                "the console must refuse a POST from a foreign Origin before reading its body (403, the CSRF \
                 defence): upgrade openclaw-console and check that nothing in front of it strips Origin"
            }
        }
    }
}

/// What one probe saw: numbers and fixed words only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seen {
    /// An HTTP answer.
    Answered {
        status: u16,
        /// `Access-Control-Allow-*` headers, by their known names.
        cors: Vec<&'static str>,
        /// Whether the body's `error_class` was the one the console sends.
        class_matches: bool,
    },
    /// Connection refused.
    NotListening,
    /// Any other transport failure, in the client's words.
    Broken(String),
}

/// Everything the judge needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Facts {
    pub(crate) url: String,
    /// In the order sent; probing stops at the first that got no answer.
    pub(crate) probes: Vec<(Probe, Seen)>,
    /// Why the Origin probe was not sent (the token could not be resolved).
    pub(crate) no_token: Option<String>,
}

/// One thing wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Finding {
    WrongStatus { probe: Probe, status: u16 },
    Cors { probe: Probe, headers: Vec<&'static str> },
    NoAnswer { probe: Probe, why: String },
}

/// The verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Nothing listens at the URL.
    NotRunning,
    /// A probe was answered wrongly, or not at all.
    Broken(Vec<Finding>),
    /// Everything probed held, but the Origin rule was not probed.
    Unproven(String),
    /// All three refusals as they must be, no CORS headers.
    Secure,
}

/// Pure: the verdict over what the probes saw.
pub(crate) fn judge(f: &Facts) -> Verdict {
    if matches!(f.probes.first(), Some((_, Seen::NotListening))) {
        return Verdict::NotRunning;
    }
    let mut findings = Vec::new();
    for (probe, seen) in &f.probes {
        let probe = *probe;
        match seen {
            Seen::Answered { status, cors, .. } => {
                if *status != probe.expected() {
                    findings.push(Finding::WrongStatus { probe, status: *status });
                }
                if !cors.is_empty() {
                    findings.push(Finding::Cors { probe, headers: cors.clone() });
                }
            }
            Seen::NotListening => {
                let why = "connection refused (the console stopped listening during the check)".to_owned();
                findings.push(Finding::NoAnswer { probe, why });
            }
            Seen::Broken(why) => findings.push(Finding::NoAnswer { probe, why: why.clone() }),
        }
    }
    if !findings.is_empty() {
        return Verdict::Broken(findings);
    }
    let done = |p: Probe| f.probes.iter().any(|(q, _)| *q == p);
    match &f.no_token {
        _ if !done(Probe::NoToken) || !done(Probe::ForeignHost) => Verdict::Unproven("not every probe ran".into()),
        Some(why) => Verdict::Unproven(why.clone()),
        None if !done(Probe::ForeignOrigin) => Verdict::Unproven("the Origin probe did not run".into()),
        None => Verdict::Secure,
    }
}

impl Finding {
    fn summary(&self) -> String {
        match self {
            Finding::WrongStatus { probe, status } => {
                format!("{} answered {status} (expected {})", probe.request(), probe.expected())
            }
            Finding::Cors { probe, headers } => format!("{} carried {}", probe.request(), headers.join(", ")),
            Finding::NoAnswer { probe, why } => format!("{}: {why}", probe.request()),
        }
    }
    fn fix(&self) -> String {
        match self {
            Finding::WrongStatus { probe, status } => probe.fix(*status).to_owned(),
            Finding::Cors { .. } => {
                "the console must send no Access-Control-Allow-* header (contract §1: no permissive \
                                     CORS): remove whatever adds them (a proxy, a CORS layer)"
                    .to_owned()
            }
            Finding::NoAnswer { .. } => "the console did not answer properly: `systemctl status openclaw-console` and \
                                         its log; a hung console must be restarted"
                .to_owned(),
        }
    }
}

/// Pure: the report entry for a verdict.
pub(crate) fn outcome(f: &Facts, verdict: &Verdict) -> Outcome {
    let probes: Vec<Value> = f.probes.iter().map(|(p, seen)| probe_json(*p, seen)).collect();
    let details = json!({"url": f.url, "probes": probes, "origin_probe_skipped": f.no_token});
    match verdict {
        Verdict::NotRunning => Outcome::skip(format!("console not running: nothing listens at {}", f.url)),
        Verdict::Broken(findings) => {
            let summary: Vec<String> = findings.iter().map(Finding::summary).collect();
            let mut fixes: Vec<String> = Vec::new();
            for fix in findings.iter().map(Finding::fix) {
                if !fixes.contains(&fix) {
                    fixes.push(fix);
                }
            }
            Outcome::fail(summary.join("; "), fixes).details(details)
        }
        Verdict::Unproven(why) => Outcome::warn(
            format!(
                "the console at {} refuses a missing token (401) and a foreign Host (403), but the Origin rule was not \
                 probed: {why}",
                f.url
            ),
            "store the console token where the doctor resolves it (openclaw-keyctl status OPENCLAW_CONSOLE_TOKEN) \
             so the Origin probe can run",
        )
        .details(details),
        Verdict::Secure => Outcome::pass(format!(
            "the console at {} refuses a missing token (401), a foreign Host (403) and a foreign Origin (403), \
             with no CORS headers",
            f.url
        ))
        .details(details),
    }
}

fn probe_json(probe: Probe, seen: &Seen) -> Value {
    let mut v = json!({"probe": probe.id(), "request": probe.request(), "expected": probe.expected()});
    match seen {
        Seen::Answered { status, cors, class_matches } => {
            v["status"] = (*status).into();
            v["cors_headers"] = cors.clone().into();
            v["error_class"] = if *class_matches { probe.expected_class().into() } else { "(other or none)".into() };
        }
        Seen::NotListening => v["error"] = "connection refused".into(),
        Seen::Broken(why) => v["error"] = why.as_str().into(),
    }
    v
}

/// The known `Access-Control-Allow-*` names; anything else under that
/// prefix is shown by the prefix alone (a header name is server text).
fn cors_headers(resp: &http::Response) -> Vec<&'static str> {
    const KNOWN: [(&str, &str); 5] = [
        ("access-control-allow-origin", "Access-Control-Allow-Origin"),
        ("access-control-allow-credentials", "Access-Control-Allow-Credentials"),
        ("access-control-allow-methods", "Access-Control-Allow-Methods"),
        ("access-control-allow-headers", "Access-Control-Allow-Headers"),
        ("access-control-allow-private-network", "Access-Control-Allow-Private-Network"),
    ];
    let mut res = Vec::new();
    for (name, _) in resp.headers.iter().filter(|(n, _)| n.starts_with("access-control-allow-")) {
        let shown = KNOWN.iter().find(|(k, _)| k == name).map_or("Access-Control-Allow-*", |(_, s)| *s);
        if !res.contains(&shown) {
            res.push(shown);
        }
    }
    res
}

/// The console token, or why the doctor cannot send it (never the value).
fn resolve_token(ctx: &Ctx) -> Result<SecretString, String> {
    let keychain = secrets::platform_keychain();
    let resolver = secrets::Resolver::for_process(keychain.as_ref(), ctx.paths.secrets_dir.clone());
    let value = match resolver.resolve(TOKEN_NAME) {
        Ok(r) => r.winner.value,
        Err(SecretError::Missing { .. }) => return Err(format!("{TOKEN_NAME} is not configured for the doctor")),
        Err(e) => return Err(format!("{TOKEN_NAME} cannot be resolved: {e}")),
    };
    if !value.expose_secret().bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!("{TOKEN_NAME} holds characters that cannot be sent in an HTTP header"));
    }
    Ok(value)
}

fn send(ctx: &Ctx, addr: SocketAddr, probe: Probe, req: &http::Request<'_>) -> Seen {
    let left = ctx.deadline.saturating_duration_since(Instant::now()).saturating_sub(MARGIN);
    if left.is_zero() {
        return Seen::Broken("no time left before the run's deadline".into());
    }
    match http::send(addr, req, PROBE_TIMEOUT.min(left)) {
        Ok(resp) => {
            let class = serde_json::from_slice::<Value>(&resp.body).ok().map(|b| b["error_class"].clone());
            Seen::Answered {
                status: resp.status,
                cors: cors_headers(&resp),
                class_matches: class.is_some_and(|c| c == probe.expected_class()),
            }
        }
        Err(Failure::NotListening) => Seen::NotListening,
        Err(e) => Seen::Broken(e.to_string()),
    }
}

/// Sends the probes in order, stopping at the first without an answer.
fn gather(ctx: &Ctx, addr: SocketAddr, host: &str) -> Facts {
    let url = ctx.settings.console_url.clone();
    let get = |path, host| http::Request { method: "GET", path, host, headers: &[], body: None, read_body: true };
    let mut probes = Vec::new();
    for (probe, req) in
        [(Probe::NoToken, get("/api/actions", host)), (Probe::ForeignHost, get("/healthz", "evil.example"))]
    {
        let seen = send(ctx, addr, probe, &req);
        let answered = matches!(seen, Seen::Answered { .. });
        probes.push((probe, seen));
        if !answered {
            return Facts { url, probes, no_token: None };
        }
    }
    let token = match resolve_token(ctx) {
        Ok(token) => token,
        Err(why) => return Facts { url, probes, no_token: Some(why) },
    };
    let headers = [
        ("X-OpenClaw-Token", token.expose_secret()),
        ("Origin", "https://evil.example"),
        ("Content-Type", "application/json"),
    ];
    let req = http::Request {
        method: "POST",
        path: "/api/exec",
        host,
        headers: &headers,
        body: Some(PROBE_BODY),
        read_body: true,
    };
    probes.push((Probe::ForeignOrigin, send(ctx, addr, Probe::ForeignOrigin, &req)));
    Facts { url, probes, no_token: None }
}

pub(crate) fn check(ctx: &Ctx) -> Outcome {
    let (addr, host) = match endpoint(&ctx.settings.console_url) {
        Ok(ep) => ep,
        Err(e) => return Outcome::error(format!("doctor.console_url: {e}")),
    };
    let facts = gather(ctx, addr, &host);
    outcome(&facts, &judge(&facts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(status: u16) -> Seen {
        Seen::Answered { status, cors: Vec::new(), class_matches: true }
    }

    fn facts(probes: Vec<(Probe, Seen)>, no_token: Option<&str>) -> Facts {
        Facts { url: "http://127.0.0.1:8787".into(), probes, no_token: no_token.map(str::to_owned) }
    }

    fn all(no_token: Seen, host: Seen, origin: Seen) -> Facts {
        facts(vec![(Probe::NoToken, no_token), (Probe::ForeignHost, host), (Probe::ForeignOrigin, origin)], None)
    }

    #[test]
    fn the_console_url_is_loopback_http_with_a_port_and_no_path() {
        let (addr, host) = endpoint("http://127.0.0.1:8787").unwrap();
        assert_eq!((addr.to_string(), host.as_str()), ("127.0.0.1:8787".into(), "127.0.0.1:8787"));
        assert_eq!(endpoint("http://[::1]:9/").unwrap().1, "[::1]:9");
        for bad in [
            "https://127.0.0.1:8787",
            "http://localhost:8787",
            "http://10.0.0.1:8787",
            "http://100.101.1.2:8787",
            "http://127.0.0.1",
            "http://127.0.0.1:8787/console",
            "http://user:pw@127.0.0.1:8787",
            "127.0.0.1:8787",
            "http://127.0.0.1:0",
        ] {
            assert!(endpoint(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_three_refusals_without_cors_pass() {
        let f = all(answered(401), answered(403), answered(403));
        assert_eq!(judge(&f), Verdict::Secure);
        assert_eq!(outcome(&f, &judge(&f)).status, super::super::Status::Pass);
    }

    #[test]
    fn nothing_listening_skips_but_only_on_the_first_probe() {
        assert_eq!(judge(&facts(vec![(Probe::NoToken, Seen::NotListening)], None)), Verdict::NotRunning);
        let f = facts(vec![(Probe::NoToken, answered(401)), (Probe::ForeignHost, Seen::NotListening)], None);
        assert!(
            matches!(judge(&f), Verdict::Broken(v) if matches!(v[0], Finding::NoAnswer { probe: Probe::ForeignHost, .. }))
        );
    }

    #[test]
    fn every_wrong_status_and_cors_header_is_a_finding_with_the_status_seen() {
        let f = all(answered(200), answered(200), answered(400));
        let Verdict::Broken(findings) = judge(&f) else { panic!("{:?}", judge(&f)) };
        assert_eq!(
            findings,
            [
                Finding::WrongStatus { probe: Probe::NoToken, status: 200 },
                Finding::WrongStatus { probe: Probe::ForeignHost, status: 200 },
                Finding::WrongStatus { probe: Probe::ForeignOrigin, status: 400 },
            ]
        );
        let o = outcome(&f, &judge(&f));
        assert!(o.summary.contains("GET /api/actions without a token answered 200 (expected 401)"), "{}", o.summary);
        assert_eq!(o.remediation.unwrap().0.len(), 3);

        let cors = Seen::Answered { status: 401, cors: vec!["Access-Control-Allow-Origin"], class_matches: true };
        let f = all(cors, answered(403), answered(403));
        assert!(matches!(&judge(&f), Verdict::Broken(v) if v.len() == 1 && matches!(v[0], Finding::Cors { .. })));
    }

    #[test]
    fn a_token_mismatch_on_the_origin_probe_fails_and_says_so() {
        let f = all(answered(401), answered(403), answered(401));
        let o = outcome(&f, &judge(&f));
        assert_eq!(o.status, super::super::Status::Fail);
        assert!(o.remediation.unwrap().0[0].contains("not the console's"));
    }

    #[test]
    fn without_the_token_the_origin_rule_is_unproven_never_a_pass() {
        let f = facts(
            vec![(Probe::NoToken, answered(401)), (Probe::ForeignHost, answered(403))],
            Some("OPENCLAW_CONSOLE_TOKEN is not configured for the doctor"),
        );
        assert!(matches!(judge(&f), Verdict::Unproven(why) if why.contains("not configured")));
        assert_eq!(outcome(&f, &judge(&f)).status, super::super::Status::Warn);
        let f = facts(vec![(Probe::NoToken, answered(401)), (Probe::ForeignHost, answered(403))], None);
        assert!(matches!(judge(&f), Verdict::Unproven(_)), "a missing probe is never a pass");
        assert!(matches!(judge(&facts(Vec::new(), None)), Verdict::Unproven(_)));
    }

    #[test]
    fn a_timeout_is_a_failure_naming_the_probe() {
        let f = facts(vec![(Probe::NoToken, Seen::Broken("no complete answer within 1000 ms".into()))], None);
        let o = outcome(&f, &judge(&f));
        assert_eq!(o.status, super::super::Status::Fail);
        assert!(o.summary.starts_with("GET /api/actions without a token: no complete answer"), "{}", o.summary);
    }

    #[test]
    fn cors_header_names_are_reported_from_a_fixed_vocabulary() {
        let resp = http::Response {
            status: 200,
            headers: vec![
                ("access-control-allow-origin".into(), "*".into()),
                ("access-control-allow-secret-abc".into(), "x".into()),
                ("access-control-allow-origin".into(), "*".into()),
                ("content-type".into(), "text/plain".into()),
            ],
            body: Vec::new(),
        };
        assert_eq!(cors_headers(&resp), ["Access-Control-Allow-Origin", "Access-Control-Allow-*"]);
    }
}
