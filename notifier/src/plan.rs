//! The pure decision for one alert: the 429 hold, the per-check window with
//! its digest count, stale outbox entries, and the extra lines to send. No
//! IO and no clock: the state, the alert and `now` come in, a [`Plan`] goes
//! out, and `deliver` carries it out.

use crate::api::Quota;
use crate::message::{self, Alert, Priority, ts};
use crate::state::{CheckState, ReceiptState, State};

/// A `last_sent` this far in the future (a clock jump backwards) no longer
/// holds a window shut.
pub const CLOCK_SLACK: i64 = 300;
/// A 429's `X-Limit-App-Reset` is trusted up to a day past the next month's
/// start (quotas reset monthly); a later one is clamped, so a broken proxy
/// cannot silence every alert for years.
pub const MAX_HOLD_PAST_MONTH: i64 = 86_400;

/// What the planner needs besides the state and the alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Window length in seconds.
    pub window: i64,
    /// The alert is an outbox entry being flushed (it may have gone stale).
    pub flush: bool,
}

/// What to do with one alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// An HTTP 429 holds every send until `until`: refuse without a request.
    Held {
        /// Unix time sending resumes.
        until: i64,
        /// The latest quota reading.
        quota: Option<Quota>,
    },
    /// `--resolved` with no delivered alert open: announce nothing, record
    /// the recovery time, and cancel any receipts left (silently).
    NothingToResolve {
        /// The check's stored receipts.
        receipts: Vec<ReceiptState>,
    },
    /// Not sent.
    Suppress(Suppression),
    /// Send it.
    Deliver(Delivery),
}

/// Why an alert is not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The check alerted at `last_sent`, inside the window.
    InWindow {
        /// Unix time of that delivery.
        last_sent: i64,
    },
    /// A flushed entry raised before a later delivery or recovery of its check.
    Superseded,
}

/// A suppressed alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    /// Why.
    pub reason: Reason,
    /// Suppressed in this window so far, this one included.
    pub count: u64,
    /// Unix time of the first of them.
    pub since: i64,
    /// Unix time the window ends, when one is open.
    pub window_ends: Option<i64>,
    /// Whether it adds to the digest count: a stale recovery, or an alert
    /// raised before the check's recovery, does not.
    pub counted: bool,
    /// The latest quota reading.
    pub quota: Option<Quota>,
}

/// An alert to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Lines appended to the message (the digest, the low-quota warning).
    pub extra: Vec<String>,
    /// How many suppressed alerts the digest line reports.
    pub digest: Option<u64>,
    /// Receipts to cancel first (a recovery cancels its check's emergencies).
    pub cancel: Vec<ReceiptState>,
    /// The latest quota reading.
    pub quota: Option<Quota>,
    /// The check's state before the delivery.
    pub check: CheckState,
}

/// Decides what happens to `alert` at `now`.
pub fn plan(state: &State, alert: &Alert, now: i64, s: Settings) -> Plan {
    let check = state.checks.get(&alert.check_id).cloned().unwrap_or_default();
    let quota = state.current_quota(now);
    if let Some(until) = state.hold_until.filter(|h| *h > now) {
        return Plan::Held { until, quota };
    }
    let receipts = state.receipts.get(&alert.check_id).cloned().unwrap_or_default();
    if alert.resolved && !check.open {
        return Plan::NothingToResolve { receipts };
    }
    let superseded = s.flush
        && (check.last_sent.is_some_and(|l| l > alert.created)
            || check.resolved_at.is_some_and(|t| t >= alert.created));
    let in_window = !alert.resolved && check.last_sent.is_some_and(|l| now - l < s.window && l <= now + CLOCK_SLACK);
    if superseded || in_window {
        let reason = match check.last_sent {
            Some(last_sent) if !superseded => Reason::InWindow { last_sent },
            _ => Reason::Superseded,
        };
        return Plan::Suppress(Suppression {
            reason,
            count: check.suppressed + 1,
            since: check.suppressed_since.unwrap_or(now),
            window_ends: check.last_sent.map(|l| l + s.window),
            counted: !alert.resolved && check.resolved_at.is_none_or(|t| t < alert.created),
            quota,
        });
    }
    let mut extra = Vec::new();
    if check.suppressed > 0 {
        extra.push(message::digest_line(&alert.check_id, check.suppressed, check.suppressed_since.unwrap_or(now)));
    }
    if let Some(q) = quota.filter(|q| q.is_low() && alert.priority != Priority::Emergency) {
        extra.push(format!("Pushover quota low: {} of {} messages left until {}", q.remaining, q.limit, ts(q.reset)));
    }
    Plan::Deliver(Delivery {
        extra,
        digest: (check.suppressed > 0).then_some(check.suppressed),
        cancel: if alert.resolved { receipts } else { Vec::new() },
        quota,
        check,
    })
}

/// The check's state once `alert` was delivered at `done`: an alert opens
/// the window, a recovery closes it. The recovery counts from when it was
/// raised (a queued one earlier than its delivery): alerts raised after
/// that are new failures.
pub fn after_delivery(before: &CheckState, alert: &Alert, done: i64) -> CheckState {
    CheckState {
        last_sent: (!alert.resolved).then_some(done),
        open: !alert.resolved,
        suppressed: 0,
        suppressed_since: None,
        resolved_at: if alert.resolved { before.resolved_at.max(Some(alert.created)) } else { before.resolved_at },
    }
}

/// How long an HTTP 429 holds every send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hold {
    /// Unix time sending resumes.
    pub until: i64,
    /// The reset the API (or the stored reading) asked for; later than
    /// `until` when it was clamped.
    pub wanted: i64,
}

impl Hold {
    /// The requested reset was past any monthly reset and was cut short.
    pub fn clamped(&self) -> bool {
        self.wanted > self.until
    }
}

/// The hold after a 429 at `now`: the response's reset if it is in the
/// future, else the stored reading's, else the 1st of next month; never
/// more than a day past the 1st of next month.
pub fn hold_after_429(reset: Option<i64>, stored: Option<Quota>, now: i64) -> Hold {
    let latest = next_month_start(now) + MAX_HOLD_PAST_MONTH;
    let wanted = reset.filter(|t| *t > now).or(stored.map(|q| q.reset)).unwrap_or_else(|| next_month_start(now));
    Hold { until: wanted.min(latest), wanted }
}

/// The first second of next month (UTC): Pushover's quotas reset on the 1st.
pub fn next_month_start(now: i64) -> i64 {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(now) else { return now + 31 * 86_400 };
    let (y, m) = if t.month() == time::Month::December {
        (t.year() + 1, time::Month::January)
    } else {
        (t.year(), t.month().next())
    };
    time::Date::from_calendar_date(y, m, 1)
        .map(|d| d.midnight().assume_utc().unix_timestamp())
        .unwrap_or(now + 31 * 86_400)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2023-11-14T22:13:20Z
    const NOW: i64 = 1_700_000_000;
    const WINDOW: i64 = 1800;
    const SEND: Settings = Settings { window: WINDOW, flush: false };
    const FLUSH: Settings = Settings { window: WINDOW, flush: true };

    fn alert(check_id: &str, priority: Priority, resolved: bool, created: i64) -> Alert {
        Alert {
            check_id: check_id.into(),
            priority,
            title: "OpenClaw".into(),
            message: "m".into(),
            url: None,
            url_title: None,
            resolved,
            retry: message::RETRY_DEFAULT,
            expire: message::EXPIRE_DEFAULT,
            created,
        }
    }

    fn normal(created: i64) -> Alert {
        alert("doctor.listeners", Priority::Normal, false, created)
    }

    fn with_check(check: CheckState) -> State {
        let mut s = State::default();
        s.checks.insert("doctor.listeners".into(), check);
        s
    }

    fn sent_at(t: i64) -> CheckState {
        CheckState { last_sent: Some(t), open: true, ..Default::default() }
    }

    fn receipt(r: &str) -> ReceiptState {
        ReceiptState { receipt: r.into(), sent_at: NOW - 60, expires_at: NOW + 3600, cancel_pending: false }
    }

    fn deliver(p: Plan) -> Delivery {
        match p {
            Plan::Deliver(d) => d,
            other => panic!("expected a delivery, got {other:?}"),
        }
    }

    fn suppress(p: Plan) -> Suppression {
        match p {
            Plan::Suppress(s) => s,
            other => panic!("expected a suppression, got {other:?}"),
        }
    }

    #[test]
    fn a_fresh_check_is_delivered_without_extra_lines() {
        let d = deliver(plan(&State::default(), &normal(NOW), NOW, SEND));
        assert_eq!((d.extra.len(), d.digest, d.cancel.len()), (0, None, 0));
    }

    #[test]
    fn an_active_429_hold_refuses_everything_and_an_expired_one_does_not() {
        let state = State { hold_until: Some(NOW + 10), ..Default::default() };
        assert_eq!(plan(&state, &normal(NOW), NOW, SEND), Plan::Held { until: NOW + 10, quota: None });
        let emergency = alert("guard", Priority::Emergency, false, NOW);
        assert!(matches!(plan(&state, &emergency, NOW, FLUSH), Plan::Held { .. }), "emergency included");
        // The hold ends at its second.
        deliver(plan(&state, &normal(NOW), NOW + 10, SEND));
    }

    #[test]
    fn a_429_holds_until_the_reset_and_clamps_a_far_one() {
        let q = Quota { limit: 10_000, remaining: 5, reset: NOW + 500 };
        assert_eq!(hold_after_429(Some(NOW + 100), Some(q), NOW), Hold { until: NOW + 100, wanted: NOW + 100 });
        // A reset in the past falls back to the stored reading, then to the 1st of next month.
        assert_eq!(hold_after_429(Some(NOW - 1), Some(q), NOW).until, NOW + 500);
        let dec1 = 1_701_388_800; // 2023-12-01T00:00:00Z
        assert_eq!(next_month_start(NOW), dec1);
        assert_eq!(hold_after_429(None, None, NOW), Hold { until: dec1, wanted: dec1 });
        let far = hold_after_429(Some(NOW + 10 * 365 * 86_400), None, NOW);
        assert!(far.clamped());
        assert_eq!(far.until, dec1 + MAX_HOLD_PAST_MONTH);
        assert!(!hold_after_429(Some(dec1 + MAX_HOLD_PAST_MONTH), None, NOW).clamped());
        assert_eq!(next_month_start(1_703_980_800), 1_704_067_200, "December rolls into January");
    }

    #[test]
    fn inside_the_window_an_alert_is_suppressed_and_counted() {
        let state = with_check(CheckState { suppressed: 2, suppressed_since: Some(NOW - 100), ..sent_at(NOW - 600) });
        let s = suppress(plan(&state, &normal(NOW), NOW, SEND));
        assert_eq!(s.reason, Reason::InWindow { last_sent: NOW - 600 });
        assert_eq!((s.count, s.since, s.window_ends, s.counted), (3, NOW - 100, Some(NOW - 600 + WINDOW), true));
        // The first suppression starts the count now.
        let s = suppress(plan(&with_check(sent_at(NOW - 1)), &normal(NOW), NOW, SEND));
        assert_eq!((s.count, s.since), (1, NOW));
    }

    #[test]
    fn a_closed_window_delivers_with_the_digest_of_what_was_suppressed() {
        let state =
            with_check(CheckState { suppressed: 3, suppressed_since: Some(NOW - 1000), ..sent_at(NOW - WINDOW) });
        let d = deliver(plan(&state, &normal(NOW), NOW, SEND));
        assert_eq!(d.digest, Some(3));
        assert_eq!(d.extra, [message::digest_line("doctor.listeners", 3, NOW - 1000)]);
        // Windows are per check: another check is not held by this one.
        deliver(plan(&with_check(sent_at(NOW)), &alert("doctor.sshd", Priority::Normal, false, NOW), NOW, SEND));
        // A last_sent far in the future (the clock jumped back) does not hold the window shut.
        deliver(plan(&with_check(sent_at(NOW + CLOCK_SLACK + 1)), &normal(NOW), NOW, SEND));
    }

    #[test]
    fn emergencies_are_limited_per_check_too() {
        let state = with_check(sent_at(NOW - 60));
        let s = suppress(plan(&state, &alert("doctor.listeners", Priority::Emergency, false, NOW), NOW, SEND));
        assert!(matches!(s.reason, Reason::InWindow { .. }));
    }

    #[test]
    fn a_recovery_is_sent_inside_the_window_cancels_receipts_and_closes_it() {
        let mut state = with_check(CheckState { suppressed: 1, suppressed_since: Some(NOW - 5), ..sent_at(NOW - 60) });
        state.receipts.insert("doctor.listeners".into(), vec![receipt("r1"), receipt("r2")]);
        let recovery = alert("doctor.listeners", Priority::Normal, true, NOW);
        let d = deliver(plan(&state, &recovery, NOW, SEND));
        assert_eq!(d.cancel, [receipt("r1"), receipt("r2")]);
        assert_eq!(d.digest, Some(1));
        let after = after_delivery(&d.check, &recovery, NOW + 1);
        assert_eq!(
            after,
            CheckState { last_sent: None, open: false, suppressed: 0, suppressed_since: None, resolved_at: Some(NOW) }
        );
        // The window is closed: the next failure alerts at once.
        deliver(plan(&with_check(after.clone()), &normal(NOW + 2), NOW + 2, SEND));
        // A second recovery has nothing to resolve, but still reaches the receipts.
        let mut state = with_check(after);
        state.receipts.insert("doctor.listeners".into(), vec![receipt("r1")]);
        assert_eq!(
            plan(&state, &alert("doctor.listeners", Priority::Normal, true, NOW + 3), NOW + 3, SEND),
            Plan::NothingToResolve { receipts: vec![receipt("r1")] }
        );
        // An alert opens the window and keeps the recovery time.
        let opened =
            after_delivery(&CheckState { resolved_at: Some(NOW), ..Default::default() }, &normal(NOW), NOW + 9);
        assert_eq!((opened.last_sent, opened.open, opened.resolved_at), (Some(NOW + 9), true, Some(NOW)));
    }

    #[test]
    fn a_queued_alert_older_than_the_recovery_is_stale_and_not_counted() {
        let state = with_check(CheckState { resolved_at: Some(NOW - 10), ..Default::default() });
        let s = suppress(plan(&state, &normal(NOW - 20), NOW, FLUSH));
        assert_eq!((s.reason, s.counted), (Reason::Superseded, false));
        // One raised after the recovery is a new failure and is delivered.
        deliver(plan(&state, &normal(NOW - 5), NOW, FLUSH));
        // An entry older than a later delivery is superseded and counted.
        let s =
            suppress(plan(&with_check(sent_at(NOW - 1)), &normal(NOW - 30), NOW, Settings { window: 1, flush: true }));
        assert_eq!((s.reason, s.counted, s.count), (Reason::Superseded, true, 1));
        // A fresh send is never "superseded".
        deliver(plan(&with_check(sent_at(NOW - 1)), &normal(NOW - 30), NOW, Settings { window: 1, flush: false }));
    }

    #[test]
    fn below_five_percent_quota_non_emergency_alerts_carry_a_warning_line() {
        let quota = |remaining| State {
            quota: Some(crate::state::QuotaReading {
                quota: Quota { limit: 10_000, remaining, reset: NOW + 86_400 },
                observed_at: NOW - 1,
            }),
            ..Default::default()
        };
        let d = deliver(plan(&quota(499), &normal(NOW), NOW, SEND));
        assert_eq!(d.extra.len(), 1);
        assert!(d.extra[0].starts_with("Pushover quota low: 499 of 10000 messages left until "), "{:?}", d.extra);
        assert!(deliver(plan(&quota(500), &normal(NOW), NOW, SEND)).extra.is_empty(), "exactly 5% is not low");
        let emergency = alert("guard", Priority::Emergency, false, NOW);
        assert!(deliver(plan(&quota(10), &emergency, NOW, SEND)).extra.is_empty(), "no warning on an emergency");
        // A reading from a past period says nothing.
        assert!(deliver(plan(&quota(10), &normal(NOW), NOW + 86_400, SEND)).extra.is_empty());
    }
}
