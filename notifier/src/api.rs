//! The Pushover API over HTTPS: the client (the base-URL and proxy rules are
//! `common::api_base`'s), and the one
//! pure function that turns a response into a [`Reply`] (fuzzed).
//!
//! Keys travel only in form bodies. The client never follows a redirect
//! (which could carry the body elsewhere), reads error bodies instead of
//! turning statuses into errors, and has explicit timeouts.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

pub use common::api_base::{ApiBase, parse_api_base};

/// Connect timeout (the issue's 5 s).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Whole-request timeout (the issue's 15 s).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Largest response body read; Pushover's are a few hundred bytes.
pub const MAX_BODY: u64 = 64 * 1024;
/// At most this many API error strings are kept, each cut to 300 characters.
const MAX_ERRORS: usize = 10;

/// The app's monthly quota as the API last reported it (`X-Limit-App-*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Quota {
    /// Messages per month.
    pub limit: u64,
    /// Messages left this month.
    pub remaining: u64,
    /// Unix time of the next reset.
    pub reset: i64,
}

impl Quota {
    /// Below 5 % left.
    pub fn is_low(&self) -> bool {
        self.limit > 0 && self.remaining.saturating_mul(20) < self.limit
    }
}

/// What one request came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// 2xx with `"status": 1`.
    Accepted {
        /// The API's request id.
        request: Option<String>,
        /// The emergency receipt, when one came back.
        receipt: Option<String>,
    },
    /// HTTP 429: the monthly quota is used up until `reset`.
    QuotaExhausted {
        /// The API's request id.
        request: Option<String>,
        /// Unix time of the reset, from `X-Limit-App-Reset`.
        reset: Option<i64>,
    },
    /// Refused for good (4xx other than 429, a redirect, a 2xx with `"status": 0`):
    /// repeating the request will not help.
    Rejected {
        /// HTTP status.
        status: u16,
        /// The API's request id.
        request: Option<String>,
        /// The API's `errors[]` (untrusted text; escaped when shown).
        errors: Vec<String>,
    },
    /// Worth retrying later: 5xx, a network failure, a timeout, an unreadable 2xx.
    Transient {
        /// HTTP status, when a response arrived.
        status: Option<u16>,
        /// What went wrong.
        reason: String,
    },
}

impl Reply {
    /// HTTP status, when a response arrived.
    pub fn status(&self) -> Option<u16> {
        match self {
            Reply::Accepted { .. } => Some(200),
            Reply::QuotaExhausted { .. } => Some(429),
            Reply::Rejected { status, .. } => Some(*status),
            Reply::Transient { status, .. } => *status,
        }
    }
}

/// Classifies a response. `header` looks a header up by name
/// (case-insensitive). Never panics, whatever the server sends.
pub fn classify(status: u16, header: &dyn Fn(&str) -> Option<String>, body: &[u8]) -> (Reply, Option<Quota>) {
    let num = |name: &str| header(name).and_then(|v| v.trim().parse::<u64>().ok());
    let quota = match (num("X-Limit-App-Limit"), num("X-Limit-App-Remaining"), num("X-Limit-App-Reset")) {
        (Some(limit), Some(remaining), Some(reset)) => {
            i64::try_from(reset).ok().map(|reset| Quota { limit, remaining: remaining.min(limit), reset })
        }
        _ => None,
    };
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let field = |name: &str, max: usize, extra: &[u8]| -> Option<String> {
        let v = json.as_ref()?.get(name)?.as_str()?;
        let ok = (1..=max).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || extra.contains(&b));
        ok.then(|| v.to_owned())
    };
    // Ids are used in paths (`receipts/<r>/cancel.json`) and shown: only plain tokens are kept.
    let request = field("request", 64, b"-");
    let receipt = field("receipt", 64, b"");
    let errors = || -> Vec<String> {
        let mut res: Vec<String> = json
            .as_ref()
            .and_then(|j| j.get("errors"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter().take(MAX_ERRORS).map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_owned)).collect()
            })
            .unwrap_or_default();
        for e in &mut res {
            *e = crate::message::truncate(e, 300, "…");
        }
        res
    };
    let api_status = json.as_ref().and_then(|j| j.get("status")).and_then(Value::as_i64);
    let reply = match status {
        200..=299 if api_status == Some(1) => Reply::Accepted { request, receipt },
        200..=299 if api_status.is_some() => Reply::Rejected { status, request, errors: errors() },
        200..=299 => Reply::Transient {
            status: Some(status),
            reason: "a 2xx answer without Pushover's {\"status\":1}; not counted as delivered".into(),
        },
        429 => Reply::QuotaExhausted { request, reset: quota.map(|q| q.reset) },
        500..=599 => Reply::Transient { status: Some(status), reason: format!("HTTP {status} from the API") },
        _ => {
            let mut errors = errors();
            if errors.is_empty() {
                errors.push(match status {
                    300..=399 => format!("HTTP {status}: a redirect, not followed (check --api-base)"),
                    _ => format!("HTTP {status}"),
                });
            }
            Reply::Rejected { status, request, errors }
        }
    };
    // A 429 means nothing is left, whatever the headers say.
    let quota = match (&reply, quota) {
        (Reply::QuotaExhausted { .. }, Some(q)) => Some(Quota { remaining: 0, ..q }),
        (_, q) => q,
    };
    (reply, quota)
}

/// The HTTPS client.
pub struct Client {
    agent: ureq::Agent,
    base: ApiBase,
    timeout: Duration,
}

impl Client {
    /// A client for `base`. Proxies come from `https_proxy`/`HTTPS_PROXY`
    /// then `all_proxy`/`ALL_PROXY`, unless `no_proxy`/`NO_PROXY` names the
    /// host; a loopback test server is never proxied.
    pub fn new(base: ApiBase, timeout: Duration, env: &dyn Fn(&str) -> Option<String>) -> Result<Client, String> {
        let proxy = if base.loopback_http { None } else { proxy_for(&base.host, env)? };
        let config = ureq::Agent::config_builder()
            .timeout_connect(Some(CONNECT_TIMEOUT.min(timeout)))
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .https_only(!base.loopback_http)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .proxy(proxy)
            .user_agent(concat!("openclaw-notify/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Client { agent: ureq::Agent::new_with_config(config), base, timeout })
    }

    /// The whole-request timeout; `post` never waits longer.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The base URL (no secrets in it).
    pub fn base(&self) -> &ApiBase {
        &self.base
    }

    /// POSTs `form` to `<base><path>` within `timeout` (at most the client's).
    pub fn post(&self, path: &str, form: &[(&str, &str)], timeout: Duration) -> (Reply, Option<Quota>) {
        let url = format!("{}{path}", self.base.url);
        let timeout = timeout.min(self.timeout);
        let res = self
            .agent
            .post(&url)
            .config()
            .timeout_global(Some(timeout))
            .timeout_connect(Some(CONNECT_TIMEOUT.min(timeout)))
            .build()
            .send_form(form.iter().copied());
        let mut resp = match res {
            Ok(r) => r,
            Err(e) => return (Reply::Transient { status: None, reason: transport_error(&e) }, None),
        };
        let status = resp.status().as_u16();
        // A status with an unreadable body is classified on the status alone.
        let body: Vec<u8> = resp.body_mut().with_config().limit(MAX_BODY).read_to_vec().unwrap_or_default();
        let headers = resp.headers().clone();
        classify(status, &|name| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned), &body)
    }
}

fn transport_error(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(t) => format!("timed out ({t})"),
        ureq::Error::HostNotFound => "host not found".into(),
        ureq::Error::ConnectionFailed => "connection failed".into(),
        ureq::Error::ConnectProxyFailed(_) => "the proxy refused the connection".into(),
        other => format!("network error: {other}"),
    }
}

/// The proxy for an HTTPS request to `host`, by the shared rule
/// (`common::api_base::proxy_url`).
fn proxy_for(host: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Option<ureq::Proxy>, String> {
    match common::api_base::proxy_url(host, env) {
        None => Ok(None),
        // The proxy URL may hold credentials: it is never repeated.
        Some(p) => ureq::Proxy::new(p.trim()).map(Some).map_err(|_| {
            "the proxy in https_proxy/HTTPS_PROXY/all_proxy is not a usable proxy URL (not repeated here)".to_owned()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |n| pairs.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn responses_are_classified_like_the_api_documents() {
        let limits =
            [("X-Limit-App-Limit", "10000"), ("x-limit-app-remaining", "400"), ("X-Limit-App-Reset", "1798761600")];
        let (r, q) = classify(200, &h(&limits), br#"{"status":1,"request":"5042853c-402d-4a18-abcb-168734a801de"}"#);
        assert_eq!(r, Reply::Accepted { request: Some("5042853c-402d-4a18-abcb-168734a801de".into()), receipt: None });
        let q = q.unwrap();
        assert_eq!(q, Quota { limit: 10000, remaining: 400, reset: 1_798_761_600 });
        assert!(q.is_low());
        assert!(!Quota { limit: 10000, remaining: 500, reset: 0 }.is_low());
        let (r, _) =
            classify(200, &h(&[]), br#"{"status":1,"request":"r1","receipt":"rLqVuqTRh62UzxtmqiaLzQmVcPBiCy"}"#);
        assert!(matches!(r, Reply::Accepted { receipt: Some(ref x), .. } if x == "rLqVuqTRh62UzxtmqiaLzQmVcPBiCy"));
        // A receipt that is not a plain token is dropped, never used in a path.
        let (r, _) = classify(200, &h(&[]), br#"{"status":1,"receipt":"../../x"}"#);
        assert!(matches!(r, Reply::Accepted { receipt: None, .. }));
        let (r, _) = classify(
            400,
            &h(&[]),
            br#"{"user":"invalid","errors":["user identifier is invalid"],"status":0,"request":"r2"}"#,
        );
        assert_eq!(
            r,
            Reply::Rejected {
                status: 400,
                request: Some("r2".into()),
                errors: vec!["user identifier is invalid".into()]
            }
        );
        let (r, q) = classify(429, &h(&limits), br#"{"status":0,"errors":["quota"]}"#);
        assert_eq!(r, Reply::QuotaExhausted { request: None, reset: Some(1_798_761_600) });
        assert_eq!(q.unwrap().remaining, 0);
        assert!(matches!(classify(503, &h(&[]), b"").0, Reply::Transient { status: Some(503), .. }));
        assert!(matches!(classify(200, &h(&[]), b"<html>portal</html>").0, Reply::Transient { .. }));
        assert!(
            matches!(classify(302, &h(&[]), b"").0, Reply::Rejected { status: 302, ref errors, .. } if errors[0].contains("redirect"))
        );
        assert!(matches!(
            classify(200, &h(&[]), br#"{"status":0,"errors":["x"]}"#).0,
            Reply::Rejected { status: 200, .. }
        ));
    }

    #[test]
    fn proxies_come_from_the_environment_and_no_proxy_wins() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |n: &str| pairs.iter().find(|(k, _)| *k == n).map(|(_, v)| (*v).to_owned())
        };
        assert!(proxy_for("api.pushover.net", &env(&[])).unwrap().is_none());
        assert!(proxy_for("api.pushover.net", &env(&[("HTTPS_PROXY", "http://127.0.0.1:3128")])).unwrap().is_some());
        assert!(proxy_for("api.pushover.net", &env(&[("ALL_PROXY", "http://127.0.0.1:3128")])).unwrap().is_some());
        let np = env(&[("HTTPS_PROXY", "http://127.0.0.1:3128"), ("NO_PROXY", "example.org, pushover.net")]);
        assert!(proxy_for("api.pushover.net", &np).unwrap().is_none());
        assert!(proxy_for("pushover.network", &np).unwrap().is_some());
        let err = proxy_for("h", &env(&[("HTTPS_PROXY", "http://user:secretpw@[bad")])).unwrap_err();
        assert!(err.contains("not a usable proxy URL") && !err.contains("secretpw"), "{err}");
    }
}
