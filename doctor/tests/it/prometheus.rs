//! The Prometheus output as Prometheus itself reads it: the real
//! `openclaw-doctor --format prometheus` and its `--textfile` piped into
//! `promtool check metrics` (Debian's `prometheus` package; skipped when it
//! is absent, CI installs it), and the notifier outbox backlog series read
//! from a planted `<state>/notifier/outbox/`.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use crate::reports::{SELECTION, stubbed_host};
use crate::support::{Host, Run, skip};

/// `text` through `promtool check metrics`; `None` when promtool is not installed.
fn promtool_check_metrics(text: &str) -> Option<Run> {
    let mut child = match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("promtool: {e}"),
    };
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    Some(Run::from(child.wait_with_output().unwrap()))
}

/// Two queued alerts, the older queued `age` ago, plus what the notifier
/// keeps beside them that is not a queued alert.
fn plant_outbox(host: &Host, age: Duration) {
    let outbox = host.path("state/notifier/outbox");
    std::fs::create_dir_all(outbox.join("rejected")).unwrap();
    for dir in [host.path("state"), host.path("state/notifier"), outbox.clone()] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let now = SystemTime::now();
    for (name, queued) in
        [("00000000001795728600-000000001-42.json", now - age), ("00000000001795728700-000000001-43.json", now)]
    {
        let path = outbox.join(name);
        std::fs::write(&path, "{}").unwrap();
        std::fs::File::options().write(true).open(&path).unwrap().set_modified(queued).unwrap();
    }
    std::fs::write(outbox.join("rejected/refused.json"), "{}").unwrap();
    std::fs::write(outbox.join(".tmp-half-written.json"), "{").unwrap();
}

/// The value of the unlabelled series `name`, if present.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

fn has_series(text: &str, name: &str) -> bool {
    text.lines().any(|l| l.starts_with(name))
}

#[test]
fn promtool_check_metrics_accepts_the_real_prometheus_output_and_textfile() {
    let host = stubbed_host();
    plant_outbox(&host, Duration::from_secs(3600));
    let textfile = host.path("textfile/openclaw_doctor.prom");
    std::fs::create_dir_all(textfile.parent().unwrap()).unwrap();
    let out =
        host.command().args(SELECTION).args(["--format", "prometheus", "--textfile"]).arg(&textfile).output().unwrap();
    let run = Run::from(out);
    assert_eq!((run.code, run.stderr.as_str()), (1, ""), "{}", run.stdout);
    let file = std::fs::read_to_string(&textfile).unwrap();
    // Every series family, the outbox's included, is in what promtool reads.
    for name in [
        "openclaw_doctor_check_status{",
        "openclaw_doctor_check_duration_seconds{",
        "openclaw_doctor_success ",
        "openclaw_doctor_last_run_timestamp_seconds ",
        "openclaw_doctor_run_duration_seconds ",
        "openclaw_notifier_outbox_entries ",
        "openclaw_notifier_outbox_oldest_age_seconds ",
    ] {
        assert!(has_series(&run.stdout, name) && has_series(&file, name), "{name} missing:\n{}", run.stdout);
    }
    for (what, text) in [("--format prometheus", &run.stdout), ("--textfile", &file)] {
        let Some(checked) = promtool_check_metrics(text) else {
            skip("promtool not installed (apt-get install --no-install-recommends prometheus)");
            return;
        };
        assert_eq!(
            (checked.code, checked.stdout.as_str(), checked.stderr.as_str()),
            (0, "", ""),
            "promtool check metrics on {what}:\n{text}"
        );
    }
}

#[test]
fn outbox_backlog_counts_queued_alerts_and_ages_the_oldest() {
    let host = Host::new();
    let run = host.run(&["--only", "log-dir", "--no-artifacts", "--format", "prometheus"]);
    assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{}", run.stdout);
    // No notifier here yet: an empty outbox, not a missing measurement.
    assert_eq!(sample(&run.stdout, "openclaw_notifier_outbox_entries"), Some(0.0), "{}", run.stdout);
    assert_eq!(sample(&run.stdout, "openclaw_notifier_outbox_oldest_age_seconds"), Some(0.0), "{}", run.stdout);

    plant_outbox(&host, Duration::from_secs(7200));
    let run = host.run(&["--only", "log-dir", "--no-artifacts", "--format", "prometheus"]);
    assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{}", run.stdout);
    assert_eq!(sample(&run.stdout, "openclaw_notifier_outbox_entries"), Some(2.0), "{}", run.stdout);
    let age = sample(&run.stdout, "openclaw_notifier_outbox_oldest_age_seconds").unwrap();
    assert!((7200.0..7260.0).contains(&age), "{}", run.stdout);
    // Read, never changed: the doctor has no business in the notifier's queue.
    let names: Vec<_> =
        std::fs::read_dir(host.path("state/notifier/outbox")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 4, "{names:?}");
}

#[test]
fn an_outbox_others_can_write_is_not_measured_and_the_run_says_why() {
    let host = Host::new();
    plant_outbox(&host, Duration::from_secs(60));
    let outbox = host.path("state/notifier/outbox");
    std::fs::set_permissions(&outbox, std::fs::Permissions::from_mode(0o777)).unwrap();
    let textfile = host.path("metrics.prom");
    let out = host
        .command()
        .args(["--only", "log-dir", "--no-artifacts", "--format", "json", "--textfile"])
        .arg(&textfile)
        .output()
        .unwrap();
    let run = Run::from(out);
    // The verdict is the checks' alone; the series are left out, not zeroed.
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("notifier outbox not measured") && run.stderr.contains(&*outbox.to_string_lossy()),
        "{}",
        run.stderr
    );
    let file = std::fs::read_to_string(&textfile).unwrap();
    assert!(has_series(&file, "openclaw_doctor_success "), "{file}");
    assert!(!file.contains("openclaw_notifier_"), "{file}");
}
