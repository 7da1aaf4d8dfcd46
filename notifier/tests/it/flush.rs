//! The outbox and `flush`: transient failures queued and delivered in
//! order, stale and superseded entries, receipt cancels retried, bad
//! entries set aside.

use std::io::Write;
use std::time::Duration;

use crate::fake::Behaviour;
use crate::support::Host;

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
