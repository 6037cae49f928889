//! Other instances' commits, as they happen (PostgreSQL).
//!
//! Every write that appends to the change feed also issues
//! `NOTIFY fieldops_feed` (from the statement that bumps the feed counter,
//! so it costs no extra round trip). PostgreSQL delivers it only if the
//! transaction commits, after the commit. Each instance LISTENs on a
//! connection of its own and wakes its feed tailer at once, so a Watch on
//! one instance sees a commit made on another in milliseconds instead of
//! at the next poll.
//!
//! A notification is only a hint, like a local commit's wake-up: the tailer
//! still reads the change log itself and still polls (`--watch-poll`), so a
//! notification lost with its connection costs at most one poll interval,
//! never a change. The payload is the committing session's schema, so
//! stores that share a database (one schema each) do not wake each other.
use super::Db;
use sea_orm::sqlx::postgres::{PgListener, PgPool};
use std::time::Duration;
use tokio::sync::watch;

/// The channel every instance of a database listens on.
pub const CHANNEL: &str = "fieldops_feed";

/// How long to wait before listening again after the connection failed.
const RETRY: Duration = Duration::from_secs(1);

/// Listen until `stop`, waking `db`'s feed tailer at each commit made in
/// this store by any instance. SQLite has one writer process: nothing to do.
pub async fn follow(db: Db, pool: Option<PgPool>, mut stop: watch::Receiver<bool>) {
    let Some(pool) = pool else { return };
    loop {
        match listen(&db, &pool, &mut stop).await {
            Ok(()) => return,
            Err(e) => tracing::warn!(
                error = %e,
                "listening for other instances' commits failed; polling until it works again"
            ),
        }
        tokio::select! {
            _ = tokio::time::sleep(RETRY) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

async fn listen(
    db: &Db,
    pool: &PgPool,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), sea_orm::sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    let schema: String = sea_orm::sqlx::query_scalar("SELECT current_schema()::text")
        .fetch_one(&mut listener)
        .await?;
    // Commits made before LISTEN took effect were not announced.
    db.notify_change();
    loop {
        tokio::select! {
            next = listener.try_recv() => match next? {
                Some(n) if n.payload() == schema => db.notify_change(),
                Some(_) => {}
                // Reconnected: whatever was announced meanwhile is lost.
                None => db.notify_change(),
            },
            _ = stop.wait_for(|s| *s) => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::CHANNEL;
    use crate::storage::entities::feed_state_sql;
    use sea_orm::DbBackend;

    /// The statement that announces a commit names the channel listened on.
    #[test]
    fn the_counter_bump_announces_on_the_channel_listened_on() {
        let sql = feed_state_sql::bump(DbBackend::Postgres);
        assert!(sql.contains(&format!("pg_notify('{CHANNEL}'")), "{sql}");
        assert!(!feed_state_sql::bump(DbBackend::Sqlite).contains("notify"));
    }
}
