//! The ticket aggregate (DOMAIN.md section 2). Each command checks the
//! lifecycle graph (R-TKT-3), the caller's rights and the rule it serves, and
//! returns the ticket's next state together with the one audit event that
//! describes the change (R-TKT-12). Nothing here touches storage: the service
//! persists the pair atomically.
//!
//! The commands are split by stage: `intake` (recording a call, repeats,
//! re-measurement tickets), `work` (dispatch to completion), `extension`
//! (R-SLA-5) and `follow_up` (call-back, supervision, cancellation); the
//! types and the helpers every stage uses are here.
mod contact;
mod correction;
mod extension;
mod follow_up;
mod intake;
mod major;
mod recusal;
mod referral;
mod retention;
mod suspension;
mod work;

pub use contact::{Contact, ContactChannel, Counterpart, LongMatterApproval, NewContact};
pub use correction::Correction;
pub use major::{Major, MajorKind, NewMajor};
pub use recusal::Recusal;
pub use referral::{NewReferral, Referral};
pub use suspension::Suspension;

use crate::domain::Method;
use crate::domain::access;
use crate::domain::geo::{self, GeoPoint};
use crate::domain::inspection::Inspection;
use crate::domain::outage::Outage;
use crate::domain::policy::{ArriveFrom, CategoryPolicy, Deadlines, Policy};
use crate::domain::sla::{Breach, ClockKind, ClockStop};
use crate::domain::state::Action;
use crate::domain::supervision::{
    SYSTEM_ACTOR, SupervisionNotice, SupervisionTrigger, complaint_limit_passed, redo_limit_passed,
};
use crate::domain::time::EventTime;
use crate::domain::wire_enum::wire_enum;
use crate::domain::{Caller, Role, TicketState};
use crate::error::{AppError, AppResult, reason};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

wire_enum! {
    /// How the call reached the utility (R-TKT-1).
    SourceChannel {
        Hotline = "HOTLINE",
        WalkIn = "WALK_IN",
        Letter = "LETTER",
        Online = "ONLINE",
        /// 12345, the city's hotline (a platform, R-TKT-15).
        CityHotline = "CITY_HOTLINE",
        /// 12319, the supervision hotline (a platform, R-TKT-15).
        SupervisionHotline = "SUPERVISION_HOTLINE",
        Media = "MEDIA",
        Government = "GOVERNMENT",
        /// Raised by an inspection visit (an objection, R-TMP-7).
        Inspection = "INSPECTION",
        /// 8901890, the city's service hotline (a platform, R-TKT-15).
        ServiceHotline = "SERVICE_HOTLINE",
        /// 数字城管, digital city management (a platform, R-TKT-15).
        DigitalCity = "DIGITAL_CITY",
        /// 网上行风, the online conduct review (a platform, R-TKT-15).
        OnlineConduct = "ONLINE_CONDUCT",
        /// The property management office (a platform, R-TKT-15).
        PropertyOffice = "PROPERTY_OFFICE",
        /// R-TKT-1: a problem a crew found itself.
        CrewFinding = "CREW_FINDING",
    }
}

impl SourceChannel {
    /// R-TKT-15: a platform that refers calls with its own reference and
    /// deadline, and expects a reply.
    pub fn is_platform(self) -> bool {
        use SourceChannel as S;
        matches!(
            self,
            S::CityHotline
                | S::SupervisionHotline
                | S::ServiceHotline
                | S::DigitalCity
                | S::OnlineConduct
                | S::PropertyOffice
        )
    }
}

wire_enum! {
    /// R-TKT-14: what kind of matter a call is, besides its category.
    #[derive(Default)]
    TicketType {
        Consultation = "CONSULTATION",
        HelpEmergency = "HELP_EMERGENCY",
        /// The default of a call whose intake names no type.
        #[default]
        HelpGeneral = "HELP_GENERAL",
        Complaint = "COMPLAINT",
        CriticismSuggestion = "CRITICISM_SUGGESTION",
        MediaExposure = "MEDIA_EXPOSURE",
        Praise = "PRAISE",
    }
}

/// R-TKT-1: how the caller wants to hear back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FeedbackMethod {
    Phone,
    Sms,
    InWriting,
    InPerson,
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
    /// R-TKT-14.
    #[serde(default)]
    pub ticket_type: TicketType,
    pub priority: String,
    pub profile: String,
    pub source: SourceChannel,
    pub caller_name: String,
    pub caller_phone: String,
    /// R-TKT-1: the caller's organisation (单位), when one calls.
    #[serde(default)]
    pub caller_organisation: String,
    /// R-TKT-1: how the caller wants to hear back.
    #[serde(default)]
    pub feedback_method: Option<FeedbackMethod>,
    pub address: String,
    /// R-RPT-2: the administrative district (区) of the address, when known.
    #[serde(default)]
    pub district: Option<String>,
    pub location: Option<GeoPoint>,
    pub content: String,
    /// 首问责任人: the staff member who took the call (any staff role, R-TKT-1).
    pub received_by: String,
    /// The first-responsible person's unit when he took the call: it
    /// answers for the forwarding and call-back clocks (R-ASM-1).
    #[serde(default)]
    pub received_unit: String,
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
    /// R-OUT-5: the supply interruption the call is about, linked at intake.
    #[serde(default)]
    pub outage_id: Option<Uuid>,
    /// R-TKT-15: the platform's reference and deadline of a referral.
    #[serde(default)]
    pub referral: Option<Referral>,
    /// R-SLA-6, R-TKT-15: contacts with the caller, the referring body, the
    /// leadership and the first-responsible person, oldest first.
    #[serde(default)]
    pub contacts: Vec<Contact>,
    /// R-TKT-16: the pending request or the suspension in force.
    #[serde(default)]
    pub suspension: Option<Suspension>,
    /// R-TKT-16: times the ticket was suspended (reports count them).
    #[serde(default)]
    pub suspensions: i32,
    /// R-TKT-13: staff members with a conflict of interest.
    #[serde(default)]
    pub recusals: Vec<Recusal>,
    /// R-TKT-17: the major flag.
    #[serde(default)]
    pub major: Option<Major>,
    /// R-SLA-6: the supervisor's approval to take longer than 7 days.
    #[serde(default)]
    pub long_matter: Option<LongMatterApproval>,
    /// R-SLA-6: the caller was told the time limit at intake.
    #[serde(default)]
    pub time_limit_told: bool,
    /// The unit dispatch is advised to send the ticket to (R-TMP-7: a
    /// re-measurement names the measuring inspector's unit).
    #[serde(default)]
    pub suggested_unit: Option<String>,
    /// Effective time of the latest event (R-SLA-7: device times may not precede it).
    pub last_event_at: DateTime<Utc>,
    /// R-REC-3: when a retention run cleared the caller's personal data.
    #[serde(default)]
    pub personal_data_removed_at: Option<DateTime<Utc>>,
}

/// R-SLA-4: nominal diameters beyond this are typing errors, not pipes.
const MAX_PIPE_DIAMETER_MM: i32 = 5000;

pub(crate) fn pipe_diameter(d: Option<i32>, field: &str) -> AppResult<()> {
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
    /// R-TKT-14; None: a consultation if answered on the call, else a general help request.
    pub ticket_type: Option<TicketType>,
    pub source: SourceChannel,
    pub caller_name: String,
    pub caller_phone: String,
    pub caller_organisation: String,
    pub feedback_method: Option<FeedbackMethod>,
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
    /// R-TKT-15: the platform's reference and deadline (platform sources only).
    pub referral: Option<NewReferral>,
    /// R-TKT-17: a major matter.
    pub major: Option<NewMajor>,
    /// R-RPT-2: the address's administrative district (empty: unknown).
    pub district: String,
    /// R-SLA-6: the caller was told the time limit (a matter not answered at once).
    pub time_limit_told: bool,
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

/// Helpers every stage uses.
impl Ticket {
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
                format!(
                    "{} is not allowed on a ticket in state {}",
                    action.method().name(),
                    self.state.api_name()
                ),
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

    /// Fresh arrival and resolve clocks from `from` (a reopened ticket).
    /// The caller's feedback clock (R-SLA-6) runs from the first call and is kept.
    fn restart_clocks(&self, policy: &Policy, from: DateTime<Utc>) -> AppResult<Deadlines> {
        let cat = self.category_policy(policy)?;
        Ok(Deadlines {
            feedback_by: self.deadlines.feedback_by,
            ..policy.intake_deadlines(cat, from, self.pipe_diameter_mm)
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
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

    /// A ticket just recorded by a dispatcher (other modules' tests use it too).
    pub(crate) fn new_ticket(policy: &Policy, category: &str) -> Ticket {
        let d = caller("d1", Role::Dispatcher, "hq");
        let ctx = Ctx {
            policy,
            caller: &d,
            now: t0(),
        };
        let input = NewTicket {
            category: category.into(),
            ticket_type: None,
            source: SourceChannel::Hotline,
            caller_name: "张三".into(),
            caller_phone: "13812345678".into(),
            caller_organisation: String::new(),
            feedback_method: None,
            address: "1 Main St".into(),
            location: Some(GeoPoint::new(39.9, 116.4, "location").unwrap()),
            content: "leak".into(),
            received_at: None,
            subject_staff_id: None,
            answered_on_call: false,
            complex: false,
            pipe_diameter_mm: None,
            referral: None,
            major: None,
            district: String::new(),
            time_limit_told: false,
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
            ticket_type: None,
            source: SourceChannel::Hotline,
            caller_name: String::new(),
            caller_phone: "110".into(),
            caller_organisation: String::new(),
            feedback_method: None,
            address: "x".into(),
            location: None,
            content: "opening hours?".into(),
            received_at: None,
            subject_staff_id: None,
            answered_on_call: true,
            complex: false,
            pipe_diameter_mm: None,
            referral: None,
            major: None,
            district: String::new(),
            time_limit_told: false,
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
            ticket_type: None,
            source: SourceChannel::Hotline,
            caller_name: String::new(),
            caller_phone: " ".into(),
            caller_organisation: String::new(),
            feedback_method: None,
            address: String::new(),
            location: None,
            content: String::new(),
            received_at: None,
            subject_staff_id: None,
            answered_on_call: false,
            complex: false,
            pipe_diameter_mm: None,
            referral: None,
            major: None,
            district: String::new(),
            time_limit_told: false,
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
        let p = Policy::builtin("heating").unwrap();
        let c1 = caller("c1", Role::Crew, "north");
        let t = dispatched(&p, "NETWORK_LEAK");
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

    /// R-SLA-5: the cap is the later of intake + 5 days and intake + the
    /// category's resolve time + 5 days: a 36 h category reaches 36 h + 5 days.
    #[test]
    fn r_sla_5_extension_cap() {
        let p = Policy::builtin("water").unwrap();
        let c1 = caller("c1", Role::Crew, "north");
        let d = caller("d1", Role::Dispatcher, "hq");
        let t = dispatched(&p, "METER_FAULT"); // resolve 36 h, cap 36 h + 5 days
        let t = t.claim(&at(&p, &c1, t0()), None).unwrap().ticket;
        let e = t
            .request_extension(
                &at(&p, &c1, t0()),
                "parts",
                Duration::days(5) + Duration::seconds(1),
                None,
            )
            .unwrap_err();
        assert_eq!(e.reason(), reason::EXTENSION_CAP_EXCEEDED);
        let t = t
            .request_extension(&at(&p, &c1, t0()), "parts", Duration::days(5), None)
            .unwrap()
            .ticket;
        let approved = t
            .decide_extension(&at(&p, &d, t0()), true, "ok")
            .unwrap()
            .ticket;
        assert_eq!(
            approved.deadlines.resolve_by,
            Some(t0() + Duration::hours(36) + Duration::days(5))
        );
        let refused = t
            .decide_extension(&at(&p, &d, t0()), false, "no")
            .unwrap()
            .ticket;
        assert_eq!(refused.deadlines.resolve_by, t.deadlines.resolve_by);
    }

    /// R-SLA-5: a 5-day category can be extended (to intake + 10 days).
    #[test]
    fn r_sla_5_a_five_day_category_can_be_extended() {
        let p = Policy::builtin("water").unwrap();
        let c1 = caller("c1", Role::Crew, "north");
        let t = dispatched(&p, "COMPENSATION_CLAIM"); // resolve 5 days
        let t = t.claim(&at(&p, &c1, t0()), None).unwrap().ticket;
        assert!(
            t.request_extension(&at(&p, &c1, t0()), "talks", Duration::days(5), None)
                .is_ok()
        );
        let e = t
            .request_extension(
                &at(&p, &c1, t0()),
                "talks",
                Duration::days(5) + Duration::seconds(1),
                None,
            )
            .unwrap_err();
        assert_eq!(e.reason(), reason::EXTENSION_CAP_EXCEEDED);
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
