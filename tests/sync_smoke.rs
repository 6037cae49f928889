//! A first end-to-end pass over SyncService: a crew's queued claim and
//! arrival pushed, replayed, and seen by Pull and Watch.
mod common;

use common::*;
use fieldops::domain::Role;
use fieldops::grpc::pb::{self, sync_service_client::SyncServiceClient};
use tokio_stream::StreamExt;

type Sync = SyncServiceClient<
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, Bearer>,
>;

async fn sync_client(app: &TestApp, sub: &str, roles: &[Role], unit: &str) -> Sync {
    let bearer = format!("Bearer {}", token(sub, roles, unit));
    SyncServiceClient::with_interceptor(app.channel().await, Bearer(Some(bearer.parse().unwrap())))
}

#[tokio::test]
async fn push_pull_watch_round_trip() {
    let app = spawn_app().await;
    let t = dispatched_ticket(&app, "NETWORK_LEAK").await;
    let mut watcher = sync_client(&app, "d1", &[Role::Dispatcher], "hq").await;
    let mut stream = watcher
        .watch(pb::WatchRequest::default())
        .await
        .unwrap()
        .into_inner();

    let mut crew = sync_client(&app, "c1", &[Role::Crew], "north").await;
    let batch = pb::PushRequest {
        client_id: "handheld-c1".into(),
        mutations: vec![
            pb::Mutation {
                mutation_id: 1,
                request: Some(pb::mutation::Request::Claim(pb::ClaimTicketRequest {
                    request_id: rid(),
                    ticket_id: t.id.clone(),
                    ..Default::default()
                })),
            },
            pb::Mutation {
                mutation_id: 2,
                request: Some(pb::mutation::Request::Arrival(pb::RecordArrivalRequest {
                    request_id: rid(),
                    ticket_id: t.id.clone(),
                    location: point(HOME.0, HOME.1),
                    accuracy_m: 5.0,
                    ..Default::default()
                })),
            },
        ],
    };
    let first = crew.push(batch.clone()).await.unwrap().into_inner();
    let outcomes: Vec<_> = first.results.iter().map(|r| r.outcome()).collect();
    assert_eq!(
        outcomes,
        [pb::MutationOutcome::Applied, pb::MutationOutcome::Applied]
    );
    assert_eq!(first.last_mutation_id, 2);
    let again = crew.push(batch).await.unwrap().into_inner();
    let outcomes: Vec<_> = again.results.iter().map(|r| r.outcome()).collect();
    assert_eq!(
        outcomes,
        [
            pb::MutationOutcome::Duplicate,
            pb::MutationOutcome::Duplicate
        ]
    );
    assert_eq!(again.results[1].result, first.results[1].result);
    assert_eq!(
        events(&app, &t.id).await.len(),
        4,
        "created, dispatched, claimed, arrived: once each"
    );

    let page = crew
        .pull(pb::PullRequest {
            client_id: "handheld-c1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.last_mutation_id, 2);
    let versions: Vec<_> = page
        .changes
        .iter()
        .map(|c| match &c.entity {
            Some(pb::change::Entity::Ticket(t)) => t.version,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        versions,
        [2, 3, 4],
        "the crew sees its unit's ticket from dispatch on"
    );

    // The watcher sees the ticket's four versions in order, each once: it
    // gets them within a bounded time, and the checkpoint that follows them
    // (the stream is caught up) comes before any further change.
    let mut seen = Vec::new();
    while seen.len() < 4 {
        if let pb::watch_response::Event::Change(c) = next_event(&mut stream).await {
            seen.push(c);
        }
    }
    let versions: Vec<_> = seen
        .iter()
        .map(|c| match &c.entity {
            Some(pb::change::Entity::Ticket(x)) if x.id == t.id => x.version,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        versions,
        [1, 2, 3, 4],
        "created, dispatched, claimed, arrived"
    );
    match next_event(&mut stream).await {
        pb::watch_response::Event::Checkpoint(_) => {}
        pb::watch_response::Event::Change(c) => panic!("a fifth change: {c:?}"),
    }
}

/// The next Watch event, within 10 s.
async fn next_event(stream: &mut tonic::Streaming<pb::WatchResponse>) -> pb::watch_response::Event {
    tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
        .await
        .expect("a Watch event within 10 s")
        .expect("the stream is open")
        .expect("no error")
        .event
        .expect("an event")
}
