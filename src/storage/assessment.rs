//! Assessment item rows (R-ASM-1..4): the item as JSON, the facts the list
//! and the sheet filter and sum on as columns. An item is inserted once per
//! cause (unique `cause_key`, ON CONFLICT DO NOTHING), so two monitors, a
//! replay or a retry that meet the same cause raise it once.
use super::entities::assessment_items as items;
use super::{db_err, to_micros};
use crate::domain::assessment::{AssessmentItem, ItemStatus, SheetGroup};
use crate::domain::report::Span;
use crate::error::{AppError, AppResult};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, OnConflict, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

pub fn to_model(i: &AssessmentItem) -> items::Model {
    items::Model {
        id: i.id.to_string(),
        version: i.version,
        cause_key: i.cause_key.clone(),
        kind: i.kind.clone(),
        reward: i.reward,
        unit: i.unit.clone(),
        person: i.person.clone(),
        hidden_from: super::feed::hidden_from(i.hidden_from.iter().map(String::as_str)),
        ticket_id: i.ticket_id.map(|t| t.to_string()),
        outage_id: i.outage_id.map(|o| o.to_string()),
        cause_version: i.cause_version,
        occurred_at: to_micros(i.occurred_at),
        raised_at: to_micros(i.raised_at),
        points: i.points,
        unit_yuan: i.unit_yuan,
        person_yuan: i.person_yuan,
        status: i.status.as_str().to_string(),
        body: serde_json::to_string(i).expect("serializable"),
    }
}

fn from_model(m: items::Model) -> AppResult<AssessmentItem> {
    serde_json::from_str(&m.body)
        .map_err(|e| AppError::internal(anyhow::anyhow!("corrupt assessment item {}: {e}", m.id)))
}

/// Insert `item` unless an item of the same cause exists. True when this
/// call raised it.
pub async fn insert_once<C: ConnectionTrait>(db: &C, item: &AssessmentItem) -> AppResult<bool> {
    let rows = items::Entity::insert(to_model(item).into_active_model())
        .on_conflict(
            OnConflict::column(items::Column::CauseKey)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await
        .map_err(db_err)?;
    Ok(rows == 1)
}

pub async fn get<C: ConnectionTrait>(db: &C, id: Uuid) -> AppResult<Option<AssessmentItem>> {
    items::Entity::find_by_id(id.to_string())
        .one(db)
        .await
        .map_err(db_err)?
        .map(from_model)
        .transpose()
}

/// The item raised for `cause_key`, if any.
pub async fn by_cause<C: ConnectionTrait>(
    db: &C,
    cause_key: &str,
) -> AppResult<Option<AssessmentItem>> {
    items::Entity::find()
        .filter(items::Column::CauseKey.eq(cause_key))
        .one(db)
        .await
        .map_err(db_err)?
        .map(from_model)
        .transpose()
}

/// Write `next` only if the row is still at `expected_version`.
pub async fn update_if_version<C: ConnectionTrait>(
    db: &C,
    next: &AssessmentItem,
    expected_version: i64,
) -> AppResult<bool> {
    let mut am = to_model(next).into_active_model().reset_all();
    am.id = sea_orm::ActiveValue::NotSet;
    let res = items::Entity::update_many()
        .set(am)
        .filter(items::Column::Id.eq(next.id.to_string()))
        .filter(items::Column::Version.eq(expected_version))
        .exec(db)
        .await
        .map_err(db_err)?;
    Ok(res.rows_affected == 1)
}

/// Filters of ListAssessmentItems; None means any.
#[derive(Debug, Default, Clone)]
pub struct ItemFilter {
    pub unit: Option<String>,
    pub person: Option<String>,
    pub kind: Option<String>,
    pub status: Option<ItemStatus>,
    /// Items that happened in the span.
    pub span: Option<Span>,
    /// R-TKT-13: leave out items kept away from this staff member.
    pub recused_sub: Option<String>,
}

/// A page of items, newest first (ids are UUID v7).
pub async fn list<C: ConnectionTrait>(
    db: &C,
    f: &ItemFilter,
    before_id: Option<&str>,
    limit: u64,
) -> AppResult<Vec<AssessmentItem>> {
    use items::Column as C;
    let mut q = items::Entity::find();
    if let Some(u) = &f.unit {
        q = q.filter(C::Unit.eq(u.as_str()));
    }
    if let Some(p) = &f.person {
        q = q.filter(C::Person.eq(p.as_str()));
    }
    if let Some(k) = &f.kind {
        q = q.filter(C::Kind.eq(k.as_str()));
    }
    if let Some(s) = f.status {
        q = q.filter(C::Status.eq(s.as_str()));
    }
    if let Some(span) = f.span {
        q = q
            .filter(C::OccurredAt.gte(to_micros(span.start)))
            .filter(C::OccurredAt.lt(to_micros(span.end)));
    }
    if let Some(sub) = &f.recused_sub {
        q = q.filter(super::feed::not_hidden_from(C::HiddenFrom, sub));
    }
    if let Some(id) = before_id {
        q = q.filter(C::Id.lt(id));
    }
    q.order_by_desc(C::Id)
        .limit(limit)
        .all(db)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(from_model)
        .collect()
}

/// R-ASM-4: the items that happened in `span` (of `unit`, or all units),
/// grouped by unit, person, reward and status in the database; a few
/// hundred groups at most, whatever the number of items.
pub async fn sheet_groups<C: ConnectionTrait>(
    db: &C,
    span: Span,
    unit: Option<&str>,
) -> AppResult<Vec<SheetGroup>> {
    use items::Column as C;
    // SUM over BIGINT is NUMERIC on PostgreSQL: cast back so both read i64.
    let sum = |c: C| {
        Expr::cust(format!(
            "CAST(COALESCE(SUM({}), 0) AS BIGINT)",
            sea_orm::Iden::to_string(&c)
        ))
    };
    let mut q = Query::select();
    q.from(items::Entity)
        .column(C::Unit)
        .column(C::Person)
        .column(C::Reward)
        .column(C::Status)
        .expr_as(Func::count(Expr::cust("*")), Alias::new("n"))
        .expr_as(sum(C::Points), Alias::new("points"))
        .expr_as(sum(C::UnitYuan), Alias::new("unit_yuan"))
        .expr_as(sum(C::PersonYuan), Alias::new("person_yuan"))
        .and_where(Expr::col(C::OccurredAt).gte(to_micros(span.start)))
        .and_where(Expr::col(C::OccurredAt).lt(to_micros(span.end)))
        .group_by_col(C::Unit)
        .group_by_col(C::Person)
        .group_by_col(C::Reward)
        .group_by_col(C::Status);
    if let Some(u) = unit {
        q.and_where(Expr::col(C::Unit).eq(u));
    }
    let stmt = db.get_database_backend().build(&q);
    let rows = db.query_all_raw(stmt).await.map_err(db_err)?;
    rows.into_iter()
        .map(|r| {
            let status: String = r.try_get("", "status").map_err(db_err)?;
            Ok(SheetGroup {
                unit: r.try_get("", "unit").map_err(db_err)?,
                person: r.try_get("", "person").map_err(db_err)?,
                reward: r.try_get("", "reward").map_err(db_err)?,
                status: ItemStatus::parse(&status).ok_or_else(|| {
                    AppError::internal(anyhow::anyhow!("corrupt item status {status:?}"))
                })?,
                items: r.try_get("", "n").map_err(db_err)?,
                points: r.try_get("", "points").map_err(db_err)?,
                unit_yuan: r.try_get("", "unit_yuan").map_err(db_err)?,
                person_yuan: r.try_get("", "person_yuan").map_err(db_err)?,
            })
        })
        .collect()
}
