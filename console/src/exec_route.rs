//! `POST /api/exec`: after the gate, in order: body shape (400), action
//! (400), parameters (400), the run cap (429) and the action's lock (409),
//! each refusal audited before it is answered; then the run directory, the
//! `console.start` record (its failure is a 500 and nothing runs), and the
//! child on its own supervisor thread, which holds the lock until the
//! child's group is gone, writes the artifacts and the `console.finish`
//! record, and only then answers (200/502) or, for a long-running action,
//! after a 202, lets the client poll.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, PoisonError};
use std::time::Instant;

use axum::Extension;
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::app::{Actor, AppState, Remote, read_body};
use crate::audit::{Facts, Kind};
use crate::exec::{Ending, Spec};
use crate::locks::{Holder, LockOutcome};
use crate::refusal::Refusal;
use crate::registry::Action;
use crate::runs::{RunRecord, RunStatus, new_run_id};

fn request_id() -> String {
    let mut rnd = [0u8; 8];
    let _ = rustix::rand::getrandom(&mut rnd, rustix::rand::GetRandomFlags::empty());
    common::hash::to_hex(&rnd)
}

fn with_request_id(mut resp: Response, id: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

/// Names the run in a refusal that comes after it ran (`X-Run-Id`).
fn with_run_id(mut resp: Response, run_id: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(run_id) {
        resp.headers_mut().insert("x-run-id", v);
    }
    resp
}

fn refusal_with_id(r: &Refusal, id: &str) -> Response {
    let mut body = r.body();
    body["request_id"] = id.into();
    crate::refusal::close(with_request_id((r.status(), Json(body)).into_response(), id))
}

/// What is known of the request once it reached action resolution.
struct Asked {
    request_id: String,
    actor: String,
    action: String,
    origin: Option<String>,
}

/// The parts of a record that vary by outcome.
struct Outcome<'a> {
    kind: Kind,
    params: Value,
    lock: &'a str,
    run_id: Option<&'a str>,
    class: Option<&'a str>,
    exit: i32,
}

/// Appends a record off the reactor; `Err` when it could not be written.
async fn record(st: &Arc<AppState>, asked: &Asked, o: Outcome<'_>) -> Result<String, ()> {
    let Outcome { kind, params, lock, run_id, class, exit } = o;
    let facts = Facts {
        request_id: &asked.request_id,
        action: &asked.action,
        params: &params,
        origin: asked.origin.as_deref(),
        lock,
        run_id,
        error_class: class,
    };
    match st.audit.append(kind, &asked.actor, &facts, exit, 0).await {
        Ok(rec) => Ok(rec.params_hash),
        Err(e) => {
            crate::INFO.error(&format!("audit log: {e}; the request was refused"));
            Err(())
        }
    }
}

/// Audits a refusal at action resolution, then answers it.
async fn refuse(st: &Arc<AppState>, asked: &Asked, kind: Kind, lock: &str, r: Refusal) -> Response {
    let outcome = Outcome { kind, params: json!({}), lock, run_id: None, class: Some(r.class()), exit: 2 };
    match record(st, asked, outcome).await {
        Ok(_) => refusal_with_id(&r, &asked.request_id),
        Err(()) => refusal_with_id(&Refusal::AuditUnavailable, &asked.request_id),
    }
}

/// Removes a run that never started, off the reactor.
async fn discard(st: &Arc<AppState>, run_id: &str) {
    let (store, id) = (st.runs.clone(), run_id.to_owned());
    let _ = tokio::task::spawn_blocking(move || store.discard(&id)).await;
}

/// The handler.
pub(crate) async fn exec(
    State(st): State<Arc<AppState>>,
    Extension(Actor(actor)): Extension<Actor>,
    remote: Option<Extension<Remote>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let request_id = request_id();
    let bytes = match read_body(&st, body).await {
        Ok(b) => b,
        Err(r) => {
            if r.is_security_event() {
                st.security_event(&r, &axum::http::Method::POST, "/api/exec", remote.map(|r| r.0.0));
            }
            return refusal_with_id(&r, &request_id);
        }
    };
    let parsed = match crate::request::parse_exec(&bytes) {
        Ok(p) => p,
        Err(r) => return refusal_with_id(&r, &request_id),
    };
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let asked = Asked { request_id, actor, action: parsed.action.clone(), origin };
    let Some(action) = st.registry.get(&parsed.action).cloned() else {
        return refuse(&st, &asked, Kind::Refuse, "none", Refusal::UnknownAction).await;
    };
    let checked = match common::params::check_object(&action.params, &parsed.params) {
        Ok(c) => c,
        Err(e) => return refuse(&st, &asked, Kind::Refuse, "none", Refusal::InvalidParams(e)).await,
    };
    let now = time::OffsetDateTime::now_utc();
    let run_id = new_run_id(now);
    let started_at = common::time_fmt::rfc3339(now);
    // The run cap and the lock, both before anything is written or started.
    let full = {
        let mut running = st.running.lock().unwrap_or_else(PoisonError::into_inner);
        let full = running.len() >= st.max_running;
        if !full {
            running.insert(run_id.clone(), action.id.clone());
        }
        full
    };
    if full {
        return refuse(&st, &asked, Kind::Busy, "none", Refusal::TooManyRuns).await;
    }
    // Admitted. Everything until the child starts runs on its own task:
    // a client that disconnects makes hyper drop this future, and that must
    // not strand the run slot, the lock or a start record.
    let task = tokio::spawn(admitted(Arc::clone(&st), asked, action, checked, run_id, started_at));
    match task.await {
        Ok(resp) => resp,
        Err(_) => Refusal::Internal.into_response(),
    }
}

/// An admitted run (its slot taken): the lock, the run directory, the start
/// record and the supervisor. Runs on a task of its own (see [`exec`]).
async fn admitted(
    st: Arc<AppState>,
    asked: Asked,
    action: Action,
    checked: common::params::Checked,
    run_id: String,
    started_at: String,
) -> Response {
    let forget = |st: &AppState, id: &str| {
        st.running.lock().unwrap_or_else(PoisonError::into_inner).remove(id);
        st.run_ended.notify_waiters();
    };
    let holder = Holder { run_id: run_id.clone(), started_at: started_at.clone() };
    let lock = if action.concurrent {
        LockOutcome::NotNeeded
    } else {
        let (locks, id, h) = (Arc::clone(&st.locks), action.id.clone(), holder.clone());
        match tokio::task::spawn_blocking(move || locks.try_take(&id, &h)).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(e)) => {
                crate::INFO.error(&e.to_string());
                forget(&st, &run_id);
                return refuse(&st, &asked, Kind::Refuse, "none", Refusal::Internal).await;
            }
            Err(_) => {
                forget(&st, &run_id);
                return refuse(&st, &asked, Kind::Refuse, "none", Refusal::Internal).await;
            }
        }
    };
    if let LockOutcome::Busy(h) = &lock {
        forget(&st, &run_id);
        let h = h.clone().unwrap_or_else(crate::locks::unknown);
        let r = Refusal::AlreadyRunning {
            action: action.id.clone(),
            active_run_id: h.run_id,
            started_at: (!h.started_at.is_empty()).then_some(h.started_at),
        };
        return refuse(&st, &asked, Kind::Busy, "busy", r).await;
    }
    let lock_name = lock.name();
    let params_value = serde_json::to_value(&checked).unwrap_or_default();
    let start_facts = Facts {
        request_id: &asked.request_id,
        action: &asked.action,
        params: &params_value,
        origin: asked.origin.as_deref(),
        lock: lock_name,
        run_id: Some(&run_id),
        error_class: None,
    };
    let rec = RunRecord {
        run_id: run_id.clone(),
        action: action.id.clone(),
        request_id: asked.request_id.clone(),
        actor: asked.actor.clone(),
        status: RunStatus::Running,
        started_at,
        finished_at: None,
        duration_ms: None,
        exit_code: None,
        truncated: false,
        params_hash: common::audit::params_hash(&start_facts.to_value()),
        error: None,
    };
    // Everything of the run is on disk before its start record: a run that
    // cannot be prepared is refused (console.refuse alone) and leaves no
    // directory, and a start record always has a `running` result.json and
    // a `.supervisor` lock that recovery can find if this process dies.
    let store = st.runs.clone();
    let prepared = {
        let (run_id, rec) = (run_id.clone(), rec.clone());
        let params_text = serde_json::to_vec_pretty(&params_value).unwrap_or_default();
        tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
            store.create(&run_id)?;
            store.write(&run_id, "params.json", &params_text)?;
            let marker = store.supervise(&run_id)?;
            store.write_record(&rec)?;
            Ok(marker)
        })
        .await
    };
    let marker = match prepared {
        Ok(Ok(marker)) => marker,
        _ => {
            crate::INFO.error(&format!(
                "run {run_id}: cannot prepare its directory under {}; not started",
                st.runs.root().display()
            ));
            discard(&st, &run_id).await;
            drop(lock);
            forget(&st, &run_id);
            return refuse(&st, &asked, Kind::Refuse, lock_name, Refusal::Internal).await;
        }
    };
    let start = Outcome {
        kind: Kind::Start,
        params: params_value.clone(),
        lock: lock_name,
        run_id: Some(&run_id),
        class: None,
        exit: 0,
    };
    if record(&st, &asked, start).await.is_err() {
        drop(marker);
        discard(&st, &run_id).await;
        forget(&st, &run_id);
        return refusal_with_id(&Refusal::AuditUnavailable, &asked.request_id);
    }
    let mut env = vec![("LANG".to_owned(), st.lang.clone()), ("OPENCLAW_RUN_ID".to_owned(), run_id.clone())];
    env.extend(common::params::env_vars(&action.params, &checked));
    let spec = Spec {
        run_id: run_id.clone(),
        argv: action.argv.clone(),
        env,
        cwd: st.runs.dir(&run_id),
        timeout: action.timeout,
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let request_id = asked.request_id.clone();
    let sup = Supervisor {
        st: Arc::clone(&st),
        action: action.clone(),
        asked,
        rec,
        params: params_value,
        lock_name,
        spec,
        marker,
    };
    std::thread::spawn(move || {
        // The lock lives on this thread (and in the child) until the child's
        // group and every orphan it left are gone.
        let answer = sup.run(&lock);
        drop(lock);
        let _ = tx.send(answer);
    });
    if action.long_running {
        let body = json!({
            "ok": true,
            "action": action.id,
            "run_id": run_id,
            "request_id": request_id,
            "status": "running",
            "message": format!("Poll GET /api/runs/{run_id}"),
        });
        return with_request_id((StatusCode::ACCEPTED, Json(body)).into_response(), &request_id);
    }
    match rx.await {
        Ok(resp) => resp,
        Err(_) => Refusal::Internal.into_response(),
    }
}

/// One run's supervisor (runs on its own thread).
struct Supervisor {
    st: Arc<AppState>,
    action: Action,
    asked: Asked,
    rec: RunRecord,
    params: Value,
    lock_name: &'static str,
    spec: Spec,
    /// The locked `.supervisor` file: while it is held, recovery leaves the run alone.
    marker: std::fs::File,
}

impl Supervisor {
    fn run(self, lock: &LockOutcome) -> Response {
        let Supervisor { st, action, asked, mut rec, params, lock_name, spec, marker } = self;
        let started = Instant::now();
        let stop: &AtomicBool = &st.stop;
        let hand_over = |on: bool| {
            if let LockOutcome::Acquired(held) = lock {
                held.set_inheritable(on);
            }
        };
        let out = crate::exec::run(&spec, stop, &st.reaper, &hand_over);
        let store = &st.runs;
        let _ = store.write(&rec.run_id, "stdout.txt", &out.stdout);
        let _ = store.write(&rec.run_id, "stderr.txt", &out.stderr);
        let (status, class) = match &out.ending {
            Ending::Exited(0) => (RunStatus::Success, None),
            Ending::Exited(_) | Ending::Signalled(_) => (RunStatus::Failure, Some("ACTION_FAILED")),
            Ending::TimedOut => (RunStatus::Timeout, Some("ACTION_TIMEOUT")),
            Ending::Killed => (RunStatus::Killed, Some("ACTION_KILLED")),
            Ending::SpawnFailed(_) => (RunStatus::Error, Some("SPAWN_FAILED")),
        };
        let now = time::OffsetDateTime::now_utc();
        rec.status = status;
        rec.finished_at = Some(common::time_fmt::rfc3339(now));
        rec.duration_ms = Some(out.duration.as_millis() as u64);
        rec.exit_code = Some(out.ending.code());
        rec.truncated = out.truncated;
        if let Ending::SpawnFailed(why) = &out.ending {
            crate::INFO.error(&format!("run {}: {why}", rec.run_id));
            rec.error = Some("the program could not be started; see the console's log".into());
        }
        let result_written = store.write_record(&rec).is_ok();
        let class = if result_written { class } else { Some("RESULT_UNWRITABLE") };
        let facts = Facts {
            request_id: &asked.request_id,
            action: &action.id,
            params: &params,
            origin: asked.origin.as_deref(),
            lock: lock_name,
            run_id: Some(&rec.run_id),
            error_class: class,
        };
        let audited = st.audit.append_blocking(
            Kind::Finish,
            &asked.actor,
            &facts,
            out.ending.code(),
            started.elapsed().as_millis() as u64,
        );
        if audited.is_ok() {
            crate::recovery::finished(store, &rec, result_written);
        }
        // Held until now: recovery never finishes a run twice.
        drop(marker);
        st.running.lock().unwrap_or_else(PoisonError::into_inner).remove(&rec.run_id);
        st.run_ended.notify_waiters();
        if let Err(e) = audited {
            crate::INFO.error(&format!("audit log: {e}; run {} finished unrecorded", rec.run_id));
            return with_run_id(refusal_with_id(&Refusal::FinishUnrecorded, &asked.request_id), &rec.run_id);
        }
        let ok = status == RunStatus::Success;
        let mut body = json!({
            "ok": ok,
            "action": action.id,
            "run_id": rec.run_id,
            "request_id": asked.request_id,
            "status": status,
            "stdout": String::from_utf8_lossy(&out.stdout),
            "stderr": String::from_utf8_lossy(&out.stderr),
            "exitCode": out.ending.code(),
            "durationMs": rec.duration_ms,
            "truncated": out.truncated,
            "artifact_dir": store.dir(&rec.run_id).display().to_string(),
        });
        if let Some(class) = class {
            body["error_class"] = class.into();
        }
        let code = if ok { StatusCode::OK } else { StatusCode::BAD_GATEWAY };
        with_request_id((code, Json(body)).into_response(), &asked.request_id)
    }
}
