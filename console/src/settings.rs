//! The `[console]` table of the shared config file: the listen address,
//! the registry file, the public names `tailscale serve` presents, and the
//! server's limits. Flags override it; only the console knows these keys.

use std::net::SocketAddr;
use std::path::PathBuf;

use common::config::{Config, ConfigError};
use serde::Deserialize;

/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8787";

/// The `[console]` table; every key has a default.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleSettings {
    /// Loopback address and port.
    pub listen: String,
    /// The registry file.
    pub registry: Option<PathBuf>,
    /// Extra Host names (`box.tailnet.ts.net`), served as `https://` origins.
    pub public_hostnames: Vec<String>,
    /// Most open connections.
    pub max_connections: usize,
    /// Most children running at once, over all actions.
    pub max_running: usize,
    /// Longest a client may take to send its request headers.
    pub header_timeout_secs: u64,
    /// Longest a client may take to send its body.
    pub body_timeout_secs: u64,
    /// Longest an idle keep-alive connection stays open.
    pub idle_timeout_secs: u64,
    /// On SIGTERM, how long running children may finish before their groups are killed.
    pub shutdown_grace_secs: u64,
}

impl Default for ConsoleSettings {
    fn default() -> ConsoleSettings {
        ConsoleSettings {
            listen: DEFAULT_LISTEN.to_owned(),
            registry: None,
            public_hostnames: Vec::new(),
            max_connections: 1024,
            max_running: 16,
            header_timeout_secs: 5,
            body_timeout_secs: 10,
            idle_timeout_secs: 30,
            shutdown_grace_secs: 20,
        }
    }
}

/// True for a DNS name: lowercase labels of `[a-z0-9-]`, at least two.
pub fn valid_hostname(name: &str) -> bool {
    let labels: Vec<&str> = name.split('.').collect();
    name.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            (1..=63).contains(&l.len())
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// Why a listen address is refused.
pub fn check_listen(raw: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = raw.parse().map_err(|_| format!("`{raw}` is not ADDR:PORT (e.g. 127.0.0.1:8787)"))?;
    if common::policy::classify(addr.ip()) != common::policy::Class::Loopback {
        return Err(format!(
            "refusing to listen on {addr}: the console listens on loopback only; put `tailscale serve` in front for tailnet access (docs/console.md)"
        ));
    }
    if addr.port() == 0 {
        return Err("port 0 is not a fixed port; name one (default 8787)".to_owned());
    }
    Ok(addr)
}

impl ConsoleSettings {
    /// The `[console]` table of `config`, defaults where it is silent.
    pub fn from_config(config: &Config) -> Result<ConsoleSettings, ConfigError> {
        let Some(table) = config.tool_table::<ConsoleSettings>("console")? else {
            return Ok(ConsoleSettings::default());
        };
        let span = table.span();
        let s = table.into_inner();
        let bad = |msg: String| Err(config.invalid_at(Some(span.clone()), format!("console.{msg}")));
        if let Some(name) = s.public_hostnames.iter().find(|n| !valid_hostname(n)) {
            return bad(format!("public_hostnames: `{name}` is not a lowercase DNS name like box.tailnet.ts.net"));
        }
        for (name, v, min, max) in [
            ("max_connections", s.max_connections as u64, 8, 65_536),
            ("max_running", s.max_running as u64, 1, 1024),
            ("header_timeout_secs", s.header_timeout_secs, 1, 120),
            ("body_timeout_secs", s.body_timeout_secs, 1, 300),
            ("idle_timeout_secs", s.idle_timeout_secs, 1, 3600),
            ("shutdown_grace_secs", s.shutdown_grace_secs, 0, 3600),
        ] {
            if !(min..=max).contains(&v) {
                return bad(format!("{name} must be {min} to {max}"));
            }
        }
        if let Some(r) = &s.registry
            && !r.is_absolute()
        {
            return bad("registry must be an absolute path".to_owned());
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_listen_addresses_are_accepted() {
        assert!(check_listen("127.0.0.1:8787").is_ok());
        assert!(check_listen("[::1]:8787").is_ok());
        assert!(check_listen("127.0.0.2:8787").is_ok());
        for bad in [
            "0.0.0.0:8787",
            "[::]:8787",
            "100.64.0.1:8787",
            "192.168.1.2:8787",
            "8.8.8.8:80",
            "localhost:8787",
            "127.0.0.1",
            "127.0.0.1:0",
            "[::ffff:0.0.0.0]:8787",
        ] {
            assert!(check_listen(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hostnames_are_plain_dns_names() {
        assert!(valid_hostname("box.tail1234.ts.net"));
        for bad in
            ["", "localhost", "Box.ts.net", "box..ts.net", "-a.ts.net", "a b.ts.net", "*.ts.net", "box.ts.net:443"]
        {
            assert!(!valid_hostname(bad), "{bad}");
        }
    }
}
