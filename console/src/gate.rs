//! The Host and Origin rules, pure. Exact matches only: no prefix, suffix
//! or substring test, so `127.0.0.1.evil.example` and `localhost.evil` are
//! as foreign as `evil.example` (DNS rebinding), and `Origin: null` is
//! refused like any other unknown origin.

/// The hosts and origins this console answers to.
#[derive(Debug, Clone)]
pub struct Gate {
    hosts: Vec<String>,
    origins: Vec<String>,
}

/// Why the Origin rule refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginRefusal {
    /// A state-changing request with neither an allowed Origin nor
    /// `Sec-Fetch-Site: same-origin`.
    Missing,
    /// An Origin that is not in the allowed set (`null` included).
    NotAllowed,
}

impl OriginRefusal {
    /// The reason as the 403 body gives it.
    pub fn reason(self) -> &'static str {
        match self {
            OriginRefusal::Missing => "a POST needs an allowed Origin or Sec-Fetch-Site: same-origin",
            OriginRefusal::NotAllowed => "the Origin is not one this console serves",
        }
    }
}

impl Gate {
    /// The gate for a console listening on loopback `listen`, also reachable
    /// under the `public` names (the `*.ts.net` name `tailscale serve` presents).
    pub fn new(listen: std::net::SocketAddr, public: &[String]) -> Gate {
        let port = listen.port();
        let own = match listen.ip() {
            std::net::IpAddr::V4(v4) => v4.to_string(),
            std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        };
        let mut names = vec!["127.0.0.1".to_owned(), "localhost".to_owned(), "[::1]".to_owned()];
        if !names.contains(&own) {
            names.push(own);
        }
        let mut hosts: Vec<String> = names.iter().map(|h| format!("{h}:{port}")).collect();
        let mut origins: Vec<String> = hosts.iter().map(|h| format!("http://{h}")).collect();
        for name in public {
            let name = name.to_ascii_lowercase();
            hosts.push(name.clone());
            hosts.push(format!("{name}:443"));
            origins.push(format!("https://{name}"));
        }
        Gate { hosts, origins }
    }

    /// Whether the Host header names this console.
    pub fn host_allowed(&self, host: Option<&[u8]>) -> bool {
        let Some(host) = host.and_then(|h| std::str::from_utf8(h).ok()) else { return false };
        self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    /// The Origin rule. `unsafe_method` is every method but GET and HEAD.
    pub fn check_origin(
        &self,
        unsafe_method: bool,
        origin: Option<&[u8]>,
        sec_fetch_site: Option<&[u8]>,
    ) -> Result<(), OriginRefusal> {
        match origin {
            Some(o) if self.origins.iter().any(|a| a.as_bytes() == o) => Ok(()),
            Some(_) => Err(OriginRefusal::NotAllowed),
            None if !unsafe_method => Ok(()),
            None if sec_fetch_site == Some(b"same-origin".as_slice()) => Ok(()),
            None => Err(OriginRefusal::Missing),
        }
    }

    /// The allowed origins (for docs and the doctor's probe).
    pub fn origins(&self) -> &[String] {
        &self.origins
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate() -> Gate {
        Gate::new("127.0.0.1:8787".parse().unwrap(), &["box.tail1234.ts.net".to_owned()])
    }

    #[test]
    fn only_exact_hosts_pass() {
        let g = gate();
        for ok in [
            "127.0.0.1:8787",
            "localhost:8787",
            "LOCALHOST:8787",
            "[::1]:8787",
            "box.tail1234.ts.net",
            "box.tail1234.ts.net:443",
        ] {
            assert!(g.host_allowed(Some(ok.as_bytes())), "{ok}");
        }
        for bad in [
            "evil.example",
            "127.0.0.1.evil.example",
            "127.0.0.1.evil.example:8787",
            "localhost.evil",
            "localhost:8787.evil",
            "127.0.0.1",
            "127.0.0.1:8788",
            "localhost",
            "evil.ts.net",
            "box.tail1234.ts.net.evil",
            "x.box.tail1234.ts.net",
            "",
        ] {
            assert!(!g.host_allowed(Some(bad.as_bytes())), "{bad}");
        }
        assert!(!g.host_allowed(None));
        assert!(!g.host_allowed(Some(b"\xff:8787")));
        let other = Gate::new("127.0.0.2:9000".parse().unwrap(), &[]);
        assert!(other.host_allowed(Some(b"127.0.0.2:9000")));
        assert!(!other.host_allowed(Some(b"127.0.0.2:8787")));
    }

    #[test]
    fn a_post_needs_an_exact_origin_or_same_origin_fetch() {
        let g = gate();
        assert_eq!(g.check_origin(true, Some(b"http://127.0.0.1:8787"), None), Ok(()));
        assert_eq!(g.check_origin(true, Some(b"https://box.tail1234.ts.net"), None), Ok(()));
        assert_eq!(g.check_origin(true, None, Some(b"same-origin")), Ok(()));
        for bad in [
            "null",
            "http://evil.example",
            "http://127.0.0.1:8787.evil.example",
            "http://127.0.0.1:8787/",
            "https://127.0.0.1:8787",
            "http://box.tail1234.ts.net",
            "https://evil.ts.net",
            "http://localhost:8788",
        ] {
            assert_eq!(
                g.check_origin(true, Some(bad.as_bytes()), Some(b"same-origin")),
                Err(OriginRefusal::NotAllowed),
                "{bad}"
            );
            assert_eq!(g.check_origin(false, Some(bad.as_bytes()), None), Err(OriginRefusal::NotAllowed), "GET {bad}");
        }
        assert_eq!(g.check_origin(true, None, None), Err(OriginRefusal::Missing));
        assert_eq!(g.check_origin(true, None, Some(b"cross-site")), Err(OriginRefusal::Missing));
        assert_eq!(g.check_origin(false, None, None), Ok(()), "a GET without Origin is a plain client");
    }
}
