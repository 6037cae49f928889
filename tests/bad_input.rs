//! Bad input and refused commands over gRPC: every refusal carries the right
//! code, ErrorInfo reason and (for INVALID_ARGUMENT) BadRequest field path,
//! and changes nothing (R-TKT-3: "refused ... and changes nothing"; R-TKT-12:
//! no audit event without a change).
mod common;

use chrono::Duration;
use common::*;
use fieldops::grpc::pb;
use std::future::Future;
use tonic::{Code, Response, Status};
use tonic_types::StatusExt;

// ---------------------------------------------------------------- helpers

/// What must not move when a request is refused: the ticket as a dispatcher
/// sees it (version, state and every other field) and its audit trail length.
#[derive(Debug, PartialEq)]
struct Snap {
    version: i64,
    state: pb::TicketState,
    events: usize,
    ticket: pb::Ticket,
}

async fn snap(app: &TestApp, id: &str) -> Snap {
    let ticket = get(app, id).await;
    Snap {
        version: ticket.version,
        state: ticket.state(),
        events: events(app, id).await.len(),
        ticket,
    }
}

/// Run `call` (not yet polled) against ticket `id`: it must fail with
/// `code`/`reason`/`field`, and the ticket and its events must be unchanged.
async fn refused<T: std::fmt::Debug>(
    app: &TestApp,
    id: &str,
    call: impl Future<Output = Result<Response<T>, Status>>,
    code: Code,
    reason: &str,
    field: Option<&str>,
) -> Status {
    let before = snap(app, id).await;
    let s = call.await.expect_err("the request must be refused");
    assert_status(&s, code, reason, field);
    assert_eq!(
        snap(app, id).await,
        before,
        "a refused request changed the ticket ({s:?})"
    );
    s
}

/// INVALID_ARGUMENT on ticket `id`, nothing changed.
async fn bad<T: std::fmt::Debug>(
    app: &TestApp,
    id: &str,
    call: impl Future<Output = Result<Response<T>, Status>>,
    reason: &str,
    field: &str,
) -> Status {
    refused(app, id, call, Code::InvalidArgument, reason, Some(field)).await
}

/// CreateTicket must be refused with INVALID_ARGUMENT and create nothing.
async fn bad_create(app: &TestApp, req: pb::CreateTicketRequest, reason: &str, field: &str) {
    let mut d = app.dispatcher().await;
    let before = ticket_count(app).await;
    let s = d
        .create_ticket(req)
        .await
        .expect_err("the request must be refused");
    assert_status(&s, Code::InvalidArgument, reason, Some(field));
    assert_eq!(
        ticket_count(app).await,
        before,
        "a refused CreateTicket created a ticket"
    );
}

/// R-TKT-3: FAILED_PRECONDITION INVALID_TRANSITION with a PreconditionFailure
/// naming the ticket; nothing changed.
async fn bad_transition<T: std::fmt::Debug>(
    app: &TestApp,
    id: &str,
    call: impl Future<Output = Result<Response<T>, Status>>,
) {
    let s = refused(
        app,
        id,
        call,
        Code::FailedPrecondition,
        "INVALID_TRANSITION",
        None,
    )
    .await;
    let details = s.get_error_details();
    let pf = details
        .precondition_failure()
        .unwrap_or_else(|| panic!("no PreconditionFailure in {s:?}"));
    assert_eq!(pf.violations.len(), 1, "{pf:?}");
    assert_eq!(pf.violations[0].r#type, "INVALID_TRANSITION");
    assert_eq!(pf.violations[0].subject, format!("tickets/{id}"));
}

/// A ticket dispatched to `north` and claimed by c1.
async fn claimed_ticket(app: &TestApp, category: &str) -> pb::Ticket {
    let t = dispatched_ticket(app, category).await;
    claim(&mut app.crew("c1", "north").await, &t.id)
        .await
        .unwrap()
}

/// A ticket claimed by c1 and checked in on site.
async fn on_site_ticket(app: &TestApp, category: &str) -> pb::Ticket {
    let t = claimed_ticket(app, category).await;
    arrive(&mut app.crew("c1", "north").await, &t.id).await
}

fn arrival_req(id: &str, lat: f64, lon: f64) -> pb::RecordArrivalRequest {
    pb::RecordArrivalRequest {
        request_id: rid(),
        ticket_id: id.into(),
        location: point(lat, lon),
        accuracy_m: 8.0,
        ..Default::default()
    }
}

fn claim_req(id: &str) -> pb::ClaimTicketRequest {
    pb::ClaimTicketRequest {
        request_id: rid(),
        ticket_id: id.into(),
        ..Default::default()
    }
}

fn unknown_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

// ------------------------------------------------------------------ intake

/// R-TKT-1 / R-TKT-2: intake validation (request_id per AIP-155, category of
/// the active profile, required phone and address, WGS 84 point, received_at
/// not in the future).
#[tokio::test]
async fn r_tkt_1_create_ticket_bad_input_creates_nothing() {
    let app = spawn_app().await;
    create(&mut app.dispatcher().await, "BUILDING_NO_HEAT").await;

    let with = |f: &dyn Fn(&mut pb::CreateTicketRequest)| {
        let mut r = create_req("BUILDING_NO_HEAT");
        f(&mut r);
        r
    };

    // AIP-155 request_id.
    bad_create(
        &app,
        with(&|r| r.request_id.clear()),
        "MISSING_FIELD",
        "request_id",
    )
    .await;
    bad_create(
        &app,
        with(&|r| r.request_id = "not-a-uuid".into()),
        "INVALID_FIELD",
        "request_id",
    )
    .await;

    // R-TKT-2: the category must exist in the active (heating) profile.
    bad_create(
        &app,
        with(&|r| r.category = "NO_SUCH_THING".into()),
        "UNKNOWN_CATEGORY",
        "category",
    )
    .await;
    bad_create(
        &app,
        with(&|r| r.category = "METER_FAULT".into()),
        "UNKNOWN_CATEGORY",
        "category",
    )
    .await;
    bad_create(
        &app,
        with(&|r| r.category.clear()),
        "UNKNOWN_CATEGORY",
        "category",
    )
    .await;

    // R-TKT-1: contact phone and address are required; whitespace is empty.
    bad_create(
        &app,
        with(&|r| r.caller_phone.clear()),
        "MISSING_FIELD",
        "caller_phone",
    )
    .await;
    bad_create(
        &app,
        with(&|r| r.caller_phone = " \t ".into()),
        "MISSING_FIELD",
        "caller_phone",
    )
    .await;
    bad_create(
        &app,
        with(&|r| r.address.clear()),
        "MISSING_FIELD",
        "address",
    )
    .await;
    bad_create(
        &app,
        with(&|r| r.address = "   ".into()),
        "MISSING_FIELD",
        "address",
    )
    .await;

    // Geo point within [-90, 90] x [-180, 180], finite.
    bad_create(
        &app,
        with(&|r| r.location = point(90.5, 116.4)),
        "OUT_OF_RANGE",
        "location.latitude",
    )
    .await;
    bad_create(
        &app,
        with(&|r| r.location = point(-91.0, 116.4)),
        "OUT_OF_RANGE",
        "location.latitude",
    )
    .await;
    bad_create(
        &app,
        with(&|r| r.location = point(39.9, 180.5)),
        "OUT_OF_RANGE",
        "location.longitude",
    )
    .await;
    bad_create(
        &app,
        with(&|r| r.location = point(f64::NAN, 116.4)),
        "OUT_OF_RANGE",
        "location.latitude",
    )
    .await;

    // The time of the call is not in the future.
    let future = ts(app.now() + Duration::hours(1));
    bad_create(
        &app,
        with(&|r| r.received_at = Some(future)),
        "OUT_OF_RANGE",
        "received_at",
    )
    .await;

    // A refused request does not use up its request_id: the same id with a
    // valid body is a fresh request that succeeds.
    let mut d = app.dispatcher().await;
    let mut req = create_req("BUILDING_NO_HEAT");
    req.address.clear();
    bad_create(&app, req.clone(), "MISSING_FIELD", "address").await;
    req.address = "2 Heping Rd".into();
    let t = d.create_ticket(req).await.unwrap().into_inner();
    assert_eq!(t.state(), pb::TicketState::New);
    assert_eq!(ticket_count(&app).await, 2);
    app.stop().await;
}

// ---------------------------------------------------------------- ids

/// AIP-155 request ids and ticket ids on reads and a mutation.
#[tokio::test]
async fn request_and_ticket_ids_are_validated() {
    let app = spawn_app().await;
    let t = dispatched_ticket(&app, "BUILDING_NO_HEAT").await;
    let id = t.id.as_str();
    let mut d = app.dispatcher().await;
    let mut c1 = app.crew("c1", "north").await;

    // request_id on ClaimTicket.
    let mut r = claim_req(id);
    r.request_id.clear();
    bad(&app, id, c1.claim_ticket(r), "MISSING_FIELD", "request_id").await;
    let mut r = claim_req(id);
    r.request_id = "not-a-uuid".into();
    bad(&app, id, c1.claim_ticket(r), "INVALID_FIELD", "request_id").await;

    // ticket_id missing or malformed.
    for (value, reason) in [("", "MISSING_FIELD"), ("not-a-uuid", "INVALID_FIELD")] {
        let get_req = pb::GetTicketRequest {
            ticket_id: value.into(),
        };
        bad(&app, id, d.get_ticket(get_req), reason, "ticket_id").await;
        bad(
            &app,
            id,
            c1.claim_ticket(claim_req(value)),
            reason,
            "ticket_id",
        )
        .await;
        let ev_req = pb::ListTicketEventsRequest {
            ticket_id: value.into(),
            ..Default::default()
        };
        bad(&app, id, d.list_ticket_events(ev_req), reason, "ticket_id").await;
    }

    // A well-formed id of no ticket: NOT_FOUND.
    let nobody = unknown_id();
    let get_req = pb::GetTicketRequest {
        ticket_id: nobody.clone(),
    };
    refused(
        &app,
        id,
        d.get_ticket(get_req),
        Code::NotFound,
        "TICKET_NOT_FOUND",
        None,
    )
    .await;
    refused(
        &app,
        id,
        c1.claim_ticket(claim_req(&nobody)),
        Code::NotFound,
        "TICKET_NOT_FOUND",
        None,
    )
    .await;
    let ev_req = pb::ListTicketEventsRequest {
        ticket_id: nobody.clone(),
        ..Default::default()
    };
    refused(
        &app,
        id,
        d.list_ticket_events(ev_req),
        Code::NotFound,
        "TICKET_NOT_FOUND",
        None,
    )
    .await;

    // After all that the ticket is still claimable, and by exactly one request.
    assert_eq!(claim(&mut c1, id).await.unwrap().version, t.version + 1);
    app.stop().await;
}

// ------------------------------------------------------ field input, R-SLA-7

/// R-TKT-6 check-in input (point, accuracy) and R-SLA-7 device times that are
/// so far ahead the clock must be broken.
#[tokio::test]
async fn r_tkt_6_r_sla_7_arrival_and_device_time_bad_input() {
    let app = spawn_app().await;
    let mut c1 = app.crew("c1", "north").await;

    // R-SLA-7: occurred_at beyond max_future (24 h) on ClaimTicket.
    let t = dispatched_ticket(&app, "BUILDING_NO_HEAT").await;
    let mut r = claim_req(&t.id);
    r.occurred_at = Some(ts(app.now() + Duration::hours(25)));
    bad(
        &app,
        &t.id,
        c1.claim_ticket(r),
        "OCCURRED_AT_IN_FUTURE",
        "occurred_at",
    )
    .await;

    let t = claim(&mut c1, &t.id).await.unwrap();
    let id = t.id.as_str();

    // R-TKT-6: the point is required and must be valid.
    for (lat, lon, field) in [
        (90.5, HOME.1, "location.latitude"),
        (-91.0, HOME.1, "location.latitude"),
        (f64::NAN, HOME.1, "location.latitude"),
        (HOME.0, 180.5, "location.longitude"),
    ] {
        let r = arrival_req(id, lat, lon);
        bad(&app, id, c1.record_arrival(r), "OUT_OF_RANGE", field).await;
    }
    let mut r = arrival_req(id, HOME.0, HOME.1);
    r.location = None;
    bad(&app, id, c1.record_arrival(r), "MISSING_FIELD", "location").await;

    // GPS accuracy is a finite number >= 0.
    for acc in [-1.0, -0.001, f64::NAN, f64::INFINITY] {
        let mut r = arrival_req(id, HOME.0, HOME.1);
        r.accuracy_m = acc;
        bad(&app, id, c1.record_arrival(r), "OUT_OF_RANGE", "accuracy_m").await;
    }

    // R-SLA-7: occurred_at beyond max_future on RecordArrival.
    let mut r = arrival_req(id, HOME.0, HOME.1);
    r.occurred_at = Some(ts(app.now() + Duration::hours(25)));
    bad(
        &app,
        id,
        c1.record_arrival(r),
        "OCCURRED_AT_IN_FUTURE",
        "occurred_at",
    )
    .await;

    // The ticket is untouched: a valid check-in still works.
    assert_eq!(arrive(&mut c1, id).await.state(), pb::TicketState::OnSite);
    app.stop().await;
}

/// R-SLA-7: a device time only slightly in the future (beyond the 2 min skew,
/// within max_future) is not an error: the event is stored at server time and
/// marked time_untrusted, with the reported time kept.
#[tokio::test]
async fn r_sla_7_slightly_future_device_time_is_stored_untrusted() {
    let app = spawn_app().await;
    let t = dispatched_ticket(&app, "BUILDING_NO_HEAT").await;
    app.clock.advance(Duration::minutes(5));
    let now = app.now();
    let device = now + Duration::minutes(10);
    let mut c1 = app.crew("c1", "north").await;
    let mut r = claim_req(&t.id);
    r.occurred_at = Some(ts(device));
    let claimed = c1.claim_ticket(r).await.unwrap().into_inner();
    assert_eq!(claimed.state(), pb::TicketState::Claimed);
    assert_eq!(
        claimed.claim_time,
        Some(ts(now)),
        "the clock uses server time"
    );

    let ev = events(&app, &t.id).await;
    let e = ev.last().unwrap();
    assert_eq!(e.kind, "CLAIMED");
    assert!(e.time_untrusted, "{e:?}");
    assert_eq!(e.effective_time, Some(ts(now)));
    assert_eq!(e.receive_time, Some(ts(now)));
    assert_eq!(
        e.occurred_at,
        Some(ts(device)),
        "the reported device time is kept"
    );
    app.stop().await;
}

// ------------------------------------------------------------ appointments

/// R-TKT-7: an appointment lies between now and resolve_by, and only for
/// categories whose policy allows it.
#[tokio::test]
async fn r_tkt_7_appointment_bad_input() {
    let app = spawn_app().await;
    let mut c1 = app.crew("c1", "north").await;
    let t = claimed_ticket(&app, "INDOOR_MEASUREMENT").await;
    let id = t.id.as_str();
    // R-SLA-1: GENERAL resolves within 5 days of the call.
    let resolve_by = app.now() + Duration::days(5);
    assert_eq!(t.resolve_by, Some(ts(resolve_by)));
    let appt = |at: Option<prost_types::Timestamp>| pb::ScheduleAppointmentRequest {
        request_id: rid(),
        ticket_id: t.id.clone(),
        appointment_time: at,
        ..Default::default()
    };

    let after_resolve = Some(ts(resolve_by + Duration::seconds(1)));
    bad(
        &app,
        id,
        c1.schedule_appointment(appt(after_resolve)),
        "APPOINTMENT_OUTSIDE_WINDOW",
        "appointment_time",
    )
    .await;
    let in_past = Some(ts(app.now() - Duration::minutes(1)));
    bad(
        &app,
        id,
        c1.schedule_appointment(appt(in_past)),
        "APPOINTMENT_OUTSIDE_WINDOW",
        "appointment_time",
    )
    .await;
    bad(
        &app,
        id,
        c1.schedule_appointment(appt(None)),
        "MISSING_FIELD",
        "appointment_time",
    )
    .await;

    // Inside the window it is accepted and becomes the arrival deadline.
    let when = app.now() + Duration::days(1);
    let booked = c1
        .schedule_appointment(appt(Some(ts(when))))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(booked.arrive_by, Some(ts(when)));

    // NETWORK_LEAK (EMERGENCY) does not allow appointments.
    let leak = claimed_ticket(&app, "NETWORK_LEAK").await;
    let mut r = appt(Some(ts(app.now() + Duration::minutes(20))));
    r.ticket_id = leak.id.clone();
    refused(
        &app,
        &leak.id,
        c1.schedule_appointment(r),
        Code::FailedPrecondition,
        "APPOINTMENT_NOT_ALLOWED",
        None,
    )
    .await;
    app.stop().await;
}

// ------------------------------------------------- required command fields

/// Required fields of the other commands: dispatch unit, resolution (R-TKT-8),
/// reasons (R-TKT-5, cancel), extension length (R-SLA-5), notice (R-TKT-10),
/// revisit outcome (R-TKT-9).
#[tokio::test]
async fn required_command_fields() {
    let app = spawn_app().await;
    let mut d = app.dispatcher().await;
    let mut c1 = app.crew("c1", "north").await;
    let mut s = app.supervisor().await;

    // DispatchTicket: the unit must be given and exist.
    let t = create(&mut d, "BUILDING_NO_HEAT").await;
    let disp = |unit: &str| pb::DispatchTicketRequest {
        request_id: rid(),
        ticket_id: t.id.clone(),
        unit: unit.into(),
        ..Default::default()
    };
    bad(
        &app,
        &t.id,
        d.dispatch_ticket(disp("east")),
        "UNIT_NOT_FOUND",
        "unit",
    )
    .await;
    bad(
        &app,
        &t.id,
        d.dispatch_ticket(disp("")),
        "MISSING_FIELD",
        "unit",
    )
    .await;
    bad(
        &app,
        &t.id,
        d.dispatch_ticket(disp("  ")),
        "MISSING_FIELD",
        "unit",
    )
    .await;

    // CancelTicket needs a reason.
    let cancel = pb::CancelTicketRequest {
        request_id: rid(),
        ticket_id: t.id.clone(),
        reason: " ".into(),
        ..Default::default()
    };
    bad(
        &app,
        &t.id,
        d.cancel_ticket(cancel),
        "MISSING_FIELD",
        "reason",
    )
    .await;

    // ReturnTicket needs a reason (R-TKT-5), from crew and dispatcher alike.
    let t = dispatched_ticket(&app, "BUILDING_NO_HEAT").await;
    let ret = || pb::ReturnTicketRequest {
        request_id: rid(),
        ticket_id: t.id.clone(),
        ..Default::default()
    };
    bad(
        &app,
        &t.id,
        c1.return_ticket(ret()),
        "MISSING_FIELD",
        "reason",
    )
    .await;
    bad(
        &app,
        &t.id,
        d.return_ticket(ret()),
        "MISSING_FIELD",
        "reason",
    )
    .await;

    // RequestExtension (R-SLA-5): extend_by required and > 0.
    let t = claimed_ticket(&app, "BUILDING_NO_HEAT").await;
    let ext = |by: Option<prost_types::Duration>| pb::RequestExtensionRequest {
        request_id: rid(),
        ticket_id: t.id.clone(),
        reason: "waiting for parts".into(),
        extend_by: by,
        ..Default::default()
    };
    bad(
        &app,
        &t.id,
        c1.request_extension(ext(None)),
        "MISSING_FIELD",
        "extend_by",
    )
    .await;
    bad(
        &app,
        &t.id,
        c1.request_extension(ext(Some(dur(Duration::zero())))),
        "OUT_OF_RANGE",
        "extend_by",
    )
    .await;
    bad(
        &app,
        &t.id,
        c1.request_extension(ext(Some(dur(Duration::hours(-1))))),
        "OUT_OF_RANGE",
        "extend_by",
    )
    .await;

    // Supervise (R-TKT-10): the written notice is required.
    let sup = pb::SuperviseRequest {
        request_id: rid(),
        ticket_id: t.id.clone(),
        notice: "  ".into(),
        resolve_within: Some(dur(Duration::hours(4))),
        ..Default::default()
    };
    bad(&app, &t.id, s.supervise(sup), "MISSING_FIELD", "notice").await;

    // CompleteRepair (R-TKT-8): a resolution with a code.
    let t = on_site_ticket(&app, "BUILDING_NO_HEAT").await;
    let done = |r: Option<pb::Resolution>| pb::CompleteRepairRequest {
        request_id: rid(),
        ticket_id: t.id.clone(),
        resolution: r,
        ..Default::default()
    };
    bad(
        &app,
        &t.id,
        c1.complete_repair(done(None)),
        "MISSING_FIELD",
        "resolution",
    )
    .await;
    let mut no_code = resolution().unwrap();
    no_code.code.clear();
    bad(
        &app,
        &t.id,
        c1.complete_repair(done(Some(no_code.clone()))),
        "MISSING_FIELD",
        "resolution.code",
    )
    .await;
    no_code.code = "   ".into();
    bad(
        &app,
        &t.id,
        c1.complete_repair(done(Some(no_code))),
        "MISSING_FIELD",
        "resolution.code",
    )
    .await;

    // RecordRevisit (R-TKT-9): the outcome is required.
    let t = complete(&mut c1, &t.id).await;
    let rev = pb::RecordRevisitRequest {
        request_id: rid(),
        ticket_id: t.id.clone(),
        outcome: pb::RevisitOutcome::Unspecified as i32,
        ..Default::default()
    };
    bad(
        &app,
        &t.id,
        d.record_revisit(rev),
        "MISSING_FIELD",
        "outcome",
    )
    .await;
    app.stop().await;
}

// ------------------------------------------------------------------ paging

/// AIP-158 paging: page_size >= 0, page tokens only for the list that issued them.
#[tokio::test]
async fn paging_bad_input() {
    let app = spawn_app().await;
    let mut d = app.dispatcher().await;
    let a = create(&mut d, "BUILDING_NO_HEAT").await;
    create(&mut d, "BUILDING_NO_HEAT").await;
    let id = a.id.as_str();

    let list = |size: i32, token: &str| pb::ListTicketsRequest {
        page_size: size,
        page_token: token.into(),
        ..Default::default()
    };
    let list_ev = |size: i32, token: &str| pb::ListTicketEventsRequest {
        ticket_id: a.id.clone(),
        page_size: size,
        page_token: token.into(),
    };

    bad(
        &app,
        id,
        d.list_tickets(list(-1, "")),
        "OUT_OF_RANGE",
        "page_size",
    )
    .await;
    bad(
        &app,
        id,
        d.list_ticket_events(list_ev(-1, "")),
        "OUT_OF_RANGE",
        "page_size",
    )
    .await;

    for garbage in ["garbage!!", "bm90IGEgdG9rZW4", "%%%"] {
        bad(
            &app,
            id,
            d.list_tickets(list(0, garbage)),
            "INVALID_PAGE_TOKEN",
            "page_token",
        )
        .await;
        bad(
            &app,
            id,
            d.list_ticket_events(list_ev(0, garbage)),
            "INVALID_PAGE_TOKEN",
            "page_token",
        )
        .await;
    }

    // A real ListTickets token is refused by ListTicketEvents, and vice versa.
    let tickets_token = d
        .list_tickets(list(1, ""))
        .await
        .unwrap()
        .into_inner()
        .next_page_token;
    assert!(!tickets_token.is_empty());
    bad(
        &app,
        id,
        d.list_ticket_events(list_ev(0, &tickets_token)),
        "INVALID_PAGE_TOKEN",
        "page_token",
    )
    .await;
    dispatch(&mut d, id, "north").await;
    let events_token = d
        .list_ticket_events(list_ev(1, ""))
        .await
        .unwrap()
        .into_inner()
        .next_page_token;
    assert!(!events_token.is_empty());
    bad(
        &app,
        id,
        d.list_tickets(list(0, &events_token)),
        "INVALID_PAGE_TOKEN",
        "page_token",
    )
    .await;

    // The tokens work where they belong.
    let rest = d
        .list_tickets(list(1, &tickets_token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rest.tickets.len(), 1);
    let rest = d
        .list_ticket_events(list_ev(1, &events_token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rest.events[0].kind, "DISPATCHED");
    app.stop().await;
}

// ------------------------------------------------------------- versions

/// Optimistic concurrency: expected_version >= 0; a mismatch is ABORTED.
#[tokio::test]
async fn expected_version_bad_input_and_mismatch() {
    let app = spawn_app().await;
    let mut d = app.dispatcher().await;
    let mut c1 = app.crew("c1", "north").await;
    let t = create(&mut d, "BUILDING_NO_HEAT").await;

    let disp = |v: i64| pb::DispatchTicketRequest {
        request_id: rid(),
        ticket_id: t.id.clone(),
        unit: "north".into(),
        expected_version: v,
        ..Default::default()
    };
    bad(
        &app,
        &t.id,
        d.dispatch_ticket(disp(-1)),
        "OUT_OF_RANGE",
        "expected_version",
    )
    .await;
    refused(
        &app,
        &t.id,
        d.dispatch_ticket(disp(t.version + 1)),
        Code::Aborted,
        "VERSION_MISMATCH",
        None,
    )
    .await;
    let t = d
        .dispatch_ticket(disp(t.version))
        .await
        .unwrap()
        .into_inner();

    let mut r = claim_req(&t.id);
    r.expected_version = -5;
    bad(
        &app,
        &t.id,
        c1.claim_ticket(r),
        "OUT_OF_RANGE",
        "expected_version",
    )
    .await;
    let mut r = claim_req(&t.id);
    r.expected_version = t.version - 1;
    refused(
        &app,
        &t.id,
        c1.claim_ticket(r),
        Code::Aborted,
        "VERSION_MISMATCH",
        None,
    )
    .await;
    let mut r = claim_req(&t.id);
    r.expected_version = t.version;
    assert_eq!(
        c1.claim_ticket(r).await.unwrap().into_inner().state(),
        pb::TicketState::Claimed
    );
    app.stop().await;
}

// ---------------------------------------------------------- state machine

/// R-TKT-3: transitions not in the graph are FAILED_PRECONDITION
/// INVALID_TRANSITION with a PreconditionFailure, and change nothing.
#[tokio::test]
async fn r_tkt_3_forbidden_transitions_change_nothing() {
    let app = spawn_app().await;
    let mut d = app.dispatcher().await;
    let mut c1 = app.crew("c1", "north").await;

    // Complete before arrival (CLAIMED).
    let t = claimed_ticket(&app, "BUILDING_NO_HEAT").await;
    let done = pb::CompleteRepairRequest {
        request_id: rid(),
        ticket_id: t.id.clone(),
        resolution: resolution(),
        ..Default::default()
    };
    bad_transition(&app, &t.id, c1.complete_repair(done)).await;

    // Arrive before claim: dispatched naming c1, so c1 may act on it but the
    // graph has no DISPATCHED -> ON_SITE.
    let t = create(&mut d, "BUILDING_NO_HEAT").await;
    let t = d
        .dispatch_ticket(pb::DispatchTicketRequest {
            request_id: rid(),
            ticket_id: t.id.clone(),
            unit: "north".into(),
            assignee: "c1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    bad_transition(
        &app,
        &t.id,
        c1.record_arrival(arrival_req(&t.id, HOME.0, HOME.1)),
    )
    .await;

    // Claim a CLOSED ticket (full lifecycle, then c1 of the same unit claims again).
    let t = on_site_ticket(&app, "BUILDING_NO_HEAT").await;
    complete(&mut c1, &t.id).await;
    let satisfied = pb::RecordRevisitRequest {
        request_id: rid(),
        ticket_id: t.id.clone(),
        outcome: pb::RevisitOutcome::Satisfied as i32,
        ..Default::default()
    };
    let closed = d.record_revisit(satisfied).await.unwrap().into_inner();
    assert_eq!(closed.state(), pb::TicketState::Closed);
    bad_transition(&app, &t.id, c1.claim_ticket(claim_req(&t.id))).await;

    // Claim a ticket that is not (re-)dispatched: reopened as SUPERVISED by a
    // dissatisfied revisit, still assigned to unit north.
    let t = on_site_ticket(&app, "BUILDING_NO_HEAT").await;
    complete(&mut c1, &t.id).await;
    let reopen = pb::RecordRevisitRequest {
        request_id: rid(),
        ticket_id: t.id.clone(),
        outcome: pb::RevisitOutcome::NotSatisfiedUnitFault as i32,
        ..Default::default()
    };
    let sup = d.record_revisit(reopen).await.unwrap().into_inner();
    assert_eq!(
        (sup.state(), sup.unit.as_str()),
        (pb::TicketState::Supervised, "north")
    );
    bad_transition(&app, &t.id, c1.claim_ticket(claim_req(&t.id))).await;

    // Claim a NEW ticket. It is dispatched to no unit, so R-TKT-4 refuses the
    // crew member before the state machine is consulted: a crew member may
    // not even read it, so to him it does not exist (NOT_FOUND
    // TICKET_NOT_FOUND, as an unknown id; reporting its state would leak
    // it). Either way: refused, nothing changed.
    let t = create(&mut d, "BUILDING_NO_HEAT").await;
    refused(
        &app,
        &t.id,
        c1.claim_ticket(claim_req(&t.id)),
        Code::NotFound,
        "TICKET_NOT_FOUND",
        None,
    )
    .await;

    // Dispatch a CANCELLED ticket.
    let cancel = pb::CancelTicketRequest {
        request_id: rid(),
        ticket_id: t.id.clone(),
        reason: "duplicate".into(),
        ..Default::default()
    };
    assert_eq!(
        d.cancel_ticket(cancel).await.unwrap().into_inner().state(),
        pb::TicketState::Cancelled
    );
    let disp = pb::DispatchTicketRequest {
        request_id: rid(),
        ticket_id: t.id.clone(),
        unit: "north".into(),
        ..Default::default()
    };
    bad_transition(&app, &t.id, d.dispatch_ticket(disp)).await;

    // Cancel an ON_SITE ticket.
    let t = on_site_ticket(&app, "BUILDING_NO_HEAT").await;
    let cancel = pb::CancelTicketRequest {
        request_id: rid(),
        ticket_id: t.id.clone(),
        reason: "duplicate".into(),
        ..Default::default()
    };
    bad_transition(&app, &t.id, d.cancel_ticket(cancel)).await;

    // Revisit a ticket that is not RESOLVED (ON_SITE, and DISPATCHED).
    for id in [
        t.id.clone(),
        dispatched_ticket(&app, "BUILDING_NO_HEAT").await.id,
    ] {
        let rev = pb::RecordRevisitRequest {
            request_id: rid(),
            ticket_id: id.clone(),
            outcome: pb::RevisitOutcome::Satisfied as i32,
            ..Default::default()
        };
        bad_transition(&app, &id, d.record_revisit(rev)).await;
    }
    app.stop().await;
}

// ----------------------------------------------------------- return window

/// R-TKT-5 with the server's clock: a crew member may return a mis-routed
/// ticket up to (and including) 2 h after dispatch, never after arrival;
/// later only a dispatcher (whose return is the approval).
#[tokio::test]
async fn r_tkt_5_return_window_boundaries() {
    let app = spawn_app().await;
    let mut d = app.dispatcher().await;
    let mut c1 = app.crew("c1", "north").await;
    let ret = |id: &str| pb::ReturnTicketRequest {
        request_id: rid(),
        ticket_id: id.into(),
        reason: "not our district".into(),
        ..Default::default()
    };

    let a = dispatched_ticket(&app, "BUILDING_NO_HEAT").await;
    let b = dispatched_ticket(&app, "BUILDING_NO_HEAT").await;
    assert_eq!(a.dispatch_time, Some(ts(app.now())));
    assert_eq!(b.dispatch_time, Some(ts(app.now())));

    // Exactly 2 h after dispatch: still inside.
    app.clock.advance(Duration::hours(2));
    let r = c1.return_ticket(ret(&a.id)).await.unwrap().into_inner();
    assert_eq!(r.state(), pb::TicketState::Returned);
    assert_eq!(r.return_count, 1);
    assert_eq!(r.unit, "");

    // 2 h + 1 s: closed for the crew, nothing changed...
    app.clock.advance(Duration::seconds(1));
    let s = refused(
        &app,
        &b.id,
        c1.return_ticket(ret(&b.id)),
        Code::FailedPrecondition,
        "RETURN_WINDOW_CLOSED",
        None,
    )
    .await;
    assert!(
        s.get_error_details().precondition_failure().is_some(),
        "{s:?}"
    );
    // ...but a dispatcher may still return it.
    let r = d.return_ticket(ret(&b.id)).await.unwrap().into_inner();
    assert_eq!(r.state(), pb::TicketState::Returned);
    let ev = events(&app, &b.id).await;
    assert_eq!(ev.last().unwrap().actor_role, "dispatcher");

    // After arrival on site: closed for the crew even inside the 2 h.
    let t = on_site_ticket(&app, "BUILDING_NO_HEAT").await;
    refused(
        &app,
        &t.id,
        c1.return_ticket(ret(&t.id)),
        Code::FailedPrecondition,
        "RETURN_WINDOW_CLOSED",
        None,
    )
    .await;
    let r = d.return_ticket(ret(&t.id)).await.unwrap().into_inner();
    assert_eq!(r.state(), pb::TicketState::Returned);
    app.stop().await;
}

// ------------------------------------------------- bugs found (see report)

/// Durations are bad input when out of range, never a crash. BUG: a
/// google.protobuf.Duration beyond chrono's range (|seconds| > i64::MAX/1000)
/// panics in `convert::required_duration` (`Duration::seconds`), so the client
/// gets CANCELLED "h2 protocol error" with no ErrorInfo; one that fits chrono
/// but overflows a DateTime (1e13 s) panics in the domain (`resolve_by +
/// extend_by`, `ctx.now + resolve_within`) and surfaces as INTERNAL. Both must
/// be INVALID_ARGUMENT OUT_OF_RANGE on the field (protobuf's own valid range
/// is +-315,576,000,000 s).
#[tokio::test]
async fn huge_durations_are_out_of_range_not_a_crash() {
    let app = spawn_app().await;
    let mut c1 = app.crew("c1", "north").await;
    let mut s = app.supervisor().await;
    let t = claimed_ticket(&app, "BUILDING_NO_HEAT").await;
    let id = t.id.as_str();
    for seconds in [
        i64::MAX,
        i64::MIN,
        i64::MIN + 1,
        10_000_000_000_000,
        -10_000_000_000_000,
        366 * 86_400 + 1,
    ] {
        let huge = Some(prost_types::Duration { seconds, nanos: 0 });
        let ext = pb::RequestExtensionRequest {
            request_id: rid(),
            ticket_id: t.id.clone(),
            reason: "waiting for parts".into(),
            extend_by: huge,
            ..Default::default()
        };
        bad(
            &app,
            id,
            c1.request_extension(ext),
            "OUT_OF_RANGE",
            "extend_by",
        )
        .await;
        let sup = pb::SuperviseRequest {
            request_id: rid(),
            ticket_id: t.id.clone(),
            notice: "written notice".into(),
            resolve_within: huge,
            ..Default::default()
        };
        bad(&app, id, s.supervise(sup), "OUT_OF_RANGE", "resolve_within").await;
    }
    app.stop().await;
}

/// AIP-158: a page token the server did not issue is INVALID_PAGE_TOKEN.
/// ListTicketEvents checks the key inside its token; BUG: ListTickets does
/// not, so a forged "tickets:<anything>" token is used as a raw id bound
/// (`id < key`) and returns an arbitrary page (or a silently empty one).
#[tokio::test]
async fn aip_158_forged_page_token_keys_are_rejected() {
    use base64::Engine;
    let forge = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let app = spawn_app().await;
    let mut d = app.dispatcher().await;
    let t = create(&mut d, "BUILDING_NO_HEAT").await;
    let id = t.id.as_str();

    let ev = pb::ListTicketEventsRequest {
        ticket_id: t.id.clone(),
        page_token: forge("events:not-a-sequence"),
        ..Default::default()
    };
    bad(
        &app,
        id,
        d.list_ticket_events(ev),
        "INVALID_PAGE_TOKEN",
        "page_token",
    )
    .await;

    for key in ["zzz", "not-a-uuid", ""] {
        let req = pb::ListTicketsRequest {
            page_token: forge(&format!("tickets:{key}")),
            ..Default::default()
        };
        bad(
            &app,
            id,
            d.list_tickets(req),
            "INVALID_PAGE_TOKEN",
            "page_token",
        )
        .await;
    }
    app.stop().await;
}
