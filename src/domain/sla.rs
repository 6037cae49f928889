//! Service-level clocks that enforce themselves (section 3): which deadlines
//! of a ticket are still running, which have passed unmet, and the one
//! breach event that records them. A deadline is met at its instant and
//! breached only after it; each (clock, deadline) is breached once.
use crate::domain::supervision::{SYSTEM_ACTOR, SupervisionTrigger};
use crate::domain::ticket::{Change, EventDraft, Ticket};
use crate::domain::time::EventTime;
use crate::domain::{Policy, TicketState};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ClockKind {
    /// R-SLA-3: the unit accepts (claims) after dispatch.
    Accept,
    /// On site, or the agreed appointment (R-TKT-7).
    Arrive,
    /// Resolved (R-SLA-1, R-SLA-2, R-SLA-4; moved by extensions R-SLA-5).
    Resolve,
    /// Call-back after resolution (R-TKT-9).
    Revisit,
    /// R-SLA-6: the caller hears the result (the call-back).
    Feedback,
    /// R-TKT-10: the deadline of a supervision notice.
    Supervision,
    /// R-TKT-1: a ticket recorded outside dispatch is dispatched (or
    /// cancelled) within the forwarding time.
    Forward,
    /// R-SLA-6 ladder: the first-responsible person calls the caller back
    /// (consultations and emergency help handled by phone).
    Callback,
    /// R-SLA-6 ladder: the handling unit reports to the first-responsible person.
    UnitReport,
    /// R-SLA-6 ladder: the caller hears the result (handled by phone).
    Result,
    /// R-SLA-6 ladder: the caller hears back (transferred to a unit).
    CallerUpdate,
    /// R-SLA-6 ladder: the referring body hears back (transferred to a unit).
    ReferrerUpdate,
    /// R-TKT-15: the reply on the referring platform, by its deadline.
    Reply,
    /// R-TKT-17: a major matter is reported to the leadership daily.
    Leadership,
    /// R-TKT-17: by the leader's deadline, resolved or a written report.
    Instruction,
    /// R-SLA-6: resolved within 7 days, or a supervisor approved more.
    LongMatter,
}

impl ClockKind {
    /// Deadlines someone else set (the referring platform's, the leader's):
    /// a suspension (R-TKT-16) stops the clock but does not move them.
    pub fn is_external(self) -> bool {
        matches!(self, ClockKind::Reply | ClockKind::Instruction)
    }

    pub const ALL: [ClockKind; 16] = [
        ClockKind::Accept,
        ClockKind::Arrive,
        ClockKind::Resolve,
        ClockKind::Revisit,
        ClockKind::Feedback,
        ClockKind::Supervision,
        ClockKind::Forward,
        ClockKind::Callback,
        ClockKind::UnitReport,
        ClockKind::Result,
        ClockKind::CallerUpdate,
        ClockKind::ReferrerUpdate,
        ClockKind::Reply,
        ClockKind::Leadership,
        ClockKind::Instruction,
        ClockKind::LongMatter,
    ];
}

/// One deadline that passed unmet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Breach {
    pub kind: ClockKind,
    pub deadline: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
}

/// A clock stopped by its event: the deadline it ran to and the event's
/// effective time (R-SLA-7: a trusted device time counts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockStop {
    pub kind: ClockKind,
    pub deadline: DateTime<Utc>,
    pub at: DateTime<Utc>,
}

impl Ticket {
    /// True once any deadline passed unmet (derived, never stored apart from the breaches).
    pub fn breached(&self) -> bool {
        !self.breaches.is_empty()
    }

    /// The deadline `kind` currently runs to, if it has one.
    pub fn deadline_of(&self, kind: ClockKind) -> Option<DateTime<Utc>> {
        let d = &self.deadlines;
        match kind {
            ClockKind::Accept => d.accept_by,
            ClockKind::Arrive => d.arrive_by,
            ClockKind::Resolve => d.resolve_by,
            ClockKind::Revisit => d.revisit_by,
            ClockKind::Feedback => d.feedback_by,
            ClockKind::Supervision => d.supervise_by,
            ClockKind::Forward => d.forward_by,
            ClockKind::Callback => d.follow_up.callback_by,
            ClockKind::UnitReport => d.follow_up.unit_report_by,
            ClockKind::Result => d.follow_up.result_by,
            ClockKind::CallerUpdate => d.follow_up.caller_update_by,
            ClockKind::ReferrerUpdate => d.follow_up.referrer_update_by,
            ClockKind::Reply => d.follow_up.reply_by,
            ClockKind::Leadership => d.follow_up.leadership_by,
            ClockKind::Instruction => d.follow_up.instruction_by,
            ClockKind::LongMatter => d.follow_up.long_matter_by,
        }
    }

    /// Where the deadline of `kind` is kept (to move it, R-TKT-16).
    pub(crate) fn deadline_slot(&mut self, kind: ClockKind) -> &mut Option<DateTime<Utc>> {
        let d = &mut self.deadlines;
        match kind {
            ClockKind::Accept => &mut d.accept_by,
            ClockKind::Arrive => &mut d.arrive_by,
            ClockKind::Resolve => &mut d.resolve_by,
            ClockKind::Revisit => &mut d.revisit_by,
            ClockKind::Feedback => &mut d.feedback_by,
            ClockKind::Supervision => &mut d.supervise_by,
            ClockKind::Forward => &mut d.forward_by,
            ClockKind::Callback => &mut d.follow_up.callback_by,
            ClockKind::UnitReport => &mut d.follow_up.unit_report_by,
            ClockKind::Result => &mut d.follow_up.result_by,
            ClockKind::CallerUpdate => &mut d.follow_up.caller_update_by,
            ClockKind::ReferrerUpdate => &mut d.follow_up.referrer_update_by,
            ClockKind::Reply => &mut d.follow_up.reply_by,
            ClockKind::Leadership => &mut d.follow_up.leadership_by,
            ClockKind::Instruction => &mut d.follow_up.instruction_by,
            ClockKind::LongMatter => &mut d.follow_up.long_matter_by,
        }
    }

    /// Is the ticket in a state where clock `kind` runs?
    fn clock_runs_in_state(&self, kind: ClockKind) -> bool {
        use TicketState as S;
        // R-TKT-16: a suspended ticket's clocks stand still.
        if self.state == S::Suspended {
            return false;
        }
        let not_arrived = matches!(
            self.state,
            S::New | S::Dispatched | S::Claimed | S::Returned | S::Supervised
        );
        let unresolved = not_arrived || self.state == S::OnSite;
        match kind {
            ClockKind::Accept => self.state == S::Dispatched,
            ClockKind::Arrive => not_arrived,
            ClockKind::Resolve
            | ClockKind::Supervision
            | ClockKind::Leadership
            | ClockKind::Instruction
            | ClockKind::LongMatter => unresolved,
            ClockKind::Forward => self.state == S::New,
            ClockKind::Revisit => self.state == S::Resolved,
            ClockKind::Feedback
            | ClockKind::Callback
            | ClockKind::UnitReport
            | ClockKind::Result
            | ClockKind::CallerUpdate => self.state.is_open(),
            // R-TKT-15: the platform is owed its answer even after the
            // caller's matter is closed; only a cancelled referral is not.
            ClockKind::ReferrerUpdate | ClockKind::Reply => self.state != S::Cancelled,
        }
    }

    pub(crate) fn has_breach(&self, kind: ClockKind, deadline: DateTime<Utc>) -> bool {
        self.breaches
            .iter()
            .any(|b| b.kind == kind && b.deadline == deadline)
    }

    pub(crate) fn has_stop(&self, kind: ClockKind, deadline: DateTime<Utc>) -> bool {
        self.clock_stops
            .iter()
            .any(|s| s.kind == kind && s.deadline == deadline)
    }

    /// R-TKT-17: a major matter's reports are owed again and again while
    /// it is unresolved: clock `kind`, concluded (kept or missed) at `from`,
    /// runs again to `from` + its period. The one place a clock repeats,
    /// for the monitor's breaches and for the contacts alike.
    pub(crate) fn owe_again(&mut self, kind: ClockKind, policy: &Policy, from: DateTime<Utc>) {
        if self.deadline_of(kind).is_some()
            && let Some(every) = self.repeats_every(kind, policy)
        {
            *self.deadline_slot(kind) = Some(from + every);
        }
    }

    /// How often clock `kind` is owed again (None: once).
    fn repeats_every(&self, kind: ClockKind, policy: &Policy) -> Option<chrono::Duration> {
        use TicketState as S;
        let unresolved = !matches!(
            self.state,
            S::Resolved | S::Closed | S::Cancelled | S::Suspended
        );
        if self.major.is_none() || !unresolved {
            return None;
        }
        match kind {
            ClockKind::Leadership => Some(policy.feedback.leadership_every),
            ClockKind::CallerUpdate | ClockKind::ReferrerUpdate => {
                Some(policy.feedback.major_contact_every)
            }
            _ => None,
        }
    }

    /// Deadlines whose event has not happened yet and that are not yet recorded as breached.
    pub fn running_deadlines(&self) -> Vec<(ClockKind, DateTime<Utc>)> {
        ClockKind::ALL
            .into_iter()
            .filter(|k| self.clock_runs_in_state(*k))
            .filter_map(|k| self.deadline_of(k).map(|at| (k, at)))
            .filter(|(k, at)| !self.has_breach(*k, *at) && !self.has_stop(*k, *at))
            .collect()
    }

    /// When the monitor must look at this ticket next (indexed in storage).
    pub fn next_deadline(&self) -> Option<DateTime<Utc>> {
        self.running_deadlines().into_iter().map(|(_, at)| at).min()
    }

    /// The event that clock `kind` waits for happened at `at`: record the
    /// stop once per deadline (R-RPT-1 judges it against the deadline).
    pub(crate) fn stop_clock(&mut self, kind: ClockKind, at: DateTime<Utc>) {
        if let Some(deadline) = self.deadline_of(kind)
            && !self.has_stop(kind, deadline)
        {
            self.clock_stops.push(ClockStop { kind, deadline, at });
        }
    }

    /// R-RPT-1: was clock `kind` kept? Some(false) if any of its deadlines was
    /// missed: stopped late, or breached and never stopped at or before that
    /// deadline (a late-synced device time that proves the event was on time
    /// counts, R-SLA-7). Some(true) if it was stopped and always in time.
    /// None while it never concluded.
    pub fn on_time(&self, kind: ClockKind) -> Option<bool> {
        let stops = self.clock_stops.iter().filter(|s| s.kind == kind);
        if stops.clone().any(|s| s.at > s.deadline) {
            return Some(false);
        }
        let unexcused = self.breaches.iter().any(|b| {
            b.kind == kind
                && !self
                    .clock_stops
                    .iter()
                    .any(|s| s.kind == kind && s.deadline == b.deadline)
        });
        if unexcused {
            return Some(false);
        }
        stops.clone().next().map(|_| true)
    }

    /// R-ASM-1: every deadline this ticket missed, once each: breaches the
    /// monitor recorded, and events that stopped their clock late (before
    /// the monitor got to them). A breach whose event proved, by a trusted
    /// device time synced later, to have come in time is not missed
    /// (R-SLA-7, as `on_time` judges it).
    pub fn missed_deadlines(&self) -> Vec<(ClockKind, DateTime<Utc>)> {
        let excused = |kind: ClockKind, deadline: DateTime<Utc>| {
            self.clock_stops
                .iter()
                .any(|s| s.kind == kind && s.deadline == deadline && s.at <= deadline)
        };
        let mut missed: Vec<(ClockKind, DateTime<Utc>)> = self
            .breaches
            .iter()
            .filter(|b| !excused(b.kind, b.deadline))
            .map(|b| (b.kind, b.deadline))
            .collect();
        for s in &self.clock_stops {
            if s.at > s.deadline && !missed.contains(&(s.kind, s.deadline)) {
                missed.push((s.kind, s.deadline));
            }
        }
        missed
    }

    /// Record every running deadline that has passed by `now`: one BREACHED
    /// event, the ticket flagged, the escalation level raised by one per
    /// breach. A passed deadline the unit had promised (an appointment, an
    /// approved extension) also brings a supervision notice (R-TKT-10).
    /// None when nothing is due (e.g. another monitor was first).
    pub fn record_breaches(&self, policy: &Policy, now: DateTime<Utc>) -> Option<Change> {
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
            next.owe_again(*kind, policy, *deadline);
        }
        next.escalation_level += due.len() as i32;
        let broken = due.iter().find_map(|(k, _)| self.broken_promise(*k));
        if let Some(promise) = broken {
            next.issue_notice(
                SupervisionTrigger::BrokenPromise,
                format!("no progress past the promised {promise}"),
                SYSTEM_ACTOR,
                now,
                now + policy.supervision.within,
            );
        }
        next.version = self.version + 1;
        next.updated_at = now;
        let details = json!({
            "breaches": due.iter().map(|(k, at)| json!({ "clock": k, "deadline": at })).collect::<Vec<_>>(),
            "escalation_level": next.escalation_level,
            "supervision": broken.and(next.supervision.as_ref()),
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

    fn policy() -> Policy {
        Policy::builtin("water").unwrap()
    }

    fn dispatched() -> Ticket {
        let p = policy();
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
            ticket_type: None,
            source: SourceChannel::Hotline,
            caller_name: String::new(),
            caller_phone: "1".into(),
            caller_organisation: String::new(),
            feedback_method: None,
            address: "a".into(),
            location: None,
            content: String::new(),
            received_at: None,
            subject_staff_id: None,
            answered_on_call: false,
            complex: false,
            pipe_diameter_mm: None,
            referral: None,
            major: None,
            district: String::new(),
            time_limit_told: false,
        };
        let t = Ticket::create(&ctx, Uuid::now_v7(), input).unwrap().ticket;
        t.dispatch(&ctx, "north", None).unwrap().ticket
    }

    #[test]
    fn accept_breach_fires_after_the_deadline_not_at_it() {
        let t = dispatched();
        let accept_by = t.deadlines.accept_by.unwrap();
        assert_eq!(t.next_deadline(), Some(accept_by));
        assert!(
            t.record_breaches(&policy(), accept_by).is_none(),
            "met at its instant"
        );
        let ch = t
            .record_breaches(&policy(), accept_by + Duration::microseconds(1))
            .unwrap();
        assert_eq!(ch.ticket.breaches.len(), 1);
        assert_eq!(ch.ticket.breaches[0].kind, ClockKind::Accept);
        assert_eq!(ch.ticket.escalation_level, 1);
        assert!(ch.ticket.breached());
        // Recorded once: the same deadline never breaches again.
        assert!(
            ch.ticket
                .record_breaches(&policy(), accept_by + Duration::hours(1))
                .is_none()
        );
        // The next running deadline is the arrival clock.
        assert_eq!(ch.ticket.next_deadline(), t.deadlines.arrive_by);
    }

    #[test]
    fn several_clocks_passing_together_are_one_event() {
        let t = dispatched();
        let ch = t
            .record_breaches(
                &policy(),
                t.deadlines.resolve_by.unwrap() + Duration::seconds(1),
            )
            .unwrap();
        let kinds: Vec<_> = ch.ticket.breaches.iter().map(|b| b.kind).collect();
        assert_eq!(
            kinds,
            [ClockKind::Accept, ClockKind::Arrive, ClockKind::Resolve]
        );
        assert_eq!(ch.ticket.escalation_level, 3);
        // R-SLA-6: only the caller's feedback clock (2 days from the call) still runs.
        assert_eq!(ch.ticket.next_deadline(), t.deadlines.feedback_by);
        assert_eq!(t.deadlines.feedback_by, Some(t0() + Duration::days(2)));
    }

    /// R-RPT-1: a clock is kept when its event came in time, missed when
    /// late or breached; a late-synced device time that proves the event
    /// was in time excuses the breach (R-SLA-7).
    #[test]
    fn on_time_outcomes() {
        let t = dispatched();
        let accept_by = t.deadlines.accept_by.unwrap();
        assert_eq!(t.on_time(ClockKind::Accept), None, "not concluded");

        let mut kept = t.clone();
        kept.stop_clock(ClockKind::Accept, accept_by);
        assert_eq!(
            kept.on_time(ClockKind::Accept),
            Some(true),
            "at the deadline"
        );
        assert_eq!(
            kept.next_deadline(),
            t.deadlines.arrive_by.min(t.deadlines.feedback_by)
        );

        let mut late = t.clone();
        late.stop_clock(ClockKind::Accept, accept_by + Duration::seconds(1));
        assert_eq!(late.on_time(ClockKind::Accept), Some(false));

        let breached = t
            .record_breaches(&policy(), accept_by + Duration::seconds(1))
            .unwrap()
            .ticket;
        assert_eq!(
            breached.on_time(ClockKind::Accept),
            Some(false),
            "breached, no event yet"
        );
        let mut excused = breached.clone();
        excused.stop_clock(ClockKind::Accept, accept_by - Duration::seconds(30));
        assert_eq!(excused.on_time(ClockKind::Accept), Some(true));
        let mut confirmed = breached;
        confirmed.stop_clock(ClockKind::Accept, accept_by + Duration::minutes(5));
        assert_eq!(confirmed.on_time(ClockKind::Accept), Some(false));
    }

    /// R-TKT-10: a missed appointment is a broken promise: the breach brings
    /// an automatic supervision notice with its own deadline.
    #[test]
    fn r_tkt_10_missed_appointment_brings_a_notice() {
        let p = policy();
        let mut t = dispatched();
        let appointment = t0() + Duration::minutes(30);
        t.appointment_at = Some(appointment);
        t.deadlines.arrive_by = Some(appointment);
        t.state = TicketState::Claimed;
        let now = appointment + Duration::seconds(1);
        let ch = t.record_breaches(&p, now).unwrap();
        let n = ch.ticket.supervision.as_ref().expect("a notice");
        assert_eq!(n.trigger, SupervisionTrigger::BrokenPromise);
        assert_eq!(n.deadline, now + p.supervision.within);
        assert_eq!(ch.ticket.deadlines.supervise_by, Some(n.deadline));
        assert_eq!(ch.ticket.supervision_count, 1);
        assert_eq!(ch.ticket.escalation_level, 2, "breach + notice");
        // Without a promise, the same breach brings no notice.
        let mut plain = t.clone();
        plain.appointment_at = None;
        let ch = plain.record_breaches(&p, now).unwrap();
        assert!(ch.ticket.supervision.is_none());
        assert_eq!(ch.ticket.escalation_level, 1);
    }

    #[test]
    fn a_moved_deadline_runs_again() {
        let t = dispatched();
        let ch = t
            .record_breaches(
                &policy(),
                t.deadlines.accept_by.unwrap() + Duration::seconds(1),
            )
            .unwrap();
        let mut t2 = ch.ticket;
        t2.deadlines.accept_by = Some(t0() + Duration::hours(5));
        assert_eq!(
            t2.next_deadline(),
            Some(t0() + Duration::hours(5)).min(t2.deadlines.arrive_by)
        );
    }
}
