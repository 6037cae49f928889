//! Inspection visits, their room readings and the cold-household archive.
use super::entities::{cold_households, inspections, room_readings};
use super::{db_err, from_micros, to_micros};
use crate::domain::inspection::{Dwelling, Inspection, InspectionState, RoomReading};
use crate::domain::protocol::{RoomVerdict, VisitVerdict};
use crate::error::{AppError, AppResult};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect,
};
use serde::{Serialize, de::DeserializeOwned};
use uuid::Uuid;

fn to_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("serializable")
}

fn from_json<T: DeserializeOwned>(s: &str, what: &str) -> AppResult<T> {
    serde_json::from_str(s).map_err(|e| AppError::internal(anyhow::anyhow!("corrupt {what}: {e}")))
}

fn parse_id(s: &str) -> AppResult<Uuid> {
    Uuid::parse_str(s).map_err(|e| AppError::internal(anyhow::anyhow!("corrupt id {s:?}: {e}")))
}

/// Enum values are stored by their serde name (e.g. "NON_COMPLIANT").
pub fn enum_text<T: Serialize>(v: &T) -> String {
    to_json(v).trim_matches('"').to_string()
}

fn to_model(i: &Inspection) -> inspections::Model {
    inspections::Model {
        id: i.id.to_string(),
        version: i.version,
        state: i.state.as_str().to_string(),
        household_id: i.dwelling.household_id.clone(),
        address: i.dwelling.address.clone(),
        dwelling_key: i.dwelling.key(),
        ticket_id: i.ticket_id.map(|t| t.to_string()),
        inspector: i.inspector.clone(),
        unit: i.unit.clone(),
        facts: to_json(&i.facts),
        resident_name: i.resident_name.clone(),
        resident_phone: i.resident_phone.clone(),
        verdict: enum_text(&i.result.verdict),
        result: to_json(&i.result),
        sign_off: i.sign_off.as_ref().map(to_json),
        objection_ticket_id: i.objection_ticket_id.map(|t| t.to_string()),
        created_at: to_micros(i.created_at),
        updated_at: to_micros(i.updated_at),
        finished_at: i.finished_at.map(to_micros),
        personal_data_removed_at: i.personal_data_removed_at.map(to_micros),
    }
}

fn from_model(m: inspections::Model) -> AppResult<Inspection> {
    Ok(Inspection {
        id: parse_id(&m.id)?,
        version: m.version,
        state: InspectionState::parse(&m.state).ok_or_else(|| {
            AppError::internal(anyhow::anyhow!("corrupt inspection state {:?}", m.state))
        })?,
        dwelling: Dwelling {
            household_id: m.household_id,
            address: m.address,
        },
        ticket_id: m.ticket_id.as_deref().map(parse_id).transpose()?,
        inspector: m.inspector,
        unit: m.unit,
        facts: from_json(&m.facts, "inspection facts")?,
        resident_name: m.resident_name,
        resident_phone: m.resident_phone,
        result: from_json(&m.result, "inspection result")?,
        sign_off: m
            .sign_off
            .as_deref()
            .map(|s| from_json(s, "sign-off"))
            .transpose()?,
        objection_ticket_id: m.objection_ticket_id.as_deref().map(parse_id).transpose()?,
        created_at: from_micros(m.created_at),
        updated_at: from_micros(m.updated_at),
        finished_at: m.finished_at.map(from_micros),
        personal_data_removed_at: m.personal_data_removed_at.map(from_micros),
        readings: Vec::new(),
    })
}

/// A concurrent insert of the same client-chosen id lost: ALREADY_EXISTS, not INTERNAL.
fn duplicate_or(e: sea_orm::DbErr, what: &'static str) -> AppError {
    use crate::error::reason::{INSPECTION_EXISTS, READING_EXISTS};
    if super::is_unique_violation(&e) {
        AppError::AlreadyExists {
            reason: if what == "reading" {
                READING_EXISTS
            } else {
                INSPECTION_EXISTS
            },
            message: format!("{what} already exists"),
            info: Vec::new(),
        }
    } else {
        db_err(e)
    }
}

pub async fn insert<C: ConnectionTrait>(db: &C, i: &Inspection) -> AppResult<()> {
    inspections::Entity::insert(to_model(i).into_active_model())
        .exec_without_returning(db)
        .await
        .map_err(|e| duplicate_or(e, "inspection"))?;
    Ok(())
}

/// The visit without its readings.
pub async fn get<C: ConnectionTrait>(db: &C, id: Uuid) -> AppResult<Option<Inspection>> {
    inspections::Entity::find_by_id(id.to_string())
        .one(db)
        .await
        .map_err(db_err)?
        .map(from_model)
        .transpose()
}

/// The visit with its readings.
pub async fn get_full<C: ConnectionTrait>(db: &C, id: Uuid) -> AppResult<Option<Inspection>> {
    let Some(mut i) = get(db, id).await? else {
        return Ok(None);
    };
    i.readings = readings(db, id).await?;
    Ok(Some(i))
}

/// Write `next` only if the row is still at `expected_version`.
pub async fn update_if_version<C: ConnectionTrait>(
    db: &C,
    next: &Inspection,
    expected_version: i64,
) -> AppResult<bool> {
    let mut am = to_model(next).into_active_model().reset_all();
    am.id = sea_orm::ActiveValue::NotSet;
    let res = inspections::Entity::update_many()
        .set(am)
        .filter(inspections::Column::Id.eq(next.id.to_string()))
        .filter(inspections::Column::Version.eq(expected_version))
        .exec(db)
        .await
        .map_err(db_err)?;
    Ok(res.rows_affected == 1)
}

pub async fn insert_reading<C: ConnectionTrait>(db: &C, r: &RoomReading) -> AppResult<()> {
    let m = room_readings::Model {
        id: r.id.to_string(),
        inspection_id: r.inspection_id.to_string(),
        room_name: r.room_name.clone(),
        room_type: enum_text(&r.measurement.room_type),
        measurement: to_json(&r.measurement),
        verdict: enum_text(&r.result.verdict),
        result: to_json(&r.result),
        received_at: to_micros(r.received_at),
    };
    room_readings::Entity::insert(m.into_active_model())
        .exec_without_returning(db)
        .await
        .map_err(|e| duplicate_or(e, "reading"))?;
    Ok(())
}

pub async fn reading_exists<C: ConnectionTrait>(db: &C, id: Uuid) -> AppResult<bool> {
    Ok(room_readings::Entity::find_by_id(id.to_string())
        .one(db)
        .await
        .map_err(db_err)?
        .is_some())
}

/// A visit's readings in the order they were received.
pub async fn readings<C: ConnectionTrait>(
    db: &C,
    inspection_id: Uuid,
) -> AppResult<Vec<RoomReading>> {
    room_readings::Entity::find()
        .filter(room_readings::Column::InspectionId.eq(inspection_id.to_string()))
        .order_by_asc(room_readings::Column::ReceivedAt)
        .order_by_asc(room_readings::Column::Id)
        .all(db)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(|m| {
            Ok(RoomReading {
                id: parse_id(&m.id)?,
                inspection_id: parse_id(&m.inspection_id)?,
                room_name: m.room_name,
                measurement: from_json(&m.measurement, "measurement")?,
                result: from_json(&m.result, "reading result")?,
                received_at: from_micros(m.received_at),
            })
        })
        .collect()
}

/// A reading's result after the inspector voided it (R-TMP-9).
pub async fn set_reading_result<C: ConnectionTrait>(db: &C, r: &RoomReading) -> AppResult<()> {
    room_readings::Entity::update_many()
        .col_expr(
            room_readings::Column::Result,
            sea_orm::sea_query::Expr::value(to_json(&r.result)),
        )
        .filter(room_readings::Column::Id.eq(r.id.to_string()))
        .exec(db)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// The verdicts that count (voided readings do not).
pub fn verdicts(readings: &[RoomReading]) -> Vec<RoomVerdict> {
    crate::domain::inspection::counted(readings)
}

#[derive(Debug, Default, Clone)]
pub struct InspectionFilter {
    pub ticket_id: Option<Uuid>,
    pub household_id: Option<String>,
    pub inspector: Option<String>,
}

/// A page of visits, newest first; `before` is the (created_at, id) of the last one seen.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    f: &InspectionFilter,
    before: Option<(i64, String)>,
    limit: u64,
) -> AppResult<Vec<Inspection>> {
    let mut q = inspections::Entity::find();
    if let Some(t) = f.ticket_id {
        q = q.filter(inspections::Column::TicketId.eq(t.to_string()));
    }
    if let Some(h) = &f.household_id {
        q = q.filter(inspections::Column::HouseholdId.eq(h.as_str()));
    }
    if let Some(i) = &f.inspector {
        q = q.filter(inspections::Column::Inspector.eq(i.as_str()));
    }
    if let Some((at, id)) = before {
        q = q.filter(
            Condition::any()
                .add(inspections::Column::CreatedAt.lt(at))
                .add(
                    Condition::all()
                        .add(inspections::Column::CreatedAt.eq(at))
                        .add(inspections::Column::Id.lt(id)),
                ),
        );
    }
    let mut items: Vec<Inspection> = q
        .order_by_desc(inspections::Column::CreatedAt)
        .order_by_desc(inspections::Column::Id)
        .limit(limit)
        .all(db)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(from_model)
        .collect::<AppResult<_>>()?;
    for i in &mut items {
        i.readings = readings(db, i.id).await?;
    }
    Ok(items)
}

/// One entry of the cold-household archive (R-TMP-10).
#[derive(Debug, Clone, PartialEq)]
pub struct ColdHousehold {
    pub dwelling: Dwelling,
    pub active: bool,
    pub last_verdict: VisitVerdict,
    pub last_inspection_id: Uuid,
    pub last_visit_at: DateTime<Utc>,
    pub first_non_compliant_at: DateTime<Utc>,
}

/// R-TMP-10: a NON_COMPLIANT visit puts the dwelling in the archive; any
/// later visit updates its last visit; a COMPLIANT one makes it inactive.
pub async fn record_cold_household<C: ConnectionTrait>(
    db: &C,
    visit: &Inspection,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let key = visit.dwelling.key();
    let verdict = visit.result.verdict;
    let visit_at = visit.facts.entered_at;
    let existing = cold_households::Entity::find_by_id(key.clone())
        .one(db)
        .await
        .map_err(db_err)?;
    match existing {
        None if verdict == VisitVerdict::NonCompliant => {
            let m = cold_households::Model {
                dwelling_key: key,
                household_id: visit.dwelling.household_id.clone(),
                address: visit.dwelling.address.clone(),
                unit: visit.unit.clone(),
                active: true,
                last_verdict: enum_text(&verdict),
                last_inspection_id: visit.id.to_string(),
                last_visit_at: to_micros(visit_at),
                first_non_compliant_at: to_micros(visit_at),
                updated_at: to_micros(now),
            };
            cold_households::Entity::insert(m.into_active_model())
                .exec_without_returning(db)
                .await
                .map_err(db_err)?;
        }
        None => {}
        Some(m) => {
            // A visit reported late (offline) must not overwrite a newer one.
            if to_micros(visit_at) < m.last_visit_at {
                return Ok(());
            }
            let active = match verdict {
                VisitVerdict::NonCompliant => true,
                VisitVerdict::Compliant => false,
                _ => m.active,
            };
            let mut am = m.into_active_model();
            am.active = sea_orm::ActiveValue::Set(active);
            am.last_verdict = sea_orm::ActiveValue::Set(enum_text(&verdict));
            am.last_inspection_id = sea_orm::ActiveValue::Set(visit.id.to_string());
            am.last_visit_at = sea_orm::ActiveValue::Set(to_micros(visit_at));
            am.updated_at = sea_orm::ActiveValue::Set(to_micros(now));
            am.update(db).await.map_err(db_err)?;
        }
    }
    Ok(())
}

/// A page of the archive ordered by dwelling key. `due_before`: only active
/// entries last visited before this instant (the start of the month).
pub async fn cold_households<C: ConnectionTrait>(
    db: &C,
    unit: Option<&str>,
    include_resolved: bool,
    due_before: Option<DateTime<Utc>>,
    after_key: Option<&str>,
    limit: u64,
) -> AppResult<Vec<ColdHousehold>> {
    let mut q = cold_households::Entity::find();
    if let Some(u) = unit {
        q = q.filter(cold_households::Column::Unit.eq(u));
    }
    if !include_resolved || due_before.is_some() {
        q = q.filter(cold_households::Column::Active.eq(true));
    }
    if let Some(t) = due_before {
        q = q.filter(cold_households::Column::LastVisitAt.lt(to_micros(t)));
    }
    if let Some(k) = after_key {
        q = q.filter(cold_households::Column::DwellingKey.gt(k));
    }
    q.order_by_asc(cold_households::Column::DwellingKey)
        .limit(limit)
        .all(db)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(|m| {
            Ok(ColdHousehold {
                dwelling: Dwelling {
                    household_id: m.household_id,
                    address: m.address,
                },
                active: m.active,
                last_verdict: from_json(&format!("\"{}\"", m.last_verdict), "verdict")?,
                last_inspection_id: parse_id(&m.last_inspection_id)?,
                last_visit_at: from_micros(m.last_visit_at),
                first_non_compliant_at: from_micros(m.first_non_compliant_at),
            })
        })
        .collect()
}
