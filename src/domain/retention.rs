//! R-REC-3: records are kept five years (the policy's `record_retention`);
//! after that a retention run archives them and clears the callers'
//! personal data from the live store. Which records are due, and what is
//! cleared, is decided here.
//!
//! A record is due when it is finished (a ticket closed or cancelled, a
//! visit signed off) and nothing has happened to it for the retention
//! period: a ticket by its last event, a visit by its sign-off. A record
//! cleared once is never due again. What is cleared: a ticket's caller name
//! and phone, its exact address (the district stays, for the reports) and
//! its map point; a visit's resident name and phone. The household a visit
//! measured stays: it is the utility's register of dwellings, which the
//! cold-household archive (R-TMP-10) is kept by.
use crate::domain::Ticket;
use crate::domain::inspection::{Inspection, InspectionState};
use chrono::{DateTime, Duration, Utc};

/// Records whose last activity is strictly before this are due.
pub fn cutoff(now: DateTime<Utc>, retention: Duration) -> DateTime<Utc> {
    now - retention
}

/// Is this ticket due for clearing at `cutoff`?
pub fn ticket_due(t: &Ticket, cutoff: DateTime<Utc>) -> bool {
    !t.state.is_open() && t.last_event_at < cutoff && t.personal_data_removed_at.is_none()
}

/// Is this visit due for clearing at `cutoff`?
pub fn inspection_due(v: &Inspection, cutoff: DateTime<Utc>) -> bool {
    v.state == InspectionState::Finished
        && v.finished_at.is_some_and(|f| f < cutoff)
        && v.personal_data_removed_at.is_none()
}

/// The visit without its resident's personal data.
pub fn clear_inspection(v: &Inspection, now: DateTime<Utc>) -> Inspection {
    let mut next = v.clone();
    next.resident_name.clear();
    next.resident_phone.clear();
    next.personal_data_removed_at = Some(now);
    next.version = v.version + 1;
    next.updated_at = now;
    next
}
