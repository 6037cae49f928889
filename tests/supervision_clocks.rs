//! Supervision notices (R-TKT-10) and the clocks added with them: the
//! supervision deadline, the caller's feedback (R-SLA-6), the pipe-burst
//! repair time (R-SLA-4) and the per-clock outcomes reports use (R-RPT-1).
//! Expected values are computed from the water policy's numbers below; the
//! servers run on manual clocks.
mod common;

use chrono::{DateTime, Duration, Utc};
use common::*;
use fieldops::grpc::pb;
use tonic::Code;

// The water policy (src/domain/policies/water.toml).
const SUPERVISION_WITHIN: Duration = Duration::hours(24);
const FEEDBACK_WITHIN: Duration = Duration::days(2);
const FEEDBACK_COMPLEX_WITHIN: Duration = Duration::days(7);
const REPEAT_WINDOW: Duration = Duration::days(90);
const ACCEPT_WITHIN: Duration = Duration::minutes(3);
const PIPE_BURST_ARRIVE: Duration = Duration::minutes(40);
const PIPE_SMALL_WITHIN: Duration = Duration::hours(24);
const PIPE_LARGE_WITHIN: Duration = Duration::hours(48);
const SYSTEM: &str = "system:supervision";

fn details(e: &pb::TicketEvent) -> serde_json::Value {
    serde_json::from_str(&e.details_json).expect("details are JSON")
}

/// The outcome of clock `kind` as the ticket reports it (None: not concluded).
fn outcome(t: &pb::Ticket, kind: pb::ClockKind) -> Option<bool> {
    t.clock_outcomes
        .iter()
        .find(|o| o.clock == kind as i32)
        .map(|o| o.on_time)
}

/// An automatic notice of `trigger` issued at `at`: the ticket's supervise_by is its deadline.
fn assert_auto_notice(t: &pb::Ticket, trigger: pb::SupervisionTrigger, at: DateTime<Utc>) {
    let n = t.supervision.as_ref().expect("a supervision notice");
    assert_eq!(n.trigger(), trigger);
    assert_eq!(n.issued_by, SYSTEM);
    assert_eq!(time(&n.issue_time), at);
    assert_eq!(time(&n.deadline), at + SUPERVISION_WITHIN);
    assert_eq!(time(&t.supervise_by), at + SUPERVISION_WITHIN);
}

/// A ticket dispatched to `north`, claimed by c1 and on site.
async fn on_site(app: &TestApp, category: &str) -> pb::Ticket {
    let t = dispatched_ticket(app, category).await;
    let mut c = app.crew("c1", "north").await;
    claim(&mut c, &t.id).await.unwrap();
    arrive(&mut c, &t.id).await
}

async fn revisit(app: &TestApp, id: &str, outcome: pb::RevisitOutcome) -> pb::Ticket {
    let mut d = app.dispatcher().await;
    d.record_revisit(pb::RecordRevisitRequest {
        request_id: rid(),
        ticket_id: id.into(),
        outcome: outcome as i32,
        notes: "caller not satisfied".into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
}

/// c1 asks for `hours` more; the dispatcher approves or refuses.
async fn extension(app: &TestApp, id: &str, hours: i64, approve: bool) -> pb::Ticket {
    let mut c = app.crew("c1", "north").await;
    c.request_extension(pb::RequestExtensionRequest {
        request_id: rid(),
        ticket_id: id.into(),
        reason: "waiting for a spare meter".into(),
        extend_by: Some(dur(Duration::hours(hours))),
        ..Default::default()
    })
    .await
    .unwrap();
    let mut d = app.dispatcher().await;
    d.decide_extension(pb::DecideExtensionRequest {
        request_id: rid(),
        ticket_id: id.into(),
        approve,
        note: String::new(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
}

async fn supervise(app: &TestApp, id: &str, within: Duration) -> pb::Ticket {
    let mut s = app.supervisor().await;
    s.supervise(pb::SuperviseRequest {
        request_id: rid(),
        ticket_id: id.into(),
        notice: "督办: finish the meter repair".into(),
        resolve_within: Some(dur(within)),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
}

/// A complaint from `phone` about `category` at `address`.
async fn complaint(app: &TestApp, phone: &str, category: &str, address: &str) -> pb::Ticket {
    let mut req = create_req(category);
    req.caller_phone = phone.into();
    req.address = address.into();
    let mut d = app.dispatcher().await;
    d.create_ticket(req).await.unwrap().into_inner()
}

/// R-TKT-10, R-TKT-9: every unit-fault call-back sends the ticket back for
/// redo (escalation +1 each); the 3rd redo (more than the limit of 2) also
/// brings an automatic REDO notice with the 24 h supervision deadline.
#[tokio::test]
async fn r_tkt_10_third_redo_brings_a_notice_second_does_not() {
    let app = spawn_app_with_policy("water").await;
    let mut d = app.dispatcher().await;
    let mut c = app.crew("c1", "north").await;
    let id = on_site(&app, "METER_FAULT").await.id;
    complete(&mut c, &id).await;
    for redo in 1..=3 {
        app.clock.advance(Duration::hours(1));
        let now = app.now();
        let t = revisit(&app, &id, pb::RevisitOutcome::NotSatisfiedUnitFault).await;
        assert_eq!(t.state(), pb::TicketState::Supervised, "redo {redo}");
        assert_eq!(t.unit, "north", "back to the same unit");
        assert_eq!(t.redo_count, redo);
        let ev = events(&app, &id).await.pop().unwrap();
        assert_eq!(ev.kind, "REVISITED");
        let notice = &details(&ev)["supervision"];
        if redo < 3 {
            assert_eq!(t.supervision_count, 0, "redo {redo}: not past the limit");
            assert!(t.supervision.is_none() && t.supervise_by.is_none());
            assert_eq!(t.escalation_level, redo, "one level per redo");
            assert!(notice.is_null(), "redo {redo}: {}", ev.details_json);
            dispatch(&mut d, &id, "north").await;
            claim(&mut c, &id).await.unwrap();
            arrive(&mut c, &id).await;
            complete(&mut c, &id).await;
        } else {
            assert_eq!(t.supervision_count, 1);
            assert_auto_notice(&t, pb::SupervisionTrigger::Redo, now);
            assert_eq!(t.escalation_level, 3 + 1, "three redos and the notice");
            assert_eq!(notice["trigger"], "REDO", "{}", ev.details_json);
            assert_eq!(notice["issued_by"], SYSTEM);
        }
    }
}

/// R-TKT-10: the same caller about the same issue at the same address
/// (case and spacing ignored): the 3rd complaint starts under a
/// REPEAT_COMPLAINT notice; other callers, categories and addresses do not count.
#[tokio::test]
async fn r_tkt_10_third_repeat_complaint_brings_a_notice() {
    let app = spawn_app_with_policy("water").await;
    let (phone, cat) = ("13900001111", "LOW_PRESSURE");
    let first = complaint(&app, phone, cat, "7 Yongding Rd, Flat 12").await;
    // Near misses: each one, were it counted, would make the next complaint the third.
    complaint(&app, "13900002222", cat, "7 Yongding Rd, Flat 12").await;
    complaint(&app, phone, "WATER_QUALITY", "7 Yongding Rd, Flat 12").await;
    complaint(&app, phone, cat, "8 Yongding Rd, Flat 12").await;
    let second = complaint(&app, phone, cat, "7  yongding rd,   FLAT 12").await;
    for t in [&first, &second] {
        assert_eq!(t.supervision_count, 0);
        assert!(t.supervision.is_none() && t.supervise_by.is_none());
        assert_eq!(t.escalation_level, 0);
    }
    app.clock.advance(Duration::hours(5));
    let now = app.now();
    let third = complaint(&app, phone, cat, "7 YONGDING RD, Flat 12").await;
    assert_eq!(third.state(), pb::TicketState::New);
    assert_eq!(third.supervision_count, 1);
    assert_eq!(third.escalation_level, 1);
    assert_auto_notice(&third, pb::SupervisionTrigger::RepeatComplaint, now);
    let created = events(&app, &third.id).await.pop().unwrap();
    assert_eq!(details(&created)["earlier_complaints"], 2);
}

/// R-TKT-10: earlier complaints count back 90 days (policy repeat_window),
/// inclusive: one exactly 90 days before counts, one 90 days and 1 s before does not.
#[tokio::test]
async fn r_tkt_10_repeat_complaints_count_within_ninety_days() {
    let app = spawn_app_with_policy("water").await;
    let (phone, cat) = ("13900003333", "METER_FAULT");
    let (inside, outside) = ("9 Heping Rd, Flat 1", "9 Heping Rd, Flat 2");
    complaint(&app, phone, cat, inside).await;
    complaint(&app, phone, cat, outside).await;

    app.clock.advance(REPEAT_WINDOW);
    let second = complaint(&app, phone, cat, inside).await;
    assert!(second.supervision.is_none());
    let third = complaint(&app, phone, cat, inside).await;
    assert_eq!(
        third.supervision_count, 1,
        "the first is exactly 90 days old"
    );
    assert_auto_notice(&third, pb::SupervisionTrigger::RepeatComplaint, app.now());

    app.clock.advance(Duration::seconds(1));
    complaint(&app, phone, cat, outside).await;
    let third = complaint(&app, phone, cat, outside).await;
    assert_eq!(third.supervision_count, 0, "the first is 90 days + 1 s old");
    assert!(third.supervision.is_none() && third.supervise_by.is_none());
    assert_eq!(third.escalation_level, 0);
}

/// R-TKT-10, R-TKT-7: a booked appointment that passes without arrival is a
/// broken promise: the one ARRIVE breach brings a BROKEN_PROMISE notice
/// (escalation 1 + 1). An arrival deadline that was never promised does not.
#[tokio::test]
async fn r_tkt_10_missed_appointment_is_a_broken_promise() {
    let app = spawn_with_monitor(fresh_store().await).await;
    let mut c = app.crew("c1", "north").await;
    let t = dispatched_ticket(&app, "LOW_PRESSURE").await;
    claim(&mut c, &t.id).await.unwrap();
    let when = app.now() + Duration::hours(2);
    schedule(&mut c, &t.id, when).await;
    let ev = breaches_once_after(&app, &t.id, when, "ARRIVE", 0).await;
    assert_eq!(details(&ev)["supervision"]["trigger"], "BROKEN_PROMISE");
    let t = get(&app, &t.id).await;
    assert_eq!(t.escalation_level, 2, "the breach and the notice");
    assert_eq!(t.supervision_count, 1);
    assert_auto_notice(
        &t,
        pb::SupervisionTrigger::BrokenPromise,
        when + Duration::seconds(1),
    );

    // No appointment: the plain arrival deadline (1 h from the claim,
    // R-SLA-2) brings no notice.
    let t = dispatched_ticket(&app, "LOW_PRESSURE").await;
    let t = claim(&mut c, &t.id).await.unwrap();
    let ev = breaches_once_after(&app, &t.id, time(&t.arrive_by), "ARRIVE", 0).await;
    assert!(details(&ev)["supervision"].is_null(), "{}", ev.details_json);
    let t = get(&app, &t.id).await;
    assert_eq!(t.escalation_level, 1);
    assert_eq!(t.supervision_count, 0);
    assert!(t.supervision.is_none() && t.supervise_by.is_none());
}

/// R-TKT-10, R-SLA-5: an approved extension is a promise; its resolve_by
/// passing unmet brings a BROKEN_PROMISE notice. After a refusal the
/// original resolve_by passing is a plain breach.
#[tokio::test]
async fn r_tkt_10_passed_extension_is_a_broken_promise_refused_is_not() {
    let app = spawn_with_monitor(fresh_store().await).await;
    let t = on_site(&app, "METER_FAULT").await; // resolve 36 h, feedback 2 days
    let approved = extension(&app, &t.id, 10, true).await;
    let resolve_by = time(&approved.resolve_by);
    assert_eq!(resolve_by, time(&t.resolve_by) + Duration::hours(10));
    breaches_once_after(&app, &t.id, resolve_by, "RESOLVE", 0).await;
    let after = get(&app, &t.id).await;
    assert_eq!(after.escalation_level, 2);
    assert_auto_notice(
        &after,
        pb::SupervisionTrigger::BrokenPromise,
        resolve_by + Duration::seconds(1),
    );

    let t = on_site(&app, "METER_FAULT").await;
    let refused = extension(&app, &t.id, 10, false).await;
    assert_eq!(refused.resolve_by, t.resolve_by);
    breaches_once_after(&app, &t.id, time(&t.resolve_by), "RESOLVE", 0).await;
    let after = get(&app, &t.id).await;
    assert_eq!(after.escalation_level, 1);
    assert!(after.supervision.is_none() && after.supervise_by.is_none());
}

/// R-TKT-10, R-SLA-5: a second extension request that is refused does not
/// undo the first, approved one: resolve_by is still the promised deadline,
/// and its passing unmet is a broken promise.
#[tokio::test]
async fn r_tkt_10_approved_extension_stays_a_promise_after_a_later_refusal() {
    let app = spawn_with_monitor(fresh_store().await).await;
    let t = on_site(&app, "METER_FAULT").await;
    let promised = time(&extension(&app, &t.id, 10, true).await.resolve_by);
    let refused = extension(&app, &t.id, 5, false).await;
    assert_eq!(time(&refused.resolve_by), promised, "the approval stands");
    breaches_once_after(&app, &t.id, promised, "RESOLVE", 0).await;
    let after = get(&app, &t.id).await;
    assert_auto_notice(
        &after,
        pb::SupervisionTrigger::BrokenPromise,
        promised + Duration::seconds(1),
    );
    assert_eq!(after.escalation_level, 2);
}

/// R-TKT-10, R-TKT-9: a redo restarts the resolve clock from the call-back
/// (36 h); that fresh deadline was never promised by an extension, so its
/// passing is a plain breach, not a broken promise.
#[tokio::test]
async fn r_tkt_10_redo_resolve_deadline_is_not_an_extension_promise() {
    let app = spawn_with_monitor(fresh_store().await).await;
    let mut d = app.dispatcher().await;
    let mut c = app.crew("c1", "north").await;
    let t = on_site(&app, "METER_FAULT").await;
    extension(&app, &t.id, 10, true).await;
    complete(&mut c, &t.id).await;
    app.clock.advance(Duration::hours(1));
    revisit(&app, &t.id, pb::RevisitOutcome::NotSatisfiedUnitFault).await;
    let fresh = app.now() + Duration::hours(36); // METER_FAULT resolve_within
    dispatch(&mut d, &t.id, "north").await;
    claim(&mut c, &t.id).await.unwrap();
    assert_eq!(time(&arrive(&mut c, &t.id).await.resolve_by), fresh);
    breaches_once_after(&app, &t.id, fresh, "RESOLVE", 0).await;
    let after = get(&app, &t.id).await;
    assert!(after.supervision.is_none(), "{:?}", after.supervision);
    assert_eq!(after.escalation_level, 2, "the redo and the breach");
}

/// R-TKT-10: a supervisor's notice runs its own clock (supervise_by), leaves
/// resolve_by alone, breaches once just after its deadline; a repair done
/// before it stops the clock in time and it never breaches.
#[tokio::test]
async fn r_tkt_10_supervision_deadline_is_a_clock() {
    let app = spawn_with_monitor(fresh_store().await).await;
    let mut c = app.crew("c1", "north").await;
    let t = on_site(&app, "METER_FAULT").await; // resolve 36 h
    let s = supervise(&app, &t.id, Duration::hours(4)).await;
    let supervise_by = time(&s.supervise_by);
    assert_eq!(supervise_by, app.now() + Duration::hours(4));
    assert_eq!(
        s.resolve_by, t.resolve_by,
        "the resolve clock keeps its deadline"
    );
    assert_eq!(s.escalation_level, 1);
    let ev = breaches_once_after(&app, &t.id, supervise_by, "SUPERVISION", 0).await;
    assert!(!ev.details_json.contains("RESOLVE"), "{}", ev.details_json);
    app.clock.set(supervise_by + Duration::hours(3));
    app.run_monitor().await;
    assert_eq!(breach_events(&app, &t.id).await.len(), 1, "never twice");
    let after = get(&app, &t.id).await;
    assert_eq!(after.escalation_level, 2, "the notice and its breach");
    assert_eq!(outcome(&after, pb::ClockKind::Supervision), Some(false));

    // Repaired before the notice's deadline.
    let t = on_site(&app, "METER_FAULT").await;
    let supervise_by = time(
        &supervise(&app, &t.id, Duration::hours(4))
            .await
            .supervise_by,
    );
    app.clock.advance(Duration::hours(1));
    let done = complete(&mut c, &t.id).await;
    assert_eq!(outcome(&done, pb::ClockKind::Supervision), Some(true));
    app.clock.set(supervise_by + Duration::hours(1)); // revisit_by is 24 h after the repair
    app.run_monitor().await;
    assert!(breach_events(&app, &t.id).await.is_empty());
}

/// R-SLA-6: the caller hears the result within 2 days of the call, complex
/// matters (by category or the dispatcher's mark) within 7; a consultation
/// answered on the call has no feedback clock.
#[tokio::test]
async fn r_sla_6_feedback_deadline_from_the_call() {
    let app = spawn_app_with_policy("water").await;
    let mut d = app.dispatcher().await;
    let call = app.now() - Duration::hours(3);
    for (category, mark, within) in [
        ("METER_FAULT", false, FEEDBACK_WITHIN),
        ("LONG_COORDINATION", false, FEEDBACK_COMPLEX_WITHIN),
        ("METER_FAULT", true, FEEDBACK_COMPLEX_WITHIN),
    ] {
        let mut req = create_req(category);
        req.received_at = Some(ts(call));
        req.complex = mark;
        let t = d.create_ticket(req).await.unwrap().into_inner();
        assert_eq!(time(&t.feedback_by), call + within, "{category} {mark}");
        assert_eq!(t.complex, within == FEEDBACK_COMPLEX_WITHIN, "{category}");
    }
    let mut req = create_req("CONSULTATION");
    req.answered_on_call = true;
    let t = d.create_ticket(req).await.unwrap().into_inner();
    assert!(t.feedback_by.is_none());
}

/// R-SLA-6: left alone, the feedback clock breaches once just after
/// feedback_by (after accept, arrive and resolve); a call-back before it
/// stops the clock in time, even when it sends the ticket back for redo.
#[tokio::test]
async fn r_sla_6_feedback_clock_breaches_unless_called_back() {
    let app = spawn_with_monitor(fresh_store().await).await;
    let mut c = app.crew("c1", "north").await;
    let called_back = on_site(&app, "METER_FAULT").await;
    complete(&mut c, &called_back.id).await;
    app.clock.advance(Duration::hours(1));
    let u = revisit(
        &app,
        &called_back.id,
        pb::RevisitOutcome::NotSatisfiedUnitFault,
    )
    .await;
    assert_eq!(u.feedback_by, called_back.feedback_by, "kept on reopening");
    assert_eq!(outcome(&u, pb::ClockKind::Feedback), Some(true));

    // Called in an hour later: its feedback_by passes 1 h before this one's.
    let t = dispatched_ticket(&app, "METER_FAULT").await;
    let feedback_by = time(&t.feedback_by);
    assert_eq!(feedback_by, time(&t.received_at) + FEEDBACK_WITHIN);
    app.clock.set(feedback_by);
    let first = wait_for_breaches(&app, &t.id, 1).await.remove(0);
    for kind in ["ACCEPT", "ARRIVE", "RESOLVE"] {
        assert!(first.details_json.contains(kind), "{}", first.details_json);
    }
    assert!(!first.details_json.contains("FEEDBACK"));
    breaches_once_after(&app, &t.id, feedback_by, "FEEDBACK", 1).await;
    let after = get(&app, &t.id).await;
    assert_eq!(
        after.escalation_level, 4,
        "accept, arrive, resolve, feedback"
    );
    assert_eq!(outcome(&after, pb::ClockKind::Feedback), Some(false));

    // The reopened ticket's fresh arrive/resolve clocks have breached by now; feedback never.
    let b = wait_for_breaches(&app, &u.id, 1).await;
    assert!(b.iter().all(|e| !e.details_json.contains("FEEDBACK")));
    let u = get(&app, &u.id).await;
    assert_eq!(outcome(&u, pb::ClockKind::Feedback), Some(true));
}

/// A PIPE_BURST ticket with `intake_mm`, on site after 10 min with `arrival_mm`:
/// the resolve_by before and after arrival, and the arrival time.
async fn burst(
    app: &TestApp,
    intake_mm: Option<i32>,
    arrival_mm: Option<i32>,
) -> (pb::Ticket, pb::Ticket, DateTime<Utc>) {
    let mut d = app.dispatcher().await;
    let mut c = app.crew("c1", "north").await;
    let mut req = create_req("PIPE_BURST");
    req.pipe_diameter_mm = intake_mm;
    let before = d.create_ticket(req).await.unwrap().into_inner();
    dispatch(&mut d, &before.id, "north").await;
    claim(&mut c, &before.id).await.unwrap();
    app.clock.advance(Duration::minutes(10));
    let after = c
        .record_arrival(pb::RecordArrivalRequest {
            request_id: rid(),
            ticket_id: before.id.clone(),
            location: point(HOME.0, HOME.1),
            accuracy_m: 8.0,
            pipe_diameter_mm: arrival_mm,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    (before, after, app.now())
}

/// R-SLA-4: a burst pipe's repair clock starts at the check-in: DN <= 600 mm
/// 24 h, above 48 h; the diameter comes from the site, else from intake;
/// unknown gets 24 h. Until arrival resolve_by is arrive_by + 48 h.
#[tokio::test]
async fn r_sla_4_pipe_burst_resolve_clock_by_diameter() {
    let app = spawn_app_with_policy("water").await;
    for (intake, site, work, known) in [
        (None, Some(600), PIPE_SMALL_WITHIN, Some(600)),
        (None, Some(601), PIPE_LARGE_WITHIN, Some(601)),
        (Some(800), None, PIPE_LARGE_WITHIN, Some(800)),
        (Some(800), Some(400), PIPE_SMALL_WITHIN, Some(400)),
        (None, None, PIPE_SMALL_WITHIN, None),
    ] {
        let (before, after, arrived) = burst(&app, intake, site).await;
        let intake_at = time(&before.received_at);
        assert_eq!(
            time(&before.resolve_by),
            intake_at + PIPE_BURST_ARRIVE + PIPE_LARGE_WITHIN,
            "provisional, {intake:?}"
        );
        assert_eq!(before.pipe_diameter_mm, intake);
        assert_eq!(time(&after.arrive_time), arrived);
        assert_eq!(
            time(&after.resolve_by),
            arrived + work,
            "{intake:?}/{site:?}"
        );
        assert_eq!(after.pipe_diameter_mm, known);
    }
}

/// R-SLA-4: a diameter outside 1..=5000 mm is INVALID_ARGUMENT (OUT_OF_RANGE)
/// at intake and at check-in, and changes nothing.
#[tokio::test]
async fn r_sla_4_pipe_diameter_out_of_range_changes_nothing() {
    let app = spawn_app_with_policy("water").await;
    let mut d = app.dispatcher().await;
    let mut c = app.crew("c1", "north").await;
    let t = dispatched_ticket(&app, "PIPE_BURST").await;
    let claimed = claim(&mut c, &t.id).await.unwrap();
    let count = ticket_count(&app).await;
    for bad in [0, -5, 5001] {
        let mut req = create_req("PIPE_BURST");
        req.pipe_diameter_mm = Some(bad);
        let e = d.create_ticket(req).await.unwrap_err();
        assert_status(
            &e,
            Code::InvalidArgument,
            "OUT_OF_RANGE",
            Some("pipe_diameter_mm"),
        );
        assert_eq!(ticket_count(&app).await, count, "{bad}: no ticket created");

        let e = c
            .record_arrival(pb::RecordArrivalRequest {
                request_id: rid(),
                ticket_id: t.id.clone(),
                location: point(HOME.0, HOME.1),
                accuracy_m: 8.0,
                pipe_diameter_mm: Some(bad),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_status(
            &e,
            Code::InvalidArgument,
            "OUT_OF_RANGE",
            Some("pipe_diameter_mm"),
        );
        let now = get(&app, &t.id).await;
        assert_eq!(now.version, claimed.version, "{bad}: ticket unchanged");
        assert_eq!(now.state(), pb::TicketState::Claimed);
    }
    // The range's ends are accepted.
    for ok in [1, 5000] {
        let mut req = create_req("PIPE_BURST");
        req.pipe_diameter_mm = Some(ok);
        let t = d.create_ticket(req).await.unwrap().into_inner();
        assert_eq!(t.pipe_diameter_mm, Some(ok));
    }
}

/// R-RPT-1 (R-SLA-3 input): a claim after accept_by is a missed accept clock,
/// a claim at accept_by a kept one; a clock not yet concluded has no outcome.
#[tokio::test]
async fn r_rpt_1_accept_clock_outcomes() {
    let app = spawn_app_with_policy("water").await; // no monitor: only the claims decide
    let mut c = app.crew("c1", "north").await;
    let on_time = dispatched_ticket(&app, "METER_FAULT").await;
    let late = dispatched_ticket(&app, "METER_FAULT").await;
    assert!(on_time.clock_outcomes.is_empty(), "not concluded");
    let accept_by = time(&on_time.accept_by);
    assert_eq!(accept_by, time(&on_time.dispatch_time) + ACCEPT_WITHIN);
    app.clock.set(accept_by);
    let t = claim(&mut c, &on_time.id).await.unwrap();
    let accept = |kept| pb::ClockOutcome {
        clock: pb::ClockKind::Accept as i32,
        on_time: kept,
    };
    assert_eq!(t.clock_outcomes, [accept(true)], "claimed at accept_by");
    app.clock.set(time(&late.accept_by) + Duration::seconds(1));
    let t = claim(&mut c, &late.id).await.unwrap();
    assert_eq!(t.clock_outcomes, [accept(false)], "claimed 1 s late");
    assert_eq!(get(&app, &late.id).await.clock_outcomes, [accept(false)]);
}
