//! Slow clients: hundreds of connections dribbling their headers one byte
//! at a time do not stop a legitimate request from being served, and the
//! header-read timeout closes them.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::{Console, marker_action};

#[test]
fn slowloris_does_not_starve_a_legitimate_request() {
    let c = Console::start(|h| marker_action(h, "hello", "echo hi", ""));
    let head = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\nX-Slow: ", c.host_header()).into_bytes();
    let mut conns: Vec<TcpStream> = (0..300).map(|_| TcpStream::connect(c.addr).unwrap()).collect();
    let started = Instant::now();
    let mut closed = 0;
    // Dribble for 7 s (past the 5 s header timeout), a byte per connection every 100 ms.
    let mut i = 0;
    let mut served_during = None;
    while started.elapsed() < Duration::from_secs(7) {
        for s in &mut conns {
            let b = head.get(i).copied().unwrap_or(b'a');
            if s.write_all(&[b]).is_err() {
                closed += 1;
            }
        }
        i += 1;
        if i == 10 {
            let t = Instant::now();
            let a = c.request("GET", "/healthz", &[], b"");
            served_during = Some((a.status, t.elapsed()));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, took) = served_during.unwrap();
    assert_eq!(status, 200);
    assert!(took < Duration::from_secs(2), "a legitimate request waited {took:?}");
    assert!(closed > 0, "the header-read timeout never closed a dribbling connection");
    let a = c.exec(r#"{"action":"hello"}"#);
    assert_eq!(a.status, 200);
}
