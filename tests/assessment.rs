//! Assessment (考核, DOMAIN.md section 8, R-ASM-1..4) over gRPC, on the
//! water profile and a manual clock fixed in a known month: every missed
//! clock of tickets and outages raises its item once (at its edge, not
//! before; never again on a later pass, a replay, or a second monitor), the
//! intake items name the unit that handled the earlier matter, contests are
//! upheld or waived with the sheet before and after, the sheet over a
//! hand-built fixture equals a table computed by hand (and its CSV parses
//! back to it), and roles and bad input are refused without a change.
//! The figures expected are the water profile's `[assessment]` table,
//! written out here, not read from the server.
mod common;

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::*;
use fieldops::domain::Role;
use fieldops::grpc::pb;
use fieldops::grpc::pb::assessment_service_client::AssessmentServiceClient;
use fieldops::grpc::pb::outage_service_client::OutageServiceClient;
use fieldops::grpc::pb::sync_service_client::SyncServiceClient;
use std::collections::BTreeMap;
use std::sync::Arc;
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

type Items = AssessmentServiceClient<InterceptedService<Channel, Bearer>>;

/// 09:00 in Shanghai on 10 March 2027: every test's items fall in March.
fn march() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2027, 3, 10, 1, 0, 0).unwrap()
}

async fn water() -> TestApp {
    let app = spawn_with_monitor(fresh_store().await).await;
    app.clock.set(march());
    app
}

async fn items_as(app: &TestApp, sub: &str, roles: &[Role], unit: &str) -> Items {
    AssessmentServiceClient::with_interceptor(app.channel().await, bearer_for(sub, roles, unit))
}

/// The head of unit north (a supervisor of that unit).
async fn north_head(app: &TestApp) -> Items {
    items_as(app, "head-n", &[Role::Supervisor], "north").await
}

/// A dispatch-centre supervisor.
async fn centre(app: &TestApp) -> Items {
    items_as(app, "s1", &[Role::Supervisor], "hq").await
}

fn month_period() -> Option<pb::ReportPeriod> {
    Some(pb::ReportPeriod {
        period: Some(pb::report_period::Period::Calendar(pb::CalendarPeriod {
            kind: pb::PeriodKind::Month as i32,
            anchor_date: "2027-03-15".into(),
        })),
    })
}

/// Every item a supervisor sees, newest first, page by page.
async fn all_items(app: &TestApp) -> Vec<pb::AssessmentItem> {
    let mut s = centre(app).await;
    let (mut all, mut token) = (Vec::new(), String::new());
    loop {
        let page = s
            .list_assessment_items(pb::ListAssessmentItemsRequest {
                page_size: 7,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        all.extend(page.items);
        token = page.next_page_token;
        if token.is_empty() {
            return all;
        }
    }
}

async fn items_of(app: &TestApp, kind: &str) -> Vec<pb::AssessmentItem> {
    all_items(app)
        .await
        .into_iter()
        .filter(|i| i.kind == kind)
        .collect()
}

async fn sheet(app: &TestApp) -> pb::AssessmentSheet {
    centre(app)
        .await
        .get_assessment_sheet(pb::GetAssessmentSheetRequest {
            unit: String::new(),
            period: month_period(),
        })
        .await
        .unwrap()
        .into_inner()
}

fn line<'a>(lines: &'a [pb::SheetLine], unit: &str, person: &str) -> &'a pb::SheetLine {
    lines
        .iter()
        .find(|l| l.unit == unit && l.person == person)
        .unwrap_or_else(|| panic!("no line for {unit}/{person} in {lines:?}"))
}

/// A ticket dispatched to north and claimed there by `crew`.
async fn claimed_by(app: &TestApp, category: &str, crew: &str) -> pb::Ticket {
    let t = dispatched_ticket(app, category).await;
    let mut c = app.crew(crew, "north").await;
    claim(&mut c, &t.id).await.unwrap()
}

/// R-ASM-1: the arrival clock of a claimed METER_FAULT ticket (12 h from
/// intake) raises nothing at its deadline, one item one second later,
/// against unit north and the crew member holding it, priced by the table
/// (BREACH_ARRIVE: 2 points, 100 yuan to the unit, 50 to the person); later
/// passes raise nothing more.
#[tokio::test]
async fn r_asm_1_a_breach_raises_one_item_at_its_edge() {
    let app = water().await;
    let t = claimed_by(&app, "METER_FAULT", "c1").await;
    let deadline = time(&t.arrive_by);

    app.clock.set(deadline);
    app.run_monitor().await;
    assert!(
        items_of(&app, "BREACH_ARRIVE").await.is_empty(),
        "not at the deadline"
    );

    app.clock.set(deadline + Duration::seconds(1));
    app.run_monitor().await;
    app.run_monitor().await;
    let items = items_of(&app, "BREACH_ARRIVE").await;
    assert_eq!(items.len(), 1, "{items:?}");
    let i = &items[0];
    assert_eq!((i.unit.as_str(), i.person.as_str()), ("north", "c1"));
    assert_eq!((i.points, i.unit_yuan, i.person_yuan), (2, 100, 50));
    assert_eq!(i.ticket_id, t.id);
    assert_eq!(time(&i.occur_time), deadline);
    assert_eq!(i.raised_by, "system");
    assert_eq!(i.status(), pb::ItemStatus::Raised);
    assert!(!i.reward);
    // The event that raised it: the ticket's BREACHED version.
    let breach = breach_events(&app, &t.id).await;
    assert_eq!(breach.len(), 1);
    assert_eq!(i.cause_version, breach[0].ticket_version);

    app.clock.set(deadline + Duration::days(1));
    app.run_monitor().await;
    assert_eq!(
        items_of(&app, "BREACH_ARRIVE").await.len(),
        1,
        "once per cause"
    );
}

/// R-ASM-1: a clock stopped late by its event, before any monitor pass,
/// raises its item in the event's own transaction, against whoever had the
/// ticket when the clock ran out (the unit: nobody had claimed it); the
/// monitor never adds a second for the same deadline (the accept clock of a
/// dispatched ticket, claimed a second after it).
#[tokio::test]
async fn r_asm_1_a_late_event_raises_the_item_itself_once() {
    let app = water().await;
    let t = dispatched_ticket(&app, "METER_FAULT").await;
    let deadline = time(&t.accept_by);
    app.clock.set(deadline + Duration::seconds(1));
    let mut c = app.crew("c2", "north").await;
    let late = pb::ClaimTicketRequest {
        request_id: rid(),
        ticket_id: t.id.clone(),
        ..Default::default()
    };
    c.claim_ticket(late.clone()).await.unwrap();
    // The handheld retries the same request: its stored answer, nothing new.
    c.claim_ticket(late).await.unwrap();
    let items = items_of(&app, "BREACH_ACCEPT").await;
    assert_eq!(items.len(), 1, "raised by the late claim");
    assert_eq!(
        (items[0].unit.as_str(), items[0].person.as_str()),
        ("north", "")
    );
    assert_eq!(
        (items[0].points, items[0].unit_yuan, items[0].person_yuan),
        (1, 100, 0)
    );
    app.run_monitor().await;
    app.run_monitor().await;
    assert_eq!(items_of(&app, "BREACH_ACCEPT").await.len(), 1);
}

/// One of every kind of ticket the clocks follow, left alone for a month.
async fn neglected_tickets(app: &TestApp) {
    let mut d = app.dispatcher().await;
    // Recorded by a crew member (R-TKT-1): FORWARD, and the caller's clocks.
    let mut c = app.crew("c1", "north").await;
    c.create_ticket(create_req("METER_FAULT")).await.unwrap();
    // Dispatched, never claimed: ACCEPT.
    dispatched_ticket(app, "METER_FAULT").await;
    // Claimed, never on site: ARRIVE, RESOLVE.
    claimed_by(app, "PUBLIC_PIPE_LEAK", "c1").await;
    // Resolved, never called back: REVISIT.
    let t = claimed_by(app, "METER_FAULT", "c2").await;
    let mut c2 = app.crew("c2", "north").await;
    arrive(&mut c2, &t.id).await;
    complete(&mut c2, &t.id).await;
    // A consultation not answered on the call: CALLBACK, UNIT_REPORT, RESULT.
    let mut req = create_req("CONSULTATION");
    req.r#type = pb::TicketType::Consultation as i32;
    let t = d.create_ticket(req).await.unwrap().into_inner();
    dispatch(&mut d, &t.id, "south").await;
    // A referral from 12345 (REPLY, REFERRER_UPDATE), a complaint (CALLER_UPDATE).
    let mut req = create_req("METER_FAULT");
    req.source = pb::SourceChannel::CityHotline as i32;
    req.r#type = pb::TicketType::Complaint as i32;
    req.referral = Some(pb::ReferralIntake {
        reference: "12345-0001".into(),
        deadline: Some(ts(app.now() + Duration::days(2))),
    });
    let t = d.create_ticket(req).await.unwrap().into_inner();
    dispatch(&mut d, &t.id, "south").await;
    // A major matter with the leader's deadline: LEADERSHIP, INSTRUCTION.
    let mut req = create_req("METER_FAULT");
    req.major = Some(pb::Major {
        kind: pb::MajorKind::GroupPetition as i32,
        responsible: "s1".into(),
        instruction: "resolve it and report".into(),
        instruction_deadline: Some(ts(app.now() + Duration::days(1))),
        ..Default::default()
    });
    let t = d.create_ticket(req).await.unwrap().into_inner();
    dispatch(&mut d, &t.id, "north").await;
    // Under a supervision notice: SUPERVISION.
    let t = claimed_by(app, "METER_FAULT", "c3").await;
    let mut s = app.supervisor().await;
    s.supervise(pb::SuperviseRequest {
        request_id: rid(),
        ticket_id: t.id.clone(),
        notice: "finish it".into(),
        resolve_within: Some(dur(Duration::hours(4))),
        ..Default::default()
    })
    .await
    .unwrap();
}

/// The breaches every ticket's BREACHED events record, by item kind.
async fn recorded_breaches(app: &TestApp) -> BTreeMap<String, usize> {
    let mut d = app.dispatcher().await;
    let (tickets, _) = all_tickets(&mut d).await;
    let mut n = BTreeMap::new();
    for t in tickets {
        for e in breach_events(app, &t.id).await {
            let details: serde_json::Value = serde_json::from_str(&e.details_json).unwrap();
            for b in details["breaches"].as_array().unwrap() {
                let name = format!("BREACH_{}", b["clock"].as_str().unwrap());
                *n.entry(name).or_insert(0) += 1;
            }
        }
    }
    n
}

async fn items_by_kind(app: &TestApp) -> BTreeMap<String, usize> {
    let mut n = BTreeMap::new();
    for i in all_items(app).await {
        *n.entry(i.kind).or_insert(0) += 1;
    }
    n
}

/// R-ASM-1: every clock a neglected ticket misses raises exactly one item
/// of its kind, however often the monitor runs: the items equal the
/// breaches, clock by clock, and they cover the ticket clocks below.
#[tokio::test]
async fn r_asm_1_every_ticket_clock_raises_its_kind_once() {
    let app = water().await;
    neglected_tickets(&app).await;
    for days in [1, 3, 8, 31] {
        app.clock.set(march() + Duration::days(days));
        app.run_monitor().await;
        app.run_monitor().await;
        assert_eq!(
            recorded_breaches(&app).await,
            items_by_kind(&app).await,
            "day {days}"
        );
    }
    let kinds = items_by_kind(&app).await;
    for k in [
        "BREACH_FORWARD",
        "BREACH_ACCEPT",
        "BREACH_ARRIVE",
        "BREACH_RESOLVE",
        "BREACH_REVISIT",
        "BREACH_CALLBACK",
        "BREACH_UNIT_REPORT",
        "BREACH_RESULT",
        "BREACH_REPLY",
        "BREACH_REFERRER_UPDATE",
        "BREACH_CALLER_UPDATE",
        "BREACH_LEADERSHIP",
        "BREACH_INSTRUCTION",
        "BREACH_SUPERVISION",
        "BREACH_FEEDBACK",
        "BREACH_LONG_MATTER",
    ] {
        assert!(kinds.contains_key(k), "{k} not raised: {kinds:?}");
    }
    // Who answers: the forwarding clock is the recorder's; the follow-through
    // clocks are the handling unit's with no person.
    let fwd = &items_of(&app, "BREACH_FORWARD").await[0];
    assert_eq!((fwd.unit.as_str(), fwd.person.as_str()), ("north", "c1"));
    assert_eq!((fwd.unit_yuan, fwd.person_yuan), (0, 20));
    let revisit = &items_of(&app, "BREACH_REVISIT").await[0];
    assert_eq!(
        (revisit.unit.as_str(), revisit.person.as_str()),
        ("hq", "d1")
    );
    assert_eq!(
        (revisit.points, revisit.unit_yuan, revisit.person_yuan),
        (1, 0, 20)
    );
    let reply = &items_of(&app, "BREACH_REPLY").await[0];
    assert_eq!((reply.unit.as_str(), reply.person.as_str()), ("south", ""));
    assert_eq!(
        (reply.points, reply.unit_yuan, reply.person_yuan),
        (2, 100, 0)
    );
}

/// One monitor pass on each of two instances at once, behind a barrier:
/// how many records each wrote a breach to.
async fn race_monitors(a: &TestApp, b: &TestApp) -> (usize, usize) {
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let run = |app: &TestApp| {
        let monitor = app.handles.monitor.clone();
        let barrier = barrier.clone();
        async move {
            barrier.wait().await;
            monitor.tick().await.unwrap()
        }
    };
    tokio::join!(run(a), run(b))
}

/// R-ASM-1: with two server instances on one database, each running the
/// monitor at once behind a barrier, every breach raises one item.
#[tokio::test]
async fn r_asm_1_two_monitors_racing_raise_each_item_once() {
    let a = water().await;
    let b = spawn_with("water", a.store.clone()).await;
    for _ in 0..6 {
        claimed_by(&a, "METER_FAULT", "c1").await;
    }
    let later = march() + Duration::days(3);
    a.clock.set(later);
    b.clock.set(later);
    let (x, y) = race_monitors(&a, &b).await;
    assert!(
        x + y >= 6,
        "every ticket breached by one of them ({x} + {y})"
    );
    assert_eq!(recorded_breaches(&a).await, items_by_kind(&a).await);
    assert_eq!(items_of(&a, "BREACH_ARRIVE").await.len(), 6);
}

fn report_req(households: i64, start: DateTime<Utc>, hours: i64) -> pb::ReportOutageRequest {
    pb::ReportOutageRequest {
        request_id: rid(),
        kind: pb::OutageKind::EmergencyRepair as i32,
        cause: "burst DN300 main".into(),
        pipe_diameter_mm: Some(300),
        valves: vec![pb::ValveClosure {
            diameter_mm: 300,
            count: 2,
        }],
        area: Some(pb::OutageArea {
            description: "north of Main St".into(),
            addresses: vec!["1 Main St".into()],
            ..Default::default()
        }),
        households,
        start_time: Some(ts(start)),
        expected_restoration_time: Some(ts(start + Duration::hours(hours))),
        ..Default::default()
    }
}

/// R-ASM-1, R-OUT-2..4: an outage reported 20 min and 1 s after supply was
/// cut raises OUTAGE_BREACH_DISPATCH_REPORT with the report itself; the
/// hotline clocks and the estimate raise theirs at the monitor's pass; each
/// once, against the reporting unit.
#[tokio::test]
async fn r_asm_1_outage_breaches_raise_items_once() {
    let app = water().await;
    let mut crew = OutageServiceClient::with_interceptor(
        app.channel().await,
        bearer_for("c1", &[Role::Crew], "north"),
    );
    let start = app.now() - Duration::minutes(20) - Duration::seconds(1);
    let o = crew
        .report_outage(report_req(1000, start, 9))
        .await
        .unwrap()
        .into_inner();
    let late = items_of(&app, "OUTAGE_BREACH_DISPATCH_REPORT").await;
    assert_eq!(late.len(), 1, "raised with the late report");
    assert_eq!(late[0].outage_id, o.id);
    assert_eq!(late[0].unit, "north");
    assert_eq!((late[0].points, late[0].unit_yuan), (2, 100));

    app.clock.set(start + Duration::hours(10));
    app.run_monitor().await;
    app.run_monitor().await;
    for k in [
        "OUTAGE_BREACH_DISPATCH_REPORT",
        "OUTAGE_BREACH_CITY_HOTLINE",
        "OUTAGE_BREACH_SUPERVISION_HOTLINE",
        "OUTAGE_BREACH_RESTORATION",
    ] {
        assert_eq!(items_of(&app, k).await.len(), 1, "{k}");
    }
}

/// R-ASM-1, R-TKT-11: a repair repeated at the same address raises
/// REPEAT_REPAIR against the unit and crew member of the earlier repair;
/// a replay of the same intake raises nothing more.
#[tokio::test]
async fn r_asm_1_repeat_repair_is_the_earlier_crews() {
    let app = water().await;
    let t = claimed_by(&app, "METER_FAULT", "c2").await;
    let mut c = app.crew("c2", "north").await;
    arrive(&mut c, &t.id).await;
    complete(&mut c, &t.id).await;
    app.clock.set(march() + Duration::days(5));

    let mut d = app.dispatcher().await;
    let mut again = create_req("METER_FAULT");
    again.address = t.address.clone();
    again.caller_phone = "13900000000".into();
    let first = d.create_ticket(again.clone()).await.unwrap().into_inner();
    let replay = d.create_ticket(again).await.unwrap().into_inner();
    assert_eq!(first.id, replay.id);
    let items = items_of(&app, "REPEAT_REPAIR").await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(
        (items[0].unit.as_str(), items[0].person.as_str()),
        ("north", "c2")
    );
    assert_eq!(items[0].ticket_id, first.id);
    assert!(items[0].note.contains(&t.id));
    assert_eq!(
        (items[0].points, items[0].unit_yuan, items[0].person_yuan),
        (2, 100, 0)
    );
}

/// R-ASM-1, R-TKT-10: one caller's second call about one matter raises
/// REPEAT_COMPLAINT once for the matter (the third raises no other),
/// against the unit that had the first call; the same complaint brought
/// to 12345 afterwards also raises ESCALATED_COMPLAINT, each time. A
/// first call through 12345 is neither.
#[tokio::test]
async fn r_asm_1_repeat_and_escalated_complaints() {
    let app = water().await;
    let mut d = app.dispatcher().await;
    let base = create_req("LOW_PRESSURE");
    let first = d.create_ticket(base.clone()).await.unwrap().into_inner();
    dispatch(&mut d, &first.id, "south").await;
    assert!(items_of(&app, "REPEAT_COMPLAINT").await.is_empty());

    app.clock.set(march() + Duration::hours(1));
    let second = pb::CreateTicketRequest {
        request_id: rid(),
        ..base.clone()
    };
    d.create_ticket(second).await.unwrap();
    let repeat = items_of(&app, "REPEAT_COMPLAINT").await;
    assert_eq!(repeat.len(), 1);
    assert_eq!(
        (repeat[0].unit.as_str(), repeat[0].person.as_str()),
        ("south", "")
    );
    assert!(
        items_of(&app, "ESCALATED_COMPLAINT").await.is_empty(),
        "a hotline call is not escalation"
    );

    app.clock.set(march() + Duration::hours(2));
    let escalated = pb::CreateTicketRequest {
        request_id: rid(),
        source: pb::SourceChannel::CityHotline as i32,
        r#type: pb::TicketType::Complaint as i32,
        referral: Some(pb::ReferralIntake {
            reference: "12345-0042".into(),
            deadline: None,
        }),
        ..base.clone()
    };
    let e = d.create_ticket(escalated).await.unwrap().into_inner();
    assert_eq!(
        items_of(&app, "REPEAT_COMPLAINT").await.len(),
        1,
        "once per matter"
    );
    let esc = items_of(&app, "ESCALATED_COMPLAINT").await;
    assert_eq!(esc.len(), 1);
    assert_eq!(esc[0].ticket_id, e.id);
    assert_eq!(esc[0].unit, "south");
    assert_eq!(
        (esc[0].points, esc[0].unit_yuan, esc[0].person_yuan),
        (3, 300, 0)
    );

    // Brought to 12319 as well: escalated again, a second item.
    let again = pb::CreateTicketRequest {
        request_id: rid(),
        source: pb::SourceChannel::SupervisionHotline as i32,
        r#type: pb::TicketType::Complaint as i32,
        referral: Some(pb::ReferralIntake {
            reference: "12319-0007".into(),
            deadline: None,
        }),
        ..base.clone()
    };
    d.create_ticket(again).await.unwrap();
    assert_eq!(
        items_of(&app, "ESCALATED_COMPLAINT").await.len(),
        2,
        "each time"
    );
    assert_eq!(items_of(&app, "REPEAT_COMPLAINT").await.len(), 1);

    // A complaint that reaches 12345 first is nobody's failure yet.
    let fresh = pb::CreateTicketRequest {
        request_id: rid(),
        source: pb::SourceChannel::CityHotline as i32,
        r#type: pb::TicketType::Complaint as i32,
        referral: Some(pb::ReferralIntake {
            reference: "12345-0043".into(),
            deadline: None,
        }),
        ..create_req("LOW_PRESSURE")
    };
    d.create_ticket(fresh).await.unwrap();
    assert_eq!(items_of(&app, "ESCALATED_COMPLAINT").await.len(), 2);
}

/// The fixture of the sheet tests, all in March (times as the table says):
/// north: c1 misses the arrival of two tickets; south: c9 misses one, and
/// an unclaimed ticket misses its accept and arrival clocks; rewards: a
/// media praise of north and c1 (policy figures 300 / 100), c1's own
/// finding of a DN300 leak (internal, 100), a caller's DN100 leak report
/// (external, 100, outside the units). Returns north's two and south's
/// crew item ids: (a1, a2, b1).
async fn fixture(app: &TestApp) -> (String, String, String) {
    let a1 = claimed_by(app, "METER_FAULT", "c1").await;
    let a2 = claimed_by(app, "METER_FAULT", "c1").await;
    let mut d = app.dispatcher().await;
    let b1 = create(&mut d, "METER_FAULT").await;
    dispatch(&mut d, &b1.id, "south").await;
    let mut c9 = app.crew("c9", "south").await;
    let b1 = claim(&mut c9, &b1.id).await.unwrap();
    let u = create(&mut d, "METER_FAULT").await;
    dispatch(&mut d, &u.id, "south").await;
    app.clock.set(time(&b1.arrive_by) + Duration::seconds(1));
    app.run_monitor().await;

    // Rewards, recorded after the monitor's pass.
    let mut praise = create_req("CONSULTATION");
    praise.r#type = pb::TicketType::Praise as i32;
    let praise = d.create_ticket(praise).await.unwrap().into_inner();
    let mut c1 = app.crew("c1", "north").await;
    let mut found = create_req("PUBLIC_PIPE_LEAK");
    found.source = pb::SourceChannel::CrewFinding as i32;
    found.pipe_diameter_mm = Some(300);
    let found = c1.create_ticket(found).await.unwrap().into_inner();
    let mut reported = create_req("PUBLIC_PIPE_LEAK");
    reported.pipe_diameter_mm = Some(100);
    let reported = d.create_ticket(reported).await.unwrap().into_inner();
    for t in [&found, &reported] {
        dispatch(&mut d, &t.id, "north").await;
        claim(&mut c1, &t.id).await.unwrap();
        arrive(&mut c1, &t.id).await;
        complete(&mut c1, &t.id).await;
    }
    let mut s = centre(app).await;
    s.record_reward(pb::RecordRewardRequest {
        request_id: rid(),
        kind: pb::RewardKind::PraiseMedia as i32,
        ticket_id: praise.id.clone(),
        unit: "north".into(),
        person: "c1".into(),
        note: "城市晚报表扬".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    for t in [&found, &reported] {
        s.record_reward(pb::RecordRewardRequest {
            request_id: rid(),
            kind: pb::RewardKind::LeakReport as i32,
            ticket_id: t.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    let arrive_item = |items: &[pb::AssessmentItem], ticket: &str| {
        items
            .iter()
            .find(|i| i.ticket_id == ticket && i.kind == "BREACH_ARRIVE")
            .unwrap_or_else(|| panic!("no arrival item for {ticket}"))
            .id
            .clone()
    };
    let items = all_items(app).await;
    (
        arrive_item(&items, &a1.id),
        arrive_item(&items, &a2.id),
        arrive_item(&items, &b1.id),
    )
}

/// (items, points, deducted, contested, waived, rewards, reward_yuan, net)
type Figures = (i64, i64, i64, i64, i64, i64, i64, i64);

fn figures(l: &pb::SheetLine) -> Figures {
    (
        l.items,
        l.points,
        l.deducted_yuan,
        l.contested,
        l.waived,
        l.rewards,
        l.reward_yuan,
        l.net_yuan,
    )
}

fn contest_req(item: &str, reason: &str) -> pb::ContestItemRequest {
    pb::ContestItemRequest {
        request_id: rid(),
        item_id: item.into(),
        reason: reason.into(),
        ..Default::default()
    }
}

fn decide_req(item: &str, uphold: bool, note: &str) -> pb::DecideContestRequest {
    pb::DecideContestRequest {
        request_id: rid(),
        item_id: item.into(),
        uphold,
        note: note.into(),
        ..Default::default()
    }
}

async fn contest(head: &mut Items, id: &str) -> pb::AssessmentItem {
    head.contest_item(contest_req(id, "the caller was not home; see the call log"))
        .await
        .unwrap()
        .into_inner()
}

async fn decide(s: &mut Items, id: &str, uphold: bool) -> pb::AssessmentItem {
    s.decide_contest(decide_req(id, uphold, "checked the call log"))
        .await
        .unwrap()
        .into_inner()
}

/// R-ASM-2, R-ASM-4: the sheet before any contest, with two contests
/// pending (still counted), and after one is waived (counts nowhere) and
/// one upheld (counts), against the hand-computed table; each step in the
/// audit trail.
#[tokio::test]
async fn r_asm_2_contest_upheld_or_waived_with_the_sheet_before_and_after() {
    let app = water().await;
    let (_a1, a2, b1) = fixture(&app).await;
    let kinds = items_by_kind(&app).await;
    let expected: BTreeMap<String, usize> = [
        ("BREACH_ACCEPT", 1),
        ("BREACH_ARRIVE", 4),
        ("LEAK_REPORT", 2),
        ("PRAISE_MEDIA", 1),
    ]
    .into_iter()
    .map(|(k, n)| (k.to_string(), n))
    .collect();
    assert_eq!(kinds, expected, "the fixture's items");

    let before = sheet(&app).await;
    assert_eq!(
        figures(line(&before.units, "north", "")),
        (2, 4, 200, 0, 0, 2, 300, 100)
    );
    assert_eq!(
        figures(line(&before.units, "south", "")),
        (3, 5, 300, 0, 0, 0, 0, -300)
    );
    assert_eq!(
        figures(line(&before.units, "", "")),
        (0, 0, 0, 0, 0, 1, 100, 100)
    );
    assert_eq!(
        figures(line(&before.persons, "north", "c1")),
        (2, 4, 100, 0, 0, 2, 200, 100)
    );
    assert_eq!(
        figures(line(&before.persons, "south", "c9")),
        (1, 2, 50, 0, 0, 0, 0, -50)
    );
    assert_eq!(before.units.len(), 3);
    assert_eq!(before.persons.len(), 2);

    let mut north = north_head(&app).await;
    let mut south = items_as(&app, "head-s", &[Role::Supervisor], "south").await;
    let c = contest(&mut north, &a2).await;
    assert_eq!(c.status(), pb::ItemStatus::Contested);
    assert_eq!(c.contest.as_ref().unwrap().by, "head-n");
    contest(&mut south, &b1).await;
    let pending = sheet(&app).await;
    assert_eq!(
        figures(line(&pending.units, "north", "")),
        (2, 4, 200, 1, 0, 2, 300, 100)
    );
    assert_eq!(
        figures(line(&pending.units, "south", "")),
        (3, 5, 300, 1, 0, 0, 0, -300)
    );

    let mut s = centre(&app).await;
    let waived = decide(&mut s, &a2, false).await;
    assert_eq!(waived.status(), pb::ItemStatus::Waived);
    assert_eq!(waived.decision.as_ref().unwrap().by, "s1");
    let upheld = decide(&mut s, &b1, true).await;
    assert_eq!(upheld.status(), pb::ItemStatus::Upheld);
    let after = sheet(&app).await;
    assert_eq!(
        figures(line(&after.units, "north", "")),
        (1, 2, 100, 0, 1, 2, 300, 200)
    );
    assert_eq!(
        figures(line(&after.units, "south", "")),
        (3, 5, 300, 0, 0, 0, 0, -300)
    );
    assert_eq!(
        figures(line(&after.units, "", "")),
        (0, 0, 0, 0, 0, 1, 100, 100)
    );
    assert_eq!(
        figures(line(&after.persons, "north", "c1")),
        (1, 2, 50, 0, 1, 2, 200, 150)
    );
    assert_eq!(
        figures(line(&after.persons, "south", "c9")),
        (1, 2, 50, 0, 0, 0, 0, -50)
    );

    // One unit's sheet holds its lines only.
    let mine = centre(&app)
        .await
        .get_assessment_sheet(pb::GetAssessmentSheetRequest {
            unit: "south".into(),
            period: month_period(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(mine.units.len(), 1);
    assert_eq!(
        figures(&mine.units[0]),
        figures(line(&after.units, "south", ""))
    );
    // April holds nothing of March.
    let april = centre(&app)
        .await
        .get_assessment_sheet(pb::GetAssessmentSheetRequest {
            unit: String::new(),
            period: Some(pb::ReportPeriod {
                period: Some(pb::report_period::Period::Calendar(pb::CalendarPeriod {
                    kind: pb::PeriodKind::Month as i32,
                    anchor_date: "2027-04-01".into(),
                })),
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(april.units.is_empty() && april.persons.is_empty());

    // Both steps are in the audit trail.
    let db = fieldops::storage::Db::connect(&db_settings(&app.store))
        .await
        .unwrap();
    let trail = fieldops::storage::audit::kinds(db.reader(), "assessment_item", &a2)
        .await
        .unwrap();
    assert_eq!(trail, ["CONTESTED", "WAIVED"]);
    let trail = fieldops::storage::audit::kinds(db.reader(), "assessment_item", &b1)
        .await
        .unwrap();
    assert_eq!(trail, ["CONTESTED", "UPHELD"]);
}

/// R-ASM-4: the CSV starts with the UTF-8 byte-order mark, has the Chinese
/// header, and its lines parse back to the sheet's figures.
#[tokio::test]
async fn r_asm_4_csv_has_the_bom_and_parses_back_to_the_sheet() {
    let app = water().await;
    fixture(&app).await;
    // A staff id with a comma and a quote: the CSV must quote it.
    let odd = "o\"neil, jr";
    let t = claimed_by(&app, "METER_FAULT", odd).await;
    app.clock.set(time(&t.arrive_by) + Duration::seconds(1));
    app.run_monitor().await;
    let want = sheet(&app).await;
    assert!(want.persons.iter().any(|l| l.person == odd));
    let mut stream = items_as(&app, "b1", &[Role::Backoffice], "hq")
        .await
        .export_assessment_sheet(pb::ExportAssessmentSheetRequest {
            unit: String::new(),
            period: month_period(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut bytes = Vec::new();
    let mut first = true;
    while let Some(chunk) = stream.message().await.unwrap() {
        if first {
            assert_eq!(chunk.content_type, "text/csv; charset=utf-8");
            first = false;
        }
        bytes.extend_from_slice(&chunk.data);
    }
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "UTF-8 BOM first");
    let text = std::str::from_utf8(&bytes[3..]).unwrap();
    let mut lines = text.split("\r\n").filter(|l| !l.is_empty());
    assert!(lines.next().unwrap().starts_with("级别,单位,人员,扣分项"));
    let (mut units, mut persons) = (Vec::new(), Vec::new());
    for l in lines {
        let f = csv_fields(l);
        let f: Vec<&str> = f.iter().map(String::as_str).collect();
        assert_eq!(f.len(), 11, "{l}");
        let n = |i: usize| f[i].parse::<i64>().unwrap();
        let unit = if f[1] == "(外部)" { "" } else { f[1] };
        let parsed = pb::SheetLine {
            unit: unit.into(),
            person: f[2].into(),
            items: n(3),
            points: n(4),
            deducted_yuan: n(5),
            contested: n(6),
            waived: n(7),
            rewards: n(8),
            reward_yuan: n(9),
            net_yuan: n(10),
        };
        match f[0] {
            "单位" => units.push(parsed),
            "个人" => persons.push(parsed),
            other => panic!("level {other}"),
        }
    }
    assert_eq!(units, want.units);
    assert_eq!(persons, want.persons);
}

/// One RFC 4180 line's fields (quotes doubled inside quoted fields).
fn csv_fields(line: &str) -> Vec<String> {
    let (mut out, mut field, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    out.push(field);
    out
}

fn assert_refused<T: std::fmt::Debug>(
    r: Result<tonic::Response<T>, tonic::Status>,
    code: Code,
    reason: &str,
    field: Option<&str>,
) {
    let s = r.expect_err("refused");
    assert_status(&s, code, reason, field);
}

/// R-ASM-1..4 roles and bad input: who may see, contest, decide, reward
/// and read the sheet; everyone else PERMISSION_DENIED; every refusal
/// (unknown kind, negative amount, contest of a waived item or a reward,
/// decide twice, a unit judging its own case) changes nothing.
#[tokio::test]
async fn r_asm_roles_and_bad_input_change_nothing() {
    let app = water().await;
    let (a1, a2, b1) = fixture(&app).await;
    let mut north = north_head(&app).await;
    let mut s = centre(&app).await;
    contest(&mut north, &a2).await;
    decide(&mut s, &a2, false).await;
    let before = all_items(&app).await;

    // Crew and inspectors see their own items only, and nobody else's.
    let mut c1 = items_as(&app, "c1", &[Role::Crew], "north").await;
    let own = c1
        .list_assessment_items(pb::ListAssessmentItemsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .items;
    assert_eq!(
        own.len(),
        4,
        "two arrival items, the praise, the leak: {own:?}"
    );
    assert!(own.iter().all(|i| i.person == "c1"));
    let other = c1
        .list_assessment_items(pb::ListAssessmentItemsRequest {
            person: "c9".into(),
            ..Default::default()
        })
        .await;
    assert_refused(other, Code::PermissionDenied, "ROLE_NOT_ALLOWED", None);
    let mut d = items_as(&app, "d1", &[Role::Dispatcher], "hq").await;
    let desk = d
        .list_assessment_items(pb::ListAssessmentItemsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(desk.items.is_empty(), "dispatch is named in none");
    let mut i1 = items_as(&app, "i1", &[Role::Inspector], "north").await;
    let mine = i1
        .list_assessment_items(pb::ListAssessmentItemsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(mine.items.is_empty(), "an inspector is named in none");
    let r = i1
        .list_assessment_items(pb::ListAssessmentItemsRequest {
            unit: "north".into(),
            person: "c1".into(),
            ..Default::default()
        })
        .await;
    assert_refused(r, Code::PermissionDenied, "ROLE_NOT_ALLOWED", None);

    // Filters: unit, person, kind, status, month.
    let waived = s
        .list_assessment_items(pb::ListAssessmentItemsRequest {
            unit: "north".into(),
            person: "c1".into(),
            kind: "BREACH_ARRIVE".into(),
            status: pb::ItemStatus::Waived as i32,
            period: month_period(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .items;
    assert_eq!(waived.len(), 1);
    assert_eq!(waived[0].id, a2);

    // Sheets: supervisors, back office, admins; not dispatch, crew or inspectors.
    for (sub, role) in [
        ("d1", Role::Dispatcher),
        ("c1", Role::Crew),
        ("i1", Role::Inspector),
    ] {
        let mut x = items_as(&app, sub, &[role], "north").await;
        let r = x
            .get_assessment_sheet(pb::GetAssessmentSheetRequest {
                unit: String::new(),
                period: month_period(),
            })
            .await;
        assert_refused(r, Code::PermissionDenied, "ROLE_NOT_ALLOWED", None);
    }
    for role in [Role::Backoffice, Role::Admin] {
        items_as(&app, "x", &[role], "hq")
            .await
            .get_assessment_sheet(pb::GetAssessmentSheetRequest {
                unit: String::new(),
                period: month_period(),
            })
            .await
            .unwrap();
    }

    // Contest: only a supervisor, only of the item's unit, with a reason.
    let r = c1.contest_item(contest_req(&a1, "no")).await;
    assert_refused(r, Code::PermissionDenied, "ROLE_NOT_ALLOWED", None);
    let mut south = items_as(&app, "head-s", &[Role::Supervisor], "south").await;
    let r = south.contest_item(contest_req(&a1, "not ours")).await;
    assert_refused(r, Code::PermissionDenied, "WRONG_UNIT", None);
    let r = north.contest_item(contest_req(&a1, "  ")).await;
    assert_refused(r, Code::InvalidArgument, "MISSING_FIELD", Some("reason"));
    let r = north.contest_item(contest_req(&a2, "again")).await;
    assert_refused(r, Code::FailedPrecondition, "NOT_CONTESTABLE", None);
    let reward = before.iter().find(|i| i.kind == "PRAISE_MEDIA").unwrap();
    let r = north
        .contest_item(contest_req(&reward.id, "a reward"))
        .await;
    assert_refused(r, Code::FailedPrecondition, "NOT_CONTESTABLE", None);
    let r = north
        .contest_item(contest_req(&uuid::Uuid::now_v7().to_string(), "which?"))
        .await;
    assert_refused(r, Code::NotFound, "ITEM_NOT_FOUND", None);

    // Decide: nothing pending, twice, or by the item's own unit.
    let r = s.decide_contest(decide_req(&a1, true, "n")).await;
    assert_refused(r, Code::FailedPrecondition, "NO_PENDING_CONTEST", None);
    let r = s
        .decide_contest(decide_req(&a2, true, "changed my mind"))
        .await;
    assert_refused(r, Code::FailedPrecondition, "NO_PENDING_CONTEST", None);
    let mut south_again = items_as(&app, "head-s", &[Role::Supervisor], "south").await;
    contest(&mut south_again, &b1).await;
    let contested = all_items(&app).await;
    let r = south_again
        .decide_contest(decide_req(&b1, false, "we waive our own"))
        .await;
    assert_refused(r, Code::PermissionDenied, "NOT_DISPATCH_CENTRE", None);
    // Nor does a peer unit's head decide it.
    let r = north
        .decide_contest(decide_req(&b1, false, "we waive theirs"))
        .await;
    assert_refused(r, Code::PermissionDenied, "NOT_DISPATCH_CENTRE", None);
    // Dispatch, the back office and admins contest, decide and reward nothing.
    for (sub, role) in [
        ("d1", Role::Dispatcher),
        ("b1", Role::Backoffice),
        ("a1", Role::Admin),
    ] {
        let mut x = items_as(&app, sub, &[role], "hq").await;
        let r = x.contest_item(contest_req(&a1, "r")).await;
        assert_refused(r, Code::PermissionDenied, "ROLE_NOT_ALLOWED", None);
        let r = x.decide_contest(decide_req(&b1, true, "n")).await;
        assert_refused(r, Code::PermissionDenied, "ROLE_NOT_ALLOWED", None);
        let r = x
            .record_reward(pb::RecordRewardRequest {
                request_id: rid(),
                kind: pb::RewardKind::PraiseMedia as i32,
                ticket_id: reward.ticket_id.clone(),
                unit: "north".into(),
                ..Default::default()
            })
            .await;
        assert_refused(r, Code::PermissionDenied, "ROLE_NOT_ALLOWED", None);
    }

    // Rewards: supervisors only; amounts not negative; the kind known; due; once.
    let praise_ticket = reward.ticket_id.clone();
    let r = c1
        .record_reward(pb::RecordRewardRequest {
            request_id: rid(),
            kind: pb::RewardKind::PraiseMedia as i32,
            ticket_id: praise_ticket.clone(),
            unit: "north".into(),
            ..Default::default()
        })
        .await;
    assert_refused(r, Code::PermissionDenied, "ROLE_NOT_ALLOWED", None);
    let r = s
        .record_reward(pb::RecordRewardRequest {
            request_id: rid(),
            kind: pb::RewardKind::PraiseAuthority as i32,
            ticket_id: praise_ticket.clone(),
            unit: "north".into(),
            unit_yuan: Some(-1),
            ..Default::default()
        })
        .await;
    assert_refused(r, Code::InvalidArgument, "OUT_OF_RANGE", Some("unit_yuan"));
    let r = s
        .record_reward(pb::RecordRewardRequest {
            request_id: rid(),
            kind: 99,
            ticket_id: praise_ticket.clone(),
            unit: "north".into(),
            ..Default::default()
        })
        .await;
    assert_refused(r, Code::InvalidArgument, "INVALID_FIELD", Some("kind"));
    let r = s
        .record_reward(pb::RecordRewardRequest {
            request_id: rid(),
            kind: pb::RewardKind::PraiseMedia as i32,
            ticket_id: praise_ticket.clone(),
            unit: "nowhere".into(),
            ..Default::default()
        })
        .await;
    assert_refused(r, Code::InvalidArgument, "UNIT_NOT_FOUND", Some("unit"));
    let r = s
        .record_reward(pb::RecordRewardRequest {
            request_id: rid(),
            kind: pb::RewardKind::PraiseMedia as i32,
            ticket_id: a1_ticket(&before, &a1),
            unit: "north".into(),
            ..Default::default()
        })
        .await;
    assert_refused(r, Code::FailedPrecondition, "REWARD_NOT_DUE", None);
    let r = s
        .record_reward(pb::RecordRewardRequest {
            request_id: rid(),
            kind: pb::RewardKind::PraiseMedia as i32,
            ticket_id: praise_ticket.clone(),
            unit: "north".into(),
            person: "c1".into(),
            ..Default::default()
        })
        .await;
    assert_refused(r, Code::AlreadyExists, "REWARD_EXISTS", None);
    let r = s
        .record_reward(pb::RecordRewardRequest {
            request_id: rid(),
            kind: pb::RewardKind::LeakReport as i32,
            ticket_id: praise_ticket.clone(),
            unit: "north".into(),
            ..Default::default()
        })
        .await;
    assert_refused(r, Code::InvalidArgument, "INVALID_FIELD", Some("unit"));
    let r = s
        .list_assessment_items(pb::ListAssessmentItemsRequest {
            kind: "NOPE".into(),
            ..Default::default()
        })
        .await;
    assert_refused(r, Code::InvalidArgument, "INVALID_FIELD", Some("kind"));

    // Nothing changed but the one contest made on purpose.
    assert_eq!(all_items(&app).await, contested);
    let changed: Vec<_> = before
        .iter()
        .zip(contested.iter())
        .filter(|(x, y)| x != y)
        .map(|(x, _)| x.id.clone())
        .collect();
    assert_eq!(changed, [b1]);
}

fn a1_ticket(items: &[pb::AssessmentItem], item: &str) -> String {
    items
        .iter()
        .find(|i| i.id == item)
        .unwrap()
        .ticket_id
        .clone()
}

/// R-ASM-1: items are on the change feed in the commit that raised them;
/// a crew member's Pull shows his own, dispatch's none of others', a
/// supervisor's all.
#[tokio::test]
async fn r_asm_1_items_follow_the_feed_scope() {
    let app = water().await;
    fixture(&app).await;
    let pulled = |sub: &'static str, role: Role, unit: &'static str| {
        let app = &app;
        async move {
            let mut s = SyncServiceClient::with_interceptor(
                app.channel().await,
                bearer_for(sub, &[role], unit),
            );
            let mut cursor = String::new();
            let mut out = Vec::new();
            loop {
                let r = s
                    .pull(pb::PullRequest {
                        cursor: cursor.clone(),
                        limit: 500,
                        ..Default::default()
                    })
                    .await
                    .unwrap()
                    .into_inner();
                for c in r.changes {
                    if let Some(pb::change::Entity::AssessmentItem(i)) = c.entity {
                        out.push(i);
                    }
                }
                cursor = r.cursor;
                if !r.has_more {
                    return out;
                }
            }
        }
    };
    let every = all_items(&app).await.len();
    let boss = pulled("s1", Role::Supervisor, "hq").await;
    let mut ids: Vec<_> = boss.iter().map(|i| i.id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), every);
    let crew = pulled("c9", Role::Crew, "south").await;
    assert!(
        !crew.is_empty() && crew.iter().all(|i| i.person == "c9"),
        "{crew:?}"
    );
    let desk = pulled("d1", Role::Dispatcher, "hq").await;
    assert!(desk.is_empty(), "{desk:?}");
}

/// R-ASM-1, R-SLA-7: a crew member offline in a basement checks in before
/// the arrival deadline; the monitor, not knowing, records the breach and
/// raises the item; when the check-in syncs with its device time, the clock
/// proves kept and the system waives the item (it counts nowhere).
#[tokio::test]
async fn r_asm_1_an_offline_event_in_time_waives_the_breach_item() {
    let app = water().await;
    let t = claimed_by(&app, "METER_FAULT", "c1").await;
    let deadline = time(&t.arrive_by);
    app.clock.set(deadline + Duration::minutes(2));
    app.run_monitor().await;
    let raised = items_of(&app, "BREACH_ARRIVE").await;
    assert_eq!(raised.len(), 1);
    assert_eq!(raised[0].status(), pb::ItemStatus::Raised);

    let mut c = app.crew("c1", "north").await;
    c.record_arrival(pb::RecordArrivalRequest {
        request_id: rid(),
        ticket_id: t.id.clone(),
        location: point(HOME.0, HOME.1),
        accuracy_m: 8.0,
        occurred_at: Some(ts(deadline - Duration::minutes(5))),
        device_id: "handheld-1".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let after = items_of(&app, "BREACH_ARRIVE").await;
    assert_eq!(after.len(), 1, "no new item");
    assert_eq!(after[0].status(), pb::ItemStatus::Waived);
    assert_eq!(after[0].decision.as_ref().unwrap().by, "system");
    let s = sheet(&app).await;
    let north = line(&s.units, "north", "");
    assert_eq!((north.items, north.waived), (0, 1));
}

/// R-ASM-1: two instances' monitors racing over outages raise each
/// outage breach's item once too.
#[tokio::test]
async fn r_asm_1_two_monitors_racing_raise_each_outage_item_once() {
    let a = water().await;
    let b = spawn_with("water", a.store.clone()).await;
    let mut crew = OutageServiceClient::with_interceptor(
        a.channel().await,
        bearer_for("c1", &[Role::Crew], "north"),
    );
    for _ in 0..4 {
        crew.report_outage(report_req(1000, a.now(), 2))
            .await
            .unwrap();
    }
    let later = march() + Duration::days(1);
    a.clock.set(later);
    b.clock.set(later);
    let (x, y) = race_monitors(&a, &b).await;
    assert!(x + y >= 4, "{x} + {y}");
    let mut desk = OutageServiceClient::with_interceptor(
        a.channel().await,
        bearer_for("d1", &[Role::Dispatcher], "hq"),
    );
    let outages = desk
        .list_outages(pb::ListOutagesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .outages;
    let breaches: usize = outages.iter().map(|o| o.breaches.len()).sum();
    let items = items_by_kind(&a).await;
    let outage_items: usize = items
        .iter()
        .filter(|(k, _)| k.starts_with("OUTAGE_BREACH_"))
        .map(|(_, n)| n)
        .sum();
    assert!(
        breaches >= 12,
        "hotline clocks and the estimate of four: {breaches}"
    );
    assert_eq!(outage_items, breaches);
}

/// R-ASM-1 with R-TKT-13: a complaint about crew member c1 that repeats his
/// repair raises REPEAT_REPAIR against him, but the complaint is kept away
/// from him, and so is its item: not in his list, not on his feed;
/// supervisors see it.
#[tokio::test]
async fn r_asm_1_an_item_of_a_complaint_is_kept_away_from_its_subject() {
    let app = water().await;
    let t = claimed_by(&app, "METER_FAULT", "c1").await;
    let mut c = app.crew("c1", "north").await;
    arrive(&mut c, &t.id).await;
    complete(&mut c, &t.id).await;
    let mut d = app.dispatcher().await;
    let mut complaint = create_req("METER_FAULT");
    complaint.address = t.address.clone();
    complaint.r#type = pb::TicketType::Complaint as i32;
    complaint.subject_staff_id = "c1".into();
    d.create_ticket(complaint).await.unwrap();
    let items = items_of(&app, "REPEAT_REPAIR").await;
    assert_eq!(items.len(), 1, "supervisors see it");
    assert_eq!(items[0].person, "c1");

    let mut mine = items_as(&app, "c1", &[Role::Crew], "north").await;
    let listed = mine
        .list_assessment_items(pb::ListAssessmentItemsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .items;
    assert!(
        listed.iter().all(|i| i.kind != "REPEAT_REPAIR"),
        "{listed:?}"
    );
    let mut sync = SyncServiceClient::with_interceptor(
        app.channel().await,
        bearer_for("c1", &[Role::Crew], "north"),
    );
    let pulled = sync
        .pull(pb::PullRequest {
            limit: 5000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!pulled.has_more);
    let seen: Vec<_> = pulled
        .changes
        .into_iter()
        .filter_map(|c| match c.entity {
            Some(pb::change::Entity::AssessmentItem(i)) => Some(i.kind),
            _ => None,
        })
        .collect();
    assert!(!seen.contains(&"REPEAT_REPAIR".to_string()), "{seen:?}");
}
