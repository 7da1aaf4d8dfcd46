//! Checks that read this host directly: real listeners, real HTTP on
//! loopback, real directories and files.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;

use crate::support::{Host, is_root, skip, status};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn console_config(port: u16) -> String {
    format!("[doctor]\nhttp_health = []\ntracked_units = []\nconsole_port = {port}\n")
}

#[test]
fn console_on_loopback_passes_and_loopback_plus_wildcard_fails() {
    let lo = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = lo.local_addr().unwrap().port();
    let mut host = Host::new();
    host.config(&console_config(port));
    let (run, check) = host.check("console-bind");
    assert_eq!(status(&check), "pass", "{}", run.stdout);

    // The reference passed this case because it matched 127.0.0.1 first.
    let lo2 = TcpListener::bind("127.0.0.2:0").unwrap();
    let port2 = lo2.local_addr().unwrap().port();
    let wild = TcpListener::bind(("0.0.0.0", port2));
    if wild.is_err() {
        return skip("cannot bind 0.0.0.0 next to 127.0.0.2 on this kernel");
    }
    host.config(&console_config(port2));
    let (run, check) = host.check("console-bind");
    assert_eq!((status(&check), run.code), ("fail", 1), "{}", run.stdout);
    assert!(check["summary"].as_str().unwrap().contains("0.0.0.0"), "{check}");
}

#[test]
fn console_not_running_passes() {
    let mut host = Host::new();
    host.config(&console_config(free_port()));
    let (_, check) = host.check("console-bind");
    assert_eq!(status(&check), "pass");
    assert!(check["summary"].as_str().unwrap().contains("not running"));
}

/// A one-thread HTTP server on loopback answering `status` to every request.
fn http_server(status_line: &'static str, requests: usize) -> (u16, std::thread::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for stream in listener.incoming().take(requests) {
            let mut stream = stream.unwrap();
            let mut buf = [0u8; 1024];
            let n = stream.read(&mut buf).unwrap_or(0);
            seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            let _ = stream.write_all(
                format!("HTTP/1.1 {status_line}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok").as_bytes(),
            );
        }
        seen
    });
    (port, handle)
}

#[test]
fn http_health_200_passes_and_the_request_is_a_plain_get() {
    let (port, server) = http_server("200 OK", 1);
    let mut host = Host::new();
    host.config(&format!("[doctor]\ntracked_units = []\nhttp_health = [\"http://127.0.0.1:{port}/healthz\"]\n"));
    let (run, check) = host.check("http-health");
    assert_eq!(status(&check), "pass", "{}", run.stdout);
    let requests = server.join().unwrap();
    assert!(requests[0].starts_with("GET /healthz HTTP/1.1\r\n"), "{:?}", requests[0]);
}

#[test]
fn http_health_500_fails_after_retrying() {
    let (port, server) = http_server("500 Internal Server Error", 3);
    let mut host = Host::new();
    host.config(&format!(
        "[doctor]\ntracked_units = []\nhttp_retries = 2\nhttp_health = [\"http://127.0.0.1:{port}/healthz\"]\n"
    ));
    let (run, check) = host.check("http-health");
    assert_eq!((status(&check), run.code), ("fail", 1), "{}", run.stdout);
    assert!(check["summary"].as_str().unwrap().contains("HTTP 500"));
    assert_eq!(server.join().unwrap().len(), 3, "one try plus two retries");
}

#[test]
fn http_health_refused_fails_and_outside_hosts_are_refused_not_probed() {
    let mut host = Host::new();
    host.config(&format!("[doctor]\ntracked_units = []\nhttp_health = [\"http://127.0.0.1:{}/\"]\n", free_port()));
    assert_eq!(status(&host.check("http-health").1), "fail");
    host.config("[doctor]\ntracked_units = []\nhttp_health = [\"http://192.0.2.10/healthz\"]\n");
    let (run, check) = host.check("http-health");
    assert_eq!((status(&check), run.code), ("error", 1));
    assert!(check["summary"].as_str().unwrap().contains("does not probe other hosts"), "{check}");
}

fn secrets(host: &Host) -> std::path::PathBuf {
    let dir = host.path("secrets");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

fn write_secret(dir: &std::path::Path, name: &str, mode: u32) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, "canary-never-read").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    p
}

#[test]
fn secret_files_missing_dir_skips() {
    assert_eq!(status(&Host::new().check("secret-files").1), "skip");
}

#[test]
fn secret_files_strict_root_owned_pass_and_each_problem_fails_with_its_fix() {
    if !is_root() {
        return skip("a passing secrets directory must be owned by root");
    }
    let host = Host::new();
    let dir = secrets(&host);
    write_secret(&dir, "openai_api_key", 0o600);
    let (run, check) = host.check("secret-files");
    assert_eq!(status(&check), "pass", "{}", run.stdout);
    assert!(!run.stdout.contains("canary"), "contents must never be read into the report");

    let loose = write_secret(&dir, "pushover_app_token", 0o644);
    let (_, check) = host.check("secret-files");
    assert_eq!(status(&check), "fail");
    assert!(check["remediation"].as_str().unwrap().contains(&format!("chmod 600 {}", loose.display())), "{check}");
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o640)).unwrap();
    assert_eq!(status(&host.check("secret-files").1), "fail", "0640 is still group-readable");
    std::fs::remove_file(&loose).unwrap();

    std::os::unix::fs::symlink(dir.join("openai_api_key"), dir.join("linked")).unwrap();
    let (_, check) = host.check("secret-files");
    assert!(check["summary"].as_str().unwrap().contains("is a symbolic link"), "{check}");
    std::fs::remove_file(dir.join("linked")).unwrap();

    let foreign = write_secret(&dir, "foreign", 0o600);
    std::os::unix::fs::chown(&foreign, Some(65534), None).unwrap();
    let (_, check) = host.check("secret-files");
    assert!(check["remediation"].as_str().unwrap().contains("chown root:root"), "{check}");
    std::fs::remove_file(&foreign).unwrap();

    // 0750: the case the resolver, keyctl and the doctor once judged three ways.
    for mode in [0o755, 0o750] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
        let (_, check) = host.check("secret-files");
        assert_eq!(status(&check), "fail", "{mode:o}");
        assert!(check["remediation"].as_str().unwrap().contains("chmod 700"), "{check}");
    }
}

#[test]
fn secret_files_owned_by_a_user_fail_when_not_root() {
    if is_root() {
        return skip("covered by the root test (chown to nobody)");
    }
    let host = Host::new();
    write_secret(&secrets(&host), "k", 0o600);
    assert_eq!(status(&host.check("secret-files").1), "fail");
}

#[test]
fn disk_thresholds_decide_the_status() {
    let mut host = Host::new();
    let tmp = host.root().display().to_string();
    host.config(&format!("[doctor]\ntracked_units = []\nhttp_health = []\ndisk_paths = [\"{tmp}\"]\ndisk_warn_percent = 100\ndisk_fail_percent = 100\n"));
    let (_, check) = host.check("disk");
    let used = check["details"]["filesystems"][0]["used_percent"].as_u64().unwrap();
    if used >= 100 {
        return skip("the test filesystem is full");
    }
    assert_eq!(status(&check), "pass");
    host.config(&format!("[doctor]\ntracked_units = []\nhttp_health = []\ndisk_paths = [\"{tmp}\"]\ndisk_warn_percent = 0\ndisk_fail_percent = 100\n"));
    assert_eq!(status(&host.check("disk").1), "warn");
    host.config(&format!("[doctor]\ntracked_units = []\nhttp_health = []\ndisk_paths = [\"{tmp}\"]\ndisk_warn_percent = 0\ndisk_fail_percent = 0\n"));
    assert_eq!(status(&host.check("disk").1), "fail");
    host.config("[doctor]\ntracked_units = []\nhttp_health = []\ndisk_paths = [\"/no/such/fs\"]\n");
    assert_eq!(status(&host.check("disk").1), "error");
}

#[test]
fn log_dir_size_thresholds_and_missing_dir() {
    let mut host = Host::new();
    assert_eq!(status(&host.check("log-dir").1), "skip");
    let logs = host.path("logs");
    std::fs::create_dir(&logs).unwrap();
    std::fs::write(logs.join("big.log"), vec![b'x'; 3 * 1024 * 1024]).unwrap();
    let cfg = |warn: u64, fail: u64| {
        format!(
            "[doctor]\ntracked_units = []\nhttp_health = []\nlog_dir = \"{}\"\nlog_warn_mb = {warn}\nlog_fail_mb = {fail}\n",
            logs.display()
        )
    };
    host.config(&cfg(10, 20));
    assert_eq!(status(&host.check("log-dir").1), "pass");
    host.config(&cfg(2, 20));
    assert_eq!(status(&host.check("log-dir").1), "warn");
    host.config(&cfg(1, 3));
    assert_eq!(status(&host.check("log-dir").1), "fail");
}

#[test]
fn keys_missing_fail_stored_and_working_pass_and_values_never_appear() {
    const CANARY: &str = "sk-doctor-canary-Zq8Wm3Xv7Ty5";
    let host = Host::new();
    let (run, check) = host.check("keys");
    assert_eq!((status(&check), run.code), ("fail", 1));
    assert!(check["remediation"].as_str().unwrap().contains("openclaw-keyctl set OPENAI_API_KEY"), "{check}");

    let dir = secrets(&host);
    for (name, value) in [
        ("openai_api_key", CANARY),
        ("openclaw_console_token", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
        ("pushover_app_token", "azGDORePK8gMaC0QOYAMyEEuzJnyUi"),
        ("pushover_user_key", "uQiRzpo4DXghDmr9QzzfQu27cmVRsG"),
    ] {
        write_secret(&dir, name, 0o600);
        std::fs::write(dir.join(name), value).unwrap();
    }
    // Present but never recorded as working: a warning, with masked fingerprints only.
    let (run, check) = host.check("keys");
    assert_eq!(status(&check), "warn", "{check}");
    assert!(!run.stdout.contains(CANARY) && !run.stderr.contains(CANARY));
    assert!(run.stdout.contains("sk-…Ty5") || run.stdout.contains("sk-…"), "{}", run.stdout);
    let salt_dir = host.path("state/keyctl");
    std::fs::create_dir_all(&salt_dir).unwrap();
    let now = common::time_fmt::rfc3339(common::time_fmt::now_utc());
    let record: serde_json::Value =
        ["OPENAI_API_KEY", "OPENCLAW_CONSOLE_TOKEN", "PUSHOVER_APP_TOKEN", "PUSHOVER_USER_KEY"]
            .iter()
            .map(|n| (n.to_string(), serde_json::json!({"ts": now, "key_id": "00000000"})))
            .collect::<serde_json::Map<_, _>>()
            .into();
    std::fs::write(salt_dir.join("last_success.json"), record.to_string()).unwrap();
    assert_eq!(status(&host.check("keys").1), "pass");

    std::fs::set_permissions(dir.join("openai_api_key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let (run, check) = host.check("keys");
    assert_eq!(status(&check), "fail");
    assert!(check["summary"].as_str().unwrap().contains("chmod 600"), "{check}");
    assert!(!run.stdout.contains(CANARY));
}

fn guard_state(host: &Host, text: &str) -> std::path::PathBuf {
    let dir = host.path("state/guard");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("state.json");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn guard_check_reads_the_guards_state() {
    let host = Host::new();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let state = |at: u64, exhausted: bool| {
        format!(
            r#"{{"schema_version":1,"last_run":{{"at":"x","at_unix":{at},"outcome":"pass","exit_code":0,"findings":[],"detail":""}},"doctor_fail_open":false,"findings":{{"listeners/ssh-tailnet-only":{{"first_seen":{at},"last_seen":{at},"attempts":[],"consecutive_failures":3,"backoff_until":null,"budget_exhausted":{exhausted}}}}},"pending_rollback":null}}"#
        )
    };
    guard_state(&host, &state(now - 60, false));
    assert_eq!(status(&host.check("guard").1), "pass");
    guard_state(&host, &state(now - 3600, false));
    assert_eq!(status(&host.check("guard").1), "warn", "an hour without a tick");
    guard_state(&host, &state(now - 60, true));
    let (run, check) = host.check("guard");
    assert_eq!((status(&check), run.code), ("fail", 1), "{check}");
    let path = guard_state(&host, "not json");
    assert_eq!(status(&host.check("guard").1), "error");
    std::fs::remove_file(&path).unwrap();
    rustix::fs::mkfifoat(rustix::fs::CWD, &path, rustix::fs::Mode::from_raw_mode(0o600)).unwrap();
    let (_, check) = host.check("guard");
    assert_eq!(status(&check), "error", "a FIFO is refused, not waited on: {check}");
}

#[test]
fn guard_check_skips_only_when_no_guard_is_installed() {
    let host = Host::new();
    // The test build puts openclaw-guard beside openclaw-doctor: installed, never run.
    assert_eq!(status(&host.check("guard").1), "warn");
    // A doctor alone in its directory, with no guard on PATH: skipped.
    let lone = host.path("lone");
    std::fs::create_dir_all(&lone).unwrap();
    let doctor = lone.join("openclaw-doctor");
    std::fs::copy(env!("CARGO_BIN_EXE_openclaw-doctor"), &doctor).unwrap();
    let mut cmd = std::process::Command::new(&doctor);
    host.hermetic(&mut cmd);
    let out = cmd.args(["--only", "guard", "--format", "json", "--no-artifacts"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status(&v["checks"][0]), "skip", "{v}");
}

/// Issue 30, finding 6: a killed writer's temporary file (it can hold a
/// whole key) and any file of no managed key fail the check.
#[test]
fn secret_files_fail_on_a_left_over_temporary_file_and_a_file_of_no_managed_key() {
    if !is_root() {
        return skip("a passing secrets directory must be owned by root");
    }
    let host = Host::new();
    let dir = secrets(&host);
    write_secret(&dir, "openclaw_console_token", 0o600);
    write_secret(&dir, "openclaw_review_signing_key", 0o600);
    assert_eq!(status(&host.check("secret-files").1), "pass");
    let stale = write_secret(&dir, ".openclaw_console_token.tmp.4242.0", 0o600);
    let (_, check) = host.check("secret-files");
    assert_eq!(status(&check), "fail", "{check}");
    assert!(check["summary"].as_str().unwrap().contains("interrupted key write"), "{check}");
    assert!(check["remediation"].as_str().unwrap().contains("openclaw-keyctl status"), "{check}");
    std::fs::remove_file(stale).unwrap();
    write_secret(&dir, "notes.txt", 0o600);
    let (_, check) = host.check("secret-files");
    assert_eq!(status(&check), "fail", "{check}");
    assert!(check["summary"].as_str().unwrap().contains("not the file of a managed key"), "{check}");
}

/// Issue 30, finding 3: once keyctl keeps a ledger, a key file that is not
/// the one its newest record names fails, with the reconcile command.
#[test]
fn keys_fail_when_the_key_in_place_is_not_the_one_the_audit_log_last_recorded() {
    use common::secrets::{SecretString, key_id};
    let host = Host::new();
    let dir = secrets(&host);
    let token = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    std::fs::write(dir.join("openclaw_console_token"), token).unwrap();
    std::fs::set_permissions(dir.join("openclaw_console_token"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let kdir = host.path("state/keyctl");
    std::fs::create_dir_all(&kdir).unwrap();
    for d in [host.path("state"), kdir.clone()] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let salt_hex = "11".repeat(32);
    std::fs::write(kdir.join("salt"), &salt_hex).unwrap();
    std::fs::set_permissions(kdir.join("salt"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let log = common::audit::AuditLog::new(host.path("audit/audit.jsonl"), host.path("audit/audit.jsonl.checkpoint"));
    let record = |id: &str| {
        let params = serde_json::json!({"name": "OPENCLAW_CONSOLE_TOKEN", "key_id": id});
        let entry = common::audit::Entry {
            tool: "openclaw-keyctl",
            actor: "root",
            action: "key.rotate",
            params: &params,
            exit_code: 0,
            duration_ms: 1,
        };
        log.append(&entry).unwrap()
    };
    let ledger = |id: &str, rec: &common::audit::Record| {
        let text = serde_json::json!({"OPENCLAW_CONSOLE_TOKEN": {"key_id": id, "seq": rec.seq, "hash": rec.hash, "action": "key.rotate"}});
        std::fs::write(kdir.join("keys.json"), text.to_string()).unwrap();
        std::fs::set_permissions(kdir.join("keys.json"), std::fs::Permissions::from_mode(0o600)).unwrap();
    };
    // Key records but no ledger: keyctl's view is gone.
    let right = key_id(&SecretString::from(token.to_owned()), &[0x11; 32]);
    let rec = record(&right);
    let (_, check) = host.check("keys");
    assert!(check["summary"].as_str().unwrap().contains("ledger is missing"), "{check}");
    ledger(&right, &rec);
    let (_, check) = host.check("keys");
    assert!(check["details"]["unrecorded"].as_array().unwrap().is_empty(), "{check}");
    // The newest record names another key than the one in place.
    let rec = record("deadbeef");
    ledger("deadbeef", &rec);
    let (run, check) = host.check("keys");
    assert_eq!((status(&check), run.code), ("fail", 1), "{check}");
    assert!(check["summary"].as_str().unwrap().contains("not the one the audit log last recorded"), "{check}");
    assert_eq!(check["details"]["unrecorded"], serde_json::json!(["OPENCLAW_CONSOLE_TOKEN"]));
    assert!(check["remediation"].as_str().unwrap().contains("openclaw-keyctl status"), "{check}");
    assert!(!run.stdout.contains(token));
    // A ledger edited to name the key in place, which no record names.
    ledger(&right, &rec);
    let (_, check) = host.check("keys");
    assert!(check["summary"].as_str().unwrap().contains("the audit log does not agree"), "{check}");
}
