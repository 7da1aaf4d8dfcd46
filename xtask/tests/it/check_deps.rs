//! The dependency-direction invariant is enforced on a scratch copy of the
//! real workspace: the real manifests (`test-support` among them) plus two
//! throwaway tool crates.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Copies the real workspace manifest and every member's manifest and
/// sources into a temp dir, then adds tool crates `alpha` and `beta`.
fn scratch_workspace(alpha_deps: &str, beta_deps: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let real = fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let with_tools = real.replacen("members = [", "members = [\"alpha\", \"beta\", ", 1);
    assert_ne!(real, with_tools, "workspace manifest has no members list");
    fs::write(tmp.path().join("Cargo.toml"), with_tools).unwrap();
    for member in members() {
        let to = tmp.path().join(&member);
        fs::create_dir_all(&to).unwrap();
        fs::copy(root().join(&member).join("Cargo.toml"), to.join("Cargo.toml")).unwrap();
        copy_dir(&root().join(&member).join("src"), &to.join("src"));
    }
    for (name, deps) in [("alpha", alpha_deps), ("beta", beta_deps)] {
        let dir = tmp.path().join(name);
        fs::create_dir_all(dir.join("src")).unwrap();
        fs::write(
            dir.join("Cargo.toml"),
            format!(
                "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2024\"\n\n[dependencies]\n{deps}\n"
            ),
        )
        .unwrap();
        fs::write(dir.join("src/main.rs"), "fn main() {}\n").unwrap();
    }
    tmp
}

/// Every workspace member's directory, relative to the root, from cargo itself.
fn members() -> Vec<String> {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline", "--manifest-path"])
        .arg(root().join("Cargo.toml"))
        .output()
        .unwrap();
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let manifest = Path::new(p["manifest_path"].as_str().unwrap());
            manifest.parent().unwrap().strip_prefix(root()).unwrap().display().to_string()
        })
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn check_deps(workspace: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["check-deps", "--manifest-path"])
        .arg(workspace.join("Cargo.toml"))
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn the_real_workspace_satisfies_the_invariant() {
    let (ok, stderr) = check_deps(&root());
    assert!(ok, "{stderr}");
    assert!(stderr.contains("dependency invariant holds"), "{stderr}");
}

#[test]
fn tools_that_depend_on_common_only_pass() {
    let ws = scratch_workspace("common.workspace = true", "common = { path = \"../common\" }");
    let (ok, stderr) = check_deps(ws.path());
    assert!(ok, "{stderr}");
}

#[test]
fn a_tool_depending_on_another_tool_fails_naming_the_edge() {
    let ws = scratch_workspace("common.workspace = true\nbeta = { path = \"../beta\" }", "common.workspace = true");
    let (ok, stderr) = check_deps(ws.path());
    assert!(!ok, "{stderr}");
    assert!(stderr.contains("alpha depends on beta: tools talk through their CLIs"), "{stderr}");
}

#[test]
fn a_dev_dependency_between_tools_also_fails() {
    let ws = scratch_workspace("common.workspace = true\n[dev-dependencies]\nbeta = { path = \"../beta\" }", "");
    let (ok, stderr) = check_deps(ws.path());
    assert!(!ok, "{stderr}");
    assert!(stderr.contains("alpha depends on beta"), "{stderr}");
}

/// Checks a scratch workspace in which the real member `member` also
/// depends on the throwaway tool `beta`.
fn member_depending_on_beta(member: &str) -> (bool, String) {
    let ws = scratch_workspace("common.workspace = true", "");
    let manifest = ws.path().join(member).join("Cargo.toml");
    let text = fs::read_to_string(&manifest).unwrap();
    let with_tool = text.replacen("[dependencies]\n", "[dependencies]\nbeta = { path = \"../beta\" }\n", 1);
    assert_ne!(text, with_tool, "{member}'s manifest has no [dependencies] table");
    fs::write(&manifest, with_tool).unwrap();
    check_deps(ws.path())
}

#[test]
fn common_depending_on_a_tool_fails() {
    let (ok, stderr) = member_depending_on_beta("common");
    assert!(!ok, "{stderr}");
    assert!(stderr.contains("common depends on beta: common must not depend on any workspace crate"), "{stderr}");
}

#[test]
fn test_support_as_a_dev_dependency_passes() {
    let ws = scratch_workspace(
        "common.workspace = true\n[dev-dependencies]\ntest-support.workspace = true",
        "common.workspace = true\n[dev-dependencies]\ntest-support = { path = \"../test-support\" }",
    );
    let (ok, stderr) = check_deps(ws.path());
    assert!(ok, "{stderr}");
}

#[test]
fn test_support_as_a_normal_or_build_dependency_fails_naming_the_edge() {
    let ws = scratch_workspace(
        "common.workspace = true\ntest-support.workspace = true",
        "common.workspace = true\n[build-dependencies]\ntest-support.workspace = true",
    );
    let (ok, stderr) = check_deps(ws.path());
    assert!(!ok, "{stderr}");
    assert!(
        stderr.contains("alpha depends on test-support as a normal dependency: test-support is a dev-dependency only"),
        "{stderr}"
    );
    assert!(stderr.contains("beta depends on test-support as a build dependency"), "{stderr}");
}

#[test]
fn test_support_depending_on_a_tool_fails() {
    let (ok, stderr) = member_depending_on_beta("test-support");
    assert!(!ok, "{stderr}");
    assert!(stderr.contains("test-support depends on beta: test-support must not depend on a tool crate"), "{stderr}");
}

#[test]
fn an_unreadable_workspace_is_a_failure_not_a_pass() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("Cargo.toml"), "[workspace\n").unwrap();
    let (ok, stderr) = check_deps(tmp.path());
    assert!(!ok);
    assert!(stderr.contains("cargo metadata failed"), "{stderr}");
}
