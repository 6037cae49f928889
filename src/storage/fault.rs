//! What a database error means for the caller, decided in one place: a
//! full disk is RESOURCE_EXHAUSTED, contention and a lost or slow database
//! are UNAVAILABLE (retry later; every mutation is idempotent), the rest is
//! internal and never shown to clients.
use crate::error::{AppError, reason};
use sea_orm::{DbErr, RuntimeErr, SqlErr};

/// The kinds of database failure the server treats differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The disk (or the database's size limit) is full: SQLITE_FULL, PostgreSQL 53100.
    Full,
    /// Another writer holds a lock: SQLITE_BUSY/LOCKED, PostgreSQL lock timeout,
    /// serialization failure or deadlock.
    Busy,
    /// The database cannot be reached or did not answer in time: lost
    /// connection, pool acquire timeout, statement or idle-transaction
    /// timeout, shutdown, too many connections, an I/O error of the disk.
    Unreachable,
    /// Anything else (a bug, a schema problem): internal.
    Other,
}

impl Fault {
    /// Whether the store is unable to take writes (health goes NOT_SERVING).
    pub fn blocks_writes(self) -> bool {
        matches!(self, Fault::Full | Fault::Unreachable)
    }
}

/// SQLite primary result codes (the low byte of an extended code).
const SQLITE_BUSY: i64 = 5;
const SQLITE_LOCKED: i64 = 6;
const SQLITE_IOERR: i64 = 10;
const SQLITE_FULL: i64 = 13;
const SQLITE_CANTOPEN: i64 = 14;

pub fn classify(e: &DbErr) -> Fault {
    let sqlx = match e {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => return Fault::Unreachable,
        DbErr::Exec(RuntimeErr::SqlxError(s)) | DbErr::Query(RuntimeErr::SqlxError(s)) => s,
        _ => return Fault::Other,
    };
    use sea_orm::sqlx::Error as X;
    match sqlx.as_ref() {
        X::Io(_) | X::Tls(_) | X::Protocol(_) | X::PoolTimedOut | X::PoolClosed => {
            Fault::Unreachable
        }
        X::WorkerCrashed => Fault::Unreachable,
        X::Database(d) => {
            let code = d.code().unwrap_or_default();
            match code.parse::<i64>() {
                // SQLite: a number (extended result code).
                Ok(n) => match n & 0xff {
                    SQLITE_FULL => Fault::Full,
                    SQLITE_BUSY | SQLITE_LOCKED => Fault::Busy,
                    SQLITE_IOERR | SQLITE_CANTOPEN => Fault::Unreachable,
                    _ => Fault::Other,
                },
                // PostgreSQL: a SQLSTATE.
                Err(_) => pg_fault(&code),
            }
        }
        _ => Fault::Other,
    }
}

fn pg_fault(sqlstate: &str) -> Fault {
    match sqlstate {
        "53100" => Fault::Full,                                      // disk_full
        "55P03" | "40001" | "40P01" => Fault::Busy, // lock_not_available, serialization, deadlock
        "57014" | "25P03" | "53300" | "53200" => Fault::Unreachable, // canceled (timeout), idle tx timeout, too many connections, out of memory
        s if s.starts_with("08") || s.starts_with("57P") => Fault::Unreachable, // connection exception, shutdown
        _ => Fault::Other,
    }
}

/// Map a database error to what the client sees; unexpected ones are
/// internal (logged with their cause where they become a status).
pub fn db_err(e: DbErr) -> AppError {
    match classify(&e) {
        Fault::Full => AppError::ResourceExhausted {
            reason: reason::STORAGE_FULL,
            message: "the server's storage is full; retry later".into(),
        },
        Fault::Busy => AppError::Unavailable {
            reason: reason::DATABASE_BUSY,
            message: "the database is busy; retry".into(),
        },
        Fault::Unreachable => AppError::Unavailable {
            reason: reason::DATABASE_UNAVAILABLE,
            message: "the database is unavailable; retry".into(),
        },
        Fault::Other => AppError::internal(e),
    }
}

/// Whether a failed write means the store cannot take writes now (health
/// NOT_SERVING until one commits), as opposed to a refusal or contention.
pub fn blocks_writes(e: &AppError) -> bool {
    matches!(
        e.reason(),
        reason::STORAGE_FULL | reason::DATABASE_UNAVAILABLE
    )
}

/// True when `e` is a unique-key violation (a concurrent insert won).
pub fn is_unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_states() {
        assert_eq!(pg_fault("53100"), Fault::Full);
        assert_eq!(pg_fault("55P03"), Fault::Busy);
        assert_eq!(pg_fault("57014"), Fault::Unreachable);
        assert_eq!(pg_fault("25P03"), Fault::Unreachable);
        assert_eq!(pg_fault("08006"), Fault::Unreachable);
        assert_eq!(pg_fault("57P01"), Fault::Unreachable);
        assert_eq!(pg_fault("23505"), Fault::Other);
        assert!(Fault::Full.blocks_writes() && Fault::Unreachable.blocks_writes());
        assert!(!Fault::Busy.blocks_writes() && !Fault::Other.blocks_writes());
    }

    #[test]
    fn pool_and_connection_errors_are_unreachable() {
        let acquire = DbErr::ConnectionAcquire(sea_orm::error::ConnAcquireErr::Timeout);
        assert_eq!(classify(&acquire), Fault::Unreachable);
        let e = db_err(acquire);
        assert_eq!(e.reason(), reason::DATABASE_UNAVAILABLE);
    }
}
