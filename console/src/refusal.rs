//! Every answer that is not a run: its status, its stable `error_class`
//! (docs/console.md lists them all) and its JSON body. The classes follow
//! the reference console's where it had them (`HQ_TOKEN_MISSING`,
//! `ORIGIN_BLOCKED`, `ALREADY_RUNNING`). Bodies never repeat a caller's
//! names or values.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use common::params::ParamError;
use serde_json::{Value, json};

use crate::gate::OriginRefusal;

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The Host header does not name this console (DNS rebinding).
    HostBlocked,
    /// No token was sent.
    TokenMissing,
    /// A token was sent and is not the console's.
    TokenInvalid,
    /// The console's own token cannot be resolved right now.
    TokenUnavailable,
    /// The Origin rule refused it.
    OriginBlocked(OriginRefusal),
    /// More than [`crate::request::MAX_BODY`] bytes.
    BodyTooLarge,
    /// The body did not arrive within the request deadline.
    BodyTimeout,
    /// The body is not JSON.
    InvalidJson,
    /// The body is JSON but not an object.
    NotAnObject,
    /// `action` is missing or not a string.
    InvalidAction,
    /// Keys other than `action` and `params`, or `params` not an object.
    UnexpectedFields,
    /// A key given twice (at the top or in `params`).
    DuplicateKeys,
    /// No such action in the registry.
    UnknownAction,
    /// A parameter failed its declaration.
    InvalidParams(ParamError),
    /// The action's lock is held.
    AlreadyRunning {
        /// The action.
        action: String,
        /// The holder's run id (`(unknown)` if it could not be read).
        active_run_id: String,
        /// When the holder started, if known.
        started_at: Option<String>,
    },
    /// The cap on runs at once is reached.
    TooManyRuns,
    /// The audit record could not be written, so nothing was run.
    AuditUnavailable,
    /// The action ran, but its `console.finish` could not be written; the
    /// next console start records it (docs/console.md "After a crash").
    FinishUnrecorded,
    /// The run could not be started or recorded.
    Internal,
    /// No such route or run.
    NotFound,
    /// The route exists but not for this method (OPTIONS included).
    MethodNotAllowed,
    /// A query string or run id of the wrong shape.
    BadQuery,
}

impl Refusal {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::HostBlocked | Refusal::OriginBlocked(_) => StatusCode::FORBIDDEN,
            Refusal::TokenMissing | Refusal::TokenInvalid => StatusCode::UNAUTHORIZED,
            Refusal::TokenUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Refusal::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Refusal::InvalidJson
            | Refusal::NotAnObject
            | Refusal::InvalidAction
            | Refusal::UnexpectedFields
            | Refusal::DuplicateKeys
            | Refusal::UnknownAction
            | Refusal::InvalidParams(_)
            | Refusal::BadQuery => StatusCode::BAD_REQUEST,
            Refusal::AlreadyRunning { .. } => StatusCode::CONFLICT,
            Refusal::TooManyRuns => StatusCode::TOO_MANY_REQUESTS,
            Refusal::AuditUnavailable | Refusal::FinishUnrecorded | Refusal::Internal => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            Refusal::NotFound => StatusCode::NOT_FOUND,
            Refusal::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    /// The stable machine-readable class.
    pub fn class(&self) -> &'static str {
        match self {
            Refusal::HostBlocked => "HOST_BLOCKED",
            Refusal::TokenMissing | Refusal::TokenInvalid => "HQ_TOKEN_MISSING",
            Refusal::TokenUnavailable => "TOKEN_UNAVAILABLE",
            Refusal::OriginBlocked(_) => "ORIGIN_BLOCKED",
            Refusal::BodyTooLarge => "BODY_TOO_LARGE",
            Refusal::BodyTimeout => "BODY_TIMEOUT",
            Refusal::InvalidJson => "INVALID_JSON",
            Refusal::NotAnObject => "NOT_AN_OBJECT",
            Refusal::InvalidAction => "INVALID_ACTION",
            Refusal::UnexpectedFields => "UNEXPECTED_FIELDS",
            Refusal::DuplicateKeys => "DUPLICATE_KEYS",
            Refusal::UnknownAction => "UNKNOWN_ACTION",
            Refusal::InvalidParams(_) => "INVALID_PARAMS",
            Refusal::AlreadyRunning { .. } => "ALREADY_RUNNING",
            Refusal::TooManyRuns => "TOO_MANY_RUNS",
            Refusal::AuditUnavailable => "AUDIT_UNAVAILABLE",
            Refusal::FinishUnrecorded => "FINISH_UNRECORDED",
            Refusal::Internal => "INTERNAL",
            Refusal::NotFound => "NOT_FOUND",
            Refusal::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Refusal::BadQuery => "BAD_QUERY",
        }
    }

    fn message(&self) -> String {
        match self {
            Refusal::HostBlocked => "Forbidden: the Host header does not name this console.".into(),
            Refusal::TokenMissing | Refusal::TokenInvalid => "Unauthorized".into(),
            Refusal::TokenUnavailable => "The console's token cannot be resolved; see the console's log.".into(),
            Refusal::OriginBlocked(_) => "Forbidden".into(),
            Refusal::BodyTooLarge => "Request body too large.".into(),
            Refusal::BodyTimeout => "The request body did not arrive in time.".into(),
            Refusal::InvalidJson => "Invalid or missing JSON body.".into(),
            Refusal::NotAnObject => "The body must be a JSON object.".into(),
            Refusal::InvalidAction => "Missing or invalid action: it must be a string.".into(),
            Refusal::UnexpectedFields => "Unexpected fields; allowed fields: action, params (an object).".into(),
            Refusal::DuplicateKeys => "A key is given more than once.".into(),
            Refusal::UnknownAction => "Unknown action; GET /api/actions lists them.".into(),
            Refusal::InvalidParams(e) => format!("Invalid params: {e}."),
            Refusal::AlreadyRunning { .. } => "The action is already running.".into(),
            Refusal::TooManyRuns => "Too many runs at once; try again when one has finished.".into(),
            Refusal::AuditUnavailable => "The audit log cannot be written, so nothing was run.".into(),
            Refusal::FinishUnrecorded => "The action ran, but its end could not be written to the audit log; its result is in the run directory, and the console records its end when it next starts.".into(),
            Refusal::Internal => "Internal error; see the console's log.".into(),
            Refusal::NotFound => "Not found.".into(),
            Refusal::MethodNotAllowed => "Method not allowed.".into(),
            Refusal::BadQuery => "Bad query.".into(),
        }
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let mut v = json!({"ok": false, "error": self.message(), "error_class": self.class()});
        match self {
            Refusal::TokenMissing => {
                v["reason"] = "token header missing".into();
                v["required_header"] = "X-OpenClaw-Token".into();
            }
            Refusal::TokenInvalid => {
                v["reason"] = "token invalid".into();
                v["required_header"] = "X-OpenClaw-Token".into();
            }
            Refusal::OriginBlocked(why) => {
                v["reason"] = why.reason().into();
                v["required_header"] = "Origin or Sec-Fetch-Site: same-origin".into();
            }
            Refusal::AlreadyRunning { action, active_run_id, started_at } => {
                v["action"] = action.as_str().into();
                v["active_run_id"] = active_run_id.as_str().into();
                v["active_run_status"] = "running".into();
                v["started_at"] = started_at.clone().into();
            }
            _ => {}
        }
        v
    }

    /// Whether it is a security event (logged, rate-limited, never audited).
    pub fn is_security_event(&self) -> bool {
        matches!(
            self,
            Refusal::HostBlocked
                | Refusal::TokenMissing
                | Refusal::TokenInvalid
                | Refusal::OriginBlocked(_)
                | Refusal::BodyTooLarge
        )
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        close((self.status(), axum::Json(self.body())).into_response())
    }
}

/// Marks a response as the connection's last: a refused client must
/// reconnect (and pass the connection cap again) to try anything else.
pub(crate) fn close(mut resp: Response) -> Response {
    resp.headers_mut().insert(axum::http::header::CONNECTION, axum::http::HeaderValue::from_static("close"));
    resp
}
