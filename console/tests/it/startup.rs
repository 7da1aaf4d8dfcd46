//! Refusals at startup (exit 2 with instructions): a non-loopback address,
//! no token, a bad registry; the built-in registry when no file exists;
//! and graceful shutdown: a running child finishes within the grace, one
//! past it is killed with its group and the kill is audited.

use std::time::{Duration, Instant};

use crate::support::{CONSOLE, Console, TempHost, marker_action, store_token, write_private};

fn serve(host: &TempHost, args: &[&str]) -> std::process::Output {
    let mut cmd = host.command(CONSOLE);
    cmd.arg("serve").args(args);
    let mut child = cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > until {
            let _ = child.kill();
            panic!("serve did not refuse");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn refused(out: &std::process::Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(needle), "{needle:?} not in {err}");
}

#[test]
fn unsafe_starts_are_refused_with_instructions() {
    let host = TempHost::new();
    for addr in ["0.0.0.0:8787", "[::]:8787", "100.100.1.2:8787", "192.168.1.10:8787"] {
        refused(&serve(&host, &["--listen", addr]), "loopback only");
    }
    refused(&serve(&host, &["--listen", "127.0.0.1:18999"]), "openclaw-keyctl rotate OPENCLAW_CONSOLE_TOKEN");
    store_token(&host, "short");
    refused(&serve(&host, &["--listen", "127.0.0.1:18999"]), "shorter than 16");
    store_token(&host, crate::support::TOKEN);
    let reg = host.path("registry.toml");
    for (text, needle) in [
        (
            "[[action]]\nid = \"x\"\nlabel = \"x\"\ndescription = \"x\"\nargv = [\"/bin/true\"]\ntimeout_sec = 5\nshell = true\n",
            "registry.toml:7:1",
        ),
        (
            "[[action]]\nid = \"X\"\nlabel = \"x\"\ndescription = \"x\"\nargv = [\"/bin/true\"]\ntimeout_sec = 5\n",
            "action id must be",
        ),
        (
            "[[action]]\nid = \"x\"\nlabel = \"x\"\ndescription = \"x\"\nargv = [\"true\"]\ntimeout_sec = 5\n",
            "absolute path",
        ),
        (
            "[[action]]\nid = \"x\"\nlabel = \"x\"\ndescription = \"x\"\nargv = [\"/nonexistent/prog\"]\ntimeout_sec = 5\n",
            "cannot be trusted",
        ),
        (
            "[[action]]\nid = \"x\"\nlabel = \"x\"\ndescription = \"x\"\nargv = [\"/bin/true\"]\ntimeout_sec = 0\n",
            "timeout_sec must be",
        ),
    ] {
        write_private(&reg, text);
        refused(&serve(&host, &["--listen", "127.0.0.1:18999", "--registry", reg.to_str().unwrap()]), needle);
    }
    // A program others can rewrite.
    let prog = crate::support::script(&host, "open", "echo hi");
    std::fs::set_permissions(&prog, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    write_private(
        &reg,
        &format!(
            "[[action]]\nid = \"x\"\nlabel = \"x\"\ndescription = \"x\"\nargv = [\"{}\"]\ntimeout_sec = 5\n",
            prog.display()
        ),
    );
    refused(
        &serve(&host, &["--listen", "127.0.0.1:18999", "--registry", reg.to_str().unwrap()]),
        "writable by group or others",
    );
    // A registry file others can rewrite.
    std::fs::set_permissions(&reg, std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
    refused(
        &serve(&host, &["--listen", "127.0.0.1:18999", "--registry", reg.to_str().unwrap()]),
        "writable by group or others",
    );
    // A named registry that does not exist is not the built-in set.
    refused(&serve(&host, &["--listen", "127.0.0.1:18999", "--registry", "/nonexistent/reg.toml"]), "no such file");
}

#[test]
fn without_a_registry_file_the_built_in_set_is_offered() {
    let host = TempHost::new();
    write_private(&host.path("openclaw.toml"), "");
    let out =
        host.command(CONSOLE).args(["check-registry", "--registry"]).arg(host.path("missing.toml")).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "a named file must exist");
    let out = host.command(CONSOLE).args(["check-registry", "--format", "json"]).output().unwrap();
    // The default location /etc/openclaw/console-actions.toml is absent on a test machine.
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["source"], "built-in");
    let ids: Vec<&str> = v["actions"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
    for want in [
        "doctor",
        "port_audit",
        "evidence",
        "guard_status",
        "keyctl_status",
        "notify_status",
        "verify_audit",
        "tail_guard_log",
    ] {
        assert!(ids.contains(&want), "{want} missing from {ids:?}");
    }
    let doctor = &v["actions"].as_array().unwrap()[0];
    assert!(doctor["argv"][0].as_str().unwrap().ends_with("/openclaw-doctor"));
    assert!(doctor["argv"].as_array().unwrap().iter().any(|a| a == "--state-dir"), "locations passed as flags");
}

#[test]
fn sigterm_lets_runs_finish_within_the_grace_and_kills_them_after() {
    let host = Console::host_with(|h| {
        let mut r = marker_action(
            h,
            "short",
            &format!("sleep 1\ntouch '{}'", h.path("short.done").display()),
            "long_running = true\n",
        );
        r.push_str(
            &marker_action(
                h,
                "long",
                &format!("sleep 30\ntouch '{}'", h.path("long.done").display()),
                "long_running = true\nconcurrent = true\n",
            )
            .replace("timeout_sec = 10", "timeout_sec = 60"),
        );
        r
    });
    let mut c = Console::start_on(host, "[console]\nshutdown_grace_secs = 2\n", &[]);
    assert_eq!(c.exec(r#"{"action":"short"}"#).status, 202);
    assert_eq!(c.exec(r#"{"action":"long"}"#).status, 202);
    let started = Instant::now();
    let status = c.stop();
    assert!(status.success(), "{status}: {}", c.stderr());
    assert!(started.elapsed() < Duration::from_secs(15), "shutdown took {:?}", started.elapsed());
    assert!(c.host.path("short.done").exists(), "a run within the grace finished");
    assert!(!c.host.path("long.done").exists(), "a run past the grace was killed");
    let recs = c.audit();
    let finishes: Vec<i64> =
        recs.iter().filter(|r| r["action"] == "console.finish").map(|r| r["exit_code"].as_i64().unwrap()).collect();
    assert_eq!(finishes.len(), 2, "both ends audited: {recs:?}");
    assert!(finishes.contains(&0) && finishes.contains(&-1));
    assert!(c.stderr().contains("killing 1 action"));
}
