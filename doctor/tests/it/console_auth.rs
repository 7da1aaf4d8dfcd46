//! `console-auth` and `token-age` against real loopback HTTP: a fake
//! console in a thread of the test (std `TcpListener` on 127.0.0.1:0) that
//! behaves like a correct console or breaks one rule, nothing listening, and
//! a server that never answers. The console token is a canary planted in
//! the temp host's secrets directory; it must never leave it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::support::{Host, status};

const CANARY: &str = "doctor-console-canary-7Qx9Lm2Vb8Rt4Kp1";

/// How the fake console behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fake {
    /// The console's gate: Host, token, Origin, in that order.
    Correct,
    /// Answers `/api/*` without a token.
    NoTokenCheck,
    /// Correct, but every answer carries `Access-Control-Allow-Origin: *`.
    Cors,
    /// Accepts any Host.
    AnyHost,
    /// Accepts any Origin (with a valid token the unknown action is a 400).
    AnyOrigin,
    /// Reads the request and never answers.
    Silent,
}

/// A request as the fake console saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

struct FakeConsole {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeConsole {
    fn start(fake: Fake) -> FakeConsole {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        // The thread ends with the test process (nextest runs each test in its own).
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let log = Arc::clone(&log);
                std::thread::spawn(move || serve(stream, fake, port, &log));
            }
        });
        FakeConsole { port, seen }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn read_request(stream: &mut TcpStream) -> Option<Seen> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut chunk).ok().filter(|n| *n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    };
    let text = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = text.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, path) = (first.next()?.to_owned(), first.next()?.to_owned());
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':').map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))).collect();
    let seen = Seen { method, path, headers };
    let len: usize = seen.header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body = buf[end + 4..].to_vec();
    while body.len() < len {
        let n = stream.read(&mut chunk).ok().filter(|n| *n > 0)?;
        body.extend_from_slice(&chunk[..n]);
    }
    Some(seen)
}

fn serve(mut stream: TcpStream, fake: Fake, port: u16, log: &Mutex<Vec<Seen>>) {
    let Some(req) = read_request(&mut stream) else { return };
    log.lock().unwrap().push(req.clone());
    if fake == Fake::Silent {
        std::thread::sleep(Duration::from_secs(60));
        return;
    }
    let own = format!("127.0.0.1:{port}");
    let token = req.header("x-openclaw-token");
    let api = req.path.starts_with("/api/");
    let (status, body) = if fake != Fake::AnyHost && req.header("host") != Some(own.as_str()) {
        ("403 Forbidden", r#"{"ok":false,"error_class":"HOST_BLOCKED"}"#)
    } else if api && ((fake != Fake::NoTokenCheck && token.is_none()) || token.is_some_and(|t| t != CANARY)) {
        ("401 Unauthorized", r#"{"ok":false,"error_class":"HQ_TOKEN_MISSING"}"#)
    } else if fake != Fake::AnyOrigin && req.header("origin").is_some_and(|o| o != format!("http://{own}")) {
        ("403 Forbidden", r#"{"ok":false,"error_class":"ORIGIN_BLOCKED"}"#)
    } else if req.method == "POST" {
        ("400 Bad Request", r#"{"ok":false,"error_class":"UNKNOWN_ACTION"}"#)
    } else {
        ("200 OK", r#"{"ok":true,"actions":[]}"#)
    };
    let cors = if fake == Fake::Cors { "Access-Control-Allow-Origin: *\r\n" } else { "" };
    let _ = stream.write_all(
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{cors}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
}

/// A host whose doctor probes `url`, with `extra` lines in `[doctor]`.
fn host_for(url: &str, extra: &str) -> Host {
    let mut host = Host::new();
    let config = format!("{}console_url = \"{url}\"\n{extra}", host.config_text());
    host.config(&config);
    host
}

/// Plants the canary as the console token in the secrets directory (0600 in 0700).
fn plant_token(host: &Host) -> std::path::PathBuf {
    let dir = host.path("secrets");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let file = dir.join("openclaw_console_token");
    std::fs::write(&file, CANARY).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    file
}

fn summary(check: &serde_json::Value) -> &str {
    check["summary"].as_str().unwrap_or("")
}

#[test]
fn console_auth_a_correct_console_passes_and_the_token_never_leaves_the_secrets_dir() {
    let console = FakeConsole::start(Fake::Correct);
    let host = host_for(&console.url(), "");
    plant_token(&host);
    let run = host.run(&["--only", "console-auth", "--only", "token-age", "--format", "json"]);
    let checks = run.json()["checks"].clone();
    assert_eq!(status(&checks[0]), "pass", "{}", checks[0]);
    assert_eq!(checks[0]["details"]["probes"][0]["error_class"], "HQ_TOKEN_MISSING", "{}", checks[0]);
    run.assert_no_leak(CANARY, "console-auth and token-age, JSON");
    let run = host.run(&["--only", "console-auth", "--only", "token-age"]);
    run.assert_no_leak(CANARY, "console-auth and token-age, human");
    host.assert_not_persisted(CANARY, &["secrets"]);

    let seen = console.seen();
    let post = seen.iter().find(|r| r.method == "POST").expect("the Origin probe was sent");
    assert_eq!(post.path, "/api/exec");
    assert_eq!(post.header("x-openclaw-token"), Some(CANARY), "the token goes in the header only");
    assert_eq!(post.header("origin"), Some("https://evil.example"));
    assert!(seen.iter().any(|r| r.path == "/healthz" && r.header("host") == Some("evil.example")));
    assert!(seen.iter().all(|r| r.header("connection") == Some("close")));
}

#[test]
fn console_auth_a_console_answering_without_a_token_fails_with_the_status_seen() {
    let console = FakeConsole::start(Fake::NoTokenCheck);
    let host = host_for(&console.url(), "");
    plant_token(&host);
    let (run, check) = host.check("console-auth");
    assert_eq!((status(&check), run.code), ("fail", 1), "{check}");
    assert!(summary(&check).contains("GET /api/actions without a token answered 200 (expected 401)"), "{check}");
    assert!(check["remediation"].as_str().unwrap().contains("X-OpenClaw-Token (401)"), "{check}");
    run.assert_no_leak(CANARY, "no token check");
}

#[test]
fn console_auth_a_cors_header_fails() {
    let console = FakeConsole::start(Fake::Cors);
    let host = host_for(&console.url(), "");
    plant_token(&host);
    let (run, check) = host.check("console-auth");
    assert_eq!((status(&check), run.code), ("fail", 1), "{check}");
    assert!(summary(&check).contains("carried Access-Control-Allow-Origin"), "{check}");
    assert!(check["remediation"].as_str().unwrap().contains("no permissive CORS"), "{check}");
}

#[test]
fn console_auth_a_console_accepting_a_foreign_host_fails() {
    let console = FakeConsole::start(Fake::AnyHost);
    let host = host_for(&console.url(), "");
    plant_token(&host);
    let (_, check) = host.check("console-auth");
    assert_eq!(status(&check), "fail", "{check}");
    assert!(summary(&check).contains("GET /healthz with Host: evil.example answered 200 (expected 403)"), "{check}");
    assert!(check["remediation"].as_str().unwrap().contains("DNS-rebinding"), "{check}");
}

#[test]
fn console_auth_a_console_accepting_a_foreign_origin_with_a_valid_token_fails() {
    let console = FakeConsole::start(Fake::AnyOrigin);
    let host = host_for(&console.url(), "");
    plant_token(&host);
    let (run, check) = host.check("console-auth");
    assert_eq!(status(&check), "fail", "{check}");
    assert!(
        summary(&check)
            .contains("POST /api/exec with the token and Origin: https://evil.example answered 400 (expected 403)"),
        "{check}"
    );
    run.assert_no_leak(CANARY, "foreign origin accepted");
}

#[test]
fn console_auth_a_token_the_console_does_not_know_fails_saying_so() {
    let console = FakeConsole::start(Fake::Correct);
    let host = host_for(&console.url(), "");
    let file = plant_token(&host);
    std::fs::write(&file, "another-token-the-console-does-not-know").unwrap();
    let (_, check) = host.check("console-auth");
    assert_eq!(status(&check), "fail", "{check}");
    assert!(check["remediation"].as_str().unwrap().contains("not the console's"), "{check}");
}

#[test]
fn console_auth_without_a_token_the_origin_probe_is_not_sent_and_it_warns() {
    let console = FakeConsole::start(Fake::Correct);
    let host = host_for(&console.url(), "");
    let (run, check) = host.check("console-auth");
    assert_eq!((status(&check), run.code), ("warn", 0), "{check}");
    assert!(summary(&check).contains("Origin rule was not probed"), "{check}");
    assert!(summary(&check).contains("OPENCLAW_CONSOLE_TOKEN is not configured"), "{check}");
    assert!(console.seen().iter().all(|r| r.method == "GET"), "no POST without the token");
}

#[test]
fn console_auth_nothing_listening_skips() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let host = host_for(&format!("http://127.0.0.1:{port}"), "");
    let (run, check) = host.check("console-auth");
    assert_eq!((status(&check), run.code), ("skip", 0), "{check}");
    assert!(summary(&check).starts_with("console not running"), "{check}");
}

#[test]
fn console_auth_a_server_that_never_answers_fails_within_the_deadline() {
    let console = FakeConsole::start(Fake::Silent);
    let host = host_for(&console.url(), "check_timeout_ms = 3000\n");
    plant_token(&host);
    let started = Instant::now();
    let (run, check) = host.check("console-auth");
    // `fail` (not the runner's `error` for an abandoned check): the check ended by itself.
    assert_eq!((status(&check), run.code), ("fail", 1), "{check}");
    assert!(summary(&check).contains("no complete answer within"), "{check}");
    assert!(started.elapsed() < Duration::from_secs(10), "the doctor hung: {:?}", started.elapsed());
    assert_eq!(console.seen().len(), 1, "probing stops at the first probe without an answer");
}

#[test]
fn console_url_must_be_loopback_http() {
    let host = host_for("http://10.0.0.1:8787", "");
    let run = host.run(&["--only", "console-auth"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("doctor.console_url must be http://<loopback IP>:<port>"), "{}", run.stderr);
}

/// Sets the file's modification time to `days_ago` days and an hour before now.
fn set_mtime(path: &std::path::Path, days_ago: u64) {
    let when = SystemTime::now() - Duration::from_secs(days_ago * 86_400 + 3600);
    std::fs::File::options().write(true).open(path).unwrap().set_modified(when).unwrap();
}

#[test]
fn token_age_fresh_passes_old_warns_with_rotate_and_none_skips() {
    let mut host = Host::new();
    let (_, check) = host.check("token-age");
    assert_eq!(status(&check), "skip", "{check}");

    let file = plant_token(&host);
    let (run, check) = host.check("token-age");
    assert_eq!((status(&check), run.code), ("pass", 0), "{check}");
    assert_eq!(check["details"]["age_days"], 0, "{check}");

    set_mtime(&file, 45);
    let (run, check) = host.check("token-age");
    assert_eq!((status(&check), run.code), ("warn", 0), "{check}");
    assert!(summary(&check).contains("45 day(s) ago, more than 30"), "{check}");
    assert!(check["remediation"].as_str().unwrap().contains("openclaw-keyctl rotate OPENCLAW_CONSOLE_TOKEN"));
    run.assert_no_leak(CANARY, "token-age");

    let config = format!("{}token_max_age_days = 60\n", host.config_text());
    host.config(&config);
    assert_eq!(status(&host.check("token-age").1), "pass");
}

#[test]
fn token_age_an_unsafe_file_errors_and_a_token_from_the_environment_warns() {
    let host = Host::new();
    let file = plant_token(&host);
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (run, check) = host.check("token-age");
    assert_eq!((status(&check), run.code), ("error", 1), "{check}");
    assert!(summary(&check).contains("chmod 600"), "{check}");
    std::fs::remove_file(&file).unwrap();

    let out = host
        .command()
        .env("OPENCLAW_CONSOLE_TOKEN", CANARY)
        .args(["--only", "token-age", "--format", "json", "--no-artifacts"])
        .output()
        .unwrap();
    let run = test_support::Run::from(out);
    let check = run.json()["checks"][0].clone();
    assert_eq!(status(&check), "warn", "{check}");
    assert!(summary(&check).contains("comes from the environment"), "{check}");
    run.assert_no_leak(CANARY, "token from the environment");
}

/// The real `openclaw-console` beside the doctor (`cargo build -p console`),
/// killed when dropped.
struct RealConsole(std::process::Child);

impl Drop for RealConsole {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn console_auth_passes_against_the_real_console() {
    let console = std::path::Path::new(crate::support::DOCTOR).with_file_name("openclaw-console");
    if !console.exists() {
        return crate::support::skip("openclaw-console is not built beside the doctor (cargo build -p console)");
    }
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let host = host_for(&format!("http://127.0.0.1:{port}"), "");
    plant_token(&host);
    let etc = host.path("etc");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::set_permissions(&etc, std::fs::Permissions::from_mode(0o700)).unwrap();
    let registry = etc.join("console-actions.toml");
    std::fs::write(
        &registry,
        "[[action]]\nid = \"noop\"\nlabel = \"No-op\"\ndescription = \"Does nothing.\"\nargv = [\"/bin/true\"]\ntimeout_sec = 5\n",
    )
    .unwrap();
    std::fs::set_permissions(&registry, std::fs::Permissions::from_mode(0o600)).unwrap();
    host.write_config(&host.config_text());
    let mut cmd = std::process::Command::new(&console);
    host.hermetic(&mut cmd)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--registry"])
        .arg(&registry)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = RealConsole(cmd.spawn().unwrap());
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(exit) = child.0.try_wait().unwrap() {
            let mut err = String::new();
            let _ = child.0.stderr.take().unwrap().read_to_string(&mut err);
            panic!("the console exited with {exit}: {err}");
        }
        assert!(started.elapsed() < Duration::from_secs(20), "the console did not start listening");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (run, check) = host.check("console-auth");
    assert_eq!((status(&check), run.code), ("pass", 0), "{check}");
    assert_eq!(check["details"]["probes"][2]["error_class"], "ORIGIN_BLOCKED", "{check}");
    run.assert_no_leak(CANARY, "against the real console");
    drop(child);
}
