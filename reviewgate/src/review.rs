//! `review --base REV [--head REV] [--engine codex] [--commit] [--simulate]`:
//! bundle the range, have every packet reviewed, apply the policy, write
//! `review_packets/<stamp>/` (the bundle, each packet's raw answer,
//! `CODEX_VERDICT.json`, `META.json`), and when approved and not simulated
//! write and sign `docs/LAST_APPROVED_VERDICT.json` (+ `.sig`), committing
//! exactly those two files with `--commit`. Exit 0 approved, 1 blocked, 2
//! could not review (no approved base, engine or key missing; then no
//! verdict is written). A simulated run never calls a reviewer, is never
//! signed, and is written only under `review_packets/`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::exit::Exit;
use serde_json::json;

use crate::bundle::{self, BundleError, Range};
use crate::chain::{self, BaseKind};
use crate::cli::Settings;
use crate::engine::{self, EngineSettings};
use crate::gitio::Repo;
use crate::policy::{self, Decision};
use crate::sandbox::Jail;
use crate::signing::SigningKey;
use crate::verdict::{self, Engine, SCHEMA, SIG_PATH, VERDICT_PATH, Verdict};
use crate::verify::signers;

/// The reviewer.
pub(crate) enum EngineChoice {
    /// `codex exec`.
    Codex,
    /// The OpenAI Responses API at this base URL.
    OpenAi {
        /// `--api-base`.
        api_base: String,
    },
}

/// What `review` was asked.
pub(crate) struct ReviewArgs<'a> {
    /// The reviewer.
    pub(crate) engine: EngineChoice,
    /// `--base` (must be the approved base when given).
    pub(crate) base: Option<&'a str>,
    /// `--head`.
    pub(crate) head: &'a str,
    /// `--commit`.
    pub(crate) commit: bool,
    /// `--simulate`.
    pub(crate) simulate: bool,
    /// `--max-bytes`.
    pub(crate) max_bytes: usize,
    /// The repository.
    pub(crate) repo: &'a Path,
}

/// Runs `review`.
pub(crate) fn review(s: &Settings, a: &ReviewArgs<'_>) -> Result<Exit, String> {
    let started = Instant::now();
    let repo = Repo::new(a.repo);
    repo.check_history_is_plain().map_err(|e| e.to_string())?;
    let head = repo.commit(a.head).map_err(|e| e.to_string())?;
    let tree = repo.tree(&head).map_err(|e| e.to_string())?;
    let signers = signers(s, &repo, None)?;
    let genesis = common::paths::process_env("OPENCLAW_REVIEW_GENESIS").or_else(|| s.gate.genesis.clone());
    let (base, kind) = chain::approved_base(s, &repo, &head, &signers, genesis.as_deref())?;
    if let Some(asked) = a.base {
        let asked_id = repo.commit(asked).map_err(|e| e.to_string())?;
        if asked_id != base {
            return Err(format!(
                "refusing --base {asked}: the range must start at approved code, here {base} ({}); \
                 a review of a later base would sign commits nobody reviewed",
                match kind {
                    BaseKind::Approved => "the newest ancestor carrying a valid verdict",
                    BaseKind::Genesis => "the configured genesis",
                }
            ));
        }
    }
    let docs_dir = repo.toplevel().map(|t| t.join("docs"));
    if let Some(docs) = &docs_dir {
        refuse_linked_docs(docs)?;
    }
    if a.commit && repo.commit("HEAD").map_err(|e| e.to_string())? != head {
        return Err(format!("--commit needs HEAD to be the reviewed head {head}"));
    }
    // Fail before any review when nothing could be signed, or nothing could
    // review: the key and the engine are checked before anything is written.
    let keychain = common::secrets::platform_keychain();
    let resolver = common::secrets::Resolver::for_process(keychain.as_ref(), s.paths.secrets_dir.clone());
    let (key, reviewer) = if a.simulate {
        (None, None)
    } else {
        let key = SigningKey::resolve(&resolver).map_err(|e| e.to_string())?;
        let reviewer = reviewer(s, &a.engine, &resolver, &key)?;
        (Some(key), Some(reviewer))
    };
    let changes = repo.changes(&base, &head).map_err(|e| e.to_string())?;
    let name =
        repo.toplevel().and_then(|t| t.file_name().map(|n| n.to_string_lossy().into_owned())).unwrap_or_default();
    let range = Range { repo: name, base: base.clone(), head: head.clone() };
    let pol = policy::default_policy(s.gate.min_confidence);
    let (packets, results, decision, engine_info) = match bundle::packets(&range, &changes, a.max_bytes) {
        Err(e @ BundleError::Empty) => return Err(format!("{base}..{head}: {e}")),
        Err(e @ (BundleError::FileTooLarge { .. } | BundleError::Unreviewable { .. })) => {
            (Vec::new(), Vec::new(), Decision::Blocked { reasons: vec![e.to_string()] }, engine_stub(s, a.simulate))
        }
        Ok(packets) if a.simulate => {
            let d = Decision::Approved { summary: "simulated: no reviewer ran".into() };
            (packets, Vec::new(), d, engine_stub(s, true))
        }
        Ok(packets) => {
            let (results, info) = run_reviewer(s, reviewer.as_ref().ok_or("no reviewer")?, &packets, started);
            let reviews: Vec<_> = results.iter().map(|r| r.review.clone()).collect();
            let d = policy::decide(&reviews, &pol);
            (packets, results, d, info)
        }
    };
    let bundle_text = packets.concat();
    let v = Verdict {
        schema: SCHEMA.into(),
        repo: range.repo.clone(),
        base: base.clone(),
        head: head.clone(),
        tree,
        verdict: match decision {
            Decision::Approved { .. } => verdict::Decision::Approved,
            Decision::Blocked { .. } => verdict::Decision::Blocked,
        },
        policy: pol,
        engine: engine_info,
        bundle_sha256: common::hash::sha256_hex(bundle_text.as_bytes()),
        findings_summary: match &decision {
            Decision::Approved { summary } => summary.clone(),
            Decision::Blocked { reasons } => reasons.join("; "),
        },
        created_at: common::time_fmt::rfc3339(common::time_fmt::now_utc()),
        simulated: a.simulate,
    };
    let canonical = v.canonical();
    let meta = json!({
        "base": base, "head": head, "base_kind": format!("{kind:?}").to_lowercase(), "packets": packets.len(),
        "decision": decision, "simulated": a.simulate, "duration_ms": started.elapsed().as_millis() as u64,
        "packet_results": results.iter().map(|r| r.review.as_ref().err().cloned()).collect::<Vec<_>>(),
    });
    let stderr = match &reviewer {
        Some(Reviewer::Codex { jail, .. }) => Some(jail.stderr.lock().map(|l| l.clone()).unwrap_or_default()),
        _ => None,
    };
    let dir = write_packets(s, bundle_text.as_bytes(), &results, stderr.as_deref(), &canonical, &meta)?;
    let approved = matches!(decision, Decision::Approved { .. });
    let committed = if approved && !a.simulate {
        let key = key.as_ref().ok_or("no signing key")?;
        sign_and_write(s, &repo, a, key, &v, &canonical, started)?
    } else {
        None
    };
    let exit = if approved { Exit::Clean } else { Exit::Policy };
    s.audit(
        "review.run",
        &json!({"base": base, "head": head, "verdict": v.verdict, "engine": v.engine.name, "simulated": a.simulate}),
        exit,
        started,
    )?;
    crate::render::review(
        s.format,
        &crate::render::ReviewReport { verdict: v, decision, packets: dir.display().to_string(), committed },
    )?;
    Ok(exit)
}

/// Every packet through the reviewer, within the run's budget.
fn run_reviewer(
    s: &Settings,
    reviewer: &Reviewer,
    packets: &[String],
    started: Instant,
) -> (Vec<engine::PacketResult>, Engine) {
    let es = EngineSettings {
        model: s.gate.model.clone(),
        timeout: Duration::from_secs(s.gate.review_timeout_secs),
        attempts: s.gate.review_attempts,
        budget: Duration::from_secs(s.gate.review_budget_secs),
    };
    match reviewer {
        Reviewer::Codex { version, jail, .. } => {
            let attempt = engine::codex_attempt(jail, &es);
            let results = engine::review_packets(packets, &es, started, &attempt);
            (results, Engine { name: "codex".into(), version: version.clone(), model: s.gate.model.clone() })
        }
        Reviewer::OpenAi(client) => {
            let attempt = |p: &str, t: Duration| client.attempt(p, t);
            let results = engine::review_packets(packets, &es, started, &attempt);
            (results, Engine { name: "openai".into(), version: "responses-api".into(), model: client.model.clone() })
        }
    }
}

/// The packet directory: everything about this run, signed or not (the
/// bundle, each packet's raw answer, the engine's stderr, the verdict, META).
fn write_packets(
    s: &Settings,
    bundle: &[u8],
    results: &[engine::PacketResult],
    stderr: Option<&[u8]>,
    canonical: &[u8],
    meta: &serde_json::Value,
) -> Result<PathBuf, String> {
    let dir =
        common::artifacts::new_run_dir(&s.paths.artifacts_root, "review_packets", None, common::time_fmt::now_utc())
            .map_err(|e| format!("review_packets: {e}"))?;
    let write = |name: &str, bytes: &[u8]| {
        common::artifacts::write_atomic(&dir.join(name), bytes)
            .map_err(|e| format!("{}: {e}", dir.join(name).display()))
    };
    write("bundle.md", bundle)?;
    for (i, r) in results.iter().enumerate() {
        write(&format!("engine-output-{}.json", i + 1), &r.raw)?;
    }
    if let Some(stderr) = stderr {
        write("engine-stderr.txt", stderr)?;
    }
    write("CODEX_VERDICT.json", canonical)?;
    write("META.json", format!("{meta:#}\n").as_bytes())?;
    Ok(dir)
}

/// Signs the approved verdict (after every engine has exited), writes both
/// files into `docs/`, and with `--commit` commits exactly them; the new
/// commit's id. A commit that fails after the signing still leaves its
/// `review.run` record.
fn sign_and_write(
    s: &Settings,
    repo: &Repo,
    a: &ReviewArgs<'_>,
    key: &SigningKey,
    v: &Verdict,
    canonical: &[u8],
    started: Instant,
) -> Result<Option<String>, String> {
    let sig = key.sign(canonical).map_err(|e| e.to_string())?;
    let top = repo.toplevel().ok_or("--commit and verdict files need a working copy")?;
    let docs = top.join("docs");
    refuse_linked_docs(&docs)?;
    std::fs::create_dir_all(&docs).map_err(|e| format!("{}: {e}", docs.display()))?;
    refuse_linked_docs(&docs)?;
    common::artifacts::write_atomic_with_mode(&top.join(VERDICT_PATH), canonical, 0o644)
        .map_err(|e| format!("{VERDICT_PATH}: {e}"))?;
    common::artifacts::write_atomic_with_mode(&top.join(SIG_PATH), &sig, 0o644)
        .map_err(|e| format!("{SIG_PATH}: {e}"))?;
    if !a.commit {
        return Ok(None);
    }
    let msg = format!("review: APPROVED {}..{}", &v.base[..12], &v.head[..12]);
    match repo.commit_only(&[VERDICT_PATH, SIG_PATH], &msg) {
        Ok(c) => Ok(Some(c)),
        Err(e) => {
            let params = json!({"base": v.base, "head": v.head, "verdict": v.verdict, "engine": v.engine.name,
                "simulated": a.simulate, "committed": false});
            s.audit("review.run", &params, Exit::Undecided, started)?;
            Err(format!("the verdict is signed and written but the commit failed: {e}"))
        }
    }
}

/// Refuses a `docs` that is anything but a real directory (or absent): a
/// link would carry the verdict files outside the repository.
fn refuse_linked_docs(docs: &Path) -> Result<(), String> {
    match std::fs::symlink_metadata(docs) {
        Ok(m) if !m.file_type().is_dir() => Err(format!(
            "refusing {}: not a directory (a link would write the verdict outside the repository)",
            docs.display()
        )),
        _ => Ok(()),
    }
}

/// A ready reviewer.
enum Reviewer {
    Codex {
        version: String,
        jail: Box<Jail>,
        /// The jail's work directory, removed (with the engine's credential copy) when the review ends.
        _work: tempfile::TempDir,
    },
    OpenAi(Box<crate::openai::OpenAi>),
}

/// The codex engine's jail (`sandbox`), with its own Codex home holding
/// only the engine's credential: the managed `OPENAI_API_KEY` in its
/// environment when one resolves, and a 0600 copy of the operator's
/// `auth.json` when there is one.
fn codex_jail(
    s: &Settings,
    resolver: &common::secrets::Resolver<'_>,
    key: &SigningKey,
    work: &Path,
) -> Result<Jail, String> {
    let bwrap = common::process::on_path("bwrap").ok_or(
        "the codex engine runs in a bubblewrap sandbox and bwrap is not installed (apt-get install bubblewrap)",
    )?;
    let program =
        common::process::on_path("codex").ok_or("codex is not installed (the engine `codex` needs the Codex CLI)")?;
    let env = &common::paths::process_env;
    let home = work.join("codex-home");
    std::fs::create_dir(&home).map_err(|e| format!("{}: {e}", home.display()))?;
    let operator_home =
        env("CODEX_HOME").map(PathBuf::from).or_else(|| env("HOME").map(|h| Path::new(&h).join(".codex")));
    if let Some(auth) = operator_home.map(|h| h.join("auth.json")) {
        let spec = common::private_path::OpenSpec::read(common::private_path::Class::Secret);
        match common::private_path::read_file(&auth, spec, 1 << 20) {
            Ok(Some(bytes)) => common::artifacts::write_atomic_with_mode(&home.join("auth.json"), &bytes, 0o600)
                .map_err(|e| format!("the engine's copy of {}: {e}", auth.display()))?,
            Ok(None) => {}
            Err(e) => return Err(format!("refusing the Codex credential {}: {e}", auth.display())),
        }
    }
    let mut vars = vec![("CODEX_HOME".to_owned(), home.display().to_string())];
    if let Ok(found) = resolver.resolve("OPENAI_API_KEY") {
        vars.push(("OPENAI_API_KEY".to_owned(), secrecy::ExposeSecret::expose_secret(&found.winner.value).to_owned()));
    }
    let hide = crate::sandbox::hidden(env, &s.paths.secrets_dir, key.file());
    let exe = std::env::current_exe()
        .and_then(std::fs::canonicalize)
        .map_err(|e| format!("this program's own path (the engine's bridge): {e}"))?;
    let is_package = |dir: &Path| dir.join("package.json").is_file();
    let package = crate::sandbox::program_root(&program, &is_package).ok_or_else(|| {
        format!("refusing codex at {}: binding its directory back would undo the jail", program.display())
    })?;
    let mut bind_back = vec![package];
    for p in [Some(exe.clone()), common::process::on_path("node")].into_iter().flatten() {
        if let Some(dir) = p.parent().filter(|d| *d != Path::new("/")) {
            bind_back.push(dir.to_owned());
        }
    }
    bind_back.sort();
    bind_back.dedup();
    crate::sandbox::check_bind_back(&bind_back, &hide)?;
    let socket = work.join("proxy.sock");
    crate::proxy::serve(&socket, s.gate.engine_hosts.clone()).map_err(|e| format!("{}: {e}", socket.display()))?;
    Ok(Jail {
        bwrap,
        exe,
        program,
        bind_back,
        hide,
        work: work.to_owned(),
        socket,
        env: vars,
        stderr: Default::default(),
    })
}

fn reviewer(
    s: &Settings,
    choice: &EngineChoice,
    resolver: &common::secrets::Resolver<'_>,
    key: &SigningKey,
) -> Result<Reviewer, String> {
    match choice {
        EngineChoice::Codex => {
            let work = tempfile::Builder::new()
                .prefix("openclaw-review.")
                .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
                .tempdir()
                .map_err(|e| e.to_string())?;
            let jail = codex_jail(s, resolver, key, work.path())?;
            // Nothing of this process (its environment, descriptors, memory) is
            // readable by another process of the same user from here on.
            rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
                .map_err(|e| format!("prctl(PR_SET_DUMPABLE): {e}"))?;
            let version = engine::codex_version(&jail)?;
            Ok(Reviewer::Codex { version, jail: Box::new(jail), _work: work })
        }
        EngineChoice::OpenAi { api_base } => {
            let base = common::api_base::parse_api_base(api_base)?;
            let key = resolver
                .resolve("OPENAI_API_KEY")
                .map_err(|e| format!("the openai engine needs OPENAI_API_KEY: {e}"))?;
            let model =
                if s.gate.model.is_empty() { crate::openai::DEFAULT_MODEL.to_owned() } else { s.gate.model.clone() };
            let client = crate::openai::OpenAi::new(base, key.winner.value, model, &common::paths::process_env)?;
            Ok(Reviewer::OpenAi(Box::new(client)))
        }
    }
}

fn engine_stub(s: &Settings, simulated: bool) -> Engine {
    Engine {
        name: if simulated { "simulated" } else { "none" }.into(),
        version: String::new(),
        model: s.gate.model.clone(),
    }
}
