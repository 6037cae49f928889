//! Conversions between protobuf messages and domain values, with the field
//! paths that bad input is reported under.
use super::pb;
use crate::domain::access::{self, TicketView};
use crate::domain::chain::SealCheck;
use crate::domain::geo::{self, GeoPoint};
use crate::domain::policy::Deadlines;
use crate::domain::sla::ClockKind;
use crate::domain::supervision::SupervisionTrigger;
use crate::domain::ticket::{
    Contact, ContactChannel, Counterpart, MajorKind, NewContact, NewMajor, NewReferral,
};
use crate::domain::ticket::{
    ExtensionState, FaultParty, FeedbackMethod, NewTicket, Resolution, RevisitOutcome,
    SourceChannel, Ticket, TicketType,
};
use crate::domain::{Caller, TicketState};
use crate::error::{AppError, AppResult, reason};
use crate::service::RequestMeta;
use crate::storage::tickets::{ListedEvent, StoredEvent};
use chrono::{DateTime, Duration, TimeZone, Utc};
use prost::Message;
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub fn ts(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

fn opt_ts(t: Option<DateTime<Utc>>) -> Option<prost_types::Timestamp> {
    t.map(ts)
}

/// The times a request may carry: 1970-01-01 to 9999-12-31 (UTC). Within
/// it every deadline the server computes stays representable; a handheld
/// whose clock reset to 1970 is judged by R-SLA-7, not refused.
fn time_range() -> std::ops::RangeInclusive<i64> {
    0..=253_402_300_799 // 9999-12-31T23:59:59Z
}

/// An optional timestamp field.
pub fn time(t: Option<&prost_types::Timestamp>, field: &str) -> AppResult<Option<DateTime<Utc>>> {
    let Some(t) = t else { return Ok(None) };
    if !(0..1_000_000_000).contains(&t.nanos) {
        return Err(AppError::invalid(
            field,
            reason::INVALID_FIELD,
            "nanos must be within [0, 1e9)",
        ));
    }
    if !time_range().contains(&t.seconds) {
        return Err(AppError::invalid(
            field,
            reason::OUT_OF_RANGE,
            "timestamp must lie within 1970-01-01 and 9999-12-31",
        ));
    }
    // The store keeps microseconds: a time is the time it will be read back as.
    Utc.timestamp_opt(t.seconds, (t.nanos / 1000) as u32 * 1000)
        .single()
        .map(Some)
        .ok_or_else(|| AppError::invalid(field, reason::OUT_OF_RANGE, "timestamp out of range"))
}

pub fn required_time(t: Option<&prost_types::Timestamp>, field: &str) -> AppResult<DateTime<Utc>> {
    time(t, field)?.ok_or_else(|| AppError::missing(field))
}

/// The longest duration a request may ask for (an extension, a notice's
/// deadline): a year. Beyond it no rule of the utility applies, and the
/// deadlines it gives stay far inside what a time can represent.
pub const LONGEST_DURATION: Duration = Duration::days(366);

/// A required duration field, which must be positive and at most `max`.
/// Checked arithmetic only: any i64 a client sends is an answer, never a panic.
pub fn required_duration(
    d: Option<&prost_types::Duration>,
    field: &str,
    max: Duration,
) -> AppResult<Duration> {
    let d = d.ok_or_else(|| AppError::missing(field))?;
    if d.nanos.checked_abs().is_none_or(|n| n >= 1_000_000_000)
        || (d.seconds > 0 && d.nanos < 0)
        || (d.seconds < 0 && d.nanos > 0)
    {
        return Err(AppError::invalid(
            field,
            reason::INVALID_FIELD,
            "nanos must be within (-1e9, 1e9) with the sign of seconds",
        ));
    }
    let out_of_range = || {
        AppError::invalid(
            field,
            reason::OUT_OF_RANGE,
            format!(
                "{field} must be positive and at most {} days",
                max.num_days()
            ),
        )
    };
    let value = Duration::try_seconds(d.seconds)
        .and_then(|s| s.checked_add(&Duration::nanoseconds(d.nanos as i64)))
        .ok_or_else(out_of_range)?;
    if value <= Duration::zero() || value > max {
        return Err(out_of_range());
    }
    Ok(value)
}

pub fn duration(d: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: d.num_seconds(),
        nanos: 0,
    }
}

/// A required UUID field.
pub fn id(value: &str, field: &str) -> AppResult<Uuid> {
    if value.is_empty() {
        return Err(AppError::missing(field));
    }
    Uuid::parse_str(value).map_err(|_| {
        AppError::invalid(
            field,
            reason::INVALID_FIELD,
            format!("{field} must be a UUID"),
        )
    })
}

pub fn non_empty(value: &str) -> Option<String> {
    let v = value.trim();
    (!v.is_empty()).then(|| v.to_string())
}

/// The AIP-155 part of a mutating request. The fingerprint covers the method
/// and the whole encoded request, so the same id with another body is caught.
pub fn meta<M: Message>(
    method: &str,
    msg: &M,
    request_id: &str,
    expected_version: i64,
    device_id: &str,
) -> AppResult<RequestMeta> {
    let request_id = id(request_id, "request_id")?;
    super::guard::note_request_id(&request_id);
    if expected_version < 0 {
        return Err(AppError::invalid(
            "expected_version",
            reason::OUT_OF_RANGE,
            "expected_version must be >= 0",
        ));
    }
    Ok(RequestMeta {
        request_id,
        fingerprint: fingerprint(method, msg),
        expected_version,
        device_id: non_empty(device_id),
        push: None,
    })
}

/// Digest of a method and its encoded request: a replay must match it.
pub fn fingerprint<M: Message>(method: &str, msg: &M) -> String {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update([0]);
    h.update(msg.encode_to_vec());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

pub fn geo_point(p: Option<&pb::GeoPoint>, field: &str) -> AppResult<Option<GeoPoint>> {
    p.map(|p| GeoPoint::new(p.latitude, p.longitude, field))
        .transpose()
}

pub fn accuracy(a: f64) -> AppResult<f64> {
    geo::validate_accuracy(a, "accuracy_m")
}

/// How the call came in (unset: the own hotline).
pub fn source(v: i32) -> AppResult<SourceChannel> {
    Ok(from_wire(SourceChannel::ALL, v, "source")?.unwrap_or(SourceChannel::Hotline))
}

/// A source to filter by (unset: any).
pub fn source_filter(v: i32) -> AppResult<Option<SourceChannel>> {
    from_wire(SourceChannel::ALL, v, "source")
}

/// A phone to search by, as the digits it is stored under (empty: none).
pub fn phone_digits(phone: &str) -> AppResult<Option<String>> {
    if phone.trim().is_empty() {
        return Ok(None);
    }
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return Err(AppError::invalid(
            "caller_phone",
            reason::INVALID_FIELD,
            "caller_phone must hold digits",
        ));
    }
    Ok(Some(digits))
}

/// Wire enums whose values are a `wire_enum!` domain enum's, in the same
/// order after UNSPECIFIED (0), with the same names behind the proto's
/// prefix (`OUTAGE_KIND_` + `EMERGENCY_REPAIR`): the wire value of a domain
/// value is its position in `ALL` + 1. Unit tests check the names agree.
pub fn to_wire<D: PartialEq + Copy>(all: &[D], v: D) -> i32 {
    all.iter().position(|x| *x == v).map_or(0, |i| i as i32 + 1)
}

/// The domain value of wire value `v` (see [`to_wire`]): 0 (unset) is None;
/// a value the proto does not define is INVALID_ARGUMENT on `field`.
pub fn from_wire<D: Copy>(all: &[D], v: i32, field: &str) -> AppResult<Option<D>> {
    match usize::try_from(v) {
        Ok(0) => Ok(None),
        Ok(i) if i <= all.len() => Ok(Some(all[i - 1])),
        _ => Err(AppError::invalid(
            field,
            reason::INVALID_FIELD,
            format!("unknown {field}"),
        )),
    }
}

/// R-TKT-14: a ticket type field (unset: None).
pub fn ticket_type(v: i32, field: &str) -> AppResult<Option<TicketType>> {
    from_wire(TicketType::ALL, v, field)
}

fn ticket_type_pb(t: TicketType) -> i32 {
    to_wire(TicketType::ALL, t)
}

/// R-TKT-1: how the caller wants to hear back (unset: not asked).
fn feedback_method(v: i32) -> AppResult<Option<FeedbackMethod>> {
    use pb::FeedbackMethod as P;
    let p = P::try_from(v).map_err(|_| {
        AppError::invalid(
            "feedback_method",
            reason::INVALID_FIELD,
            "unknown feedback_method",
        )
    })?;
    Ok(match p {
        P::Unspecified => None,
        P::Phone => Some(FeedbackMethod::Phone),
        P::Sms => Some(FeedbackMethod::Sms),
        P::InWriting => Some(FeedbackMethod::InWriting),
        P::InPerson => Some(FeedbackMethod::InPerson),
    })
}

fn feedback_method_pb(f: Option<FeedbackMethod>) -> pb::FeedbackMethod {
    use pb::FeedbackMethod as P;
    match f {
        None => P::Unspecified,
        Some(FeedbackMethod::Phone) => P::Phone,
        Some(FeedbackMethod::Sms) => P::Sms,
        Some(FeedbackMethod::InWriting) => P::InWriting,
        Some(FeedbackMethod::InPerson) => P::InPerson,
    }
}

pub fn state_pb(s: TicketState) -> pb::TicketState {
    use pb::TicketState as P;
    match s {
        TicketState::New => P::New,
        TicketState::Dispatched => P::Dispatched,
        TicketState::Claimed => P::Claimed,
        TicketState::OnSite => P::OnSite,
        TicketState::Resolved => P::Resolved,
        TicketState::Closed => P::Closed,
        TicketState::Returned => P::Returned,
        TicketState::Supervised => P::Supervised,
        TicketState::Cancelled => P::Cancelled,
        TicketState::Suspended => P::Suspended,
    }
}

/// A state filter: UNSPECIFIED means any.
pub fn state_filter(v: i32) -> AppResult<Option<TicketState>> {
    let p = pb::TicketState::try_from(v)
        .map_err(|_| AppError::invalid("state", reason::INVALID_FIELD, "unknown state"))?;
    Ok(TicketState::ALL.into_iter().find(|s| state_pb(*s) == p))
}

fn fault_party(v: i32) -> AppResult<FaultParty> {
    use pb::FaultParty as P;
    Ok(
        match P::try_from(v).map_err(|_| {
            AppError::invalid("resolution.cause", reason::INVALID_FIELD, "unknown cause")
        })? {
            P::Unspecified => FaultParty::Unspecified,
            P::Utility => FaultParty::Utility,
            P::Customer => FaultParty::Customer,
            P::ThirdParty => FaultParty::ThirdParty,
        },
    )
}

fn fault_party_pb(f: FaultParty) -> pb::FaultParty {
    match f {
        FaultParty::Unspecified => pb::FaultParty::Unspecified,
        FaultParty::Utility => pb::FaultParty::Utility,
        FaultParty::Customer => pb::FaultParty::Customer,
        FaultParty::ThirdParty => pb::FaultParty::ThirdParty,
    }
}

pub fn revisit_outcome(v: i32) -> AppResult<RevisitOutcome> {
    use pb::RevisitOutcome as P;
    match P::try_from(v) {
        Ok(P::Satisfied) => Ok(RevisitOutcome::Satisfied),
        Ok(P::NotSatisfiedUnitFault) => Ok(RevisitOutcome::NotSatisfiedUnitFault),
        Ok(P::NotSatisfiedOther) => Ok(RevisitOutcome::NotSatisfiedOther),
        Ok(P::Unspecified) => Err(AppError::missing("outcome")),
        Err(_) => Err(AppError::invalid(
            "outcome",
            reason::INVALID_FIELD,
            "unknown outcome",
        )),
    }
}

fn revisit_outcome_pb(o: RevisitOutcome) -> pb::RevisitOutcome {
    match o {
        RevisitOutcome::Satisfied => pb::RevisitOutcome::Satisfied,
        RevisitOutcome::NotSatisfiedUnitFault => pb::RevisitOutcome::NotSatisfiedUnitFault,
        RevisitOutcome::NotSatisfiedOther => pb::RevisitOutcome::NotSatisfiedOther,
    }
}

pub fn resolution(r: Option<&pb::Resolution>) -> AppResult<Resolution> {
    let r = r.ok_or_else(|| AppError::missing("resolution"))?;
    if r.code.trim().is_empty() {
        return Err(AppError::missing("resolution.code"));
    }
    Ok(Resolution {
        code: r.code.trim().to_string(),
        notes: r.notes.clone(),
        parts: r.parts.clone(),
        cause: fault_party(r.cause)?,
        customer_acknowledged: r.customer_acknowledged,
    })
}

pub fn new_ticket(m: &pb::CreateTicketRequest) -> AppResult<NewTicket> {
    Ok(NewTicket {
        category: m.category.trim().to_string(),
        ticket_type: ticket_type(m.r#type, "type")?,
        source: source(m.source)?,
        caller_name: m.caller_name.trim().to_string(),
        caller_phone: m.caller_phone.trim().to_string(),
        caller_organisation: m.caller_organisation.trim().to_string(),
        feedback_method: feedback_method(m.feedback_method)?,
        address: m.address.trim().to_string(),
        location: geo_point(m.location.as_ref(), "location")?,
        content: m.content.clone(),
        received_at: time(m.received_at.as_ref(), "received_at")?,
        subject_staff_id: non_empty(&m.subject_staff_id),
        answered_on_call: m.answered_on_call,
        complex: m.complex,
        pipe_diameter_mm: m.pipe_diameter_mm,
        referral: m.referral.as_ref().map(referral).transpose()?,
        major: m.major.as_ref().map(major).transpose()?,
        district: m.district.trim().to_string(),
        time_limit_told: m.time_limit_told,
    })
}

/// R-TKT-17: a major flag as given.
pub fn major(m: &pb::Major) -> AppResult<NewMajor> {
    Ok(NewMajor {
        kind: from_wire(MajorKind::ALL, m.kind, "major.kind")?,
        responsible: m.responsible.trim().to_string(),
        instruction: m.instruction.trim().to_string(),
        instruction_deadline: time(
            m.instruction_deadline.as_ref(),
            "major.instruction_deadline",
        )?,
    })
}

/// R-TKT-15: the referral fields of an intake.
fn referral(r: &pb::ReferralIntake) -> AppResult<NewReferral> {
    Ok(NewReferral {
        reference: r.reference.trim().to_string(),
        deadline: time(r.deadline.as_ref(), "referral.deadline")?,
    })
}

/// R-SLA-6: a contact to record.
pub fn new_contact(m: &pb::RecordContactRequest) -> AppResult<NewContact> {
    let counterpart = from_wire(Counterpart::ALL, m.counterpart, "counterpart")?
        .ok_or_else(|| AppError::missing("counterpart"))?;
    let channel =
        from_wire(ContactChannel::ALL, m.channel, "channel")?.unwrap_or(ContactChannel::Phone);
    if m.summary.trim().is_empty() {
        return Err(AppError::missing("summary"));
    }
    Ok(NewContact {
        counterpart,
        channel,
        summary: m.summary.trim().to_string(),
        result: m.result,
        occurred_at: time(m.occurred_at.as_ref(), "occurred_at")?,
    })
}

fn contact_pb(c: &Contact, visible: bool) -> pb::Contact {
    pb::Contact {
        counterpart: to_wire(Counterpart::ALL, c.counterpart),
        channel: to_wire(ContactChannel::ALL, c.channel),
        // What was said to the caller may name him: shown as the caller's details are.
        summary: if visible {
            c.summary.clone()
        } else {
            String::new()
        },
        result: c.result,
        by: c.by.clone(),
        time: Some(ts(c.at)),
    }
}

/// The ticket as this caller may see it (R-TKT-13 masking).
pub fn ticket(t: &Ticket, caller: &Caller) -> pb::Ticket {
    ticket_as(t, TicketView::of(caller, t))
}

/// The ticket in one of the R-TKT-13 views.
pub fn ticket_as(t: &Ticket, view: TicketView) -> pb::Ticket {
    let visible = view.caller_details();
    let Deadlines {
        accept_by,
        arrive_by,
        resolve_by,
        revisit_by,
        feedback_by,
        supervise_by,
        forward_by,
        follow_up: f,
    } = t.deadlines;
    pb::Ticket {
        id: t.id.to_string(),
        version: t.version,
        state: state_pb(t.state) as i32,
        category: t.category.clone(),
        priority: t.priority.clone(),
        policy_profile: t.profile.clone(),
        source: to_wire(SourceChannel::ALL, t.source),
        caller_name: if visible {
            t.caller_name.clone()
        } else {
            access::mask_name(&t.caller_name)
        },
        caller_phone: if visible {
            t.caller_phone.clone()
        } else {
            access::mask_phone(&t.caller_phone)
        },
        caller_masked: !visible,
        address: t.address.clone(),
        location: t.location.map(|p| pb::GeoPoint {
            latitude: p.latitude(),
            longitude: p.longitude(),
        }),
        content: t.content.clone(),
        received_by: t.received_by.clone(),
        received_at: Some(ts(t.received_at)),
        unit: t.unit.clone().unwrap_or_default(),
        assignee: t.assignee.clone().unwrap_or_default(),
        subject_staff_id: if view.subject_staff() {
            t.subject_staff_id.clone().unwrap_or_default()
        } else {
            String::new()
        },
        create_time: Some(ts(t.created_at)),
        update_time: Some(ts(t.updated_at)),
        dispatch_time: opt_ts(t.dispatched_at),
        claim_time: opt_ts(t.claimed_at),
        arrive_time: opt_ts(t.arrived_at),
        resolve_time: opt_ts(t.resolved_at),
        close_time: opt_ts(t.closed_at),
        accept_by: opt_ts(accept_by),
        arrive_by: opt_ts(arrive_by),
        resolve_by: opt_ts(resolve_by),
        revisit_by: opt_ts(revisit_by),
        appointment_time: opt_ts(t.appointment_at),
        escalation_level: t.escalation_level,
        return_count: t.return_count,
        breached: t.breached(),
        arrival: t.arrival.as_ref().map(|a| pb::Arrival {
            location: Some(pb::GeoPoint {
                latitude: a.location.latitude(),
                longitude: a.location.longitude(),
            }),
            accuracy_m: a.accuracy_m,
            verified: a.verified,
            distance_m: a.distance_m.unwrap_or_default(),
        }),
        resolution: t.resolution.as_ref().map(|r| pb::Resolution {
            code: r.code.clone(),
            notes: r.notes.clone(),
            parts: r.parts.clone(),
            cause: fault_party_pb(r.cause) as i32,
            customer_acknowledged: r.customer_acknowledged,
        }),
        revisit_outcome: t.revisit.map(revisit_outcome_pb).unwrap_or_default() as i32,
        extension: t.extension.as_ref().map(|x| pb::Extension {
            state: match x.state {
                ExtensionState::Pending => pb::ExtensionState::Pending,
                ExtensionState::Approved => pb::ExtensionState::Approved,
                ExtensionState::Refused => pb::ExtensionState::Refused,
            } as i32,
            reason: x.reason.clone(),
            extend_by: Some(duration(Duration::seconds(x.extend_by_secs))),
            requested_by: x.requested_by.clone(),
            decided_by: x.decided_by.clone().unwrap_or_default(),
            decision_note: x.decision_note.clone(),
        }),
        extended_by: Some(duration(Duration::seconds(t.extended_by_secs))),
        supervision_count: t.supervision_count,
        repeat_repair: t.repeat_of.is_some(),
        repeat_of: t.repeat_of.map(|r| r.to_string()).unwrap_or_default(),
        feedback_by: opt_ts(feedback_by),
        supervise_by: opt_ts(supervise_by),
        supervision: t.supervision.as_ref().map(|n| pb::SupervisionNotice {
            trigger: supervision_trigger_pb(n.trigger) as i32,
            notice: n.notice.clone(),
            issued_by: n.issued_by.clone(),
            issue_time: Some(ts(n.issued_at)),
            deadline: Some(ts(n.deadline)),
        }),
        redo_count: t.redo_count,
        pipe_diameter_mm: t.pipe_diameter_mm,
        complex: t.complex,
        clock_outcomes: ClockKind::ALL
            .into_iter()
            .filter_map(|k| {
                t.on_time(k).map(|on_time| pb::ClockOutcome {
                    clock: clock_kind_pb(k) as i32,
                    on_time,
                })
            })
            .collect(),
        outage_id: t.outage_id.map(|o| o.to_string()).unwrap_or_default(),
        caller_organisation: if visible {
            t.caller_organisation.clone()
        } else {
            access::mask_name(&t.caller_organisation)
        },
        feedback_method: feedback_method_pb(t.feedback_method) as i32,
        forward_by: forward_by.map(ts),
        r#type: ticket_type_pb(t.ticket_type),
        referral: t.referral.as_ref().map(|r| pb::Referral {
            reference: r.reference.clone(),
            deadline: Some(ts(r.deadline)),
            deadline_from_platform: r.deadline_from_platform,
        }),
        contacts: t.contacts.iter().map(|c| contact_pb(c, visible)).collect(),
        callback_by: opt_ts(f.callback_by),
        unit_report_by: opt_ts(f.unit_report_by),
        result_by: opt_ts(f.result_by),
        caller_update_by: opt_ts(f.caller_update_by),
        referrer_update_by: opt_ts(f.referrer_update_by),
        reply_by: opt_ts(f.reply_by),
        suspension: t.suspension.as_ref().map(|s| pb::Suspension {
            reason: s.reason.clone(),
            requested_by: s.requested_by.clone(),
            request_time: Some(ts(s.requested_at)),
            approved_by: s.approved_by.clone().unwrap_or_default(),
            suspend_time: opt_ts(s.since),
            left: s.left.map(state_pb).unwrap_or_default() as i32,
        }),
        suspensions: t.suspensions,
        major: t.major.as_ref().map(|m| pb::Major {
            kind: to_wire(MajorKind::ALL, m.kind),
            responsible: m.responsible.clone(),
            instruction: m.instruction.clone(),
            instruction_deadline: opt_ts(m.instruction_deadline),
            flagged_by: m.flagged_by.clone(),
            flag_time: Some(ts(m.flagged_at)),
        }),
        leadership_by: opt_ts(f.leadership_by),
        instruction_by: opt_ts(f.instruction_by),
        district: t.district.clone().unwrap_or_default(),
        long_matter_by: opt_ts(f.long_matter_by),
        long_matter: t.long_matter.as_ref().map(|a| pb::LongMatterApproval {
            approved_by: a.by.clone(),
            approve_time: Some(ts(a.at)),
            note: a.note.clone(),
        }),
        time_limit_told: t.time_limit_told,
        suggested_unit: t.suggested_unit.clone().unwrap_or_default(),
        recusals: if view.subject_staff() {
            t.recusals
                .iter()
                .map(|r| pb::Recusal {
                    staff_id: r.staff.clone(),
                    reason: r.reason.clone(),
                    recused_by: r.by.clone(),
                    recuse_time: Some(ts(r.at)),
                })
                .collect()
        } else {
            Vec::new()
        },
    }
}

fn supervision_trigger_pb(t: SupervisionTrigger) -> pb::SupervisionTrigger {
    match t {
        SupervisionTrigger::Manual => pb::SupervisionTrigger::Manual,
        SupervisionTrigger::Redo => pb::SupervisionTrigger::Redo,
        SupervisionTrigger::RepeatComplaint => pb::SupervisionTrigger::RepeatComplaint,
        SupervisionTrigger::BrokenPromise => pb::SupervisionTrigger::BrokenPromise,
    }
}

/// ClockKind::ALL is in the proto's order (checked by a unit test).
pub fn clock_kind_pb(k: ClockKind) -> pb::ClockKind {
    pb::ClockKind::try_from(to_wire(&ClockKind::ALL, k)).unwrap_or_default()
}

/// A listed event: the event, its hash and how its seal held (R-REC-2).
pub fn listed_event(l: &ListedEvent) -> pb::TicketEvent {
    pb::TicketEvent {
        hash: l.hash.clone().unwrap_or_default(),
        seal: match l.seal {
            SealCheck::Intact => pb::SealCheck::Intact,
            SealCheck::BeforeChain => pb::SealCheck::BeforeChain,
            SealCheck::Altered => pb::SealCheck::Altered,
            SealCheck::Unlinked => pb::SealCheck::Unlinked,
            SealCheck::Unsealed => pb::SealCheck::Unsealed,
        } as i32,
        ..event(&l.event)
    }
}

pub fn event(e: &StoredEvent) -> pb::TicketEvent {
    pb::TicketEvent {
        sequence: e.sequence,
        ticket_id: e.ticket_id.to_string(),
        ticket_version: e.ticket_version,
        kind: e.kind.clone(),
        actor_sub: e.actor_sub.clone(),
        actor_role: e.actor_role.clone(),
        actor_unit: e.actor_unit.clone(),
        device_id: e.device_id.clone().unwrap_or_default(),
        request_id: e.request_id.clone().unwrap_or_default(),
        occurred_at: opt_ts(e.occurred_at),
        effective_time: Some(ts(e.effective_at)),
        receive_time: Some(ts(e.received_at)),
        time_untrusted: e.time_untrusted,
        from_state: e.from_state.map(state_pb).unwrap_or_default() as i32,
        to_state: state_pb(e.to_state) as i32,
        details_json: e.details.clone(),
        hash: String::new(),
        seal: pb::SealCheck::Unspecified as i32,
    }
}

#[cfg(test)]
mod wire_enum_tests {
    use super::*;

    /// R-TKT-14: each type's wire value has its name behind TICKET_TYPE_.
    #[test]
    fn ticket_types_match_the_proto_by_name() {
        for t in TicketType::ALL {
            let wire = ticket_type_pb(*t);
            let name = pb::TicketType::try_from(wire).unwrap().as_str_name();
            assert_eq!(name, format!("TICKET_TYPE_{}", t.as_str()));
            assert_eq!(ticket_type(wire, "type").unwrap(), Some(*t));
        }
        assert_eq!(ticket_type(0, "type").unwrap(), None);
        assert!(ticket_type(8, "type").is_err());
    }

    /// Every wire enum written by position has the proto's names, in order.
    #[test]
    fn positional_enums_match_the_proto_by_name() {
        fn names<D: Copy>(
            all: &[D],
            name: impl Fn(D) -> String,
            wire: impl Fn(i32) -> Option<String>,
        ) {
            for (i, d) in all.iter().enumerate() {
                assert_eq!(wire(i as i32 + 1), Some(name(*d)));
            }
            assert_eq!(
                wire(all.len() as i32 + 1),
                None,
                "the proto has more values"
            );
        }
        names(
            SourceChannel::ALL,
            |s| format!("SOURCE_CHANNEL_{}", s.as_str()),
            |v| {
                pb::SourceChannel::try_from(v)
                    .ok()
                    .map(|p| p.as_str_name().to_string())
            },
        );
        names(
            Counterpart::ALL,
            |s| format!("COUNTERPART_{}", s.as_str()),
            |v| {
                pb::Counterpart::try_from(v)
                    .ok()
                    .map(|p| p.as_str_name().to_string())
            },
        );
        names(
            ContactChannel::ALL,
            |s| format!("CONTACT_CHANNEL_{}", s.as_str()),
            |v| {
                pb::ContactChannel::try_from(v)
                    .ok()
                    .map(|p| p.as_str_name().to_string())
            },
        );
        names(
            &ClockKind::ALL,
            |k| {
                format!(
                    "CLOCK_KIND_{}",
                    serde_json::to_value(k).unwrap().as_str().unwrap()
                )
            },
            |v| {
                pb::ClockKind::try_from(v)
                    .ok()
                    .map(|p| p.as_str_name().to_string())
            },
        );
    }
}
