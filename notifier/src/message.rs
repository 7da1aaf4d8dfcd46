//! Alerts and the Pushover message fields built from them: pure functions,
//! no IO. The API's limits are enforced here, before anything is sent.

use serde::{Deserialize, Serialize};

/// Pushover's limits, in characters (its docs count 4-byte UTF-8 characters).
pub const MESSAGE_MAX: usize = 1024;
/// Longest title.
pub const TITLE_MAX: usize = 250;
/// Longest supplementary URL; a URL is never truncated, a longer one is refused.
pub const URL_MAX: usize = 512;
/// Longest URL title.
pub const URL_TITLE_MAX: usize = 100;
/// Emergency `retry`: Pushover's minimum and our default, in seconds.
pub const RETRY_MIN: u32 = 30;
/// Default emergency `retry`.
pub const RETRY_DEFAULT: u32 = 60;
/// Emergency `expire`: Pushover's maximum (3 hours) and our default.
pub const EXPIRE_MAX: u32 = 10_800;
/// Default emergency `expire`.
pub const EXPIRE_DEFAULT: u32 = 3600;
/// Appended where a message was cut to fit.
pub const TRUNCATION_MARKER: &str = "… [truncated]";
/// Title when none is given (the reference's default).
pub const DEFAULT_TITLE: &str = "OpenClaw";

/// Pushover priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// −1: no sound or vibration.
    Low,
    /// 0: the default.
    Normal,
    /// 1: bypasses the user's quiet hours.
    High,
    /// 2: repeats every `retry` seconds until acknowledged or `expire` passes.
    Emergency,
}

impl Priority {
    /// The API's number.
    pub fn value(self) -> i8 {
        match self {
            Priority::Low => -1,
            Priority::Normal => 0,
            Priority::High => 1,
            Priority::Emergency => 2,
        }
    }

    /// The CLI word.
    pub fn name(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Emergency => "emergency",
        }
    }
}

/// One alert as the caller asked for it. This is what the outbox stores:
/// no keys, and no digest or quota lines (those are added at delivery).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alert {
    /// The check this alert is about; the rate-limit key.
    pub check_id: String,
    /// Priority.
    pub priority: Priority,
    /// Title (already within [`TITLE_MAX`]).
    pub title: String,
    /// The caller's text (may be longer than [`MESSAGE_MAX`]; cut at delivery).
    pub message: String,
    /// Supplementary URL.
    pub url: Option<String>,
    /// Its title.
    pub url_title: Option<String>,
    /// A recovery message: closes the check's window and cancels its emergency receipt.
    pub resolved: bool,
    /// Emergency `retry` seconds.
    pub retry: u32,
    /// Emergency `expire` seconds.
    pub expire: u32,
    /// Unix time the alert was raised; sent as `timestamp` so a queued alert shows when it happened.
    pub created: i64,
}

/// Checks a check_id: 1 to 64 characters from `A-Z a-z 0-9 . _ : / -`.
/// It names the rate-limit window, appears in alerts and in the audit log.
pub fn validate_check_id(id: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'/' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "--check-id must be 1 to 64 characters from A-Z a-z 0-9 . _ : / - (got {} characters)",
            id.chars().count()
        ))
    }
}

/// Checks the caller's fields against the API's limits. The message is
/// never refused for length (it is cut at delivery); an over-long title or
/// URL title is cut too, because an alert must not be lost to cosmetics; a
/// URL is refused, because a cut URL points somewhere else.
pub fn normalise(alert: &mut Alert) -> Result<(), String> {
    validate_check_id(&alert.check_id)?;
    if alert.message.trim().is_empty() {
        return Err("the message is empty (Pushover requires one)".into());
    }
    if alert.title.trim().is_empty() {
        alert.title = DEFAULT_TITLE.into();
    }
    // Kept at the API's length from the start, so a queued alert stays small.
    alert.message = truncate(&alert.message, MESSAGE_MAX, TRUNCATION_MARKER);
    alert.title = truncate(&alert.title, TITLE_MAX, "…");
    if let Some(url) = &alert.url {
        let n = url.chars().count();
        if n == 0 || n > URL_MAX {
            return Err(format!("--url must be 1 to {URL_MAX} characters (got {n}); a URL is never cut"));
        }
    }
    if alert.url_title.is_some() && alert.url.is_none() {
        return Err("--url-title needs --url".into());
    }
    if let Some(t) = &alert.url_title {
        alert.url_title = Some(truncate(t, URL_TITLE_MAX, "…"));
    }
    if alert.priority == Priority::Emergency {
        if alert.resolved {
            return Err("a --resolved message is a recovery, never an emergency: use another --priority".into());
        }
        if alert.retry < RETRY_MIN {
            return Err(format!("--retry must be at least {RETRY_MIN} seconds (Pushover's minimum)"));
        }
        if alert.expire == 0 || alert.expire > EXPIRE_MAX {
            return Err(format!("--expire must be 1 to {EXPIRE_MAX} seconds (Pushover's maximum is 3 hours)"));
        }
    }
    Ok(())
}

/// Cuts `s` to at most `max` characters, ending with `marker` when cut.
pub fn truncate(s: &str, max: usize, marker: &str) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let keep = max.saturating_sub(marker.chars().count());
    let mut res: String = s.chars().take(keep).collect();
    res.push_str(marker);
    res
}

/// The message text sent: the caller's text cut to fit, then `extra` lines
/// (the suppression digest, the quota warning), which are always kept whole.
pub fn compose_message(alert: &Alert, extra: &[String]) -> String {
    let tail: String = extra.iter().map(|l| format!("\n\n{l}")).collect();
    let room = MESSAGE_MAX.saturating_sub(tail.chars().count());
    let prefix = if alert.resolved { "RESOLVED: " } else { "" };
    let body = truncate(&format!("{prefix}{}", alert.message), room, TRUNCATION_MARKER);
    truncate(&format!("{body}{tail}"), MESSAGE_MAX, TRUNCATION_MARKER)
}

/// The form fields of `POST /1/messages.json`, without `token` and `user`
/// (the caller adds those, and only to the request body).
pub fn fields(alert: &Alert, extra: &[String]) -> Vec<(&'static str, String)> {
    let mut f = vec![
        ("title", alert.title.clone()),
        ("message", compose_message(alert, extra)),
        ("priority", alert.priority.value().to_string()),
        ("timestamp", alert.created.to_string()),
    ];
    if let Some(url) = &alert.url {
        f.push(("url", url.clone()));
    }
    if let Some(t) = &alert.url_title {
        f.push(("url_title", t.clone()));
    }
    if alert.priority == Priority::Emergency {
        f.push(("retry", alert.retry.to_string()));
        f.push(("expire", alert.expire.to_string()));
    }
    f
}

/// RFC 3339 for a Unix time (the raw number if out of range).
pub fn ts(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t).map(common::time_fmt::rfc3339).unwrap_or_else(|_| t.to_string())
}

/// `N further alerts for <check> suppressed since HH:MM UTC`.
pub fn digest_line(check_id: &str, count: u64, since: i64) -> String {
    let hhmm = time::OffsetDateTime::from_unix_timestamp(since)
        .map(|t| format!("{:02}:{:02}", t.hour(), t.minute()))
        .unwrap_or_else(|_| "?".into());
    let noun = if count == 1 { "alert" } else { "alerts" };
    format!("{count} further {noun} for {check_id} suppressed since {hhmm} UTC")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(message: &str) -> Alert {
        Alert {
            check_id: "doctor.listeners".into(),
            priority: Priority::Normal,
            title: String::new(),
            message: message.into(),
            url: None,
            url_title: None,
            resolved: false,
            retry: RETRY_DEFAULT,
            expire: EXPIRE_DEFAULT,
            created: 1_700_000_000,
        }
    }

    #[test]
    fn a_long_message_is_cut_to_1024_characters_with_the_marker_and_keeps_the_digest() {
        let a = alert(&"é".repeat(5000));
        let digest = digest_line("doctor.listeners", 3, 1_700_000_000);
        let text = compose_message(&a, std::slice::from_ref(&digest));
        assert_eq!(text.chars().count(), MESSAGE_MAX);
        assert!(text.ends_with(&digest), "{text}");
        assert!(text.contains(TRUNCATION_MARKER));
        let short = compose_message(&alert("disk full"), &[]);
        assert_eq!(short, "disk full");
    }

    #[test]
    fn limits_cut_titles_refuse_long_urls_and_check_emergency_fields() {
        let mut a = alert("x");
        a.title = "t".repeat(400);
        normalise(&mut a).unwrap();
        assert_eq!(a.title.chars().count(), TITLE_MAX);
        let mut a = alert("x");
        a.url = Some(format!("https://example.org/{}", "a".repeat(600)));
        assert!(normalise(&mut a).unwrap_err().contains("--url"));
        let mut a = alert("x");
        a.url_title = Some("y".into());
        assert!(normalise(&mut a).unwrap_err().contains("needs --url"));
        let mut a = alert("x");
        a.priority = Priority::Emergency;
        a.retry = 29;
        assert!(normalise(&mut a).unwrap_err().contains("--retry"));
        a.retry = 30;
        a.expire = 10_801;
        assert!(normalise(&mut a).unwrap_err().contains("--expire"));
        a.expire = 10_800;
        normalise(&mut a).unwrap();
        let f = fields(&a, &[]);
        assert!(f.contains(&("retry", "30".into())) && f.contains(&("expire", "10800".into())));
        assert!(f.contains(&("priority", "2".into())));
        a.resolved = true;
        assert!(normalise(&mut a).unwrap_err().contains("never an emergency"));
        let mut a = alert("  ");
        assert!(normalise(&mut a).unwrap_err().contains("empty"));
        assert_eq!(alert("x").title, "");
        let mut a = alert("x");
        normalise(&mut a).unwrap();
        assert_eq!(a.title, DEFAULT_TITLE);
    }

    #[test]
    fn check_ids_are_restricted() {
        for ok in ["doctor.listeners", "guard_doctor_fail", "deploy:prod/api-1"] {
            validate_check_id(ok).unwrap();
        }
        for bad in ["", "a b", "x\ny", "tab\t", &"a".repeat(65), "é"] {
            assert!(validate_check_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn digest_names_the_count_the_check_and_the_time() {
        // 2023-11-14T22:13:20Z
        assert_eq!(digest_line("guard", 12, 1_700_000_000), "12 further alerts for guard suppressed since 22:13 UTC");
        assert_eq!(digest_line("guard", 1, 1_700_000_000), "1 further alert for guard suppressed since 22:13 UTC");
    }

    #[test]
    fn priorities_map_to_the_api_numbers() {
        let v: Vec<i8> =
            [Priority::Low, Priority::Normal, Priority::High, Priority::Emergency].iter().map(|p| p.value()).collect();
        assert_eq!(v, [-1, 0, 1, 2]);
        assert!(!fields(&alert("x"), &[]).iter().any(|(k, _)| *k == "retry" || *k == "expire"));
    }
}
