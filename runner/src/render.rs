//! The runner's output: a run (or a stored one), the list of runs, and the
//! checked allowlist, in human or JSON form (JSON in the shared envelope).
//! Every value that came from a job or a caller is escaped.

use common::cli::StdoutError;
use common::output::sanitize;
use serde_json::{Value, json};

use crate::INFO;
use crate::config::RunnerConfig;
use crate::identity::RunAs;
use crate::settings::RunnerSettings;

fn s(v: &Value) -> String {
    match v {
        Value::String(t) => sanitize(t).into_owned(),
        Value::Null => "-".to_owned(),
        other => sanitize(&other.to_string()).into_owned(),
    }
}

/// Prints one run's artifact.
pub(crate) fn run(a: &Value, as_json: bool) -> Result<(), StdoutError> {
    let status = s(&a["status"]);
    if status == "refused" || status == "error" {
        INFO.error(&format!("{status}: {}", a["reason"].as_str().unwrap_or("")));
    }
    if as_json {
        return INFO.write_json(a);
    }
    let mut out = format!("job {}: {status} ({})\n", s(&a["job_id"]), s(&a["reason"]));
    out.push_str(&format!(
        "  {} on {}@{}  exit {}  {} ms\n",
        s(&a["job_type"]),
        s(&a["repo"]),
        s(&a["sha"]),
        s(&a["exit_code"]),
        s(&a["duration_ms"])
    ));
    let inv = &a["invariants"];
    match inv["clean_tree_ok"].as_bool() {
        Some(true) => out.push_str("  tree: clean\n"),
        Some(false) => {
            out.push_str(&format!("  tree: {} ({} changed path(s))\n", s(&inv["reason"]), s(&inv["changed_total"])));
            for c in inv["changed_paths"].as_array().into_iter().flatten() {
                // Paths are stored escaped to printable ASCII (`\xNN`); escape again only what is not.
                let path = c["path"].as_str().unwrap_or("");
                let path =
                    if path.bytes().all(|b| (0x20..0x7f).contains(&b)) { path.to_owned() } else { s(&c["path"]) };
                let changes: Vec<String> = c["changes"].as_array().into_iter().flatten().map(s).collect();
                out.push_str(&format!("    {path}  ({})\n", changes.join(", ")));
            }
        }
        None => {}
    }
    common::cli::write_result(&out)
}

/// Prints the list of runs.
pub(crate) fn list(runs: &[Value], as_json: bool) -> Result<(), StdoutError> {
    if as_json {
        return INFO.write_json(&json!({"runs": runs}));
    }
    let mut out = String::new();
    for a in runs {
        out.push_str(&format!(
            "{}  {}  {:<9} {} {}@{}\n",
            s(&a["job_id"]),
            s(&a["started_at"]),
            s(&a["status"]),
            s(&a["job_type"]),
            s(&a["repo"]),
            s(&a["sha"]).chars().take(12).collect::<String>()
        ));
    }
    if runs.is_empty() {
        out.push_str("no runs\n");
    }
    common::cli::write_result(&out)
}

/// Prints the checked allowlist.
pub(crate) fn config(cfg: &RunnerConfig, settings: &RunnerSettings, as_json: bool) -> Result<(), StdoutError> {
    let range = settings.dynamic_uids;
    let jobs: Vec<Value> = cfg
        .jobs
        .iter()
        .map(|j| {
            json!({
                "name": j.name,
                "argv": j.argv,
                "timeout_sec": j.timeout.as_secs(),
                "requires_repo": j.requires_repo,
                "run_as": j.run_as.label(),
                "network": j.network,
                "params": j.params.iter().map(common::params::ParamSpec::schema).collect::<Vec<_>>(),
            })
        })
        .collect();
    let repos: Vec<Value> = cfg
        .repos
        .iter()
        .map(|r| json!({"name": r.name, "url": r.url, "allowed_branches": r.allowed_branches}))
        .collect();
    if as_json {
        return INFO
            .write_json(&json!({"run_as": cfg.run_as.label(), "dynamic_uids": [range.first, range.last], "allowlist_hash": cfg.hash, "repos": repos, "jobs": jobs}));
    }
    let mut out = match &cfg.run_as {
        RunAs::Dynamic => {
            format!("run_as: dynamic (a uid of its own for each run, from {}-{})\n", range.first, range.last)
        }
        RunAs::User(u) => format!("run_as: {} (uid {})\n", sanitize(&u.name), u.uid),
    };
    for r in &cfg.repos {
        out.push_str(&format!(
            "repo {:<20} {}  [{}]\n",
            r.name,
            sanitize(&r.url),
            sanitize(&r.allowed_branches.join(", "))
        ));
    }
    for j in &cfg.jobs {
        out.push_str(&format!(
            "job  {:<20} {:>5} s  as {}{}  {}\n",
            j.name,
            j.timeout.as_secs(),
            sanitize(j.run_as.label()),
            if j.network { "  network" } else { "" },
            sanitize(&j.argv.join(" "))
        ));
    }
    common::cli::write_result(&out)
}
