//! The doctor's report and its three renderings: human text, JSON, and
//! Prometheus text exposition (for node_exporter's textfile collector).

use std::fmt::Write as _;

use common::output::{Style, sanitize};
use serde::Serialize;

use crate::checks::Status;
use crate::outbox::Backlog;
use crate::runner::CheckResult;

/// Bumped on any incompatible change to the JSON report (documented in docs/doctor.md).
pub(crate) const SCHEMA_VERSION: u32 = 1;
pub(crate) const TOOL: &str = "openclaw-doctor";
pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");
pub(crate) const INFO: common::cli::ToolInfo =
    common::cli::ToolInfo { name: TOOL, version: VERSION, schema_version: SCHEMA_VERSION };

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub(crate) struct Summary {
    pub(crate) pass: usize,
    pub(crate) warn: usize,
    pub(crate) fail: usize,
    pub(crate) error: usize,
    pub(crate) skip: usize,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    pub(crate) host: String,
    pub(crate) started_at: String,
    /// Unix seconds of `started_at`, for the Prometheus timestamp.
    #[serde(skip)]
    pub(crate) started_unix: i64,
    pub(crate) duration_ms: u64,
    pub(crate) result: &'static str,
    pub(crate) strict: bool,
    pub(crate) summary: Summary,
    pub(crate) checks: Vec<CheckResult>,
}

impl Report {
    pub(crate) fn new(
        host: String,
        started_at: time::OffsetDateTime,
        duration_ms: u64,
        strict: bool,
        checks: Vec<CheckResult>,
    ) -> Report {
        let mut summary = Summary::default();
        for c in &checks {
            match c.status {
                Status::Pass => summary.pass += 1,
                Status::Warn => summary.warn += 1,
                Status::Fail => summary.fail += 1,
                Status::Error => summary.error += 1,
                Status::Skip => summary.skip += 1,
            }
        }
        let failed = summary.fail + summary.error > 0 || (strict && summary.warn > 0);
        Report {
            host,
            started_at: common::time_fmt::rfc3339(started_at),
            started_unix: started_at.unix_timestamp(),
            duration_ms,
            result: if failed { "FAIL" } else { "PASS" },
            strict,
            summary,
            checks,
        }
    }

    pub(crate) fn passed(&self) -> bool {
        self.result == "PASS"
    }

    pub(crate) fn to_json(&self) -> String {
        INFO.envelope(self)
    }

    /// The document of [`Report::to_json`] as compact JSON on one line (the
    /// machine output on stdout), serialised straight to `w`: a report of
    /// 10,000 sockets is megabytes, so no string in between.
    pub(crate) fn write_json(&self, w: &mut impl std::io::Write) -> std::io::Result<()> {
        let envelope =
            common::output::Envelope { schema_version: SCHEMA_VERSION, tool: TOOL, tool_version: VERSION, body: self };
        serde_json::to_writer(&mut *w, &envelope)?;
        w.write_all(b"\n")
    }

    pub(crate) fn to_human(&self, style: Style) -> String {
        let mut res = String::new();
        let _ = writeln!(
            res,
            "{}",
            style.bold(&format!("{TOOL} {VERSION} on {} at {}", sanitize(&self.host), self.started_at))
        );
        let width = self.checks.iter().map(|c| c.id.len()).max().unwrap_or(0);
        for c in &self.checks {
            let label = match c.status {
                Status::Pass => style.green("PASS "),
                Status::Warn => style.yellow("WARN "),
                Status::Fail => style.red("FAIL "),
                Status::Error => style.red("ERROR"),
                Status::Skip => "SKIP ".to_owned(),
            };
            let _ = writeln!(res, "{label}  {:width$}  {}  ({} ms)", c.id, sanitize(&c.summary), c.duration_ms);
            if let Some(fix) = &c.remediation
                && matches!(c.status, Status::Fail | Status::Error | Status::Warn)
            {
                for (i, line) in fix.0.iter().enumerate() {
                    let lead = if i == 0 { "fix:" } else { "    " };
                    let _ = writeln!(res, "{:pad$}{lead} {}", "", sanitize(line), pad = width + 9);
                }
            }
        }
        let s = &self.summary;
        let verdict = if self.passed() { style.green("PASS") } else { style.red("FAIL") };
        let _ = writeln!(
            res,
            "{verdict}: {} passed, {} warning{}, {} failed, {} error{}, {} skipped in {} ms{}",
            s.pass,
            s.warn,
            if s.warn == 1 { "" } else { "s" },
            s.fail,
            s.error,
            if s.error == 1 { "" } else { "s" },
            s.skip,
            self.duration_ms,
            if self.strict { " (strict: warnings fail)" } else { "" }
        );
        res
    }

    /// Prometheus text exposition format 0.0.4, with the notifier's outbox
    /// backlog when it could be read (left out, not zeroed, when it could not).
    pub(crate) fn to_prometheus(&self, outbox: Option<Backlog>) -> String {
        let mut res = String::new();
        res.push_str("# HELP openclaw_doctor_check_status 1 for the status each check has now, 0 for the others.\n");
        res.push_str("# TYPE openclaw_doctor_check_status gauge\n");
        for c in &self.checks {
            for st in Status::ALL {
                let _ = writeln!(
                    res,
                    "openclaw_doctor_check_status{{check=\"{}\",status=\"{}\"}} {}",
                    c.id,
                    st.as_str(),
                    u8::from(c.status == st)
                );
            }
        }
        res.push_str("# HELP openclaw_doctor_check_duration_seconds How long each check took.\n");
        res.push_str("# TYPE openclaw_doctor_check_duration_seconds gauge\n");
        for c in &self.checks {
            let _ = writeln!(
                res,
                "openclaw_doctor_check_duration_seconds{{check=\"{}\"}} {:.3}",
                c.id,
                c.duration_ms as f64 / 1000.0
            );
        }
        res.push_str("# HELP openclaw_doctor_success 1 when the run passed, 0 when it failed.\n");
        res.push_str("# TYPE openclaw_doctor_success gauge\n");
        let _ = writeln!(res, "openclaw_doctor_success {}", u8::from(self.passed()));
        res.push_str("# HELP openclaw_doctor_last_run_timestamp_seconds When the run started (Unix time).\n");
        res.push_str("# TYPE openclaw_doctor_last_run_timestamp_seconds gauge\n");
        let _ = writeln!(res, "openclaw_doctor_last_run_timestamp_seconds {}", self.started_unix);
        res.push_str("# HELP openclaw_doctor_run_duration_seconds How long the whole run took.\n");
        res.push_str("# TYPE openclaw_doctor_run_duration_seconds gauge\n");
        let _ = writeln!(res, "openclaw_doctor_run_duration_seconds {:.3}", self.duration_ms as f64 / 1000.0);
        if let Some(outbox) = outbox {
            res.push_str("# HELP openclaw_notifier_outbox_entries Alerts waiting in the notifier's outbox.\n");
            res.push_str("# TYPE openclaw_notifier_outbox_entries gauge\n");
            let _ = writeln!(res, "openclaw_notifier_outbox_entries {}", outbox.entries);
            res.push_str(
                "# HELP openclaw_notifier_outbox_oldest_age_seconds Age of the oldest alert in the outbox (0 when empty).\n",
            );
            res.push_str("# TYPE openclaw_notifier_outbox_oldest_age_seconds gauge\n");
            let _ = writeln!(res, "openclaw_notifier_outbox_oldest_age_seconds {}", outbox.oldest_age_secs);
        }
        res
    }
}
