//! `review --engine openai` against a fake Responses API on loopback that
//! speaks the documented interface (`POST /v1/responses`, a bearer key, a
//! strict json_schema text format; a `completed` response whose message
//! holds `output_text`). The key is a canary.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use crate::support::{GATE, Lab};

const KEY: &str = "sk-canary-0123456789abcdefOPENAI";
const GOOD: &str = r#"{"findings":[],"overall_correctness":"patch is correct","overall_explanation":"Fine.","overall_confidence_score":0.9}"#;

struct Fake {
    url: String,
    seen: Arc<Mutex<Vec<(String, String)>>>,
}

/// Serves `replies` (status, output_text or raw body) in order, then 500s.
fn fake(replies: Vec<(u16, String)>) -> Fake {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    std::thread::spawn(move || {
        let mut replies = replies.into_iter();
        for conn in l.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut r = BufReader::new(conn.try_clone().unwrap());
            let (mut auth, mut len, mut line) = (String::new(), 0usize, String::new());
            r.read_line(&mut line).unwrap();
            let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
            loop {
                line.clear();
                r.read_line(&mut line).unwrap();
                let l = line.trim_end();
                if l.is_empty() {
                    break;
                }
                if let Some((k, v)) = l.split_once(':') {
                    match k.to_ascii_lowercase().as_str() {
                        "authorization" => auth = v.trim().to_owned(),
                        "content-length" => len = v.trim().parse().unwrap(),
                        _ => {}
                    }
                }
            }
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            seen2.lock().unwrap().push((auth, format!("{path} {}", String::from_utf8_lossy(&body))));
            let (status, text) = replies.next().unwrap_or((500, String::new()));
            let payload = if status == 200 {
                serde_json::json!({"status": "completed", "output": [{"type": "message", "content": [
                    {"type": "output_text", "text": text}]}]})
                .to_string()
            } else {
                r#"{"error":{"message":"server error"}}"#.to_owned()
            };
            let _ = write!(
                conn,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
                payload.len()
            );
        }
    });
    Fake { url, seen }
}

fn review(lab: &Lab, api: &str, extra_env: &[(&str, &str)]) -> test_support::Run {
    let mut cmd = lab.host.command(GATE);
    let genesis = lab.git(&["rev-parse", "HEAD~1"]);
    let key = std::fs::read_to_string(lab.host.path("reviewer")).unwrap();
    cmd.current_dir(&lab.repo)
        .env("OPENCLAW_REVIEW_GENESIS", genesis)
        .env("OPENCLAW_REVIEW_SIGNING_KEY", key)
        .env("OPENCLAW_ALLOWED_SIGNERS", lab.host.path("allowed_signers"))
        .env("OPENAI_API_KEY", KEY)
        .envs(extra_env.iter().copied())
        .args(["review", "--engine", "openai", "--api-base", api]);
    lab.host.write_config("[reviewgate]\nreview_attempts = 2\n");
    test_support::run_watched(&mut cmd, "", KEY)
}

#[test]
fn a_good_answer_approves_and_the_key_travels_only_in_the_header() {
    let lab = Lab::new();
    lab.change("app.py", "print('openai')\n");
    let f = fake(vec![(200, GOOD.to_owned())]);
    let r = review(&lab, &f.url, &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.starts_with("APPROVED "), "{r:?}");
    let seen = f.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].0, format!("Bearer {KEY}"));
    assert!(seen[0].1.starts_with("/v1/responses ") && seen[0].1.contains(r#""type":"json_schema""#), "{}", seen[0].1);
    assert!(seen[0].1.contains(r#""strict":true"#) && seen[0].1.contains("print('openai')"));
    assert!(!seen[0].1.contains(KEY), "the key is not in the body");
    r.assert_no_leak(KEY, "review --engine openai");
    lab.host.assert_not_persisted(KEY, &[]);
    assert_eq!(lab.verify("HEAD", &[]).code, 1, "approved but not committed: HEAD has no verdict yet");
}

#[test]
fn prose_server_errors_and_plain_http_elsewhere_never_approve() {
    let lab = Lab::new();
    lab.change("app.py", "x\n");
    let f = fake(vec![(200, format!("Sure! {GOOD}")), (200, format!("Sure! {GOOD}"))]);
    let r = review(&lab, &f.url, &[]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stdout.contains("not exactly one JSON document"), "{r:?}");
    assert_eq!(f.seen.lock().unwrap().len(), 2, "retried once (review_attempts = 2)");
    let f = fake(vec![]);
    let r = review(&lab, &f.url, &[]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stdout.contains("HTTP 500"), "{r:?}");
    let r = review(&lab, "http://api.openai.com", &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("plain http is accepted only for a loopback IP"), "{r:?}");
}
