//! Connection hygiene (issue 11, finding 6): a silent connection and an idle
//! HTTP/2 connection are closed after their configured times (a Watch in
//! flight keeps its connection); one connection beyond the limit is closed
//! at once; a call past its deadline is DEADLINE_EXCEEDED; and at a low
//! file-descriptor limit the server keeps serving its open connections and
//! does not spin.
mod common;

use common::*;
use fieldops::domain::Role;
use fieldops::grpc::pb;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tonic::Code;

/// The HTTP/2 client preface and an empty SETTINGS frame: a connection that
/// has said hello and then asks for nothing.
const H2_HELLO: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

/// Read until the server closes the connection; how long that took. Panics
/// if it stays open for `within`.
async fn closed_after(conn: &mut TcpStream, within: Duration) -> Duration {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(start + within, conn.read(&mut buf)).await {
            Err(_) => panic!("the connection was still open after {within:?}"),
            Ok(Ok(0)) | Ok(Err(_)) => return start.elapsed(),
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn silent_and_idle_connections_are_closed_after_their_time() {
    let silent = Duration::from_millis(400);
    let idle = Duration::from_millis(800);
    let app = spawn_tuned("heating", fresh_store().await, |c| {
        c.net.silent_timeout = silent;
        c.net.idle_timeout = idle;
    })
    .await;

    // Connects and never says a word.
    let mut mute = TcpStream::connect(app.addr).await.unwrap();
    let took = closed_after(&mut mute, Duration::from_secs(10)).await;
    assert!(
        took >= silent - Duration::from_millis(50),
        "closed after {took:?}"
    );

    // Says hello, then nothing.
    let mut idler = TcpStream::connect(app.addr).await.unwrap();
    idler.write_all(H2_HELLO).await.unwrap();
    let took = closed_after(&mut idler, Duration::from_secs(10)).await;
    assert!(
        took >= idle - Duration::from_millis(50),
        "closed after {took:?}"
    );

    // A client that made a call, then rests: its connection goes too.
    let ch = app.channel().await;
    let mut d = pb::ticket_service_client::TicketServiceClient::with_interceptor(
        ch.clone(),
        Bearer(Some(
            format!("Bearer {}", token("d1", &[Role::Dispatcher], "hq"))
                .parse()
                .unwrap(),
        )),
    );
    create(&mut d, "BLOCKAGE").await;

    // A Watch in flight keeps its connection past the idle time: checkpoints
    // keep coming for three idle periods.
    let mut s = pb::sync_service_client::SyncServiceClient::with_interceptor(
        app.channel().await,
        Bearer(Some(
            format!("Bearer {}", token("d1", &[Role::Dispatcher], "hq"))
                .parse()
                .unwrap(),
        )),
    );
    let mut w = s
        .watch(pb::WatchRequest::default())
        .await
        .unwrap()
        .into_inner();
    let until = Instant::now() + idle * 3;
    let mut events = 0;
    while Instant::now() < until {
        tokio::time::timeout(Duration::from_secs(5), w.message())
            .await
            .expect("a Watch event within 5 s")
            .expect("the Watch stays open")
            .expect("an event");
        events += 1;
    }
    assert!(events >= 3, "{events} events");
    app.stop().await;
}

#[tokio::test]
async fn one_connection_beyond_the_limit_is_closed_at_once() {
    let app = spawn_tuned("heating", fresh_store().await, |c| {
        c.net.max_client_connections = 3;
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut c = TcpStream::connect(app.addr).await.unwrap();
        c.write_all(H2_HELLO).await.unwrap();
        held.push(c);
    }
    // The third: a real client, which keeps working.
    let mut d = app.dispatcher().await;
    create(&mut d, "BLOCKAGE").await;
    // The fourth is closed without a word.
    let mut extra = TcpStream::connect(app.addr).await.unwrap();
    let took = closed_after(&mut extra, Duration::from_secs(5)).await;
    assert!(took < Duration::from_secs(2), "closed after {took:?}");
    create(&mut d, "BLOCKAGE").await;
    // Room again once one goes.
    drop(held.pop());
    let mut again = None;
    for _ in 0..100 {
        let mut c = TcpStream::connect(app.addr).await.unwrap();
        c.write_all(H2_HELLO).await.unwrap();
        let mut buf = [0u8; 64];
        // The server's SETTINGS frame: this connection was taken.
        let r = tokio::time::timeout(Duration::from_secs(2), c.read(&mut buf)).await;
        if matches!(r, Ok(Ok(n)) if n > 0) {
            again = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(again.is_some(), "a freed slot is taken again");
    // Raw connections never answer the server's goodbye: close them first.
    drop((held, again, extra));
    app.stop().await;
}

/// A call still running at the server's deadline answers DEADLINE_EXCEEDED
/// with a reason (not CANCELLED). The call is held up by another writer
/// holding SQLite's write lock. (A client's shorter `grpc-timeout` is
/// honoured the same way, `guard::tests::grpc_timeout_header`; tonic's own
/// client answers its timer first, so it is not observable from here.)
#[tokio::test]
async fn a_call_past_its_deadline_is_deadline_exceeded() {
    let store = sqlite_only_store();
    let app = spawn_tuned("heating", store.clone(), |c| {
        c.request_timeout = Duration::from_millis(300);
    })
    .await;
    let mut d = app.dispatcher().await;
    let blocker = hold_sqlite_write_lock(&store).await;
    let req = create_req("BLOCKAGE");
    let e = d.create_ticket(req.clone()).await.unwrap_err();
    assert_status(&e, Code::DeadlineExceeded, "DEADLINE_EXCEEDED", None);
    drop(blocker);
    // The request may have been applied after all: its replay says so, once.
    let first = d.create_ticket(req.clone()).await.unwrap().into_inner();
    let again = d.create_ticket(req).await.unwrap().into_inner();
    assert_eq!(first, again);
    app.stop().await;
}

/// A SQLite store whatever the suite's database (the lock trick is SQLite's).
fn sqlite_only_store() -> Store {
    let dir = std::env::temp_dir().join(format!("fieldops-conn-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    Store {
        url: format!("sqlite:{}", dir.join("fieldops.db").display()),
        pg_schema: None,
        dir: Some(dir),
    }
}

/// Another writer holding the database's write lock until dropped.
async fn hold_sqlite_write_lock(store: &Store) -> sea_orm::DatabaseTransaction {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let conn = sea_orm::Database::connect(store.url.as_str())
        .await
        .unwrap();
    let tx = conn.begin().await.unwrap();
    tx.execute_unprepared("UPDATE feed_state SET last_seq = last_seq")
        .await
        .unwrap();
    tx
}

/// At its file-descriptor limit (RLIMIT_NOFILE 128, set for the server
/// process) with many more clients knocking, the server keeps serving the
/// connection it has, does not spin in its accept loop (under a fifth of a
/// core over two seconds), and takes new clients again once descriptors
/// are free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_descriptor_limit_open_connections_are_served_and_accept_does_not_spin() {
    use common::process::{cpu_ticks, dispatcher_at, start_binary};
    let store = sqlite_only_store();
    let data = store.dir.clone().unwrap();
    let (mut server, addr) = start_binary(&store, &data, &[], Some((128, 128)));
    let mut d = dispatcher_at(addr).await;
    create(&mut d, "BLOCKAGE").await;

    // More connections than it has descriptors; past them, until the
    // listen queue is full too (a connect then stalls).
    let mut flood = Vec::new();
    for _ in 0..300 {
        match tokio::time::timeout(Duration::from_millis(300), TcpStream::connect(addr)).await {
            Ok(Ok(c)) => flood.push(c),
            _ => break,
        }
    }
    assert!(flood.len() > 128, "only {} connections", flood.len());
    // The open connection is served, promptly.
    let t = tokio::time::timeout(
        Duration::from_secs(5),
        d.create_ticket(create_req("BLOCKAGE")),
    )
    .await
    .expect("an answer within 5 s at the descriptor limit")
    .expect("served");
    assert_eq!(t.into_inner().version, 1);

    // Idle at the limit: no spinning.
    let pid = server.id();
    let before = cpu_ticks(pid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let used = cpu_ticks(pid) - before;
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    assert!(
        used * 5 < 2 * per_second,
        "the server used {used} ticks of CPU in 2 s while idle at its limit"
    );

    // Descriptors free again: new clients are taken.
    drop(flood);
    let mut fresh = dispatcher_at(addr).await;
    let served =
        tokio::time::timeout(Duration::from_secs(10), create(&mut fresh, "BLOCKAGE")).await;
    assert!(
        served.is_ok(),
        "a new client is served once descriptors are free"
    );
    server.kill().unwrap();
    server.wait().unwrap();
    std::fs::remove_dir_all(data).ok();
}

/// The server raises its soft open-files limit to the hard one at start:
/// each connection holds a descriptor, and a soft limit of 1,024 (a common
/// default) would cap the 10,000 connections it is set for. Started with
/// soft 256 and hard 512, it runs with 512 and 512.
#[tokio::test]
async fn the_server_raises_its_open_files_limit_to_the_hard_limit() {
    use common::process::start_binary;
    let store = sqlite_only_store();
    let data = store.dir.clone().unwrap();
    let (mut server, _) = start_binary(&store, &data, &[], Some((256, 512)));
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.id()));
    server.kill().unwrap();
    server.wait().unwrap();
    std::fs::remove_dir_all(data).ok();
    let limits = limits.unwrap();
    let open_files: Vec<&str> = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .expect("the open-files line")
        .split_whitespace()
        .take(2)
        .collect();
    assert_eq!(open_files, ["512", "512"], "{limits}");
}
