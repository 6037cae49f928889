//! Persistence: connections, transactions, sea-orm entities and queries.
//!
//! SQLite (the embedded default) runs in WAL mode with exactly one writer
//! connection, on which every write transaction starts with `BEGIN IMMEDIATE`
//! (it takes the write lock up front, so a transaction never fails half-way
//! on a lock upgrade), and a separate pool of read-only connections.
//! PostgreSQL uses one pool for both; any number of server instances may
//! share it, and nothing that must be consistent is held in process memory.
pub mod assessment;
pub mod attachments;
pub mod audit;
pub mod backup;
pub mod chain;
pub mod entities;
pub mod fault;
pub mod feed;
pub mod feed_head;
pub mod group_commit;
pub mod idempotency;
pub mod inspections;
pub mod meters;
pub mod notify;
pub mod objects;
pub mod outages;
pub mod push_log;
pub mod report;
pub mod report_counts;
pub mod retention;
pub mod secrets;
pub mod tickets;
pub mod units;

use crate::error::{AppError, AppResult, reason};
use chrono::{DateTime, TimeZone, Utc};
pub use fault::{db_err, is_unique_violation};

/// `text` as a LIKE pattern matching it anywhere, its wildcards escaped
/// (with `\`, to be given as the LIKE's ESCAPE character).
pub(crate) fn contains_pattern(text: &str) -> String {
    let escaped: String = text
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    format!("%{escaped}%")
}

/// Serialise the write transactions that decide over `key` (a meter's
/// history, a platform's reference): PostgreSQL takes a transaction-scoped
/// advisory lock on it; SQLite has one writer already.
pub async fn advisory_lock<C: ConnectionTrait>(db: &C, key: &str) -> AppResult<()> {
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        db.query_one_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            [key.into()],
        ))
        .await
        .map_err(db_err)?;
    }
    Ok(())
}
use sea_orm::sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sea_orm::sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sea_orm::sqlx::{Connection, pool::PoolConnectionMetadata};
use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend,
    IsolationLevel, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::watch;

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
    pub timeouts: DbTimeouts,
}

/// Bounds on how long the server waits for its database, so that no
/// session, lock or connection can hang forever (a network partition, a
/// stuck disk). Each failure is UNAVAILABLE to the client, who retries with
/// the same request id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DbTimeouts {
    /// Waiting for a pooled connection.
    pub acquire: Duration,
    /// A whole write transaction, from BEGIN to COMMIT; on PostgreSQL also
    /// every statement (`statement_timeout`). A write that outlives it is
    /// rolled back, never left open.
    pub transaction: Duration,
    /// PostgreSQL `lock_timeout`: waiting for another transaction's row lock.
    pub lock: Duration,
    /// PostgreSQL `idle_in_transaction_session_timeout`: the server ends a
    /// session whose client went silent inside a transaction (its locks are
    /// released).
    pub idle_in_transaction: Duration,
    /// TCP keepalive of the PostgreSQL server's side of each session: idle
    /// time before the first probe (then 3 probes, this far apart).
    pub keepalive: Duration,
    /// A connection given back to the pool must answer a ping within this,
    /// or it is closed (a connection whose peer went silent never is reused).
    pub ping: Duration,
}

impl Default for DbTimeouts {
    fn default() -> DbTimeouts {
        DbTimeouts {
            acquire: Duration::from_secs(5),
            transaction: Duration::from_secs(30),
            lock: Duration::from_secs(5),
            idle_in_transaction: Duration::from_secs(10),
            keepalive: Duration::from_secs(10),
            ping: Duration::from_secs(2),
        }
    }
}

#[derive(Clone)]
pub struct Db {
    writer: DatabaseConnection,
    reader: DatabaseConnection,
    backend: DbBackend,
    timeouts: DbTimeouts,
    /// Wakes this process's watchers after a local commit. Only a hint:
    /// watchers also poll, so changes committed by other instances arrive too.
    changed: Arc<tokio::sync::Notify>,
    /// Whether the store takes writes: false after a write failed for want
    /// of space or of a database, true again at the next commit.
    writable: Arc<watch::Sender<bool>>,
    /// SQLite `max_page_count` of every writer connection (0: no limit).
    max_pages: Arc<AtomicU64>,
    /// PostgreSQL: how to open the connection that LISTENs for other
    /// instances' commits (`notify`).
    listen: Option<notify::ListenSettings>,
    /// SQLite: reads the feed's head in the calling thread.
    head: Option<Arc<feed_head::HeadReader>>,
    /// PostgreSQL: reads the feed's head on connections of its own.
    pg_head: Option<Arc<feed_head::PgHead>>,
    /// SQLite: writes queued behind a commit share the next one.
    group: Option<Arc<group_commit::GroupCommit>>,
}

/// The future a write-transaction closure returns.
pub type TxFuture<'c, T> = Pin<Box<dyn Future<Output = AppResult<T>> + Send + 'c>>;

/// What a store-probe write puts down: more pages than a single mutation
/// needs, so a probe does not succeed in space a mutation could not use.
const PROBE_BYTES: usize = 256 * 1024;

/// A database URL fit to print or log: its password (in the user part or
/// a `password=` parameter) replaced by `****`.
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(scheme_end) = out.find("://") {
        let rest = &out[scheme_end + 3..];
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@')
            && let Some(colon) = rest[..at].find(':')
        {
            let (start, end) = (scheme_end + 3 + colon + 1, scheme_end + 3 + at);
            out.replace_range(start..end, "****");
        }
    }
    if let Some(q) = out.find('?') {
        let (base, query) = out.split_at(q + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=****"),
                _ => kv.to_string(),
            })
            .collect();
        out = format!("{base}{}", query.join("&"));
    }
    out
}

/// Fail at once, naming the address and the cause ("Connection refused"),
/// when PostgreSQL's port does not answer, instead of waiting out the
/// pool's acquire timeout. A Unix socket path is left to the driver.
async fn reachable(host: &str, port: u16) -> anyhow::Result<()> {
    if host.starts_with('/') {
        return Ok(());
    }
    let addr = format!("{host}:{port}");
    match tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::TcpStream::connect(&addr),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => anyhow::bail!("cannot reach PostgreSQL at {addr}: {e}"),
        Err(_) => anyhow::bail!("cannot reach PostgreSQL at {addr}: no answer within 5 s"),
    }
}

impl Db {
    pub async fn connect(s: &DbSettings) -> anyhow::Result<Db> {
        if s.url.starts_with("sqlite:") {
            Self::connect_sqlite(s).await
        } else if s.url.starts_with("postgres://") || s.url.starts_with("postgresql://") {
            Self::connect_postgres(s).await
        } else {
            anyhow::bail!(
                "unsupported database url {:?}: use sqlite:PATH or postgres://...",
                redact_url(&s.url)
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
            .pragma("temp_store", "memory")
            // LIKE compares as PostgreSQL's does (case-sensitively): the
            // recusal filter (R-TKT-13) must agree with its in-memory twin;
            // the address search compares lowercased keys anyway.
            .pragma("case_sensitive_like", "ON")
            // sqlx hands rows from its SQLite thread through a channel this
            // deep (50 by default): a page of the feed (501 rows) then stops
            // the thread ten times, each a pair of thread switches (issue 19).
            .row_buffer_size(1024);
        let base = sea_orm::sqlx::ConnectOptions::disable_statement_logging(base);
        let max_pages = Arc::new(AtomicU64::new(0));
        let limit = max_pages.clone();
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(s.timeouts.acquire)
            .test_before_acquire(false)
            .after_connect(move |conn, _| {
                let pages = limit.load(Ordering::Relaxed);
                Box::pin(async move {
                    sqlite_tuning(conn).await?;
                    if pages > 0 {
                        sea_orm::sqlx::query(sea_orm::sqlx::AssertSqlSafe(format!(
                            "PRAGMA max_page_count = {pages}"
                        )))
                        .execute(&mut *conn)
                        .await?;
                    }
                    Ok(())
                })
            })
            .after_release(|conn, meta| Box::pin(sqlite_reusable(conn, meta)))
            .connect_with(base.clone())
            .await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(s.read_pool_size.max(1))
            .acquire_timeout(s.timeouts.acquire)
            .test_before_acquire(false)
            .after_connect(|conn, _| Box::pin(sqlite_tuning(conn)))
            .after_release(|conn, meta| Box::pin(sqlite_reusable(conn, meta)))
            .connect_with(base.clone().read_only(true))
            .await?;
        let head = feed_head::HeadReader::open(base.get_filename())?;
        let writer = sea_orm::SqlxSqliteConnector::from_sqlx_sqlite_pool(writer);
        Ok(Db {
            group: Some(group_commit::GroupCommit::new(
                writer.clone(),
                s.timeouts.transaction,
            )),
            writer,
            reader: sea_orm::SqlxSqliteConnector::from_sqlx_sqlite_pool(reader),
            backend: DbBackend::Sqlite,
            timeouts: s.timeouts,
            changed: Default::default(),
            writable: Arc::new(watch::Sender::new(true)),
            max_pages,
            listen: None,
            head: Some(Arc::new(head)),
            pg_head: None,
        })
    }

    async fn connect_postgres(s: &DbSettings) -> anyhow::Result<Db> {
        let t = s.timeouts;
        let ms = |d: Duration| format!("{}ms", d.as_millis().max(1));
        let secs = |d: Duration| d.as_secs().max(1).to_string();
        let mut options = vec![
            ("statement_timeout", ms(t.transaction)),
            ("lock_timeout", ms(t.lock)),
            (
                "idle_in_transaction_session_timeout",
                ms(t.idle_in_transaction),
            ),
            ("tcp_keepalives_idle", secs(t.keepalive)),
            ("tcp_keepalives_interval", secs(t.keepalive)),
            ("tcp_keepalives_count", "3".to_string()),
        ];
        if let Some(schema) = &s.pg_schema {
            options.push(("search_path", schema.clone()));
        }
        let connect = PgConnectOptions::from_str(&s.url)
            .map_err(|e| anyhow::anyhow!("database url {}: {e}", redact_url(&s.url)))?
            .options(options);
        reachable(connect.get_host(), connect.get_port()).await?;
        let connect = sea_orm::sqlx::ConnectOptions::disable_statement_logging(connect);
        // LISTEN (storage::notify) opens connections of its own, so the
        // listener never takes a slot of the pool that serves calls.
        let listen = notify::ListenSettings {
            connect: connect.clone(),
            timeouts: t,
        };
        let ping = t.ping;
        let pool = PgPoolOptions::new()
            .max_connections(s.max_connections)
            // No `min_connections`: sqlx keeps it up from a task of its own
            // that opens connections with a 5-minute deadline, outside any
            // acquire timeout; during a partition (a connect that is never
            // answered) such an open holds a slot of the pool for minutes.
            // Connections are opened on demand, within `acquire`.
            .min_connections(0)
            .acquire_timeout(t.acquire)
            .after_release(move |conn, _| Box::pin(postgres_reusable(conn, ping)))
            .connect_with(connect)
            .await?;
        let conn = sea_orm::SqlxPostgresConnector::from_sqlx_postgres_pool(pool);
        Ok(Db {
            writer: conn.clone(),
            reader: conn,
            backend: DbBackend::Postgres,
            timeouts: t,
            changed: Default::default(),
            writable: Arc::new(watch::Sender::new(true)),
            max_pages: Arc::new(AtomicU64::new(0)),
            pg_head: Some(Arc::new(feed_head::PgHead::new(
                listen.connect.clone(),
                t.ping,
            ))),
            listen: Some(listen),
            head: None,
            group: None,
        })
    }

    /// (pool, open, idle, max) of each connection pool, for the metrics.
    pub fn pool_stats(&self) -> Vec<(&'static str, u32, usize, u32)> {
        match self.backend {
            DbBackend::Postgres => {
                let p = self.writer.get_postgres_connection_pool();
                vec![(
                    "postgres",
                    p.size(),
                    p.num_idle(),
                    p.options().get_max_connections(),
                )]
            }
            _ => {
                let (w, r) = (
                    self.writer.get_sqlite_connection_pool(),
                    self.reader.get_sqlite_connection_pool(),
                );
                vec![
                    (
                        "writer",
                        w.size(),
                        w.num_idle(),
                        w.options().get_max_connections(),
                    ),
                    (
                        "reader",
                        r.size(),
                        r.num_idle(),
                        r.options().get_max_connections(),
                    ),
                ]
            }
        }
    }

    pub fn backend(&self) -> DbBackend {
        self.backend
    }

    /// The feed's last committed sequence, read in the calling thread
    /// (SQLite, `feed_head`); None on PostgreSQL, or when that read failed.
    pub fn last_seq_in_place(&self) -> Option<i64> {
        self.head.as_ref()?.last_seq()
    }

    /// The feed's last committed sequence, read on a connection outside the
    /// pool (PostgreSQL, `feed_head`); None on SQLite, or when that failed.
    pub async fn last_seq_own_connection(&self) -> Option<i64> {
        self.pg_head.as_ref()?.last_seq().await
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
    /// back otherwise. A write is acknowledged only when its COMMIT
    /// succeeded. The transaction runs on its own task, so a client that
    /// disconnects mid-call cannot leave it half-done on the writer; it is
    /// bounded by the transaction timeout, past which it is aborted (rolled
    /// back, its connection checked before reuse) and UNAVAILABLE. On
    /// SQLite, writes that queue behind a commit share the next transaction,
    /// each in a savepoint of its own (`group_commit`).
    pub async fn write<T, F>(&self, f: F) -> AppResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c DatabaseTransaction) -> TxFuture<'c, T> + Send + 'static,
    {
        let result = match &self.group {
            Some(group) => group.write(f).await,
            None => self.write_alone(f).await,
        };
        self.observe(&result);
        result
    }

    /// Writes waiting for the SQLite writer now (None on PostgreSQL).
    pub fn group_queued(&self) -> Option<usize> {
        self.group.as_ref().map(|g| g.queued())
    }

    /// (transactions, writes) the SQLite writer has committed (None on
    /// PostgreSQL): fewer transactions than writes when writes were grouped.
    pub fn group_stats(&self) -> Option<(u64, u64)> {
        self.group.as_ref().map(|g| g.stats())
    }

    /// A write in a transaction of its own, on a task of its own.
    async fn write_alone<T, F>(&self, f: F) -> AppResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c DatabaseTransaction) -> TxFuture<'c, T> + Send + 'static,
    {
        let writer = self.writer.clone();
        let backend = self.backend;
        let mut task = tokio::spawn(async move {
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
                    // A failed statement may have ended the transaction
                    // already (SQLite rolls back on a full disk); the pool
                    // closes a connection left in an unknown state.
                    if let Err(rb) = tx.rollback().await {
                        tracing::debug!(error = %rb, "rollback after a failed write");
                    }
                    Err(e)
                }
            }
        });
        match tokio::time::timeout(self.timeouts.transaction, &mut task).await {
            Ok(joined) => {
                joined.map_err(|e| AppError::internal(anyhow::anyhow!("write task failed: {e}")))?
            }
            Err(_) => {
                task.abort();
                Err(timed_out())
            }
        }
    }

    /// Run database work that no client deadline bounds (the feed tailer,
    /// the deadline monitor, a Watch stream's reads) within the transaction
    /// timeout: past it the work is dropped (its connection is checked
    /// before reuse) and the answer is UNAVAILABLE, never a hang.
    pub async fn bounded<T>(&self, work: impl Future<Output = AppResult<T>>) -> AppResult<T> {
        match tokio::time::timeout(self.timeouts.transaction, work).await {
            Ok(result) => result,
            Err(_) => Err(timed_out()),
        }
    }

    /// Keep `writable` true to what the last write found.
    fn observe<T>(&self, result: &AppResult<T>) {
        let writable = match result {
            Ok(_) => true,
            Err(e) => !fault::blocks_writes(e),
        };
        self.writable
            .send_if_modified(|w| std::mem::replace(w, writable) != writable);
    }

    /// Follows whether the store takes writes (health reporting).
    pub fn writable(&self) -> watch::Receiver<bool> {
        self.writable.subscribe()
    }

    /// Try one write that needs fresh space: a row of `PROBE_BYTES`, written
    /// and removed in one transaction. Ok means writes can commit again.
    pub async fn probe(&self) -> AppResult<()> {
        self.write(|tx| {
            Box::pin(async move {
                let backend = tx.get_database_backend();
                let filler = vec![0u8; PROBE_BYTES];
                tx.execute_raw(sea_orm::Statement::from_sql_and_values(
                    backend,
                    match backend {
                        DbBackend::Postgres => {
                            "INSERT INTO store_probe (id, filler) VALUES (1, $1)"
                        }
                        _ => "INSERT INTO store_probe (id, filler) VALUES (1, ?)",
                    },
                    [filler.into()],
                ))
                .await
                .map_err(db_err)?;
                tx.execute_unprepared("DELETE FROM store_probe")
                    .await
                    .map_err(db_err)?;
                Ok(())
            })
        })
        .await
    }

    /// SQLite: limit the database file to `pages` pages (`max_page_count`)
    /// on the writer, now and on every writer connection opened later; None
    /// lifts the limit. A storage quota for the embedded store; the tests
    /// use it to fill the "disk" deterministically.
    pub async fn limit_sqlite_pages(&self, pages: Option<u64>) -> AppResult<()> {
        if self.backend != DbBackend::Sqlite {
            return Ok(());
        }
        // SQLite's own ceiling when "no limit" is asked for.
        let n = pages.unwrap_or(4_294_967_294);
        self.max_pages.store(pages.unwrap_or(0), Ordering::Relaxed);
        self.writer
            .execute_unprepared(&format!("PRAGMA max_page_count = {n}"))
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// How to LISTEN for other instances' commits (PostgreSQL), for
    /// `notify::follow`.
    pub fn listen_settings(&self) -> Option<notify::ListenSettings> {
        self.listen.clone()
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

/// The answer to work that outlived the transaction timeout.
fn timed_out() -> AppError {
    AppError::Unavailable {
        reason: reason::DATABASE_UNAVAILABLE,
        message: "the database did not answer in time; retry".into(),
    }
}

/// Whether a SQLite connection given back to the pool may be reused: only
/// if it is outside any transaction, as sqlx counts it and as SQLite itself
/// says. A statement that failed for want of space makes SQLite roll the
/// transaction back by itself; sqlx's own count then no longer matches, and
/// reusing the connection would turn the next BEGIN into a savepoint whose
/// "commit" commits nothing. Such a connection is closed and a fresh one
/// opened.
async fn sqlite_reusable(
    conn: &mut SqliteConnection,
    _: PoolConnectionMetadata,
) -> Result<bool, sea_orm::sqlx::Error> {
    if conn.is_in_transaction() {
        tracing::warn!("closing a SQLite connection left inside a transaction");
        return Ok(false);
    }
    let mut handle = conn.lock_handle().await?;
    // SAFETY: the handle is this connection's, locked for us for the call.
    let autocommit =
        unsafe { libsqlite3_sys::sqlite3_get_autocommit(handle.as_raw_handle().as_ptr()) };
    if autocommit == 0 {
        tracing::warn!("closing a SQLite connection SQLite reports inside a transaction");
        return Ok(false);
    }
    Ok(true)
}

/// Whether a PostgreSQL connection given back to the pool may be reused:
/// outside a transaction, and answering a ping within `within`. A
/// connection whose last call was abandoned (a timeout, a partition) may
/// never answer again; without the bound, the pool's own check would wait
/// on it forever and the pool would shrink by one connection each time.
async fn postgres_reusable(
    conn: &mut PgConnection,
    within: Duration,
) -> Result<bool, sea_orm::sqlx::Error> {
    if conn.is_in_transaction() {
        return Ok(false);
    }
    let answered = matches!(tokio::time::timeout(within, conn.ping()).await, Ok(Ok(())));
    if !answered {
        tracing::debug!("closing a PostgreSQL connection that did not answer a ping");
    }
    Ok(answered)
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

/// Ids of the rows of `E` whose next deadline (`deadline`, microseconds)
/// passed by `now`, most overdue first: an index range scan, for the
/// deadline monitor (tickets and outages keep the same kind of column).
pub async fn overdue<E, C>(
    db: &C,
    id: E::Column,
    deadline: E::Column,
    now: DateTime<Utc>,
    limit: u64,
) -> AppResult<Vec<uuid::Uuid>>
where
    E: sea_orm::EntityTrait,
    C: sea_orm::ConnectionTrait,
{
    use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
    E::find()
        .select_only()
        .column(id)
        .filter(deadline.lt(to_micros(now)))
        .order_by_asc(deadline)
        .limit(limit)
        .into_tuple::<String>()
        .all(db)
        .await
        .map_err(db_err)?
        .iter()
        .map(|s| {
            uuid::Uuid::parse_str(s)
                .map_err(|_| AppError::internal(anyhow::anyhow!("corrupt id {s:?}")))
        })
        .collect()
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
        report_counts::backfill_if_needed(db.writer()).await?;
        return Ok(());
    }
    // Migrations may wait for another instance's (advisory lock) and may
    // rebuild large indexes: no request-sized bounds here.
    let hour = Duration::from_secs(3600);
    let single = Db::connect_postgres(&DbSettings {
        max_connections: 1,
        timeouts: DbTimeouts {
            transaction: hour,
            lock: hour,
            idle_in_transaction: hour,
            ..s.timeouts
        },
        ..s.clone()
    })
    .await?;
    let conn = single.writer();
    const LOCK: &str = "SELECT pg_advisory_lock(7254012911)";
    conn.execute_unprepared(LOCK).await?;
    let result = match migration::Migrator::up(conn, None).await {
        Ok(()) => report_counts::backfill_if_needed(conn)
            .await
            .map(|_| ())
            .map_err(|e| anyhow::anyhow!("counting the report: {e}")),
        Err(e) => Err(e.into()),
    };
    conn.execute_unprepared("SELECT pg_advisory_unlock(7254012911)")
        .await?;
    single.close().await;
    result?;
    Ok(())
}

#[cfg(test)]
mod redact_tests {
    use super::redact_url;

    #[test]
    fn passwords_never_print() {
        assert_eq!(
            redact_url("postgres://fo:s3cret@db:5432/fieldops"),
            "postgres://fo:****@db:5432/fieldops"
        );
        assert_eq!(
            redact_url("postgres://fo@db/fieldops?sslmode=require&password=s3cret"),
            "postgres://fo@db/fieldops?sslmode=require&password=****"
        );
        assert_eq!(redact_url("postgres://fo@db/f"), "postgres://fo@db/f");
        assert_eq!(
            redact_url("sqlite:./data/fieldops.db"),
            "sqlite:./data/fieldops.db"
        );
        assert_eq!(
            redact_url("postgres://fo:p@ss:w@db/f"),
            "postgres://fo:****@db/f"
        );
    }
}
