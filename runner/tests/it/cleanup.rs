//! Cleanup after a crash: a job directory no running job holds (its
//! worktree still read-only) is removed by the next run, and the mirror's
//! worktree list is pruned.

use std::os::unix::fs::PermissionsExt;

use crate::support::{Lab, need_root};

#[test]
fn the_next_run_removes_an_orphan_left_by_a_crash() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    lab.job("noop", "exit 0", "");
    lab.write_config();
    assert_eq!(lab.run("noop", &[]).code, 0);
    let orphan = lab.host.path("run/runner/0123456789abcdef0123456789abcdef");
    std::fs::create_dir_all(orphan.join("tree/sub")).unwrap();
    std::fs::write(orphan.join("tree/sub/f"), "x").unwrap();
    for d in [orphan.join("tree/sub"), orphan.join("tree")] {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o555)).unwrap();
    }
    let run = lab.run("noop", &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!orphan.exists(), "the orphan is still there");
    assert!(lab.job_dirs().is_empty(), "{:?}", lab.job_dirs());
}
