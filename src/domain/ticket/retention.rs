//! R-REC-3: a ticket's caller data cleared after the retention period
//! (see `domain::retention`), as an event of its own on the ticket's trail.
use super::{Change, Ctx, EventTime, Ticket};
use crate::domain::Role;
use serde_json::json;

impl Ticket {
    /// The ticket without the caller's name, phone, exact address and map
    /// point. The district stays. Its age is its last service event's: the
    /// clearing does not make it young again.
    pub fn without_personal_data(&self, ctx: &Ctx) -> Change {
        let mut next = self.clone();
        next.caller_name.clear();
        next.caller_phone.clear();
        next.address = self.district.clone().unwrap_or_default();
        next.location = None;
        next.personal_data_removed_at = Some(ctx.now);
        let mut change = self.changed(
            next,
            ctx,
            "PERSONAL_DATA_REMOVED",
            Role::Admin,
            EventTime::server(ctx.now),
            json!({ "retention": "R-REC-3", "last_event_at": self.last_event_at }),
        );
        change.ticket.last_event_at = self.last_event_at;
        change
    }
}
