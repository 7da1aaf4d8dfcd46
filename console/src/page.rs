//! The console page: one HTML document and its two assets, embedded in the
//! binary at build time (no npm, no CDN, no external fonts). Asset names
//! carry the first 12 hex characters of their SHA-256, so a cached copy is
//! never stale. Every page and asset answer carries the strict CSP and the
//! other headers below; the HTML is never cached. The page adds no
//! authority: it calls the same `/api/*` routes with the operator's token.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::refusal::Refusal;

const HTML: &str = include_str!("../assets/index.html");
const JS: &str = include_str!("../assets/app.js");
const CSS: &str = include_str!("../assets/app.css");

/// The Content-Security-Policy of every page and asset.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

struct Built {
    html: String,
    js_name: String,
    css_name: String,
}

fn built() -> &'static Built {
    static B: OnceLock<Built> = OnceLock::new();
    B.get_or_init(|| {
        let short = |text: &str| common::hash::sha256_hex(text.as_bytes())[..12].to_owned();
        let (js, css) = (short(JS), short(CSS));
        Built {
            html: HTML.replace("__JS_HASH__", &js).replace("__CSS_HASH__", &css),
            js_name: format!("app.{js}.js"),
            css_name: format!("app.{css}.css"),
        }
    })
}

fn with_headers(body: &'static str, content_type: &'static str, cache: &'static str) -> Response {
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    resp
}

/// `GET /`.
pub(crate) async fn index() -> Response {
    with_headers(built().html.as_str(), "text/html; charset=utf-8", "no-store")
}

/// `GET /favicon.ico`: browsers ask for it; there is none (204, not a 404 in their log).
pub(crate) async fn favicon() -> Response {
    let mut resp = with_headers("", "image/x-icon", "public, max-age=86400");
    *resp.status_mut() = StatusCode::NO_CONTENT;
    resp
}

/// `GET /assets/<name>`: only the two current hashed names exist.
pub(crate) async fn asset(Path(name): Path<String>) -> Response {
    let b = built();
    let immutable = "public, max-age=31536000, immutable";
    if name == b.js_name {
        with_headers(JS, "text/javascript; charset=utf-8", immutable)
    } else if name == b.css_name {
        with_headers(CSS, "text/css; charset=utf-8", immutable)
    } else {
        Refusal::NotFound.into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_names_carry_their_hash_and_the_html_names_them() {
        let b = built();
        assert!(b.html.contains(&format!("/assets/{}", b.js_name)));
        assert!(b.html.contains(&format!("/assets/{}", b.css_name)));
        assert!(!b.html.contains("__"), "every placeholder replaced");
        assert_eq!(b.js_name.len(), "app..js".len() + 12);
    }
}
