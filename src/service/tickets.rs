//! Ticket use cases. Every mutation: one write transaction that claims the
//! request id, reads the ticket, asks the domain for the change, writes it
//! with a version-conditional UPDATE, appends the audit event and stores the
//! response. A lost race re-reads and decides again on the fresh row.
use crate::domain::Method;
use crate::domain::access;
use crate::domain::area::Place;
use crate::domain::ticket::{
    Change, CheckIn, Correction, Ctx, NewContact, NewMajor, NewTicket, Resolution, RevisitOutcome,
};
use crate::domain::{Caller, Policy, Ticket};
use crate::error::{AppError, AppResult, reason};
use crate::service::Clock;
use crate::service::assessment;
use crate::service::feed_window::FeedWindow;
use crate::service::idempotency::{self, RequestMeta, Tx};
use crate::service::paging::{self, Pager};
use crate::storage::feed::ChangeDraft;
use crate::storage::tickets::{self as store, ListedEvent, StoredEvent, TicketFilter};
use crate::storage::{Db, outages, units};
use chrono::{DateTime, Duration, Utc};
use std::sync::Arc;
use uuid::Uuid;

/// How often a mutation re-decides after losing a race before giving up.
const MAX_ATTEMPTS: usize = 8;

#[derive(Clone)]
pub struct TicketService {
    db: Db,
    policy: Arc<Policy>,
    clock: Arc<dyn Clock>,
    pager: Pager,
    window: Arc<FeedWindow>,
}

pub use crate::service::paging::Page;

/// A ticket's change just written over `before`, logged in the request's
/// transaction: its trail event, its feed entry (naming that event), and
/// the assessment items it raises or excuses (R-ASM-1).
pub(crate) async fn log_change(
    tx: Tx<'_>,
    policy: &Policy,
    before: &Ticket,
    change: &Change,
) -> AppResult<()> {
    let cause = store::insert_event(tx.db, &event_of(change, tx.caller, tx.meta, tx.now)).await?;
    tx.record(ChangeDraft::ticket(&change.ticket, Some(before), &cause));
    let items =
        assessment::on_ticket(tx.db, policy, Some(before), &change.ticket, &cause, tx.now).await?;
    assessment::record_all(&tx, items);
    Ok(())
}

/// The stored audit event of a ticket change made by `caller`'s request.
pub fn event_of(
    change: &Change,
    caller: &Caller,
    meta: &RequestMeta,
    now: DateTime<Utc>,
) -> StoredEvent {
    let actor = EventActor {
        sub: caller.sub.clone(),
        unit: caller.unit.clone(),
        device_id: meta.device_id.clone(),
        request_id: Some(meta.request_id.to_string()),
    };
    stored_event(change, actor, now)
}

/// Who made a change, as the audit trail records it (R-TKT-12).
pub struct EventActor {
    pub sub: String,
    pub unit: String,
    pub device_id: Option<String>,
    pub request_id: Option<String>,
}

/// The stored audit event of a ticket change.
pub fn stored_event(change: &Change, actor: EventActor, now: DateTime<Utc>) -> StoredEvent {
    let e = &change.event;
    StoredEvent {
        sequence: 0,
        ticket_id: change.ticket.id,
        ticket_version: change.ticket.version,
        kind: e.kind.to_string(),
        actor_sub: actor.sub,
        actor_role: e.actor_role.to_string(),
        actor_unit: actor.unit,
        device_id: actor.device_id,
        request_id: actor.request_id,
        occurred_at: e.time.reported,
        effective_at: e.time.effective,
        received_at: now,
        time_untrusted: e.time.untrusted,
        from_state: e.from,
        to_state: e.to,
        details: e.details.to_string(),
    }
}

/// R-TKT-15: a platform's reference is referred once; a second intake of
/// it is refused and names the ticket that holds it.
async fn refuse_second_referral<C: sea_orm::ConnectionTrait>(db: &C, t: &Ticket) -> AppResult<()> {
    let Some(r) = t.referral.as_ref().filter(|r| !r.reference.is_empty()) else {
        return Ok(());
    };
    store::lock_platform_reference(db, t.source, &r.reference).await?;
    match store::by_platform_reference(db, t.source, &r.reference).await? {
        None => Ok(()),
        Some(existing) => Err(AppError::AlreadyExists {
            reason: reason::REFERRAL_EXISTS,
            message: format!(
                "{} reference {} was referred before: ticket {existing}",
                t.source.as_str(),
                crate::error::echo(&r.reference)
            ),
            info: vec![("ticket_id", existing.to_string())],
        }),
    }
}

fn not_found(id: Uuid) -> AppError {
    AppError::not_found(reason::TICKET_NOT_FOUND, format!("ticket {id} not found"))
}

impl TicketService {
    pub fn new(
        db: Db,
        policy: Arc<Policy>,
        clock: Arc<dyn Clock>,
        pager: Pager,
        window: Arc<FeedWindow>,
    ) -> TicketService {
        TicketService {
            db,
            policy,
            clock,
            pager,
            window,
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// R-TKT-1: intake.
    pub async fn create(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        input: NewTicket,
    ) -> AppResult<Ticket> {
        let policy = self.policy.clone();
        idempotency::write(
            &self.db,
            &self.clock,
            caller,
            meta,
            Method::CreateTicket,
            move |tx| {
                Box::pin(async move {
                    let ctx = Ctx {
                        policy: &policy,
                        caller: tx.caller,
                        now: tx.now,
                    };
                    let mut change = Ticket::create(&ctx, Uuid::now_v7(), input)?;
                    refuse_second_referral(tx.db, &change.ticket).await?;
                    let t = &change.ticket;
                    let key = crate::domain::ticket::address_key(&t.address);
                    let since = t.repeat_window_start(&policy);
                    let mut repeated = None;
                    if let Some(earlier) =
                        store::latest_repair(tx.db, &t.category, &key, since, t.received_at).await?
                    {
                        change = change.repeat_of(earlier);
                        repeated = store::get(tx.db, earlier).await?;
                    }
                    let t = &change.ticket;
                    let (window, caller_key) = (t.complaint_window_start(&policy), t.caller_key());
                    let earlier = store::count_complaints(
                        tx.db,
                        &t.category,
                        &key,
                        &caller_key,
                        window,
                        t.received_at,
                    )
                    .await?;
                    let first_of_matter = if earlier > 0 {
                        store::first_of_matter(
                            tx.db,
                            &t.category,
                            &key,
                            &caller_key,
                            window,
                            t.received_at,
                        )
                        .await?
                    } else {
                        None
                    };
                    change = change.repeat_complaint(&policy, earlier);
                    // R-OUT-5: a "no water" / "no heat" call about a known interruption.
                    let t = &change.ticket;
                    if policy
                        .categories
                        .get(&t.category)
                        .is_some_and(|c| c.supply_loss)
                    {
                        let place = Place {
                            address: &t.address,
                            location: t.location,
                        };
                        if let Some(o) =
                            outages::explaining_call(tx.db, &place, t.received_at).await?
                        {
                            change = change.linked_to(&o);
                        }
                    }
                    store::insert(tx.db, &change.ticket).await?;
                    let cause =
                        store::insert_event(tx.db, &event_of(&change, tx.caller, tx.meta, tx.now))
                            .await?;
                    tx.record(ChangeDraft::ticket(&change.ticket, None, &cause));
                    // R-ASM-1: what this call shows about the earlier handling.
                    let items = crate::domain::assessment::intake_items(
                        &change.ticket,
                        repeated.as_ref(),
                        first_of_matter.as_ref(),
                    );
                    let items =
                        assessment::raise(tx.db, &policy.assessment, items, &cause, tx.now).await?;
                    assessment::record_all(&tx, items);
                    Ok(change.ticket)
                })
            },
        )
        .await
    }

    /// Apply `command` to ticket `id` in one transaction (see module docs).
    async fn mutate<F>(
        &self,
        caller: &Caller,
        method: Method,
        meta: RequestMeta,
        id: Uuid,
        command: F,
    ) -> AppResult<Ticket>
    where
        F: Fn(&Ticket, &Ctx) -> AppResult<Change> + Send + Sync + 'static,
    {
        // The role first: it says nothing about the ticket.
        access::authorize(caller, method)?;
        let policy = self.policy.clone();
        idempotency::write(&self.db, &self.clock, caller, meta, method, move |tx| {
            Box::pin(async move {
                let ctx = Ctx {
                    policy: &policy,
                    caller: tx.caller,
                    now: tx.now,
                };
                for _ in 0..MAX_ATTEMPTS {
                    let current = store::get(tx.db, id)
                        .await?
                        .filter(|t| access::may_read(tx.caller, t))
                        .ok_or_else(|| not_found(id))?;
                    tx.meta.check_version(current.version, "ticket")?;
                    let change = command(&current, &ctx)?;
                    if store::update_if_version(tx.db, &current, &change.ticket).await? {
                        log_change(tx, &policy, &current, &change).await?;
                        return Ok(change.ticket);
                    }
                }
                Err(AppError::aborted(
                    reason::CONCURRENT_MODIFICATION,
                    "the ticket kept changing under this request; retry",
                ))
            })
        })
        .await
    }

    pub async fn dispatch(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        id: Uuid,
        unit: String,
        assignee: Option<String>,
    ) -> AppResult<Ticket> {
        access::authorize(caller, Method::DispatchTicket)?;
        if !units::exists(self.db.reader(), &unit).await? {
            return Err(AppError::invalid(
                "unit",
                reason::UNIT_NOT_FOUND,
                format!("unknown unit {}", crate::error::echo(&unit)),
            ));
        }
        self.mutate(caller, Method::DispatchTicket, meta, id, move |t, ctx| {
            t.dispatch(ctx, &unit, assignee.as_deref())
        })
        .await
    }

    pub async fn claim(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        id: Uuid,
        at: Option<DateTime<Utc>>,
    ) -> AppResult<Ticket> {
        self.mutate(caller, Method::ClaimTicket, meta, id, move |t, ctx| {
            t.claim(ctx, at)
        })
        .await
    }

    pub async fn return_ticket(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        id: Uuid,
        why: String,
        at: Option<DateTime<Utc>>,
    ) -> AppResult<Ticket> {
        self.mutate(caller, Method::ReturnTicket, meta, id, move |t, ctx| {
            t.return_to_dispatch(ctx, &why, at)
        })
        .await
    }

    pub async fn schedule_appointment(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        id: Uuid,
        appointment_at: DateTime<Utc>,
        at: Option<DateTime<Utc>>,
    ) -> AppResult<Ticket> {
        self.mutate(
            caller,
            Method::ScheduleAppointment,
            meta,
            id,
            move |t, ctx| t.schedule_appointment(ctx, appointment_at, at),
        )
        .await
    }

    pub async fn arrive(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        id: Uuid,
        check_in: CheckIn,
    ) -> AppResult<Ticket> {
        self.mutate(caller, Method::RecordArrival, meta, id, move |t, ctx| {
            t.arrive(ctx, &check_in)
        })
        .await
    }

    pub async fn complete(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        id: Uuid,
        resolution: Resolution,
        at: Option<DateTime<Utc>>,
    ) -> AppResult<Ticket> {
        self.mutate(caller, Method::CompleteRepair, meta, id, move |t, ctx| {
            t.complete(ctx, resolution.clone(), at)
        })
        .await
    }

    pub async fn request_extension(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        id: Uuid,
        why: String,
        extend_by: Duration,
        at: Option<DateTime<Utc>>,
    ) -> AppResult<Ticket> {
        self.mutate(caller, Method::RequestExtension, meta, id, move |t, ctx| {
            t.request_extension(ctx, &why, extend_by, at)
        })
        .await
    }

    pub async fn decide_extension(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        id: Uuid,
        approve: bool,
        note: String,
    ) -> AppResult<Ticket> {
        self.mutate(caller, Method::DecideExtension, meta, id, move |t, ctx| {
            t.decide_extension(ctx, approve, &note)
        })
        .await
    }

    pub async fn record_revisit(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        id: Uuid,
        outcome: RevisitOutcome,
        notes: String,
    ) -> AppResult<Ticket> {
        self.mutate(caller, Method::RecordRevisit, meta, id, move |t, ctx| {
            t.record_revisit(ctx, outcome, &notes)
        })
        .await
    }

    pub async fn supervise(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        id: Uuid,
        notice: String,
        resolve_within: Duration,
    ) -> AppResult<Ticket> {
        let service_unit = units::exists(self.db.reader(), &caller.unit).await?;
        let scope = access::unit_head_scope(caller, service_unit).map(str::to_string);
        self.mutate(caller, Method::Supervise, meta, id, move |t, ctx| {
            access::check_supervises(scope.as_deref(), t)?;
            t.supervise(ctx, &notice, resolve_within)
        })
        .await
    }

    pub async fn cancel(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        id: Uuid,
        why: String,
    ) -> AppResult<Ticket> {
        self.mutate(caller, Method::CancelTicket, meta, id, move |t, ctx| {
            t.cancel(ctx, &why)
        })
        .await
    }

    /// Issue 17: intake fields corrected by dispatch, the old values kept.
    pub async fn correct(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        id: Uuid,
        correction: Correction,
    ) -> AppResult<Ticket> {
        self.mutate(caller, Method::CorrectTicket, meta, id, move |t, ctx| {
            t.correct(ctx, &correction)
        })
        .await
    }

    /// R-SLA-6, R-TKT-15: a contact with the caller, referrer, leadership
    /// or first-responsible person.
    pub async fn record_contact(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        id: Uuid,
        contact: NewContact,
    ) -> AppResult<Ticket> {
        self.mutate(caller, Method::RecordContact, meta, id, move |t, ctx| {
            t.record_contact(ctx, contact.clone())
        })
        .await
    }

    /// R-TKT-16: ask for, approve, or make a suspension.
    pub async fn suspend(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        id: Uuid,
        why: String,
    ) -> AppResult<Ticket> {
        self.mutate(caller, Method::SuspendTicket, meta, id, move |t, ctx| {
            t.suspend(ctx, &why)
        })
        .await
    }

    /// R-TKT-16: resume, or withdraw a pending request.
    pub async fn resume(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        id: Uuid,
        note: String,
    ) -> AppResult<Ticket> {
        self.mutate(caller, Method::ResumeTicket, meta, id, move |t, ctx| {
            t.resume(ctx, &note)
        })
        .await
    }

    /// R-TKT-13: keep a staff member with a conflict of interest away.
    pub async fn recuse(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        id: Uuid,
        staff: String,
        why: String,
    ) -> AppResult<Ticket> {
        self.mutate(caller, Method::RecuseStaff, meta, id, move |t, ctx| {
            t.recuse(ctx, &staff, &why)
        })
        .await
    }

    /// R-TKT-17: flag a major matter, or update its flag.
    pub async fn flag_major(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        id: Uuid,
        major: NewMajor,
    ) -> AppResult<Ticket> {
        self.mutate(caller, Method::FlagMajor, meta, id, move |t, ctx| {
            t.flag_major(ctx, &major)
        })
        .await
    }

    /// R-SLA-6: a supervisor approves a matter beyond 7 days.
    pub async fn approve_long_matter(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        id: Uuid,
        note: String,
    ) -> AppResult<Ticket> {
        self.mutate(
            caller,
            Method::ApproveLongMatter,
            meta,
            id,
            move |t, ctx| t.approve_long_matter(ctx, &note),
        )
        .await
    }

    /// The ticket as of now (never older than a write acknowledged before
    /// the call, on any instance), usually from memory (`FeedWindow::ticket`).
    pub async fn get(&self, caller: &Caller, id: Uuid) -> AppResult<Arc<Ticket>> {
        access::authorize(caller, Method::GetTicket)?;
        let found = self.window.ticket(id).await?;
        if let Some((_, source)) = &found {
            metrics::counter!(crate::metrics::TICKET_READS, "source" => source.label())
                .increment(1);
        }
        found
            .map(|(t, _)| t)
            .filter(|t| access::may_read(caller, t))
            .ok_or_else(|| not_found(id))
    }

    pub async fn list(
        &self,
        caller: &Caller,
        mut filter: TicketFilter,
        page_size: i32,
        page_token: &str,
        size_of: impl Fn(&Ticket) -> usize,
    ) -> AppResult<Page<Ticket>> {
        access::authorize(caller, Method::ListTickets)?;
        let limit = paging::page_size(page_size)?;
        let after = self.pager.decode_id("tickets", page_token)?;
        if let Some(scope) = access::list_unit_scope(caller) {
            if filter.unit.as_deref().is_some_and(|u| u != scope) {
                return Err(AppError::denied(
                    reason::WRONG_UNIT,
                    "crew members list only their own unit's tickets",
                ));
            }
            filter.unit = Some(scope.to_string());
        }
        filter.recused_sub = Some(caller.sub.clone());
        let items = store::list(self.db.reader(), &filter, after.as_deref(), limit + 1).await?;
        Ok(self.pager.page(items, limit, size_of, |t| {
            self.pager.encode("tickets", &t.id.to_string())
        }))
    }

    pub async fn list_events(
        &self,
        caller: &Caller,
        id: Uuid,
        page_size: i32,
        page_token: &str,
        size_of: impl Fn(&ListedEvent) -> usize,
    ) -> AppResult<Page<ListedEvent>> {
        let ticket = self.get(caller, id).await?;
        let limit = paging::page_size(page_size)?;
        let after = match self.pager.decode("events", page_token)? {
            Some(k) => k.parse::<i64>().map_err(|_| {
                AppError::invalid(
                    "page_token",
                    reason::INVALID_PAGE_TOKEN,
                    "page_token is not valid for this list",
                )
            })?,
            None => 0,
        };
        let items = store::list_events(self.db.reader(), ticket.id, after, limit + 1).await?;
        Ok(self.pager.page(items, limit, size_of, |e| {
            self.pager.encode("events", &e.event.sequence.to_string())
        }))
    }
}
