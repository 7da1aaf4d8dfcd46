//! The server's shared state and the gate every request passes first, in
//! this order: Host (403), token on `/api/*` (401; 503 when the console's
//! own token is unresolvable), Origin (403), declared body size (413), and
//! OPTIONS (405). Nothing before the gate is locked, started or recorded.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::gate::Gate;
use crate::locks::ActionLocks;
use crate::refusal::Refusal;
use crate::registry::Registry;
use crate::runs::RunStore;
use crate::secevents::{self, Admit, Limiter};
use crate::token::{TokenCell, TokenCheck};

/// The peer of a connection (set per connection by the server).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Remote(pub(crate) SocketAddr);

/// The authenticated caller, for audit records.
#[derive(Debug, Clone)]
pub(crate) struct Actor(pub(crate) String);

/// Everything a handler needs.
#[derive(Debug)]
pub(crate) struct AppState {
    /// The actions.
    pub(crate) registry: Registry,
    /// Host and Origin rules.
    pub(crate) gate: Gate,
    /// The token.
    pub(crate) token: TokenCell,
    /// The shared audit log's writer.
    pub(crate) audit: crate::audit::Writer,
    /// Action locks.
    pub(crate) locks: Arc<ActionLocks>,
    /// Run artifacts.
    pub(crate) runs: RunStore,
    /// Runs going now: run id → action id.
    pub(crate) running: Mutex<HashMap<String, String>>,
    /// Woken whenever a run ends.
    pub(crate) run_ended: tokio::sync::Notify,
    /// Most runs at once.
    pub(crate) max_running: usize,
    /// Set at the end of the shutdown grace: every running group is killed.
    pub(crate) stop: Arc<AtomicBool>,
    /// Longest a body may take to arrive.
    pub(crate) body_timeout: Duration,
    /// `LANG` for children.
    pub(crate) lang: String,
    /// Spawns children and sweeps the orphans they leave.
    pub(crate) reaper: Arc<crate::reaper::Reaper>,
    /// The security-event limiter.
    pub(crate) events: Mutex<Limiter>,
}

impl AppState {
    /// Logs one security event under the flood limit.
    pub(crate) fn security_event(&self, refusal: &Refusal, method: &Method, path: &str, remote: Option<SocketAddr>) {
        let admit = self.events.lock().unwrap_or_else(PoisonError::into_inner).admit(Instant::now());
        if let Admit::Log { suppressed_before } = admit {
            if suppressed_before > 0 {
                crate::INFO.error(&secevents::summary(suppressed_before));
            }
            let reason = refusal.body()["reason"].as_str().unwrap_or("").to_owned();
            let remote = remote.map_or_else(|| "unknown".to_owned(), |r| r.to_string());
            crate::INFO.error(&secevents::line(
                refusal.status().as_u16(),
                refusal.class(),
                &reason,
                method.as_str(),
                path,
                &remote,
            ));
        }
    }

    /// Prints the count of a window that ended quietly (called once a minute).
    pub(crate) fn flush_events(&self) {
        let n = self.events.lock().unwrap_or_else(PoisonError::into_inner).roll(Instant::now());
        if n > 0 {
            crate::INFO.error(&secevents::summary(n));
        }
    }

    /// The number of runs going now.
    pub(crate) fn running_count(&self) -> usize {
        self.running.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

fn header<'a>(h: &'a HeaderMap, name: &header::HeaderName) -> Option<&'a [u8]> {
    h.get(name).map(axum::http::HeaderValue::as_bytes)
}

/// The token values a request presents: `X-OpenClaw-Token` and/or
/// `Authorization: Bearer …` (every copy of either header counts).
fn presented(h: &HeaderMap) -> Vec<&[u8]> {
    let mut res: Vec<&[u8]> = h.get_all("x-openclaw-token").iter().map(axum::http::HeaderValue::as_bytes).collect();
    for v in h.get_all(header::AUTHORIZATION) {
        let b = v.as_bytes();
        // Any Authorization header counts: one that is not a Bearer token cannot match.
        res.push(b.strip_prefix(b"Bearer ").unwrap_or(b"\0not-a-bearer-token"));
    }
    res
}

/// The gate, as axum middleware over every route and the fallback.
pub(crate) async fn gate(State(st): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    let remote = req.extensions().get::<Remote>().map(|r| r.0);
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let refuse = |r: Refusal| {
        if r.is_security_event() {
            st.security_event(&r, &method, &path, remote);
        }
        r.into_response()
    };
    let h = req.headers();
    // Absolute-form targets (`GET http://evil/ HTTP/1.1`) carry their own authority: refuse them.
    let host_ok = req.uri().authority().is_none() && h.get_all(header::HOST).iter().count() == 1;
    if !host_ok || !st.gate.host_allowed(header(h, &header::HOST)) {
        return refuse(Refusal::HostBlocked);
    }
    if path == "/api" || path.starts_with("/api/") {
        match st.token.check(&presented(h)) {
            TokenCheck::Valid { actor } => {
                req.extensions_mut().insert(Actor(actor));
            }
            TokenCheck::Missing => return refuse(Refusal::TokenMissing),
            TokenCheck::Invalid => return refuse(Refusal::TokenInvalid),
            TokenCheck::Unavailable => return refuse(Refusal::TokenUnavailable),
        }
    }
    let h = req.headers();
    let unsafe_method = !matches!(method, Method::GET | Method::HEAD);
    let origins: Vec<&[u8]> = h.get_all(header::ORIGIN).iter().map(axum::http::HeaderValue::as_bytes).collect();
    if origins.len() > 1 {
        return refuse(Refusal::OriginBlocked(crate::gate::OriginRefusal::NotAllowed));
    }
    if let Err(why) = st.gate.check_origin(
        unsafe_method,
        origins.first().copied(),
        header(h, &header::HeaderName::from_static("sec-fetch-site")),
    ) {
        return refuse(Refusal::OriginBlocked(why));
    }
    let declared = h.get(header::CONTENT_LENGTH).map(|v| v.to_str().ok().and_then(|s| s.parse::<u64>().ok()));
    match declared {
        Some(Some(n)) if n > crate::request::MAX_BODY as u64 => return refuse(Refusal::BodyTooLarge),
        // hyper refuses unparseable lengths itself; this is a second line.
        Some(None) => return Refusal::InvalidJson.into_response(),
        _ => {}
    }
    if method == Method::OPTIONS {
        return Refusal::MethodNotAllowed.into_response();
    }
    next.run(req).await
}

/// Reads a body of at most [`crate::request::MAX_BODY`] bytes within the deadline.
pub(crate) async fn read_body(st: &AppState, body: Body) -> Result<axum::body::Bytes, Refusal> {
    match tokio::time::timeout(st.body_timeout, axum::body::to_bytes(body, crate::request::MAX_BODY)).await {
        Err(_) => Err(Refusal::BodyTimeout),
        Ok(Ok(b)) => Ok(b),
        Ok(Err(e)) => {
            let too_large = std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
                || e.to_string().contains("length limit");
            Err(if too_large { Refusal::BodyTooLarge } else { Refusal::InvalidJson })
        }
    }
}
