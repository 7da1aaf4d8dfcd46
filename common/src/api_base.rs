//! The rules for where an HTTP client of ours may connect, shared by every
//! tool that talks to an API (the notifier to Pushover, the review gate to
//! OpenAI): the `--api-base` rule (`https://`, or plain `http://` to a
//! loopback IP address only, never a `user:password@`, no query or
//! fragment) and the proxy choice from the environment. Pure: the HTTP
//! clients themselves stay in the tools.

use std::net::IpAddr;

/// Where the API lives: `https://host[:port][/prefix]`, or plain `http://`
/// to a loopback IP address (a test server); nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiBase {
    /// The base without a trailing slash.
    pub url: String,
    /// The host, without IPv6 brackets.
    pub host: String,
    /// Plain HTTP to loopback (no proxy, no TLS).
    pub loopback_http: bool,
}

/// Parses and checks an API base URL.
pub fn parse_api_base(s: &str) -> Result<ApiBase, String> {
    // A value with `@` may carry a password: it is not repeated.
    let shown = if s.contains('@') { "(not shown: it contains @)".into() } else { crate::output::sanitize(s) };
    let bad = |why: &str| Err(format!("--api-base `{shown}`: {why}"));
    let Some((scheme, rest)) = s.split_once("://") else {
        return bad("not a URL (expected https://host[:port][/path])");
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains('@') {
        return bad("needs a host and no user:password@");
    }
    if path.contains(['?', '#']) || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("no query, fragment or whitespace allowed");
    }
    let host = if let Some(v6) = authority.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, port)) if port.is_empty() || port.strip_prefix(':').is_some_and(valid_port) => h,
            _ => return bad("bad [IPv6]:port"),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, port)) if valid_port(port) => h,
            Some(_) => return bad("bad port"),
            None => authority,
        }
    };
    if host.is_empty() {
        return bad("needs a host");
    }
    let loopback_ip = host.parse::<IpAddr>().is_ok_and(|ip| ip.to_canonical().is_loopback());
    let loopback_http = match scheme {
        "https" => false,
        "http" if loopback_ip => true,
        "http" => return bad("plain http is accepted only for a loopback IP address; use https"),
        _ => return bad("the scheme must be https"),
    };
    let url = format!("{scheme}://{authority}{}", path.trim_end_matches('/'));
    Ok(ApiBase { url, host: host.to_owned(), loopback_http })
}

fn valid_port(p: &str) -> bool {
    !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok_and(|n| n > 0)
}

/// The proxy URL for an HTTPS request to `host`: `https_proxy`/`HTTPS_PROXY`,
/// then `all_proxy`/`ALL_PROXY`, unless `no_proxy`/`NO_PROXY` names the host
/// (or a domain of it, or `*`). The URL may hold credentials: callers never
/// repeat it.
pub fn proxy_url(host: &str, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let get = |names: &[&str]| names.iter().find_map(|n| env(n).filter(|v| !v.trim().is_empty()));
    if let Some(no_proxy) = get(&["no_proxy", "NO_PROXY"])
        && no_proxy.split(',').map(str::trim).any(|entry| no_proxy_matches(entry, host))
    {
        return None;
    }
    get(&["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"])
}

fn no_proxy_matches(entry: &str, host: &str) -> bool {
    let entry = entry.trim_start_matches('.').trim_start_matches("*.");
    entry == "*" || (!entry.is_empty() && (host == entry || host.ends_with(&format!(".{entry}"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_base_requires_https_except_for_loopback_ips() {
        let b = parse_api_base("https://api.pushover.net/").unwrap();
        assert_eq!(
            (b.url.as_str(), b.host.as_str(), b.loopback_http),
            ("https://api.pushover.net", "api.pushover.net", false)
        );
        assert!(parse_api_base("http://127.0.0.1:8080").unwrap().loopback_http);
        assert!(parse_api_base("http://[::1]:8080/prefix").unwrap().loopback_http);
        assert_eq!(parse_api_base("http://[::1]:8080/prefix/").unwrap().url, "http://[::1]:8080/prefix");
        for bad in [
            "http://api.pushover.net",
            "http://localhost:8080",
            "http://10.0.0.1",
            "http://[::ffff:8.8.8.8]",
            "ftp://127.0.0.1",
            "https://user:pw@api.pushover.net",
            "https://api.pushover.net/?x=1",
            "https://:443",
            "https://h:99999",
            "api.pushover.net",
            "https://h ost",
        ] {
            assert!(parse_api_base(bad).is_err(), "{bad}");
        }
        assert!(parse_api_base("http://[::ffff:127.0.0.1]:1").unwrap().loopback_http);
    }

    #[test]
    fn credentials_in_a_base_are_never_repeated() {
        let err = parse_api_base("https://user:secretpw@api.pushover.net").unwrap_err();
        assert!(!err.contains("secretpw"), "{err}");
    }

    #[test]
    fn no_proxy_names_hosts_and_domains() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |n: &str| pairs.iter().find(|(k, _)| *k == n).map(|(_, v)| (*v).to_owned())
        };
        assert_eq!(proxy_url("api.openai.com", &env(&[])), None);
        let e = env(&[("HTTPS_PROXY", "http://127.0.0.1:3128"), ("NO_PROXY", "example.org, openai.com")]);
        assert_eq!(proxy_url("api.openai.com", &e), None);
        assert_eq!(proxy_url("openai.community", &e).as_deref(), Some("http://127.0.0.1:3128"));
    }
}
