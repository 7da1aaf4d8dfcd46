//! `verify-audit` and the `audit-log` check use the shared audit log.

use std::os::unix::fs::PermissionsExt;

use common::audit::{AuditLog, Entry};

use crate::support::{Host, status};

pub(crate) fn log_with(host: &Host, n: usize) -> AuditLog {
    let log = AuditLog::new(host.path("audit/audit.jsonl"), host.path("audit/audit.jsonl.checkpoint"));
    for i in 0..n {
        let params = serde_json::json!({ "i": i });
        log.append(&Entry {
            tool: "it",
            actor: "root",
            action: "test.append",
            params: &params,
            exit_code: 0,
            duration_ms: 1,
        })
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

fn entry(params: &serde_json::Value) -> Entry<'_> {
    Entry { tool: "it", actor: "root", action: "it.append", params, exit_code: 0, duration_ms: 1 }
}

#[test]
fn audit_recover_repairs_a_torn_tail_and_the_log_verifies() {
    let host = Host::new();
    let log = log_with(&host, 3);
    let text = std::fs::read_to_string(log.path()).unwrap();
    let torn = "{\"action\":\"key.set\",\"actor\":\"ro";
    std::fs::write(log.path(), format!("{text}{torn}")).unwrap();
    // (The next append would cut it itself: common::audit's tests. The
    // operator's command does the same, before any append comes.)
    let run = host.run(&["audit-recover", "--format", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let v = run.json();
    assert_eq!(v["outcome"], "repaired");
    assert_eq!(v["truncated_bytes"], torn.len());
    assert_eq!(v["torn_sha256"], common::hash::sha256_hex(torn.as_bytes()));
    // The record's params_hash is the hash of exactly these parameters.
    let params = serde_json::json!({"truncated_bytes": torn.len(), "torn_sha256": v["torn_sha256"], "checkpoint_rebuilt": false});
    assert_eq!(v["record"]["params_hash"], common::audit::params_hash(&params));

    log.append(&entry(&serde_json::json!({"after": true}))).unwrap();
    let run = host.run(&["verify-audit"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(run.stdout.contains("5 records, INTACT"), "{}", run.stdout);
    let last = std::fs::read_to_string(log.path()).unwrap();
    assert!(last.lines().nth(3).unwrap().contains("\"action\":\"audit.recover\""));

    let again = host.run(&["audit-recover"]);
    assert_eq!(again.code, 0);
    assert!(again.stdout.contains("nothing to recover"), "{}", again.stdout);
}

#[test]
fn audit_recover_refuses_a_tampered_log_and_changes_nothing() {
    let host = Host::new();
    let log = log_with(&host, 3);
    let text = std::fs::read_to_string(log.path()).unwrap();
    let tampered = format!("{}{{\"torn", text.replacen("\"exit_code\":0", "\"exit_code\":7", 1));
    std::fs::write(log.path(), &tampered).unwrap();
    let checkpoint = std::fs::read(log.checkpoint_path()).unwrap();
    let run = host.run(&["audit-recover", "--log", log.path().to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("refused: the log is tampered"), "{}", run.stdout);
    assert_eq!(std::fs::read_to_string(log.path()).unwrap(), tampered, "not a byte changed");
    assert_eq!(std::fs::read(log.checkpoint_path()).unwrap(), checkpoint);
    let missing = host.run(&["audit-recover", "--log", host.path("nope.jsonl").to_str().unwrap()]);
    assert_eq!(missing.code, 2, "{}", missing.stderr);
}

#[test]
fn verify_audit_on_a_missing_log_is_exit_2_not_intact() {
    let host = Host::new();
    let run = host.run(&["verify-audit"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(!run.stdout.contains("INTACT"));
    assert!(run.stderr.contains("no audit log at"), "{}", run.stderr);
}

#[test]
fn deleting_the_log_and_its_checkpoint_after_a_run_fails_the_audit_log_check() {
    let host = Host::new();
    let log = log_with(&host, 3);
    let run = host.run(&["--only", "audit-log", "--format", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    std::fs::remove_file(log.path()).unwrap();
    std::fs::remove_file(log.checkpoint_path()).unwrap();
    let run = host.run(&["--only", "audit-log", "--format", "json"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let check = &run.json()["checks"][0];
    assert_eq!(status(check), "fail", "{check}");
    assert!(check["summary"].as_str().unwrap().contains("checkpoint reached seq 3"), "{check}");
    // Without any earlier report, an empty host is simply new.
    let fresh = Host::new();
    assert_eq!(status(&fresh.check("audit-log").1), "pass");
}

#[test]
fn the_remembered_head_never_expires_and_an_unsafe_memory_fails() {
    let host = Host::new();
    let log = log_with(&host, 2);
    assert_eq!(host.run(&["--only", "audit-log"]).code, 0);
    std::fs::remove_file(log.path()).unwrap();
    std::fs::remove_file(log.checkpoint_path()).unwrap();
    // Failing runs and runs of other checks used to push the head out of a
    // 50-report window; now it is kept apart and only ever moves forward.
    for _ in 0..55 {
        assert_eq!(host.run(&["--only", "disk", "--only", "audit-log"]).code, 1);
    }
    let run = host.run(&["--only", "audit-log", "--format", "json"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.json()["checks"][0]["summary"].as_str().unwrap().contains("checkpoint reached seq 2"));
    // Pruning old reports (the disk check's advice) loses nothing.
    for e in std::fs::read_dir(host.path("artifacts/doctor")).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            std::fs::remove_dir_all(p).unwrap();
        }
    }
    assert_eq!(host.run(&["--only", "audit-log"]).code, 1);
    // A memory others could rewrite is not believed, and says so.
    std::fs::set_permissions(host.path("artifacts/doctor"), std::fs::Permissions::from_mode(0o770)).unwrap();
    let (_, check) = host.check("audit-log");
    assert_eq!(status(&check), "fail", "{check}");
    assert!(check["summary"].as_str().unwrap().contains("cannot be trusted"), "{check}");
}

#[test]
fn a_log_cut_back_with_its_checkpoint_is_refused_by_recover_and_verify() {
    let host = Host::new();
    let log = log_with(&host, 3);
    assert_eq!(host.run(&["--only", "audit-log"]).code, 0, "remember seq 3");
    let text = std::fs::read_to_string(log.path()).unwrap();
    let cut: String = text.lines().take(2).map(|l| format!("{l}\n")).collect();
    std::fs::write(log.path(), &cut).unwrap();
    std::fs::remove_file(log.checkpoint_path()).unwrap();
    let run = host.run(&["audit-recover"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert_eq!(std::fs::read_to_string(log.path()).unwrap(), cut, "nothing changed");
    assert!(!log.checkpoint_path().exists(), "no checkpoint was made up");
    let verify = host.run(&["verify-audit"]);
    assert_eq!(verify.code, 1, "{}", verify.stdout);
}

#[test]
fn a_missing_checkpoint_is_rebuilt_only_against_an_exported_one() {
    let host = Host::new();
    let log = log_with(&host, 2);
    let exported = log.read_checkpoint().unwrap().unwrap().to_line();
    std::fs::remove_file(log.checkpoint_path()).unwrap();
    let alone = host.run(&["audit-recover", "--no-artifacts"]);
    assert_eq!(alone.code, 1, "{}", alone.stdout);
    // The doctor's remembered head constrains but does not vouch for what follows it.
    assert_eq!(host.run(&["--only", "audit-log"]).code, 1, "the log without a checkpoint fails the check");
    let run = host.run(&["audit-recover", "--checkpoint-line", &exported, "--format", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(run.json()["checkpoint_rebuilt"], true);
    assert_eq!(host.run(&["verify-audit"]).code, 0);
}

#[test]
fn the_remembered_head_does_not_vouch_for_records_after_it() {
    let host = Host::new();
    let log = log_with(&host, 2);
    assert_eq!(host.run(&["--only", "audit-log"]).code, 0, "remember seq 2");
    for i in 0..2 {
        let params = serde_json::json!({ "later": i });
        log.append(&entry(&params)).unwrap();
    }
    // Cut record 4 and the checkpoint: the log still reaches the remembered seq 2.
    let text = std::fs::read_to_string(log.path()).unwrap();
    let cut: String = text.lines().take(3).map(|l| format!("{l}\n")).collect();
    std::fs::write(log.path(), &cut).unwrap();
    std::fs::remove_file(log.checkpoint_path()).unwrap();
    let run = host.run(&["audit-recover"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("checkpoint file is missing"), "{}", run.stdout);
    assert_eq!(std::fs::read_to_string(log.path()).unwrap(), cut);
    assert!(!log.checkpoint_path().exists());
}

/// Issue 30: a checkpoint that could not be rewritten lags behind the head;
/// appends still work, so the check warns that it protects less.
#[test]
fn a_lagging_checkpoint_is_a_warning() {
    let host = Host::new();
    let log = log_with(&host, 3);
    let text = std::fs::read_to_string(log.path()).unwrap();
    let second: serde_json::Value = serde_json::from_str(text.lines().nth(1).unwrap()).unwrap();
    let line = format!(
        "openclaw-audit-checkpoint/v1 seq=2 hash={} ts={}\n",
        second["hash"].as_str().unwrap(),
        second["ts"].as_str().unwrap()
    );
    std::fs::write(log.checkpoint_path(), line).unwrap();
    let (_, check) = host.check("audit-log");
    assert_eq!(check["status"], "warn", "{check}");
    assert!(check["summary"].as_str().unwrap().contains("checkpoint lags at seq 2"), "{check}");
}
