//! The dependency-direction invariant (ARCHITECTURE.md): tool crates depend on
//! `common` and never on each other; `common` depends on no workspace crate;
//! nothing depends on `xtask`. Checked from `cargo metadata`, never by
//! reading manifests as text.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

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
            "dependency invariant violated (tools depend on `common` only; `common` on no workspace crate):\n  {}",
            violations.join("\n  ")
        ))
    }
}

/// Each workspace crate with the workspace crates it depends on (any kind).
fn workspace_edges(meta: &Value) -> Result<Vec<(String, Vec<String>)>, String> {
    let packages = meta["packages"].as_array().ok_or("cargo metadata has no packages")?;
    let names: Vec<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    packages
        .iter()
        .map(|p| {
            let name = p["name"].as_str().ok_or("package without a name")?.to_owned();
            let deps = p["dependencies"]
                .as_array()
                .ok_or("package without dependencies list")?
                .iter()
                .filter_map(|d| d["name"].as_str())
                .filter(|d| names.contains(d))
                .map(str::to_owned)
                .collect();
            Ok((name, deps))
        })
        .collect()
}

/// Human-readable violations; empty when the invariant holds.
fn violations(edges: &[(String, Vec<String>)]) -> Vec<String> {
    let mut res = Vec::new();
    for (krate, deps) in edges {
        for dep in deps {
            let why = match (krate.as_str(), dep.as_str()) {
                (_, "xtask") => "nothing may depend on xtask",
                ("common", _) => "common must not depend on any workspace crate",
                ("xtask", _) => continue,
                (_, "common") => continue,
                _ => "tools talk through their CLIs and JSON, never by linking each other",
            };
            res.push(format!("{krate} depends on {dep}: {why}"));
        }
    }
    res
}

#[cfg(test)]
mod tests {
    use super::violations;

    fn edges(list: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
        list.iter().map(|(k, d)| (k.to_string(), d.iter().map(|s| s.to_string()).collect())).collect()
    }

    #[test]
    fn tools_on_common_only_is_fine() {
        assert!(
            violations(&edges(&[("common", &[]), ("doctor", &["common"]), ("guard", &["common"]), ("xtask", &[])]))
                .is_empty()
        );
    }

    #[test]
    fn each_forbidden_direction_is_named() {
        let v =
            violations(&edges(&[("common", &["doctor"]), ("guard", &["common", "doctor"]), ("doctor", &["xtask"])]));
        assert_eq!(
            v,
            vec![
                "common depends on doctor: common must not depend on any workspace crate",
                "guard depends on doctor: tools talk through their CLIs and JSON, never by linking each other",
                "doctor depends on xtask: nothing may depend on xtask",
            ]
        );
    }
}
