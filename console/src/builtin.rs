//! The built-in registry, used when no registry file exists at the default
//! location: read-only actions over our own tools, each found with the
//! shared sibling-tool rule (`common::locate`) and run with the console's
//! own resolved locations as flags (the child's environment is cleared, so
//! flags are how it learns them). An action whose program is missing or
//! untrusted is left out and named at startup.

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
    },
];

/// The built-in registry and the notes on what was left out.
pub(crate) fn registry(
    paths: &Paths,
    env: &dyn Fn(&str) -> Option<String>,
    own_exe: Option<&Path>,
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
    for d in DEFS {
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
