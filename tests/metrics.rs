//! Prometheus metrics (issue 16): `--metrics-listen` serves them over plain
//! HTTP, and the names move as the server works: calls by method and code
//! with their latency, the database pools, the deadline monitor (passes,
//! breaches, lag), the feed window, Watch streams, Push batches and their
//! outcomes. Alone in its binary: the recorder is the process's, so no
//! other test's calls move these counters.
mod common;

use common::scrape::{scrape, value};
use common::*;
use fieldops::domain::Role;
use fieldops::grpc::pb;
use tokio_stream::StreamExt;

const CREATE: &str = "/fieldops.v1.TicketService/CreateTicket";

#[tokio::test]
async fn the_metrics_move_as_the_server_works() {
    let app = spawn_tuned("water", fresh_store().await, |c| {
        c.edge.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let addr = app.handles.metrics_addr.expect("metrics listener");
    let before = scrape(addr).await;
    assert!(
        before.contains("# HELP fieldops_grpc_requests_total Calls answered"),
        "described: {before}"
    );
    assert_eq!(
        value(
            &before,
            "fieldops_grpc_requests_total",
            &[("method", CREATE), ("code", "OK")]
        ),
        0.0
    );

    // Calls: two tickets made, one refused (no address).
    let mut d = app.dispatcher().await;
    let t = dispatched_ticket(&app, "METER_FAULT").await;
    create(&mut d, "METER_FAULT").await;
    let refused = d
        .create_ticket(pb::CreateTicketRequest {
            address: String::new(),
            ..create_req("METER_FAULT")
        })
        .await;
    assert!(refused.is_err());
    // A Watch stream stays open while we scrape.
    let mut sync = pb::sync_service_client::SyncServiceClient::with_interceptor(
        app.channel().await,
        bearer_for("d1", &[Role::Dispatcher], "hq"),
    );
    let mut watch = sync
        .watch(pb::WatchRequest::default())
        .await
        .unwrap()
        .into_inner();
    watch.next().await.unwrap().unwrap();
    // A Push batch of one claim, sent twice: APPLIED, then a replay.
    let claim = pb::mutation::Request::Claim(pb::ClaimTicketRequest {
        request_id: rid(),
        ticket_id: t.id.clone(),
        ..Default::default()
    });
    let (first, replay) = push_and_replay(&app, "c1", Role::Crew, vec![claim]).await;
    // A monitor pass far past the arrival deadline records a breach.
    app.clock.advance(chrono::Duration::days(3));
    let breaches = app.run_monitor().await;
    assert!(breaches > 0);

    let after = scrape(addr).await;
    let calls = |code| {
        value(
            &after,
            "fieldops_grpc_requests_total",
            &[("method", CREATE), ("code", code)],
        )
    };
    assert_eq!(calls("OK"), 2.0, "{after}");
    assert_eq!(calls("INVALID_ARGUMENT"), 1.0);
    assert_eq!(
        value(
            &after,
            "fieldops_grpc_request_duration_seconds_count",
            &[("method", CREATE)]
        ),
        3.0
    );
    assert!(
        value(
            &after,
            "fieldops_grpc_request_duration_seconds_bucket",
            &[("method", CREATE), ("le", "+Inf")]
        ) == 3.0
    );
    let pool = if is_postgres() { "postgres" } else { "writer" };
    assert!(
        value(
            &after,
            "fieldops_db_pool_connections",
            &[("pool", pool), ("state", "idle")]
        ) + value(
            &after,
            "fieldops_db_pool_connections",
            &[("pool", pool), ("state", "in_use")]
        ) >= 1.0,
        "{after}"
    );
    assert!(
        value(
            &after,
            "fieldops_db_pool_max_connections",
            &[("pool", pool)]
        ) >= 1.0
    );
    assert_eq!(
        value(
            &after,
            "fieldops_monitor_passes_total",
            &[("outcome", "ok")]
        ),
        1.0
    );
    assert_eq!(
        value(&after, "fieldops_monitor_breaches_total", &[]),
        breaches as f64
    );
    assert!(after.contains("fieldops_monitor_lag_seconds "), "{after}");
    // The window takes commits in from its tailer, in the background. The
    // open Watch is served from the window: once it delivers the ticket's
    // latest version (the breach), the window holds every change before it
    // (the tickets, the claim and the breach: at least 4).
    let latest = get(&app, &t.id).await.version;
    loop {
        let event = tokio::time::timeout(std::time::Duration::from_secs(10), watch.next())
            .await
            .expect("the breach on the Watch within 10 s")
            .unwrap()
            .unwrap();
        if let Some(pb::watch_response::Event::Change(c)) = event.event
            && let Some(pb::change::Entity::Ticket(seen)) = c.entity
            && seen.id == t.id
            && seen.version >= latest
        {
            break;
        }
    }
    let window = value(&scrape(addr).await, "fieldops_feed_window_changes", &[]);
    assert!(window >= 4.0, "{window} changes in the window");
    assert!(value(&scrape(addr).await, "fieldops_feed_window_bytes", &[]) > 0.0);
    assert_eq!(value(&after, "fieldops_watch_streams", &[]), 1.0);
    assert_eq!(value(&after, "fieldops_push_batches_total", &[]), 2.0);
    let outcome = |o: pb::MutationOutcome| {
        value(
            &after,
            "fieldops_push_mutations_total",
            &[("outcome", o.as_str_name())],
        )
    };
    assert_eq!(
        outcome(first[0]),
        if first[0] == replay[0] { 2.0 } else { 1.0 }
    );
    assert_eq!(
        outcome(replay[0]),
        if first[0] == replay[0] { 2.0 } else { 1.0 }
    );

    // A path no service has is counted as "unknown", not by its name, so
    // a scanner cannot grow the label set.
    assert_eq!(
        call_path(&app, "/fieldops.v1.Nope/Scan").await,
        tonic::Code::Unimplemented
    );
    // A made-up method of a real service, without a token: refused by the
    // service's interceptor before the router finds no method.
    let made_up_code = call_path(&app, "/fieldops.v1.TicketService/Scan123").await;
    // A watcher that cancels its Watch, its connection still open (the
    // `sync` client keeps it), frees the stream on the server: hyper sees
    // the reset and drops the Watch's stream.
    drop(watch);
    let open = || async { value(&scrape(addr).await, "fieldops_watch_streams", &[]) };
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while open().await != 0.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the cancelled Watch still open after 10 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    sync.pull(pb::PullRequest::default()).await.unwrap();
    let last = scrape(addr).await;
    assert!(
        !last.contains("Nope") && !last.contains("Scan123"),
        "{last}"
    );
    assert_eq!(
        value(
            &last,
            "fieldops_grpc_requests_total",
            &[("method", "unknown"), ("code", "UNIMPLEMENTED")]
        ),
        if made_up_code == tonic::Code::Unimplemented {
            2.0
        } else {
            1.0
        }
    );
    let total_unknown: f64 = last
        .lines()
        .filter(|l| l.starts_with("fieldops_grpc_requests_total{method=\"unknown\""))
        .map(|l| l.rsplit_once(' ').unwrap().1.parse::<f64>().unwrap())
        .sum();
    assert_eq!(total_unknown, 2.0, "{last}");
    app.stop().await;
}

/// The code a call to `path` (no token, an empty GetTicket body) gets.
async fn call_path(app: &TestApp, path: &'static str) -> tonic::Code {
    let mut grpc = tonic::client::Grpc::new(app.channel().await);
    grpc.ready().await.unwrap();
    let answer: Result<tonic::Response<pb::Ticket>, _> = grpc
        .unary(
            tonic::Request::new(pb::GetTicketRequest::default()),
            http::uri::PathAndQuery::from_static(path),
            tonic_prost::ProstCodec::default(),
        )
        .await;
    answer.expect_err("a call to a path no method has").code()
}
