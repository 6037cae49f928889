//! The ticket aggregate (DOMAIN.md section 2). Each command checks the
//! lifecycle graph (R-TKT-3), the caller's rights and the rule it serves, and
//! returns the ticket's next state together with the one audit event that
//! describes the change (R-TKT-12). Nothing here touches storage: the service
//! persists the pair atomically.
use crate::domain::access::{self, require_role};
use crate::domain::geo::{self, GeoPoint};
use crate::domain::inspection::Inspection;
use crate::domain::policy::{CategoryPolicy, Deadlines, Policy};
use crate::domain::sla::{Breach, ClockKind, ClockStop};
use crate::domain::state::Action;
use crate::domain::supervision::{
    SYSTEM_ACTOR, SupervisionNotice, SupervisionTrigger, complaint_limit_passed, redo_limit_passed,
};
use crate::domain::time::EventTime;
use crate::domain::{Caller, Role, TicketState};
use crate::error::{AppError, AppResult, reason};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

/// How the call reached the utility (R-TKT-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SourceChannel {
    Hotline,
    WalkIn,
    Letter,
    Online,
    CityHotline,
    SupervisionHotline,
    Media,
    Government,
    /// Raised by an inspection visit (an objection, R-TMP-7).
    Inspection,
}

impl SourceChannel {
    pub const ALL: [SourceChannel; 9] = [
        SourceChannel::Hotline,
        SourceChannel::WalkIn,
        SourceChannel::Letter,
        SourceChannel::Online,
        SourceChannel::CityHotline,
        SourceChannel::SupervisionHotline,
        SourceChannel::Media,
        SourceChannel::Government,
        SourceChannel::Inspection,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SourceChannel::Hotline => "HOTLINE",
            SourceChannel::WalkIn => "WALK_IN",
            SourceChannel::Letter => "LETTER",
            SourceChannel::Online => "ONLINE",
            SourceChannel::CityHotline => "CITY_HOTLINE",
            SourceChannel::SupervisionHotline => "SUPERVISION_HOTLINE",
            SourceChannel::Media => "MEDIA",
            SourceChannel::Government => "GOVERNMENT",
            SourceChannel::Inspection => "INSPECTION",
        }
    }

    pub fn parse(s: &str) -> Option<SourceChannel> {
        SourceChannel::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// R-SLA-3: referrals from other platforms get the longer accept time.
    pub fn is_referral(self) -> bool {
        matches!(
            self,
            SourceChannel::CityHotline
                | SourceChannel::SupervisionHotline
                | SourceChannel::Media
                | SourceChannel::Government
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FaultParty {
    Unspecified,
    Utility,
    Customer,
    ThirdParty,
}

/// R-TKT-8.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resolution {
    pub code: String,
    pub notes: String,
    pub parts: Vec<String>,
    pub cause: FaultParty,
    pub customer_acknowledged: bool,
}

/// R-TKT-6.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Arrival {
    pub location: GeoPoint,
    pub accuracy_m: f64,
    pub verified: bool,
    pub distance_m: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RevisitOutcome {
    Satisfied,
    NotSatisfiedUnitFault,
    NotSatisfiedOther,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExtensionState {
    Pending,
    Approved,
    Refused,
}

/// R-SLA-5: the latest extension request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Extension {
    pub state: ExtensionState,
    pub reason: String,
    pub extend_by_secs: i64,
    pub requested_by: String,
    pub decided_by: Option<String>,
    pub decision_note: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    pub id: Uuid,
    pub version: i64,
    pub state: TicketState,
    pub category: String,
    pub priority: String,
    pub profile: String,
    pub source: SourceChannel,
    pub caller_name: String,
    pub caller_phone: String,
    pub address: String,
    pub location: Option<GeoPoint>,
    pub content: String,
    /// 首问责任人: the staff member who took the call.
    pub received_by: String,
    pub received_at: DateTime<Utc>,
    pub subject_staff_id: Option<String>,
    pub unit: Option<String>,
    pub assignee: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub dispatched_at: Option<DateTime<Utc>>,
    pub claimed_at: Option<DateTime<Utc>>,
    pub arrived_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub deadlines: Deadlines,
    pub appointment_at: Option<DateTime<Utc>>,
    pub escalation_level: i32,
    pub return_count: i32,
    pub supervision_count: i32,
    pub arrival: Option<Arrival>,
    pub resolution: Option<Resolution>,
    pub revisit: Option<RevisitOutcome>,
    pub extension: Option<Extension>,
    pub extended_by_secs: i64,
    /// R-TKT-11: the earlier repair at this address and category, when this one repeats it.
    #[serde(default)]
    pub repeat_of: Option<Uuid>,
    /// Deadlines that passed unmet, each recorded once (section 3).
    #[serde(default)]
    pub breaches: Vec<Breach>,
    /// Clocks stopped by their events, each once per deadline (R-RPT-1 on-time rates).
    #[serde(default)]
    pub clock_stops: Vec<ClockStop>,
    /// R-TKT-10: the latest supervision notice.
    #[serde(default)]
    pub supervision: Option<SupervisionNotice>,
    /// R-TKT-9, R-TKT-10: times the call-back sent the ticket back to the unit for redo.
    #[serde(default)]
    pub redo_count: i32,
    /// R-SLA-4: nominal diameter of a burst pipe, from intake or the crew's check-in.
    #[serde(default)]
    pub pipe_diameter_mm: Option<i32>,
    /// R-SLA-6: a complex matter (the category's, or the dispatcher's call).
    #[serde(default)]
    pub complex: bool,
    /// R-SLA-5, R-TKT-10: the resolve deadline an approved extension promised.
    #[serde(default)]
    pub promised_resolve_by: Option<DateTime<Utc>>,
    /// Effective time of the latest event (R-SLA-7: device times may not precede it).
    pub last_event_at: DateTime<Utc>,
}

/// R-SLA-4: nominal diameters beyond this are typing errors, not pipes.
const MAX_PIPE_DIAMETER_MM: i32 = 5000;

fn pipe_diameter(d: Option<i32>, field: &str) -> AppResult<()> {
    match d {
        Some(mm) if !(1..=MAX_PIPE_DIAMETER_MM).contains(&mm) => Err(AppError::invalid(
            field,
            reason::OUT_OF_RANGE,
            format!("{field} must lie in 1..={MAX_PIPE_DIAMETER_MM} mm"),
        )),
        _ => Ok(()),
    }
}

/// A call may be entered late (a letter, a walk-in written up afterwards),
/// but not so late that its clocks are meaningless.
const MAX_BACKDATED_INTAKE: Duration = Duration::days(30);

/// An on-site check-in (R-TKT-6), already decoded.
#[derive(Debug, Clone, Copy)]
pub struct CheckIn {
    pub location: GeoPoint,
    pub accuracy_m: f64,
    /// R-SLA-4: the burst pipe's nominal diameter, as found on site.
    pub pipe_diameter_mm: Option<i32>,
    /// Device time (R-SLA-7).
    pub occurred_at: Option<DateTime<Utc>>,
}

/// Intake data (R-TKT-1), already decoded; validated by `Ticket::create`.
#[derive(Debug, Clone)]
pub struct NewTicket {
    pub category: String,
    pub source: SourceChannel,
    pub caller_name: String,
    pub caller_phone: String,
    pub address: String,
    pub location: Option<GeoPoint>,
    pub content: String,
    pub received_at: Option<DateTime<Utc>>,
    pub subject_staff_id: Option<String>,
    pub answered_on_call: bool,
    /// R-SLA-6: the dispatcher marks a matter complex (categories may be complex by policy).
    pub complex: bool,
    /// R-SLA-4: known at intake for a burst pipe, or reported at check-in.
    pub pipe_diameter_mm: Option<i32>,
}

/// What a command needs besides the ticket.
pub struct Ctx<'a> {
    pub policy: &'a Policy,
    pub caller: &'a Caller,
    /// Server time of receipt.
    pub now: DateTime<Utc>,
}

/// The audit event describing one change (R-TKT-12), before the service adds
/// who/when/request metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct EventDraft {
    pub kind: &'static str,
    /// The role the actor acted in ("system" for the deadline monitor).
    pub actor_role: &'static str,
    pub from: Option<TicketState>,
    pub to: TicketState,
    pub time: EventTime,
    pub details: serde_json::Value,
}

/// A command's result: the ticket after the change, and its event.
#[derive(Debug, Clone)]
pub struct Change {
    pub ticket: Ticket,
    pub event: EventDraft,
}

fn required_text(value: &str, field: &str) -> AppResult<()> {
    if value.trim().is_empty() {
        Err(AppError::missing(field))
    } else {
        Ok(())
    }
}

fn positive_duration(d: Duration, field: &str) -> AppResult<()> {
    if d <= Duration::zero() {
        Err(AppError::invalid(
            field,
            reason::OUT_OF_RANGE,
            format!("{field} must be positive"),
        ))
    } else {
        Ok(())
    }
}

/// R-TKT-11: addresses compare without regard to case and spacing.
pub fn address_key(address: &str) -> String {
    address
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

impl Change {
    /// R-TKT-11: mark a new ticket as repeating the repair `earlier`.
    pub fn repeat_of(mut self, earlier: Uuid) -> Change {
        self.ticket.repeat_of = Some(earlier);
        self.event.details["repeat_of"] = json!(earlier);
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
        let role = require_role(
            ctx.caller,
            access::ticket_mutation_roles("CreateTicket"),
            "CreateTicket",
        )?;
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
        Ok(Self::build(ctx, id, role, input, received_at))
    }

    /// A fresh ticket from validated intake data, with its CREATED event.
    fn build(
        ctx: &Ctx,
        id: Uuid,
        role: Role,
        input: NewTicket,
        received_at: DateTime<Utc>,
    ) -> Change {
        let cat = ctx
            .policy
            .categories
            .get(&input.category)
            .expect("category validated by the caller");
        let complex = input.complex || cat.complex;
        let deadlines = Deadlines {
            feedback_by: Some(ctx.policy.feedback_by(complex, received_at)),
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
            priority: cat.priority.clone(),
            profile: ctx.policy.profile.clone(),
            source: input.source,
            caller_name: input.caller_name,
            caller_phone: input.caller_phone,
            address: input.address,
            location: input.location,
            content: input.content,
            received_by: ctx.caller.sub.clone(),
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
            last_event_at: ctx.now,
        };
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
                "priority": ticket.priority,
                "profile": ticket.profile,
                "source": ticket.source.as_str(),
                "complex": ticket.complex,
                "pipe_diameter_mm": ticket.pipe_diameter_mm,
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
        let role = require_role(
            ctx.caller,
            access::ticket_mutation_roles("FinishInspection"),
            "FinishInspection",
        )?;
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
            source: SourceChannel::Inspection,
            caller_name: linked
                .map_or_else(|| visit.resident_name.clone(), |t| t.caller_name.clone()),
            caller_phone: linked
                .map_or_else(|| visit.resident_phone.clone(), |t| t.caller_phone.clone()),
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
        };
        let mut change = Self::build(ctx, id, role, input, ctx.now);
        change.event.details["inspection_id"] = json!(visit.id);
        Ok(change)
    }

    /// R-TKT-12: a finished visit for this ticket goes on its audit trail.
    pub fn note_inspection(&self, ctx: &Ctx, visit: &Inspection) -> AppResult<Change> {
        let role = require_role(
            ctx.caller,
            access::ticket_mutation_roles("FinishInspection"),
            "FinishInspection",
        )?;
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

    fn category_policy<'p>(&self, policy: &'p Policy) -> AppResult<&'p CategoryPolicy> {
        policy.categories.get(&self.category).ok_or_else(|| {
            AppError::precondition(
                reason::CATEGORY_NOT_IN_POLICY,
                self.subject(),
                format!(
                    "category {} is not in the active policy profile",
                    self.category
                ),
            )
        })
    }

    pub fn subject(&self) -> String {
        format!("tickets/{}", self.id)
    }

    /// R-TKT-3: the state `action` leads to, or FAILED_PRECONDITION.
    fn next_state(&self, action: Action) -> AppResult<TicketState> {
        self.state.next(action).ok_or_else(|| {
            AppError::precondition(
                reason::INVALID_TRANSITION,
                self.subject(),
                format!("{action:?} is not allowed in state {}", self.state),
            )
        })
    }

    fn device_time(&self, ctx: &Ctx, occurred_at: Option<DateTime<Utc>>) -> AppResult<EventTime> {
        EventTime::resolve(occurred_at, ctx.now, self.last_event_at, &ctx.policy.time)
    }

    /// Build the change: bump version and times, pair with its event.
    fn changed(
        &self,
        mut next: Ticket,
        ctx: &Ctx,
        kind: &'static str,
        role: Role,
        time: EventTime,
        details: serde_json::Value,
    ) -> Change {
        next.version = self.version + 1;
        next.updated_at = ctx.now;
        next.last_event_at = self.last_event_at.max(time.effective);
        let event = EventDraft {
            kind,
            actor_role: role.as_str(),
            from: Some(self.state),
            to: next.state,
            time,
            details,
        };
        Change {
            ticket: next,
            event,
        }
    }

    /// Send to a unit, optionally naming a crew member. Unit existence is the service's check.
    pub fn dispatch(&self, ctx: &Ctx, unit: &str, assignee: Option<&str>) -> AppResult<Change> {
        let role = require_role(
            ctx.caller,
            access::ticket_mutation_roles("DispatchTicket"),
            "DispatchTicket",
        )?;
        let state = self.next_state(Action::Dispatch)?;
        if let (Some(a), Some(subject)) = (assignee, self.subject_staff_id.as_deref())
            && a == subject
        {
            return Err(AppError::denied(
                reason::RECUSED,
                "a complaint may not be assigned to the staff member it concerns",
            ));
        }
        let time = EventTime::server(ctx.now);
        let mut next = self.clone();
        next.state = state;
        next.unit = Some(unit.to_string());
        next.assignee = assignee.map(str::to_string);
        next.dispatched_at = Some(time.effective);
        next.deadlines.accept_by = Some(
            ctx.policy
                .accept_by(self.source.is_referral(), time.effective),
        );
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
        let role = require_role(
            ctx.caller,
            access::ticket_mutation_roles("ClaimTicket"),
            "ClaimTicket",
        )?;
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
        let role = require_role(
            ctx.caller,
            access::ticket_mutation_roles("ReturnTicket"),
            "ReturnTicket",
        )?;
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
        let role = require_role(
            ctx.caller,
            access::ticket_mutation_roles("ScheduleAppointment"),
            "ScheduleAppointment",
        )?;
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
        let role = require_role(
            ctx.caller,
            access::ticket_mutation_roles("RecordArrival"),
            "RecordArrival",
        )?;
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
        let role = require_role(
            ctx.caller,
            access::ticket_mutation_roles("CompleteRepair"),
            "CompleteRepair",
        )?;
        required_text(&resolution.code, "resolution.code")?;
        access::check_crew_acts(ctx.caller, self, true)?;
        let state = self.next_state(Action::Complete)?;
        let time = self.device_time(ctx, occurred_at)?;
        let mut next = self.clone();
        next.state = state;
        next.resolved_at = Some(time.effective);
        next.stop_clock(ClockKind::Resolve, time.effective);
        next.stop_clock(ClockKind::Supervision, time.effective);
        next.deadlines.revisit_by = Some(ctx.policy.revisit_by(time.effective));
        let details = serde_json::to_value(&resolution).unwrap_or_default();
        next.resolution = Some(resolution);
        Ok(self.changed(next, ctx, "RESOLVED", role, time, details))
    }

    /// R-SLA-5: ask for more time, before resolve_by, within the cap.
    pub fn request_extension(
        &self,
        ctx: &Ctx,
        why: &str,
        extend_by: Duration,
        occurred_at: Option<DateTime<Utc>>,
    ) -> AppResult<Change> {
        let role = require_role(
            ctx.caller,
            access::ticket_mutation_roles("RequestExtension"),
            "RequestExtension",
        )?;
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
        if new_resolve_by > policy.extension_limit(self.received_at) {
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
        let role = require_role(
            ctx.caller,
            access::ticket_mutation_roles("DecideExtension"),
            "DecideExtension",
        )?;
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

    /// Fresh arrival and resolve clocks from `from` (a reopened ticket).
    /// The caller's feedback clock (R-SLA-6) runs from the first call and is kept.
    fn restart_clocks(&self, policy: &Policy, from: DateTime<Utc>) -> AppResult<Deadlines> {
        let cat = self.category_policy(policy)?;
        Ok(Deadlines {
            feedback_by: self.deadlines.feedback_by,
            ..policy.intake_deadlines(cat, from, self.pipe_diameter_mm)
        })
    }

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
        let role = require_role(
            ctx.caller,
            access::ticket_mutation_roles("RecordRevisit"),
            "RecordRevisit",
        )?;
        let action = match outcome {
            RevisitOutcome::NotSatisfiedUnitFault => Action::RevisitReopen,
            _ => Action::RevisitClose,
        };
        let state = self.next_state(action)?;
        let mut next = self.clone();
        next.state = state;
        next.revisit = Some(outcome);
        next.stop_clock(ClockKind::Revisit, ctx.now);
        next.stop_clock(ClockKind::Feedback, ctx.now);
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
        let role = require_role(
            ctx.caller,
            access::ticket_mutation_roles("Supervise"),
            "Supervise",
        )?;
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
        let role = require_role(
            ctx.caller,
            access::ticket_mutation_roles("CancelTicket"),
            "CancelTicket",
        )?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn caller(sub: &str, role: Role, unit: &str) -> Caller {
        Caller {
            sub: sub.into(),
            roles: vec![role],
            unit: unit.into(),
        }
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 2, 0, 0).unwrap()
    }

    fn new_ticket(policy: &Policy, category: &str) -> Ticket {
        let d = caller("d1", Role::Dispatcher, "hq");
        let ctx = Ctx {
            policy,
            caller: &d,
            now: t0(),
        };
        let input = NewTicket {
            category: category.into(),
            source: SourceChannel::Hotline,
            caller_name: "张三".into(),
            caller_phone: "13812345678".into(),
            address: "1 Main St".into(),
            location: Some(GeoPoint::new(39.9, 116.4, "location").unwrap()),
            content: "leak".into(),
            received_at: None,
            subject_staff_id: None,
            answered_on_call: false,
            complex: false,
            pipe_diameter_mm: None,
        };
        Ticket::create(&ctx, Uuid::now_v7(), input).unwrap().ticket
    }

    fn check_in(location: GeoPoint, accuracy_m: f64) -> CheckIn {
        CheckIn {
            location,
            accuracy_m,
            pipe_diameter_mm: None,
            occurred_at: None,
        }
    }

    fn at(p: &Policy, c: &Caller, now: DateTime<Utc>) -> Ctx<'static> {
        // Leak the small test values so the context can be 'static in helpers.
        Ctx {
            policy: Box::leak(Box::new(p.clone())),
            caller: Box::leak(Box::new(c.clone())),
            now,
        }
    }

    fn dispatched(policy: &Policy, category: &str) -> Ticket {
        let t = new_ticket(policy, category);
        let d = caller("d1", Role::Dispatcher, "hq");
        t.dispatch(&at(policy, &d, t0()), "north", None)
            .unwrap()
            .ticket
    }

    #[test]
    fn r_tkt_1_create_computes_deadlines_and_records_first_responsible() {
        let p = Policy::builtin("heating").unwrap();
        let t = new_ticket(&p, "NETWORK_LEAK");
        assert_eq!(t.state, TicketState::New);
        assert_eq!(t.received_by, "d1");
        assert_eq!(t.priority, "EMERGENCY");
        assert_eq!(t.deadlines.arrive_by, Some(t0() + Duration::minutes(30)));
    }

    #[test]
    fn r_tkt_2_consultation_answered_on_call_is_closed_at_once() {
        let p = Policy::builtin("water").unwrap();
        let d = caller("d1", Role::Dispatcher, "hq");
        let ctx = at(&p, &d, t0());
        let input = NewTicket {
            category: "CONSULTATION".into(),
            source: SourceChannel::Hotline,
            caller_name: String::new(),
            caller_phone: "110".into(),
            address: "x".into(),
            location: None,
            content: "opening hours?".into(),
            received_at: None,
            subject_staff_id: None,
            answered_on_call: true,
            complex: false,
            pipe_diameter_mm: None,
        };
        let ch = Ticket::create(&ctx, Uuid::now_v7(), input).unwrap();
        assert_eq!(ch.ticket.state, TicketState::Closed);
        assert_eq!(ch.event.kind, "ANSWERED_ON_CALL");
    }

    #[test]
    fn create_collects_all_bad_fields() {
        let p = Policy::builtin("water").unwrap();
        let d = caller("d1", Role::Dispatcher, "hq");
        let ctx = at(&p, &d, t0());
        let input = NewTicket {
            category: "NOPE".into(),
            source: SourceChannel::Hotline,
            caller_name: String::new(),
            caller_phone: " ".into(),
            address: String::new(),
            location: None,
            content: String::new(),
            received_at: None,
            subject_staff_id: None,
            answered_on_call: false,
            complex: false,
            pipe_diameter_mm: None,
        };
        match Ticket::create(&ctx, Uuid::now_v7(), input).unwrap_err() {
            AppError::InvalidArgument { violations, .. } => {
                let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
                assert_eq!(fields, ["category", "caller_phone", "address"]);
            }
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn r_sla_3_dispatch_sets_accept_deadline() {
        let p = Policy::builtin("water").unwrap();
        let t = dispatched(&p, "METER_FAULT");
        assert_eq!(t.deadlines.accept_by, Some(t0() + Duration::minutes(3)));
    }

    #[test]
    fn r_tkt_4_claim_only_by_own_unit_and_only_once() {
        let p = Policy::builtin("water").unwrap();
        let t = dispatched(&p, "METER_FAULT");
        let other_unit = caller("c9", Role::Crew, "south");
        assert_eq!(
            t.claim(&at(&p, &other_unit, t0()), None)
                .unwrap_err()
                .reason(),
            reason::WRONG_UNIT
        );
        let c1 = caller("c1", Role::Crew, "north");
        let claimed = t.claim(&at(&p, &c1, t0()), None).unwrap().ticket;
        assert_eq!(claimed.assignee.as_deref(), Some("c1"));
        let c2 = caller("c2", Role::Crew, "north");
        let e = claimed.claim(&at(&p, &c2, t0()), None).unwrap_err();
        assert_eq!(e.reason(), reason::TICKET_ALREADY_CLAIMED);
        assert!(matches!(e, AppError::Aborted { .. }));
    }

    #[test]
    fn r_tkt_5_return_window_just_inside_and_just_outside() {
        let p = Policy::builtin("water").unwrap();
        let t = dispatched(&p, "METER_FAULT");
        let c1 = caller("c1", Role::Crew, "north");
        let inside = t0() + Duration::hours(2);
        let ch = t
            .return_to_dispatch(&at(&p, &c1, inside), "not ours", None)
            .unwrap();
        assert_eq!(ch.ticket.state, TicketState::Returned);
        assert_eq!(ch.ticket.unit, None);
        let outside = inside + Duration::seconds(1);
        let e = t
            .return_to_dispatch(&at(&p, &c1, outside), "not ours", None)
            .unwrap_err();
        assert_eq!(e.reason(), reason::RETURN_WINDOW_CLOSED);
        // A dispatcher's return is the approval: allowed after the window.
        let d = caller("d1", Role::Dispatcher, "hq");
        assert!(
            t.return_to_dispatch(&at(&p, &d, outside), "rerouted", None)
                .is_ok()
        );
    }

    #[test]
    fn r_tkt_5_no_crew_return_after_arrival() {
        let p = Policy::builtin("water").unwrap();
        let c1 = caller("c1", Role::Crew, "north");
        let t = dispatched(&p, "METER_FAULT");
        let t = t.claim(&at(&p, &c1, t0()), None).unwrap().ticket;
        let loc = GeoPoint::new(39.9, 116.4, "l").unwrap();
        let t = t
            .arrive(&at(&p, &c1, t0()), &check_in(loc, 5.0))
            .unwrap()
            .ticket;
        let e = t
            .return_to_dispatch(&at(&p, &c1, t0()), "x", None)
            .unwrap_err();
        assert_eq!(e.reason(), reason::RETURN_WINDOW_CLOSED);
    }

    #[test]
    fn r_tkt_7_appointment_moves_arrival_deadline() {
        let p = Policy::builtin("water").unwrap();
        let c1 = caller("c1", Role::Crew, "north");
        let t = dispatched(&p, "LOW_PRESSURE");
        let t = t.claim(&at(&p, &c1, t0()), None).unwrap().ticket;
        let when = t0() + Duration::days(1);
        let ch = t
            .schedule_appointment(&at(&p, &c1, t0()), when, None)
            .unwrap();
        assert_eq!(ch.ticket.deadlines.arrive_by, Some(when));
        // Outside the window: after resolve_by, or before the booking.
        let late = t.deadlines.resolve_by.unwrap() + Duration::seconds(1);
        let e = t
            .schedule_appointment(&at(&p, &c1, t0()), late, None)
            .unwrap_err();
        assert_eq!(e.reason(), reason::APPOINTMENT_OUTSIDE_WINDOW);
        let e = t
            .schedule_appointment(&at(&p, &c1, t0()), t0() - Duration::minutes(1), None)
            .unwrap_err();
        assert!(matches!(e, AppError::InvalidArgument { .. }));
        // Booked after the arrival deadline passed.
        let after = t.deadlines.arrive_by.unwrap() + Duration::seconds(1);
        let e = t
            .schedule_appointment(&at(&p, &c1, after), when, None)
            .unwrap_err();
        assert!(matches!(e, AppError::FailedPrecondition { .. }));
    }

    #[test]
    fn r_tkt_7_appointment_only_where_policy_allows() {
        let p = Policy::builtin("water").unwrap();
        let c1 = caller("c1", Role::Crew, "north");
        let t = dispatched(&p, "EMERGENCY_INCIDENT");
        let t = t.claim(&at(&p, &c1, t0()), None).unwrap().ticket;
        let e = t
            .schedule_appointment(&at(&p, &c1, t0()), t0() + Duration::minutes(20), None)
            .unwrap_err();
        assert_eq!(e.reason(), reason::APPOINTMENT_NOT_ALLOWED);
    }

    #[test]
    fn r_tkt_6_far_checkin_is_stored_unverified() {
        let p = Policy::builtin("water").unwrap();
        let c1 = caller("c1", Role::Crew, "north");
        let t = dispatched(&p, "METER_FAULT");
        let t = t.claim(&at(&p, &c1, t0()), None).unwrap().ticket;
        let far = GeoPoint::new(39.91, 116.4, "l").unwrap(); // ~1.1 km away
        let ch = t.arrive(&at(&p, &c1, t0()), &check_in(far, 10.0)).unwrap();
        assert_eq!(ch.ticket.state, TicketState::OnSite);
        assert!(!ch.ticket.arrival.unwrap().verified);
    }

    #[test]
    fn r_tkt_9_revisit_outcomes() {
        let p = Policy::builtin("water").unwrap();
        let c1 = caller("c1", Role::Crew, "north");
        let d = caller("d1", Role::Dispatcher, "hq");
        let t = dispatched(&p, "METER_FAULT");
        let t = t.claim(&at(&p, &c1, t0()), None).unwrap().ticket;
        let loc = GeoPoint::new(39.9, 116.4, "l").unwrap();
        let t = t
            .arrive(&at(&p, &c1, t0()), &check_in(loc, 5.0))
            .unwrap()
            .ticket;
        let res = Resolution {
            code: "FIXED".into(),
            notes: String::new(),
            parts: vec![],
            cause: FaultParty::Utility,
            customer_acknowledged: true,
        };
        let t = t.complete(&at(&p, &c1, t0()), res, None).unwrap().ticket;
        assert_eq!(t.deadlines.revisit_by, Some(t0() + Duration::hours(24)));
        let closed = t
            .record_revisit(&at(&p, &d, t0()), RevisitOutcome::Satisfied, "")
            .unwrap()
            .ticket;
        assert_eq!(closed.state, TicketState::Closed);
        let reopened = t
            .record_revisit(&at(&p, &d, t0()), RevisitOutcome::NotSatisfiedUnitFault, "")
            .unwrap()
            .ticket;
        assert_eq!(reopened.state, TicketState::Supervised);
        assert_eq!(reopened.unit.as_deref(), Some("north"));
        assert_eq!(reopened.escalation_level, 1);
    }

    #[test]
    fn r_sla_5_extension_cap() {
        let p = Policy::builtin("water").unwrap();
        let c1 = caller("c1", Role::Crew, "north");
        let d = caller("d1", Role::Dispatcher, "hq");
        let t = dispatched(&p, "METER_FAULT"); // resolve 36 h, cap 5 days
        let t = t.claim(&at(&p, &c1, t0()), None).unwrap().ticket;
        let e = t
            .request_extension(&at(&p, &c1, t0()), "parts", Duration::days(4), None)
            .unwrap_err();
        assert_eq!(e.reason(), reason::EXTENSION_CAP_EXCEEDED);
        let t = t
            .request_extension(&at(&p, &c1, t0()), "parts", Duration::days(3), None)
            .unwrap()
            .ticket;
        let approved = t
            .decide_extension(&at(&p, &d, t0()), true, "ok")
            .unwrap()
            .ticket;
        assert_eq!(
            approved.deadlines.resolve_by,
            Some(t0() + Duration::hours(36) + Duration::days(3))
        );
        let refused = t
            .decide_extension(&at(&p, &d, t0()), false, "no")
            .unwrap()
            .ticket;
        assert_eq!(refused.deadlines.resolve_by, t.deadlines.resolve_by);
    }

    #[test]
    fn r_tkt_13_recusal_on_dispatch_and_claim() {
        let p = Policy::builtin("heating").unwrap();
        let d = caller("d1", Role::Dispatcher, "hq");
        let mut t = new_ticket(&p, "STAFF_COMPLAINT");
        t.subject_staff_id = Some("c1".into());
        let e = t
            .dispatch(&at(&p, &d, t0()), "north", Some("c1"))
            .unwrap_err();
        assert_eq!(e.reason(), reason::RECUSED);
        let t = t.dispatch(&at(&p, &d, t0()), "north", None).unwrap().ticket;
        let c1 = caller("c1", Role::Crew, "north");
        assert_eq!(
            t.claim(&at(&p, &c1, t0()), None).unwrap_err().reason(),
            reason::RECUSED
        );
        assert!(!access::may_read(&c1, &t));
    }

    #[test]
    fn every_change_bumps_version_and_has_one_event() {
        let p = Policy::builtin("water").unwrap();
        let t = new_ticket(&p, "METER_FAULT");
        let d = caller("d1", Role::Dispatcher, "hq");
        let ch = t.dispatch(&at(&p, &d, t0()), "north", None).unwrap();
        assert_eq!(ch.ticket.version, t.version + 1);
        assert_eq!(ch.event.from, Some(TicketState::New));
        assert_eq!(ch.event.to, TicketState::Dispatched);
    }
}
