//! The append-only audit trail of records other than tickets (inspections,
//! meter readings): who changed what, when, under which request.
use super::entities::audit_events;
use super::{db_err, to_micros};
use crate::domain::Caller;
use crate::error::AppResult;
use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::NotSet, ActiveValue::Set, ConnectionTrait, EntityTrait};
use uuid::Uuid;

pub struct AuditEntry<'a> {
    pub entity_type: &'static str,
    pub entity_id: String,
    pub entity_version: i64,
    pub kind: &'static str,
    pub caller: &'a Caller,
    /// The role acted in ("system" for the deadline monitor).
    pub role: &'static str,
    /// The request that made the change, and the handheld that sent it.
    pub request_id: Uuid,
    pub device_id: Option<&'a str>,
    pub at: DateTime<Utc>,
    pub details: serde_json::Value,
}

pub async fn append<C: ConnectionTrait>(db: &C, e: AuditEntry<'_>) -> AppResult<()> {
    let am = audit_events::ActiveModel {
        sequence: NotSet,
        entity_type: Set(e.entity_type.to_string()),
        entity_id: Set(e.entity_id),
        entity_version: Set(e.entity_version),
        kind: Set(e.kind.to_string()),
        actor_sub: Set(e.caller.sub.clone()),
        actor_role: Set(e.role.to_string()),
        actor_unit: Set(e.caller.unit.clone()),
        device_id: Set(e.device_id.map(str::to_string)),
        request_id: Set(Some(e.request_id.to_string())),
        received_at: Set(to_micros(e.at)),
        details: Set(e.details.to_string()),
    };
    audit_events::Entity::insert(am)
        .exec_without_returning(db)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// Kinds of an entity's audit entries, oldest first (tests and support).
pub async fn kinds<C: ConnectionTrait>(
    db: &C,
    entity_type: &str,
    entity_id: &str,
) -> AppResult<Vec<String>> {
    use sea_orm::{ColumnTrait, QueryFilter, QueryOrder};
    Ok(audit_events::Entity::find()
        .filter(audit_events::Column::EntityType.eq(entity_type))
        .filter(audit_events::Column::EntityId.eq(entity_id))
        .order_by_asc(audit_events::Column::Sequence)
        .all(db)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(|m| m.kind)
        .collect())
}
