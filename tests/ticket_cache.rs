//! Issue 19: GetTicket is answered from the latest ticket versions each
//! instance holds in memory (`FeedWindow::ticket`). What memory holds is
//! what the database holds, and a read never returns a ticket older than a
//! write acknowledged before it, on either of two instances sharing one
//! database (read-your-writes across instances).
mod common;

use common::*;
use fieldops::domain::Ticket;
use fieldops::grpc::pb;
use fieldops::service::feed_window::{FeedWindow, TicketSource};
use fieldops::storage::Db;
use fieldops::storage::feed::{self, Position};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use tokio::sync::Barrier;
use uuid::Uuid;

/// Wait until `window`'s tailer (which runs by itself) has read the feed
/// up to the database's head: each move of the window ticks `subscribe`.
async fn caught_up(window: &FeedWindow, store: &Db) {
    let mut moved = window.subscribe();
    let (head, _) = feed::state(store.reader()).await.unwrap();
    let reached = async {
        while window.end() < Position::end_of(head) {
            moved.changed().await.unwrap();
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), reached)
        .await
        .expect("the tailer never reached the feed's head");
}

/// Once `app`'s tailer has read the feed up to its head, the first read of
/// the ticket comes from memory, as the tailer noted it from the feed (no
/// read of this version came first, so none noted the row instead).
async fn from_memory(app: &TestApp, id: &str) -> Arc<Ticket> {
    caught_up(&app.handles.window, &app.handles.store).await;
    let (t, source) = app
        .handles
        .window
        .ticket(id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(source, TicketSource::Memory, "caught up, yet read the row");
    t
}

/// One read of each ticket through `window`'s memory path: each must be at
/// least its floor (read before); counts the answers from memory.
async fn read_all(
    window: &FeedWindow,
    ids: &[Uuid],
    floors: &[AtomicI64],
    stale: &mut Vec<(i64, i64, TicketSource)>,
    from_memory: &mut usize,
) {
    for (k, id) in ids.iter().enumerate() {
        let floor = floors[k].load(Ordering::SeqCst);
        let (t, source) = window.ticket(*id).await.unwrap().unwrap();
        if t.version < floor {
            stale.push((floor, t.version, source));
        }
        *from_memory += usize::from(source == TicketSource::Memory);
    }
}

/// The stored row, read without going through memory.
async fn stored(app: &TestApp, id: Uuid) -> Ticket {
    fieldops::storage::tickets::get(app.handles.store.reader(), id)
        .await
        .unwrap()
        .unwrap()
}

/// Memory's ticket (decoded from the feed) equals the database's row, field
/// for field, and the version the last write acknowledged.
async fn assert_memory_matches_database(app: &TestApp, id: &str, version: i64) {
    let held = from_memory(app, id).await;
    assert_eq!(*held, stored(app, held.id).await);
    assert_eq!(held.version, version);
}

#[tokio::test]
async fn memory_holds_what_the_database_holds_after_each_kind_of_write() {
    let app = spawn_app().await;
    let mut d = app.dispatcher().await;
    let mut c = app.crew("c1", "north").await;
    let t = create(&mut d, "NETWORK_LEAK").await;
    assert_memory_matches_database(&app, &t.id, t.version).await;
    let t = dispatch(&mut d, &t.id, "north").await;
    assert_memory_matches_database(&app, &t.id, t.version).await;
    let t = claim(&mut c, &t.id).await.unwrap();
    assert_memory_matches_database(&app, &t.id, t.version).await;
    let t = arrive(&mut c, &t.id).await;
    assert_memory_matches_database(&app, &t.id, t.version).await;
    let t = complete(&mut c, &t.id).await;
    assert_memory_matches_database(&app, &t.id, t.version).await;
    let t = call_back(&mut d, &t.id, false).await.unwrap();
    assert_memory_matches_database(&app, &t.id, t.version).await;
    // A write by the deadline monitor, not by a call.
    let late = create(&mut d, "NETWORK_LEAK").await;
    let late = dispatch(&mut d, &late.id, "north").await;
    assert_memory_matches_database(&app, &late.id, late.version).await;
    app.clock.advance(chrono::Duration::days(30));
    assert!(app.run_monitor().await > 0);
    let breached = stored(&app, late.id.parse().unwrap()).await;
    assert!(breached.version > late.version);
    assert_memory_matches_database(&app, &late.id, breached.version).await;
    // The view is the caller's: a crew member of another unit is told the
    // ticket does not exist, from memory as from the database.
    let mut other = app.crew("s1", "south").await;
    let e = other
        .get_ticket(pb::GetTicketRequest {
            ticket_id: late.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound);
    app.stop().await;
}

/// Each task writes its ticket on one instance, then reads it on the other
/// and on the same one; two tasks share each ticket. Every read must show
/// at least the highest version acknowledged to either task before it
/// began. Meanwhile a reader per instance reads every ticket through its
/// memory over and over, under the same rule, and counts what memory
/// answered. Memory is warm from the start, so a read that trusted memory
/// without knowing the feed's head would return a version before.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_read_never_misses_a_write_acknowledged_on_either_instance() {
    race_reads_and_writes(20_000).await;
}

/// The same with room for two tickets of the four: tickets leave memory
/// and come back all the time, and a read that missed may only note what
/// it read when that is at least as new as all the tailer noted.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_read_never_misses_a_write_when_memory_holds_only_two_tickets() {
    race_reads_and_writes(2).await;
}

async fn race_reads_and_writes(held: usize) {
    const TASKS: usize = 8;
    const ROUNDS: usize = 25;
    let small = |c: &mut fieldops::config::Config| c.ticket_cache = held;
    let a = spawn_tuned("heating", fresh_store().await, small).await;
    let b = spawn_tuned("heating", a.store.clone(), small).await;
    let mut tickets = Vec::new();
    for _ in 0..TASKS / 2 {
        let t = dispatched_ticket(&a, "NETWORK_LEAK").await;
        if held >= TASKS / 2 {
            from_memory(&a, &t.id).await;
            from_memory(&b, &t.id).await;
        }
        tickets.push(t);
    }
    let floors: Arc<Vec<AtomicI64>> =
        Arc::new(tickets.iter().map(|t| AtomicI64::new(t.version)).collect());
    let ids: Arc<Vec<Uuid>> = Arc::new(tickets.iter().map(|t| t.id.parse().unwrap()).collect());
    let writers_left = Arc::new(AtomicUsize::new(TASKS));
    let barrier = Arc::new(Barrier::new(TASKS + 2));
    let mut readers = Vec::new();
    for app in [&a, &b] {
        let (window, floors, ids) = (app.handles.window.clone(), floors.clone(), ids.clone());
        let (barrier, writers_left, store) = (
            barrier.clone(),
            writers_left.clone(),
            app.handles.store.clone(),
        );
        readers.push(tokio::spawn(async move {
            barrier.wait().await;
            let (mut stale, mut from_memory) = (Vec::new(), 0usize);
            while writers_left.load(Ordering::SeqCst) > 0 {
                read_all(&window, &ids, &floors, &mut stale, &mut from_memory).await;
                tokio::task::yield_now().await;
            }
            // Once more with the writers done and the tailer caught up: with
            // room for every ticket, memory must answer (the count proves
            // the path was taken, during the race or at least now).
            if held >= TASKS / 2 {
                caught_up(&window, &store).await;
                read_all(&window, &ids, &floors, &mut stale, &mut from_memory).await;
            }
            (stale, from_memory)
        }));
    }
    let mut tasks = Vec::new();
    for n in 0..TASKS {
        let (mut on_a, mut on_b) = (a.dispatcher().await, b.dispatcher().await);
        let (id, k, barrier) = (tickets[n / 2].id.clone(), n / 2, barrier.clone());
        let (floors, writers_left) = (floors.clone(), writers_left.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut stale = Vec::new();
            for round in 0..ROUNDS {
                let (writer, reader) = if (round + n) % 2 == 0 {
                    (&mut on_a, &mut on_b)
                } else {
                    (&mut on_b, &mut on_a)
                };
                let acked = call_back(writer, &id, false).await.unwrap().version;
                floors[k].fetch_max(acked, Ordering::SeqCst);
                for r in [reader, writer] {
                    let floor = floors[k].load(Ordering::SeqCst);
                    let seen = r
                        .get_ticket(pb::GetTicketRequest {
                            ticket_id: id.clone(),
                        })
                        .await
                        .unwrap()
                        .into_inner()
                        .version;
                    if seen < floor {
                        stale.push((round, floor, seen));
                    }
                }
            }
            writers_left.fetch_sub(1, Ordering::SeqCst);
            stale
        }));
    }
    for task in tasks {
        let stale = task.await.unwrap();
        assert!(
            stale.is_empty(),
            "reads older than an acknowledged write: {stale:?}"
        );
    }
    let mut answered_from_memory = 0;
    for reader in readers {
        let (stale, from_memory) = reader.await.unwrap();
        assert!(
            stale.is_empty(),
            "memory reads older than an acknowledged write: {stale:?}"
        );
        answered_from_memory += from_memory;
    }
    if held >= TASKS / 2 {
        assert!(answered_from_memory > 0, "memory never answered");
    }
    // Both instances end on the database's versions, from memory.
    for t in &tickets {
        let last = get(&a, &t.id).await;
        assert_eq!(
            last.version,
            t.version + 2 * ROUNDS as i64,
            "two tasks' contacts"
        );
        if held >= TASKS / 2 {
            assert_memory_matches_database(&a, &last.id, last.version).await;
            assert_memory_matches_database(&b, &last.id, last.version).await;
        }
    }
    a.stop().await;
    b.stop().await;
}
