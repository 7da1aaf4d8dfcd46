//! The console's command-line output (the server's answers are JSON built
//! by the handlers): `check-registry` in human or JSON form.

use common::cli::StdoutError;
use serde_json::json;

use crate::INFO;
use crate::registry::{Registry, Source};

/// Prints the checked registry.
pub(crate) fn registry(reg: &Registry, as_json: bool) -> Result<(), StdoutError> {
    let source = match &reg.source {
        Source::File(p) => p.display().to_string(),
        Source::BuiltIn => "built-in".to_owned(),
    };
    if as_json {
        let actions: Vec<_> = reg
            .actions
            .iter()
            .map(|a| {
                json!({
                    "id": a.id,
                    "label": a.label,
                    "description": a.description,
                    "argv": a.argv,
                    "timeout_sec": a.timeout.as_secs(),
                    "concurrent": a.concurrent,
                    "long_running": a.long_running,
                    "params": a.params.iter().map(common::params::ParamSpec::schema).collect::<Vec<_>>(),
                })
            })
            .collect();
        return INFO.write_json(&json!({"source": source, "actions": actions}));
    }
    let mut out = format!("registry: {source} ({} actions)\n", reg.actions.len());
    for a in &reg.actions {
        let mode = match (a.concurrent, a.long_running) {
            (false, false) => "locked",
            (true, false) => "concurrent",
            (false, true) => "locked, long-running",
            (true, true) => "concurrent, long-running",
        };
        out.push_str(&format!(
            "  {:<20} {:>5} s  {mode}  {}\n",
            common::output::sanitize(&a.id),
            a.timeout.as_secs(),
            common::output::sanitize(&a.argv.join(" "))
        ));
        for p in &a.params {
            let req = if p.required { "required" } else { "optional" };
            out.push_str(&format!("      param {} ({req}): {}\n", p.name, common::output::sanitize(&p.expected())));
        }
    }
    common::cli::write_result(&out)
}
