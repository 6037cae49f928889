//! Housekeeping: forget idempotency records and stored push outcomes past
//! their retention, compact the change feed, and fold the report's deltas into
//! its counts. Every instance runs a pass at start and then periodically; a
//! pass is one write transaction, so two instances running it at once simply
//! take turns.
use crate::error::AppResult;
use crate::service::Clock;
use crate::storage::{Db, feed, idempotency, push_log, report_counts};
use std::sync::Arc;

/// What one pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub idempotency_records: u64,
    pub push_outcomes: u64,
    pub changes: u64,
    /// Report deltas folded into the report's counts (not removed).
    pub report_deltas: u64,
}

impl Purged {
    /// Did the pass remove any record (folding counts removes nothing)?
    pub fn removed_any(&self) -> bool {
        self.idempotency_records + self.push_outcomes + self.changes > 0
    }
}

#[derive(Clone)]
pub struct Maintenance {
    db: Db,
    clock: Arc<dyn Clock>,
    /// How long request ids and their answers are kept (policy).
    idempotency_retention: chrono::Duration,
    /// How long superseded changes and Push outcomes are kept (policy).
    sync_retention: chrono::Duration,
}

impl Maintenance {
    pub fn new(db: Db, clock: Arc<dyn Clock>, policy: &crate::domain::Policy) -> Maintenance {
        Maintenance {
            db,
            clock,
            idempotency_retention: policy.idempotency_retention,
            sync_retention: policy.sync_retention,
        }
    }

    /// One pass. The cutoffs are read inside the write transaction, from the
    /// server's clock, so a pass never judges records by a time older than
    /// the moment it holds the write lock.
    pub async fn pass(&self) -> AppResult<Purged> {
        let (clock, idem_retention, sync_retention) = (
            self.clock.clone(),
            self.idempotency_retention,
            self.sync_retention,
        );
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    let now = clock.now();
                    let (idem_cutoff, sync_cutoff) = (now - idem_retention, now - sync_retention);
                    Ok(Purged {
                        idempotency_records: idempotency::purge_before(tx, idem_cutoff).await?,
                        push_outcomes: push_log::purge_before(tx, sync_cutoff).await?,
                        changes: feed::compact(tx, sync_cutoff).await?,
                        report_deltas: report_counts::compact(tx).await?,
                    })
                })
            })
            .await
    }
}
