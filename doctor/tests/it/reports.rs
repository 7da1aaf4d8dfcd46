//! The doctor's outputs pinned as insta snapshots (`snapshots/`): the human,
//! JSON and Prometheus renderings of one run whose every check reads PATH
//! stubs and recorded fixtures (nothing of this host), `list-checks`, and
//! `verify-audit` on an intact and a tampered log. Volatile values (times,
//! durations, host name, temp dir, version, hashes) are checked for shape and
//! then redacted; everything else must match the committed snapshot.

use crate::support::{Host, Run, fixture, hostname, redact};

/// Every status, each from a stub or the temp dir: tailscale and audit-log
/// pass, docker-ports fails, docker-health errors, systemd warns (failed
/// units, none of them tracked), http-health and log-dir skip. Not sshd: its
/// error text adds a hint when not root, and its probes read /etc/passwd.
pub(crate) const SELECTION: &[&str] = &[
    "--only",
    "tailscale",
    "--only",
    "docker-ports",
    "--only",
    "docker-health",
    "--only",
    "http-health",
    "--only",
    "log-dir",
    "--only",
    "systemd",
    "--only",
    "audit-log",
    "--no-artifacts",
];

pub(crate) fn stubbed_host() -> Host {
    let host = Host::new();
    host.stub_fixture("tailscale", "tailscale_status_running.json", 0);
    // `docker ps` (docker-ports) answers; `docker ps -a` (docker-health) is refused.
    host.stub(
        "docker",
        &format!(
            "case \"$*\" in\n  'ps -a '*) echo '{}' >&2; exit 1 ;;\n  'ps '*) cat '{}' ;;\n  *) exit 9 ;;\nesac",
            "permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock",
            fixture("docker_ps_exposed.jsonl").display()
        ),
    );
    host.stub(
        "systemctl",
        &format!(
            "case \"$1\" in\n  list-units) cat '{}' ;;\n  *) exit 9 ;;\nesac",
            fixture("systemctl_failed_two.txt").display()
        ),
    );
    host
}

/// The stubbed run in `format`, colour off; exit 1 (a check failed), nothing on stderr.
fn stubbed_run(host: &Host, format: &str) -> Run {
    let out = host.command().env("NO_COLOR", "1").args(SELECTION).args(["--format", format]).output().unwrap();
    let run = Run::from(out);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert_eq!(run.stderr, "", "no diagnostics with --no-artifacts");
    assert!(!run.stdout.contains('\u{1b}'), "no colour off a terminal: {:?}", run.stdout);
    run
}

#[test]
fn human_report() {
    let host = stubbed_host();
    let run = stubbed_run(&host, "human");
    let (head, body) = run.stdout.split_once('\n').unwrap();
    // "openclaw-doctor <version> on <host> at <started_at>"
    let (tool_version, rest) = head.strip_prefix("openclaw-doctor ").unwrap().split_once(" on ").unwrap();
    let (host_name, started_at) = rest.rsplit_once(" at ").unwrap();
    assert_eq!((tool_version, host_name), (env!("CARGO_PKG_VERSION"), hostname().as_str()), "{head}");
    assert!(common::time_fmt::parse_rfc3339(started_at).is_some(), "{head}");
    let text =
        format!("openclaw-doctor [version] on [host] at [timestamp]\n{}", redact::human_millis(&host.scrub(body)));
    insta::assert_snapshot!(text);
}

#[test]
fn json_report() {
    let host = stubbed_host();
    let run = stubbed_run(&host, "json");
    // The snapshot's keys are sorted; the envelope's documented order is checked here.
    // Machine output is compact JSON on one line.
    assert!(
        run.stdout.starts_with("{\"schema_version\":1,\"tool\":\"openclaw-doctor\",\"tool_version\":"),
        "{}",
        run.stdout
    );
    assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);
    let report: serde_json::Value = serde_json::from_str(&host.scrub(&run.stdout)).unwrap();
    insta::assert_json_snapshot!(report, {
        ".tool_version" => redact::version(),
        ".host" => redact::exactly(hostname(), "[host]"),
        ".started_at" => redact::timestamp(),
        ".**.duration_ms" => redact::millis(),
    });
}

#[test]
fn prometheus_report() {
    let host = stubbed_host();
    let run = stubbed_run(&host, "prometheus");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    // Sample values that are times or durations: checked, then redacted.
    let text: String = run
        .stdout
        .lines()
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let volatile = ["openclaw_doctor_check_duration_seconds{", "openclaw_doctor_run_duration_seconds "]
                .iter()
                .any(|m| line.starts_with(m));
            let shown = if line.starts_with("openclaw_doctor_last_run_timestamp_seconds ") {
                let started: i64 = value.parse().unwrap();
                assert!((now - 60..=now).contains(&started), "{line}");
                "[timestamp]"
            } else if volatile {
                let secs: f64 = value.parse().unwrap();
                assert!(secs.is_finite() && secs >= 0.0 && value.split_once('.').unwrap().1.len() == 3, "{line}");
                "[seconds]"
            } else {
                value
            };
            format!("{series} {shown}\n")
        })
        .collect();
    insta::assert_snapshot!(text);
}

#[test]
fn list_checks_json() {
    let run = Host::new().run(&["list-checks", "--format", "json"]);
    assert_eq!((run.code, run.stderr.as_str()), (0, ""));
    insta::assert_json_snapshot!(run.json(), { ".tool_version" => redact::version() });
}

#[test]
fn verify_audit_json_intact() {
    let host = Host::new();
    crate::audit::log_with(&host, 3);
    let run = host.run(&["verify-audit", "--format", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let v: serde_json::Value = serde_json::from_str(&host.scrub(&run.stdout)).unwrap();
    insta::assert_json_snapshot!(v, {
        ".tool_version" => redact::version(),
        ".head[1]" => redact::sha256(),
    });
}

#[test]
fn verify_audit_json_tampered() {
    let host = Host::new();
    let log = crate::audit::log_with(&host, 3);
    let text = std::fs::read_to_string(log.path()).unwrap();
    std::fs::write(log.path(), text.replacen("\"exit_code\":0", "\"exit_code\":5", 2)).unwrap();
    let run = host.run(&["verify-audit", "--format", "json"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let v: serde_json::Value = serde_json::from_str(&host.scrub(&run.stdout)).unwrap();
    insta::assert_json_snapshot!(v, {
        ".tool_version" => redact::version(),
        ".head[1]" => redact::sha256(),
    });
}
