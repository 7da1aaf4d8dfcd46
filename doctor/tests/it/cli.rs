//! The command line: exit codes, formats, artifacts, budget, side effects.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::time::{Duration, Instant};

use crate::support::{Host, status};

#[test]
fn a_full_run_reports_every_registered_check_once_in_registry_order() {
    // What each check finds depends on this host; which checks run, and how
    // the summary, result and exit code follow from their statuses, does not.
    // The report's shape is pinned by the snapshots in reports.rs.
    let host = Host::new();
    host.stub_fixture("tailscale", "tailscale_status_running.json", 0);
    let run = host.run(&["--format", "json", "--no-artifacts"]);
    let v = run.json();
    let listed = host.run(&["list-checks", "--format", "json"]).json();
    let ids = |doc: &serde_json::Value| -> Vec<String> {
        doc["checks"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(ids(&v), ids(&listed), "{v}");
    assert_eq!(ids(&v).len(), 18);
    let mut counted = std::collections::BTreeMap::<&str, u64>::new();
    for c in v["checks"].as_array().unwrap() {
        *counted.entry(status(c)).or_default() += 1;
    }
    for key in ["pass", "warn", "fail", "error", "skip"] {
        assert_eq!(v["summary"][key].as_u64(), Some(counted.get(key).copied().unwrap_or(0)), "{key}: {v}");
    }
    let failed = counted.contains_key("fail") || counted.contains_key("error");
    assert_eq!(v["result"], if failed { "FAIL" } else { "PASS" });
    assert_eq!(run.code, if failed { 1 } else { 0 }, "{}", run.stderr);
}

#[test]
fn a_hung_tailscale_is_killed_and_reported_while_the_rest_arrives() {
    let host = Host::new();
    host.stub("tailscale", "sleep 30");
    let started = Instant::now();
    let run = host.run(&[
        "--format",
        "json",
        "--no-artifacts",
        "--budget-ms",
        "700",
        "--only",
        "tailscale",
        "--only",
        "disk",
    ]);
    let elapsed = started.elapsed();
    let v = run.json();
    let ts = &v["checks"][0];
    assert_eq!((ts["id"].as_str(), status(ts)), (Some("tailscale"), "error"), "{v}");
    assert!(ts["summary"].as_str().unwrap().contains("was killed"), "{ts}");
    assert_eq!(status(&v["checks"][1]), "pass");
    assert_eq!(run.code, 1, "an error is a failure for the exit code");
    // Not a speed assertion: the stub sleeps 30 s; finishing at all proves it was killed.
    assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");
}

#[test]
fn unknown_check_id_is_exit_2_naming_the_valid_ids() {
    let run = Host::new().run(&["--only", "listners"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("unknown check id `listners`") && run.stderr.contains("listeners, console-bind"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());
    assert_eq!(Host::new().run(&["--skip", "nope"]).code, 2);
    assert_eq!(Host::new().run(&["--format", "xml"]).code, 2);
}

#[test]
fn a_bad_config_is_exit_2_with_file_and_line() {
    let mut host = Host::new();
    host.config("[doctor]\nconsole_port = 8787\nconsol_port = 1\n");
    let run = host.run(&["--no-artifacts"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("openclaw.toml:3:") && run.stderr.contains("consol_port"), "{}", run.stderr);
    let host = Host::new();
    let out = host.command().env("OPENCLAW_CONFIG", "/nonexistent/openclaw.toml").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "an explicitly named config must exist");
}

#[test]
fn the_report_artifact_is_written_private_and_nothing_else_is_touched() {
    let host = Host::new();
    let run = host.run(&["--only", "disk"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let doctor_dir = host.path("artifacts/doctor");
    let runs: Vec<_> = std::fs::read_dir(&doctor_dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(runs.len(), 1);
    let report = runs[0].join("doctor.json");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(v["result"], "PASS");
    assert_eq!(std::fs::metadata(&report).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(&runs[0]).unwrap().permissions().mode() & 0o777, 0o700);
    assert!(run.stderr.contains(&report.display().to_string()));
    // Side-effect free: only the artifact tree and our own inputs exist afterwards.
    let mut top: Vec<String> =
        std::fs::read_dir(host.root()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    top.sort();
    assert_eq!(top, ["artifacts", "bin", "openclaw.toml"]);
}

#[test]
fn no_artifacts_writes_nothing_and_an_unwritable_root_is_exit_2() {
    let host = Host::new();
    host.run(&["--only", "disk", "--no-artifacts"]);
    assert!(!host.path("artifacts").exists());
    std::fs::write(host.path("artifacts"), "a file where a directory should be").unwrap();
    let run = host.run(&["--only", "disk"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("cannot write the report"), "{}", run.stderr);
    assert!(run.stdout.contains("PASS"), "the report is still printed");
}

#[test]
fn the_prometheus_textfile_is_the_stdout_rendering_readable_by_node_exporter() {
    // The exposition format itself is pinned by reports::prometheus_report.
    let host = Host::new();
    let textfile = host.path("node/openclaw_doctor.prom");
    std::fs::create_dir(host.path("node")).unwrap();
    let run = host.run(&[
        "--only",
        "disk",
        "--only",
        "tailscale",
        "--format",
        "prometheus",
        "--no-artifacts",
        "--textfile",
        textfile.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 1);
    let file = std::fs::read_to_string(&textfile).unwrap();
    assert_eq!(std::fs::metadata(&textfile).unwrap().permissions().mode() & 0o777, 0o644, "node_exporter must read it");
    assert_eq!(file, run.stdout, "one rendering of one report");
    assert!(file.contains("openclaw_doctor_check_status{check=\"tailscale\",status=\"fail\"} 1"), "{file}");
    assert!(file.contains("openclaw_doctor_success 0"), "{file}");
}

#[test]
fn evidence_bundle_is_written_even_when_the_run_fails() {
    let host = Host::new();
    host.stub_fixture("sshd", "sshd_T_public.txt", 0);
    let run = host.run(&["evidence", "--only", "sshd", "--only", "disk", "--only", "listeners"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let bundles: Vec<_> =
        std::fs::read_dir(host.path("artifacts/evidence")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(bundles.len(), 1);
    let b = &bundles[0];
    let mut files: Vec<String> =
        std::fs::read_dir(b).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    files.sort();
    assert_eq!(
        files,
        [
            "README.txt",
            "audit.jsonl",
            "audit.jsonl.checkpoint",
            "docker_ports.json",
            "doctor.json",
            "firewall.txt",
            "listeners.json",
            "sshd_effective.json",
            "summary.json"
        ]
    );
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(b.join("summary.json")).unwrap()).unwrap();
    assert_eq!((summary["result"].as_str(), summary["doctor_exit"].as_u64()), (Some("FAIL"), Some(1)));
    assert_eq!(summary["checks"]["sshd"], "fail");
    let sshd: serde_json::Value =
        serde_json::from_slice(&std::fs::read(b.join("sshd_effective.json")).unwrap()).unwrap();
    assert_eq!(sshd["passwordauthentication"], "yes");
}

#[test]
fn human_output_escapes_hostile_text_from_tools() {
    let host = Host::new();
    host.stub("sshd", "printf 'listenaddress 0.0.0.0:22\\033[2J\\342\\200\\256evil\\npasswordauthentication no\\npermitrootlogin no\\n'");
    let run = host.run(&["--only", "sshd", "--no-artifacts"]);
    assert!(!run.stdout.contains('\u{1b}') && !run.stdout.contains('\u{202e}'), "{:?}", run.stdout);
    assert!(run.stdout.contains("\\u{1b}[2J\\u{202e}evil"), "{}", run.stdout);
}

#[test]
fn a_selection_with_no_check_left_is_exit_2_not_a_pass() {
    let host = Host::new();
    let run = host.run(&["--only", "disk", "--skip", "disk", "--no-artifacts"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(!run.stdout.contains("PASS"), "{}", run.stdout);
}

#[test]
fn a_result_that_cannot_be_written_is_exit_2() {
    let host = Host::new();
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let out = host.command().args(["list-checks"]).stdout(full).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    // A reader that has gone away: the result was not delivered either.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = host.command().args(["--only", "disk", "--no-artifacts"]).stdout(writer).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn no_key_value_reaches_a_report_or_the_evidence_bundle() {
    const CANARY: &str = "sk-evidenceCanary7Qz9Lw2Xr5Tb8Nc1Vd4";
    let host = Host::new();
    let dir = host.path("secrets");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let file = dir.join("openai_api_key");
    std::fs::write(&file, CANARY).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let run = host.run(&["evidence", "--only", "keys", "--only", "secret-files", "--format", "json"]);
    assert!(run.code <= 1, "{}", run.stderr);
    assert!(run.stdout.contains("sk-…"), "the masked fingerprint is reported: {}", run.stdout);
    assert!(!run.stdout.contains(CANARY) && !run.stderr.contains(CANARY));
    let mut stack = vec![host.path("artifacts")];
    let mut seen = 0;
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                seen += 1;
                assert!(!std::fs::read_to_string(&p).unwrap().contains(CANARY), "{}", p.display());
            }
        }
    }
    assert!(seen >= 8, "doctor.json plus the bundle's files: {seen}");
}

#[test]
fn a_textfile_path_that_is_not_a_regular_file_is_never_replaced() {
    let host = Host::new();
    let fifo = host.path("metrics.prom");
    rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, rustix::fs::Mode::from_raw_mode(0o600)).unwrap();
    let run = host.run(&["--only", "disk", "--no-artifacts", "--textfile", fifo.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("not a regular file"), "{}", run.stderr);
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo(), "still the FIFO");
}

#[test]
fn an_optional_textfile_without_its_directory_is_skipped_with_a_note() {
    // The packaged timer names node_exporter's directory; on a host without
    // node_exporter the run must still end on its checks, not on exit 2.
    let host = Host::new();
    let textfile = host.path("node-exporter/openclaw_doctor.prom");
    let args = ["--only", "disk", "--no-artifacts", "--textfile", textfile.to_str().unwrap()];
    let run = host.run(&[&args[..], &["--textfile-optional"]].concat());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("textfile skipped"), "{}", run.stderr);
    assert!(!textfile.exists());
    // Without the flag a missing directory is still an error.
    let run = host.run(&args);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("cannot write textfile"), "{}", run.stderr);
    // With the directory there, the optional textfile is written.
    std::fs::create_dir(host.path("node-exporter")).unwrap();
    let run = host.run(&[&args[..], &["--textfile-optional"]].concat());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(std::fs::read_to_string(&textfile).unwrap().contains("openclaw_doctor_success 1"));
    // Only a missing directory is skipped: a textfile that is not a regular file still fails.
    std::fs::remove_file(&textfile).unwrap();
    rustix::fs::mkfifoat(rustix::fs::CWD, &textfile, rustix::fs::Mode::from_raw_mode(0o600)).unwrap();
    let run = host.run(&[&args[..], &["--textfile-optional"]].concat());
    assert_eq!(run.code, 2, "{}", run.stderr);
    // Nor is a file where the directory should be: that is not "no node_exporter".
    std::fs::remove_dir_all(host.path("node-exporter")).unwrap();
    std::fs::write(host.path("node-exporter"), "").unwrap();
    let run = host.run(&[&args[..], &["--textfile-optional"]].concat());
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(!run.stderr.contains("textfile skipped"), "{}", run.stderr);
}
