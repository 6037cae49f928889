//! Major matters (DOMAIN.md R-TKT-17, R-SLA-6 [000 四.8(4)]): flagged at
//! intake or later, with a responsible person and the leader's instruction
//! and deadline; the leadership hears daily and the caller and the
//! referring body every 3 days, each a clock that is owed again after it
//! breaches or is kept, until the matter is resolved; by the leader's
//! deadline it is resolved or a written report is made. The server runs on
//! a manual clock; the monitor's passes are run here.
mod common;

use chrono::{DateTime, Duration, Utc};
use common::*;
use fieldops::domain::Role;
use fieldops::grpc::pb;
use tonic::Code;

fn major(kind: pb::MajorKind, deadline: Option<DateTime<Utc>>) -> pb::Major {
    pb::Major {
        kind: kind as i32,
        responsible: "s1".into(),
        instruction: "resolve it and report".into(),
        instruction_deadline: deadline.map(ts),
        ..Default::default()
    }
}

async fn flag(k: &mut Client, id: &str, m: pb::Major) -> Result<pb::Ticket, tonic::Status> {
    k.flag_major(pb::FlagMajorRequest {
        request_id: rid(),
        ticket_id: id.into(),
        major: Some(m),
        ..Default::default()
    })
    .await
    .map(|r| r.into_inner())
}

async fn contact(
    k: &mut Client,
    id: &str,
    counterpart: pb::Counterpart,
    channel: pb::ContactChannel,
) -> pb::Ticket {
    k.record_contact(pb::RecordContactRequest {
        request_id: rid(),
        ticket_id: id.into(),
        counterpart: counterpart as i32,
        channel: channel as i32,
        summary: "progress report".into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
}

/// Run the monitor at `at`, then return how often `kind` breached.
async fn breaches_at(app: &TestApp, id: &str, at: DateTime<Utc>, kind: &str) -> usize {
    app.clock.set(at);
    app.run_monitor().await;
    app.run_monitor().await;
    breaches_of(app, id, kind).await
}

/// R-TKT-17: a group petition referred by 12345: the leadership daily, the
/// caller and the platform every 3 days, each breached once per missed
/// deadline and owed again a period later (from the deadline when missed,
/// from the contact when kept), until the matter is resolved.
#[tokio::test]
async fn r_tkt_17_daily_and_three_day_clocks_repeat_until_resolved() {
    let app = spawn_with_monitor(fresh_store().await).await;
    let mut d = app.dispatcher().await;
    let t0 = app.now();
    let req = pb::CreateTicketRequest {
        r#type: pb::TicketType::Complaint as i32,
        source: pb::SourceChannel::CityHotline as i32,
        referral: Some(pb::ReferralIntake {
            reference: "GD-MAJOR-1".into(),
            deadline: Some(ts(t0 + Duration::days(20))),
        }),
        major: Some(major(pb::MajorKind::GroupPetition, None)),
        ..create_req("COMPENSATION_CLAIM")
    };
    let t = d.create_ticket(req).await.unwrap().into_inner();
    let m = t.major.as_ref().unwrap();
    assert_eq!(
        (m.kind(), m.flagged_by.as_str()),
        (pb::MajorKind::GroupPetition, "d1")
    );
    let day = Duration::days(1);
    assert_eq!(time(&t.leadership_by), t0 + day);
    assert_eq!(time(&t.caller_update_by), t0 + day * 3);
    assert_eq!(time(&t.referrer_update_by), t0 + day * 3);
    assert_eq!(events(&app, &t.id).await[0].kind, "CREATED");

    // Day 1 missed: breached once, owed again on day 2.
    assert_eq!(breaches_at(&app, &t.id, t0 + day, "LEADERSHIP").await, 0);
    assert_eq!(
        breaches_at(&app, &t.id, t0 + day + Duration::seconds(1), "LEADERSHIP").await,
        1
    );
    assert_eq!(time(&get(&app, &t.id).await.leadership_by), t0 + day * 2);
    // Reported at day 1 + 6 h: owed again a day after the report.
    let report = t0 + day + Duration::hours(6);
    app.clock.set(report);
    let after = contact(
        &mut d,
        &t.id,
        pb::Counterpart::Leadership,
        pb::ContactChannel::Phone,
    )
    .await;
    assert_eq!(time(&after.leadership_by), report + day);
    assert_eq!(
        breaches_at(&app, &t.id, report + day, "LEADERSHIP").await,
        1
    );
    assert_eq!(
        breaches_at(
            &app,
            &t.id,
            report + day + Duration::seconds(1),
            "LEADERSHIP"
        )
        .await,
        2
    );
    assert_eq!(
        time(&get(&app, &t.id).await.leadership_by),
        report + day * 2
    );

    // Day 3: the caller is told (kept), the platform is not (breached once).
    let three = t0 + day * 3;
    app.clock.set(three);
    let after = contact(
        &mut d,
        &t.id,
        pb::Counterpart::Caller,
        pb::ContactChannel::Phone,
    )
    .await;
    assert_eq!(time(&after.caller_update_by), three + day * 3);
    assert_eq!(
        breaches_at(&app, &t.id, three + Duration::seconds(1), "REFERRER_UPDATE").await,
        1
    );
    assert_eq!(breaches_of(&app, &t.id, "CALLER_UPDATE").await, 0);
    let now = get(&app, &t.id).await;
    assert_eq!(time(&now.referrer_update_by), three + day * 3);

    // Resolved: nothing more is owed to the leadership.
    dispatch(&mut d, &t.id, "north").await;
    let mut c = app.crew("c1", "north").await;
    claim(&mut c, &t.id).await.unwrap();
    arrive(&mut c, &t.id).await;
    complete(&mut c, &t.id).await;
    let before = breaches_of(&app, &t.id, "LEADERSHIP").await;
    assert_eq!(
        breaches_at(&app, &t.id, three + day * 10, "LEADERSHIP").await,
        before
    );
}

/// R-TKT-17: flagging a recorded ticket, updating the flag with the
/// leader's instruction; by the leader's deadline a written report keeps
/// the clock, a resolution keeps it, nothing breaches it once.
#[tokio::test]
async fn r_tkt_17_flag_instruction_and_written_report() {
    let app = spawn_with_monitor(fresh_store().await).await;
    let mut d = app.dispatcher().await;
    let mut s = app.supervisor().await;
    let t0 = app.now();
    let t = create(&mut d, "COMPENSATION_CLAIM").await;
    assert!(t.major.is_none() && t.leadership_by.is_none());

    let mut c = app.crew("c1", "north").await;
    let e = flag(&mut c, &t.id, major(pb::MajorKind::ForeignRelated, None))
        .await
        .unwrap_err();
    assert_status(&e, Code::PermissionDenied, "ROLE_NOT_ALLOWED", None);
    let mut bad = major(pb::MajorKind::ForeignRelated, None);
    bad.responsible = " ".into();
    let e = flag(&mut s, &t.id, bad).await.unwrap_err();
    assert_status(
        &e,
        Code::InvalidArgument,
        "MISSING_FIELD",
        Some("major.responsible"),
    );
    let e = flag(&mut s, &t.id, major(pb::MajorKind::Unspecified, None))
        .await
        .unwrap_err();
    assert_status(
        &e,
        Code::InvalidArgument,
        "MISSING_FIELD",
        Some("major.kind"),
    );
    let e = flag(
        &mut s,
        &t.id,
        major(pb::MajorKind::ForeignRelated, Some(t0)),
    )
    .await
    .unwrap_err();
    assert_status(
        &e,
        Code::InvalidArgument,
        "OUT_OF_RANGE",
        Some("major.instruction_deadline"),
    );
    assert_eq!(
        get(&app, &t.id).await.version,
        t.version,
        "refusals change nothing"
    );

    app.clock.set(t0 + Duration::hours(1));
    let flagged = flag(&mut s, &t.id, major(pb::MajorKind::ForeignRelated, None))
        .await
        .unwrap();
    assert_eq!(time(&flagged.leadership_by), t0 + Duration::hours(25));
    assert!(flagged.instruction_by.is_none());
    let deadline = t0 + Duration::days(2);
    app.clock.set(t0 + Duration::hours(2));
    let updated = flag(
        &mut d,
        &t.id,
        major(pb::MajorKind::ForeignRelated, Some(deadline)),
    )
    .await
    .unwrap();
    let m = updated.major.as_ref().unwrap();
    assert_eq!(
        (m.flagged_by.as_str(), time(&m.flag_time)),
        ("s1", t0 + Duration::hours(1))
    );
    assert_eq!(time(&updated.instruction_by), deadline);
    assert_eq!(
        time(&updated.leadership_by),
        t0 + Duration::hours(25),
        "not restarted"
    );
    let kinds: Vec<_> = events(&app, &t.id)
        .await
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["CREATED", "MAJOR_FLAGGED", "MAJOR_UPDATED"]);

    // A written report at the deadline keeps the leader's clock.
    app.clock.set(deadline);
    let reported = contact(
        &mut d,
        &t.id,
        pb::Counterpart::Leadership,
        pb::ContactChannel::InWriting,
    )
    .await;
    let instruction = reported
        .clock_outcomes
        .iter()
        .find(|o| o.clock() == pb::ClockKind::Instruction)
        .expect("concluded");
    assert!(instruction.on_time);

    // Another: no report, not resolved: breached once just after.
    app.clock.set(t0);
    let late = create(&mut d, "COMPENSATION_CLAIM").await;
    flag(
        &mut s,
        &late.id,
        major(pb::MajorKind::PetitionBypassingLevels, Some(deadline)),
    )
    .await
    .unwrap();
    clock_breaches_once_at(&app, &late.id, deadline, "INSTRUCTION").await;
    // A phoned report is no written one.
    let phoned = contact(
        &mut d,
        &late.id,
        pb::Counterpart::Leadership,
        pb::ContactChannel::Phone,
    )
    .await;
    assert!(
        phoned
            .clock_outcomes
            .iter()
            .any(|o| o.clock() == pb::ClockKind::Instruction && !o.on_time)
    );
}

/// A supervisor flags a major matter from his handheld; the replay is
/// answered from the first time.
#[tokio::test]
async fn flag_major_through_push_with_replays() {
    let app = spawn_app_with_policy("water").await;
    let mut d = app.dispatcher().await;
    let t = create(&mut d, "METER_FAULT").await;
    let flag = pb::mutation::Request::FlagMajor(pb::FlagMajorRequest {
        request_id: rid(),
        ticket_id: t.id.clone(),
        major: Some(major(pb::MajorKind::MajorHelpRequest, None)),
        ..Default::default()
    });
    let (first, replay) = push_and_replay(&app, "s1", Role::Supervisor, vec![flag]).await;
    assert_eq!(first, [pb::MutationOutcome::Applied]);
    assert_eq!(replay, [pb::MutationOutcome::Duplicate]);
    let now = get(&app, &t.id).await;
    assert_eq!(now.version, t.version + 1, "flagged once");
    assert_eq!(now.major.unwrap().kind(), pb::MajorKind::MajorHelpRequest);
}
