//! The harness: a temp host with a token file and a registry of small
//! scripts, the real console on an ephemeral loopback port, and a raw
//! HTTP/1.1 client (raw so tests can lie about lengths and headers).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) use test_support::TempHost;

pub(crate) const CONSOLE: &str = env!("CARGO_BIN_EXE_openclaw-console");

/// The canary token every console in these tests uses.
pub(crate) const TOKEN: &str = "canary-console-token-7f3a9b2c4d5e6f708192a3b4c5d6e7f8";

/// A running console.
pub(crate) struct Console {
    pub(crate) host: TempHost,
    pub(crate) addr: SocketAddr,
    child: Option<Child>,
}

/// One HTTP answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) head: String,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub(crate) fn class(&self) -> String {
        self.json()["error_class"].as_str().unwrap_or("").to_owned()
    }

    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Writes an executable script (0755) in the host's `bin/` and returns its path.
pub(crate) fn script(host: &TempHost, name: &str, body: &str) -> PathBuf {
    let bin = host.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let path = bin.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// A registry action whose script touches `<tmp>/ran-<id>` (the marker) and then runs `body`.
pub(crate) fn marker_action(host: &TempHost, id: &str, body: &str, extra: &str) -> String {
    let marker = host.path(&format!("ran-{id}"));
    let path = script(host, id, &format!("touch '{}'\n{body}", marker.display()));
    format!(
        "[[action]]\nid = \"{id}\"\nlabel = \"{id}\"\ndescription = \"test action {id}\"\nargv = [\"{}\"]\ntimeout_sec = 10\n{extra}\n",
        path.display()
    )
}

pub(crate) fn ran(host: &TempHost, id: &str) -> bool {
    host.path(&format!("ran-{id}")).exists()
}

pub(crate) fn write_private(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// Stores the token as keyctl would: `<secrets>/openclaw_console_token`, 0600 in 0700.
pub(crate) fn store_token(host: &TempHost, token: &str) {
    let dir = host.path("secrets");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    write_private(&dir.join("openclaw_console_token"), &format!("{token}\n"));
}

impl Console {
    /// A host with the token stored and `registry` written; not started.
    pub(crate) fn host_with(registry: impl FnOnce(&TempHost) -> String) -> TempHost {
        Console::host_in(&std::env::temp_dir(), registry)
    }

    /// [`Console::host_with`] in a fresh directory under `parent` (a small disk).
    pub(crate) fn host_in(parent: &Path, registry: impl FnOnce(&TempHost) -> String) -> TempHost {
        let host = TempHost::new_in(parent);
        store_token(&host, TOKEN);
        let text = registry(&host);
        write_private(&host.path("registry.toml"), &text);
        host
    }

    /// Starts the console on `host` with `config` as its config file.
    pub(crate) fn start_on(host: TempHost, config: &str, extra_env: &[(&str, &str)]) -> Console {
        host.write_config(config);
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut cmd = host.command(CONSOLE);
        cmd.args(["serve", "--listen", &addr.to_string(), "--registry"])
            .arg(host.path("registry.toml"))
            .envs(extra_env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(host.path("console.stderr")).unwrap());
        let child = cmd.spawn().unwrap();
        let mut console = Console { host, addr, child: Some(child) };
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(a) = console.try_request("GET", "/healthz", &[], b"") {
                assert_eq!(a.status, 200);
                break;
            }
            if let Some(status) = console.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("console exited {status}: {}", console.stderr());
            }
            assert!(Instant::now() < until, "console did not come up: {}", console.stderr());
            std::thread::sleep(Duration::from_millis(20));
        }
        console
    }

    /// A console with `registry` and a short body timeout.
    pub(crate) fn start(registry: impl FnOnce(&TempHost) -> String) -> Console {
        Console::start_on(Console::host_with(registry), "[console]\nbody_timeout_secs = 1\n", &[])
    }

    pub(crate) fn stderr(&self) -> String {
        std::fs::read_to_string(self.host.path("console.stderr")).unwrap_or_default()
    }

    pub(crate) fn host_header(&self) -> String {
        self.addr.to_string()
    }

    pub(crate) fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sends raw bytes and reads one answer.
    pub(crate) fn raw(&self, bytes: &[u8]) -> std::io::Result<Answer> {
        let mut s = TcpStream::connect(self.addr)?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        // The server may answer and close before it has read everything: ignore write errors.
        let _ = s.write_all(bytes);
        read_answer(&mut s)
    }

    pub(crate) fn try_request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Answer> {
        self.raw(&build(method, path, &self.host_header(), headers, body))
    }

    pub(crate) fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
        self.try_request(method, path, headers, body).unwrap()
    }

    /// POST /api/exec with the token and an allowed Origin.
    pub(crate) fn exec(&self, body: &str) -> Answer {
        let origin = self.origin();
        self.request("POST", "/api/exec", &[("X-OpenClaw-Token", TOKEN), ("Origin", &origin)], body.as_bytes())
    }

    /// GET with the token.
    pub(crate) fn get(&self, path: &str) -> Answer {
        self.request("GET", path, &[("X-OpenClaw-Token", TOKEN)], b"")
    }

    /// The audit log's lines as JSON.
    pub(crate) fn audit(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.host.path("audit/audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Stops the console with SIGTERM and returns its exit status.
    pub(crate) fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < until, "console ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILLs the console (no shutdown of any kind) and returns its host.
    pub(crate) fn kill_and_keep_host(mut self) -> TempHost {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        std::mem::replace(&mut self.host, TempHost::new())
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub(crate) fn build(method: &str, path: &str, host: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut req = format!("{method} {path} HTTP/1.1\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {host}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("transfer-encoding"))
    {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("Connection: close\r\n\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// Reads one HTTP/1.1 answer (Content-Length framed, or until close).
pub(crate) fn read_answer(s: &mut TcpStream) -> std::io::Result<Answer> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed before a full head"));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let status: u16 = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    let len = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case("content-length").then(|| v.trim().parse::<usize>().ok())?
    });
    match len {
        Some(len) => {
            while body.len() < len {
                let n = s.read(&mut chunk)?;
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
            body.truncate(len);
        }
        None => {
            let _ = s.read_to_end(&mut body);
        }
    }
    Ok(Answer { status, head, body })
}
