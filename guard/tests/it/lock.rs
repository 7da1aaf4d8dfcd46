//! One tick at a time, and a state directory others could write refused.

use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::Host;

#[test]
fn a_second_run_waits_then_exits_2_naming_the_holder() {
    let h = Host::new();
    h.write_config("[guard]\nlock_wait_secs = 1\ndoctor_timeout_secs = 20\n");
    let ran = h.path("doctor.ran");
    h.doctor_script(&format!(
        "touch '{}'\nsleep 4\ncat '{}'\nexit 0",
        ran.display(),
        crate::support::fixture("doctor_pass.json").display()
    ));
    let mut first = h.command().arg("run").stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ran.exists() {
        assert!(Instant::now() < deadline, "the first run never reached its doctor");
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = h.run(&["run"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("another guard run or fix is in progress"), "{}", r.stderr);
    assert!(r.stderr.contains(&format!("held by pid {}", first.id())), "{}", r.stderr);
    assert!(first.wait().unwrap().success(), "the holder finishes its tick");
    assert_eq!(h.log().matches("--- guard run").count(), 1, "the second run did nothing");
}

#[test]
fn a_hostile_state_directory_is_refused_before_the_doctor_runs() {
    let h = Host::new();
    h.doctor("doctor_pass.json", 0);
    let dir = h.path("state/guard");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(h.path("state"), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let r = h.run(&["run"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("refusing state directory") && r.stderr.contains("chmod go-w"), "{}", r.stderr);
    assert!(!h.doctor_ran(), "nothing ran");
    let r = h.run(&["status"]);
    assert_eq!(r.code, 2, "{r:?}");
}

#[test]
fn a_guard_log_that_is_a_link_is_refused() {
    let h = Host::new();
    h.doctor("doctor_pass.json", 0);
    let target = h.path("elsewhere.log");
    std::fs::write(&target, "").unwrap();
    std::os::unix::fs::symlink(&target, h.path("guard.log")).unwrap();
    let r = h.run(&["run"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("guard log") && r.stderr.contains("symbolic link"), "{}", r.stderr);
    assert!(!h.doctor_ran(), "nothing ran");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "", "nothing written through the link");
}
