//! The push gate: `hook pre-push REMOTE URL` reads git's pre-push protocol
//! on stdin (githooks(5): `<local ref> <local oid> <remote ref> <remote oid>`
//! per line) and judges every update of a protected branch: a deletion or a
//! rewind is blocked, anything else must carry a valid verdict (the
//! `verify` rules on the pushed commit itself). Other refs pass. And
//! `install-hook`, which installs a `pre-push` hook that execs this binary,
//! keeping an existing hook chained in front of it.
//!
//! `git push --no-verify` skips any hook; that is why deploys and CI run
//! `verify` too (docs/reviewgate.md).

use std::path::{Path, PathBuf};
use std::time::Instant;

use common::exit::Exit;
use serde::Serialize;

use crate::check::{Judgement, Refusal};
use crate::cli::Settings;
use crate::gitio::Repo;
use crate::verdict::is_object_id;
use crate::verify::{judge_commit, rule_of, signers};

/// Largest pre-push input read (git sends one short line per ref).
const MAX_INPUT: usize = 1024 * 1024;

/// One ref update git is about to push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    /// The local ref (`(delete)` for a deletion).
    pub local_ref: String,
    /// The local object (all zeros for a deletion).
    pub local_oid: String,
    /// The remote ref.
    pub remote_ref: String,
    /// What the remote has now (all zeros when the ref is new).
    pub remote_oid: String,
}

fn is_zero(oid: &str) -> bool {
    !oid.is_empty() && oid.bytes().all(|b| b == b'0')
}

/// Parses the pre-push input. Pure. A line that is not four fields with
/// object ids is an error: the gate cannot judge what it cannot read.
pub fn parse(input: &str) -> Result<Vec<Update>, String> {
    let mut res = Vec::new();
    for (i, line) in input.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(' ').collect();
        match f.as_slice() {
            [lr, lo, rr, ro] if is_object_id(lo) && is_object_id(ro) => res.push(Update {
                local_ref: (*lr).to_owned(),
                local_oid: (*lo).to_owned(),
                remote_ref: (*rr).to_owned(),
                remote_oid: (*ro).to_owned(),
            }),
            _ => return Err(format!("pre-push input line {}: not `<ref> <oid> <ref> <oid>`", i + 1)),
        }
    }
    Ok(res)
}

/// What the gate decides about one update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "kebab-case")]
pub enum Decision {
    /// Not a protected branch.
    Pass,
    /// A protected branch, and the pushed commit carries a valid verdict.
    Approved,
    /// Blocked.
    Blocked {
        /// Why.
        reason: String,
    },
}

/// The protected branch an update targets, if any. Pure.
pub fn protected<'a>(u: &Update, branches: &'a [String]) -> Option<&'a str> {
    let name = u.remote_ref.strip_prefix("refs/heads/")?;
    branches.iter().find(|b| b.as_str() == name).map(String::as_str)
}

/// Runs `hook pre-push`.
pub fn pre_push(s: &Settings, input: &[u8]) -> Result<Exit, String> {
    let started = Instant::now();
    // A push the hook cannot decide is blocked too (exit 2), and recorded.
    pre_push_inner(s, input, started).map_err(|e| {
        s.audit_undecided("review.block-push", &serde_json::json!({"reason": "cannot-decide"}), started, e)
    })
}

fn pre_push_inner(s: &Settings, input: &[u8], started: Instant) -> Result<Exit, String> {
    if input.len() > MAX_INPUT {
        return Err(format!("pre-push input larger than {MAX_INPUT} bytes"));
    }
    let text = std::str::from_utf8(input).map_err(|_| "pre-push input is not UTF-8".to_owned())?;
    let updates = parse(text)?;
    let repo = Repo::new(Path::new("."));
    repo.check_history_is_plain().map_err(|e| e.to_string())?;
    let mut blocked = false;
    let mut lines = Vec::new();
    for u in &updates {
        let decision = match protected(u, &s.gate.protected_branches) {
            None => Decision::Pass,
            Some(branch) => decide(s, &repo, u, branch)?,
        };
        let line = match &decision {
            Decision::Pass => format!("pass: {} (not protected)", u.remote_ref),
            Decision::Approved => format!("ok: {} → {} carries a valid review verdict", u.remote_ref, u.local_oid),
            Decision::Blocked { reason } => {
                blocked = true;
                let exit = Exit::Policy;
                s.audit(
                    "review.block-push",
                    &serde_json::json!({"ref": u.remote_ref, "oid": u.local_oid, "reason": reason}),
                    exit,
                    started,
                )?;
                format!("BLOCKED: {} → {}: {reason}", u.remote_ref, u.local_oid)
            }
        };
        lines.push(line);
    }
    crate::render::lines(&lines)?;
    Ok(if blocked { Exit::Policy } else { Exit::Clean })
}

fn decide(s: &Settings, repo: &Repo, u: &Update, branch: &str) -> Result<Decision, String> {
    if is_zero(&u.local_oid) {
        return Ok(Decision::Blocked { reason: format!("deleting the protected branch `{branch}`") });
    }
    if !is_zero(&u.remote_oid) && !repo.is_ancestor(&u.remote_oid, &u.local_oid).map_err(|e| e.to_string())? {
        return Ok(Decision::Blocked {
            reason: format!(
                "rewinds `{branch}` (the remote's {} is not an ancestor of the push; fetch first if it is unknown here)",
                u.remote_oid
            ),
        });
    }
    let signers = signers(s, repo, None)?;
    Ok(match judge_commit(s, repo, &u.local_oid, &signers, crate::verify::Age::Limited)? {
        Judgement::Valid { .. } => Decision::Approved,
        Judgement::Invalid(r) => Decision::Blocked { reason: refusal_text(&r) },
    })
}

fn refusal_text(r: &Refusal) -> String {
    format!("{r} [{}]; review it: openclaw-reviewgate review, then push the verdict commit", rule_of(r))
}

/// The marker line of our hook.
const MARKER: &str = "# Installed by openclaw-reviewgate install-hook.";

/// The hook's text for the binary at `exe`.
fn hook_text(exe: &Path) -> String {
    let exe = exe.display().to_string().replace('\'', r"'\''");
    format!(
        "#!/bin/sh\n{MARKER}\n# The previous pre-push hook, if any, is pre-push.chained and runs first.\n\
         input=$(cat)\n\
         if [ -x \"$0.chained\" ]; then printf '%s\\n' \"$input\" | \"$0.chained\" \"$@\" || exit $?; fi\n\
         printf '%s\\n' \"$input\" | exec '{exe}' hook pre-push \"$@\"\n"
    )
}

/// Runs `install-hook`: idempotent; an existing foreign hook is kept as
/// `pre-push.chained` and runs first.
pub fn install(repo_dir: &Path) -> Result<(Exit, PathBuf), String> {
    let repo = Repo::new(repo_dir);
    let hook = repo.hook_path("pre-push").map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find my own executable: {e}"))?;
    let text = hook_text(&exe);
    if let Some(dir) = hook.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    match std::fs::symlink_metadata(&hook) {
        Ok(m) if m.file_type().is_symlink() => {
            return Err(format!("{} is a symlink; refusing to replace it (move it aside first)", hook.display()));
        }
        Ok(_) => {
            let old = std::fs::read_to_string(&hook).unwrap_or_default();
            if !old.contains(MARKER) {
                let chained = hook.with_file_name("pre-push.chained");
                if chained.exists() {
                    return Err(format!("{} and {} both exist; merge them by hand", hook.display(), chained.display()));
                }
                std::fs::rename(&hook, &chained).map_err(|e| format!("{}: {e}", hook.display()))?;
            }
        }
        Err(_) => {}
    }
    common::artifacts::write_atomic_with_mode(&hook, text.as_bytes(), 0o755)
        .map_err(|e| format!("{}: {e}", hook.display()))?;
    Ok((Exit::Clean, hook))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "1111111111111111111111111111111111111111";
    const Z: &str = "0000000000000000000000000000000000000000";

    #[test]
    fn the_protocol_is_read_strictly() {
        let u = parse(&format!("refs/heads/main {A} refs/heads/main {Z}\n\n")).unwrap();
        assert_eq!(u.len(), 1);
        assert!(is_zero(&u[0].remote_oid));
        assert!(parse("refs/heads/main abc refs/heads/main def\n").is_err());
        assert!(parse(&format!("refs/heads/main {A} refs/heads/main\n")).is_err());
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn only_the_listed_branches_are_protected() {
        let b = vec!["main".to_owned(), "release".to_owned()];
        let u =
            |r: &str| Update { local_ref: r.into(), local_oid: A.into(), remote_ref: r.into(), remote_oid: Z.into() };
        assert_eq!(protected(&u("refs/heads/main"), &b), Some("main"));
        assert_eq!(protected(&u("refs/heads/release"), &b), Some("release"));
        assert_eq!(protected(&u("refs/heads/mainline"), &b), None);
        assert_eq!(protected(&u("refs/tags/main"), &b), None);
    }

    #[test]
    fn the_hook_quotes_the_binary_path() {
        let t = hook_text(Path::new("/opt/it's here/openclaw-reviewgate"));
        assert!(t.contains(r"exec '/opt/it'\''s here/openclaw-reviewgate' hook pre-push"));
        assert!(t.starts_with("#!/bin/sh\n# Installed by openclaw-reviewgate"));
    }
}
