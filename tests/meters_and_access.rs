//! Meter readings and exchanges over gRPC (DOMAIN.md section 5: R-MTR-1,
//! R-MTR-2), ReadingService bad input and request-id replay (AIP-155), and
//! the authorization matrix of InspectionService and ReadingService
//! (DOMAIN.md section 1; who reads a visit: src/service/inspections.rs).
//! The last test races two syncs of one meter (R-MTR-1 under concurrency);
//! on PostgreSQL it exposes unserialised rollback-flag recomputation in
//! src/service/meters.rs.
//!
//! Every test pins the server clock to `T0` and uses times relative to it.
mod common;

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::*;
use fieldops::domain::Role;
use fieldops::error::reason;
use fieldops::error::reason::INSPECTION_NOT_FOUND;
use fieldops::grpc::pb;
use fieldops::grpc::pb::inspection_service_client::InspectionServiceClient;
use fieldops::grpc::pb::reading_service_client::ReadingServiceClient;
use std::collections::BTreeSet;
use std::sync::Arc;
use tokio::sync::Barrier;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;

type Readings = ReadingServiceClient<InterceptedService<Channel, Bearer>>;
type Inspections = InspectionServiceClient<InterceptedService<Channel, Bearer>>;

/// The fixed server instant of every test: 10:00 in Asia/Shanghai, inside
/// the heating season and the R-TMP-2 measurement window.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 10, 2, 0, 0).unwrap()
}

fn mins(m: i64) -> Duration {
    Duration::minutes(m)
}

async fn app_at_t0() -> TestApp {
    let app = spawn_app().await;
    app.clock.set(t0());
    app
}

// ---------------------------------------------------------------- clients

fn bearer(who: Option<(&str, Role)>) -> Bearer {
    Bearer(who.map(|(sub, role)| {
        format!("Bearer {}", token(sub, &[role], "north"))
            .parse()
            .unwrap()
    }))
}

async fn readings_as(app: &TestApp, sub: &str, role: Role) -> Readings {
    ReadingServiceClient::with_interceptor(app.channel().await, bearer(Some((sub, role))))
}

async fn inspections_as(app: &TestApp, sub: &str, role: Role) -> Inspections {
    InspectionServiceClient::with_interceptor(app.channel().await, bearer(Some((sub, role))))
}

async fn inspector(app: &TestApp, sub: &str) -> Readings {
    readings_as(app, sub, Role::Inspector).await
}

// --------------------------------------------------------- status checks

/// The status's code, ErrorInfo reason and (if given) a field violation on
/// `field`, or a message naming `what`.
fn check<T: std::fmt::Debug>(
    res: Result<T, Status>,
    code: Code,
    want: &str,
    field: Option<&str>,
    what: &str,
) -> Result<(), String> {
    let s = match res {
        Ok(v) => return Err(format!("{what}: expected {code:?} {want}, got OK {v:?}")),
        Err(s) => s,
    };
    let d = s.get_error_details();
    let got = d.error_info().map(|i| i.reason.clone());
    if s.code() != code || got.as_deref() != Some(want) {
        return Err(format!(
            "{what}: expected {code:?} {want}, got {:?} {got:?} ({})",
            s.code(),
            s.message()
        ));
    }
    if let Some(f) = field {
        let fields: Vec<String> = d
            .bad_request()
            .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
            .unwrap_or_default();
        if !fields.iter().any(|x| x == f) {
            return Err(format!(
                "{what}: expected a field violation on {f}, got {fields:?}"
            ));
        }
    }
    Ok(())
}

/// Only the code (where the reason is the server's choice).
fn check_code<T: std::fmt::Debug>(
    res: Result<T, Status>,
    code: Code,
    what: &str,
) -> Result<(), String> {
    match res {
        Ok(v) => Err(format!("{what}: expected {code:?}, got OK {v:?}")),
        Err(s) if s.code() == code => Ok(()),
        Err(s) => Err(format!(
            "{what}: expected {code:?}, got {:?} ({})",
            s.code(),
            s.message()
        )),
    }
}

fn finish_failures(failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------- meter helpers

fn reading_req(meter: &str, value: f64, at: DateTime<Utc>) -> pb::RecordMeterReadingRequest {
    pb::RecordMeterReadingRequest {
        request_id: rid(),
        meter_id: meter.into(),
        value,
        unit: pb::MeterUnit::CubicMetre as i32,
        read_time: Some(ts(at)),
        device_id: "handheld-7".into(),
        reading_id: String::new(),
    }
}

async fn read(c: &mut Readings, meter: &str, value: f64, at: DateTime<Utc>) -> pb::MeterReading {
    c.record_meter_reading(reading_req(meter, value, at))
        .await
        .unwrap_or_else(|s| panic!("reading {value} of {meter}: {s:?}"))
        .into_inner()
}

fn exchange_req(
    meter: &str,
    at: DateTime<Utc>,
    reader_present: bool,
    customer_present: bool,
) -> pb::RecordMeterExchangeRequest {
    pb::RecordMeterExchangeRequest {
        request_id: rid(),
        meter_id: meter.into(),
        old_serial: "LXS-20-0001".into(),
        new_serial: "LXS-20-0002".into(),
        old_final_value: 100.4,
        new_initial_value: 0.0,
        unit: pb::MeterUnit::CubicMetre as i32,
        exchange_time: Some(ts(at)),
        reader_present,
        customer_present,
        device_id: "handheld-7".into(),
    }
}

/// A witnessed exchange (R-MTR-2: not flagged).
async fn exchange(c: &mut Readings, meter: &str, at: DateTime<Utc>) -> pb::MeterExchange {
    c.record_meter_exchange(exchange_req(meter, at, true, true))
        .await
        .unwrap_or_else(|s| panic!("exchange of {meter}: {s:?}"))
        .into_inner()
}

/// ListMeterReadings as a dispatcher, newest first (as served).
async fn list_readings(app: &TestApp, meter: &str) -> Vec<pb::MeterReading> {
    let mut d = readings_as(app, "d1", Role::Dispatcher).await;
    d.list_meter_readings(pb::ListMeterReadingsRequest {
        meter_id: meter.into(),
        page_size: 500,
        page_token: String::new(),
    })
    .await
    .unwrap()
    .into_inner()
    .readings
}

/// The meter's history, oldest first.
async fn history(app: &TestApp, meter: &str) -> Vec<pb::MeterReading> {
    let mut h = list_readings(app, meter).await;
    h.reverse();
    h
}

/// (value, rollback) of the meter's readings, oldest first.
async fn flags(app: &TestApp, meter: &str) -> Vec<(f64, bool)> {
    history(app, meter)
        .await
        .iter()
        .map(|r| (r.value, r.rollback))
        .collect()
}

async fn stored(app: &TestApp, meter: &str, id: &str) -> pb::MeterReading {
    list_readings(app, meter)
        .await
        .into_iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("reading {id} is not listed for {meter}"))
}

// ----------------------------------------------------- inspection helpers

fn start_req(household: &str, ticket_id: &str, now: DateTime<Utc>) -> pb::StartInspectionRequest {
    pb::StartInspectionRequest {
        request_id: rid(),
        inspection_id: String::new(),
        dwelling: Some(pb::Dwelling {
            household_id: household.into(),
            address: "8 Heping Rd, Building 2, Unit 1, Flat 301".into(),
        }),
        ticket_id: ticket_id.into(),
        entered_at: Some(ts(now - mins(60))),
        doors_windows_closed: true,
        outdoor_temp_c: Some(-5.0),
        observed_exemptions: vec![],
        thermometer_serial: "TH-0001".into(),
        calibration_due: "2027-06-30".into(),
        resident_name: "李四".into(),
        resident_phone: "13900001111".into(),
        device_id: "handheld-7".into(),
    }
}

/// A protocol-conforming bedroom reading (R-TMP-2..6, 12): 20 min after
/// entering, 15 min long, centre of the room, 1.5 m.
fn room_req(
    visit_id: &str,
    temperature_c: f64,
    now: DateTime<Utc>,
) -> pb::RecordRoomReadingRequest {
    pb::RecordRoomReadingRequest {
        request_id: rid(),
        inspection_id: visit_id.into(),
        reading_id: String::new(),
        room_name: "north bedroom".into(),
        room_type: pb::RoomType::Bedroom as i32,
        open_to_balcony: false,
        started_at: Some(ts(now - mins(40))),
        ended_at: Some(ts(now - mins(25))),
        temperature_c,
        height_m: 1.5,
        at_room_centre: true,
        device_id: "handheld-7".into(),
        ..Default::default()
    }
}

fn finish_req(visit_id: &str) -> pb::FinishInspectionRequest {
    pb::FinishInspectionRequest {
        request_id: rid(),
        inspection_id: visit_id.into(),
        inspector_signature: "signed: inspector".into(),
        resident_outcome: pb::ResidentOutcome::Signed as i32,
        objection: String::new(),
        device_id: "handheld-7".into(),
        expected_version: 0,
    }
}

/// A visit started by inspector `sub` (ticket_id may be empty).
async fn start_visit(app: &TestApp, sub: &str, household: &str, ticket_id: &str) -> pb::Inspection {
    let mut i = inspections_as(app, sub, Role::Inspector).await;
    i.start_inspection(start_req(household, ticket_id, app.now()))
        .await
        .unwrap_or_else(|s| panic!("StartInspection by {sub}: {s:?}"))
        .into_inner()
}

/// The visit as a dispatcher sees it.
async fn get_visit(app: &TestApp, id: &str) -> pb::Inspection {
    let mut d = inspections_as(app, "d1", Role::Dispatcher).await;
    d.get_inspection(pb::GetInspectionRequest {
        inspection_id: id.into(),
    })
    .await
    .unwrap()
    .into_inner()
}

/// (version, number of readings, state) of a visit.
async fn visit_snapshot(app: &TestApp, id: &str) -> (i64, usize, i32) {
    let v = get_visit(app, id).await;
    (v.version, v.readings.len(), v.state)
}

async fn inspection_count(app: &TestApp) -> usize {
    let mut d = inspections_as(app, "d1", Role::Dispatcher).await;
    d.list_inspections(pb::ListInspectionsRequest {
        page_size: 500,
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .inspections
    .len()
}

async fn cold_count(app: &TestApp) -> usize {
    let mut s = inspections_as(app, "s1", Role::Supervisor).await;
    s.list_cold_households(pb::ListColdHouseholdsRequest {
        page_size: 500,
        include_resolved: true,
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .households
    .len()
}

/// An INDOOR_MEASUREMENT ticket dispatched to north and claimed by `crew`.
async fn held_ticket(app: &TestApp, crew: &str) -> pb::Ticket {
    let t = dispatched_ticket(app, "INDOOR_MEASUREMENT").await;
    let held = claim(&mut app.crew(crew, "north").await, &t.id)
        .await
        .unwrap();
    assert_eq!(held.assignee, crew);
    held
}

fn ids(v: &[pb::Inspection]) -> BTreeSet<String> {
    v.iter().map(|i| i.id.clone()).collect()
}

// =================================================================== R-MTR-1

// R-MTR-1: a value below the previous reading of the same meter is stored
// but flagged `rollback`; a later higher value is not; other meters (their
// readings and exchanges) do not affect the flags.
#[tokio::test]
async fn r_mtr_1_lower_value_is_stored_flagged_rollback() {
    let app = app_at_t0().await;
    let mut i1 = inspector(&app, "i1").await;

    let a = read(&mut i1, "M-1", 100.0, t0() - mins(180)).await;
    assert!(!a.rollback, "the first reading of a meter is no rollback");
    assert_eq!(a.version, 1);
    assert_eq!(a.inspector, "i1");
    assert_eq!(a.meter_id, "M-1");
    assert_eq!(a.unit, pb::MeterUnit::CubicMetre as i32);
    assert_eq!(a.read_time, Some(ts(t0() - mins(180))));
    assert_eq!(a.receive_time, Some(ts(t0())));

    // Another meter with a much lower first value, read between a and b.
    let other = read(&mut i1, "M-2", 10.0, t0() - mins(150)).await;
    assert!(
        !other.rollback,
        "R-MTR-1 compares readings of the same meter only"
    );

    let b = read(&mut i1, "M-1", 99.5, t0() - mins(120)).await;
    assert!(
        b.rollback,
        "99.5 after 100.0 is a rollback (R-MTR-1): {b:?}"
    );
    assert_eq!(b.value, 99.5, "a rollback is stored with its value");

    let listed = list_readings(&app, "M-1").await;
    assert_eq!(
        listed.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        vec![b.id.as_str(), a.id.as_str()],
        "ListMeterReadings: newest first, only this meter"
    );
    assert_eq!(listed[0], b, "the listed rollback equals the returned one");

    let c = read(&mut i1, "M-1", 120.0, t0() - mins(60)).await;
    assert!(!c.rollback, "120.0 after 99.5 is no rollback");
    assert_eq!(
        flags(&app, "M-1").await,
        vec![(100.0, false), (99.5, true), (120.0, false)]
    );

    // An exchange of M-2 between a and b does not un-flag b on M-1.
    exchange(&mut i1, "M-2", t0() - mins(135)).await;
    assert_eq!(
        flags(&app, "M-1").await,
        vec![(100.0, false), (99.5, true), (120.0, false)],
        "an exchange of another meter does not un-flag"
    );
    assert_eq!(
        stored(&app, "M-1", &b.id).await.version,
        b.version,
        "b was not touched"
    );
    assert_eq!(flags(&app, "M-2").await, vec![(10.0, false)]);
    app.stop().await;
}

// R-MTR-1: an exchange recorded before the later, lower reading arrives:
// the lower reading is stored un-flagged.
#[tokio::test]
async fn r_mtr_1_exchange_recorded_first_means_no_rollback() {
    let app = app_at_t0().await;
    let mut i1 = inspector(&app, "i1").await;
    read(&mut i1, "M-1", 100.0, t0() - mins(180)).await;
    let x = exchange(&mut i1, "M-1", t0() - mins(120)).await;
    assert!(!x.flagged);
    let low = read(&mut i1, "M-1", 3.0, t0() - mins(60)).await;
    assert!(
        !low.rollback,
        "an exchange lies between 100.0 and 3.0: no rollback (R-MTR-1)"
    );
    assert_eq!(low.version, 1);
    assert_eq!(flags(&app, "M-1").await, vec![(100.0, false), (3.0, false)]);
    app.stop().await;
}

// R-MTR-1: an exchange recorded after the lower reading (offline handheld)
// clears the stored flag; the reading's version goes up.
#[tokio::test]
async fn r_mtr_1_exchange_recorded_later_clears_stored_flag() {
    let app = app_at_t0().await;
    let mut i1 = inspector(&app, "i1").await;
    read(&mut i1, "M-1", 100.0, t0() - mins(180)).await;
    let low = read(&mut i1, "M-1", 3.0, t0() - mins(60)).await;
    assert!(low.rollback);

    app.clock.advance(mins(10));
    exchange(&mut i1, "M-1", t0() - mins(120)).await;
    let after = stored(&app, "M-1", &low.id).await;
    assert!(
        !after.rollback,
        "the exchange between clears the flag: {after:?}"
    );
    assert_eq!(
        after.version,
        low.version + 1,
        "clearing the flag is a new version"
    );
    assert_eq!(flags(&app, "M-1").await, vec![(100.0, false), (3.0, false)]);
    app.stop().await;
}

// R-MTR-1: an exchange outside the interval (before both readings, after
// both, or on another meter) does not un-flag.
#[tokio::test]
async fn r_mtr_1_exchange_outside_the_interval_does_not_unflag() {
    let app = app_at_t0().await;
    let mut i1 = inspector(&app, "i1").await;
    read(&mut i1, "M-1", 100.0, t0() - mins(180)).await;
    let low = read(&mut i1, "M-1", 3.0, t0() - mins(120)).await;
    assert!(low.rollback);

    let mut failures = Vec::new();
    for (label, meter, at) in [
        ("after both readings", "M-1", t0() - mins(60)),
        ("before both readings", "M-1", t0() - mins(240)),
        (
            "between them, but of another meter",
            "M-9",
            t0() - mins(150),
        ),
    ] {
        exchange(&mut i1, meter, at).await;
        let now = stored(&app, "M-1", &low.id).await;
        if !now.rollback || now.version != low.version {
            failures.push(format!(
                "exchange {label}: reading became rollback={} version={}",
                now.rollback, now.version
            ));
        }
    }
    finish_failures(failures);
    app.stop().await;
}

/// One step of a meter's history: a reading (value, minutes before T0) or a
/// witnessed exchange (minutes before T0).
#[derive(Clone, Copy, Debug)]
enum Step {
    Read(f64, i64),
    Exchange(i64),
}

// R-MTR-1: readings and exchanges arriving out of order (offline handhelds)
// end up flagged the same as in order. Each order runs on its own meter.
#[tokio::test]
async fn r_mtr_1_out_of_order_arrival_ends_flagged_as_in_order() {
    use Step::*;
    let app = app_at_t0().await;
    let mut i1 = inspector(&app, "i1").await;
    // In time order: 100 -> 99.5 rollback; exchange; 2.0 (after the
    // exchange: not a rollback); 5.0; 4.0 rollback.
    let steps = [
        Read(100.0, 300),
        Read(99.5, 240),
        Exchange(210),
        Read(2.0, 180),
        Read(5.0, 120),
        Read(4.0, 60),
    ];
    let expected = vec![
        (100.0, false),
        (99.5, true),
        (2.0, false),
        (5.0, false),
        (4.0, true),
    ];
    let orders: [(&str, [usize; 6]); 6] = [
        ("in order", [0, 1, 2, 3, 4, 5]),
        ("reversed", [5, 4, 3, 2, 1, 0]),
        ("exchange last", [0, 1, 3, 4, 5, 2]),
        ("exchange first", [2, 0, 1, 3, 4, 5]),
        ("later-timed reading first", [1, 0, 2, 4, 3, 5]),
        ("shuffled", [3, 0, 5, 2, 4, 1]),
    ];
    let mut failures = Vec::new();
    for (n, (label, order)) in orders.iter().enumerate() {
        let meter = format!("M-OOO-{n}");
        for &k in order {
            match steps[k] {
                Read(v, m) => {
                    read(&mut i1, &meter, v, t0() - mins(m)).await;
                }
                Exchange(m) => {
                    exchange(&mut i1, &meter, t0() - mins(m)).await;
                }
            }
        }
        let got = flags(&app, &meter).await;
        if got != expected {
            failures.push(format!("{label} {order:?}: {got:?}, expected {expected:?}"));
        }
    }
    finish_failures(failures);

    // The simplest offline case: the later-timed, lower reading arrives first
    // (nothing to compare with yet), the earlier one second: the stored flag
    // is set afterwards, as a new version.
    let late = read(&mut i1, "M-OFF", 99.5, t0() - mins(60)).await;
    assert!(!late.rollback);
    read(&mut i1, "M-OFF", 100.0, t0() - mins(120)).await;
    let late_now = stored(&app, "M-OFF", &late.id).await;
    assert!(
        late_now.rollback,
        "flagged once the earlier reading arrives"
    );
    assert_eq!(
        late_now.version,
        late.version + 1,
        "flagging is a new version"
    );
    app.stop().await;
}

// =================================================================== R-MTR-2

// R-MTR-2: an exchange without both the meter reader and the customer
// present is flagged; with both it is not. The exchange echoes what it stores.
#[tokio::test]
async fn r_mtr_2_exchange_flagged_without_both_witnesses() {
    let app = app_at_t0().await;
    let mut i1 = inspector(&app, "i1").await;
    let at = t0() - mins(30);
    let mut failures = Vec::new();
    for (reader, customer, want_flagged) in [
        (false, false, true),
        (true, false, true),
        (false, true, true),
        (true, true, false),
    ] {
        let what = format!("reader_present={reader} customer_present={customer}");
        let req = exchange_req("M-X", at, reader, customer);
        let x = match i1.record_meter_exchange(req.clone()).await {
            Ok(x) => x.into_inner(),
            Err(s) => {
                failures.push(format!("{what}: {s:?}"));
                continue;
            }
        };
        if x.flagged != want_flagged {
            failures.push(format!(
                "{what}: flagged={}, expected {want_flagged}",
                x.flagged
            ));
        }
        let echoed = (
            x.meter_id.as_str(),
            x.old_serial.as_str(),
            x.new_serial.as_str(),
            x.old_final_value,
            x.new_initial_value,
            x.unit,
            x.exchange_time,
            x.reader_present,
            x.customer_present,
            x.inspector.as_str(),
            x.receive_time,
        );
        let want = (
            "M-X",
            "LXS-20-0001",
            "LXS-20-0002",
            100.4,
            0.0,
            pb::MeterUnit::CubicMetre as i32,
            Some(ts(at)),
            reader,
            customer,
            "i1",
            Some(ts(t0())),
        );
        if echoed != want {
            failures.push(format!("{what}: stored {echoed:?}, expected {want:?}"));
        }
        if uuid::Uuid::parse_str(&x.id).is_err() {
            failures.push(format!("{what}: id {:?} is not a UUID", x.id));
        }
    }
    finish_failures(failures);
    app.stop().await;
}

// ============================================================= bad input

type ReadingTweak = fn(&mut pb::RecordMeterReadingRequest);

// Bad input to RecordMeterReading: INVALID_ARGUMENT with the reason and the
// field path, and nothing stored. Every refused request carries a client
// reading_id; reusing each id afterwards proves no reading was stored under
// any meter. A valid request and a clock 23 h ahead (within max_future 24 h)
// are the controls.
#[tokio::test]
async fn record_meter_reading_rejects_bad_input() {
    let app = app_at_t0().await;
    let mut i1 = inspector(&app, "i1").await;
    let base = || reading_req("M-BAD", 10.0, t0() - mins(60));
    let cases: [(&str, ReadingTweak, &str, &str); 11] = [
        (
            "missing meter_id",
            |r| r.meter_id.clear(),
            reason::MISSING_FIELD,
            "meter_id",
        ),
        (
            "blank meter_id",
            |r| r.meter_id = "   ".into(),
            reason::MISSING_FIELD,
            "meter_id",
        ),
        (
            "NaN value",
            |r| r.value = f64::NAN,
            reason::OUT_OF_RANGE,
            "value",
        ),
        (
            "negative value",
            |r| r.value = -0.5,
            reason::OUT_OF_RANGE,
            "value",
        ),
        (
            "infinite value",
            |r| r.value = f64::INFINITY,
            reason::OUT_OF_RANGE,
            "value",
        ),
        (
            "unit UNSPECIFIED",
            |r| r.unit = pb::MeterUnit::Unspecified as i32,
            reason::MISSING_FIELD,
            "unit",
        ),
        (
            "unknown unit",
            |r| r.unit = 99,
            reason::INVALID_FIELD,
            "unit",
        ),
        (
            "missing read_time",
            |r| r.read_time = None,
            reason::MISSING_FIELD,
            "read_time",
        ),
        (
            "read_time 25 h after the server clock",
            |r| r.read_time = Some(ts(t0() + Duration::hours(25))),
            reason::OCCURRED_AT_IN_FUTURE,
            "read_time",
        ),
        (
            "missing request_id",
            |r| r.request_id.clear(),
            reason::MISSING_FIELD,
            "request_id",
        ),
        (
            "request_id not a UUID",
            |r| r.request_id = "42".into(),
            reason::INVALID_FIELD,
            "request_id",
        ),
    ];
    let mut failures = Vec::new();
    let mut probes = Vec::new();
    for (label, tweak, want, field) in &cases {
        let mut req = base();
        req.reading_id = rid();
        probes.push((label, req.reading_id.clone()));
        tweak(&mut req);
        let res = i1.record_meter_reading(req).await;
        let what = format!("RecordMeterReading, {label}");
        if let Err(e) = check(res, Code::InvalidArgument, want, Some(*field), &what) {
            failures.push(e);
        }
        let n = list_readings(&app, "M-BAD").await.len();
        if n != 0 {
            failures.push(format!("{what}: M-BAD now has {n} reading(s)"));
        }
    }
    for (label, id) in probes {
        let mut req = reading_req("M-PROBE", 1.0, t0() - mins(60));
        req.reading_id = id;
        if let Err(s) = i1.record_meter_reading(req).await {
            failures.push(format!(
                "the reading_id of the refused request ({label}) is taken: {s:?}"
            ));
        }
    }
    finish_failures(failures);

    // Controls: the base request is valid, and 23 h ahead is within max_future.
    i1.record_meter_reading(base()).await.expect("base request");
    i1.record_meter_reading(reading_req("M-BAD", 11.0, t0() + Duration::hours(23)))
        .await
        .expect("23 h ahead is accepted (max_future 24 h)");
    assert_eq!(list_readings(&app, "M-BAD").await.len(), 2);
    app.stop().await;
}

type ExchangeTweak = fn(&mut pb::RecordMeterExchangeRequest);

// Bad input to RecordMeterExchange: INVALID_ARGUMENT with reason and field.
// Each exchange would lie between 100.0 and 99.5 of M-BAD: had one been
// stored, it would clear the rollback flag (R-MTR-1).
#[tokio::test]
async fn record_meter_exchange_rejects_bad_input() {
    let app = app_at_t0().await;
    let mut i1 = inspector(&app, "i1").await;
    read(&mut i1, "M-BAD", 100.0, t0() - mins(180)).await;
    let low = read(&mut i1, "M-BAD", 99.5, t0() - mins(60)).await;
    assert!(low.rollback);
    let base = || exchange_req("M-BAD", t0() - mins(120), true, true);
    let cases: [(&str, ExchangeTweak, &str, &str); 7] = [
        (
            "missing meter_id",
            |x| x.meter_id.clear(),
            reason::MISSING_FIELD,
            "meter_id",
        ),
        (
            "NaN old_final_value",
            |x| x.old_final_value = f64::NAN,
            reason::OUT_OF_RANGE,
            "old_final_value",
        ),
        (
            "negative new_initial_value",
            |x| x.new_initial_value = -1.0,
            reason::OUT_OF_RANGE,
            "new_initial_value",
        ),
        (
            "unit UNSPECIFIED",
            |x| x.unit = 0,
            reason::MISSING_FIELD,
            "unit",
        ),
        (
            "missing exchange_time",
            |x| x.exchange_time = None,
            reason::MISSING_FIELD,
            "exchange_time",
        ),
        (
            "exchange_time 25 h after the server clock",
            |x| x.exchange_time = Some(ts(t0() + Duration::hours(25))),
            reason::OCCURRED_AT_IN_FUTURE,
            "exchange_time",
        ),
        (
            "missing request_id",
            |x| x.request_id.clear(),
            reason::MISSING_FIELD,
            "request_id",
        ),
    ];
    let mut failures = Vec::new();
    for (label, tweak, want, field) in &cases {
        let mut req = base();
        tweak(&mut req);
        let what = format!("RecordMeterExchange, {label}");
        if let Err(e) = check(
            i1.record_meter_exchange(req).await,
            Code::InvalidArgument,
            want,
            Some(*field),
            &what,
        ) {
            failures.push(e);
        }
        let now = stored(&app, "M-BAD", &low.id).await;
        if !now.rollback || now.version != low.version {
            failures.push(format!("{what}: an exchange was stored (flag cleared)"));
        }
    }
    finish_failures(failures);
    // Control: the base exchange is valid and clears the flag.
    i1.record_meter_exchange(base())
        .await
        .expect("base exchange");
    assert!(!stored(&app, "M-BAD", &low.id).await.rollback);
    app.stop().await;
}

// AIP-155 on RecordMeterReading: a replay returns the identical reading and
// stores (and audits) nothing more; the same request_id with another body,
// or from another caller, is ALREADY_EXISTS REQUEST_ID_REUSED. A client
// reading_id that exists is ALREADY_EXISTS too.
#[tokio::test]
async fn record_meter_reading_replay_and_request_id_reuse() {
    let app = app_at_t0().await;
    let mut i1 = inspector(&app, "i1").await;
    let req = reading_req("M-IDEM", 10.0, t0() - mins(60));
    let first = i1
        .record_meter_reading(req.clone())
        .await
        .unwrap()
        .into_inner();

    app.clock.advance(mins(5));
    let replay = i1
        .record_meter_reading(req.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(replay, first, "a replay returns the identical reading");
    assert_eq!(
        list_readings(&app, "M-IDEM").await,
        vec![first.clone()],
        "one reading stored"
    );

    let mut failures = Vec::new();
    let other_value = pb::RecordMeterReadingRequest {
        value: 11.0,
        ..req.clone()
    };
    if let Err(e) = check(
        i1.record_meter_reading(other_value).await,
        Code::AlreadyExists,
        reason::REQUEST_ID_REUSED,
        None,
        "same request_id, value 11.0",
    ) {
        failures.push(e);
    }
    let mut i2 = inspector(&app, "i2").await;
    if let Err(e) = check(
        i2.record_meter_reading(req.clone()).await,
        Code::AlreadyExists,
        reason::REQUEST_ID_REUSED,
        None,
        "same request_id by another inspector",
    ) {
        failures.push(e);
    }
    // A client-chosen reading_id that is already stored, under a new request_id.
    let with_id = pb::RecordMeterReadingRequest {
        reading_id: first.id.clone(),
        request_id: rid(),
        ..req.clone()
    };
    if let Err(e) = check(
        i1.record_meter_reading(with_id).await,
        Code::AlreadyExists,
        "READING_EXISTS",
        None,
        "existing reading_id",
    ) {
        failures.push(e);
    }
    let listed = list_readings(&app, "M-IDEM").await;
    if listed != vec![first.clone()] {
        failures.push(format!("refused requests changed the meter: {listed:?}"));
    }
    finish_failures(failures);

    // RecordMeterExchange replays too: same exchange, no second one.
    let xr = exchange_req("M-IDEM", t0() - mins(30), true, false);
    let x1 = i1
        .record_meter_exchange(xr.clone())
        .await
        .unwrap()
        .into_inner();
    let x2 = i1.record_meter_exchange(xr).await.unwrap().into_inner();
    assert_eq!(x1, x2, "an exchange replay returns the identical exchange");
    app.stop().await;
}

// ===================================================== authorization matrix

#[derive(Clone, Copy, Debug, PartialEq)]
enum Rpc {
    StartInspection,
    RecordRoomReading,
    FinishInspection,
    GetInspection,
    ListInspections,
    ListColdHouseholds,
    RecordMeterReading,
    RecordMeterExchange,
    ListMeterReadings,
}

impl Rpc {
    const ALL: [Rpc; 9] = [
        Rpc::StartInspection,
        Rpc::RecordRoomReading,
        Rpc::FinishInspection,
        Rpc::GetInspection,
        Rpc::ListInspections,
        Rpc::ListColdHouseholds,
        Rpc::RecordMeterReading,
        Rpc::RecordMeterExchange,
        Rpc::ListMeterReadings,
    ];

    /// DOMAIN.md section 1. Get/ListInspections: the matrix visit is run by
    /// i1 (the inspector) for a ticket crew c1 holds, so both may read it.
    fn allowed(self) -> &'static [Role] {
        use Rpc::*;
        match self {
            StartInspection | RecordRoomReading | FinishInspection | RecordMeterReading
            | RecordMeterExchange => &[Role::Inspector],
            GetInspection | ListInspections => &[
                Role::Dispatcher,
                Role::Supervisor,
                Role::Backoffice,
                Role::Inspector,
                Role::Crew,
            ],
            ListColdHouseholds => &[Role::Supervisor, Role::Dispatcher, Role::Backoffice],
            ListMeterReadings => &[
                Role::Inspector,
                Role::Dispatcher,
                Role::Supervisor,
                Role::Backoffice,
            ],
        }
    }
}

/// The subject of each role in the matrix (unit north).
fn sub_of(role: Role) -> &'static str {
    match role {
        Role::Dispatcher => "d1",
        Role::Crew => "c1",
        Role::Inspector => "i1",
        Role::Supervisor => "s1",
        Role::Backoffice => "b1",
        Role::Admin => "a1",
    }
}

/// Fixtures shared by the read cells.
struct Shared {
    /// Claimed by crew c1.
    ticket: pb::Ticket,
    /// Run by i1 for `ticket`.
    visit: pb::Inspection,
    /// A NON_COMPLIANT dwelling in the archive (R-TMP-10).
    cold_household: String,
    /// A meter with one reading.
    meter: String,
    reading: pb::MeterReading,
}

async fn shared_fixtures(app: &TestApp) -> Shared {
    let ticket = held_ticket(app, "c1").await;
    let visit = start_visit(app, "i1", "H-MATRIX", &ticket.id).await;
    // R-TMP-1/R-TMP-10: a valid 15 °C bedroom reading, signed: NON_COMPLIANT.
    let mut i1 = inspections_as(app, "i1", Role::Inspector).await;
    let cold = start_visit(app, "i1", "H-COLD", "").await;
    let r = i1
        .record_room_reading(room_req(&cold.id, 15.0, app.now()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        r.verdict,
        pb::ReadingVerdict::NonCompliant as i32,
        "fixture reading: {r:?}"
    );
    let done = i1
        .finish_inspection(finish_req(&cold.id))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.verdict, pb::VisitVerdict::NonCompliant as i32);
    let reading = read(
        &mut inspector(app, "i1").await,
        "M-SHARED",
        42.0,
        t0() - mins(30),
    )
    .await;
    Shared {
        ticket,
        visit,
        cold_household: "H-COLD".into(),
        meter: "M-SHARED".into(),
        reading,
    }
}

/// What one cell acts on.
#[derive(Default)]
struct Target {
    visit_id: String,
    meter: String,
    /// RecordMeterExchange: a reading flagged rollback that an exchange
    /// between would clear.
    flagged_id: String,
}

async fn prepare(app: &TestApp, s: &Shared, rpc: Rpc, n: usize) -> Target {
    use Rpc::*;
    match rpc {
        StartInspection | ListColdHouseholds => Target::default(),
        RecordRoomReading | FinishInspection => Target {
            visit_id: start_visit(app, "i1", &format!("H-CELL-{n}"), "").await.id,
            ..Default::default()
        },
        GetInspection | ListInspections => Target {
            visit_id: s.visit.id.clone(),
            ..Default::default()
        },
        RecordMeterReading => Target {
            meter: format!("M-CELL-{n}"),
            ..Default::default()
        },
        RecordMeterExchange => {
            let meter = format!("M-CELL-{n}");
            let mut i1 = inspector(app, "i1").await;
            read(&mut i1, &meter, 100.0, t0() - mins(180)).await;
            let low = read(&mut i1, &meter, 99.5, t0() - mins(60)).await;
            assert!(low.rollback);
            Target {
                meter,
                flagged_id: low.id,
                ..Default::default()
            }
        }
        ListMeterReadings => Target {
            meter: s.meter.clone(),
            ..Default::default()
        },
    }
}

type Snap = (i64, usize, i32);

/// The state a cell may change, as a dispatcher or supervisor sees it.
async fn snapshot(app: &TestApp, rpc: Rpc, t: &Target) -> Snap {
    use Rpc::*;
    match rpc {
        StartInspection => (0, inspection_count(app).await, 0),
        RecordRoomReading | FinishInspection | GetInspection | ListInspections => {
            visit_snapshot(app, &t.visit_id).await
        }
        ListColdHouseholds => (0, cold_count(app).await, 0),
        RecordMeterReading | ListMeterReadings => (0, list_readings(app, &t.meter).await.len(), 0),
        RecordMeterExchange => {
            let h = list_readings(app, &t.meter).await;
            let r = h.iter().find(|r| r.id == t.flagged_id).unwrap();
            (r.version, h.len(), r.rollback as i32)
        }
    }
}

/// After a successful call by the allowed role.
fn expected_after(rpc: Rpc, b: Snap) -> Snap {
    use Rpc::*;
    match rpc {
        StartInspection | RecordMeterReading => (0, b.1 + 1, 0),
        RecordRoomReading => (b.0 + 1, b.1 + 1, b.2),
        FinishInspection => (b.0 + 1, b.1, pb::InspectionState::Finished as i32),
        // R-MTR-1: the exchange lies between the readings: flag cleared.
        RecordMeterExchange => (b.0 + 1, b.1, 0),
        GetInspection | ListInspections | ListColdHouseholds | ListMeterReadings => b,
    }
}

/// Call `rpc` as `who` (None: no token) with a request valid for the
/// target, so only the caller's rights can make it fail. Ok(Some(problem))
/// when it succeeded but the answer is wrong.
async fn call(
    app: &TestApp,
    who: Option<Role>,
    rpc: Rpc,
    t: &Target,
    s: &Shared,
) -> Result<Option<String>, Status> {
    let ch = app.channel().await;
    let b = bearer(who.map(|r| (sub_of(r), r)));
    let mut ins = InspectionServiceClient::with_interceptor(ch.clone(), b.clone());
    let mut rd = ReadingServiceClient::with_interceptor(ch, b);
    let now = app.now();
    let problem = |ok: bool, got: String| (!ok).then_some(got);
    Ok(match rpc {
        Rpc::StartInspection => {
            let v = ins
                .start_inspection(start_req("H-START", "", now))
                .await?
                .into_inner();
            problem(
                v.inspector == "i1" && v.state == pb::InspectionState::InProgress as i32,
                format!("started {v:?}"),
            )
        }
        Rpc::RecordRoomReading => {
            let r = ins
                .record_room_reading(room_req(&t.visit_id, 20.0, now))
                .await?
                .into_inner();
            problem(r.inspection_id == t.visit_id, format!("reading {r:?}"))
        }
        Rpc::FinishInspection => {
            let v = ins
                .finish_inspection(finish_req(&t.visit_id))
                .await?
                .into_inner();
            problem(
                v.state == pb::InspectionState::Finished as i32,
                format!("finished {v:?}"),
            )
        }
        Rpc::GetInspection => {
            let v = ins
                .get_inspection(pb::GetInspectionRequest {
                    inspection_id: t.visit_id.clone(),
                })
                .await?
                .into_inner();
            problem(v.id == t.visit_id, format!("got {}", v.id))
        }
        Rpc::ListInspections => {
            let l = ins
                .list_inspections(pb::ListInspectionsRequest {
                    page_size: 500,
                    ticket_id: s.ticket.id.clone(),
                    ..Default::default()
                })
                .await?
                .into_inner()
                .inspections;
            problem(
                ids(&l).contains(&t.visit_id),
                format!("listed {:?} without {}", ids(&l), t.visit_id),
            )
        }
        Rpc::ListColdHouseholds => {
            let l = ins
                .list_cold_households(pb::ListColdHouseholdsRequest {
                    page_size: 500,
                    ..Default::default()
                })
                .await?
                .into_inner()
                .households;
            let found = l.iter().any(|h| {
                h.active
                    && h.dwelling.as_ref().map(|d| d.household_id.as_str())
                        == Some(s.cold_household.as_str())
            });
            problem(
                found,
                format!("{} not listed active: {l:?}", s.cold_household),
            )
        }
        Rpc::RecordMeterReading => {
            let r = rd
                .record_meter_reading(reading_req(&t.meter, 5.0, now - mins(10)))
                .await?
                .into_inner();
            problem(r.inspector == "i1" && !r.rollback, format!("reading {r:?}"))
        }
        Rpc::RecordMeterExchange => {
            let x = rd
                .record_meter_exchange(exchange_req(&t.meter, t0() - mins(120), true, true))
                .await?
                .into_inner();
            problem(x.inspector == "i1" && !x.flagged, format!("exchange {x:?}"))
        }
        Rpc::ListMeterReadings => {
            let l = rd
                .list_meter_readings(pb::ListMeterReadingsRequest {
                    meter_id: t.meter.clone(),
                    page_size: 50,
                    page_token: String::new(),
                })
                .await?
                .into_inner()
                .readings;
            problem(
                l.contains(&s.reading),
                format!("listed {l:?} without {:?}", s.reading),
            )
        }
    })
}

/// One cell: the allowed role succeeds with the expected effect; another
/// role gets PERMISSION_DENIED ROLE_NOT_ALLOWED, no token UNAUTHENTICATED,
/// and neither changes anything.
async fn matrix_cell(
    app: &TestApp,
    s: &Shared,
    rpc: Rpc,
    who: Option<Role>,
    n: usize,
) -> Result<(), String> {
    let what = format!(
        "{rpc:?} as {}",
        who.map_or("no token".to_string(), |r| r.to_string())
    );
    let t = prepare(app, s, rpc, n).await;
    let before = snapshot(app, rpc, &t).await;
    let res = call(app, who, rpc, &t, s).await;
    let allowed = who.is_some_and(|r| rpc.allowed().contains(&r));
    match who {
        None => check(
            res,
            Code::Unauthenticated,
            reason::UNAUTHENTICATED,
            None,
            &what,
        )?,
        Some(_) if allowed => match res {
            Ok(None) => {}
            Ok(Some(p)) => return Err(format!("{what}: OK but {p}")),
            Err(e) => return Err(format!("{what}: expected OK, got {e:?}")),
        },
        Some(_) => check(
            res,
            Code::PermissionDenied,
            reason::ROLE_NOT_ALLOWED,
            None,
            &what,
        )?,
    }
    let after = snapshot(app, rpc, &t).await;
    let expected = if allowed {
        expected_after(rpc, before)
    } else {
        before
    };
    if after != expected {
        return Err(format!(
            "{what}: state {before:?} -> {after:?}, expected {expected:?}"
        ));
    }
    Ok(())
}

// Section 1: every InspectionService and ReadingService RPC x every role and
// no token. Mutations (R-TMP visits, R-MTR-1/2) are the inspector's only;
// visits are read by dispatch, supervisors, back office, the inspector who
// ran them and the crew holding their ticket, never by admin; the
// cold-household archive (R-TMP-10) by supervisors, dispatch and back
// office; meter readings by inspectors, dispatch, supervisors, back office.
#[tokio::test]
async fn role_matrix_of_inspection_and_reading_services() {
    let app = app_at_t0().await;
    let shared = shared_fixtures(&app).await;
    let callers: Vec<Option<Role>> = std::iter::once(None)
        .chain(Role::ALL.into_iter().map(Some))
        .collect();
    let mut failures = Vec::new();
    let mut n = 0;
    for rpc in Rpc::ALL {
        for who in &callers {
            n += 1;
            if let Err(e) = matrix_cell(&app, &shared, rpc, *who, n).await {
                failures.push(e);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cells failed:\n{}",
        failures.len(),
        Rpc::ALL.len() * callers.len(),
        failures.join("\n")
    );
    app.stop().await;
}

// Who reads which visit: an inspector only his own (GetInspection of
// another's answers like an unknown id, NOT_FOUND INSPECTION_NOT_FOUND: no
// existence oracle; ListInspections shows only his own); crew only the
// visits of a ticket he holds (ListInspections needs that ticket_id); admin
// none (a role that reads no visit at all: PERMISSION_DENIED); dispatch all.
#[tokio::test]
async fn visit_readers_are_scoped_to_their_visits() {
    let app = app_at_t0().await;
    let t1 = held_ticket(&app, "c1").await;
    let t2 = held_ticket(&app, "c2").await;
    let v1 = start_visit(&app, "i1", "H-1", &t1.id).await.id;
    let v2 = start_visit(&app, "i2", "H-2", "").await.id;
    let v3 = start_visit(&app, "i1", "H-3", &t2.id).await.id;
    let v4 = start_visit(&app, "i2", "H-4", &t1.id).await.id;

    let mut failures = Vec::new();
    let gets: Vec<(&str, Role, &str, bool)> = vec![
        ("i1", Role::Inspector, v1.as_str(), true),
        ("i1", Role::Inspector, v3.as_str(), true),
        ("i1", Role::Inspector, v2.as_str(), false),
        ("i1", Role::Inspector, v4.as_str(), false),
        ("i2", Role::Inspector, v2.as_str(), true),
        ("i2", Role::Inspector, v4.as_str(), true),
        ("i2", Role::Inspector, v1.as_str(), false),
        ("i2", Role::Inspector, v3.as_str(), false),
        ("c1", Role::Crew, v1.as_str(), true),
        ("c1", Role::Crew, v4.as_str(), true),
        ("c1", Role::Crew, v3.as_str(), false),
        ("c1", Role::Crew, v2.as_str(), false),
        ("c2", Role::Crew, v3.as_str(), true),
        ("c2", Role::Crew, v1.as_str(), false),
        ("c2", Role::Crew, v2.as_str(), false),
        ("c3", Role::Crew, v1.as_str(), false),
        ("a1", Role::Admin, v1.as_str(), false),
        ("a1", Role::Admin, v2.as_str(), false),
    ];
    for (sub, role, visit, ok) in gets {
        let mut c = inspections_as(&app, sub, role).await;
        let res = c
            .get_inspection(pb::GetInspectionRequest {
                inspection_id: visit.into(),
            })
            .await;
        let what = format!("GetInspection {visit} as {role} {sub}");
        match (ok, res) {
            (true, Ok(v)) if v.get_ref().id == visit => {}
            (true, r) => failures.push(format!("{what}: expected the visit, got {r:?}")),
            (false, r) => {
                let (code, reason) = if role == Role::Admin {
                    (Code::PermissionDenied, reason::ROLE_NOT_ALLOWED)
                } else {
                    (Code::NotFound, INSPECTION_NOT_FOUND)
                };
                if let Err(e) = check(r, code, reason, None, &what) {
                    failures.push(e);
                }
            }
        }
    }
    // The same as for an id that does not exist.
    let mut i1 = inspections_as(&app, "i1", Role::Inspector).await;
    let unknown = i1
        .get_inspection(pb::GetInspectionRequest {
            inspection_id: uuid::Uuid::now_v7().to_string(),
        })
        .await;
    if let Err(e) = check(
        unknown,
        Code::NotFound,
        INSPECTION_NOT_FOUND,
        None,
        "unknown id",
    ) {
        failures.push(e);
    }

    let set = |v: &[&String]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    let all = set(&[&v1, &v2, &v3, &v4]);
    // (sub, role, ticket filter, inspector filter, expected ids or None = denied)
    type Case<'a> = (&'a str, Role, &'a str, &'a str, Option<BTreeSet<String>>);
    let lists: Vec<Case> = vec![
        ("i1", Role::Inspector, "", "", Some(set(&[&v1, &v3]))),
        ("i2", Role::Inspector, "", "", Some(set(&[&v2, &v4]))),
        ("i1", Role::Inspector, t1.id.as_str(), "", Some(set(&[&v1]))),
        ("i2", Role::Inspector, t1.id.as_str(), "", Some(set(&[&v4]))),
        ("c1", Role::Crew, t1.id.as_str(), "", Some(set(&[&v1, &v4]))),
        ("c2", Role::Crew, t2.id.as_str(), "", Some(set(&[&v3]))),
        ("c1", Role::Crew, t2.id.as_str(), "", None),
        ("c1", Role::Crew, "", "", None),
        ("c3", Role::Crew, t1.id.as_str(), "", None),
        ("a1", Role::Admin, "", "", None),
        ("a1", Role::Admin, t1.id.as_str(), "", None),
        ("d1", Role::Dispatcher, "", "", Some(all.clone())),
        ("s1", Role::Supervisor, "", "", Some(all.clone())),
        ("b1", Role::Backoffice, "", "", Some(all.clone())),
        (
            "d1",
            Role::Dispatcher,
            t1.id.as_str(),
            "",
            Some(set(&[&v1, &v4])),
        ),
    ];
    for (sub, role, ticket, insp, want) in lists {
        let mut c = inspections_as(&app, sub, role).await;
        let res = c
            .list_inspections(pb::ListInspectionsRequest {
                page_size: 500,
                ticket_id: ticket.into(),
                inspector: insp.into(),
                ..Default::default()
            })
            .await;
        let what = format!("ListInspections ticket_id={ticket:?} as {role} {sub}");
        match (want, res) {
            (Some(w), Ok(r)) => {
                let got = ids(&r.into_inner().inspections);
                if got != w {
                    failures.push(format!("{what}: listed {got:?}, expected {w:?}"));
                }
            }
            (Some(_), Err(s)) => failures.push(format!("{what}: expected a list, got {s:?}")),
            (None, r) => {
                if let Err(e) = check_code(r, Code::PermissionDenied, &what) {
                    failures.push(e);
                }
            }
        }
    }
    // An inspector asking for another inspector's visits sees none of them.
    let mut i2 = inspections_as(&app, "i2", Role::Inspector).await;
    match i2
        .list_inspections(pb::ListInspectionsRequest {
            page_size: 500,
            inspector: "i1".into(),
            ..Default::default()
        })
        .await
    {
        Err(s) if s.code() == Code::PermissionDenied => {}
        Ok(r) => {
            let got = ids(&r.into_inner().inspections);
            if got.contains(&v1) || got.contains(&v3) {
                failures.push(format!("ListInspections inspector=i1 as i2 shows {got:?}"));
            }
        }
        Err(s) => failures.push(format!("ListInspections inspector=i1 as i2: {s:?}")),
    }
    finish_failures(failures);
    app.stop().await;
}

// Only the inspector who runs a visit records in it or signs it off: to
// another inspector the visit answers exactly like one that does not exist
// (NOT_FOUND INSPECTION_NOT_FOUND, as for a random
// id: no existence oracle), and nothing is stored; the owner still can
// afterwards.
#[tokio::test]
async fn another_inspector_cannot_record_into_or_finish_a_visit() {
    let app = app_at_t0().await;
    let t = held_ticket(&app, "c1").await;
    let v = start_visit(&app, "i1", "H-OWN", &t.id).await;
    let mut i1 = inspections_as(&app, "i1", Role::Inspector).await;
    i1.record_room_reading(room_req(&v.id, 19.0, app.now()))
        .await
        .unwrap();
    let before = visit_snapshot(&app, &v.id).await;
    assert_eq!(before.1, 1);
    let ticket_events = events(&app, &t.id).await.len();

    let mut i2 = inspections_as(&app, "i2", Role::Inspector).await;
    let mut failures = Vec::new();
    let random = uuid::Uuid::new_v4().to_string();
    for (id, whose) in [(&v.id, "i1's visit"), (&random, "a random id")] {
        let res = i2.record_room_reading(room_req(id, 25.0, app.now())).await;
        if let Err(e) = check(
            res,
            Code::NotFound,
            INSPECTION_NOT_FOUND,
            None,
            &format!("RecordRoomReading by i2 into {whose}"),
        ) {
            failures.push(e);
        }
        for expected_version in [0, before.0] {
            let res = i2
                .finish_inspection(pb::FinishInspectionRequest {
                    expected_version,
                    ..finish_req(id)
                })
                .await;
            if let Err(e) = check(
                res,
                Code::NotFound,
                INSPECTION_NOT_FOUND,
                None,
                &format!("FinishInspection by i2 of {whose} (expected_version {expected_version})"),
            ) {
                failures.push(e);
            }
        }
    }
    let after = visit_snapshot(&app, &v.id).await;
    if after != before {
        failures.push(format!(
            "i2's refused calls changed the visit: {before:?} -> {after:?}"
        ));
    }
    let n = events(&app, &t.id).await.len();
    if n != ticket_events {
        failures.push(format!(
            "i2's refused finish touched the ticket: {ticket_events} -> {n} events"
        ));
    }
    finish_failures(failures);

    // The owner still records and finishes.
    i1.record_room_reading(room_req(&v.id, 20.0, app.now()))
        .await
        .expect("i1 records");
    let done = i1
        .finish_inspection(finish_req(&v.id))
        .await
        .expect("i1 finishes")
        .into_inner();
    assert_eq!(done.state, pb::InspectionState::Finished as i32);
    assert_eq!(done.readings.len(), 2);
    app.stop().await;
}

/// Send one step of a meter's history.
async fn send(c: &mut Readings, meter: &str, step: Step) -> Result<(), Status> {
    match step {
        Step::Read(v, m) => c
            .record_meter_reading(reading_req(meter, v, t0() - mins(m)))
            .await
            .map(drop),
        Step::Exchange(m) => c
            .record_meter_exchange(exchange_req(meter, t0() - mins(m), true, true))
            .await
            .map(drop),
    }
}

const ROUNDS: usize = 20;

// R-MTR-1 under concurrency: two handhelds syncing the same meter at the
// same moment must end flagged the same as in order. Each round releases two
// requests on separate connections together (a barrier): (a) 100.0 and the
// later 99.5 -> 99.5 is a rollback; (b) after 100.0, an exchange and the
// later 3.0 -> 3.0 is not a rollback. The flags are recomputed from what each
// transaction sees, so unserialised transactions (PostgreSQL) can miss each
// other's rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn r_mtr_1_concurrent_arrivals_end_flagged_as_in_order() {
    use Step::*;
    let app = app_at_t0().await;
    let mut i1 = inspector(&app, "i1").await;
    let mut failures = Vec::new();
    for n in 0..ROUNDS {
        let cases = [
            (
                format!("M-RACE-R-{n}"),
                [Read(100.0, 180), Read(99.5, 120)],
                vec![(100.0, false), (99.5, true)],
            ),
            (
                format!("M-RACE-X-{n}"),
                [Exchange(150), Read(3.0, 120)],
                vec![(100.0, false), (3.0, false)],
            ),
        ];
        read(&mut i1, &cases[1].0, 100.0, t0() - mins(180)).await;
        for (meter, steps, expected) in cases {
            let barrier = Arc::new(Barrier::new(steps.len()));
            let mut tasks = Vec::new();
            for step in steps {
                let mut c = inspector(&app, "i1").await;
                let (barrier, meter) = (barrier.clone(), meter.clone());
                tasks.push(tokio::spawn(async move {
                    barrier.wait().await;
                    send(&mut c, &meter, step).await
                }));
            }
            for t in tasks {
                if let Err(s) = t.await.unwrap() {
                    failures.push(format!("{meter}: a racing request failed: {s:?}"));
                }
            }
            let got = flags(&app, &meter).await;
            if got != expected {
                failures.push(format!("{meter}: {got:?}, expected {expected:?}"));
            }
        }
    }
    finish_failures(failures);
    app.stop().await;
}

/// R-MTR-1: a meter reads in one unit. Once M-U has a reading in m³, a
/// reading or an exchange in GJ is refused and stores nothing; the same
/// unit goes on; another meter may read in GJ; a meter first seen in an
/// exchange takes the exchange's unit.
#[tokio::test]
async fn r_mtr_1_a_meter_reads_in_one_unit() {
    let app = app_at_t0().await;
    let mut i1 = inspector(&app, "i1").await;
    let gj = |r: pb::RecordMeterReadingRequest| pb::RecordMeterReadingRequest {
        unit: pb::MeterUnit::Gigajoule as i32,
        ..r
    };
    read(&mut i1, "M-U", 100.0, t0() - mins(60)).await;
    let e = i1
        .record_meter_reading(gj(reading_req("M-U", 101.0, t0() - mins(30))))
        .await
        .unwrap_err();
    assert_status(&e, Code::FailedPrecondition, "METER_UNIT_MISMATCH", None);
    assert!(
        e.message().contains("METER_UNIT_CUBIC_METRE")
            && e.message().contains("METER_UNIT_GIGAJOULE"),
        "{}",
        e.message()
    );
    let e = i1
        .record_meter_exchange(pb::RecordMeterExchangeRequest {
            unit: pb::MeterUnit::Gigajoule as i32,
            ..exchange_req("M-U", t0() - mins(20), true, true)
        })
        .await
        .unwrap_err();
    assert_status(&e, Code::FailedPrecondition, "METER_UNIT_MISMATCH", None);
    assert_eq!(list_readings(&app, "M-U").await.len(), 1, "nothing stored");
    read(&mut i1, "M-U", 102.0, t0() - mins(10)).await;
    i1.record_meter_reading(gj(reading_req("M-H", 5.0, t0() - mins(5))))
        .await
        .unwrap();
    exchange(&mut i1, "M-X", t0() - mins(50)).await;
    let e = i1
        .record_meter_reading(gj(reading_req("M-X", 1.0, t0() - mins(40))))
        .await
        .unwrap_err();
    assert_status(&e, Code::FailedPrecondition, "METER_UNIT_MISMATCH", None);
}
