//! AIP-155 request ids, applied inside the transaction that makes the change.
use crate::domain::{Caller, Method};
use crate::error::{AppError, AppResult, reason};
use crate::service::Clock;
use crate::storage::feed::{self, ChangeDraft};
use crate::storage::idempotency as store;
use crate::storage::{Db, TxFuture, push_log};
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseTransaction};
use serde::{Serialize, de::DeserializeOwned};
use std::sync::{Arc, Mutex};
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
    /// Set when the request arrives in an offline Push: recorded with the change.
    pub push: Option<PushMark>,
}

pub use crate::storage::push_log::PushMark;

impl RequestMeta {
    /// Mark a request as entry `mark` of an offline push.
    pub fn with_push(mut self, mark: Option<PushMark>) -> RequestMeta {
        self.push = mark;
        self
    }

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
    changes: &'c Mutex<Vec<ChangeDraft>>,
}

impl Tx<'_> {
    /// Put an entity's new state on the change feed, in this transaction.
    pub fn record(&self, change: ChangeDraft) {
        self.changes.lock().expect("change list lock").push(change);
    }
}

/// Run a mutation in one write transaction under AIP-155: a replay of the
/// same request returns the stored response without running `body`; else
/// `body` runs and its response is stored in the same transaction. The
/// changes `body` records go on the feed as the transaction's last statement
/// (commit order); a pushed request's queue entry is recorded in the same
/// transaction too.
pub async fn write<T, F>(
    db: &Db,
    clock: &Arc<dyn Clock>,
    caller: &Caller,
    meta: RequestMeta,
    method: Method,
    body: F,
) -> AppResult<T>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
    F: for<'c> FnOnce(Tx<'c>) -> TxFuture<'c, T> + Send + 'static,
{
    let (caller, clock) = (caller.clone(), clock.clone());
    let (response, changed) = db
        .write(move |tx| {
            Box::pin(async move {
                let now = clock.now();
                let changes = Mutex::new(Vec::new());
                let response = match begin(tx, &meta, &caller, method.name(), now).await? {
                    Some(replay) => replay,
                    None => {
                        let response = body(Tx {
                            db: tx,
                            caller: &caller,
                            meta: &meta,
                            now,
                            changes: &changes,
                        })
                        .await?;
                        finish(tx, &meta, &response).await?;
                        response
                    }
                };
                if let Some(mark) = &meta.push {
                    push_log::record(
                        tx,
                        mark,
                        &meta.fingerprint,
                        push_log::APPLIED,
                        &response,
                        now,
                    )
                    .await?;
                }
                let changes = changes.into_inner().expect("change list lock");
                let changed = !changes.is_empty();
                if changed {
                    feed::append(tx, changes, now).await?;
                }
                Ok((response, changed))
            })
        })
        .await?;
    if changed {
        db.notify_change();
    }
    Ok(response)
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
            info: Vec::new(),
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
