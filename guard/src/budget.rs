//! Fix budgets and back-off, pure: at most `max_attempts` fix attempts per
//! finding in any 24 hours, and after each failed attempt an exponential
//! back-off starting at one tick (one tick, two, four, …). When the budget
//! is spent the finding is only reported until the oldest attempt leaves
//! the window. No remediation runs in this version, so nothing records
//! attempts yet; these rules are what will gate the fixes.

use serde::Serialize;

use crate::state::FindingState;

/// The budget window: 24 hours.
pub const WINDOW_SECS: i64 = 24 * 3600;

/// The budget rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Attempts allowed per finding per window.
    pub max_attempts: u32,
    /// The timer's interval, the first back-off step.
    pub tick_secs: i64,
}

/// Whether a fix may be attempted now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "gate", rename_all = "kebab-case")]
pub enum Gate {
    /// It may; this many attempts remain after this one is counted.
    Allowed {
        /// Attempts left in the window before this one.
        left: u32,
    },
    /// Not before this Unix time.
    BackOff {
        /// Unix time the back-off ends.
        until: i64,
    },
    /// The budget for the window is spent.
    Exhausted,
}

/// Attempts within the window ending at `now`.
pub fn attempts_in_window(f: &FindingState, now: i64) -> u32 {
    f.attempts.iter().filter(|&&t| t > now - WINDOW_SECS && t <= now).count() as u32
}

/// The gate for a finding at `now`.
pub fn gate(f: &FindingState, now: i64, b: Budget) -> Gate {
    let used = attempts_in_window(f, now);
    if used >= b.max_attempts {
        return Gate::Exhausted;
    }
    match f.backoff_until {
        Some(until) if until > now => Gate::BackOff { until },
        _ => Gate::Allowed { left: b.max_attempts - used },
    }
}

/// Records an attempt at `now` that did or did not clear the finding:
/// drops attempts older than the window, sets the back-off after a failure
/// (doubling with each failure in the window, from one tick) and clears it
/// after a success, and marks the budget exhausted once it is spent.
pub fn record_attempt(f: &mut FindingState, now: i64, succeeded: bool, b: Budget) {
    f.attempts.retain(|&t| t > now - WINDOW_SECS);
    f.attempts.push(now);
    if succeeded {
        f.consecutive_failures = 0;
        f.backoff_until = None;
    } else {
        f.consecutive_failures = f.consecutive_failures.saturating_add(1);
        let steps = f.consecutive_failures.saturating_sub(1).min(20);
        f.backoff_until = Some(now.saturating_add(b.tick_secs.saturating_mul(1 << steps)));
    }
    f.budget_exhausted = gate(f, now, b) == Gate::Exhausted;
}

/// Forgets attempts older than the window and lifts an exhaustion the
/// window no longer supports (called every tick).
pub fn refresh(f: &mut FindingState, now: i64, b: Budget) {
    f.attempts.retain(|&t| t > now - WINDOW_SECS);
    f.budget_exhausted = gate(f, now, b) == Gate::Exhausted;
    f.exhaustion_alerted &= f.budget_exhausted;
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Budget = Budget { max_attempts: 3, tick_secs: 600 };

    #[test]
    fn a_fresh_finding_may_be_fixed() {
        assert_eq!(gate(&FindingState::default(), 1000, B), Gate::Allowed { left: 3 });
    }

    #[test]
    fn failures_back_off_one_tick_then_doubling_then_exhaust() {
        let mut f = FindingState::default();
        let t0 = 1_000_000;
        record_attempt(&mut f, t0, false, B);
        assert_eq!(gate(&f, t0 + 599, B), Gate::BackOff { until: t0 + 600 });
        assert_eq!(gate(&f, t0 + 600, B), Gate::Allowed { left: 2 });
        let t1 = t0 + 600;
        record_attempt(&mut f, t1, false, B);
        assert_eq!(gate(&f, t1 + 1, B), Gate::BackOff { until: t1 + 1200 });
        let t2 = t1 + 1200;
        record_attempt(&mut f, t2, false, B);
        assert!(f.budget_exhausted);
        assert_eq!(gate(&f, t2 + 5000, B), Gate::Exhausted, "no 4th attempt within 24 h");
        // The budget returns as the first attempt leaves the window.
        assert_eq!(gate(&f, t0 + WINDOW_SECS, B), Gate::Allowed { left: 1 });
        refresh(&mut f, t0 + WINDOW_SECS, B);
        assert!(!f.budget_exhausted);
        assert_eq!(f.attempts, [t1, t2]);
    }

    #[test]
    fn a_success_clears_the_back_off_but_still_counts() {
        let mut f = FindingState::default();
        record_attempt(&mut f, 100, false, B);
        record_attempt(&mut f, 800, true, B);
        assert_eq!(f.backoff_until, None);
        assert_eq!(gate(&f, 801, B), Gate::Allowed { left: 1 });
        record_attempt(&mut f, 900, false, B);
        assert_eq!(f.backoff_until, Some(1500), "the back-off restarts at one tick after a success");
        assert!(f.budget_exhausted);
    }

    #[test]
    fn huge_failure_counts_do_not_overflow() {
        let mut f = FindingState { consecutive_failures: u32::MAX - 1, ..FindingState::default() };
        record_attempt(&mut f, i64::MAX - 10, false, Budget { max_attempts: 10, tick_secs: 86_400 });
        assert_eq!(f.backoff_until, Some(i64::MAX));
    }
}
