//! Who may hold a service's port: `[doctor] expected_owners` maps a port to
//! the executable that must hold every listening socket on it, and sshd's
//! ports (from `sshd -T`) map to sshd's binary by default. A listener held
//! by anything else is a violation of the `listeners` check: a process
//! that won sshd's port on the tailnet address passes every address rule,
//! and answers the operator's next login.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::sockets::SocketTable;

use super::Ctx;

/// The ports sshd listens on, from `sshd -T` output. Pure.
pub(crate) fn sshd_ports(effective: &str) -> Vec<u16> {
    let mut ports: Vec<u16> = effective
        .lines()
        .filter_map(|l| l.trim().strip_prefix("listenaddress "))
        .filter_map(|a| a.split_whitespace().next()?.parse::<std::net::SocketAddr>().ok())
        .map(|a| a.port())
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// The table: the configured entries, then sshd's ports where they are
/// not configured. Notes say what could not be read.
pub(crate) fn expected(ctx: &Ctx) -> (BTreeMap<u16, PathBuf>, Vec<String>) {
    let mut notes = Vec::new();
    let mut table: BTreeMap<u16, PathBuf> = BTreeMap::new();
    for (port, exe) in &ctx.settings.expected_owners {
        if let Ok(p) = port.parse::<u16>() {
            table.insert(p, exe.clone());
        }
    }
    let Some(exe) = common::process::on_path("sshd") else { return (table, notes) };
    match ctx.sshd_global() {
        Ok(text) => {
            for p in sshd_ports(&text) {
                table.entry(p).or_insert_with(|| exe.clone());
            }
        }
        Err(outcome) => notes.push(format!("sshd's ports unknown: {}", outcome.summary)),
    }
    (table, notes)
}

/// Listeners on an expected port held by another executable, or by no
/// process the doctor could see (only as root: otherwise it cannot see
/// them). Each is (violation, fix). Pure.
pub(crate) fn violations(
    table: &SocketTable,
    expected: &BTreeMap<u16, PathBuf>,
    is_root: bool,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for s in &table.sockets {
        let Some(want) = expected.get(&s.local.port()) else { continue };
        let strangers: Vec<String> = s
            .owners
            .iter()
            // pid 1 holds a socket-activated service's listener (ssh.socket).
            .filter(|o| o.pid != 1 && o.exe.as_deref() != Some(want.as_path()))
            .map(|o| {
                let exe = o.exe.as_deref().map_or("exe unreadable".into(), |e| e.display().to_string());
                format!("pid {} {exe}{}", o.pid, o.unit.as_deref().map(|u| format!(", {u}")).unwrap_or_default())
            })
            .collect();
        let who = if s.owners.is_empty() && is_root {
            "no process the doctor can see".to_owned()
        } else if strangers.is_empty() {
            continue;
        } else {
            strangers.join(", ")
        };
        out.push((
            format!("{} {}: port {} must be held by {} but is held by {who}", s.proto, s.local, s.local.port(), want.display()),
            format!(
                "stop the process holding {} (`ss -ltnp 'sport = :{}'`), then restart the service that owns the port; if the port belongs elsewhere now, set [doctor] expected_owners",
                s.local,
                s.local.port()
            ),
        ));
    }
    out
}

/// Whether every entry is a port (1-65535) mapped to an absolute path.
pub(crate) fn valid(entries: &BTreeMap<String, PathBuf>) -> bool {
    entries.iter().all(|(k, v)| k.parse::<u16>().is_ok_and(|p| p != 0) && v.is_absolute() && v != Path::new("/"))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use common::host_net::owner::OwnerInfo;
    use common::policy::{Privilege, Proto};

    use super::*;
    use crate::sockets::ListenSocket;

    fn sock(port: u16, exe: Option<&str>) -> ListenSocket {
        ListenSocket {
            proto: Proto::Tcp,
            local: format!("100.101.102.103:{port}").parse().unwrap(),
            inode: 1,
            owners: exe
                .map(|e| {
                    Arc::new(OwnerInfo {
                        pid: 7,
                        exe: Some(PathBuf::from(e)),
                        unit: None,
                        privilege: Privilege::InitialRoot,
                    })
                })
                .into_iter()
                .collect(),
        }
    }

    #[test]
    fn sshd_ports_come_from_its_listen_addresses() {
        let t = "port 2222\nlistenaddress 100.101.102.103:2222\nlistenaddress [::]:22\nlistenaddress 0.0.0.0:22\n";
        assert_eq!(sshd_ports(t), [22, 2222]);
        assert!(sshd_ports("port 22\n").is_empty());
    }

    #[test]
    fn only_a_listener_on_an_expected_port_held_by_another_exe_or_by_nobody_seen_is_flagged() {
        let expected: BTreeMap<u16, PathBuf> = [(22, PathBuf::from("/usr/sbin/sshd"))].into();
        let mut table =
            crate::sockets::test_table(vec![sock(22, Some("/usr/sbin/sshd")), sock(80, Some("/usr/bin/python3"))]);
        assert!(violations(&table, &expected, true).is_empty());
        table.sockets.push(sock(22, Some("/usr/bin/python3")));
        let v = violations(&table, &expected, true);
        assert_eq!(v.len(), 1);
        assert!(
            v[0].0.contains("port 22 must be held by /usr/sbin/sshd but is held by pid 7 /usr/bin/python3"),
            "{v:?}"
        );
        // Socket activation: systemd (pid 1) holds the listener.
        let mut activated = sock(22, Some("/usr/lib/systemd/systemd"));
        if let Some(o) = activated.owners.first_mut() {
            Arc::make_mut(o).pid = 1;
        }
        table.sockets = vec![activated];
        assert!(violations(&table, &expected, true).is_empty());
        table.sockets = vec![sock(22, None)];
        assert!(violations(&table, &expected, true)[0].0.contains("no process the doctor can see"));
        assert!(violations(&table, &expected, false).is_empty(), "not root: owners are unknown, not wrong");
    }

    #[test]
    fn the_table_takes_ports_and_absolute_paths_only() {
        let ok: BTreeMap<String, PathBuf> = [("2222".to_owned(), PathBuf::from("/usr/sbin/sshd"))].into();
        assert!(valid(&ok));
        for (k, v) in [("ssh", "/usr/sbin/sshd"), ("0", "/x"), ("70000", "/x"), ("22", "sshd"), ("22", "/")] {
            assert!(!valid(&[(k.to_owned(), PathBuf::from(v))].into()), "{k} = {v}");
        }
    }
}
