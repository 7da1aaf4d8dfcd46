//! The notifier's one output module: renders reports as JSON (the shared
//! envelope) or as escaped human text, and is the only code that writes to
//! stdout or stderr. Nothing here ever receives a key: callers pass
//! reports, masked fingerprints and API text only.

use common::output::{Format, sanitize, write_stderr};
use serde::Serialize;

use crate::flush::FlushReport;
use crate::message::ts;
use crate::report::{KeyTest, Report};
use crate::status::StatusReport;

/// Results on stdout; a failed write is an error (no silent success).
fn stdout(text: &str) -> Result<(), String> {
    common::cli::write_result(text).map_err(|e| e.to_string())
}

/// A JSON document in the shared envelope.
fn json<T: Serialize>(body: &T) -> Result<(), String> {
    crate::INFO.write_json(body).map_err(|e| e.to_string())
}

/// A warning on stderr.
pub(crate) fn warn(msg: &str) {
    let _ = write_stderr(&format!("{}: warning: {}\n", crate::TOOL, sanitize(msg)));
}

/// Escapes each line (API errors and messages are untrusted) but keeps the newlines.
fn sanitize_lines(text: &str) -> String {
    text.lines().map(|l| format!("{}\n", sanitize(l))).collect()
}

/// `send`: warnings on stderr, the report on stdout.
pub(crate) fn send(format: Format, r: &Report) -> Result<(), String> {
    for w in &r.warnings {
        warn(w);
    }
    if format == Format::Json {
        return json(r);
    }
    let mut text = format!("{}: {}\n", r.outcome.human(), r.detail);
    for e in &r.errors {
        text.push_str(&format!("  api error: {e}\n"));
    }
    if let Some(c) = &r.cancel {
        text.push_str(&format!("  {c}\n"));
    }
    if let Some(p) = &r.preview {
        for (k, v) in p {
            text.push_str(&format!("  {k}: {v}\n"));
        }
    }
    stdout(&sanitize_lines(&text))
}

/// `flush`: each item's warnings on stderr, the summary on stdout.
pub(crate) fn flush(format: Format, rep: &FlushReport) -> Result<(), String> {
    for w in rep.items.iter().flat_map(|r| &r.warnings) {
        warn(w);
    }
    if format == Format::Json {
        return json(rep);
    }
    let mut text = format!(
        "flush: {} delivered, {} suppressed, {} rejected, {} still queued, {} receipt(s) cancelled\n",
        rep.delivered, rep.suppressed, rep.rejected, rep.remaining, rep.receipts_cancelled
    );
    if let Some(h) = &rep.hold_until {
        text.push_str(&format!("  held: the monthly quota is used up until {h}\n"));
    }
    if rep.in_flight > 0 {
        text.push_str(&format!(
            "  in flight: {} entr{} still being delivered by a running send (left to it)\n",
            rep.in_flight,
            if rep.in_flight == 1 { "y" } else { "ies" }
        ));
    }
    for r in &rep.items {
        text.push_str(&format!("  {} {}: {}\n", r.outcome.human(), r.check_id, r.detail));
        for e in &r.errors {
            text.push_str(&format!("    api error: {e}\n"));
        }
    }
    for p in &rep.problems {
        text.push_str(&format!("  problem: {p}\n"));
    }
    stdout(&sanitize_lines(&text))
}

/// `status`: the report on stdout; entries set aside are warnings.
pub(crate) fn status(format: Format, rep: &StatusReport, problems: &[String]) -> Result<(), String> {
    for p in problems {
        warn(p);
    }
    if format == Format::Json {
        return json(rep);
    }
    let mut text = format!("api: {}\nwindow: one alert per check per {} s\n", rep.api_base, rep.window_secs);
    match (&rep.quota, &rep.hold_until) {
        (_, Some(h)) => text.push_str(&format!("quota: USED UP (HTTP 429); every send is held until {h}\n")),
        (Some(q), None) => text.push_str(&format!(
            "quota: {} of {} left until {}{}\n",
            q.remaining,
            q.limit,
            ts(q.reset),
            if rep.quota_low { "  WARNING: below 5%" } else { "" }
        )),
        (None, None) => text.push_str("quota: not known yet (read from the next API response)\n"),
    }
    text.push_str(&format!("windows: {}\n", rep.windows.len()));
    for w in &rep.windows {
        text.push_str(&format!(
            "  {:<32} {}  last sent {}  suppressed {}{}\n",
            w.check_id,
            if w.in_window {
                "in window"
            } else if w.open {
                "open     "
            } else {
                "closed   "
            },
            w.last_sent.as_deref().unwrap_or("-"),
            w.suppressed,
            w.suppressed_since.as_deref().map(|t| format!(" since {t}")).unwrap_or_default()
        ));
    }
    text.push_str(&format!(
        "queued: {} (rejected kept in outbox/rejected/: {})\n",
        rep.queued.len(),
        rep.rejected_in_outbox
    ));
    for q in &rep.queued {
        text.push_str(&format!("  {} {} {} {}\n", q.created, q.check_id, q.priority.name(), q.file));
    }
    text.push_str(&format!("receipts: {}\n", rep.receipts.len()));
    for r in &rep.receipts {
        text.push_str(&format!(
            "  {} {} expires {}{}\n",
            r.check_id,
            r.receipt,
            r.expires_at,
            if r.cancel_pending { " (cancel pending)" } else { "" }
        ));
    }
    stdout(&sanitize_lines(&text))
}

/// `test`: the keys' sources and masked fingerprints, and the API's answer.
pub(crate) fn key_test(format: Format, rep: &KeyTest) -> Result<(), String> {
    if format == Format::Json {
        return json(rep);
    }
    let mut text = format!("{}: {}\n", rep.outcome.word(), rep.detail);
    for (name, how) in &rep.keys {
        text.push_str(&format!("  {name}: {how}\n"));
    }
    for e in &rep.errors {
        text.push_str(&format!("  api error: {e}\n"));
    }
    stdout(&sanitize_lines(&text))
}

/// `log`: one line an attempt, oldest first.
pub(crate) fn log(format: Format, attempts: &[crate::journal::Attempt]) -> Result<(), String> {
    if format == Format::Json {
        return json(&serde_json::json!({"attempts": attempts}));
    }
    let mut text = String::new();
    for a in attempts {
        let note = match (a.outcome.as_str(), a.resend) {
            ("unknown", _) => {
                "  (no answer: the sender died in flight, or it is still running; Pushover may have delivered it)"
            }
            (_, true) => "  (resend of an attempt with no answer: may have arrived twice)",
            _ => "",
        };
        text.push_str(&format!(
            "{}  {:<5} #{} {:<24} {:<10} {}{note}\n",
            ts(a.ts),
            a.mode,
            a.attempt,
            a.check_id,
            a.outcome,
            a.entry
        ));
    }
    if attempts.is_empty() {
        text.push_str("no delivery attempts recorded\n");
    }
    stdout(&sanitize_lines(&text))
}
