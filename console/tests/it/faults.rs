//! The console under faults: SIGKILLed with runs in flight, and
//! a real full disk (a small tmpfs in a private mount namespace) at every
//! step of starting and finishing a run. Counted each time: `console.start`
//! against `console.finish` records, runs still `running`, and run
//! directories left behind.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use test_support::disk::{fill, small_disk};
use test_support::wait_until;

use crate::support::{Console, marker_action};

fn count(c: &Console, action: &str) -> usize {
    c.audit().iter().filter(|r| r["action"] == action).count()
}

fn results(root: &Path) -> Vec<Value> {
    let Ok(entries) = std::fs::read_dir(root.join("artifacts/console")) else { return Vec::new() };
    entries
        .map(|e| e.unwrap().path().join("result.json"))
        .map(|p| std::fs::read(&p).map_or(Value::Null, |b| serde_json::from_slice(&b).unwrap_or(Value::Null)))
        .collect()
}

fn run_dirs(root: &Path) -> usize {
    std::fs::read_dir(root.join("artifacts/console")).map_or(0, |d| d.count())
}

/// Finding 5: runs in flight when the console is SIGKILLed get a
/// `console.finish` (class `CONSOLE_RESTARTED`) and a final `result.json`
/// (`interrupted`) from the next console, before it listens; a third start
/// finds nothing more to do.
#[test]
fn runs_in_flight_when_the_console_is_killed_are_finished_by_the_next_start() {
    let c = Console::start(|h| {
        let pids = h.path("pids");
        marker_action(
            h,
            "slow",
            &format!("echo $$ >> '{}'\nexec sleep 30", pids.display()),
            "concurrent = true\nlong_running = true\n",
        )
    });
    for _ in 0..3 {
        assert_eq!(c.exec(r#"{"action":"slow"}"#).status, 202);
    }
    let pids = c.host.path("pids");
    assert!(
        wait_until(Duration::from_secs(10), || std::fs::read_to_string(&pids).is_ok_and(|t| t.lines().count() == 3))
    );
    assert_eq!(count(&c, "console.start"), 3);
    let host = c.kill_and_keep_host();
    // Nothing kills the dead console's children here (no systemd): the next
    // console must, before it records how their runs ended.
    let alive = |pid: &str| Path::new(&format!("/proc/{pid}")).exists();
    let children: Vec<String> = std::fs::read_to_string(&pids).unwrap().lines().map(str::to_owned).collect();
    assert!(children.iter().all(|p| alive(p)), "the children outlive their console");
    let running = results(host.root()).iter().filter(|r| r["status"] == "running").count();
    assert_eq!(running, 3, "the killed console left its runs running");
    let config = "[console]\nbody_timeout_secs = 1\n";
    let c = Console::start_on(host, config, &[]);
    assert_eq!(c.stderr().matches("left unfinished by a previous console").count(), 3, "{}", c.stderr());
    // Killed (and, being init's now, reaped by it): gone or a zombie.
    let gone = |pid: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map_or(true, |s| s.rsplit_once(") ").is_some_and(|(_, r)| r.starts_with('Z')))
    };
    assert!(children.iter().all(|p| gone(p)), "a dead console's child still runs after the restart");
    assert_eq!((count(&c, "console.start"), count(&c, "console.finish")), (3, 3));
    let finishes: Vec<Value> = c.audit().into_iter().filter(|r| r["action"] == "console.finish").collect();
    assert!(finishes.iter().all(|r| r["exit_code"] == -1), "{finishes:?}");
    for r in results(c.host.root()) {
        assert_eq!(r["status"], "interrupted", "{r}");
        assert_eq!(r["exit_code"], -1);
    }
    let runs = c.get("/api/runs").json();
    assert!(runs["runs"].as_array().unwrap().iter().all(|r| r["status"] != "running"), "{runs}");
    let host = c.kill_and_keep_host();
    let c = Console::start_on(host, config, &[]);
    assert_eq!(count(&c, "console.finish"), 3, "a second start records nothing more");
}

/// Finding 5, second half: a run whose `console.finish` is durable but whose
/// final `result.json` was not written is completed as `RESULT_UNWRITABLE`
/// with no second record.
#[test]
fn a_recorded_run_whose_result_was_not_written_is_completed_without_a_second_record() {
    let c = Console::start(|h| marker_action(h, "quick", "true", ""));
    assert_eq!(c.exec(r#"{"action":"quick"}"#).status, 200);
    let host = c.kill_and_keep_host();
    let dir = std::fs::read_dir(host.path("artifacts/console")).unwrap().next().unwrap().unwrap().path();
    let result = dir.join("result.json");
    let mut rec: Value = serde_json::from_slice(&std::fs::read(&result).unwrap()).unwrap();
    rec["status"] = "running".into();
    std::fs::write(&result, rec.to_string()).unwrap();
    std::fs::write(dir.join(".finish-recorded"), "").unwrap();
    let c = Console::start_on(host, "[console]\nbody_timeout_secs = 1\n", &[]);
    assert_eq!(count(&c, "console.finish"), 1);
    let rec: Value = serde_json::from_slice(&std::fs::read(&result).unwrap()).unwrap();
    assert_eq!(rec["status"], "error", "{rec}");
    assert!(rec["error"].as_str().unwrap().contains("RESULT_UNWRITABLE"), "{rec}");
    assert!(!dir.join(".finish-recorded").exists());
}

/// Findings 2, 5 and 8 on a real full disk with 0 to 5 pages left, so each
/// step of a run (its directory, params, result, start record, output,
/// final result, finish record) is in turn the one that fails. Whatever the
/// answer: a refused run leaves no directory and no `console.start`, every
/// start has its finish once the console restarted, and nothing stays
/// `running`. Once space returns, runs just work.
#[test]
fn a_full_disk_leaves_no_run_half_recorded() {
    let Some(disk) = small_disk("faults::a_full_disk_leaves_no_run_half_recorded", "4m") else { return };
    let config = "[console]\nbody_timeout_secs = 1\n";
    let host = Console::host_in(&disk, |h| marker_action(h, "quick", "echo out; echo err >&2", ""));
    let mut c = Console::start_on(host, config, &[]);
    let mut answers = Vec::new();
    for pages in 0..6u64 {
        let filler = fill(&disk, "filler");
        let f = std::fs::OpenOptions::new().write(true).open(&filler).unwrap();
        f.set_len(std::fs::metadata(&filler).unwrap().len().saturating_sub(pages * 4096)).unwrap();
        let a = c.exec(r#"{"action":"quick"}"#);
        answers.push(a.status);
        let (starts, dirs) = (count(&c, "console.start"), run_dirs(c.host.root()));
        assert_eq!(dirs, starts, "{pages} pages: run directories against start records (answer {})", a.status);
        if a.status != 200 {
            assert_eq!(a.status, 500, "{pages} pages: {}", String::from_utf8_lossy(&a.body));
            let class = a.json()["error_class"].as_str().unwrap_or_default().to_owned();
            assert!(
                ["INTERNAL", "AUDIT_UNAVAILABLE", "FINISH_UNRECORDED"].contains(&class.as_str()),
                "{pages} pages: {class}"
            );
        }
        drop(f);
        std::fs::remove_file(&filler).unwrap();
        // A restart finishes whatever the full disk left unfinished.
        let host = c.kill_and_keep_host();
        c = Console::start_on(host, config, &[]);
        assert_eq!(count(&c, "console.start"), count(&c, "console.finish"), "{pages} pages: starts against finishes");
        assert!(results(c.host.root()).iter().all(|r| r["status"] != "running"), "{pages} pages: a run stayed running");
    }
    assert!(answers.contains(&500), "the disk was never full enough to refuse: {answers:?}");
    assert_eq!(c.exec(r#"{"action":"quick"}"#).status, 200);
    c.stop();
}

/// A client that disconnects while its admitted run waits (here on the
/// audit log's lock, held by another process) no longer leaks a run slot
/// or leaves a `console.start` without its `console.finish`: everything
/// after admission runs on its own task. With `max_running = 2`, three
/// dropped requests used to leave every later `POST /api/exec` at 429.
#[test]
fn a_client_that_disconnects_mid_admission_leaks_no_run_slot() {
    use std::io::{BufRead, Write};
    let host = Console::host_with(|h| marker_action(h, "quick", "exit 0", "concurrent = true\n"));
    let c = Console::start_on(host, "[console]\nbody_timeout_secs = 1\nmax_running = 2\n", &[]);
    assert_eq!(c.exec(r#"{"action":"quick"}"#).status, 200, "{}", c.stderr());
    let log = c.host.path("audit/audit.jsonl");
    let script = "import fcntl, sys, time\nf = open(sys.argv[1], 'a')\nfcntl.flock(f, fcntl.LOCK_EX)\nprint('locked', flush=True)\ntime.sleep(3)\n";
    let mut holder = std::process::Command::new("/usr/bin/python3")
        .args(["-c", script])
        .arg(&log)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(holder.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "locked");
    let origin = c.origin();
    let request = crate::support::build(
        "POST",
        "/api/exec",
        &c.host_header(),
        &[("X-OpenClaw-Token", crate::support::TOKEN), ("Origin", &origin)],
        br#"{"action":"quick"}"#,
    );
    for _ in 0..3 {
        let mut s = std::net::TcpStream::connect(c.addr).unwrap();
        s.write_all(&request).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        drop(s);
    }
    let _ = holder.wait();
    // The abandoned runs finish on their own; then there is room again.
    assert!(
        wait_until(Duration::from_secs(15), || count(&c, "console.start") == count(&c, "console.finish")),
        "a console.start without its console.finish"
    );
    let a = c.exec(r#"{"action":"quick"}"#);
    assert_eq!(a.status, 200, "a run slot leaked: {} {}", a.status, c.stderr());
}
