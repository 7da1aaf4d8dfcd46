//! Facts about this network namespace that change what an address means,
//! read from the kernel: every interface address (netlink `RTM_GETLINK` and
//! `RTM_GETADDR`, as `ip addr` reads them), `route_localnet` per interface,
//! and how many *other* network namespaces exist (which this run cannot see).

use std::collections::BTreeSet;

use common::policy::NetFacts;

/// Interface addresses and `route_localnet`; a part that cannot be read is
/// returned as a limitation (and, for addresses, as `Err` in the facts, so
/// nothing is taken to be on a Tailscale interface).
pub(crate) fn gather() -> (NetFacts, Vec<String>) {
    let mut limitations = Vec::new();
    let addresses = common::host_net::interface_addresses().map_err(|e| e.to_string());
    if let Err(e) = &addresses {
        limitations.push(format!("interface addresses: {e}"));
    }
    let route_localnet = match route_localnet() {
        Ok(v) => v,
        Err(e) => {
            limitations.push(format!("route_localnet: {e}"));
            Vec::new()
        }
    };
    (NetFacts { addresses, route_localnet }, limitations)
}

/// Entries of `/proc/sys/net/ipv4/conf` other than `lo` whose
/// `route_localnet` is 1 (`all` turns it on for every interface; `default`
/// for every new one).
pub(crate) fn route_localnet() -> Result<Vec<String>, String> {
    let dir = "/proc/sys/net/ipv4/conf";
    let mut on = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| format!("{dir}: {e}"))?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "lo" {
            continue;
        }
        let path = entry.path().join("route_localnet");
        let value = match std::fs::read_to_string(&path) {
            Ok(v) => v,
            // An interface removed while we read is gone, not hidden.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        if value.trim() != "0" {
            on.push(name);
        }
    }
    on.sort();
    Ok(on)
}

/// Network namespaces other than ours: distinct `/proc/*/ns/net` inodes
/// plus `/run/netns` entries. `unreadable` counts processes whose namespace
/// we could not read (not root), so the number is a lower bound then.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct OtherNamespaces {
    pub(crate) count: usize,
    pub(crate) unreadable: usize,
}

/// The other namespaces, from the `/proc/<pid>/ns/net` inodes the socket
/// scan read (`seen`; `unreadable` processes it could not) plus `/run/netns`.
pub(crate) fn other_namespaces(mut seen: BTreeSet<u64>, unreadable: usize) -> OtherNamespaces {
    use std::os::unix::fs::MetadataExt;
    let ours = std::fs::metadata("/proc/self/ns/net").map(|m| m.ino()).ok();
    for entry in std::fs::read_dir("/run/netns").into_iter().flatten().flatten() {
        if let Ok(m) = std::fs::metadata(entry.path()) {
            seen.insert(m.ino());
        }
    }
    if let Some(ours) = ours {
        seen.remove(&ours);
    }
    OtherNamespaces { count: seen.len(), unreadable }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;

    #[test]
    fn this_namespace_has_loopback_addresses_and_a_readable_route_localnet() {
        let (facts, limitations) = gather();
        assert!(limitations.is_empty(), "{limitations:?}");
        let addrs = facts.addresses.unwrap();
        assert!(addrs.iter().any(|a| a.interface == "lo" && a.ip == IpAddr::V4(Ipv4Addr::LOCALHOST)), "{addrs:?}");
    }
}
