//! SyncService.Push: offline handhelds replay their queues exactly once.
//!
//! Issue tests 1-5 and 9 (Push part), plus the extra Push rules of the issue:
//! a reused mutation id with another body, client ownership, empty client id,
//! dispatchers, inspection and meter mutations, bad input inside a batch.
//! Rules cited: R-TKT-4 (exclusive claim), R-SLA-7 (device times), AIP-155
//! (request ids: a replay returns the stored response, changes nothing).
mod common;

use chrono::{DateTime, Duration, Utc};
use common::*;
use fieldops::domain::Role;
use fieldops::grpc::pb::{
    self, inspection_service_client::InspectionServiceClient, mutation::Request as Req,
    reading_service_client::ReadingServiceClient, sync_service_client::SyncServiceClient,
};
use pb::MutationOutcome as O;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use tokio::sync::Barrier;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Code, Status};

type Ch = InterceptedService<Channel, Bearer>;
type Sync = SyncServiceClient<Ch>;
type Inspections = InspectionServiceClient<Ch>;
type Readings = ReadingServiceClient<Ch>;

// ---------------------------------------------------------------- clients

fn bearer(sub: &str, roles: &[Role], unit: &str) -> Bearer {
    let value = format!("Bearer {}", token(sub, roles, unit));
    Bearer(Some(value.parse().unwrap()))
}

async fn sync_client(app: &TestApp, sub: &str, roles: &[Role], unit: &str) -> Sync {
    SyncServiceClient::with_interceptor(app.channel().await, bearer(sub, roles, unit))
}

/// A crew member's handheld in unit north.
async fn crew_sync(app: &TestApp, sub: &str) -> Sync {
    sync_client(app, sub, &[Role::Crew], "north").await
}

/// An inspector's handheld (unit north).
async fn inspector_sync(app: &TestApp, sub: &str) -> Sync {
    sync_client(app, sub, &[Role::Inspector], "north").await
}

async fn inspections_as(app: &TestApp, sub: &str, roles: &[Role], unit: &str) -> Inspections {
    InspectionServiceClient::with_interceptor(app.channel().await, bearer(sub, roles, unit))
}

async fn readings_as(app: &TestApp, sub: &str, roles: &[Role], unit: &str) -> Readings {
    ReadingServiceClient::with_interceptor(app.channel().await, bearer(sub, roles, unit))
}

// ---------------------------------------------------------------- mutations

fn claim_m(ticket: &str, at: Option<DateTime<Utc>>) -> Req {
    Req::Claim(pb::ClaimTicketRequest {
        request_id: rid(),
        ticket_id: ticket.into(),
        occurred_at: at.map(ts),
        device_id: "handheld".into(),
        ..Default::default()
    })
}

fn arrive_m(ticket: &str, at: Option<DateTime<Utc>>, lat: f64, lon: f64) -> Req {
    Req::Arrival(pb::RecordArrivalRequest {
        request_id: rid(),
        ticket_id: ticket.into(),
        location: point(lat, lon),
        accuracy_m: 8.0,
        occurred_at: at.map(ts),
        device_id: "handheld".into(),
        ..Default::default()
    })
}

fn complete_m(ticket: &str, at: Option<DateTime<Utc>>) -> Req {
    Req::Completion(pb::CompleteRepairRequest {
        request_id: rid(),
        ticket_id: ticket.into(),
        resolution: resolution(),
        occurred_at: at.map(ts),
        device_id: "handheld".into(),
        ..Default::default()
    })
}

fn start_m(visit: &str, household: &str, entered_at: DateTime<Utc>) -> Req {
    Req::InspectionStart(pb::StartInspectionRequest {
        request_id: rid(),
        inspection_id: visit.into(),
        dwelling: Some(pb::Dwelling {
            household_id: household.into(),
            address: format!("{household}, 1 Heping Rd"),
        }),
        entered_at: Some(ts(entered_at)),
        doors_windows_closed: true,
        outdoor_temp_c: Some(-5.0),
        thermometer_serial: "TH-0042".into(),
        calibration_due: "2027-06-30".into(),
        resident_name: "李四".into(),
        resident_phone: "13900001111".into(),
        device_id: "handheld".into(),
        ..Default::default()
    })
}

fn reading_m(
    visit: &str,
    room: &str,
    room_type: pb::RoomType,
    start: DateTime<Utc>,
    temperature_c: f64,
) -> Req {
    Req::RoomReading(pb::RecordRoomReadingRequest {
        request_id: rid(),
        inspection_id: visit.into(),
        reading_id: rid(),
        room_name: room.into(),
        room_type: room_type as i32,
        open_to_balcony: false,
        started_at: Some(ts(start)),
        ended_at: Some(ts(start + Duration::minutes(15))),
        temperature_c,
        height_m: 1.5,
        at_room_centre: true,
        device_id: "handheld".into(),
        ..Default::default()
    })
}

fn finish_m(visit: &str) -> Req {
    Req::InspectionFinish(pb::FinishInspectionRequest {
        request_id: rid(),
        inspection_id: visit.into(),
        inspector_signature: "王五".into(),
        resident_outcome: pb::ResidentOutcome::Signed as i32,
        device_id: "handheld".into(),
        ..Default::default()
    })
}

fn meter_m(meter: &str, value: f64, read_at: DateTime<Utc>) -> Req {
    Req::MeterReading(pb::RecordMeterReadingRequest {
        request_id: rid(),
        meter_id: meter.into(),
        value,
        unit: pb::MeterUnit::CubicMetre as i32,
        read_time: Some(ts(read_at)),
        device_id: "handheld".into(),
        reading_id: rid(),
    })
}

/// Queue entries `first`, `first + 1`, ... in order.
fn numbered(first: i64, reqs: Vec<Req>) -> Vec<pb::Mutation> {
    reqs.into_iter()
        .enumerate()
        .map(|(i, r)| pb::Mutation {
            mutation_id: first + i as i64,
            request: Some(r),
        })
        .collect()
}

fn with_id(id: i64, r: Req) -> pb::Mutation {
    pb::Mutation {
        mutation_id: id,
        request: Some(r),
    }
}

async fn push(
    c: &mut Sync,
    client_id: &str,
    mutations: &[pb::Mutation],
) -> Result<pb::PushResponse, Status> {
    c.push(pb::PushRequest {
        client_id: client_id.into(),
        mutations: mutations.to_vec(),
    })
    .await
    .map(|r| r.into_inner())
}

fn outcomes(r: &pb::PushResponse) -> Vec<O> {
    r.results.iter().map(|x| x.outcome()).collect()
}

fn ids(r: &pb::PushResponse) -> Vec<i64> {
    r.results.iter().map(|x| x.mutation_id).collect()
}

/// The client's counter as the server has it (Pull with client_id).
async fn counter(c: &mut Sync, client_id: &str) -> i64 {
    c.pull(pb::PullRequest {
        client_id: client_id.into(),
        limit: 1,
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .last_mutation_id
}

async fn kind_counts(app: &TestApp, ticket: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for e in events(app, ticket).await {
        *out.entry(e.kind).or_insert(0) += 1;
    }
    out
}

async fn kind_count(app: &TestApp, ticket: &str, kind: &str) -> usize {
    kind_counts(app, ticket)
        .await
        .get(kind)
        .copied()
        .unwrap_or(0)
}

async fn get_inspection(app: &TestApp, id: &str) -> Result<pb::Inspection, Status> {
    let mut d = inspections_as(app, "d1", &[Role::Dispatcher], "hq").await;
    d.get_inspection(pb::GetInspectionRequest {
        inspection_id: id.into(),
    })
    .await
    .map(|r| r.into_inner())
}

async fn list_meter(r: &mut Readings, meter: &str) -> Vec<pb::MeterReading> {
    let mut out = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = r
            .list_meter_readings(pb::ListMeterReadingsRequest {
                meter_id: meter.into(),
                page_size: 100,
                page_token,
            })
            .await
            .unwrap()
            .into_inner();
        out.extend(page.readings);
        if page.next_page_token.is_empty() {
            return out;
        }
        page_token = page.next_page_token;
    }
}

async fn meter_readings(app: &TestApp, meter: &str) -> Vec<pb::MeterReading> {
    let mut d = readings_as(app, "d1", &[Role::Dispatcher], "hq").await;
    list_meter(&mut d, meter).await
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

// ---------------------------------------------------------------- 1

/// Issue test 1: the same Push twice. The second time nothing changes (ticket
/// versions, ListTicketEvents, inspection readings, meter readings) and the
/// stored outcomes come back: DUPLICATE with exactly the results of the first
/// APPLIED, even after the server clock moved (stored, not recomputed; AIP-155).
#[tokio::test]
async fn t1_same_push_twice_changes_nothing_the_second_time() {
    let app = spawn_app().await;
    let t1 = dispatched_ticket(&app, "NETWORK_LEAK").await;
    let t2 = dispatched_ticket(&app, "BLOCKAGE").await;
    app.clock.advance(Duration::minutes(30));
    let now = app.now();

    let mut crew = crew_sync(&app, "c1").await;
    let crew_batch = numbered(
        1,
        vec![
            claim_m(&t1.id, Some(now - Duration::minutes(25))),
            arrive_m(&t1.id, Some(now - Duration::minutes(15)), HOME.0, HOME.1),
            complete_m(&t1.id, Some(now - Duration::minutes(2))),
            claim_m(&t2.id, None),
        ],
    );
    let first = push(&mut crew, "hh-c1", &crew_batch).await.unwrap();
    assert_eq!(outcomes(&first), [O::Applied; 4], "{first:?}");
    assert_eq!(ids(&first), [1, 2, 3, 4]);
    assert_eq!(first.last_mutation_id, 4);

    let mut insp = inspector_sync(&app, "i1").await;
    let visit = new_id();
    let insp_batch = numbered(
        1,
        vec![
            start_m(&visit, "HH-100", now - Duration::minutes(40)),
            reading_m(
                &visit,
                "bedroom",
                pb::RoomType::Bedroom,
                now - Duration::minutes(35),
                19.5,
            ),
            reading_m(
                &visit,
                "living room",
                pb::RoomType::LivingRoom,
                now - Duration::minutes(30),
                21.0,
            ),
            finish_m(&visit),
            meter_m("M-100", 1234.5, now - Duration::minutes(5)),
        ],
    );
    let first_i = push(&mut insp, "hh-i1", &insp_batch).await.unwrap();
    assert_eq!(outcomes(&first_i), [O::Applied; 5], "{first_i:?}");
    assert_eq!(first_i.last_mutation_id, 5);

    let (v1, v2) = (get(&app, &t1.id).await, get(&app, &t2.id).await);
    assert_eq!(v1.state(), pb::TicketState::Resolved);
    assert_eq!(v2.state(), pb::TicketState::Claimed);
    let (e1, e2) = (events(&app, &t1.id).await, events(&app, &t2.id).await);
    let visit_before = get_inspection(&app, &visit).await.unwrap();
    assert_eq!(visit_before.id, visit, "the client-chosen inspection id");
    assert_eq!(visit_before.readings.len(), 2);
    assert_eq!(visit_before.state(), pb::InspectionState::Finished);
    let meter_before = meter_readings(&app, "M-100").await;
    assert_eq!(meter_before.len(), 1);

    // Later, the very same pushes again.
    app.clock.advance(Duration::minutes(7));
    let second = push(&mut crew, "hh-c1", &crew_batch).await.unwrap();
    assert_eq!(outcomes(&second), [O::Duplicate; 4], "{second:?}");
    assert_eq!(second.last_mutation_id, 4);
    let second_i = push(&mut insp, "hh-i1", &insp_batch).await.unwrap();
    assert_eq!(outcomes(&second_i), [O::Duplicate; 5], "{second_i:?}");
    assert_eq!(second_i.last_mutation_id, 5);
    for (a, b) in first
        .results
        .iter()
        .zip(&second.results)
        .chain(first_i.results.iter().zip(&second_i.results))
    {
        assert_eq!(a.mutation_id, b.mutation_id);
        assert!(a.result.is_some());
        assert_eq!(
            a.result, b.result,
            "mutation {}: stored result",
            a.mutation_id
        );
    }

    assert_eq!(get(&app, &t1.id).await, v1, "ticket unchanged");
    assert_eq!(get(&app, &t2.id).await, v2, "ticket unchanged");
    assert_eq!(events(&app, &t1.id).await, e1, "no new events");
    assert_eq!(events(&app, &t2.id).await, e2, "no new events");
    assert_eq!(get_inspection(&app, &visit).await.unwrap(), visit_before);
    assert_eq!(meter_readings(&app, "M-100").await, meter_before);
    assert_eq!(counter(&mut crew, "hh-c1").await, 4);
    assert_eq!(counter(&mut insp, "hh-i1").await, 5);
}

// ---------------------------------------------------------------- 2

/// Issue test 2: lost acknowledgement. The push commits, its response never
/// reaches the handheld, the handheld retries: applied exactly once.
#[tokio::test]
async fn t2_lost_acknowledgement_retry_applies_exactly_once() {
    let app = spawn_app().await;
    let t1 = dispatched_ticket(&app, "NETWORK_LEAK").await;
    let t2 = dispatched_ticket(&app, "NETWORK_LEAK").await;
    let t3 = dispatched_ticket(&app, "BLOCKAGE").await;

    // One mutation, response dropped after commit.
    let mut c1 = crew_sync(&app, "c1").await;
    let b = numbered(1, vec![claim_m(&t1.id, None)]);
    drop(push(&mut c1, "hh-c1", &b).await);
    let retry = push(&mut c1, "hh-c1", &b).await.unwrap();
    assert_eq!(outcomes(&retry), [O::Duplicate]);
    assert_eq!(retry.last_mutation_id, 1);
    let Some(pb::mutation_result::Result::Ticket(t)) = &retry.results[0].result else {
        panic!("a ticket: {retry:?}");
    };
    let now = get(&app, &t1.id).await;
    assert_eq!(
        (t.version, t.state(), &t.assignee),
        (now.version, now.state(), &now.assignee)
    );
    assert_eq!(kind_count(&app, &t1.id, "CLAIMED").await, 1);

    // A batch [1,2,3] whose response was lost; the retry carries one more.
    let mut c2 = crew_sync(&app, "c2").await;
    let first3 = numbered(
        1,
        vec![
            claim_m(&t2.id, None),
            arrive_m(&t2.id, None, HOME.0, HOME.1),
            complete_m(&t2.id, None),
        ],
    );
    drop(push(&mut c2, "hh-c2", &first3).await);
    let mut first4 = first3.clone();
    first4.push(with_id(4, claim_m(&t3.id, None)));
    let retry = push(&mut c2, "hh-c2", &first4).await.unwrap();
    assert_eq!(
        outcomes(&retry),
        [O::Duplicate, O::Duplicate, O::Duplicate, O::Applied]
    );
    assert_eq!(ids(&retry), [1, 2, 3, 4]);
    assert_eq!(retry.last_mutation_id, 4);
    let k2 = kind_counts(&app, &t2.id).await;
    assert_eq!(
        (k2["CLAIMED"], k2["ARRIVED"], k2["RESOLVED"]),
        (1, 1, 1),
        "{k2:?}"
    );
    assert_eq!(kind_count(&app, &t3.id, "CLAIMED").await, 1);
    assert_eq!(counter(&mut c2, "hh-c2").await, 4);

    // AIP-155 across channels: the unary call went through but its answer was
    // lost, so the handheld queued the very same request (same request_id).
    let t4 = dispatched_ticket(&app, "BLOCKAGE").await;
    let queued = claim_m(&t4.id, None);
    let Req::Claim(unary) = &queued else {
        unreachable!()
    };
    let mut online = app.crew("c3", "north").await;
    let answered = online
        .claim_ticket(unary.clone())
        .await
        .unwrap()
        .into_inner();
    let mut c3 = crew_sync(&app, "c3").await;
    let r = push(&mut c3, "hh-c3", &numbered(1, vec![queued.clone()]))
        .await
        .unwrap();
    assert!(
        matches!(r.results[0].outcome(), O::Applied | O::Duplicate),
        "{r:?}"
    );
    assert_eq!(
        r.results[0].result,
        Some(pb::mutation_result::Result::Ticket(answered)),
        "the stored response of the request id"
    );
    assert_eq!(kind_count(&app, &t4.id, "CLAIMED").await, 1);
    assert_eq!(counter(&mut c3, "hh-c3").await, 1);
}

// ---------------------------------------------------------------- 3

const PUSHERS: usize = 16;

/// Issue test 3: 16 pushes of the same batch at once, each on its own
/// connection. Each mutation is APPLIED in exactly one response and DUPLICATE
/// in the others (a REJECTED one is REJECTED in all, with one stored reason);
/// the changes happen once; every response ends at the same counter.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t3_concurrent_identical_pushes_apply_each_mutation_once() {
    let app = spawn_app().await;
    let t1 = dispatched_ticket(&app, "NETWORK_LEAK").await;
    let t2 = dispatched_ticket(&app, "NETWORK_LEAK").await;
    let t3 = dispatched_ticket(&app, "BLOCKAGE").await;
    // c2 holds t3 already: c1's queued claim of it is refused (R-TKT-4).
    let mut c2 = app.crew("c2", "north").await;
    claim(&mut c2, &t3.id).await.unwrap();

    let batch = numbered(
        1,
        vec![
            claim_m(&t1.id, None),
            arrive_m(&t1.id, None, HOME.0, HOME.1),
            complete_m(&t1.id, None),
            claim_m(&t3.id, None),
            claim_m(&t2.id, None),
            arrive_m(&t2.id, None, HOME.0 + 0.001, HOME.1),
        ],
    );
    let barrier = Arc::new(Barrier::new(PUSHERS));
    let mut tasks = Vec::new();
    for _ in 0..PUSHERS {
        let mut c = crew_sync(&app, "c1").await; // its own channel
        let (barrier, batch) = (barrier.clone(), batch.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            push(&mut c, "hh-c1", &batch).await
        }));
    }
    let mut responses = Vec::new();
    for t in tasks {
        responses.push(t.await.unwrap().expect("every concurrent push succeeds"));
    }
    for r in &responses {
        assert_eq!(ids(r), [1, 2, 3, 4, 5, 6], "{r:?}");
        assert_eq!(r.last_mutation_id, 6, "the same counter in every response");
    }
    for i in 0..batch.len() {
        let all: Vec<_> = responses.iter().map(|r| &r.results[i]).collect();
        if i == 3 {
            for r in &all {
                assert_eq!(r.outcome(), O::Rejected, "{r:?}");
                assert_eq!(r.code, Code::Aborted as i32);
                assert_eq!(r.reason, "TICKET_ALREADY_CLAIMED");
                assert_eq!(r.message, all[0].message);
            }
            continue;
        }
        let applied: Vec<_> = all.iter().filter(|r| r.outcome() == O::Applied).collect();
        assert_eq!(applied.len(), 1, "mutation {}: {all:?}", i + 1);
        let dups = all.iter().filter(|r| r.outcome() == O::Duplicate).count();
        assert_eq!(dups, PUSHERS - 1, "mutation {}: {all:?}", i + 1);
        for r in &all {
            assert_eq!(r.result, applied[0].result, "the stored result");
        }
    }
    let k1 = kind_counts(&app, &t1.id).await;
    assert_eq!(
        (k1["CLAIMED"], k1["ARRIVED"], k1["RESOLVED"]),
        (1, 1, 1),
        "{k1:?}"
    );
    let k2 = kind_counts(&app, &t2.id).await;
    assert_eq!((k2["CLAIMED"], k2["ARRIVED"]), (1, 1), "{k2:?}");
    assert_eq!(kind_count(&app, &t3.id, "CLAIMED").await, 1);
    assert_eq!(get(&app, &t3.id).await.assignee, "c2");
    let mut c = crew_sync(&app, "c1").await;
    assert_eq!(counter(&mut c, "hh-c1").await, 6);
}

// ---------------------------------------------------------------- 4

/// Issue test 4: a gap (first id > last + 1, or non-contiguous ids) is
/// FAILED_PRECONDITION MUTATION_GAP and applies nothing, not even the part
/// of the batch that would fit. The error's ErrorInfo names the mutation id
/// to continue from (`expected_mutation_id`).
#[tokio::test]
async fn t4_gap_is_refused_and_applies_nothing() {
    let app = spawn_app().await;
    let tickets: Vec<_> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(dispatched_ticket(&app, "NETWORK_LEAK").await);
        }
        v
    };
    let mut c1 = crew_sync(&app, "c1").await;

    // A fresh client must start at 1.
    let e = push(
        &mut c1,
        "hh-c1",
        &numbered(2, vec![claim_m(&tickets[0].id, None)]),
    )
    .await
    .unwrap_err();
    assert_status(&e, Code::FailedPrecondition, "MUTATION_GAP", None);
    assert_eq!(
        expected_next(&e),
        Some(1),
        "the id to continue from, as data"
    );
    assert_eq!(counter(&mut c1, "hh-c1").await, 0);
    assert_eq!(get(&app, &tickets[0].id).await.version, tickets[0].version);

    // An empty push tells a client its counter (proto: Push).
    assert_eq!(
        push(&mut c1, "hh-c1", &[]).await.unwrap().last_mutation_id,
        0
    );
    let first = numbered(1, vec![claim_m(&tickets[0].id, None)]);
    let ok = push(&mut c1, "hh-c1", &first).await.unwrap();
    assert_eq!(outcomes(&ok), [O::Applied]);
    let empty = push(&mut c1, "hh-c1", &[]).await.unwrap();
    assert_eq!((empty.results.len(), empty.last_mutation_id), (0, 1));
    let before: Vec<_> = {
        let mut v = Vec::new();
        for t in &tickets {
            v.push((get(&app, &t.id).await, events(&app, &t.id).await));
        }
        v
    };

    let gaps: Vec<Vec<pb::Mutation>> = vec![
        // first id > last + 1
        numbered(3, vec![claim_m(&tickets[1].id, None)]),
        // starts right, then skips
        vec![
            with_id(2, claim_m(&tickets[1].id, None)),
            with_id(4, claim_m(&tickets[2].id, None)),
        ],
        // a repeated id inside the batch
        vec![
            with_id(2, claim_m(&tickets[1].id, None)),
            with_id(2, claim_m(&tickets[2].id, None)),
        ],
        // out of order inside the batch
        vec![
            with_id(3, claim_m(&tickets[2].id, None)),
            with_id(2, claim_m(&tickets[1].id, None)),
        ],
        // ids start at 1
        numbered(0, vec![claim_m(&tickets[1].id, None)]),
    ];
    for batch in &gaps {
        let e = push(&mut c1, "hh-c1", batch).await.unwrap_err();
        assert_status(&e, Code::FailedPrecondition, "MUTATION_GAP", None);
        assert_eq!(expected_next(&e), Some(2));
        assert_eq!(counter(&mut c1, "hh-c1").await, 1, "counter unchanged");
    }
    for (t, (ticket, evs)) in tickets.iter().zip(&before) {
        assert_eq!(&get(&app, &t.id).await, ticket, "state unchanged");
        assert_eq!(&events(&app, &t.id).await, evs, "no events");
    }
    // The queue goes on where it was.
    let mut resumed = first.clone();
    resumed.push(with_id(2, claim_m(&tickets[1].id, None)));
    let ok = push(&mut c1, "hh-c1", &resumed).await.unwrap();
    assert_eq!(outcomes(&ok), [O::Duplicate, O::Applied]);
    assert_eq!(counter(&mut c1, "hh-c1").await, 2);
}

/// Issue test 4, transient failure mid-batch: the documented contract is that
/// what was applied stays applied and a resend applies the rest exactly once.
/// Shown twice: with a batch that was partially pushed before ([1,2] then
/// [1,2,3,4]), and with a push that the handheld really cuts off mid-batch
/// (the connection goes away after the first mutation committed).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t4_resend_after_partially_applied_batch_applies_the_rest_once() {
    let app = spawn_app().await;
    let a = dispatched_ticket(&app, "NETWORK_LEAK").await;
    let b = dispatched_ticket(&app, "BLOCKAGE").await;
    let full = numbered(
        1,
        vec![
            claim_m(&a.id, None),
            arrive_m(&a.id, None, HOME.0, HOME.1),
            complete_m(&a.id, None),
            claim_m(&b.id, None),
        ],
    );
    let mut c1 = crew_sync(&app, "c1").await;
    let part = push(&mut c1, "hh-c1", &full[..2]).await.unwrap();
    assert_eq!(outcomes(&part), [O::Applied, O::Applied]);
    let rest = push(&mut c1, "hh-c1", &full).await.unwrap();
    assert_eq!(
        outcomes(&rest),
        [O::Duplicate, O::Duplicate, O::Applied, O::Applied]
    );
    assert_eq!(rest.results[1].result, part.results[1].result);
    let ka = kind_counts(&app, &a.id).await;
    assert_eq!(
        (ka["CLAIMED"], ka["ARRIVED"], ka["RESOLVED"]),
        (1, 1, 1),
        "{ka:?}"
    );
    assert_eq!(kind_count(&app, &b.id, "CLAIMED").await, 1);

    // A push cut off by the handheld mid-batch: 30 tickets, 3 steps each; the
    // connection is dropped as soon as the first mutation is visible. The
    // server stops at most one write later; the resend needs no pause first:
    // a mutation still committing when the resend reaches it is a push race,
    // answered as a duplicate.
    let mut cut_tickets = Vec::new();
    let mut long = Vec::new();
    for _ in 0..30 {
        let t = dispatched_ticket(&app, "NETWORK_LEAK").await;
        long.push(claim_m(&t.id, None));
        long.push(arrive_m(&t.id, None, HOME.0, HOME.1));
        long.push(complete_m(&t.id, None));
        cut_tickets.push(t);
    }
    let batch = numbered(1, long);
    let n = batch.len() as i64;
    let mut cut = crew_sync(&app, "c2").await;
    let mut watch = crew_sync(&app, "c2").await;
    let finished = tokio::select! {
        r = push(&mut cut, "hh-c2", &batch) => { r.unwrap(); true }
        _ = async {
            while counter(&mut watch, "hh-c2").await < 1 {
                tokio::task::yield_now().await;
            }
        } => false,
    };
    drop(cut);
    assert!(!finished, "the push of {n} mutations was cut off mid-batch");
    let seen_at_cut = counter(&mut watch, "hh-c2").await;
    assert!(seen_at_cut >= 1);
    let mut again = crew_sync(&app, "c2").await;
    let r = push(&mut again, "hh-c2", &batch).await.unwrap();
    assert_eq!(r.last_mutation_id, n);
    let done = r
        .results
        .iter()
        .take_while(|x| x.outcome() == O::Duplicate)
        .count() as i64;
    assert!(
        (seen_at_cut..n).contains(&done),
        "{done} applied before the resend, {seen_at_cut} seen at the cut, of {n}"
    );
    for (i, x) in r.results.iter().enumerate() {
        let want = if (i as i64) < done {
            O::Duplicate
        } else {
            O::Applied
        };
        assert_eq!(x.outcome(), want, "#{}: {r:?}", i + 1);
    }
    for t in &cut_tickets {
        let k = kind_counts(&app, &t.id).await;
        assert_eq!(
            (k["CLAIMED"], k["ARRIVED"], k["RESOLVED"]),
            (1, 1, 1),
            "{k:?}"
        );
    }
}

// ---------------------------------------------------------------- 5

/// Issue test 5 (R-TKT-4): two crews claim one ticket offline, then both sync.
/// One APPLIED, the other REJECTED TICKET_ALREADY_CLAIMED (ABORTED); both
/// queues continue (the next mutation of each is APPLIED, the counters pass
/// the rejected one). Re-pushing the rejected mutation returns the stored
/// REJECTED, even after the ticket became claimable again (not re-evaluated).
#[tokio::test]
async fn t5_two_crews_claim_offline_one_wins_and_both_queues_continue() {
    let app = spawn_app().await;
    let contested = dispatched_ticket(&app, "NETWORK_LEAK").await;
    let other1 = dispatched_ticket(&app, "BLOCKAGE").await;
    let other2 = dispatched_ticket(&app, "BLOCKAGE").await;
    let t0 = app.now();
    app.clock.advance(Duration::minutes(15));

    let mut c1 = crew_sync(&app, "c1").await;
    let mut c2 = crew_sync(&app, "c2").await;
    let q1 = numbered(
        1,
        vec![
            claim_m(&contested.id, Some(t0 + Duration::minutes(5))),
            claim_m(&other1.id, Some(t0 + Duration::minutes(6))),
        ],
    );
    let q2 = numbered(
        1,
        vec![
            claim_m(&contested.id, Some(t0 + Duration::minutes(4))),
            claim_m(&other2.id, Some(t0 + Duration::minutes(7))),
        ],
    );
    let r1 = push(&mut c1, "hh-c1", &q1).await.unwrap();
    let r2 = push(&mut c2, "hh-c2", &q2).await.unwrap();
    assert_eq!(outcomes(&r1), [O::Applied, O::Applied]);
    assert_eq!(outcomes(&r2), [O::Rejected, O::Applied], "{r2:?}");
    let rejected = &r2.results[0];
    assert_eq!(rejected.code, Code::Aborted as i32);
    assert_eq!(rejected.reason, "TICKET_ALREADY_CLAIMED");
    assert!(!rejected.message.is_empty());
    assert!(rejected.result.is_none());
    assert_eq!((r1.last_mutation_id, r2.last_mutation_id), (2, 2));
    assert_eq!(counter(&mut c2, "hh-c2").await, 2, "past the rejected one");
    assert_eq!(get(&app, &contested.id).await.assignee, "c1");
    assert_eq!(get(&app, &other2.id).await.assignee, "c2");
    assert_eq!(kind_count(&app, &contested.id, "CLAIMED").await, 1);

    // The ticket becomes claimable again: c1 hands it back, dispatch re-sends it.
    let mut u1 = app.crew("c1", "north").await;
    u1.return_ticket(pb::ReturnTicketRequest {
        request_id: rid(),
        ticket_id: contested.id.clone(),
        reason: "wrong district".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let mut d = app.dispatcher().await;
    let redispatched = dispatch(&mut d, &contested.id, "north").await;
    assert_eq!(redispatched.state(), pb::TicketState::Dispatched);

    // The stored refusal comes back; the claim is not tried again.
    let again = push(&mut c2, "hh-c2", &q2).await.unwrap();
    assert_eq!(outcomes(&again), [O::Rejected, O::Duplicate]);
    assert_eq!(
        (
            &again.results[0].reason,
            again.results[0].code,
            &again.results[0].message
        ),
        (&rejected.reason, rejected.code, &rejected.message)
    );
    assert_eq!(again.results[1].result, r2.results[1].result);
    let now = get(&app, &contested.id).await;
    assert_eq!(now.state(), pb::TicketState::Dispatched);
    assert_eq!(now.version, redispatched.version);
    assert_eq!(kind_count(&app, &contested.id, "CLAIMED").await, 1);

    // A new queue entry with the same intent is a new mutation: it applies.
    let mut q3 = q2.clone();
    q3.push(with_id(3, claim_m(&contested.id, None)));
    let r3 = push(&mut c2, "hh-c2", &q3).await.unwrap();
    assert_eq!(outcomes(&r3), [O::Rejected, O::Duplicate, O::Applied]);
    assert_eq!(get(&app, &contested.id).await.assignee, "c2");
    assert_eq!(kind_count(&app, &contested.id, "CLAIMED").await, 2);
}

// ---------------------------------------------------------------- batch rules

/// A reused mutation id with a different body is ALREADY_EXISTS
/// MUTATION_ID_REUSED and nothing of the batch is applied, not even the new
/// entries after it. A different request_id alone is a different body.
#[tokio::test]
async fn reused_mutation_id_with_another_body_is_refused_and_applies_nothing() {
    let app = spawn_app().await;
    let mut ts_ = Vec::new();
    for _ in 0..4 {
        ts_.push(dispatched_ticket(&app, "NETWORK_LEAK").await);
    }
    let mut c1 = crew_sync(&app, "c1").await;
    let q = numbered(
        1,
        vec![claim_m(&ts_[0].id, None), claim_m(&ts_[1].id, None)],
    );
    push(&mut c1, "hh-c1", &q).await.unwrap();

    let other_ticket = vec![
        q[0].clone(),
        with_id(2, claim_m(&ts_[2].id, None)),
        with_id(3, claim_m(&ts_[3].id, None)),
    ];
    let mut same_body_new_request_id = q[1].clone();
    if let Some(Req::Claim(c)) = &mut same_body_new_request_id.request {
        c.request_id = rid();
    }
    let other_request_id = vec![
        q[0].clone(),
        same_body_new_request_id,
        with_id(3, claim_m(&ts_[3].id, None)),
    ];
    let other_kind = vec![
        with_id(1, arrive_m(&ts_[0].id, None, HOME.0, HOME.1)),
        q[1].clone(),
        with_id(3, claim_m(&ts_[3].id, None)),
    ];
    for batch in [other_ticket, other_request_id, other_kind] {
        let e = push(&mut c1, "hh-c1", &batch).await.unwrap_err();
        assert_status(&e, Code::AlreadyExists, "MUTATION_ID_REUSED", None);
        assert_eq!(counter(&mut c1, "hh-c1").await, 2);
    }
    for t in &ts_[2..] {
        assert_eq!(get(&app, &t.id).await.version, t.version, "nothing applied");
        assert_eq!(kind_count(&app, &t.id, "CLAIMED").await, 0);
    }
    assert_eq!(kind_count(&app, &ts_[0].id, "ARRIVED").await, 0);
    // The original bodies still replay.
    let r = push(&mut c1, "hh-c1", &q).await.unwrap();
    assert_eq!(outcomes(&r), [O::Duplicate, O::Duplicate]);

    // A REJECTED entry is recorded too: another body under its id is refused.
    let mut q3 = q.clone();
    q3.push(with_id(3, claim_m(&ts_[0].id, None))); // already held: REJECTED
    let r = push(&mut c1, "hh-c1", &q3).await.unwrap();
    assert_eq!(outcomes(&r), [O::Duplicate, O::Duplicate, O::Rejected]);
    let mut other = q3.clone();
    other[2] = with_id(3, claim_m(&ts_[2].id, None));
    let e = push(&mut c1, "hh-c1", &other).await.unwrap_err();
    assert_status(&e, Code::AlreadyExists, "MUTATION_ID_REUSED", None);
    assert_eq!(kind_count(&app, &ts_[2].id, "CLAIMED").await, 0);
    assert_eq!(counter(&mut c1, "hh-c1").await, 3);
}

/// Who may push with which client id: a client id belongs to the user who
/// pushed it first (PERMISSION_DENIED CLIENT_NOT_OWNED for anyone else, on
/// Push and on Pull); client_id is required; dispatchers do not push
/// (PERMISSION_DENIED, and they register no client id).
#[tokio::test]
async fn client_ids_are_owned_and_required_and_dispatchers_do_not_push() {
    let app = spawn_app().await;
    let t1 = dispatched_ticket(&app, "NETWORK_LEAK").await;
    let t2 = dispatched_ticket(&app, "BLOCKAGE").await;
    let mut c1 = crew_sync(&app, "c1").await;
    let mut c2 = crew_sync(&app, "c2").await;
    push(
        &mut c1,
        "hh-shared",
        &numbered(1, vec![claim_m(&t1.id, None)]),
    )
    .await
    .unwrap();

    let e = push(
        &mut c2,
        "hh-shared",
        &numbered(2, vec![claim_m(&t2.id, None)]),
    )
    .await
    .unwrap_err();
    assert_status(&e, Code::PermissionDenied, "CLIENT_NOT_OWNED", None);
    let e = push(
        &mut c2,
        "hh-shared",
        &numbered(1, vec![claim_m(&t1.id, None)]),
    )
    .await
    .unwrap_err();
    assert_status(&e, Code::PermissionDenied, "CLIENT_NOT_OWNED", None);
    let e = c2
        .pull(pb::PullRequest {
            client_id: "hh-shared".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_status(&e, Code::PermissionDenied, "CLIENT_NOT_OWNED", None);
    // An inspector is someone else too.
    let mut i1 = inspector_sync(&app, "i1").await;
    let e = push(
        &mut i1,
        "hh-shared",
        &numbered(2, vec![meter_m("M-1", 1.0, app.now())]),
    )
    .await
    .unwrap_err();
    assert_status(&e, Code::PermissionDenied, "CLIENT_NOT_OWNED", None);
    assert_eq!(
        get(&app, &t2.id).await.version,
        t2.version,
        "nothing applied"
    );
    assert!(meter_readings(&app, "M-1").await.is_empty());
    assert_eq!(counter(&mut c1, "hh-shared").await, 1);

    for client_id in ["", "   ", &"x".repeat(129)] {
        let e = push(
            &mut c1,
            client_id,
            &numbered(2, vec![claim_m(&t2.id, None)]),
        )
        .await
        .unwrap_err();
        assert_status(
            &e,
            Code::InvalidArgument,
            "MISSING_FIELD",
            Some("client_id"),
        );
    }
    let longest = "y".repeat(128);
    let r = push(&mut c1, &longest, &[]).await.unwrap();
    assert_eq!((r.results.len(), r.last_mutation_id), (0, 0));
    // A queue entry without a request is bad input for the whole push.
    let e = push(
        &mut c1,
        "hh-shared",
        &[pb::Mutation {
            mutation_id: 2,
            request: None,
        }],
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert_eq!(counter(&mut c1, "hh-shared").await, 1);

    let mut d = sync_client(&app, "d1", &[Role::Dispatcher], "hq").await;
    let e = push(&mut d, "hh-desk", &numbered(1, vec![claim_m(&t2.id, None)]))
        .await
        .unwrap_err();
    assert_status(&e, Code::PermissionDenied, "ROLE_NOT_ALLOWED", None);
    assert_eq!(
        get(&app, &t2.id).await.version,
        t2.version,
        "nothing applied"
    );
    // The refused push registered nothing: the id is still free for a handheld.
    let r = push(
        &mut c2,
        "hh-desk",
        &numbered(1, vec![claim_m(&t2.id, None)]),
    )
    .await
    .unwrap();
    assert_eq!(outcomes(&r), [O::Applied]);
}

/// R-SLA-7 through Push: a device time beyond max_future (24 h) is bad input,
/// REJECTED INVALID_ARGUMENT OCCURRED_AT_IN_FUTURE, and the queue moves on; a
/// time ahead within that is accepted but untrusted (server time counts).
#[tokio::test]
async fn r_sla_7_far_future_device_time_is_rejected_and_the_queue_moves_on() {
    let app = spawn_app().await;
    let t1 = dispatched_ticket(&app, "NETWORK_LEAK").await;
    app.clock.advance(Duration::minutes(1));
    let now = app.now();
    let mut c1 = crew_sync(&app, "c1").await;
    let q = numbered(
        1,
        vec![
            claim_m(&t1.id, Some(now + Duration::hours(25))),
            claim_m(&t1.id, Some(now + Duration::hours(1))),
        ],
    );
    let r = push(&mut c1, "hh-c1", &q).await.unwrap();
    assert_eq!(outcomes(&r), [O::Rejected, O::Applied], "{r:?}");
    assert_eq!(r.results[0].code, Code::InvalidArgument as i32);
    assert_eq!(r.results[0].reason, "OCCURRED_AT_IN_FUTURE");
    assert_eq!(r.last_mutation_id, 2);
    let Some(pb::mutation_result::Result::Ticket(t)) = &r.results[1].result else {
        panic!("{r:?}")
    };
    assert_eq!(
        t.claim_time,
        Some(ts(now)),
        "untrusted: the server time counts"
    );
    let claimed: Vec<_> = events(&app, &t1.id)
        .await
        .into_iter()
        .filter(|e| e.kind == "CLAIMED")
        .collect();
    assert_eq!(claimed.len(), 1);
    assert!(claimed[0].time_untrusted);
}

// ---------------------------------------------------------------- inspections

/// Inspection mutations (StartInspection with a client-chosen inspection_id,
/// RecordRoomReading, FinishInspection) and meter readings work through Push.
/// A reading with temperature NaN is REJECTED INVALID_ARGUMENT and advances
/// the counter; a reading after sign-off is REJECTED INSPECTION_FINISHED; a
/// replay returns the stored outcomes.
#[tokio::test]
async fn inspection_and_meter_mutations_through_push() {
    let app = spawn_app().await;
    app.clock.advance(Duration::hours(1));
    let now = app.now();
    let visit = new_id();
    let mut i1 = inspector_sync(&app, "i1").await;
    let q = numbered(
        1,
        vec![
            start_m(&visit, "HH-7", now - Duration::minutes(50)),
            reading_m(
                &visit,
                "bedroom",
                pb::RoomType::Bedroom,
                now - Duration::minutes(45),
                18.5,
            ),
            reading_m(
                &visit,
                "hall",
                pb::RoomType::Hall,
                now - Duration::minutes(40),
                f64::NAN,
            ),
            reading_m(
                &visit,
                "living room",
                pb::RoomType::LivingRoom,
                now - Duration::minutes(30),
                20.0,
            ),
            finish_m(&visit),
            meter_m("M-7", 100.0, now - Duration::minutes(10)),
            reading_m(
                &visit,
                "kitchen",
                pb::RoomType::Kitchen,
                now - Duration::minutes(5),
                19.0,
            ),
            meter_m("M-7", 101.5, now - Duration::minutes(1)),
        ],
    );
    let r = push(&mut i1, "hh-i1", &q).await.unwrap();
    use O::{Applied as A, Rejected as X};
    assert_eq!(outcomes(&r), [A, A, X, A, A, A, X, A], "{r:?}");
    assert_eq!(r.last_mutation_id, 8);
    assert_eq!(r.results[2].code, Code::InvalidArgument as i32);
    assert_eq!(r.results[2].reason, "OUT_OF_RANGE");
    assert_eq!(r.results[6].code, Code::FailedPrecondition as i32);
    assert_eq!(r.results[6].reason, "INSPECTION_FINISHED");
    let Some(pb::mutation_result::Result::Inspection(started)) = &r.results[0].result else {
        panic!("{r:?}")
    };
    assert_eq!(started.id, visit);
    assert!(matches!(
        r.results[1].result,
        Some(pb::mutation_result::Result::RoomReading(_))
    ));
    let Some(pb::mutation_result::Result::Inspection(finished)) = &r.results[4].result else {
        panic!("{r:?}")
    };
    assert_eq!(finished.state(), pb::InspectionState::Finished);
    assert!(matches!(
        r.results[5].result,
        Some(pb::mutation_result::Result::MeterReading(_))
    ));

    let stored = get_inspection(&app, &visit).await.unwrap();
    assert_eq!(stored.state(), pb::InspectionState::Finished);
    assert_eq!(stored.inspector, "i1");
    let mut rooms: Vec<_> = stored
        .readings
        .iter()
        .map(|x| x.room_name.clone())
        .collect();
    rooms.sort();
    assert_eq!(rooms, ["bedroom", "living room"]);
    assert_eq!(&stored, finished, "the pushed result is the stored visit");
    assert_eq!(meter_readings(&app, "M-7").await.len(), 2);
    assert_eq!(counter(&mut i1, "hh-i1").await, 8);

    app.clock.advance(Duration::minutes(3));
    let again = push(&mut i1, "hh-i1", &q).await.unwrap();
    use O::Duplicate as D;
    assert_eq!(outcomes(&again), [D, D, X, D, D, D, X, D]);
    for (a, b) in r.results.iter().zip(&again.results) {
        assert_eq!(
            (&a.result, a.code, &a.reason, &a.message),
            (&b.result, b.code, &b.reason, &b.message)
        );
    }
    assert_eq!(get_inspection(&app, &visit).await.unwrap(), stored);
    assert_eq!(meter_readings(&app, "M-7").await.len(), 2);
}

/// Pull after pushed visits: the device state (latest version of each entity
/// on the feed) equals the server's. FinishInspection is one of the mutations
/// Push replays; what it commits must reach the feed like every other change
/// ("every change committed after the cursor"): the signed-off visit (for its
/// inspector) and the re-measurement ticket an objection opens (for dispatch).
#[tokio::test]
async fn pushed_inspection_finish_reaches_the_change_feed() {
    let app = spawn_app().await;
    let now = app.now();
    let (visit, objected) = (new_id(), new_id());
    let mut i1 = inspector_sync(&app, "i1").await;
    let mut objection = finish_m(&objected);
    if let Req::InspectionFinish(f) = &mut objection {
        f.resident_outcome = pb::ResidentOutcome::SignedWithObjection as i32;
        f.objection = "the thermometer stood by the window".into();
    }
    let q = numbered(
        1,
        vec![
            start_m(&visit, "HH-8", now - Duration::minutes(30)),
            reading_m(
                &visit,
                "bedroom",
                pb::RoomType::Bedroom,
                now - Duration::minutes(25),
                20.0,
            ),
            finish_m(&visit),
            start_m(&objected, "HH-9", now - Duration::minutes(20)),
            reading_m(
                &objected,
                "bedroom",
                pb::RoomType::Bedroom,
                now - Duration::minutes(15),
                16.0,
            ),
            objection,
        ],
    );
    let r = push(&mut i1, "hh-i1", &q).await.unwrap();
    assert_eq!(outcomes(&r), [O::Applied; 6], "{r:?}");

    let mut problems = Vec::new();
    let state = pull_state(&mut i1).await;
    for v in [&visit, &objected] {
        let stored = get_inspection(&app, v).await.unwrap();
        assert_eq!(stored.state(), pb::InspectionState::Finished);
        let pulled = state
            .inspection_with_readings(v)
            .expect("the visit is on the feed");
        if (pulled.version, pulled.state()) != (stored.version, stored.state()) {
            problems.push(format!(
                "visit {v}: the inspector pulled v{} {:?}, the server has v{} {:?}",
                pulled.version,
                pulled.state(),
                stored.version,
                stored.state()
            ));
        }
    }
    let ticket_id = get_inspection(&app, &objected)
        .await
        .unwrap()
        .objection_ticket_id;
    assert!(
        !ticket_id.is_empty(),
        "an objection opens a ticket (R-TMP-9)"
    );
    let mut desk = sync_client(&app, "d1", &[Role::Dispatcher], "hq").await;
    let desk_state = pull_state(&mut desk).await;
    let server = get(&app, &ticket_id).await;
    match desk_state.tickets.get(&ticket_id) {
        Some(t) if t == &server => {}
        Some(t) => problems.push(format!(
            "objection ticket {ticket_id}: dispatch pulled v{}, the server has v{}",
            t.version, server.version
        )),
        None => problems.push(format!(
            "objection ticket {ticket_id} (v{} {:?}) never reached the feed",
            server.version,
            server.state()
        )),
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ---------------------------------------------------------------- device state via Pull

/// What a handheld holds after pulling the whole feed from the empty cursor:
/// the latest version of each entity.
#[derive(Default, Debug)]
struct DeviceState {
    tickets: BTreeMap<String, pb::Ticket>,
    inspections: BTreeMap<String, pb::Inspection>,
    room_readings: BTreeMap<String, pb::RoomReading>,
    meter_readings: BTreeMap<String, pb::MeterReading>,
    changes: usize,
}

impl DeviceState {
    /// The visit as the device assembles it: the feed carries readings as
    /// their own entities.
    fn inspection_with_readings(&self, id: &str) -> Option<pb::Inspection> {
        let mut i = self.inspections.get(id)?.clone();
        i.readings = self
            .room_readings
            .values()
            .filter(|r| r.inspection_id == id)
            .cloned()
            .collect();
        i.readings.sort_by(|a, b| a.id.cmp(&b.id));
        Some(i)
    }
}

/// Pull from the empty cursor until has_more is false (small pages).
async fn pull_state(c: &mut Sync) -> DeviceState {
    use pb::change::Entity as E;
    let mut s = DeviceState::default();
    let mut cursor = String::new();
    for _ in 0..10_000 {
        let page = c
            .pull(pb::PullRequest {
                cursor: cursor.clone(),
                limit: 7,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        for ch in page.changes {
            s.changes += 1;
            // Issue 17: every change says what happened, who did it, and
            // where that stands in the trail; a tombstone only that it is gone.
            if matches!(ch.entity, Some(E::Tombstone(_))) {
                assert_eq!(
                    (
                        ch.kind.as_str(),
                        ch.actor.as_str(),
                        ch.audit_event_id.as_str()
                    ),
                    ("OUT_OF_SCOPE", "", "")
                );
            } else {
                assert!(
                    !ch.kind.is_empty() && !ch.actor.is_empty() && !ch.actor_role.is_empty(),
                    "a change without its cause: {ch:?}"
                );
                assert!(
                    ch.audit_event_id.starts_with("ticket-events/")
                        || ch.audit_event_id.starts_with("audit-events/"),
                    "{ch:?}"
                );
            }
            match ch.entity.expect("an entity") {
                E::Ticket(t) => {
                    if let Some(prev) = s.tickets.get(&t.id) {
                        assert!(
                            prev.version < t.version,
                            "commit order: {prev:?} then {t:?}"
                        );
                    }
                    s.tickets.insert(t.id.clone(), t);
                }
                E::Inspection(i) => {
                    if let Some(prev) = s.inspections.get(&i.id) {
                        assert!(prev.version < i.version, "commit order");
                    }
                    s.inspections.insert(i.id.clone(), i);
                }
                E::RoomReading(r) => {
                    s.room_readings.insert(r.id.clone(), r);
                }
                E::MeterReading(r) => {
                    if let Some(prev) = s.meter_readings.get(&r.id) {
                        assert!(prev.version < r.version, "commit order");
                    }
                    s.meter_readings.insert(r.id.clone(), r);
                }
                E::Tombstone(gone) => {
                    s.tickets.remove(&gone.entity_id);
                }
                E::MeterExchange(_) | E::Outage(_) | E::AssessmentItem(_) => {}
            }
        }
        assert!(!page.cursor.is_empty());
        cursor = page.cursor;
        if !page.has_more {
            return s;
        }
    }
    panic!("Pull never reached the end of the feed");
}

// ---------------------------------------------------------------- 9: the fleet

const FLEET_SEED: u64 = 0x00F1_EE75_EED5;
const PER_DEVICE: usize = 15;
const ROUNDS: usize = 30;
const CREW: [&str; 4] = ["c1", "c2", "c3", "c4"];
const INSPECTORS: [&str; 2] = ["i1", "i2"];
const TICKETS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Claim,
    Arrive,
    Complete,
    Start,
    Reading,
    Finish,
    Meter,
}

/// What a queued mutation was meant to do, for the bookkeeping at the end.
#[derive(Debug, Clone)]
struct Intent {
    kind: Kind,
    /// Ticket id, inspection id or meter id.
    target: String,
    /// A device time beyond max_future: must end REJECTED (R-SLA-7).
    far_future: bool,
}

#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    pushes: usize,
    lost_requests: usize,
    lost_responses: usize,
    duplicated: usize,
    reordered: usize,
    gaps: usize,
    offline_periods: usize,
}

struct Device {
    sub: String,
    crew: bool,
    client_id: String,
    sync: Sync,
    rng: StdRng,
    /// This handheld's clock error.
    skew: Duration,
    queue: Vec<pb::Mutation>,
    intents: Vec<Intent>,
    /// The highest mutation id the handheld knows the server has.
    acked: i64,
    offline: u32,
    /// Crew: the ticket being worked and the next step; inspector: the open visit and its readings.
    focus: Option<(String, u8)>,
    visits: Vec<String>,
    meter_values: BTreeMap<String, f64>,
    /// Every result the handheld saw per mutation id.
    seen: BTreeMap<i64, Vec<pb::MutationResult>>,
    stats: Stats,
}

impl Device {
    fn device_time(&mut self, now: DateTime<Utc>) -> (DateTime<Utc>, bool) {
        if self.rng.random_bool(0.07) {
            let ahead = Duration::hours(self.rng.random_range(30..=60));
            return (now + ahead, true);
        }
        let jitter = Duration::milliseconds(self.rng.random_range(-90_000..=90_000));
        (now + self.skew + jitter, false)
    }

    /// Queue one more mutation, made offline with the device's own clock.
    fn generate(&mut self, now: DateTime<Utc>, tickets: &[String]) {
        let (at, far_future) = self.device_time(now);
        let (kind, target, req) = if self.crew {
            let (kind, ticket) = match self.focus.take() {
                Some((t, 1)) if self.rng.random_bool(0.85) => (Kind::Arrive, t),
                Some((t, 2)) if self.rng.random_bool(0.85) => (Kind::Complete, t),
                _ => {
                    let t = tickets[self.rng.random_range(0..tickets.len())].clone();
                    match self.rng.random_range(0..10) {
                        0 => (Kind::Arrive, t),
                        1 => (Kind::Complete, t),
                        _ => (Kind::Claim, t),
                    }
                }
            };
            let req = match kind {
                Kind::Claim => {
                    self.focus = Some((ticket.clone(), 1));
                    claim_m(&ticket, Some(at))
                }
                Kind::Arrive => {
                    self.focus = Some((ticket.clone(), 2));
                    let lat = HOME.0 + self.rng.random_range(-0.004..0.004);
                    let lon = HOME.1 + self.rng.random_range(-0.004..0.004);
                    arrive_m(&ticket, Some(at), lat, lon)
                }
                _ => complete_m(&ticket, Some(at)),
            };
            (kind, ticket, req)
        } else {
            let n = self.queue.len();
            match self.focus.take() {
                Some((v, done)) if done < 2 || self.rng.random_bool(0.5) => {
                    let temp = if self.rng.random_bool(0.1) {
                        f64::NAN
                    } else {
                        (self.rng.random_range(140..=240) as f64) / 10.0
                    };
                    let rooms = [
                        ("bedroom", pb::RoomType::Bedroom),
                        ("living room", pb::RoomType::LivingRoom),
                        ("hall", pb::RoomType::Hall),
                        ("kitchen", pb::RoomType::Kitchen),
                    ];
                    let (room, rt) = rooms[self.rng.random_range(0..rooms.len())];
                    let req = reading_m(&v, &format!("{room} {n}"), rt, at, temp);
                    self.focus = Some((v.clone(), done + 1));
                    (Kind::Reading, v, req)
                }
                Some((v, _)) if self.rng.random_bool(0.75) => {
                    (Kind::Finish, v.clone(), finish_m(&v))
                }
                focus => {
                    self.focus = focus;
                    if self.focus.is_none() && self.rng.random_bool(0.7) {
                        let v = new_id();
                        self.visits.push(v.clone());
                        self.focus = Some((v.clone(), 0));
                        let household = format!("HH-{}-{n}", self.sub);
                        (Kind::Start, v.clone(), start_m(&v, &household, at))
                    } else if !self.visits.is_empty() && self.rng.random_bool(0.2) {
                        // A late reading for an older visit (often signed off already).
                        let v = self.visits[self.rng.random_range(0..self.visits.len())].clone();
                        let req = reading_m(&v, &format!("late {n}"), pb::RoomType::Hall, at, 20.0);
                        (Kind::Reading, v, req)
                    } else {
                        let meter = format!("M-{}-{}", self.sub, self.rng.random_range(0..2));
                        let step = self.rng.random_range(0.0..5.0);
                        let value = self.meter_values.entry(meter.clone()).or_insert(100.0);
                        *value += step;
                        let v = *value;
                        (Kind::Meter, meter.clone(), meter_m(&meter, v, at))
                    }
                }
            }
        };
        self.intents.push(Intent {
            kind,
            target,
            // A sign-off carries no device time.
            far_future: far_future && kind != Kind::Finish,
        });
        self.queue.push(with_id(self.queue.len() as i64 + 1, req));
    }

    fn next_batch(&mut self) -> Vec<pb::Mutation> {
        let from = self.acked as usize;
        let size = self.rng.random_range(1..=6);
        let to = (from + size).min(self.queue.len());
        self.queue[from..to].to_vec()
    }

    /// Take in a response the handheld did receive.
    fn absorb(&mut self, batch: &[pb::Mutation], r: pb::PushResponse) {
        let want: Vec<_> = batch.iter().map(|m| m.mutation_id).collect();
        assert_eq!(
            ids(&r),
            want,
            "{}: one result per queued mutation, in order",
            self.sub
        );
        let last = *want.last().unwrap();
        assert!(r.last_mutation_id >= last, "{}: {r:?}", self.sub);
        for x in r.results {
            assert!(
                matches!(x.outcome(), O::Applied | O::Duplicate | O::Rejected),
                "{x:?}"
            );
            self.seen.entry(x.mutation_id).or_default().push(x);
        }
        self.acked = self.acked.max(r.last_mutation_id);
    }

    async fn push_batch(&mut self, batch: &[pb::Mutation]) -> Result<pb::PushResponse, Status> {
        self.stats.pushes += 1;
        let client_id = self.client_id.clone();
        push(&mut self.sync, &client_id, batch).await
    }

    /// One round of the handheld's life: work offline, maybe sync, with a
    /// network that loses, duplicates and reorders.
    async fn step(&mut self, now: DateTime<Utc>, tickets: &[String]) {
        for _ in 0..self.rng.random_range(0..=2) {
            if self.queue.len() < PER_DEVICE {
                self.generate(now, tickets);
            }
        }
        if self.offline > 0 {
            self.offline -= 1;
            return;
        }
        if self.rng.random_bool(0.15) {
            self.offline = self.rng.random_range(1..=5);
            self.stats.offline_periods += 1;
            return;
        }
        if self.acked as usize >= self.queue.len() {
            return;
        }
        match self.rng.random_range(0..100) {
            0..50 => {
                let b = self.next_batch();
                let r = self.push_batch(&b).await.unwrap();
                self.absorb(&b, r);
            }
            50..62 => self.stats.lost_requests += 1,
            62..77 => {
                // Sent and committed; the response is lost on the way back.
                let b = self.next_batch();
                self.stats.lost_responses += 1;
                drop(self.push_batch(&b).await);
            }
            77..89 => {
                // The same request delivered twice, at once.
                let b = self.next_batch();
                self.stats.duplicated += 1;
                self.stats.pushes += 2;
                let (mut x, mut y) = (self.sync.clone(), self.sync.clone());
                let id = self.client_id.clone();
                let (r1, r2) = tokio::join!(push(&mut x, &id, &b), push(&mut y, &id, &b));
                let (r1, r2) = (r1.unwrap(), r2.unwrap());
                for i in 0..b.len() {
                    let applied = [&r1, &r2]
                        .iter()
                        .filter(|r| r.results[i].outcome() == O::Applied)
                        .count();
                    assert!(applied <= 1, "{}: applied twice: {r1:?} {r2:?}", self.sub);
                }
                self.absorb(&b, r1);
                self.absorb(&b, r2);
            }
            _ => {
                // A later batch overtakes an earlier one.
                let unacked = self.queue.len() - self.acked as usize;
                if unacked < 2 {
                    let b = self.next_batch();
                    let r = self.push_batch(&b).await.unwrap();
                    self.absorb(&b, r);
                    return;
                }
                self.stats.reordered += 1;
                let split = self.acked as usize + self.rng.random_range(1..unacked);
                let earlier = self.queue[self.acked as usize..split].to_vec();
                let later = self.queue[split..].to_vec();
                match self.push_batch(&later).await {
                    Err(e) => {
                        assert_status(&e, Code::FailedPrecondition, "MUTATION_GAP", None);
                        self.stats.gaps += 1;
                        let id = self.client_id.clone();
                        let c = counter(&mut self.sync, &id).await;
                        assert!(
                            c < split as i64,
                            "{}: a gap only when behind: {c}",
                            self.sub
                        );
                    }
                    // The server was ahead of what the handheld knew (a lost response).
                    Ok(r) => self.absorb(&later, r),
                }
                let r = self.push_batch(&earlier).await.unwrap();
                self.absorb(&earlier, r);
            }
        }
    }
}

/// Issue test 9: a seeded, bounded fleet. 4 crew handhelds (unit north) and
/// 2 inspectors' handhelds, 15 mutations each, queued offline with skewed
/// clocks (R-SLA-7; far-future ones are REJECTED as bad input), pushed over a
/// network that loses requests and responses, duplicates and reorders
/// (MUTATION_GAP, retried later), with devices going offline for a while.
/// At the end every queue is drained and:
/// - every mutation id of every client has exactly one recorded outcome
///   (Pull client_id: last_mutation_id == queue length; a full replay gives
///   DUPLICATE/REJECTED for each, equal to whatever the handheld saw before);
/// - no mutation was APPLIED twice in any responses seen;
/// - every APPLIED mutation's effect happened exactly once (ticket events per
///   kind, readings per visit, visits, sign-offs, meter readings);
/// - each handheld's pulled state equals the server's state as that caller
///   sees it (GetTicket / GetInspection / ListMeterReadings).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t9_randomized_fleet_every_mutation_exactly_once() {
    let seed = std::env::var("FIELDOPS_FLEET_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(FLEET_SEED);
    println!("fleet seed {seed} (set FIELDOPS_FLEET_SEED to replay)");
    let mut rng = StdRng::seed_from_u64(seed);
    let app = spawn_app().await;
    let mut desk = app.dispatcher().await;
    let mut tickets = Vec::new();
    for i in 0..TICKETS {
        let cat = if i % 2 == 0 {
            "NETWORK_LEAK"
        } else {
            "BLOCKAGE"
        };
        let t = create(&mut desk, cat).await;
        tickets.push(dispatch(&mut desk, &t.id, "north").await.id);
    }

    let mut devices = Vec::new();
    for (i, sub) in CREW.iter().chain(INSPECTORS.iter()).enumerate() {
        let crew = i < CREW.len();
        let sync = if crew {
            crew_sync(&app, sub).await
        } else {
            inspector_sync(&app, sub).await
        };
        // Clock errors from minutes to hours, either way.
        let skew_minutes = [-180, -45, -5, 0, 1, 30, 150][rng.random_range(0..7)];
        devices.push(Device {
            sub: sub.to_string(),
            crew,
            client_id: format!("install-{sub}-{:x}", rng.random::<u32>()),
            sync,
            rng: StdRng::seed_from_u64(rng.random()),
            skew: Duration::minutes(skew_minutes),
            queue: Vec::new(),
            intents: Vec::new(),
            acked: 0,
            offline: 0,
            focus: None,
            visits: Vec::new(),
            meter_values: BTreeMap::new(),
            seen: BTreeMap::new(),
            stats: Stats::default(),
        });
    }

    // The rounds: the server clock moves on, handhelds work and sync at once.
    for _ in 0..ROUNDS {
        app.clock
            .advance(Duration::seconds(rng.random_range(30..=240)));
        let now = app.now();
        let mut tasks = Vec::new();
        for mut d in devices {
            let tickets = tickets.clone();
            tasks.push(tokio::spawn(async move {
                d.step(now, &tickets).await;
                d
            }));
        }
        devices = Vec::new();
        for t in tasks {
            devices.push(t.await.expect("a handheld failed"));
        }
    }

    // Drain: every handheld finishes its queue and gets back online.
    let now = app.now();
    for d in &mut devices {
        while d.queue.len() < PER_DEVICE {
            d.generate(now, &tickets);
        }
        for _ in 0..PER_DEVICE + 1 {
            if d.acked as usize >= d.queue.len() {
                break;
            }
            let b = d.next_batch();
            let r = d.push_batch(&b).await.unwrap();
            d.absorb(&b, r);
        }
        assert_eq!(d.acked as usize, PER_DEVICE, "{} drained", d.sub);
    }

    // One outcome per mutation id: the server's counter and a full replay.
    let mut canonical: Vec<BTreeMap<i64, pb::MutationResult>> = Vec::new();
    let mut totals = (0usize, 0usize, Stats::default());
    for d in &mut devices {
        let id = d.client_id.clone();
        assert_eq!(
            counter(&mut d.sync, &id).await,
            PER_DEVICE as i64,
            "{}",
            d.sub
        );
        let all = d.queue.clone();
        let r = d.push_batch(&all).await.unwrap();
        assert_eq!(r.last_mutation_id, PER_DEVICE as i64);
        let mut final_ = BTreeMap::new();
        for x in &r.results {
            assert!(
                matches!(x.outcome(), O::Duplicate | O::Rejected),
                "{}: nothing left to apply: {x:?}",
                d.sub
            );
            final_.insert(x.mutation_id, x.clone());
        }
        d.absorb(&all, r);
        for (id, x) in &final_ {
            let seen = &d.seen[id];
            let applied = seen.iter().filter(|s| s.outcome() == O::Applied).count();
            assert!(
                applied <= 1,
                "{} #{id} APPLIED {applied} times: {seen:?}",
                d.sub
            );
            for s in seen {
                if x.outcome() == O::Rejected {
                    assert_eq!(s.outcome(), O::Rejected, "{} #{id}: {seen:?}", d.sub);
                    assert_eq!(
                        (s.code, &s.reason, &s.message),
                        (x.code, &x.reason, &x.message),
                        "{} #{id}: the stored refusal",
                        d.sub
                    );
                } else {
                    assert_ne!(s.outcome(), O::Rejected, "{} #{id}: {seen:?}", d.sub);
                    assert_eq!(s.result, x.result, "{} #{id}: the stored result", d.sub);
                }
            }
            if x.outcome() == O::Rejected {
                assert!(!x.reason.is_empty(), "{x:?}");
                let code = Code::from_i32(x.code);
                assert!(
                    matches!(
                        code,
                        Code::InvalidArgument
                            | Code::FailedPrecondition
                            | Code::Aborted
                            | Code::NotFound
                            | Code::AlreadyExists
                            | Code::PermissionDenied
                            | Code::OutOfRange
                    ),
                    "{x:?}"
                );
                totals.1 += 1;
            } else {
                assert!(x.result.is_some(), "{x:?}");
                totals.0 += 1;
            }
            if d.intents[*id as usize - 1].far_future {
                assert_eq!(
                    x.outcome(),
                    O::Rejected,
                    "{} #{id} {:?}: a device time beyond max_future is never applied (R-SLA-7)",
                    d.sub,
                    d.intents[*id as usize - 1]
                );
            }
        }
        let s = d.stats;
        totals.2.pushes += s.pushes;
        totals.2.lost_requests += s.lost_requests;
        totals.2.lost_responses += s.lost_responses;
        totals.2.duplicated += s.duplicated;
        totals.2.reordered += s.reordered;
        totals.2.gaps += s.gaps;
        totals.2.offline_periods += s.offline_periods;
        canonical.push(final_);
    }
    println!(
        "fleet: {} applied, {} rejected, {:?}",
        totals.0, totals.1, totals.2
    );
    assert!(
        totals.0 >= 10 && totals.1 >= 5,
        "a meaningful mix: {totals:?}"
    );

    // Effects happened exactly once per APPLIED mutation.
    let applied = |d: &Device, c: &BTreeMap<i64, pb::MutationResult>, kind: Kind, target: &str| {
        d.intents
            .iter()
            .enumerate()
            .filter(|(i, it)| {
                it.kind == kind
                    && it.target == target
                    && c[&(*i as i64 + 1)].outcome() != O::Rejected
            })
            .count()
    };
    for t in &tickets {
        let mut want = [0usize; 3];
        for (d, c) in devices.iter().zip(&canonical).filter(|(d, _)| d.crew) {
            want[0] += applied(d, c, Kind::Claim, t);
            want[1] += applied(d, c, Kind::Arrive, t);
            want[2] += applied(d, c, Kind::Complete, t);
        }
        let k = kind_counts(&app, t).await;
        let got = ["CLAIMED", "ARRIVED", "RESOLVED"].map(|kind| k.get(kind).copied().unwrap_or(0));
        assert_eq!(got, want, "ticket {t}: events vs APPLIED mutations: {k:?}");
        assert!(
            want[0] <= 1,
            "R-TKT-4: one claim per ticket without returns"
        );
    }
    for (d, c) in devices.iter().zip(&canonical).filter(|(d, _)| !d.crew) {
        for v in &d.visits {
            let started = applied(d, c, Kind::Start, v);
            let readings = applied(d, c, Kind::Reading, v);
            let finished = applied(d, c, Kind::Finish, v);
            match get_inspection(&app, v).await {
                Ok(i) => {
                    assert_eq!(started, 1, "{v}");
                    assert_eq!(i.inspector, d.sub);
                    assert_eq!(i.readings.len(), readings, "visit {v}: readings");
                    assert_eq!(
                        i.state() == pb::InspectionState::Finished,
                        finished == 1,
                        "visit {v}: sign-off"
                    );
                    assert!(finished <= 1);
                }
                Err(e) => {
                    assert_eq!(e.code(), Code::NotFound, "{e:?}");
                    assert_eq!((started, readings, finished), (0, 0, 0), "visit {v}");
                }
            }
        }
        let meters: BTreeSet<_> = d
            .intents
            .iter()
            .filter(|i| i.kind == Kind::Meter)
            .map(|i| i.target.clone())
            .collect();
        for m in meters {
            let want = applied(d, c, Kind::Meter, &m);
            assert_eq!(meter_readings(&app, &m).await.len(), want, "meter {m}");
        }
    }

    // Each handheld's pulled state equals the server's, as that caller sees it.
    let mut mismatches = Vec::new();
    for (d, c) in devices.iter_mut().zip(&canonical) {
        let state = pull_state(&mut d.sync).await;
        if d.crew {
            let pulled: BTreeSet<_> = state.tickets.keys().cloned().collect();
            let all: BTreeSet<_> = tickets.iter().cloned().collect();
            assert_eq!(pulled, all, "{}: the unit's tickets", d.sub);
            let mut tc = app.crew(&d.sub, "north").await;
            for (id, pulled) in &state.tickets {
                let server = tc
                    .get_ticket(pb::GetTicketRequest {
                        ticket_id: id.clone(),
                    })
                    .await
                    .unwrap()
                    .into_inner();
                if &server != pulled {
                    mismatches.push(format!(
                        "{}: ticket {id}: pulled v{} {:?}, server v{} {:?}",
                        d.sub,
                        pulled.version,
                        pulled.state(),
                        server.version,
                        server.state()
                    ));
                }
            }
        } else {
            let mut ic = inspections_as(&app, &d.sub, &[Role::Inspector], "north").await;
            let mut rc = readings_as(&app, &d.sub, &[Role::Inspector], "north").await;
            let started: BTreeSet<_> = d
                .visits
                .iter()
                .filter(|v| applied(d, c, Kind::Start, v) == 1)
                .cloned()
                .collect();
            let pulled: BTreeSet<_> = state.inspections.keys().cloned().collect();
            assert_eq!(pulled, started, "{}: own visits on the feed", d.sub);
            for id in state.inspections.keys() {
                let pulled = state.inspection_with_readings(id).unwrap();
                let mut server = ic
                    .get_inspection(pb::GetInspectionRequest {
                        inspection_id: id.clone(),
                    })
                    .await
                    .unwrap()
                    .into_inner();
                server.readings.sort_by(|a, b| a.id.cmp(&b.id));
                if server != pulled {
                    mismatches.push(format!(
                        "{}: visit {id}: pulled v{} {:?} with {} readings, server v{} {:?} with {} readings",
                        d.sub,
                        pulled.version,
                        pulled.state(),
                        pulled.readings.len(),
                        server.version,
                        server.state(),
                        server.readings.len()
                    ));
                }
            }
            let meters: BTreeSet<_> = d
                .intents
                .iter()
                .filter(|i| i.kind == Kind::Meter)
                .map(|i| i.target.clone())
                .collect();
            for m in meters {
                let mut server = list_meter(&mut rc, &m).await;
                server.sort_by(|a, b| a.id.cmp(&b.id));
                let pulled: Vec<_> = state
                    .meter_readings
                    .values()
                    .filter(|r| r.meter_id == m)
                    .cloned()
                    .collect();
                if server != pulled {
                    mismatches.push(format!(
                        "{}: meter {m}: pulled {pulled:?}, server {server:?}",
                        d.sub
                    ));
                }
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "pulled state differs from the server's:\n{}",
        mismatches.join("\n")
    );
}

/// R-TKT-4: a losing claim tells the crew app "someone else took it" in
/// every state the winner has since moved the ticket to (claimed, on site,
/// repaired, closed), online and through an offline Push alike, never a
/// bare INVALID_TRANSITION.
#[tokio::test]
async fn r_tkt_4_a_late_claim_is_already_claimed_whatever_the_winner_did_since() {
    let app = spawn_app().await;
    let mut d = app.dispatcher().await;
    let mut c1 = app.crew("c1", "north").await;
    let mut c2 = app.crew("c2", "north").await;
    let t = dispatched_ticket(&app, "BUILDING_NO_HEAT").await;
    claim(&mut c1, &t.id).await.unwrap();
    let late = |e: Status, when: &str| {
        assert_status(&e, Code::Aborted, "TICKET_ALREADY_CLAIMED", None);
        assert!(e.message().contains("another"), "{when}: {e:?}");
    };
    late(claim(&mut c2, &t.id).await.unwrap_err(), "claimed");
    arrive(&mut c1, &t.id).await;
    late(claim(&mut c2, &t.id).await.unwrap_err(), "on site");
    complete(&mut c1, &t.id).await;
    late(claim(&mut c2, &t.id).await.unwrap_err(), "resolved");
    d.record_revisit(pb::RecordRevisitRequest {
        request_id: rid(),
        ticket_id: t.id.clone(),
        outcome: pb::RevisitOutcome::Satisfied as i32,
        ..Default::default()
    })
    .await
    .unwrap();
    late(claim(&mut c2, &t.id).await.unwrap_err(), "closed");

    // Offline: c2 queued a claim of a ticket c1 took and repaired meanwhile.
    let u = dispatched_ticket(&app, "BUILDING_NO_HEAT").await;
    claim(&mut c1, &u.id).await.unwrap();
    arrive(&mut c1, &u.id).await;
    complete(&mut c1, &u.id).await;
    let mut s2 = crew_sync(&app, "c2").await;
    let r = push(&mut s2, "hh-c2", &numbered(1, vec![claim_m(&u.id, None)]))
        .await
        .unwrap();
    assert_eq!(outcomes(&r), [O::Rejected], "{r:?}");
    assert_eq!(r.results[0].code, Code::Aborted as i32);
    assert_eq!(r.results[0].reason, "TICKET_ALREADY_CLAIMED");
    app.stop().await;
}

/// The `expected_mutation_id` of a MUTATION_GAP error's ErrorInfo.
fn expected_next(e: &Status) -> Option<i64> {
    use tonic_types::StatusExt;
    e.get_error_details()
        .error_info()?
        .metadata
        .get("expected_mutation_id")?
        .parse()
        .ok()
}
