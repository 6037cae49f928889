//! R-TKT-13 recusal: besides the staff member a complaint concerns, a
//! dispatcher or supervisor may mark any staff member as having a conflict
//! of interest with the complainant. A recused staff member never sees the
//! ticket (every read path and the change feed treat it as nonexistent to
//! him) and can never be assigned it.
use super::*;

/// One recusal, as the audit trail also records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recusal {
    /// The staff member who must not see or handle the ticket.
    pub staff: String,
    pub reason: String,
    pub by: String,
    pub at: DateTime<Utc>,
}

impl Ticket {
    /// Staff members kept away from this ticket: the one a complaint
    /// concerns and every recused one.
    pub fn recused_staff(&self) -> impl Iterator<Item = &str> {
        self.subject_staff_id
            .as_deref()
            .into_iter()
            .chain(self.recusals.iter().map(|r| r.staff.as_str()))
    }

    /// R-TKT-13: record a conflict of interest. The member must not hold
    /// the ticket at work (dispatch returns it first); one merely named at
    /// dispatch is released.
    pub fn recuse(&self, ctx: &Ctx, staff: &str, reason_text: &str) -> AppResult<Change> {
        let role = access::authorize(ctx.caller, Method::RecuseStaff)?;
        let state = self.next_state(Action::Recuse)?;
        let staff = staff.trim();
        let mut errors = Vec::new();
        if let Err(e) = required_text(staff, "staff_id") {
            errors.push(e);
        }
        if let Err(e) = required_text(reason_text, "reason") {
            errors.push(e);
        }
        if let Some(e) = AppError::from_violations(errors) {
            return Err(e);
        }
        if self.recused_staff().any(|s| s == staff) {
            return Err(AppError::precondition(
                reason::ALREADY_RECUSED,
                self.subject(),
                format!(
                    "{} is already kept away from this ticket",
                    crate::error::echo(staff)
                ),
            ));
        }
        let holds = self.assignee.as_deref() == Some(staff);
        if holds && matches!(self.state, TicketState::Claimed | TicketState::OnSite) {
            return Err(AppError::precondition(
                reason::RECUSED_HOLDS_TICKET,
                self.subject(),
                "the staff member holds the ticket at work: return it to dispatch first (ReturnTicket)",
            ));
        }
        let mut next = self.clone();
        next.state = state;
        if holds {
            next.assignee = None;
        }
        next.recusals.push(Recusal {
            staff: staff.to_string(),
            reason: reason_text.trim().to_string(),
            by: ctx.caller.sub.clone(),
            at: ctx.now,
        });
        let details = json!({
            "staff": staff,
            "reason": reason_text.trim(),
            "released": holds,
        });
        Ok(self.changed(
            next,
            ctx,
            "STAFF_RECUSED",
            role,
            EventTime::server(ctx.now),
            details,
        ))
    }
}
