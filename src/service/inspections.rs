//! Inspection use cases (DOMAIN.md section 4): start a visit, record
//! readings, sign off; the cold-household archive. Each mutation is one
//! transaction, idempotent by request id, audited.
use crate::domain::Method;
use crate::domain::access;
use crate::domain::area::Place;
use crate::domain::inspection::{Dwelling, Inspection, InspectionState, RoomReading, SignOff};
use crate::domain::protocol::OutageCitation;
use crate::domain::protocol::{NoAccess, ResidentOutcome, RoomMeasurement, VisitFacts};
use crate::domain::ticket::{Ctx, Ticket};
use crate::domain::{Caller, Policy, Role};
use crate::error::{AppError, AppResult, reason};
use crate::service::Clock;
use crate::service::idempotency::{self, RequestMeta, Tx};
use crate::service::paging::{self, Page, Pager};
use crate::service::tickets::{event_of, log_change};
use crate::storage::audit::{self, AuditEntry};
use crate::storage::feed::{Cause, ChangeDraft};
use crate::storage::inspections::{self as store, ColdHousehold, InspectionFilter};
use crate::storage::{Db, outages, tickets, units};
use chrono::{DateTime, Datelike, TimeZone, Utc};
use sea_orm::DatabaseTransaction;
use std::sync::Arc;
use uuid::Uuid;

const MAX_ATTEMPTS: usize = 8;
const ENTITY: &str = "inspection";

/// Roles that read every visit.
const VISIT_READERS: &[Role] = &[Role::Dispatcher, Role::Supervisor, Role::Backoffice];

#[derive(Clone)]
pub struct InspectionService {
    db: Db,
    policy: Arc<Policy>,
    tz: chrono_tz::Tz,
    clock: Arc<dyn Clock>,
    pager: Pager,
}

pub struct StartVisit {
    pub id: Option<Uuid>,
    pub dwelling: Dwelling,
    pub ticket_id: Option<Uuid>,
    pub facts: VisitFacts,
    pub resident_name: String,
    pub resident_phone: String,
}

pub struct NewReading {
    pub id: Option<Uuid>,
    pub room_name: String,
    pub measurement: RoomMeasurement,
}

pub struct Finish {
    pub inspector_signature: String,
    pub outcome: ResidentOutcome,
    pub objection: String,
}

fn lost_race() -> AppError {
    AppError::aborted(
        reason::CONCURRENT_MODIFICATION,
        "the visit kept changing under this request; retry",
    )
}

impl InspectionService {
    pub fn new(
        db: Db,
        policy: Arc<Policy>,
        tz: chrono_tz::Tz,
        clock: Arc<dyn Clock>,
        pager: Pager,
    ) -> InspectionService {
        InspectionService {
            db,
            policy,
            tz,
            clock,
            pager,
        }
    }

    /// Device times from a handheld may be late (offline) but not from a broken clock.
    fn check_not_future(&self, t: DateTime<Utc>, field: &str, now: DateTime<Utc>) -> AppResult<()> {
        if t > now + self.policy.time.max_future {
            return Err(AppError::invalid(
                field,
                reason::OCCURRED_AT_IN_FUTURE,
                format!("{field} is too far in the future"),
            ));
        }
        Ok(())
    }

    pub async fn start(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        input: StartVisit,
    ) -> AppResult<Inspection> {
        let role = access::authorize(caller, Method::StartInspection)?;
        self.check_not_future(input.facts.entered_at, "entered_at", self.clock.now())?;
        let policy = self.policy.clone();
        idempotency::write(&self.db, &self.clock, caller, meta, Method::StartInspection, move |tx| {
            Box::pin(async move {
                let ticket = match input.ticket_id {
                    Some(t) => Some(tickets::get(tx.db, t).await?.ok_or_else(|| {
                        AppError::not_found(reason::TICKET_NOT_FOUND, format!("ticket {t} not found"))
                    })?),
                    None => None,
                };
                let id = input.id.unwrap_or_else(Uuid::now_v7);
                if store::get(tx.db, id).await?.is_some() {
                    return Err(AppError::AlreadyExists {
                        reason: reason::INSPECTION_EXISTS,
                        message: format!("inspection {id} already exists"),
                        info: Vec::new(),
                    });
                }
                // R-OUT-6: a supply interruption at the dwelling exempts the
                // visit by itself: the dwelling's address, else its ticket's
                // (with the ticket's coordinates).
                let mut input = input;
                let address = input
                    .dwelling
                    .address
                    .clone()
                    .or_else(|| ticket.as_ref().map(|t| t.address.clone()))
                    .unwrap_or_default();
                let place = Place {
                    address: &address,
                    location: ticket.as_ref().and_then(|t| t.location),
                };
                input.facts.outage = outages::explaining_measurement(tx.db, &place, input.facts.entered_at)
                    .await?
                    .map(|o| OutageCitation { id: o.id, maintenance: o.kind.is_maintenance() });
                let result = policy.temperature.judge_visit(&input.facts, &[], None);
                let visit = Inspection {
                    id,
                    version: 1,
                    state: InspectionState::InProgress,
                    dwelling: input.dwelling,
                    ticket_id: input.ticket_id,
                    inspector: tx.caller.sub.clone(),
                    unit: tx.caller.unit.clone(),
                    facts: input.facts,
                    resident_name: input.resident_name,
                    resident_phone: input.resident_phone,
                    result,
                    sign_off: None,
                    objection_ticket_id: None,
                    created_at: tx.now,
                    updated_at: tx.now,
                    finished_at: None,
                    personal_data_removed_at: None,
                    readings: Vec::new(),
                };
                store::insert(tx.db, &visit).await?;
                let details = serde_json::json!({ "ticket_id": visit.ticket_id, "dwelling": visit.dwelling.key() });
                let cause = Self::audit(tx, &visit, "STARTED", role, details).await?;
                tx.record(ChangeDraft::inspection(&visit, &cause));
                Ok(visit)
            })
        })
        .await
    }

    async fn audit(
        tx: Tx<'_>,
        visit: &Inspection,
        kind: &'static str,
        role: Role,
        details: serde_json::Value,
    ) -> AppResult<Cause> {
        audit::append(
            tx.db,
            AuditEntry {
                entity_type: ENTITY,
                entity_id: visit.id.to_string(),
                entity_version: visit.version,
                kind,
                caller: tx.caller,
                role: role.as_str(),
                request_id: tx.meta.request_id,
                device_id: tx.meta.device_id.as_deref(),
                at: tx.now,
                details,
            },
        )
        .await
    }

    /// The caller's visit, or NOT_FOUND INSPECTION_NOT_FOUND (a handheld
    /// must sync the start first), the same code GetInspection gives. Only
    /// the inspector who runs a visit records in it; to anyone else it
    /// answers like a visit that does not exist.
    async fn visit_for_update(
        tx: &DatabaseTransaction,
        id: Uuid,
        caller: &Caller,
    ) -> AppResult<Inspection> {
        let visit = store::get(tx, id).await?;
        visit.filter(|v| v.inspector == caller.sub).ok_or_else(|| {
            AppError::not_found(
                reason::INSPECTION_NOT_FOUND,
                format!("inspection {id} not found"),
            )
        })
    }

    /// R-TMP-1..6, 12: judge and store a reading; a protocol breach is stored INVALID.
    pub async fn record_reading(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        inspection_id: Uuid,
        input: NewReading,
    ) -> AppResult<RoomReading> {
        let role = access::authorize(caller, Method::RecordRoomReading)?;
        let now = self.clock.now();
        self.check_not_future(input.measurement.started_at, "started_at", now)?;
        self.check_not_future(input.measurement.ended_at, "ended_at", now)?;
        let (policy, tz) = (self.policy.clone(), self.tz);
        idempotency::write(&self.db, &self.clock, caller, meta, Method::RecordRoomReading, move |tx| {
            Box::pin(async move {
                let reading_id = input.id.unwrap_or_else(Uuid::now_v7);
                if store::reading_exists(tx.db, reading_id).await? {
                    return Err(AppError::AlreadyExists {
                        reason: reason::READING_EXISTS,
                        message: format!("reading {reading_id} already exists"),
                        info: Vec::new(),
                    });
                }
                let rules = &policy.temperature;
                for _ in 0..MAX_ATTEMPTS {
                    let visit = Self::visit_for_update(tx.db, inspection_id, tx.caller).await?;
                    visit.ensure_open()?;
                    let reading = visit.judge_reading(rules, tz, reading_id, input.room_name.clone(), input.measurement.clone(), tx.now);
                    let mut verdicts = store::verdicts(&store::readings(tx.db, visit.id).await?);
                    verdicts.push(reading.result.verdict);
                    let next = visit.with_reading(rules, &verdicts, tx.now);
                    if store::update_if_version(tx.db, &next, visit.version).await? {
                        store::insert_reading(tx.db, &reading).await?;
                        let details = serde_json::json!({
                            "reading_id": reading.id,
                            "room_name": reading.room_name,
                            "verdict": reading.result.verdict,
                            "violations": reading.result.violations.iter().map(|v| v.rule.clone()).collect::<Vec<_>>(),
                        });
                        let cause = Self::audit(tx, &next, "READING_RECORDED", role, details).await?;
                        tx.record(ChangeDraft::inspection(&next, &cause));
                        tx.record(ChangeDraft::room_reading(&reading, &next, &cause));
                        return Ok(reading);
                    }
                }
                Err(lost_race())
            })
        })
        .await
    }

    /// R-TMP-7, R-TMP-9, R-TMP-10: sign-off, final verdict, objection ticket,
    /// the ticket's audit trail and the cold-household archive, atomically.
    pub async fn finish(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        inspection_id: Uuid,
        input: Finish,
    ) -> AppResult<Inspection> {
        let role = access::authorize(caller, Method::FinishInspection)?;
        let policy = self.policy.clone();
        idempotency::write(
            &self.db,
            &self.clock,
            caller,
            meta,
            Method::FinishInspection,
            move |tx| {
                Box::pin(async move {
                    let ctx = Ctx {
                        policy: &policy,
                        caller: tx.caller,
                        now: tx.now,
                    };
                    for _ in 0..MAX_ATTEMPTS {
                        let visit = Self::visit_for_update(tx.db, inspection_id, tx.caller).await?;
                        tx.meta.check_version(visit.version, "visit")?;
                        let readings = store::readings(tx.db, visit.id).await?;
                        let sign_off = SignOff {
                            outcome: input.outcome,
                            objection: input.objection.clone(),
                            inspector_signature: input.inspector_signature.clone(),
                        };
                        let mut next = visit.finish(
                            &policy.temperature,
                            &store::verdicts(&readings),
                            sign_off,
                            tx.now,
                        )?;
                        let linked = match visit.ticket_id {
                            Some(t) => tickets::get(tx.db, t).await?,
                            None => None,
                        };
                        let objection_ticket = match input.outcome {
                            ResidentOutcome::SignedWithObjection => {
                                let change = Ticket::remeasurement(
                                    &ctx,
                                    Uuid::now_v7(),
                                    &next,
                                    &input.objection,
                                    linked.as_ref(),
                                )?;
                                next.objection_ticket_id = Some(change.ticket.id);
                                Some(change)
                            }
                            _ => None,
                        };
                        if !store::update_if_version(tx.db, &next, visit.version).await? {
                            continue;
                        }
                        if let Some(change) = &objection_ticket {
                            tickets::insert(tx.db, &change.ticket).await?;
                            let event = event_of(change, tx.caller, tx.meta, tx.now);
                            let cause = tickets::insert_event(tx.db, &event).await?;
                            tx.record(ChangeDraft::ticket(&change.ticket, None, &cause));
                        }
                        if let Some(ticket) = linked {
                            Self::note_on_ticket(tx, &ctx, ticket, &next).await?;
                        }
                        store::record_cold_household(tx.db, &next, tx.now).await?;
                        let details = serde_json::json!({
                            "verdict": next.result.verdict,
                            "exemptions": next.result.exemptions,
                            "resident_outcome": input.outcome,
                            "objection_ticket_id": next.objection_ticket_id,
                        });
                        let cause = Self::audit(tx, &next, "FINISHED", role, details).await?;
                        tx.record(ChangeDraft::inspection(&next, &cause));
                        next.readings = readings;
                        return Ok(next);
                    }
                    Err(lost_race())
                })
            },
        )
        .await
    }

    /// R-TMP-9: void a reading of an open visit, with a reason; the audit
    /// trail keeps what it measured.
    pub async fn void_reading(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        inspection_id: Uuid,
        reading_id: Uuid,
        reason: String,
    ) -> AppResult<RoomReading> {
        let role = access::authorize(caller, Method::VoidRoomReading)?;
        let policy = self.policy.clone();
        idempotency::write(
            &self.db,
            &self.clock,
            caller,
            meta,
            Method::VoidRoomReading,
            move |tx| {
                Box::pin(async move {
                    for _ in 0..MAX_ATTEMPTS {
                        let visit = Self::visit_for_update(tx.db, inspection_id, tx.caller).await?;
                        tx.meta.check_version(visit.version, "visit")?;
                        let readings = store::readings(tx.db, visit.id).await?;
                        let (next, voided) = visit.void_reading(
                            &policy.temperature,
                            &readings,
                            reading_id,
                            &reason,
                            tx.now,
                        )?;
                        if store::update_if_version(tx.db, &next, visit.version).await? {
                            store::set_reading_result(tx.db, &voided).await?;
                            let details = serde_json::json!({
                                "reading_id": voided.id,
                                "room_name": voided.room_name,
                                "reason": reason.trim(),
                                "measured_verdict": voided.result.verdict,
                                "temperature_c": voided.measurement.temperature_c,
                                "visit_verdict_before": visit.result.verdict,
                                "visit_verdict_after": next.result.verdict,
                            });
                            let cause =
                                Self::audit(tx, &next, "READING_VOIDED", role, details).await?;
                            tx.record(ChangeDraft::inspection(&next, &cause));
                            tx.record(ChangeDraft::room_reading(&voided, &next, &cause));
                            return Ok(voided);
                        }
                    }
                    Err(lost_race())
                })
            },
        )
        .await
    }

    /// R-TMP-9, R-TMP-11: close a visit that measured nothing (nobody home,
    /// entry refused). Its ticket hears of it; a cold household it was to
    /// re-measure stays due (nothing was measured).
    pub async fn abandon(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        inspection_id: Uuid,
        no_access: NoAccess,
    ) -> AppResult<Inspection> {
        let role = access::authorize(caller, Method::AbandonInspection)?;
        let policy = self.policy.clone();
        idempotency::write(
            &self.db,
            &self.clock,
            caller,
            meta,
            Method::AbandonInspection,
            move |tx| {
                Box::pin(async move {
                    let ctx = Ctx {
                        policy: &policy,
                        caller: tx.caller,
                        now: tx.now,
                    };
                    for _ in 0..MAX_ATTEMPTS {
                        let visit = Self::visit_for_update(tx.db, inspection_id, tx.caller).await?;
                        tx.meta.check_version(visit.version, "visit")?;
                        let readings = store::readings(tx.db, visit.id).await?;
                        let mut next = visit.abandon(&readings, no_access.clone(), tx.now)?;
                        if !store::update_if_version(tx.db, &next, visit.version).await? {
                            continue;
                        }
                        if let Some(t) = visit.ticket_id
                            && let Some(ticket) = tickets::get(tx.db, t).await?
                        {
                            Self::note_on_ticket(tx, &ctx, ticket, &next).await?;
                        }
                        let details = serde_json::json!({
                            "verdict": next.result.verdict,
                            "no_access": next.result.no_access,
                        });
                        let cause = Self::audit(tx, &next, "ABANDONED", role, details).await?;
                        tx.record(ChangeDraft::inspection(&next, &cause));
                        next.readings = readings;
                        return Ok(next);
                    }
                    Err(lost_race())
                })
            },
        )
        .await
    }

    /// R-TKT-12: the visit's outcome on its ticket's audit trail.
    async fn note_on_ticket(
        tx: Tx<'_>,
        ctx: &Ctx<'_>,
        mut ticket: Ticket,
        visit: &Inspection,
    ) -> AppResult<()> {
        for _ in 0..MAX_ATTEMPTS {
            let change = ticket.note_inspection(ctx, visit)?;
            if tickets::update_if_version(tx.db, &ticket, &change.ticket).await? {
                return log_change(tx, ctx.policy, &ticket, &change).await;
            }
            ticket = tickets::get(tx.db, ticket.id).await?.ok_or_else(|| {
                AppError::internal(anyhow::anyhow!("ticket {} vanished", ticket.id))
            })?;
        }
        Err(lost_race())
    }

    /// Who may read a visit: dispatch, supervisors and the back office; the
    /// inspector who ran it; a crew member holding the visit's ticket.
    async fn may_read(&self, caller: &Caller, visit: &Inspection) -> AppResult<bool> {
        if caller.acting_as(VISIT_READERS).is_some()
            || (caller.has(Role::Inspector) && visit.inspector == caller.sub)
        {
            return Ok(true);
        }
        if caller.has(Role::Crew)
            && let Some(t) = visit.ticket_id
            && let Some(ticket) = tickets::get(self.db.reader(), t).await?
            && ticket.assignee.as_deref() == Some(caller.sub.as_str())
        {
            return Ok(true);
        }
        Ok(false)
    }

    /// A visit outside the caller's scope answers like one that does not
    /// exist; a role that reads no visit at all is refused first.
    pub async fn get(&self, caller: &Caller, id: Uuid) -> AppResult<Inspection> {
        access::authorize(caller, Method::GetInspection)?;
        let not_found = || {
            AppError::not_found(
                reason::INSPECTION_NOT_FOUND,
                format!("inspection {id} not found"),
            )
        };
        let visit = store::get_full(self.db.reader(), id)
            .await?
            .ok_or_else(not_found)?;
        if !self.may_read(caller, &visit).await? {
            return Err(not_found());
        }
        Ok(visit)
    }

    pub async fn list(
        &self,
        caller: &Caller,
        mut filter: InspectionFilter,
        page_size: i32,
        page_token: &str,
        size_of: impl Fn(&Inspection) -> usize,
    ) -> AppResult<Page<Inspection>> {
        let limit = paging::page_size(page_size)?;
        let before = self.pager.decode_pair("inspections", page_token)?;
        if caller.acting_as(VISIT_READERS).is_none() {
            if caller.has(Role::Inspector) {
                if filter.inspector.as_deref().is_some_and(|i| i != caller.sub) {
                    return Err(AppError::denied(
                        reason::ROLE_NOT_ALLOWED,
                        "inspectors list their own visits",
                    ));
                }
                filter.inspector = Some(caller.sub.clone());
            } else if caller.has(Role::Crew) {
                let holds = match filter.ticket_id {
                    Some(t) => tickets::get(self.db.reader(), t)
                        .await?
                        .is_some_and(|t| t.assignee.as_deref() == Some(caller.sub.as_str())),
                    None => false,
                };
                if !holds {
                    return Err(AppError::denied(
                        reason::ROLE_NOT_ALLOWED,
                        "crew list the visits of a ticket they hold",
                    ));
                }
            } else {
                return Err(AppError::denied(
                    reason::ROLE_NOT_ALLOWED,
                    "ListInspections is not open to your roles",
                ));
            }
        }
        let items = store::list(self.db.reader(), &filter, before, limit + 1).await?;
        Ok(self.pager.page(items, limit, size_of, |i| {
            self.pager.encode_pair(
                "inspections",
                crate::storage::to_micros(i.created_at),
                &i.id.to_string(),
            )
        }))
    }

    /// Start of the current calendar month in the policy time zone, in UTC.
    fn month_start(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let local = now.with_timezone(&self.tz);
        self.tz
            .with_ymd_and_hms(local.year(), local.month(), 1, 0, 0, 0)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or(now)
    }

    /// R-TMP-10: the archive, with "due this month" (active and not yet visited this month).
    pub async fn cold_households(
        &self,
        caller: &Caller,
        due_only: bool,
        include_resolved: bool,
        page_size: i32,
        page_token: &str,
        size_of: impl Fn(&ColdHousehold) -> usize,
    ) -> AppResult<Page<(ColdHousehold, bool)>> {
        access::authorize(caller, Method::ListColdHouseholds)?;
        let service_unit = units::exists(self.db.reader(), &caller.unit).await?;
        let scope = access::unit_head_scope(caller, service_unit);
        let limit = paging::page_size(page_size)?;
        let after = self.pager.decode("cold", page_token)?;
        let month_start = self.month_start(self.clock.now());
        let rows = store::cold_households(
            self.db.reader(),
            scope,
            include_resolved,
            due_only.then_some(month_start),
            after.as_deref(),
            limit + 1,
        )
        .await?;
        let page = self.pager.page(rows, limit, size_of, |h| {
            self.pager.encode("cold", &h.dwelling.key())
        });
        let items = page
            .items
            .into_iter()
            .map(|h| {
                let due = h.active && h.last_visit_at < month_start;
                (h, due)
            })
            .collect();
        Ok(Page {
            items,
            next_page_token: page.next_page_token,
        })
    }
}
