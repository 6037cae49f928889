//! Group commit for SQLite's one writer (issue 19).
//!
//! Every write transaction on SQLite goes through one connection, and each
//! COMMIT waits for the disk (`synchronous=FULL`). Writes that arrive while
//! another is committing used to wait for one disk flush each, one after the
//! other. Here they queue, and the next transaction runs every write queued
//! by then, each in a savepoint of its own, and commits them with one flush.
//!
//! What each write sees and answers is what it would alone:
//! - the writes of a group run one after another, in arrival order, each on
//!   the state the earlier ones left (as if committed one by one);
//! - a write that fails is rolled back to its savepoint; the others commit;
//! - no write is answered before the group's COMMIT came back. If the group
//!   cannot commit (the disk is full, the store is gone, the transaction
//!   timeout passed), every write of it gets that error, including one that
//!   had failed on its own: its refusal may have rested on a write of the
//!   group that never committed. So an acknowledged write is as durable as
//!   before, and no answer rests on an uncommitted write.
//! - A write whose caller stopped waiting before its turn is not run.
//! - A write that panics fails alone, rolled back to its savepoint.
//! - One slow write delays the rest, never fails them: a group still
//!   running at half the transaction timeout commits the writes it has run
//!   and leaves the others, in order, for the next.
//!
//! A group of one runs as before, without a savepoint. The queue and the
//! running flag live in this process only because the one writer does:
//! SQLite is the single-instance store.
use super::{db_err, timed_out};
use crate::error::{AppError, AppResult};
use futures_util::FutureExt;
use sea_orm::{
    DatabaseConnection, DatabaseTransaction, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Writes committed by one transaction at most: a bound on how long the
/// first of them waits for the last.
const MAX_GROUP: usize = 64;

type Run<'c> = Pin<Box<dyn Future<Output = bool> + Send + 'c>>;

/// A queued write, its result type erased.
trait Pending: Send {
    /// Run the write on `tx`; true when it succeeded (its outcome is kept
    /// until the group's COMMIT is known).
    fn run<'c>(&'c mut self, tx: &'c DatabaseTransaction) -> Run<'c>;
    /// Its own error, when it failed (for a group it made fail).
    fn error(&self) -> Option<&AppError>;
    /// Its caller stopped waiting.
    fn abandoned(&self) -> bool;
    /// It panicked while running: that is its outcome.
    fn panicked(&mut self);
    /// Answer the caller: its own outcome when the group committed (or it
    /// failed alone), else the group's error.
    fn answer(self: Box<Self>, group: Result<(), &AppError>);
}

type WriteFn<T> =
    Box<dyn for<'c> FnOnce(&'c DatabaseTransaction) -> super::TxFuture<'c, T> + Send + 'static>;

struct Write<T> {
    f: Option<WriteFn<T>>,
    outcome: Option<AppResult<T>>,
    reply: oneshot::Sender<AppResult<T>>,
}

impl<T: Send + 'static> Pending for Write<T> {
    fn run<'c>(&'c mut self, tx: &'c DatabaseTransaction) -> Run<'c> {
        Box::pin(async move {
            let f = self.f.take().expect("a write runs once");
            let outcome = f(tx).await;
            let ok = outcome.is_ok();
            self.outcome = Some(outcome);
            ok
        })
    }

    fn error(&self) -> Option<&AppError> {
        self.outcome.as_ref().and_then(|o| o.as_ref().err())
    }

    fn abandoned(&self) -> bool {
        self.reply.is_closed()
    }

    fn panicked(&mut self) {
        self.outcome = Some(Err(AppError::internal(anyhow::anyhow!(
            "the write panicked"
        ))));
    }

    fn answer(self: Box<Self>, group: Result<(), &AppError>) {
        let answer = match (group, self.outcome) {
            (Ok(()), Some(outcome)) => outcome,
            (Err(e), _) => Err(e.duplicate()),
            (Ok(()), None) => Err(AppError::internal(anyhow::anyhow!(
                "a write of a committed group never ran"
            ))),
        };
        let _ = self.reply.send(answer);
    }
}

#[derive(Default)]
struct Queue {
    writes: Vec<Box<dyn Pending>>,
    /// A task is draining the queue.
    draining: bool,
}

/// (transactions committed, writes they held): for the metrics, and for
/// the tests that prove writes were grouped.
#[derive(Debug, Default)]
pub struct GroupStats {
    pub commits: AtomicU64,
    pub writes: AtomicU64,
}

pub struct GroupCommit {
    writer: DatabaseConnection,
    timeout: Duration,
    queue: Mutex<Queue>,
    stats: GroupStats,
}

impl GroupCommit {
    pub fn new(writer: DatabaseConnection, timeout: Duration) -> Arc<GroupCommit> {
        Arc::new(GroupCommit {
            writer,
            timeout,
            queue: Mutex::default(),
            stats: GroupStats::default(),
        })
    }

    /// Writes waiting for their turn now.
    pub fn queued(&self) -> usize {
        self.lock().writes.len()
    }

    pub fn stats(&self) -> (u64, u64) {
        (
            self.stats.commits.load(Ordering::Relaxed),
            self.stats.writes.load(Ordering::Relaxed),
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queue `f` and wait for its answer, at most the transaction timeout
    /// (past it: UNAVAILABLE; a write that has not started by then never
    /// runs, one already running may still commit, as a write whose answer
    /// is lost may anywhere, and a replay of its request id tells).
    pub async fn write<T, F>(self: &Arc<Self>, f: F) -> AppResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c DatabaseTransaction) -> super::TxFuture<'c, T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let write = Write {
            f: Some(Box::new(f) as WriteFn<T>),
            outcome: None,
            reply,
        };
        let start = {
            let mut q = self.lock();
            q.writes.push(Box::new(write));
            !std::mem::replace(&mut q.draining, true)
        };
        if start {
            tokio::spawn(self.clone().drain());
        }
        match tokio::time::timeout(self.timeout, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(AppError::internal(anyhow::anyhow!(
                "the write task ended without an answer"
            ))),
            Err(_) => Err(timed_out()),
        }
    }

    /// Commit groups until the queue is empty.
    async fn drain(self: Arc<Self>) {
        loop {
            let group: Vec<Box<dyn Pending>> = {
                let mut q = self.lock();
                if q.writes.is_empty() {
                    q.draining = false;
                    return;
                }
                let n = q.writes.len().min(MAX_GROUP);
                q.writes.drain(..n).filter(|w| !w.abandoned()).collect()
            };
            if group.is_empty() {
                continue;
            }
            // A write's panic is caught with it (`run_caught`); anything
            // else that panics drops the group unanswered (each caller is
            // told the write task ended), and the queue goes on.
            let _ = AssertUnwindSafe(self.commit(group)).catch_unwind().await;
        }
    }

    async fn commit(&self, mut group: Vec<Box<dyn Pending>>) {
        let ran = match tokio::time::timeout(self.timeout, self.run(&mut group)).await {
            Ok(ran) => ran,
            // Dropped mid-way: the transaction rolls back, its connection is
            // checked before reuse.
            Err(_) => Err(timed_out()),
        };
        if let Ok(Ran { reached, committed }) = &ran {
            // Past the group's time budget: the writes not reached go back
            // to the head of the queue, in order.
            let rest = group.split_off(*reached);
            self.lock().writes.splice(0..0, rest);
            if *committed > 0 {
                self.stats.commits.fetch_add(1, Ordering::Relaxed);
                self.stats.writes.fetch_add(*committed, Ordering::Relaxed);
            }
        }
        for w in group {
            w.answer(ran.as_ref().map(|_| ()));
        }
    }

    /// One transaction for the group, or for its first writes when the
    /// others would keep them past half the transaction timeout (one slow
    /// write then delays the rest, never fails them). Ok when it committed
    /// (or a group of one failed alone and was rolled back).
    async fn run(&self, group: &mut [Box<dyn Pending>]) -> AppResult<Ran> {
        let started = Instant::now();
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        };
        let tx = self
            .writer
            .begin_with_options(options)
            .await
            .map_err(db_err)?;
        if let [alone] = group {
            if run_caught(alone, &tx).await {
                tx.commit().await.map_err(db_err)?;
                return Ok(Ran {
                    reached: 1,
                    committed: 1,
                });
            }
            // Nothing of it stays; its own error is its answer. A failed
            // statement may have ended the transaction already (SQLite rolls
            // back on a full disk); the pool closes a connection left in an
            // unknown state.
            if let Err(rb) = tx.rollback().await {
                tracing::debug!(error = %rb, "rollback after a failed write");
            }
            return Ok(Ran {
                reached: 1,
                committed: 0,
            });
        }
        let mut ran = Ran {
            reached: group.len(),
            committed: 0,
        };
        for (i, w) in group.iter_mut().enumerate() {
            if i > 0 && started.elapsed() > self.timeout / 2 {
                ran.reached = i;
                break;
            }
            // Its caller gave up while the group ran: it never runs.
            if w.abandoned() {
                continue;
            }
            let savepoint = tx.begin().await.map_err(db_err)?;
            let ok = run_caught(w, &savepoint).await;
            let ended = if ok {
                savepoint.commit().await
            } else {
                savepoint.rollback().await
            };
            if let Err(e) = ended {
                // SQLite ends the whole transaction on a full disk: then
                // the write's own error is the group's.
                return Err(match w.error() {
                    Some(own) if super::fault::blocks_writes(own) => own.duplicate(),
                    _ => db_err(e),
                });
            }
            ran.committed += u64::from(ok);
        }
        tx.commit().await.map_err(db_err)?;
        Ok(ran)
    }
}

/// How far a group's transaction got.
struct Ran {
    /// Writes answered by it (the rest go back to the queue).
    reached: usize,
    /// Of those, the writes it committed.
    committed: u64,
}

/// Run `w` on `tx`; a panic is its failure alone (it is rolled back to its
/// savepoint like any failed write).
async fn run_caught(w: &mut Box<dyn Pending>, tx: &DatabaseTransaction) -> bool {
    match AssertUnwindSafe(w.run(tx)).catch_unwind().await {
        Ok(ok) => ok,
        Err(_) => {
            w.panicked();
            false
        }
    }
}
