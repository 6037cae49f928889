//! SyncService Pull and Watch over the commit-ordered change feed (issue
//! tests 6, 7 and 8, plus feed scope/visibility, masking, last_mutation_id
//! and CURSOR_EXPIRED after compaction).
//!
//! Runs on SQLite by default and on PostgreSQL when
//! FIELDOPS_TEST_DATABASE_URL is a postgres URL (test 6 only runs there).
//!
//! Two tests expose server bugs (see their comments):
//! - `finish_inspection_reaches_the_feed`: FinishInspection records no
//!   change (src/service/inspections.rs), so finished visits, objection
//!   tickets and the linked ticket's new version never reach Pull/Watch.
//! - `r_tkt_13_recused_staff_in_any_role_never_see_the_complaint_in_their_feed`:
//!   the "see everything" scope ignores `hidden_from`
//!   (src/storage/feed.rs, `Visibility::condition`).
mod common;

use chrono::Duration as ChronoDuration;
use common::*;
use fieldops::domain::Role;
use fieldops::error::reason;
use fieldops::grpc::pb::{
    self, inspection_service_client::InspectionServiceClient,
    reading_service_client::ReadingServiceClient, sync_service_client::SyncServiceClient,
};
use rand::{Rng, SeedableRng, rngs::StdRng};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;
use tokio::time::{Instant, timeout};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Code, Status};

type Sync = SyncServiceClient<InterceptedService<Channel, Bearer>>;
type Inspections = InspectionServiceClient<InterceptedService<Channel, Bearer>>;
type Readings = ReadingServiceClient<InterceptedService<Channel, Bearer>>;
type WatchStream = tonic::Streaming<pb::WatchResponse>;
type Event = pb::watch_response::Event;

// ------------------------------------------------------------------ clients

fn bearer(sub: &str, roles: &[Role], unit: &str) -> Bearer {
    Bearer(Some(
        format!("Bearer {}", token(sub, roles, unit))
            .parse()
            .unwrap(),
    ))
}

async fn sync_client(app: &TestApp, sub: &str, roles: &[Role], unit: &str) -> Sync {
    SyncServiceClient::with_interceptor(app.channel().await, bearer(sub, roles, unit))
}

async fn sync_dispatcher(app: &TestApp) -> Sync {
    sync_client(app, "d1", &[Role::Dispatcher], "hq").await
}

async fn sync_crew(app: &TestApp, sub: &str, unit: &str) -> Sync {
    sync_client(app, sub, &[Role::Crew], unit).await
}

async fn sync_inspector(app: &TestApp, sub: &str) -> Sync {
    sync_client(app, sub, &[Role::Inspector], "north").await
}

async fn inspections_as(app: &TestApp, sub: &str) -> Inspections {
    InspectionServiceClient::with_interceptor(
        app.channel().await,
        bearer(sub, &[Role::Inspector], "north"),
    )
}

async fn readings_as(app: &TestApp, sub: &str) -> Readings {
    ReadingServiceClient::with_interceptor(
        app.channel().await,
        bearer(sub, &[Role::Inspector], "north"),
    )
}

// ------------------------------------------------------------ feed helpers

/// What a change is about: (entity kind, id, version). Room readings and
/// meter exchanges have no version: 1.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Key {
    kind: &'static str,
    id: String,
    version: i64,
}

fn k(kind: &'static str, id: &str, version: i64) -> Key {
    Key {
        kind,
        id: id.to_string(),
        version,
    }
}

fn key(c: &pb::Change) -> Key {
    use pb::change::Entity as E;
    match c.entity.as_ref().expect("change without entity") {
        E::Ticket(t) => k("ticket", &t.id, t.version),
        E::Inspection(i) => k("inspection", &i.id, i.version),
        E::RoomReading(r) => k("room_reading", &r.id, 1),
        E::MeterReading(r) => k("meter_reading", &r.id, r.version),
        E::MeterExchange(x) => k("meter_exchange", &x.id, 1),
        E::Outage(o) => k("outage", &o.id, o.version),
        E::AssessmentItem(i) => k("assessment_item", &i.id, i.version),
        E::Tombstone(t) => k("tombstone", &t.entity_id, t.entity_version),
    }
}

fn keys(cs: &[pb::Change]) -> Vec<Key> {
    cs.iter().map(key).collect()
}

fn ticket_of(c: &pb::Change) -> Option<&pb::Ticket> {
    match &c.entity {
        Some(pb::change::Entity::Ticket(t)) => Some(t),
        _ => None,
    }
}

async fn pull(s: &mut Sync, cursor: &str, limit: i32) -> Result<pb::PullResponse, Status> {
    s.pull(pb::PullRequest {
        cursor: cursor.into(),
        limit,
        ..Default::default()
    })
    .await
    .map(|r| r.into_inner())
}

/// Everything after `cursor` in one page (asserts it fits), and the next cursor.
async fn pull_all(s: &mut Sync, cursor: &str) -> (Vec<pb::Change>, String) {
    let page = pull(s, cursor, 5000)
        .await
        .unwrap_or_else(|e| panic!("Pull from {cursor:?}: {e:?}"));
    assert!(!page.has_more, "the test log fits one page of 5000");
    (page.changes, page.cursor)
}

async fn open_watch(s: &mut Sync, cursor: &str) -> WatchStream {
    s.watch(pb::WatchRequest {
        cursor: cursor.into(),
        ..Default::default()
    })
    .await
    .unwrap_or_else(|e| panic!("Watch from {cursor:?}: {e:?}"))
    .into_inner()
}

/// The next event of a watch, within `within`.
async fn next_event(w: &mut WatchStream, within: Duration) -> Event {
    match timeout(within, w.message()).await {
        Ok(Ok(Some(m))) => m.event.expect("watch response without event"),
        Ok(Ok(None)) => panic!("the watch ended"),
        Ok(Err(s)) => panic!("the watch failed: {s:?}"),
        Err(_) => panic!("no watch event within {within:?}"),
    }
}

/// The next `n` changes of a watch (checkpoints skipped), within `within` overall.
async fn next_changes(w: &mut WatchStream, n: usize, within: Duration) -> Vec<pb::Change> {
    let deadline = Instant::now() + within;
    let mut out = Vec::new();
    while out.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "only {} of {n} changes within {within:?}",
            out.len()
        );
        if let Event::Change(c) = next_event(w, left).await {
            out.push(c);
        }
    }
    out
}

/// The status a Watch from `cursor` ends with: refused up front or as the
/// stream's first item.
async fn watch_error(s: &mut Sync, cursor: &str) -> Status {
    let mut w = match s
        .watch(pb::WatchRequest {
            cursor: cursor.into(),
            ..Default::default()
        })
        .await
    {
        Err(e) => return e,
        Ok(r) => r.into_inner(),
    };
    match timeout(Duration::from_secs(5), w.message()).await {
        Ok(Err(e)) => e,
        Ok(Ok(Some(m))) => panic!("Watch from {cursor:?} sent {m:?} instead of an error"),
        Ok(Ok(None)) => panic!("Watch from {cursor:?} ended without an error"),
        Err(_) => panic!("Watch from {cursor:?} neither failed nor ended"),
    }
}

/// Each entity's last change in `cs`.
fn latest(cs: &[pb::Change]) -> BTreeMap<(&'static str, String), pb::Change> {
    let mut m = BTreeMap::new();
    for c in cs {
        let kk = key(c);
        m.insert((kk.kind, kk.id), c.clone());
    }
    m
}

// --------------------------------------------------------- write helpers

async fn return_ticket(c: &mut Client, id: &str) -> pb::Ticket {
    c.return_ticket(pb::ReturnTicketRequest {
        request_id: rid(),
        ticket_id: id.into(),
        reason: "not our district".into(),
        ..Default::default()
    })
    .await
    .unwrap_or_else(|e| panic!("ReturnTicket {id}: {e:?}"))
    .into_inner()
}

async fn claimed(c: &mut Client, id: &str) -> pb::Ticket {
    claim(c, id)
        .await
        .unwrap_or_else(|e| panic!("ClaimTicket {id}: {e:?}"))
}

async fn start_visit(
    i: &mut Inspections,
    app_now: chrono::DateTime<chrono::Utc>,
    household: &str,
    ticket_id: &str,
) -> pb::Inspection {
    i.start_inspection(pb::StartInspectionRequest {
        request_id: rid(),
        dwelling: Some(pb::Dwelling {
            household_id: household.into(),
            address: format!("{household}, 8 Heping Rd"),
        }),
        ticket_id: ticket_id.into(),
        entered_at: Some(ts(app_now - ChronoDuration::minutes(60))),
        doors_windows_closed: true,
        outdoor_temp_c: Some(-5.0),
        thermometer_serial: "TH-0001".into(),
        calibration_due: "2027-06-30".into(),
        resident_name: "李四".into(),
        resident_phone: "13900001111".into(),
        device_id: "handheld-7".into(),
        ..Default::default()
    })
    .await
    .unwrap_or_else(|e| panic!("StartInspection: {e:?}"))
    .into_inner()
}

/// A room reading (stored whatever its verdict): changes the visit and adds the reading.
async fn room_reading(
    i: &mut Inspections,
    app_now: chrono::DateTime<chrono::Utc>,
    visit: &str,
    room: &str,
) -> pb::RoomReading {
    i.record_room_reading(pb::RecordRoomReadingRequest {
        request_id: rid(),
        inspection_id: visit.into(),
        room_name: room.into(),
        room_type: pb::RoomType::Bedroom as i32,
        started_at: Some(ts(app_now - ChronoDuration::minutes(40))),
        ended_at: Some(ts(app_now - ChronoDuration::minutes(25))),
        temperature_c: 19.0,
        height_m: 1.5,
        at_room_centre: true,
        device_id: "handheld-7".into(),
        ..Default::default()
    })
    .await
    .unwrap_or_else(|e| panic!("RecordRoomReading: {e:?}"))
    .into_inner()
}

async fn meter_reading(
    r: &mut Readings,
    meter: &str,
    value: f64,
    at: chrono::DateTime<chrono::Utc>,
) -> pb::MeterReading {
    r.record_meter_reading(pb::RecordMeterReadingRequest {
        request_id: rid(),
        meter_id: meter.into(),
        value,
        unit: pb::MeterUnit::CubicMetre as i32,
        read_time: Some(ts(at)),
        device_id: "handheld-7".into(),
        reading_id: String::new(),
    })
    .await
    .unwrap_or_else(|e| panic!("RecordMeterReading: {e:?}"))
    .into_inner()
}

async fn meter_exchange(
    r: &mut Readings,
    meter: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> pb::MeterExchange {
    r.record_meter_exchange(pb::RecordMeterExchangeRequest {
        request_id: rid(),
        meter_id: meter.into(),
        old_serial: "LXS-20-0001".into(),
        new_serial: "LXS-20-0002".into(),
        old_final_value: 100.4,
        new_initial_value: 0.0,
        unit: pb::MeterUnit::CubicMetre as i32,
        exchange_time: Some(ts(at)),
        reader_present: true,
        customer_present: true,
        device_id: "handheld-7".into(),
    })
    .await
    .unwrap_or_else(|e| panic!("RecordMeterExchange: {e:?}"))
    .into_inner()
}

/// Who an owned record belongs to, from the dispatcher's full log (room
/// readings belong to their visit's inspector).
fn owners(log: &[pb::Change]) -> HashMap<String, String> {
    use pb::change::Entity as E;
    let mut visit_owner = HashMap::new();
    let mut out = HashMap::new();
    for c in log {
        match c.entity.as_ref().unwrap() {
            E::Inspection(i) => {
                visit_owner.insert(i.id.clone(), i.inspector.clone());
                out.insert(i.id.clone(), i.inspector.clone());
            }
            E::RoomReading(r) => {
                out.insert(r.id.clone(), visit_owner[&r.inspection_id].clone());
            }
            E::MeterReading(r) => {
                out.insert(r.id.clone(), r.inspector.clone());
            }
            E::MeterExchange(x) => {
                out.insert(x.id.clone(), x.inspector.clone());
            }
            E::AssessmentItem(i) => {
                out.insert(i.id.clone(), i.person.clone());
            }
            E::Ticket(_) | E::Outage(_) | E::Tombstone(_) => {}
        }
    }
    out
}

/// The documented scope, applied to the full log: crew of `unit` see
/// tickets of their unit now or before the change, except complaints about
/// themselves, and a change that took a ticket out of their reach (not
/// their unit's now, not held or recorded by them) as its tombstone;
/// inspectors their own records.
fn model_view(
    log: &[pb::Change],
    subject_of: &HashMap<String, String>,
    crew: Option<(&str, &str)>,
    inspector: Option<&str>,
) -> Vec<Key> {
    let owner = owners(log);
    let mut prev_unit: HashMap<String, String> = HashMap::new();
    let mut out = Vec::new();
    for c in log {
        let kk = key(c);
        let visible = match ticket_of(c) {
            Some(t) => {
                let before = prev_unit.insert(t.id.clone(), t.unit.clone());
                crew.is_some_and(|(sub, unit)| {
                    (t.unit == unit || before.as_deref() == Some(unit))
                        && subject_of.get(&t.id).map(String::as_str) != Some(sub)
                })
            }
            None => inspector.is_some_and(|i| owner.get(&kk.id).map(String::as_str) == Some(i)),
        };
        let gone = ticket_of(c).is_some_and(|t| {
            crew.is_some_and(|(sub, unit)| {
                t.unit != unit && t.assignee != sub && t.received_by != sub
            })
        });
        if visible && gone {
            out.push(Key {
                kind: "tombstone",
                ..kk
            });
        } else if visible {
            out.push(kk);
        }
    }
    out
}

// ===================================================================== 6

/// Issue test 6: out-of-order commit on PostgreSQL. T1 (an open transaction
/// doing exactly what the server does for a change) holds the feed counter;
/// T2 (a gRPC claim) must wait for it, so sequence order is commit order; a
/// Pull taken while T1 is open returns a cursor from which T1's change is
/// still delivered after it commits.
#[tokio::test]
async fn t6_out_of_order_commit_on_postgres() {
    // SQLite has exactly one writer: commit order is insert order, there is
    // nothing to reorder and no second connection can hold a transaction open
    // beside the server's writer without blocking it entirely.
    if !is_postgres() {
        return;
    }
    use sea_orm::{
        ConnectOptions, ConnectionTrait, Database, DbBackend, Statement, TransactionTrait,
    };
    let app = spawn_app().await;
    let a = dispatched_ticket(&app, "NETWORK_LEAK").await;
    let b = dispatched_ticket(&app, "NETWORK_LEAK").await;
    let mut ds = sync_dispatcher(&app).await;
    let (_, c0) = pull_all(&mut ds, "").await;
    let mut watcher = sync_dispatcher(&app).await;
    let mut w = open_watch(&mut watcher, &c0).await;

    let mut opts = ConnectOptions::new(app.store.url.clone());
    opts.max_connections(1).sqlx_logging(false);
    opts.set_schema_search_path(app.store.pg_schema.clone().expect("postgres schema"));
    let conn = Database::connect(opts).await.unwrap();
    let pg = DbBackend::Postgres;

    // T1: bump the counter (the row lock lasts until COMMIT) and log ticket
    // b's current state again, as the server would for a change of b.
    let t1 = conn.begin().await.unwrap();
    let row = t1
        .query_one_raw(Statement::from_string(
            pg,
            "UPDATE feed_state SET last_seq = last_seq + 1 WHERE id = 1 RETURNING last_seq",
        ))
        .await
        .unwrap()
        .unwrap();
    let seq: i64 = row.try_get("", "last_seq").unwrap();
    let inserted = t1
        .execute_raw(Statement::from_sql_and_values(
            pg,
            "INSERT INTO change_log (seq, ordinal, entity_type, entity_id, entity_version, \
             unit, prev_unit, owner, hidden_from, payload, committed_at) \
             SELECT $1, 0, entity_type, entity_id, entity_version, 'north', NULL, NULL, NULL, \
             payload, $2 FROM change_log WHERE entity_type = 'ticket' AND entity_id = $3 \
             ORDER BY seq DESC LIMIT 1",
            [
                seq.into(),
                app.now().timestamp_micros().into(),
                b.id.clone().into(),
            ],
        ))
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(inserted, 1);

    // T2: a normal claim of ticket a, on its own task.
    let mut c1 = app.crew("c1", "north").await;
    let a_id = a.id.clone();
    let mut t2 = tokio::spawn(async move { claim(&mut c1, &a_id).await });
    assert!(
        timeout(Duration::from_millis(500), &mut t2).await.is_err(),
        "T2 committed while T1 held the feed counter: sequence order would not be commit order"
    );

    // The bug the design avoids: a reader between the two commits.
    let open = pull(&mut ds, &c0, 0).await.unwrap();
    assert!(
        open.changes.is_empty(),
        "uncommitted changes are invisible: {:?}",
        keys(&open.changes)
    );
    let c_open = open.cursor;

    t1.commit().await.unwrap();
    // Right after T1's commit (T2 may or may not be done yet).
    let mid = pull(&mut ds, &c_open, 0).await.unwrap();
    let t2_ticket = timeout(Duration::from_secs(10), t2)
        .await
        .expect("T2 completes once T1 has committed")
        .unwrap()
        .expect("the claim succeeds");
    assert_eq!(t2_ticket.version, 3);
    let rest = pull(&mut ds, &mid.cursor, 0).await.unwrap();

    let want = vec![k("ticket", &b.id, 2), k("ticket", &a.id, 3)];
    let mut around = keys(&mid.changes);
    around.extend(keys(&rest.changes));
    assert_eq!(
        around, want,
        "two Pulls around the commits: T1's change, then T2's, nothing lost or repeated"
    );
    let (after_open, _) = pull_all(&mut ds, &c_open).await;
    assert_eq!(
        keys(&after_open),
        want,
        "the cursor taken while T1 was open still yields T1's change, before T2's"
    );
    let (after_c0, _) = pull_all(&mut ds, &c0).await;
    assert_eq!(keys(&after_c0), want);
    let watched = next_changes(&mut w, 2, Duration::from_secs(10)).await;
    assert_eq!(keys(&watched), want, "a live watcher sees T1 before T2");
    assert_eq!(watched, after_c0);
    conn.close().await.ok();
}

// ===================================================================== 7

/// A mixed log of 25 changes: ticket mutations, visits with room readings
/// (two changes in one transaction), meter readings and an exchange.
/// Returns the expected keys in commit order.
async fn mixed_log(app: &TestApp) -> Vec<Key> {
    let mut want = Vec::new();
    let mut d = app.dispatcher().await;
    let mut c1 = app.crew("c1", "north").await;
    let mut s1 = app.crew("s1", "south").await;
    let mut ticket = |t: &pb::Ticket| want.push(k("ticket", &t.id, t.version));
    let t1 = create(&mut d, "NETWORK_LEAK").await;
    ticket(&t1);
    ticket(&dispatch(&mut d, &t1.id, "north").await);
    let t2 = create(&mut d, "NETWORK_LEAK").await;
    ticket(&t2);
    ticket(&dispatch(&mut d, &t2.id, "north").await);
    let t3 = create(&mut d, "NETWORK_LEAK").await;
    ticket(&t3);
    ticket(&dispatch(&mut d, &t3.id, "south").await);
    ticket(&create(&mut d, "NETWORK_LEAK").await);
    ticket(&claimed(&mut c1, &t1.id).await);
    ticket(&arrive(&mut c1, &t1.id).await);
    ticket(&complete(&mut c1, &t1.id).await);
    ticket(&claimed(&mut s1, &t3.id).await);
    ticket(&claimed(&mut c1, &t2.id).await);
    ticket(&return_ticket(&mut c1, &t2.id).await);

    let now = app.now();
    for (who, rooms) in [("i1", 2), ("i2", 1)] {
        let mut i = inspections_as(app, who).await;
        let v = start_visit(&mut i, now, &format!("HH-{who}"), "").await;
        want.push(k("inspection", &v.id, 1));
        for n in 0..rooms {
            let r = room_reading(&mut i, now, &v.id, &format!("room {n}")).await;
            want.push(k("inspection", &v.id, 2 + n));
            want.push(k("room_reading", &r.id, 1));
        }
    }
    let mut r1 = readings_as(app, "i1").await;
    let mut r2 = readings_as(app, "i2").await;
    let hour = ChronoDuration::hours(1);
    let m = meter_reading(&mut r1, "M-1", 10.0, now - hour * 2).await;
    want.push(k("meter_reading", &m.id, m.version));
    let m = meter_reading(&mut r1, "M-1", 12.0, now - hour).await;
    want.push(k("meter_reading", &m.id, m.version));
    let m = meter_reading(&mut r2, "M-2", 5.0, now - hour).await;
    want.push(k("meter_reading", &m.id, m.version));
    let x = meter_exchange(&mut r1, "M-3", now - hour).await;
    want.push(k("meter_exchange", &x.id, 1));
    want
}

/// Page through the feed with `limit` from the empty cursor until has_more
/// is false; the concatenated changes and the final cursor.
async fn page_through(s: &mut Sync, limit: i32) -> (Vec<pb::Change>, String) {
    let mut cursor = String::new();
    let mut all = Vec::new();
    for _ in 0..1000 {
        let page = pull(s, &cursor, limit).await.unwrap();
        assert!(
            page.changes.len() <= limit as usize,
            "page of {} with limit {limit}",
            page.changes.len()
        );
        if page.has_more {
            assert_eq!(
                page.changes.len(),
                limit as usize,
                "a page with more to come is full"
            );
            assert_eq!(
                page.cursor,
                page.changes.last().unwrap().cursor,
                "with more to come the cursor is the last change's"
            );
        }
        all.extend(page.changes);
        cursor = page.cursor;
        if !page.has_more {
            return (all, cursor);
        }
    }
    panic!("paging with limit {limit} never ended");
}

/// Issue test 7: for every page size 1..=N (+1), paging from the empty
/// cursor yields exactly the whole log, each change once, in order; for the
/// full view (dispatcher), a crew member (filtered by unit) and an inspector
/// (filtered by owner).
#[tokio::test]
async fn t7_pagination_yields_the_whole_log_for_every_page_size() {
    let app = spawn_app().await;
    let want = mixed_log(&app).await;
    assert_eq!(want.len(), 25);

    let mut d = sync_dispatcher(&app).await;
    let (log, _) = pull_all(&mut d, "").await;
    assert_eq!(keys(&log), want, "the whole log, in commit order");
    let none = HashMap::new();
    let crew_want = model_view(&log, &none, Some(("c1", "north")), None);
    let insp_want = model_view(&log, &none, None, Some("i1"));
    // t1 v2..v5, t2 v2..v4 (the return: no unit any more, it was north's).
    assert_eq!(crew_want.len(), 7, "{crew_want:?}");
    // The visit v1..v3, two readings, two meter readings, the exchange.
    assert_eq!(insp_want.len(), 8, "{insp_want:?}");

    let viewers = [
        ("dispatcher d1", d, want.clone()),
        ("crew c1", sync_crew(&app, "c1", "north").await, crew_want),
        ("inspector i1", sync_inspector(&app, "i1").await, insp_want),
    ];
    for (who, mut s, expected) in viewers {
        let (big, end) = pull_all(&mut s, "").await;
        assert_eq!(keys(&big), expected, "one big Pull as {who}");
        let cursors: HashSet<_> = big.iter().map(|c| c.cursor.clone()).collect();
        assert_eq!(cursors.len(), big.len(), "cursors are distinct as {who}");
        let n = big.len() as i32;
        for limit in 1..=n + 1 {
            let (paged, last) = page_through(&mut s, limit).await;
            assert_eq!(
                keys(&paged),
                expected,
                "as {who} with page size {limit}: the whole log, each change once, in order"
            );
            assert_eq!(paged, big, "as {who} with page size {limit}");
            assert_eq!(
                last, end,
                "the final cursor as {who} with page size {limit}"
            );
        }
        let after = pull(&mut s, &end, 0).await.unwrap();
        assert!(after.changes.is_empty() && !after.has_more, "as {who}");
    }
    app.stop().await;
}

// ===================================================================== 8

/// Issue test 8: a watcher on a second instance, cut at random points and
/// resumed from its last cursor (a change's or a checkpoint's), receives the
/// whole log written through the first instance, no loss, no duplicate; an
/// uninterrupted watcher on the writing instance too.
#[tokio::test]
async fn t8_watch_cut_and_resumed_across_two_instances() {
    const ROUNDS: usize = 12;
    const TOTAL: usize = 1 + ROUNDS * 5;
    let a = spawn_app().await;
    let b = spawn_sharing(&a).await;
    let seed: u64 = rand::rng().random();
    println!("seed {seed}");

    // The uninterrupted watcher on the writing instance (local wake-ups).
    let mut wa = sync_dispatcher(&a).await;
    let mut live = open_watch(&mut wa, "").await;
    let live =
        tokio::spawn(async move { next_changes(&mut live, TOTAL, Duration::from_secs(25)).await });

    // Writes through a only: per round a ticket created, dispatched, claimed
    // and a room reading (two changes in one transaction).
    let (mut d, mut c1, mut i1) = (
        a.dispatcher().await,
        a.crew("c1", "north").await,
        inspections_as(&a, "i1").await,
    );
    let now = a.now();
    let writer = tokio::spawn(async move {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
        let visit = start_visit(&mut i1, now, "HH-W", "").await;
        for round in 0..ROUNDS {
            let t = create(&mut d, "NETWORK_LEAK").await;
            dispatch(&mut d, &t.id, "north").await;
            claimed(&mut c1, &t.id).await;
            room_reading(&mut i1, now, &visit.id, &format!("room {round}")).await;
            tokio::time::sleep(Duration::from_millis(rng.random_range(0..20))).await;
        }
    });

    // The cut watcher on b (other instances' commits arrive by polling).
    let mut rng = StdRng::seed_from_u64(seed);
    let mut wb = sync_dispatcher(&b).await;
    let mut cursor = String::new();
    let mut got: Vec<pb::Change> = Vec::new();
    let (mut cuts, mut resumed_from_checkpoint) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(25);
    while got.len() < TOTAL {
        assert!(
            Instant::now() < deadline,
            "the cut watcher got {} of {TOTAL} changes (seed {seed})",
            got.len()
        );
        let mut w = open_watch(&mut wb, &cursor).await;
        let take = rng.random_range(1..=7);
        let mut last_was_checkpoint = false;
        for _ in 0..take {
            match next_event(&mut w, Duration::from_secs(5)).await {
                Event::Change(c) => {
                    cursor = c.cursor.clone();
                    got.push(c);
                    last_was_checkpoint = false;
                }
                Event::Checkpoint(cp) => {
                    assert!(!cp.cursor.is_empty(), "a checkpoint carries a cursor");
                    cursor = cp.cursor;
                    last_was_checkpoint = true;
                }
            }
            if got.len() >= TOTAL {
                break;
            }
        }
        drop(w);
        cuts += 1;
        resumed_from_checkpoint += last_was_checkpoint as usize;
    }
    timeout(Duration::from_secs(20), writer)
        .await
        .expect("the writer finishes")
        .unwrap();
    println!("{cuts} cuts, {resumed_from_checkpoint} resumed from a checkpoint cursor");

    let mut pb_ = sync_dispatcher(&b).await;
    let (log, end) = pull_all(&mut pb_, "").await;
    assert_eq!(log.len(), TOTAL, "the whole log");
    assert_eq!(
        keys(&got),
        keys(&log),
        "cut and resumed watch on the other instance (seed {seed})"
    );
    assert_eq!(got, log);
    // Resuming at the end: nothing more, a checkpoint first.
    let mut w = open_watch(&mut wb, &cursor).await;
    match next_event(&mut w, Duration::from_secs(5)).await {
        Event::Checkpoint(cp) => {
            let (more, _) = pull_all(&mut pb_, &cp.cursor).await;
            assert!(more.is_empty());
        }
        Event::Change(c) => panic!("a change after the end of the log: {:?}", key(&c)),
    }
    let (more, _) = pull_all(&mut pb_, &end).await;
    assert!(more.is_empty());

    let live = live.await.unwrap();
    assert_eq!(
        live, log,
        "the uninterrupted watcher on the writing instance"
    );
    b.stop().await;
    a.stop().await;
}

/// Issue test 8: an idle watcher receives periodic checkpoints carrying a
/// cursor from which nothing is missed; a crew watcher whose unit sees
/// nothing still gets advancing checkpoints; Watch ends on shutdown.
#[tokio::test]
async fn t8_idle_watchers_get_checkpoints_and_watch_ends_on_shutdown() {
    let app = spawn_app().await;
    let mut d = app.dispatcher().await;
    let first = create(&mut d, "NETWORK_LEAK").await;
    let mut ds = sync_dispatcher(&app).await;
    let mut w = open_watch(&mut ds, "").await;
    let c = next_changes(&mut w, 1, Duration::from_secs(5)).await;
    assert_eq!(keys(&c), [k("ticket", &first.id, 1)]);
    match next_event(&mut w, Duration::from_secs(5)).await {
        Event::Checkpoint(cp) => assert!(!cp.cursor.is_empty()),
        Event::Change(c) => panic!("unexpected change {:?}", key(&c)),
    }
    let mut south_client = sync_crew(&app, "s1", "south").await;
    let mut south = open_watch(&mut south_client, "").await;

    // Idle for 1.2 s: only checkpoints (every 300 ms in tests), each with a
    // cursor from which there is nothing new.
    let mut checkpoints = Vec::new();
    let until = Instant::now() + Duration::from_millis(1200);
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        match timeout(left, w.message()).await {
            Err(_) => break,
            Ok(m) => match m.unwrap().unwrap().event.unwrap() {
                Event::Checkpoint(cp) => checkpoints.push(cp),
                Event::Change(c) => panic!("a change while idle: {:?}", key(&c)),
            },
        }
    }
    assert!(
        checkpoints.len() >= 2,
        "idle checkpoints in 1.2 s: {}",
        checkpoints.len()
    );
    for cp in &checkpoints {
        assert!(!cp.cursor.is_empty() && cp.time.is_some(), "{cp:?}");
        let page = pull(&mut ds, &cp.cursor, 0).await.unwrap();
        assert!(page.changes.is_empty() && !page.has_more);
    }
    let last_cp = checkpoints.last().unwrap().cursor.clone();

    // North changes: the dispatcher's watcher gets them; a Pull from the
    // last checkpoint yields exactly them.
    let u = create(&mut d, "NETWORK_LEAK").await;
    dispatch(&mut d, &u.id, "north").await;
    let seen = next_changes(&mut w, 2, Duration::from_secs(5)).await;
    assert_eq!(keys(&seen), [k("ticket", &u.id, 1), k("ticket", &u.id, 2)]);
    let (since_cp, _) = pull_all(&mut ds, &last_cp).await;
    assert_eq!(
        since_cp, seen,
        "nothing between the checkpoint and the changes"
    );

    // The south crew sees none of it: checkpoints only, and its latest
    // checkpoint cursor lies past the north changes.
    let mut south_cps = Vec::new();
    let until = Instant::now() + Duration::from_millis(900);
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        match timeout(left, south.message()).await {
            Err(_) => break,
            Ok(m) => match m.unwrap().unwrap().event.unwrap() {
                Event::Checkpoint(cp) => south_cps.push(cp.cursor),
                Event::Change(c) => panic!("south crew watched a north change: {:?}", key(&c)),
            },
        }
    }
    assert!(!south_cps.is_empty(), "the south crew's idle checkpoints");
    let (after, _) = pull_all(&mut ds, south_cps.last().unwrap()).await;
    assert!(
        after.is_empty(),
        "the south crew's checkpoint cursor advanced past the invisible changes: {:?}",
        keys(&after)
    );

    // Shutdown ends the open watches.
    timeout(Duration::from_secs(10), app.stop())
        .await
        .expect("the server stops with watchers open");
    for (who, stream) in [("dispatcher", &mut w), ("south crew", &mut south)] {
        let end = timeout(Duration::from_secs(5), async {
            loop {
                match stream.message().await {
                    Ok(Some(_)) => continue,
                    _ => return,
                }
            }
        })
        .await;
        assert!(end.is_ok(), "the {who}'s watch did not end on shutdown");
    }
}

/// Issue test 8 (errors): a malformed cursor, a token of another list and a
/// cursor ahead of the log end Pull and Watch with INVALID_ARGUMENT on
/// `cursor` (the expired cursor is in the compaction test below).
#[tokio::test]
async fn t8_watch_and_pull_from_malformed_or_ahead_cursor_fail() {
    use base64::Engine;
    use fieldops::service::paging::Pager;
    use fieldops::service::sync::encode_cursor;
    use fieldops::storage::feed::Position;
    let app = spawn_app().await;
    dispatched_ticket(&app, "NETWORK_LEAK").await;
    let mut s = sync_dispatcher(&app).await;
    // The server's own signer (every instance on the store shares its key).
    let signed = &app.handles.pager;
    let unsigned = |text: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
    for bad in [
        "not a cursor!".to_string(),
        signed.encode("tickets", "1/0"),
        signed.encode("feed", "1"),
        signed.encode("feed", "x/0"),
        // Forged: a well-formed position without the server's tag, or
        // tagged with another key.
        unsigned("feed:1/0"),
        encode_cursor(
            &Pager::new(b"another server's key", 1 << 20),
            Position::default(),
        ),
    ] {
        let e = pull(&mut s, &bad, 0).await.unwrap_err();
        assert_status(
            &e,
            Code::InvalidArgument,
            reason::INVALID_FIELD,
            Some("cursor"),
        );
        let e = watch_error(&mut s, &bad).await;
        assert_status(
            &e,
            Code::InvalidArgument,
            reason::INVALID_FIELD,
            Some("cursor"),
        );
    }
    let ahead = encode_cursor(
        signed,
        Position {
            seq: 1_000_000,
            ordinal: 0,
        },
    );
    let e = pull(&mut s, &ahead, 0).await.unwrap_err();
    assert_status(
        &e,
        Code::InvalidArgument,
        reason::OUT_OF_RANGE,
        Some("cursor"),
    );
    let e = watch_error(&mut s, &ahead).await;
    assert_status(
        &e,
        Code::InvalidArgument,
        reason::OUT_OF_RANGE,
        Some("cursor"),
    );
    let e = pull(&mut s, "", -1).await.unwrap_err();
    assert_status(
        &e,
        Code::InvalidArgument,
        reason::OUT_OF_RANGE,
        Some("limit"),
    );
    app.stop().await;
}

/// Issue test 8: a watcher that does not read its stream while 600 changes
/// are written does not block the writers (they all complete), and later
/// receives every change in order without gaps. Its connection has 1 KiB
/// HTTP/2 flow-control windows, so what the server can hold for it (the
/// page being sent, one encoder chunk of 32 KiB, the window) is far less
/// than what is written: its stream really is full while the writers go on.
#[tokio::test]
async fn t8_slow_watcher_does_not_block_writers_and_misses_nothing() {
    const WRITERS: usize = 4;
    const EACH: usize = 150;
    let app = spawn_app().await;
    let narrow = tonic::transport::Channel::from_shared(app.url())
        .unwrap()
        .initial_stream_window_size(Some(1024))
        .initial_connection_window_size(Some(1024))
        .connect()
        .await
        .unwrap();
    let mut ws =
        SyncServiceClient::with_interceptor(narrow, bearer("d1", &[Role::Dispatcher], "hq"));
    let mut slow = open_watch(&mut ws, "").await;

    let mut tasks = Vec::new();
    for _ in 0..WRITERS {
        let mut d = app.dispatcher().await;
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for _ in 0..EACH {
                let t = d
                    .create_ticket(create_req("NETWORK_LEAK"))
                    .await
                    .map(|r| r.into_inner());
                ids.push(t.map(|t| t.id));
            }
            ids
        }));
    }
    let mut created = HashSet::new();
    for t in tasks {
        // A generous bound so a blocked writer fails the test instead of hanging it.
        let ids = timeout(Duration::from_secs(60), t)
            .await
            .expect("writers blocked by a watcher that does not read")
            .unwrap();
        for id in ids {
            created.insert(id.expect("every write completes"));
        }
    }
    assert_eq!(created.len(), WRITERS * EACH);

    let seen = next_changes(&mut slow, WRITERS * EACH, Duration::from_secs(20)).await;
    let mut d = sync_dispatcher(&app).await;
    let (log, _) = pull_all(&mut d, "").await;
    assert_eq!(log.len(), WRITERS * EACH);
    assert_eq!(keys(&seen), keys(&log), "every change, in order, no gap");
    assert_eq!(seen, log);
    let ids: HashSet<_> = seen.iter().map(|c| key(c).id).collect();
    assert_eq!(ids, created);
    app.stop().await;
}

// ====================================================== retention, expiry

/// CURSOR_EXPIRED: changes made 31 days ago (the first instance's clock set
/// back), several versions of a ticket and a visit; a second instance on the
/// same store compacts in its housekeeping pass (retention 30 days). A cursor older than
/// the removed range gets FAILED_PRECONDITION CURSOR_EXPIRED from Pull and
/// Watch; the empty cursor still yields the latest state of every entity,
/// each once.
#[tokio::test]
async fn cursor_expired_after_compaction_and_empty_cursor_resnapshots() {
    let app1 = spawn_app().await;
    app1.clock.set(start_time() - ChronoDuration::days(31));
    let old_now = app1.now();
    let mut d = app1.dispatcher().await;
    let mut c1 = app1.crew("c1", "north").await;
    let mut s1 = sync_dispatcher(&app1).await;

    let t = create(&mut d, "NETWORK_LEAK").await;
    let (_, old_cursor) = pull_all(&mut s1, "").await;
    dispatch(&mut d, &t.id, "north").await;
    let (_, crew_old) = pull_all(&mut sync_crew(&app1, "c1", "north").await, "").await;
    claimed(&mut c1, &t.id).await;
    arrive(&mut c1, &t.id).await;
    let done = complete(&mut c1, &t.id).await;
    assert_eq!(done.version, 5);
    let u = create(&mut d, "NETWORK_LEAK").await;
    let mut i1 = inspections_as(&app1, "i1").await;
    let visit = start_visit(&mut i1, old_now, "HH-OLD", "").await;
    let reading = room_reading(&mut i1, old_now, &visit.id, "hall").await;
    let (before, end) = pull_all(&mut s1, "").await;
    assert_eq!(before.len(), 5 + 1 + 3);
    let store = app1.store.clone();
    app1.stop().await;

    let app2 = spawn_with("heating", store).await;
    let mut s2 = sync_dispatcher(&app2).await;
    // The housekeeping pass at the second instance's clock (now, 31 days
    // after the writes) compacts everything older than 30 days.
    let purged = app2.run_maintenance().await;
    assert_eq!(
        purged.changes,
        before.len() as u64 - 4,
        "all but the latest change of each of the four entities"
    );
    let expired = pull(&mut s2, &old_cursor, 0).await.unwrap_err();
    assert_status(&expired, Code::FailedPrecondition, "CURSOR_EXPIRED", None);
    let e = watch_error(&mut s2, &old_cursor).await;
    assert_status(&e, Code::FailedPrecondition, "CURSOR_EXPIRED", None);
    let mut crew2 = sync_crew(&app2, "c1", "north").await;
    let e = pull(&mut crew2, &crew_old, 0).await.unwrap_err();
    assert_status(&e, Code::FailedPrecondition, "CURSOR_EXPIRED", None);

    // Re-snapshot: the latest state of every entity, exactly once each.
    let (snap, _) = pull_all(&mut s2, "").await;
    let want = vec![
        k("ticket", &t.id, 5),
        k("ticket", &u.id, 1),
        k("inspection", &visit.id, 2),
        k("room_reading", &reading.id, 1),
    ];
    assert_eq!(keys(&snap), want, "the empty cursor after compaction");
    let latest_before: Vec<_> = before
        .iter()
        .filter(|c| want.contains(&key(c)))
        .cloned()
        .collect();
    assert_eq!(snap, latest_before, "the retained changes are unchanged");
    let (crew_snap, _) = pull_all(&mut crew2, "").await;
    assert_eq!(keys(&crew_snap), [k("ticket", &t.id, 5)]);

    // A cursor past the removed range still works and follows new changes.
    let (nothing, _) = pull_all(&mut s2, &end).await;
    assert!(nothing.is_empty());
    let mut d2 = app2.dispatcher().await;
    dispatch(&mut d2, &u.id, "north").await;
    let (new, _) = pull_all(&mut s2, &end).await;
    assert_eq!(keys(&new), [k("ticket", &u.id, 2)]);
    app2.stop().await;
}

// ================================================== scope and visibility

/// Feed scope per role: crew see their unit's tickets (also the change that
/// takes a ticket out of their unit, not the ones after), never a complaint
/// about themselves; inspectors their own records; dispatch, supervisors,
/// back office and admin everything. Tickets in the feed are masked as in
/// GetTicket (R-TKT-13).
#[tokio::test]
async fn scope_and_masking_per_role() {
    let app = spawn_app().await;
    let mut d = app.dispatcher().await;
    let mut c1 = app.crew("c1", "north").await;

    let tn = dispatched_ticket(&app, "NETWORK_LEAK").await;
    claimed(&mut c1, &tn.id).await;
    let ts_ = create(&mut d, "NETWORK_LEAK").await;
    dispatch(&mut d, &ts_.id, "south").await;
    let tc = d
        .create_ticket(pb::CreateTicketRequest {
            subject_staff_id: "c1".into(),
            ..create_req("STAFF_COMPLAINT")
        })
        .await
        .unwrap()
        .into_inner();
    dispatch(&mut d, &tc.id, "north").await;
    let tr = dispatched_ticket(&app, "NETWORK_LEAK").await;
    claimed(&mut c1, &tr.id).await;
    let returned = return_ticket(&mut c1, &tr.id).await;
    assert_eq!(returned.unit, "");
    let moved = dispatch(&mut d, &tr.id, "south").await;

    let now = app.now();
    let mut own = HashMap::new();
    for who in ["i1", "i2"] {
        let mut i = inspections_as(&app, who).await;
        let v = start_visit(&mut i, now, &format!("HH-{who}"), "").await;
        let r = room_reading(&mut i, now, &v.id, "hall").await;
        let m = meter_reading(
            &mut readings_as(&app, who).await,
            &format!("M-{who}"),
            7.0,
            now - ChronoDuration::hours(1),
        )
        .await;
        own.insert(
            who,
            vec![
                k("inspection", &v.id, 1),
                k("inspection", &v.id, 2),
                k("room_reading", &r.id, 1),
                k("meter_reading", &m.id, 1),
            ],
        );
    }

    let mut ds = sync_dispatcher(&app).await;
    let (log, _) = pull_all(&mut ds, "").await;
    assert_eq!(log.len(), 3 + 2 + 2 + 5 + 8);
    let subject_of = HashMap::from([(tc.id.clone(), "c1".to_string())]);

    let all_views = [
        ("supervisor", Role::Supervisor),
        ("backoffice", Role::Backoffice),
        ("admin", Role::Admin),
    ];
    for (who, role) in all_views {
        let mut s = sync_client(&app, &format!("{who}-9"), &[role], "hq").await;
        let (got, _) = pull_all(&mut s, "").await;
        assert_eq!(keys(&got), keys(&log), "{who} sees everything");
    }

    let mut views: Vec<(String, Sync, Vec<pb::Change>)> = Vec::new();
    for (sub, unit) in [("c1", "north"), ("c2", "north"), ("s1", "south")] {
        let mut s = sync_crew(&app, sub, unit).await;
        let (got, _) = pull_all(&mut s, "").await;
        assert_eq!(
            keys(&got),
            model_view(&log, &subject_of, Some((sub, unit)), None),
            "crew {sub} of {unit}"
        );
        views.push((sub.to_string(), s, got));
    }
    let c1_keys = keys(&views[0].2);
    assert!(
        c1_keys.contains(&k("tombstone", &tr.id, returned.version)),
        "the return took the ticket out of north's reach: north gets its tombstone"
    );
    assert!(
        !c1_keys.contains(&k("ticket", &tr.id, moved.version)),
        "north crew does not follow the ticket to south"
    );
    assert!(
        c1_keys.iter().all(|x| x.id != tc.id),
        "the complaint about c1 appears in c1's feed"
    );
    assert!(c1_keys.iter().all(|x| x.id != ts_.id));
    assert!(keys(&views[1].2).contains(&k("ticket", &tc.id, 2)));
    assert_eq!(
        keys(&views[2].2),
        [k("ticket", &ts_.id, 2), k("ticket", &tr.id, moved.version)],
        "south crew: its own unit's tickets only"
    );
    for who in ["i1", "i2"] {
        let mut s = sync_inspector(&app, who).await;
        let (got, _) = pull_all(&mut s, "").await;
        assert_eq!(
            keys(&got),
            own[who],
            "inspector {who}: his own records only"
        );
    }

    // Masking as in GetTicket, for the latest version each viewer sees.
    views.push(("d1".into(), ds, log.clone()));
    let mut compared = 0;
    let roles_of = |sub: &str| -> (Vec<Role>, &'static str) {
        match sub {
            "d1" => (vec![Role::Dispatcher], "hq"),
            "s1" => (vec![Role::Crew], "south"),
            "b1" => (vec![Role::Backoffice], "hq"),
            "sv1" => (vec![Role::Supervisor], "hq"),
            _ => (vec![Role::Crew], "north"),
        }
    };
    for who in ["b1", "sv1"] {
        let (roles, unit) = roles_of(who);
        let mut s = sync_client(&app, who, &roles, unit).await;
        let (got, _) = pull_all(&mut s, "").await;
        views.push((who.to_string(), s, got));
    }
    for (who, _, got) in &views {
        let (roles, unit) = roles_of(who);
        let mut tc_ = app.client_for(who, &roles, unit).await;
        for c in latest(got).values() {
            let Some(fed) = ticket_of(c) else { continue };
            let current = match tc_
                .get_ticket(pb::GetTicketRequest {
                    ticket_id: fed.id.clone(),
                })
                .await
            {
                Ok(r) => r.into_inner(),
                // The ticket moved on out of this viewer's scope (c1: the
                // returned ticket now belongs to south): to him it is gone.
                Err(e) if e.code() == Code::NotFound => continue,
                Err(e) => panic!("GetTicket {} as {who}: {e:?}", fed.id),
            };
            if current.version != fed.version {
                continue;
            }
            assert_eq!(fed, &current, "ticket {} in the feed of {who}", fed.id);
            compared += 1;
        }
    }
    assert!(compared >= 15, "compared {compared} tickets");
    let masked = |who: &str, id: &str| {
        let (_, _, got) = views.iter().find(|v| v.0 == who).unwrap();
        let l = latest(got);
        let t = ticket_of(&l[&("ticket", id.to_string())]).unwrap().clone();
        (t.caller_masked, t.caller_phone)
    };
    assert_eq!(masked("d1", &tn.id), (false, "13812345678".into()));
    assert_eq!(masked("sv1", &tn.id), (false, "13812345678".into()));
    assert_eq!(
        masked("c1", &tn.id),
        (false, "13812345678".into()),
        "holder"
    );
    assert_eq!(masked("c2", &tn.id), (true, "138****5678".into()));
    assert_eq!(masked("b1", &tn.id), (true, "138****5678".into()));
    assert_eq!(masked("s1", &ts_.id), (true, "138****5678".into()));
    app.stop().await;
}

/// Pull's last_mutation_id is read in the same snapshot as the changes
/// (checked against concurrent pushes), and a client_id owned by someone
/// else is PERMISSION_DENIED CLIENT_NOT_OWNED.
#[tokio::test]
async fn last_mutation_id_in_the_same_snapshot_and_client_not_owned() {
    const N: i64 = 8;
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for _ in 0..N {
        ids.push(dispatched_ticket(&app, "NETWORK_LEAK").await.id);
    }
    let mut puller = sync_crew(&app, "c1", "north").await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let checker = tokio::spawn(async move {
        let mut seen = Vec::new();
        while !stop2.load(std::sync::atomic::Ordering::SeqCst) {
            let page = puller
                .pull(pb::PullRequest {
                    client_id: "hh-c1".into(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            let claims = page
                .changes
                .iter()
                .filter(|c| ticket_of(c).is_some_and(|t| t.version == 3))
                .count() as i64;
            assert_eq!(
                claims, page.last_mutation_id,
                "claims in the snapshot vs the client's counter in the same snapshot"
            );
            seen.push(page.last_mutation_id);
        }
        seen
    });
    let mut push = sync_crew(&app, "c1", "north").await;
    for (n, id) in ids.iter().enumerate() {
        let r = push
            .push(pb::PushRequest {
                client_id: "hh-c1".into(),
                mutations: vec![pb::Mutation {
                    mutation_id: n as i64 + 1,
                    request: Some(pb::mutation::Request::Claim(pb::ClaimTicketRequest {
                        request_id: rid(),
                        ticket_id: id.clone(),
                        ..Default::default()
                    })),
                }],
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.results[0].outcome(), pb::MutationOutcome::Applied);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = checker.await.unwrap();
    assert!(!seen.is_empty());
    println!("snapshots checked: {}, counters {seen:?}", seen.len());

    let lmid = |s: &mut Sync, client: &str| {
        let req = pb::PullRequest {
            client_id: client.into(),
            ..Default::default()
        };
        let mut s = s.clone();
        async move { s.pull(req).await.map(|r| r.into_inner().last_mutation_id) }
    };
    let mut c1 = sync_crew(&app, "c1", "north").await;
    assert_eq!(lmid(&mut c1, "hh-c1").await.unwrap(), N);
    assert_eq!(lmid(&mut c1, "  hh-c1 ").await.unwrap(), N, "trimmed");
    assert_eq!(lmid(&mut c1, "never-pushed").await.unwrap(), 0);
    for mut other in [
        sync_crew(&app, "c2", "north").await,
        sync_dispatcher(&app).await,
    ] {
        let e = lmid(&mut other, "hh-c1").await.unwrap_err();
        assert_status(&e, Code::PermissionDenied, "CLIENT_NOT_OWNED", None);
    }
    app.stop().await;
}

// ============================================================ server bugs

/// R-TKT-13 in the feed: a complaint is never shown to the staff member it
/// concerns, in any role (GetTicket refuses them all with RECUSED). Exposes
/// a bug: `Visibility::condition` (src/storage/feed.rs) returns no filter at
/// all for the "see everything" roles, so a dispatcher, supervisor or back
/// office member receives the complaint about himself from Pull and Watch.
#[tokio::test]
async fn r_tkt_13_recused_staff_in_any_role_never_see_the_complaint_in_their_feed() {
    let app = spawn_app().await;
    let mut d = app.dispatcher().await;
    let mut failures = Vec::new();
    for (subject, role) in [
        ("d2", Role::Dispatcher),
        ("sv2", Role::Supervisor),
        ("b2", Role::Backoffice),
        ("c9", Role::Crew),
    ] {
        let t = d
            .create_ticket(pb::CreateTicketRequest {
                subject_staff_id: subject.into(),
                ..create_req("STAFF_COMPLAINT")
            })
            .await
            .unwrap()
            .into_inner();
        dispatch(&mut d, &t.id, "north").await;
        let mut tc = app.client_for(subject, &[role], "north").await;
        let e = tc
            .get_ticket(pb::GetTicketRequest {
                ticket_id: t.id.clone(),
            })
            .await
            .unwrap_err();
        // To him the complaint does not exist (no existence oracle).
        assert_status(&e, Code::NotFound, reason::TICKET_NOT_FOUND, None);
        let mut s = sync_client(&app, subject, &[role], "north").await;
        let (got, _) = pull_all(&mut s, "").await;
        let shown: Vec<_> = keys(&got).into_iter().filter(|x| x.id == t.id).collect();
        if !shown.is_empty() {
            failures.push(format!(
                "{role:?} {subject} pulls the complaint about himself: {shown:?}"
            ));
        }
        let mut w = open_watch(&mut s, "").await;
        let mut watched = Vec::new();
        while let Event::Change(c) = next_event(&mut w, Duration::from_secs(5)).await {
            watched.push(key(&c));
        }
        if watched.iter().any(|x| x.id == t.id) {
            failures.push(format!(
                "{role:?} {subject} watches the complaint about himself"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    app.stop().await;
}

/// Every mutation reaches the feed. Exposes a bug: FinishInspection
/// (src/service/inspections.rs, `finish` and `note_on_ticket`) never calls
/// `tx.record`, so the finished visit, the re-measurement ticket created by
/// an objection (R-TMP-7) and the linked ticket's new version (R-TKT-12) are
/// missing from Pull and Watch: a handheld keeps showing the visit in
/// progress, and the new ticket reaches no follower.
#[tokio::test]
async fn finish_inspection_reaches_the_feed() {
    let app = spawn_app().await;
    let tk = dispatched_ticket(&app, "BUILDING_NO_HEAT").await;
    let now = app.now();
    let mut i1 = inspections_as(&app, "i1").await;
    let visit = start_visit(&mut i1, now, "HH-FIN", &tk.id).await;
    room_reading(&mut i1, now, &visit.id, "north bedroom").await;
    let done = i1
        .finish_inspection(pb::FinishInspectionRequest {
            request_id: rid(),
            inspection_id: visit.id.clone(),
            inspector_signature: "signed: i1".into(),
            resident_outcome: pb::ResidentOutcome::SignedWithObjection as i32,
            objection: "the thermometer stood by the radiator; measure again".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.state, pb::InspectionState::Finished as i32);
    assert!(!done.objection_ticket_id.is_empty());
    let linked = get(&app, &tk.id).await;

    let mut failures = Vec::new();
    let mut ds = sync_dispatcher(&app).await;
    let (log, _) = pull_all(&mut ds, "").await;
    let all = keys(&log);
    for (what, want) in [
        (
            "the finished visit",
            k("inspection", &done.id, done.version),
        ),
        (
            "the re-measurement ticket",
            k("ticket", &done.objection_ticket_id, 1),
        ),
        (
            "the linked ticket's new version",
            k("ticket", &tk.id, linked.version),
        ),
    ] {
        if !all.contains(&want) {
            failures.push(format!("dispatcher's feed lacks {what} {want:?}"));
        }
    }
    let mut si = sync_inspector(&app, "i1").await;
    let (mine, _) = pull_all(&mut si, "").await;
    if !keys(&mine).contains(&k("inspection", &done.id, done.version)) {
        failures.push(format!(
            "inspector i1's feed lacks his finished visit v{}: {:?}",
            done.version,
            keys(&mine)
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    app.stop().await;
}

/// Issue 17: Pull and Watch take the entity types a reader wants; the
/// cursor moves past the others, so nothing is skipped and nothing repeats.
#[tokio::test]
async fn pull_and_watch_filter_by_entity_type() {
    let app = spawn_app().await;
    let mut d = app.dispatcher().await;
    let t = create(&mut d, "BUILDING_NO_HEAT").await;
    let mut r = readings_as(&app, "i1").await;
    let m = meter_reading(&mut r, "M-F", 10.0, app.now()).await;
    let mut s = sync_client(&app, "b1", &[Role::Backoffice], "hq").await;
    let typed = |types: &[pb::ChangeEntityType], cursor: &str| pb::PullRequest {
        cursor: cursor.into(),
        limit: 5000,
        entity_types: types.iter().map(|t| *t as i32).collect(),
        ..Default::default()
    };
    let tickets = s
        .pull(typed(&[pb::ChangeEntityType::Ticket], ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(keys(&tickets.changes), vec![k("ticket", &t.id, t.version)]);
    let meters = s
        .pull(typed(
            &[
                pb::ChangeEntityType::MeterReading,
                pb::ChangeEntityType::Outage,
            ],
            "",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        keys(&meters.changes),
        vec![k("meter_reading", &m.id, m.version)]
    );
    // Both end at the same place: the cursor passed what was filtered out.
    assert_eq!(tickets.cursor, meters.cursor);
    let all = s.pull(typed(&[], "")).await.unwrap().into_inner();
    assert_eq!(all.changes.len(), 2);

    // Watch from there: a meter reading then a ticket; a ticket-only watch
    // sees the ticket alone.
    let mut w = s
        .watch(pb::WatchRequest {
            cursor: tickets.cursor.clone(),
            entity_types: vec![pb::ChangeEntityType::Ticket as i32],
        })
        .await
        .unwrap()
        .into_inner();
    assert!(matches!(
        next_event(&mut w, Duration::from_secs(10)).await,
        Event::Checkpoint(_)
    ));
    meter_reading(&mut r, "M-F", 11.0, app.now()).await;
    let t2 = create(&mut d, "BUILDING_NO_HEAT").await;
    let first = loop {
        match next_event(&mut w, Duration::from_secs(10)).await {
            Event::Change(c) => break c,
            Event::Checkpoint(_) => continue,
        }
    };
    assert_eq!(
        key(&first),
        k("ticket", &t2.id, t2.version),
        "the meter reading was filtered out"
    );

    // An unknown type is refused, with its position.
    let err = s
        .pull(pb::PullRequest {
            entity_types: vec![0],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_status(
        &err,
        Code::InvalidArgument,
        reason::INVALID_FIELD,
        Some("entity_types[0]"),
    );
    let err = s
        .pull(pb::PullRequest {
            entity_types: vec![1, 99],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_status(
        &err,
        Code::InvalidArgument,
        reason::INVALID_FIELD,
        Some("entity_types[1]"),
    );
}

/// Issue 17, a feed that says what happened: each change names the trail
/// event that made it (kind, actor, role, and the event itself, equal to
/// ListTicketEvents' entry); and a ticket that leaves a unit's reach reaches
/// that unit's crew as a tombstone, on Pull and on Watch, with nothing of
/// the caller in it, while the new unit gets the ticket.
#[tokio::test]
async fn changes_name_their_event_and_a_ticket_leaving_a_unit_is_a_tombstone() {
    use pb::change::Entity as E;
    let app = spawn_app().await;
    let mut d = app.dispatcher().await;
    let mut c1 = app.crew("c1", "north").await;
    let t = dispatched_ticket(&app, "NETWORK_LEAK").await;
    let claimed_t = claimed(&mut c1, &t.id).await;

    // c1 holds the ticket: his handheld has the caller's phone.
    let mut s_c1 = sync_crew(&app, "c1", "north").await;
    let (held, cursor) = pull_all(&mut s_c1, "").await;
    let last = ticket_of(held.last().unwrap()).expect("a ticket");
    assert_eq!(
        (last.version, last.caller_masked),
        (claimed_t.version, false)
    );
    let mut watch_c1 = open_watch(&mut s_c1, &cursor).await;

    let returned = return_ticket(&mut c1, &t.id).await;
    let moved = dispatch(&mut d, &t.id, "south").await;

    // Watch and Pull agree: exactly one change for c1, the tombstone of the return.
    let watched = next_changes(&mut watch_c1, 1, Duration::from_secs(10)).await;
    let (pulled, _) = pull_all(&mut s_c1, &cursor).await;
    assert_eq!(keys(&pulled), keys(&watched));
    assert_eq!(keys(&pulled), [k("tombstone", &t.id, returned.version)]);
    let gone = &pulled[0];
    assert_eq!(
        gone.entity,
        Some(E::Tombstone(pb::Tombstone {
            entity_type: pb::ChangeEntityType::Ticket as i32,
            entity_id: t.id.clone(),
            entity_version: returned.version,
        }))
    );
    assert_eq!(
        (
            gone.kind.as_str(),
            gone.actor.as_str(),
            gone.actor_role.as_str(),
            gone.audit_event_id.as_str()
        ),
        ("OUT_OF_SCOPE", "", "", ""),
        "a tombstone says the ticket is gone, not why nor who"
    );
    let phone = &claimed_t.caller_phone;
    assert!(
        !format!("{gone:?}").contains(phone.as_str()),
        "a tombstone carries nothing of the caller"
    );

    // Another north crew member: the ticket while north's, then its tombstone.
    let mut s_c2 = sync_crew(&app, "c2", "north").await;
    let (c2_log, _) = pull_all(&mut s_c2, "").await;
    assert_eq!(
        keys(&c2_log),
        [
            k("ticket", &t.id, t.version),
            k("ticket", &t.id, claimed_t.version),
            k("tombstone", &t.id, returned.version),
        ]
    );
    // South gets the ticket when it arrives, told who sent it.
    let mut s_s1 = sync_crew(&app, "s1", "south").await;
    let (s1_log, _) = pull_all(&mut s_s1, "").await;
    assert_eq!(keys(&s1_log), [k("ticket", &t.id, moved.version)]);
    assert_eq!(
        (s1_log[0].kind.as_str(), s1_log[0].actor.as_str()),
        ("DISPATCHED", "d1")
    );

    // The dispatcher's feed: each change names the trail's own entry.
    let mut s_d = sync_dispatcher(&app).await;
    let (log, _) = pull_all(&mut s_d, "").await;
    let trail: HashMap<String, pb::TicketEvent> = events(&app, &t.id)
        .await
        .into_iter()
        .map(|e| (format!("ticket-events/{}", e.sequence), e))
        .collect();
    let mut kinds = Vec::new();
    for c in &log {
        let fed = ticket_of(c).expect("the dispatcher sees the ticket itself");
        let e = trail
            .get(&c.audit_event_id)
            .unwrap_or_else(|| panic!("{} is not in the ticket's trail", c.audit_event_id));
        assert_eq!(
            (&c.kind, &c.actor, &c.actor_role, fed.version),
            (&e.kind, &e.actor_sub, &e.actor_role, e.ticket_version),
            "change and trail disagree"
        );
        kinds.push(c.kind.as_str());
    }
    assert_eq!(
        kinds,
        ["CREATED", "DISPATCHED", "CLAIMED", "RETURNED", "DISPATCHED"]
    );
    app.stop().await;
}
