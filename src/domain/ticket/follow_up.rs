//! After the repair: the call-back (R-TKT-9), supervision notices
//! (R-TKT-10) and cancellation.
use super::*;

impl Ticket {
    /// R-TKT-9: call-back result. Satisfied (or dissatisfied for reasons
    /// outside the unit) closes; dissatisfied because of the unit reopens as
    /// SUPERVISED for the same unit for redo, escalation +1; a redo past the
    /// policy limit also brings a supervision notice (R-TKT-10). The call
    /// tells the caller the result (R-SLA-6).
    pub fn record_revisit(
        &self,
        ctx: &Ctx,
        outcome: RevisitOutcome,
        notes: &str,
    ) -> AppResult<Change> {
        let role = access::authorize(ctx.caller, Method::RecordRevisit)?;
        let action = match outcome {
            RevisitOutcome::NotSatisfiedUnitFault => Action::RevisitReopen,
            _ => Action::RevisitClose,
        };
        let state = self.next_state(action)?;
        let mut next = self.clone();
        next.state = state;
        next.revisit = Some(outcome);
        next.stop_clock(ClockKind::Revisit, ctx.now);
        // The call-back is a contact with the caller that tells the result.
        next.stop_caller_clocks(ctx.now, true);
        if state == TicketState::Closed {
            next.closed_at = Some(ctx.now);
        } else {
            next.escalation_level += 1;
            next.redo_count += 1;
            next.assignee = None;
            next.deadlines = self.restart_clocks(ctx.policy, ctx.now)?;
            if redo_limit_passed(next.redo_count, ctx.policy.supervision.redo_limit) {
                next.issue_notice(
                    SupervisionTrigger::Redo,
                    format!("sent back for redo {} times", next.redo_count),
                    SYSTEM_ACTOR,
                    ctx.now,
                    ctx.now + ctx.policy.supervision.within,
                );
            }
        }
        let details = json!({
            "outcome": outcome,
            "notes": notes,
            "redo_count": next.redo_count,
            "supervision": next.supervision.as_ref().filter(|n| n.issued_at == ctx.now && n.trigger == SupervisionTrigger::Redo),
        });
        Ok(self.changed(
            next,
            ctx,
            "REVISITED",
            role,
            EventTime::server(ctx.now),
            details,
        ))
    }

    /// R-TKT-10: a supervision notice with a new deadline, escalation +1.
    pub fn supervise(
        &self,
        ctx: &Ctx,
        notice: &str,
        resolve_within: Duration,
    ) -> AppResult<Change> {
        let role = access::authorize(ctx.caller, Method::Supervise)?;
        let mut errors = Vec::new();
        if let Err(e) = required_text(notice, "notice") {
            errors.push(e);
        }
        if let Err(e) = positive_duration(resolve_within, "resolve_within") {
            errors.push(e);
        }
        if let Some(e) = AppError::from_violations(errors) {
            return Err(e);
        }
        let state = self.next_state(Action::Supervise)?;
        let mut next = self.clone();
        next.state = state;
        if state == TicketState::Supervised && self.state != TicketState::Supervised {
            // Reopened: clocks start again; the unit stays, the crew is released.
            next.deadlines = self.restart_clocks(ctx.policy, ctx.now)?;
            next.assignee = None;
            next.closed_at = None;
        }
        next.issue_notice(
            SupervisionTrigger::Manual,
            notice.to_string(),
            &ctx.caller.sub,
            ctx.now,
            ctx.now + resolve_within,
        );
        let details = json!({ "notice": notice, "supervise_by": next.deadlines.supervise_by, "escalation_level": next.escalation_level });
        Ok(self.changed(
            next,
            ctx,
            "SUPERVISED",
            role,
            EventTime::server(ctx.now),
            details,
        ))
    }

    /// A duplicate or invalid ticket.
    pub fn cancel(&self, ctx: &Ctx, why: &str) -> AppResult<Change> {
        let role = access::authorize(ctx.caller, Method::CancelTicket)?;
        required_text(why, "reason")?;
        let state = self.next_state(Action::Cancel)?;
        let mut next = self.clone();
        next.state = state;
        next.closed_at = Some(ctx.now);
        Ok(self.changed(
            next,
            ctx,
            "CANCELLED",
            role,
            EventTime::server(ctx.now),
            json!({ "reason": why }),
        ))
    }
}
