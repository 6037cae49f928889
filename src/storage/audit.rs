//! The append-only audit trail of records other than tickets (inspections,
//! meter readings): who changed what, when, under which request.
use super::entities::audit_events;
use super::feed::Cause;
use super::{db_err, to_micros};
use crate::domain::Caller;
use crate::error::AppResult;
use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::NotSet, ConnectionTrait, EntityTrait, IntoActiveModel};
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

/// Append `e` sealed onto its entity's chain; answers the entry as the feed names it.
pub async fn append<C: ConnectionTrait>(db: &C, e: AuditEntry<'_>) -> AppResult<Cause> {
    let mut m = audit_events::Model {
        sequence: 0,
        entity_type: e.entity_type.to_string(),
        entity_id: e.entity_id,
        entity_version: e.entity_version,
        kind: e.kind.to_string(),
        actor_sub: e.caller.sub.clone(),
        actor_role: e.role.to_string(),
        actor_unit: e.caller.unit.clone(),
        device_id: e.device_id.map(str::to_string),
        request_id: Some(e.request_id.to_string()),
        received_at: to_micros(e.at),
        details: e.details.to_string(),
        prev_hash: None,
        hash: None,
    };
    // R-REC-2: sealed onto the entity's chain.
    super::chain::seal_audit_event(db, &mut m).await?;
    let mut am = m.into_active_model();
    am.sequence = NotSet;
    let sequence = audit_events::Entity::insert(am)
        .exec(db)
        .await
        .map_err(db_err)?
        .last_insert_id;
    Ok(Cause::audit_event(sequence, e.kind, &e.caller.sub, e.role))
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
