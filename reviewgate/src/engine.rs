//! Running a reviewer over one packet. The `codex` engine runs `codex exec
//! --skip-git-repo-check --sandbox read-only -c project_doc_max_bytes=0
//! --output-schema <schema> --output-last-message <file> [--model M] -` in
//! its jail (`sandbox`: an empty work directory, its own `CODEX_HOME`, no
//! way to the signing key), the packet on stdin (never in argv), the answer
//! read from the file (at most 1 MiB), under a timeout. A failure is
//! retried with bounded back-off while the run's total time budget lasts.

use std::time::{Duration, Instant};

use common::process::{self, CmdError};

use crate::sandbox::Jail;

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

/// The arguments of one `codex exec` call. Pure.
pub fn codex_args(schema: &str, last: &str, model: &str) -> Vec<String> {
    let mut args: Vec<String> = [
        "exec",
        "--skip-git-repo-check",
        "--sandbox",
        "read-only",
        "-c",
        "project_doc_max_bytes=0",
        "--output-schema",
        schema,
        "--output-last-message",
        last,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    if !model.is_empty() {
        args.extend(["--model".to_owned(), model.to_owned()]);
    }
    args.push("-".into());
    args
}

fn run_jailed(
    jail: &Jail,
    args: &[String],
    input: Option<&[u8]>,
    timeout: Duration,
) -> Result<process::CmdOutput, CmdError> {
    let cmd = jail.command(args, &common::paths::process_env);
    let out = process::run_command("codex", cmd, input, timeout)?;
    jail.keep_stderr(&out.stderr);
    Ok(out)
}

/// `codex --version`'s first line, run in the jail, or why it cannot run
/// (then nothing can be reviewed).
pub fn codex_version(jail: &Jail) -> Result<String, String> {
    match run_jailed(jail, &["--version".to_owned()], None, Duration::from_secs(20)) {
        Ok(out) if out.status.success() => Ok(out.stdout_text().lines().next().unwrap_or("").trim().to_owned()),
        Ok(out) => {
            Err(format!("`codex --version` in its sandbox exited {:?}: {}", out.status.code(), out.stderr_line()))
        }
        Err(e) => Err(e.to_string()),
    }
}

fn attempt(jail: &Jail, packet: &str, s: &EngineSettings, timeout: Duration) -> (Vec<u8>, Result<Review, String>) {
    let schema = jail.work.join("schema.json");
    let last = jail.work.join("last-message.json");
    // The engine can write its work directory: whatever it left at these
    // names (a link to a host file, above all) is removed, never followed,
    // and the schema is created afresh (O_EXCL: a link planted in between fails it).
    let _ = std::fs::remove_file(&last);
    let _ = std::fs::remove_file(&schema);
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&schema)
        .and_then(|mut f| std::io::Write::write_all(&mut f, CODEX_SCHEMA.as_bytes()));
    if let Err(e) = written {
        return (Vec::new(), Err(format!("{}: {e}", schema.display())));
    }
    let args = codex_args(&schema.to_string_lossy(), &last.to_string_lossy(), &s.model);
    match run_jailed(jail, &args, Some(packet.as_bytes()), timeout) {
        Ok(out) if out.status.success() => {}
        Ok(out) => return (Vec::new(), Err(format!("codex exited {:?}: {}", out.status.code(), out.stderr_line()))),
        Err(e) => return (Vec::new(), Err(e.to_string())),
    }
    let raw = match common::private_path::open_file(
        &last,
        common::private_path::OpenSpec::read(common::private_path::Class::Private),
    ) {
        Ok(Some(f)) => {
            let mut buf = Vec::new();
            let _ = std::io::Read::read_to_end(&mut std::io::Read::take(f, MAX_OUTPUT as u64 + 1), &mut buf);
            buf
        }
        Ok(None) => return (Vec::new(), Err("codex wrote no last message".into())),
        Err(e) => return (Vec::new(), Err(format!("codex's last message: {e}"))),
    };
    let review = Review::parse(&raw).map_err(|e| e.to_string());
    (raw, review)
}

/// One attempt at one packet, with at most this timeout.
pub type Attempt<'a> = dyn Fn(&str, Duration) -> (Vec<u8>, Result<Review, String>) + 'a;

/// The `codex` engine's attempt (the schema and answer files live in the jail's work directory).
pub fn codex_attempt<'a>(
    jail: &'a Jail,
    s: &'a EngineSettings,
) -> impl Fn(&str, Duration) -> (Vec<u8>, Result<Review, String>) + 'a {
    move |packet, timeout| attempt(jail, packet, s, timeout)
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
