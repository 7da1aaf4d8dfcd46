//! `ssh-tailnet-only` against a real sshd in a test-made network namespace
//! (see `sshlab`): the fix, every unhealthy Tailscale state, `sshd -t`
//! failing, verification failing, the guard killed mid-fix, socket
//! activation, no sshd unit, non-local bind off, and the reboot ordering.

use std::time::{Duration, Instant};

use crate::sshlab::{Lab, PORT, TAILNET};

const UNITS: &str = "ssh.service enabled enabled\nssh@.service static -\n";

#[test]
fn public_sshd_answers_only_on_the_tailnet_address_after_a_tick() {
    let Some(lab) = Lab::new("ssh.service enabled enabled\nssh.socket disabled enabled\n") else { return };
    assert!(lab.banner("198.51.100.7").is_some_and(|b| b.starts_with("SSH-2.0-")), "public before the fix");
    let r = lab.guard(&["run", "--format", "json"]);
    assert_eq!(r.code, 0, "{r:?}\n{}", lab.h.log());
    // Real TCP: the banner answers on the tailnet address, nothing on the public one.
    assert!(lab.banner(TAILNET).is_some_and(|b| b.starts_with("SSH-2.0-")), "{}", lab.h.log());
    assert_eq!(lab.banner("198.51.100.7"), None);
    assert_eq!(lab.binds(), [format!("{TAILNET}:{PORT}")], "the kernel shows no public bind; port {PORT} kept");
    let log = lab.h.log();
    for token in ["REMEDIATING listeners/ssh-tailnet-only", "REMEDIATION APPLIED", "RESULT: PASS after remediation"] {
        assert!(log.contains(token), "{token}: {log}");
    }
    // The socket unit is disabled and masked before the restart.
    let calls = lab.systemctl_calls();
    let order: Vec<&str> = calls.lines().filter(|l| !l.starts_with("is-") && !l.starts_with("list")).collect();
    assert_eq!(order, ["disable --now ssh.socket", "mask ssh.socket", "daemon-reload", "restart ssh.service"]);
    let st = lab.h.state();
    assert_eq!(st["pending_rollback"], serde_json::Value::Null);
    assert_eq!(st["last_run"]["outcome"], "pass");
    let j = r.json();
    assert_eq!(j["attempts"][0]["fix"]["outcome"], "applied");
    assert_eq!(j["attempts"][0]["result"]["succeeded"], true);
    // A second tick has nothing to do and touches nothing.
    let pid = lab.sshd_pid();
    let r = lab.guard(&["run"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(lab.sshd_pid(), pid);
    assert!(lab.h.log().matches("restart ssh.service").count() <= 1);
    let v = lab.guard(&["fix", "ssh-tailnet-only", "--verify"]);
    assert_eq!(v.code, 0, "{v:?}");
    // Compliant now, but not after a reboot once the sysctl file is gone.
    std::fs::remove_file(lab.h.path("sysroot/etc/sysctl.d/60-openclaw-guard.conf")).unwrap();
    let v = lab.guard(&["fix", "ssh-tailnet-only", "--verify"]);
    assert_eq!(v.code, 1, "{v:?}");
    assert!(v.stdout.contains("after a reboot sshd could not bind"), "{v:?}");
}

#[test]
fn every_unhealthy_tailscale_state_leaves_sshd_untouched() {
    let Some(lab) = Lab::new(UNITS) else { return };
    let before = lab.config_snapshot();
    let pid = lab.sshd_pid();
    for (fixture, code, why) in [
        ("stopped.json", 0, "Stopped"),
        ("needs_login.json", 0, "NeedsLogin"),
        ("starting.json", 0, "Starting"),
        ("offline.json", 0, "not Online"),
        ("no_ips.json", 0, "no"),
        ("garbage.txt", 0, ""),
        ("partial.json", 0, ""),
        ("running.json", 1, "exited 1"),
    ] {
        lab.h.tailscale(fixture, code);
        let r = lab.guard(&["run"]);
        assert_eq!(r.code, 1, "{fixture}: {r:?}");
        let log = lab.h.log();
        let last = log.rsplit("--- guard run").next().unwrap();
        assert!(last.contains("INTERLOCK CLOSED") && last.contains(why), "{fixture}: {last}");
        assert!(last.contains("sshd will NOT be touched") && last.contains("will retry next tick"), "{last}");
        assert_eq!(lab.config_snapshot(), before, "{fixture}: config files byte-identical");
        assert_eq!(lab.sshd_pid(), pid, "{fixture}: sshd not restarted");
        assert_eq!(lab.systemctl_calls(), "", "{fixture}: systemctl never called");
    }
    // A hang is bounded by the timeout and closes the interlock too.
    lab.h.stub("tailscale", "sleep 30");
    let r = lab.guard(&["run"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!((lab.config_snapshot(), lab.sshd_pid(), lab.systemctl_calls()), (before, pid, String::new()));
    // A tailnet address that is not on any interface here.
    lab.in_ns(&format!("ip addr del {TAILNET}/32 dev tailscale0"));
    lab.h.tailscale("running.json", 0);
    let r = lab.guard(&["run"]);
    assert_eq!(r.code, 1);
    assert!(lab.h.log().contains("is not configured"), "{}", lab.h.log());
    assert_eq!(lab.systemctl_calls(), "");
}

#[test]
fn a_failing_sshd_t_restores_the_files_and_restarts_nothing() {
    let Some(lab) = Lab::new(UNITS) else { return };
    std::fs::remove_file(lab.h.bin_dir().join("sshd")).unwrap();
    lab.h.stub("sshd", "if [ \"$1\" = -t ]; then echo 'line 3: Bad configuration option' >&2; exit 255; fi\nexec /usr/sbin/sshd \"$@\"");
    let before = lab.config_snapshot();
    let pid = lab.sshd_pid();
    let r = lab.guard(&["fix", "ssh-tailnet-only"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stdout.contains("sshd -t rejected the new configuration, nothing restarted"), "{r:?}");
    assert!(r.stdout.contains("files restored from"), "{r:?}");
    assert_eq!(lab.config_snapshot(), before);
    assert_eq!(lab.sshd_pid(), pid);
    assert!(!lab.systemctl_calls().contains("restart"));
    assert_eq!(lab.h.state()["pending_rollback"], serde_json::Value::Null);
}

#[test]
fn failed_verification_rolls_back_to_the_original_files_and_a_live_sshd() {
    let Some(lab) = Lab::new(UNITS) else { return };
    let before = lab.config_snapshot();
    // The first restart "succeeds" without restarting: sshd keeps its public bind.
    std::fs::write(lab.h.path("restart-noop-once"), "").unwrap();
    let r = lab.guard(&["run", "--format", "json"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(lab.config_snapshot(), before, "files restored byte for byte");
    assert!(lab.banner("198.51.100.7").is_some_and(|b| b.starts_with("SSH-2.0-")), "previous listener live");
    let log = lab.h.log();
    assert!(log.contains("ROLLED BACK listeners/ssh-tailnet-only"), "{log}");
    assert!(log.contains("verification failed after the restart"), "{log}");
    let calls = lab.h.notify_calls();
    let rb = calls.iter().find(|c| c.contains(&"guard.rolled_back".to_owned())).expect("rolled_back alert");
    assert!(rb.contains(&"emergency".to_owned()));
    let st = lab.h.state();
    assert_eq!(st["pending_rollback"], serde_json::Value::Null);
    assert_eq!(st["findings"]["listeners/ssh-tailnet-only"]["attempts"].as_array().unwrap().len(), 1);
    assert_eq!(r.json()["attempts"][0]["fix"]["undo"]["undo"], "rolled-back");
}

#[test]
fn a_guard_killed_between_restart_and_confirm_is_rolled_back_by_the_watchdog() {
    let Some(lab) = Lab::new(UNITS) else { return };
    lab.deadline(4, 2);
    let before = lab.config_snapshot();
    std::fs::write(lab.h.path("hang-after-restart"), "").unwrap();
    let mut child = lab.guard_command(&["fix", "ssh-tailnet-only"]).spawn().unwrap();
    assert!(
        crate::support::wait_for(|| lab.h.path("restarted").exists()),
        "the stub never restarted sshd: {}",
        lab.h.log()
    );
    assert!(lab.banner(TAILNET).is_some(), "sshd runs the new configuration");
    child.kill().unwrap(); // SIGKILL
    let killed = Instant::now();
    child.wait().unwrap();
    let mut restored = false;
    while killed.elapsed() < Duration::from_secs(20) {
        if lab.config_snapshot() == before && lab.h.state()["pending_rollback"].is_null() {
            restored = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let took = killed.elapsed();
    assert!(restored, "no rollback within 20 s: {}", lab.h.log());
    assert!(crate::support::wait_for(|| lab.banner("198.51.100.7").is_some()), "previous listener back");
    let log = lab.h.log();
    assert!(log.contains("ROLLED BACK ssh-tailnet-only") && log.contains("deadline passed"), "{log}");
    assert_eq!(lab.h.state()["last_rollback"]["restored"], true);
    assert!(took < Duration::from_secs(20), "{took:?}");
}

#[test]
fn no_sshd_unit_is_a_refusal_with_instructions_never_a_pass() {
    let Some(lab) = Lab::new("cron.service enabled enabled\n") else { return };
    let before = lab.config_snapshot();
    let r = lab.guard(&["fix", "ssh-tailnet-only"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stdout.contains("no ssh.service or sshd.service unit") && r.stdout.contains("by hand"), "{r:?}");
    assert_eq!(lab.config_snapshot(), before);
    let r = lab.guard(&["run"]);
    assert_eq!(r.code, 1, "{r:?}");
}

#[test]
fn without_nonlocal_bind_the_fix_refuses_and_the_reboot_case_shows_why() {
    let Some(lab) = Lab::new(UNITS) else { return };
    lab.in_ns("echo 0 > /proc/sys/net/ipv4/ip_nonlocal_bind");
    let before = lab.config_snapshot();
    let r = lab.guard(&["fix", "ssh-tailnet-only"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stdout.contains("ip_nonlocal_bind must be 1 now and after a reboot (now: 0; at boot: 1)"), "{r:?}");
    assert_eq!(lab.config_snapshot(), before);
    // On now but not in the sysctl files (a `sysctl -w` alone): refused too, a reboot would lock out.
    lab.in_ns("echo 1 > /proc/sys/net/ipv4/ip_nonlocal_bind");
    std::fs::write(lab.h.path("sysroot/etc/sysctl.d/60-openclaw-guard.conf"), "# removed\n").unwrap();
    let r = lab.guard(&["fix", "ssh-tailnet-only"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stdout.contains("(now: 1; at boot: not 1 in the sysctl.d files)"), "{r:?}");
    assert_eq!(lab.config_snapshot(), before);
    // With both, apply, then "reboot": the tailnet address is gone when sshd starts.
    std::fs::write(lab.h.path("sysroot/etc/sysctl.d/60-openclaw-guard.conf"), "net.ipv4.ip_nonlocal_bind = 1\n")
        .unwrap();
    let r = lab.guard(&["fix", "ssh-tailnet-only"]);
    assert_eq!(r.code, 0, "{r:?}");
    let pid = lab.sshd_pid().unwrap();
    lab.in_ns(&format!("kill {pid}"));
    assert!(crate::support::wait_for(|| lab.binds().is_empty()));
    lab.in_ns(&format!("ip addr del {TAILNET}/32 dev tailscale0"));
    lab.start_sshd(); // sshd starts before tailscaled brings the address up
    assert_eq!(lab.binds(), [format!("{TAILNET}:{PORT}")]);
    lab.in_ns(&format!("ip addr add {TAILNET}/32 dev tailscale0"));
    assert!(lab.banner(TAILNET).is_some_and(|b| b.starts_with("SSH-2.0-")), "answers once the address is up");
    // Without non-local bind the same boot fails: sshd cannot bind and exits.
    lab.in_ns(&format!("kill $(cat '{}')", lab.h.path("sshd.pid").display()));
    assert!(crate::support::wait_for(|| lab.binds().is_empty()));
    lab.in_ns(&format!("ip addr del {TAILNET}/32 dev tailscale0; echo 0 > /proc/sys/net/ipv4/ip_nonlocal_bind"));
    let _ = std::fs::remove_file(lab.h.path("sshd.pid"));
    let (_, _) = lab.in_ns(&format!("/usr/sbin/sshd -f '{}'", lab.ssh.join("sshd_config").display()));
    std::thread::sleep(Duration::from_millis(500));
    assert!(lab.binds().is_empty(), "without ip_nonlocal_bind sshd has no listener at boot: a lockout");
}

#[test]
fn the_budget_stops_after_three_failures_with_one_emergency_alert() {
    let Some(lab) = Lab::new(UNITS) else { return };
    std::fs::remove_file(lab.h.bin_dir().join("sshd")).unwrap();
    lab.h.stub("sshd", "if [ \"$1\" = -t ]; then exit 255; fi\nexec /usr/sbin/sshd \"$@\"");
    // Two failed attempts earlier today, their back-off over.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let state = serde_json::json!({
        "schema_version": 1, "last_run": null, "doctor_fail_open": false, "pending_rollback": null,
        "findings": {"listeners/ssh-tailnet-only": {"first_seen": now - 4000, "last_seen": now - 1000,
            "attempts": [now - 4000, now - 2000], "consecutive_failures": 2, "backoff_until": null,
            "budget_exhausted": false}}
    });
    std::fs::create_dir_all(lab.h.path("state/guard")).unwrap();
    std::fs::write(lab.h.path("state/guard/state.json"), state.to_string()).unwrap();
    let r = lab.guard(&["run"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(lab.h.log().contains("REMEDIATION FAILED"), "{}", lab.h.log());
    let alerts = |id: &str| lab.h.notify_calls().iter().filter(|c| c.contains(&id.to_owned())).count();
    assert_eq!(alerts("guard.budget_exhausted"), 1);
    assert!(lab.h.state()["findings"]["listeners/ssh-tailnet-only"]["budget_exhausted"] == true);
    // The next tick: no fourth attempt, no second alert, the finding still reported.
    let calls = lab.systemctl_calls();
    let r = lab.guard(&["run"]);
    assert_eq!(r.code, 1);
    assert_eq!(lab.systemctl_calls(), calls, "no fourth attempt");
    assert_eq!(alerts("guard.budget_exhausted"), 1);
    assert!(lab.h.log().rsplit("--- guard run").next().unwrap().contains("budget exhausted"), "{}", lab.h.log());
    assert_eq!(alerts("guard.doctor_fail"), 2);
}

#[test]
fn the_fix_includes_only_its_own_file_so_unread_dropins_stay_unread() {
    let Some(lab) = Lab::new(UNITS) else { return };
    let main = lab.ssh.join("sshd_config");
    let text = std::fs::read_to_string(&main).unwrap();
    std::fs::write(&main, text.lines().skip(1).map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    std::fs::write(lab.ssh.join("sshd_config.d/10-old.conf"), "AllowUsers nobody\nListenAddress 0.0.0.0\n").unwrap();
    let r = lab.guard(&["fix", "ssh-tailnet-only"]);
    assert_eq!(r.code, 0, "{r:?}");
    let (_, eff) = lab.in_ns(&format!("/usr/sbin/sshd -T -f '{}'", main.display()));
    assert!(!eff.contains("allowusers"), "a leftover drop-in was switched on: {eff}");
    assert_eq!(
        std::fs::read_to_string(lab.ssh.join("sshd_config.d/10-old.conf")).unwrap(),
        "AllowUsers nobody\nListenAddress 0.0.0.0\n"
    );
    assert!(std::fs::read_to_string(&main).unwrap().contains("Include "));
    assert_eq!(lab.binds(), [format!("{TAILNET}:{PORT}")]);
}

#[test]
fn a_socket_activated_sshd_is_rolled_back_to_its_socket_and_the_service_disabled_again() {
    let Some(lab) = Lab::new("ssh.service disabled enabled\nssh.socket enabled enabled\n") else { return };
    std::fs::write(lab.h.path("active-ssh.socket"), "").unwrap();
    std::fs::write(lab.h.path("restart-noop-once"), "").unwrap();
    let r = lab.guard(&["fix", "ssh-tailnet-only"]);
    assert_eq!(r.code, 1, "{r:?}");
    let calls = lab.systemctl_calls();
    let changes: Vec<&str> = calls.lines().filter(|l| !l.starts_with("is-") && !l.starts_with("list")).collect();
    assert_eq!(
        changes,
        [
            "disable --now ssh.socket",
            "mask ssh.socket",
            "daemon-reload",
            "enable ssh.service",
            "restart ssh.service",
            // the rollback: units back as they were, then the socket takes the port again
            "unmask ssh.service",
            "disable ssh.service",
            "unmask ssh.socket",
            "enable ssh.socket",
            "daemon-reload",
            "stop ssh.service",
            "start ssh.socket",
        ]
    );
    assert!(r.stdout.contains("the previous sshd configuration (possibly public) is restored"), "{r:?}");
}

#[test]
fn an_audit_log_that_cannot_take_a_record_stops_the_tick_before_any_change() {
    let Some(lab) = Lab::new(UNITS) else { return };
    // One tick that changes nothing creates the log and its checkpoint; then the log is cut.
    lab.h.tailscale("stopped.json", 0);
    assert_eq!(lab.guard(&["run"]).code, 1);
    std::fs::write(lab.h.path("audit/audit.jsonl"), "").unwrap();
    lab.h.tailscale("running.json", 0);
    let before = lab.config_snapshot();
    let r = lab.guard(&["run"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("no remediation: the audit log cannot take a record"), "{r:?}");
    assert_eq!(lab.config_snapshot(), before);
    assert_eq!(lab.systemctl_calls(), "");
}

#[test]
fn a_watchdog_dead_man_is_refused_inside_a_systemd_unit() {
    let Some(lab) = Lab::new(UNITS) else { return };
    let before = lab.config_snapshot();
    let r = test_support::run(lab.guard_command(&["fix", "ssh-tailnet-only"]).env("INVOCATION_ID", "0123abcd"));
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stdout.contains("refusing a watchdog dead-man inside a systemd unit"), "{r:?}");
    assert_eq!(lab.config_snapshot(), before, "nothing changes without a dead-man");
    assert_eq!(lab.h.state()["pending_rollback"], serde_json::Value::Null);
}

#[test]
fn an_overdue_rollback_is_done_by_the_next_tick_and_a_broken_log_never_blocks_it() {
    let Some(lab) = Lab::new(UNITS) else { return };
    let before = lab.config_snapshot();
    std::fs::write(lab.h.path("hang-after-restart"), "").unwrap();
    let mut child = lab.guard_command(&["fix", "ssh-tailnet-only"]).spawn().unwrap();
    assert!(crate::support::wait_for(|| lab.h.path("restarted").exists()), "{}", lab.h.log());
    // The guard and its watchdog both die (a host crash, say) and the deadline passes.
    let st = lab.h.state();
    let pid = st["pending_rollback"]["armed"]["pid"].as_u64().expect("watchdog pid");
    child.kill().unwrap();
    child.wait().unwrap();
    std::process::Command::new("/bin/kill").args(["-9", &pid.to_string()]).status().unwrap();
    let mut st = lab.h.state();
    st["pending_rollback"]["deadline"] = serde_json::json!(st["pending_rollback"]["armed_at"].as_i64().unwrap() - 3600);
    std::fs::write(lab.h.path("state/guard/state.json"), st.to_string()).unwrap();
    lab.h.tailscale("stopped.json", 0); // so this tick only rolls back, and does not fix again
    let r = lab.guard(&["run"]);
    assert_eq!(lab.config_snapshot(), before, "{r:?}\n{}", lab.h.log());
    assert!(lab.h.log().contains("overdue rollback of ssh-tailnet-only-"), "{}", lab.h.log());
    assert_eq!(lab.h.state()["last_rollback"]["restored"], true);

    // A dead-man whose guard log turned into a symlink still restores.
    let Some(lab) = Lab::new(UNITS) else { return };
    lab.deadline(3, 2);
    let before = lab.config_snapshot();
    std::fs::write(lab.h.path("hang-after-restart"), "").unwrap();
    let mut child = lab.guard_command(&["fix", "ssh-tailnet-only"]).spawn().unwrap();
    assert!(crate::support::wait_for(|| lab.h.path("restarted").exists()));
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::remove_file(lab.h.path("guard.log")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", lab.h.path("guard.log")).unwrap();
    assert!(
        crate::support::wait_for(|| lab.config_snapshot() == before),
        "the broken log kept the files from coming back"
    );
}

#[test]
fn a_tick_killed_mid_fix_has_spent_budget_and_backs_off() {
    let Some(lab) = Lab::new(UNITS) else { return };
    lab.deadline(3, 2);
    let before = lab.config_snapshot();
    std::fs::write(lab.h.path("hang-after-restart"), "").unwrap();
    let mut child = lab.guard_command(&["run"]).spawn().unwrap();
    assert!(crate::support::wait_for(|| lab.h.path("restarted").exists()), "{}", lab.h.log());
    child.kill().unwrap();
    child.wait().unwrap();
    let f = &lab.h.state()["findings"]["listeners/ssh-tailnet-only"];
    assert_eq!(f["attempts"].as_array().unwrap().len(), 1, "{f}");
    assert!(f["backoff_until"].as_i64().is_some(), "{f}");
    assert!(crate::support::wait_for(|| lab.config_snapshot() == before), "rolled back by the watchdog");
    // The next tick backs off instead of trying again at once.
    let r = lab.guard(&["run"]);
    assert_eq!(r.code, 1);
    assert!(lab.h.log().rsplit("--- guard run").next().unwrap().contains("backing off"), "{}", lab.h.log());
}

/// A process that is not sshd wins one of sshd's ports on the tailnet
/// address across the restart and answers with an `SSH-2.0-` banner of its
/// own (it could phish credentials). The banner proves nothing, and neither
/// does root: the guard sees a listener held by a process that is neither
/// in sshd's unit nor sshd's binary, rolls back, alerts naming its pid, uid
/// and executable, and exits 1.
#[test]
fn a_squatter_on_an_sshd_port_is_rolled_back_never_confirmed() {
    for uid in ["65534", "0"] {
        let Some(lab) = Lab::new(UNITS) else { return };
        squatted_fix_rolls_back(&lab, uid);
    }
}

fn squatted_fix_rolls_back(lab: &Lab, uid: &str) {
    // sshd on 2222 and 2223, bound to the public address only: the tailnet
    // address of 2223 is then free for another process. (Phase 1 has run
    // before: sshd already answers on the tailnet's 2222.)
    lab.restart_sshd_with("Port 2223\nListenAddress 198.51.100.7\nListenAddress 100.101.102.103:2222");
    let script = format!(
        "import socket\ns = socket.socket()\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         s.bind(('{TAILNET}', 2223))\ns.listen(8)\nprint('ready', flush=True)\nwhile True:\n    c, _ = s.accept()\n    \
         c.sendall(b'SSH-2.0-OpenSSH_9.9 not-sshd\\r\\n')\n    c.close()\n"
    );
    let mut squatter = std::process::Command::new("/usr/sbin/ip")
        .args(["netns", "exec", &lab.ns, "/usr/bin/setpriv", &format!("--reuid={uid}"), &format!("--regid={uid}")])
        .args(["--clear-groups", "/usr/bin/python3", "-c", &script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(squatter.stdout.as_mut().unwrap()), &mut ready).unwrap();
    assert_eq!(ready.trim(), "ready");
    let before = lab.config_snapshot();
    let r = lab.guard(&["run", "--format", "json"]);
    let pid = squatter.id();
    let _ = squatter.kill();
    let _ = squatter.wait();
    assert_eq!(r.code, 1, "uid {uid}: {r:?}\n{}", lab.h.log());
    let log = lab.h.log();
    assert!(log.contains("not sshd's") && log.contains(&format!("(uid {uid}) held by pid")), "{log}");
    assert!(log.contains("exe /usr/bin/python3"), "{log}");
    assert!(log.contains("ROLLED BACK listeners/ssh-tailnet-only"), "{log}");
    assert!(!log.contains("REMEDIATION APPLIED"), "{log}");
    assert_eq!(lab.config_snapshot(), before, "files restored byte for byte");
    assert!(
        lab.banner("198.51.100.7").is_some_and(|b| b.starts_with("SSH-2.0-OpenSSH")),
        "the public listener is back"
    );
    let calls = lab.h.notify_calls();
    let alert = calls
        .iter()
        .find(|c| c.contains(&"guard.rolled_back".to_owned()) && c.contains(&"emergency".to_owned()))
        .expect("an emergency alert");
    let text = alert.last().unwrap();
    assert!(text.contains("/usr/bin/python3") && text.contains(&format!("uid {uid}")), "{text}");
    assert!(text.contains(&format!("pid {pid}")), "{text}");
}
