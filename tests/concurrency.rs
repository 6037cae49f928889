//! R-TKT-4: of N concurrent claims on one ticket exactly one wins, whether
//! the claims reach one server, two server instances, or two server
//! processes sharing one database. Races are started together with a barrier.
mod common;

use common::*;
use fieldops::grpc::pb;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::Barrier;
use tonic::Code;

const RACERS: usize = 50;

/// Race RACERS claims, racer i on `urls[i % urls.len()]`; return the results in racer order.
async fn race_claims(urls: &[String], ticket_id: &str) -> Vec<Result<pb::Ticket, tonic::Status>> {
    let barrier = Arc::new(Barrier::new(RACERS));
    let mut tasks = Vec::new();
    for i in 0..RACERS {
        let channel = tonic::transport::Channel::from_shared(urls[i % urls.len()].clone())
            .unwrap()
            .connect()
            .await
            .unwrap();
        let bearer = format!(
            "Bearer {}",
            token(&format!("c{i}"), &[fieldops::domain::Role::Crew], "north")
        );
        let mut client = pb::ticket_service_client::TicketServiceClient::with_interceptor(
            channel,
            Bearer(Some(bearer.parse().unwrap())),
        );
        let (barrier, id) = (barrier.clone(), ticket_id.to_string());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            claim(&mut client, &id).await
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    results
}

/// Exactly one winner; every loser told TICKET_ALREADY_CLAIMED; the stored
/// ticket is held by the winner and has exactly one CLAIMED event.
async fn assert_one_winner(
    app: &TestApp,
    ticket_id: &str,
    results: &[Result<pb::Ticket, tonic::Status>],
) {
    let winners: Vec<_> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| r.is_ok())
        .collect();
    assert_eq!(winners.len(), 1, "exactly one claim wins: {results:?}");
    for r in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_status(r, Code::Aborted, "TICKET_ALREADY_CLAIMED", None);
    }
    let winner = format!("c{}", winners[0].0);
    let t = get(app, ticket_id).await;
    assert_eq!(t.state(), pb::TicketState::Claimed);
    assert_eq!(t.assignee, winner);
    let claimed = events(app, ticket_id)
        .await
        .into_iter()
        .filter(|e| e.kind == "CLAIMED")
        .count();
    assert_eq!(claimed, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn r_tkt_4_fifty_concurrent_claims_one_server() {
    let app = spawn_app().await;
    let t = dispatched_ticket(&app, "NETWORK_LEAK").await;
    let results = race_claims(&[app.url()], &t.id).await;
    assert_one_winner(&app, &t.id, &results).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn r_tkt_4_fifty_concurrent_claims_two_instances_one_database() {
    let a = spawn_app().await;
    let b = spawn_sharing(&a).await;
    for _round in 0..3 {
        let t = dispatched_ticket(&a, "NETWORK_LEAK").await;
        let results = race_claims(&[a.url(), b.url()], &t.id).await;
        assert_one_winner(&b, &t.id, &results).await;
    }
}

/// A `fieldops serve` child process; killed when dropped.
struct ServerProcess {
    _child: tokio::process::Child,
    url: String,
}

async fn start_process(database_url: &str, data_dir: &std::path::Path) -> ServerProcess {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_fieldops"))
        .args(["serve", "--listen", "127.0.0.1:0", "--units", "north"])
        .env("FIELDOPS_DATABASE_URL", database_url)
        .env("FIELDOPS_DATA_DIR", data_dir)
        .env("FIELDOPS_JWT_SECRET", std::str::from_utf8(SECRET).unwrap())
        .env("FIELDOPS_SQLITE_SYNCHRONOUS", "normal")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start fieldops serve");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("server printed its address");
        if let Some(rest) = line.strip_prefix("fieldops listening on ") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    // Keep draining stdout so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    ServerProcess {
        _child: child,
        url: format!("http://{addr}"),
    }
}

async fn wait_serving(url: &str) {
    for _ in 0..400 {
        if let Ok(ch) = tonic::transport::Channel::from_shared(url.to_string())
            .unwrap()
            .connect()
            .await
        {
            let mut h = tonic_health::pb::health_client::HealthClient::new(ch);
            let req = tonic_health::pb::HealthCheckRequest {
                service: String::new(),
            };
            if h.check(req).await.is_ok() {
                return;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("{url} never became ready");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn r_tkt_4_fifty_concurrent_claims_two_processes_one_database() {
    let dir = std::env::temp_dir().join(format!("fieldops-proc-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    // A database of its own: a fresh PostgreSQL database, or a SQLite file
    // that both processes open (then BEGIN IMMEDIATE + busy timeout arbitrate).
    let (url, pg_db) = match std::env::var("FIELDOPS_TEST_DATABASE_URL") {
        Ok(base) if base.starts_with("postgres") => {
            use sea_orm::ConnectionTrait;
            let name = format!("fieldops_proc_{}", uuid::Uuid::new_v4().simple());
            let admin = sea_orm::Database::connect(base.as_str()).await.unwrap();
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .unwrap();
            admin.close().await.ok();
            let (prefix, _) = base.rsplit_once('/').unwrap();
            (format!("{prefix}/{name}"), Some((base, name)))
        }
        _ => (format!("sqlite:{}", dir.join("shared.db").display()), None),
    };
    let first = start_process(&url, &dir.join("a")).await;
    wait_serving(&first.url).await; // the first one has migrated the schema
    let second = start_process(&url, &dir.join("b")).await;
    wait_serving(&second.url).await;

    let mut d = pb::ticket_service_client::TicketServiceClient::with_interceptor(
        tonic::transport::Channel::from_shared(first.url.clone())
            .unwrap()
            .connect()
            .await
            .unwrap(),
        Bearer(Some(
            format!(
                "Bearer {}",
                token("d1", &[fieldops::domain::Role::Dispatcher], "hq")
            )
            .parse()
            .unwrap(),
        )),
    );
    for _ in 0..2 {
        let t = create(&mut d, "NETWORK_LEAK").await;
        dispatch(&mut d, &t.id, "north").await;
        let results = race_claims(&[first.url.clone(), second.url.clone()], &t.id).await;
        let winners: Vec<_> = results
            .iter()
            .enumerate()
            .filter(|(_, r)| r.is_ok())
            .map(|(i, _)| i)
            .collect();
        assert_eq!(winners.len(), 1, "{results:?}");
        for r in results.iter().filter_map(|r| r.as_ref().err()) {
            assert_status(r, Code::Aborted, "TICKET_ALREADY_CLAIMED", None);
        }
        let got = d
            .get_ticket(pb::GetTicketRequest {
                ticket_id: t.id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(got.assignee, format!("c{}", winners[0]));
        let ev = d
            .list_ticket_events(pb::ListTicketEventsRequest {
                ticket_id: t.id.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .events;
        assert_eq!(ev.iter().filter(|e| e.kind == "CLAIMED").count(), 1);
    }

    drop(first);
    drop(second);
    if let Some((base, name)) = pg_db {
        use sea_orm::ConnectionTrait;
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let admin = sea_orm::Database::connect(base.as_str()).await.unwrap();
        admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await
            .unwrap();
        admin.close().await.ok();
    }
    let _ = std::fs::remove_dir_all(dir);
}
