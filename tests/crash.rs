//! kill -9 during a write burst (issue 11): the release-shaped binary
//! (`fieldops serve`, its defaults: SQLite synchronous=FULL) is killed while
//! clients write; after a restart every acknowledged write is there, a
//! replay of any request id answers as the first time and applies nothing
//! twice, and the SQLite file passes `integrity_check`. Runs on SQLite, and
//! on PostgreSQL when the suite does. On SQLite the burst's writes are
//! grouped (issue 19: writes queued behind a commit share the next one),
//! which the test checks before the kill: so grouped writes are proved as
//! durable as single ones.
mod common;

use common::process::{dispatcher_at, start_binary, start_binary_with_metrics};
use common::scrape::{scrape, value};
use common::*;
use fieldops::grpc::pb;
use sea_orm::{ConnectionTrait, Statement};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Mutex;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_a_write_burst_loses_no_acknowledged_write() {
    let store = fresh_store().await;
    let data_dir =
        std::env::temp_dir().join(format!("fieldops-crash-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&data_dir).unwrap();
    let (mut server, addr, metrics) = start_binary_with_metrics(&store, &data_dir);

    // request id -> (request, the answer if acknowledged)
    type Sent = BTreeMap<String, (pb::CreateTicketRequest, Option<pb::Ticket>)>;
    let sent: Arc<Mutex<Sent>> = Default::default();
    let acked = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    for _ in 0..8 {
        let mut c = dispatcher_at(addr).await;
        let (sent, acked) = (sent.clone(), acked.clone());
        writers.push(tokio::spawn(async move {
            loop {
                let req = create_req("BUILDING_NO_HEAT");
                sent.lock()
                    .await
                    .insert(req.request_id.clone(), (req.clone(), None));
                match c.create_ticket(req.clone()).await {
                    Ok(t) => {
                        sent.lock().await.get_mut(&req.request_id).unwrap().1 =
                            Some(t.into_inner());
                        acked.fetch_add(1, Ordering::SeqCst);
                    }
                    // The server is gone.
                    Err(_) => return,
                }
            }
        }));
    }
    while acked.load(Ordering::SeqCst) < 150 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    if store.pg_schema.is_none() {
        let text = scrape(metrics).await;
        let commits = value(&text, "fieldops_write_commits_total", &[]);
        let writes = value(&text, "fieldops_writes_committed_total", &[]);
        assert!(
            commits > 0.0 && writes > commits,
            "the burst's writes were grouped: {writes} writes in {commits} commits"
        );
    }
    server.kill().unwrap(); // SIGKILL
    server.wait().unwrap();
    for w in writers {
        w.await.unwrap();
    }

    let (mut server, addr) = start_binary(&store, &data_dir, &[], None);
    let mut c = dispatcher_at(addr).await;
    let sent = sent.lock().await.clone();
    let acknowledged = sent.values().filter(|(_, a)| a.is_some()).count();
    assert!(acknowledged >= 150);
    for (req, answer) in sent.values() {
        // Every acknowledged write is there, unchanged; a replay of any
        // request (acknowledged or cut off) answers once and for all.
        let replay = c.create_ticket(req.clone()).await.unwrap().into_inner();
        if let Some(first) = answer {
            assert_eq!(&replay, first, "request {}", req.request_id);
        }
        let again = c.create_ticket(req.clone()).await.unwrap().into_inner();
        assert_eq!(again, replay);
    }
    let listed = all_tickets(&mut c).await.0.len();
    assert_eq!(listed, sent.len(), "one ticket per request, none twice");
    server.kill().unwrap();
    server.wait().unwrap();

    if store.pg_schema.is_none() {
        let conn = sea_orm::Database::connect(store.url.as_str())
            .await
            .unwrap();
        let row = conn
            .query_one_raw(Statement::from_string(
                conn.get_database_backend(),
                "PRAGMA integrity_check",
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get_by_index::<String>(0).unwrap(), "ok");
        conn.close().await.ok();
    }
    std::fs::remove_dir_all(&data_dir).ok();
}
