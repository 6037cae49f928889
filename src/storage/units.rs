//! Organisational units (branches, heating stations, the meter office...).
use super::entities::units;
use super::{db_err, to_micros};
use crate::error::AppResult;
use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};

pub async fn exists<C: ConnectionTrait>(db: &C, id: &str) -> AppResult<bool> {
    Ok(units::Entity::find_by_id(id.to_string())
        .one(db)
        .await
        .map_err(db_err)?
        .is_some())
}

/// Register a unit; an existing one keeps its row.
pub async fn ensure<C: ConnectionTrait>(
    db: &C,
    id: &str,
    name: &str,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let am = units::ActiveModel {
        id: Set(id.to_string()),
        name: Set(name.to_string()),
        created_at: Set(to_micros(now)),
    };
    units::Entity::insert(am)
        .on_conflict_do_nothing_on([units::Column::Id])
        .exec_without_returning(db)
        .await
        .map_err(db_err)?;
    Ok(())
}
