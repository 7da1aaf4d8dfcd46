//! The doctor's one HTTP client, for its loopback and tailnet probes
//! (`http-health`, `console-auth`): HTTP/1.1 over a std `TcpStream`, one
//! request per connection (`Connection: close`), one deadline over connect,
//! write and every read, and at most [`MAX_RESPONSE`] bytes read. The
//! response parser ([`parse_head`]) is pure and never panics on garbage
//! (unit tests here, and the `tool_output` fuzz target).

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Most bytes of an answer read (status line, headers and body).
pub(crate) const MAX_RESPONSE: usize = 64 * 1024;

/// Most header lines accepted.
const MAX_HEADERS: usize = 100;

/// One request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request<'a> {
    pub(crate) method: &'a str,
    /// The request target, `/…`.
    pub(crate) path: &'a str,
    /// The `Host` header.
    pub(crate) host: &'a str,
    /// Further headers, sent as given.
    pub(crate) headers: &'a [(&'a str, &'a str)],
    /// A body (sent with its `Content-Length`).
    pub(crate) body: Option<&'a [u8]>,
    /// Whether to wait for the body: without, the answer ends with its headers.
    pub(crate) read_body: bool,
}

/// An answer: its status, headers (names in lowercase) and body (at most
/// what `Content-Length` says, within [`MAX_RESPONSE`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

/// A status line and headers, and where the body starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Head {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) content_length: Option<usize>,
    /// Bytes of the status line and headers, blank line included.
    pub(crate) len: usize,
}

/// Why no answer was had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Connection refused: nothing listens there.
    NotListening,
    /// No complete answer within the time allowed.
    TimedOut { after_ms: u64 },
    /// Any other transport problem, at `stage` (connect, send, read).
    Io { stage: &'static str, error: String },
    /// What came back is not an HTTP answer (what it was is not repeated).
    Garbled(&'static str),
    /// The request itself cannot be sent (a line break in a header).
    BadRequest,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::NotListening => f.write_str("connect: connection refused"),
            Failure::TimedOut { after_ms } => write!(f, "no complete answer within {after_ms} ms"),
            Failure::Io { stage, error } => write!(f, "{stage}: {error}"),
            Failure::Garbled(why) => write!(f, "not an HTTP response: {why}"),
            Failure::BadRequest => f.write_str("the request holds a line break or control character"),
        }
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// The request's bytes; `None` if any part could split a line.
fn encode(req: &Request<'_>) -> Option<Vec<u8>> {
    let unsafe_text = |s: &str| s.bytes().any(|b| b.is_ascii_control() && b != b'\t');
    let parts = [req.method, req.path, req.host].into_iter().chain(req.headers.iter().flat_map(|(n, v)| [*n, *v]));
    if parts.clone().any(unsafe_text) || req.method.contains(' ') || req.path.contains(' ') {
        return None;
    }
    let mut text = format!(
        "{} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: openclaw-doctor\r\nConnection: close\r\n",
        req.method, req.path, req.host
    );
    for (name, value) in req.headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = req.body {
        text.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    text.push_str("\r\n");
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(req.body.unwrap_or_default());
    Some(bytes)
}

/// Sends `req` to `addr` and reads the answer, all within `timeout`.
pub(crate) fn send(addr: SocketAddr, req: &Request<'_>, timeout: Duration) -> Result<Response, Failure> {
    let bytes = encode(req).ok_or(Failure::BadRequest)?;
    let started = Instant::now();
    let deadline = started + timeout;
    let timed_out = || Failure::TimedOut { after_ms: started.elapsed().as_millis() as u64 };
    let left = || deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero());
    let io = |stage: &'static str| move |e: std::io::Error| Failure::Io { stage, error: e.to_string() };
    let mut stream = match TcpStream::connect_timeout(&addr, timeout) {
        Ok(s) => s,
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => return Err(Failure::NotListening),
        Err(e) if is_timeout(&e) => return Err(timed_out()),
        Err(e) => return Err(io("connect")(e)),
    };
    stream.set_write_timeout(Some(left().ok_or_else(timed_out)?)).map_err(io("send"))?;
    match stream.write_all(&bytes) {
        Err(e) if is_timeout(&e) => return Err(timed_out()),
        other => other.map_err(io("send"))?,
    }
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(head) = parse_head(&buf).map_err(Failure::Garbled)? {
            let complete = !req.read_body || head.content_length.is_some_and(|n| buf.len() >= head.len + n);
            if complete {
                return Ok(finish(head, &buf));
            }
        }
        if buf.len() >= MAX_RESPONSE {
            break;
        }
        stream.set_read_timeout(Some(left().ok_or_else(timed_out)?)).map_err(io("read"))?;
        let room = chunk.len().min(MAX_RESPONSE - buf.len());
        match stream.read(&mut chunk[..room]) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if is_timeout(&e) => return Err(timed_out()),
            // A reset after a complete head still leaves an answer to judge.
            Err(e) => match parse_head(&buf) {
                Ok(Some(head)) => return Ok(finish(head, &buf)),
                _ => return Err(io("read")(e)),
            },
        }
    }
    match parse_head(&buf).map_err(Failure::Garbled)? {
        Some(head) => Ok(finish(head, &buf)),
        None if buf.len() >= MAX_RESPONSE => Err(Failure::Garbled("headers longer than 64 KiB")),
        None => Err(Failure::Garbled("the answer ended before its headers did")),
    }
}

/// The response from a complete head and the bytes read.
fn finish(head: Head, buf: &[u8]) -> Response {
    let rest = buf.get(head.len..).unwrap_or_default();
    let body = match head.content_length {
        Some(n) => rest.get(..n).unwrap_or(rest),
        None => rest,
    };
    Response { status: head.status, headers: head.headers, body: body.to_vec() }
}

/// Pure: the status line and headers at the start of `buf`. `Ok(None)`
/// while they are incomplete; an error as soon as the bytes cannot be HTTP.
pub(crate) fn parse_head(buf: &[u8]) -> Result<Option<Head>, &'static str> {
    const PREFIX: &[u8] = b"HTTP/";
    let n = buf.len().min(PREFIX.len());
    if buf.get(..n) != PREFIX.get(..n) {
        return Err("no HTTP status line");
    }
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let text = std::str::from_utf8(buf.get(..end).unwrap_or_default()).map_err(|_| "headers are not UTF-8")?;
    let mut lines = text.split("\r\n");
    let status = parse_status_line(lines.next().unwrap_or_default())?;
    let mut headers = Vec::new();
    let mut content_length: Option<usize> = None;
    for line in lines {
        if headers.len() >= MAX_HEADERS {
            return Err("too many headers");
        }
        let (name, value) = line.split_once(':').ok_or("a header line without a colon")?;
        let name_ok =
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !name_ok {
            return Err("a malformed header name");
        }
        let (name, value) = (name.to_ascii_lowercase(), value.trim_matches([' ', '\t']).to_owned());
        if name == "content-length" {
            let len = value.parse::<usize>().map_err(|_| "a malformed Content-Length")?;
            if content_length.is_some_and(|seen| seen != len) {
                return Err("conflicting Content-Length headers");
            }
            content_length = Some(len);
        }
        headers.push((name, value));
    }
    Ok(Some(Head { status, headers, content_length, len: end + 4 }))
}

/// `HTTP/1.x NNN reason`: the status, 100 to 599.
fn parse_status_line(line: &str) -> Result<u16, &'static str> {
    let mut parts = line.splitn(3, ' ');
    if !matches!(parts.next(), Some("HTTP/1.0" | "HTTP/1.1")) {
        return Err("not HTTP/1.0 or HTTP/1.1");
    }
    let code = parts.next().unwrap_or_default();
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err("a malformed status code");
    }
    code.parse::<u16>().ok().filter(|c| (100..600).contains(c)).ok_or("a status code out of range")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_complete_head_is_parsed_and_an_incomplete_one_waits() {
        let raw = b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\ncontent-length: 2\r\n\r\n{}";
        let head = parse_head(raw).unwrap().unwrap();
        assert_eq!((head.status, head.content_length, head.len), (401, Some(2), raw.len() - 2));
        assert_eq!(head.headers[0], ("content-type".to_owned(), "application/json".to_owned()));
        for cut in 0..raw.len() - 2 {
            assert_eq!(parse_head(&raw[..cut]), Ok(None), "cut at {cut}");
        }
        assert_eq!(parse_head(b"HTTP/1.0 200\r\n\r\n").unwrap().unwrap().status, 200);
    }

    #[test]
    fn garbage_is_refused_early_and_never_panics() {
        for bad in [
            &b"SSH-2.0-OpenSSH_9.2\r\n"[..],
            b"hello",
            b"\0\0\0\0\0\0",
            b"HTTP/2 200\r\n\r\n",
            b"HTTP/1.1 20 OK\r\n\r\n",
            b"HTTP/1.1 999 Nope\r\n\r\n",
            b"HTTP/1.1 2x0 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nbad name: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\n: empty\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nX: \xff\xfe\r\n\r\n",
        ] {
            assert!(parse_head(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
        assert!(parse_head(format!("HTTP/1.1 200 OK\r\n{many}\r\n").as_bytes()).is_err());
        // Deterministic pseudo-random bytes, with and without a valid prefix.
        const ALPHABET: &[u8] = b"HTP/1. 0\r\n:ab\xff";
        let mut x: u32 = 0x1234_5678;
        for len in 0..400 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    ALPHABET[x as usize % ALPHABET.len()]
                })
                .collect();
            let _ = parse_head(&bytes);
            let _ = parse_head(&[b"HTTP/1.1 200 OK\r\n".as_slice(), &bytes, b"\r\n\r\n"].concat());
        }
    }

    #[test]
    fn a_body_is_cut_at_its_length_and_a_header_cannot_split_a_line() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA";
        let head = parse_head(raw).unwrap().unwrap();
        assert_eq!(finish(head, raw).body, b"ok");
        let short = b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\nok";
        assert_eq!(finish(parse_head(short).unwrap().unwrap(), short).body, b"ok");
        let req = |headers: &'static [(&'static str, &'static str)]| Request {
            method: "GET",
            path: "/",
            host: "127.0.0.1:1",
            headers,
            body: None,
            read_body: false,
        };
        assert!(encode(&req(&[("X-A", "b")])).is_some());
        assert!(encode(&req(&[("X-A", "b\r\nX-Injected: 1")])).is_none());
        assert!(encode(&Request { path: "/a b", ..req(&[]) }).is_none());
        let text = String::from_utf8(encode(&Request { body: Some(b"{}"), ..req(&[]) }).unwrap()).unwrap();
        assert!(text.ends_with("Content-Length: 2\r\n\r\n{}") && text.contains("Connection: close\r\n"), "{text}");
    }
}
