//! The listener audit against real sockets: a network namespace made by the
//! test, with loopback, tailnet (v4 and v6), LAN, link-local and public
//! addresses, and a child process binding TCP and UDP sockets on each. The
//! real binary runs inside the namespace; the host's own socket table is
//! never involved.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::support::{Host, is_root, skip, status};

const IP: &str = "/usr/sbin/ip";

struct Netns {
    name: String,
}

impl Netns {
    fn create() -> Option<Netns> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!("oc-doctor-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        let ns = Netns { name };
        ns.ip(&["netns", "add", &ns.name]).ok()?;
        for args in [
            vec!["link", "set", "lo", "up"],
            // veth, not dummy: the dummy module is missing on some kernels (this one).
            vec!["link", "add", "veth0", "type", "veth", "peer", "name", "veth1"],
            vec!["link", "set", "veth0", "up"],
            vec!["link", "set", "veth1", "up"],
            vec!["addr", "add", "100.101.102.103/32", "dev", "veth0"],
            vec!["addr", "add", "192.168.77.5/24", "dev", "veth0"],
            vec!["addr", "add", "203.0.113.9/32", "dev", "veth0"],
            vec!["-6", "addr", "add", "fd7a:115c:a1e0::5/128", "dev", "veth0", "nodad"],
            vec!["-6", "addr", "add", "fe80::5/64", "dev", "veth0", "nodad"],
        ] {
            let mut full = vec!["-n", ns.name.as_str()];
            full.extend(args);
            ns.ip(&full).unwrap_or_else(|e| panic!("ip {full:?}: {e}"));
        }
        Some(ns)
    }

    fn ip(&self, args: &[&str]) -> Result<(), String> {
        let out = Command::new(IP).args(args).output().map_err(|e| e.to_string())?;
        if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = self.ip(&["netns", "del", &self.name]);
    }
}

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

struct Binder {
    child: Child,
}

impl Binder {
    fn start(ns: &Netns) -> Binder {
        start_ready(&[IP, "netns", "exec", &ns.name, "python3", "-c", BINDER], &[])
    }

    fn exe(&self) -> String {
        std::fs::read_link(format!("/proc/{}/exe", self.child.id())).unwrap().display().to_string()
    }
}

impl Drop for Binder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn prerequisites() -> bool {
    if !is_root() {
        skip("network namespaces need root");
        return false;
    }
    if !Path::new(IP).exists() {
        skip("iproute2 is not installed");
        return false;
    }
    true
}

fn listeners_in(host: &Host, ns: &Netns, wrapper: &[&str]) -> (i32, serde_json::Value) {
    let mut via = vec![IP, "netns", "exec", ns.name.as_str()];
    via.extend(wrapper);
    let out =
        host.command_via(&via).args(["--only", "listeners", "--format", "json", "--no-artifacts"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout}{}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap(), v["checks"][0].clone())
}

fn by_verdict(check: &serde_json::Value, verdict: &str) -> BTreeSet<String> {
    check["details"]["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["verdict"] == verdict)
        .map(|s| format!("{} {}:{}", s["proto"].as_str().unwrap(), s["addr"].as_str().unwrap(), s["port"]))
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn real_sockets_in_a_namespace_give_the_exact_violation_set_and_owners() {
    if !prerequisites() {
        return;
    }
    let ns = Netns::create().expect("ip netns add");
    let binder = Binder::start(&ns);
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
    let binder = Binder::start(&ns);
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
    std::fs::set_permissions(host.tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let (code, check) = listeners_in(&host, &ns, &[setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--"]);
    assert_eq!(code, 1);
    assert_eq!(check["details"]["sockets"].as_array().unwrap().len(), 12, "{check:#}");
    assert!(by_verdict(&check, "violation").contains("tcp 0.0.0.0:22"), "no exemption without attribution");
    assert_eq!(check["details"]["owner_unknown"], 12);
    assert!(check["summary"].as_str().unwrap().contains("run as root for full attribution"), "{}", check["summary"]);
}

/// Starts `argv` (inside the namespace), waits for its `ready` line.
fn start_ready(argv: &[&str], env: &[(&str, &str)]) -> Binder {
    let mut cmd = Command::new(argv[0]);
    cmd.args(&argv[1..]).stdin(Stdio::piped()).stdout(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready", "{argv:?} did not start");
    Binder { child }
}

const UDP_HOLDER: &str = "import socket, sys\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.bind(('0.0.0.0', int(sys.argv[1])))\nprint('ready', flush=True)\nsys.stdin.read()\n";

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
