//! AIP-155 request ids and optimistic concurrency over real gRPC.
//!
//! Every mutating TicketService RPC carries a client-chosen `request_id`: the
//! id is claimed in the same transaction as the change and the response is
//! stored with it, so a retry with the same id and body returns the original
//! response and changes nothing (no second version, no second audit event,
//! R-TKT-12), while the same id with another body, on another RPC or from
//! another caller is ALREADY_EXISTS / REQUEST_ID_REUSED. `expected_version`
//! gives optimistic concurrency: a mismatch is ABORTED / VERSION_MISMATCH.
mod common;

use common::*;
use fieldops::domain::Role;
use fieldops::grpc::pb;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::Barrier;
use tonic::{Code, Response, Status};

/// What can be observed of one ticket: GetTicket (as a dispatcher sees it)
/// and its whole audit trail (R-TKT-12).
#[derive(Debug, Clone, PartialEq)]
struct Snapshot {
    ticket: pb::Ticket,
    events: Vec<pb::TicketEvent>,
}

async fn snapshot(app: &TestApp, id: &str) -> Snapshot {
    Snapshot {
        ticket: get(app, id).await,
        events: events(app, id).await,
    }
}

/// AIP-155: the same request_id with another body, RPC or caller.
fn assert_reused(s: &Status) {
    assert_status(s, Code::AlreadyExists, "REQUEST_ID_REUSED", None);
}

/// The response as the dispatcher would see it: the caller-dependent
/// R-TKT-13 fields (masking, complaint subject) taken from `seen`.
fn as_seen_by_dispatcher(mut t: pb::Ticket, seen: &pb::Ticket) -> pb::Ticket {
    t.caller_name = seen.caller_name.clone();
    t.caller_phone = seen.caller_phone.clone();
    t.caller_masked = seen.caller_masked;
    t.subject_staff_id = seen.subject_staff_id.clone();
    t
}

/// The AIP-155 contract for one mutating RPC on ticket `ticket_id`:
/// 1. `req` succeeds: version + 1, exactly one new event carrying `request_id`;
/// 2. `req` again (same request_id): the very same response, nothing changed;
/// 3. `other` (same request_id, another body): ALREADY_EXISTS
///    REQUEST_ID_REUSED, nothing changed.
///
/// Returns the first response.
async fn check_idempotent<Req, F, Fut>(
    app: &TestApp,
    client: &Client,
    ticket_id: &str,
    request_id: &str,
    req: Req,
    other: Req,
    send: F,
) -> pb::Ticket
where
    Req: Clone,
    F: Fn(Client, Req) -> Fut,
    Fut: Future<Output = Result<Response<pb::Ticket>, Status>>,
{
    let before = snapshot(app, ticket_id).await;

    let first = send(client.clone(), req.clone())
        .await
        .unwrap_or_else(|s| panic!("first request failed: {s:?}"))
        .into_inner();
    assert_eq!(first.id, ticket_id);
    assert_eq!(
        first.version,
        before.ticket.version + 1,
        "a change bumps the version"
    );
    let after = snapshot(app, ticket_id).await;
    assert_eq!(after.ticket.version, first.version);
    assert_eq!(
        as_seen_by_dispatcher(first.clone(), &after.ticket),
        after.ticket,
        "the response is the stored ticket"
    );
    // R-TKT-12: exactly one event for the change, with the request id.
    assert_eq!(
        after.events.len(),
        before.events.len() + 1,
        "one event per change"
    );
    let ev = after.events.last().unwrap();
    assert_eq!(ev.ticket_version, first.version);
    assert_eq!(ev.request_id, request_id);

    // AIP-155: the retry returns the stored response and changes nothing.
    let second = send(client.clone(), req.clone())
        .await
        .unwrap_or_else(|s| panic!("replay failed: {s:?}"))
        .into_inner();
    assert_eq!(
        second, first,
        "a replay returns the original response exactly"
    );
    assert_eq!(
        snapshot(app, ticket_id).await,
        after,
        "a replay changes nothing"
    );

    // A third identical retry: still the same.
    let third = send(client.clone(), req).await.unwrap().into_inner();
    assert_eq!(third, first);

    // AIP-155: the same id with another body.
    let err = send(client.clone(), other)
        .await
        .expect_err("the same request_id with another body must be refused");
    assert_reused(&err);
    assert_eq!(
        snapshot(app, ticket_id).await,
        after,
        "a refused reuse changes nothing"
    );
    first
}

async fn claimed_ticket(app: &TestApp, category: &str) -> pb::Ticket {
    let t = dispatched_ticket(app, category).await;
    let mut c1 = app.crew("c1", "north").await;
    claim(&mut c1, &t.id).await.unwrap()
}

async fn on_site_ticket(app: &TestApp, category: &str) -> pb::Ticket {
    let t = claimed_ticket(app, category).await;
    let mut c1 = app.crew("c1", "north").await;
    arrive(&mut c1, &t.id).await
}

async fn resolved_ticket(app: &TestApp, category: &str) -> pb::Ticket {
    let t = on_site_ticket(app, category).await;
    let mut c1 = app.crew("c1", "north").await;
    complete(&mut c1, &t.id).await
}

// ---------------------------------------------------------------------------
// Replay and reuse, one test per mutating RPC (AIP-155).
// ---------------------------------------------------------------------------

#[tokio::test]
async fn create_ticket_replay_returns_the_same_ticket_and_creates_one() {
    let app = spawn_app().await;
    let mut d = app.dispatcher().await;
    // Some unrelated ticket first, so "one more" is not just "one".
    create(&mut d, "BLOCKAGE").await;
    let n0 = ticket_count(&app).await;

    let req = create_req("BUILDING_NO_HEAT");
    let first = d.create_ticket(req.clone()).await.unwrap().into_inner();
    assert_eq!(first.state(), pb::TicketState::New);
    assert_eq!(ticket_count(&app).await, n0 + 1);
    let after = snapshot(&app, &first.id).await;
    assert_eq!(after.ticket, first, "the response is the stored ticket");
    assert_eq!(after.events.len(), 1);
    assert_eq!(after.events[0].kind, "CREATED");
    assert_eq!(after.events[0].request_id, req.request_id);

    // AIP-155: the retry returns the same ticket, and no second one exists.
    for _ in 0..2 {
        let again = d.create_ticket(req.clone()).await.unwrap().into_inner();
        assert_eq!(
            again, first,
            "a replayed CreateTicket returns the original ticket"
        );
    }
    assert_eq!(ticket_count(&app).await, n0 + 1, "one ticket, not two");
    assert_eq!(snapshot(&app, &first.id).await, after);

    // The same id with another body (address, category, coordinates).
    let others = [
        pb::CreateTicketRequest {
            address: "2 Other Rd".into(),
            ..req.clone()
        },
        pb::CreateTicketRequest {
            category: "BLOCKAGE".into(),
            ..req.clone()
        },
        pb::CreateTicketRequest {
            location: point(39.95, 116.45),
            ..req.clone()
        },
    ];
    for other in others {
        let err = d.create_ticket(other).await.unwrap_err();
        assert_reused(&err);
    }
    assert_eq!(ticket_count(&app).await, n0 + 1);
    assert_eq!(snapshot(&app, &first.id).await, after);
    app.stop().await;
}

#[tokio::test]
async fn dispatch_ticket_is_idempotent() {
    let app = spawn_app().await;
    let mut d = app.dispatcher().await;
    let t = create(&mut d, "BUILDING_NO_HEAT").await;
    let id = rid();
    let req = pb::DispatchTicketRequest {
        request_id: id.clone(),
        ticket_id: t.id.clone(),
        unit: "north".into(),
        ..Default::default()
    };
    let other = pb::DispatchTicketRequest {
        unit: "south".into(),
        ..req.clone()
    };
    let r = check_idempotent(&app, &d, &t.id, &id, req, other, |mut c, r| async move {
        c.dispatch_ticket(r).await
    })
    .await;
    assert_eq!(r.state(), pb::TicketState::Dispatched);
    assert_eq!(r.unit, "north");
    app.stop().await;
}

#[tokio::test]
async fn claim_ticket_is_idempotent() {
    let app = spawn_app().await;
    let t = dispatched_ticket(&app, "BUILDING_NO_HEAT").await;
    let c1 = app.crew("c1", "north").await;
    let id = rid();
    let req = pb::ClaimTicketRequest {
        request_id: id.clone(),
        ticket_id: t.id.clone(),
        device_id: "handheld-7".into(),
        ..Default::default()
    };
    let other = pb::ClaimTicketRequest {
        device_id: "handheld-8".into(),
        ..req.clone()
    };
    let r = check_idempotent(&app, &c1, &t.id, &id, req, other, |mut c, r| async move {
        c.claim_ticket(r).await
    })
    .await;
    assert_eq!(r.state(), pb::TicketState::Claimed);
    assert_eq!(r.assignee, "c1");
    assert!(!r.caller_masked, "the holder sees the caller (R-TKT-13)");
    app.stop().await;
}

#[tokio::test]
async fn return_ticket_is_idempotent() {
    let app = spawn_app().await;
    // R-TKT-5: the crew of north returns a dispatched ticket within 2 h.
    let t = dispatched_ticket(&app, "BUILDING_NO_HEAT").await;
    let c1 = app.crew("c1", "north").await;
    let id = rid();
    let req = pb::ReturnTicketRequest {
        request_id: id.clone(),
        ticket_id: t.id.clone(),
        reason: "not our district".into(),
        ..Default::default()
    };
    let other = pb::ReturnTicketRequest {
        reason: "wrong address".into(),
        ..req.clone()
    };
    let r = check_idempotent(&app, &c1, &t.id, &id, req, other, |mut c, r| async move {
        c.return_ticket(r).await
    })
    .await;
    assert_eq!(r.state(), pb::TicketState::Returned);
    assert_eq!(r.unit, "");
    assert_eq!(r.return_count, 1);
    app.stop().await;
}

#[tokio::test]
async fn schedule_appointment_is_idempotent() {
    let app = spawn_app().await;
    // R-TKT-7: INDOOR_MEASUREMENT allows appointments; resolve within 5 days.
    let t = claimed_ticket(&app, "INDOOR_MEASUREMENT").await;
    let when = app.now() + chrono::Duration::hours(3);
    let c1 = app.crew("c1", "north").await;
    let id = rid();
    let req = pb::ScheduleAppointmentRequest {
        request_id: id.clone(),
        ticket_id: t.id.clone(),
        appointment_time: Some(ts(when)),
        ..Default::default()
    };
    let other = pb::ScheduleAppointmentRequest {
        appointment_time: Some(ts(when + chrono::Duration::hours(1))),
        ..req.clone()
    };
    let r = check_idempotent(&app, &c1, &t.id, &id, req, other, |mut c, r| async move {
        c.schedule_appointment(r).await
    })
    .await;
    assert_eq!(r.state(), pb::TicketState::Claimed);
    assert_eq!(r.appointment_time, Some(ts(when)));
    assert_eq!(
        r.arrive_by,
        Some(ts(when)),
        "the appointment is the arrival deadline"
    );
    app.stop().await;
}

#[tokio::test]
async fn record_arrival_is_idempotent() {
    let app = spawn_app().await;
    let t = claimed_ticket(&app, "BUILDING_NO_HEAT").await;
    let c1 = app.crew("c1", "north").await;
    let id = rid();
    // About 80 m from the ticket's location: distance_m is an arbitrary
    // float, which the replay must return bit for bit.
    let req = pb::RecordArrivalRequest {
        request_id: id.clone(),
        ticket_id: t.id.clone(),
        location: point(HOME.0 + 0.00071, HOME.1 + 0.00013),
        accuracy_m: 7.5,
        device_id: "handheld-7".into(),
        ..Default::default()
    };
    let other = pb::RecordArrivalRequest {
        location: point(HOME.0 + 0.01, HOME.1),
        ..req.clone()
    };
    let r = check_idempotent(&app, &c1, &t.id, &id, req, other, |mut c, r| async move {
        c.record_arrival(r).await
    })
    .await;
    assert_eq!(r.state(), pb::TicketState::OnSite);
    let arrival = r.arrival.unwrap();
    assert!(arrival.verified);
    assert!(
        arrival.distance_m > 50.0 && arrival.distance_m < 120.0,
        "{arrival:?}"
    );
    app.stop().await;
}

/// AIP-155 "the original response, exactly" with a full-precision GPS fix as
/// handhelds report it (a double with 17 significant digits). The stored
/// response (and the ticket's `arrival` column) pass through serde_json,
/// whose default float parser is not exact without its `float_roundtrip`
/// feature: 39.904910012100004 comes back 1 ULP off, as 39.9049100121.
#[tokio::test]
async fn arrival_replay_is_exact_for_a_full_precision_gps_fix() {
    let app = spawn_app().await;
    let t = claimed_ticket(&app, "BUILDING_NO_HEAT").await;
    let mut c1 = app.crew("c1", "north").await;
    let latitude = 39.904910012100004_f64;
    let req = pb::RecordArrivalRequest {
        request_id: rid(),
        ticket_id: t.id.clone(),
        location: point(latitude, HOME.1),
        accuracy_m: 6.0,
        ..Default::default()
    };
    let first = c1.record_arrival(req.clone()).await.unwrap().into_inner();
    let sent = first.arrival.as_ref().unwrap().location.unwrap().latitude;
    assert_eq!(
        sent.to_bits(),
        latitude.to_bits(),
        "the first response echoes the fix"
    );

    let replay = c1.record_arrival(req).await.unwrap().into_inner();
    let replayed = replay.arrival.as_ref().unwrap().location.unwrap().latitude;
    assert_eq!(
        replayed.to_bits(),
        latitude.to_bits(),
        "replayed latitude {replayed:?} != sent {latitude:?}"
    );
    assert_eq!(
        replay, first,
        "a replay returns the original response exactly"
    );
    let stored = get(&app, &t.id).await;
    assert_eq!(
        stored.arrival, first.arrival,
        "the stored arrival is the one recorded"
    );
    app.stop().await;
}

#[tokio::test]
async fn complete_repair_is_idempotent() {
    let app = spawn_app().await;
    let t = on_site_ticket(&app, "BUILDING_NO_HEAT").await;
    let c1 = app.crew("c1", "north").await;
    let id = rid();
    let req = pb::CompleteRepairRequest {
        request_id: id.clone(),
        ticket_id: t.id.clone(),
        resolution: resolution(),
        ..Default::default()
    };
    let mut other_resolution = resolution().unwrap();
    other_resolution.code = "VALVE_REPLACED".into();
    let other = pb::CompleteRepairRequest {
        resolution: Some(other_resolution),
        ..req.clone()
    };
    let r = check_idempotent(&app, &c1, &t.id, &id, req, other, |mut c, r| async move {
        c.complete_repair(r).await
    })
    .await;
    assert_eq!(r.state(), pb::TicketState::Resolved);
    assert_eq!(r.resolution.unwrap().code, "AIR_VENTED");
    app.stop().await;
}

/// R-SLA-5: BLOCKAGE resolves within 24 h; + 2 h stays under intake + 5 days.
fn extension_request(ticket_id: &str) -> pb::RequestExtensionRequest {
    pb::RequestExtensionRequest {
        request_id: rid(),
        ticket_id: ticket_id.into(),
        reason: "waiting for a spare valve".into(),
        extend_by: Some(dur(chrono::Duration::hours(2))),
        ..Default::default()
    }
}

#[tokio::test]
async fn request_extension_is_idempotent() {
    let app = spawn_app().await;
    let t = claimed_ticket(&app, "BLOCKAGE").await;
    let c1 = app.crew("c1", "north").await;
    let req = extension_request(&t.id);
    let id = req.request_id.clone();
    let other = pb::RequestExtensionRequest {
        extend_by: Some(dur(chrono::Duration::hours(3))),
        ..req.clone()
    };
    let r = check_idempotent(&app, &c1, &t.id, &id, req, other, |mut c, r| async move {
        c.request_extension(r).await
    })
    .await;
    let x = r.extension.unwrap();
    assert_eq!(x.state(), pb::ExtensionState::Pending);
    assert_eq!(x.requested_by, "c1");
    assert_eq!(
        r.resolve_by, t.resolve_by,
        "resolve_by moves only on approval"
    );
    app.stop().await;
}

#[tokio::test]
async fn decide_extension_is_idempotent() {
    let app = spawn_app().await;
    let t = claimed_ticket(&app, "BLOCKAGE").await;
    let mut c1 = app.crew("c1", "north").await;
    c1.request_extension(extension_request(&t.id))
        .await
        .unwrap();
    let d = app.dispatcher().await;
    let id = rid();
    let req = pb::DecideExtensionRequest {
        request_id: id.clone(),
        ticket_id: t.id.clone(),
        approve: true,
        note: "ok".into(),
        ..Default::default()
    };
    let other = pb::DecideExtensionRequest {
        approve: false,
        ..req.clone()
    };
    let r = check_idempotent(&app, &d, &t.id, &id, req, other, |mut c, r| async move {
        c.decide_extension(r).await
    })
    .await;
    assert_eq!(r.extension.unwrap().state(), pb::ExtensionState::Approved);
    let old = t.resolve_by.unwrap();
    assert_eq!(
        r.resolve_by.unwrap().seconds,
        old.seconds + 2 * 3600,
        "approved once, not twice"
    );
    assert_eq!(r.extended_by, Some(dur(chrono::Duration::hours(2))));
    app.stop().await;
}

#[tokio::test]
async fn record_revisit_is_idempotent() {
    let app = spawn_app().await;
    let t = resolved_ticket(&app, "BUILDING_NO_HEAT").await;
    let d = app.dispatcher().await;
    let id = rid();
    let req = pb::RecordRevisitRequest {
        request_id: id.clone(),
        ticket_id: t.id.clone(),
        outcome: pb::RevisitOutcome::Satisfied as i32,
        notes: "warm now".into(),
        ..Default::default()
    };
    let other = pb::RecordRevisitRequest {
        outcome: pb::RevisitOutcome::NotSatisfiedUnitFault as i32,
        ..req.clone()
    };
    let r = check_idempotent(&app, &d, &t.id, &id, req, other, |mut c, r| async move {
        c.record_revisit(r).await
    })
    .await;
    assert_eq!(r.state(), pb::TicketState::Closed);
    assert_eq!(r.revisit_outcome(), pb::RevisitOutcome::Satisfied);
    app.stop().await;
}

#[tokio::test]
async fn supervise_is_idempotent() {
    let app = spawn_app().await;
    // On a ticket still being worked on the notice keeps the state, so a
    // non-idempotent retry would raise the escalation a second time.
    let t = dispatched_ticket(&app, "BUILDING_NO_HEAT").await;
    let s = app.supervisor().await;
    let id = rid();
    let req = pb::SuperviseRequest {
        request_id: id.clone(),
        ticket_id: t.id.clone(),
        notice: "no progress reported".into(),
        resolve_within: Some(dur(chrono::Duration::hours(24))),
        ..Default::default()
    };
    let other = pb::SuperviseRequest {
        notice: "second notice".into(),
        ..req.clone()
    };
    let r = check_idempotent(&app, &s, &t.id, &id, req, other, |mut c, r| async move {
        c.supervise(r).await
    })
    .await;
    assert_eq!(r.state(), pb::TicketState::Dispatched);
    assert_eq!(r.escalation_level, 1);
    assert_eq!(r.supervision_count, 1);
    app.stop().await;
}

#[tokio::test]
async fn cancel_ticket_is_idempotent() {
    let app = spawn_app().await;
    let mut d = app.dispatcher().await;
    let t = create(&mut d, "BUILDING_NO_HEAT").await;
    let id = rid();
    let req = pb::CancelTicketRequest {
        request_id: id.clone(),
        ticket_id: t.id.clone(),
        reason: "duplicate of an earlier call".into(),
        ..Default::default()
    };
    let other = pb::CancelTicketRequest {
        reason: "invalid".into(),
        ..req.clone()
    };
    let r = check_idempotent(
        &app,
        &d,
        &t.id,
        &id,
        req.clone(),
        other,
        |mut c, r| async move { c.cancel_ticket(r).await },
    )
    .await;
    assert_eq!(r.state(), pb::TicketState::Cancelled);

    // The same id for the same RPC on another ticket is another body too.
    let t2 = create(&mut d, "BUILDING_NO_HEAT").await;
    let before = snapshot(&app, &t2.id).await;
    let err = d
        .cancel_ticket(pb::CancelTicketRequest {
            ticket_id: t2.id.clone(),
            ..req
        })
        .await
        .unwrap_err();
    assert_reused(&err);
    assert_eq!(
        snapshot(&app, &t2.id).await,
        before,
        "the other ticket is untouched"
    );
    app.stop().await;
}

// ---------------------------------------------------------------------------
// Reuse by another caller or on another RPC.
// ---------------------------------------------------------------------------

#[tokio::test]
async fn request_id_reused_by_another_caller_is_already_exists() {
    let app = spawn_app().await;

    // Crew: c2 (same unit) sends c1's exact ClaimTicket. It must neither get
    // c1's stored response (with the unmasked caller, R-TKT-13) nor claim.
    let t = dispatched_ticket(&app, "BUILDING_NO_HEAT").await;
    let mut c1 = app.crew("c1", "north").await;
    let mut c2 = app.crew("c2", "north").await;
    let req = pb::ClaimTicketRequest {
        request_id: rid(),
        ticket_id: t.id.clone(),
        ..Default::default()
    };
    c1.claim_ticket(req.clone()).await.unwrap();
    let after = snapshot(&app, &t.id).await;
    let err = c2.claim_ticket(req.clone()).await.unwrap_err();
    assert_reused(&err);
    assert_eq!(snapshot(&app, &t.id).await, after);
    // The owner still gets the replay.
    let again = c1.claim_ticket(req).await.unwrap().into_inner();
    assert_eq!(again.assignee, "c1");

    // Dispatch desk: d2 repeats d1's DispatchTicket. d2 could dispatch the
    // ticket himself, but not under d1's request id.
    let mut d1 = app.dispatcher().await;
    let mut d2 = app.client_for("d2", &[Role::Dispatcher], "hq").await;
    let t = create(&mut d1, "BUILDING_NO_HEAT").await;
    let req = pb::DispatchTicketRequest {
        request_id: rid(),
        ticket_id: t.id.clone(),
        unit: "north".into(),
        ..Default::default()
    };
    d1.dispatch_ticket(req.clone()).await.unwrap();
    let after = snapshot(&app, &t.id).await;
    let err = d2.dispatch_ticket(req.clone()).await.unwrap_err();
    assert_reused(&err);
    assert_eq!(snapshot(&app, &t.id).await, after);

    // CreateTicket: d2 repeats d1's intake: no second ticket, no replay.
    let n = ticket_count(&app).await;
    let create = create_req("BUILDING_NO_HEAT");
    d1.create_ticket(create.clone()).await.unwrap();
    let err = d2.create_ticket(create).await.unwrap_err();
    assert_reused(&err);
    assert_eq!(ticket_count(&app).await, n + 1);
    app.stop().await;
}

#[tokio::test]
async fn request_id_reused_on_another_rpc_is_already_exists() {
    let app = spawn_app().await;
    let mut d = app.dispatcher().await;

    // The id of a CreateTicket used for a DispatchTicket.
    let create = create_req("BUILDING_NO_HEAT");
    let t = d.create_ticket(create.clone()).await.unwrap().into_inner();
    let err = d
        .dispatch_ticket(pb::DispatchTicketRequest {
            request_id: create.request_id.clone(),
            ticket_id: t.id.clone(),
            unit: "north".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_reused(&err);
    assert_eq!(get(&app, &t.id).await.state(), pb::TicketState::New);

    // The id of a DispatchTicket used for a CancelTicket on the same ticket.
    let dispatch_id = rid();
    d.dispatch_ticket(pb::DispatchTicketRequest {
        request_id: dispatch_id.clone(),
        ticket_id: t.id.clone(),
        unit: "north".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let after = snapshot(&app, &t.id).await;
    let err = d
        .cancel_ticket(pb::CancelTicketRequest {
            request_id: dispatch_id,
            ticket_id: t.id.clone(),
            reason: "duplicate".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_reused(&err);
    assert_eq!(snapshot(&app, &t.id).await, after);

    // ReturnTicket and CancelTicket requests with the same fields encode to
    // the same bytes: only the method tells them apart.
    let return_req = pb::ReturnTicketRequest {
        request_id: rid(),
        ticket_id: t.id.clone(),
        reason: "wrong unit".into(),
        ..Default::default()
    };
    let cancel_req = pb::CancelTicketRequest {
        request_id: return_req.request_id.clone(),
        ticket_id: t.id.clone(),
        reason: "wrong unit".into(),
        ..Default::default()
    };
    {
        use prost::Message;
        assert_eq!(return_req.encode_to_vec(), cancel_req.encode_to_vec());
    }
    let returned = d.return_ticket(return_req).await.unwrap().into_inner();
    assert_eq!(returned.state(), pb::TicketState::Returned);
    let after = snapshot(&app, &t.id).await;
    let err = d.cancel_ticket(cancel_req).await.unwrap_err();
    assert_reused(&err);
    assert_eq!(
        snapshot(&app, &t.id).await,
        after,
        "not cancelled, no replay of the return"
    );

    // A crew member's ClaimTicket id reused for his RecordArrival.
    let t = dispatched_ticket(&app, "BUILDING_NO_HEAT").await;
    let mut c1 = app.crew("c1", "north").await;
    let claim_id = rid();
    c1.claim_ticket(pb::ClaimTicketRequest {
        request_id: claim_id.clone(),
        ticket_id: t.id.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    let after = snapshot(&app, &t.id).await;
    let err = c1
        .record_arrival(pb::RecordArrivalRequest {
            request_id: claim_id,
            ticket_id: t.id.clone(),
            location: point(HOME.0, HOME.1),
            accuracy_m: 5.0,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_reused(&err);
    assert_eq!(snapshot(&app, &t.id).await, after);
    app.stop().await;
}

// ---------------------------------------------------------------------------
// Replays after later changes, and failures.
// ---------------------------------------------------------------------------

#[tokio::test]
async fn replay_after_later_changes_returns_the_original_response() {
    let app = spawn_app().await;
    let mut d = app.dispatcher().await;
    let mut c1 = app.crew("c1", "north").await;

    let create = create_req("BUILDING_NO_HEAT");
    let created = d.create_ticket(create.clone()).await.unwrap().into_inner();
    let dispatch_req = pb::DispatchTicketRequest {
        request_id: rid(),
        ticket_id: created.id.clone(),
        unit: "north".into(),
        ..Default::default()
    };
    let dispatched = d
        .dispatch_ticket(dispatch_req.clone())
        .await
        .unwrap()
        .into_inner();
    let claim_req = pb::ClaimTicketRequest {
        request_id: rid(),
        ticket_id: created.id.clone(),
        ..Default::default()
    };
    let claimed = c1
        .claim_ticket(claim_req.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(claimed.version, 3);
    let on_site = arrive(&mut c1, &created.id).await;
    assert_eq!(on_site.state(), pb::TicketState::OnSite);
    let after = snapshot(&app, &created.id).await;
    assert_eq!(after.ticket.version, 4);

    // The CLAIMED ticket at version 3, although it is now ON_SITE at 4.
    let replay = c1.claim_ticket(claim_req).await.unwrap().into_inner();
    assert_eq!(replay, claimed);
    assert_eq!(replay.state(), pb::TicketState::Claimed);
    assert_eq!(replay.version, 3);
    let replay = d.dispatch_ticket(dispatch_req).await.unwrap().into_inner();
    assert_eq!(replay, dispatched);
    let replay = d.create_ticket(create).await.unwrap().into_inner();
    assert_eq!(replay, created);
    assert_eq!(replay.version, 1);

    assert_eq!(
        snapshot(&app, &created.id).await,
        after,
        "replays change nothing"
    );
    assert_eq!(ticket_count(&app).await, 1);
    app.stop().await;
}

/// Refused by a rule, by a role, by a lost race, or (a ticket outside the
/// caller's scope, which to him does not exist) as not found.
fn assert_refusal(s: &Status) {
    assert!(
        matches!(
            s.code(),
            Code::FailedPrecondition | Code::PermissionDenied | Code::Aborted | Code::NotFound
        ),
        "expected a refusal, got {s:?}"
    );
}

#[tokio::test]
async fn a_failed_request_stores_nothing() {
    let app = spawn_app().await;
    let mut d = app.dispatcher().await;
    let mut c1 = app.crew("c1", "north").await;
    let mut c2 = app.crew("c2", "north").await;

    // A claim of a NEW ticket is refused; the same request succeeds once the
    // ticket is dispatched.
    let t = create(&mut d, "BUILDING_NO_HEAT").await;
    let req = pb::ClaimTicketRequest {
        request_id: rid(),
        ticket_id: t.id.clone(),
        ..Default::default()
    };
    let err = c1.claim_ticket(req.clone()).await.unwrap_err();
    assert_refusal(&err);
    // Retried while still refused: the same refusal (not a stored response,
    // not ALREADY_EXISTS).
    let again = c1.claim_ticket(req.clone()).await.unwrap_err();
    assert_eq!(again.code(), err.code());
    assert_eq!(events(&app, &t.id).await.len(), 1);
    dispatch(&mut d, &t.id, "north").await;
    let ok = c1.claim_ticket(req.clone()).await.unwrap().into_inner();
    assert_eq!(ok.state(), pb::TicketState::Claimed);
    assert_eq!(ok.assignee, "c1");
    assert_eq!(c1.claim_ticket(req).await.unwrap().into_inner(), ok);

    // R-TKT-4: c2's claim of c1's ticket is refused (ABORTED); after c1
    // returns it and it is dispatched again, c2's same request wins.
    let req = pb::ClaimTicketRequest {
        request_id: rid(),
        ticket_id: t.id.clone(),
        ..Default::default()
    };
    let err = c2.claim_ticket(req.clone()).await.unwrap_err();
    assert_status(&err, Code::Aborted, "TICKET_ALREADY_CLAIMED", None);
    c1.return_ticket(pb::ReturnTicketRequest {
        request_id: rid(),
        ticket_id: t.id.clone(),
        reason: "not ours".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    dispatch(&mut d, &t.id, "north").await;
    let ok = c2.claim_ticket(req).await.unwrap().into_inner();
    assert_eq!(ok.assignee, "c2");

    // A stale expected_version is refused and stores nothing: the same id
    // with the right version is then a first request, not a reuse.
    let current = get(&app, &t.id).await;
    let stale = pb::RecordArrivalRequest {
        request_id: rid(),
        ticket_id: t.id.clone(),
        location: point(HOME.0, HOME.1),
        accuracy_m: 5.0,
        expected_version: current.version - 1,
        ..Default::default()
    };
    let err = c2.record_arrival(stale.clone()).await.unwrap_err();
    assert_status(&err, Code::Aborted, "VERSION_MISMATCH", None);
    let ok = c2
        .record_arrival(pb::RecordArrivalRequest {
            expected_version: current.version,
            ..stale
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ok.state(), pb::TicketState::OnSite);
    assert_eq!(ok.version, current.version + 1);

    // Bad input stores nothing either.
    let t = create(&mut d, "BUILDING_NO_HEAT").await;
    let bad = pb::CancelTicketRequest {
        request_id: rid(),
        ticket_id: t.id.clone(),
        reason: "  ".into(),
        ..Default::default()
    };
    let err = d.cancel_ticket(bad.clone()).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    let ok = d
        .cancel_ticket(pb::CancelTicketRequest {
            reason: "duplicate".into(),
            ..bad
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ok.state(), pb::TicketState::Cancelled);
    app.stop().await;
}

// ---------------------------------------------------------------------------
// Concurrency: identical requests at the same moment.
// ---------------------------------------------------------------------------

const PARALLEL: usize = 20;

/// Send `req` from PARALLEL clients (each its own channel) at once.
async fn in_parallel<Req, F, Fut>(clients: Vec<Client>, req: Req, send: F) -> Vec<pb::Ticket>
where
    Req: Clone + Send + 'static,
    F: Fn(Client, Req) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = Result<Response<pb::Ticket>, Status>> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(clients.len()));
    let mut tasks = Vec::new();
    for c in clients {
        let (req, barrier, send) = (req.clone(), barrier.clone(), send.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            send(c, req).await.map(Response::into_inner)
        }));
    }
    let mut out = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await.unwrap() {
            Ok(ticket) => out.push(ticket),
            Err(s) => panic!("parallel request {i} failed: {s:?}"),
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn concurrent_identical_creates_make_one_ticket() {
    let app = spawn_app().await;
    let mut clients = Vec::new();
    for _ in 0..PARALLEL {
        clients.push(app.dispatcher().await);
    }
    let req = create_req("BUILDING_NO_HEAT");
    let got = in_parallel(clients, req.clone(), |mut c, r| async move {
        c.create_ticket(r).await
    })
    .await;
    assert_eq!(got.len(), PARALLEL);
    for t in &got {
        assert_eq!(t, &got[0], "every caller gets the same ticket");
    }
    assert_eq!(ticket_count(&app).await, 1, "exactly one ticket");
    let ev = events(&app, &got[0].id).await;
    let kinds: Vec<_> = ev.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["CREATED"], "exactly one CREATED event (R-TKT-12)");
    assert_eq!(ev[0].request_id, req.request_id);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn concurrent_identical_claims_claim_once() {
    let app = spawn_app().await;
    let t = dispatched_ticket(&app, "BUILDING_NO_HEAT").await;
    let mut clients = Vec::new();
    for _ in 0..PARALLEL {
        clients.push(app.crew("c1", "north").await);
    }
    let req = pb::ClaimTicketRequest {
        request_id: rid(),
        ticket_id: t.id.clone(),
        device_id: "handheld-7".into(),
        ..Default::default()
    };
    let got = in_parallel(
        clients,
        req,
        |mut c, r| async move { c.claim_ticket(r).await },
    )
    .await;
    assert_eq!(got.len(), PARALLEL);
    for r in &got {
        assert_eq!(r, &got[0], "every retry gets the same response");
    }
    assert_eq!(got[0].state(), pb::TicketState::Claimed);
    assert_eq!(got[0].version, t.version + 1);
    let ev = events(&app, &t.id).await;
    let kinds: Vec<_> = ev.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["CREATED", "DISPATCHED", "CLAIMED"],
        "exactly one CLAIMED event"
    );
    assert_eq!(get(&app, &t.id).await.version, t.version + 1);
    app.stop().await;
}

// ---------------------------------------------------------------------------
// expected_version (optimistic concurrency).
// ---------------------------------------------------------------------------

#[tokio::test]
async fn expected_version_guards_changes() {
    let app = spawn_app().await;
    let mut d = app.dispatcher().await;
    let mut c1 = app.crew("c1", "north").await;
    let t = create(&mut d, "BUILDING_NO_HEAT").await;
    assert_eq!(t.version, 1);

    // The right version succeeds.
    let dispatch_req = pb::DispatchTicketRequest {
        request_id: rid(),
        ticket_id: t.id.clone(),
        unit: "north".into(),
        expected_version: 1,
        ..Default::default()
    };
    let dispatched = d
        .dispatch_ticket(dispatch_req.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(dispatched.version, 2);

    // A stale version (and a future one) is ABORTED and changes nothing.
    let before = snapshot(&app, &t.id).await;
    for wrong in [1, 3, 99] {
        let err = c1
            .claim_ticket(pb::ClaimTicketRequest {
                request_id: rid(),
                ticket_id: t.id.clone(),
                expected_version: wrong,
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_status(&err, Code::Aborted, "VERSION_MISMATCH", None);
        let err = d
            .cancel_ticket(pb::CancelTicketRequest {
                request_id: rid(),
                ticket_id: t.id.clone(),
                reason: "duplicate".into(),
                expected_version: wrong,
            })
            .await
            .unwrap_err();
        assert_status(&err, Code::Aborted, "VERSION_MISMATCH", None);
    }
    assert_eq!(snapshot(&app, &t.id).await, before);

    // A negative version is bad input.
    let err = c1
        .claim_ticket(pb::ClaimTicketRequest {
            request_id: rid(),
            ticket_id: t.id.clone(),
            expected_version: -1,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");

    let claimed = c1
        .claim_ticket(pb::ClaimTicketRequest {
            request_id: rid(),
            ticket_id: t.id.clone(),
            expected_version: 2,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(claimed.version, 3);

    // AIP-155 first: a replay of the accepted dispatch (whose expected_version
    // is stale by now) returns the stored response, not VERSION_MISMATCH.
    let after = snapshot(&app, &t.id).await;
    let replay = d.dispatch_ticket(dispatch_req).await.unwrap().into_inner();
    assert_eq!(replay, dispatched);
    assert_eq!(snapshot(&app, &t.id).await, after);
    app.stop().await;
}
