//! `prepare-log`: what `openclaw-guard.service` runs as root, outside its
//! sandbox, before every tick. It may create a missing log, and must never
//! follow, adopt or loosen what is already at the path (a group that may
//! write /var/log plants a link or its own file there).

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use crate::support::Host;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn a_missing_log_is_created_0600_and_an_existing_one_is_left_as_it_is() {
    let h = Host::new();
    let log = h.path("guard.log");
    let r = h.run(&["prepare-log"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(mode(&log), 0o600);
    assert_eq!(std::fs::read(&log).unwrap(), b"");
    std::fs::write(&log, "[t] RESULT: FAIL\n").unwrap();
    let r = h.run(&["prepare-log"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "[t] RESULT: FAIL\n", "never truncated");
}

#[test]
fn a_link_at_the_log_path_is_refused_and_never_followed() {
    let h = Host::new();
    let target = h.path("elsewhere");
    std::os::unix::fs::symlink(&target, h.path("guard.log")).unwrap();
    let r = h.run(&["prepare-log"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(!target.exists(), "created through the link");
    assert!(std::fs::symlink_metadata(h.path("guard.log")).unwrap().file_type().is_symlink());
}

#[test]
fn a_log_group_or_others_can_write_is_refused_and_left_unchanged() {
    let h = Host::new();
    let log = h.path("guard.log");
    std::fs::write(&log, "x\n").unwrap();
    std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o620)).unwrap();
    let r = h.run(&["prepare-log"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(mode(&log), 0o620, "never chmodded");
}

#[test]
fn a_file_someone_else_planted_is_refused_and_never_adopted() {
    if !test_support::is_root() {
        return test_support::skip("needs root to plant a file owned by another uid");
    }
    let h = Host::new();
    let log = h.path("guard.log");
    std::fs::write(&log, "FORGED: RESULT: PASS\n").unwrap();
    std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o600)).unwrap();
    rustix::fs::chown(&log, Some(rustix::fs::Uid::from_raw(65534)), Some(rustix::fs::Gid::from_raw(65534))).unwrap();
    let r = h.run(&["prepare-log"]);
    assert_eq!(r.code, 2, "{r:?}");
    let m = std::fs::metadata(&log).unwrap();
    assert_eq!((m.uid(), m.gid()), (65534, 65534), "never chowned to root");
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "FORGED: RESULT: PASS\n");
}

#[test]
fn a_hard_link_at_the_log_path_is_refused_and_the_other_file_left_unchanged() {
    let h = Host::new();
    let other = h.path("shadow-like");
    std::fs::write(&other, "root:x:0:0\n").unwrap();
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::hard_link(&other, h.path("guard.log")).unwrap();
    let r = h.run(&["prepare-log"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("hard link"), "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(&other).unwrap(), "root:x:0:0\n", "nothing appended");
}
