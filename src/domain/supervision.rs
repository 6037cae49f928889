//! Supervision notices (督办, R-TKT-10 [002 三(四)]): a written notice with a
//! new deadline and escalation +1, issued by a supervisor by hand or by the
//! system when a ticket was sent back for redo more than the limit, the same
//! caller complained about the same issue more than the limit, or a promised
//! action shows no progress past its deadline.
use crate::domain::sla::ClockKind;
use crate::domain::ticket::Ticket;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Who issues automatic notices, in the audit trail.
pub const SYSTEM_ACTOR: &str = "system:supervision";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SupervisionTrigger {
    /// A supervisor's notice (the Supervise RPC).
    Manual,
    /// Sent back for redo more than `supervision.redo_limit` times.
    Redo,
    /// The same caller complained about the same issue more than `supervision.complaint_limit` times.
    RepeatComplaint,
    /// An appointment or an approved extension passed without the promised progress.
    BrokenPromise,
}

/// The latest notice on a ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SupervisionNotice {
    pub trigger: SupervisionTrigger,
    pub notice: String,
    pub issued_by: String,
    pub issued_at: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
}

impl Ticket {
    /// Put the ticket under a (new) notice: its own deadline, escalation +1.
    pub(crate) fn issue_notice(
        &mut self,
        trigger: SupervisionTrigger,
        notice: String,
        issued_by: &str,
        now: DateTime<Utc>,
        deadline: DateTime<Utc>,
    ) {
        self.escalation_level += 1;
        self.supervision_count += 1;
        self.deadlines.supervise_by = Some(deadline);
        self.supervision = Some(SupervisionNotice {
            trigger,
            notice,
            issued_by: issued_by.to_string(),
            issued_at: now,
            deadline,
        });
    }

    /// The promise a breach of clock `kind` breaks, if the unit made one: an
    /// arrival deadline that is a booked appointment (R-TKT-7), or a resolve
    /// deadline that an approved extension set (R-SLA-5) and nothing since
    /// replaced (a redo restarts the clocks without a promise).
    pub fn broken_promise(&self, kind: ClockKind) -> Option<&'static str> {
        match kind {
            ClockKind::Arrive
                if self.appointment_at.is_some()
                    && self.appointment_at == self.deadlines.arrive_by =>
            {
                Some("appointment")
            }
            ClockKind::Resolve
                if self.promised_resolve_by.is_some()
                    && self.promised_resolve_by == self.deadlines.resolve_by =>
            {
                Some("extension")
            }
            _ => None,
        }
    }
}

/// Redo: sent back more than `limit` times.
pub fn redo_limit_passed(redo_count: i32, limit: i32) -> bool {
    redo_count > limit
}

/// Repeat complaints: `earlier` complaints before this one, so `earlier + 1`
/// in all, more than `limit`.
pub fn complaint_limit_passed(earlier: u64, limit: i32) -> bool {
    earlier + 1 > limit.max(0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_tkt_10_limits_are_more_than() {
        assert!(!redo_limit_passed(2, 2));
        assert!(redo_limit_passed(3, 2));
        assert!(!complaint_limit_passed(1, 2), "the second complaint");
        assert!(complaint_limit_passed(2, 2), "the third complaint");
    }
}
