//! R-TKT-16: a complaint whose demands are unreasonable is suspended, with a
//! reason, only with a supervisor's approval. A dispatcher asks; a
//! supervisor approves (or suspends at once); either resumes it, or
//! withdraws a request not yet approved. While suspended its clocks stand
//! still; on resumption every deadline that still had time left moves by
//! the time the ticket was suspended, so each clock resumes with the time
//! it had left.
use super::*;

/// The current request or suspension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suspension {
    pub reason: String,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    /// The supervisor who approved it; None while only requested.
    pub approved_by: Option<String>,
    /// When the ticket was suspended (approved).
    pub since: Option<DateTime<Utc>>,
    /// The state it left, and returns to.
    pub left: Option<TicketState>,
}

impl Suspension {
    /// A request by `by`, not yet approved.
    fn requested(by: &str, reason: &str, at: DateTime<Utc>) -> Suspension {
        Suspension {
            reason: reason.to_string(),
            requested_by: by.to_string(),
            requested_at: at,
            approved_by: None,
            since: None,
            left: None,
        }
    }

    pub fn is_pending(&self) -> bool {
        self.approved_by.is_none()
    }
}

impl Ticket {
    /// R-TKT-16: a dispatcher asks for a suspension; a supervisor approves
    /// the pending request, or suspends at once with a reason.
    pub fn suspend(&self, ctx: &Ctx, reason_text: &str) -> AppResult<Change> {
        let role = access::authorize(ctx.caller, Method::SuspendTicket)?;
        let suspended = self.next_state(Action::Suspend)?;
        if self.ticket_type != TicketType::Complaint {
            return Err(AppError::precondition(
                reason::NOT_A_COMPLAINT,
                self.subject(),
                format!(
                    "only a complaint may be suspended; this ticket is a {}",
                    self.ticket_type.as_str()
                ),
            ));
        }
        let pending = self.suspension.as_ref().filter(|s| s.is_pending());
        let why = reason_text.trim();
        if why.is_empty() && pending.is_none() {
            return Err(AppError::missing("reason"));
        }
        let now = ctx.now;
        let mut next = self.clone();
        if role == Role::Supervisor {
            let mut s = pending
                .cloned()
                .unwrap_or_else(|| Suspension::requested(&ctx.caller.sub, why, now));
            s.approved_by = Some(ctx.caller.sub.clone());
            s.since = Some(now);
            s.left = Some(self.state);
            let details = json!({
                "reason": s.reason,
                "requested_by": s.requested_by,
                "left": self.state,
                "running": self.running_deadlines().into_iter()
                    .map(|(k, at)| json!({ "clock": k, "deadline": at, "left_secs": (at - now).num_seconds().max(0) }))
                    .collect::<Vec<_>>(),
            });
            next.state = suspended;
            next.suspension = Some(s);
            next.suspensions += 1;
            return Ok(self.changed(
                next,
                ctx,
                "SUSPENDED",
                role,
                EventTime::server(now),
                details,
            ));
        }
        if pending.is_some() {
            return Err(AppError::precondition(
                reason::SUSPENSION_PENDING,
                self.subject(),
                "a suspension request is already waiting for a supervisor",
            ));
        }
        next.suspension = Some(Suspension::requested(&ctx.caller.sub, why, now));
        Ok(self.changed(
            next,
            ctx,
            "SUSPENSION_REQUESTED",
            role,
            EventTime::server(now),
            json!({ "reason": why }),
        ))
    }

    /// R-TKT-16: resume a suspended ticket to the state it left, its clocks
    /// moved on by the time it stood still; or withdraw a request not yet
    /// approved.
    pub fn resume(&self, ctx: &Ctx, note: &str) -> AppResult<Change> {
        let role = access::authorize(ctx.caller, Method::ResumeTicket)?;
        let now = ctx.now;
        let Some(s) = &self.suspension else {
            return Err(AppError::precondition(
                reason::INVALID_TRANSITION,
                self.subject(),
                format!("the ticket is not suspended (state {})", self.state),
            ));
        };
        let mut next = self.clone();
        next.suspension = None;
        if s.is_pending() {
            return Ok(self.changed(
                next,
                ctx,
                "SUSPENSION_WITHDRAWN",
                role,
                EventTime::server(now),
                json!({ "reason": s.reason, "note": note }),
            ));
        }
        let (Some(since), Some(left)) = (s.since, s.left) else {
            return Err(AppError::internal(anyhow::anyhow!(
                "approved suspension without its start"
            )));
        };
        let state = self.state.resumed_to(left).ok_or_else(|| {
            AppError::precondition(
                reason::INVALID_TRANSITION,
                self.subject(),
                format!("cannot resume to {left} from {}", self.state),
            )
        })?;
        next.state = state;
        let paused = (now - since).max(Duration::zero());
        let moved = next.resume_clocks(since, paused);
        let details = json!({
            "note": note,
            "suspended_secs": paused.num_seconds(),
            "clocks": moved.iter().map(|(k, at)| json!({ "clock": k, "deadline": at })).collect::<Vec<_>>(),
        });
        Ok(self.changed(next, ctx, "RESUMED", role, EventTime::server(now), details))
    }

    /// Every deadline of ours that still had time left at `since` (not yet
    /// passed, stopped or breached) moves on by `paused` (a platform's or a
    /// leader's deadline stays where its owner set it); the promises that mirror
    /// one (an appointment, an approved extension, a notice's deadline) move
    /// with it. Returns the moved clocks and their new deadlines.
    fn resume_clocks(
        &mut self,
        since: DateTime<Utc>,
        paused: Duration,
    ) -> Vec<(ClockKind, DateTime<Utc>)> {
        let mut moved = Vec::new();
        for kind in ClockKind::ALL {
            let Some(at) = self.deadline_of(kind) else {
                continue;
            };
            if kind.is_external()
                || at < since
                || self.has_breach(kind, at)
                || self.has_stop(kind, at)
            {
                continue;
            }
            let to = at + paused;
            if self.appointment_at == Some(at) && kind == ClockKind::Arrive {
                self.appointment_at = Some(to);
            }
            if self.promised_resolve_by == Some(at) && kind == ClockKind::Resolve {
                self.promised_resolve_by = Some(to);
            }
            if kind == ClockKind::Supervision
                && let Some(n) = self.supervision.as_mut()
                && n.deadline == at
            {
                n.deadline = to;
            }
            *self.deadline_slot(kind) = Some(to);
            moved.push((kind, to));
        }
        moved
    }
}
