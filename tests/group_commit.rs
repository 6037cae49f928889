//! Group commit on SQLite's one writer (src/storage/group_commit.rs, issue
//! 19): writes queued behind a commit share the next one, each in a
//! savepoint of its own, and each answers as it would alone. The tests hold
//! the writer with a first write that waits for the test, queue the others
//! in a known order (`queued`), then let it go. SQLite only: PostgreSQL
//! runs each write in a transaction of its own (any number of connections).
//! The durability of grouped writes is proved by tests/crash.rs (kill -9).
mod common;

use common::*;
use fieldops::error::{AppError, AppResult};
use fieldops::storage::Db;
use sea_orm::{ConnectionTrait, DatabaseTransaction, Statement};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

async fn sqlite_db() -> Option<Db> {
    sqlite_db_timing_out_after(Duration::from_secs(30)).await
}

/// A SQLite store whose transaction timeout is `timeout`.
async fn sqlite_db_timing_out_after(timeout: Duration) -> Option<Db> {
    let store = fresh_store().await;
    if store.pg_schema.is_some() {
        eprintln!("group commit is SQLite's; PostgreSQL commits each write alone");
        return None;
    }
    let mut settings = db_settings(&store);
    settings.timeouts.transaction = timeout;
    let db = Db::connect(&settings).await.unwrap();
    db.writer()
        .execute_unprepared(
            "CREATE TABLE probe (id INTEGER PRIMARY KEY, seen INTEGER);
             CREATE TABLE parent (id INTEGER PRIMARY KEY);
             CREATE TABLE child (id INTEGER PRIMARY KEY,
                 parent INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);",
        )
        .await
        .unwrap();
    Some(db)
}

async fn exec(tx: &DatabaseTransaction, sql: String) -> AppResult<()> {
    tx.execute_unprepared(&sql)
        .await
        .map(drop)
        .map_err(fieldops::storage::db_err)
}

async fn count(tx: &DatabaseTransaction, sql: &str) -> AppResult<i64> {
    let row = tx
        .query_one_raw(Statement::from_string(tx.get_database_backend(), sql))
        .await
        .map_err(fieldops::storage::db_err)?
        .unwrap();
    Ok(row.try_get_by_index::<i64>(0).unwrap())
}

/// The first column of `sql`'s rows, read after the writes.
async fn column(db: &Db, sql: &str) -> Vec<i64> {
    db.reader()
        .query_all_raw(Statement::from_string(db.backend(), sql))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get_by_index(0).unwrap())
        .collect()
}

fn refused() -> AppError {
    AppError::precondition("test_refusal", "probe", "refused on purpose")
}

/// A write that holds the writer (its row 0 inserted) until `go` fires;
/// returns once it runs.
async fn hold(db: &Db) -> (oneshot::Sender<()>, JoinHandle<AppResult<()>>) {
    let (go, wait) = oneshot::channel::<()>();
    let (running, started) = oneshot::channel::<()>();
    let db = db.clone();
    let held = tokio::spawn(async move {
        db.write(move |tx| {
            Box::pin(async move {
                exec(tx, "INSERT INTO probe (id) VALUES (0)".into()).await?;
                running.send(()).ok();
                wait.await.ok();
                Ok(())
            })
        })
        .await
    });
    started.await.unwrap();
    (go, held)
}

/// Queue `write` behind the ones already queued; returns once it is queued.
async fn queue<T: Send + 'static>(
    db: &Db,
    write: impl for<'c> FnOnce(&'c DatabaseTransaction) -> fieldops::storage::TxFuture<'c, T>
    + Send
    + 'static,
) -> JoinHandle<AppResult<T>> {
    let before = db.group_queued().unwrap();
    let task = {
        let db = db.clone();
        tokio::spawn(async move { db.write(write).await })
    };
    while db.group_queued().unwrap() == before {
        tokio::task::yield_now().await;
    }
    task
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_queued_behind_a_commit_share_the_next_and_each_answers_alone() {
    let Some(db) = sqlite_db().await else { return };
    let (go, held) = hold(&db).await;
    // Writes 1..=20 in this order: every fifth refuses after inserting its
    // row; write 12 inserts row 3 again (a failed statement); write 7 reads
    // what the writes before it left.
    let mut writes = Vec::new();
    for k in 1..=20i64 {
        let w = queue(&db, move |tx| {
            Box::pin(async move {
                let id = if k == 12 { 3 } else { k };
                let seen = count(tx, "SELECT count(*) FROM probe").await?;
                exec(
                    tx,
                    format!("INSERT INTO probe (id, seen) VALUES ({id}, {seen})"),
                )
                .await?;
                if k % 5 == 0 {
                    return Err(refused());
                }
                Ok(seen)
            })
        })
        .await;
        writes.push(w);
    }
    assert_eq!(db.group_queued(), Some(20));
    go.send(()).unwrap();
    held.await.unwrap().unwrap();
    let mut answers = Vec::new();
    for w in writes {
        answers.push(w.await.unwrap());
    }
    // The holding write committed alone, the twenty together (sixteen of
    // them kept).
    assert_eq!(db.group_stats(), Some((2, 16)));
    let mut kept = vec![0i64];
    for (i, answer) in answers.into_iter().enumerate() {
        let k = i as i64 + 1;
        match answer {
            Err(e) if k % 5 == 0 => assert_eq!(e.reason(), "test_refusal", "write {k}"),
            // Its statement failed (row 3 is taken); only it is undone.
            Err(e) if k == 12 => assert_ne!(e.reason(), "test_refusal", "write {k}: {e}"),
            Ok(seen) => {
                // It saw exactly the rows kept before it: as if each write
                // before it had committed on its own.
                assert_eq!(seen, kept.len() as i64, "write {k}");
                kept.push(k);
            }
            other => panic!("write {k}: {other:?}"),
        }
    }
    let ids = column(&db, "SELECT id FROM probe ORDER BY id").await;
    assert_eq!(ids, kept, "the refused and the failed left nothing");
    let seen = column(&db, "SELECT coalesce(seen, 0) FROM probe ORDER BY id").await;
    assert_eq!(seen, (0..kept.len() as i64).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_that_cannot_commit_answers_every_write_with_its_error() {
    let Some(db) = sqlite_db().await else { return };
    let (go, held) = hold(&db).await;
    // Three writes; the second leaves a foreign key that only COMMIT checks
    // (deferred), so the group's COMMIT fails: none of the three may stay,
    // none may be acknowledged, the one that refused on its own included.
    let first = queue(&db, |tx| {
        Box::pin(async move { exec(tx, "INSERT INTO parent (id) VALUES (1)".into()).await })
    })
    .await;
    let orphan = queue(&db, |tx| {
        Box::pin(
            async move { exec(tx, "INSERT INTO child (id, parent) VALUES (1, 99)".into()).await },
        )
    })
    .await;
    let refusing = queue(&db, |tx| {
        Box::pin(async move {
            exec(tx, "INSERT INTO parent (id) VALUES (2)".into()).await?;
            Err::<(), _>(refused())
        })
    })
    .await;
    go.send(()).unwrap();
    held.await.unwrap().unwrap();
    for (name, w) in [("first", first), ("orphan", orphan), ("refusing", refusing)] {
        let e = w.await.unwrap().expect_err(name);
        assert_ne!(
            e.reason(),
            "test_refusal",
            "{name}: the group's error, not its own"
        );
    }
    assert_eq!(
        db.group_stats(),
        Some((1, 1)),
        "only the holding write committed"
    );
    // The writer is usable again: the next write commits.
    db.write(|tx| {
        Box::pin(async move { exec(tx, "INSERT INTO parent (id) VALUES (3)".into()).await })
    })
    .await
    .unwrap();
    let ids = column(&db, "SELECT id FROM parent").await;
    assert_eq!(ids, vec![3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_whose_caller_left_before_its_turn_never_runs() {
    let Some(db) = sqlite_db().await else { return };
    let (go, held) = hold(&db).await;
    let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let left = {
        let ran = ran.clone();
        queue(&db, move |tx| {
            Box::pin(async move {
                ran.store(true, std::sync::atomic::Ordering::SeqCst);
                exec(tx, "INSERT INTO probe (id) VALUES (99)".into()).await
            })
        })
        .await
    };
    let stays = queue(&db, |tx| {
        Box::pin(async move { exec(tx, "INSERT INTO probe (id) VALUES (98)".into()).await })
    })
    .await;
    left.abort();
    assert!(left.await.unwrap_err().is_cancelled());
    go.send(()).unwrap();
    held.await.unwrap().unwrap();
    stays.await.unwrap().unwrap();
    assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));
    let ids = column(&db, "SELECT id FROM probe ORDER BY id").await;
    assert_eq!(ids, vec![0, 98]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_panics_fails_alone() {
    let Some(db) = sqlite_db().await else { return };
    let (go, held) = hold(&db).await;
    let panics = queue(&db, |tx| {
        Box::pin(async move {
            exec(tx, "INSERT INTO probe (id) VALUES (1)".into()).await?;
            panic!("a bug in a write");
            #[allow(unreachable_code)]
            Ok::<(), AppError>(())
        })
    })
    .await;
    let stays = queue(&db, |tx| {
        Box::pin(async move { exec(tx, "INSERT INTO probe (id) VALUES (2)".into()).await })
    })
    .await;
    go.send(()).unwrap();
    held.await.unwrap().unwrap();
    let e: AppError = panics.await.unwrap().unwrap_err();
    assert_eq!(e.reason(), fieldops::error::reason::INTERNAL);
    stays.await.unwrap().unwrap();
    assert_eq!(
        column(&db, "SELECT id FROM probe ORDER BY id").await,
        vec![0, 2]
    );
    assert_eq!(db.group_stats(), Some((2, 2)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_write_delays_the_writes_behind_it_but_never_fails_them() {
    // A group commits what it has run once half the transaction timeout
    // has passed; the rest wait for the next group.
    let timeout = Duration::from_secs(4);
    let Some(db) = sqlite_db_timing_out_after(timeout).await else {
        return;
    };
    let (go, held) = hold(&db).await;
    let slow = queue(&db, move |tx| {
        Box::pin(async move {
            exec(tx, "INSERT INTO probe (id) VALUES (1)".into()).await?;
            // Past half the timeout, short of all of it.
            tokio::time::sleep(timeout / 2 + Duration::from_millis(200)).await;
            Ok(())
        })
    })
    .await;
    let mut behind = Vec::new();
    for id in 2..=4 {
        behind.push(
            queue(&db, move |tx| {
                Box::pin(
                    async move { exec(tx, format!("INSERT INTO probe (id) VALUES ({id})")).await },
                )
            })
            .await,
        );
    }
    go.send(()).unwrap();
    held.await.unwrap().unwrap();
    slow.await.unwrap().unwrap();
    for w in behind {
        w.await.unwrap().unwrap();
    }
    assert_eq!(
        column(&db, "SELECT id FROM probe ORDER BY id").await,
        vec![0, 1, 2, 3, 4]
    );
    // The holding write alone, the slow one alone, the three together.
    assert_eq!(db.group_stats(), Some((3, 5)));
}
