//! Meter readings and exchanges (R-MTR-1, R-MTR-2).
use super::entities::{meter_exchanges, meter_readings};
use super::{db_err, from_micros, to_micros};
use crate::domain::meter::{MeterExchange, MeterReading, MeterUnit};
use crate::error::{AppError, AppResult};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect,
    sea_query::{Expr, ExprTrait},
};
use uuid::Uuid;

fn unit(s: &str) -> AppResult<MeterUnit> {
    MeterUnit::parse(s)
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("corrupt meter unit {s:?}")))
}

fn id(s: &str) -> AppResult<Uuid> {
    Uuid::parse_str(s).map_err(|e| AppError::internal(anyhow::anyhow!("corrupt id {s:?}: {e}")))
}

fn reading_from(m: meter_readings::Model) -> AppResult<MeterReading> {
    Ok(MeterReading {
        id: id(&m.id)?,
        version: m.version,
        unit: unit(&m.unit)?,
        meter_id: m.meter_id,
        value: m.value,
        read_at: from_micros(m.read_at),
        inspector: m.inspector,
        rollback: m.rollback,
        received_at: from_micros(m.received_at),
    })
}

/// Serialise the transactions that touch one meter: its flags are computed
/// over its whole history, so two writers must not both miss each other's
/// rows. PostgreSQL: a transaction-scoped advisory lock keyed by the meter id;
/// SQLite: nothing to do, there is one writer.
pub async fn lock_meter<C: ConnectionTrait>(db: &C, meter_id: &str) -> AppResult<()> {
    super::advisory_lock(db, &format!("meter:{meter_id}")).await
}

pub async fn insert_reading<C: ConnectionTrait>(db: &C, r: &MeterReading) -> AppResult<()> {
    let m = meter_readings::Model {
        id: r.id.to_string(),
        version: r.version,
        meter_id: r.meter_id.clone(),
        value: r.value,
        unit: r.unit.as_str().to_string(),
        read_at: to_micros(r.read_at),
        inspector: r.inspector.clone(),
        rollback: r.rollback,
        received_at: to_micros(r.received_at),
    };
    meter_readings::Entity::insert(m.into_active_model())
        .exec_without_returning(db)
        .await
        .map_err(db_err)?;
    Ok(())
}

pub async fn get_reading<C: ConnectionTrait>(
    db: &C,
    reading: Uuid,
) -> AppResult<Option<MeterReading>> {
    meter_readings::Entity::find_by_id(reading.to_string())
        .one(db)
        .await
        .map_err(db_err)?
        .map(reading_from)
        .transpose()
}

pub async fn insert_exchange<C: ConnectionTrait>(db: &C, x: &MeterExchange) -> AppResult<()> {
    let m = meter_exchanges::Model {
        id: x.id.to_string(),
        meter_id: x.meter_id.clone(),
        old_serial: x.old_serial.clone(),
        new_serial: x.new_serial.clone(),
        old_final_value: x.old_final_value,
        new_initial_value: x.new_initial_value,
        unit: x.unit.as_str().to_string(),
        exchanged_at: to_micros(x.exchanged_at),
        reader_present: x.reader_present,
        customer_present: x.customer_present,
        flagged: x.flagged,
        inspector: x.inspector.clone(),
        received_at: to_micros(x.received_at),
    };
    meter_exchanges::Entity::insert(m.into_active_model())
        .exec_without_returning(db)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// Every reading of one metering point (a handful a month: small).
pub async fn readings_of<C: ConnectionTrait>(
    db: &C,
    meter_id: &str,
) -> AppResult<Vec<MeterReading>> {
    meter_readings::Entity::find()
        .filter(meter_readings::Column::MeterId.eq(meter_id))
        .all(db)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(reading_from)
        .collect()
}

/// R-MTR-1: the unit a meter's readings (else its exchanges) are recorded
/// in; None for a meter never seen.
pub async fn unit_of<C: ConnectionTrait>(db: &C, meter_id: &str) -> AppResult<Option<MeterUnit>> {
    let reading = meter_readings::Entity::find()
        .filter(meter_readings::Column::MeterId.eq(meter_id))
        .one(db)
        .await
        .map_err(db_err)?;
    let recorded = match reading {
        Some(r) => Some(r.unit),
        None => meter_exchanges::Entity::find()
            .filter(meter_exchanges::Column::MeterId.eq(meter_id))
            .one(db)
            .await
            .map_err(db_err)?
            .map(|x| x.unit),
    };
    recorded.map(|u| unit(&u)).transpose()
}

pub async fn exchange_times_of<C: ConnectionTrait>(
    db: &C,
    meter_id: &str,
) -> AppResult<Vec<chrono::DateTime<chrono::Utc>>> {
    Ok(meter_exchanges::Entity::find()
        .filter(meter_exchanges::Column::MeterId.eq(meter_id))
        .all(db)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(|m| from_micros(m.exchanged_at))
        .collect())
}

/// Change one reading's rollback flag (version + 1).
pub async fn set_rollback<C: ConnectionTrait>(
    db: &C,
    reading: Uuid,
    rollback: bool,
) -> AppResult<()> {
    meter_readings::Entity::update_many()
        .col_expr(meter_readings::Column::Rollback, Expr::value(rollback))
        .col_expr(
            meter_readings::Column::Version,
            Expr::col(meter_readings::Column::Version).add(Expr::value(1)),
        )
        .filter(meter_readings::Column::Id.eq(reading.to_string()))
        .exec(db)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// A page of a meter's readings, newest first; `before` = (read_at, id) of the last seen.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    meter_id: &str,
    before: Option<(i64, String)>,
    limit: u64,
) -> AppResult<Vec<MeterReading>> {
    let mut q = meter_readings::Entity::find().filter(meter_readings::Column::MeterId.eq(meter_id));
    if let Some((at, rid)) = before {
        q = q.filter(
            Condition::any()
                .add(meter_readings::Column::ReadAt.lt(at))
                .add(
                    Condition::all()
                        .add(meter_readings::Column::ReadAt.eq(at))
                        .add(meter_readings::Column::Id.lt(rid)),
                ),
        );
    }
    q.order_by_desc(meter_readings::Column::ReadAt)
        .order_by_desc(meter_readings::Column::Id)
        .limit(limit)
        .all(db)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(reading_from)
        .collect()
}
