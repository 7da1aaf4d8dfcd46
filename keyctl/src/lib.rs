//! `openclaw-keyctl`: the operator's tool for the keys of contract §3.
//!
//! Every key is resolved by `common::secrets` (environment, keychain,
//! systemd credentials, 0600 file). Values arrive on stdin or from a file,
//! never from argv or a prompt; they leave only through `exec` (into one
//! child's environment) and `get` (to a pipe). Status shows masked
//! fingerprints. Every change appends to the shared audit log.

mod changes;
mod leaks;
mod output;
mod units;

use std::ffi::OsString;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use common::config::Config;
use common::exit::Exit;
use common::paths::{PathFlags, Paths};
use common::secrets::{
    self, ExposeSecret, Keychain, Resolver, SecretError, SecretString, key_id, last_successes, mask,
};
use serde_json::{Value, json};

const TOOL: &str = "openclaw-keyctl";
pub(crate) const INFO: common::cli::ToolInfo =
    common::cli::ToolInfo { name: TOOL, version: env!("CARGO_PKG_VERSION"), schema_version: 1 };

/// Keys that never leak: masked status, stdin-only set, atomic 0600 files,
/// exec with keys only in the child's environment, and a leak audit.
///
/// Exit codes: 0 clean; 1 a key is missing or unsafe, or a leak was found;
/// 2 could not decide (bad usage, unreadable input, refused file).
#[derive(Debug, Parser)]
#[command(name = "openclaw-keyctl", version, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    paths: PathFlags,
    /// Output format.
    #[arg(long, value_name = "human|json", default_value = "human", global = true)]
    format: common::output::Format,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Per key: present, source, masked fingerprint, file checks, shadowing, last success.
    Status {
        /// Keys to show (default: every managed key).
        names: Vec<String>,
    },
    /// Store a key from stdin (a pipe, never a terminal) or --from-file; never from argv.
    Set {
        /// The key name, e.g. PUSHOVER_APP_TOKEN.
        name: String,
        /// Read the value from this file instead of stdin.
        #[arg(long, value_name = "PATH")]
        from_file: Option<PathBuf>,
        /// Skip format validation (sk- prefix, 30-character Pushover keys, 64-hex tokens).
        #[arg(long)]
        no_validate: bool,
    },
    /// Replace a generated token (OPENCLAW_CONSOLE_TOKEN) with 256 fresh random bits.
    Rotate {
        /// The key name.
        name: String,
    },
    /// Delete a stored key (file, and keychain entry where there is one).
    Delete {
        /// The key name.
        name: String,
    },
    /// Run a command with exactly these keys added to its environment.
    Exec {
        /// Keys to pass, comma-separated or repeated.
        #[arg(long = "key", value_name = "NAME[,NAME...]", value_delimiter = ',', required = true)]
        keys: Vec<String>,
        /// The command and its arguments (after --).
        #[arg(last = true, required = true)]
        command: Vec<OsString>,
    },
    /// Write the raw value to stdout, only when stdout is not a terminal.
    Get {
        /// The key name.
        name: String,
    },
    /// Look for managed key values where they must not be: argv, unit files, shell history, readable files.
    AuditLeaks {
        /// systemd unit directories to scan instead of the default: every directory systemd reads
        /// system and user units, drop-ins and manager settings from (docs/keys.md).
        #[arg(long, value_name = "DIR")]
        systemd_dir: Vec<PathBuf>,
        /// Shell history files to scan (default: root's and /home/*'s bash/zsh history).
        #[arg(long, value_name = "FILE")]
        history: Vec<PathBuf>,
    },
}

/// Parses `args` (including the program name) and runs keyctl.
pub fn main_with_args(args: impl IntoIterator<Item = OsString>) -> Exit {
    // clap quotes the offending argument; if someone typed a key on the
    // command line, printing it again would leak it a second time.
    let usage = common::cli::UsageErrors::Conceal { hint: "values are never taken from argv: pipe them on stdin" };
    common::cli::main_with_args(INFO, usage, args, run)
}

struct Ctx {
    paths: Paths,
    /// The contract's keys plus `[keys] extra`.
    managed: Vec<String>,
    keychain: Box<dyn Keychain>,
}

impl Ctx {
    fn resolver(&self) -> Resolver<'_> {
        Resolver::for_process(self.keychain.as_ref(), self.paths.secrets_dir.clone())
    }
}

fn run(cli: Cli) -> Result<Exit, String> {
    let (config, paths) = Config::load_for_process(&cli.paths).map_err(|e| e.to_string())?;
    let ctx = Ctx { paths, managed: config.managed_keys(), keychain: secrets::platform_keychain() };
    let json = cli.format == common::output::Format::Json;
    match cli.command {
        Command::Status { names } => status(&ctx, &names, json),
        Command::Set { name, from_file, no_validate } => set(&ctx, &name, from_file.as_deref(), no_validate),
        Command::Rotate { name } => rotate(&ctx, &name),
        Command::Delete { name } => delete(&ctx, &name),
        Command::Exec { keys, command } => exec(&ctx, &keys, &command),
        Command::Get { name } => get(&ctx, &name),
        Command::AuditLeaks { systemd_dir, history } => {
            let root = leaks::scan_root(std::env::var_os("OPENCLAW_LEAKS_ROOT"))?;
            let places = leaks::Places { root: &root, systemd_dirs: &systemd_dir, histories: &history };
            leaks::run(&ctx.resolver(), &ctx.managed, &ctx.paths, &places, json)
        }
    }
}

fn status(ctx: &Ctx, names: &[String], json: bool) -> Result<Exit, String> {
    let names: Vec<String> = if names.is_empty() { ctx.managed.clone() } else { names.to_vec() };
    // Status first makes the log agree with what is in place.
    let mut locked = changes::lock(ctx)?;
    let reconciled = locked.reconcile()?;
    let salt = std::mem::take(&mut locked.salt);
    drop(locked);
    let successes = last_successes(&ctx.paths.state_dir).map_err(|e| e.to_string())?;
    let now = common::time_fmt::now_utc();
    let resolver = ctx.resolver();
    let mut rows = Vec::new();
    let mut exit = Exit::Clean;
    for name in &names {
        secrets::validate_name(name).map_err(|e| e.to_string())?;
        let last = successes.get(name).map(|s| {
            let age = common::time_fmt::parse_rfc3339(&s.ts).map(|t| (now - t).whole_seconds());
            json!({"ts": s.ts, "key_id": s.key_id, "age_seconds": age})
        });
        let row = match resolver.resolve(name) {
            Ok(r) => json!({
                "name": name, "present": true, "source": r.winner.source, "fingerprint": mask(&r.winner.value),
                "key_id": key_id(&r.winner.value, &salt), "shadowed": r.shadowed, "duplicates": r.duplicates,
                "last_success": last, "problem": null,
            }),
            Err(e) => {
                exit = Exit::Policy;
                let missing = matches!(e, SecretError::Missing { .. });
                json!({"name": name, "present": false, "source": null, "fingerprint": null, "key_id": null, "shadowed": [],
                       "duplicates": [], "last_success": last, "problem": if missing { "missing".to_owned() } else { e.to_string() }})
            }
        };
        rows.push(row);
    }
    if json {
        let body = json!({"keys": rows, "keychain": ctx.keychain.describe(), "secrets_dir": ctx.paths.secrets_dir,
                          "reconciled": reconciled});
        output::stdout(&INFO.envelope(&body))?;
    } else {
        let mut lines = Vec::new();
        for r in &rows {
            let mut text = String::new();
            let name = r["name"].as_str().unwrap_or("?");
            if r["present"] == true {
                text.push_str(&format!(
                    "{name:<24} {}  from {}",
                    r["fingerprint"].as_str().unwrap_or(""),
                    source_text(&r["source"])
                ));
                for s in r["shadowed"].as_array().into_iter().flatten() {
                    text.push_str(&format!("; shadows a different value in {}", source_text(s)));
                }
                match r["last_success"]["age_seconds"].as_i64() {
                    Some(age) => text.push_str(&format!("; last worked {age} s ago")),
                    None => text.push_str("; never recorded as working"),
                }
            } else if r["problem"] == "missing" {
                text.push_str(&format!("{name:<24} MISSING  (set it: openclaw-keyctl set {name} < /path/to/file)"));
            } else {
                text.push_str(&format!("{name:<24} REFUSED  {}", r["problem"].as_str().unwrap_or("")));
            }
            lines.push(format!("{}\n", common::output::sanitize(&text)));
        }
        for name in &reconciled {
            lines.push(format!(
                "reconciled: {name} was changed without a record; key.reconcile now names the key in place\n"
            ));
        }
        output::stdout(&lines.concat())?;
    }
    Ok(exit)
}

fn source_text(v: &Value) -> String {
    match v["kind"].as_str() {
        Some("file" | "credential") => {
            format!("{} {}", v["kind"].as_str().unwrap_or(""), v["path"].as_str().unwrap_or(""))
        }
        Some(kind) => kind.to_owned(),
        None => "?".into(),
    }
}

/// Refuses a value without its key's known shape ([`secrets::has_expected_format`]).
fn validate_format(name: &str, value: &str) -> Result<(), String> {
    if secrets::has_expected_format(name, value) {
        Ok(())
    } else {
        Err(format!("the value does not look like a {name} (use --no-validate to store it anyway)"))
    }
}

fn read_new_value(from_file: Option<&Path>) -> Result<SecretString, String> {
    let mut raw = String::new();
    match from_file {
        Some(path) => {
            // The path is never repeated: a key pasted where the path belongs
            // would be printed by "No such file: <key>".
            let unreadable = |e: std::io::Error| {
                format!(
                    "cannot read the --from-file path ({} characters, not repeated here in case it is a key): {}",
                    path.as_os_str().len(),
                    e.kind()
                )
            };
            let file = std::fs::OpenOptions::new().read(true).custom_flags_nofollow().open(path).map_err(unreadable)?;
            file.take(secrets::MAX_SECRET_BYTES + 1).read_to_string(&mut raw).map_err(unreadable)?;
        }
        None => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                return Err(
                    "refusing to read a key from a terminal (no prompts); pipe it in: openclaw-keyctl set NAME < file"
                        .into(),
                );
            }
            stdin
                .lock()
                .take(secrets::MAX_SECRET_BYTES + 1)
                .read_to_string(&mut raw)
                .map_err(|e| format!("stdin: {e}"))?;
        }
    }
    if raw.len() as u64 > secrets::MAX_SECRET_BYTES {
        return Err(format!("the value is larger than {} bytes", secrets::MAX_SECRET_BYTES));
    }
    let value = raw.trim_end_matches(['\n', '\r']).to_owned();
    drop(raw);
    if value.trim().is_empty() {
        return Err("the value is empty".into());
    }
    Ok(SecretString::from(value))
}

trait NoFollow {
    fn custom_flags_nofollow(&mut self) -> &mut Self;
}

impl NoFollow for std::fs::OpenOptions {
    fn custom_flags_nofollow(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32)
    }
}

/// Stores a value where this platform keeps keys (the Keychain on macOS,
/// a 0600 file in the secrets directory elsewhere) and records it; see
/// [`changes`] for what a kill or a full disk at any instant leaves.
fn store(ctx: &Ctx, name: &str, value: &SecretString, action: &str) -> Result<String, String> {
    let (place, id) = changes::lock(ctx)?.store(name, value, action)?;
    Ok(format!("{action}: {name} {} (id {id}) stored in {place}\n", mask(value)))
}

fn set(ctx: &Ctx, name: &str, from_file: Option<&Path>, no_validate: bool) -> Result<Exit, String> {
    secrets::validate_name(name).map_err(|e| e.to_string())?;
    let value = read_new_value(from_file)?;
    if !no_validate {
        validate_format(name, value.expose_secret())?;
    }
    output::stdout(&store(ctx, name, &value, "key.set")?).map_err(|e| format!("{e} (the key was stored)"))?;
    Ok(Exit::Clean)
}

fn rotate(ctx: &Ctx, name: &str) -> Result<Exit, String> {
    secrets::validate_name(name).map_err(|e| e.to_string())?;
    if name != "OPENCLAW_CONSOLE_TOKEN" {
        return Err(format!(
            "rotate generates tokens only for OPENCLAW_CONSOLE_TOKEN; provider keys such as {name} are issued by the provider: openclaw-keyctl set {name} < file"
        ));
    }
    let mut bytes = [0u8; 32];
    rustix::rand::getrandom(&mut bytes[..], rustix::rand::GetRandomFlags::empty())
        .map_err(|e| format!("getrandom: {e}"))?;
    let value = SecretString::from(common::hash::to_hex(&bytes));
    let mut text = store(ctx, name, &value, "key.rotate")?;
    text.push_str("every consumer of OPENCLAW_CONSOLE_TOKEN must read it again; give clients the new value with: openclaw-keyctl get OPENCLAW_CONSOLE_TOKEN | <client>\n");
    output::stdout(&text).map_err(|e| format!("{e} (the token was rotated)"))?;
    Ok(Exit::Clean)
}

fn delete(ctx: &Ctx, name: &str) -> Result<Exit, String> {
    secrets::validate_name(name).map_err(|e| e.to_string())?;
    let (removed_file, removed_keychain) = changes::lock(ctx)?.delete(name)?;
    let text = if removed_file || removed_keychain {
        format!("deleted {name}\n")
    } else {
        format!("{name} was not stored; nothing deleted\n")
    };
    output::stdout(&text).map_err(|e| format!("{e} (the key was deleted)"))?;
    Ok(Exit::Clean)
}

fn exec(ctx: &Ctx, keys: &[String], command: &[OsString]) -> Result<Exit, String> {
    let resolver = ctx.resolver();
    let mut values = Vec::new();
    for name in keys {
        let r = resolver.resolve(name).map_err(|e| e.to_string())?;
        values.push((name.clone(), r.winner.value));
    }
    let (program, args) = command.split_first().ok_or("no command given after --")?;
    let mut cmd = std::process::Command::new(program);
    cmd.args(args);
    // The child gets the keys asked for and no other managed secret.
    for other in ctx.managed.iter().filter(|m| !keys.contains(m)) {
        cmd.env_remove(other);
    }
    // Nor where to find the others.
    cmd.env_remove("CREDENTIALS_DIRECTORY").env_remove("OPENCLAW_SECRETS_DIR");
    for (name, value) in &values {
        cmd.env(name, value.expose_secret());
    }
    // The program is not repeated: a key pasted after `--` would be printed.
    let status = cmd.status().map_err(|e| {
        format!("cannot run the command ({} characters, not repeated here): {}", program.len(), e.kind())
    })?;
    drop(values);
    use std::os::unix::process::ExitStatusExt;
    let code = status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    Ok(Exit::Child(u8::try_from(code).unwrap_or(255)))
}

fn get(ctx: &Ctx, name: &str) -> Result<Exit, String> {
    if std::io::stdout().is_terminal() {
        return Err(
            "refusing to print a key to a terminal; pipe it (openclaw-keyctl get NAME | consumer) or use exec".into()
        );
    }
    let r = ctx.resolver().resolve(name).map_err(|e| e.to_string())?;
    output::raw_stdout(r.winner.value.expose_secret().as_bytes()).map_err(|e| format!("stdout: {e}"))?;
    Ok(Exit::Clean)
}

/// The command-line definition, for generating man pages and shell
/// completions (the package build); parsing goes through `main_with_args`.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}
