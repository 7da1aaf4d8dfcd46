//! What must never happen: hostile state directories used, plain HTTP off
//! loopback, keys in argv/output/state/audit, missing or malformed keys
//! accepted, bad arguments reaching the API; plus `test` and the ops wrapper.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};

use crate::fake::Behaviour;
use crate::support::{Host, TOKEN, USER, is_root, skip};

#[test]
fn hostile_state_directories_are_refused_before_any_request() {
    let h = Host::new();
    let world = h.path("tmp-like");
    std::fs::create_dir(&world).unwrap();
    std::fs::set_permissions(&world, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let real = h.path("real");
    std::fs::create_dir(&real).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink(&real, h.path("link")).unwrap();
    let group = h.path("group");
    std::fs::create_dir_all(group.join("notifier")).unwrap();
    std::fs::set_permissions(&group, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(group.join("notifier"), std::fs::Permissions::from_mode(0o770)).unwrap();
    let mut cases = vec![
        (world, "writable by group or others"),
        (h.path("link"), "symbolic link"),
        (group, "writable by group or others"),
    ];
    if is_root() {
        let foreign = h.path("foreign");
        std::fs::create_dir(&foreign).unwrap();
        std::fs::set_permissions(&foreign, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::chown(&foreign, Some(65534), Some(65534)).unwrap();
        cases.push((foreign, "owned by uid 65534"));
    } else {
        skip("foreign-owner case needs root to chown");
    }
    for (dir, why) in cases {
        for args in [&["send", "--check-id", "x", "hello"][..], &["flush"][..], &["status"][..]] {
            let mut cmd = h.command();
            cmd.args(args).env("OPENCLAW_STATE_DIR", &dir);
            let r = h.run_cmd(&mut cmd);
            assert_eq!(r.code, 2, "{} {args:?}: {}{}", dir.display(), r.stdout, r.stderr);
            assert!(r.stderr.contains(why) && r.stderr.contains("refusing state directory"), "{}", r.stderr);
        }
    }
    assert!(h.fake.requests().is_empty());
}

#[test]
fn plain_http_is_refused_except_to_loopback_and_proxies_are_honoured() {
    let h = Host::new();
    for base in ["http://api.pushover.net", "http://localhost:8080", "http://10.1.2.3", "ftp://127.0.0.1"] {
        let r = h.run(&["send", "--api-base", base, "--check-id", "x", "hello"]);
        assert_eq!(r.code, 2, "{base}: {}", r.stderr);
        assert!(r.stderr.contains("--api-base"), "{}", r.stderr);
    }
    // An https API through HTTPS_PROXY: the proxy sees a CONNECT for the API host, nothing else.
    let proxy = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = proxy.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(String::new()));
    let s = Arc::clone(&seen);
    std::thread::spawn(move || {
        if let Ok((conn, _)) = proxy.accept() {
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 && !line.ends_with("\r\n\r\n") {}
            s.lock().unwrap().push_str(&line);
            let mut conn = conn;
            let _ = conn.write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let mut cmd = h.command();
    cmd.args([
        "send",
        "--format",
        "json",
        "--api-base",
        "https://api.pushover.test",
        "--retry-within",
        "0",
        "--check-id",
        "x",
        "hello",
    ])
    .env("HTTPS_PROXY", format!("http://127.0.0.1:{port}"));
    let r = h.run_cmd(&mut cmd);
    assert_eq!((r.code, r.json()["outcome"].as_str()), (0, Some("queued")), "{}{}", r.stdout, r.stderr);
    let seen = seen.lock().unwrap().clone();
    assert!(seen.starts_with("CONNECT api.pushover.test:443 "), "{seen}");
    assert!(!seen.contains(TOKEN) && !seen.contains(USER));
}

#[test]
fn canary_keys_never_appear_in_argv_output_state_or_the_audit_log() {
    let h = Host::new();
    h.fake.watch_argv(&[TOKEN, USER]);
    let mut outputs = Vec::new();
    outputs.push(h.send("a", &["--priority", "emergency"], "one"));
    outputs.push(h.send("a", &[], "suppressed"));
    outputs.push(h.send("a", &["--resolved"], "fixed"));
    h.fake.script([Behaviour::Error { status: 400, message: "token invalid" }]);
    outputs.push(h.send("b", &[], "rejected"));
    h.fake.script([Behaviour::Error { status: 503, message: "later" }]);
    outputs.push(h.send("c", &["--retry-within", "0"], "queued"));
    outputs.push(h.run(&["flush"]));
    outputs.push(h.send("d", &["--dry-run"], "dry"));
    outputs.push(h.run(&["send", "--check-id", "e", "--dry-run", "human"]));
    outputs.push(h.run(&["status"]));
    outputs.push(h.run(&["status", "--format", "json"]));
    outputs.push(h.run(&["test"]));
    outputs.push(h.run(&["test", "--format", "json", "--dry-run"]));
    for r in &outputs {
        for k in [TOKEN, USER] {
            assert!(!r.stdout.contains(k) && !r.stderr.contains(k), "leak: {}{}", r.stdout, r.stderr);
        }
    }
    let (samples, hits) = h.fake.argv_report();
    assert!(samples >= 6, "argv was sampled during each request ({samples})");
    assert!(hits.is_empty(), "a key was in some process's argv: {hits:?}");
    let files = h.text_except(&["secrets"]);
    assert!(files.contains("notify.send"), "the audit log is among the files read");
    assert!(!files.contains(TOKEN) && !files.contains(USER), "a key leaked into state, outbox or audit log");
    assert!(!h.audit_records().is_empty());
}

#[test]
fn missing_or_malformed_keys_stop_with_exit_2_and_instructions() {
    let h = Host::new();
    std::fs::remove_file(h.path("secrets/pushover_user_key")).unwrap();
    for args in [
        &["send", "--check-id", "x", "hello"][..],
        &["send", "--check-id", "x", "--dry-run", "hello"][..],
        &["test"][..],
    ] {
        let r = h.run(args);
        assert_eq!(r.code, 2, "{args:?}");
        assert!(
            r.stderr.contains("PUSHOVER_USER_KEY is not set") && r.stderr.contains("openclaw-keyctl set"),
            "{}",
            r.stderr
        );
    }
    let bad = "short-and-not-a-key-Zq9";
    std::fs::write(h.path("secrets/pushover_user_key"), bad).unwrap();
    std::fs::set_permissions(h.path("secrets/pushover_user_key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let r = h.run(&["send", "--check-id", "x", "hello"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("not 30 letters and digits") && !r.stderr.contains(bad), "{}", r.stderr);
    // An unsafe key file is refused, not read.
    std::fs::write(h.path("secrets/pushover_user_key"), USER).unwrap();
    std::fs::set_permissions(h.path("secrets/pushover_user_key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let r = h.run(&["send", "--check-id", "x", "hello"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("refusing") && !r.stderr.contains(USER), "{}", r.stderr);
    assert!(h.fake.requests().is_empty());
    // Keys from the environment work too, and win over files (contract §3 order).
    let mut cmd = h.command();
    cmd.args(["send", "--format", "json", "--check-id", "x", "hello"])
        .env("PUSHOVER_USER_KEY", USER)
        .env("OPENCLAW_SECRETS_DIR", h.path("nonexistent"))
        .env("PUSHOVER_APP_TOKEN", TOKEN);
    let r = h.run_cmd(&mut cmd);
    assert_eq!((r.code, r.json()["outcome"].as_str()), (0, Some("sent")), "{}", r.stderr);
}

#[test]
fn bad_arguments_exit_2_before_any_request() {
    let h = Host::new();
    let long_url = format!("https://example.org/{}", "a".repeat(600));
    for args in [
        vec!["send", "--check-id", "bad id", "m"],
        vec!["send", "--check-id", "x", ""],
        vec!["send", "--check-id", "x", "--url", long_url.as_str(), "m"],
        vec!["send", "--check-id", "x", "--url-title", "t", "m"],
        vec!["send", "--check-id", "x", "--priority", "urgent", "m"],
        vec!["send", "--check-id", "x", "--window", "0", "m"],
        vec!["send", "--check-id", "x", "--retry-within", "61", "m"],
        vec!["send", "--check-id", "x", "--timeout", "16", "m"],
        vec!["send", "m"],
        vec!["bogus"],
    ] {
        let r = h.run(&args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
    }
    assert!(h.fake.requests().is_empty());
    assert_eq!(h.run(&["--help"]).code, 0);
}

#[test]
fn test_validates_the_keys_with_the_api_and_records_their_success() {
    let h = Host::new();
    let r = h.run(&["test", "--format", "json"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.json()["outcome"], "valid");
    assert_eq!(h.fake.requests()[0].path, "/1/users/validate.json");
    let last: serde_json::Value =
        serde_json::from_slice(&std::fs::read(h.path("state/keyctl/last_success.json")).unwrap()).unwrap();
    assert!(last["PUSHOVER_APP_TOKEN"]["ts"].is_string() && last["PUSHOVER_USER_KEY"]["key_id"].is_string());
    // A well-formed but wrong token is refused by the API: exit 1 with its errors.
    let wrong = "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzz";
    let mut cmd = h.command();
    cmd.args(["test"]).env("PUSHOVER_APP_TOKEN", wrong);
    let r = h.run_cmd(&mut cmd);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("application token is invalid"), "{}", r.stdout);
    // Unreachable API: could not decide.
    let r = h.run(&["test", "--api-base", "http://127.0.0.1:9"]);
    assert_eq!(r.code, 2, "{}", r.stdout);
}

#[test]
fn the_ops_wrapper_keeps_the_reference_interface_over_the_real_binary() {
    let h = Host::new();
    let wrapper = concat!(env!("CARGO_MANIFEST_DIR"), "/../ops/openclaw_notify.sh");
    let mut cmd = h.command_for("/bin/bash");
    cmd.args([
        wrapper,
        "--priority",
        "emergency",
        "--title",
        "Guard",
        "--rate-key",
        "guard_remediation_fail",
        "remediation failed",
    ])
    .env("OPENCLAW_NOTIFY_BIN", crate::support::NOTIFY);
    let r = h.run_cmd(&mut cmd);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.starts_with("sent: "), "{}", r.stdout);
    let req = h.fake.messages().pop().unwrap();
    assert_eq!((req.form["priority"].as_str(), req.form["title"].as_str()), ("2", "Guard"));
    assert_eq!(
        (req.form["retry"].as_str(), req.form["expire"].as_str()),
        ("60", "3600"),
        "the reference's emergency bug is gone"
    );
    let mut cmd = h.command_for("/bin/bash");
    cmd.args([wrapper, "--rate-key", "guard_remediation_fail", "again"])
        .env("OPENCLAW_NOTIFY_BIN", crate::support::NOTIFY);
    let r = h.run_cmd(&mut cmd);
    assert_eq!(r.code, 0);
    assert!(r.stdout.starts_with("rate-limited: "), "{}", r.stdout);
    assert_eq!(h.fake.messages().len(), 1);
}
