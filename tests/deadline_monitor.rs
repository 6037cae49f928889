//! Clocks that enforce themselves (DOMAIN.md section 3): a deadline that
//! passes unmet is recorded once, escalates, and shows in the audit trail,
//! the ticket list and the change feed; two monitors on one database still
//! record each breach once. The servers run on manual clocks; each test
//! runs the monitor's passes itself. Expected deadlines are the water
//! profile's numbers (R-SLA-2, R-SLA-3, R-TKT-9), not the server's answers.
mod common;

use chrono::Duration;
use common::*;
use fieldops::grpc::pb;

#[tokio::test]
async fn each_clock_breaches_once_after_its_deadline_and_not_before() {
    let app = spawn_with_monitor(fresh_store().await).await;
    let mut c = app.crew("c1", "north").await;
    let mut d = app.dispatcher().await;

    // R-SLA-3 accept: 3 min after dispatch at the water hotline.
    let t = dispatched_ticket(&app, "METER_FAULT").await;
    breaches_once_after(&app, &t.id, app.now() + Duration::minutes(3), "ACCEPT", 0).await;
    let after = get(&app, &t.id).await;
    assert!(after.breached);
    assert_eq!(after.escalation_level, 1);
    assert_eq!(after.version, t.version + 1);

    // R-SLA-2 arrive (12 h from the call for a meter fault): claimed in
    // time, never arrived.
    let t = dispatched_ticket(&app, "METER_FAULT").await;
    claim(&mut c, &t.id).await.unwrap();
    let arrive_by = time(&t.received_at) + Duration::hours(12);
    breaches_once_after(&app, &t.id, arrive_by, "ARRIVE", 0).await;

    // R-SLA-2 resolve (36 h from the call): on site in time, not resolved.
    let t = dispatched_ticket(&app, "METER_FAULT").await;
    claim(&mut c, &t.id).await.unwrap();
    arrive(&mut c, &t.id).await;
    let resolve_by = time(&t.received_at) + Duration::hours(36);
    breaches_once_after(&app, &t.id, resolve_by, "RESOLVE", 0).await;

    // R-TKT-9 revisit (water: 24 h after resolution): no call-back.
    let t = dispatched_ticket(&app, "METER_FAULT").await;
    claim(&mut c, &t.id).await.unwrap();
    arrive(&mut c, &t.id).await;
    let resolved_at = app.now();
    let t = complete(&mut c, &t.id).await;
    let revisit_by = resolved_at + Duration::hours(24);
    breaches_once_after(&app, &t.id, revisit_by, "REVISIT", 0).await;

    // A met clock never breaches: called back in time, then far past revisit_by.
    let t = dispatched_ticket(&app, "METER_FAULT").await;
    claim(&mut c, &t.id).await.unwrap();
    arrive(&mut c, &t.id).await;
    let t = complete(&mut c, &t.id).await;
    d.record_revisit(pb::RecordRevisitRequest {
        request_id: rid(),
        ticket_id: t.id.clone(),
        outcome: pb::RevisitOutcome::Satisfied as i32,
        ..Default::default()
    })
    .await
    .unwrap();
    app.clock.set(time(&t.revisit_by) + Duration::days(3));
    app.run_monitor().await;
    assert!(breach_events(&app, &t.id).await.is_empty());
}

/// R-TKT-7: an appointment moves the arrival deadline, and the arrive clock
/// breaches at the appointment, not at the original deadline.
#[tokio::test]
async fn appointment_moves_the_arrive_breach() {
    let app = spawn_with_monitor(fresh_store().await).await;
    let mut c = app.crew("c1", "north").await;
    let t = dispatched_ticket(&app, "LOW_PRESSURE").await; // arrive 1 h or appointment
    claim(&mut c, &t.id).await.unwrap();
    let when = app.now() + Duration::hours(30);
    schedule(&mut c, &t.id, when).await;
    app.clock
        .set(time(&t.received_at) + Duration::hours(1) + Duration::hours(2));
    app.run_monitor().await;
    assert!(
        breach_events(&app, &t.id).await.is_empty(),
        "the original arrive_by no longer counts"
    );
    breaches_once_after(&app, &t.id, when, "ARRIVE", 0).await;
}

/// The breach reaches the ticket list filter and the change feed.
#[tokio::test]
async fn breaches_show_in_lists_and_the_feed() {
    let app = spawn_with_monitor(fresh_store().await).await;
    let t = dispatched_ticket(&app, "METER_FAULT").await;
    app.clock.set(time(&t.accept_by) + Duration::seconds(1));
    wait_for_breaches(&app, &t.id, 1).await;
    let mut d = app.dispatcher().await;
    let listed = d
        .list_tickets(pb::ListTicketsRequest {
            breached: Some(true),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .tickets;
    assert_eq!(
        listed.iter().map(|x| x.id.as_str()).collect::<Vec<_>>(),
        [t.id.as_str()]
    );
    let bearer = format!(
        "Bearer {}",
        token("d1", &[fieldops::domain::Role::Dispatcher], "hq")
    );
    let mut sync = pb::sync_service_client::SyncServiceClient::with_interceptor(
        app.channel().await,
        Bearer(Some(bearer.parse().unwrap())),
    );
    let changes = sync
        .pull(pb::PullRequest::default())
        .await
        .unwrap()
        .into_inner()
        .changes;
    let last = changes.last().and_then(|c| c.entity.clone());
    match last {
        Some(pb::change::Entity::Ticket(x)) => {
            assert_eq!(x.id, t.id);
            assert!(x.breached);
        }
        other => panic!("{other:?}"),
    }
}

/// Two server instances (two monitors) on one database racing over the same
/// due tickets: each breach is recorded once. The passes start together
/// behind a barrier, so both really overlap.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_monitors_record_each_breach_once() {
    let store = fresh_store().await;
    let a = spawn_with_monitor(store.clone()).await;
    let b = spawn_with_monitor(store).await;
    b.clock.set(a.now());
    let mut ids = Vec::new();
    for _ in 0..30 {
        ids.push(dispatched_ticket(&a, "METER_FAULT").await.id);
    }
    // Both monitors find all 30 due at once: accept (3 min) and arrive (12 h) have passed.
    let due = a.now() + Duration::hours(13);
    a.clock.set(due);
    b.clock.set(due);
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
    let passes = [a.handles.monitor.clone(), b.handles.monitor.clone()].map(|monitor| {
        let barrier = barrier.clone();
        tokio::spawn(async move {
            barrier.wait().await;
            monitor.tick().await.expect("monitor pass")
        })
    });
    let mut recorded = 0;
    for pass in passes {
        recorded += pass.await.unwrap();
    }
    assert_eq!(
        recorded,
        ids.len(),
        "each ticket's breach written by one monitor"
    );
    // Later passes of either find nothing left to record.
    assert_eq!(a.run_monitor().await + b.run_monitor().await, 0);
    for id in &ids {
        let ev = breach_events(&a, id).await;
        assert_eq!(ev.len(), 1, "ticket {id}");
        assert!(ev[0].details_json.contains("ACCEPT") && ev[0].details_json.contains("ARRIVE"));
        assert_eq!(
            get(&a, id).await.escalation_level,
            2,
            "one level per passed clock"
        );
    }
}
