//! The built-in registry, used when no registry file exists at the default
//! location: read-only actions over our own tools, each found with the
//! shared sibling-tool rule (`common::locate`) and run with the console's
//! own resolved locations as flags (the child's environment is cleared, so
//! flags are how it learns them). An action whose program is missing or
//! untrusted is left out and named at startup.
//!
//! The actions that report root-only state (the guard's state and log, the
//! secrets, the notifier's state) are offered only to a console running as
//! root. The packaged console is a `DynamicUser`: run there they would read
//! the console's own empty directories and report "the guard never ran",
//! "no key set", which is false. They are left out, and named, instead.

use std::path::Path;
use std::time::Duration;

use common::locate::{Located, locate};
use common::paths::Paths;

use crate::registry::{Action, Registry, Source};

/// The guard log the built-in `tail_guard_log` reads by default.
pub(crate) const DEFAULT_GUARD_LOG: &str = "/var/log/openclaw_guard.log";

struct Def {
    id: &'static str,
    label: &'static str,
    description: &'static str,
    tool: &'static str,
    var: &'static str,
    args: &'static [&'static str],
    timeout: u64,
    concurrent: bool,
    long_running: bool,
    /// Reads state only root can read (see the module text).
    root_only: bool,
}

const DEFS: &[Def] = &[
    Def {
        id: "doctor",
        label: "Run the doctor",
        description: "Full posture audit (JSON report).",
        tool: "openclaw-doctor",
        var: "OPENCLAW_DOCTOR_BIN",
        args: &["--format", "json"],
        timeout: 120,
        concurrent: false,
        long_running: false,
        root_only: false,
    },
    Def {
        id: "port_audit",
        label: "Port audit",
        description: "Socket-truth listener audit only.",
        tool: "openclaw-doctor",
        var: "OPENCLAW_DOCTOR_BIN",
        args: &["--format", "json", "--only", "listeners", "--no-artifacts"],
        timeout: 60,
        concurrent: false,
        long_running: false,
        root_only: false,
    },
    Def {
        id: "evidence",
        label: "Evidence bundle",
        description: "Run the checks and write an evidence bundle.",
        tool: "openclaw-doctor",
        var: "OPENCLAW_DOCTOR_BIN",
        args: &["evidence", "--format", "json"],
        timeout: 180,
        concurrent: false,
        long_running: true,
        root_only: false,
    },
    Def {
        id: "guard_status",
        label: "Guard status",
        description: "The guard's last run, budgets and any pending rollback.",
        tool: "openclaw-guard",
        var: "OPENCLAW_GUARD_BIN",
        args: &["status", "--format", "json"],
        timeout: 30,
        concurrent: true,
        long_running: false,
        root_only: true,
    },
    Def {
        id: "keyctl_status",
        label: "Key status",
        description: "Per key: present, source, masked fingerprint, last success.",
        tool: "openclaw-keyctl",
        var: "OPENCLAW_KEYCTL_BIN",
        args: &["status", "--format", "json"],
        timeout: 30,
        concurrent: true,
        long_running: false,
        root_only: true,
    },
    Def {
        id: "notify_status",
        label: "Notifier status",
        description: "Quota, open windows, queued alerts.",
        tool: "openclaw-notify",
        var: "OPENCLAW_NOTIFY_BIN",
        args: &["status", "--format", "json"],
        timeout: 30,
        concurrent: true,
        long_running: false,
        root_only: true,
    },
    Def {
        id: "verify_audit",
        label: "Verify the audit log",
        description: "Check the audit log's hash chain and checkpoint.",
        tool: "openclaw-doctor",
        var: "OPENCLAW_DOCTOR_BIN",
        args: &["verify-audit", "--format", "json"],
        timeout: 120,
        concurrent: false,
        long_running: false,
        root_only: false,
    },
];

/// The built-in registry and the notes on what was left out.
pub(crate) fn registry(
    paths: &Paths,
    env: &dyn Fn(&str) -> Option<String>,
    own_exe: Option<&Path>,
    is_root: bool,
) -> (Registry, Vec<String>) {
    let mut actions = Vec::new();
    let mut notes = Vec::new();
    let path_flags = [
        "--secrets-dir".to_owned(),
        paths.secrets_dir.display().to_string(),
        "--state-dir".to_owned(),
        paths.state_dir.display().to_string(),
        "--artifacts-root".to_owned(),
        paths.artifacts_root.display().to_string(),
        "--audit-log".to_owned(),
        paths.audit_log.display().to_string(),
    ];
    let not_root = |id: &str| {
        format!(
            "built-in action `{id}` left out: it reports root-only state and the console is not root \
             (the packaged unit's DynamicUser); run it as root, e.g. `sudo openclaw-guard status` (docs/console.md)"
        )
    };
    for d in DEFS {
        if d.root_only && !is_root {
            notes.push(not_root(d.id));
            continue;
        }
        let program = match locate(d.tool, d.var, env, own_exe) {
            Located::Found(p) => p,
            Located::Missing(why) => {
                notes.push(format!("built-in action `{}` left out: {why}", d.id));
                continue;
            }
        };
        if let Err(e) = common::private_path::check_executable(&program) {
            notes.push(format!("built-in action `{}` left out: {e}", d.id));
            continue;
        }
        let mut argv = vec![program.display().to_string()];
        argv.extend(d.args.iter().map(|s| (*s).to_owned()));
        argv.extend(path_flags.iter().cloned());
        actions.push(Action {
            id: d.id.to_owned(),
            label: d.label.to_owned(),
            description: d.description.to_owned(),
            argv,
            timeout: Duration::from_secs(d.timeout),
            concurrent: d.concurrent,
            long_running: d.long_running,
            params: Vec::new(),
        });
    }
    if !is_root {
        notes.push(not_root("tail_guard_log"));
        return (Registry { source: Source::BuiltIn, actions }, notes);
    }
    let guard_log = env("OPENCLAW_GUARD_LOG")
        .filter(|p| Path::new(p).is_absolute())
        .unwrap_or_else(|| DEFAULT_GUARD_LOG.to_owned());
    let tail = Path::new("/usr/bin/tail");
    match common::private_path::check_executable(tail) {
        Ok(_) => actions.push(Action {
            id: "tail_guard_log".to_owned(),
            label: "Tail the guard log".to_owned(),
            description: "The last 200 lines of the guard log.".to_owned(),
            argv: vec![tail.display().to_string(), "-n".into(), "200".into(), "--".into(), guard_log],
            timeout: Duration::from_secs(10),
            concurrent: true,
            long_running: false,
            params: Vec::new(),
        }),
        Err(e) => notes.push(format!("built-in action `tail_guard_log` left out: {e}")),
    }
    (Registry { source: Source::BuiltIn, actions }, notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths() -> Paths {
        let flags = common::paths::PathFlags { state_dir: Some("/var/lib/private/c".into()), ..Default::default() };
        Paths::resolve(&flags, &common::paths::PathSettings::default(), &|_| None, false).unwrap()
    }

    const ROOT_ONLY: [&str; 4] = ["guard_status", "keyctl_status", "notify_status", "tail_guard_log"];

    #[test]
    fn a_console_that_is_not_root_offers_nothing_over_root_only_state_and_says_so() {
        let (reg, notes) = registry(&paths(), &|_| None, None, false);
        for id in ROOT_ONLY {
            assert!(!reg.actions.iter().any(|a| a.id == id), "{id} offered to a non-root console");
            assert!(notes.iter().any(|n| n.contains(&format!("`{id}`")) && n.contains("root-only")), "{notes:?}");
        }
    }

    #[test]
    fn a_root_console_is_offered_the_root_only_actions() {
        let (reg, notes) = registry(&paths(), &|_| None, None, true);
        assert!(!notes.iter().any(|n| n.contains("root-only")), "{notes:?}");
        // tail needs no sibling tool, so it is there whenever /usr/bin/tail is.
        assert!(reg.actions.iter().any(|a| a.id == "tail_guard_log"), "{notes:?}");
    }
}
