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
