//! Security events (401, 403, 413): one escaped line each on stderr (the
//! journal), never the token or any header value, and at most
//! [`PER_WINDOW`] lines a minute: past that they are counted, and the count
//! is printed once when the window ends, so a flood can neither fill the
//! disk nor slow the server. The limiter is pure.

use std::time::{Duration, Instant};

/// Lines printed per window.
pub(crate) const PER_WINDOW: u32 = 20;

/// The window.
pub(crate) const WINDOW: Duration = Duration::from_secs(60);

/// What to do with one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Print it (after the summary of the last window, if any was suppressed).
    Log {
        /// Events suppressed in the window that just ended.
        suppressed_before: u64,
    },
    /// Count it only.
    Suppress,
}

/// The per-window limiter.
#[derive(Debug, Clone)]
pub(crate) struct Limiter {
    window_start: Instant,
    logged: u32,
    suppressed: u64,
}

impl Limiter {
    /// A limiter whose first window starts at `now`.
    pub(crate) fn new(now: Instant) -> Limiter {
        Limiter { window_start: now, logged: 0, suppressed: 0 }
    }

    /// Ends the window if it is over; returns what it suppressed.
    pub(crate) fn roll(&mut self, now: Instant) -> u64 {
        if now.saturating_duration_since(self.window_start) < WINDOW {
            return 0;
        }
        self.window_start = now;
        self.logged = 0;
        std::mem::take(&mut self.suppressed)
    }

    /// Decides for one event at `now`.
    pub(crate) fn admit(&mut self, now: Instant) -> Admit {
        let suppressed_before = self.roll(now);
        if self.logged < PER_WINDOW {
            self.logged += 1;
            Admit::Log { suppressed_before }
        } else {
            self.suppressed += 1;
            Admit::Suppress
        }
    }
}

/// The line for one event. `path` is the request path, escaped and cut.
pub(crate) fn line(status: u16, class: &str, reason: &str, method: &str, path: &str, remote: &str) -> String {
    let mut p: String = path.chars().take(128).collect();
    if path.chars().count() > 128 {
        p.push('…');
    }
    format!(
        "security: status={status} class={class} reason={reason:?} method={} path={} remote={remote}",
        common::output::sanitize(method),
        common::output::sanitize(&p)
    )
}

/// The summary line of a window.
pub(crate) fn summary(suppressed: u64) -> String {
    format!("security: {suppressed} more security events in the last minute were not logged one by one")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_cut_to_the_window_quota_and_summarised_once() {
        let t0 = Instant::now();
        let mut l = Limiter::new(t0);
        let admits: Vec<Admit> = (0..1000).map(|i| l.admit(t0 + Duration::from_millis(i))).collect();
        assert_eq!(admits.iter().filter(|a| matches!(a, Admit::Log { .. })).count(), PER_WINDOW as usize);
        assert_eq!(l.admit(t0 + WINDOW), Admit::Log { suppressed_before: 1000 - u64::from(PER_WINDOW) });
        assert_eq!(l.roll(t0 + WINDOW * 3), 0, "nothing more was suppressed");
    }

    #[test]
    fn a_quiet_end_of_window_reports_its_count() {
        let t0 = Instant::now();
        let mut l = Limiter::new(t0);
        for _ in 0..25 {
            l.admit(t0);
        }
        assert_eq!(l.roll(t0 + Duration::from_secs(30)), 0, "window still open");
        assert_eq!(l.roll(t0 + WINDOW), 5);
    }

    #[test]
    fn lines_escape_and_cut_the_path() {
        let l = line(
            401,
            "HQ_TOKEN_MISSING",
            "token header missing",
            "GET",
            &format!("/api/\u{1b}[31m{}", "x".repeat(500)),
            "127.0.0.1:9",
        );
        assert!(!l.contains('\u{1b}'), "{l}");
        assert!(l.len() < 400, "{l}");
    }
}
