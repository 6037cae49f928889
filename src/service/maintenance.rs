//! Housekeeping: forget idempotency records and stored push outcomes past
//! their retention, and compact the change feed. Every instance runs a pass
//! at start and then periodically; a pass is one write transaction, so two
//! instances running it at once simply take turns.
use crate::error::AppResult;
use crate::service::Clock;
use crate::storage::{Db, feed, idempotency, push_log};
use std::sync::Arc;

/// Replays of a mutating request are answered from its stored response for this long (API.md).
pub const IDEMPOTENCY_RETENTION: chrono::Duration = chrono::Duration::days(7);

/// What one pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub idempotency_records: u64,
    pub push_outcomes: u64,
    pub changes: u64,
}

#[derive(Clone)]
pub struct Maintenance {
    db: Db,
    clock: Arc<dyn Clock>,
    sync_retention: chrono::Duration,
}

impl Maintenance {
    pub fn new(db: Db, clock: Arc<dyn Clock>, sync_retention: chrono::Duration) -> Maintenance {
        Maintenance {
            db,
            clock,
            sync_retention,
        }
    }

    /// One pass. The cutoffs are read inside the write transaction, from the
    /// server's clock, so a pass never judges records by a time older than
    /// the moment it holds the write lock.
    pub async fn pass(&self) -> AppResult<Purged> {
        let (clock, sync_retention) = (self.clock.clone(), self.sync_retention);
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    let now = clock.now();
                    let (idem_cutoff, sync_cutoff) =
                        (now - IDEMPOTENCY_RETENTION, now - sync_retention);
                    Ok(Purged {
                        idempotency_records: idempotency::purge_before(tx, idem_cutoff).await?,
                        push_outcomes: push_log::purge_before(tx, sync_cutoff).await?,
                        changes: feed::compact(tx, sync_cutoff).await?,
                    })
                })
            })
            .await
    }
}
