//! Supply interruptions (DOMAIN.md section 6). Every mutation is one write
//! transaction: the request id claimed (AIP-155), the outage read, the
//! domain asked for the change (which also records any clock it finds
//! breached), the row written with a version-conditional UPDATE, the audit
//! entries and the change feed appended. Restoring supply resolves the
//! tickets linked to the outage in the same transaction (R-OUT-5).
use crate::domain::access;
use crate::domain::area::Place;
use crate::domain::outage::{self, NewOutage, Notice, Outage, OutageChange};
use crate::domain::ticket::Ctx;
use crate::domain::{Caller, Method, Policy};
use crate::error::{AppError, AppResult, reason};
use crate::service::Clock;
use crate::service::assessment;
use crate::service::idempotency::{self, RequestMeta, Tx};
use crate::service::paging::{self, Page, Pager};
use crate::service::tickets::log_change;
use crate::storage::audit::{self, AuditEntry};
use crate::storage::feed::{Cause, ChangeDraft};
use crate::storage::outages::{self as store, OutageFilter};
use crate::storage::{Db, tickets, units};
use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use std::sync::Arc;
use uuid::Uuid;

/// How often a mutation re-decides after losing a race before giving up.
const MAX_ATTEMPTS: usize = 8;

/// The audit trail's name for outages.
pub const ENTITY: &str = "outage";

#[derive(Clone)]
pub struct OutageService {
    db: Db,
    policy: Arc<Policy>,
    clock: Arc<dyn Clock>,
    pager: Pager,
}

fn not_found(id: Uuid) -> AppError {
    AppError::not_found(reason::OUTAGE_NOT_FOUND, format!("outage {id} not found"))
}

/// What happens after the outage row is written, in the same transaction.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Then {
    Nothing,
    /// R-OUT-5: resolve the tickets linked to the outage.
    ResolveLinked,
}

/// The trail entries of an outage change as the feed names them.
pub struct OutageCauses {
    /// The first entry (the command's own; breaches it shows follow it):
    /// the outage's change.
    pub change: Cause,
    /// The BREACHED entry, when the change records breaches: the assessment
    /// items it raises (outage items come from breaches only).
    pub breach: Option<Cause>,
}

impl OutageCauses {
    /// What the assessment items of this change name.
    pub fn items(&self) -> &Cause {
        self.breach.as_ref().unwrap_or(&self.change)
    }
}

/// Append the audit entries of an outage change. `caller` None: the deadline
/// monitor.
pub async fn audit_change<C: ConnectionTrait>(
    db: &C,
    change: &OutageChange,
    caller: &Caller,
    request: Option<(Uuid, Option<&str>)>,
    now: DateTime<Utc>,
) -> AppResult<OutageCauses> {
    let (mut first, mut breach) = (None, None);
    for e in &change.events {
        let cause = audit::append(
            db,
            AuditEntry {
                entity_type: ENTITY,
                entity_id: change.outage.id.to_string(),
                entity_version: change.outage.version,
                kind: e.kind,
                caller,
                role: e.role.map_or("system", |r| r.as_str()),
                request_id: request.map_or(Uuid::nil(), |(id, _)| id),
                device_id: request.and_then(|(_, d)| d),
                at: now,
                details: e.details.clone(),
            },
        )
        .await?;
        if e.kind == "BREACHED" {
            breach = Some(cause.clone());
        }
        first.get_or_insert(cause);
    }
    let change = first
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("an outage change without an event")))?;
    Ok(OutageCauses { change, breach })
}

impl OutageService {
    pub fn new(db: Db, policy: Arc<Policy>, clock: Arc<dyn Clock>, pager: Pager) -> OutageService {
        OutageService {
            db,
            policy,
            clock,
            pager,
        }
    }

    /// R-OUT-1: an emergency or fault, from the street (also through Push).
    pub async fn report(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        id: Option<Uuid>,
        input: NewOutage,
    ) -> AppResult<Outage> {
        self.create(
            caller,
            meta,
            Method::ReportOutage,
            id,
            input,
            Outage::report,
        )
        .await
    }

    /// R-OUT-3: planned works, to be approved.
    pub async fn plan(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        id: Option<Uuid>,
        input: NewOutage,
    ) -> AppResult<Outage> {
        self.create(caller, meta, Method::PlanOutage, id, input, Outage::plan)
            .await
    }

    async fn create(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        method: Method,
        id: Option<Uuid>,
        input: NewOutage,
        build: fn(&Ctx, Uuid, NewOutage) -> AppResult<OutageChange>,
    ) -> AppResult<Outage> {
        access::authorize(caller, method)?;
        if !input.unit.is_empty() && !units::exists(self.db.reader(), &input.unit).await? {
            return Err(AppError::invalid(
                "unit",
                reason::UNIT_NOT_FOUND,
                format!("unknown unit {}", crate::error::echo(&input.unit)),
            ));
        }
        let policy = self.policy.clone();
        idempotency::write(&self.db, &self.clock, caller, meta, method, move |tx| {
            Box::pin(async move {
                let id = id.unwrap_or_else(Uuid::now_v7);
                if store::get(tx.db, id).await?.is_some() {
                    return Err(AppError::AlreadyExists {
                        reason: reason::OUTAGE_EXISTS,
                        message: format!("outage {id} already exists"),
                        info: Vec::new(),
                    });
                }
                let ctx = Ctx {
                    policy: &policy,
                    caller: tx.caller,
                    now: tx.now,
                };
                let change = build(&ctx, id, input)?;
                store::insert(tx.db, &change.outage, &policy.outage).await?;
                Self::log(tx, &policy, None, &change).await?;
                Ok(change.outage)
            })
        })
        .await
    }

    /// The change's audit entries and feed entry, and the assessment items
    /// its breaches raise (R-ASM-1), in the request's transaction.
    async fn log(
        tx: Tx<'_>,
        policy: &Policy,
        before: Option<&Outage>,
        change: &OutageChange,
    ) -> AppResult<()> {
        let request = Some((tx.meta.request_id, tx.meta.device_id.as_deref()));
        let causes = audit_change(tx.db, change, tx.caller, request, tx.now).await?;
        tx.record(ChangeDraft::outage(&change.outage, &causes.change));
        let items = assessment::on_outage(
            tx.db,
            policy,
            before,
            &change.outage,
            causes.items(),
            tx.now,
        )
        .await?;
        assessment::record_all(&tx, items);
        Ok(())
    }

    /// Apply `command` to outage `id` in one transaction (see the module docs).
    async fn mutate<F>(
        &self,
        caller: &Caller,
        method: Method,
        meta: RequestMeta,
        id: Uuid,
        then: Then,
        command: F,
    ) -> AppResult<Outage>
    where
        F: Fn(&Outage, &Ctx) -> AppResult<OutageChange> + Send + Sync + 'static,
    {
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
                        .filter(|o| outage::may_read(tx.caller, o))
                        .ok_or_else(|| not_found(id))?;
                    tx.meta.check_version(current.version, "outage")?;
                    let change = command(&current, &ctx)?;
                    if store::update_if_version(
                        tx.db,
                        &change.outage,
                        current.version,
                        &policy.outage,
                    )
                    .await?
                    {
                        Self::log(tx, &policy, Some(&current), &change).await?;
                        if then == Then::ResolveLinked {
                            Self::resolve_linked(tx, &ctx, &change.outage).await?;
                        }
                        return Ok(change.outage);
                    }
                }
                Err(AppError::aborted(
                    reason::CONCURRENT_MODIFICATION,
                    "the outage kept changing under this request; retry",
                ))
            })
        })
        .await
    }

    /// R-OUT-5: every ticket linked to the restored outage and not yet
    /// resolved is resolved now, each with its own audit event naming the outage.
    async fn resolve_linked(tx: Tx<'_>, ctx: &Ctx<'_>, outage: &Outage) -> AppResult<()> {
        for linked in tickets::linked_to_outage(tx.db, outage.id).await? {
            let mut current = linked;
            for attempt in 0.. {
                let Some(change) = current.resolve_with(ctx, outage)? else {
                    break;
                };
                if tickets::update_if_version(tx.db, &current, &change.ticket).await? {
                    log_change(tx, ctx.policy, &current, &change).await?;
                    break;
                }
                if attempt + 1 == MAX_ATTEMPTS {
                    return Err(AppError::aborted(
                        reason::CONCURRENT_MODIFICATION,
                        "a linked ticket kept changing under this request; retry",
                    ));
                }
                current = tickets::get(tx.db, current.id)
                    .await?
                    .ok_or_else(|| AppError::internal(anyhow::anyhow!("linked ticket vanished")))?;
            }
        }
        Ok(())
    }

    pub async fn approve(&self, caller: &Caller, meta: RequestMeta, id: Uuid) -> AppResult<Outage> {
        self.mutate(
            caller,
            Method::ApproveOutage,
            meta,
            id,
            Then::Nothing,
            |o, ctx| o.approve(ctx),
        )
        .await
    }

    pub async fn start(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        id: Uuid,
        at: Option<DateTime<Utc>>,
    ) -> AppResult<Outage> {
        self.mutate(
            caller,
            Method::StartOutage,
            meta,
            id,
            Then::Nothing,
            move |o, ctx| o.start(ctx, at),
        )
        .await
    }

    pub async fn revise(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        id: Uuid,
        restore_by: DateTime<Utc>,
        why: String,
    ) -> AppResult<Outage> {
        self.mutate(
            caller,
            Method::ReviseRestoration,
            meta,
            id,
            Then::Nothing,
            move |o, ctx| o.revise(ctx, restore_by, &why),
        )
        .await
    }

    pub async fn record_notice(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        id: Uuid,
        notice: Notice,
    ) -> AppResult<Outage> {
        self.mutate(
            caller,
            Method::RecordNotice,
            meta,
            id,
            Then::Nothing,
            move |o, ctx| {
                let mut n = notice.clone();
                n.recorded_by = ctx.caller.sub.clone();
                n.recorded_at = ctx.now;
                if n.sent_by.trim().is_empty() {
                    n.sent_by = ctx.caller.sub.clone();
                }
                o.record_notice(ctx, n)
            },
        )
        .await
    }

    pub async fn restore(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        id: Uuid,
        at: Option<DateTime<Utc>>,
    ) -> AppResult<Outage> {
        self.mutate(
            caller,
            Method::RestoreSupply,
            meta,
            id,
            Then::ResolveLinked,
            move |o, ctx| o.restore(ctx, at),
        )
        .await
    }

    pub async fn get(&self, caller: &Caller, id: Uuid) -> AppResult<Outage> {
        access::authorize(caller, Method::GetOutage)?;
        store::get(self.db.reader(), id)
            .await?
            .filter(|o| outage::may_read(caller, o))
            .ok_or_else(|| not_found(id))
    }

    /// ListOutages; with `place`, only those in force there at `filter.in_force_at`
    /// (the intake desk's "is there an outage at this address?").
    pub async fn list(
        &self,
        caller: &Caller,
        mut filter: OutageFilter,
        place: Option<(String, Option<crate::domain::geo::GeoPoint>)>,
        page_size: i32,
        page_token: &str,
        size_of: impl Fn(&Outage) -> usize,
    ) -> AppResult<Page<Outage>> {
        access::authorize(caller, Method::ListOutages)?;
        let limit = paging::page_size(page_size)?;
        let after = self.pager.decode_id("outages", page_token)?;
        if let Some(scope) = outage::list_unit_scope(caller) {
            if filter.unit.as_deref().is_some_and(|u| u != scope) {
                return Err(AppError::denied(
                    reason::WRONG_UNIT,
                    "crew members list only their own unit's outages",
                ));
            }
            filter.unit = Some(scope.to_string());
        }
        let items = match place {
            None => store::list(self.db.reader(), &filter, after.as_deref(), limit + 1).await?,
            // At an address: the few outages in force then, matched here by area.
            Some((address, location)) => {
                let t = filter.in_force_at.unwrap_or_else(|| self.clock.now());
                let p = Place {
                    address: &address,
                    location,
                };
                let mut found: Vec<Outage> = store::in_force_at(self.db.reader(), t)
                    .await?
                    .into_iter()
                    .filter(|o| o.explains_measurement(&p, t))
                    .filter(|o| filter.unit.as_deref().is_none_or(|u| o.unit == u))
                    .filter(|o| filter.state.is_none_or(|s| o.state == s))
                    .filter(|o| filter.kind.is_none_or(|k| o.kind == k))
                    .filter(|o| {
                        after
                            .as_deref()
                            .is_none_or(|a| o.id.to_string().as_str() < a)
                    })
                    .collect();
                found.sort_by_key(|o| std::cmp::Reverse(o.id));
                found
            }
        };
        Ok(self.pager.page(items, limit, size_of, |o| {
            self.pager.encode("outages", &o.id.to_string())
        }))
    }
}
