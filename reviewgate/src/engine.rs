//! Running a reviewer over one packet. The `codex` engine runs `codex exec
//! --sandbox read-only --output-schema <schema> --output-last-message <file>
//! [--model M] -`, the packet on stdin (never in argv), the answer read from
//! the file (at most 1 MiB), under a timeout. A failure is retried with
//! bounded back-off while the run's total time budget lasts.

use std::path::Path;
use std::time::{Duration, Instant};

use common::process::CmdError;

use crate::child;

use crate::output::{MAX_OUTPUT, Review};

/// The JSON schema handed to `codex exec --output-schema` (Codex's review output).
pub const CODEX_SCHEMA: &str = r#"{"type":"object","additionalProperties":false,
"required":["findings","overall_correctness","overall_explanation","overall_confidence_score"],
"properties":{"findings":{"type":"array","items":{"type":"object","additionalProperties":false,
"required":["title","body","confidence_score","priority","code_location"],
"properties":{"title":{"type":"string","maxLength":80},"body":{"type":"string"},
"confidence_score":{"type":"number","minimum":0,"maximum":1},
"priority":{"type":["integer","null"],"minimum":0,"maximum":3},
"code_location":{"type":"object","additionalProperties":false,"required":["absolute_file_path","line_range"],
"properties":{"absolute_file_path":{"type":"string"},"line_range":{"type":"object","additionalProperties":false,
"required":["start","end"],"properties":{"start":{"type":"integer","minimum":0},"end":{"type":"integer","minimum":0}}}}}}}},
"overall_correctness":{"type":"string","enum":["patch is correct","patch is incorrect"]},
"overall_explanation":{"type":"string"},"overall_confidence_score":{"type":"number","minimum":0,"maximum":1}}}"#;

/// How the engine is run.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// The model passed with `--model` (empty: Codex's default).
    pub model: String,
    /// One attempt's timeout.
    pub timeout: Duration,
    /// Attempts per packet.
    pub attempts: u32,
    /// The whole review's budget.
    pub budget: Duration,
}

/// One packet's result: the raw output of the last attempt and the review or why there is none.
#[derive(Debug, Clone)]
pub struct PacketResult {
    /// What the engine answered last (kept in the review packet directory).
    pub raw: Vec<u8>,
    /// The review, or why there is none.
    pub review: Result<Review, String>,
}

/// `codex --version`'s first line, or why it cannot run (then nothing can be reviewed).
pub fn codex_version() -> Result<String, String> {
    match child::run("codex", &["--version"], None, &[], Duration::from_secs(20)) {
        Ok(out) if out.status.success() => Ok(out.stdout_text().lines().next().unwrap_or("").trim().to_owned()),
        Ok(out) => Err(format!("`codex --version` exited {:?}: {}", out.status.code(), out.stderr_line())),
        Err(CmdError::NotFound(_)) => Err("codex is not installed (the engine `codex` needs the Codex CLI)".into()),
        Err(e) => Err(e.to_string()),
    }
}

fn attempt(dir: &Path, packet: &str, s: &EngineSettings, timeout: Duration) -> (Vec<u8>, Result<Review, String>) {
    let schema = dir.join("schema.json");
    let last = dir.join("last-message.json");
    let _ = std::fs::remove_file(&last);
    if let Err(e) = std::fs::write(&schema, CODEX_SCHEMA) {
        return (Vec::new(), Err(format!("{}: {e}", schema.display())));
    }
    let (schema_s, last_s) = (schema.to_string_lossy().into_owned(), last.to_string_lossy().into_owned());
    let mut args =
        vec!["exec", "--sandbox", "read-only", "--output-schema", &schema_s, "--output-last-message", &last_s];
    if !s.model.is_empty() {
        args.extend(["--model", &s.model]);
    }
    args.push("-");
    match child::run("codex", &args, Some(packet.as_bytes()), &[], timeout) {
        Ok(out) if out.status.success() => {}
        Ok(out) => return (Vec::new(), Err(format!("codex exited {:?}: {}", out.status.code(), out.stderr_line()))),
        Err(e) => return (Vec::new(), Err(e.to_string())),
    }
    let raw = match std::fs::File::open(&last) {
        Ok(f) => {
            let mut buf = Vec::new();
            let _ = std::io::Read::read_to_end(&mut std::io::Read::take(f, MAX_OUTPUT as u64 + 1), &mut buf);
            buf
        }
        Err(e) => return (Vec::new(), Err(format!("codex wrote no last message: {e}"))),
    };
    let review = Review::parse(&raw).map_err(|e| e.to_string());
    (raw, review)
}

/// One attempt at one packet, with at most this timeout.
pub type Attempt<'a> = dyn Fn(&str, Duration) -> (Vec<u8>, Result<Review, String>) + 'a;

/// The `codex` engine's attempt (the schema and answer files live in `dir`).
pub fn codex_attempt<'a>(
    dir: &'a Path,
    s: &'a EngineSettings,
) -> impl Fn(&str, Duration) -> (Vec<u8>, Result<Review, String>) + 'a {
    move |packet, timeout| attempt(dir, packet, s, timeout)
}

/// Reviews each packet, in order, within the budget that started at `started`.
pub fn review_packets(
    packets: &[String],
    s: &EngineSettings,
    started: Instant,
    attempt: &Attempt<'_>,
) -> Vec<PacketResult> {
    let mut res = Vec::new();
    for packet in packets {
        let mut last = PacketResult { raw: Vec::new(), review: Err("not attempted: the time budget was spent".into()) };
        for n in 0..s.attempts {
            let left = s.budget.saturating_sub(started.elapsed());
            if left.is_zero() {
                break;
            }
            if n > 0 {
                std::thread::sleep(Duration::from_secs(1 << n.min(5)).min(left));
            }
            let (raw, review) = attempt(packet, s.timeout.min(s.budget.saturating_sub(started.elapsed())));
            let ok = review.is_ok();
            last = PacketResult { raw, review: review.map_err(|e| format!("attempt {}: {e}", n + 1)) };
            if ok {
                break;
            }
        }
        res.push(last);
    }
    res
}
