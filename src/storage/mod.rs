//! Persistence: connections, transactions, sea-orm entities and queries.
//!
//! SQLite (the embedded default) runs in WAL mode with exactly one writer
//! connection, on which every write transaction starts with `BEGIN IMMEDIATE`
//! (it takes the write lock up front, so a transaction never fails half-way
//! on a lock upgrade), and a separate pool of read-only connections.
//! PostgreSQL uses one pool for both; any number of server instances may
//! share it, and nothing that must be consistent is held in process memory.
pub mod audit;
pub mod entities;
pub mod feed;
pub mod idempotency;
pub mod inspections;
pub mod meters;
pub mod push_log;
pub mod report;
pub mod tickets;
pub mod units;

use crate::error::{AppError, AppResult};
use chrono::{DateTime, TimeZone, Utc};
use sea_orm::sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sea_orm::{
    AccessMode, ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, IsolationLevel, RuntimeErr, SqlErr, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// How to open the database.
#[derive(Debug, Clone)]
pub struct DbSettings {
    pub url: String,
    /// SQLite `synchronous`: FULL (default) makes an acknowledged write survive power loss.
    pub sqlite_synchronous: String,
    pub sqlite_busy_timeout: Duration,
    pub read_pool_size: u32,
    /// PostgreSQL pool size.
    pub max_connections: u32,
    /// PostgreSQL schema (search_path), used by tests to isolate runs.
    pub pg_schema: Option<String>,
}

#[derive(Clone)]
pub struct Db {
    writer: DatabaseConnection,
    reader: DatabaseConnection,
    backend: DbBackend,
    /// Wakes this process's watchers after a local commit. Only a hint:
    /// watchers also poll, so changes committed by other instances arrive too.
    changed: Arc<tokio::sync::Notify>,
}

/// The future a write-transaction closure returns.
pub type TxFuture<'c, T> = Pin<Box<dyn Future<Output = AppResult<T>> + Send + 'c>>;

impl Db {
    pub async fn connect(s: &DbSettings) -> anyhow::Result<Db> {
        if s.url.starts_with("sqlite:") {
            Self::connect_sqlite(s).await
        } else if s.url.starts_with("postgres://") || s.url.starts_with("postgresql://") {
            Self::connect_postgres(s).await
        } else {
            anyhow::bail!(
                "unsupported database url {:?}: use sqlite:PATH or postgres://...",
                s.url
            )
        }
    }

    async fn connect_sqlite(s: &DbSettings) -> anyhow::Result<Db> {
        let synchronous = SqliteSynchronous::from_str(&s.sqlite_synchronous)
            .map_err(|e| anyhow::anyhow!("bad sqlite synchronous setting: {e}"))?;
        let base = SqliteConnectOptions::from_str(&s.url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .busy_timeout(s.sqlite_busy_timeout)
            .foreign_keys(true)
            .pragma("temp_store", "memory");
        let base = sea_orm::sqlx::ConnectOptions::disable_statement_logging(base);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .test_before_acquire(false)
            .after_connect(|conn, _| Box::pin(sqlite_tuning(conn)))
            .connect_with(base.clone())
            .await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(s.read_pool_size.max(1))
            .test_before_acquire(false)
            .after_connect(|conn, _| Box::pin(sqlite_tuning(conn)))
            .connect_with(base.read_only(true))
            .await?;
        Ok(Db {
            writer: sea_orm::SqlxSqliteConnector::from_sqlx_sqlite_pool(writer),
            reader: sea_orm::SqlxSqliteConnector::from_sqlx_sqlite_pool(reader),
            backend: DbBackend::Sqlite,
            changed: Default::default(),
        })
    }

    async fn connect_postgres(s: &DbSettings) -> anyhow::Result<Db> {
        let mut opts = ConnectOptions::new(s.url.clone());
        opts.max_connections(s.max_connections)
            .min_connections(1)
            .connect_timeout(Duration::from_secs(10))
            .acquire_timeout(Duration::from_secs(30))
            .sqlx_logging(false);
        if let Some(schema) = &s.pg_schema {
            opts.set_schema_search_path(schema.clone());
        }
        let conn = Database::connect(opts).await?;
        Ok(Db {
            writer: conn.clone(),
            reader: conn,
            backend: DbBackend::Postgres,
            changed: Default::default(),
        })
    }

    pub fn backend(&self) -> DbBackend {
        self.backend
    }

    /// Connection for reads (SQLite: the read-only pool).
    pub fn reader(&self) -> &DatabaseConnection {
        &self.reader
    }

    /// A read-only transaction that sees one snapshot of the database:
    /// REPEATABLE READ on PostgreSQL; on SQLite a read transaction on the
    /// read pool (WAL readers see the state as of their first read).
    pub async fn read_snapshot(&self) -> AppResult<DatabaseTransaction> {
        if self.backend == DbBackend::Postgres {
            self.reader
                .begin_with_config(
                    Some(IsolationLevel::RepeatableRead),
                    Some(AccessMode::ReadOnly),
                )
                .await
        } else {
            self.reader.begin().await
        }
        .map_err(db_err)
    }

    /// Connection for schema changes.
    pub fn writer(&self) -> &DatabaseConnection {
        &self.writer
    }

    /// Run `f` in one write transaction: committed if it returns Ok, rolled
    /// back otherwise. The transaction runs on its own task, so a client that
    /// disconnects mid-call cannot leave it half-done on the writer.
    pub async fn write<T, F>(&self, f: F) -> AppResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c DatabaseTransaction) -> TxFuture<'c, T> + Send + 'static,
    {
        let writer = self.writer.clone();
        let backend = self.backend;
        let task = tokio::spawn(async move {
            let options = TransactionOptions {
                sqlite_transaction_mode: (backend == DbBackend::Sqlite)
                    .then_some(SqliteTransactionMode::Immediate),
                ..Default::default()
            };
            let tx = writer.begin_with_options(options).await.map_err(db_err)?;
            match f(&tx).await {
                Ok(v) => {
                    tx.commit().await.map_err(db_err)?;
                    Ok(v)
                }
                Err(e) => {
                    if let Err(rb) = tx.rollback().await {
                        tracing::warn!(error = %rb, "rollback failed");
                    }
                    Err(e)
                }
            }
        });
        task.await
            .map_err(|e| AppError::internal(anyhow::anyhow!("write task failed: {e}")))?
    }

    /// Tell local watchers that the feed moved.
    pub fn notify_change(&self) {
        self.changed.notify_waiters();
    }

    /// Resolves at the next local `notify_change`.
    pub fn changed(&self) -> Arc<tokio::sync::Notify> {
        self.changed.clone()
    }

    pub async fn close(self) {
        let _ = self.writer.close_by_ref().await;
        let _ = self.reader.close_by_ref().await;
    }
}

/// Per-connection SQLite setting sqlx has no option for.
///
/// The query planner stability guarantee (QPSG): the bundled SQLite is built
/// with STAT4, under which a statement whose bound values could change its
/// plan (every `LIMIT ?`, every range on an indexed column) is prepared again
/// on each execution; profiling showed that re-preparing at about 28 % of
/// the server's CPU on reads. With QPSG a cached statement keeps its plan.
async fn sqlite_tuning(conn: &mut SqliteConnection) -> Result<(), sea_orm::sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle().as_ptr();
    // SAFETY: `db` is this connection's open handle, locked for us by
    // `lock_handle` for the duration of the call; ENABLE_QPSG takes an int
    // (1: on) and an int pointer for the new setting, which may be null.
    let rc = unsafe {
        libsqlite3_sys::sqlite3_db_config(
            db,
            libsqlite3_sys::SQLITE_DBCONFIG_ENABLE_QPSG,
            1 as std::os::raw::c_int,
            std::ptr::null_mut::<std::os::raw::c_int>(),
        )
    };
    if rc != libsqlite3_sys::SQLITE_OK {
        return Err(sea_orm::sqlx::Error::Configuration(
            format!("sqlite3_db_config(ENABLE_QPSG) failed: {rc}").into(),
        ));
    }
    Ok(())
}

/// Map a database error: contention and lost connections are UNAVAILABLE
/// (retry later); the rest is internal and logged, never shown to clients.
pub fn db_err(e: DbErr) -> AppError {
    if is_busy(&e) {
        return AppError::Unavailable {
            message: "the database is busy; retry".into(),
        };
    }
    match &e {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => AppError::Unavailable {
            message: "the database is unavailable; retry".into(),
        },
        _ => AppError::internal(e),
    }
}

fn is_busy(e: &DbErr) -> bool {
    let text = match e {
        DbErr::Exec(RuntimeErr::SqlxError(s)) | DbErr::Query(RuntimeErr::SqlxError(s)) => {
            s.to_string()
        }
        _ => return false,
    };
    text.contains("database is locked") || text.contains("SQLITE_BUSY")
}

/// True when `e` is a unique-key violation (a concurrent insert won).
pub fn is_unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

pub fn to_micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub fn from_micros(m: i64) -> DateTime<Utc> {
    Utc.timestamp_micros(m).single().unwrap_or_default()
}

/// Apply all pending migrations. On PostgreSQL several instances may start
/// at once: they take turns under an advisory lock held on one dedicated
/// connection, so each migration runs exactly once.
pub async fn migrate(db: &Db, s: &DbSettings) -> anyhow::Result<()> {
    use migration::MigratorTrait;
    use sea_orm::ConnectionTrait;
    if db.backend != DbBackend::Postgres {
        migration::Migrator::up(db.writer(), None).await?;
        return Ok(());
    }
    let single = Db::connect_postgres(&DbSettings {
        max_connections: 1,
        ..s.clone()
    })
    .await?;
    let conn = single.writer();
    const LOCK: &str = "SELECT pg_advisory_lock(7254012911)";
    conn.execute_unprepared(LOCK).await?;
    let result = migration::Migrator::up(conn, None).await;
    conn.execute_unprepared("SELECT pg_advisory_unlock(7254012911)")
        .await?;
    single.close().await;
    result?;
    Ok(())
}
