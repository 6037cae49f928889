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
use super::{Db, DbTimeouts};
use sea_orm::sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::timeout;

/// The channel every instance of a database listens on.
pub const CHANNEL: &str = "fieldops_feed";

/// How long to wait before listening again after the connection failed.
const RETRY: Duration = Duration::from_secs(1);

/// A listener only reads, so a peer that went silent would never be
/// noticed: with nothing received this long, it asks the database once.
const PROBE_AFTER: Duration = Duration::from_secs(10);

/// What the listener needs to open connections of its own.
#[derive(Debug, Clone)]
pub struct ListenSettings {
    pub connect: PgConnectOptions,
    pub timeouts: DbTimeouts,
}

/// Listen until `stop`, waking `db`'s feed tailer at each commit made in
/// this store by any instance. SQLite has one writer process: nothing to do.
pub async fn follow(db: Db, settings: Option<ListenSettings>, mut stop: watch::Receiver<bool>) {
    let Some(settings) = settings else { return };
    loop {
        // Raced against `stop` from the first step: setting up can wait on
        // a silent database too.
        let attempt = tokio::select! {
            r = listen(&db, &settings) => r,
            _ = stop.wait_for(|s| *s) => return,
        };
        if let Err(e) = attempt {
            tracing::warn!(
                error = %e,
                "listening for other instances' commits failed; polling until it works again"
            );
        }
        tokio::select! {
            _ = tokio::time::sleep(RETRY) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

async fn listen(db: &Db, s: &ListenSettings) -> anyhow::Result<()> {
    let t = s.timeouts;
    // A pool of its own for each attempt: a connection lost to a silent
    // peer may never finish closing (sqlx sends UNLISTEN and waits), and
    // must not keep the next attempt from connecting.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .acquire_timeout(t.acquire)
        .connect_lazy_with(s.connect.clone());
    let mut listener = PgListener::connect_with(&pool).await?;
    timeout(t.ping, listener.listen(CHANNEL)).await??;
    let schema: String = timeout(
        t.ping,
        sea_orm::sqlx::query_scalar("SELECT current_schema()::text").fetch_one(&mut listener),
    )
    .await??;
    // Commits made before LISTEN took effect were not announced.
    db.notify_change();
    loop {
        match timeout(PROBE_AFTER, listener.try_recv()).await {
            Ok(next) => match next? {
                Some(n) if n.payload() == schema => db.notify_change(),
                Some(_) => {}
                // Reconnected: whatever was announced meanwhile is lost.
                None => db.notify_change(),
            },
            // Quiet: is the database still there? (Notifications arriving
            // meanwhile are kept for the next try_recv.)
            Err(_) => {
                timeout(
                    t.ping,
                    sea_orm::sqlx::query("SELECT 1").execute(&mut listener),
                )
                .await
                .map_err(|_| {
                    anyhow::anyhow!("the database did not answer a ping within {:?}", t.ping)
                })??;
            }
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
