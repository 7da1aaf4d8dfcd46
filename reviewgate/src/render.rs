//! The gate's one output module: JSON in the shared envelope, or escaped
//! human text. The only code that writes stdout.

use common::output::{Format, sanitize};

use crate::verify::VerifyReport;

/// `verify`.
pub(crate) fn verify(format: Format, rep: &VerifyReport) -> Result<(), String> {
    if format == Format::Json {
        return crate::INFO.write_json(rep).map_err(|e| e.to_string());
    }
    let text = match (&rep.verdict, &rep.principal, &rep.refusal) {
        (Some(v), Some(p), _) => format!(
            "VALID: {} ({}) carries a verdict signed by {}: {}..{} reviewed by {} ({}), tree {}, created {}\n",
            sanitize(&rep.rev),
            rep.commit,
            sanitize(p),
            v.base,
            v.head,
            sanitize(&v.engine.name),
            sanitize(&v.engine.model),
            v.tree,
            v.created_at
        ),
        (_, _, Some(r)) => format!("INVALID: {} ({}): {}\n", sanitize(&rep.rev), rep.commit, sanitize(&r.to_string())),
        _ => format!("INVALID: {} ({})\n", sanitize(&rep.rev), rep.commit),
    };
    common::cli::write_result(&text).map_err(|e| e.to_string())
}

/// Lines of text (the hook's per-ref decisions, already free of control characters).
pub(crate) fn lines(lines: &[String]) -> Result<(), String> {
    let text: String = lines.iter().map(|l| format!("{}\n", sanitize(l))).collect();
    common::cli::write_result(&text).map_err(|e| e.to_string())
}
