//! The outbox is written before the first attempt: a sender killed in the
//! middle of its retries loses nothing, `flush` delivers its alert exactly
//! once, and never while the sender is still alive and retrying.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::fake::Behaviour;
use crate::support::Host;

/// Waits until the fake has seen `n` message requests (panics after 30 s).
fn wait_for_messages(h: &Host, n: usize) {
    let started = Instant::now();
    while h.fake.messages().len() < n {
        assert!(started.elapsed() < Duration::from_secs(30), "the sender never reached the API");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn texts(h: &Host, from: usize) -> Vec<String> {
    h.fake.messages()[from..].iter().map(|q| q.form["message"].clone()).collect()
}

#[test]
fn a_sender_killed_mid_retry_loses_nothing_and_flush_delivers_it_exactly_once() {
    let h = Host::new();
    h.fake.set_default(Behaviour::Error { status: 503, message: "try later" });
    let mut child = h
        .command()
        .args(["send", "--format", "json", "--check-id", "doctor.killed", "--retry-within", "60", "killed mid retry"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_messages(&h, 1);
    // The first attempt got its 503; the sender now sleeps before its retry.
    std::thread::sleep(Duration::from_millis(500));
    child.kill().unwrap(); // SIGKILL: no destructor, no handler runs.
    let status = child.wait().unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9));
    assert_eq!(h.fake.messages().len(), 1, "killed before its retry");

    h.fake.set_default(Behaviour::Normal);
    let r = h.run(&["flush", "--format", "json"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let j = r.json();
    assert_eq!((j["delivered"].as_u64(), j["remaining"].as_u64()), (Some(1), Some(0)), "{j}");
    assert_eq!(texts(&h, 1), ["killed mid retry"], "delivered by flush, once");

    // Exactly once: a second flush has nothing left, and the window is open.
    let j = h.run(&["flush", "--format", "json"]).json();
    assert_eq!((j["delivered"].as_u64(), j["remaining"].as_u64()), (Some(0), Some(0)), "{j}");
    assert_eq!(h.fake.messages().len(), 2);
    assert_eq!(h.send("doctor.killed", &[], "killed mid retry").json()["outcome"], "rate_limited");
    assert!(h.run(&["status", "--format", "json"]).json()["queued"].as_array().unwrap().is_empty());
}

#[test]
fn flush_leaves_an_entry_alone_while_its_sender_is_still_retrying() {
    let h = Host::new();
    h.fake.set_default(Behaviour::Error { status: 503, message: "try later" });
    let child = h
        .command()
        .args(["send", "--format", "json", "--check-id", "doctor.alive", "--retry-within", "60", "still retrying"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_messages(&h, 1);
    let st = h.run(&["status", "--format", "json"]).json();
    let queued: Vec<&str> = st["queued"].as_array().unwrap().iter().map(|q| q["check_id"].as_str().unwrap()).collect();
    assert_eq!(queued, ["doctor.alive"], "in the outbox before the first attempt's answer: {st}");
    // The sender waits 5 s before its retry; a flush now must not send its alert.
    let r = h.run(&["flush", "--format", "json"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let j = r.json();
    assert_eq!(
        (j["delivered"].as_u64(), j["in_flight"].as_u64(), j["remaining"].as_u64()),
        (Some(0), Some(1), Some(1)),
        "{j}"
    );
    assert_eq!(h.fake.messages().len(), 1, "flush never touched an entry a live sender owns");

    h.fake.set_default(Behaviour::Normal);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((j["outcome"].as_str(), j["attempts"].as_u64()), (Some("sent"), Some(2)), "{j}");
    assert!(j.get("outbox").is_none(), "a delivered alert is not reported as queued: {j}");
    let j = h.run(&["flush", "--format", "json"]).json();
    assert_eq!((j["delivered"].as_u64(), j["remaining"].as_u64()), (Some(0), Some(0)), "{j}");
    assert_eq!(texts(&h, 0), ["still retrying", "still retrying"], "one failed attempt, one delivery");
}

#[test]
fn a_broken_audit_log_fails_the_send_after_its_entry_is_settled() {
    let h = Host::new();
    // A directory where the log should be: every append fails.
    std::fs::create_dir_all(h.path("audit/audit.jsonl")).unwrap();
    let r = h.send("doctor.audit", &[], "audit broken");
    assert_eq!(r.code, 2, "an audit failure fails the action: {}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("audit log") && r.stderr.contains("[outcome: sent]"), "{}", r.stderr);
    assert_eq!(h.fake.messages().len(), 1);
    // The delivery was saved and its entry removed before the error: nothing is left to send again.
    std::fs::remove_dir(h.path("audit/audit.jsonl")).unwrap();
    let j = h.run(&["flush", "--format", "json"]).json();
    assert_eq!(
        (j["delivered"].as_u64(), j["suppressed"].as_u64(), j["remaining"].as_u64()),
        (Some(0), Some(0), Some(0)),
        "{j}"
    );
    assert_eq!(h.fake.messages().len(), 1);
    assert_eq!(h.send("doctor.audit", &[], "audit broken").json()["outcome"], "rate_limited");
}
