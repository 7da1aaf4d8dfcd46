//! The engine's only way out. The jail has its own network namespace (no
//! route, no host loopback service, no abstract Unix socket of the host's:
//! an X server or an agent's are out of reach), so the gate serves one
//! Unix socket in the engine's work directory: an HTTP `CONNECT` proxy that
//! opens a tunnel only to a `host:port` of `[reviewgate] engine_hosts` (the
//! model service) and answers 403 to anything else. Inside the jail,
//! `engine-bridge` (`bridge`) puts that socket behind a loopback TCP port and
//! runs the engine with `HTTPS_PROXY` pointing at it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The longest a client may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest request head read.
const MAX_HEAD: usize = 8 * 1024;

/// The `host:port` a `CONNECT` request names, if it is one. Pure.
pub fn connect_target(head: &str) -> Option<(String, u16)> {
    let line = head.lines().next()?;
    let mut w = line.split(' ');
    let (method, target, version) = (w.next()?, w.next()?, w.next()?);
    if method != "CONNECT" || !version.starts_with("HTTP/1.") || w.next().is_some() {
        return None;
    }
    let (host, port) = target.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty() && host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:".contains(&b)))
        .then(|| (host.to_ascii_lowercase(), port))
}

/// Whether `allow` (`host:port` entries) names the target. Pure.
pub fn allowed(allow: &[String], host: &str, port: u16) -> bool {
    allow.iter().any(|a| a.eq_ignore_ascii_case(&format!("{host}:{port}")))
}

/// Most tunnels open at once: an engine holding connections open cannot
/// pile threads up in the gate.
pub const MAX_TUNNELS: usize = 32;

/// One admitted connection; its slot is released when it is dropped.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(open: &Arc<AtomicUsize>) -> Option<Slot> {
        let taken = open.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < MAX_TUNNELS).then_some(n + 1));
        taken.is_ok().then(|| Slot(Arc::clone(open)))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Serves the proxy on `socket` (created 0600) in a background thread for
/// the rest of this process's life, at most [`MAX_TUNNELS`] connections at
/// once (the next is answered 503 and closed).
pub fn serve(socket: &Path, allow: Vec<String>) -> std::io::Result<()> {
    let listener = UnixListener::bind(socket)?;
    std::fs::set_permissions(socket, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    let open = Arc::new(AtomicUsize::new(0));
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let Some(slot) = Slot::take(&open) else {
                let _ = answer(&conn, "503 Service Unavailable");
                continue;
            };
            let allow = allow.clone();
            std::thread::spawn(move || {
                let _slot = slot;
                let _ = tunnel(conn, &allow);
            });
        }
    });
    Ok(())
}

fn tunnel(conn: UnixStream, allow: &[String]) -> std::io::Result<()> {
    conn.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut head = String::new();
    while !head.ends_with("\r\n\r\n") {
        let mut line = String::new();
        if (&mut reader).take((MAX_HEAD - head.len()) as u64).read_line(&mut line)? == 0 {
            return Ok(());
        }
        head.push_str(&line);
        if head.len() >= MAX_HEAD {
            return answer(&conn, "431 Request Header Fields Too Large");
        }
    }
    let Some((host, port)) = connect_target(&head) else { return answer(&conn, "405 Method Not Allowed") };
    if !allowed(allow, &host, port) {
        return answer(&conn, "403 Forbidden");
    }
    let Some(addr) = (host.as_str(), port).to_socket_addrs()?.next() else { return answer(&conn, "502 Bad Gateway") };
    let Ok(upstream) = TcpStream::connect_timeout(&addr, REQUEST_TIMEOUT) else {
        return answer(&conn, "502 Bad Gateway");
    };
    (&conn).write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
    conn.set_read_timeout(None)?;
    // Bytes the client sent after its request head are in the reader's buffer.
    relay(reader, upstream.try_clone()?, upstream, conn);
    Ok(())
}

fn answer(mut conn: &UnixStream, status: &str) -> std::io::Result<()> {
    conn.write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes())
}

/// A stream whose write side can be closed on its own.
pub(crate) trait HalfClose: Write + Send + 'static {
    /// Shuts the write side (errors ignored: the peer may be gone).
    fn close_write(&self);
}

impl HalfClose for TcpStream {
    fn close_write(&self) {
        let _ = self.shutdown(std::net::Shutdown::Write);
    }
}

impl HalfClose for UnixStream {
    fn close_write(&self) {
        let _ = self.shutdown(std::net::Shutdown::Write);
    }
}

/// Copies `a_in` to `b_out` (in a thread) and `b_in` to `a_out` until each
/// side has closed, shutting each write side once its copy ends: the one
/// relay of the proxy's tunnels and the bridge's forwarding.
pub(crate) fn relay(
    mut a_in: impl Read + Send + 'static,
    mut b_out: impl HalfClose,
    mut b_in: impl Read,
    mut a_out: impl HalfClose,
) {
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut a_in, &mut b_out);
        b_out.close_write();
    });
    let _ = std::io::copy(&mut b_in, &mut a_out);
    a_out.close_write();
    let _ = up.join();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_past_the_cap_are_turned_away_and_a_closed_one_frees_its_slot() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("proxy.sock");
        serve(&sock, vec![]).unwrap();
        // Held open without a request: each takes a slot until the request timeout.
        let held: Vec<UnixStream> = (0..MAX_TUNNELS).map(|_| UnixStream::connect(&sock).unwrap()).collect();
        std::thread::sleep(Duration::from_millis(200));
        let mut extra = UnixStream::connect(&sock).unwrap();
        let mut text = String::new();
        extra.read_to_string(&mut text).unwrap();
        assert!(text.starts_with("HTTP/1.1 503"), "{text}");
        drop(held);
        std::thread::sleep(Duration::from_millis(200));
        let mut next = UnixStream::connect(&sock).unwrap();
        next.write_all(b"CONNECT example.invalid:443 HTTP/1.1\r\n\r\n").unwrap();
        let mut text = String::new();
        next.read_to_string(&mut text).unwrap();
        assert!(text.starts_with("HTTP/1.1 403"), "{text}");
    }

    #[test]
    fn only_a_connect_to_a_listed_host_and_port_opens_a_tunnel() {
        let allow = vec!["api.openai.com:443".to_owned()];
        let t = connect_target("CONNECT api.openai.com:443 HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert!(allowed(&allow, &t.0, t.1));
        let t = connect_target("CONNECT API.OpenAI.com:443 HTTP/1.1\r\n\r\n").unwrap();
        assert!(allowed(&allow, &t.0, t.1));
        let t = connect_target("CONNECT api.openai.com:22 HTTP/1.1\r\n\r\n").unwrap();
        assert!(!allowed(&allow, &t.0, t.1));
        assert_eq!(connect_target("GET http://api.openai.com/ HTTP/1.1\r\n\r\n"), None);
        assert_eq!(connect_target("CONNECT api.openai.com:443@evil HTTP/1.1\r\n\r\n"), None);
        assert_eq!(connect_target("CONNECT a b:1 HTTP/1.1\r\n\r\n"), None);
        assert_eq!(connect_target("CONNECT [::1]:443 HTTP/1.1\r\n\r\n"), Some(("::1".into(), 443)));
    }
}
