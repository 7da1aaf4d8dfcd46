//! The command line: arguments, settings (flag > environment > file >
//! default) and dispatch: `verify`, `bundle`, `review` (engine `codex`),
//! `hook pre-push`, `install-hook` (docs/reviewgate.md).

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Instant;

use clap::{Parser, Subcommand};
use common::audit::AuditLog;
use common::config::Config;
use common::exit::Exit;
use common::output::Format;
use common::paths::{PathFlags, Paths};

use crate::settings::GateSettings;

/// Checks review verdicts that are bound to the reviewed tree and signed in
/// OpenSSH's SSHSIG format (namespace openclaw-review-verdict).
///
/// Exit codes: 0 the commit carries a valid verdict; 1 it does not (the
/// message names the rule); 2 the gate could not decide (unknown revision,
/// git or ssh-keygen missing, allowed_signers missing, hostile or inside the
/// repository).
///
/// allowed_signers: --allowed-signers, else OPENCLAW_ALLOWED_SIGNERS, else
/// `[reviewgate] allowed_signers`, else /etc/openclaw/allowed_signers; a copy
/// inside the repository being verified is never used.
#[derive(Debug, Parser)]
#[command(name = "openclaw-reviewgate", version, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    paths: PathFlags,
    /// Output format.
    #[arg(long, value_name = "human|json", default_value = "human", global = true)]
    format: Format,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Whether commit REV itself carries a valid, signed verdict for its own content (read from the commit, never the working tree).
    Verify {
        /// The revision to check (a commit, branch or tag).
        #[arg(long, value_name = "REV")]
        rev: String,
        /// The public keys whose verdicts count (see above for the default).
        #[arg(long, value_name = "FILE")]
        allowed_signers: Option<PathBuf>,
        /// The repository (default: the current directory).
        #[arg(long, value_name = "DIR", default_value = ".")]
        repo: PathBuf,
        /// Record no refusal in the audit log (for read-only callers such as the doctor's review-gate check).
        #[arg(long)]
        no_audit: bool,
    },
    /// Write the review bundle for BASE..HEAD: instructions, range, files, the diff fenced as untrusted data (deterministic; split into packets above --max-bytes).
    Bundle {
        /// The approved base.
        #[arg(long, value_name = "REV")]
        base: String,
        /// The head to review.
        #[arg(long, value_name = "REV", default_value = "HEAD")]
        head: String,
        /// The largest packet, in bytes.
        #[arg(long, value_name = "N", default_value_t = crate::bundle::DEFAULT_MAX_BYTES)]
        max_bytes: usize,
        /// Write here (packets beyond the first as FILE.2, FILE.3, …) instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// The repository (default: the current directory).
        #[arg(long, value_name = "DIR", default_value = ".")]
        repo: PathBuf,
    },
    /// Review BASE..HEAD with a reviewer, apply the policy, write review_packets/<stamp>/, and when approved sign docs/LAST_APPROVED_VERDICT.json.
    Review {
        /// The base; refused unless it is the approved base (the newest ancestor with a valid verdict, else genesis), which is the default.
        #[arg(long, value_name = "REV")]
        base: Option<String>,
        /// The head to review.
        #[arg(long, value_name = "REV", default_value = "HEAD")]
        head: String,
        /// The reviewer.
        #[arg(long, value_name = "codex|openai", default_value = "codex")]
        engine: EngineArg,
        /// The OpenAI API's base URL (https, or http to a loopback IP for a test server).
        #[arg(long, value_name = "URL", default_value = "https://api.openai.com")]
        api_base: String,
        /// Commit exactly the two verdict files on top of the reviewed head (HEAD must be it).
        #[arg(long)]
        commit: bool,
        /// No reviewer: write a verdict marked simulated under review_packets/ only, never signed.
        #[arg(long, conflicts_with = "commit")]
        simulate: bool,
        /// The largest packet, in bytes.
        #[arg(long, value_name = "N", default_value_t = crate::bundle::DEFAULT_MAX_BYTES)]
        max_bytes: usize,
        /// The repository (default: the current directory).
        #[arg(long, value_name = "DIR", default_value = ".")]
        repo: PathBuf,
    },
    /// Git hooks: `hook pre-push REMOTE URL` reads git's pre-push input and blocks unreviewed updates of protected branches.
    Hook {
        #[command(subcommand)]
        hook: HookCommand,
    },
    /// Append a deploy decision to the shared audit log (for ops/vps_self_update.sh): deploy.complete, deploy.refuse or deploy.rollback.
    RecordDeploy {
        /// What happened.
        #[arg(long, value_enum)]
        outcome: DeployOutcome,
        /// The commit concerned (the one deployed, refused or rolled back from).
        #[arg(long, value_name = "REV")]
        rev: String,
        /// One line of detail (stored only as part of the hashed parameters).
        #[arg(long, value_name = "TEXT", default_value = "")]
        detail: String,
    },
    /// For the deploy script: may REV replace the checkout's HEAD? A valid verdict, a fast-forward, a reviewed base at or after HEAD, a verdict no older than one deployed here, the checkout byte for byte HEAD, no untracked file unless allowed.
    DeployCheck {
        /// The target commit.
        #[arg(long, value_name = "REV")]
        rev: String,
        /// The public keys whose verdicts count.
        #[arg(long, value_name = "FILE")]
        allowed_signers: Option<PathBuf>,
        /// The deployed checkout (default: the current directory).
        #[arg(long, value_name = "DIR", default_value = ".")]
        repo: PathBuf,
    },
    /// For the deploy script: move the checkout to REV with attributes from no source, then check every tracked file byte for byte.
    DeployCheckout {
        /// The commit to check out.
        #[arg(long, value_name = "REV")]
        rev: String,
        /// Back to the commit deployed before (no verdict rules; the byte check still runs).
        #[arg(long)]
        rollback: bool,
        /// The public keys whose verdicts count.
        #[arg(long, value_name = "FILE")]
        allowed_signers: Option<PathBuf>,
        /// The deployed checkout (default: the current directory).
        #[arg(long, value_name = "DIR", default_value = ".")]
        repo: PathBuf,
    },
    /// Inside the codex engine's jail: forward a loopback port to the gate's proxy socket and run the engine behind it.
    #[command(hide = true)]
    EngineBridge {
        /// The gate's proxy socket.
        #[arg(long, value_name = "PATH")]
        socket: PathBuf,
        /// The engine and its arguments.
        #[arg(last = true, required = true)]
        command: Vec<OsString>,
    },
    /// Inside the codex engine's jail: install the engine's system-call filter, then become the engine.
    #[command(hide = true)]
    EngineExec {
        /// The engine and its arguments.
        #[arg(last = true, required = true)]
        command: Vec<OsString>,
    },
    /// Install the pre-push hook in a working copy (an existing hook is kept and runs first).
    InstallHook {
        /// The repository (default: the current directory).
        #[arg(long, value_name = "DIR", default_value = ".")]
        repo: PathBuf,
    },
}

/// Deploy outcomes, as audit actions `deploy.<outcome>`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum DeployOutcome {
    /// Deployed and healthy.
    Complete,
    /// Refused before any change.
    Refuse,
    /// Built or probed, failed, and rolled back.
    Rollback,
}

/// The reviewers.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum EngineArg {
    /// `codex exec` with Codex's review output schema.
    Codex,
    /// The OpenAI Responses API with the same schema, strict.
    Openai,
}

#[derive(Debug, Subcommand)]
enum HookCommand {
    /// Run as git's pre-push hook (stdin: `<local ref> <local oid> <remote ref> <remote oid>` per line).
    PrePush {
        /// The remote's name.
        remote: String,
        /// The remote's URL.
        url: String,
    },
}

/// Parses `args` (including the program name) and runs the gate.
pub fn main_with_args(args: impl IntoIterator<Item = OsString>) -> Exit {
    common::cli::main_with_args(crate::INFO, common::cli::UsageErrors::Echo, args, run)
}

/// Everything a command needs, resolved once.
pub struct Settings {
    /// The shared paths.
    pub paths: Paths,
    /// The `[reviewgate]` table.
    pub gate: GateSettings,
    /// Output format.
    pub format: Format,
}

impl Settings {
    /// Appends one record to the shared audit log (only a hash of `params`).
    pub fn audit(&self, action: &str, params: &serde_json::Value, exit: Exit, started: Instant) -> Result<(), String> {
        AuditLog::new(&self.paths.audit_log, &self.paths.audit_checkpoint)
            .append_for_process(crate::TOOL, action, params, i32::from(exit.code()), started)
            .map(|_| ())
            .map_err(|e| format!("audit log: {e}"))
    }

    /// Records an exit 2 (`why`) as `action` and gives `why` back, with the
    /// audit failure appended when the record could not be written: a
    /// refusal that could not decide is still a record.
    pub fn audit_undecided(&self, action: &str, params: &serde_json::Value, started: Instant, why: String) -> String {
        match self.audit(action, params, Exit::Undecided, started) {
            Ok(()) => why,
            Err(e) => format!("{why} (and {e})"),
        }
    }
}

fn run(cli: Cli) -> Result<Exit, String> {
    // The bridge runs inside the engine's jail, where no config or state is visible.
    match &cli.command {
        Command::EngineBridge { socket, command } => return crate::bridge::run(socket, command),
        Command::EngineExec { command } => return crate::bridge::exec(command),
        _ => {}
    }
    let (config, paths) = Config::load_for_process(&cli.paths).map_err(|e| e.to_string())?;
    let gate = GateSettings::from_config(&config).map_err(|e| format!("config: {e}"))?;
    let s = Settings { paths, gate, format: cli.format };
    match cli.command {
        Command::Verify { rev, allowed_signers, repo, no_audit } => {
            crate::verify::verify(&s, &rev, &repo, allowed_signers.as_deref(), !no_audit)
        }
        Command::Bundle { base, head, max_bytes, out, repo } => {
            crate::bundle_cmd::bundle(&repo, &base, &head, max_bytes, out.as_deref())
        }
        Command::Review { base, head, engine, api_base, commit, simulate, max_bytes, repo } => {
            if max_bytes < 4096 {
                return Err("--max-bytes must be at least 4096".into());
            }
            let engine = match engine {
                EngineArg::Codex => crate::review::EngineChoice::Codex,
                EngineArg::Openai => crate::review::EngineChoice::OpenAi { api_base },
            };
            let a = crate::review::ReviewArgs {
                engine,
                base: base.as_deref(),
                head: &head,
                commit,
                simulate,
                max_bytes,
                repo: &repo,
            };
            crate::review::review(&s, &a)
        }
        Command::Hook { hook: HookCommand::PrePush { .. } } => {
            let mut input = Vec::new();
            std::io::Read::read_to_end(&mut std::io::Read::take(std::io::stdin(), 1 << 20 | 1), &mut input)
                .map_err(|e| format!("stdin: {e}"))?;
            crate::hook::pre_push(&s, &input)
        }
        Command::RecordDeploy { outcome, rev, detail } => {
            let (action, exit) = match outcome {
                DeployOutcome::Complete => ("deploy.complete", Exit::Clean),
                DeployOutcome::Refuse => ("deploy.refuse", Exit::Policy),
                DeployOutcome::Rollback => ("deploy.rollback", Exit::Policy),
            };
            s.audit(action, &serde_json::json!({"rev": rev, "detail": detail}), exit, Instant::now())?;
            common::cli::write_result(&format!("recorded {action}\n")).map_err(|e| e.to_string())?;
            Ok(Exit::Clean)
        }
        Command::DeployCheck { rev, allowed_signers, repo } => {
            crate::deploy::check(&s, &rev, &repo, allowed_signers.as_deref())
        }
        Command::DeployCheckout { rev, rollback, allowed_signers, repo } => {
            crate::deploy::checkout(&s, &rev, &repo, rollback, allowed_signers.as_deref())
        }
        Command::EngineBridge { .. } | Command::EngineExec { .. } => {
            Err("engine-bridge and engine-exec run only inside the engine's jail".into())
        }
        Command::InstallHook { repo } => {
            let (exit, path) = crate::hook::install(&repo)?;
            common::cli::write_result(&format!("installed {}\n", path.display())).map_err(|e| e.to_string())?;
            Ok(exit)
        }
    }
}
