//! The listener audit against real sockets: a network namespace made by the
//! test, with loopback, tailnet (v4 and v6), LAN, link-local and public
//! addresses, and a child process binding TCP and UDP sockets on each. The
//! real binary runs inside the namespace; the host's own socket table is
//! never involved.

use std::collections::BTreeSet;
use std::path::Path;

use crate::netns::{Binder, IP, Netns, UDP_HOLDER, by_verdict, listeners_in, prerequisites, set, start_ready};
use crate::support::{Host, skip, status};

/// Binds every socket, prints `ready`, and holds them until stdin closes.
const BINDER: &str = r#"
import socket, sys
held = []
def bind(family, kind, addr, v6only=None):
    s = socket.socket(family, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if v6only is not None:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
    s.bind(addr)
    if kind == socket.SOCK_STREAM:
        s.listen()
    held.append(s)
    return s
T, U, V4, V6 = socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.AF_INET, socket.AF_INET6
bind(V4, T, ("0.0.0.0", 22))
bind(V6, T, ("::", 8080), v6only=1)
bind(V4, U, ("0.0.0.0", 5353))
bind(V4, T, ("127.0.0.1", 8000))
bind(V6, T, ("::1", 5432), v6only=1)
bind(V6, T, ("::ffff:127.0.0.1", 8001), v6only=0)
bind(V4, T, ("100.101.102.103", 443))
bind(V4, U, ("100.101.102.103", 41641))
bind(V6, T, ("fd7a:115c:a1e0::5", 2222), v6only=1)
bind(V4, T, ("192.168.77.5", 9000))
bind(V6, T, ("fe80::5", 9001, 0, socket.if_nametoindex("veth0")), v6only=1)
bind(V4, T, ("203.0.113.9", 80))
client = socket.socket(V4, U)
client.connect(("127.0.0.1", 5353))
held.append(client)
print("ready", flush=True)
sys.stdin.read()
"#;

fn start_binder(ns: &Netns) -> Binder {
    start_ready(&[IP, "netns", "exec", &ns.name, "python3", "-c", BINDER], &[])
}

#[test]
fn real_sockets_in_a_namespace_give_the_exact_violation_set_and_owners() {
    if !prerequisites() {
        return;
    }
    let ns = Netns::create().expect("ip netns add");
    let binder = start_binder(&ns);
    let host = Host::new();
    let (code, check) = listeners_in(&host, &ns, &[]);
    assert_eq!((code, status(&check)), (1, "fail"), "{check:#}");
    assert_eq!(
        by_verdict(&check, "violation"),
        set(&[
            "tcp 0.0.0.0:22",
            "tcp [::]:8080",
            "udp 0.0.0.0:5353",
            "tcp 192.168.77.5:9000",
            "tcp [fe80::5]:9001",
            "tcp 203.0.113.9:80"
        ])
    );
    assert_eq!(by_verdict(&check, "warn"), set(&["tcp [fd7a:115c:a1e0::5]:2222"]));
    assert_eq!(
        by_verdict(&check, "allowed"),
        set(&[
            "tcp 127.0.0.1:8000",
            "tcp [::1]:5432",
            "tcp 127.0.0.1:8001",
            "tcp 100.101.102.103:443",
            "udp 100.101.102.103:41641"
        ]),
        "the mapped ::ffff:127.0.0.1 bind is loopback; the connected UDP client is not a listener"
    );
    // Every socket is attributed to the binder process by pid and real exe path.
    let exe = binder.exe();
    for s in check["details"]["sockets"].as_array().unwrap() {
        let owners = s["owners"].as_array().unwrap();
        assert_eq!(owners.len(), 1, "{s}");
        assert_eq!(owners[0]["pid"], binder.child.id(), "{s}");
        assert_eq!(owners[0]["exe"], exe.as_str(), "{s}");
    }
    let classes: BTreeSet<&str> =
        check["details"]["sockets"].as_array().unwrap().iter().map(|s| s["classification"].as_str().unwrap()).collect();
    assert_eq!(
        classes,
        ["link-local", "loopback", "private-lan", "public", "tailnet", "tailnet-v6", "wildcard"].into_iter().collect()
    );
    let fix = check["remediation"].as_str().unwrap();
    assert!(fix.contains("99-tailscale-only.conf"), "port 22 on a wildcard gets the SSH steps: {fix}");
    assert!(fix.contains("rebind tcp port 8080"), "{fix}");
}

#[test]
fn exemptions_by_exe_path_apply_and_unreadable_owners_are_listed_not_dropped() {
    if !prerequisites() {
        return;
    }
    let ns = Netns::create().expect("ip netns add");
    let binder = start_binder(&ns);
    let mut host = Host::new();
    host.config(&format!(
        "[doctor]\nhttp_health = []\ntracked_units = []\n[[listeners.exemptions]]\nexe = \"{}\"\nproto = \"tcp\"\nport = 22\nreason = \"test: reviewed\"\n",
        binder.exe()
    ));
    let (_, check) = listeners_in(&host, &ns, &[]);
    assert!(!by_verdict(&check, "violation").contains("tcp 0.0.0.0:22"), "{check:#}");
    assert!(by_verdict(&check, "allowed").contains("tcp 0.0.0.0:22"));
    assert!(by_verdict(&check, "violation").contains("udp 0.0.0.0:5353"), "the exemption is for tcp/22 only");

    // As nobody, owners are unreadable: the same exemption cannot apply, and
    // every socket is still listed, with the hint to run as root.
    let Some(setpriv) = ["/usr/bin/setpriv", "/bin/setpriv"].into_iter().find(|p| Path::new(p).exists()) else {
        return skip("setpriv (util-linux) is not installed");
    };
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(host.root(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let (code, check) = listeners_in(&host, &ns, &[setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--"]);
    assert_eq!(code, 1);
    assert_eq!(check["details"]["sockets"].as_array().unwrap().len(), 12, "{check:#}");
    assert!(by_verdict(&check, "violation").contains("tcp 0.0.0.0:22"), "no exemption without attribution");
    assert_eq!(check["details"]["owner_unknown"], 12);
    assert!(check["summary"].as_str().unwrap().contains("run as root for full attribution"), "{}", check["summary"]);
}

#[test]
fn a_binary_bind_mounted_over_an_exempt_path_is_not_exempt() {
    if !prerequisites() {
        return;
    }
    let system_python = Path::new("/usr/bin/python3");
    if !system_python.exists() || !Path::new("/usr/bin/unshare").exists() {
        return skip("needs Debian's /usr/bin/python3 and unshare");
    }
    let ns = Netns::create().expect("ip netns add");
    let mut host = Host::new();
    // The "trusted daemon" is a copy of the system python: same behaviour, its own inode.
    let trusted = host.path("trusted-daemon");
    std::fs::copy(std::fs::canonicalize(system_python).unwrap(), &trusted).unwrap();
    let trusted_s = trusted.to_str().unwrap().to_owned();
    host.config(&format!(
        "[doctor]\nhttp_health = []\ntracked_units = []\n[[listeners.exemptions]]\nexe = \"{trusted_s}\"\nproto = \"udp\"\nreason = \"test: the trusted daemon\"\n"
    ));
    let env = [("PYTHONHOME", "/usr")];
    let _genuine = start_ready(&[IP, "netns", "exec", &ns.name, &trusted_s, "-c", UDP_HOLDER, "41641"], &env);
    // Another binary bind-mounted over the trusted path, visible only in its own mount namespace.
    let spoof_script = format!("mount --bind /usr/bin/python3 '{trusted_s}' && exec '{trusted_s}' -c \"$0\" 41642");
    let _spoof = start_ready(
        &[IP, "netns", "exec", &ns.name, "/usr/bin/unshare", "-m", "sh", "-c", &spoof_script, UDP_HOLDER],
        &env,
    );

    let (_, check) = listeners_in(&host, &ns, &[]);
    assert!(by_verdict(&check, "allowed").contains("udp 0.0.0.0:41641"), "{check:#}");
    assert!(by_verdict(&check, "violation").contains("udp 0.0.0.0:41642"), "{check:#}");
    let spoofed = check["details"]["sockets"].as_array().unwrap().iter().find(|s| s["port"] == 41642).unwrap();
    let exe = spoofed["owners"][0]["exe"].as_str().unwrap();
    assert!(exe.ends_with("(not the same file in this mount namespace)"), "{exe}");
}

#[test]
fn an_exemption_applies_only_to_root_in_the_initial_user_namespace() {
    if !prerequisites() {
        return;
    }
    let (unshare, setpriv) = (Path::new("/usr/bin/unshare"), Path::new("/usr/bin/setpriv"));
    if !unshare.exists() || !setpriv.exists() {
        return skip("needs unshare and setpriv (util-linux)");
    }
    let ns = Netns::create().expect("ip netns add");
    let python = std::fs::canonicalize("/usr/bin/python3").unwrap();
    let python = python.to_str().unwrap();
    let mut host = Host::new();
    // The exempt executable is the very one every holder below runs.
    host.config(&format!(
        "[doctor]\nhttp_health = []\ntracked_units = []\n[[listeners.exemptions]]\nexe = \"{python}\"\nproto = \"udp\"\nreason = \"test: the trusted daemon\"\n"
    ));
    let inside = |argv: &[&str]| {
        let mut full = vec![IP, "netns", "exec", &ns.name];
        full.extend(argv);
        start_ready(&full, &[])
    };
    let _root = inside(&[python, "-c", UDP_HOLDER, "41641"]);
    // "root" in a user namespace of its own (uid 0 there, mapped to our uid 0 outside).
    let _userns = inside(&["/usr/bin/unshare", "-U", "-r", python, "-c", UDP_HOLDER, "41642"]);
    // An ordinary user running the exempt executable.
    let _nobody = inside(&[
        "/usr/bin/setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--",
        python,
        "-c",
        UDP_HOLDER,
        "41643",
    ]);
    let (_, check) = listeners_in(&host, &ns, &[]);
    assert!(by_verdict(&check, "allowed").contains("udp 0.0.0.0:41641"), "{check:#}");
    let violations = by_verdict(&check, "violation");
    assert!(violations.contains("udp 0.0.0.0:41642"), "a user-namespace root is not exempt: {check:#}");
    assert!(violations.contains("udp 0.0.0.0:41643"), "a non-root owner is not exempt: {check:#}");
    let reason = |port: u16| {
        let s = check["details"]["sockets"].as_array().unwrap().iter().find(|s| s["port"] == port).unwrap();
        s["reason"].as_str().unwrap().to_owned()
    };
    assert!(reason(41642).contains("initial user namespace"), "{}", reason(41642));
    assert!(reason(41643).contains("uid"), "{}", reason(41643));
}
