//! `review-gate`: the deployed checkout carries a valid review verdict, and
//! the working copies that push to it have the pre-push hook. Asks
//! `openclaw-reviewgate verify --rev HEAD --repo <review_repo> --format json
//! --no-audit` (its documented JSON; found beside the doctor, then PATH,
//! `OPENCLAW_REVIEWGATE_BIN` overrides) and reads each working copy's
//! `pre-push` hook for the marker `install-hook` writes. A HEAD without a
//! valid verdict fails; a missing hook warns; nothing configured skips.

use std::path::Path;

use common::locate::{Located, locate};
use serde_json::{Value, json};

use super::{Ctx, Outcome};

/// The marker line `openclaw-reviewgate install-hook` writes.
const HOOK_MARKER: &str = "# Installed by openclaw-reviewgate install-hook.";

/// What `verify` said about the deployed HEAD.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Deployed {
    /// Valid: its JSON.
    Valid(Value),
    /// Refused: its JSON.
    Refused(Value),
    /// No answer (tool missing, exit 2, unreadable output).
    Unknown(String),
}

/// A working copy's hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Hook {
    /// Ours.
    Installed,
    /// Absent or someone else's.
    Missing,
    /// Not a git working copy, or unreadable.
    Unknown(String),
}

pub(crate) fn check(ctx: &Ctx) -> Outcome {
    let s = &ctx.settings;
    if s.review_repo.is_none() && s.review_workcopies.is_empty() {
        return Outcome::skip("no repository is configured ([doctor] review_repo, review_workcopies)");
    }
    let deployed = s.review_repo.as_deref().map(|repo| verify(ctx, repo));
    let hooks: Vec<(String, Hook)> =
        s.review_workcopies.iter().map(|w| (w.display().to_string(), hook(ctx, w))).collect();
    judge(s.review_repo.as_deref(), deployed.as_ref(), &hooks)
}

fn verify(ctx: &Ctx, repo: &Path) -> Deployed {
    let own = std::env::current_exe().ok();
    let bin =
        match locate("openclaw-reviewgate", "OPENCLAW_REVIEWGATE_BIN", &common::paths::process_env, own.as_deref()) {
            Located::Found(b) => b,
            Located::Missing(why) => return Deployed::Unknown(why),
        };
    let repo_s = repo.to_string_lossy();
    let args = ["verify", "--rev", "HEAD", "--repo", &repo_s, "--format", "json", "--no-audit"];
    match ctx.cmd(&bin.to_string_lossy(), &args) {
        Ok(out) => {
            let v: Option<Value> = serde_json::from_slice(&out.stdout).ok();
            match (out.status.code(), v) {
                (Some(0), Some(v)) if v["valid"] == true => Deployed::Valid(v),
                (Some(1), Some(v)) if v["valid"] == false => Deployed::Refused(v),
                (code, _) => Deployed::Unknown(format!(
                    "openclaw-reviewgate verify exited {}: {}",
                    code.map_or("by a signal".into(), |c| c.to_string()),
                    out.stderr_line()
                )),
            }
        }
        Err(e) => Deployed::Unknown(e.to_string()),
    }
}

fn hook(ctx: &Ctx, workcopy: &Path) -> Hook {
    let w = workcopy.to_string_lossy();
    let out = match ctx.cmd("git", &["-C", &w, "rev-parse", "--path-format=absolute", "--git-path", "hooks/pre-push"]) {
        Ok(o) if o.status.success() => o,
        Ok(o) => return Hook::Unknown(format!("not a git working copy: {}", o.stderr_line())),
        Err(e) => return Hook::Unknown(e.to_string()),
    };
    let path = out.stdout_text().trim_end_matches('\n').to_owned();
    match std::fs::read_to_string(&path) {
        Ok(text) if text.lines().any(|l| l == HOOK_MARKER) => Hook::Installed,
        _ => Hook::Missing,
    }
}

/// The verdict over what was found. Pure.
pub(crate) fn judge(repo: Option<&Path>, deployed: Option<&Deployed>, hooks: &[(String, Hook)]) -> Outcome {
    let details = json!({
        "review_repo": repo.map(|r| r.display().to_string()),
        "verify": match deployed {
            Some(Deployed::Valid(v) | Deployed::Refused(v)) => v.clone(),
            Some(Deployed::Unknown(why)) => json!({"error": why}),
            None => Value::Null,
        },
        "hooks": hooks.iter().map(|(w, h)| json!({"workcopy": w, "hook": format!("{h:?}")})).collect::<Vec<_>>(),
    });
    let repo_s = repo.map(|r| r.display().to_string()).unwrap_or_default();
    match deployed {
        Some(Deployed::Refused(v)) => {
            let rule = v["refusal"]["rule"].as_str().unwrap_or("?");
            return Outcome::fail(
                format!(
                    "the deployed checkout {repo_s} is at {}, which carries no valid review verdict ({rule})",
                    v["commit"].as_str().unwrap_or("?")
                ),
                vec![
                    format!("openclaw-reviewgate verify --rev HEAD --repo {repo_s}   # the full reason"),
                    "deploy only through ops/vps_self_update.sh, which verifies first (docs/reviewgate.md)".into(),
                ],
            )
            .details(details);
        }
        Some(Deployed::Unknown(why)) => {
            return Outcome::error(format!("cannot tell whether {repo_s} is reviewed: {why}")).details(details);
        }
        _ => {}
    }
    let missing: Vec<&str> = hooks.iter().filter(|(_, h)| *h != Hook::Installed).map(|(w, _)| w.as_str()).collect();
    if !missing.is_empty() {
        return Outcome::warn(
            format!("the pre-push review hook is not installed in {}", missing.join(", ")),
            missing.iter().map(|w| format!("openclaw-reviewgate install-hook --repo {w}")).collect::<Vec<_>>(),
        )
        .details(details);
    }
    let what = match deployed {
        Some(Deployed::Valid(v)) => {
            format!("{repo_s} HEAD carries a valid verdict signed by {}", v["principal"].as_str().unwrap_or("?"))
        }
        _ => String::from("no deployed checkout configured"),
    };
    Outcome::pass(format!("{what}; pre-push hook installed in {} working cop(ies)", hooks.len())).details(details)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Status;

    #[test]
    fn a_refused_head_fails_an_unknown_one_errors_a_missing_hook_warns() {
        let repo = Some(Path::new("/opt/openclaw"));
        let valid = Deployed::Valid(json!({"valid": true, "principal": "reviewer@openclaw", "commit": "c"}));
        let refused = Deployed::Refused(json!({"valid": false, "commit": "abc", "refusal": {"rule": "tree-mismatch"}}));
        let ok = vec![("/home/u/src".to_owned(), Hook::Installed)];
        assert_eq!(judge(repo, Some(&valid), &ok).status, Status::Pass);
        let o = judge(repo, Some(&refused), &ok);
        assert_eq!(o.status, Status::Fail);
        assert!(o.summary.contains("abc") && o.summary.contains("tree-mismatch"), "{}", o.summary);
        assert_eq!(judge(repo, Some(&Deployed::Unknown("x".into())), &ok).status, Status::Error);
        let no_hook = vec![("/home/u/src".to_owned(), Hook::Missing)];
        let o = judge(repo, Some(&valid), &no_hook);
        assert_eq!(o.status, Status::Warn);
        assert!(o.summary.contains("/home/u/src"));
        assert_eq!(judge(None, None, &ok).status, Status::Pass);
        // A refused deploy is a failure even when every hook is in place; a hook problem does not hide it.
        assert_eq!(judge(repo, Some(&refused), &no_hook).status, Status::Fail);
    }
}
