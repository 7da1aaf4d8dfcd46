//! Running the doctor and reading its documented JSON report
//! (docs/doctor.md "JSON report"): exit 0 with `result: PASS`, or exit 1
//! with `result: FAIL`. Anything else (not found, a hang, another exit
//! code, output that is not that document, the two disagreeing) means the
//! guard could not run, and nothing is decided from it.

use std::path::Path;
use std::time::Duration;

use common::process::{self, CmdError};
use serde::Deserialize;
use serde_json::Value;

/// The doctor's report, as far as the guard reads it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DoctorReport {
    /// Must be 1 (the version the guard was written against).
    pub schema_version: u32,
    /// Must be `openclaw-doctor`.
    pub tool: String,
    /// `PASS` or `FAIL`.
    pub result: DoctorResult,
    /// Every check run.
    pub checks: Vec<CheckResult>,
}

/// The doctor's overall verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum DoctorResult {
    /// No check failed or errored.
    Pass,
    /// A check failed or errored.
    Fail,
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CheckResult {
    /// The stable check id (`listeners`, `sshd`, …).
    pub id: String,
    /// `pass | warn | fail | error | skip`.
    pub status: String,
    /// One line (untrusted text: escaped wherever it is shown).
    #[serde(default)]
    pub summary: String,
    /// Structured facts; `listeners` carries `sockets[]`.
    #[serde(default)]
    pub details: Value,
}

impl CheckResult {
    /// Whether this check makes the doctor fail.
    pub fn is_failing(&self) -> bool {
        matches!(self.status.as_str(), "fail" | "error")
    }
}

/// Why the doctor's answer cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DoctorError {
    /// Not found where the guard looks for it.
    Missing(String),
    /// It ran past its timeout and was killed.
    TimedOut {
        /// How long the guard waited.
        waited_ms: u64,
    },
    /// It could not run (exit 2 or a signal), with its first stderr line.
    CouldNotRun {
        /// Its exit code, `None` when killed by a signal.
        code: Option<i32>,
        /// The first line of its stderr.
        stderr: String,
    },
    /// Its output is not the documented report, or contradicts its exit code.
    Unreadable(String),
}

impl std::fmt::Display for DoctorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DoctorError::Missing(why) => write!(f, "the doctor is missing: {why}"),
            DoctorError::TimedOut { waited_ms } => {
                write!(f, "the doctor did not finish within {waited_ms} ms and was killed")
            }
            DoctorError::CouldNotRun { code: Some(c), stderr } => {
                write!(f, "the doctor could not run (exit {c}): {stderr}")
            }
            DoctorError::CouldNotRun { code: None, stderr } => write!(f, "the doctor was killed by a signal: {stderr}"),
            DoctorError::Unreadable(why) => write!(f, "the doctor's output is unreadable: {why}"),
        }
    }
}

/// Reads a finished doctor run: its exit code and stdout. Pure.
pub fn parse(code: Option<i32>, stdout: &[u8], stderr_line: &str) -> Result<DoctorReport, DoctorError> {
    let expected = match code {
        Some(0) => DoctorResult::Pass,
        Some(1) => DoctorResult::Fail,
        other => return Err(DoctorError::CouldNotRun { code: other, stderr: stderr_line.to_owned() }),
    };
    let report: DoctorReport =
        serde_json::from_slice(stdout).map_err(|e| DoctorError::Unreadable(format!("not the doctor's JSON ({e})")))?;
    if report.tool != "openclaw-doctor" || report.schema_version != 1 {
        return Err(DoctorError::Unreadable(format!(
            "expected openclaw-doctor schema 1, got `{}` schema {}",
            report.tool, report.schema_version
        )));
    }
    if report.result != expected {
        return Err(DoctorError::Unreadable(format!(
            "result {:?} contradicts exit code {}",
            report.result,
            code.unwrap_or(-1)
        )));
    }
    let failing = report.checks.iter().any(CheckResult::is_failing);
    if (report.result == DoctorResult::Fail) != failing {
        return Err(DoctorError::Unreadable(format!("result {:?} contradicts its checks", report.result)));
    }
    Ok(report)
}

/// Runs `<doctor> --format json` under `timeout` and reads its report.
pub fn run(doctor: &Path, timeout: Duration) -> Result<DoctorReport, DoctorError> {
    let program = doctor.to_string_lossy();
    match process::run(&program, &["--format", "json"], timeout) {
        Ok(out) => parse(out.status.code(), &out.stdout, &out.stderr_line()),
        Err(CmdError::NotFound(p)) => Err(DoctorError::Missing(format!("`{p}` is not installed"))),
        Err(CmdError::TimedOut { waited_ms, .. }) => Err(DoctorError::TimedOut { waited_ms }),
        Err(e) => Err(DoctorError::Unreadable(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASS: &str = r#"{"schema_version":1,"tool":"openclaw-doctor","result":"PASS","checks":[{"id":"disk","status":"pass","summary":"ok","details":null}]}"#;
    const FAIL: &str = r#"{"schema_version":1,"tool":"openclaw-doctor","result":"FAIL","checks":[{"id":"disk","status":"fail","summary":"full","details":null}]}"#;

    #[test]
    fn exit_code_and_result_must_agree() {
        assert_eq!(parse(Some(0), PASS.as_bytes(), "").unwrap().result, DoctorResult::Pass);
        assert_eq!(parse(Some(1), FAIL.as_bytes(), "").unwrap().checks[0].id, "disk");
        assert!(matches!(parse(Some(1), PASS.as_bytes(), ""), Err(DoctorError::Unreadable(_))));
        assert!(matches!(parse(Some(0), FAIL.as_bytes(), ""), Err(DoctorError::Unreadable(_))));
        let no_failing = FAIL.replace("\"fail\",\"summary\"", "\"pass\",\"summary\"");
        assert!(matches!(parse(Some(1), no_failing.as_bytes(), ""), Err(DoctorError::Unreadable(_))));
        let failing_pass = PASS.replace("\"pass\",\"summary\"", "\"error\",\"summary\"");
        assert!(matches!(parse(Some(0), failing_pass.as_bytes(), ""), Err(DoctorError::Unreadable(_))));
    }

    #[test]
    fn anything_but_the_documented_report_is_unreadable() {
        for junk in
            ["", "garbage", "{\"schema_version\":1", &PASS.replace("openclaw-doctor", "x"), &PASS.replace(":1,", ":2,")]
        {
            assert!(matches!(parse(Some(0), junk.as_bytes(), ""), Err(DoctorError::Unreadable(_))), "{junk}");
        }
        assert_eq!(
            parse(Some(2), b"", "bad config"),
            Err(DoctorError::CouldNotRun { code: Some(2), stderr: "bad config".into() })
        );
        assert!(matches!(parse(None, PASS.as_bytes(), ""), Err(DoctorError::CouldNotRun { code: None, .. })));
    }
}
