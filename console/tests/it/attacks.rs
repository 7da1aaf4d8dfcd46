//! Every refusal of the issue's attack list: the exact status and class,
//! no process started (the action's marker file never appears), and the
//! audit log holding exactly what it should (nothing for 401/403/413, one
//! `console.refuse` record for a refusal at action resolution).

use crate::support::{Console, TOKEN, marker_action, ran};

fn console() -> Console {
    Console::start(|h| {
        let mut r = marker_action(h, "hello", "echo hi", "");
        r.push_str(&marker_action(
            h,
            "typed",
            "echo typed",
            "[action.params.count]\ntype = \"int\"\nmin = 1\nmax = 5\n[action.params.name]\ntype = \"string\"\nmax_len = 16\npattern = \"[a-z]+\"\n",
        ));
        r
    })
}

fn no_cors(a: &crate::support::Answer) {
    assert!(!a.head.to_ascii_lowercase().contains("access-control-allow"), "CORS header sent: {}", a.head);
}

#[test]
fn token_missing_wrong_or_one_byte_off_is_401_and_nothing_runs() {
    let c = console();
    let origin = c.origin();
    let mut off = TOKEN.to_owned();
    let last = off.pop().unwrap();
    off.push(if last == '0' { '1' } else { '0' });
    let body = br#"{"action":"hello"}"#;
    for headers in [
        vec![("Origin", origin.as_str())],
        vec![("Origin", origin.as_str()), ("X-OpenClaw-Token", "wrong")],
        vec![("Origin", origin.as_str()), ("X-OpenClaw-Token", off.as_str())],
        vec![("Origin", origin.as_str()), ("X-OpenClaw-Token", "")],
        vec![("Origin", origin.as_str()), ("Authorization", "Basic Zm9vOmJhcg==")],
        // A right token beside a wrong one does not pass.
        vec![("Origin", origin.as_str()), ("X-OpenClaw-Token", TOKEN), ("Authorization", "Bearer wrong")],
    ] {
        let a = c.request("POST", "/api/exec", &headers, body);
        assert_eq!((a.status, a.class()), (401, "HQ_TOKEN_MISSING".to_owned()), "{headers:?}");
        no_cors(&a);
    }
    let a = c.request("GET", "/api/actions", &[], b"");
    assert_eq!(a.status, 401);
    assert_eq!(a.json()["reason"], "token header missing");
    assert!(!ran(&c.host, "hello"));
    assert!(c.audit().is_empty(), "security refusals are logged, not audited");
    let bearer = format!("Bearer {TOKEN}");
    assert_eq!(c.request("GET", "/api/actions", &[("Authorization", &bearer)], b"").status, 200);
    assert!(!c.stderr().contains(TOKEN));
}

#[test]
fn hostile_origins_and_rebinding_hosts_are_403_before_anything_runs() {
    let c = console();
    let body = br#"{"action":"hello"}"#;
    for origin in [
        "http://evil.example",
        "null",
        &format!("http://{}.evil.example", c.addr),
        "https://127.0.0.1",
        &format!("http://{}/", c.addr),
    ] {
        let a = c.request("POST", "/api/exec", &[("X-OpenClaw-Token", TOKEN), ("Origin", origin)], body);
        assert_eq!((a.status, a.class()), (403, "ORIGIN_BLOCKED".to_owned()), "{origin}");
        no_cors(&a);
    }
    // No Origin and no Sec-Fetch-Site on a POST.
    let a = c.request("POST", "/api/exec", &[("X-OpenClaw-Token", TOKEN)], body);
    assert_eq!((a.status, a.class()), (403, "ORIGIN_BLOCKED".to_owned()));
    // Two Origin headers.
    let o = c.origin();
    let a = c.request(
        "POST",
        "/api/exec",
        &[("X-OpenClaw-Token", TOKEN), ("Origin", &o), ("Origin", "http://evil.example")],
        body,
    );
    assert_eq!(a.status, 403);
    let port = c.addr.port();
    for host in [
        "evil.example".to_owned(),
        format!("127.0.0.1.evil.example:{port}"),
        format!("localhost.evil:{port}"),
        "127.0.0.1".to_owned(),
        format!("localhost:{}", port + 1),
    ] {
        let a = c.request("POST", "/api/exec", &[("Host", &host), ("X-OpenClaw-Token", TOKEN), ("Origin", &o)], body);
        assert_eq!((a.status, a.class()), (403, "HOST_BLOCKED".to_owned()), "{host}");
        let a = c.request("GET", "/healthz", &[("Host", &host)], b"");
        assert_eq!(a.status, 403, "healthz under {host}");
    }
    // An absolute-form target with its own authority.
    let raw = format!(
        "GET http://evil.example/api/actions HTTP/1.1\r\nHost: {}\r\nX-OpenClaw-Token: {TOKEN}\r\nConnection: close\r\n\r\n",
        c.addr
    );
    assert_eq!(c.raw(raw.as_bytes()).unwrap().status, 403);
    // Same-origin fetch metadata is enough on a POST.
    let a = c.request("POST", "/api/exec", &[("X-OpenClaw-Token", TOKEN), ("Sec-Fetch-Site", "same-origin")], body);
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert!(ran(&c.host, "hello"));
}

#[test]
fn unknown_actions_and_bad_bodies_are_400_and_never_start_anything() {
    let c = console();
    for (body, class) in [
        (r#"{"action":"__proto__"}"#, "UNKNOWN_ACTION"),
        (r#"{"action":"constructor"}"#, "UNKNOWN_ACTION"),
        (r#"{"action":"toString"}"#, "UNKNOWN_ACTION"),
        (r#"{"action":"nope"}"#, "UNKNOWN_ACTION"),
        (r#"{"action":"HELLO"}"#, "UNKNOWN_ACTION"),
        (r#"{"action":"typed","params":{"count":"3"}}"#, "INVALID_PARAMS"),
        (r#"{"action":"typed","params":{"count":9}}"#, "INVALID_PARAMS"),
        (r#"{"action":"typed","params":{"name":"abc\nrm -rf /"}}"#, "INVALID_PARAMS"),
        (r#"{"action":"typed","params":{"name":"abc$(id)"}}"#, "INVALID_PARAMS"),
        (r#"{"action":"typed","params":{"name":".*"}}"#, "INVALID_PARAMS"),
        (r#"{"action":"typed","params":{"other":1}}"#, "INVALID_PARAMS"),
    ] {
        let a = c.exec(body);
        assert_eq!((a.status, a.class()), (400, class.to_owned()), "{body}");
        assert_eq!(a.header("x-request-id").as_deref(), a.json()["request_id"].as_str(), "{body}");
    }
    let a = c.exec(r#"{"action":"typed","params":{"other":1}}"#);
    assert!(a.json()["error"].as_str().unwrap().contains("allowed: count, name"), "{}", a.json());
    let audited = c.audit();
    assert_eq!(audited.len(), 12, "one console.refuse record per refusal at action resolution");
    assert!(audited.iter().all(|r| r["action"] == "console.refuse" && r["exit_code"] == 2));
    for (body, class) in [
        ("", "INVALID_JSON"),
        ("nope", "INVALID_JSON"),
        ("[]", "NOT_AN_OBJECT"),
        ("null", "NOT_AN_OBJECT"),
        (r#"{"action":1}"#, "INVALID_ACTION"),
        (r#"{"params":{}}"#, "INVALID_ACTION"),
        (r#"{"action":"hello","extra":true}"#, "UNEXPECTED_FIELDS"),
        (r#"{"action":"hello","params":[]}"#, "UNEXPECTED_FIELDS"),
    ] {
        let a = c.exec(body);
        assert_eq!((a.status, a.class()), (400, class.to_owned()), "{body:?}");
    }
    assert_eq!(c.audit().len(), 12, "malformed bodies never reach action resolution");
    assert!(!ran(&c.host, "hello") && !ran(&c.host, "typed"));
}

#[test]
fn bodies_over_64_kib_are_413_on_every_route_with_or_without_a_token() {
    let c = console();
    let big = vec![b'x'; 10 * 1024 * 1024];
    let o = c.origin();
    // Declared too large: refused from the header.
    let a = c.request("POST", "/api/exec", &[("X-OpenClaw-Token", TOKEN), ("Origin", &o)], &big);
    assert_eq!((a.status, a.class()), (413, "BODY_TOO_LARGE".to_owned()));
    let a = c.request("POST", "/healthz", &[("Origin", &o)], &big);
    assert_eq!(a.status, 413, "unauthenticated route");
    let a = c.request("GET", "/healthz", &[], &big);
    assert_eq!(a.status, 413, "a GET with a body too");
    // Without a token the token refusal comes first.
    let a = c.request("POST", "/api/exec", &[("Origin", &o)], &big);
    assert_eq!(a.status, 401);
    // Chunked, with no length declared: cut at the limit while reading.
    let mut chunked = format!("POST /api/exec HTTP/1.1\r\nHost: {}\r\nX-OpenClaw-Token: {TOKEN}\r\nOrigin: {o}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n", c.addr).into_bytes();
    for _ in 0..80 {
        chunked.extend_from_slice(b"400\r\n");
        chunked.extend_from_slice(&[b' '; 0x400]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let a = c.raw(&chunked).unwrap();
    assert_eq!((a.status, a.class()), (413, "BODY_TOO_LARGE".to_owned()));
    assert!(!ran(&c.host, "hello"));
    assert!(c.audit().is_empty());
}

#[test]
fn options_and_unknown_routes_are_refused_without_cors() {
    let c = console();
    let o = c.origin();
    let a = c.request(
        "OPTIONS",
        "/api/exec",
        &[("X-OpenClaw-Token", TOKEN), ("Origin", &o), ("Access-Control-Request-Method", "POST")],
        b"",
    );
    assert_eq!(a.status, 405);
    no_cors(&a);
    let a = c.request("OPTIONS", "/api/exec", &[("Origin", &o)], b"");
    assert_eq!(a.status, 401, "preflights carry no token");
    no_cors(&a);
    assert_eq!(c.get("/api/nope").status, 404);
    assert_eq!(c.request("DELETE", "/api/actions", &[("X-OpenClaw-Token", TOKEN), ("Origin", &o)], b"").status, 405);
    assert_eq!(c.get("/api/runs/..%2F..%2Fetc").status, 400);
    assert_eq!(c.get("/api/runs?limit=0").status, 400);
    assert_eq!(c.get("/api/runs?limit=5&limit=6").status, 400);
    assert_eq!(c.get("/api/exec?check=lock&action=__proto__").status, 400);
    assert_eq!(c.get("/api/exec?check=connectivity").status, 400);
    let a = c.request("GET", "/healthz", &[], b"");
    assert_eq!(a.json(), serde_json::json!({"ok": true}));
    no_cors(&a);
}

#[test]
fn every_api_route_needs_the_token() {
    let c = console();
    let ok = c.exec(r#"{"action":"hello"}"#);
    let run_id = ok.json()["run_id"].as_str().unwrap().to_owned();
    for (method, path) in [
        ("GET", "/api/actions".to_owned()),
        ("GET", "/api/exec?check=lock&action=hello".to_owned()),
        ("POST", "/api/exec".to_owned()),
        ("GET", "/api/runs".to_owned()),
        ("GET", "/api/runs?limit=5".to_owned()),
        ("GET", format!("/api/runs?id={run_id}")),
        ("GET", format!("/api/runs/{run_id}")),
        ("GET", "/api/nope".to_owned()),
        ("GET", "/api".to_owned()),
    ] {
        let o = c.origin();
        let a = c.request(method, &path, &[("Origin", &o)], br#"{"action":"hello"}"#);
        assert_eq!((a.status, a.class()), (401, "HQ_TOKEN_MISSING".to_owned()), "{method} {path}");
        assert!(!String::from_utf8_lossy(&a.body).contains(&run_id), "{method} {path} leaked the run");
    }
    // With the token the same run is readable.
    assert_eq!(c.get(&format!("/api/runs/{run_id}")).status, 200);
}
