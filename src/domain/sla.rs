//! Service-level clocks that enforce themselves (section 3): which deadlines
//! of a ticket are still running, which have passed unmet, and the one
//! breach event that records them. A deadline is met at its instant and
//! breached only after it; each (clock, deadline) is breached once.
use crate::domain::TicketState;
use crate::domain::ticket::{Change, EventDraft, Ticket};
use crate::domain::time::EventTime;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ClockKind {
    /// R-SLA-3: the unit accepts (claims) after dispatch.
    Accept,
    /// On site, or the agreed appointment (R-TKT-7).
    Arrive,
    /// Resolved (R-SLA-1, R-SLA-2; moved by extensions R-SLA-5 and supervision notices R-TKT-10).
    Resolve,
    /// Call-back after resolution (R-TKT-9).
    Revisit,
}

/// One deadline that passed unmet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Breach {
    pub kind: ClockKind,
    pub deadline: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
}

impl Ticket {
    /// True once any deadline passed unmet (derived, never stored apart from the breaches).
    pub fn breached(&self) -> bool {
        !self.breaches.is_empty()
    }

    /// Deadlines whose event has not happened yet and that are not yet recorded as breached.
    pub fn running_deadlines(&self) -> Vec<(ClockKind, DateTime<Utc>)> {
        use TicketState as S;
        let d = &self.deadlines;
        let not_arrived = matches!(
            self.state,
            S::New | S::Dispatched | S::Claimed | S::Returned | S::Supervised
        );
        let unresolved = not_arrived || self.state == S::OnSite;
        [
            (
                ClockKind::Accept,
                d.accept_by.filter(|_| self.state == S::Dispatched),
            ),
            (ClockKind::Arrive, d.arrive_by.filter(|_| not_arrived)),
            (ClockKind::Resolve, d.resolve_by.filter(|_| unresolved)),
            (
                ClockKind::Revisit,
                d.revisit_by.filter(|_| self.state == S::Resolved),
            ),
        ]
        .into_iter()
        .filter_map(|(k, at)| at.map(|at| (k, at)))
        .filter(|(k, at)| {
            !self
                .breaches
                .iter()
                .any(|b| b.kind == *k && b.deadline == *at)
        })
        .collect()
    }

    /// When the monitor must look at this ticket next (indexed in storage).
    pub fn next_deadline(&self) -> Option<DateTime<Utc>> {
        self.running_deadlines().into_iter().map(|(_, at)| at).min()
    }

    /// Record every running deadline that has passed by `now`: one BREACHED
    /// event, the ticket flagged, the escalation level raised by one per
    /// breach. None when nothing is due (e.g. another monitor was first).
    pub fn record_breaches(&self, now: DateTime<Utc>) -> Option<Change> {
        let due: Vec<_> = self
            .running_deadlines()
            .into_iter()
            .filter(|(_, at)| now > *at)
            .collect();
        if due.is_empty() {
            return None;
        }
        let mut next = self.clone();
        for (kind, deadline) in &due {
            next.breaches.push(Breach {
                kind: *kind,
                deadline: *deadline,
                recorded_at: now,
            });
        }
        next.escalation_level += due.len() as i32;
        next.version = self.version + 1;
        next.updated_at = now;
        let details = json!({
            "breaches": due.iter().map(|(k, at)| json!({ "clock": k, "deadline": at })).collect::<Vec<_>>(),
            "escalation_level": next.escalation_level,
        });
        Some(Change {
            event: EventDraft {
                kind: "BREACHED",
                actor_role: "system",
                from: Some(self.state),
                to: self.state,
                time: EventTime::server(now),
                details,
            },
            ticket: next,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ticket::{Ctx, NewTicket, SourceChannel};
    use crate::domain::{Caller, Policy, Role};
    use chrono::{Duration, TimeZone};
    use uuid::Uuid;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 2, 0, 0).unwrap()
    }

    fn dispatched() -> Ticket {
        let p = Policy::builtin("water").unwrap();
        let d = Caller {
            sub: "d1".into(),
            roles: vec![Role::Dispatcher],
            unit: "hq".into(),
        };
        let ctx = Ctx {
            policy: &p,
            caller: &d,
            now: t0(),
        };
        let input = NewTicket {
            category: "METER_FAULT".into(),
            source: SourceChannel::Hotline,
            caller_name: String::new(),
            caller_phone: "1".into(),
            address: "a".into(),
            location: None,
            content: String::new(),
            received_at: None,
            subject_staff_id: None,
            answered_on_call: false,
        };
        let t = Ticket::create(&ctx, Uuid::now_v7(), input).unwrap().ticket;
        t.dispatch(&ctx, "north", None).unwrap().ticket
    }

    #[test]
    fn accept_breach_fires_after_the_deadline_not_at_it() {
        let t = dispatched();
        let accept_by = t.deadlines.accept_by.unwrap();
        assert_eq!(t.next_deadline(), Some(accept_by));
        assert!(t.record_breaches(accept_by).is_none(), "met at its instant");
        let ch = t
            .record_breaches(accept_by + Duration::microseconds(1))
            .unwrap();
        assert_eq!(ch.ticket.breaches.len(), 1);
        assert_eq!(ch.ticket.breaches[0].kind, ClockKind::Accept);
        assert_eq!(ch.ticket.escalation_level, 1);
        assert!(ch.ticket.breached());
        // Recorded once: the same deadline never breaches again.
        assert!(
            ch.ticket
                .record_breaches(accept_by + Duration::hours(1))
                .is_none()
        );
        // The next running deadline is the arrival clock.
        assert_eq!(ch.ticket.next_deadline(), t.deadlines.arrive_by);
    }

    #[test]
    fn several_clocks_passing_together_are_one_event() {
        let t = dispatched();
        let ch = t
            .record_breaches(t.deadlines.resolve_by.unwrap() + Duration::seconds(1))
            .unwrap();
        let kinds: Vec<_> = ch.ticket.breaches.iter().map(|b| b.kind).collect();
        assert_eq!(
            kinds,
            [ClockKind::Accept, ClockKind::Arrive, ClockKind::Resolve]
        );
        assert_eq!(ch.ticket.escalation_level, 3);
        assert_eq!(ch.ticket.next_deadline(), None);
    }

    #[test]
    fn a_moved_deadline_runs_again() {
        let t = dispatched();
        let ch = t
            .record_breaches(t.deadlines.accept_by.unwrap() + Duration::seconds(1))
            .unwrap();
        let mut t2 = ch.ticket;
        t2.deadlines.accept_by = Some(t0() + Duration::hours(5));
        assert_eq!(
            t2.next_deadline(),
            Some(t0() + Duration::hours(5)).min(t2.deadlines.arrive_by)
        );
    }
}
