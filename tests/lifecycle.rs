//! The whole ticket lifecycle end to end over gRPC, on both policy profiles.
mod common;

use common::*;
use fieldops::grpc::pb;

async fn full_lifecycle(policy: &str, category: &str) {
    let app = spawn_app_with_policy(policy).await;
    let mut d = app.dispatcher().await;
    let mut crew = app.crew("c1", "north").await;

    // R-TKT-1: intake with deadlines from the profile.
    let t = create(&mut d, category).await;
    assert_eq!(t.state(), pb::TicketState::New);
    assert_eq!(t.policy_profile, policy);
    assert_eq!(t.received_by, "d1");
    assert!(t.arrive_by.is_some() && t.resolve_by.is_some());

    let t = dispatch(&mut d, &t.id, "north").await;
    assert_eq!(t.state(), pb::TicketState::Dispatched);
    assert!(
        t.accept_by.is_some(),
        "R-SLA-3 accept clock starts at dispatch"
    );

    let t = claim(&mut crew, &t.id).await.unwrap();
    assert_eq!(t.state(), pb::TicketState::Claimed);
    assert_eq!(t.assignee, "c1");
    assert!(!t.caller_masked, "the holder sees the caller (R-TKT-13)");

    let t = arrive(&mut crew, &t.id).await;
    assert_eq!(t.state(), pb::TicketState::OnSite);
    assert!(t.arrival.as_ref().unwrap().verified);

    let t = complete(&mut crew, &t.id).await;
    assert_eq!(t.state(), pb::TicketState::Resolved);
    assert!(
        t.revisit_by.is_some(),
        "R-TKT-9 revisit clock starts at resolution"
    );

    let t = d
        .record_revisit(pb::RecordRevisitRequest {
            request_id: rid(),
            ticket_id: t.id.clone(),
            outcome: pb::RevisitOutcome::Satisfied as i32,
            notes: "warm now".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(t.state(), pb::TicketState::Closed);
    assert_eq!(t.version, 6);

    // R-TKT-12: the full audit trail, in order, one event per change.
    let ev = events(&app, &t.id).await;
    let kinds: Vec<_> = ev.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "CREATED",
            "DISPATCHED",
            "CLAIMED",
            "ARRIVED",
            "RESOLVED",
            "REVISITED"
        ]
    );
    let versions: Vec<_> = ev.iter().map(|e| e.ticket_version).collect();
    assert_eq!(versions, [1, 2, 3, 4, 5, 6]);
    assert_eq!(ev[2].actor_sub, "c1");
    assert_eq!(ev[2].actor_role, "crew");
    assert_eq!(ev.last().unwrap().to_state(), pb::TicketState::Closed);
    app.stop().await;
}

#[tokio::test]
async fn heating_lifecycle_end_to_end() {
    full_lifecycle("heating", "BUILDING_NO_HEAT").await;
}

#[tokio::test]
async fn water_lifecycle_end_to_end() {
    full_lifecycle("water", "METER_FAULT").await;
}

/// Every time the server hands out is the time it stores (microseconds):
/// with the real clock, a write's answer equals the ticket read back, in
/// GetTicket, in the change feed and after a restart, so a handheld's copy
/// equals the server's.
#[tokio::test]
async fn a_write_answers_the_times_it_stores() {
    let store = fresh_store().await;
    let real = |c: &mut fieldops::config::Config| {
        c.clock = std::sync::Arc::new(fieldops::service::SystemClock);
    };
    let app = spawn_tuned("heating", store.clone(), real).await;
    let mut d = app.dispatcher().await;
    let created = create(&mut d, "BUILDING_NO_HEAT").await;
    let dispatched = dispatch(&mut d, &created.id, "north").await;
    assert_eq!(get(&app, &created.id).await, dispatched);
    for t in [&created, &dispatched] {
        let created_at = t.create_time.as_ref().unwrap();
        assert_eq!(created_at.nanos % 1000, 0, "microseconds: {created_at:?}");
    }
    let mut sync = fieldops::grpc::pb::sync_service_client::SyncServiceClient::with_interceptor(
        app.channel().await,
        Bearer(Some(
            format!(
                "Bearer {}",
                token("d1", &[fieldops::domain::Role::Dispatcher], "hq")
            )
            .parse()
            .unwrap(),
        )),
    );
    let changes = sync
        .pull(fieldops::grpc::pb::PullRequest::default())
        .await
        .unwrap()
        .into_inner()
        .changes;
    let fed: Vec<_> = changes
        .into_iter()
        .filter_map(|c| match c.entity {
            Some(fieldops::grpc::pb::change::Entity::Ticket(t)) => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(fed, [created.clone(), dispatched.clone()]);
    app.stop().await;
    let app = spawn_tuned("heating", store, real).await;
    assert_eq!(get(&app, &created.id).await, dispatched);
    app.stop().await;
}
