//! The feed's head, read the cheapest way each database allows.
//!
//! SQLite: without leaving the calling task (`HeadReader`). PostgreSQL: on
//! connections of its own (`PgHead`), outside the pool, whose every release
//! pings the server: one round trip per head, not two.
//!
//! Either way a failure is not reported here: the caller then asks through
//! the pool, which says what the fault is.
//!
//! sqlx runs every SQLite connection on a thread of its own, so each query
//! is two thread hand-offs; for GetTicket served from memory, the one query
//! left (where is the feed's head?) cost more than the rest of the call
//! (issue 19). This reader asks SQLite itself, in the calling thread: one
//! prepared one-row SELECT on a read-only connection, a few microseconds.
//! A WAL reader never waits for the writer, and the short busy timeout
//! bounds the rare wait (the WAL index being rebuilt); after any failure
//! the caller asks through the pool instead.
use super::entities::feed_state_sql;
use rusqlite::{Connection, OpenFlags};
use sea_orm::sqlx::postgres::{PgConnectOptions, PgConnection};
use sea_orm::sqlx::{ConnectOptions, query_scalar};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

/// Longest a head read may stall the calling thread.
const BUSY: Duration = Duration::from_millis(50);

/// Connections kept: a read takes a free one, so the runtime's threads do
/// not queue behind each other (a wait here is a thread switch, which cost
/// more than the read).
const CONNECTIONS: usize = 4;

pub struct HeadReader {
    conns: Vec<Mutex<Connection>>,
}

impl HeadReader {
    /// A read-only connection to the SQLite file at `path`.
    pub fn open(path: &Path) -> anyhow::Result<HeadReader> {
        let open = || -> anyhow::Result<Mutex<Connection>> {
            let conn = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            conn.busy_timeout(BUSY)?;
            // Not prepared yet: the store may not be migrated yet.
            Ok(Mutex::new(conn))
        };
        Ok(HeadReader {
            conns: (0..CONNECTIONS).map(|_| open()).collect::<Result<_, _>>()?,
        })
    }

    /// The last committed sequence; None when SQLite did not answer or all
    /// connections are taken (the caller then reads it through the pool,
    /// which reports a fault).
    pub fn last_seq(&self) -> Option<i64> {
        // All busy: the pool, rather than a wait that blocks this thread.
        let conn = self.conns.iter().find_map(|c| c.try_lock().ok())?;
        let read = conn
            .prepare_cached(feed_state_sql::READ)
            .and_then(|mut s| s.query_row([], |row| row.get::<_, i64>(0)));
        match read {
            Ok(seq) => Some(seq),
            Err(e) => {
                tracing::debug!(error = %e, "reading the feed's head in place failed");
                None
            }
        }
    }
}

/// PostgreSQL connections kept for the head: as many as `FeedHead` sends
/// queries at once.
const PG_CONNECTIONS: usize = 1;

pub struct PgHead {
    connect: PgConnectOptions,
    /// Longest a head query may take before its connection is dropped.
    within: Duration,
    conns: Vec<tokio::sync::Mutex<Option<PgConnection>>>,
}

impl PgHead {
    /// Connections are opened when first needed (and again after a failure).
    pub fn new(connect: PgConnectOptions, within: Duration) -> PgHead {
        PgHead {
            connect,
            within,
            conns: (0..PG_CONNECTIONS)
                .map(|_| tokio::sync::Mutex::new(None))
                .collect(),
        }
    }

    /// The last committed sequence; None when the database did not answer
    /// in time (the connection is dropped, and opened again next time).
    pub async fn last_seq(&self) -> Option<i64> {
        let mut slot = match self.conns.iter().find_map(|c| c.try_lock().ok()) {
            Some(slot) => slot,
            None => self.conns[0].lock().await,
        };
        // Out of its slot while in use: a call dropped mid-query drops the
        // connection with it, so none is reused with a query in flight.
        let taken = slot.take();
        match tokio::time::timeout(self.within, self.read(taken)).await {
            Ok(Ok((seq, conn))) => {
                *slot = Some(conn);
                Some(seq)
            }
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "reading the feed's head failed");
                None
            }
            Err(_) => None,
        }
    }

    async fn read(
        &self,
        conn: Option<PgConnection>,
    ) -> Result<(i64, PgConnection), sea_orm::sqlx::Error> {
        let mut conn = match conn {
            Some(conn) => conn,
            None => self.connect.connect().await?,
        };
        let seq = query_scalar::<_, i64>(feed_state_sql::READ)
            .fetch_one(&mut conn)
            .await?;
        Ok((seq, conn))
    }
}
