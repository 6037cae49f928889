//! The service report's aggregates (R-RPT-1). The ticket figures are kept as
//! tickets are written (`report_counts`); the temperature figures are one
//! grouped pass over the visits finished in the period and two counts of the
//! cold-household archive.
use super::entities::{cold_households, inspections};
use super::{db_err, to_micros};
use crate::domain::report::Span;
use crate::domain::sla::ClockKind;
use crate::error::AppResult;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};
use std::collections::BTreeMap;

/// Kept / missed counts of one clock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClockCounts {
    pub on_time: i64,
    pub late: i64,
}

/// Ticket figures of one period (cancelled tickets only in `cancelled`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TicketFigures {
    pub tickets: i64,
    pub cancelled: i64,
    pub by_category: BTreeMap<String, i64>,
    pub by_source: BTreeMap<String, i64>,
    pub by_priority: BTreeMap<String, i64>,
    /// R-TKT-14, R-RPT-2.
    pub by_type: BTreeMap<String, i64>,
    pub clocks: BTreeMap<ClockKind, ClockCounts>,
    pub resolved: i64,
    pub revisited: i64,
    pub satisfied: i64,
    pub returned_tickets: i64,
    pub returns: i64,
    pub redos: i64,
    pub supervised_tickets: i64,
    pub supervision_notices: i64,
    pub repeat_repairs: i64,
    pub breached_tickets: i64,
    /// R-RPT-2: by the address's district (known ones only).
    pub by_district: BTreeMap<String, i64>,
    /// R-TKT-15: tickets from a referring platform.
    pub referrals: i64,
    /// R-TKT-16.
    pub suspended_tickets: i64,
    pub suspensions: i64,
    /// R-TKT-17.
    pub major_matters: i64,
}

/// Visits finished in the period, by verdict, and the archive.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TemperatureFigures {
    pub by_verdict: BTreeMap<String, i64>,
    pub cold_households_active: i64,
    pub cold_households_new: i64,
}

/// R-TMP-10, R-TMP-11: visits finished in `span` by verdict; the archive.
pub async fn temperature_figures<C: ConnectionTrait>(
    db: &C,
    span: Span,
    unit: Option<&str>,
) -> AppResult<TemperatureFigures> {
    use inspections::Column as I;
    let mut q = Query::select();
    q.from(inspections::Entity)
        .column(I::Verdict)
        .expr_as(Func::count(Expr::cust("*")), Alias::new("n"))
        .and_where(Expr::col(I::FinishedAt).gte(to_micros(span.start)))
        .and_where(Expr::col(I::FinishedAt).lt(to_micros(span.end)))
        .group_by_col(I::Verdict);
    if let Some(u) = unit {
        q.and_where(Expr::col(I::Unit).eq(u));
    }
    let rows = db
        .query_all_raw(db.get_database_backend().build(&q))
        .await
        .map_err(db_err)?;
    let mut f = TemperatureFigures::default();
    for row in rows {
        let verdict: String = row.try_get("", "verdict").map_err(db_err)?;
        let n: i64 = row.try_get("", "n").map_err(db_err)?;
        f.by_verdict.insert(verdict, n);
    }
    let archive = || {
        let mut q = cold_households::Entity::find();
        if let Some(u) = unit {
            q = q.filter(cold_households::Column::Unit.eq(u));
        }
        q
    };
    f.cold_households_active = archive()
        .filter(cold_households::Column::Active.eq(true))
        .count(db)
        .await
        .map_err(db_err)? as i64;
    f.cold_households_new = archive()
        .filter(cold_households::Column::FirstNonCompliantAt.gte(to_micros(span.start)))
        .filter(cold_households::Column::FirstNonCompliantAt.lt(to_micros(span.end)))
        .count(db)
        .await
        .map_err(db_err)? as i64;
    Ok(f)
}
