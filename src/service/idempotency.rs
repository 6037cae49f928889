//! AIP-155 request ids, applied inside the transaction that makes the change.
use crate::domain::Caller;
use crate::error::{AppError, AppResult, reason};
use crate::storage::idempotency as store;
use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde::{Serialize, de::DeserializeOwned};
use uuid::Uuid;

/// What every mutating request carries besides its body.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    /// Client-chosen UUID (AIP-155).
    pub request_id: Uuid,
    /// Digest of the method and the request body: a replay must match it.
    pub fingerprint: String,
    /// Optimistic concurrency: 0 = do not check.
    pub expected_version: i64,
    /// The handheld that sent it, for the audit trail.
    pub device_id: Option<String>,
}

/// Claim the request id, or find the stored outcome of an earlier identical
/// request. Ok(Some(response)) means "replay: return this and change nothing".
pub async fn begin<C: ConnectionTrait, T: DeserializeOwned>(
    tx: &C,
    meta: &RequestMeta,
    caller: &Caller,
    method: &str,
    now: DateTime<Utc>,
) -> AppResult<Option<T>> {
    let id = meta.request_id.to_string();
    if store::claim(tx, &id, &caller.sub, method, &meta.fingerprint, now).await? {
        return Ok(None);
    }
    let rec = store::find(tx, &id)
        .await?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("idempotency record {id} vanished")))?;
    if rec.caller_sub != caller.sub || rec.method != method || rec.fingerprint != meta.fingerprint {
        return Err(AppError::AlreadyExists {
            reason: reason::REQUEST_ID_REUSED,
            message: "request_id was already used for a different request".into(),
        });
    }
    let body = rec.response.ok_or_else(|| {
        AppError::internal(anyhow::anyhow!("idempotency record {id} has no response"))
    })?;
    let value = serde_json::from_str(&body).map_err(AppError::internal)?;
    Ok(Some(value))
}

/// Store the response in the same transaction as the change.
pub async fn finish<C: ConnectionTrait, T: Serialize>(
    tx: &C,
    meta: &RequestMeta,
    response: &T,
) -> AppResult<()> {
    let body = serde_json::to_string(response).map_err(AppError::internal)?;
    store::store_response(tx, &meta.request_id.to_string(), &body).await
}
