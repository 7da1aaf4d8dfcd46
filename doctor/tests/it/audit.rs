//! `verify-audit` and the `audit-log` check use the shared audit log.

use common::audit::{AuditLog, Entry};

use crate::support::{Host, status};

fn log_with(host: &Host, n: usize) -> AuditLog {
    let log = AuditLog::new(host.path("audit/audit.jsonl"), host.path("audit/audit.jsonl.checkpoint"));
    for i in 0..n {
        let params = serde_json::json!({ "i": i });
        log.append(&Entry { tool: "it", actor: "root", action: "x", params: &params, exit_code: 0, duration_ms: 1 })
            .unwrap();
    }
    log
}

#[test]
fn verify_audit_intact_tampered_truncated_unreadable() {
    let host = Host::new();
    let log = log_with(&host, 4);
    let run = host.run(&["verify-audit"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("4 records, INTACT"), "{}", run.stdout);

    let exported = log.read_checkpoint().unwrap().unwrap().to_line();
    let text = std::fs::read_to_string(log.path()).unwrap();
    std::fs::write(log.path(), text.lines().take(2).map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    std::fs::remove_file(log.checkpoint_path()).unwrap();
    let run = host.run(&["verify-audit", "--checkpoint-line", &exported, "--format", "json"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let v = run.json();
    assert_eq!(v["intact"], false);
    let kinds: Vec<&str> = v["problems"].as_array().unwrap().iter().map(|p| p["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"truncated") && kinds.contains(&"checkpoint-missing"), "{kinds:?}");

    std::fs::write(log.path(), text.replacen("\"exit_code\":0", "\"exit_code\":5", 1)).unwrap();
    let run = host.run(&["verify-audit", "--log", log.path().to_str().unwrap(), "--checkpoint", "/nonexistent"]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("modified (hash mismatch)"), "{}", run.stdout);

    let dir = host.path("a-directory");
    std::fs::create_dir(&dir).unwrap();
    let run = host.run(&["verify-audit", "--log", dir.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(host.run(&["verify-audit", "--checkpoint-line", "garbage"]).code, 2);
}

#[test]
fn audit_log_check_passes_intact_and_fails_tampered() {
    let host = Host::new();
    let log = log_with(&host, 3);
    let (_, check) = host.check("audit-log");
    assert_eq!(status(&check), "pass", "{check}");
    assert_eq!(check["details"]["records"], 3);
    let text = std::fs::read_to_string(log.path()).unwrap();
    std::fs::write(log.path(), format!("{text}{{\"torn")).unwrap();
    let (run, check) = host.check("audit-log");
    assert_eq!((status(&check), run.code), ("fail", 1));
    assert!(check["summary"].as_str().unwrap().contains("torn final line"), "{check}");
}
