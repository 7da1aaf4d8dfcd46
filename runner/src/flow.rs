//! The `run` flow, in order: audit log usable → request valid → job lock
//! and orphan cleanup → (repo lock: mirror, fetch, push proven to fail,
//! SHA on an allowed branch, job directories, worktree) → read-only tree
//! → manifest → job
//! → manifest again and diff, whatever happened → cleanup → artifacts →
//! one audit record. Every step after validation ends in artifacts and a
//! record, including refusals and runner failures.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::audit::{AuditLog, Entry};
use common::lock::NamedLock;
use common::paths::Paths;
use common::private_path::{self, Class};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::config::RunnerConfig;
use crate::identity::{self, RunAs};
use crate::job::{self, Ending};
use crate::manifest::{self, Manifest};
use crate::mirror::Mirror;
use crate::outcome::{self, ErrorClass, Status, TreeCheck, Verdict};
use crate::passwd::User;
use crate::request::{self, Refusal, Request, Valid};
use crate::settings::RunnerSettings;
use crate::store::{self, Store};
use crate::tree::{self, JobDir};
use crate::validate::{valid_name, valid_sha};

/// How long a run waits for another run's fetch of the same repo.
const REPO_LOCK_WAIT: Duration = Duration::from_secs(900);

/// The audit action of every run (refusals included).
pub(crate) const AUDIT_ACTION: &str = "runner.run";

/// What a finished (or refused) run reports.
#[derive(Debug)]
pub(crate) struct Report {
    /// The artifact.json written.
    pub(crate) artifact: Value,
    /// Its status.
    pub(crate) status: Status,
}

struct Ctx<'a> {
    cfg: &'a RunnerConfig,
    settings: &'a RunnerSettings,
    job_id: String,
    started_at: OffsetDateTime,
    started: Instant,
    store: Store,
    audit: AuditLog,
}

/// Runs (or refuses) one request. `Err` only when not even the artifacts
/// or the audit record could be written.
pub(crate) fn run(
    cfg: &RunnerConfig,
    settings: &RunnerSettings,
    paths: &Paths,
    req: &Request,
) -> Result<Report, String> {
    let audit = AuditLog::new(&paths.audit_log, &paths.audit_checkpoint);
    audit.preflight().map_err(|e| format!("refusing to run: the audit log cannot be appended to: {e}"))?;
    let ctx = Ctx {
        cfg,
        settings,
        job_id: new_job_id()?,
        started_at: OffsetDateTime::now_utc(),
        started: Instant::now(),
        store: Store::new(&paths.artifacts_root),
        audit,
    };
    let valid = match request::check(cfg, req) {
        Ok(v) => v,
        Err(refusal) => return refuse(&ctx, req, &refusal, BTreeMap::new()),
    };
    execute(&ctx, paths, req, &valid)
}

fn new_job_id() -> Result<String, String> {
    let mut bytes = [0u8; 16];
    rustix::rand::getrandom(&mut bytes, rustix::rand::GetRandomFlags::empty())
        .map_err(|e| format!("cannot draw a job id: {e}"))?;
    Ok(common::hash::to_hex(&bytes))
}

/// The caller's values that name an allowlisted job or repo, or are a
/// well-formed SHA (never the others).
fn echo(cfg: &RunnerConfig, req: &Request) -> (Value, Value, Value) {
    let known = |s: &str, found: bool| if valid_name(s) && found { json!(s) } else { Value::Null };
    (
        known(&req.job, cfg.job(&req.job).is_some()),
        req.repo.as_deref().map_or(Value::Null, |r| known(r, cfg.repo(r).is_some())),
        req.sha.as_deref().filter(|s| valid_sha(s)).map_or(Value::Null, |s| json!(s)),
    )
}

fn refuse(ctx: &Ctx<'_>, req: &Request, refusal: &Refusal, timings: BTreeMap<&str, u64>) -> Result<Report, String> {
    let verdict =
        Verdict { status: Status::Refused, error_class: Some(ErrorClass::Refused), reason: refusal.to_string() };
    stopped(ctx, req, &verdict, timings)
}

/// The artifacts and record of a run that stopped before its job directory
/// existed: refused, or the runner's own directories unusable.
fn stopped(ctx: &Ctx<'_>, req: &Request, verdict: &Verdict, timings: BTreeMap<&str, u64>) -> Result<Report, String> {
    let (job, repo, sha) = echo(ctx.cfg, req);
    let artifact = json!({
        "job_id": ctx.job_id,
        "repo": repo,
        "sha": sha,
        "job_type": job,
        "started_at": common::time_fmt::rfc3339(ctx.started_at),
        "finished_at": common::time_fmt::rfc3339(OffsetDateTime::now_utc()),
        "duration_ms": ctx.started.elapsed().as_millis() as u64,
        "exit_code": Value::Null,
        "status": verdict.status,
        "reason": verdict.reason,
        "allowlist_hash": ctx.cfg.hash,
        "invariants": {"read_only_ok": Value::Null, "clean_tree_ok": Value::Null},
        "timings_ms": timings,
    });
    finish(ctx, artifact, verdict, None, None)
}

/// Writes the artifacts and the audit record.
fn finish(
    ctx: &Ctx<'_>,
    artifact: Value,
    verdict: &Verdict,
    outcome: Option<&job::Outcome>,
    kept: Option<(PathBuf, Vec<Value>)>,
) -> Result<Report, String> {
    let (dir, outputs) = match kept {
        Some(k) => k,
        None => {
            (ctx.store.create(&ctx.job_id).map_err(|e| format!("cannot create the run's artifacts: {e}"))?, Vec::new())
        }
    };
    let mut artifact = artifact;
    let write = |name: &str, bytes: &[u8]| {
        common::artifacts::write_atomic(&dir.join(name), bytes).map_err(|e| format!("cannot write {name}: {e}"))
    };
    write("stdout.log", outcome.map_or(&[][..], |o| &o.stdout))?;
    write("stderr.log", outcome.map_or(&[][..], |o| &o.stderr))?;
    artifact["outputs"] = json!(outputs);
    artifact["stdout_path"] = json!("stdout.log");
    artifact["stderr_path"] = json!("stderr.log");
    if let Some(class) = verdict.error_class {
        let error = json!({
            "error_class": class,
            "reason": verdict.reason,
            "recommended_next_action": next_action(class),
            "timestamp_utc": common::time_fmt::rfc3339(OffsetDateTime::now_utc()),
        });
        store::write_json(&dir, "error.json", &error).map_err(|e| format!("cannot write error.json: {e}"))?;
    }
    store::write_json(&dir, "artifact.json", &artifact).map_err(|e| format!("cannot write artifact.json: {e}"))?;
    let params = json!({
        "job_id": ctx.job_id,
        "job": artifact["job_type"],
        "repo": artifact["repo"],
        "sha": artifact["sha"],
        "status": artifact["status"],
        "clean_tree_ok": artifact["invariants"]["clean_tree_ok"],
    });
    let actor = common::audit::process_actor();
    let exit_code = artifact["exit_code"].as_i64().unwrap_or(-1) as i32;
    ctx.audit
        .append(&Entry {
            tool: crate::TOOL,
            actor: &actor,
            action: AUDIT_ACTION,
            params: &params,
            exit_code,
            duration_ms: ctx.started.elapsed().as_millis() as u64,
        })
        .map_err(|e| format!("the run finished but its audit record could not be written: {e}"))?;
    Ok(Report { status: verdict.status, artifact })
}

fn next_action(class: ErrorClass) -> &'static str {
    match class {
        ErrorClass::MutationDetected => {
            "the job changed its worktree: fix the job so it writes only to ARTIFACT_DIR, TMPDIR or HOME"
        }
        ErrorClass::JobNonzeroExit => "read stderr.log and stdout.log",
        ErrorClass::JobTimeout => "raise timeout_sec in the allowlist, or find what the job waits on",
        ErrorClass::JobException => "read the reason; the runner could not run or check the job",
        ErrorClass::Refused => "check the job, repo, SHA and params against runner.toml (openclaw-runner --help)",
        ErrorClass::CleanupFailed => {
            "look for a process of the job's uid still writing under <run>/runner/<job_id>; the next run removes the directory"
        }
    }
}

fn ms(since: Instant) -> u64 {
    since.elapsed().as_millis() as u64
}

enum Prep {
    Ready { branch: Option<String> },
    Refused(Refusal),
}

fn execute(ctx: &Ctx<'_>, paths: &Paths, req: &Request, valid: &Valid<'_>) -> Result<Report, String> {
    let mut timings: BTreeMap<&str, u64> = BTreeMap::new();
    let jobs_dir = paths.run_dir.join("runner");
    let job_locks = jobs_dir.join("locks");
    let state = paths.tool_dir("runner");
    let mirrors = state.join("mirrors");
    let repo_locks = state.join("locks");
    let setup = || -> Result<NamedLock, String> {
        for dir in [&paths.run_dir, &jobs_dir, &state, &mirrors] {
            private_path::ensure_dir(dir, Class::Private).map_err(|e| e.to_string())?;
        }
        NamedLock::acquire(&job_locks, &ctx.job_id, Duration::ZERO).map_err(|e| e.to_string())
    };
    let job_lock = match setup() {
        Ok(lock) => lock,
        Err(why) => {
            let verdict = Verdict {
                status: Status::Error,
                error_class: Some(ErrorClass::JobException),
                reason: format!("the runner's directories cannot be used: {why}"),
            };
            return stopped(ctx, req, &verdict, timings);
        }
    };
    let t = Instant::now();
    // A job directory whose lock is free belonged to a runner that died
    // mid-run: its run never reached its own record, so it gets one here.
    for orphan in tree::clean_orphans(&jobs_dir, &job_locks, &mirrors) {
        let params = serde_json::json!({"job_id": orphan, "status": "crashed", "reason": "the runner died before the run ended; its directory was removed"});
        let audit = AuditLog::new(&paths.audit_log, &paths.audit_checkpoint);
        if let Err(e) = audit.append_for_process(crate::TOOL, AUDIT_ACTION, &params, -1, ctx.started) {
            crate::INFO.error(&format!("run {orphan} died earlier and could not be recorded: {e}"));
        }
    }
    timings.insert("orphans", ms(t));
    let job = valid.job;
    // A dynamic uid is leased here and held until this function returns,
    // after the job directory (everything the uid owned) is gone.
    let t = Instant::now();
    let (who, _lease) = match &job.run_as {
        RunAs::User(u) => (u.clone(), None),
        RunAs::Dynamic => {
            let euid = rustix::process::geteuid().as_raw();
            match identity::lease(ctx.settings.dynamic_uids, Path::new(identity::REGISTRY), &jobs_dir, euid) {
                Ok(lease) => (lease.user.clone(), Some(lease)),
                Err(e) => {
                    let verdict = Verdict {
                        status: Status::Error,
                        error_class: Some(ErrorClass::JobException),
                        reason: e.to_string(),
                    };
                    return stopped(ctx, req, &verdict, timings);
                }
            }
        }
    };
    timings.insert("uid", ms(t));
    let jobdir = JobDir::new(&jobs_dir, &ctx.job_id);
    let mut read_only_ok = None;
    let mut before: Option<Manifest> = None;
    // The job reaches its directory through its own filesystem's 0711
    // parents (`view`), never through the host's.
    let make_dirs = || jobdir.create(&who).map_err(|e| format!("cannot create the job's directories: {e}"));
    let prep = (|| -> Result<Prep, String> {
        let Some((repo, sha)) = &valid.target else {
            make_dirs()?;
            return Ok(Prep::Ready { branch: None });
        };
        let mirror = Mirror::of(&mirrors, repo);
        let t = Instant::now();
        let lock = NamedLock::acquire(&repo_locks, &repo.name, REPO_LOCK_WAIT).map_err(|e| e.to_string())?;
        timings.insert("repo_lock", ms(t));
        let t = Instant::now();
        mirror.prepare(repo).map_err(|e| e.to_string())?;
        mirror.fetch().map_err(|e| e.to_string())?;
        mirror.prove_push_fails().map_err(|e| e.to_string())?;
        let branch = mirror.branch_containing(sha, &repo.allowed_branches).map_err(|e| e.to_string())?;
        timings.insert("fetch", ms(t));
        // A job that runs as root can rewrite the shared mirror's objects;
        // with one in the allowlist, every object is re-hashed before use.
        if ctx.cfg.jobs.iter().any(|j| j.run_as.is_root()) {
            let t = Instant::now();
            mirror.verify_objects().map_err(|e| e.to_string())?;
            timings.insert("verify_objects", ms(t));
        }
        let Some(branch) = branch else {
            return Ok(Prep::Refused(Refusal::NotOnAllowedBranch {
                repo: repo.name.clone(),
                branches: repo.allowed_branches.join(", "),
            }));
        };
        // Only now, with a commit worth running, does anything of the job's exist.
        make_dirs()?;
        let t = Instant::now();
        jobdir.checkout(&mirror, sha).map_err(|e| e.to_string())?;
        drop(lock);
        timings.insert("checkout", ms(t));
        let t = Instant::now();
        tree::lock_down(&jobdir.tree()).map_err(|e| format!("cannot make the worktree read-only: {e}"))?;
        read_only_ok = Some(true);
        timings.insert("read_only", ms(t));
        let t = Instant::now();
        before = Some(manifest::take(&jobdir.tree()).map_err(|e| format!("cannot record the manifest: {e}"))?);
        timings.insert("manifest", ms(t));
        Ok(Prep::Ready { branch: Some(branch) })
    })();
    let (ending, outcome, branch) = match prep {
        Ok(Prep::Refused(refusal)) => {
            let _ = jobdir.remove();
            tree::prune_all(&mirrors);
            let res = refuse(ctx, req, &refusal, timings);
            drop(job_lock);
            return res;
        }
        Ok(Prep::Ready { branch }) => {
            let spec = job_spec(ctx, valid, &who, &jobdir, &mirrors);
            let t = Instant::now();
            let outcome = job::run(&spec);
            timings.insert("job", ms(t));
            (outcome.ending.clone(), Some(outcome), branch)
        }
        Err(why) => (Ending::SpawnFailed(why), None, None),
    };
    // The check runs in every case: exit, failure, timeout, kill, runner error.
    let t = Instant::now();
    let (check, changes) = match (&valid.target, &before) {
        (None, _) => (TreeCheck::NoTree, Vec::new()),
        (Some(_), None) if !jobdir.tree().exists() => (TreeCheck::NoTree, Vec::new()),
        (Some(_), None) => (TreeCheck::Failed("no manifest was taken before the job".into()), Vec::new()),
        (Some(_), Some(before)) => match manifest::take_after(&jobdir.tree(), before, who.uid == 0) {
            // The whole tree moved or deleted is the largest mutation there is.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && std::fs::symlink_metadata(jobdir.tree()).is_err() => {
                let changes = manifest::diff(before, &Manifest::new());
                (TreeCheck::Mutated(changes.len().max(1)), changes)
            }
            Ok(after) => {
                let changes = manifest::diff(before, &after);
                if changes.is_empty() {
                    (TreeCheck::Clean, changes)
                } else {
                    (TreeCheck::Mutated(changes.len()), changes)
                }
            }
            Err(e) => (TreeCheck::Failed(e.to_string()), Vec::new()),
        },
    };
    timings.insert("check", ms(t));
    let decided = outcome::decide(&ending, &check);
    // The job's outputs are copied out before its directories go.
    let dir = ctx.store.create(&ctx.job_id).map_err(|e| format!("cannot create the run's artifacts: {e}"))?;
    let outputs =
        store::keep_outputs(&jobdir.out(), &dir, who.uid).unwrap_or_else(|e| vec![json!({"error": e.to_string()})]);
    let t = Instant::now();
    let cleanup = jobdir.remove().map_err(|e| e.to_string());
    if valid.target.is_some() {
        tree::prune_all(&mirrors);
    }
    let verdict = outcome::after_cleanup(decided, &cleanup);
    timings.insert("cleanup", ms(t));
    let mut invariants = json!({
        "read_only_ok": read_only_ok,
        "clean_tree_ok": match check {
            TreeCheck::Clean => json!(true),
            TreeCheck::NoTree => Value::Null,
            TreeCheck::Mutated(_) | TreeCheck::Failed(_) => json!(false),
        },
        "cleanup_ok": cleanup.is_ok(),
    });
    if let TreeCheck::Mutated(n) = check {
        invariants["reason"] = json!("MUTATION_DETECTED");
        invariants["changed_total"] = json!(n);
        invariants["changed_paths"] = json!(manifest::listed(&changes));
    }
    if let Err(e) = &cleanup {
        invariants["cleanup_error"] = json!(e);
        invariants["cleanup_alert"] = match crate::alert::send(&ctx.job_id, &job.name, e) {
            Ok(()) => json!("accepted"),
            Err(why) => json!(format!("not sent: {why}")),
        };
    }
    let (repo, sha) = valid.target.as_ref().map_or((Value::Null, Value::Null), |(r, s)| (json!(r.name), json!(s)));
    let url = valid.target.as_ref().map_or(Value::Null, |(r, _)| json!(r.url));
    let input = valid.target.as_ref().map_or(String::new(), |(r, s)| format!("{}:{}:{}", r.name, r.url, s));
    let artifact = json!({
        "job_id": ctx.job_id,
        "repo": repo,
        "remote_url": url,
        "sha": sha,
        "branch": branch,
        "job_type": job.name,
        "argv": job.argv,
        "params": valid.params,
        "run_as": {"user": job.run_as.label(), "uid": who.uid, "gid": who.gid},
        "timeout_sec": job.timeout.as_secs(),
        "started_at": common::time_fmt::rfc3339(ctx.started_at),
        "finished_at": common::time_fmt::rfc3339(OffsetDateTime::now_utc()),
        "duration_ms": ctx.started.elapsed().as_millis() as u64,
        "exit_code": outcome::exit_code(&ending),
        "status": verdict.status,
        "reason": verdict.reason,
        "hostname": hostname(),
        "input_hash": common::hash::sha256_hex(format!("{input}:{}", job.name).as_bytes()),
        "allowlist_hash": ctx.cfg.hash,
        "output_truncated": outcome.as_ref().is_some_and(|o| o.truncated),
        "killed_processes": outcome.as_ref().map_or(0, |o| o.killed),
        "invariants": invariants,
        "timings_ms": timings,
    });
    let res = finish(ctx, artifact, &verdict, outcome.as_ref(), Some((dir, outputs)));
    drop(job_lock);
    let _ = std::fs::remove_file(job_locks.join(format!("{}.lock", ctx.job_id)));
    res
}

fn job_spec(ctx: &Ctx<'_>, valid: &Valid<'_>, who: &User, jobdir: &JobDir, mirrors: &Path) -> job::Spec {
    let job = valid.job;
    let path = |p: PathBuf| p.to_string_lossy().into_owned();
    let mut env = vec![
        ("PATH".to_owned(), common::process::CHILD_PATH.to_owned()),
        ("LANG".to_owned(), common::process::child_lang()),
        ("HOME".to_owned(), path(jobdir.home())),
        ("TMPDIR".to_owned(), path(jobdir.tmp())),
        ("ARTIFACT_DIR".to_owned(), path(jobdir.out())),
        ("OPENCLAW_JOB_ID".to_owned(), ctx.job_id.clone()),
    ];
    env.extend(common::params::env_vars(&job.params, &valid.params));
    let cwd = if valid.target.is_some() { jobdir.tree() } else { jobdir.home() };
    // The worktree's `.git` names the mirror; a job on the host's network
    // needs its resolver file even when it lives under the host's /run.
    // (Only root could read the mirror on the host: no other uid gets it.)
    let mirror = valid.target.as_ref().filter(|_| who.uid == 0).map(|(repo, _)| Mirror::of(mirrors, repo).dir);
    let resolv = job.network.then(|| std::fs::canonicalize("/etc/resolv.conf").ok()).flatten();
    let binds = crate::view::plan(&jobdir.root, mirror.as_deref(), Path::new(&job.argv[0]), resolv.as_deref());
    job::Spec {
        argv: job.argv.clone(),
        env,
        cwd,
        uid: who.uid,
        gid: who.gid,
        timeout: job.timeout,
        status: jobdir.status(),
        root: jobdir.view(),
        binds,
        network: job.network,
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| common::artifacts::safe_component(h.trim()))
        .unwrap_or_else(|_| "unknown".to_owned())
}
