//! Intake (R-TKT-1, R-TKT-2): recording a call as a ticket, repeat repairs
//! and complaints (R-TKT-10, R-TKT-11), and the re-measurement ticket an
//! objection to a temperature measurement raises (R-TMP-7).
use super::*;

impl Change {
    /// R-TKT-11: mark a new ticket as repeating the repair `earlier`.
    pub fn repeat_of(mut self, earlier: Uuid) -> Change {
        self.ticket.repeat_of = Some(earlier);
        self.event.details["repeat_of"] = json!(earlier);
        self
    }

    /// R-OUT-5: the call is about a known supply interruption. The caller is
    /// answered from the outage; no crew goes to the address, so the arrival
    /// and repair clocks do not run (the outage's own clocks do, R-OUT-4);
    /// the caller's feedback clock (R-SLA-6) still runs, and the ticket is
    /// resolved when supply is restored.
    pub fn linked_to(mut self, outage: &Outage) -> Change {
        let t = &mut self.ticket;
        if t.state != TicketState::New {
            return self;
        }
        t.outage_id = Some(outage.id);
        t.deadlines.accept_by = None;
        t.deadlines.arrive_by = None;
        t.deadlines.resolve_by = None;
        self.event.details["outage"] = json!({
            "id": outage.id,
            "kind": outage.kind,
            "expected_restoration": outage.expected_restoration(),
        });
        self
    }

    /// R-TKT-10: the caller had already complained about this issue
    /// `earlier` times; past the limit the new ticket starts under a notice.
    pub fn repeat_complaint(mut self, policy: &Policy, earlier: u64) -> Change {
        if earlier == 0 || self.ticket.state != TicketState::New {
            return self;
        }
        self.event.details["earlier_complaints"] = json!(earlier);
        if complaint_limit_passed(earlier, policy.supervision.complaint_limit) {
            let now = self.ticket.created_at;
            self.ticket.issue_notice(
                SupervisionTrigger::RepeatComplaint,
                format!(
                    "complaint {} by the same caller about the same issue",
                    earlier + 1
                ),
                SYSTEM_ACTOR,
                now,
                now + policy.supervision.within,
            );
            self.event.details["supervision"] = json!(self.ticket.supervision);
        }
        self
    }
}

impl Ticket {
    /// R-TKT-10: the caller's phone as compared between complaints (digits only).
    pub fn caller_key(&self) -> String {
        self.caller_phone
            .chars()
            .filter(char::is_ascii_digit)
            .collect()
    }

    /// R-TKT-10: earlier complaints count back this far.
    pub fn complaint_window_start(&self, policy: &Policy) -> DateTime<Utc> {
        self.received_at - policy.repeat_window
    }
}

impl Ticket {
    /// R-TKT-11: a repair resolved at or after this instant makes a new one at
    /// the same address and category a repeat.
    pub fn repeat_window_start(&self, policy: &Policy) -> DateTime<Utc> {
        self.received_at - policy.repeat_window
    }

    /// R-TKT-1, R-TKT-2: intake by a dispatcher. Deadlines are computed from the category.
    pub fn create(ctx: &Ctx, id: Uuid, input: NewTicket) -> AppResult<Change> {
        let role = access::authorize(ctx.caller, Method::CreateTicket)?;
        let mut errors = Vec::new();
        if let Err(e) = ctx.policy.category(&input.category, "category") {
            errors.push(e);
        }
        if let Err(e) = required_text(&input.caller_phone, "caller_phone") {
            errors.push(e);
        }
        if let Err(e) = required_text(&input.address, "address") {
            errors.push(e);
        }
        if let Err(e) = pipe_diameter(input.pipe_diameter_mm, "pipe_diameter_mm") {
            errors.push(e);
        }
        errors.extend(Self::major_at_intake(ctx, input.major.as_ref()));
        let received_at = input.received_at.unwrap_or(ctx.now);
        if received_at > ctx.now + ctx.policy.time.clock_skew {
            errors.push(AppError::invalid(
                "received_at",
                reason::OUT_OF_RANGE,
                "received_at must not be in the future",
            ));
        } else if received_at < ctx.now - MAX_BACKDATED_INTAKE {
            errors.push(AppError::invalid(
                "received_at",
                reason::OUT_OF_RANGE,
                "received_at may be at most 30 days in the past",
            ));
        }
        if let Some(e) = AppError::from_violations(errors) {
            return Err(e);
        }
        let referral = Referral::at_intake(
            ctx.policy,
            input.source,
            received_at,
            input.referral.clone(),
        )?;
        // R-TKT-2: only dispatch answers a consultation on the call and closes it.
        if input.answered_on_call && role != Role::Dispatcher {
            return Err(AppError::denied(
                reason::ROLE_NOT_ALLOWED,
                "only a dispatcher closes a call answered on the phone; record it for dispatch",
            ));
        }
        Ok(Self::build(ctx, id, role, input, received_at, referral))
    }

    /// A fresh ticket from validated intake data, with its CREATED event.
    fn build(
        ctx: &Ctx,
        id: Uuid,
        role: Role,
        input: NewTicket,
        received_at: DateTime<Utc>,
        referral: Option<Referral>,
    ) -> Change {
        let cat = ctx
            .policy
            .categories
            .get(&input.category)
            .expect("category validated by the caller");
        let complex = input.complex || cat.complex;
        let deadlines = Deadlines {
            feedback_by: Some(ctx.policy.feedback_by(complex, received_at)),
            // R-TKT-1: recorded outside dispatch, it must reach a unit in time.
            forward_by: (role != Role::Dispatcher).then(|| received_at + ctx.policy.forward_within),
            ..ctx
                .policy
                .intake_deadlines(cat, received_at, input.pipe_diameter_mm)
        };
        let state = if input.answered_on_call {
            TicketState::Closed
        } else {
            TicketState::New
        };
        let closed_at = input.answered_on_call.then_some(ctx.now);
        let ticket = Ticket {
            id,
            version: 1,
            state,
            category: input.category.clone(),
            ticket_type: input.ticket_type.unwrap_or(if input.answered_on_call {
                TicketType::Consultation
            } else {
                TicketType::HelpGeneral
            }),
            priority: cat.priority.clone(),
            profile: ctx.policy.profile.clone(),
            source: input.source,
            caller_name: input.caller_name,
            caller_phone: input.caller_phone,
            caller_organisation: input.caller_organisation.trim().to_string(),
            feedback_method: input.feedback_method,
            address: input.address,
            district: Some(input.district.trim().to_string()).filter(|d| !d.is_empty()),
            location: input.location,
            content: input.content,
            received_by: ctx.caller.sub.clone(),
            received_unit: ctx.caller.unit.clone(),
            received_at,
            subject_staff_id: input.subject_staff_id.filter(|s| !s.trim().is_empty()),
            unit: None,
            assignee: None,
            created_at: ctx.now,
            updated_at: ctx.now,
            dispatched_at: None,
            claimed_at: None,
            arrived_at: None,
            resolved_at: None,
            closed_at,
            deadlines: if input.answered_on_call {
                Deadlines::default()
            } else {
                deadlines
            },
            appointment_at: None,
            escalation_level: 0,
            return_count: 0,
            supervision_count: 0,
            arrival: None,
            resolution: None,
            revisit: None,
            extension: None,
            extended_by_secs: 0,
            repeat_of: None,
            breaches: Vec::new(),
            clock_stops: Vec::new(),
            supervision: None,
            redo_count: 0,
            pipe_diameter_mm: input.pipe_diameter_mm,
            complex,
            promised_resolve_by: None,
            outage_id: None,
            referral,
            contacts: Vec::new(),
            suspension: None,
            suspensions: 0,
            recusals: Vec::new(),
            major: None,
            long_matter: None,
            time_limit_told: input.time_limit_told,
            suggested_unit: None,
            last_event_at: ctx.now,
            personal_data_removed_at: None,
        };
        let mut ticket = ticket;
        ticket.set_follow_up_clocks(ctx.policy, input.answered_on_call);
        if let Some(m) = &input.major {
            ticket.set_major(ctx.policy, m, &ctx.caller.sub, ctx.now);
        }
        let event = EventDraft {
            kind: if input.answered_on_call {
                "ANSWERED_ON_CALL"
            } else {
                "CREATED"
            },
            actor_role: role.as_str(),
            from: None,
            to: state,
            time: EventTime::server(ctx.now),
            details: json!({
                "category": ticket.category,
                "type": ticket.ticket_type,
                "priority": ticket.priority,
                "profile": ticket.profile,
                "source": ticket.source.as_str(),
                "complex": ticket.complex,
                "pipe_diameter_mm": ticket.pipe_diameter_mm,
                "referral": ticket.referral,
                "major": ticket.major,
                "time_limit_told": ticket.time_limit_told,
            }),
        };
        Change { ticket, event }
    }

    /// R-TMP-7: a resident's objection to a measurement creates a new
    /// measurement ticket, raised by the inspector, linked to the visit.
    pub fn remeasurement(
        ctx: &Ctx,
        id: Uuid,
        visit: &Inspection,
        objection: &str,
        linked: Option<&Ticket>,
    ) -> AppResult<Change> {
        let role = access::authorize(ctx.caller, Method::FinishInspection)?;
        let category = ctx.policy.temperature.remeasure_category.clone();
        ctx.policy
            .category(&category, "resident_outcome")
            .map_err(|_| {
                AppError::precondition(
                    reason::CATEGORY_NOT_IN_POLICY,
                    visit.subject(),
                    format!("the policy has no re-measurement category {category:?}"),
                )
            })?;
        let address = visit
            .dwelling
            .address
            .clone()
            .or_else(|| linked.map(|t| t.address.clone()))
            .or_else(|| {
                visit
                    .dwelling
                    .household_id
                    .as_ref()
                    .map(|h| format!("household {h}"))
            })
            .unwrap_or_default();
        let input = NewTicket {
            category,
            // R-TKT-14: an objection to a measurement is a complaint.
            ticket_type: Some(TicketType::Complaint),
            source: SourceChannel::Inspection,
            caller_name: linked
                .map_or_else(|| visit.resident_name.clone(), |t| t.caller_name.clone()),
            caller_phone: linked
                .map_or_else(|| visit.resident_phone.clone(), |t| t.caller_phone.clone()),
            caller_organisation: String::new(),
            feedback_method: linked.and_then(|t| t.feedback_method),
            address,
            location: linked.and_then(|t| t.location),
            content: format!(
                "Re-measurement requested by the resident after visit {}: {objection}",
                visit.id
            ),
            received_at: None,
            subject_staff_id: None,
            answered_on_call: false,
            complex: false,
            pipe_diameter_mm: None,
            referral: None,
            major: None,
            district: linked.and_then(|t| t.district.clone()).unwrap_or_default(),
            time_limit_told: false,
        };
        let mut change = Self::build(ctx, id, role, input, ctx.now, None);
        // It waits in the dispatch queue, advised for the unit that measured.
        change.ticket.suggested_unit = Some(visit.unit.clone());
        change.event.details["inspection_id"] = json!(visit.id);
        change.event.details["suggested_unit"] = json!(visit.unit);
        Ok(change)
    }

    /// R-TKT-12: a finished visit for this ticket goes on its audit trail.
    pub fn note_inspection(&self, ctx: &Ctx, visit: &Inspection) -> AppResult<Change> {
        let role = access::authorize(ctx.caller, Method::FinishInspection)?;
        let details = json!({
            "inspection_id": visit.id,
            "verdict": visit.result.verdict,
            "exemptions": visit.result.exemptions,
            "resident_outcome": visit.sign_off.as_ref().map(|s| s.outcome),
            "objection_ticket_id": visit.objection_ticket_id,
        });
        let next = self.clone();
        Ok(self.changed(
            next,
            ctx,
            "INSPECTION_FINISHED",
            role,
            EventTime::server(ctx.now),
            details,
        ))
    }
}
