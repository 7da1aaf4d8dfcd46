//! The audit log under real concurrency, checked by our verifier and by the
//! third-party script in `docs/verify_audit.py`.

use std::path::{Path, PathBuf};
use std::process::Command;

use common::audit::{AuditLog, Entry};

const CHILD_LOG: &str = "OPENCLAW_IT_AUDIT_CHILD_LOG";
const CHILD_ID: &str = "OPENCLAW_IT_AUDIT_CHILD_ID";
const APPENDS_PER_PROCESS: usize = 200;
const PROCESSES: usize = 8;

fn log_at(path: &Path) -> AuditLog {
    let mut cp = path.as_os_str().to_owned();
    cp.push(".checkpoint");
    AuditLog::new(path, PathBuf::from(cp)).with_lock_wait(std::time::Duration::from_secs(60))
}

/// Appends 200 records to one log. Run directly it uses a fresh temp log and
/// checks the chain; the concurrency test runs it as 8 child processes that
/// share the log named in `OPENCLAW_IT_AUDIT_CHILD_LOG`.
#[test]
fn one_process_appends_200_records() {
    let tmp = tempfile::tempdir().unwrap();
    let (path, actor) = match std::env::var_os(CHILD_LOG) {
        Some(p) => (PathBuf::from(p), format!("child-{}", std::env::var(CHILD_ID).unwrap())),
        None => (tmp.path().join("audit.jsonl"), String::from("solo")),
    };
    let log = log_at(&path);
    for i in 0..APPENDS_PER_PROCESS {
        let params = serde_json::json!({ "i": i });
        log.append(&Entry {
            tool: "it",
            actor: &actor,
            action: "test.append",
            params: &params,
            exit_code: 0,
            duration_ms: 0,
        })
        .unwrap();
    }
    if std::env::var_os(CHILD_LOG).is_none() {
        let report = log.verify(&[]).unwrap();
        assert!(report.is_intact(), "{:?}", report.problems);
        assert_eq!(report.records, APPENDS_PER_PROCESS as u64);
    }
}

#[test]
fn eight_processes_times_200_appends_make_one_unbroken_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("audit.jsonl");
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..PROCESSES)
        .map(|id| {
            Command::new(&exe)
                .args(["audit::one_process_appends_200_records", "--exact", "--test-threads=1"])
                .env(CHILD_LOG, &path)
                .env(CHILD_ID, id.to_string())
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success(), "a child append process failed");
    }
    let report = log_at(&path).verify(&[]).unwrap();
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(report.records, (PROCESSES * APPENDS_PER_PROCESS) as u64);
    assert_eq!(report.head.as_ref().unwrap().0, 1600);
    // Every child's 200 appends are there: nothing was lost or duplicated.
    let text = std::fs::read_to_string(&path).unwrap();
    for id in 0..PROCESSES {
        let needle = format!("\"actor\":\"child-{id}\"");
        assert_eq!(text.lines().filter(|l| l.contains(&needle)).count(), APPENDS_PER_PROCESS, "child {id}");
    }
    let independent = python_verify(&path, &[]);
    assert_eq!(independent.0, 0, "{}", independent.1);
    assert!(independent.1.contains("1600 records"), "{}", independent.1);
    assert_eq!(text.lines().count(), 1600);
}

/// Runs the documented third-party verifier.
fn python_verify(log: &Path, extra: &[&str]) -> (i32, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/verify_audit.py");
    let out =
        Command::new("python3").arg(script).arg(log).args(extra).output().expect("python3 is installed by xtask ci");
    (
        out.status.code().unwrap_or(-1),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

#[test]
fn the_documented_python_verifier_agrees_with_ours() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("audit.jsonl");
    let log = log_at(&path);
    let actions =
        [("key.set", "root"), ("key.rotate", "root"), ("console.exec", "op \u{e9}\u{4e2d}"), ("doctor.run", "root")];
    for (i, (action, actor)) in actions.iter().enumerate() {
        let params = serde_json::json!({ "i": i, "name": "caf\u{e9}\t\"q\"", "nested": { "b": [1, 2], "a": null } });
        log.append(&Entry { tool: "it", actor, action, params: &params, exit_code: i as i32, duration_ms: 12 })
            .unwrap();
    }
    let cp_line = log.read_checkpoint().unwrap().unwrap().to_line();
    let (code, out) = python_verify(&path, &["--checkpoint-line", &cp_line]);
    assert_eq!(code, 0, "{out}");

    // Tamper with the middle record: both verifiers must say so.
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen("\"exit_code\":1", "\"exit_code\":0", 1)).unwrap();
    assert!(!log.verify(&[]).unwrap().is_intact());
    let (code, out) = python_verify(&path, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("hash mismatch"), "{out}");

    // Truncate at a record boundary: only the checkpoint reveals it.
    std::fs::write(&path, text.lines().take(2).map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    assert_eq!(python_verify(&path, &[]).0, 0, "a bare chain cannot see a clean cut");
    let (code, out) = python_verify(&path, &["--checkpoint-line", &cp_line]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("truncated"), "{out}");
}
