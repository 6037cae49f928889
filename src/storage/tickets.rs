//! Ticket rows and their audit events.
use super::entities::{ticket_events, tickets};
use super::feed::Cause;
use super::{db_err, from_micros, report_counts, to_micros};
use crate::domain::TicketState;
use crate::domain::chain::{SealCheck, Walk};
use crate::domain::geo::GeoPoint;
use crate::domain::policy::{Deadlines, FollowUpDeadlines};
use crate::domain::sla::ClockKind;
use crate::domain::ticket::{
    Contact, LongMatterApproval, Major, Recusal, Referral, SourceChannel, Suspension, Ticket,
    TicketType,
};
use crate::error::{AppError, AppResult};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::LikeExpr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use serde::{Serialize, de::DeserializeOwned};
use uuid::Uuid;

fn json_opt<T: Serialize>(v: &Option<T>) -> Option<String> {
    v.as_ref()
        .map(|x| serde_json::to_string(x).expect("serializable"))
}

fn parse_json_opt<T: DeserializeOwned>(v: Option<String>, what: &str) -> AppResult<Option<T>> {
    v.map(|s| serde_json::from_str(&s))
        .transpose()
        .map_err(|e| AppError::internal(anyhow::anyhow!("corrupt {what} column: {e}")))
}

/// The `follow_up` column: what R-TKT-15 and R-SLA-6 add to a ticket, kept
/// as one document (none of it is filtered on but the reference, which has
/// its own column).
#[derive(Serialize, serde::Deserialize, Default)]
struct FollowUpColumn {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    referral: Option<Referral>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    contacts: Vec<Contact>,
    #[serde(default)]
    deadlines: FollowUpDeadlines,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    suspension: Option<Suspension>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    recusals: Vec<Recusal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    major: Option<Major>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    long_matter: Option<LongMatterApproval>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    time_limit_told: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    received_unit: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    suggested_unit: Option<String>,
}

fn follow_up_column(t: &Ticket) -> Option<String> {
    let c = FollowUpColumn {
        referral: t.referral.clone(),
        contacts: t.contacts.clone(),
        deadlines: t.deadlines.follow_up,
        suspension: t.suspension.clone(),
        recusals: t.recusals.clone(),
        major: t.major.clone(),
        long_matter: t.long_matter.clone(),
        time_limit_told: t.time_limit_told,
        received_unit: t.received_unit.clone(),
        suggested_unit: t.suggested_unit.clone(),
    };
    let empty = c.referral.is_none()
        && c.suspension.is_none()
        && c.recusals.is_empty()
        && c.major.is_none()
        && c.long_matter.is_none()
        && !c.time_limit_told
        && c.received_unit.is_empty()
        && c.suggested_unit.is_none()
        && c.contacts.is_empty()
        && c.deadlines == FollowUpDeadlines::default();
    (!empty).then(|| serde_json::to_string(&c).expect("serializable"))
}

fn opt_micros(t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(to_micros)
}

fn opt_time(m: Option<i64>) -> Option<DateTime<Utc>> {
    m.map(from_micros)
}

fn ticket_id(id: &str) -> AppResult<Uuid> {
    Uuid::parse_str(id).map_err(|_| corrupt("ticket id", id))
}

fn corrupt(what: &str, value: &str) -> AppError {
    AppError::internal(anyhow::anyhow!("corrupt {what} value {value:?}"))
}

pub fn to_model(t: &Ticket) -> tickets::Model {
    tickets::Model {
        id: t.id.to_string(),
        version: t.version,
        state: t.state.as_str().to_string(),
        category: t.category.clone(),
        priority: t.priority.clone(),
        profile: t.profile.clone(),
        source: t.source.as_str().to_string(),
        caller_name: t.caller_name.clone(),
        caller_phone: t.caller_phone.clone(),
        address: t.address.clone(),
        latitude: t.location.map(|p| p.latitude()),
        longitude: t.location.map(|p| p.longitude()),
        content: t.content.clone(),
        received_by: t.received_by.clone(),
        received_at: to_micros(t.received_at),
        subject_staff_id: t.subject_staff_id.clone(),
        unit: t.unit.clone(),
        assignee: t.assignee.clone(),
        created_at: to_micros(t.created_at),
        updated_at: to_micros(t.updated_at),
        dispatched_at: opt_micros(t.dispatched_at),
        claimed_at: opt_micros(t.claimed_at),
        arrived_at: opt_micros(t.arrived_at),
        resolved_at: opt_micros(t.resolved_at),
        closed_at: opt_micros(t.closed_at),
        accept_by: opt_micros(t.deadlines.accept_by),
        arrive_by: opt_micros(t.deadlines.arrive_by),
        resolve_by: opt_micros(t.deadlines.resolve_by),
        revisit_by: opt_micros(t.deadlines.revisit_by),
        appointment_at: opt_micros(t.appointment_at),
        escalation_level: t.escalation_level,
        return_count: t.return_count,
        supervision_count: t.supervision_count,
        // Derived, kept as a column for the ListTickets filter.
        breached: t.breached(),
        arrival: json_opt(&t.arrival),
        resolution: json_opt(&t.resolution),
        revisit_outcome: json_opt(&t.revisit),
        extension: json_opt(&t.extension),
        extended_by_secs: t.extended_by_secs,
        last_event_at: to_micros(t.last_event_at),
        personal_data_removed_at: t.personal_data_removed_at.map(to_micros),
        breaches: (!t.breaches.is_empty())
            .then(|| serde_json::to_string(&t.breaches).expect("serializable")),
        // The monitor's index: derived from the ticket on every write.
        next_deadline_at: opt_micros(t.next_deadline()),
        address_key: Some(crate::domain::ticket::address_key(&t.address)),
        repeat_of: t.repeat_of.map(|r| r.to_string()),
        feedback_by: opt_micros(t.deadlines.feedback_by),
        supervise_by: opt_micros(t.deadlines.supervise_by),
        promised_resolve_by: opt_micros(t.promised_resolve_by),
        redo_count: t.redo_count,
        pipe_diameter_mm: t.pipe_diameter_mm,
        complex: t.complex,
        supervision: json_opt(&t.supervision),
        clock_stops: (!t.clock_stops.is_empty())
            .then(|| serde_json::to_string(&t.clock_stops).expect("serializable")),
        caller_key: Some(t.caller_key()),
        // Derived outcomes the service report aggregates (R-RPT-1).
        accept_on_time: t.on_time(ClockKind::Accept),
        arrive_on_time: t.on_time(ClockKind::Arrive),
        resolve_on_time: t.on_time(ClockKind::Resolve),
        revisit_on_time: t.on_time(ClockKind::Revisit),
        feedback_on_time: t.on_time(ClockKind::Feedback),
        supervision_on_time: t.on_time(ClockKind::Supervision),
        outage_id: t.outage_id.map(|o| o.to_string()),
        caller_organisation: (!t.caller_organisation.is_empty())
            .then(|| t.caller_organisation.clone()),
        feedback_method: json_opt(&t.feedback_method),
        forward_by: opt_micros(t.deadlines.forward_by),
        forward_on_time: t.on_time(ClockKind::Forward),
        ticket_type: Some(t.ticket_type.as_str().to_string()),
        platform_reference: t
            .referral
            .as_ref()
            .filter(|r| !r.reference.is_empty())
            .map(|r| r.reference.clone()),
        follow_up: follow_up_column(t),
        callback_on_time: t.on_time(ClockKind::Callback),
        unit_report_on_time: t.on_time(ClockKind::UnitReport),
        result_on_time: t.on_time(ClockKind::Result),
        caller_update_on_time: t.on_time(ClockKind::CallerUpdate),
        referrer_update_on_time: t.on_time(ClockKind::ReferrerUpdate),
        reply_on_time: t.on_time(ClockKind::Reply),
        suspensions: t.suspensions,
        district: t.district.clone(),
        hidden_from: super::feed::hidden_from(t.recused_staff()),
        leadership_on_time: t.on_time(ClockKind::Leadership),
        instruction_on_time: t.on_time(ClockKind::Instruction),
        major: t.major.is_some(),
        long_matter_on_time: t.on_time(ClockKind::LongMatter),
    }
}

pub fn from_model(m: tickets::Model) -> AppResult<Ticket> {
    let follow_up: FollowUpColumn =
        parse_json_opt(m.follow_up.clone(), "follow_up")?.unwrap_or_default();
    let location = match (m.latitude, m.longitude) {
        (Some(lat), Some(lon)) => {
            Some(GeoPoint::new(lat, lon, "location").map_err(|_| corrupt("location", &m.id))?)
        }
        _ => None,
    };
    Ok(Ticket {
        id: Uuid::parse_str(&m.id).map_err(|_| corrupt("ticket id", &m.id))?,
        version: m.version,
        state: TicketState::parse(&m.state).ok_or_else(|| corrupt("state", &m.state))?,
        source: SourceChannel::parse(&m.source).ok_or_else(|| corrupt("source", &m.source))?,
        ticket_type: match m.ticket_type.as_deref() {
            None => TicketType::default(),
            Some(s) => TicketType::parse(s).ok_or_else(|| corrupt("ticket_type", s))?,
        },
        category: m.category,
        priority: m.priority,
        profile: m.profile,
        caller_name: m.caller_name,
        caller_phone: m.caller_phone,
        caller_organisation: m.caller_organisation.unwrap_or_default(),
        feedback_method: parse_json_opt(m.feedback_method, "feedback_method")?,
        address: m.address,
        district: m.district,
        location,
        content: m.content,
        received_by: m.received_by,
        received_at: from_micros(m.received_at),
        subject_staff_id: m.subject_staff_id,
        unit: m.unit,
        assignee: m.assignee,
        created_at: from_micros(m.created_at),
        updated_at: from_micros(m.updated_at),
        dispatched_at: opt_time(m.dispatched_at),
        claimed_at: opt_time(m.claimed_at),
        arrived_at: opt_time(m.arrived_at),
        resolved_at: opt_time(m.resolved_at),
        closed_at: opt_time(m.closed_at),
        deadlines: Deadlines {
            accept_by: opt_time(m.accept_by),
            arrive_by: opt_time(m.arrive_by),
            resolve_by: opt_time(m.resolve_by),
            revisit_by: opt_time(m.revisit_by),
            feedback_by: opt_time(m.feedback_by),
            supervise_by: opt_time(m.supervise_by),
            forward_by: opt_time(m.forward_by),
            follow_up: follow_up.deadlines,
        },
        appointment_at: opt_time(m.appointment_at),
        escalation_level: m.escalation_level,
        return_count: m.return_count,
        supervision_count: m.supervision_count,
        arrival: parse_json_opt(m.arrival, "arrival")?,
        resolution: parse_json_opt(m.resolution, "resolution")?,
        revisit: parse_json_opt(m.revisit_outcome, "revisit_outcome")?,
        extension: parse_json_opt(m.extension, "extension")?,
        extended_by_secs: m.extended_by_secs,
        breaches: parse_json_opt(m.breaches, "breaches")?.unwrap_or_default(),
        clock_stops: parse_json_opt(m.clock_stops, "clock_stops")?.unwrap_or_default(),
        supervision: parse_json_opt(m.supervision, "supervision")?,
        redo_count: m.redo_count,
        pipe_diameter_mm: m.pipe_diameter_mm,
        complex: m.complex,
        promised_resolve_by: opt_time(m.promised_resolve_by),
        repeat_of: m
            .repeat_of
            .as_deref()
            .map(|r| Uuid::parse_str(r).map_err(|_| corrupt("repeat_of", r)))
            .transpose()?,
        outage_id: m
            .outage_id
            .as_deref()
            .map(|o| Uuid::parse_str(o).map_err(|_| corrupt("outage_id", o)))
            .transpose()?,
        referral: follow_up.referral,
        contacts: follow_up.contacts,
        suspension: follow_up.suspension,
        recusals: follow_up.recusals,
        major: follow_up.major,
        long_matter: follow_up.long_matter,
        time_limit_told: follow_up.time_limit_told,
        received_unit: follow_up.received_unit,
        suggested_unit: follow_up.suggested_unit,
        suspensions: m.suspensions,
        last_event_at: from_micros(m.last_event_at),
        personal_data_removed_at: m.personal_data_removed_at.map(from_micros),
    })
}

pub async fn get<C: ConnectionTrait>(db: &C, id: Uuid) -> AppResult<Option<Ticket>> {
    tickets::Entity::find_by_id(id.to_string())
        .one(db)
        .await
        .map_err(db_err)?
        .map(from_model)
        .transpose()
}

/// Insert a new ticket, and count it in the report (`report_counts`).
pub async fn insert<C: ConnectionTrait>(db: &C, t: &Ticket) -> AppResult<()> {
    let row = to_model(t);
    tickets::Entity::insert(row.clone().into_active_model())
        .exec_without_returning(db)
        .await
        .map_err(db_err)?;
    report_counts::record(db, None, &row).await
}

/// Write `next` over the row only if the row still holds `prev` (its
/// version): one conditional UPDATE, so of concurrent writers exactly one
/// succeeds. Returns false when someone else changed the ticket first. The
/// report's counts follow the change in the same transaction.
pub async fn update_if_version<C: ConnectionTrait>(
    db: &C,
    prev: &Ticket,
    next: &Ticket,
) -> AppResult<bool> {
    let row = to_model(next);
    // Every column is written (`reset_all` marks them all Set), except the key.
    let mut am = row.clone().into_active_model().reset_all();
    am.id = sea_orm::ActiveValue::NotSet;
    let res = tickets::Entity::update_many()
        .set(am)
        .filter(tickets::Column::Id.eq(next.id.to_string()))
        .filter(tickets::Column::Version.eq(prev.version))
        .exec(db)
        .await
        .map_err(db_err)?;
    if res.rows_affected != 1 {
        return Ok(false);
    }
    report_counts::record(db, Some(&to_model(prev)), &row).await?;
    Ok(true)
}

/// Filters of ListTickets; `None` means "any".
#[derive(Debug, Default, Clone)]
pub struct TicketFilter {
    pub state: Option<TicketState>,
    pub unit: Option<String>,
    pub assignee: Option<String>,
    pub priority: Option<String>,
    /// R-TKT-14.
    pub ticket_type: Option<TicketType>,
    pub breached: Option<bool>,
    pub updated_after: Option<DateTime<Utc>>,
    /// Search: the caller's phone as digits (the indexed `caller_key`).
    pub caller_key: Option<String>,
    /// Search: text within the normalised address (R-TKT-11's key).
    pub address_text: Option<String>,
    pub category: Option<String>,
    pub source: Option<SourceChannel>,
    /// Search: received in [received_after, received_before).
    pub received_after: Option<DateTime<Utc>>,
    pub received_before: Option<DateTime<Utc>>,
    /// R-TKT-15: a platform's reference (exact).
    pub platform_reference: Option<String>,
    /// R-RPT-2: the address's district (exact).
    pub district: Option<String>,
    /// Hide tickets kept away from this staff member (R-TKT-13 recusal).
    pub recused_sub: Option<String>,
}

/// A page of tickets, newest first (ids are UUID v7, so id order is creation order).
pub async fn list<C: ConnectionTrait>(
    db: &C,
    f: &TicketFilter,
    before_id: Option<&str>,
    limit: u64,
) -> AppResult<Vec<Ticket>> {
    let mut q = tickets::Entity::find();
    if let Some(s) = f.state {
        q = q.filter(tickets::Column::State.eq(s.as_str()));
    }
    if let Some(u) = &f.unit {
        q = q.filter(tickets::Column::Unit.eq(u.as_str()));
    }
    if let Some(a) = &f.assignee {
        q = q.filter(tickets::Column::Assignee.eq(a.as_str()));
    }
    if let Some(t) = f.ticket_type {
        q = q.filter(tickets::Column::TicketType.eq(t.as_str()));
    }
    if let Some(p) = &f.priority {
        q = q.filter(tickets::Column::Priority.eq(p.as_str()));
    }
    if let Some(b) = f.breached {
        q = q.filter(tickets::Column::Breached.eq(b));
    }
    if let Some(t) = f.updated_after {
        q = q.filter(tickets::Column::UpdatedAt.gt(to_micros(t)));
    }
    if let Some(k) = &f.caller_key {
        q = q.filter(tickets::Column::CallerKey.eq(k.as_str()));
    }
    if let Some(a) = &f.address_text {
        let like = LikeExpr::new(super::contains_pattern(a)).escape('\\');
        q = q.filter(tickets::Column::AddressKey.like(like));
    }
    if let Some(c) = &f.category {
        q = q.filter(tickets::Column::Category.eq(c.as_str()));
    }
    if let Some(s) = f.source {
        q = q.filter(tickets::Column::Source.eq(s.as_str()));
    }
    if let Some(t) = f.received_after {
        q = q.filter(tickets::Column::ReceivedAt.gte(to_micros(t)));
    }
    if let Some(t) = f.received_before {
        q = q.filter(tickets::Column::ReceivedAt.lt(to_micros(t)));
    }
    if let Some(d) = &f.district {
        q = q.filter(tickets::Column::District.eq(d.as_str()));
    }
    if let Some(r) = &f.platform_reference {
        q = q.filter(tickets::Column::PlatformReference.eq(r.as_str()));
    }
    if let Some(sub) = &f.recused_sub {
        q = q.filter(super::feed::not_hidden_from(
            tickets::Column::HiddenFrom,
            sub,
        ));
    }
    if let Some(id) = before_id {
        q = q.filter(tickets::Column::Id.lt(id));
    }
    q.order_by_desc(tickets::Column::Id)
        .limit(limit)
        .all(db)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(from_model)
        .collect()
}

/// R-TKT-15: the ticket that holds platform `source`'s reference, if any.
pub async fn by_platform_reference<C: ConnectionTrait>(
    db: &C,
    source: SourceChannel,
    reference: &str,
) -> AppResult<Option<Uuid>> {
    let found = tickets::Entity::find()
        .select_only()
        .column(tickets::Column::Id)
        .filter(tickets::Column::Source.eq(source.as_str()))
        .filter(tickets::Column::PlatformReference.eq(reference))
        .into_tuple::<String>()
        .one(db)
        .await
        .map_err(db_err)?;
    found.as_deref().map(ticket_id).transpose()
}

/// Serialise the intakes of one platform reference: PostgreSQL takes a
/// transaction-scoped advisory lock on it, so the second of two racing
/// intakes finds the first's ticket instead of failing on the unique index;
/// SQLite has one writer already.
pub async fn lock_platform_reference<C: ConnectionTrait>(
    db: &C,
    source: SourceChannel,
    reference: &str,
) -> AppResult<()> {
    super::advisory_lock(db, &format!("referral:{}:{reference}", source.as_str())).await
}

/// One audit event as stored (R-TKT-12).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub sequence: i64,
    pub ticket_id: Uuid,
    pub ticket_version: i64,
    pub kind: String,
    pub actor_sub: String,
    pub actor_role: String,
    pub actor_unit: String,
    pub device_id: Option<String>,
    pub request_id: Option<String>,
    pub occurred_at: Option<DateTime<Utc>>,
    pub effective_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub time_untrusted: bool,
    pub from_state: Option<TicketState>,
    pub to_state: TicketState,
    pub details: String,
}

/// Insert `e` sealed onto its ticket's chain (R-REC-2). Called after the
/// ticket's insert or version-checked update, whose row lock orders the chain.
/// Answers the event as the feed names it.
pub async fn insert_event<C: ConnectionTrait>(db: &C, e: &StoredEvent) -> AppResult<Cause> {
    let mut m = ticket_events::Model {
        sequence: 0,
        ticket_id: e.ticket_id.to_string(),
        ticket_version: e.ticket_version,
        kind: e.kind.clone(),
        actor_sub: e.actor_sub.clone(),
        actor_role: e.actor_role.clone(),
        actor_unit: e.actor_unit.clone(),
        device_id: e.device_id.clone(),
        request_id: e.request_id.clone(),
        occurred_at: opt_micros(e.occurred_at),
        effective_at: to_micros(e.effective_at),
        received_at: to_micros(e.received_at),
        time_untrusted: e.time_untrusted,
        from_state: e.from_state.map(|s| s.as_str().to_string()),
        to_state: e.to_state.as_str().to_string(),
        details: e.details.clone(),
        prev_hash: None,
        hash: None,
    };
    super::chain::seal_ticket_event(db, &mut m).await?;
    let mut am = m.into_active_model();
    am.sequence = sea_orm::ActiveValue::NotSet;
    let sequence = ticket_events::Entity::insert(am)
        .exec(db)
        .await
        .map_err(db_err)?
        .last_insert_id;
    Ok(Cause::ticket_event(
        sequence,
        &e.kind,
        &e.actor_sub,
        &e.actor_role,
    ))
}

fn event_from_model(m: ticket_events::Model) -> AppResult<StoredEvent> {
    let state = |s: &str| TicketState::parse(s).ok_or_else(|| corrupt("event state", s));
    Ok(StoredEvent {
        sequence: m.sequence,
        ticket_id: Uuid::parse_str(&m.ticket_id).map_err(|_| corrupt("ticket id", &m.ticket_id))?,
        ticket_version: m.ticket_version,
        from_state: m.from_state.as_deref().map(state).transpose()?,
        to_state: state(&m.to_state)?,
        kind: m.kind,
        actor_sub: m.actor_sub,
        actor_role: m.actor_role,
        actor_unit: m.actor_unit,
        device_id: m.device_id,
        request_id: m.request_id,
        occurred_at: opt_time(m.occurred_at),
        effective_at: from_micros(m.effective_at),
        received_at: from_micros(m.received_at),
        time_untrusted: m.time_untrusted,
        details: m.details,
    })
}

/// A listed event with its seal, as checked against its ticket's chain
/// when it was read (R-REC-2).
#[derive(Debug, Clone)]
pub struct ListedEvent {
    pub event: StoredEvent,
    pub hash: Option<String>,
    pub seal: SealCheck,
}

/// A page of one ticket's events, oldest first, after `after_sequence`,
/// each checked against its chain: a page after the first starts from the
/// hash of the event just before it (one indexed lookup).
pub async fn list_events<C: ConnectionTrait>(
    db: &C,
    ticket_id: Uuid,
    after_sequence: i64,
    limit: u64,
) -> AppResult<Vec<ListedEvent>> {
    let ticket = ticket_id.to_string();
    let mut walk = if after_sequence > 0 {
        Walk::after(super::chain::ticket_head(db, &ticket, Some(after_sequence)).await?)
    } else {
        Walk::default()
    };
    ticket_events::Entity::find()
        .filter(ticket_events::Column::TicketId.eq(&ticket))
        .filter(ticket_events::Column::Sequence.gt(after_sequence))
        .order_by_asc(ticket_events::Column::Sequence)
        .limit(limit)
        .all(db)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(|m| {
            let checked = walk.step(
                m.prev_hash.as_deref(),
                m.hash.as_deref(),
                &super::chain::ticket_event_content(&m),
            );
            let seal = SealCheck::of(&checked, m.hash.as_deref());
            let hash = m.hash.clone();
            Ok(ListedEvent {
                event: event_from_model(m)?,
                hash,
                seal,
            })
        })
        .collect()
}

/// Ids of tickets with a running deadline that has passed by `now`, most
/// overdue first (an index range scan on next_deadline_at).
pub async fn overdue<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    limit: u64,
) -> AppResult<Vec<Uuid>> {
    super::overdue::<tickets::Entity, _>(
        db,
        tickets::Column::Id,
        tickets::Column::NextDeadlineAt,
        now,
        limit,
    )
    .await
}

/// R-TKT-10: how many complaints about `category` at `address_key` came
/// from the caller `caller_key` received in [since, until] (both ends included).
pub async fn count_complaints<C: ConnectionTrait>(
    db: &C,
    category: &str,
    address_key: &str,
    caller_key: &str,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> AppResult<u64> {
    tickets::Entity::find()
        .filter(tickets::Column::Category.eq(category))
        .filter(tickets::Column::AddressKey.eq(address_key))
        .filter(tickets::Column::CallerKey.eq(caller_key))
        .filter(tickets::Column::ReceivedAt.gte(to_micros(since)))
        .filter(tickets::Column::ReceivedAt.lte(to_micros(until)))
        .count(db)
        .await
        .map_err(db_err)
}

/// R-ASM-1: the first call of a matter (R-TKT-10's: `category` at
/// `address_key` from the caller `caller_key`) received in [since, until].
pub async fn first_of_matter<C: ConnectionTrait>(
    db: &C,
    category: &str,
    address_key: &str,
    caller_key: &str,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> AppResult<Option<Ticket>> {
    tickets::Entity::find()
        .filter(tickets::Column::Category.eq(category))
        .filter(tickets::Column::AddressKey.eq(address_key))
        .filter(tickets::Column::CallerKey.eq(caller_key))
        .filter(tickets::Column::ReceivedAt.gte(to_micros(since)))
        .filter(tickets::Column::ReceivedAt.lte(to_micros(until)))
        .order_by_asc(tickets::Column::ReceivedAt)
        .order_by_asc(tickets::Column::Id)
        .one(db)
        .await
        .map_err(db_err)?
        .map(from_model)
        .transpose()
}

/// R-TKT-11: the latest repair of `category` at `address_key` resolved within
/// [since, until].
pub async fn latest_repair<C: ConnectionTrait>(
    db: &C,
    category: &str,
    address_key: &str,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> AppResult<Option<Uuid>> {
    let found = tickets::Entity::find()
        .select_only()
        .column(tickets::Column::Id)
        .filter(tickets::Column::Category.eq(category))
        .filter(tickets::Column::AddressKey.eq(address_key))
        .filter(tickets::Column::ResolvedAt.gte(to_micros(since)))
        .filter(tickets::Column::ResolvedAt.lte(to_micros(until)))
        .order_by_desc(tickets::Column::ResolvedAt)
        .limit(1)
        .into_tuple::<String>()
        .one(db)
        .await
        .map_err(db_err)?;
    found.as_deref().map(ticket_id).transpose()
}

/// R-OUT-5: the tickets linked to `outage`, oldest first.
pub async fn linked_to_outage<C: ConnectionTrait>(db: &C, outage: Uuid) -> AppResult<Vec<Ticket>> {
    tickets::Entity::find()
        .filter(tickets::Column::OutageId.eq(outage.to_string()))
        .order_by_asc(tickets::Column::Id)
        .all(db)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(from_model)
        .collect()
}
