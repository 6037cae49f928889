//! Intake as the regulations run it (DOMAIN.md R-TKT-1): whoever first
//! receives a caller records the ticket, whatever his duty, and is its
//! first-responsible person; a ticket recorded outside dispatch must be
//! dispatched within the forwarding time (30 min in the built-in profiles),
//! a clock that breaches once just after it. The server runs on a manual
//! clock; the monitor's passes are run by the test.
mod common;

use chrono::Duration;
use common::*;
use fieldops::domain::Role;
use fieldops::grpc::pb;
use tonic::Code;

/// R-TKT-1: every staff role records a call and is named its first-responsible
/// person; the back office does not take calls.
#[tokio::test]
async fn r_tkt_1_every_staff_role_records_a_call() {
    let app = spawn_app().await;
    let roles = [
        ("d1", Role::Dispatcher),
        ("c1", Role::Crew),
        ("i1", Role::Inspector),
        ("s1", Role::Supervisor),
    ];
    for (sub, role) in roles {
        let mut k = app.client_for(sub, &[role], "north").await;
        let req = pb::CreateTicketRequest {
            caller_organisation: "和平小区物业".into(),
            feedback_method: pb::FeedbackMethod::Sms as i32,
            ..create_req("BLOCKAGE")
        };
        let t = k.create_ticket(req).await.unwrap().into_inner();
        assert_eq!(t.received_by, sub, "{role:?}");
        assert_eq!(t.feedback_method(), pb::FeedbackMethod::Sms);
        assert_eq!(
            t.caller_organisation, "和平小区物业",
            "the first-responsible person sees the call"
        );
        assert_eq!(t.forward_by.is_some(), role != Role::Dispatcher, "{role:?}");
        // He can read back what he recorded.
        let again = k
            .get_ticket(pb::GetTicketRequest {
                ticket_id: t.id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(again.id, t.id);
    }
    let mut b = app.client_for("b1", &[Role::Backoffice], "hq").await;
    let e = b.create_ticket(create_req("BLOCKAGE")).await.unwrap_err();
    assert_status(&e, Code::PermissionDenied, "ROLE_NOT_ALLOWED", None);
    // Only dispatch closes a consultation answered on the call (R-TKT-2).
    let mut c = app.crew("c1", "north").await;
    let req = pb::CreateTicketRequest {
        answered_on_call: true,
        ..create_req("CONSULTATION")
    };
    let e = c.create_ticket(req).await.unwrap_err();
    assert_status(&e, Code::PermissionDenied, "ROLE_NOT_ALLOWED", None);
    assert_eq!(
        ticket_count(&app).await,
        4,
        "nothing stored by the refusals"
    );
}

/// R-TKT-1: the forwarding clock runs 30 min from the call: kept by a
/// dispatch at 30 min, breached once at 30 min 1 s; not run for dispatch's own calls.
#[tokio::test]
async fn r_tkt_1_forwarding_clock_at_the_edge() {
    let app = spawn_with_monitor(fresh_store().await).await;
    let mut c = app.crew("c1", "north").await;
    let mut d = app.dispatcher().await;
    let call_at = app.now();

    let late = c
        .create_ticket(create_req("METER_FAULT"))
        .await
        .unwrap()
        .into_inner();
    let deadline = call_at + Duration::minutes(30);
    assert_eq!(time(&late.forward_by), deadline);
    breaches_once_after(&app, &late.id, deadline, "FORWARD", 0).await;
    assert!(get(&app, &late.id).await.breached);

    app.clock.set(call_at);
    let kept = c
        .create_ticket(create_req("METER_FAULT"))
        .await
        .unwrap()
        .into_inner();
    app.clock.set(deadline);
    dispatch(&mut d, &kept.id, "north").await;
    app.clock.set(deadline + Duration::hours(1));
    app.run_monitor().await;
    let t = get(&app, &kept.id).await;
    let forward = t
        .clock_outcomes
        .iter()
        .find(|o| o.clock() == pb::ClockKind::Forward)
        .expect("the forwarding clock concluded");
    assert!(forward.on_time);
    assert!(
        breach_events(&app, &kept.id)
            .await
            .iter()
            .all(|e| !e.details_json.contains("FORWARD"))
    );

    let own = create(&mut d, "METER_FAULT").await;
    assert!(
        own.forward_by.is_none(),
        "dispatch's own call needs no forwarding"
    );
}

/// R-TKT-14: every ticket has a type besides its category; lists filter by
/// it and the report counts by it; an unknown type is refused.
#[tokio::test]
async fn r_tkt_14_type_beside_the_category_filtered_and_counted() {
    let app = spawn_app().await;
    let mut d = app.dispatcher().await;
    let typed = |t: pb::TicketType, category: &str| pb::CreateTicketRequest {
        r#type: t as i32,
        ..create_req(category)
    };
    let complaint = d
        .create_ticket(typed(pb::TicketType::Complaint, "STAFF_COMPLAINT"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(complaint.r#type(), pb::TicketType::Complaint);
    let praise = d
        .create_ticket(typed(pb::TicketType::Praise, "BLOCKAGE"))
        .await
        .unwrap()
        .into_inner();
    let untyped = create(&mut d, "BLOCKAGE").await;
    assert_eq!(untyped.r#type(), pb::TicketType::HelpGeneral);
    let answered = d
        .create_ticket(pb::CreateTicketRequest {
            answered_on_call: true,
            ..create_req("CONSULTATION")
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answered.r#type(), pb::TicketType::Consultation);

    let listed = d
        .list_tickets(pb::ListTicketsRequest {
            r#type: pb::TicketType::Praise as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<_> = listed.tickets.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, [praise.id.as_str()]);

    let e = d
        .create_ticket(pb::CreateTicketRequest {
            r#type: 99,
            ..create_req("BLOCKAGE")
        })
        .await
        .unwrap_err();
    assert_status(&e, Code::InvalidArgument, "INVALID_FIELD", Some("type"));
    assert_eq!(
        ticket_count(&app).await,
        4,
        "the refused call stored nothing"
    );

    let auth = format!("Bearer {}", token("s1", &[Role::Supervisor], "hq"));
    let mut reports =
        fieldops::grpc::pb::report_service_client::ReportServiceClient::with_interceptor(
            app.channel().await,
            Bearer(Some(auth.parse().unwrap())),
        );
    let now = app.now();
    let report = reports
        .get_service_report(pb::GetServiceReportRequest {
            unit: String::new(),
            period: Some(pb::ReportPeriod {
                period: Some(pb::report_period::Period::Range(pb::TimeRange {
                    start_time: Some(ts(now - Duration::hours(1))),
                    end_time: Some(ts(now + Duration::hours(1))),
                })),
            }),
        })
        .await
        .unwrap()
        .into_inner();
    let by_type: Vec<(&str, i64)> = report
        .by_type
        .iter()
        .map(|c| (c.key.as_str(), c.count))
        .collect();
    assert_eq!(
        by_type,
        [
            ("COMPLAINT", 1),
            ("CONSULTATION", 1),
            ("HELP_GENERAL", 1),
            ("PRAISE", 1)
        ]
    );
    let _ = complaint;
}

/// Search: by the caller's phone (any formatting), address text, category,
/// type, source and received range, each alone and together, finds exactly
/// the matching tickets of a fixture, newest first, across pages.
#[tokio::test]
async fn search_finds_exactly_the_matching_tickets_paging_included() {
    let app = spawn_app().await;
    let mut d = app.dispatcher().await;
    let t0 = app.now();
    // (phone, address, category, source, minutes before t0)
    let fixture = [
        (
            "138-1234-5678",
            "8 Jianshe St, Flat 2",
            "BLOCKAGE",
            pb::SourceChannel::Hotline,
            50,
        ),
        (
            "13812345678",
            "8 JIANSHE st, flat 9",
            "AIR_LOCK",
            pb::SourceChannel::CityHotline,
            40,
        ),
        (
            "139 0000 1111",
            "1 Heping Rd",
            "BLOCKAGE",
            pb::SourceChannel::Hotline,
            30,
        ),
        (
            "13812345678",
            "1 Heping Rd",
            "BLOCKAGE",
            pb::SourceChannel::WalkIn,
            20,
        ),
        (
            "13900001111",
            "50%_Off St 8",
            "BLOCKAGE",
            pb::SourceChannel::Hotline,
            10,
        ),
    ];
    let mut ids = Vec::new();
    for (phone, address, category, source, ago) in fixture {
        let req = pb::CreateTicketRequest {
            caller_phone: phone.into(),
            address: address.into(),
            source: source as i32,
            received_at: Some(ts(t0 - Duration::minutes(ago))),
            ..create_req(category)
        };
        ids.push(d.create_ticket(req).await.unwrap().into_inner().id);
    }
    // Every page of a query, page size 2: the ids in the order given.
    let search = |req: pb::ListTicketsRequest| {
        let mut d = d.clone();
        async move {
            let mut out = Vec::new();
            let mut token = String::new();
            loop {
                let page = d
                    .list_tickets(pb::ListTicketsRequest {
                        page_size: 2,
                        page_token: token.clone(),
                        ..req.clone()
                    })
                    .await
                    .unwrap()
                    .into_inner();
                out.extend(page.tickets.into_iter().map(|t| t.id));
                if page.next_page_token.is_empty() {
                    return out;
                }
                token = page.next_page_token;
            }
        }
    };
    let want = |idx: &[usize]| {
        idx.iter()
            .rev()
            .map(|i| ids[*i].clone())
            .collect::<Vec<_>>()
    };
    let phone = |p: &str| pb::ListTicketsRequest {
        caller_phone: p.into(),
        ..Default::default()
    };
    assert_eq!(
        search(phone("+86 138 1234 5678".trim_start_matches("+86 "))).await,
        want(&[0, 1, 3])
    );
    assert_eq!(search(phone("13900001111")).await, want(&[2, 4]));
    let address = |a: &str| pb::ListTicketsRequest {
        address: a.into(),
        ..Default::default()
    };
    assert_eq!(search(address("jianshe  ST")).await, want(&[0, 1]));
    assert_eq!(
        search(address("%_off")).await,
        want(&[4]),
        "wildcards are text"
    );
    assert_eq!(search(address("_")).await, want(&[4]));
    let both = pb::ListTicketsRequest {
        caller_phone: "13812345678".into(),
        category: "BLOCKAGE".into(),
        ..Default::default()
    };
    assert_eq!(search(both).await, want(&[0, 3]));
    let source = pb::ListTicketsRequest {
        source: pb::SourceChannel::Hotline as i32,
        ..Default::default()
    };
    assert_eq!(search(source).await, want(&[0, 2, 4]));
    let range = pb::ListTicketsRequest {
        received_after: Some(ts(t0 - Duration::minutes(40))),
        received_before: Some(ts(t0 - Duration::minutes(10))),
        ..Default::default()
    };
    assert_eq!(
        search(range).await,
        want(&[1, 2, 3]),
        "after inclusive, before exclusive"
    );
    let e = d.list_tickets(phone("no digits")).await.unwrap_err();
    assert_status(
        &e,
        Code::InvalidArgument,
        "INVALID_FIELD",
        Some("caller_phone"),
    );
}

/// R-TKT-1: a crew member who records a call (or a problem he found)
/// follows it on his change feed from the start, with the caller's details
/// (he took the call); another crew member of his unit sees it only once it
/// is dispatched to the unit, masked.
#[tokio::test]
async fn r_tkt_1_the_recorder_follows_his_ticket_on_the_feed() {
    use fieldops::grpc::pb::sync_service_client::SyncServiceClient;
    let app = spawn_app().await;
    let mut c1 = app.crew("c1", "north").await;
    let req = pb::CreateTicketRequest {
        source: pb::SourceChannel::CrewFinding as i32,
        ..create_req("BLOCKAGE")
    };
    let t = c1.create_ticket(req).await.unwrap().into_inner();
    let id = t.id.clone();
    let pulled = |sub: &'static str| {
        let (app, id) = (&app, id.clone());
        async move {
            let mut s = SyncServiceClient::with_interceptor(
                app.channel().await,
                bearer_for(sub, &[Role::Crew], "north"),
            );
            s.pull(pb::PullRequest {
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .changes
            .into_iter()
            .filter_map(|c| match c.entity {
                Some(pb::change::Entity::Ticket(x)) if x.id == id => Some(x),
                _ => None,
            })
            .collect::<Vec<_>>()
        }
    };
    let mine = pulled("c1").await;
    assert_eq!(mine.len(), 1, "the recorder follows it");
    assert!(!mine[0].caller_masked, "he took the call");
    assert!(pulled("c2").await.is_empty(), "not the unit's yet");
    let mut d = app.dispatcher().await;
    dispatch(&mut d, &t.id, "north").await;
    let theirs = pulled("c2").await;
    assert_eq!(theirs.len(), 1, "dispatched to the unit");
    assert!(theirs[0].caller_masked);
}

fn correction(id: &str, reason: &str) -> pb::CorrectTicketRequest {
    pb::CorrectTicketRequest {
        request_id: rid(),
        ticket_id: id.into(),
        reason: reason.into(),
        ..Default::default()
    }
}

/// Issue 17 (R-TKT-12): intake fields recorded wrongly are corrected by
/// dispatch with a reason; the old values stay on the trail. The category
/// until dispatch, with the deadlines a right recording would have had;
/// the address while the ticket is open.
#[tokio::test]
async fn a_dispatcher_corrects_intake_fields_and_the_trail_keeps_the_old() {
    use fieldops::error::reason;
    let app = spawn_app().await;
    let mut d = app.dispatcher().await;
    // Recorded as a no-heat emergency; it is a dripping fitting.
    let t = create(&mut d, "BUILDING_NO_HEAT").await;
    let right = create(&mut d, "FITTING_DRIP").await;
    let mut fix = correction(&t.id, "the caller said the fitting drips; the flat is warm");
    fix.category = "FITTING_DRIP".into();
    let fixed = d.correct_ticket(fix).await.unwrap().into_inner();
    assert_eq!(fixed.category, "FITTING_DRIP");
    assert_eq!(fixed.priority, right.priority);
    // As if recorded right: the same deadlines from the same receipt time.
    assert_eq!(
        (fixed.arrive_by, fixed.resolve_by),
        (right.arrive_by, right.resolve_by)
    );
    assert_ne!(fixed.arrive_by, t.arrive_by);
    let e = events(&app, &t.id).await;
    let last = e.last().unwrap();
    assert_eq!(
        (last.kind.as_str(), last.actor_role.as_str()),
        ("CORRECTED", "dispatcher")
    );
    let details: serde_json::Value = serde_json::from_str(&last.details_json).unwrap();
    assert_eq!(details["before"]["category"], "BUILDING_NO_HEAT");
    assert_eq!(details["after"]["category"], "FITTING_DRIP");
    assert_eq!(details["before"]["priority"], t.priority);
    assert!(details["reason"].as_str().unwrap().contains("drips"));

    // Dispatched: the address still, the category no more.
    dispatch(&mut d, &t.id, "north").await;
    let before = get(&app, &t.id).await;
    let mut late = correction(&t.id, "wrong again");
    late.category = "AIR_LOCK".into();
    let err = d.correct_ticket(late).await.unwrap_err();
    assert_status(
        &err,
        Code::FailedPrecondition,
        reason::CATEGORY_FIXED_AT_DISPATCH,
        None,
    );
    assert_eq!(
        get(&app, &t.id).await.version,
        before.version,
        "nothing changed"
    );
    let mut addr = correction(&t.id, "building 5, not 3");
    addr.address = "1 Heping Rd, Building 5, Unit 2, Flat 101".into();
    addr.district = "Heping".into();
    let moved = d.correct_ticket(addr).await.unwrap().into_inner();
    assert_eq!(moved.address, "1 Heping Rd, Building 5, Unit 2, Flat 101");
    assert_eq!(moved.district, "Heping");
    let e = events(&app, &t.id).await;
    let details: serde_json::Value = serde_json::from_str(&e.last().unwrap().details_json).unwrap();
    assert_eq!(details["before"]["address"], before.address);
    assert_eq!(details["before"]["district"], serde_json::Value::Null);

    // Refused, changing nothing: no reason; nothing to correct; an unknown
    // category; a crew member; a cancelled ticket.
    let mut no_reason = correction(&t.id, " ");
    no_reason.address = "x".into();
    assert_status(
        &d.correct_ticket(no_reason).await.unwrap_err(),
        Code::InvalidArgument,
        reason::MISSING_FIELD,
        Some("reason"),
    );
    assert_status(
        &d.correct_ticket(correction(&t.id, "nothing"))
            .await
            .unwrap_err(),
        Code::InvalidArgument,
        reason::MISSING_FIELD,
        Some("category"),
    );
    let fresh = create(&mut d, "BUILDING_NO_HEAT").await;
    let mut unknown = correction(&fresh.id, "typo");
    unknown.category = "NO_SUCH".into();
    assert_status(
        &d.correct_ticket(unknown).await.unwrap_err(),
        Code::InvalidArgument,
        reason::UNKNOWN_CATEGORY,
        Some("category"),
    );
    let mut crew = app.crew("c1", "north").await;
    let mut by_crew = correction(&t.id, "mine");
    by_crew.address = "elsewhere".into();
    assert_status(
        &crew.correct_ticket(by_crew).await.unwrap_err(),
        Code::PermissionDenied,
        reason::ROLE_NOT_ALLOWED,
        None,
    );
    d.cancel_ticket(pb::CancelTicketRequest {
        request_id: rid(),
        ticket_id: fresh.id.clone(),
        reason: "duplicate".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let mut closed = correction(&fresh.id, "after the fact");
    closed.address = "elsewhere".into();
    assert_status(
        &d.correct_ticket(closed).await.unwrap_err(),
        Code::FailedPrecondition,
        reason::INVALID_TRANSITION,
        None,
    );
    assert_eq!(get(&app, &t.id).await.version, moved.version);
}
