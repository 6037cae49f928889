//! Stored responses of mutating requests (AIP-155): a request id is claimed
//! at the start of the transaction that makes the change, and its response is
//! stored before that transaction commits, so a replay finds either nothing
//! (the change never happened) or the complete response.
use super::entities::idempotency_records as rec;
use super::{db_err, to_micros};
use crate::error::AppResult;
use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub caller_sub: String,
    pub method: String,
    pub fingerprint: String,
    pub response: Option<String>,
}

/// Try to claim `request_id` for this request. Returns true if it was free.
/// On PostgreSQL a concurrent claim of the same id waits here until the first
/// transaction ends, then finds the id taken.
pub async fn claim<C: ConnectionTrait>(
    db: &C,
    request_id: &str,
    caller_sub: &str,
    method: &str,
    fingerprint: &str,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    let am = rec::ActiveModel {
        request_id: Set(request_id.to_string()),
        caller_sub: Set(caller_sub.to_string()),
        method: Set(method.to_string()),
        fingerprint: Set(fingerprint.to_string()),
        response: Set(None),
        created_at: Set(to_micros(now)),
    };
    let res = rec::Entity::insert(am)
        .on_conflict_do_nothing_on([rec::Column::RequestId])
        .exec_without_returning(db)
        .await
        .map_err(db_err)?;
    Ok(matches!(res, sea_orm::TryInsertResult::Inserted(n) if n == 1))
}

pub async fn find<C: ConnectionTrait>(db: &C, request_id: &str) -> AppResult<Option<Record>> {
    Ok(rec::Entity::find_by_id(request_id.to_string())
        .one(db)
        .await
        .map_err(db_err)?
        .map(|m| Record {
            caller_sub: m.caller_sub,
            method: m.method,
            fingerprint: m.fingerprint,
            response: m.response,
        }))
}

pub async fn store_response<C: ConnectionTrait>(
    db: &C,
    request_id: &str,
    response: &str,
) -> AppResult<()> {
    rec::Entity::update_many()
        .col_expr(
            rec::Column::Response,
            sea_orm::sea_query::Expr::value(response.to_string()),
        )
        .filter(rec::Column::RequestId.eq(request_id))
        .exec(db)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// Forget records older than `before` (replays are safe for 7 days).
pub async fn purge_before<C: ConnectionTrait>(db: &C, before: DateTime<Utc>) -> AppResult<u64> {
    let res = rec::Entity::delete_many()
        .filter(rec::Column::CreatedAt.lt(to_micros(before)))
        .exec(db)
        .await
        .map_err(db_err)?;
    Ok(res.rows_affected)
}
