//! R-SLA-6 (the feedback ladder [000 四.8]) and R-TKT-15 (the reply to the
//! referring platform): which contacts a ticket owes, by when, and the
//! recorded contact that stops their clocks.
use super::*;

wire_enum! {
    /// Whom a contact was with.
    Counterpart {
        /// The caller (投诉人).
        Caller = "CALLER",
        /// The referring platform or body (转件单位); a contact carrying the
        /// outcome is the reply of R-TKT-15.
        Referrer = "REFERRER",
        /// The leadership (major matters, R-TKT-17).
        Leadership = "LEADERSHIP",
        /// The first-responsible person, told by the handling unit.
        FirstResponsible = "FIRST_RESPONSIBLE",
    }
}

wire_enum! {
    /// How the contact was made.
    ContactChannel {
        Phone = "PHONE",
        Sms = "SMS",
        InWriting = "IN_WRITING",
        InPerson = "IN_PERSON",
        /// On the referring platform's own system.
        Platform = "PLATFORM",
    }
}

/// One recorded contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub counterpart: Counterpart,
    pub channel: ContactChannel,
    pub summary: String,
    /// The contact told the result of the matter (not an interim word).
    pub result: bool,
    /// Staff id of whoever made it.
    pub by: String,
    /// When it was made (a trusted device time counts, R-SLA-7).
    pub at: DateTime<Utc>,
}

/// A contact as the caller reports it, before validation.
#[derive(Debug, Clone)]
pub struct NewContact {
    pub counterpart: Counterpart,
    pub channel: ContactChannel,
    pub summary: String,
    pub result: bool,
    pub occurred_at: Option<DateTime<Utc>>,
}

/// Which steps of the ladder [000 四.8] a ticket's type calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ladder {
    /// (1) a consultation or emergency help handled by phone: call-back
    /// within 1 h, the unit's report within 40 min, the result within 24 h.
    Phone,
    /// (2) general help (and complaints, criticism, exposure) transferred to
    /// a unit: the caller and the referring body within 3 days.
    Transferred,
    /// Praise needs no answer.
    None,
}

fn ladder_of(t: TicketType) -> Ladder {
    match t {
        TicketType::Consultation | TicketType::HelpEmergency => Ladder::Phone,
        TicketType::Praise => Ladder::None,
        TicketType::HelpGeneral
        | TicketType::Complaint
        | TicketType::CriticismSuggestion
        | TicketType::MediaExposure => Ladder::Transferred,
    }
}

impl Ticket {
    /// R-SLA-6, R-TKT-15: the contact clocks a fresh ticket owes, from the
    /// call. A call answered on the phone at once owes the caller nothing
    /// more, but a referral still owes its platform the reply.
    pub(super) fn set_follow_up_clocks(&mut self, policy: &Policy, answered_on_call: bool) {
        let f = &policy.feedback;
        let from = self.received_at;
        let d = &mut self.deadlines.follow_up;
        if let Some(r) = &self.referral {
            d.reply_by = Some(r.deadline);
        }
        if answered_on_call {
            return;
        }
        d.long_matter_by = Some(from + f.long_matter_after);
        match ladder_of(self.ticket_type) {
            Ladder::Phone => {
                d.callback_by = Some(from + f.callback_within);
                d.result_by = Some(from + f.result_within);
            }
            Ladder::Transferred => {
                d.caller_update_by = Some(from + f.transferred_within);
                if self.referral.is_some() {
                    d.referrer_update_by = Some(from + f.transferred_within);
                }
            }
            Ladder::None => {}
        }
    }

    /// R-SLA-6: the handling unit reports to the first-responsible person
    /// within 40 min of the (first) dispatch of a phone-handled matter.
    pub(super) fn start_unit_report_clock(
        &mut self,
        policy: &Policy,
        dispatched_at: DateTime<Utc>,
    ) {
        if ladder_of(self.ticket_type) == Ladder::Phone
            && self.deadlines.follow_up.unit_report_by.is_none()
        {
            self.deadlines.follow_up.unit_report_by =
                Some(dispatched_at + policy.feedback.unit_report_within);
        }
    }

    /// The caller heard the result (a contact, or the call-back of R-TKT-9).
    pub(super) fn stop_caller_clocks(&mut self, at: DateTime<Utc>, result: bool) {
        self.stop_clock(ClockKind::Callback, at);
        self.stop_clock(ClockKind::CallerUpdate, at);
        if result {
            self.stop_clock(ClockKind::Result, at);
            self.stop_clock(ClockKind::Feedback, at);
        }
    }

    /// R-SLA-6, R-TKT-15: record a contact; it stops the clocks that waited
    /// for it. Dispatch, supervisors and the crew of the ticket's unit record
    /// contacts, in any state but CANCELLED (the platform is still owed its
    /// reply after the caller's matter is closed).
    pub fn record_contact(&self, ctx: &Ctx, input: NewContact) -> AppResult<Change> {
        let role = access::authorize(ctx.caller, Method::RecordContact)?;
        let state = self.next_state(Action::RecordContact)?;
        required_text(&input.summary, "summary")?;
        if input.counterpart == Counterpart::Referrer
            && self.referral.is_none()
            && self.source != SourceChannel::Government
            && self.source != SourceChannel::Media
        {
            return Err(AppError::precondition(
                reason::NOT_A_REFERRAL,
                self.subject(),
                "the ticket was not referred by a platform or body: there is no referrer to contact",
            ));
        }
        let time = self.device_time(ctx, input.occurred_at)?;
        let at = time.effective;
        let mut next = self.clone();
        next.state = state;
        let again = match input.counterpart {
            Counterpart::Caller => {
                next.stop_caller_clocks(at, input.result);
                Some(ClockKind::CallerUpdate)
            }
            Counterpart::Referrer => {
                next.stop_clock(ClockKind::ReferrerUpdate, at);
                if input.result {
                    next.stop_clock(ClockKind::Reply, at);
                }
                Some(ClockKind::ReferrerUpdate)
            }
            Counterpart::FirstResponsible => {
                next.stop_clock(ClockKind::UnitReport, at);
                None
            }
            Counterpart::Leadership => {
                next.stop_clock(ClockKind::Leadership, at);
                // R-TKT-17: a report in writing before the leader's deadline.
                if input.channel == ContactChannel::InWriting {
                    next.stop_clock(ClockKind::Instruction, at);
                }
                Some(ClockKind::Leadership)
            }
        };
        // R-TKT-17: a major matter owes the next report an interval on.
        if let Some(kind) = again {
            next.owe_again(kind, ctx.policy, at);
        }
        let contact = Contact {
            counterpart: input.counterpart,
            channel: input.channel,
            summary: input.summary.trim().to_string(),
            result: input.result,
            by: ctx.caller.sub.clone(),
            at,
        };
        let details = json!({
            "counterpart": contact.counterpart,
            "channel": contact.channel,
            "summary": contact.summary,
            "result": contact.result,
        });
        next.contacts.push(contact);
        Ok(self.changed(next, ctx, "CONTACT_RECORDED", role, time, details))
    }
}

/// R-SLA-6: a supervisor's approval for a matter beyond 7 days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LongMatterApproval {
    pub by: String,
    pub at: DateTime<Utc>,
    pub note: String,
}

impl Ticket {
    /// R-SLA-6 [000 §2(2)e]: a matter that will take longer than 7 days
    /// needs a supervisor's approval before the 7 days pass (the caller is
    /// told with a contact); recorded once, while unresolved.
    pub fn approve_long_matter(&self, ctx: &Ctx, note: &str) -> AppResult<Change> {
        let role = access::authorize(ctx.caller, Method::ApproveLongMatter)?;
        let state = self.next_state(Action::ApproveLongMatter)?;
        required_text(note, "note")?;
        if self.long_matter.is_some() {
            return Err(AppError::precondition(
                reason::ALREADY_APPROVED,
                self.subject(),
                "a supervisor already approved more than 7 days for this matter",
            ));
        }
        let mut next = self.clone();
        next.state = state;
        next.stop_clock(ClockKind::LongMatter, ctx.now);
        next.long_matter = Some(LongMatterApproval {
            by: ctx.caller.sub.clone(),
            at: ctx.now,
            note: note.trim().to_string(),
        });
        let details = json!({ "note": note.trim() });
        Ok(self.changed(
            next,
            ctx,
            "LONG_MATTER_APPROVED",
            role,
            EventTime::server(ctx.now),
            details,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_has_a_ladder_step() {
        assert_eq!(ladder_of(TicketType::Consultation), Ladder::Phone);
        assert_eq!(ladder_of(TicketType::HelpEmergency), Ladder::Phone);
        assert_eq!(ladder_of(TicketType::HelpGeneral), Ladder::Transferred);
        assert_eq!(ladder_of(TicketType::Complaint), Ladder::Transferred);
        assert_eq!(ladder_of(TicketType::Praise), Ladder::None);
    }
}
