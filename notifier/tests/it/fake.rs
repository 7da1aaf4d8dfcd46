//! A fake Pushover API on loopback, faithful to the documented protocol
//! (pushover.net/api; reference/peers.md §4.1): form or JSON bodies,
//! 30-character token and user keys, field limits, `retry`/`expire`
//! required for priority 2 with a `receipt` in the answer, receipt cancels,
//! `users/validate.json`, and `X-Limit-App-*` headers on every response.
//! Tests can make it answer 429, a 4xx with `errors[]`, a 5xx, hang, or
//! drop the connection, and it samples every process's argv while a
//! request is in flight.

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How to answer one request.
#[derive(Debug, Clone)]
pub(crate) enum Behaviour {
    /// Validate and answer like the real API.
    Normal,
    /// HTTP 429 (monthly quota used up), resetting at this Unix time.
    Quota { reset: i64 },
    /// This status with `{"status":0,"errors":[msg]}`.
    Error { status: u16, message: &'static str },
    /// Read the request, then say nothing for this long and close.
    Hang(Duration),
    /// Read the request and close without an answer.
    Drop,
}

/// One request as received.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) path: String,
    pub(crate) content_type: String,
    /// The raw request line, headers and body.
    pub(crate) raw: String,
    pub(crate) form: BTreeMap<String, String>,
    pub(crate) at: Instant,
}

#[derive(Default)]
struct Shared {
    script: VecDeque<Behaviour>,
    default: Option<Behaviour>,
    requests: Vec<Request>,
    remaining: u64,
    cancelled: Vec<String>,
    receipts: Vec<String>,
    watch: Vec<String>,
    argv_hits: Vec<String>,
    argv_samples: usize,
}

pub(crate) struct Fake {
    pub(crate) base: String,
    shared: Arc<Mutex<Shared>>,
}

pub(crate) const LIMIT: u64 = 10_000;
pub(crate) const RESET: i64 = 4_102_444_800; // 2100-01-01, so the reading stays current

static IDS: AtomicU64 = AtomicU64::new(1);

fn valid_key(k: Option<&String>) -> bool {
    k.is_some_and(|k| k.len() == 30 && k.bytes().all(|b| b.is_ascii_alphanumeric()))
}

impl Fake {
    /// Starts a server expecting these keys.
    pub(crate) fn start(token: &str, user: &str) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Mutex::new(Shared { remaining: LIMIT, ..Default::default() }));
        let (s, token, user) = (Arc::clone(&shared), token.to_owned(), user.to_owned());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (s, token, user) = (Arc::clone(&s), token.clone(), user.clone());
                std::thread::spawn(move || serve(conn, &s, &token, &user));
            }
        });
        Fake { base, shared }
    }

    /// Answers the next requests this way, in order, then as [`Fake::set_default`].
    pub(crate) fn script(&self, b: impl IntoIterator<Item = Behaviour>) {
        self.shared.lock().unwrap().script.extend(b);
    }

    pub(crate) fn set_default(&self, b: Behaviour) {
        self.shared.lock().unwrap().default = Some(b);
    }

    pub(crate) fn set_remaining(&self, n: u64) {
        self.shared.lock().unwrap().remaining = n;
    }

    /// Values to look for in every process's argv while a request is open.
    pub(crate) fn watch_argv(&self, values: &[&str]) {
        self.shared.lock().unwrap().watch = values.iter().map(|v| (*v).to_owned()).collect();
    }

    pub(crate) fn argv_report(&self) -> (usize, Vec<String>) {
        let s = self.shared.lock().unwrap();
        (s.argv_samples, s.argv_hits.clone())
    }

    pub(crate) fn requests(&self) -> Vec<Request> {
        self.shared.lock().unwrap().requests.clone()
    }

    pub(crate) fn messages(&self) -> Vec<Request> {
        self.requests().into_iter().filter(|r| r.path == "/1/messages.json").collect()
    }

    pub(crate) fn cancelled(&self) -> Vec<String> {
        self.shared.lock().unwrap().cancelled.clone()
    }
}

fn serve(conn: TcpStream, shared: &Mutex<Shared>, token: &str, user: &str) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(20)));
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut head = String::new();
    let mut content_length = 0usize;
    let mut content_type = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        head.push_str(&line);
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "content-length" => content_length = v.trim().parse().unwrap_or(0),
                "content-type" => content_type = v.trim().to_owned(),
                _ => {}
            }
        }
    }
    let mut body = vec![0u8; content_length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let body = String::from_utf8_lossy(&body).into_owned();
    let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
    let form: BTreeMap<String, String> = if content_type.starts_with("application/json") {
        serde_json::from_str::<BTreeMap<String, serde_json::Value>>(&body)
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
            .collect()
    } else {
        body.split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (decode(k), decode(v))
            })
            .collect()
    };
    let behaviour = {
        let mut s = shared.lock().unwrap();
        s.requests.push(Request {
            path: path.clone(),
            content_type: content_type.clone(),
            raw: format!("{head}{body}"),
            form: form.clone(),
            at: Instant::now(),
        });
        let watch = s.watch.clone();
        if !watch.is_empty() {
            // The client is blocked on this request right now: look at every argv.
            s.argv_samples += 1;
            let watch: Vec<&str> = watch.iter().map(String::as_str).collect();
            s.argv_hits.extend(test_support::argv_containing(&watch));
        }
        s.script.pop_front().or_else(|| s.default.clone()).unwrap_or(Behaviour::Normal)
    };
    let mut conn = conn;
    let (status, json) = match behaviour {
        Behaviour::Hang(d) => {
            std::thread::sleep(d);
            return;
        }
        Behaviour::Drop => return,
        Behaviour::Quota { reset } => {
            let json =
                r#"{"status":0,"errors":["application has exceeded its monthly message limit"],"request":"q-1"}"#;
            let _ = respond(&mut conn, 429, json, (LIMIT, 0, reset));
            return;
        }
        Behaviour::Error { status, message } => {
            (status, format!(r#"{{"status":0,"errors":[{}],"request":"e-1"}}"#, serde_json::Value::from(message)))
        }
        Behaviour::Normal => normal(&path, &form, &content_type, shared, token, user),
    };
    let remaining = {
        let mut s = shared.lock().unwrap();
        if status == 200 && path == "/1/messages.json" {
            s.remaining = s.remaining.saturating_sub(1);
        }
        s.remaining
    };
    let _ = respond(&mut conn, status, &json, (LIMIT, remaining, RESET));
}

fn normal(
    path: &str,
    form: &BTreeMap<String, String>,
    content_type: &str,
    shared: &Mutex<Shared>,
    token: &str,
    user: &str,
) -> (u16, String) {
    let request = format!("fake-{:08}", IDS.fetch_add(1, Ordering::Relaxed));
    let err = |field: &str, msg: &str| {
        (400, format!(r#"{{"{field}":"invalid","errors":["{msg}"],"status":0,"request":"{request}"}}"#))
    };
    if !(content_type.starts_with("application/x-www-form-urlencoded") || content_type.starts_with("application/json"))
    {
        return err("body", "unsupported content type");
    }
    if !valid_key(form.get("token")) || form.get("token").map(String::as_str) != Some(token) {
        return err("token", "application token is invalid, see https://pushover.net/api");
    }
    let chars = |k: &str| form.get(k).map_or(0, |v| v.chars().count());
    if (path == "/1/messages.json" || path == "/1/users/validate.json")
        && (!valid_key(form.get("user")) || form.get("user").map(String::as_str) != Some(user))
    {
        return err(
            "user",
            "user identifier is not a valid user, group, or subscribed user key, see https://pushover.net/api#identifiers",
        );
    }
    match path {
        "/1/users/validate.json" => {
            (200, format!(r#"{{"status":1,"group":0,"devices":["phone"],"request":"{request}"}}"#))
        }
        "/1/messages.json" => {
            if form.contains_key("callback") {
                return err("callback", "this fake refuses callbacks: contract §7 forbids inbound callbacks");
            }
            if chars("message") == 0 {
                return err("message", "message cannot be blank");
            }
            for (k, max) in [("message", 1024), ("title", 250), ("url", 512), ("url_title", 100)] {
                if chars(k) > max {
                    return err(k, &format!("{k} is too long ({} characters)", chars(k)));
                }
            }
            let priority: i64 = match form.get("priority").map(|p| p.parse()) {
                None => 0,
                Some(Ok(p)) if (-2..=2).contains(&p) => p,
                Some(_) => return err("priority", "priority must be -2 to 2"),
            };
            if priority == 2 {
                let retry = form.get("retry").and_then(|v| v.parse::<i64>().ok());
                let expire = form.get("expire").and_then(|v| v.parse::<i64>().ok());
                if retry.is_none_or(|r| r < 30) {
                    return err(
                        "retry",
                        "retry is invalid: emergency-priority messages require a retry of at least 30",
                    );
                }
                if expire.is_none_or(|e| !(1..=10_800).contains(&e)) {
                    return err(
                        "expire",
                        "expire is invalid: emergency-priority messages require an expire of at most 10800",
                    );
                }
                let receipt = format!("r{:029}", IDS.fetch_add(1, Ordering::Relaxed));
                shared.lock().unwrap().receipts.push(receipt.clone());
                return (200, format!(r#"{{"status":1,"request":"{request}","receipt":"{receipt}"}}"#));
            }
            (200, format!(r#"{{"status":1,"request":"{request}"}}"#))
        }
        p if p.starts_with("/1/receipts/") && p.ends_with("/cancel.json") => {
            let receipt = p.trim_start_matches("/1/receipts/").trim_end_matches("/cancel.json").to_owned();
            let mut s = shared.lock().unwrap();
            if s.receipts.contains(&receipt) && !s.cancelled.contains(&receipt) {
                s.cancelled.push(receipt);
                (200, format!(r#"{{"status":1,"request":"{request}"}}"#))
            } else {
                (
                    400,
                    format!(
                        r#"{{"receipt":"not found","errors":["receipt not found; may be invalid or expired"],"status":0,"request":"{request}"}}"#
                    ),
                )
            }
        }
        _ => (404, format!(r#"{{"errors":["not found"],"status":0,"request":"{request}"}}"#)),
    }
}

fn respond(
    conn: &mut TcpStream,
    status: u16,
    json: &str,
    (limit, remaining, reset): (u64, u64, i64),
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    };
    write!(
        conn,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\
         X-Limit-App-Limit: {limit}\r\nX-Limit-App-Remaining: {remaining}\r\nX-Limit-App-Reset: {reset}\r\n\
         Connection: close\r\n\r\n{json}",
        json.len()
    )?;
    conn.flush()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
