//! The command line and the flow of each subcommand; the only place exit
//! codes are chosen: 0 the job succeeded on a clean tree, 1 it failed,
//! timed out or MUTATION_DETECTED, 2 refused before running or the runner
//! itself failed (`show`/`list`: 0 found, 2 not found or unreadable).

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use common::cli::UsageErrors;
use common::config::Config;
use common::exit::Exit;
use common::output::Format;
use common::paths::PathFlags;

use crate::INFO;
use crate::config::{CONFIG_ENV, DEFAULT_CONFIG, Host, RunnerConfig};
use crate::outcome::Status;
use crate::request::Request;
use crate::settings::RunnerSettings;
use crate::store::Store;

/// Runs allowlisted jobs on a pinned, read-only worktree as an unprivileged
/// uid, and fails any job that changed the tree (MUTATION_DETECTED).
///
/// Exit codes (run): 0 the job succeeded and the tree is clean; 1 the job
/// failed, timed out or MUTATION_DETECTED; 2 refused before running
/// (unknown job or repo, bad SHA, param not allowed, hostile config) or the
/// runner itself failed.
#[derive(Debug, Parser)]
#[command(name = "openclaw-runner", version)]
pub(crate) struct Cli {
    #[command(flatten)]
    paths: PathFlags,
    /// The allowlist (else OPENCLAW_RUNNER_CONFIG, else /etc/openclaw/runner.toml).
    #[arg(long, value_name = "FILE", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one allowlisted job on a commit of an allowlisted repo.
    Run(JobArgs),
    /// Show one run's artifact.json.
    Show {
        /// The job id (32 lowercase hex).
        job_id: String,
        /// Output format.
        #[arg(long, value_name = "human|json", default_value = "human")]
        format: Format,
    },
    /// List recent runs, newest first.
    List {
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Output format.
        #[arg(long, value_name = "human|json", default_value = "human")]
        format: Format,
    },
    /// Serve `run` to one group over a Unix socket (root only): the bridge an
    /// unprivileged caller such as the console uses. Runs until killed.
    Serve {
        /// The socket (its directory must be owned by root and writable by no one else).
        #[arg(long, value_name = "PATH", default_value = crate::bridge::DEFAULT_SOCKET)]
        socket: PathBuf,
        /// The group that may connect (mode 0660); without it, root only (0600).
        #[arg(long, value_name = "NAME")]
        group: Option<String>,
    },
    /// Ask the bridge (`serve`) to run a job: the same flags and exit codes as `run`.
    Submit {
        /// The bridge's socket.
        #[arg(long, value_name = "PATH", default_value = crate::bridge::DEFAULT_SOCKET)]
        socket: PathBuf,
        #[command(flatten)]
        job: JobArgs,
    },
    /// Load and check the allowlist as `run` would, and list its jobs and repos.
    CheckConfig {
        /// Output format.
        #[arg(long, value_name = "human|json", default_value = "human")]
        format: Format,
    },
}

/// What to run: `run`'s flags, which `submit` takes too.
#[derive(Debug, clap::Args)]
struct JobArgs {
    /// The job's name in the allowlist.
    #[arg(long, value_name = "NAME", allow_hyphen_values = true)]
    job: String,
    /// The repo's name in the allowlist (the URL comes only from the allowlist).
    #[arg(long, value_name = "NAME", allow_hyphen_values = true)]
    repo: Option<String>,
    /// The full commit id (40 or 64 lowercase hex), reachable from an allowed branch.
    #[arg(long, value_name = "SHA", allow_hyphen_values = true)]
    sha: Option<String>,
    /// A declared parameter (repeatable); reaches the job only as OPENCLAW_PARAM_<KEY>.
    #[arg(long, value_name = "KEY=VALUE", allow_hyphen_values = true)]
    param: Vec<String>,
    /// Started by the console: take the SHA from OPENCLAW_PARAM_SHA (when --sha is absent)
    /// and every other OPENCLAW_PARAM_<KEY> as --param key=VALUE; all checked as usual.
    #[arg(long)]
    from_console: bool,
    /// Output format.
    #[arg(long, value_name = "human|json", default_value = "human")]
    format: Format,
}

impl JobArgs {
    /// The request these flags make (with the console's variables when asked).
    fn request(self) -> (Request, Format) {
        let mut req = Request { job: self.job, repo: self.repo, sha: self.sha, params: self.param };
        if self.from_console {
            console_params(&mut req);
        }
        (req, self.format)
    }
}

/// Parses `args` and runs the runner; the exit code follows the contract.
pub fn main_with_args(args: impl IntoIterator<Item = OsString>) -> Exit {
    common::cli::main_with_args(INFO, UsageErrors::Echo, args, run)
}

fn load_config(flag: Option<PathBuf>) -> Result<RunnerConfig, String> {
    let path = flag
        .or_else(|| common::paths::process_env(CONFIG_ENV).filter(|p| !p.is_empty()).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
    let users = crate::passwd::load(std::path::Path::new(crate::passwd::PASSWD)).map_err(|e| e.to_string())?;
    let user = |name: &str| users.iter().find(|u| u.name == name).cloned();
    let program_ok =
        |p: &std::path::Path| common::private_path::check_executable(p).map(|_| ()).map_err(|e| e.to_string());
    let host = Host { user: &user, program_ok: &program_ok, euid: rustix::process::geteuid().as_raw() };
    RunnerConfig::load(&path, &host).map_err(|e| format!("refusing the allowlist: {e}"))
}

/// The console hands a registry action's checked params to its child only
/// as `OPENCLAW_PARAM_<NAME>`; with `--from-console` they become the SHA
/// and the job's params, to be checked like any caller's.
fn console_params(req: &mut Request) {
    for (name, value) in std::env::vars_os() {
        let (Some(name), Some(value)) = (name.to_str(), value.to_str()) else { continue };
        let Some(key) = name.strip_prefix("OPENCLAW_PARAM_") else { continue };
        if key == "SHA" && req.sha.is_none() {
            req.sha = Some(value.to_owned());
        } else if key != "SHA" {
            req.params.push(format!("{}={value}", key.to_ascii_lowercase()));
        }
    }
}

fn exit_of(status: Status) -> Exit {
    match status {
        Status::Success => Exit::Clean,
        Status::Failure | Status::Timeout => Exit::Policy,
        Status::Error | Status::Refused => Exit::Undecided,
    }
}

/// The path flags given on the command line, as `--flag=VALUE` arguments
/// for each run `serve` starts (a run must use the same directories).
fn path_args(p: &PathFlags) -> Vec<String> {
    let mut args = Vec::new();
    for (flag, value) in [
        ("secrets-dir", &p.secrets_dir),
        ("state-dir", &p.state_dir),
        ("artifacts-root", &p.artifacts_root),
        ("audit-log", &p.audit_log),
    ] {
        if let Some(v) = value {
            args.push(format!("--{flag}={}", v.display()));
        }
    }
    args
}

fn serve(config: Option<PathBuf>, paths: Vec<String>, socket: PathBuf, group: Option<String>) -> Result<Exit, String> {
    if !rustix::process::geteuid().is_root() {
        return Err(
            "serve runs as root (it switches each job's uid); run it from openclaw-runner-bridge.service".into()
        );
    }
    let gid = match group {
        Some(name) => {
            let text = std::fs::read_to_string("/etc/group").map_err(|e| format!("/etc/group: {e}"))?;
            Some(crate::bridge::group_gid(&text, &name)?)
        }
        None => None,
    };
    // The allowlist is checked at start (a bad one refuses to serve); each run reads it again.
    load_config(config.clone())?;
    let listener = crate::bridge::bind(&socket, gid)?;
    INFO.error(&format!("serving runs on {}", socket.display()));
    // Each request is its own `run` process: a run reaps every descendant
    // (`wait(-1)` as the child subreaper), which must never see another run's.
    let own = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let handle = move |req: crate::bridge::WireRequest, who: &str| {
        INFO.error(&format!("run of job `{}` asked by {who}", common::output::sanitize(&req.job)));
        crate::bridge::run_child(&own, config.as_deref(), &paths, &req)
    };
    crate::bridge::serve(listener, std::sync::Arc::new(handle))?;
    Ok(Exit::Undecided)
}

fn run(cli: Cli) -> Result<Exit, String> {
    // A descriptor a caller left open would reach every child, the job
    // included: from here on only stdin, stdout and stderr are inherited.
    close_fds::set_fds_cloexec_threadsafe(3, &[]);
    let (config, paths) = Config::load_for_process(&cli.paths).map_err(|e| e.to_string())?;
    let settings = RunnerSettings::from_config(&config).map_err(|e| format!("config: {e}"))?;
    let json = |f: Format| matches!(f, Format::Json);
    match cli.command {
        Command::Serve { socket, group } => serve(cli.config, path_args(&cli.paths), socket, group),
        Command::Submit { socket, job } => {
            let (req, format) = job.request();
            let wire = crate::bridge::WireRequest { job: req.job, repo: req.repo, sha: req.sha, params: req.params };
            let answer = crate::bridge::submit(&socket, &wire)?;
            if let Some(artifact) = &answer.artifact {
                crate::render::run(artifact, json(format)).map_err(|e| e.to_string())?;
            }
            if let Some(error) = &answer.error {
                INFO.error(error);
            }
            Ok(match answer.exit_code {
                0 => Exit::Clean,
                1 => Exit::Policy,
                _ => Exit::Undecided,
            })
        }
        Command::Run(args) => {
            let started = std::time::Instant::now();
            let (req, format) = args.request();
            let cfg = match load_config(cli.config) {
                Ok(c) => c,
                Err(why) => {
                    // A refusal is audited like every other end of a run; there is
                    // no job id yet, so no artifact directory.
                    let log = common::audit::AuditLog::new(&paths.audit_log, &paths.audit_checkpoint);
                    let params = serde_json::json!({"job": req.job, "repo": req.repo, "sha": req.sha, "status": "refused", "reason": "allowlist"});
                    if let Err(e) = log.append_for_process(crate::TOOL, crate::flow::AUDIT_ACTION, &params, 2, started)
                    {
                        return Err(format!("{why}; and its audit record could not be written: {e}"));
                    }
                    return Err(why);
                }
            };
            let report = crate::flow::run(&cfg, &settings, &paths, &req)?;
            crate::render::run(&report.artifact, json(format)).map_err(|e| e.to_string())?;
            Ok(exit_of(report.status))
        }
        Command::Show { job_id, format } => {
            let v = Store::new(&paths.artifacts_root).read(&job_id).map_err(|e| format!("show: {e}"))?;
            crate::render::run(&v, json(format)).map_err(|e| e.to_string())?;
            Ok(Exit::Clean)
        }
        Command::List { limit, format } => {
            let runs = Store::new(&paths.artifacts_root).list(limit).map_err(|e| format!("list: {e}"))?;
            crate::render::list(&runs, json(format)).map_err(|e| e.to_string())?;
            Ok(Exit::Clean)
        }
        Command::CheckConfig { format } => {
            let cfg = load_config(cli.config)?;
            crate::render::config(&cfg, &settings, json(format)).map_err(|e| e.to_string())?;
            Ok(Exit::Clean)
        }
    }
}
