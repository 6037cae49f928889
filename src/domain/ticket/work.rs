//! The crew's work on a ticket: dispatch, claim, return, appointment,
//! arrival on site and completion (R-SLA-3, R-TKT-4 to R-TKT-8).
use super::*;

impl Ticket {
    /// Send to a unit, optionally naming a crew member. Unit existence is the service's check.
    pub fn dispatch(&self, ctx: &Ctx, unit: &str, assignee: Option<&str>) -> AppResult<Change> {
        let role = access::authorize(ctx.caller, Method::DispatchTicket)?;
        let state = self.next_state(Action::Dispatch)?;
        if let Some(a) = assignee
            && self.recused_staff().any(|s| s == a)
        {
            return Err(AppError::denied(
                reason::RECUSED,
                "the ticket may not be assigned to a staff member kept away from it (R-TKT-13)",
            ));
        }
        let time = EventTime::server(ctx.now);
        let mut next = self.clone();
        next.state = state;
        next.unit = Some(unit.to_string());
        next.assignee = assignee.map(str::to_string);
        next.dispatched_at = Some(time.effective);
        next.stop_clock(ClockKind::Forward, time.effective);
        next.deadlines.accept_by = Some(ctx.policy.accept_by(time.effective));
        next.start_unit_report_clock(ctx.policy, time.effective);
        Ok(self.changed(
            next,
            ctx,
            "DISPATCHED",
            role,
            time,
            json!({ "unit": unit, "assignee": assignee }),
        ))
    }

    /// R-TKT-4: exclusive claim by a crew member of the ticket's unit.
    pub fn claim(&self, ctx: &Ctx, occurred_at: Option<DateTime<Utc>>) -> AppResult<Change> {
        let role = access::authorize(ctx.caller, Method::ClaimTicket)?;
        if matches!(self.state, TicketState::Claimed | TicketState::OnSite) {
            let who = if self.assignee.as_deref() == Some(ctx.caller.sub.as_str()) {
                "you"
            } else {
                "another crew member"
            };
            return Err(AppError::aborted(
                reason::TICKET_ALREADY_CLAIMED,
                format!("the ticket is already claimed by {who}"),
            ));
        }
        // Someone else claimed it since its last dispatch and has moved on
        // (on site, repaired, closed...): a crew app must still learn that
        // someone took it, whatever state the winner left it in.
        let claimed_since_dispatch = self.state != TicketState::Dispatched
            && matches!((self.claimed_at, self.dispatched_at), (Some(c), Some(d)) if c >= d);
        if claimed_since_dispatch
            && self
                .assignee
                .as_deref()
                .is_some_and(|a| a != ctx.caller.sub)
        {
            return Err(AppError::aborted(
                reason::TICKET_ALREADY_CLAIMED,
                "the ticket was claimed by another crew member",
            ));
        }
        access::check_crew_acts(ctx.caller, self, false)?;
        let state = self.next_state(Action::Claim)?;
        if let Some(a) = self.assignee.as_deref()
            && a != ctx.caller.sub
        {
            return Err(AppError::denied(
                reason::NOT_TICKET_HOLDER,
                "the ticket was dispatched to another crew member",
            ));
        }
        let time = self.device_time(ctx, occurred_at)?;
        let mut next = self.clone();
        next.state = state;
        next.assignee = Some(ctx.caller.sub.clone());
        next.claimed_at = Some(time.effective);
        next.stop_clock(ClockKind::Accept, time.effective);
        // R-SLA-2: an arrival clock counted from acceptance starts now (not
        // for a call answered from a supply interruption, R-OUT-5, nor over
        // an agreed appointment).
        if let Some(cat) = ctx.policy.categories.get(&self.category)
            && cat.arrive_from == ArriveFrom::Acceptance
            && self.outage_id.is_none()
            && self.appointment_at.is_none()
        {
            next.deadlines.arrive_by = Some(time.effective + cat.arrive_within);
        }
        Ok(self.changed(
            next,
            ctx,
            "CLAIMED",
            role,
            time,
            json!({ "assignee": ctx.caller.sub }),
        ))
    }

    /// R-TKT-5: back to dispatch. A crew member may return within the window
    /// after dispatch and before arrival; later, only a dispatcher (whose
    /// return is the approval).
    pub fn return_to_dispatch(
        &self,
        ctx: &Ctx,
        why: &str,
        occurred_at: Option<DateTime<Utc>>,
    ) -> AppResult<Change> {
        let role = access::authorize(ctx.caller, Method::ReturnTicket)?;
        required_text(why, "reason")?;
        let state = self.next_state(Action::Return)?;
        let time = match role {
            Role::Crew => {
                let holding = matches!(self.state, TicketState::Claimed | TicketState::OnSite);
                access::check_crew_acts(ctx.caller, self, holding)?;
                let time = self.device_time(ctx, occurred_at)?;
                let dispatched = self.dispatched_at.unwrap_or(self.created_at);
                if self.state == TicketState::OnSite {
                    return Err(AppError::precondition(
                        reason::RETURN_WINDOW_CLOSED,
                        self.subject(),
                        "after arrival on site only a dispatcher can return the ticket",
                    ));
                }
                if !ctx.policy.within_return_window(dispatched, time.effective) {
                    return Err(AppError::precondition(
                        reason::RETURN_WINDOW_CLOSED,
                        self.subject(),
                        "the return window has passed: ask a dispatcher to return the ticket",
                    ));
                }
                time
            }
            _ => EventTime::server(ctx.now),
        };
        let mut next = self.clone();
        next.state = state;
        next.unit = None;
        next.assignee = None;
        next.return_count += 1;
        next.deadlines.accept_by = None;
        next.appointment_at = None;
        let details = json!({ "reason": why, "unit": self.unit, "approved_by_dispatch": role == Role::Dispatcher });
        Ok(self.changed(next, ctx, "RETURNED", role, time, details))
    }

    /// R-TKT-7: a visit time agreed with the customer becomes the arrival deadline.
    pub fn schedule_appointment(
        &self,
        ctx: &Ctx,
        appointment_at: DateTime<Utc>,
        occurred_at: Option<DateTime<Utc>>,
    ) -> AppResult<Change> {
        let role = access::authorize(ctx.caller, Method::ScheduleAppointment)?;
        access::check_crew_acts(ctx.caller, self, true)?;
        let state = self.next_state(Action::ScheduleAppointment)?;
        let cat = self.category_policy(ctx.policy)?;
        if !cat.appointment {
            return Err(AppError::precondition(
                reason::APPOINTMENT_NOT_ALLOWED,
                self.subject(),
                format!("category {} does not allow appointments", self.category),
            ));
        }
        let time = self.device_time(ctx, occurred_at)?;
        // The appointment must be agreed while the arrival clock still runs.
        if let Some(arrive_by) = self.deadlines.arrive_by
            && time.effective > arrive_by
        {
            return Err(AppError::precondition(
                reason::ARRIVAL_DEADLINE_PASSED,
                self.subject(),
                "the arrival deadline has passed; an appointment can no longer replace it",
            ));
        }
        // ... and lie between the booking and the resolve deadline.
        let latest = self.deadlines.resolve_by.unwrap_or(appointment_at);
        if appointment_at < time.effective || appointment_at > latest {
            return Err(AppError::invalid(
                "appointment_time",
                reason::APPOINTMENT_OUTSIDE_WINDOW,
                "the appointment must lie between now and the resolve deadline",
            ));
        }
        let mut next = self.clone();
        next.state = state;
        next.appointment_at = Some(appointment_at);
        next.deadlines.arrive_by = Some(appointment_at);
        let details = json!({ "appointment_time": appointment_at, "previous_arrive_by": self.deadlines.arrive_by });
        Ok(self.changed(next, ctx, "APPOINTMENT_SCHEDULED", role, time, details))
    }

    /// R-TKT-6: check-in on site; a far-away check-in is stored but unverified.
    pub fn arrive(&self, ctx: &Ctx, check_in: &CheckIn) -> AppResult<Change> {
        let &CheckIn {
            location,
            accuracy_m,
            pipe_diameter_mm,
            occurred_at,
        } = check_in;
        let role = access::authorize(ctx.caller, Method::RecordArrival)?;
        pipe_diameter(pipe_diameter_mm, "pipe_diameter_mm")?;
        access::check_crew_acts(ctx.caller, self, true)?;
        let state = self.next_state(Action::Arrive)?;
        let time = self.device_time(ctx, occurred_at)?;
        let distance_m = self.location.map(|p| p.distance_m(&location));
        let verified = distance_m
            .map(|d| geo::checkin_verified(d, accuracy_m, ctx.policy.checkin_distance_m))
            .unwrap_or(true);
        let mut next = self.clone();
        next.state = state;
        next.arrived_at = Some(time.effective);
        next.stop_clock(ClockKind::Arrive, time.effective);
        next.pipe_diameter_mm = pipe_diameter_mm.or(self.pipe_diameter_mm);
        next.arrival = Some(Arrival {
            location,
            accuracy_m,
            verified,
            distance_m,
        });
        let cat = self.category_policy(ctx.policy)?;
        if let Some(resolve_by) = ctx.policy.resolve_by_after_arrival(
            cat,
            time.effective,
            Duration::seconds(self.extended_by_secs),
            next.pipe_diameter_mm,
        ) {
            // An extension promised before arrival moves with the deadline it extended.
            if self.promised_resolve_by.is_some()
                && self.promised_resolve_by == self.deadlines.resolve_by
            {
                next.promised_resolve_by = Some(resolve_by);
            }
            next.deadlines.resolve_by = Some(resolve_by);
        }
        let details = json!({
            "latitude": location.latitude(),
            "longitude": location.longitude(),
            "accuracy_m": accuracy_m,
            "distance_m": distance_m,
            "verified": verified,
            "pipe_diameter_mm": next.pipe_diameter_mm,
        });
        Ok(self.changed(next, ctx, "ARRIVED", role, time, details))
    }

    /// R-TKT-8: the repair is done; the revisit clock starts (R-TKT-9).
    pub fn complete(
        &self,
        ctx: &Ctx,
        resolution: Resolution,
        occurred_at: Option<DateTime<Utc>>,
    ) -> AppResult<Change> {
        let role = access::authorize(ctx.caller, Method::CompleteRepair)?;
        required_text(&resolution.code, "resolution.code")?;
        access::check_crew_acts(ctx.caller, self, true)?;
        let state = self.next_state(Action::Complete)?;
        let time = self.device_time(ctx, occurred_at)?;
        let mut next = self.clone();
        next.state = state;
        next.resolved_at = Some(time.effective);
        next.stop_clock(ClockKind::Resolve, time.effective);
        next.stop_clock(ClockKind::Supervision, time.effective);
        // R-TKT-17: resolved by the leader's deadline, no written report is due;
        // R-SLA-6: resolved within 7 days, no approval is needed.
        next.stop_clock(ClockKind::Instruction, time.effective);
        next.stop_clock(ClockKind::LongMatter, time.effective);
        next.deadlines.revisit_by = Some(ctx.policy.revisit_by(time.effective));
        let details = serde_json::to_value(&resolution).unwrap_or_default();
        next.resolution = Some(resolution);
        Ok(self.changed(next, ctx, "RESOLVED", role, time, details))
    }

    /// R-OUT-5: supply is back, so a call linked to the outage is resolved
    /// with it (the call-back follows as for any repair, R-TKT-9). None when
    /// the ticket is past that already (resolved, closed, cancelled).
    pub fn resolve_with(&self, ctx: &Ctx, outage: &Outage) -> AppResult<Option<Change>> {
        let role = access::authorize(ctx.caller, Method::RestoreSupply)?;
        let Some(state) = self.state.next(Action::SupplyRestored) else {
            return Ok(None);
        };
        let restored = outage.restored_at.unwrap_or(ctx.now);
        let time = EventTime {
            reported: None,
            effective: restored.max(self.last_event_at),
            untrusted: false,
        };
        let mut next = self.clone();
        next.state = state;
        next.resolved_at = Some(time.effective);
        next.stop_clock(ClockKind::Resolve, time.effective);
        next.stop_clock(ClockKind::Supervision, time.effective);
        // R-TKT-17: resolved by the leader's deadline, no written report is due;
        // R-SLA-6: resolved within 7 days, no approval is needed.
        next.stop_clock(ClockKind::Instruction, time.effective);
        next.stop_clock(ClockKind::LongMatter, time.effective);
        next.deadlines.revisit_by = Some(ctx.policy.revisit_by(time.effective));
        next.resolution = Some(Resolution {
            code: "SUPPLY_RESTORED".into(),
            notes: format!("supply restored: outage {}", outage.id),
            parts: Vec::new(),
            cause: FaultParty::Utility,
            customer_acknowledged: false,
        });
        let details = json!({ "outage_id": outage.id, "restored_at": outage.restored_at });
        Ok(Some(self.changed(
            next,
            ctx,
            "RESOLVED_BY_RESTORATION",
            role,
            time,
            details,
        )))
    }
}
