//! The notifier under faults: a sender that dies with its request
//! in flight, and a real full disk (a small tmpfs in a private mount
//! namespace). Delivery is at-least-once (Pushover has no idempotency key);
//! what is checked is that a resend is visible and that nothing is left
//! behind.

use std::process::Stdio;
use std::time::{Duration, Instant};

use test_support::disk::{fill, small_disk};

use crate::fake::Behaviour;
use crate::support::Host;

fn lock_files(h: &Host) -> Vec<String> {
    std::fs::read_dir(h.path("state/notifier/locks"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("outbox-"))
                .collect()
        })
        .unwrap_or_default()
}

/// Finding 7: the sender dies while Pushover holds its request (which it
/// may have accepted); `flush` sends the alert again, and `openclaw-notify
/// log` shows the first attempt without an answer and the second as a resend.
#[test]
fn a_sender_that_dies_in_flight_is_resent_by_flush_and_the_log_says_so() {
    let h = Host::new();
    h.fake.script([Behaviour::Hang(Duration::from_secs(5))]);
    let mut child = h
        .command()
        .args(["send", "--format", "json", "--check-id", "doctor.inflight", "in flight"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while h.fake.messages().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(30), "the sender never reached the API");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let r = h.run(&["flush", "--format", "json"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.json()["delivered"], 1, "{}", r.stdout);
    assert_eq!(h.fake.messages().len(), 2, "at-least-once: the request in flight, then the resend");
    let log = h.run(&["log", "--format", "json"]);
    assert_eq!(log.code, 0, "{}", log.stderr);
    let attempts = log.json()["attempts"].as_array().unwrap().clone();
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert_eq!((attempts[0]["mode"].as_str(), attempts[0]["outcome"].as_str()), (Some("send"), Some("unknown")));
    assert_eq!(attempts[0]["resend"], false);
    assert_eq!((attempts[1]["mode"].as_str(), attempts[1]["outcome"].as_str()), (Some("flush"), Some("accepted")));
    assert_eq!(attempts[1]["resend"], true, "{attempts:?}");
    assert_eq!(attempts[0]["entry"], attempts[1]["entry"]);
    let human = h.run(&["log"]);
    assert!(human.stdout.contains("may have arrived twice"), "{}", human.stdout);
    assert!(lock_files(&h).is_empty(), "{:?}", lock_files(&h));
}

/// Finding 8: a send that fails on a full disk leaves no
/// `locks/outbox-*.lock`, and the next send after space returns works.
#[test]
fn a_send_that_fails_on_a_full_disk_leaves_no_lock_file() {
    let Some(disk) = small_disk("faults::a_send_that_fails_on_a_full_disk_leaves_no_lock_file", "2m") else { return };
    let h = Host::new_in(&disk);
    assert_eq!(h.send("doctor.first", &[], "first").code, 0);
    let filler = fill(&disk, "filler");
    for pages in 0..3u64 {
        let f = std::fs::OpenOptions::new().write(true).open(&filler).unwrap();
        f.set_len(std::fs::metadata(&filler).unwrap().len().saturating_sub(pages * 4096)).unwrap();
        let r = h.send(&format!("doctor.full{pages}"), &[], "on a full disk");
        assert!(r.code == 0 || r.code == 2, "{}{}", r.stdout, r.stderr);
        assert!(lock_files(&h).is_empty(), "{pages} pages: {:?}", lock_files(&h));
    }
    std::fs::remove_file(filler).unwrap();
    let r = h.send("doctor.after", &[], "after");
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(lock_files(&h).is_empty());
}
