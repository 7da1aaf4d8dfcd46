//! MUTATION_DETECTED: each mutation in the list, made by a root
//! job that then exits 0, fails the run with the path named; the same
//! attempts by a nobody job are refused by the kernel and leave the tree
//! clean.

use crate::support::{Lab, UNLOCK_MIRROR, changed, need_root};

/// (name, script, a path the change must name, what changed there)
const CASES: &[(&str, &str, &str, &str)] = &[
    ("edit-tracked", "echo evil >> README", "README", "content"),
    ("add-untracked", "echo x > new.txt", "new.txt", "added"),
    (
        "write-ignored",
        "mkdir -p build && echo o > build/out.o && test -z \"$(git status --porcelain)\"",
        "build/out.o",
        "added",
    ),
    ("chmod-only", "chmod 0755 data.txt", "data.txt", "mode"),
    ("symlink", "rm data.txt && ln -s /etc/passwd data.txt", "data.txt", "type"),
    ("delete", "rm src/app.sh", "src/app.sh", "removed"),
    (
        "skip-worktree",
        "git update-index --skip-worktree data.txt && echo evil > data.txt && test -z \"$(git status --porcelain --ignored)\"",
        "data.txt",
        "content",
    ),
    (
        "assume-unchanged-touch",
        "git update-index --assume-unchanged README && touch -d '2001-01-01' README && test -z \"$(git status --porcelain --ignored)\"",
        "README",
        "mtime",
    ),
];

#[test]
fn every_mutation_by_a_root_job_that_exits_0_is_mutation_detected() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    for (name, script, _, _) in CASES {
        lab.job(name, &format!("set -e\n{UNLOCK_MIRROR}{script}\nexit 0"), "run_as = \"root\"");
    }
    lab.write_config();
    for (name, _, path, what) in CASES {
        let run = lab.run(name, &[]);
        assert_eq!(run.code, 1, "{name}: {}\n{}", run.stdout, run.stderr);
        let v = run.json();
        assert_eq!(v["exit_code"], 0, "{name}: the job itself must have succeeded: {v}");
        assert_eq!(v["status"], "failure", "{name}");
        assert_eq!(v["invariants"]["clean_tree_ok"], false, "{name}");
        assert_eq!(v["invariants"]["reason"], "MUTATION_DETECTED", "{name}");
        let entry = v["invariants"]["changed_paths"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["path"] == *path)
            .unwrap_or_else(|| panic!("{name}: {path} not in {:?}", changed(&v)))
            .clone();
        assert!(entry["changes"].as_array().unwrap().iter().any(|c| c == what), "{name}: {entry}");
        let err = std::fs::read_to_string(lab.artifacts(v["job_id"].as_str().unwrap()).join("error.json")).unwrap();
        assert!(err.contains("\"mutation_detected\""), "{name}: {err}");
        assert!(lab.job_dirs().is_empty(), "{name}: left {:?}", lab.job_dirs());
    }
}

#[test]
fn the_same_attempts_by_nobody_fail_and_leave_the_tree_clean() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    let mut body =
        String::from("w() { if (eval \"$1\") 2>/dev/null; then echo \"$1\" >> \"$ARTIFACT_DIR/wrote\"; fi; }\n");
    for (_, script, _, _) in CASES {
        body.push_str(&format!("w '{}'\n", script.replace('\'', "'\\''")));
    }
    body.push_str("w 'chmod u+w . README'\nw 'chmod -R u+w .'\nw 'touch README'\nexit 0\n");
    lab.job("nobody-tries", &body, "");
    lab.write_config();
    let run = lab.run("nobody-tries", &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let v = run.json();
    assert_eq!(v["invariants"]["clean_tree_ok"], true, "{v}");
    let outputs = v["outputs"].as_array().unwrap();
    assert!(outputs.iter().all(|o| o["name"] != "wrote"), "nobody changed the tree: {v}");
}

#[test]
fn chmod_u_plus_w_by_the_job_fails_for_lack_of_permission() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    lab.job("chmod", "chmod u+w README 2> \"$ARTIFACT_DIR/err\" && exit 9; cat \"$ARTIFACT_DIR/err\" >&2; exit 4", "");
    lab.write_config();
    let run = lab.run("chmod", &[]);
    assert_eq!(run.code, 1);
    let v = run.json();
    assert_eq!((v["exit_code"].as_i64(), v["invariants"]["clean_tree_ok"].as_bool()), (Some(4), Some(true)), "{v}");
    let stderr = std::fs::read_to_string(lab.artifacts(v["job_id"].as_str().unwrap()).join("stderr.log")).unwrap();
    assert!(stderr.contains("Operation not permitted"), "{stderr}");
}

#[test]
fn a_push_from_the_worktree_fails_and_the_origin_is_unchanged() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    lab.job("push", "git push origin HEAD:refs/heads/evil && exit 9; exit 5", "run_as = \"root\"");
    lab.write_config();
    let run = lab.run("push", &[]);
    let v = run.json();
    assert_eq!(v["exit_code"], 5, "{v}");
    let heads = crate::support::sh(&lab.host.path("origin.git"), "git", &["for-each-ref", "--format=%(refname)"]);
    assert!(!heads.contains("evil"), "{heads}");
    let url = crate::support::sh(
        &lab.host.path("state/runner/mirrors/app.git"),
        "git",
        &["remote", "get-url", "--push", "origin"],
    );
    assert_eq!(url, "openclaw-push-disabled::/");
}

#[test]
fn a_hostile_file_name_is_reported_escaped_and_inert() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    lab.job("ansi", "echo x > \"$(printf 'x\\033[31my\\nz')\"", "run_as = \"root\"");
    lab.write_config();
    let run = test_support::run(&mut lab.command(&["run", "--job", "ansi", "--repo", "app", "--sha", &lab.sha]));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stdout.contains("x\\x1b[31my\\x0az  (added)"), "{}", run.stdout);
    assert!(!run.stdout.contains('\u{1b}'), "raw escape in {:?}", run.stdout);
}
