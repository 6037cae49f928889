//! Issue 19: GetTicket is answered from the latest ticket versions each
//! instance holds in memory (`FeedWindow::ticket`). What memory holds is
//! what the database holds, and a read never returns a ticket older than a
//! write acknowledged before it, on either of two instances sharing one
//! database (read-your-writes across instances).
mod common;

use common::*;
use fieldops::domain::Ticket;
use fieldops::grpc::pb;
use fieldops::service::feed_window::TicketSource;
use std::sync::Arc;
use tokio::sync::Barrier;
use uuid::Uuid;

/// The ticket as `app` serves it from memory, once its tailer has read the
/// feed up to the head (polled: the tailer runs by itself).
async fn from_memory(app: &TestApp, id: &str) -> Arc<Ticket> {
    let id: Uuid = id.parse().unwrap();
    for _ in 0..1000 {
        let (t, source) = app.handles.window.ticket(id).await.unwrap().unwrap();
        if source == TicketSource::Memory {
            return t;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("ticket {id} never came from memory");
}

/// Memory's ticket equals the database's row, field for field, and the
/// version the last write acknowledged.
async fn assert_memory_matches_database(app: &TestApp, acked: &pb::Ticket) {
    let held = from_memory(app, &acked.id).await;
    let stored = fieldops::storage::tickets::get(app.handles.store.reader(), held.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(*held, stored);
    assert_eq!(held.version, acked.version);
}

async fn contact(client: &mut Client, id: &str) -> pb::Ticket {
    client
        .record_contact(pb::RecordContactRequest {
            request_id: rid(),
            ticket_id: id.into(),
            counterpart: pb::Counterpart::Caller as i32,
            channel: pb::ContactChannel::Phone as i32,
            summary: "called back".into(),
            result: false,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
async fn memory_holds_what_the_database_holds_after_each_kind_of_write() {
    let app = spawn_app().await;
    let mut d = app.dispatcher().await;
    let mut c = app.crew("c1", "north").await;
    let t = create(&mut d, "NETWORK_LEAK").await;
    assert_memory_matches_database(&app, &t).await;
    let t = dispatch(&mut d, &t.id, "north").await;
    assert_memory_matches_database(&app, &t).await;
    let t = claim(&mut c, &t.id).await.unwrap();
    assert_memory_matches_database(&app, &t).await;
    let t = arrive(&mut c, &t.id).await;
    assert_memory_matches_database(&app, &t).await;
    let t = complete(&mut c, &t.id).await;
    assert_memory_matches_database(&app, &t).await;
    let t = contact(&mut d, &t.id).await;
    assert_memory_matches_database(&app, &t).await;
    // A write by the deadline monitor, not by a call.
    let late = create(&mut d, "NETWORK_LEAK").await;
    let late = dispatch(&mut d, &late.id, "north").await;
    assert_memory_matches_database(&app, &late).await;
    app.clock.advance(chrono::Duration::days(30));
    assert!(app.run_monitor().await > 0);
    let breached = get(&app, &late.id).await;
    assert!(breached.version > late.version);
    assert_memory_matches_database(&app, &breached).await;
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
/// and on the same one; every read must show at least the version the
/// write acknowledged. Two tasks share each ticket, so a read also races
/// the other task's writes. Memory is warm from the start, so a read that
/// trusted memory without knowing the feed's head would return the version
/// before.
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
    let barrier = Arc::new(Barrier::new(TASKS));
    let mut tasks = Vec::new();
    for n in 0..TASKS {
        let (mut on_a, mut on_b) = (a.dispatcher().await, b.dispatcher().await);
        let (id, barrier) = (tickets[n / 2].id.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut stale = Vec::new();
            for round in 0..ROUNDS {
                let (writer, reader) = if (round + n) % 2 == 0 {
                    (&mut on_a, &mut on_b)
                } else {
                    (&mut on_b, &mut on_a)
                };
                let acked = contact(writer, &id).await.version;
                for r in [reader, writer] {
                    let seen = r
                        .get_ticket(pb::GetTicketRequest {
                            ticket_id: id.clone(),
                        })
                        .await
                        .unwrap()
                        .into_inner()
                        .version;
                    if seen < acked {
                        stale.push((round, acked, seen));
                    }
                }
            }
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
    // Both instances end on the database's versions, from memory.
    for t in &tickets {
        let last = get(&a, &t.id).await;
        assert_eq!(
            last.version,
            t.version + 2 * ROUNDS as i64,
            "two tasks' contacts"
        );
        if held >= TASKS / 2 {
            assert_memory_matches_database(&a, &last).await;
            assert_memory_matches_database(&b, &last).await;
        }
    }
    a.stop().await;
    b.stop().await;
}
