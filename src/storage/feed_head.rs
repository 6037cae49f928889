//! The feed's head on SQLite, read without leaving the calling task.
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
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

/// Longest a head read may stall the calling thread.
const BUSY: Duration = Duration::from_millis(50);

pub struct HeadReader {
    conn: Mutex<Connection>,
}

impl HeadReader {
    /// A read-only connection to the SQLite file at `path`.
    pub fn open(path: &Path) -> anyhow::Result<HeadReader> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY)?;
        // Not prepared yet: the store may not be migrated yet.
        Ok(HeadReader {
            conn: Mutex::new(conn),
        })
    }

    /// The last committed sequence; None when SQLite did not answer (the
    /// caller then reads it through the pool, which reports the fault).
    pub fn last_seq(&self) -> Option<i64> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
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
