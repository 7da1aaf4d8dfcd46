//! `cargo xtask bench console`: the release `openclaw-console` on loopback
//! under `wrk` (Debian's package), bounded in time.
//!
//! 1. Refusal without a token: `GET /api/actions`, 401.
//! 2. Refusal with a token: `POST /api/exec` of an unknown action, 400 (an
//!    audit record is written and fsynced before each answer).
//! 3. A trivial allowed action (`/bin/true`, `concurrent = true`): runs/s.
//! 4. Case 2 again with the audit log on tmpfs (`/dev/shm`), which separates
//!    the console's own cost from the disk's `fsync` latency.
//!
//! Each is run with 1 wrk thread and 32 connections for 10 s; requests/s,
//! p50 and p99 latency are printed, with the console's RSS at idle and its
//! peak under load (`VmHWM`). The token reaches wrk in a 0600 Lua script,
//! never in argv. Goal: refusals at 20,000 rps or more with p99 under 5 ms on
//! 2 cores. Prints figures; asserts nothing.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "bench-console-token-0123456789abcdef0123456789abcdef";
const SECONDS: &str = "10";

struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn private(path: &Path, text: &str, mode: u32) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| e.to_string())
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

fn healthy(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let req = format!("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    let mut out = String::new();
    s.write_all(req.as_bytes()).is_ok() && s.read_to_string(&mut out).is_ok() && out.starts_with("HTTP/1.1 200")
}

/// Runs wrk with `script` and prints its figures under `label`.
fn wrk(label: &str, port: u16, script: &Path, path: &str) -> Result<(), String> {
    let out = Command::new("wrk")
        .args(["-t1", "-c32", "-d", &format!("{SECONDS}s"), "--latency", "-s"])
        .arg(script)
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .map_err(|e| format!("cannot run wrk ({e}); apt-get install wrk"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let pick = |prefix: &str| {
        text.lines().find(|l| l.trim_start().starts_with(prefix)).map(|l| l.trim().to_owned()).unwrap_or_default()
    };
    eprintln!(
        "bench console: {label}: {} | latency {} | {} | non-2xx/3xx: {}",
        pick("Requests/sec:"),
        pick("50%"),
        pick("99%"),
        pick("Non-2xx").split(':').nth(1).unwrap_or(" 0").trim()
    );
    if !out.status.success() {
        return Err(format!("wrk failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(())
}

fn dir_of(tmp: &Path, rel: &str) -> PathBuf {
    tmp.join(rel)
}

/// Starts the console with its audit log at `audit`; waits until it answers.
fn start(bin: &Path, tmp: &Path, audit: &Path) -> Result<(Guard, u16), String> {
    let port =
        std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
    let child = Command::new(bin)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("OPENCLAW_CONFIG", tmp.join("openclaw.toml"))
        .env("OPENCLAW_SECRETS_DIR", tmp.join("secrets"))
        .env("OPENCLAW_STATE_DIR", dir_of(tmp, "state"))
        .env("OPENCLAW_ARTIFACTS_ROOT", dir_of(tmp, "artifacts"))
        .env("OPENCLAW_AUDIT_LOG", audit)
        .env("OPENCLAW_RUN_DIR", dir_of(tmp, "run"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--registry"])
        .arg(tmp.join("registry.toml"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let guard = Guard(child);
    let until = Instant::now() + Duration::from_secs(10);
    while !healthy(port) {
        if Instant::now() > until {
            return Err("the console did not come up".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((guard, port))
}

pub(crate) fn console(root: &Path) -> Result<(), String> {
    crate::tools::ensure(&[crate::tools::Tool {
        program: "wrk",
        package: "wrk",
        why: "the console's load generator",
    }])?;
    let status = Command::new("cargo")
        .current_dir(root)
        .args(["build", "--release", "--locked", "-p", "openclaw-console"])
        .status();
    if !status.is_ok_and(|s| s.success()) {
        return Err("cargo build --release -p openclaw-console failed".into());
    }
    let bin = root.join("target/release/openclaw-console");
    let tmp = std::env::temp_dir().join(format!("oc-bench-console-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let secrets = tmp.join("secrets");
    std::fs::create_dir_all(&secrets).map_err(|e| e.to_string())?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o700)).map_err(|e| e.to_string())?;
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o700)).map_err(|e| e.to_string())?;
    private(&secrets.join("openclaw_console_token"), TOKEN, 0o600)?;
    let registry = tmp.join("registry.toml");
    private(
        &registry,
        "[[action]]\nid = \"true\"\nlabel = \"true\"\ndescription = \"does nothing\"\nargv = [\"/bin/true\"]\ntimeout_sec = 5\nconcurrent = true\n",
        0o600,
    )?;
    let config = tmp.join("openclaw.toml");
    private(&config, "[console]\nmax_running = 64\n", 0o600)?;
    let (guard, port) = start(&bin, &tmp, &dir_of(&tmp, "audit/audit.jsonl"))?;
    let pid = guard.0.id();
    eprintln!("bench console: {} on 127.0.0.1:{port}; idle RSS {} KiB", bin.display(), rss_kib(pid, "VmRSS:"));
    let host = format!("127.0.0.1:{port}");
    let origin = format!("http://{host}");
    let lua = |name: &str, body: &str| -> Result<PathBuf, String> {
        let p = tmp.join(name);
        private(&p, body, 0o600)?;
        Ok(p)
    };
    let no_token = lua("no_token.lua", &format!("wrk.headers[\"Host\"] = \"{host}\"\n"))?;
    let unknown = lua(
        "unknown.lua",
        &format!(
            "wrk.method = \"POST\"\nwrk.body = '{{\"action\":\"nope\"}}'\nwrk.headers[\"Host\"] = \"{host}\"\nwrk.headers[\"Origin\"] = \"{origin}\"\nwrk.headers[\"X-OpenClaw-Token\"] = \"{TOKEN}\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n"
        ),
    )?;
    let allowed = lua(
        "true.lua",
        &format!(
            "wrk.method = \"POST\"\nwrk.body = '{{\"action\":\"true\"}}'\nwrk.headers[\"Host\"] = \"{host}\"\nwrk.headers[\"Origin\"] = \"{origin}\"\nwrk.headers[\"X-OpenClaw-Token\"] = \"{TOKEN}\"\n"
        ),
    )?;
    wrk("401 without a token (GET /api/actions)", port, &no_token, "/api/actions")?;
    wrk("400 unknown action with a token (audited)", port, &unknown, "/api/exec")?;
    wrk("trivial allowed action /bin/true (runs)", port, &allowed, "/api/exec")?;
    eprintln!("bench console: RSS now {} KiB, peak under load {} KiB", rss_kib(pid, "VmRSS:"), rss_kib(pid, "VmHWM:"));
    let records = std::fs::read_to_string(dir_of(&tmp, "audit/audit.jsonl")).map(|s| s.lines().count()).unwrap_or(0);
    eprintln!("bench console: {records} audit records written");
    drop(guard);
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        let audit_dir = shm.join(format!("oc-bench-console-{}", std::process::id()));
        std::fs::create_dir_all(&audit_dir).map_err(|e| e.to_string())?;
        std::fs::set_permissions(&audit_dir, std::fs::Permissions::from_mode(0o700)).map_err(|e| e.to_string())?;
        let (guard, port2) = start(&bin, &tmp, &audit_dir.join("audit.jsonl"))?;
        let unknown2 = lua(
            "unknown2.lua",
            &std::fs::read_to_string(&unknown)
                .map_err(|e| e.to_string())?
                .replace(&port.to_string(), &port2.to_string()),
        )?;
        wrk("400 unknown action, audit log on tmpfs", port2, &unknown2, "/api/exec")?;
        drop(guard);
        let _ = std::fs::remove_dir_all(&audit_dir);
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}
