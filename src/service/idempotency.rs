//! AIP-155 request ids, applied inside the transaction that makes the change.
use crate::domain::Caller;
use crate::error::{AppError, AppResult, reason};
use crate::service::Clock;
use crate::storage::idempotency as store;
use crate::storage::{Db, TxFuture};
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseTransaction};
use serde::{Serialize, de::DeserializeOwned};
use std::sync::Arc;
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

impl RequestMeta {
    /// Optimistic concurrency: ABORTED when the client expected another version.
    pub fn check_version(&self, current: i64, what: &str) -> AppResult<()> {
        if self.expected_version != 0 && current != self.expected_version {
            return Err(AppError::aborted(
                reason::VERSION_MISMATCH,
                format!(
                    "expected version {} but the {what} is at version {current}",
                    self.expected_version
                ),
            ));
        }
        Ok(())
    }
}

/// What a mutation's body gets: the open transaction, who asks, the
/// request's metadata and the server time of receipt.
#[derive(Clone, Copy)]
pub struct Tx<'c> {
    pub db: &'c DatabaseTransaction,
    pub caller: &'c Caller,
    pub meta: &'c RequestMeta,
    pub now: DateTime<Utc>,
}

/// Run a mutation in one write transaction under AIP-155: a replay of the
/// same request returns the stored response without running `body`; else
/// `body` runs and its response is stored in the same transaction.
pub async fn write<T, F>(
    db: &Db,
    clock: &Arc<dyn Clock>,
    caller: &Caller,
    meta: RequestMeta,
    method: &'static str,
    body: F,
) -> AppResult<T>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
    F: for<'c> FnOnce(Tx<'c>) -> TxFuture<'c, T> + Send + 'static,
{
    let (caller, clock) = (caller.clone(), clock.clone());
    db.write(move |tx| {
        Box::pin(async move {
            let now = clock.now();
            if let Some(replay) = begin(tx, &meta, &caller, method, now).await? {
                return Ok(replay);
            }
            let response = body(Tx {
                db: tx,
                caller: &caller,
                meta: &meta,
                now,
            })
            .await?;
            finish(tx, &meta, &response).await?;
            Ok(response)
        })
    })
    .await
}

/// Claim the request id, or find the stored outcome of an earlier identical
/// request. Ok(Some(response)) means "replay: return this and change nothing".
async fn begin<C: ConnectionTrait, T: DeserializeOwned>(
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
async fn finish<C: ConnectionTrait, T: Serialize>(
    tx: &C,
    meta: &RequestMeta,
    response: &T,
) -> AppResult<()> {
    let body = serde_json::to_string(response).map_err(AppError::internal)?;
    store::store_response(tx, &meta.request_id.to_string(), &body).await
}
