//! The audit log under faults: a real full disk (a small tmpfs in
//! a private mount namespace) and writers SIGKILLed at random instants.
//! Each test counts records against appends reported done.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::audit::{AuditLog, Entry, Record};
use test_support::disk::{fill, small_disk};

fn log_in(dir: &Path) -> AuditLog {
    AuditLog::new(dir.join("audit/audit.jsonl"), dir.join("audit/audit.jsonl.checkpoint"))
}

fn append(log: &AuditLog, actor: &str) -> Result<Record, common::audit::AuditError> {
    let params = serde_json::json!({"actor": actor});
    log.append(&Entry { tool: "it", actor, action: "test.append", params: &params, exit_code: 0, duration_ms: 0 })
}

fn len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// Bytes left in the log's last page.
fn room(log: &AuditLog) -> u64 {
    4096 - len(log.path()) % 4096
}

/// Appends records of varied length until the last page has `lo..hi` bytes left.
fn pad_until_room(log: &AuditLog, lo: u64, hi: u64) -> u64 {
    for i in 0..400 {
        if (lo..hi).contains(&room(log)) && len(log.path()) > 0 {
            return i;
        }
        append(log, &"a".repeat(1 + (i as usize) % 97)).unwrap();
    }
    panic!("could not leave {lo}..{hi} bytes in the last page");
}

fn assert_intact(log: &AuditLog, records: u64) {
    let report = log.verify(&[]).unwrap();
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(report.records, records);
}

/// Finding 1: a record cut at a page boundary by ENOSPC is removed by the
/// writer itself, and the next append after the space returns just works.
#[test]
fn a_full_disk_leaves_no_torn_tail_and_appends_resume_when_space_returns() {
    let Some(disk) =
        small_disk("audit_faults::a_full_disk_leaves_no_torn_tail_and_appends_resume_when_space_returns", "512k")
    else {
        return;
    };
    let log = log_in(&disk);
    let n = pad_until_room(&log, 20, 150);
    let before = len(log.path());
    let filler = fill(&disk, "filler");
    let mut refused = 0;
    for _ in 0..5 {
        assert!(append(&log, &"b".repeat(200)).is_err(), "an append on a full disk cannot succeed");
        refused += 1;
    }
    assert_eq!(refused, 5);
    assert_eq!(len(log.path()), before, "the refused appends left bytes behind");
    assert_intact(&log, n);
    std::fs::remove_file(filler).unwrap();
    append(&log, "after").unwrap();
    assert_intact(&log, n + 1);
    assert_eq!(log.read_checkpoint().unwrap().unwrap().seq, n + 1);
}

/// Finding 2: once the record is durable, a checkpoint that cannot be
/// rewritten is not a failure; it lags and the next append repairs it.
#[test]
fn a_checkpoint_that_cannot_be_rewritten_does_not_fail_a_durable_record() {
    let Some(disk) =
        small_disk("audit_faults::a_checkpoint_that_cannot_be_rewritten_does_not_fail_a_durable_record", "512k")
    else {
        return;
    };
    let log = log_in(&disk);
    let n = pad_until_room(&log, 1200, 3000);
    let filler = fill(&disk, "filler");
    let mut done = 0;
    for _ in 0..2 {
        append(&log, "durable").unwrap();
        done += 1;
    }
    assert_intact(&log, n + done);
    assert_eq!(log.read_checkpoint().unwrap().unwrap().seq, n, "the checkpoint could not have been rewritten");
    std::fs::remove_file(filler).unwrap();
    append(&log, "after").unwrap();
    assert_intact(&log, n + done + 1);
    assert_eq!(log.read_checkpoint().unwrap().unwrap().seq, n + done + 1);
}

/// Finding 2, first record: there is no older checkpoint to lag behind, so
/// a log of exactly one record stands without one, and the next append
/// after the space returns writes it (no wedged log, no `audit-recover`).
#[test]
fn a_first_record_whose_checkpoint_cannot_be_written_stands_and_is_checkpointed_next() {
    let Some(disk) = small_disk(
        "audit_faults::a_first_record_whose_checkpoint_cannot_be_written_stands_and_is_checkpointed_next",
        "256k",
    ) else {
        return;
    };
    let log = log_in(&disk);
    std::fs::create_dir_all(disk.join("audit")).unwrap();
    let filler = fill(&disk, "filler");
    // One free page: the log's first line takes it, the checkpoint finds none.
    let f = std::fs::OpenOptions::new().write(true).open(&filler).unwrap();
    f.set_len(len(&filler) - 4096).unwrap();
    append(&log, "first").unwrap();
    assert!(log.read_checkpoint().unwrap().is_none(), "the checkpoint could not have been written");
    assert_intact(&log, 1);
    // A second record without any checkpoint would make a log that is
    // refused: it is taken back and the append fails.
    let len_one = len(log.path());
    assert!(append(&log, "second").is_err());
    assert_eq!(len(log.path()), len_one);
    assert_intact(&log, 1);
    drop(f);
    std::fs::remove_file(filler).unwrap();
    append(&log, "second").unwrap();
    assert_intact(&log, 2);
    assert_eq!(log.read_checkpoint().unwrap().unwrap().seq, 2);
}

const KILL_CHILD: &str = "OPENCLAW_IT_AUDIT_KILL_CHILD";

/// The writer the kill test runs (and SIGKILLs): appends forever and prints
/// `<seq> <hash>` once each append returned. Run directly, it does nothing.
#[test]
fn kill_child_writer() {
    let Some(dir) = std::env::var_os(KILL_CHILD) else { return };
    let log = log_in(Path::new(&dir)).with_lock_wait(Duration::from_secs(30));
    let mut out = std::io::stdout().lock();
    loop {
        let rec = append(&log, "killed-writer").unwrap();
        std::io::Write::write_all(&mut out, format!("{} {}\n", rec.seq, rec.hash).as_bytes()).unwrap();
        std::io::Write::flush(&mut out).unwrap();
    }
}

/// Held behaviour: writers SIGKILLed at random instants (from 0 to twice
/// the time a writer takes to its first append, three at a time) lose no append they reported done, and the
/// log takes the next append (a torn line a dead writer left is cut by it).
#[test]
fn writers_killed_at_random_instants_lose_no_reported_record() {
    let tmp = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut seed = u64::from(std::process::id()) ^ 0x9e37_79b9_7f4a_7c15;
    // `(seq, hash)` of every append a writer reported done.
    let parse = |l: String| {
        let (seq, hash) = l.trim().split_once(' ')?;
        Some((seq.parse::<u64>().ok()?, hash.to_owned()))
    };
    let mut reported: Vec<(u64, String)> = Vec::new();
    // How long a writer takes to its first append here (slow under load):
    // the kills then land anywhere from before it to well after it.
    let t0 = std::time::Instant::now();
    let mut probe = Command::new(&exe)
        .args(["--exact", "audit_faults::kill_child_writer", "--nocapture", "--test-threads", "1"])
        .env(KILL_CHILD, tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // libtest's own lines come first; the first number is the first append.
    let first = BufReader::new(probe.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .find_map(parse)
        .expect("the probe writer never appended");
    reported.push(first);
    let span = (t0.elapsed().as_micros() as u64 * 2).max(8000);
    probe.kill().unwrap();
    probe.wait().unwrap();
    for _ in 0..40 {
        let children: Vec<_> = (0..3)
            .map(|_| {
                Command::new(&exe)
                    .args(["--exact", "audit_faults::kill_child_writer", "--nocapture", "--test-threads", "1"])
                    .env(KILL_CHILD, tmp.path())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_micros(seed % span));
        for mut child in children {
            child.kill().unwrap();
            child.wait().unwrap();
            let stdout = child.stdout.take().unwrap();
            reported.extend(BufReader::new(stdout).lines().map_while(Result::ok).filter_map(parse));
        }
    }
    let log = log_in(tmp.path());
    // A SIGKILL can stop a `write` at a page boundary: the next append cuts
    // that dead writer's torn line itself (audit.recover) and goes on.
    append(&log, "survivor").unwrap();
    let report = log.verify(&[]).unwrap();
    assert!(report.is_intact(), "{:?}", report.problems);
    // Every reported append is in the log with the hash it was reported
    // with: not cut, not replaced by an audit.recover at its seq.
    let text = std::fs::read_to_string(log.path()).unwrap();
    let in_log: std::collections::HashMap<u64, String> =
        text.lines().map(|l| Record::parse_line(l).unwrap()).map(|r| (r.seq, r.hash)).collect();
    let lost: Vec<&(u64, String)> = reported.iter().filter(|(seq, hash)| in_log.get(seq) != Some(hash)).collect();
    assert!(lost.is_empty(), "reported done but not in the log as reported: {lost:?}");
    assert!(reported.len() > 1, "no killed writer got as far as one append; the test proved nothing");
    let mut seqs: Vec<u64> = reported.iter().map(|(s, _)| *s).collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), reported.len(), "two appends were reported with one seq");
}
