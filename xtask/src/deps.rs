//! The dependency-direction invariant (ARCHITECTURE.md): tool crates depend on
//! `common`, and on `test-support` only as a dev-dependency, never on each
//! other; `common` depends on no workspace crate but
//! `test-support` (dev); `test-support` is nobody's
//! normal or build dependency and depends on no tool; nothing depends on
//! `xtask`. One exception: `dist-gen`, the package build's man page and
//! completion generator, links the tool crates to read their clap
//! definitions, and nothing may depend on it. Checked from `cargo metadata`,
//! never by reading manifests as text.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// One workspace-internal dependency edge: the crate depended on and the
/// `kind` cargo metadata gives it (`normal`, `dev` or `build`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Dep {
    name: String,
    kind: String,
}

/// Runs `cargo metadata` for `manifest` and checks the invariant; returns the
/// number of workspace crates checked.
pub(crate) fn check_manifest(manifest: &Path) -> Result<usize, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline", "--manifest-path"])
        .arg(manifest)
        .output()
        .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!("cargo metadata failed:\n{}", String::from_utf8_lossy(&out.stderr)));
    }
    let meta: Value = serde_json::from_slice(&out.stdout).map_err(|e| format!("cargo metadata output: {e}"))?;
    let edges = workspace_edges(&meta)?;
    let violations = violations(&edges);
    if violations.is_empty() {
        Ok(edges.len())
    } else {
        Err(format!(
            "dependency invariant violated (tools depend on `common`, and on `test-support` as a dev-dependency only; \
             `common` on no workspace crate but test-support as a dev-dependency):\n  {}",
            violations.join("\n  ")
        ))
    }
}

/// Each workspace crate with the workspace crates it depends on, with the kind.
fn workspace_edges(meta: &Value) -> Result<Vec<(String, Vec<Dep>)>, String> {
    let packages = meta["packages"].as_array().ok_or("cargo metadata has no packages")?;
    let names: Vec<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    packages
        .iter()
        .map(|p| {
            let name = p["name"].as_str().ok_or("package without a name")?.to_owned();
            let mut deps = Vec::new();
            for d in p["dependencies"].as_array().ok_or("package without dependencies list")? {
                let Some(dep) = d["name"].as_str().filter(|d| names.contains(d)) else { continue };
                // cargo metadata writes `null` for a normal dependency.
                let kind = match &d["kind"] {
                    Value::Null => "normal",
                    Value::String(k) => k.as_str(),
                    other => return Err(format!("{name}: dependency {dep} has an unreadable kind {other}")),
                };
                deps.push(Dep { name: dep.to_owned(), kind: kind.to_owned() });
            }
            Ok((name, deps))
        })
        .collect()
}

/// Human-readable violations, each naming its edge; empty when the invariant holds.
fn violations(edges: &[(String, Vec<Dep>)]) -> Vec<String> {
    let mut res = Vec::new();
    for (krate, deps) in edges {
        for Dep { name: dep, kind } in deps {
            let why = match (krate.as_str(), dep.as_str(), kind.as_str()) {
                (_, "xtask", _) => "nothing may depend on xtask",
                (_, "dist-gen", _) => "nothing may depend on dist-gen (it links every tool)",
                (_, "test-support", "dev") => continue,
                (_, "test-support", _) => {
                    res.push(format!(
                        "{krate} depends on test-support as a {kind} dependency: test-support is a dev-dependency only"
                    ));
                    continue;
                }
                ("common", _, _) => "common must not depend on any workspace crate",
                ("xtask", _, _) => continue,
                ("dist-gen", "common" | "doctor" | "guard" | "notifier" | "keyctl" | "reviewgate", "normal") => {
                    continue;
                }
                ("dist-gen", "openclaw-console" | "openclaw-runner", "normal") => continue,
                (_, "common", _) => continue,
                ("test-support", _, _) => "test-support must not depend on a tool crate",
                _ => "tools talk through their CLIs and JSON, never by linking each other",
            };
            res.push(format!("{krate} depends on {dep}: {why}"));
        }
    }
    res
}

#[cfg(test)]
mod tests {
    use super::{Dep, violations};

    /// Edges from `name` (a normal dependency) or `name:kind`.
    fn edges(list: &[(&str, &[&str])]) -> Vec<(String, Vec<Dep>)> {
        list.iter()
            .map(|(k, d)| {
                let deps = d
                    .iter()
                    .map(|s| {
                        let (name, kind) = s.split_once(':').unwrap_or((s, "normal"));
                        Dep { name: name.to_owned(), kind: kind.to_owned() }
                    })
                    .collect();
                (k.to_string(), deps)
            })
            .collect()
    }

    #[test]
    fn tools_on_common_only_is_fine() {
        assert!(
            violations(&edges(&[("common", &[]), ("doctor", &["common"]), ("guard", &["common"]), ("xtask", &[])]))
                .is_empty()
        );
    }

    #[test]
    fn test_support_as_a_dev_dependency_is_fine() {
        let v = violations(&edges(&[
            ("common", &["test-support:dev"]),
            ("test-support", &[]),
            ("doctor", &["common", "test-support:dev"]),
            ("keyctl", &["common", "test-support:dev"]),
            ("xtask", &["test-support:dev"]),
        ]));
        assert!(v.is_empty(), "{v:?}");
    }

    #[test]
    fn dist_gen_may_link_the_tools() {
        let v = violations(&edges(&[
            ("common", &[]),
            ("doctor", &["common"]),
            ("dist-gen", &["doctor", "guard", "openclaw-console", "openclaw-runner"]),
        ]));
        assert!(v.is_empty(), "{v:?}");
    }

    #[test]
    fn the_dist_gen_exception_is_no_wider_than_dist_gen() {
        let v = violations(&edges(&[
            ("doctor", &["dist-gen"]),
            ("xtask", &["dist-gen"]),
            ("dist-gen", &["test-support", "xtask"]),
            ("guard", &["doctor"]),
            ("dist-gen", &["doctor:build"]),
        ]));
        assert_eq!(
            v,
            vec![
                "doctor depends on dist-gen: nothing may depend on dist-gen (it links every tool)",
                "xtask depends on dist-gen: nothing may depend on dist-gen (it links every tool)",
                "dist-gen depends on test-support as a normal dependency: test-support is a dev-dependency only",
                "dist-gen depends on xtask: nothing may depend on xtask",
                "guard depends on doctor: tools talk through their CLIs and JSON, never by linking each other",
                "dist-gen depends on doctor: tools talk through their CLIs and JSON, never by linking each other",
            ]
        );
    }

    #[test]
    fn each_forbidden_direction_is_named() {
        let v = violations(&edges(&[
            ("common", &["doctor"]),
            ("guard", &["common", "doctor"]),
            ("doctor", &["xtask"]),
            ("keyctl", &["test-support", "test-support:build"]),
            ("xtask", &["test-support"]),
            ("test-support", &["keyctl:dev"]),
            ("common", &["test-support"]),
            ("notifier", &["guard:dev"]),
        ]));
        assert_eq!(
            v,
            vec![
                "common depends on doctor: common must not depend on any workspace crate",
                "guard depends on doctor: tools talk through their CLIs and JSON, never by linking each other",
                "doctor depends on xtask: nothing may depend on xtask",
                "keyctl depends on test-support as a normal dependency: test-support is a dev-dependency only",
                "keyctl depends on test-support as a build dependency: test-support is a dev-dependency only",
                "xtask depends on test-support as a normal dependency: test-support is a dev-dependency only",
                "test-support depends on keyctl: test-support must not depend on a tool crate",
                "common depends on test-support as a normal dependency: test-support is a dev-dependency only",
                "notifier depends on guard: tools talk through their CLIs and JSON, never by linking each other",
            ]
        );
    }
}
