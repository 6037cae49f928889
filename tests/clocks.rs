//! Service-level clocks over gRPC (DOMAIN.md section 3): deadlines per
//! profile and category, appointments, extensions, device time, revisit and
//! supervision. The server runs on a manual clock the test moves.
mod common;

use chrono::{Duration, TimeZone, Utc};
use common::*;
use fieldops::grpc::pb;
use tonic::Code;

/// R-SLA-1 / R-SLA-2 / R-SLA-3: deadlines come from the category, in UTC.
#[tokio::test]
async fn r_sla_1_2_3_deadlines_per_profile_and_category() {
    for (policy, category, priority, arrive, resolve) in [
        (
            "heating",
            "NETWORK_LEAK",
            "EMERGENCY",
            Duration::minutes(30),
            Duration::hours(24),
        ),
        (
            "heating",
            "BLOCKAGE",
            "URGENT",
            Duration::hours(12),
            Duration::hours(24),
        ),
        (
            "heating",
            "INDOOR_MEASUREMENT",
            "GENERAL",
            Duration::hours(24),
            Duration::days(5),
        ),
        (
            "water",
            "EMERGENCY_INCIDENT",
            "L12H",
            Duration::minutes(40),
            Duration::hours(12),
        ),
        (
            "water",
            "METER_FAULT",
            "L36H",
            Duration::hours(12),
            Duration::hours(36),
        ),
        (
            "water",
            "COMPENSATION_CLAIM",
            "L5D",
            Duration::hours(1),
            Duration::days(5),
        ),
    ] {
        let app = spawn_app_with_policy(policy).await;
        let mut d = app.dispatcher().await;
        // A call at 23:50 Shanghai time (15:50 UTC): deadlines are plain UTC arithmetic
        // and cross local midnight without any shift.
        let call = Utc.with_ymd_and_hms(2026, 11, 21, 15, 50, 0).unwrap();
        app.clock.set(call + Duration::minutes(5));
        let mut req = create_req(category);
        req.received_at = Some(ts(call));
        let t = d.create_ticket(req).await.unwrap().into_inner();
        assert_eq!(t.priority, priority, "{category}");
        let from_acceptance = category == "COMPENSATION_CLAIM";
        if from_acceptance {
            // R-SLA-2: its hour runs from acceptance (checked after the claim below).
            assert!(t.arrive_by.is_none(), "{category}");
        } else {
            assert_eq!(time(&t.arrive_by), call + arrive, "{category}");
        }
        assert_eq!(time(&t.resolve_by), call + resolve, "{category}");
        assert!(t.accept_by.is_none() && t.revisit_by.is_none());
        let t = dispatch(&mut d, &t.id, "north").await;
        assert_eq!(
            time(&t.accept_by),
            app.now() + Duration::minutes(3),
            "R-SLA-3"
        );
        if from_acceptance {
            let mut c = app.crew("c1", "north").await;
            let t = claim(&mut c, &t.id).await.unwrap();
            assert_eq!(time(&t.arrive_by), app.now() + arrive, "{category}");
        }
    }
}

/// R-SLA-2 [002 二(二)1]: the water hotline's 1 h arrival counts from
/// acceptance: no arrival deadline before the claim; claimed two hours
/// after the call, the crew has until the claim + 1 h (kept at it, breached
/// once one second later); a crew that cannot make it agrees a time by phone
/// in any category (a burst main excepted), an emergency included; a
/// category counted from the call keeps its deadline from the call.
#[tokio::test]
async fn r_sla_2_arrival_from_acceptance() {
    let app = spawn_with_monitor(fresh_store().await).await;
    let mut d = app.dispatcher().await;
    let mut c = app.crew("c1", "north").await;
    let call = app.now();
    let t = create(&mut d, "LOW_PRESSURE").await;
    assert!(t.arrive_by.is_none(), "not before acceptance");
    let t = dispatch(&mut d, &t.id, "north").await;
    assert!(t.arrive_by.is_none());
    let claimed_at = call + Duration::hours(2);
    app.clock.set(claimed_at);
    let t = claim(&mut c, &t.id).await.unwrap();
    let deadline = claimed_at + Duration::hours(1);
    assert_eq!(time(&t.arrive_by), deadline);
    breaches_once_after(&app, &t.id, deadline, "ARRIVE", 0).await;

    // From the call: METER_FAULT's 12 h are not moved by a late claim.
    app.clock.set(call);
    let m = create(&mut d, "METER_FAULT").await;
    dispatch(&mut d, &m.id, "north").await;
    app.clock.set(call + Duration::hours(2));
    let m = claim(&mut c, &m.id).await.unwrap();
    assert_eq!(time(&m.arrive_by), call + Duration::hours(12));

    // An emergency crew that cannot make it books a time by phone.
    let e = create(&mut d, "EMERGENCY_INCIDENT").await;
    dispatch(&mut d, &e.id, "north").await;
    claim(&mut c, &e.id).await.unwrap();
    let when = app.now() + Duration::minutes(30);
    let booked = schedule(&mut c, &e.id, when).await;
    assert_eq!(time(&booked.arrive_by), when);
}

/// R-SLA-3 (corrected): the source never lengthens the accept clock: a
/// 12345 referral has the own hotline's 3 minutes, kept at 3 min and
/// breached once at 3 min 1 s.
#[tokio::test]
async fn r_sla_3_referrals_are_accepted_as_fast_as_own_calls() {
    let app = spawn_app().await;
    let mut d = app.dispatcher().await;
    for source in [
        pb::SourceChannel::CityHotline,
        pb::SourceChannel::SupervisionHotline,
    ] {
        let mut req = create_req("IMPORTANT_REFERRAL");
        req.source = source as i32;
        let t = d.create_ticket(req).await.unwrap().into_inner();
        let t = dispatch(&mut d, &t.id, "north").await;
        let deadline = app.now() + Duration::minutes(3);
        assert_eq!(time(&t.accept_by), deadline, "{source:?}");
        breaches_once_after(&app, &t.id, deadline, "ACCEPT", 0).await;
    }
}

/// R-TKT-7: an agreed appointment becomes the arrival deadline.
#[tokio::test]
async fn r_tkt_7_appointment_moves_the_arrival_deadline() {
    let app = spawn_app().await;
    let t = dispatched_ticket(&app, "INDOOR_MEASUREMENT").await;
    let mut c = app.crew("c1", "north").await;
    claim(&mut c, &t.id).await.unwrap();
    let when = app.now() + Duration::hours(40);
    let t = schedule(&mut c, &t.id, when).await;
    assert_eq!(time(&t.arrive_by), when);
    assert_eq!(time(&t.appointment_time), when);
    assert_eq!(
        events(&app, &t.id).await.last().unwrap().kind,
        "APPOINTMENT_SCHEDULED"
    );
}

/// R-SLA-7: a handheld that was offline reports its claim and arrival late;
/// its device times count. A device time before the previous event does not.
#[tokio::test]
async fn r_sla_7_offline_device_times_count() {
    let app = spawn_app().await;
    let t = dispatched_ticket(&app, "NETWORK_LEAK").await;
    let dispatched_at = app.now();
    app.clock.advance(Duration::hours(3)); // the crew comes back online 3 h later
    let mut c = app.crew("c1", "north").await;
    let claimed_at = dispatched_at + Duration::minutes(2);
    let t = c
        .claim_ticket(pb::ClaimTicketRequest {
            request_id: rid(),
            ticket_id: t.id.clone(),
            occurred_at: Some(ts(claimed_at)),
            device_id: "handheld-1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(time(&t.claim_time), claimed_at);
    // An arrival stamped before the claim: not trusted, the server time counts.
    let t = c
        .record_arrival(pb::RecordArrivalRequest {
            request_id: rid(),
            ticket_id: t.id.clone(),
            location: point(HOME.0, HOME.1),
            accuracy_m: 5.0,
            occurred_at: Some(ts(claimed_at - Duration::minutes(1))),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(time(&t.arrive_time), app.now());
    let ev = events(&app, &t.id).await;
    let claim_ev = ev.iter().find(|e| e.kind == "CLAIMED").unwrap();
    assert!(!claim_ev.time_untrusted);
    assert_eq!(claim_ev.device_id, "handheld-1");
    assert_eq!(time(&claim_ev.receive_time), app.now());
    let arrive_ev = ev.iter().find(|e| e.kind == "ARRIVED").unwrap();
    assert!(arrive_ev.time_untrusted);
    assert_eq!(
        time(&arrive_ev.occurred_at),
        claimed_at - Duration::minutes(1)
    );
}

/// R-SLA-7: beyond the 72 h offline window the device time is not trusted.
#[tokio::test]
async fn r_sla_7_offline_window_boundary() {
    let app = spawn_app().await;
    let t0 = app.now();
    app.clock.advance(Duration::hours(80));
    let mut d = app.dispatcher().await;
    let mut req = create_req("NETWORK_LEAK");
    req.received_at = Some(ts(t0));
    let a = d.create_ticket(req.clone()).await.unwrap().into_inner();
    req.request_id = rid();
    let b = d.create_ticket(req).await.unwrap().into_inner();
    for t in [&a, &b] {
        dispatch(&mut d, &t.id, "north").await;
    }
    // Dispatch happened at server time t0 + 80 h; claims are reported later still.
    app.clock.advance(Duration::hours(73));
    let now = app.now();
    let mut c = app.crew("c1", "north").await;
    for (t, at, untrusted) in [
        (&a, now - Duration::hours(72), false),
        (&b, now - Duration::hours(72) - Duration::seconds(1), true),
    ] {
        c.claim_ticket(pb::ClaimTicketRequest {
            request_id: rid(),
            ticket_id: t.id.clone(),
            occurred_at: Some(ts(at)),
            ..Default::default()
        })
        .await
        .unwrap();
        let ev = events(&app, &t.id).await;
        let e = ev.iter().find(|e| e.kind == "CLAIMED").unwrap();
        assert_eq!(e.time_untrusted, untrusted, "device time {at}");
        assert_eq!(time(&e.effective_time), if untrusted { now } else { at });
    }
}

/// R-TKT-6: a check-in far from the ticket's point is stored, unverified.
#[tokio::test]
async fn r_tkt_6_far_checkin_is_stored_unverified() {
    let app = spawn_app().await;
    let t = dispatched_ticket(&app, "NETWORK_LEAK").await;
    let mut c = app.crew("c1", "north").await;
    claim(&mut c, &t.id).await.unwrap();
    // 0.003 deg of latitude is about 334 m: beyond 300 m + 20 m accuracy.
    let t = c
        .record_arrival(pb::RecordArrivalRequest {
            request_id: rid(),
            ticket_id: t.id.clone(),
            location: point(HOME.0 + 0.003, HOME.1),
            accuracy_m: 20.0,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(t.state(), pb::TicketState::OnSite);
    let a = t.arrival.unwrap();
    assert!(!a.verified);
    assert!((a.distance_m - 333.6).abs() < 2.0, "{}", a.distance_m);
    // With 40 m accuracy the same point is within tolerance.
    let t2 = dispatched_ticket(&app, "NETWORK_LEAK").await;
    claim(&mut c, &t2.id).await.unwrap();
    let t2 = c
        .record_arrival(pb::RecordArrivalRequest {
            request_id: rid(),
            ticket_id: t2.id.clone(),
            location: point(HOME.0 + 0.003, HOME.1),
            accuracy_m: 40.0,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(t2.arrival.unwrap().verified);
}

/// R-SLA-5: approval moves resolve_by, refusal does not, the cap holds.
#[tokio::test]
async fn r_sla_5_extensions() {
    let app = spawn_app().await;
    let mut d = app.dispatcher().await;
    let mut c = app.crew("c1", "north").await;
    let t = dispatched_ticket(&app, "BLOCKAGE").await; // resolve 24 h, cap 24 h + 5 days
    claim(&mut c, &t.id).await.unwrap();
    let request = |extend: Duration| pb::RequestExtensionRequest {
        request_id: rid(),
        ticket_id: t.id.clone(),
        reason: "waiting for a spare pump".into(),
        extend_by: Some(dur(extend)),
        ..Default::default()
    };
    let decide = |approve: bool| pb::DecideExtensionRequest {
        request_id: rid(),
        ticket_id: t.id.clone(),
        approve,
        note: String::new(),
        ..Default::default()
    };
    let before = time(&get(&app, &t.id).await.resolve_by);
    c.request_extension(request(Duration::hours(10)))
        .await
        .unwrap();
    let e = c
        .request_extension(request(Duration::hours(1)))
        .await
        .unwrap_err();
    assert_status(&e, Code::FailedPrecondition, "EXTENSION_PENDING", None);
    let refused = d
        .decide_extension(decide(false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(time(&refused.resolve_by), before);
    assert_eq!(
        refused.extension.unwrap().state(),
        pb::ExtensionState::Refused
    );
    c.request_extension(request(Duration::hours(10)))
        .await
        .unwrap();
    let approved = d.decide_extension(decide(true)).await.unwrap().into_inner();
    assert_eq!(time(&approved.resolve_by), before + Duration::hours(10));
    // The cap (R-SLA-5, corrected): intake + 24 h + 5 days. resolve_by is
    // intake + 34 h now: 4 days 14 h more reach it, one second more passes it.
    let to_cap = Duration::days(4) + Duration::hours(14);
    let e = c
        .request_extension(request(to_cap + Duration::seconds(1)))
        .await
        .unwrap_err();
    assert_status(&e, Code::FailedPrecondition, "EXTENSION_CAP_EXCEEDED", None);
    c.request_extension(request(to_cap)).await.unwrap();
    let refused = d
        .decide_extension(decide(false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(time(&refused.resolve_by), before + Duration::hours(10));
    // After resolve_by has passed: too late.
    app.clock.advance(Duration::hours(35));
    let e = c
        .request_extension(request(Duration::hours(1)))
        .await
        .unwrap_err();
    assert_status(&e, Code::FailedPrecondition, "EXTENSION_TOO_LATE", None);
}

/// R-TKT-9: not satisfied because of the unit reopens as SUPERVISED to the same unit.
#[tokio::test]
async fn r_tkt_9_unit_fault_reopens_for_the_same_unit() {
    let app = spawn_app_with_policy("water").await;
    let mut d = app.dispatcher().await;
    let mut c = app.crew("c1", "north").await;
    let t = dispatched_ticket(&app, "METER_FAULT").await;
    claim(&mut c, &t.id).await.unwrap();
    arrive(&mut c, &t.id).await;
    let t = complete(&mut c, &t.id).await;
    assert_eq!(
        time(&t.revisit_by),
        app.now() + Duration::hours(24),
        "water revisit within 24 h"
    );
    app.clock.advance(Duration::hours(2));
    let t = d
        .record_revisit(pb::RecordRevisitRequest {
            request_id: rid(),
            ticket_id: t.id.clone(),
            outcome: pb::RevisitOutcome::NotSatisfiedUnitFault as i32,
            notes: "still no water on floor 5".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(t.state(), pb::TicketState::Supervised);
    assert_eq!(t.unit, "north");
    assert_eq!(t.assignee, "");
    assert_eq!(t.escalation_level, 1);
    assert_eq!(
        time(&t.resolve_by),
        app.now() + Duration::hours(36),
        "fresh resolve clock"
    );
    // Re-dispatched to the unit, the crew works it again.
    let t = dispatch(&mut d, &t.id, "north").await;
    claim(&mut c, &t.id).await.unwrap();
}

/// R-TKT-10: a supervisor's notice raises the escalation and sets a new deadline;
/// on a closed ticket it reopens it.
#[tokio::test]
async fn r_tkt_10_supervision_notice() {
    let app = spawn_app().await;
    let mut s = app.supervisor().await;
    let t = dispatched_ticket(&app, "BLOCKAGE").await;
    let notice = |id: &str| pb::SuperviseRequest {
        request_id: rid(),
        ticket_id: id.into(),
        notice: "督办: resolve today".into(),
        resolve_within: Some(dur(Duration::hours(4))),
        ..Default::default()
    };
    let before = t.clone();
    let t = s.supervise(notice(&t.id)).await.unwrap().into_inner();
    assert_eq!(
        t.state(),
        pb::TicketState::Dispatched,
        "the crew keeps working"
    );
    assert_eq!(t.escalation_level, 1);
    assert_eq!(t.supervision_count, 1);
    // The notice runs its own clock; the resolve clock keeps its deadline.
    assert_eq!(time(&t.supervise_by), app.now() + Duration::hours(4));
    assert_eq!(t.resolve_by, before.resolve_by);
    let n = t.supervision.as_ref().expect("the notice");
    assert_eq!(n.trigger(), pb::SupervisionTrigger::Manual);
    assert_eq!(n.notice, "督办: resolve today");
    assert_eq!(n.issued_by, "s1");
    assert_eq!(n.deadline, t.supervise_by);

    let mut d = app.dispatcher().await;
    let mut req = create_req("CONSULTATION");
    req.answered_on_call = true; // R-TKT-2: answered on the phone, closed at once
    let closed = d.create_ticket(req).await.unwrap().into_inner();
    assert_eq!(closed.state(), pb::TicketState::Closed);
    let reopened = s.supervise(notice(&closed.id)).await.unwrap().into_inner();
    assert_eq!(reopened.state(), pb::TicketState::Supervised);
    assert!(reopened.close_time.is_none());
}
