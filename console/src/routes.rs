//! The routes and the read-only handlers: `/healthz`, `/api/actions`,
//! `/api/runs`, `/api/runs/<id>` and `GET /api/exec?check=lock`. The exec
//! handler is in `exec_route`. Unknown routes are 404 and wrong methods
//! 405, both after the gate.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::app::{self, AppState};
use crate::refusal::Refusal;

/// The router, with the gate in front of every route and the fallbacks.
pub(crate) fn router(st: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(crate::page::index))
        .route("/assets/{name}", get(crate::page::asset))
        .route("/favicon.ico", get(crate::page::favicon))
        .route("/healthz", get(healthz))
        .route("/api/actions", get(actions))
        .route("/api/exec", get(exec_check).post(crate::exec_route::exec))
        .route("/api/runs", get(runs_list))
        .route("/api/runs/{run_id}", get(run_detail))
        .fallback(|| async { Refusal::NotFound })
        .method_not_allowed_fallback(|| async { Refusal::MethodNotAllowed })
        .layer(axum::middleware::from_fn_with_state(Arc::clone(&st), app::gate))
        .with_state(st)
}

async fn healthz() -> Response {
    // Unauthenticated: it may not keep a connection (and a slot) open.
    crate::refusal::close(Json(json!({"ok": true})).into_response())
}

async fn actions(State(st): State<Arc<AppState>>) -> Json<Value> {
    let list: Vec<Value> = st
        .registry
        .actions
        .iter()
        .map(|a| {
            json!({
                "id": a.id,
                "label": a.label,
                "description": a.description,
                "timeout_sec": a.timeout.as_secs(),
                "concurrent": a.concurrent,
                "long_running": a.long_running,
                "params": a.params.iter().map(common::params::ParamSpec::schema).collect::<Vec<_>>(),
            })
        })
        .collect();
    Json(json!({"ok": true, "actions": list}))
}

/// `key=value` pairs of a query string; `None` when a key repeats, a pair
/// has no `=`, or a key is not one of `allowed`. Values are not decoded:
/// every value we accept is plain `[a-z0-9._-]`.
fn query<'a>(raw: Option<&'a str>, allowed: &[&str]) -> Option<Vec<(&'a str, &'a str)>> {
    let mut res: Vec<(&str, &str)> = Vec::new();
    for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=')?;
        if !allowed.contains(&k) || res.iter().any(|(seen, _)| *seen == k) {
            return None;
        }
        res.push((k, v));
    }
    Some(res)
}

fn get_param<'a>(q: &[(&str, &'a str)], key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

async fn exec_check(State(st): State<Arc<AppState>>, RawQuery(raw): RawQuery) -> Response {
    let Some(q) = query(raw.as_deref(), &["check", "action"]) else { return Refusal::BadQuery.into_response() };
    if get_param(&q, "check") != Some("lock") {
        return Refusal::BadQuery.into_response();
    }
    let Some(action) = get_param(&q, "action").and_then(|id| st.registry.get(id)) else {
        return Refusal::UnknownAction.into_response();
    };
    if action.concurrent {
        return Json(json!({"ok": true, "action": action.id, "locked": false, "concurrent": true})).into_response();
    }
    let (locks, id) = (Arc::clone(&st.locks), action.id.clone());
    match tokio::task::spawn_blocking(move || locks.holder(&id)).await {
        Ok(Ok(None)) => Json(json!({"ok": true, "action": action.id, "locked": false})).into_response(),
        Ok(Ok(Some(h))) => Json(json!({
            "ok": true, "action": action.id, "locked": true,
            "active_run_id": h.run_id, "started_at": (!h.started_at.is_empty()).then_some(h.started_at),
        }))
        .into_response(),
        Ok(Err(e)) => {
            crate::INFO.error(&e.to_string());
            Refusal::Internal.into_response()
        }
        Err(_) => Refusal::Internal.into_response(),
    }
}

async fn runs_list(State(st): State<Arc<AppState>>, RawQuery(raw): RawQuery) -> Response {
    let Some(q) = query(raw.as_deref(), &["limit", "id"]) else { return Refusal::BadQuery.into_response() };
    if let Some(id) = get_param(&q, "id") {
        return detail(&st, id).await;
    }
    let limit = match get_param(&q, "limit") {
        None => 20,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=crate::runs::MAX_LIST).contains(&n) && !v.starts_with('0') => n,
            _ => return Refusal::BadQuery.into_response(),
        },
    };
    let store = st.runs.clone();
    match tokio::task::spawn_blocking(move || store.list(limit)).await {
        Ok(runs) => Json(json!({"ok": true, "runs": runs})).into_response(),
        Err(_) => Refusal::Internal.into_response(),
    }
}

async fn run_detail(State(st): State<Arc<AppState>>, Path(run_id): Path<String>) -> Response {
    detail(&st, &run_id).await
}

async fn detail(st: &AppState, run_id: &str) -> Response {
    if !crate::runs::valid_run_id(run_id) {
        return Refusal::BadQuery.into_response();
    }
    let (store, id) = (st.runs.clone(), run_id.to_owned());
    match tokio::task::spawn_blocking(move || store.detail(&id)).await {
        Ok(Some(mut v)) => {
            v["ok"] = true.into();
            Json(v).into_response()
        }
        Ok(None) => Refusal::NotFound.into_response(),
        Err(_) => Refusal::Internal.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_strict() {
        assert_eq!(query(Some("check=lock&action=doctor"), &["check", "action"]).unwrap().len(), 2);
        assert_eq!(query(None, &["limit"]).unwrap().len(), 0);
        for bad in ["check", "check=lock&check=lock", "other=1", "check=lock&__proto__=1"] {
            assert!(query(Some(bad), &["check", "action"]).is_none(), "{bad}");
        }
    }
}
