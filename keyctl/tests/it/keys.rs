//! Behaviour of every subcommand, with a canary secret that must never leak.

use std::os::unix::fs::PermissionsExt;

use crate::support::{CANARY, Host, KEYCTL, KeyctlRuns};

fn set(host: &Host, name: &str, value: &str) {
    let run = host.run(&["set", name, "--no-validate"], value);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
}

#[test]
fn set_stores_0600_from_stdin_under_a_hostile_umask_and_audits_without_the_value() {
    let host = Host::new();
    // umask 000 via the shell; keyctl must still create 0600 from the start.
    let out = host
        .command("sh")
        .args(["-c", &format!("umask 000; printf '%s' \"$V\" | exec {KEYCTL} set OPENAI_API_KEY")])
        .env("V", CANARY)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("sk-…k6Dy"), "the masked fingerprint: {stdout}");
    let file = host.path("secrets/openai_api_key");
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(host.path("secrets")).unwrap().permissions().mode() & 0o777, 0o700);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), CANARY);
    let audit = std::fs::read_to_string(host.path("audit/audit.jsonl")).unwrap();
    assert!(audit.contains("\"action\":\"key.set\""), "{audit}");
    host.assert_not_persisted(CANARY, &["secrets"]);
    assert!(!stdout.contains(CANARY) && !stderr.contains(CANARY));
}

#[test]
fn a_value_in_argv_is_refused_and_not_echoed() {
    let host = Host::new();
    let run = host.run_with(&["set", "OPENAI_API_KEY", CANARY], "", &[], "never-present-marker");
    assert_eq!(run.code, 2);
    assert!(!run.stderr.contains(CANARY) && !run.stdout.contains(CANARY), "{}", run.stderr);
    assert!(run.stderr.contains("pipe them on stdin"), "{}", run.stderr);
    assert!(!host.path("secrets/openai_api_key").exists());
}

#[test]
fn format_validation_and_empty_input() {
    let host = Host::new();
    let run = host.run(&["set", "OPENAI_API_KEY"], "not-an-openai-key-at-all");
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--no-validate"), "{}", run.stderr);
    assert_eq!(host.run(&["set", "PUSHOVER_APP_TOKEN"], "short").code, 2);
    assert_eq!(host.run(&["set", "PUSHOVER_APP_TOKEN"], "azGDORePK8gMaC0QOYAMyEEuzJnyUi").code, 0);
    assert_eq!(host.run(&["set", "OPENAI_API_KEY"], "\n").code, 2);
    assert_eq!(host.run(&["set", "bad-name"], "x").code, 2);
}

#[test]
fn status_is_masked_reports_missing_and_shadowing_and_exits_1_when_incomplete() {
    let host = Host::new();
    set(&host, "OPENAI_API_KEY", CANARY);
    let run = host.run_with(
        &["status", "--format", "json"],
        "",
        &[("PUSHOVER_APP_TOKEN", "envvalue-1234567890-abcdefghij")],
        CANARY,
    );
    run.assert_no_leak(CANARY, "status");
    assert_eq!(run.code, 1, "two managed keys are missing");
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let key = |n: &str| v["keys"].as_array().unwrap().iter().find(|k| k["name"] == n).unwrap().clone();
    assert_eq!(key("OPENAI_API_KEY")["fingerprint"], "sk-…k6Dy");
    assert_eq!(key("OPENAI_API_KEY")["source"]["kind"], "file");
    assert_eq!(key("PUSHOVER_APP_TOKEN")["source"]["kind"], "env");
    assert_eq!(key("PUSHOVER_USER_KEY")["present"], false);
    // The environment shadows a different file value: reported, values hidden.
    let run = host.run_with(
        &["status", "OPENAI_API_KEY"],
        "",
        &[("OPENAI_API_KEY", "sk-other-value-from-the-env-000")],
        CANARY,
    );
    run.assert_no_leak(CANARY, "status shadowed");
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("shadows a different value in file"), "{}", run.stdout);
}

#[test]
fn unsafe_files_are_refused_with_the_fix() {
    let host = Host::new();
    set(&host, "OPENAI_API_KEY", CANARY);
    let file = host.path("secrets/openai_api_key");
    for mode in [0o644, 0o640] {
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
        let run = host.run(&["get", "OPENAI_API_KEY"], "");
        run.assert_no_leak(CANARY, "get refused");
        assert_eq!(run.code, 2);
        assert!(run.stderr.contains(&format!("chmod 600 {}", file.display())), "{}", run.stderr);
        let status = host.run(&["status", "OPENAI_API_KEY"], "");
        assert_eq!(status.code, 1);
        assert!(status.stdout.contains("REFUSED"), "{}", status.stdout);
    }
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::rename(&file, host.path("real")).unwrap();
    std::os::unix::fs::symlink(host.path("real"), &file).unwrap();
    let run = host.run(&["get", "OPENAI_API_KEY"], "");
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("symbolic link"), "{}", run.stderr);
    std::fs::remove_file(&file).unwrap();
    std::fs::create_dir(&file).unwrap();
    assert!(host.run(&["get", "OPENAI_API_KEY"], "").stderr.contains("not a regular file"));
    std::fs::remove_dir(&file).unwrap();
    if rustix::process::geteuid().is_root() {
        std::fs::rename(host.path("real"), &file).unwrap();
        std::os::unix::fs::chown(&file, Some(65534), None).unwrap();
        let run = host.run(&["get", "OPENAI_API_KEY"], "");
        assert_eq!(run.code, 2);
        assert!(run.stderr.contains("chown root:root"), "{}", run.stderr);
    }
}

#[test]
fn a_0750_secrets_directory_is_refused_by_every_command_alike() {
    let host = Host::new();
    set(&host, "OPENAI_API_KEY", CANARY);
    std::fs::set_permissions(host.path("secrets"), std::fs::Permissions::from_mode(0o750)).unwrap();
    let want = format!("chmod 700 {}", host.path("secrets").display());
    let get = host.run(&["get", "OPENAI_API_KEY"], "");
    assert_eq!(get.code, 2, "the resolver reads nothing from it: {}", get.stderr);
    assert!(get.stderr.contains(&want), "{}", get.stderr);
    let again = host.run(&["set", "OPENAI_API_KEY", "--no-validate"], "sk-another-value-000000000000");
    assert_eq!(again.code, 2, "set writes nothing into it: {}", again.stderr);
    assert!(again.stderr.contains(&want), "{}", again.stderr);
    let status = host.run(&["status", "OPENAI_API_KEY"], "");
    assert_eq!(status.code, 1);
    assert!(status.stdout.contains("REFUSED"), "{}", status.stdout);
    for run in [&get, &again, &status] {
        assert!(!run.stdout.contains(CANARY) && !run.stderr.contains(CANARY));
    }
}

#[test]
fn a_key_pasted_as_the_from_file_path_is_never_echoed() {
    let host = Host::new();
    let run = host.run(&["set", "OPENAI_API_KEY", "--from-file", CANARY], "");
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--from-file path (33 characters"), "{}", run.stderr);
    assert!(!run.stderr.contains(CANARY) && !run.stdout.contains(CANARY), "{}", run.stderr);
    let dir = host.run(&["set", "OPENAI_API_KEY", "--from-file", host.path("").to_str().unwrap()], "");
    assert_eq!(dir.code, 2);
    assert!(!dir.stderr.contains(host.root().to_str().unwrap()), "{}", dir.stderr);
}

#[test]
fn nothing_changes_when_the_audit_log_would_refuse_the_record() {
    let host = Host::new();
    set(&host, "OPENAI_API_KEY", CANARY);
    // A tampered last record blocks appends: set, rotate and delete must change nothing.
    let log = host.path("audit/audit.jsonl");
    let text = std::fs::read_to_string(&log).unwrap();
    let at = text.rfind("\"exit_code\":0").unwrap();
    std::fs::write(&log, format!("{}\"exit_code\":7{}", &text[..at], &text[at + 13..])).unwrap();
    let file = host.path("secrets/openai_api_key");
    let run = host.run(&["set", "OPENAI_API_KEY", "--no-validate"], "sk-another-value-000000000000");
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("nothing was changed"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), CANARY, "the old key is still there");
    assert_eq!(host.run(&["rotate", "OPENCLAW_CONSOLE_TOKEN"], "").code, 2);
    assert!(!host.path("secrets/openclaw_console_token").exists());
    assert_eq!(host.run(&["delete", "OPENAI_API_KEY"], "").code, 2);
    assert!(file.exists());
}

#[test]
fn a_key_pasted_as_the_exec_command_is_never_echoed() {
    let host = Host::new();
    set(&host, "OPENAI_API_KEY", CANARY);
    let pasted = "sk-pastedQ7xWv9LmT2pRz8NcB4hJk6Dy";
    let run = host.run(&["exec", "--key", "OPENAI_API_KEY", "--", pasted], "");
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("not repeated here"), "{}", run.stderr);
    assert!(!run.stderr.contains(pasted) && !run.stdout.contains(pasted), "{}", run.stderr);
}

#[test]
fn exec_puts_keys_in_the_environment_only_and_passes_the_exit_code() {
    let host = Host::new();
    set(&host, "OPENAI_API_KEY", CANARY);
    let script = "test \"$OPENAI_API_KEY\" = \"$(cat expected)\" || exit 9; test -z \"$PUSHOVER_APP_TOKEN\" || exit 8; sleep 0.3; exit 7";
    std::fs::write(host.path("expected"), CANARY).unwrap();
    let run = host.run_with(
        &["exec", "--key", "OPENAI_API_KEY", "--", "sh", "-c", script],
        "",
        &[("PUSHOVER_APP_TOKEN", "must-not-reach-the-child-000000")],
        CANARY,
    );
    run.assert_no_leak(CANARY, "exec");
    assert_eq!(run.code, 7, "{}", run.stderr);
}

#[test]
fn exec_with_an_unknown_key_stops_before_the_child_starts() {
    let host = Host::new();
    let marker = host.path("child-ran");
    let run = host.run(&["exec", "--key", "PUSHOVER_USER_KEY", "--", "touch", marker.to_str().unwrap()], "");
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("PUSHOVER_USER_KEY is not set"), "{}", run.stderr);
    assert!(!marker.exists());
}

#[test]
fn get_writes_the_raw_value_to_a_pipe_only() {
    let host = Host::new();
    set(&host, "OPENAI_API_KEY", CANARY);
    let run = host.run_with(&["get", "OPENAI_API_KEY"], "", &[], "never-present-marker");
    assert_eq!((run.code, run.stdout.as_str()), (0, CANARY));
    assert!(!run.stderr.contains(CANARY));
}

#[test]
fn rotate_and_delete_are_audited_with_ids_only() {
    let host = Host::new();
    let run = host.run(&["rotate", "OPENCLAW_CONSOLE_TOKEN"], "");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("must read it again"), "{}", run.stdout);
    let token = std::fs::read_to_string(host.path("secrets/openclaw_console_token")).unwrap();
    assert_eq!(token.len(), 64);
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(!run.stdout.contains(&token));
    assert_eq!(host.run(&["rotate", "OPENAI_API_KEY"], "").code, 2, "provider keys are not generated");
    let run = host.run(&["delete", "OPENCLAW_CONSOLE_TOKEN"], "");
    assert_eq!(run.code, 0);
    assert!(!host.path("secrets/openclaw_console_token").exists());
    let audit = std::fs::read_to_string(host.path("audit/audit.jsonl")).unwrap();
    assert!(audit.contains("key.rotate") && audit.contains("key.delete"), "{audit}");
    host.assert_not_persisted(&token, &["secrets"]);
}

#[test]
fn concurrent_rotations_never_leave_a_partial_file() {
    let host = Host::new();
    assert_eq!(host.run(&["rotate", "OPENCLAW_CONSOLE_TOKEN"], "").code, 0);
    let file = host.path("secrets/openclaw_console_token");
    let children: Vec<_> =
        (0..8).map(|_| host.command(KEYCTL).args(["rotate", "OPENCLAW_CONSOLE_TOKEN"]).output()).collect();
    let reader = std::thread::spawn(move || {
        for _ in 0..200 {
            let t = std::fs::read_to_string(&file).unwrap();
            assert_eq!(t.len(), 64, "partial token seen");
        }
    });
    for c in children {
        assert!(c.unwrap().status.success());
    }
    reader.join().unwrap();
}

#[test]
fn audit_leaks_finds_a_drop_in_an_argv_and_a_history_line_and_passes_when_clean() {
    let host = Host::new();
    let token = "azGDORePK8gMaC0QOYAMyEEuzJnyUi";
    assert_eq!(host.run(&["set", "PUSHOVER_APP_TOKEN"], token).code, 0);
    let units = host.path("units/foo.service.d");
    std::fs::create_dir_all(&units).unwrap();
    let history = host.path("history");
    std::fs::write(&history, "ls\n").unwrap();
    let args = [
        "audit-leaks",
        "--systemd-dir",
        host.path("units").to_str().unwrap().to_owned().leak(),
        "--history",
        history.to_str().unwrap().to_owned().leak(),
    ];
    let clean = host.run_with(&args, "", &[], "never-present-marker");
    assert_eq!(clean.code, 0, "{}", clean.stdout);

    std::fs::write(units.join("override.conf"), format!("[Service]\nEnvironment=PUSHOVER_APP_TOKEN={token}\n"))
        .unwrap();
    std::fs::write(&history, format!("ls\ncurl -d token={token} https://api.pushover.net/1/messages.json\n")).unwrap();
    // One process with the token in its argv (no shell child left behind).
    let mut leaker = std::process::Command::new("/usr/bin/python3")
        .args(["-c", "import time; time.sleep(20)", token])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the token is really in its argv (an interpreter may re-exec).
    let cmdline = format!("/proc/{}/cmdline", leaker.id());
    for _ in 0..200 {
        if std::fs::read(&cmdline).is_ok_and(|c| String::from_utf8_lossy(&c).contains(token)) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let run = host.run_with(&args, "", &[], "never-present-marker");
    let _ = leaker.kill();
    let _ = leaker.wait();
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stdout.contains("override.conf"), "{}", run.stdout);
    assert!(run.stdout.contains(&format!("argv of pid {}", leaker.id())), "{}", run.stdout);
    assert!(run.stdout.contains("shell history"), "{}", run.stdout);
    assert!(!run.stdout.contains(token) && !run.stderr.contains(token), "locations only, never the value");
}

/// Runs keyctl under `script`, which gives it a real pseudo-terminal.
fn on_a_terminal(host: &Host, args: &str) -> Option<(i32, String)> {
    let script = ["/usr/bin/script", "/bin/script"].into_iter().find(|p| std::path::Path::new(p).exists())?;
    let out = host.command(script).args(["-qec", &format!("{KEYCTL} {args}"), "/dev/null"]).output().unwrap();
    Some((out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned()))
}

#[test]
fn get_and_set_refuse_a_terminal() {
    let host = Host::new();
    set(&host, "OPENAI_API_KEY", CANARY);
    let Some((code, screen)) = on_a_terminal(&host, "get OPENAI_API_KEY") else {
        return crate::support::skip("script (bsdutils) is not installed");
    };
    assert_eq!(code, 2, "{screen}");
    assert!(!screen.contains(CANARY), "the key reached the terminal: {screen}");
    assert!(screen.contains("refusing to print a key to a terminal"), "{screen}");
    let (code, screen) = on_a_terminal(&host, "set PUSHOVER_APP_TOKEN").unwrap();
    assert_eq!(code, 2, "{screen}");
    assert!(screen.contains("no prompts"), "{screen}");
}

#[test]
fn a_value_typed_where_a_name_belongs_is_never_echoed() {
    let host = Host::new();
    for args in [vec!["get", CANARY], vec!["status", CANARY], vec!["rotate", CANARY], vec!["delete", CANARY]] {
        let run = host.run_with(&args, "", &[], "never-present-marker");
        assert_eq!(run.code, 2, "{args:?}");
        assert!(!run.stderr.contains(CANARY) && !run.stdout.contains(CANARY), "{args:?}: {}", run.stderr);
    }
}

#[test]
fn an_unwritable_stdout_is_exit_2_not_a_silent_success() {
    let host = Host::new();
    set(&host, "OPENAI_API_KEY", CANARY);
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let out = host.command(KEYCTL).args(["status", "OPENAI_API_KEY"]).stdout(full).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn exec_does_not_tell_the_child_where_the_other_keys_are() {
    let host = Host::new();
    set(&host, "OPENAI_API_KEY", CANARY);
    let run = host.run_with(
        &[
            "exec",
            "--key",
            "OPENAI_API_KEY",
            "--",
            "sh",
            "-c",
            "test -z \"$OPENCLAW_SECRETS_DIR$CREDENTIALS_DIRECTORY\"",
        ],
        "",
        &[("CREDENTIALS_DIRECTORY", "/run/credentials/x.service")],
        CANARY,
    );
    assert_eq!(run.code, 0, "the child saw OPENCLAW_SECRETS_DIR or CREDENTIALS_DIRECTORY");
}

#[test]
fn audit_leaks_reports_refused_files_shadowed_values_symlinks_and_environment_files() {
    let host = Host::new();
    let token = "azGDORePK8gMaC0QOYAMyEEuzJnyUi";
    assert_eq!(host.run(&["set", "PUSHOVER_APP_TOKEN"], token).code, 0);
    let units = host.path("units");
    let elsewhere = host.path("elsewhere");
    std::fs::create_dir_all(&units).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    let history = host.path("history");
    std::fs::write(&history, "ls\n").unwrap();
    let units_s = units.to_str().unwrap().to_owned();
    let history_s = history.to_str().unwrap().to_owned();
    let args = ["audit-leaks", "--systemd-dir", &units_s, "--history", &history_s];

    // A unit symlinked in (as `systemctl link` does) whose EnvironmentFile holds the value.
    std::fs::write(elsewhere.join("app.env"), format!("PUSHOVER_APP_TOKEN={token}\n")).unwrap();
    std::fs::write(
        elsewhere.join("app.service"),
        format!("[Service]\nEnvironmentFile=-{}\n", elsewhere.join("app.env").display()),
    )
    .unwrap();
    std::os::unix::fs::symlink(elsewhere.join("app.service"), units.join("app.service")).unwrap();
    // The environment wins over the file, but the file's value still leaks.
    let run =
        host.run_with(&args, "", &[("PUSHOVER_APP_TOKEN", "a-different-value-in-the-env-00")], "never-present-marker");
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stdout.contains("EnvironmentFile"), "{}", run.stdout);
    assert!(!run.stdout.contains(token));

    // A world-readable secret file is a finding by itself, and is not read.
    std::fs::remove_file(units.join("app.service")).unwrap();
    std::fs::set_permissions(host.path("secrets/pushover_app_token"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = host.run_with(&args, "", &[], "never-present-marker");
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stdout.contains("pushover_app_token") && run.stdout.contains("mode 0644"), "{}", run.stdout);

    // An explicit path that does not exist means "not checked", never "clean".
    let run = host.run_with(
        &["audit-leaks", "--systemd-dir", &units_s, "--history", "/nonexistent/history"],
        "",
        &[],
        "never-present-marker",
    );
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(run.stdout.contains("NOT CHECKED"), "{}", run.stdout);
}
