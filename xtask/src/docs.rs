//! `cargo xtask docs [--check]`: generates docs/OPS_INDEX.md.
//!
//! Generated from the CLIs: the command table (every subcommand and its
//! one-line help, parsed from each tool's `--help`), the doctor's checks
//! (`list-checks --format json`) and the full `--help` of every tool and
//! subcommand. Hand-written here: the `ops/` script and systemd unit tables
//! and the developer commands; for those, `docs` fails unless every script in
//! `ops/`, every workflow in `ops/ci/`, every rules file in `ops/prometheus/`
//! and every unit in `ops/systemd/` is listed and every listed one exists. CI runs `--check`, which fails when
//! the committed file differs.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// Tool binaries documented in the index, in order.
const TOOLS: &[&str] = &[
    "openclaw-console",
    "openclaw-doctor",
    "openclaw-guard",
    "openclaw-keyctl",
    "openclaw-notify",
    "openclaw-reviewgate",
    "openclaw-runner",
];

/// The ops/ entry points: (script, what it does, run as, when).
const OPS_SCRIPTS: &[(&str, &str, &str, &str)] = &[
    (
        "ops/openclaw_console.sh [ARGS]",
        "thin wrapper: execs openclaw-console with ARGS unchanged (serve, check-registry); the token is never an argument",
        "the console's user (the unit runs the binary directly, as a dynamic user)",
        "by hand: `check-registry` after editing the registry, `serve` for a foreground console",
    ),
    (
        "ops/openclaw_runner.sh [ARGS]",
        "thin wrapper: execs openclaw-runner with ARGS unchanged (run, show, list, check-config); jobs never see its environment",
        "root (jobs run as the allowlist's unprivileged `run_as`)",
        "by hand or from the console's registry (`openclaw-runner run …` as an action); `check-config` after editing runner.toml",
    ),
    (
        "ops/openclaw_doctor.sh [ARGS]",
        "thin wrapper: execs openclaw-doctor with ARGS unchanged",
        "root",
        "by hand; the timer calls the binary directly",
    ),
    (
        "ops/openclaw_keys.sh [ARGS]",
        "thin wrapper: execs openclaw-keyctl with ARGS and stdin unchanged",
        "root",
        "by hand",
    ),
    (
        "ops/openclaw_notify.sh [--priority P] [--title T] [--rate-key K] [--resolved] [--dry-run] [--test] MESSAGE",
        "the reference's notify interface over `openclaw-notify send` / `test`; `--rate-key` becomes `--check-id`",
        "root (reads the keys and /var/lib/openclaw)",
        "by callers: guard, deploy and heal scripts, by hand",
    ),
    (
        "ops/openclaw_guard.sh [ARGS]",
        "thin wrapper: execs openclaw-guard with ARGS unchanged (run, status, fix, confirm, rollback)",
        "root",
        "by hand; the timer calls the binary directly",
    ),
    (
        "ops/openclaw_install_guard.sh",
        "installs the guard's units, logrotate snippet and sysctl file (`net.ipv4.ip_nonlocal_bind = 1`), applies the sysctl and enables openclaw-guard.timer; idempotent",
        "root (or `OPENCLAW_GUARD_INSTALL_ROOT=<prefix>`)",
        "once per host, after the binaries",
    ),
    (
        "ops/openclaw_review.sh [ARGS]",
        "thin wrapper: execs openclaw-reviewgate with ARGS and stdin unchanged (review, bundle, verify, hook pre-push, install-hook)",
        "the reviewer or pusher",
        "by hand",
    ),
    (
        "ops/vps_self_update.sh",
        "the one deploy path: lock, fetch, `openclaw-reviewgate verify` on origin's commit, fast-forward only, `docker compose up -d --build`, health probe, rollback to the previous commit; refusals and failures notified (`deploy.refused`, `deploy.failed`)",
        "the checkout's owner (runs git and docker)",
        "on the VPS, by hand or from a timer",
    ),
    (
        "ops/ci/verdict-gate.yml",
        "GitHub Actions workflow: `openclaw-reviewgate verify` on the pushed or pull-request head, allowed_signers from the repository's settings (never the checkout)",
        "GitHub Actions",
        "copied to .github/workflows/; push to main, pull requests",
    ),
    (
        "ops/prometheus/openclaw.rules.yml",
        "Prometheus alerting rules over the doctor's textfile metrics: a check failing, the doctor not run for 2 h or its metrics missing, a guard rollback, a notifier outbox backlog (docs/doctor.md, \"Prometheus alerting\"); unit tests beside it (`promtool test rules`)",
        "Prometheus",
        "listed in Prometheus's `rule_files`",
    ),
    ("ops/tests/run_all.sh", "every ops self-test (hermetic, PATH stubs)", "anyone", "CI (`cargo xtask ci`)"),
];

/// systemd units shipped under ops/systemd/.
const UNITS: &[(&str, &str)] = &[
    (
        "openclaw-console.service",
        "`Type=notify` `openclaw-console serve` as a dynamic user, token via `LoadCredential=`, IP to localhost only, `KillMode=mixed` with `TimeoutStopSec=45` above the shutdown grace; installed, not enabled (create the token, then `systemctl enable --now`) (exposure 0.9)",
    ),
    (
        "openclaw-doctor.service",
        "oneshot doctor run; writes the report and the node_exporter textfile; hardened (exposure 2.5)",
    ),
    ("openclaw-doctor.timer", "hourly (`OnCalendar=hourly`, `Persistent=true`, 60 s jitter)"),
    (
        "openclaw-notify-flush.service",
        "oneshot `openclaw-notify flush`: delivers the outbox, retries receipt cancels; no capabilities, cannot bind a port (exposure 1.5)",
    ),
    ("openclaw-notify-flush.timer", "every five minutes (`OnCalendar=*:0/5`, `Persistent=true`, 30 s jitter)"),
    (
        "openclaw-guard.service",
        "oneshot guard tick (`openclaw-guard run`); hardened root remediator (exposure 3.2), `TimeoutStartSec=480`",
    ),
    ("openclaw-guard.timer", "3 min after boot, then every 10 min (`OnUnitActiveSec=10min`, `AccuracySec=10s`)"),
    (
        "openclaw-runner-bridge.service",
        "`openclaw-runner serve`: the socket the console's group may ask runs on (`/run/openclaw-runner/runner.sock`, 0660 root:openclaw-runner); root narrowed like the job unit, every job in its cgroup; not enabled by default",
    ),
    (
        "openclaw-runner@.service",
        "oneshot `openclaw-runner run --job %i` for a job with `requires_repo = false`; root narrowed to setuid/setgid/chown/dac_override/fowner/kill/sys_admin/net_admin (the job namespaces), the job in its own PID, mount, IPC and network namespace inside the unit's sandbox and cgroup (`TasksMax=512`, `MemoryMax=4G`, `CPUQuota=150%`) (exposure 3.7)",
    ),
    (
        "openclaw-runner@.timer",
        "per job instance, daily by default (`OnCalendar=daily`, `Persistent=true`, 5 min jitter); enable `openclaw-runner@JOB.timer`",
    ),
];

pub(crate) fn docs(root: &Path, check: bool) -> Result<(), String> {
    let text = render(root)?;
    let path = root.join("docs/OPS_INDEX.md");
    if check {
        let current = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if current != text {
            return Err("docs/OPS_INDEX.md is out of date with the CLIs: run `cargo xtask docs` and commit it".into());
        }
        return Ok(());
    }
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
}

fn tool_output(root: &Path, tool: &str, args: &[&str]) -> Result<String, String> {
    let bin = root.join("target/debug").join(tool);
    let out = Command::new(&bin)
        .args(args)
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100")
        .output()
        .map_err(|e| format!("{}: {e} (build it first: cargo build --workspace)", bin.display()))?;
    if !out.status.success() {
        return Err(format!("{tool} {}: exit {}", args.join(" "), out.status));
    }
    String::from_utf8(out.stdout).map_err(|e| e.to_string())
}

/// `(name, one-line help)` of every subcommand in a clap `--help` text.
fn subcommands(help: &str) -> Vec<(String, String)> {
    help.lines()
        .skip_while(|l| l.trim() != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| {
            let l = l.trim_start();
            let (name, about) = l.split_once(char::is_whitespace)?;
            (name != "help").then(|| (name.to_owned(), about.trim().to_owned()))
        })
        .collect()
}

/// Every script, CI workflow, rules file and unit shipped under ops/ must be in the hand-written tables, and no more.
fn check_ops_tables(root: &Path) -> Result<(), String> {
    let listed_scripts: Vec<&str> =
        OPS_SCRIPTS.iter().map(|(s, ..)| s.split_whitespace().next().unwrap_or_default()).collect();
    let mut found = Vec::new();
    let dirs =
        [("ops", "ops/"), ("ops/tests", "ops/tests/"), ("ops/ci", "ops/ci/"), ("ops/prometheus", "ops/prometheus/")];
    for (dir, prefix) in dirs {
        for e in std::fs::read_dir(root.join(dir)).map_err(|e| format!("{dir}: {e}"))? {
            let name = e.map_err(|e| e.to_string())?.file_name().to_string_lossy().into_owned();
            let listed = match dir {
                "ops" => name.ends_with(".sh"),
                "ops/tests" => name == "run_all.sh",
                "ops/prometheus" => name.ends_with(".rules.yml"),
                _ => name.ends_with(".yml") || name.ends_with(".yaml"),
            };
            if listed {
                found.push(format!("{prefix}{name}"));
            }
        }
    }
    for f in &found {
        if !listed_scripts.contains(&f.as_str()) {
            return Err(format!("{f} is not in OPS_SCRIPTS (xtask/src/docs.rs)"));
        }
    }
    for s in &listed_scripts {
        if !found.iter().any(|f| f == s) {
            return Err(format!("OPS_SCRIPTS lists {s}, which does not exist"));
        }
    }
    let mut units: Vec<String> = std::fs::read_dir(root.join("ops/systemd"))
        .map_err(|e| format!("ops/systemd: {e}"))?
        .filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
        .collect();
    units.sort();
    let mut listed: Vec<String> = UNITS.iter().map(|(u, _)| (*u).to_owned()).collect();
    listed.sort();
    if units != listed {
        return Err(format!("ops/systemd holds {units:?} but UNITS (xtask/src/docs.rs) lists {listed:?}"));
    }
    Ok(())
}

fn render(root: &Path) -> Result<String, String> {
    check_ops_tables(root)?;
    let mut res = String::from(
        "# Ops index\n\n<!-- Generated by `cargo xtask docs`; do not edit by hand. The command table, the checks and \
         the --help sections come from the CLIs; the ops/ and unit tables are kept in xtask/src/docs.rs, which \
         fails when they miss a script or unit. CI fails when this file drifts. -->\n\nCanonical command index \
         (contract §5). Exit codes everywhere: `0` clean, `1` policy failure, `2` could not decide.\n\n\
         ## Operator commands\n\n| command | what it does (from its --help) |\n| --- | --- |\n",
    );
    let mut helps = Vec::new();
    for tool in TOOLS {
        let help = tool_output(root, tool, &["--help"])?;
        let about = help.lines().next().unwrap_or_default().to_owned();
        res.push_str(&format!("| `{tool}` | {} |\n", about.replace('|', "\\|")));
        let subs = subcommands(&help);
        helps.push((tool.to_string(), help));
        for (sub, about) in subs {
            res.push_str(&format!("| `{tool} {sub}` | {} |\n", about.replace('|', "\\|")));
            helps.push((format!("{tool} {sub}"), tool_output(root, tool, &[&sub, "--help"])?));
        }
    }
    res.push('\n');
    res.push_str("## Doctor checks\n\n| id | title | reads and judges |\n| --- | --- | --- |\n");
    let listing: Value =
        serde_json::from_str(&tool_output(root, "openclaw-doctor", &["list-checks", "--format", "json"])?)
            .map_err(|e| format!("list-checks JSON: {e}"))?;
    for c in listing["checks"].as_array().ok_or("list-checks has no checks")? {
        let cell =
            |k: &str| c[k].as_str().unwrap_or("").replace('|', "\\|").split_whitespace().collect::<Vec<_>>().join(" ");
        res.push_str(&format!("| `{}` | {} | {} |\n", cell("id"), cell("title"), cell("rules")));
    }
    res.push_str("\n## ops/ scripts\n\n| script | what it does | run as | when |\n| --- | --- | --- | --- |\n");
    for (script, what, who, when) in OPS_SCRIPTS {
        res.push_str(&format!("| `{script}` | {what} | {who} | {when} |\n"));
    }
    res.push_str("\n## systemd units (ops/systemd/)\n\n| unit | what it does |\n| --- | --- |\n");
    for (unit, what) in UNITS {
        res.push_str(&format!("| `{unit}` | {what} |\n"));
    }
    res.push_str(
        "\n## Developer commands\n\n| command | what it does |\n| --- | --- |\n\
         | `cargo xtask ci` | everything CI runs: tool check, fmt, clippy, rustdoc with -D warnings, the fuzz targets compiling on stable, dependency invariant, shellcheck, ops self-tests, contract coverage, docs drift, the package (two builds byte-compared, lintian, install/remove/purge test as root), nextest (tidy rules and snapshots run as tests) |\n\
         | `cargo xtask docs [--check]` | regenerate (or check) this file from the CLIs |\n\
         | `cargo xtask dist [--install-test]` | the Debian package, a tarball of the same tree and SHA256SUMS under target/dist/, reproducible from a commit (docs/install.md); `--install-test` is CI's package step alone: two builds compared, lintian, install/remove/purge on this machine (root) |\n\
         | `cargo xtask coverage` | every clause of docs/CONTRACT_COVERAGE.md names tests that exist (`cargo nextest list`) or says `not yet: issue N` |\n\
         | `cargo xtask check-deps [--manifest-path PATH]` | tool crates depend on `common` only (and on `test-support` as a dev-dependency only); only `dist-gen` links the tools, and nothing links it |\n\
         | `cargo xtask bench [NAME]` | benchmarks against named baselines |\n\
         | `cargo xtask fuzz [--seconds N] [TARGET]` | cargo-fuzz targets on nightly |\n\
         | `cargo xtask console-screenshots` | refresh docs/img/console-*.png (and print the page's figures) from the browser tests |\n\
         | `python3 docs/verify_audit.py LOG [--checkpoint F] [--checkpoint-line L]` | independent audit-log verifier |\n",
    );
    for (name, help) in helps {
        res.push_str(&format!("\n## `{name} --help`\n\n```text\n{help}```\n"));
    }
    Ok(res)
}
