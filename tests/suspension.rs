//! Suspension of a complaint (DOMAIN.md R-TKT-16): only with a supervisor's
//! approval; while suspended the clocks stand still and nothing but the
//! resume moves the ticket; resumed, it returns to the state it left and
//! each clock has the time it had left. The server runs on a manual clock;
//! the monitor's passes are run here.
mod common;

use chrono::Duration;
use common::*;
use fieldops::domain::Role;
use fieldops::grpc::pb;
use tonic::Code;

fn complaint(category: &str) -> pb::CreateTicketRequest {
    pb::CreateTicketRequest {
        r#type: pb::TicketType::Complaint as i32,
        ..create_req(category)
    }
}

async fn suspend(k: &mut Client, id: &str, reason: &str) -> Result<pb::Ticket, tonic::Status> {
    k.suspend_ticket(pb::SuspendTicketRequest {
        request_id: rid(),
        ticket_id: id.into(),
        reason: reason.into(),
        ..Default::default()
    })
    .await
    .map(|r| r.into_inner())
}

async fn resume(k: &mut Client, id: &str) -> Result<pb::Ticket, tonic::Status> {
    k.resume_ticket(pb::ResumeTicketRequest {
        request_id: rid(),
        ticket_id: id.into(),
        note: "the caller withdrew the demand".into(),
        ..Default::default()
    })
    .await
    .map(|r| r.into_inner())
}

async fn kinds(app: &TestApp, id: &str) -> Vec<String> {
    events(app, id).await.into_iter().map(|e| e.kind).collect()
}

/// R-TKT-16: a dispatcher asks, a supervisor approves; only a complaint,
/// only with a reason; a suspended ticket takes no step but the resume; a
/// request not yet approved can be withdrawn. Refusals change nothing.
#[tokio::test]
async fn r_tkt_16_only_with_a_supervisors_approval() {
    let app = spawn_app_with_policy("water").await;
    let mut d = app.dispatcher().await;
    let mut s = app.supervisor().await;
    let t = d
        .create_ticket(complaint("METER_FAULT"))
        .await
        .unwrap()
        .into_inner();
    let t = dispatch(&mut d, &t.id, "north").await;

    let e = suspend(&mut d, &t.id, " ").await.unwrap_err();
    assert_status(&e, Code::InvalidArgument, "MISSING_FIELD", Some("reason"));
    let mut c = app.crew("c1", "north").await;
    let e = suspend(&mut c, &t.id, "x").await.unwrap_err();
    assert_status(&e, Code::PermissionDenied, "ROLE_NOT_ALLOWED", None);
    let help = dispatched_ticket(&app, "METER_FAULT").await;
    let e = suspend(&mut s, &help.id, "unreasonable").await.unwrap_err();
    assert_status(&e, Code::FailedPrecondition, "NOT_A_COMPLAINT", None);
    assert_eq!(get(&app, &help.id).await.version, help.version);

    let asked = suspend(&mut d, &t.id, "demands a free meter every year")
        .await
        .unwrap();
    assert_eq!(
        asked.state(),
        pb::TicketState::Dispatched,
        "a request is not a suspension"
    );
    let p = asked.suspension.as_ref().unwrap();
    assert!(p.approved_by.is_empty() && p.requested_by == "d1");
    let e = suspend(&mut d, &t.id, "again").await.unwrap_err();
    assert_status(&e, Code::FailedPrecondition, "SUSPENSION_PENDING", None);

    let done = suspend(&mut s, &t.id, "").await.unwrap();
    assert_eq!(done.state(), pb::TicketState::Suspended);
    let p = done.suspension.as_ref().unwrap();
    assert_eq!(p.approved_by, "s1");
    assert_eq!(p.reason, "demands a free meter every year");
    assert_eq!(p.left(), pb::TicketState::Dispatched);
    assert_eq!(done.suspensions, 1);

    // Suspended: the crew cannot claim it, dispatch cannot cancel it.
    let e = claim(&mut c, &t.id).await.unwrap_err();
    assert_status(&e, Code::FailedPrecondition, "INVALID_TRANSITION", None);
    let e = d
        .cancel_ticket(pb::CancelTicketRequest {
            request_id: rid(),
            ticket_id: t.id.clone(),
            reason: "dup".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_status(&e, Code::FailedPrecondition, "INVALID_TRANSITION", None);
    let e = suspend(&mut s, &t.id, "twice").await.unwrap_err();
    assert_status(&e, Code::FailedPrecondition, "INVALID_TRANSITION", None);

    let back = resume(&mut d, &t.id).await.unwrap();
    assert_eq!(back.state(), pb::TicketState::Dispatched);
    assert!(back.suspension.is_none());
    claim(&mut c, &t.id).await.expect("claimable again");
    let e = resume(&mut d, &t.id).await.unwrap_err();
    assert_status(&e, Code::FailedPrecondition, "INVALID_TRANSITION", None);

    // A request not yet approved is withdrawn by a resume.
    let u = d
        .create_ticket(complaint("METER_FAULT"))
        .await
        .unwrap()
        .into_inner();
    suspend(&mut d, &u.id, "unreasonable").await.unwrap();
    let w = resume(&mut s, &u.id).await.unwrap();
    assert_eq!((w.state(), w.suspensions), (pb::TicketState::New, 0));
    assert!(w.suspension.is_none());

    assert_eq!(
        kinds(&app, &t.id).await,
        [
            "CREATED",
            "DISPATCHED",
            "SUSPENSION_REQUESTED",
            "SUSPENDED",
            "RESUMED",
            "CLAIMED"
        ]
    );
    assert_eq!(
        kinds(&app, &u.id).await,
        ["CREATED", "SUSPENSION_REQUESTED", "SUSPENSION_WITHDRAWN"]
    );
}

/// R-TKT-16: suspended one second before its accept deadline and resumed
/// two hours after it, the accept clock has one second left: kept at the
/// resume + 1 s, breached once just after; no clock breaches while the
/// ticket is suspended; a clock breached before the suspension stays where
/// it was; every running deadline moves by the same pause.
#[tokio::test]
async fn r_tkt_16_clocks_stand_still_and_resume_with_their_time_left() {
    let app = spawn_with_monitor(fresh_store().await).await;
    let mut d = app.dispatcher().await;
    let mut s = app.supervisor().await;
    let t0 = app.now();
    // Its arrival clock (40 min) breaches before the suspension.
    let early = d
        .create_ticket(complaint("EMERGENCY_INCIDENT"))
        .await
        .unwrap()
        .into_inner();
    let t = d
        .create_ticket(complaint("METER_FAULT"))
        .await
        .unwrap()
        .into_inner();
    let t = dispatch(&mut d, &t.id, "north").await;
    let accept_by = time(&t.accept_by);
    assert_eq!(accept_by, t0 + Duration::minutes(3));

    // Suspend `t` one second before its accept deadline.
    app.clock.set(accept_by - Duration::seconds(1));
    let suspended = suspend(&mut s, &t.id, "unreasonable demands")
        .await
        .unwrap();
    assert_eq!(suspended.state(), pb::TicketState::Suspended);
    // `early` is suspended after its arrival clock breached: that one must not move.
    app.clock.set(t0 + Duration::hours(1));
    app.run_monitor().await;
    assert_eq!(breaches_of(&app, &early.id, "ARRIVE").await, 1);
    let early_arrive_by = time(&get(&app, &early.id).await.arrive_by);
    suspend(&mut s, &early.id, "unreasonable demands")
        .await
        .unwrap();

    // Long after every deadline: nothing breaches while suspended.
    let resume_at = accept_by + Duration::hours(2);
    app.clock.set(resume_at);
    app.run_monitor().await;
    assert!(
        breach_events(&app, &t.id).await.is_empty(),
        "clocks stand still"
    );

    let back = resume(&mut s, &t.id).await.unwrap();
    assert_eq!(back.state(), pb::TicketState::Dispatched);
    let paused = resume_at - (accept_by - Duration::seconds(1));
    let new_accept = time(&back.accept_by);
    assert_eq!(
        new_accept,
        resume_at + Duration::seconds(1),
        "one second left"
    );
    for (before, after) in [
        (&t.arrive_by, &back.arrive_by),
        (&t.resolve_by, &back.resolve_by),
        (&t.feedback_by, &back.feedback_by),
        (&t.caller_update_by, &back.caller_update_by),
    ] {
        assert_eq!(time(after), time(before) + paused);
    }
    clock_breaches_once_at(&app, &t.id, new_accept, "ACCEPT").await;

    // A platform's deadline is the platform's: a suspension does not move
    // it (R-TKT-15); our own clocks move.
    let referred = d
        .create_ticket(pb::CreateTicketRequest {
            source: pb::SourceChannel::CityHotline as i32,
            referral: Some(pb::ReferralIntake {
                reference: "GD-SUSP-1".into(),
                deadline: Some(ts(app.now() + Duration::days(4))),
            }),
            ..complaint("METER_FAULT")
        })
        .await
        .unwrap()
        .into_inner();
    suspend(&mut s, &referred.id, "unreasonable demands")
        .await
        .unwrap();
    app.clock.advance(Duration::hours(5));
    let back_ref = resume(&mut s, &referred.id).await.unwrap();
    assert_eq!(
        time(&back_ref.reply_by),
        time(&referred.reply_by),
        "not moved"
    );
    assert_eq!(
        time(&back_ref.feedback_by),
        time(&referred.feedback_by) + Duration::hours(5)
    );

    let early_back = resume(&mut d, &early.id).await.unwrap();
    assert_eq!(
        time(&early_back.arrive_by),
        early_arrive_by,
        "a breached clock is not moved"
    );
    assert_eq!(breaches_of(&app, &early.id, "ARRIVE").await, 1);
}

/// A supervisor on his rounds suspends and resumes through Push; replays
/// are answered from the first time and suspend nothing twice.
#[tokio::test]
async fn suspension_through_push_with_replays() {
    let app = spawn_app_with_policy("water").await;
    let mut d = app.dispatcher().await;
    let t = d
        .create_ticket(complaint("METER_FAULT"))
        .await
        .unwrap()
        .into_inner();
    let queue = vec![
        pb::mutation::Request::Suspend(pb::SuspendTicketRequest {
            request_id: rid(),
            ticket_id: t.id.clone(),
            reason: "unreasonable".into(),
            ..Default::default()
        }),
        pb::mutation::Request::Resume(pb::ResumeTicketRequest {
            request_id: rid(),
            ticket_id: t.id.clone(),
            ..Default::default()
        }),
    ];
    let (first, replay) = push_and_replay(&app, "s1", Role::Supervisor, queue).await;
    assert_eq!(
        first,
        [pb::MutationOutcome::Applied, pb::MutationOutcome::Applied]
    );
    assert_eq!(
        replay,
        [
            pb::MutationOutcome::Duplicate,
            pb::MutationOutcome::Duplicate
        ]
    );
    let now = get(&app, &t.id).await;
    assert_eq!((now.state(), now.suspensions), (pb::TicketState::New, 1));
    assert_eq!(
        kinds(&app, &t.id).await,
        ["CREATED", "SUSPENDED", "RESUMED"]
    );
}
