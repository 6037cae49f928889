//! Extensions of the resolve deadline (R-SLA-5): asked by the crew,
//! decided by dispatch, within the policy's cap.
use super::*;

impl Ticket {
    /// R-SLA-5: ask for more time, before resolve_by, within the cap.
    pub fn request_extension(
        &self,
        ctx: &Ctx,
        why: &str,
        extend_by: Duration,
        occurred_at: Option<DateTime<Utc>>,
    ) -> AppResult<Change> {
        let role = access::authorize(ctx.caller, Method::RequestExtension)?;
        let mut errors = Vec::new();
        if let Err(e) = required_text(why, "reason") {
            errors.push(e);
        }
        if let Err(e) = positive_duration(extend_by, "extend_by") {
            errors.push(e);
        }
        if let Some(e) = AppError::from_violations(errors) {
            return Err(e);
        }
        access::check_crew_acts(ctx.caller, self, true)?;
        let state = self.next_state(Action::RequestExtension)?;
        if matches!(&self.extension, Some(x) if x.state == ExtensionState::Pending) {
            return Err(AppError::precondition(
                reason::EXTENSION_PENDING,
                self.subject(),
                "an extension request is already waiting for a decision",
            ));
        }
        let time = self.device_time(ctx, occurred_at)?;
        let resolve_by = self.deadlines.resolve_by.unwrap_or(time.effective);
        if time.effective > resolve_by {
            return Err(AppError::precondition(
                reason::EXTENSION_TOO_LATE,
                self.subject(),
                "an extension must be requested before resolve_by",
            ));
        }
        self.check_extension_cap(ctx.policy, resolve_by + extend_by)?;
        let mut next = self.clone();
        next.state = state;
        next.extension = Some(Extension {
            state: ExtensionState::Pending,
            reason: why.to_string(),
            extend_by_secs: extend_by.num_seconds(),
            requested_by: ctx.caller.sub.clone(),
            decided_by: None,
            decision_note: String::new(),
        });
        let details = json!({ "reason": why, "extend_by_secs": extend_by.num_seconds() });
        Ok(self.changed(next, ctx, "EXTENSION_REQUESTED", role, time, details))
    }

    fn check_extension_cap(&self, policy: &Policy, new_resolve_by: DateTime<Utc>) -> AppResult<()> {
        let resolve_within = self.category_policy(policy)?.resolve_within;
        if new_resolve_by > policy.extension_limit(self.received_at, resolve_within) {
            return Err(AppError::precondition(
                reason::EXTENSION_CAP_EXCEEDED,
                self.subject(),
                "the extension would move resolve_by past the policy maximum",
            ));
        }
        Ok(())
    }

    /// R-SLA-5: the dispatcher approves (resolve_by moves) or refuses.
    pub fn decide_extension(&self, ctx: &Ctx, approve: bool, note: &str) -> AppResult<Change> {
        let role = access::authorize(ctx.caller, Method::DecideExtension)?;
        let state = self.next_state(Action::DecideExtension)?;
        let pending = match &self.extension {
            Some(x) if x.state == ExtensionState::Pending => x,
            _ => {
                return Err(AppError::precondition(
                    reason::NO_PENDING_EXTENSION,
                    self.subject(),
                    "there is no extension request to decide",
                ));
            }
        };
        let mut next = self.clone();
        next.state = state;
        let extend_by = Duration::seconds(pending.extend_by_secs);
        if approve {
            let resolve_by = self.deadlines.resolve_by.unwrap_or(ctx.now) + extend_by;
            self.check_extension_cap(ctx.policy, resolve_by)?;
            next.deadlines.resolve_by = Some(resolve_by);
            next.promised_resolve_by = Some(resolve_by);
            next.extended_by_secs += pending.extend_by_secs;
        }
        next.extension = Some(Extension {
            state: if approve {
                ExtensionState::Approved
            } else {
                ExtensionState::Refused
            },
            decided_by: Some(ctx.caller.sub.clone()),
            decision_note: note.to_string(),
            ..pending.clone()
        });
        let kind = if approve {
            "EXTENSION_APPROVED"
        } else {
            "EXTENSION_REFUSED"
        };
        let details = json!({ "note": note, "resolve_by": next.deadlines.resolve_by });
        Ok(self.changed(next, ctx, kind, role, EventTime::server(ctx.now), details))
    }
}
