//! Outage rows (R-OUT-*): the record as JSON, the facts queries need as
//! columns, both written from the domain value on every change.
use super::entities::outages;
use super::{db_err, to_micros};
use crate::domain::area::Place;
use crate::domain::outage::{Outage, OutageKind, OutageState};
use crate::domain::policy::OutageRules;
use crate::domain::report::Span;
use crate::error::{AppError, AppResult};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect,
};
use std::collections::BTreeMap;
use uuid::Uuid;

fn corrupt(what: &str, value: &str) -> AppError {
    AppError::internal(anyhow::anyhow!("corrupt {what} value {value:?}"))
}

fn to_model(o: &Outage, rules: &OutageRules) -> outages::Model {
    let window = o.in_force_window();
    let outcomes = o.outcomes(rules);
    outages::Model {
        id: o.id.to_string(),
        version: o.version,
        kind: o.kind.as_str().to_string(),
        state: o.state.as_str().to_string(),
        unit: o.unit.clone(),
        households: o.households,
        started_at: o.started_at.map(to_micros),
        restored_at: o.restored_at.map(to_micros),
        in_force_from: window.map(|(from, _)| to_micros(from)),
        in_force_until: window.and_then(|(_, until)| until.map(to_micros)),
        next_deadline_at: o.next_deadline(rules).map(to_micros),
        reported_at: to_micros(o.reported_at),
        updated_at: to_micros(o.updated_at),
        escalation_level: o.escalation_level,
        reports_on_time: outcomes.reports_on_time,
        reports_late: outcomes.reports_late,
        notices_on_time: outcomes.notices_on_time,
        notices_late: outcomes.notices_late,
        estimates_kept: outcomes.estimates_kept,
        estimates_missed: outcomes.estimates_missed,
        body: serde_json::to_string(o).expect("serializable"),
    }
}

fn from_model(m: outages::Model) -> AppResult<Outage> {
    serde_json::from_str(&m.body).map_err(|e| corrupt("outage body", &format!("{}: {e}", m.id)))
}

pub async fn get<C: ConnectionTrait>(db: &C, id: Uuid) -> AppResult<Option<Outage>> {
    outages::Entity::find_by_id(id.to_string())
        .one(db)
        .await
        .map_err(db_err)?
        .map(from_model)
        .transpose()
}

pub async fn insert<C: ConnectionTrait>(db: &C, o: &Outage, rules: &OutageRules) -> AppResult<()> {
    outages::Entity::insert(to_model(o, rules).into_active_model())
        .exec_without_returning(db)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// Write `next` only if the row is still at `expected_version` (one
/// conditional UPDATE: of racing writers, and of racing monitors, one wins).
pub async fn update_if_version<C: ConnectionTrait>(
    db: &C,
    next: &Outage,
    expected_version: i64,
    rules: &OutageRules,
) -> AppResult<bool> {
    let mut am = to_model(next, rules).into_active_model().reset_all();
    am.id = sea_orm::ActiveValue::NotSet;
    let res = outages::Entity::update_many()
        .set(am)
        .filter(outages::Column::Id.eq(next.id.to_string()))
        .filter(outages::Column::Version.eq(expected_version))
        .exec(db)
        .await
        .map_err(db_err)?;
    Ok(res.rows_affected == 1)
}

/// Outages whose window contains `t` (approved works planned over it, supply
/// cut at it): the candidates an address is then matched against.
pub async fn in_force_at<C: ConnectionTrait>(db: &C, t: DateTime<Utc>) -> AppResult<Vec<Outage>> {
    let t = to_micros(t);
    outages::Entity::find()
        .filter(
            Condition::any()
                .add(outages::Column::InForceUntil.gte(t))
                .add(
                    Condition::all()
                        .add(outages::Column::InForceUntil.is_null())
                        .add(outages::Column::InForceFrom.is_not_null()),
                ),
        )
        .filter(outages::Column::InForceFrom.lte(t))
        .order_by_desc(outages::Column::InForceFrom)
        .all(db)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(from_model)
        .collect()
}

/// R-OUT-5: the interruption a call at `place`, received at `t`, is about
/// (the latest to start, when several cover the address). The outage is
/// read again under a share lock (PostgreSQL) and checked again: a
/// restoration committing meanwhile either waits for this intake (and then
/// sees its ticket) or is seen by it (and the call is not linked). SQLite
/// has one writer, so the two are in order anyway.
pub async fn explaining_call<C: ConnectionTrait>(
    db: &C,
    place: &Place<'_>,
    t: DateTime<Utc>,
) -> AppResult<Option<Outage>> {
    for candidate in in_force_at(db, t).await? {
        if !candidate.explains_call(place, t) {
            continue;
        }
        let mut q = outages::Entity::find_by_id(candidate.id.to_string());
        if db.get_database_backend() == sea_orm::DbBackend::Postgres {
            q = q.lock_shared();
        }
        let locked = q
            .one(db)
            .await
            .map_err(db_err)?
            .map(from_model)
            .transpose()?;
        if let Some(o) = locked.filter(|o| o.explains_call(place, t)) {
            return Ok(Some(o));
        }
    }
    Ok(None)
}

/// R-OUT-6: the interruption in force at `place` at `t`, if any.
pub async fn explaining_measurement<C: ConnectionTrait>(
    db: &C,
    place: &Place<'_>,
    t: DateTime<Utc>,
) -> AppResult<Option<Outage>> {
    Ok(in_force_at(db, t)
        .await?
        .into_iter()
        .find(|o| o.explains_measurement(place, t)))
}

/// Filters of ListOutages; None means any.
#[derive(Debug, Default, Clone)]
pub struct OutageFilter {
    pub state: Option<OutageState>,
    pub unit: Option<String>,
    pub kind: Option<OutageKind>,
    /// In force at this time.
    pub in_force_at: Option<DateTime<Utc>>,
}

/// A page of outages, newest first (ids are UUID v7) before `before_id`.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    f: &OutageFilter,
    before_id: Option<&str>,
    limit: u64,
) -> AppResult<Vec<Outage>> {
    let mut q = outages::Entity::find();
    if let Some(s) = f.state {
        q = q.filter(outages::Column::State.eq(s.as_str()));
    }
    if let Some(u) = &f.unit {
        q = q.filter(outages::Column::Unit.eq(u.as_str()));
    }
    if let Some(k) = f.kind {
        q = q.filter(outages::Column::Kind.eq(k.as_str()));
    }
    if let Some(t) = f.in_force_at {
        let t = to_micros(t);
        q = q.filter(outages::Column::InForceFrom.lte(t)).filter(
            Condition::any()
                .add(outages::Column::InForceUntil.gte(t))
                .add(outages::Column::InForceUntil.is_null()),
        );
    }
    if let Some(b) = before_id {
        q = q.filter(outages::Column::Id.lt(b));
    }
    q.order_by_desc(outages::Column::Id)
        .limit(limit)
        .all(db)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(from_model)
        .collect()
}

/// Ids of outages with an open clock whose deadline passed by `now`, most overdue first.
pub async fn overdue<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    limit: u64,
) -> AppResult<Vec<Uuid>> {
    super::overdue::<outages::Entity, _>(
        db,
        outages::Column::Id,
        outages::Column::NextDeadlineAt,
        now,
        limit,
    )
    .await
}

/// R-OUT-7: the figures of one kind of outage.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct KindFigures {
    pub outages: i64,
    pub households: i64,
    /// Households × hours without supply inside the period.
    pub household_hours: f64,
    pub reports_on_time: i64,
    pub reports_late: i64,
    pub notices_on_time: i64,
    pub notices_late: i64,
    pub estimates_kept: i64,
    pub estimates_missed: i64,
}

/// R-OUT-7: per kind, the outages of `unit` (or all) whose supply was off
/// during `span` (started before its end, not restored before its start),
/// with households × hours of the part inside the span (an outage still
/// running counts up to `now` or the span's end), computed in the database.
pub async fn figures<C: ConnectionTrait>(
    db: &C,
    span: Span,
    unit: Option<&str>,
    now: DateTime<Utc>,
) -> AppResult<BTreeMap<String, KindFigures>> {
    use outages::Column as C;
    let col = |c: C| Expr::col((outages::Entity, c));
    let (from, until) = (
        to_micros(span.start),
        to_micros(std::cmp::min(span.end, now)),
    );
    // The part of [started_at, restored_at or now) inside the span, in microseconds.
    let end = Expr::case(
        col(C::RestoredAt)
            .is_null()
            .or(col(C::RestoredAt).gt(until)),
        until,
    )
    .finally(col(C::RestoredAt));
    let start = Expr::case(col(C::StartedAt).lt(from), from).finally(col(C::StartedAt));
    // Whole seconds before multiplying: microseconds × households could pass i64.
    let seconds = Expr::expr(end).sub(start).div(1_000_000);
    let hh: Expr = Expr::case(
        Expr::expr(seconds.clone()).gt(0),
        Expr::expr(seconds).mul(col(C::Households)),
    )
    .finally(0)
    .into();
    // PostgreSQL sums BIGINT as NUMERIC: cast back (both databases read it as i64).
    let big = |e: Expr| Func::cast_as(Func::sum(e), Alias::new("BIGINT"));
    let sum = |c: C| big(col(c));
    let mut q = Query::select();
    q.from(outages::Entity)
        .column(C::Kind)
        .expr_as(Func::count(Expr::cust("*")), Alias::new("n"))
        .expr_as(sum(C::Households), Alias::new("households"))
        .expr_as(big(hh), Alias::new("household_seconds"))
        .expr_as(sum(C::ReportsOnTime), Alias::new("reports_on_time"))
        .expr_as(sum(C::ReportsLate), Alias::new("reports_late"))
        .expr_as(sum(C::NoticesOnTime), Alias::new("notices_on_time"))
        .expr_as(sum(C::NoticesLate), Alias::new("notices_late"))
        .expr_as(sum(C::EstimatesKept), Alias::new("estimates_kept"))
        .expr_as(sum(C::EstimatesMissed), Alias::new("estimates_missed"))
        .and_where(col(C::StartedAt).lt(to_micros(span.end)))
        .and_where(
            col(C::RestoredAt)
                .is_null()
                .or(col(C::RestoredAt).gte(to_micros(span.start))),
        );
    if let Some(u) = unit {
        q.and_where(col(C::Unit).eq(u));
    }
    q.group_by_col(C::Kind);
    let backend = db.get_database_backend();
    let rows = db.query_all_raw(backend.build(&q)).await.map_err(db_err)?;
    let mut out = BTreeMap::new();
    for r in rows {
        let big = |name: &str| -> AppResult<i64> {
            r.try_get::<Option<i64>>("", name)
                .map(Option::unwrap_or_default)
                .map_err(db_err)
        };
        let kind: String = r.try_get("", "kind").map_err(db_err)?;
        let f = KindFigures {
            outages: big("n")?,
            households: big("households")?,
            household_hours: big("household_seconds")? as f64 / 3600.0,
            reports_on_time: big("reports_on_time")?,
            reports_late: big("reports_late")?,
            notices_on_time: big("notices_on_time")?,
            notices_late: big("notices_late")?,
            estimates_kept: big("estimates_kept")?,
            estimates_missed: big("estimates_missed")?,
        };
        out.insert(kind, f);
    }
    Ok(out)
}
