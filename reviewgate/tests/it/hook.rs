//! The pre-push hook in a real clone pushing to a real bare origin.

use crate::support::{GATE, Lab, sh};

/// A lab whose repo has a bare origin with `main` at genesis, and the hook installed.
fn with_origin() -> Lab {
    let lab = Lab::new();
    let origin = lab.host.path("origin.git");
    sh(lab.host.root(), "git", &["init", "-q", "--bare", "-b", "main", &origin.to_string_lossy()]);
    lab.git(&["remote", "add", "origin", &origin.to_string_lossy()]);
    lab.git(&["push", "-q", "origin", "main"]);
    let mut cmd = lab.host.command(GATE);
    cmd.current_dir(&lab.repo).args(["install-hook"]);
    let r = test_support::run(&mut cmd);
    assert_eq!(r.code, 0, "{r:?}");
    lab
}

/// `git push` with the lab's environment (the hook finds allowed_signers in it).
fn push(lab: &Lab, args: &[&str]) -> (bool, String) {
    let mut cmd = lab.host.command("git");
    cmd.current_dir(&lab.repo).env("OPENCLAW_ALLOWED_SIGNERS", lab.host.path("allowed_signers"));
    cmd.env("GIT_CONFIG_NOSYSTEM", "1").arg("push").args(args);
    let r = test_support::run(&mut cmd);
    (r.code == 0, format!("{}{}", r.stdout, r.stderr))
}

fn origin_main(lab: &Lab) -> String {
    sh(&lab.host.path("origin.git"), "git", &["rev-parse", "main"])
}

#[test]
fn a_reviewed_push_goes_through_and_an_unreviewed_one_is_blocked() {
    let lab = with_origin();
    let before = origin_main(&lab);
    lab.change("app.py", "print('unreviewed')\n");
    let (ok, out) = push(&lab, &["origin", "main"]);
    assert!(!ok, "{out}");
    assert!(out.contains("BLOCKED: refs/heads/main") && out.contains("no-verdict"), "{out}");
    assert_eq!(origin_main(&lab), before, "origin unchanged");
    // Review it: the verdict commit on top pushes.
    let head = lab.git(&["rev-parse", "HEAD"]);
    let tree = lab.git(&["rev-parse", "HEAD^{tree}"]);
    lab.write_signed(&lab.verdict(&head, &tree, |_| {}), "reviewer");
    let verdict_commit = lab.commit_verdict();
    let (ok, out) = push(&lab, &["origin", "main"]);
    assert!(ok, "{out}");
    assert_eq!(origin_main(&lab), verdict_commit);
    // Other branches are not gated.
    lab.git(&["checkout", "-q", "-b", "feature"]);
    lab.change("app.py", "wip\n");
    assert!(push(&lab, &["origin", "feature"]).0);
}

#[test]
fn deleting_or_rewinding_main_is_blocked() {
    let lab = with_origin();
    let (head, tree) = lab.change("app.py", "v2\n");
    lab.write_signed(&lab.verdict(&head, &tree, |_| {}), "reviewer");
    lab.commit_verdict();
    assert!(push(&lab, &["origin", "main"]).0);
    let (ok, out) = push(&lab, &["origin", ":main"]);
    assert!(!ok && out.contains("deleting the protected branch `main`"), "{out}");
    lab.git(&["reset", "-q", "--hard", "HEAD~2"]);
    let (ok, out) = push(&lab, &["--force", "origin", "main"]);
    assert!(!ok && out.contains("rewinds `main`"), "{out}");
}

#[test]
fn an_existing_hook_is_kept_and_runs_first_and_no_verify_is_why_deploys_verify_too() {
    let lab = Lab::new();
    let origin = lab.host.path("origin.git");
    sh(lab.host.root(), "git", &["init", "-q", "--bare", "-b", "main", &origin.to_string_lossy()]);
    lab.git(&["remote", "add", "origin", &origin.to_string_lossy()]);
    let hooks = lab.repo.join(".git/hooks");
    std::fs::write(hooks.join("pre-push"), "#!/bin/sh\necho chained-ran >&2\nexit 0\n").unwrap();
    std::fs::set_permissions(hooks.join("pre-push"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    for _ in 0..2 {
        let mut cmd = lab.host.command(GATE);
        cmd.current_dir(&lab.repo).args(["install-hook"]);
        assert_eq!(test_support::run(&mut cmd).code, 0, "idempotent");
    }
    assert!(hooks.join("pre-push.chained").exists());
    let (ok, out) = push(&lab, &["origin", "main"]);
    assert!(!ok && out.contains("chained-ran") && out.contains("BLOCKED"), "{out}");
    // --no-verify skips every hook: the unreviewed commit lands, and `verify` (deploy, CI) refuses it.
    assert!(push(&lab, &["--no-verify", "origin", "main"]).0);
    let r = lab.verify("origin/main", &[]);
    lab.git(&["fetch", "-q", "origin"]);
    let r2 = lab.verify("origin/main", &[]);
    assert_eq!(r2.code, 1, "{r:?} {r2:?}");
}
