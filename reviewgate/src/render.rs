//! The gate's one output module: JSON in the shared envelope, or escaped
//! human text. The only code that writes stdout.

use common::output::{Format, sanitize};

use serde::Serialize;

use crate::policy::Decision;
use crate::verdict::Verdict;
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

/// `review`'s JSON body.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ReviewReport {
    /// The verdict written to the packet directory (and, when approved, the repository).
    pub(crate) verdict: Verdict,
    /// The policy's decision with its reasons.
    pub(crate) decision: Decision,
    /// The packet directory.
    pub(crate) packets: String,
    /// The verdict commit, with `--commit`.
    pub(crate) committed: Option<String>,
}

/// `review`.
pub(crate) fn review(format: Format, rep: &ReviewReport) -> Result<(), String> {
    if format == Format::Json {
        return crate::INFO.write_json(rep).map_err(|e| e.to_string());
    }
    let v = &rep.verdict;
    let mut t = match (&rep.decision, v.simulated) {
        (Decision::Approved { summary }, true) => {
            format!("SIMULATED (never valid for a gate): {}\n", sanitize(summary))
        }
        (Decision::Approved { summary }, false) => format!(
            "APPROVED {}..{}: {}; signed verdict written to docs/LAST_APPROVED_VERDICT.json\n",
            v.base,
            v.head,
            sanitize(summary)
        ),
        (Decision::Blocked { reasons }, _) => {
            let list: String = reasons.iter().map(|r| format!("  - {}\n", sanitize(r))).collect();
            format!("BLOCKED {}..{}:\n{list}", v.base, v.head)
        }
    };
    if let Some(c) = &rep.committed {
        t.push_str(&format!("committed {c}\n"));
    }
    t.push_str(&format!("review packet: {}\n", sanitize(&rep.packets)));
    common::cli::write_result(&t).map_err(|e| e.to_string())
}
