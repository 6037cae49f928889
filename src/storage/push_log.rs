//! The offline push log: per client, its last applied mutation id and the
//! stored outcome of every mutation (SyncService.Push).
use super::entities::{client_mutations, sync_clients};
use super::{db_err, to_micros};
use crate::error::{AppError, AppResult, reason};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
};
use serde::Serialize;

pub const APPLIED: &str = "APPLIED";
pub const REJECTED: &str = "REJECTED";

/// Which client queue entry a pushed request is (SyncService.Push).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushMark {
    pub client_id: String,
    pub mutation_id: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMutation {
    pub fingerprint: String,
    pub outcome: String,
    pub response: String,
}

/// The client's owner and counter, if it has pushed before.
pub async fn client<C: ConnectionTrait>(
    db: &C,
    client_id: &str,
) -> AppResult<Option<(String, i64)>> {
    Ok(sync_clients::Entity::find_by_id(client_id.to_string())
        .one(db)
        .await
        .map_err(db_err)?
        .map(|m| (m.owner_sub, m.last_mutation_id)))
}

/// Register a client for `owner` (no-op if it exists).
pub async fn ensure_client<C: ConnectionTrait>(
    db: &C,
    client_id: &str,
    owner: &str,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let am = sync_clients::ActiveModel {
        client_id: Set(client_id.to_string()),
        owner_sub: Set(owner.to_string()),
        last_mutation_id: Set(0),
        updated_at: Set(to_micros(now)),
    };
    sync_clients::Entity::insert(am)
        .on_conflict_do_nothing_on([sync_clients::Column::ClientId])
        .exec_without_returning(db)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// Record mutation `mark` with its outcome and advance the client's counter,
/// only if the counter is exactly one behind: of concurrent pushes of the
/// same mutation exactly one records it; the others get ABORTED PUSH_RACE.
pub async fn record<C: ConnectionTrait, T: Serialize>(
    db: &C,
    mark: &PushMark,
    fingerprint: &str,
    outcome: &str,
    response: &T,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let advanced = sync_clients::Entity::update_many()
        .col_expr(
            sync_clients::Column::LastMutationId,
            Expr::value(mark.mutation_id),
        )
        .col_expr(sync_clients::Column::UpdatedAt, Expr::value(to_micros(now)))
        .filter(sync_clients::Column::ClientId.eq(mark.client_id.as_str()))
        .filter(sync_clients::Column::LastMutationId.eq(mark.mutation_id - 1))
        .exec(db)
        .await
        .map_err(db_err)?;
    if advanced.rows_affected != 1 {
        return Err(AppError::aborted(
            reason::PUSH_RACE,
            "this mutation was recorded by a concurrent push",
        ));
    }
    let row = client_mutations::Model {
        client_id: mark.client_id.clone(),
        mutation_id: mark.mutation_id,
        fingerprint: fingerprint.to_string(),
        outcome: outcome.to_string(),
        response: serde_json::to_string(response).map_err(AppError::internal)?,
        created_at: to_micros(now),
    };
    client_mutations::Entity::insert(row.into_active_model())
        .exec_without_returning(db)
        .await
        .map_err(db_err)?;
    Ok(())
}

pub async fn find<C: ConnectionTrait>(
    db: &C,
    client_id: &str,
    mutation_id: i64,
) -> AppResult<Option<StoredMutation>> {
    Ok(
        client_mutations::Entity::find_by_id((client_id.to_string(), mutation_id))
            .one(db)
            .await
            .map_err(db_err)?
            .map(|m| StoredMutation {
                fingerprint: m.fingerprint,
                outcome: m.outcome,
                response: m.response,
            }),
    )
}

/// Retention: forget stored outcomes older than `before` (the counter stays).
pub async fn purge_before<C: ConnectionTrait>(db: &C, before: DateTime<Utc>) -> AppResult<u64> {
    Ok(client_mutations::Entity::delete_many()
        .filter(client_mutations::Column::CreatedAt.lt(to_micros(before)))
        .exec(db)
        .await
        .map_err(db_err)?
        .rows_affected)
}
