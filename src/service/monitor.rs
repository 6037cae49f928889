//! The deadline monitor (section 3): runs in every server instance, finds
//! tickets whose next running deadline has passed through an index (never a
//! table scan), and records each breach exactly once. Exactly-once across
//! instances comes from the version-conditional UPDATE: of two monitors
//! racing over one ticket, one writes; the other re-reads, finds the breach
//! recorded and does nothing. No lock is held in memory. Supply
//! interruptions' clocks (R-OUT-2..4) are watched the same way, through
//! their own index.
use crate::domain::{Caller, Policy};
use crate::error::AppResult;
use crate::service::Clock;
use crate::service::assessment;
use crate::service::outages::audit_change;
use crate::service::tickets::{EventActor, stored_event};
use crate::storage::Db;
use crate::storage::feed::{self, ChangeDraft};
use crate::storage::outages;
use crate::storage::tickets as store;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use uuid::Uuid;

/// Tickets handled per query; a pass repeats while pages come back full.
const BATCH: u64 = 200;
const MAX_ATTEMPTS: usize = 8;
/// Who the audit trail says recorded a breach.
const MONITOR: &str = "system:deadline-monitor";

#[derive(Clone)]
pub struct DeadlineMonitor {
    db: Db,
    policy: Arc<Policy>,
    clock: Arc<dyn Clock>,
}

impl DeadlineMonitor {
    pub fn new(db: Db, policy: Arc<Policy>, clock: Arc<dyn Clock>) -> DeadlineMonitor {
        DeadlineMonitor { db, policy, clock }
    }

    /// One pass: record every breach due now. Returns how many tickets got a breach.
    pub async fn tick(&self) -> AppResult<usize> {
        use crate::metrics as m;
        let started = std::time::Instant::now();
        let outcome = self.pass().await;
        metrics::histogram!(m::MONITOR_PASS_SECONDS).record(started.elapsed().as_secs_f64());
        match &outcome {
            Ok(n) => {
                metrics::counter!(m::MONITOR_PASSES, "outcome" => "ok").increment(1);
                metrics::counter!(m::MONITOR_BREACHES).increment(*n as u64);
                m::monitor_passed(chrono::Utc::now().timestamp());
            }
            Err(_) => metrics::counter!(m::MONITOR_PASSES, "outcome" => "failed").increment(1),
        }
        outcome
    }

    async fn pass(&self) -> AppResult<usize> {
        let now = self.clock.now();
        let mut recorded = 0;
        // Bounded: each full page moves its tickets' next deadline forward.
        for _ in 0..50 {
            let ids = self
                .db
                .bounded(store::overdue(self.db.reader(), now, BATCH))
                .await?;
            for id in &ids {
                if self.breach(*id, now).await? {
                    recorded += 1;
                }
            }
            if (ids.len() as u64) < BATCH {
                break;
            }
        }
        for _ in 0..50 {
            let ids = self
                .db
                .bounded(outages::overdue(self.db.reader(), now, BATCH))
                .await?;
            for id in &ids {
                if self.breach_outage(*id, now).await? {
                    recorded += 1;
                }
            }
            if (ids.len() as u64) < BATCH {
                break;
            }
        }
        if recorded > 0 {
            self.db.notify_change();
        }
        Ok(recorded)
    }

    /// R-OUT-2..4: record the outage's due breaches, once across monitors.
    async fn breach_outage(&self, id: Uuid, now: DateTime<Utc>) -> AppResult<bool> {
        let policy = self.policy.clone();
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    for _ in 0..MAX_ATTEMPTS {
                        let Some(current) = outages::get(tx, id).await? else {
                            return Ok(false);
                        };
                        let Some(change) = current.record_breaches(&policy.outage, now) else {
                            return Ok(false);
                        };
                        if outages::update_if_version(
                            tx,
                            &change.outage,
                            current.version,
                            &policy.outage,
                        )
                        .await?
                        {
                            let system = Caller {
                                sub: MONITOR.into(),
                                roles: Vec::new(),
                                unit: current.unit.clone(),
                            };
                            let causes = audit_change(tx, &change, &system, None, now).await?;
                            let mut drafts =
                                vec![ChangeDraft::outage(&change.outage, &causes.change)];
                            drafts.extend(
                                assessment::on_outage(
                                    tx,
                                    &policy,
                                    Some(&current),
                                    &change.outage,
                                    causes.items(),
                                    now,
                                )
                                .await?,
                            );
                            feed::append(tx, drafts, now).await?;
                            return Ok(true);
                        }
                    }
                    Ok(false)
                })
            })
            .await
    }

    async fn breach(&self, id: Uuid, now: DateTime<Utc>) -> AppResult<bool> {
        let policy = self.policy.clone();
        self.db
            .write(move |tx| {
                Box::pin(async move {
                    for _ in 0..MAX_ATTEMPTS {
                        let Some(current) = store::get(tx, id).await? else {
                            return Ok(false);
                        };
                        let Some(change) = current.record_breaches(&policy, now) else {
                            return Ok(false);
                        };
                        if store::update_if_version(tx, &current, &change.ticket).await? {
                            let actor = EventActor {
                                sub: MONITOR.into(),
                                unit: current.unit.clone().unwrap_or_default(),
                                device_id: None,
                                request_id: None,
                            };
                            let cause =
                                store::insert_event(tx, &stored_event(&change, actor, now)).await?;
                            let mut drafts =
                                vec![ChangeDraft::ticket(&change.ticket, Some(&current), &cause)];
                            // R-ASM-1: the breach's item, in the breach's transaction.
                            drafts.extend(
                                assessment::on_ticket(
                                    tx,
                                    &policy,
                                    Some(&current),
                                    &change.ticket,
                                    &cause,
                                    now,
                                )
                                .await?,
                            );
                            feed::append(tx, drafts, now).await?;
                            return Ok(true);
                        }
                    }
                    Ok(false)
                })
            })
            .await
    }
}
