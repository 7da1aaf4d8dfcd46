//! What `send` reports for each outcome, and the `status` those sends leave
//! behind, pinned as insta snapshots (`snapshots/`) in JSON and human form,
//! against the fake Pushover: sent, rate-limited, queued (a 5xx), rejected (a
//! 4xx with `errors[]`) and dry run. The temp dir, the fake's address, times,
//! request ids, outbox file names and the version are checked for shape, then
//! redacted; every other field and word must match the committed snapshot.

use crate::fake::Behaviour;
use crate::support::{Host, Run, now, redact};

/// `send --format json`'s report, redacted.
macro_rules! assert_report_snapshot {
    ($name:expr, $host:expr, $run:expr) => {
        insta::assert_json_snapshot!($name, $host.scrubbed_json(&$run), {
            ".tool_version" => redact::version(),
            ".request" => redact::request(),
            ".outbox" => redact::outbox_entry("[TMP]/state/notifier/outbox/"),
            ".preview.timestamp" => redact::unix_time(),
        })
    };
}

/// `send` in the human format (stdout is not a terminal, and NO_COLOR is set).
fn send_human(h: &Host, id: &str, extra: &[&str], message: &str) -> Run {
    let mut args = vec!["send", "--check-id", id];
    args.extend_from_slice(extra);
    args.push(message);
    let run = h.run_cmd(h.command().env("NO_COLOR", "1").args(&args));
    assert!(!run.stdout.contains('\u{1b}'), "{:?}", run.stdout);
    run
}

/// Asserts the exit code, the JSON outcome and a quiet stderr.
fn expect(json: &Run, human: &Run, code: i32, outcome: &str) {
    for run in [json, human] {
        assert_eq!(run.code, code, "{}{}", run.stdout, run.stderr);
        assert_eq!(run.stderr, "", "{}", run.stdout);
    }
    assert_eq!(json.json()["outcome"], outcome, "{}", json.stdout);
    assert!(human.stdout.starts_with(&format!("{}: ", outcome.replace('_', "-"))), "{}", human.stdout);
}

fn dry_run(h: &Host) -> (Run, Run) {
    let before = h.fake.requests().len();
    let extra =
        ["--dry-run", "--priority", "high", "--url", "https://example.org/runbooks/disk", "--url-title", "runbook"];
    let json = h.send("doctor.disk", &extra, "/var is 97% full");
    let human = send_human(h, "doctor.disk", &extra, "/var is 97% full");
    expect(&json, &human, 0, "dry_run");
    assert_eq!(h.fake.requests().len(), before, "a dry run sends nothing");
    (json, human)
}

fn sent(h: &Host) -> (Run, Run) {
    let json = h.send("doctor.listeners", &[], "0.0.0.0:5432 is public");
    let human = send_human(h, "doctor.sshd", &[], "PasswordAuthentication yes");
    expect(&json, &human, 0, "sent");
    (json, human)
}

/// After [`sent`]: the same checks again, inside their windows.
fn rate_limited(h: &Host) -> (Run, Run) {
    let before = h.fake.requests().len();
    let json = h.send("doctor.listeners", &[], "0.0.0.0:5432 is public");
    let human = send_human(h, "doctor.sshd", &[], "PasswordAuthentication yes");
    expect(&json, &human, 0, "rate_limited");
    assert_eq!(h.fake.requests().len(), before, "suppressed without a request");
    (json, human)
}

fn queued(h: &Host) -> (Run, Run) {
    let unavailable = Behaviour::Error { status: 503, message: "service unavailable" };
    h.fake.script([unavailable.clone()]);
    let json = h.send("doctor.http-health", &["--retry-within", "0"], "GET /healthz failed");
    h.fake.script([unavailable]);
    let human = send_human(h, "doctor.docker-health", &["--retry-within", "0"], "openclaw-api-1 unhealthy");
    expect(&json, &human, 0, "queued");
    (json, human)
}

fn rejected(h: &Host) -> (Run, Run) {
    let invalid = Behaviour::Error { status: 400, message: "user identifier is invalid" };
    h.fake.script([invalid.clone()]);
    let json = h.send("doctor.keys", &[], "PUSHOVER_USER_KEY missing");
    h.fake.script([invalid]);
    let human = send_human(h, "doctor.firewall", &[], "ufw inactive");
    expect(&json, &human, 1, "rejected");
    (json, human)
}

#[test]
fn send_dry_run() {
    let h = Host::new();
    let (json, human) = dry_run(&h);
    assert_report_snapshot!("dry_run_json", h, json);
    // The preview's `timestamp` (Unix seconds, sent so Pushover shows when it happened).
    let text: String = h
        .scrub(&human.stdout)
        .lines()
        .map(|l| match l.strip_prefix("  timestamp: ") {
            Some(secs) => {
                assert!((secs.parse::<i64>().unwrap() - now()).abs() < 60, "{l}");
                "  timestamp: [unix time]\n".to_owned()
            }
            None => format!("{l}\n"),
        })
        .collect();
    insta::assert_snapshot!("dry_run_human", text);
}

#[test]
fn send_sent() {
    let h = Host::new();
    let (json, human) = sent(&h);
    assert_report_snapshot!("sent_json", h, json);
    insta::assert_snapshot!("sent_human", h.scrub(&human.stdout));
}

#[test]
fn send_rate_limited() {
    let h = Host::new();
    sent(&h);
    let (json, human) = rate_limited(&h);
    assert_report_snapshot!("rate_limited_json", h, json);
    insta::assert_snapshot!("rate_limited_human", h.scrub(&human.stdout));
}

#[test]
fn send_queued() {
    let h = Host::new();
    let (json, human) = queued(&h);
    assert_report_snapshot!("queued_json", h, json);
    insta::assert_snapshot!("queued_human", h.scrub(&human.stdout));
}

#[test]
fn send_rejected() {
    let h = Host::new();
    let (json, human) = rejected(&h);
    assert_report_snapshot!("rejected_json", h, json);
    insta::assert_snapshot!("rejected_human", h.scrub(&human.stdout));
}

#[test]
fn status_after_every_outcome() {
    let h = Host::new();
    dry_run(&h);
    sent(&h);
    rate_limited(&h);
    queued(&h);
    rejected(&h);
    let run = h.run(&["status", "--format", "json"]);
    assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{}", run.stdout);
    insta::assert_json_snapshot!("status_json", h.scrubbed_json(&run), {
        ".tool_version" => redact::version(),
        ".queued[].file" => redact::outbox_entry(""),
    });
}
