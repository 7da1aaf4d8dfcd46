use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::fake::{Behaviour, LIMIT};
use crate::support::{Host, TOKEN, USER, is_root, skip};

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

#[test]
fn each_priority_reaches_the_api_with_its_number_and_the_keys_only_in_the_body() {
    let h = Host::new();
    for (id, prio, num) in [
        ("p.low", "low", "-1"),
        ("p.normal", "normal", "0"),
        ("p.high", "high", "1"),
        ("p.emergency", "emergency", "2"),
    ] {
        let r = h.send(
            id,
            &["--priority", prio, "--title", "T", "--url", "https://example.org/x", "--url-title", "runbook"],
            "disk full",
        );
        assert_eq!(r.code, 0, "{prio}: {}{}", r.stdout, r.stderr);
        let j = r.json();
        assert_eq!(j["outcome"], "sent", "{j}");
        assert_eq!(j["check_id"], id);
        assert!(j["request"].as_str().unwrap().starts_with("fake-"), "{j}");
        assert_eq!(j["quota"]["limit"], LIMIT);
        let req = h.fake.messages().pop().unwrap();
        assert_eq!(req.form["priority"], num);
        assert_eq!(req.form["token"], TOKEN);
        assert_eq!(req.form["user"], USER);
        assert_eq!(req.form["message"], "disk full");
        assert_eq!(req.form["url_title"], "runbook");
        assert!(req.content_type.starts_with("application/x-www-form-urlencoded"));
        // The keys are in the body and nowhere else in the request (not the URL, not a header).
        let head = req.raw.split("\r\n\r\n").next().unwrap();
        assert!(!head.contains(TOKEN) && !head.contains(USER), "{head}");
        assert!(!req.form.contains_key("callback"), "contract §7: no callback URL");
        if prio == "emergency" {
            assert_eq!((req.form["retry"].as_str(), req.form["expire"].as_str()), ("60", "3600"));
            assert!(j["receipt"].as_str().unwrap().starts_with('r'), "{j}");
        } else {
            assert!(!req.form.contains_key("retry") && j.get("receipt").is_none());
        }
    }
    assert_eq!(h.fake.messages().len(), 4);
}

#[test]
fn emergency_fields_are_checked_before_sending_and_resolved_cancels_the_receipt() {
    let h = Host::new();
    for bad in [&["--retry", "29"][..], &["--expire", "10801"][..], &["--expire", "0"][..]] {
        let mut args = vec!["--priority", "emergency"];
        args.extend_from_slice(bad);
        let r = h.send("guard.remediation", &args, "remediation failed");
        assert_eq!(r.code, 2, "{bad:?}: {}", r.stderr);
    }
    assert!(h.fake.requests().is_empty(), "refused before any request");
    let r = h.send(
        "guard.remediation",
        &["--priority", "emergency", "--retry", "30", "--expire", "10800"],
        "remediation failed",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let receipt = r.json()["receipt"].as_str().unwrap().to_owned();
    let st = h.run(&["status", "--format", "json"]).json();
    assert_eq!(st["receipts"][0]["receipt"], receipt.as_str());

    let r = h.send("guard.remediation", &["--resolved"], "guard passes again");
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let j = r.json();
    assert_eq!(j["outcome"], "sent");
    assert!(j["cancel"].as_str().unwrap().contains("cancelled"), "{j}");
    assert_eq!(h.fake.cancelled(), vec![receipt.clone()]);
    let cancel = h.fake.requests().into_iter().find(|q| q.path.contains("/cancel.json")).unwrap();
    assert_eq!(cancel.path, format!("/1/receipts/{receipt}/cancel.json"));
    assert_eq!(cancel.form["token"], TOKEN);
    let recovery = h.fake.messages().pop().unwrap();
    assert_eq!(recovery.form["message"], "RESOLVED: guard passes again");
    assert_eq!(recovery.form["priority"], "0");
    assert!(h.run(&["status", "--format", "json"]).json()["receipts"].as_array().unwrap().is_empty());

    // A recovery is sent once; the next one has nothing to resolve.
    let r = h.send("guard.remediation", &["--resolved"], "guard passes again");
    assert_eq!((r.code, r.json()["outcome"].as_str()), (0, Some("rate_limited")));
    assert!(r.json()["detail"].as_str().unwrap().contains("nothing to resolve"));
    // And a recovery is never an emergency.
    assert_eq!(h.send("x", &["--resolved", "--priority", "emergency"], "ok").code, 2);
}

#[test]
fn one_alert_per_check_per_window_with_a_digest_and_resolved_closing_the_window() {
    let h = Host::new();
    let w = ["--window", "3"];
    assert_eq!(h.send("doctor.listeners", &w, "public port 5432").json()["outcome"], "sent");
    // A different check is not swallowed by the first one's window (the reference's bug).
    assert_eq!(h.send("doctor.sshd", &w, "password auth on").json()["outcome"], "sent");
    for n in 1..=2 {
        let r = h.send("doctor.listeners", &w, "public port 5432");
        assert_eq!(r.code, 0, "rate-limited is a success with its own outcome");
        let j = r.json();
        assert_eq!(j["outcome"], "rate_limited", "{j}");
        assert_eq!(j["suppressed_since_last"], n);
        assert!(j["window_ends"].is_string());
    }
    assert_eq!(h.fake.messages().len(), 2);
    let st = h.run(&["status", "--format", "json", "--window", "3"]).json();
    let row = st["windows"].as_array().unwrap().iter().find(|w| w["check_id"] == "doctor.listeners").unwrap().clone();
    assert_eq!((row["suppressed"].as_u64(), row["in_window"].as_bool()), (Some(2), Some(true)));

    let since = common::time_fmt::parse_rfc3339(row["suppressed_since"].as_str().unwrap()).unwrap();
    std::thread::sleep(Duration::from_millis(3200));
    let r = h.send("doctor.listeners", &w, "public port 5432");
    let j = r.json();
    assert_eq!(j["outcome"], "sent", "{j}");
    assert_eq!(j["suppressed_since_last"], 2);
    let digest =
        format!("2 further alerts for doctor.listeners suppressed since {:02}:{:02} UTC", since.hour(), since.minute());
    let msg = h.fake.messages().pop().unwrap().form["message"].clone();
    assert!(msg.starts_with("public port 5432") && msg.ends_with(&digest), "{msg}");
    // The count starts again after a delivery.
    assert_eq!(h.send("doctor.listeners", &w, "again").json()["suppressed_since_last"], 1);

    // --resolved sends one recovery and closes the window: the next failure alerts at once.
    assert_eq!(h.send("doctor.sshd", &["--resolved", "--window", "3"], "sshd fixed").json()["outcome"], "sent");
    assert_eq!(h.send("doctor.sshd", &w, "password auth on again").json()["outcome"], "sent");
    // Emergency priority is limited per check too.
    assert_eq!(h.send("guard", &["--priority", "emergency"], "down").json()["outcome"], "sent");
    assert_eq!(h.send("guard", &["--priority", "emergency"], "down").json()["outcome"], "rate_limited");
}

#[test]
fn http_429_holds_every_send_until_the_reset_and_never_retries() {
    let h = Host::new();
    let reset = now() + 3;
    h.fake.script([Behaviour::Quota { reset }]);
    let r = h.send("doctor.disk", &[], "disk 97%");
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let j = r.json();
    assert_eq!(j["outcome"], "rejected");
    let reset_text = common::time_fmt::rfc3339(time::OffsetDateTime::from_unix_timestamp(reset).unwrap());
    assert_eq!(j["hold_until"], reset_text.as_str());
    assert!(j["errors"][0].as_str().unwrap().contains(&reset_text), "{j}");
    assert_eq!(j["attempts"], 1, "a 429 is never retried");
    assert_eq!(j["quota"]["remaining"], 0);
    // Every other send is held without touching the API, emergency included.
    let r = h.send("guard", &["--priority", "emergency"], "down");
    assert_eq!((r.code, r.json()["outcome"].as_str()), (1, Some("rejected")));
    assert_eq!(h.fake.requests().len(), 1);
    assert!(
        h.path("state/notifier/outbox").read_dir().unwrap().all(|e| e.unwrap().file_type().unwrap().is_dir()),
        "held, not queued"
    );
    let st = h.run(&["status"]);
    assert_eq!(st.code, 1, "status reports the hold: {}", st.stdout);
    assert!(st.stdout.contains("USED UP") && st.stdout.contains(&reset_text), "{}", st.stdout);
    while now() <= reset {
        std::thread::sleep(Duration::from_millis(200));
    }
    let r = h.send("doctor.disk", &[], "disk 97%");
    assert_eq!((r.code, r.json()["outcome"].as_str()), (0, Some("sent")), "{}", r.stderr);
}

#[test]
fn below_five_percent_quota_non_emergency_alerts_carry_a_warning() {
    let h = Host::new();
    h.fake.set_remaining(400);
    assert_eq!(h.send("a", &[], "first").json()["outcome"], "sent");
    let r = h.send("b", &[], "second");
    assert!(r.stderr.contains("quota low"), "{}", r.stderr);
    let msg = h.fake.messages().pop().unwrap().form["message"].clone();
    assert!(msg.starts_with("second") && msg.contains("Pushover quota low: 399 of 10000 messages left"), "{msg}");
    h.send("c", &["--priority", "emergency"], "third");
    assert_eq!(h.fake.messages().pop().unwrap().form["message"], "third", "no warning on an emergency");
    let st = h.run(&["status", "--format", "json"]).json();
    assert_eq!(st["quota_low"], true);
    assert_eq!(st["quota"]["remaining"], 397);
    assert!(h.run(&["status"]).stdout.contains("WARNING: below 5%"));
}

#[test]
fn server_errors_are_retried_then_queued_and_flush_delivers_in_order() {
    let h = Host::new();
    h.fake.script([
        Behaviour::Error { status: 503, message: "try later" },
        Behaviour::Error { status: 500, message: "oops" },
    ]);
    let r = h.send("first.check", &["--retry-within", "7"], "one");
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let j = r.json();
    assert_eq!(j["outcome"], "queued", "{j}");
    assert_eq!(j["attempts"], 2);
    let reqs = h.fake.messages();
    assert_eq!(reqs.len(), 2);
    assert!(reqs[1].at - reqs[0].at >= Duration::from_secs(5), "first retry after at least 5 s");
    // A dropped connection is transient too.
    h.fake.script([Behaviour::Drop]);
    let r = h.send("second.check", &["--retry-within", "0"], "two");
    assert_eq!((r.code, r.json()["outcome"].as_str()), (0, Some("queued")));
    let st = h.run(&["status", "--format", "json"]).json();
    let ids: Vec<&str> = st["queued"].as_array().unwrap().iter().map(|q| q["check_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["first.check", "second.check"]);

    let before = h.fake.messages().len();
    let r = h.run(&["flush", "--format", "json"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let j = r.json();
    assert_eq!((j["delivered"].as_u64(), j["remaining"].as_u64()), (Some(2), Some(0)), "{j}");
    let delivered: Vec<String> = h.fake.messages()[before..].iter().map(|q| q.form["message"].clone()).collect();
    assert_eq!(delivered, ["one", "two"], "in order");
    assert!(h.run(&["status", "--format", "json"]).json()["queued"].as_array().unwrap().is_empty());
    // The queued alert opened its check's window when it was delivered.
    assert_eq!(h.send("first.check", &[], "one again").json()["outcome"], "rate_limited");

    // One record per attempt, named by a fixed action; which check and text is only in the hash.
    let records: Vec<(String, i64)> = h
        .audit_records()
        .iter()
        .map(|r| (r["action"].as_str().unwrap().to_owned(), r["exit_code"].as_i64().unwrap()))
        .collect();
    let expected: Vec<(String, i64)> = [
        ("notify.send", 1), // first.check: 503
        ("notify.send", 1), // first.check: 500
        ("notify.send", 1), // second.check: dropped
        ("notify.flush", 0),
        ("notify.flush", 0),
    ]
    .iter()
    .map(|(a, c)| ((*a).to_owned(), *c))
    .collect();
    assert_eq!(records, expected);
    let v = h.run_cmd(
        std::process::Command::new("/usr/bin/python3")
            .arg(env!("CARGO_MANIFEST_DIR").to_owned() + "/../docs/verify_audit.py")
            .arg(h.path("audit/audit.jsonl")),
    );
    assert_eq!(v.code, 0, "the independent verifier accepts the chain: {}{}", v.stdout, v.stderr);
}

#[test]
fn flush_keeps_order_when_still_failing_and_drops_superseded_entries() {
    let h = Host::new();
    h.fake.set_default(Behaviour::Error { status: 502, message: "bad gateway" });
    for (id, m) in [("a", "a1"), ("b", "b1"), ("a", "a2")] {
        assert_eq!(h.send(id, &["--retry-within", "0"], m).json()["outcome"], "queued");
    }
    let r = h.run(&["flush", "--format", "json"]);
    assert_eq!(r.code, 0);
    assert_eq!((r.json()["delivered"].as_u64(), r.json()["remaining"].as_u64()), (Some(0), Some(3)));
    h.fake.set_default(Behaviour::Normal);
    let r = h.run(&["flush", "--format", "json"]);
    let j = r.json();
    assert_eq!(
        (j["delivered"].as_u64(), j["suppressed"].as_u64(), j["remaining"].as_u64()),
        (Some(2), Some(1), Some(0)),
        "{j}"
    );
    let ok: Vec<String> = h
        .fake
        .requests()
        .iter()
        .filter(|q| q.path == "/1/messages.json")
        .rev()
        .take(2)
        .map(|q| q.form["message"].clone())
        .collect();
    assert_eq!(ok, ["b1", "a1"], "a2 fell inside a's window once a1 was delivered");
}

#[test]
fn client_errors_are_not_retried_and_are_reported() {
    let h = Host::new();
    h.fake.script([Behaviour::Error { status: 400, message: "user identifier is invalid\u{202e}" }]);
    let r = h.send("doctor.keys", &[], "hello");
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let j = r.json();
    assert_eq!(
        (j["outcome"].as_str(), j["http_status"].as_u64(), j["attempts"].as_u64()),
        (Some("rejected"), Some(400), Some(1))
    );
    assert!(j["errors"][0].as_str().unwrap().starts_with("user identifier is invalid"));
    assert_eq!(h.fake.requests().len(), 1);
    assert!(h.run(&["status", "--format", "json"]).json()["queued"].as_array().unwrap().is_empty());
    // Human output escapes the API's text (a bidi override here).
    h.fake.script([Behaviour::Error { status: 400, message: "bad\u{202e}txt" }]);
    let r = h.run(&["send", "--check-id", "other", "hello"]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("bad\\u{202e}txt") && !r.stdout.contains('\u{202e}'), "{}", r.stdout);
}

#[test]
fn a_hung_server_times_out_and_the_alert_is_queued() {
    let h = Host::new();
    h.fake.script([Behaviour::Hang(Duration::from_secs(20))]);
    let started = Instant::now();
    let r = h.send("doctor.http", &["--timeout", "2", "--retry-within", "0"], "health down");
    assert_eq!((r.code, r.json()["outcome"].as_str()), (0, Some("queued")), "{}", r.stderr);
    assert!(r.json()["detail"].as_str().unwrap().contains("timed out"), "{}", r.stdout);
    assert!(started.elapsed() < Duration::from_secs(15));
}

#[test]
fn concurrent_sends_for_one_check_deliver_exactly_one() {
    let h = Host::new();
    let children: Vec<_> = (0..6)
        .map(|_| {
            h.command()
                .args(["send", "--format", "json", "--check-id", "guard.doctor", "doctor failed"])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut outcomes: Vec<String> = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            assert_eq!(out.status.code(), Some(0));
            let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            j["outcome"].as_str().unwrap().to_owned()
        })
        .collect();
    outcomes.sort();
    assert_eq!(outcomes, ["rate_limited", "rate_limited", "rate_limited", "rate_limited", "rate_limited", "sent"]);
    assert_eq!(h.fake.messages().len(), 1);
    let st = h.run(&["status", "--format", "json"]).json();
    assert_eq!(st["windows"][0]["suppressed"], 5);
    assert!(st["queued"].as_array().unwrap().is_empty(), "every entry written first was settled: {st}");
}

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
        (h.path("link"), "symlink"),
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
    let files = h.all_state_bytes();
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
fn messages_are_cut_to_the_api_limit_with_a_marker_and_read_from_stdin() {
    let h = Host::new();
    let long = "x".repeat(3000);
    let mut cmd = h.command();
    cmd.args(["send", "--format", "json", "--check-id", "long", "--title", &"t".repeat(300), "-"])
        .stdin(std::process::Stdio::piped());
    let mut child = cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(long.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let req = h.fake.messages().pop().unwrap();
    assert_eq!(req.form["message"].chars().count(), 1024);
    assert!(req.form["message"].ends_with("… [truncated]"));
    assert_eq!(req.form["title"].chars().count(), 250);
}

#[test]
fn dry_run_sends_nothing_changes_nothing_and_says_what_would_happen() {
    let h = Host::new();
    let r = h.send("x", &["--dry-run", "--priority", "high"], "hello");
    assert_eq!(r.code, 0);
    let j = r.json();
    assert_eq!((j["outcome"].as_str(), j["would"].as_str()), (Some("dry_run"), Some("send")));
    assert_eq!(j["preview"]["priority"], "1");
    assert_eq!(j["preview"]["message"], "hello");
    assert!(j["preview"].get("token").is_none() && j["preview"].get("user").is_none());
    assert!(h.fake.requests().is_empty());
    assert_eq!(h.send("x", &[], "hello").json()["outcome"], "sent");
    let before = std::fs::read(h.path("state/notifier/state.json")).unwrap();
    // Inside the window a dry run reports the suppression without counting it.
    let j = h.send("x", &["--dry-run"], "hello").json();
    assert_eq!((j["outcome"].as_str(), j["would"].as_str()), (Some("dry_run"), Some("rate_limited")));
    assert_eq!(std::fs::read(h.path("state/notifier/state.json")).unwrap(), before);
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

#[test]
fn a_recovery_makes_older_queued_alerts_stale() {
    let h = Host::new();
    h.fake.script([Behaviour::Drop]);
    assert_eq!(h.send("doctor.disk", &["--retry-within", "0"], "disk 97%").json()["outcome"], "queued");
    // The check recovers before the outbox is flushed; it was never delivered, so nothing is announced.
    let r = h.send("doctor.disk", &["--resolved"], "disk fine");
    assert_eq!(r.json()["outcome"], "rate_limited");
    let j = h.run(&["flush", "--format", "json"]).json();
    assert_eq!(
        (j["delivered"].as_u64(), j["suppressed"].as_u64(), j["remaining"].as_u64()),
        (Some(0), Some(1), Some(0)),
        "{j}"
    );
    assert_eq!(h.fake.messages().len(), 1, "only the dropped attempt reached the API");
    // The stale alert is not counted in the next digest either.
    assert!(h.send("doctor.disk", &[], "disk 98%").json().get("suppressed_since_last").is_none());
}

#[test]
fn receipt_cancels_that_fail_are_retried_and_the_recovery_is_sent_once() {
    let h = Host::new();
    let r1 = h.send("guard", &["--priority", "emergency", "--window", "1"], "down").json()["receipt"]
        .as_str()
        .unwrap()
        .to_owned();
    std::thread::sleep(Duration::from_millis(1100));
    let r2 = h.send("guard", &["--priority", "emergency", "--window", "1"], "still down").json()["receipt"]
        .as_str()
        .unwrap()
        .to_owned();
    let st = h.run(&["status", "--format", "json"]).json();
    assert_eq!(st["receipts"].as_array().unwrap().len(), 2, "a second emergency does not forget the first: {st}");
    // The first cancel fails on the network; the second and the recovery go through.
    h.fake.script([Behaviour::Error { status: 503, message: "later" }]);
    let j = h.send("guard", &["--resolved"], "up").json();
    assert_eq!(j["outcome"], "sent", "{j}");
    assert!(j["cancel"].as_str().unwrap().contains("flush retries"), "{j}");
    assert_eq!(h.fake.cancelled(), vec![r2.clone()]);
    let messages = h.fake.messages().len();
    // Another recovery call sends nothing new and retries the cancel.
    let j = h.send("guard", &["--resolved"], "up").json();
    assert_eq!(j["outcome"], "rate_limited", "{j}");
    assert_eq!(h.fake.messages().len(), messages, "the recovery is sent once");
    assert_eq!(h.fake.cancelled(), vec![r2, r1]);
    assert!(h.run(&["status", "--format", "json"]).json()["receipts"].as_array().unwrap().is_empty());
}

#[test]
fn flush_retries_a_failed_cancel() {
    let h = Host::new();
    let r1 = h.send("guard", &["--priority", "emergency"], "down").json()["receipt"].as_str().unwrap().to_owned();
    h.fake.script([Behaviour::Drop]);
    let j = h.send("guard", &["--resolved"], "up").json();
    assert!(j["cancel"].as_str().unwrap().contains("flush retries"), "{j}");
    assert_eq!(h.run(&["status", "--format", "json"]).json()["receipts"][0]["cancel_pending"], true);
    let r = h.run(&["flush", "--format", "json"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.json()["receipts_cancelled"], 1);
    assert_eq!(h.fake.cancelled(), vec![r1]);
}

#[test]
fn a_bad_outbox_entry_is_set_aside_and_never_blocks_the_queue() {
    let h = Host::new();
    h.fake.script([Behaviour::Drop]);
    assert_eq!(h.send("a", &["--retry-within", "0"], "queued one").json()["outcome"], "queued");
    let outbox = h.path("state/notifier/outbox");
    std::fs::write(outbox.join("00000000000000000001-000000000-1.json"), b"{not json").unwrap();
    std::fs::write(outbox.join("00000000000000000002-000000000-1.json"), vec![b' '; 5 * 1024 * 1024]).unwrap();
    let st = h.run(&["status", "--format", "json"]);
    assert_eq!(st.code, 0);
    assert!(st.stderr.contains("moved to outbox/rejected/"), "{}", st.stderr);
    let r = h.run(&["flush", "--format", "json"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.json()["delivered"], 1);
    assert_eq!(h.run(&["status", "--format", "json"]).json()["rejected_in_outbox"], 2);
    // A huge message is stored at the API's length, so an entry cannot outgrow the limit.
    h.fake.script([Behaviour::Drop]);
    let mut cmd = h.command();
    cmd.args(["send", "--format", "json", "--retry-within", "0", "--check-id", "big", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(&vec![0x01u8; 1024 * 1024]).unwrap();
    let out = child.wait_with_output().unwrap();
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["outcome"], "queued");
    assert!(std::fs::metadata(j["outbox"].as_str().unwrap()).unwrap().len() < 16 * 1024);
}

#[test]
fn a_far_future_429_reset_is_clamped_to_the_monthly_reset() {
    let h = Host::new();
    h.fake.script([Behaviour::Quota { reset: now() + 10 * 365 * 86_400 }]);
    let r = h.send("x", &[], "m");
    assert_eq!(r.code, 1);
    let hold = common::time_fmt::parse_rfc3339(r.json()["hold_until"].as_str().unwrap()).unwrap().unix_timestamp();
    assert!(hold <= now() + 33 * 86_400, "held until {hold}");
    assert!(r.stderr.contains("past any monthly reset"), "{}", r.stderr);
}

#[test]
fn a_failure_raised_after_a_queued_recovery_is_still_delivered() {
    let h = Host::new();
    let w = ["--window", "1"];
    assert_eq!(h.send("x", &w, "down").json()["outcome"], "sent");
    h.fake.script([Behaviour::Drop]);
    assert_eq!(h.send("x", &["--resolved", "--retry-within", "0"], "up").json()["outcome"], "queued");
    std::thread::sleep(Duration::from_millis(1100));
    h.fake.script([Behaviour::Drop]);
    assert_eq!(h.send("x", &["--window", "1", "--retry-within", "0"], "down again").json()["outcome"], "queued");
    let j = h.run(&["flush", "--format", "json", "--window", "1"]).json();
    assert_eq!((j["delivered"].as_u64(), j["suppressed"].as_u64()), (Some(2), Some(0)), "{j}");
    let last: Vec<String> = h.fake.messages().iter().rev().take(2).map(|q| q.form["message"].clone()).collect();
    assert_eq!(last, ["down again", "RESOLVED: up"]);
}
