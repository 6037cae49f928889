//! The service report's counts (R-RPT-1), kept as tickets are written, so a
//! year's report sums a few hundred thousand small rows instead of reading a
//! million wide ones (issue 19).
//!
//! - **What a ticket adds.** [`contributions`] is the one definition of what
//!   a ticket row adds to the report's figures (its category, its clocks'
//!   outcomes, its returns...). The report of a span is the sum of the
//!   contributions of the tickets received in it.
//! - **Kept per UTC day of receipt and unit.** Every ticket write appends the
//!   difference between the row's contributions after and before it
//!   (`report_count_deltas`), in the writing transaction. Appending only: no
//!   counter row is updated by a writer, so concurrent writers on any number
//!   of instances never wait on each other or deadlock. Housekeeping folds
//!   the deltas into `report_counts` ([`compact`]), one row per (day, unit,
//!   figure, value).
//! - **A span** is summed from both tables over the whole UTC days inside it;
//!   the hours at its edges that are not a whole UTC day (a month in
//!   Asia/Shanghai starts at 16:00 UTC) are read from the tickets themselves
//!   and added by the same [`contributions`]. So any span, in any time zone,
//!   counts exactly the tickets received in it.
use super::db_err;
use super::entities::tickets;
use super::report::TicketFigures;
use crate::domain::TicketState;
use crate::domain::report::Span;
use crate::domain::sla::ClockKind;
use crate::domain::ticket::{RevisitOutcome, SourceChannel, TicketType};
use crate::error::{AppError, AppResult};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, IdenStatic, QueryFilter, QueryOrder,
    QuerySelect, Statement, Value,
};
use std::collections::HashMap;
use std::sync::LazyLock;

const DAY_MICROS: i64 = 86_400_000_000;
const COUNTS: &str = "report_counts";
const DELTAS: &str = "report_count_deltas";
/// Rows per INSERT: five values each, under SQLite's 32,766 bound parameters.
const BATCH: usize = 5_000;

/// The UTC day (days since 1970-01-01) a time in microseconds falls in.
fn day_of(micros: i64) -> i64 {
    micros.div_euclid(DAY_MICROS)
}

/// What a count adds to. Stored by name: the names are part of the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Figure {
    Cancelled,
    Tickets,
    Category,
    Source,
    Priority,
    Type,
    District,
    Resolved,
    Revisited,
    Satisfied,
    ReturnedTickets,
    Returns,
    Redos,
    SupervisedTickets,
    SupervisionNotices,
    RepeatRepairs,
    Breached,
    Referrals,
    SuspendedTickets,
    Suspensions,
    MajorMatters,
    /// Value: the clock's on-time column.
    OnTime,
    Late,
}

impl Figure {
    const ALL: [Figure; 23] = [
        Figure::Cancelled,
        Figure::Tickets,
        Figure::Category,
        Figure::Source,
        Figure::Priority,
        Figure::Type,
        Figure::District,
        Figure::Resolved,
        Figure::Revisited,
        Figure::Satisfied,
        Figure::ReturnedTickets,
        Figure::Returns,
        Figure::Redos,
        Figure::SupervisedTickets,
        Figure::SupervisionNotices,
        Figure::RepeatRepairs,
        Figure::Breached,
        Figure::Referrals,
        Figure::SuspendedTickets,
        Figure::Suspensions,
        Figure::MajorMatters,
        Figure::OnTime,
        Figure::Late,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Figure::Cancelled => "cancelled",
            Figure::Tickets => "tickets",
            Figure::Category => "category",
            Figure::Source => "source",
            Figure::Priority => "priority",
            Figure::Type => "type",
            Figure::District => "district",
            Figure::Resolved => "resolved",
            Figure::Revisited => "revisited",
            Figure::Satisfied => "satisfied",
            Figure::ReturnedTickets => "returned_tickets",
            Figure::Returns => "returns",
            Figure::Redos => "redos",
            Figure::SupervisedTickets => "supervised_tickets",
            Figure::SupervisionNotices => "supervision_notices",
            Figure::RepeatRepairs => "repeat_repairs",
            Figure::Breached => "breached",
            Figure::Referrals => "referrals",
            Figure::SuspendedTickets => "suspended_tickets",
            Figure::Suspensions => "suspensions",
            Figure::MajorMatters => "major_matters",
            Figure::OnTime => "on_time",
            Figure::Late => "late",
        }
    }

    fn parse(s: &str) -> Option<Figure> {
        Figure::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

/// The row's column that holds a clock's outcome (true on time, false late).
fn on_time_column(kind: ClockKind) -> tickets::Column {
    use tickets::Column as C;
    match kind {
        ClockKind::Accept => C::AcceptOnTime,
        ClockKind::Arrive => C::ArriveOnTime,
        ClockKind::Resolve => C::ResolveOnTime,
        ClockKind::Revisit => C::RevisitOnTime,
        ClockKind::Feedback => C::FeedbackOnTime,
        ClockKind::Supervision => C::SupervisionOnTime,
        ClockKind::Forward => C::ForwardOnTime,
        ClockKind::Callback => C::CallbackOnTime,
        ClockKind::UnitReport => C::UnitReportOnTime,
        ClockKind::Result => C::ResultOnTime,
        ClockKind::CallerUpdate => C::CallerUpdateOnTime,
        ClockKind::ReferrerUpdate => C::ReferrerUpdateOnTime,
        ClockKind::Reply => C::ReplyOnTime,
        ClockKind::Leadership => C::LeadershipOnTime,
        ClockKind::Instruction => C::InstructionOnTime,
        ClockKind::LongMatter => C::LongMatterOnTime,
    }
}

/// The stored form of a satisfied call-back (`revisit_outcome`), made once:
/// every ticket write asks for it twice.
static SATISFIED: LazyLock<String> =
    LazyLock::new(|| serde_json::to_string(&RevisitOutcome::Satisfied).expect("serializable"));

/// What one ticket row adds to the report: (figure, value, amount). A
/// cancelled ticket counts only as cancelled.
fn contributions(m: &tickets::Model) -> Vec<(Figure, String, i64)> {
    use sea_orm::ModelTrait;
    if m.state == TicketState::Cancelled.as_str() {
        return vec![(Figure::Cancelled, String::new(), 1)];
    }
    let none = String::new;
    let mut out = vec![
        (Figure::Tickets, none(), 1),
        (Figure::Category, m.category.clone(), 1),
        (Figure::Source, m.source.clone(), 1),
        (Figure::Priority, m.priority.clone(), 1),
        (
            Figure::Type,
            m.ticket_type
                .clone()
                .unwrap_or_else(|| TicketType::default().as_str().to_string()),
            1,
        ),
    ];
    let mut add = |f: Figure, yes: bool| {
        if yes {
            out.push((f, String::new(), 1));
        }
    };
    add(Figure::Resolved, m.resolved_at.is_some());
    add(Figure::Revisited, m.revisit_outcome.is_some());
    add(
        Figure::Satisfied,
        m.revisit_outcome.as_deref() == Some(SATISFIED.as_str()),
    );
    add(Figure::ReturnedTickets, m.return_count > 0);
    add(Figure::SupervisedTickets, m.supervision_count > 0);
    add(Figure::RepeatRepairs, m.repeat_of.is_some());
    add(Figure::Breached, m.breached);
    add(
        Figure::Referrals,
        SourceChannel::ALL
            .iter()
            .any(|s| s.is_platform() && s.as_str() == m.source),
    );
    add(Figure::SuspendedTickets, m.suspensions > 0);
    add(Figure::MajorMatters, m.major);
    for (f, n) in [
        (Figure::Returns, m.return_count),
        (Figure::Redos, m.redo_count),
        (Figure::SupervisionNotices, m.supervision_count),
        (Figure::Suspensions, m.suspensions),
    ] {
        if n != 0 {
            out.push((f, String::new(), i64::from(n)));
        }
    }
    if let Some(d) = &m.district {
        out.push((Figure::District, d.clone(), 1));
    }
    for kind in ClockKind::ALL {
        let col = on_time_column(kind);
        let figure = match m.get(col) {
            Value::Bool(Some(true)) => Figure::OnTime,
            Value::Bool(Some(false)) => Figure::Late,
            _ => continue,
        };
        out.push((figure, col.as_str().to_string(), 1));
    }
    out
}

/// Add `n` of `figure` (with `value`) to the report's figures.
fn fold(f: &mut TicketFigures, figure: Figure, value: &str, n: i64) -> AppResult<()> {
    let by = |map: &mut std::collections::BTreeMap<String, i64>| {
        *map.entry(value.to_string()).or_default() += n;
    };
    match figure {
        Figure::Cancelled => f.cancelled += n,
        Figure::Tickets => f.tickets += n,
        Figure::Category => by(&mut f.by_category),
        Figure::Source => by(&mut f.by_source),
        Figure::Priority => by(&mut f.by_priority),
        Figure::Type => by(&mut f.by_type),
        Figure::District => by(&mut f.by_district),
        Figure::Resolved => f.resolved += n,
        Figure::Revisited => f.revisited += n,
        Figure::Satisfied => f.satisfied += n,
        Figure::ReturnedTickets => f.returned_tickets += n,
        Figure::Returns => f.returns += n,
        Figure::Redos => f.redos += n,
        Figure::SupervisedTickets => f.supervised_tickets += n,
        Figure::SupervisionNotices => f.supervision_notices += n,
        Figure::RepeatRepairs => f.repeat_repairs += n,
        Figure::Breached => f.breached_tickets += n,
        Figure::Referrals => f.referrals += n,
        Figure::SuspendedTickets => f.suspended_tickets += n,
        Figure::Suspensions => f.suspensions += n,
        Figure::MajorMatters => f.major_matters += n,
        Figure::OnTime | Figure::Late => {
            let kind = ClockKind::ALL
                .into_iter()
                .find(|k| on_time_column(*k).as_str() == value)
                .ok_or_else(|| corrupt(figure.as_str(), value))?;
            let c = f.clocks.entry(kind).or_default();
            if figure == Figure::OnTime {
                c.on_time += n;
            } else {
                c.late += n;
            }
        }
    }
    Ok(())
}

fn corrupt(figure: &str, value: &str) -> AppError {
    AppError::internal(anyhow::anyhow!(
        "report count of unknown figure {figure:?} ({value:?})"
    ))
}

/// (day, unit, figure, value)
type Key = (i64, String, Figure, String);

/// Add the contributions of `m` times `sign` to `acc`.
fn tally(acc: &mut HashMap<Key, i64>, m: &tickets::Model, sign: i64) {
    let (day, unit) = (day_of(m.received_at), m.unit.clone().unwrap_or_default());
    for (figure, value, n) in contributions(m) {
        *acc.entry((day, unit.clone(), figure, value)).or_default() += sign * n;
    }
}

fn nonzero(acc: HashMap<Key, i64>) -> Vec<(Key, i64)> {
    let mut rows: Vec<(Key, i64)> = acc.into_iter().filter(|(_, n)| *n != 0).collect();
    // A fixed order: the same writes give the same statements.
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows
}

async fn insert_rows<C: ConnectionTrait>(
    db: &C,
    table: &str,
    rows: &[(Key, i64)],
    add_on_conflict: bool,
) -> AppResult<()> {
    for chunk in rows.chunks(BATCH) {
        let mut q = Query::insert();
        q.into_table(Alias::new(table))
            .columns(["day", "unit", "figure", "value", "n"].map(Alias::new));
        for ((day, unit, figure, value), n) in chunk {
            q.values_panic([
                (*day).into(),
                unit.clone().into(),
                figure.as_str().into(),
                value.clone().into(),
                (*n).into(),
            ]);
        }
        if add_on_conflict {
            q.on_conflict(
                OnConflict::columns(["day", "unit", "figure", "value"].map(Alias::new))
                    .value(
                        Alias::new("n"),
                        Expr::col((Alias::new(COUNTS), Alias::new("n")))
                            .add(Expr::col((Alias::new("excluded"), Alias::new("n")))),
                    )
                    .to_owned(),
            );
        }
        let stmt = db.get_database_backend().build(&q);
        db.execute_raw(stmt).await.map_err(db_err)?;
    }
    Ok(())
}

/// In the writing transaction of a ticket: record what the write changed in
/// the report (`before` is the row it replaced, none for a new ticket).
/// Most writes change nothing the report counts and add no row.
pub async fn record<C: ConnectionTrait>(
    db: &C,
    before: Option<&tickets::Model>,
    after: &tickets::Model,
) -> AppResult<()> {
    let mut acc = HashMap::new();
    tally(&mut acc, after, 1);
    if let Some(b) = before {
        tally(&mut acc, b, -1);
    }
    let rows = nonzero(acc);
    if rows.is_empty() {
        return Ok(());
    }
    insert_rows(db, DELTAS, &rows, false).await
}

/// R-RPT-1: the ticket figures of the tickets received in `span` (of `unit`,
/// or all). Call within one read snapshot.
pub async fn figures<C: ConnectionTrait>(
    db: &C,
    span: Span,
    unit: Option<&str>,
) -> AppResult<TicketFigures> {
    let (start, end) = (super::to_micros(span.start), super::to_micros(span.end));
    // Whole UTC days inside the span: [first, last).
    let first = start.div_euclid(DAY_MICROS) + i64::from(start.rem_euclid(DAY_MICROS) != 0);
    let last = end.div_euclid(DAY_MICROS);
    let mut f = TicketFigures::default();
    if first >= last {
        add_tickets(db, &mut f, start, end, unit).await?;
        return Ok(f);
    }
    add_tickets(db, &mut f, start, first * DAY_MICROS, unit).await?;
    add_tickets(db, &mut f, last * DAY_MICROS, end, unit).await?;
    let backend = db.get_database_backend();
    let (p, unit_filter) = match backend {
        DbBackend::Postgres => (["$1", "$2", "$3"], "AND unit = $3"),
        _ => (["?1", "?2", "?3"], "AND unit = ?3"),
    };
    let filter = if unit.is_some() { unit_filter } else { "" };
    let part = |table: &str| {
        format!(
            "SELECT figure, value, n FROM {table} WHERE day >= {} AND day < {} {filter}",
            p[0], p[1]
        )
    };
    let sql = format!(
        "SELECT figure, value, CAST(SUM(n) AS BIGINT) AS n FROM ({} UNION ALL {}) AS counted GROUP BY figure, value",
        part(COUNTS),
        part(DELTAS)
    );
    let mut values: Vec<Value> = vec![first.into(), last.into()];
    if let Some(u) = unit {
        values.push(u.into());
    }
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await
        .map_err(db_err)?;
    for row in rows {
        let figure: String = row.try_get("", "figure").map_err(db_err)?;
        let value: String = row.try_get("", "value").map_err(db_err)?;
        let n: i64 = row.try_get("", "n").map_err(db_err)?;
        let fig = Figure::parse(&figure).ok_or_else(|| corrupt(&figure, &value))?;
        // A count moved away (a category corrected) sums to nothing: no key.
        if n != 0 {
            fold(&mut f, fig, &value, n)?;
        }
    }
    Ok(f)
}

/// Add the tickets received in [from, to) themselves (a span's edges).
async fn add_tickets<C: ConnectionTrait>(
    db: &C,
    f: &mut TicketFigures,
    from: i64,
    to: i64,
    unit: Option<&str>,
) -> AppResult<()> {
    if from >= to {
        return Ok(());
    }
    let mut q = tickets::Entity::find()
        .filter(tickets::Column::ReceivedAt.gte(from))
        .filter(tickets::Column::ReceivedAt.lt(to));
    if let Some(u) = unit {
        q = q.filter(tickets::Column::Unit.eq(u));
    }
    for m in q.all(db).await.map_err(db_err)? {
        for (figure, value, n) in contributions(&m) {
            fold(f, figure, &value, n)?;
        }
    }
    Ok(())
}

/// Housekeeping: fold every delta into `report_counts`, in the caller's write
/// transaction. Returns the number of deltas folded. The deltas removed are
/// exactly those read (DELETE ... RETURNING), so a delta committed meanwhile
/// stays for the next pass.
pub async fn compact<C: ConnectionTrait>(db: &C) -> AppResult<u64> {
    super::advisory_lock(db, "report_counts").await?;
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(Statement::from_string(
            backend,
            format!("DELETE FROM {DELTAS} RETURNING day, unit, figure, value, n"),
        ))
        .await
        .map_err(db_err)?;
    let folded = rows.len() as u64;
    let mut acc: HashMap<Key, i64> = HashMap::new();
    for row in rows {
        let day: i64 = row.try_get("", "day").map_err(db_err)?;
        let unit: String = row.try_get("", "unit").map_err(db_err)?;
        let figure: String = row.try_get("", "figure").map_err(db_err)?;
        let value: String = row.try_get("", "value").map_err(db_err)?;
        let n: i64 = row.try_get("", "n").map_err(db_err)?;
        let fig = Figure::parse(&figure).ok_or_else(|| corrupt(&figure, &value))?;
        *acc.entry((day, unit, fig, value)).or_default() += n;
    }
    insert_rows(db, COUNTS, &nonzero(acc), true).await?;
    Ok(folded)
}

/// Counts present, or no ticket to count.
async fn nothing_to_count<C: ConnectionTrait>(db: &C) -> AppResult<bool> {
    let backend = db.get_database_backend();
    let sql = format!(
        "SELECT EXISTS (SELECT 1 FROM {COUNTS}) OR EXISTS (SELECT 1 FROM {DELTAS}) \
         OR NOT EXISTS (SELECT 1 FROM tickets) AS done"
    );
    let row = db
        .query_one_raw(Statement::from_string(backend, sql))
        .await
        .map_err(db_err)?;
    match row {
        Some(r) => r.try_get::<bool>("", "done").map_err(db_err),
        None => Ok(false),
    }
}

/// After the migrations: a store whose tickets predate the counts (an
/// upgrade, a restored old backup, a bulk load) gets them computed from the
/// tickets, once. Empty counts with tickets present mean exactly that: every
/// ticket adds one to `tickets` or `cancelled`. Holds off ticket writers on
/// PostgreSQL while it counts, so nothing is counted twice or missed.
pub async fn backfill_if_needed(writer: &sea_orm::DatabaseConnection) -> AppResult<u64> {
    use sea_orm::{SqliteTransactionMode, TransactionOptions, TransactionTrait};
    let backend = writer.get_database_backend();
    let options = TransactionOptions {
        sqlite_transaction_mode: (backend == DbBackend::Sqlite)
            .then_some(SqliteTransactionMode::Immediate),
        ..Default::default()
    };
    // Checked first without a lock: a counted store (every start but one)
    // never holds off the other instances' writers.
    if nothing_to_count(writer).await? {
        return Ok(0);
    }
    let tx = writer.begin_with_options(options).await.map_err(db_err)?;
    if backend == DbBackend::Postgres {
        // Self-exclusive, and excludes every row writer of tickets.
        tx.execute_unprepared(
            "LOCK TABLE tickets, report_counts, report_count_deltas IN SHARE ROW EXCLUSIVE MODE",
        )
        .await
        .map_err(db_err)?;
    }
    // Again under the lock: another instance may have counted meanwhile.
    if nothing_to_count(&tx).await? {
        tx.rollback().await.map_err(db_err)?;
        return Ok(0);
    }
    let mut acc: HashMap<Key, i64> = HashMap::new();
    let (mut after, mut seen) = (String::new(), 0u64);
    loop {
        let page = tickets::Entity::find()
            .filter(tickets::Column::Id.gt(after.clone()))
            .order_by_asc(tickets::Column::Id)
            .limit(BATCH as u64)
            .all(&tx)
            .await
            .map_err(db_err)?;
        let Some(last) = page.last() else { break };
        after = last.id.clone();
        seen += page.len() as u64;
        for m in &page {
            tally(&mut acc, m, 1);
        }
    }
    insert_rows(&tx, COUNTS, &nonzero(acc), false).await?;
    tx.commit().await.map_err(db_err)?;
    if seen > 0 {
        tracing::info!(tickets = seen, "report counts computed from the tickets");
    }
    Ok(seen)
}
