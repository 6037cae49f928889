//! Correcting a ticket's intake fields without erasing them (issue 17,
//! R-TKT-12): a dispatcher fixes an address or a category recorded wrongly,
//! with a reason; the event keeps the old and the new values.
use super::{Change, Ctx, EventTime, Ticket, required_text};
use crate::domain::geo::GeoPoint;
use crate::domain::policy::Deadlines;
use crate::domain::{Method, TicketState, access};
use crate::error::{AppError, AppResult, reason};
use serde_json::{Map, Value, json};

/// The fields to correct; None leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Correction {
    pub address: Option<String>,
    pub location: Option<GeoPoint>,
    pub district: Option<String>,
    pub category: Option<String>,
    pub reason: String,
}

impl Ticket {
    /// The address (with its map point and district) while the ticket is
    /// open; the category until dispatch, after which a unit works to its
    /// deadlines: the priority and the intake deadlines (arrival, resolution,
    /// the caller's feedback) are then computed again from the receipt time,
    /// as if it had been recorded right.
    pub fn correct(&self, ctx: &Ctx, c: &Correction) -> AppResult<Change> {
        let role = access::authorize(ctx.caller, Method::CorrectTicket)?;
        required_text(&c.reason, "reason")?;
        if !self.state.is_open() {
            return Err(AppError::precondition(
                reason::INVALID_TRANSITION,
                self.subject(),
                format!(
                    "a ticket in state {} is not corrected",
                    self.state.api_name()
                ),
            ));
        }
        let mut next = self.clone();
        let (mut before, mut after) = (Map::new(), Map::new());
        let mut note = |field: &str, old: Value, new: Value| {
            if old != new {
                before.insert(field.into(), old);
                after.insert(field.into(), new);
            }
        };
        if let Some(a) = &c.address {
            required_text(a, "address")?;
            note("address", json!(self.address), json!(a));
            next.address = a.clone();
        }
        if let Some(p) = c.location {
            note("location", json!(self.location), json!(p));
            next.location = Some(p);
        }
        if let Some(d) = &c.district {
            let d = Some(d.trim().to_string()).filter(|d| !d.is_empty());
            note("district", json!(self.district), json!(d));
            next.district = d;
        }
        if let Some(code) = c.category.as_deref().filter(|code| *code != self.category) {
            let cat = ctx.policy.category(code, "category")?;
            if self.state != TicketState::New {
                return Err(AppError::precondition(
                    reason::CATEGORY_FIXED_AT_DISPATCH,
                    self.subject(),
                    "the category is corrected until dispatch; a dispatched ticket keeps the deadlines its unit works to",
                ));
            }
            note("category", json!(self.category), json!(code));
            note("priority", json!(self.priority), json!(cat.priority));
            next.category = code.to_string();
            next.priority = cat.priority.clone();
            next.complex = self.complex || cat.complex;
            next.deadlines = Deadlines {
                feedback_by: Some(ctx.policy.feedback_by(next.complex, self.received_at)),
                forward_by: self.deadlines.forward_by,
                follow_up: self.deadlines.follow_up,
                ..ctx
                    .policy
                    .intake_deadlines(cat, self.received_at, self.pipe_diameter_mm)
            };
        }
        if after.is_empty() {
            return Err(AppError::invalid(
                "category",
                reason::MISSING_FIELD,
                "nothing to correct: give a new address, map point, district or category",
            ));
        }
        let details = json!({ "reason": c.reason.trim(), "before": before, "after": after });
        Ok(self.changed(
            next,
            ctx,
            "CORRECTED",
            role,
            EventTime::server(ctx.now),
            details,
        ))
    }
}
