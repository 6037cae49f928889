//! Assessment (考核, DOMAIN.md section 8). Items are raised here, in the
//! transaction of the write that causes them (`on_ticket`, `on_outage`,
//! `raise`): no second pass over the tickets, once per cause (the unique
//! cause key), on the change feed in the same commit. The use cases of the
//! AssessmentService (list, contest, decide, reward, the sheet) follow.
use crate::domain::Method;
use crate::domain::access;
use crate::domain::assessment::{
    self as rules, AssessmentItem, AssessmentRules, NewItem, NewReward, SheetLine,
};
use crate::domain::outage::Outage;
use crate::domain::report::{Period, Span};
use crate::domain::{Caller, Policy, Ticket};
use crate::error::{AppError, AppResult, reason};
use crate::service::Clock;
use crate::service::idempotency::{self, RequestMeta, Tx};
use crate::service::paging::{self, Page, Pager};
use crate::storage::assessment::{self as store, ItemFilter};
use crate::storage::audit::{self, AuditEntry};
use crate::storage::feed::{Cause, ChangeDraft};
use crate::storage::{Db, db_err, tickets, units};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use sea_orm::ConnectionTrait;
use serde_json::json;
use std::sync::Arc;
use uuid::Uuid;

const ENTITY: &str = "assessment_item";
const MAX_ATTEMPTS: usize = 8;

/// Raise each of `items` the policy's table prices, unless its cause has
/// one already; the feed entries of those raised now. `by` is the trail
/// event of the write that raises them: an item raised by the rules has no
/// event of its own, so its feed change names that one (kind RAISED).
pub async fn raise<C: ConnectionTrait>(
    db: &C,
    table: &AssessmentRules,
    items: Vec<NewItem>,
    by: &Cause,
    now: DateTime<Utc>,
) -> AppResult<Vec<ChangeDraft>> {
    let cause = by.as_kind("RAISED");
    let mut drafts = Vec::new();
    for n in items {
        let Some(item) = AssessmentItem::deduction(Uuid::now_v7(), n, table, now) else {
            continue;
        };
        if store::insert_once(db, &item).await? {
            drafts.push(ChangeDraft::assessment_item(&item, &cause));
        }
    }
    Ok(drafts)
}

/// R-ASM-1: the items a ticket's write causes (its newly missed
/// deadlines), and R-SLA-7: the items of breaches it shows were kept after
/// all (an event synced late with a trusted device time), waived.
pub async fn on_ticket<C: ConnectionTrait>(
    db: &C,
    policy: &Policy,
    before: Option<&Ticket>,
    after: &Ticket,
    by: &Cause,
    now: DateTime<Utc>,
) -> AppResult<Vec<ChangeDraft>> {
    let assessed = rules::ticket_assessment(before, after);
    let mut drafts = if assessed.raised.is_empty() {
        Vec::new()
    } else {
        raise(db, &policy.assessment, assessed.raised, by, now).await?
    };
    let excused = by.as_kind("EXCUSED");
    for key in assessed.excused {
        let Some(item) = store::by_cause(db, &key).await? else {
            continue;
        };
        // Written under the ticket's own write: nobody else excuses it now.
        if let Some(next) = item.excuse(now)
            && store::update_if_version(db, &next, item.version).await?
        {
            drafts.push(ChangeDraft::assessment_item(&next, &excused));
        }
    }
    Ok(drafts)
}

/// R-ASM-1: the items an outage's write causes (its newly breached clocks).
pub async fn on_outage<C: ConnectionTrait>(
    db: &C,
    policy: &Policy,
    before: Option<&Outage>,
    after: &Outage,
    by: &Cause,
    now: DateTime<Utc>,
) -> AppResult<Vec<ChangeDraft>> {
    let items = rules::outage_items(before, after);
    if items.is_empty() {
        return Ok(Vec::new());
    }
    raise(db, &policy.assessment, items, by, now).await
}

/// Put `drafts` on the feed of the request's transaction.
pub fn record_all(tx: &Tx<'_>, drafts: Vec<ChangeDraft>) {
    for d in drafts {
        tx.record(d);
    }
}

fn not_found(id: Uuid) -> AppError {
    AppError::not_found(
        reason::ITEM_NOT_FOUND,
        format!("assessment item {id} not found"),
    )
}

/// May `caller` see `item`? Readers all; everyone else the items naming
/// him; nobody one kept away from him with its ticket (R-TKT-13).
fn may_read(caller: &Caller, item: &AssessmentItem) -> bool {
    !item.hidden_from.contains(&caller.sub)
        && (access::sees_all_items(caller) || item.person.as_deref() == Some(caller.sub.as_str()))
}

/// R-ASM-4: the sheet of one unit (or all) for one span.
#[derive(Debug, Clone, PartialEq)]
pub struct Sheet {
    pub unit: Option<String>,
    pub span: Span,
    pub generated_at: DateTime<Utc>,
    pub time_zone: Tz,
    pub units: Vec<SheetLine>,
    pub persons: Vec<SheetLine>,
}

#[derive(Clone)]
pub struct AssessmentService {
    db: Db,
    policy: Arc<Policy>,
    tz: Tz,
    clock: Arc<dyn Clock>,
    pager: Pager,
}

impl AssessmentService {
    pub fn new(
        db: Db,
        policy: Arc<Policy>,
        tz: Tz,
        clock: Arc<dyn Clock>,
        pager: Pager,
    ) -> AssessmentService {
        AssessmentService {
            db,
            policy,
            tz,
            clock,
            pager,
        }
    }

    async fn check_unit(&self, field: &str, unit: &str) -> AppResult<()> {
        if units::exists(self.db.reader(), unit).await? {
            return Ok(());
        }
        Err(AppError::invalid(
            field,
            reason::UNIT_NOT_FOUND,
            format!("unknown unit {}", crate::error::echo(unit)),
        ))
    }

    /// ListAssessmentItems: newest first; a caller who is not a reader sees
    /// his own items only (asking for someone else's is refused).
    pub async fn list(
        &self,
        caller: &Caller,
        mut filter: ItemFilter,
        period: Option<Period>,
        page_size: i32,
        page_token: &str,
        size_of: impl Fn(&AssessmentItem) -> usize,
    ) -> AppResult<Page<AssessmentItem>> {
        access::authorize(caller, Method::ListAssessmentItems)?;
        if !access::sees_all_items(caller) {
            if filter.person.as_deref().is_some_and(|p| p != caller.sub) {
                return Err(AppError::denied(
                    reason::ROLE_NOT_ALLOWED,
                    "only supervisors, the back office and admins list other staff members' items",
                ));
            }
            filter.person = Some(caller.sub.clone());
        }
        if let Some(p) = period {
            filter.span = Some(p.span(self.tz, &self.policy.report.season_starts)?);
        }
        filter.recused_sub = Some(caller.sub.clone());
        let limit = paging::page_size(page_size)?;
        let after = self.pager.decode_id("assessment_items", page_token)?;
        let items = store::list(self.db.reader(), &filter, after.as_deref(), limit + 1).await?;
        Ok(self.pager.page(items, limit, size_of, |i| {
            self.pager.encode("assessment_items", &i.id.to_string())
        }))
    }

    /// Apply `step` to item `id` in one transaction, audited as `kind`.
    async fn mutate<F>(
        &self,
        caller: &Caller,
        method: Method,
        meta: RequestMeta,
        id: Uuid,
        step: F,
    ) -> AppResult<AssessmentItem>
    where
        F: Fn(&AssessmentItem, &Caller, DateTime<Utc>) -> AppResult<(AssessmentItem, &'static str)>
            + Send
            + Sync
            + 'static,
    {
        let role = access::authorize(caller, method)?;
        idempotency::write(&self.db, &self.clock, caller, meta, method, move |tx| {
            Box::pin(async move {
                for _ in 0..MAX_ATTEMPTS {
                    let current = store::get(tx.db, id)
                        .await?
                        .filter(|i| may_read(tx.caller, i))
                        .ok_or_else(|| not_found(id))?;
                    tx.meta.check_version(current.version, "assessment item")?;
                    let (next, kind) = step(&current, tx.caller, tx.now)?;
                    if store::update_if_version(tx.db, &next, current.version).await? {
                        let cause = audit_item(&tx, &next, kind, role.as_str()).await?;
                        tx.record(ChangeDraft::assessment_item(&next, &cause));
                        return Ok(next);
                    }
                }
                Err(AppError::aborted(
                    reason::CONCURRENT_MODIFICATION,
                    "the item kept changing under this request; retry",
                ))
            })
        })
        .await
    }

    /// R-ASM-2: the unit's head contests an item against his unit.
    pub async fn contest(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        id: Uuid,
        reason_text: String,
    ) -> AppResult<AssessmentItem> {
        self.mutate(
            caller,
            Method::ContestItem,
            meta,
            id,
            move |item, who, now| Ok((item.contest(who, &reason_text, now)?, "CONTESTED")),
        )
        .await
    }

    /// R-ASM-2: a dispatch-centre supervisor upholds or waives the contest.
    pub async fn decide(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        id: Uuid,
        uphold: bool,
        note: String,
    ) -> AppResult<AssessmentItem> {
        // A supervisor whose unit is a service unit is that unit's head.
        let unit_head = units::exists(self.db.reader(), &caller.unit).await?;
        self.mutate(
            caller,
            Method::DecideContest,
            meta,
            id,
            move |item, who, now| {
                let next = item.decide(who, unit_head, uphold, &note, now)?;
                Ok((next, if uphold { "UPHELD" } else { "WAIVED" }))
            },
        )
        .await
    }

    /// R-ASM-3: a supervisor records a reward for a praise or a leak report.
    pub async fn reward(
        &self,
        caller: &Caller,
        meta: RequestMeta,
        input: NewReward,
    ) -> AppResult<AssessmentItem> {
        let role = access::authorize(caller, Method::RecordReward)?;
        if !input.unit.is_empty() {
            self.check_unit("unit", &input.unit).await?;
        }
        let policy = self.policy.clone();
        idempotency::write(
            &self.db,
            &self.clock,
            caller,
            meta,
            Method::RecordReward,
            move |tx| {
                Box::pin(async move {
                    let t = tickets::get(tx.db, input.ticket)
                        .await?
                        .filter(|t| access::may_read(tx.caller, t))
                        .ok_or_else(|| {
                            AppError::not_found(
                                reason::TICKET_NOT_FOUND,
                                format!("ticket {} not found", input.ticket),
                            )
                        })?;
                    let (n, amounts) = rules::reward_item(&input, &t, &policy.assessment, tx.now)?;
                    let item =
                        AssessmentItem::reward(Uuid::now_v7(), n, amounts, &tx.caller.sub, tx.now);
                    if !store::insert_once(tx.db, &item).await? {
                        let existing = store::by_cause(tx.db, &item.cause_key).await?;
                        return Err(AppError::AlreadyExists {
                            reason: reason::REWARD_EXISTS,
                            message: "this reward was recorded before".into(),
                            info: existing
                                .map(|e| vec![("item_id", e.id.to_string())])
                                .unwrap_or_default(),
                        });
                    }
                    let cause = audit_item(&tx, &item, "REWARDED", role.as_str()).await?;
                    tx.record(ChangeDraft::assessment_item(&item, &cause));
                    Ok(item)
                })
            },
        )
        .await
    }

    /// R-ASM-4: the sheet, summed by the database in one snapshot.
    pub async fn sheet(
        &self,
        caller: &Caller,
        method: Method,
        unit: Option<String>,
        period: Period,
    ) -> AppResult<Sheet> {
        access::authorize(caller, method)?;
        let span = period.span(self.tz, &self.policy.report.season_starts)?;
        if let Some(u) = &unit {
            self.check_unit("unit", u).await?;
        }
        let tx = self.db.read_snapshot().await?;
        let groups = store::sheet_groups(&tx, span, unit.as_deref()).await?;
        tx.commit().await.map_err(db_err)?;
        let (units, persons) = rules::sheet_lines(&groups);
        Ok(Sheet {
            unit,
            span,
            generated_at: self.clock.now(),
            time_zone: self.tz,
            units,
            persons,
        })
    }
}

/// The audit entry of a contest, a decision or a reward (R-ASM-2).
async fn audit_item(
    tx: &Tx<'_>,
    item: &AssessmentItem,
    kind: &'static str,
    role: &'static str,
) -> AppResult<Cause> {
    audit::append(
        tx.db,
        AuditEntry {
            entity_type: ENTITY,
            entity_id: item.id.to_string(),
            entity_version: item.version,
            kind,
            caller: tx.caller,
            role,
            request_id: tx.meta.request_id,
            device_id: tx.meta.device_id.as_deref(),
            at: tx.now,
            details: json!({
                "status": item.status,
                "contest": item.contest,
                "decision": item.decision,
                "kind": item.kind,
                "unit_yuan": item.unit_yuan,
                "person_yuan": item.person_yuan,
            }),
        },
    )
    .await
}
