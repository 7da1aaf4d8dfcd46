//! The command line and the flow: refuse to start on anything unsafe
//! (non-loopback address, no token, a bad registry, an unusable audit log,
//! private directories that are not), then serve until SIGTERM and shut
//! down gracefully. The only place exit codes are chosen.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use common::audit::AuditLog;
use common::cli::UsageErrors;
use common::config::Config;
use common::exit::Exit;
use common::output::Format;
use common::paths::{PathFlags, Paths};
use common::private_path::{self, Class};

use crate::app::AppState;
use crate::gate::Gate;
use crate::locks::ActionLocks;
use crate::registry::{DEFAULT_REGISTRY, Registry, Source};
use crate::runs::RunStore;
use crate::secevents::Limiter;
use crate::server::Limits;
use crate::settings::{ConsoleSettings, check_listen, valid_hostname};
use crate::token::{TOKEN_NAME, TokenCell, TokenSource};
use crate::{INFO, builtin};

/// A loopback HTTP API that runs only the actions of a fixed registry.
///
/// Exit codes: 0 served and shut down cleanly (serve), the registry is valid
/// (check-registry); 2 refused to start or the registry is invalid.
#[derive(Debug, Parser)]
#[command(name = "openclaw-console", version)]
pub(crate) struct Cli {
    #[command(flatten)]
    paths: PathFlags,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API on a loopback address until SIGTERM (token required; no unauthenticated mode).
    Serve {
        /// Loopback ADDR:PORT (config console.listen, default 127.0.0.1:8787); anything else is refused.
        #[arg(long, value_name = "ADDR:PORT")]
        listen: Option<String>,
        /// The action registry (config console.registry, default /etc/openclaw/console-actions.toml; built-in set when absent).
        #[arg(long, value_name = "FILE")]
        registry: Option<PathBuf>,
        /// A Host name `tailscale serve` presents, e.g. box.tailnet.ts.net (repeatable; adds to console.public_hostnames).
        #[arg(long, value_name = "NAME")]
        public_hostname: Vec<String>,
    },
    /// Load and check the registry as `serve` would, and list its actions.
    CheckRegistry {
        /// The action registry (as for serve).
        #[arg(long, value_name = "FILE")]
        registry: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_name = "human|json", default_value = "human")]
        format: Format,
    },
}

/// Parses `args` and runs the console; the exit code follows the contract.
pub fn main_with_args(args: impl IntoIterator<Item = OsString>) -> Exit {
    common::cli::main_with_args(INFO, UsageErrors::Echo, args, run)
}

fn run(cli: Cli) -> Result<Exit, String> {
    let (config, paths) = Config::load_for_process(&cli.paths).map_err(|e| e.to_string())?;
    let settings = ConsoleSettings::from_config(&config).map_err(|e| format!("config: {e}"))?;
    match cli.command {
        Command::CheckRegistry { registry, format } => {
            let reg = load_registry(registry, &settings, &paths)?;
            crate::render::registry(&reg, matches!(format, Format::Json)).map_err(|e| e.to_string())?;
            Ok(Exit::Clean)
        }
        Command::Serve { listen, registry, public_hostname } => {
            let mut settings = settings;
            if let Some(l) = listen {
                settings.listen = l;
            }
            if let Some(bad) = public_hostname.iter().find(|n| !valid_hostname(n)) {
                return Err(format!("--public-hostname `{bad}` is not a lowercase DNS name like box.tailnet.ts.net"));
            }
            settings.public_hostnames.extend(public_hostname);
            serve(settings, registry, &paths)
        }
    }
}

fn load_registry(flag: Option<PathBuf>, settings: &ConsoleSettings, paths: &Paths) -> Result<Registry, String> {
    let (path, explicit) = match flag.or_else(|| settings.registry.clone()) {
        Some(p) => (p, true),
        None => (PathBuf::from(DEFAULT_REGISTRY), false),
    };
    let own = std::env::current_exe().ok();
    let mut notes = Vec::new();
    let reg = Registry::load(&path, explicit, || {
        let (reg, n) = builtin::registry(paths, &common::paths::process_env, own.as_deref(), common::paths::is_root());
        notes = n;
        reg
    })
    .map_err(|e| format!("registry: {e}"))?;
    for n in notes {
        INFO.error(&n);
    }
    if reg.actions.is_empty() {
        return Err("registry: no action can be offered (the built-in set found none of its programs)".into());
    }
    Ok(reg)
}

fn raise_fd_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut lim = getrlimit(Resource::Nofile);
    if let (Some(cur), Some(max)) = (lim.current, lim.maximum) {
        let want = max.min(65_536);
        if cur < want {
            lim.current = Some(want);
            let _ = setrlimit(Resource::Nofile, lim);
        }
    }
}

/// Descriptors above stderr this process holds without close-on-exec: its
/// launcher's, which every child would inherit. Closing them needs `unsafe`
/// (forbidden here), so they are named instead.
fn inherited_fds() -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else { return Vec::new() };
    let mut fds: Vec<u32> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|fd| *fd > 2)
        .filter(|fd| {
            let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).unwrap_or_default();
            info.lines()
                .find_map(|l| l.strip_prefix("flags:"))
                .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
                .is_some_and(|flags| flags & 0o2_000_000 == 0)
        })
        .collect();
    fds.sort_unstable();
    fds
}

fn serve(settings: ConsoleSettings, registry: Option<PathBuf>, paths: &Paths) -> Result<Exit, String> {
    let leaked = inherited_fds();
    if !leaked.is_empty() {
        let list: Vec<String> = leaked.iter().map(u32::to_string).collect();
        INFO.error(&format!(
            "warning: inherited file descriptors {} are open without close-on-exec and every action would inherit them; start the console with only stdin, stdout and stderr open (systemd does)",
            list.join(", ")
        ));
    }
    let listen = check_listen(&settings.listen)?;
    let registry = load_registry(registry, &settings, paths)?;
    let token = TokenCell::new(TokenSource { secrets_dir: paths.secrets_dir.clone(), state_dir: paths.state_dir.clone() })
        .map_err(|e| {
            format!(
                "refusing to start without a console token ({TOKEN_NAME}): {e}. Create one with `openclaw-keyctl rotate {TOKEN_NAME}` (or a systemd credential of that name); there is no unauthenticated mode"
            )
        })?;
    let audit = AuditLog::new(&paths.audit_log, &paths.audit_checkpoint);
    audit.preflight().map_err(|e| format!("refusing to start: the audit log cannot be appended to: {e}"))?;
    let lock_dir = paths.run_dir.join("console/locks");
    let runs_dir = paths.artifacts_root.join("console");
    for dir in [&lock_dir, &runs_dir] {
        private_path::ensure_dir(dir, Class::Private).map_err(|e| format!("refusing to start: {e}"))?;
    }
    raise_fd_limit();
    let state = Arc::new(AppState {
        registry,
        gate: Gate::new(listen, &settings.public_hostnames),
        token,
        audit: crate::audit::Writer::start(audit),
        locks: ActionLocks::new(lock_dir),
        runs: RunStore::new(runs_dir),
        running: Mutex::default(),
        run_ended: tokio::sync::Notify::new(),
        max_running: settings.max_running,
        stop: Arc::new(AtomicBool::new(false)),
        body_timeout: Duration::from_secs(settings.body_timeout_secs),
        lang: common::process::child_lang(),
        events: Mutex::new(Limiter::new(Instant::now())),
        reaper: Arc::new(crate::reaper::Reaper::install()),
    });
    let limits = Limits {
        max_connections: settings.max_connections,
        header_timeout: Duration::from_secs(settings.header_timeout_secs),
        idle_timeout: Duration::from_secs(settings.idle_timeout_secs),
    };
    // Before listening: finish what a previous console left running.
    let (recovered, failed) = crate::recovery::reconcile(&state);
    for r in &recovered {
        INFO.error(&format!("run {} was left unfinished by a previous console: finished as {}", r.run_id, r.class));
    }
    for e in &failed {
        INFO.error(&format!("{e}; left for the next start"));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    rt.block_on(async move {
        let listener =
            tokio::net::TcpListener::bind(listen).await.map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let source = match &state.registry.source {
            Source::File(p) => p.display().to_string(),
            Source::BuiltIn => "built-in".to_owned(),
        };
        INFO.error(&format!(
            "listening on http://{listen} with {} actions ({source} registry)",
            state.registry.actions.len()
        ));
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
        let flusher = {
            let st = Arc::clone(&state);
            tokio::spawn(async move {
                let mut every = tokio::time::interval(Duration::from_secs(5));
                loop {
                    every.tick().await;
                    st.flush_events();
                    let reaper = Arc::clone(&st.reaper);
                    let _ = tokio::task::spawn_blocking(move || reaper.reap_zombies()).await;
                }
            })
        };
        crate::server::serve(listener, crate::routes::router(Arc::clone(&state)), limits, shutdown_signal()).await;
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
        finish_runs(&state, Duration::from_secs(settings.shutdown_grace_secs)).await;
        flusher.abort();
        state.flush_events();
        Ok::<(), String>(())
    })?;
    Ok(Exit::Clean)
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        // Without signal handlers the process still dies on SIGTERM by default.
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// Lets running children finish within `grace`, then kills their groups
/// and waits (bounded) for their supervisors to record the kill.
async fn finish_runs(state: &AppState, grace: Duration) {
    let wait_until = |deadline: Instant| async move {
        while state.running_count() > 0 && Instant::now() < deadline {
            tokio::select! {
                () = state.run_ended.notified() => {}
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
    };
    if state.running_count() > 0 {
        INFO.error(&format!(
            "shutting down: waiting up to {} s for {} running action(s)",
            grace.as_secs(),
            state.running_count()
        ));
    }
    wait_until(Instant::now() + grace).await;
    let left = state.running_count();
    if left > 0 {
        INFO.error(&format!("shutting down: killing {left} action(s) still running after the grace period"));
        state.stop.store(true, Ordering::SeqCst);
        wait_until(Instant::now() + Duration::from_secs(10)).await;
    }
}
