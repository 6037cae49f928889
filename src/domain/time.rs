//! Which time counts for an event reported by a handheld (R-SLA-7).
use crate::domain::policy::TimeTrust;
use crate::error::{AppError, AppResult, reason};
use chrono::{DateTime, Utc};

/// The time an event counts at, and whether the device's own time was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventTime {
    /// The device time as reported, if any.
    pub reported: Option<DateTime<Utc>>,
    /// The time the clocks use.
    pub effective: DateTime<Utc>,
    /// True when a reported device time was not trusted and the server time counts.
    pub untrusted: bool,
}

impl EventTime {
    /// An event without device time (e.g. at the dispatch desk): the server time counts.
    pub fn server(now: DateTime<Utc>) -> EventTime {
        EventTime {
            reported: None,
            effective: now,
            untrusted: false,
        }
    }

    /// R-SLA-7: a device time counts if it is not in the future beyond the
    /// allowed skew, not before the ticket's previous event, and not older than
    /// the offline window; otherwise the server time counts and the event is
    /// marked untrusted. A device time so far in the future that the clock must
    /// be broken (`max_future`) is bad input.
    pub fn resolve(
        reported: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        previous_event: DateTime<Utc>,
        rules: &TimeTrust,
    ) -> AppResult<EventTime> {
        let Some(device) = reported else {
            return Ok(EventTime::server(now));
        };
        if device > now + rules.max_future {
            return Err(AppError::invalid(
                "occurred_at",
                reason::OCCURRED_AT_IN_FUTURE,
                format!(
                    "occurred_at is more than {} in the future",
                    humantime::format_duration(rules.max_future.to_std().unwrap_or_default())
                ),
            ));
        }
        let trusted = device <= now + rules.clock_skew
            && device >= previous_event
            && device >= now - rules.offline_window;
        Ok(EventTime {
            reported: Some(device),
            effective: if trusted { device } else { now },
            untrusted: !trusted,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn rules() -> TimeTrust {
        TimeTrust::default()
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 4, 0, 0).unwrap()
    }

    #[test]
    fn r_sla_7_device_time_within_rules_counts() {
        let prev = now() - Duration::hours(5);
        let dev = now() - Duration::hours(1);
        let t = EventTime::resolve(Some(dev), now(), prev, &rules()).unwrap();
        assert_eq!(t.effective, dev);
        assert!(!t.untrusted);
    }

    #[test]
    fn r_sla_7_skew_boundary() {
        let prev = now() - Duration::hours(1);
        let at_skew = now() + Duration::minutes(2);
        assert!(
            !EventTime::resolve(Some(at_skew), now(), prev, &rules())
                .unwrap()
                .untrusted
        );
        let past_skew = at_skew + Duration::seconds(1);
        let t = EventTime::resolve(Some(past_skew), now(), prev, &rules()).unwrap();
        assert!(t.untrusted);
        assert_eq!(t.effective, now());
    }

    #[test]
    fn r_sla_7_not_before_previous_event() {
        let prev = now() - Duration::hours(1);
        let t =
            EventTime::resolve(Some(prev - Duration::seconds(1)), now(), prev, &rules()).unwrap();
        assert!(t.untrusted);
        let t = EventTime::resolve(Some(prev), now(), prev, &rules()).unwrap();
        assert!(!t.untrusted);
    }

    #[test]
    fn r_sla_7_offline_window_boundary() {
        let prev = now() - Duration::days(10);
        let edge = now() - Duration::hours(72);
        assert!(
            !EventTime::resolve(Some(edge), now(), prev, &rules())
                .unwrap()
                .untrusted
        );
        let t =
            EventTime::resolve(Some(edge - Duration::seconds(1)), now(), prev, &rules()).unwrap();
        assert!(t.untrusted);
        assert_eq!(t.effective, now());
    }

    #[test]
    fn far_future_device_time_is_bad_input() {
        let prev = now() - Duration::hours(1);
        let e = EventTime::resolve(Some(now() + Duration::hours(25)), now(), prev, &rules())
            .unwrap_err();
        assert_eq!(e.reason(), reason::OCCURRED_AT_IN_FUTURE);
    }

    #[test]
    fn no_device_time_means_server_time() {
        let t = EventTime::resolve(None, now(), now(), &rules()).unwrap();
        assert_eq!(t, EventTime::server(now()));
    }
}
