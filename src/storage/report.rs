//! The service report's aggregates (R-RPT-1), computed in the database: one
//! grouped pass over the tickets received in the period (an index range on
//! received_at), one over the visits finished in it, two counts of the
//! cold-household archive. Only the (category, source, priority, state)
//! groups come back, a few hundred at most, whatever the number of tickets.
use super::entities::{cold_households, inspections, tickets};
use super::{db_err, to_micros};
use crate::domain::TicketState;
use crate::domain::report::Span;
use crate::domain::sla::ClockKind;
use crate::domain::ticket::{RevisitOutcome, SourceChannel, TicketType};
use crate::error::AppResult;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, IntoCondition, Query, SelectStatement};
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

fn on_time_column(kind: ClockKind) -> tickets::Column {
    match kind {
        ClockKind::Accept => tickets::Column::AcceptOnTime,
        ClockKind::Arrive => tickets::Column::ArriveOnTime,
        ClockKind::Resolve => tickets::Column::ResolveOnTime,
        ClockKind::Revisit => tickets::Column::RevisitOnTime,
        ClockKind::Feedback => tickets::Column::FeedbackOnTime,
        ClockKind::Supervision => tickets::Column::SupervisionOnTime,
        ClockKind::Forward => tickets::Column::ForwardOnTime,
        ClockKind::Callback => tickets::Column::CallbackOnTime,
        ClockKind::UnitReport => tickets::Column::UnitReportOnTime,
        ClockKind::Result => tickets::Column::ResultOnTime,
        ClockKind::CallerUpdate => tickets::Column::CallerUpdateOnTime,
        ClockKind::ReferrerUpdate => tickets::Column::ReferrerUpdateOnTime,
        ClockKind::Reply => tickets::Column::ReplyOnTime,
        ClockKind::Leadership => tickets::Column::LeadershipOnTime,
        ClockKind::Instruction => tickets::Column::InstructionOnTime,
        ClockKind::LongMatter => tickets::Column::LongMatterOnTime,
    }
}

/// SUM(CASE WHEN cond THEN 1 ELSE 0 END): the number of rows where `cond` holds.
fn count_if(cond: impl IntoCondition) -> Expr {
    Func::sum(Expr::case(cond, 1).finally(0)).into()
}

fn col(c: tickets::Column) -> Expr {
    Expr::col((tickets::Entity, c))
}

fn ticket_query(span: Span, unit: Option<&str>) -> SelectStatement {
    use tickets::Column as C;
    let satisfied = serde_json::to_string(&RevisitOutcome::Satisfied).expect("serializable");
    let platforms: Vec<&str> = SourceChannel::ALL
        .iter()
        .filter(|s| s.is_platform())
        .map(|s| s.as_str())
        .collect();
    let mut q = Query::select();
    q.from(tickets::Entity)
        .column(C::Category)
        .column(C::Source)
        .column(C::Priority)
        .column(C::TicketType)
        .column(C::State)
        .column(C::District)
        .expr_as(Func::count(Expr::cust("*")), Alias::new("n"))
        .expr_as(
            count_if(col(C::ResolvedAt).is_not_null()),
            Alias::new("resolved"),
        )
        .expr_as(
            count_if(col(C::RevisitOutcome).is_not_null()),
            Alias::new("revisited"),
        )
        .expr_as(
            count_if(col(C::RevisitOutcome).eq(satisfied)),
            Alias::new("satisfied"),
        )
        .expr_as(
            count_if(col(C::ReturnCount).gt(0)),
            Alias::new("returned_tickets"),
        )
        .expr_as(Func::sum(col(C::ReturnCount)), Alias::new("returns"))
        .expr_as(Func::sum(col(C::RedoCount)), Alias::new("redos"))
        .expr_as(
            count_if(col(C::SupervisionCount).gt(0)),
            Alias::new("supervised_tickets"),
        )
        .expr_as(
            Func::sum(col(C::SupervisionCount)),
            Alias::new("supervision_notices"),
        )
        .expr_as(
            count_if(col(C::RepeatOf).is_not_null()),
            Alias::new("repeat_repairs"),
        )
        .expr_as(count_if(col(C::Breached).eq(true)), Alias::new("breached"))
        .expr_as(
            count_if(col(C::Source).is_in(platforms)),
            Alias::new("referrals"),
        )
        .expr_as(
            count_if(col(C::Suspensions).gt(0)),
            Alias::new("suspended_tickets"),
        )
        .expr_as(Func::sum(col(C::Suspensions)), Alias::new("suspensions"))
        .expr_as(
            count_if(col(C::Major).eq(true)),
            Alias::new("major_matters"),
        );
    for kind in ClockKind::ALL {
        let c = on_time_column(kind);
        q.expr_as(
            count_if(col(c).eq(true)),
            Alias::new(format!("{kind:?}_on_time")),
        )
        .expr_as(
            count_if(col(c).eq(false)),
            Alias::new(format!("{kind:?}_late")),
        );
    }
    q.and_where(col(C::ReceivedAt).gte(to_micros(span.start)))
        .and_where(col(C::ReceivedAt).lt(to_micros(span.end)));
    if let Some(u) = unit {
        q.and_where(col(C::Unit).eq(u));
    }
    q.group_by_columns([
        C::Category,
        C::Source,
        C::Priority,
        C::TicketType,
        C::State,
        C::District,
    ]);
    q
}

/// R-RPT-1: the ticket figures of tickets received in `span` (of `unit`, or all).
pub async fn ticket_figures<C: ConnectionTrait>(
    db: &C,
    span: Span,
    unit: Option<&str>,
) -> AppResult<TicketFigures> {
    let stmt = db.get_database_backend().build(&ticket_query(span, unit));
    let rows = db.query_all_raw(stmt).await.map_err(db_err)?;
    let mut f = TicketFigures::default();
    for row in rows {
        let int = |name: &str| -> AppResult<i64> {
            // COUNT and SUM over integers are bigint on PostgreSQL.
            row.try_get::<Option<i64>>("", name)
                .map(Option::unwrap_or_default)
                .map_err(db_err)
        };
        let n = int("n")?;
        let text = |name: &str| row.try_get::<String>("", name).map_err(db_err);
        if text("state")? == TicketState::Cancelled.as_str() {
            f.cancelled += n;
            continue;
        }
        f.tickets += n;
        *f.by_category.entry(text("category")?).or_default() += n;
        *f.by_source.entry(text("source")?).or_default() += n;
        *f.by_priority.entry(text("priority")?).or_default() += n;
        let kind = row
            .try_get::<Option<String>>("", "ticket_type")
            .map_err(db_err)?
            .unwrap_or_else(|| TicketType::default().as_str().to_string());
        *f.by_type.entry(kind).or_default() += n;
        f.resolved += int("resolved")?;
        f.revisited += int("revisited")?;
        f.satisfied += int("satisfied")?;
        f.returned_tickets += int("returned_tickets")?;
        f.returns += int("returns")?;
        f.redos += int("redos")?;
        f.supervised_tickets += int("supervised_tickets")?;
        f.supervision_notices += int("supervision_notices")?;
        f.repeat_repairs += int("repeat_repairs")?;
        f.breached_tickets += int("breached")?;
        if let Some(d) = row
            .try_get::<Option<String>>("", "district")
            .map_err(db_err)?
        {
            *f.by_district.entry(d).or_default() += n;
        }
        f.referrals += int("referrals")?;
        f.suspended_tickets += int("suspended_tickets")?;
        f.suspensions += int("suspensions")?;
        f.major_matters += int("major_matters")?;
        for kind in ClockKind::ALL {
            let c = f.clocks.entry(kind).or_default();
            c.on_time += int(&format!("{kind:?}_on_time"))?;
            c.late += int(&format!("{kind:?}_late"))?;
        }
    }
    Ok(f)
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
