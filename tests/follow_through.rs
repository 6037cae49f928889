//! Referrals from other platforms (DOMAIN.md R-TKT-15) and the feedback
//! ladder (R-SLA-6): a referral carries the platform's reference and
//! deadline (or the policy's 5 days), is referred once, and is answered by
//! a recorded contact with the referrer; each step of the ladder is a clock
//! a recorded contact stops and that breaches once just after its deadline.
//! The server runs on a manual clock; the monitor's passes are run here.
mod common;

use chrono::{DateTime, Duration, Utc};
use common::*;
use fieldops::domain::Role;
use fieldops::grpc::pb;
use fieldops::grpc::pb::sync_service_client::SyncServiceClient;
use std::sync::Arc;
use tokio::sync::Barrier;
use tonic::{Code, Status};
use tonic_types::StatusExt;

fn referral_req(
    source: pb::SourceChannel,
    reference: &str,
    deadline: Option<DateTime<Utc>>,
) -> pb::CreateTicketRequest {
    pb::CreateTicketRequest {
        source: source as i32,
        referral: Some(pb::ReferralIntake {
            reference: reference.into(),
            deadline: deadline.map(ts),
        }),
        ..create_req("METER_FAULT")
    }
}

fn contact_req(id: &str, counterpart: pb::Counterpart, result: bool) -> pb::RecordContactRequest {
    pb::RecordContactRequest {
        request_id: rid(),
        ticket_id: id.into(),
        counterpart: counterpart as i32,
        channel: pb::ContactChannel::Phone as i32,
        summary: "told the caller the meter is ordered".into(),
        result,
        ..Default::default()
    }
}

async fn contact(
    k: &mut Client,
    id: &str,
    counterpart: pb::Counterpart,
    result: bool,
) -> Result<pb::Ticket, Status> {
    k.record_contact(contact_req(id, counterpart, result))
        .await
        .map(|r| r.into_inner())
}

fn outcome(t: &pb::Ticket, clock: pb::ClockKind) -> Option<bool> {
    t.clock_outcomes
        .iter()
        .find(|o| o.clock() == clock)
        .map(|o| o.on_time)
}

/// R-TKT-15: the platform's deadline is the reply clock's; without one the
/// policy's 5 days apply; a reference on a call from elsewhere, or a
/// deadline before the call, is refused and nothing is stored.
#[tokio::test]
async fn r_tkt_15_platform_deadline_or_the_default() {
    let app = spawn_app_with_policy("water").await;
    let mut d = app.dispatcher().await;
    let call = app.now();
    let given = call + Duration::hours(36);
    let t = d
        .create_ticket(referral_req(
            pb::SourceChannel::CityHotline,
            "GD-2026-0001",
            Some(given),
        ))
        .await
        .unwrap()
        .into_inner();
    let r = t.referral.as_ref().unwrap();
    assert_eq!(
        (r.reference.as_str(), r.deadline_from_platform),
        ("GD-2026-0001", true)
    );
    assert_eq!(time(&t.reply_by), given);

    let t = d
        .create_ticket(referral_req(
            pb::SourceChannel::DigitalCity,
            "SZCG/77",
            None,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!t.referral.as_ref().unwrap().deadline_from_platform);
    assert_eq!(time(&t.reply_by), call + Duration::days(5));

    // A call to the own hotline owes no platform a reply.
    let own = create(&mut d, "METER_FAULT").await;
    assert!(own.referral.is_none() && own.reply_by.is_none());

    let before = ticket_count(&app).await;
    let e = d
        .create_ticket(referral_req(pb::SourceChannel::Hotline, "X-1", None))
        .await
        .unwrap_err();
    assert_status(
        &e,
        Code::InvalidArgument,
        "NOT_A_PLATFORM",
        Some("referral"),
    );
    let e = d
        .create_ticket(referral_req(
            pb::SourceChannel::CityHotline,
            "X-2",
            Some(call),
        ))
        .await
        .unwrap_err();
    assert_status(
        &e,
        Code::InvalidArgument,
        "OUT_OF_RANGE",
        Some("referral.deadline"),
    );
    let e = d
        .create_ticket(referral_req(
            pb::SourceChannel::CityHotline,
            "X 3; drop",
            None,
        ))
        .await
        .unwrap_err();
    assert_status(
        &e,
        Code::InvalidArgument,
        "INVALID_FIELD",
        Some("referral.reference"),
    );
    assert_eq!(
        ticket_count(&app).await,
        before,
        "nothing stored by the refusals"
    );
}

/// R-TKT-15: the reply is a contact with the referrer that carries the
/// outcome: at the deadline it is in time; an interim word does not stop
/// the clock; without a reply it breaches once just after the deadline, and
/// a late reply still counts as late. The reply is owed after the caller's
/// matter is closed too.
#[tokio::test]
async fn r_tkt_15_reply_in_time_and_late() {
    let app = spawn_with_monitor(fresh_store().await).await;
    let mut d = app.dispatcher().await;
    let call = app.now();
    let deadline = call + Duration::days(2);
    let kept = d
        .create_ticket(referral_req(
            pb::SourceChannel::CityHotline,
            "GD-1",
            Some(deadline),
        ))
        .await
        .unwrap()
        .into_inner();
    let late = d
        .create_ticket(referral_req(
            pb::SourceChannel::CityHotline,
            "GD-2",
            Some(deadline),
        ))
        .await
        .unwrap()
        .into_inner();

    app.clock.set(call + Duration::hours(1));
    let interim = contact(&mut d, &kept.id, pb::Counterpart::Referrer, false)
        .await
        .unwrap();
    assert_eq!(
        outcome(&interim, pb::ClockKind::Reply),
        None,
        "an interim word is no reply"
    );
    app.clock.set(deadline);
    let replied = contact(&mut d, &kept.id, pb::Counterpart::Referrer, true)
        .await
        .unwrap();
    assert_eq!(outcome(&replied, pb::ClockKind::Reply), Some(true));
    assert_eq!(replied.contacts.len(), 2);
    assert_eq!(replied.contacts[1].counterpart(), pb::Counterpart::Referrer);
    assert_eq!(time(&replied.contacts[1].time), deadline);

    clock_breaches_once_at(&app, &late.id, deadline, "REPLY").await;
    assert_eq!(breaches_of(&app, &kept.id, "REPLY").await, 0);
    let t = contact(&mut d, &late.id, pb::Counterpart::Referrer, true)
        .await
        .unwrap();
    assert_eq!(outcome(&t, pb::ClockKind::Reply), Some(false));

    // Answered on the call, the caller is done with; the platform is not.
    let req = pb::CreateTicketRequest {
        answered_on_call: true,
        ..referral_req(pb::SourceChannel::SupervisionHotline, "12319-9", None)
    };
    let closed = d.create_ticket(req).await.unwrap().into_inner();
    assert_eq!(closed.state(), pb::TicketState::Closed);
    assert_eq!(time(&closed.reply_by), app.now() + Duration::days(5));
    assert!(closed.callback_by.is_none() && closed.caller_update_by.is_none());
    clock_breaches_once_at(&app, &closed.id, time(&closed.reply_by), "REPLY").await;
}

/// R-TKT-15: a platform's reference is referred once: a second intake is
/// ALREADY_EXISTS naming the first ticket and stores nothing; the same
/// reference on another platform is another matter. Racing intakes of one
/// reference: exactly one wins. The reference is searchable.
#[tokio::test]
async fn r_tkt_15_a_reference_is_referred_once() {
    let app = spawn_app_with_policy("water").await;
    let mut d = app.dispatcher().await;
    let first = d
        .create_ticket(referral_req(pb::SourceChannel::CityHotline, "GD-42", None))
        .await
        .unwrap()
        .into_inner();
    let before = ticket_count(&app).await;
    let e = d
        .create_ticket(referral_req(
            pb::SourceChannel::CityHotline,
            " GD-42 ",
            None,
        ))
        .await
        .unwrap_err();
    assert_status(&e, Code::AlreadyExists, "REFERRAL_EXISTS", None);
    let info = e.get_error_details().error_info().cloned().unwrap();
    assert_eq!(info.metadata.get("ticket_id"), Some(&first.id));
    assert!(e.message().contains(&first.id));
    assert_eq!(ticket_count(&app).await, before, "nothing created");
    d.create_ticket(referral_req(
        pb::SourceChannel::SupervisionHotline,
        "GD-42",
        None,
    ))
    .await
    .expect("another platform's reference");

    // Eight intakes of one new reference at once.
    let n = 8;
    let barrier = Arc::new(Barrier::new(n));
    let mut tasks = Vec::new();
    for _ in 0..n {
        let mut k = app.dispatcher().await;
        let b = barrier.clone();
        tasks.push(tokio::spawn(async move {
            let req = referral_req(pb::SourceChannel::ServiceHotline, "8901890-7", None);
            b.wait().await;
            k.create_ticket(req).await.map(|r| r.into_inner())
        }));
    }
    let mut won = Vec::new();
    let mut refused = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(t) => won.push(t),
            Err(e) => refused.push(e),
        }
    }
    assert_eq!(won.len(), 1, "exactly one intake wins");
    for e in &refused {
        assert_status(e, Code::AlreadyExists, "REFERRAL_EXISTS", None);
        let info = e.get_error_details().error_info().cloned().unwrap();
        assert_eq!(info.metadata.get("ticket_id"), Some(&won[0].id));
    }

    let found = d
        .list_tickets(pb::ListTicketsRequest {
            platform_reference: "GD-42".into(),
            source: pb::SourceChannel::CityHotline as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .tickets;
    let ids: Vec<_> = found.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, [first.id.as_str()]);
    let any_platform = d
        .list_tickets(pb::ListTicketsRequest {
            platform_reference: "GD-42".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .tickets;
    assert_eq!(any_platform.len(), 2);
}

/// R-SLA-6 [000 四.8(1)]: a consultation or emergency help handled by phone:
/// the caller is called back within 1 h of the call, the unit reports to the
/// first-responsible person within 40 min of the dispatch, the caller hears
/// the result within 24 h. Each kept at its deadline, breached once after.
#[tokio::test]
async fn r_sla_6_ladder_of_a_matter_handled_by_phone() {
    let app = spawn_with_monitor(fresh_store().await).await;
    let mut d = app.dispatcher().await;
    let call = app.now();
    let phone_req = |t: pb::TicketType| pb::CreateTicketRequest {
        r#type: t as i32,
        ..create_req("METER_FAULT")
    };
    let kept = d
        .create_ticket(phone_req(pb::TicketType::Consultation))
        .await
        .unwrap()
        .into_inner();
    let missed = d
        .create_ticket(phone_req(pb::TicketType::HelpEmergency))
        .await
        .unwrap()
        .into_inner();
    for t in [&kept, &missed] {
        assert_eq!(time(&t.callback_by), call + Duration::hours(1));
        assert_eq!(time(&t.result_by), call + Duration::hours(24));
        assert!(t.unit_report_by.is_none(), "runs from the dispatch");
        assert!(t.caller_update_by.is_none(), "not a transferred matter");
    }
    app.clock.set(call + Duration::minutes(10));
    for t in [&kept, &missed] {
        let t = dispatch(&mut d, &t.id, "north").await;
        assert_eq!(time(&t.unit_report_by), call + Duration::minutes(50));
    }

    // The unit reports to the first-responsible person at 50 min: kept.
    app.clock.set(call + Duration::minutes(50));
    let mut c = app.crew("c1", "north").await;
    let t = contact(&mut c, &kept.id, pb::Counterpart::FirstResponsible, false)
        .await
        .unwrap();
    assert_eq!(outcome(&t, pb::ClockKind::UnitReport), Some(true));
    clock_breaches_once_at(
        &app,
        &missed.id,
        call + Duration::minutes(50),
        "UNIT_REPORT",
    )
    .await;

    app.clock.set(call + Duration::hours(1));
    let t = contact(&mut d, &kept.id, pb::Counterpart::Caller, false)
        .await
        .unwrap();
    assert_eq!(outcome(&t, pb::ClockKind::Callback), Some(true));
    assert_eq!(
        outcome(&t, pb::ClockKind::Result),
        None,
        "no result told yet"
    );
    clock_breaches_once_at(&app, &missed.id, call + Duration::hours(1), "CALLBACK").await;

    app.clock.set(call + Duration::hours(24));
    let t = contact(&mut d, &kept.id, pb::Counterpart::Caller, true)
        .await
        .unwrap();
    assert_eq!(outcome(&t, pb::ClockKind::Result), Some(true));
    assert_eq!(
        outcome(&t, pb::ClockKind::Feedback),
        Some(true),
        "the result is the feedback"
    );
    clock_breaches_once_at(&app, &missed.id, call + Duration::hours(24), "RESULT").await;
    for kind in ["UNIT_REPORT", "CALLBACK", "RESULT"] {
        assert_eq!(breaches_of(&app, &kept.id, kind).await, 0, "{kind}");
    }
}

/// R-SLA-6 [000 四.8(2)]: general help transferred to a unit: the caller and
/// the referring body hear back within 3 days of the call.
#[tokio::test]
async fn r_sla_6_ladder_of_a_transferred_matter() {
    let app = spawn_with_monitor(fresh_store().await).await;
    let mut d = app.dispatcher().await;
    let call = app.now();
    let t = d
        .create_ticket(referral_req(
            pb::SourceChannel::CityHotline,
            "GD-300",
            Some(call + Duration::days(10)),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(t.r#type(), pb::TicketType::HelpGeneral);
    let three_days = call + Duration::days(3);
    assert_eq!(time(&t.caller_update_by), three_days);
    // A second transferred matter whose caller hears nothing.
    let silent = create(&mut d, "METER_FAULT").await;
    assert_eq!(time(&silent.caller_update_by), three_days);
    assert_eq!(time(&t.referrer_update_by), three_days);
    assert!(t.callback_by.is_none() && t.result_by.is_none());
    // Praise asks for no answer.
    let praise = d
        .create_ticket(pb::CreateTicketRequest {
            r#type: pb::TicketType::Praise as i32,
            ..create_req("METER_FAULT")
        })
        .await
        .unwrap()
        .into_inner();
    assert!(praise.caller_update_by.is_none() && praise.callback_by.is_none());

    app.clock.set(three_days);
    let after = contact(&mut d, &t.id, pb::Counterpart::Caller, false)
        .await
        .unwrap();
    assert_eq!(outcome(&after, pb::ClockKind::CallerUpdate), Some(true));
    clock_breaches_once_at(&app, &t.id, three_days, "REFERRER_UPDATE").await;
    assert_eq!(breaches_of(&app, &t.id, "CALLER_UPDATE").await, 0);
    assert_eq!(breaches_of(&app, &silent.id, "CALLER_UPDATE").await, 1);
    // The platform reply clock (10 days) is still running.
    assert_eq!(breaches_of(&app, &t.id, "REPLY").await, 0);
}

/// RecordContact's refusals: a contact nobody can have had, or by someone
/// outside the ticket's scope, is refused and changes nothing.
#[tokio::test]
async fn record_contact_refusals() {
    let app = spawn_app_with_policy("water").await;
    let mut d = app.dispatcher().await;
    let t = dispatched_ticket(&app, "METER_FAULT").await;

    let e = contact(&mut d, &t.id, pb::Counterpart::Referrer, true)
        .await
        .unwrap_err();
    assert_status(&e, Code::FailedPrecondition, "NOT_A_REFERRAL", None);
    let mut req = contact_req(&t.id, pb::Counterpart::Caller, false);
    req.summary = "  ".into();
    let e = d.record_contact(req).await.unwrap_err();
    assert_status(&e, Code::InvalidArgument, "MISSING_FIELD", Some("summary"));
    let mut req = contact_req(&t.id, pb::Counterpart::Unspecified, false);
    req.counterpart = 0;
    let e = d.record_contact(req).await.unwrap_err();
    assert_status(
        &e,
        Code::InvalidArgument,
        "MISSING_FIELD",
        Some("counterpart"),
    );
    let mut south = app.crew("c9", "south").await;
    let e = contact(&mut south, &t.id, pb::Counterpart::Caller, false)
        .await
        .unwrap_err();
    assert_status(&e, Code::NotFound, "TICKET_NOT_FOUND", None);
    let mut i = app.client_for("i1", &[Role::Inspector], "hq").await;
    let e = contact(&mut i, &t.id, pb::Counterpart::Caller, false)
        .await
        .unwrap_err();
    assert_status(&e, Code::PermissionDenied, "ROLE_NOT_ALLOWED", None);
    d.cancel_ticket(pb::CancelTicketRequest {
        request_id: rid(),
        ticket_id: t.id.clone(),
        reason: "duplicate".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let e = contact(&mut d, &t.id, pb::Counterpart::Caller, false)
        .await
        .unwrap_err();
    assert_status(&e, Code::FailedPrecondition, "INVALID_TRANSITION", None);
    assert!(
        get(&app, &t.id).await.contacts.is_empty(),
        "nothing recorded"
    );

    // A crew member of the unit who does not hold the ticket sees that a
    // contact was made, not what was said (it may name the caller, R-TKT-13).
    let t = dispatched_ticket(&app, "METER_FAULT").await;
    contact(&mut d, &t.id, pb::Counterpart::Caller, false)
        .await
        .unwrap();
    let mut north = app.crew("c2", "north").await;
    let seen = north
        .get_ticket(pb::GetTicketRequest {
            ticket_id: t.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(seen.contacts.len(), 1);
    assert!(seen.contacts[0].summary.is_empty());
}

/// A crew records a finding and the contact with its caller offline: Push
/// applies each once; the replayed batch is answered as duplicates and
/// neither the ticket nor the contact is doubled.
#[tokio::test]
async fn intake_and_contact_through_push_with_replays() {
    let app = spawn_app_with_policy("water").await;
    let mut sync = SyncServiceClient::with_interceptor(
        app.channel().await,
        bearer_for("c1", &[Role::Crew], "north"),
    );
    let create = pb::CreateTicketRequest {
        source: pb::SourceChannel::CrewFinding as i32,
        ..create_req("METER_FAULT")
    };
    let client_id = uuid::Uuid::now_v7().to_string();
    let first = pb::PushRequest {
        client_id: client_id.clone(),
        mutations: vec![pb::Mutation {
            mutation_id: 1,
            request: Some(pb::mutation::Request::CreateTicket(create)),
        }],
    };
    let r = sync.push(first.clone()).await.unwrap().into_inner();
    assert_eq!(r.results[0].outcome(), pb::MutationOutcome::Applied);
    let Some(pb::mutation_result::Result::Ticket(t)) = &r.results[0].result else {
        panic!("a ticket");
    };
    assert_eq!(t.source(), pb::SourceChannel::CrewFinding);
    assert_eq!(t.received_by, "c1");
    let contact = pb::Mutation {
        mutation_id: 2,
        request: Some(pb::mutation::Request::Contact(contact_req(
            &t.id,
            pb::Counterpart::Caller,
            false,
        ))),
    };
    let both = pb::PushRequest {
        client_id: client_id.clone(),
        mutations: vec![first.mutations[0].clone(), contact],
    };
    let r = sync.push(both.clone()).await.unwrap().into_inner();
    let outcomes: Vec<_> = r.results.iter().map(|x| x.outcome()).collect();
    assert_eq!(
        outcomes,
        [pb::MutationOutcome::Duplicate, pb::MutationOutcome::Applied]
    );
    let r = sync.push(both).await.unwrap().into_inner();
    let outcomes: Vec<_> = r.results.iter().map(|x| x.outcome()).collect();
    assert_eq!(
        outcomes,
        [
            pb::MutationOutcome::Duplicate,
            pb::MutationOutcome::Duplicate
        ]
    );
    assert_eq!(ticket_count(&app).await, 1);
    assert_eq!(get(&app, &t.id).await.contacts.len(), 1);
}

/// R-SLA-6 [000 §2(2)e]: a matter still unresolved 7 days after the call
/// needs a supervisor's approval recorded before then: approved at the 7th
/// day it is kept, resolved before it needs none, with neither it breaches
/// once just after; only a supervisor approves, once, with a note. Telling
/// the caller the time limit at intake is recorded.
#[tokio::test]
async fn r_sla_6_beyond_seven_days_needs_a_supervisors_approval() {
    let app = spawn_with_monitor(fresh_store().await).await;
    let mut d = app.dispatcher().await;
    let mut s = app.supervisor().await;
    let call = app.now();
    let seven = call + Duration::days(7);
    let approved = d
        .create_ticket(pb::CreateTicketRequest {
            time_limit_told: true,
            ..create_req("LONG_COORDINATION")
        })
        .await
        .unwrap()
        .into_inner();
    assert!(approved.time_limit_told);
    assert_eq!(time(&approved.long_matter_by), seven);
    let missed = create(&mut d, "LONG_COORDINATION").await;
    assert!(!missed.time_limit_told);
    let resolved = dispatched_ticket(&app, "METER_FAULT").await;
    let mut c = app.crew("c1", "north").await;
    claim(&mut c, &resolved.id).await.unwrap();
    arrive(&mut c, &resolved.id).await;
    let done = complete(&mut c, &resolved.id).await;
    assert_eq!(outcome(&done, pb::ClockKind::LongMatter), Some(true));

    let approve = |id: &str, note: &str| pb::ApproveLongMatterRequest {
        request_id: rid(),
        ticket_id: id.into(),
        note: note.into(),
        ..Default::default()
    };
    let e = d
        .approve_long_matter(approve(&approved.id, "coordination with the district"))
        .await
        .unwrap_err();
    assert_status(&e, Code::PermissionDenied, "ROLE_NOT_ALLOWED", None);
    let e = s
        .approve_long_matter(approve(&approved.id, " "))
        .await
        .unwrap_err();
    assert_status(&e, Code::InvalidArgument, "MISSING_FIELD", Some("note"));
    app.clock.set(seven);
    let t = s
        .approve_long_matter(approve(
            &approved.id,
            "coordination with the district, 10 more days",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(outcome(&t, pb::ClockKind::LongMatter), Some(true));
    assert_eq!(t.long_matter.as_ref().unwrap().approved_by, "s1");
    let e = s
        .approve_long_matter(approve(&approved.id, "again"))
        .await
        .unwrap_err();
    assert_status(&e, Code::FailedPrecondition, "ALREADY_APPROVED", None);

    clock_breaches_once_at(&app, &missed.id, seven, "LONG_MATTER").await;
    assert_eq!(breaches_of(&app, &approved.id, "LONG_MATTER").await, 0);
    assert_eq!(breaches_of(&app, &resolved.id, "LONG_MATTER").await, 0);
}

/// A supervisor approves a long matter from his handheld; the replay is
/// answered from the first time.
#[tokio::test]
async fn long_matter_approval_through_push_with_replays() {
    let app = spawn_app_with_policy("water").await;
    let mut d = app.dispatcher().await;
    let t = create(&mut d, "LONG_COORDINATION").await;
    let approve = pb::mutation::Request::ApproveLongMatter(pb::ApproveLongMatterRequest {
        request_id: rid(),
        ticket_id: t.id.clone(),
        note: "needs the district's works, 14 days".into(),
        ..Default::default()
    });
    let (first, replay) = push_and_replay(&app, "s1", Role::Supervisor, vec![approve]).await;
    assert_eq!(first, [pb::MutationOutcome::Applied]);
    assert_eq!(replay, [pb::MutationOutcome::Duplicate]);
    let now = get(&app, &t.id).await;
    assert_eq!(now.version, t.version + 1, "approved once");
    assert_eq!(now.long_matter.unwrap().approved_by, "s1");
}
