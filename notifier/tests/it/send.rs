//! `send` against the fake Pushover: priorities and their fields, the
//! per-check window and digest, the 429 hold, the low-quota line, 4xx and
//! hung servers, concurrent senders, message limits and dry runs.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::fake::{Behaviour, LIMIT};
use crate::support::{Host, TOKEN, USER, now};

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
