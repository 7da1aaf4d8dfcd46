//! Malformed HTTP never panics the server and never runs anything: lying
//! or garbage lengths, a huge head, a non-UTF-8 path. After each, the
//! server still answers.

use crate::support::{Console, TOKEN, marker_action, ran};

#[test]
fn lying_and_garbage_lengths_huge_heads_and_bad_paths_are_refused() {
    let c = Console::start(|h| marker_action(h, "hello", "echo hi", ""));
    let (host, o) = (c.host_header(), c.origin());
    let pre = |extra: &str| {
        format!("POST /api/exec HTTP/1.1\r\nHost: {host}\r\nX-OpenClaw-Token: {TOKEN}\r\nOrigin: {o}\r\n{extra}")
    };
    // Shorter than the body: the first 5 bytes are the body; the rest is garbage, not a second request that runs.
    let a = c.raw(format!("{}Content-Length: 5\r\n\r\n{{\"action\":\"hello\"}}", pre("")).as_bytes()).unwrap();
    assert_eq!((a.status, a.class()), (400, "INVALID_JSON".to_owned()));
    // Longer than the body: the body deadline (1 s in these tests) answers 408.
    let a = c.raw(format!("{}Content-Length: 100\r\n\r\n{{\"action\":\"hello\"}}", pre("")).as_bytes()).unwrap();
    assert_eq!((a.status, a.class()), (408, "BODY_TIMEOUT".to_owned()));
    for bad in [
        "Content-Length: abc\r\n",
        "Content-Length: -1\r\n",
        "Content-Length: 18\r\nContent-Length: 5\r\n",
        "Content-Length: 99999999999999999999999\r\n",
    ] {
        let a = c.raw(format!("{}{bad}\r\n{{\"action\":\"hello\"}}", pre("")).as_bytes()).unwrap();
        assert_eq!(a.status, 400, "{bad:?}");
    }
    let huge = format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\nX-Junk: {}\r\n\r\n", "a".repeat(100_000));
    let a = c.raw(huge.as_bytes()).unwrap();
    assert!(a.status == 431 || a.status == 400, "huge head: {}", a.status);
    let mut bad_path = b"GET /api/\xff\xfe HTTP/1.1\r\nHost: ".to_vec();
    bad_path.extend_from_slice(format!("{host}\r\nX-OpenClaw-Token: {TOKEN}\r\n\r\n").as_bytes());
    assert_eq!(c.raw(&bad_path).unwrap().status, 400);
    let a = c.raw(b"\x16\x03\x01\x02\x00garbage-not-http\r\n\r\n").unwrap();
    assert_eq!(a.status, 400);
    let mut bad_header = format!("GET /api/actions HTTP/1.1\r\nHost: {host}\r\nX-OpenClaw-Token: ").into_bytes();
    bad_header.extend_from_slice(b"\xff\xfe\r\n\r\n");
    assert_eq!(c.raw(&bad_header).unwrap().status, 401, "a non-UTF-8 token is just wrong");
    assert!(!ran(&c.host, "hello"));
    assert_eq!(c.request("GET", "/healthz", &[], b"").status, 200, "still serving");
    assert!(c.audit().is_empty());
}
