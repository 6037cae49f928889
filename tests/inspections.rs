//! The temperature-measurement protocol over gRPC (DOMAIN.md section 4):
//! every rule boundary on both sides (R-TMP-1..6, R-TMP-12), the visit
//! verdicts (R-TMP-7..9), objections and their re-measurement tickets, the
//! visit on its ticket's audit trail, malformed input, the cold-household
//! archive (R-TMP-10), a handheld live and offline, and client-chosen ids.
//!
//! The policy time zone is Asia/Shanghai (UTC+8, no DST): 08:00 local is
//! 00:00 UTC and 21:00 local is 13:00 UTC. The server runs on a manual clock.
mod common;

use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use common::*;
use fieldops::domain::Role;
use fieldops::grpc::pb;
use fieldops::grpc::pb::inspection_service_client::InspectionServiceClient;
use pb::{
    Exemption as Ex, ReadingVerdict as RV, ResidentOutcome as Outcome, RoomType as Room,
    VisitVerdict as VV,
};
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

type Inspections = InspectionServiceClient<InterceptedService<Channel, Bearer>>;

async fn inspections_for(app: &TestApp, sub: &str, roles: &[Role], unit: &str) -> Inspections {
    let auth = format!("Bearer {}", token(sub, roles, unit));
    InspectionServiceClient::with_interceptor(
        app.channel().await,
        Bearer(Some(auth.parse().unwrap())),
    )
}

/// The inspector running every visit here.
async fn inspector(app: &TestApp) -> Inspections {
    inspections_for(app, "i1", &[Role::Inspector], "north").await
}

async fn supervisor_inspections(app: &TestApp) -> Inspections {
    inspections_for(app, "s1", &[Role::Supervisor], "hq").await
}

/// A local (Asia/Shanghai) wall-clock time as a UTC instant.
fn local(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Shanghai
        .with_ymd_and_hms(y, mo, d, h, mi, s)
        .unwrap()
        .with_timezone(&Utc)
}

/// Local time on the test day, 2026-12-10 (heating season).
fn at(h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    local(2026, 12, 10, h, mi, s)
}

/// A visit entered at `entered_at`: doors closed, outdoor −5 °C, no
/// exemption, thermometer calibrated until mid-2027.
fn visit_req(household: &str, entered_at: DateTime<Utc>) -> pb::StartInspectionRequest {
    pb::StartInspectionRequest {
        request_id: rid(),
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
        device_id: "handheld-7".into(),
        ..Default::default()
    }
}

/// A reading at the centre of the room, 1.5 m above the floor.
fn reading_req(
    inspection_id: &str,
    room_name: &str,
    room_type: Room,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    temperature_c: f64,
) -> pb::RecordRoomReadingRequest {
    pb::RecordRoomReadingRequest {
        request_id: rid(),
        inspection_id: inspection_id.into(),
        room_name: room_name.into(),
        room_type: room_type as i32,
        open_to_balcony: false,
        started_at: Some(ts(start)),
        ended_at: Some(ts(end)),
        temperature_c,
        height_m: 1.5,
        at_room_centre: true,
        device_id: "handheld-7".into(),
        ..Default::default()
    }
}

fn finish_req(
    inspection_id: &str,
    outcome: Outcome,
    objection: &str,
) -> pb::FinishInspectionRequest {
    pb::FinishInspectionRequest {
        request_id: rid(),
        inspection_id: inspection_id.into(),
        inspector_signature: "王五".into(),
        resident_outcome: outcome as i32,
        objection: objection.into(),
        device_id: "handheld-7".into(),
        expected_version: 0,
    }
}

async fn start_visit(c: &mut Inspections, req: pb::StartInspectionRequest) -> pb::Inspection {
    c.start_inspection(req).await.unwrap().into_inner()
}

async fn record_reading(c: &mut Inspections, req: pb::RecordRoomReadingRequest) -> pb::RoomReading {
    c.record_room_reading(req).await.unwrap().into_inner()
}

async fn finish_visit(c: &mut Inspections, req: pb::FinishInspectionRequest) -> pb::Inspection {
    c.finish_inspection(req).await.unwrap().into_inner()
}

async fn get_visit(c: &mut Inspections, id: &str) -> pb::Inspection {
    c.get_inspection(pb::GetInspectionRequest {
        inspection_id: id.into(),
    })
    .await
    .unwrap()
    .into_inner()
}

fn violations(r: &pb::RoomReading) -> Vec<(&str, &str)> {
    r.violations
        .iter()
        .map(|v| (v.rule.as_str(), v.reason.as_str()))
        .collect()
}

fn exemptions(e: &[Ex]) -> Vec<i32> {
    e.iter().map(|e| *e as i32).collect()
}

async fn cold_households(
    app: &TestApp,
    due_only: bool,
    include_resolved: bool,
) -> Vec<pb::ColdHousehold> {
    let mut s = supervisor_inspections(app).await;
    s.list_cold_households(pb::ListColdHouseholdsRequest {
        page_size: 100,
        due_only,
        include_resolved,
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .households
}

fn find_household<'a>(
    list: &'a [pb::ColdHousehold],
    household: &str,
) -> Option<&'a pb::ColdHousehold> {
    list.iter().find(|h| {
        h.dwelling
            .as_ref()
            .is_some_and(|d| d.household_id == household)
    })
}

// ---------------------------------------------------------------------------
// Table-driven reading cases.

/// One reading and what the server must say about it.
struct ReadingCase {
    label: String,
    room_type: Room,
    open_to_balcony: bool,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    temp: f64,
    height: f64,
    centre: bool,
    verdict: RV,
    required_c: f64,
    violations: Vec<(&'static str, &'static str)>,
}

/// A correct bedroom reading at 10:20..10:30 local, 20 °C: COMPLIANT at 18 °C.
fn ok(label: &str) -> ReadingCase {
    ReadingCase {
        label: label.into(),
        room_type: Room::Bedroom,
        open_to_balcony: false,
        start: at(10, 20, 0),
        end: at(10, 30, 0),
        temp: 20.0,
        height: 1.5,
        centre: true,
        verdict: RV::Compliant,
        required_c: 18.0,
        violations: vec![],
    }
}

/// The same reading, INVALID with these (rule, reason) pairs, in rule order.
fn invalid(label: &str, v: Vec<(&'static str, &'static str)>) -> ReadingCase {
    ReadingCase {
        verdict: RV::Invalid,
        violations: v,
        ..ok(label)
    }
}

/// A correctly taken reading of `temp` °C in a room: judged by R-TMP-1 only.
fn temp(
    label: String,
    room_type: Room,
    open_to_balcony: bool,
    temp: f64,
    verdict: RV,
    required_c: f64,
) -> ReadingCase {
    ReadingCase {
        room_type,
        open_to_balcony,
        temp,
        verdict,
        required_c,
        ..ok(&label)
    }
}

impl ReadingCase {
    fn request(&self, inspection_id: &str) -> pb::RecordRoomReadingRequest {
        pb::RecordRoomReadingRequest {
            open_to_balcony: self.open_to_balcony,
            height_m: self.height,
            at_room_centre: self.centre,
            ..reading_req(
                inspection_id,
                &self.label,
                self.room_type,
                self.start,
                self.end,
                self.temp,
            )
        }
    }

    fn check(&self, r: &pb::RoomReading, visit: &str) {
        let l = format!("{visit} / {}", self.label);
        assert_eq!(r.verdict, self.verdict as i32, "{l}: {r:#?}");
        assert_eq!(r.required_c, self.required_c, "{l}: required_c");
        assert_eq!(violations(r), self.violations, "{l}: violations");
        assert!(
            r.violations.iter().all(|v| !v.message.is_empty()),
            "{l}: every violation explains itself: {r:#?}"
        );
        assert_eq!(r.room_name, self.label, "{l}");
        assert_eq!(r.room_type, self.room_type as i32, "{l}");
        assert_eq!(r.open_to_balcony, self.open_to_balcony, "{l}");
        assert_eq!(r.temperature_c, self.temp, "{l}");
        assert_eq!(r.height_m, self.height, "{l}");
        assert_eq!(r.at_room_centre, self.centre, "{l}");
        assert_eq!(time(&r.started_at), self.start, "{l}");
        assert_eq!(time(&r.ended_at), self.end, "{l}");
    }
}

/// One visit's facts and the readings taken in it.
struct VisitCase {
    label: &'static str,
    entered: DateTime<Utc>,
    doors_closed: bool,
    calibration_due: &'static str,
    readings: Vec<ReadingCase>,
    /// The provisional verdict once all readings are in.
    provisional: VV,
}

fn visit_case(label: &'static str, readings: Vec<ReadingCase>, provisional: VV) -> VisitCase {
    VisitCase {
        label,
        entered: at(10, 0, 0),
        doors_closed: true,
        calibration_due: "2027-06-30",
        readings,
        provisional,
    }
}

/// Start the visit, send every reading and check each response; then check
/// that GetInspection holds every reading (INVALID ones too), judged the same.
async fn run_visit(c: &mut Inspections, household: &str, v: &VisitCase) -> pb::Inspection {
    let mut req = visit_req(household, v.entered);
    req.doors_windows_closed = v.doors_closed;
    req.calibration_due = v.calibration_due.into();
    let visit = start_visit(c, req).await;
    assert_eq!(visit.state, pb::InspectionState::InProgress as i32);
    assert_eq!(visit.calibration_due, v.calibration_due);
    assert_eq!(visit.doors_windows_closed, v.doors_closed);
    let mut ids = Vec::new();
    for r in &v.readings {
        // A protocol breach is not an RPC error.
        let got = c
            .record_room_reading(r.request(&visit.id))
            .await
            .unwrap_or_else(|s| panic!("{} / {}: {s:?}", v.label, r.label))
            .into_inner();
        r.check(&got, v.label);
        assert_eq!(got.inspection_id, visit.id);
        ids.push(got.id);
    }
    let stored = get_visit(c, &visit.id).await;
    assert_eq!(stored.readings.len(), v.readings.len(), "{}", v.label);
    for (id, r) in ids.iter().zip(&v.readings) {
        let s = stored
            .readings
            .iter()
            .find(|s| &s.id == id)
            .unwrap_or_else(|| panic!("{} / {}: reading not stored", v.label, r.label));
        r.check(s, v.label);
    }
    assert_eq!(
        stored.verdict, v.provisional as i32,
        "{}: provisional verdict: {}",
        v.label, stored.verdict_explanation
    );
    stored
}

const R2: (&str, &str) = ("R-TMP-2", "OUTSIDE_MEASUREMENT_WINDOW");
const R3: (&str, &str) = ("R-TMP-3", "DOORS_WINDOWS_OPEN");
const R4: (&str, &str) = ("R-TMP-4", "SETTLE_TIME_TOO_SHORT");
const R5: (&str, &str) = ("R-TMP-5", "MEASUREMENT_TOO_SHORT");
const R6_CENTRE: (&str, &str) = ("R-TMP-6", "NOT_AT_ROOM_CENTRE");
const R6_HEIGHT: (&str, &str) = ("R-TMP-6", "WRONG_HEIGHT");
const R12: (&str, &str) = ("R-TMP-12", "INSTRUMENT_UNCALIBRATED");

/// R-TMP-2, R-TMP-3, R-TMP-4, R-TMP-5, R-TMP-6, R-TMP-12 (and R-TMP-9 for
/// the room verdict): each boundary on both sides, over gRPC. A breach gives
/// an INVALID reading that is stored with its rule ids, never an RPC error.
#[tokio::test]
async fn r_tmp_2_3_4_5_6_12_protocol_boundaries_on_both_sides() {
    let app = spawn_app().await;
    // 22:00 local on the test day: every reading lies in the (recent) past.
    app.clock.set(at(22, 0, 0));
    // 08:00 Shanghai is midnight UTC.
    assert_eq!(
        at(8, 0, 0),
        Utc.with_ymd_and_hms(2026, 12, 10, 0, 0, 0).unwrap()
    );
    let mut c = inspector(&app).await;

    let cases = [
        visit_case(
            "entered 10:00 local",
            vec![
                // R-TMP-4: 15 min after entering, not 14:59.
                ReadingCase {
                    start: at(10, 15, 0),
                    end: at(10, 25, 0),
                    ..ok("R-TMP-4 settle 15:00")
                },
                ReadingCase {
                    start: at(10, 14, 59),
                    end: at(10, 24, 59),
                    ..invalid("R-TMP-4 settle 14:59", vec![R4])
                },
                // R-TMP-5: 10 min, not 9:59.
                ReadingCase {
                    start: at(10, 20, 0),
                    end: at(10, 30, 0),
                    ..ok("R-TMP-5 duration 10:00")
                },
                ReadingCase {
                    start: at(10, 20, 0),
                    end: at(10, 29, 59),
                    ..invalid("R-TMP-5 duration 9:59", vec![R5])
                },
                // R-TMP-2: ends at 21:00 local (13:00 UTC), not 21:01.
                ReadingCase {
                    start: at(20, 50, 0),
                    end: at(21, 0, 0),
                    ..ok("R-TMP-2 ends 21:00")
                },
                ReadingCase {
                    start: at(20, 51, 0),
                    end: at(21, 1, 0),
                    ..invalid("R-TMP-2 ends 21:01", vec![R2])
                },
                // R-TMP-6: 1.5 m ± 0.1 m, boundaries inclusive.
                ReadingCase {
                    height: 1.39,
                    ..invalid("R-TMP-6 height 1.39", vec![R6_HEIGHT])
                },
                ReadingCase {
                    height: 1.4,
                    ..ok("R-TMP-6 height 1.4")
                },
                ReadingCase {
                    height: 1.6,
                    ..ok("R-TMP-6 height 1.6")
                },
                ReadingCase {
                    height: 1.61,
                    ..invalid("R-TMP-6 height 1.61", vec![R6_HEIGHT])
                },
                // R-TMP-6: at the centre of the room.
                ReadingCase {
                    centre: false,
                    ..invalid("R-TMP-6 not at centre", vec![R6_CENTRE])
                },
                ReadingCase {
                    centre: false,
                    height: 1.0,
                    ..invalid("R-TMP-6 off centre and too low", vec![R6_CENTRE, R6_HEIGHT])
                },
                // An INVALID reading still names its R-TMP-1 threshold, and a
                // cold INVALID reading is INVALID, not NON_COMPLIANT.
                ReadingCase {
                    room_type: Room::Kitchen,
                    temp: 10.0,
                    required_c: 16.0,
                    height: 1.2,
                    ..invalid("R-TMP-6 cold kitchen too low", vec![R6_HEIGHT])
                },
            ],
            VV::Compliant,
        ),
        // R-TMP-2 at the start of the window, on a visit across midnight
        // UTC: entered 07:40 local = 23:40 UTC the day before.
        VisitCase {
            entered: at(7, 40, 0),
            ..visit_case(
                "entered 07:40 local (23:40 UTC the day before)",
                vec![
                    ReadingCase {
                        start: at(7, 59, 0),
                        end: at(8, 9, 0),
                        ..invalid("R-TMP-2 starts 07:59", vec![R2])
                    },
                    ReadingCase {
                        start: at(7, 59, 59),
                        end: at(8, 9, 59),
                        ..invalid("R-TMP-2 starts 07:59:59", vec![R2])
                    },
                    ReadingCase {
                        start: at(8, 0, 0),
                        end: at(8, 10, 0),
                        ..ok("R-TMP-2 starts 08:00 (00:00 UTC)")
                    },
                ],
                VV::Compliant,
            )
        },
        // R-TMP-3: doors and windows not attested closed: every reading INVALID.
        VisitCase {
            doors_closed: false,
            ..visit_case(
                "doors and windows open",
                vec![
                    invalid("R-TMP-3 bedroom", vec![R3]),
                    ReadingCase {
                        room_type: Room::Kitchen,
                        temp: 12.0,
                        required_c: 16.0,
                        ..invalid("R-TMP-3 cold kitchen", vec![R3])
                    },
                ],
                VV::Inconclusive,
            )
        },
        // R-TMP-12: calibration due yesterday is past due. The visit began
        // on 2026-12-09 in UTC (07:40 local = 23:40 UTC); the reading's
        // local date, 2026-12-10, is what counts.
        VisitCase {
            entered: at(7, 40, 0),
            calibration_due: "2026-12-09",
            ..visit_case(
                "calibration due yesterday",
                vec![
                    ReadingCase {
                        start: at(8, 0, 0),
                        end: at(8, 10, 0),
                        ..invalid("R-TMP-12 due yesterday, 08:00 local", vec![R12])
                    },
                    invalid("R-TMP-12 due yesterday", vec![R12]),
                ],
                VV::Inconclusive,
            )
        },
        // R-TMP-12: due today is still fine (the due date is inclusive).
        VisitCase {
            entered: at(7, 40, 0),
            calibration_due: "2026-12-10",
            ..visit_case(
                "calibration due today",
                vec![
                    ReadingCase {
                        start: at(8, 0, 0),
                        end: at(8, 10, 0),
                        ..ok("R-TMP-12 due today, 08:00 local")
                    },
                    ReadingCase {
                        start: at(20, 50, 0),
                        end: at(21, 0, 0),
                        ..ok("R-TMP-12 due today, 20:50 local")
                    },
                ],
                VV::Compliant,
            )
        },
        // Every rule broken at once: all listed, in rule order.
        VisitCase {
            entered: at(7, 50, 0),
            doors_closed: false,
            calibration_due: "2026-12-09",
            ..visit_case(
                "everything wrong",
                vec![ReadingCase {
                    start: at(7, 55, 0),
                    end: at(8, 0, 0),
                    temp: 25.0,
                    height: 1.0,
                    centre: false,
                    ..invalid(
                        "all rules broken",
                        vec![R2, R3, R4, R5, R6_CENTRE, R6_HEIGHT, R12],
                    )
                }],
                VV::Inconclusive,
            )
        },
    ];
    for (i, v) in cases.iter().enumerate() {
        run_visit(&mut c, &format!("HH-B{i}"), v).await;
    }
}

/// R-TMP-1: thresholds per room type, each on both sides (hundredths of a
/// degree), including rooms open to a balcony (judged at 16 °C).
#[tokio::test]
async fn r_tmp_1_thresholds_per_room_type_on_both_sides() {
    let app = spawn_app().await;
    app.clock.set(at(12, 0, 0));
    let mut c = inspector(&app).await;
    // (room, open to a balcony, R-TMP-1 threshold). Open to a balcony, a
    // bedroom or living room is judged at 16 °C (policy value); the flag
    // changes nothing for a room already judged at 16 °C.
    let rooms = [
        (Room::Bedroom, false, 18.0),
        (Room::LivingRoom, false, 18.0),
        (Room::Kitchen, false, 16.0),
        (Room::Hall, false, 16.0),
        (Room::Bathroom, false, 16.0),
        (Room::BalconyHeated, false, 16.0),
        (Room::Bedroom, true, 16.0),
        (Room::LivingRoom, true, 16.0),
        (Room::Kitchen, true, 16.0),
    ];
    let mut readings = Vec::new();
    for (room, open, required) in rooms {
        // Below by a tenth, by a hundredth, exactly at, above.
        for (t, verdict) in [
            (required - 0.1, RV::NonCompliant),
            (required - 0.01, RV::NonCompliant),
            (required, RV::Compliant),
            (required + 1.5, RV::Compliant),
        ] {
            let label = format!("{} open={open} {t:.2}", room.as_str_name());
            readings.push(temp(label, room, open, t, verdict, required));
        }
    }
    // The literal figures.
    for (label, room, open, t, required) in [
        ("bedroom 17.9", Room::Bedroom, false, 17.9, 18.0),
        ("kitchen 15.9", Room::Kitchen, false, 15.9, 16.0),
        (
            "bedroom open to a balcony 15.9",
            Room::Bedroom,
            true,
            15.9,
            16.0,
        ),
    ] {
        readings.push(temp(
            label.into(),
            room,
            open,
            t,
            RV::NonCompliant,
            required,
        ));
    }
    let v = visit_case("R-TMP-1 thresholds", readings, VV::NonCompliant);
    run_visit(&mut c, "HH-T1", &v).await;
}

/// R-TMP-7, R-TMP-8, R-TMP-9: the visit verdict. Each observed exemption,
/// the outdoor-temperature boundary (−11.0 / −11.1), a refusal to sign, no
/// valid reading, one cold room, all warm.
#[tokio::test]
async fn r_tmp_7_8_9_visit_verdicts() {
    struct Case {
        label: &'static str,
        observed: Vec<Ex>,
        outdoor: Option<f64>,
        /// Bedroom readings: (temperature, correctly taken).
        rooms: Vec<(f64, bool)>,
        outcome: Outcome,
        provisional: VV,
        verdict: VV,
        exemptions: Vec<Ex>,
    }
    let case = |label, rooms: Vec<(f64, bool)>, outcome, verdict| Case {
        label,
        observed: vec![],
        outdoor: Some(-5.0),
        rooms,
        outcome,
        provisional: verdict,
        verdict,
        exemptions: vec![],
    };
    let cold = vec![(15.0, true)];
    let exempt = |label, e: Ex| Case {
        observed: vec![e],
        exemptions: vec![e],
        ..case(label, vec![(15.0, true)], Outcome::Signed, VV::Exempt)
    };
    let cases = vec![
        // R-TMP-8: each observed exemption, even over a cold room.
        exempt("R-TMP-8 STRUCTURE_ALTERED", Ex::StructureAltered),
        exempt("R-TMP-8 UNSUITABLE_DECORATION", Ex::UnsuitableDecoration),
        exempt("R-TMP-8 SUPPLY_CUT_OR_DISASTER", Ex::SupplyCutOrDisaster),
        exempt(
            "R-TMP-8 MAINTENANCE_OR_TRIAL_RUN",
            Ex::MaintenanceOrTrialRun,
        ),
        // R-TMP-8: strictly below −11 °C.
        Case {
            outdoor: Some(-11.0),
            ..case(
                "R-TMP-8 outdoor -11.0",
                cold.clone(),
                Outcome::Signed,
                VV::NonCompliant,
            )
        },
        Case {
            outdoor: Some(-11.1),
            exemptions: vec![Ex::ExtremeCold],
            ..case(
                "R-TMP-8 outdoor -11.1",
                cold.clone(),
                Outcome::Signed,
                VV::Exempt,
            )
        },
        // Several: in enum order, the derived one included.
        Case {
            observed: vec![Ex::MaintenanceOrTrialRun, Ex::StructureAltered],
            outdoor: Some(-15.0),
            exemptions: vec![
                Ex::StructureAltered,
                Ex::MaintenanceOrTrialRun,
                Ex::ExtremeCold,
            ],
            ..case("R-TMP-8 several", cold.clone(), Outcome::Signed, VV::Exempt)
        },
        // R-TMP-8 takes precedence over a refusal to sign.
        Case {
            observed: vec![Ex::SupplyCutOrDisaster],
            exemptions: vec![Ex::SupplyCutOrDisaster],
            ..case(
                "R-TMP-8 before R-TMP-7",
                cold.clone(),
                Outcome::Refused,
                VV::Exempt,
            )
        },
        // R-TMP-7: a refusal to sign is deemed compliant, whatever the rooms.
        Case {
            provisional: VV::NonCompliant,
            ..case(
                "R-TMP-7 refused, cold room",
                cold.clone(),
                Outcome::Refused,
                VV::DeemedCompliant,
            )
        },
        Case {
            provisional: VV::Inconclusive,
            ..case(
                "R-TMP-7 refused, no valid reading",
                vec![(15.0, false)],
                Outcome::Refused,
                VV::DeemedCompliant,
            )
        },
        // R-TMP-9.
        case(
            "R-TMP-9 only INVALID readings",
            vec![(20.0, false), (15.0, false)],
            Outcome::Signed,
            VV::Inconclusive,
        ),
        case(
            "R-TMP-9 no reading",
            vec![],
            Outcome::Signed,
            VV::Inconclusive,
        ),
        case(
            "R-TMP-9 one cold valid room",
            vec![(20.0, true), (17.9, true), (10.0, false)],
            Outcome::Signed,
            VV::NonCompliant,
        ),
        case(
            "R-TMP-9 all valid rooms warm",
            vec![(20.0, true), (18.0, true), (10.0, false)],
            Outcome::Signed,
            VV::Compliant,
        ),
    ];

    let app = spawn_app().await;
    app.clock.set(at(12, 0, 0));
    let mut c = inspector(&app).await;
    for (i, k) in cases.iter().enumerate() {
        let mut req = visit_req(&format!("HH-V{i}"), at(10, 0, 0));
        req.observed_exemptions = exemptions(&k.observed);
        req.outdoor_temp_c = k.outdoor;
        let visit = start_visit(&mut c, req).await;
        assert_eq!(
            visit.observed_exemptions,
            exemptions(&k.observed),
            "{}",
            k.label
        );
        assert_eq!(visit.outdoor_temp_c, k.outdoor, "{}", k.label);
        for (j, (t, valid)) in k.rooms.iter().enumerate() {
            let mut r = reading_req(
                &visit.id,
                &format!("room {j}"),
                Room::Bedroom,
                at(10, 20, 0),
                at(10, 30, 0),
                *t,
            );
            if !valid {
                r.height_m = 1.0;
            }
            let got = record_reading(&mut c, r).await;
            let expect = match (*valid, *t >= 18.0) {
                (false, _) => RV::Invalid,
                (true, true) => RV::Compliant,
                (true, false) => RV::NonCompliant,
            };
            assert_eq!(got.verdict, expect as i32, "{}: room {j}", k.label);
        }
        let provisional = get_visit(&mut c, &visit.id).await;
        assert_eq!(
            provisional.verdict, k.provisional as i32,
            "{}: provisional: {}",
            k.label, provisional.verdict_explanation
        );
        let done = finish_visit(&mut c, finish_req(&visit.id, k.outcome, "")).await;
        assert_eq!(
            done.state,
            pb::InspectionState::Finished as i32,
            "{}",
            k.label
        );
        assert_eq!(
            done.verdict, k.verdict as i32,
            "{}: {}",
            k.label, done.verdict_explanation
        );
        assert_eq!(done.exemptions, exemptions(&k.exemptions), "{}", k.label);
        assert_eq!(done.resident_outcome, k.outcome as i32, "{}", k.label);
        assert_eq!(done.readings.len(), k.rooms.len(), "{}", k.label);
        assert!(done.finish_time.is_some(), "{}", k.label);
        assert!(done.objection_ticket_id.is_empty(), "{}", k.label);
        assert!(!done.verdict_explanation.is_empty(), "{}", k.label);
        for e in &k.exemptions {
            assert!(
                done.verdict_explanation
                    .contains(e.as_str_name().trim_start_matches("EXEMPTION_")),
                "{}: {}",
                k.label,
                done.verdict_explanation
            );
        }
        if k.verdict == VV::DeemedCompliant {
            assert!(done.verdict_explanation.contains("R-TMP-7"), "{}", k.label);
        }
        let stored = get_visit(&mut c, &visit.id).await;
        assert_eq!(stored.verdict, done.verdict, "{}", k.label);
        assert_eq!(stored.exemptions, done.exemptions, "{}", k.label);
        assert_eq!(stored.state, done.state, "{}", k.label);
    }
    // Refusals and exemptions raise no ticket.
    assert_eq!(ticket_count(&app).await, 0);
}

/// R-TMP-7: an objection creates exactly one re-measurement ticket, also when
/// FinishInspection is replayed (AIP-155). A finished visit accepts no second
/// sign-off and no reading (FAILED_PRECONDITION INSPECTION_FINISHED).
#[tokio::test]
async fn r_tmp_7_objection_creates_one_remeasurement_ticket_advised_for_the_measuring_unit() {
    let app = spawn_app().await;
    app.clock.set(at(11, 0, 0));
    let mut d = app.dispatcher().await;
    create(&mut d, "BUILDING_NO_HEAT").await;
    let before = ticket_count(&app).await;
    assert_eq!(before, 1);

    let mut c = inspector(&app).await;
    let visit = start_visit(&mut c, visit_req("HH-OBJ", at(10, 0, 0))).await;
    let r = record_reading(
        &mut c,
        reading_req(
            &visit.id,
            "north bedroom",
            Room::Bedroom,
            at(10, 20, 0),
            at(10, 30, 0),
            18.5,
        ),
    )
    .await;
    assert_eq!(r.verdict, RV::Compliant as i32);

    // R-TMP-7: the objection needs its text.
    let s = c
        .finish_inspection(finish_req(&visit.id, Outcome::SignedWithObjection, "  "))
        .await
        .unwrap_err();
    assert_status(
        &s,
        Code::InvalidArgument,
        "MISSING_FIELD",
        Some("objection"),
    );

    let req = finish_req(
        &visit.id,
        Outcome::SignedWithObjection,
        "the thermometer stood by the radiator; measure again",
    );
    let done = finish_visit(&mut c, req.clone()).await;
    assert_eq!(
        done.verdict,
        VV::Compliant as i32,
        "an objection does not change the verdict"
    );
    assert_eq!(done.resident_outcome, Outcome::SignedWithObjection as i32);
    assert_eq!(
        done.objection,
        "the thermometer stood by the radiator; measure again"
    );
    assert!(!done.objection_ticket_id.is_empty());
    assert_eq!(ticket_count(&app).await, before + 1);

    let t = get(&app, &done.objection_ticket_id).await;
    assert_eq!(t.id, done.objection_ticket_id);
    assert_eq!(t.category, "INDOOR_MEASUREMENT");
    assert_eq!(t.source, pb::SourceChannel::Inspection as i32);
    assert_eq!(t.state, pb::TicketState::New as i32);
    assert!(t.content.contains("measure again"), "{}", t.content);
    // Issue 17: it waits in the dispatch queue, advised for the unit of the
    // inspector who measured (i1 of north); dispatch sends it there.
    assert_eq!((t.unit.as_str(), t.suggested_unit.as_str()), ("", "north"));
    let queue = d
        .list_tickets(pb::ListTicketsRequest {
            state: pb::TicketState::New as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .tickets;
    assert!(
        queue
            .iter()
            .any(|q| q.id == t.id && q.suggested_unit == "north")
    );
    let sent = dispatch(&mut d, &t.id, &t.suggested_unit).await;
    assert_eq!(
        (sent.unit.as_str(), sent.suggested_unit.as_str()),
        ("north", "north")
    );

    // Replay with the same request_id: the same response, still one ticket.
    let again = finish_visit(&mut c, req).await;
    assert_eq!(again, done);
    assert_eq!(ticket_count(&app).await, before + 1);

    // A second sign-off with a new request_id.
    let s = c
        .finish_inspection(finish_req(&visit.id, Outcome::SignedWithObjection, "again"))
        .await
        .unwrap_err();
    assert_status(&s, Code::FailedPrecondition, "INSPECTION_FINISHED", None);
    let s = c
        .finish_inspection(finish_req(&visit.id, Outcome::Signed, ""))
        .await
        .unwrap_err();
    assert_status(&s, Code::FailedPrecondition, "INSPECTION_FINISHED", None);
    assert_eq!(ticket_count(&app).await, before + 1);

    // No reading on a finished visit; nothing stored.
    let s = c
        .record_room_reading(reading_req(
            &visit.id,
            "kitchen",
            Room::Kitchen,
            at(10, 35, 0),
            at(10, 45, 0),
            12.0,
        ))
        .await
        .unwrap_err();
    assert_status(&s, Code::FailedPrecondition, "INSPECTION_FINISHED", None);
    let stored = get_visit(&mut c, &visit.id).await;
    assert_eq!(stored.readings.len(), 1);
    assert_eq!(stored.version, done.version);
    assert_eq!(stored.verdict, VV::Compliant as i32);
    assert_eq!(stored.objection_ticket_id, done.objection_ticket_id);
}

/// R-TKT-12 with R-TMP-9: a visit answering a ticket puts INSPECTION_FINISHED
/// with its verdict on that ticket's audit trail.
#[tokio::test]
async fn r_tkt_12_r_tmp_9_finished_visit_goes_on_its_ticket_audit_trail() {
    let app = spawn_app().await;
    app.clock.set(at(11, 0, 0));
    let mut d = app.dispatcher().await;
    let ticket = create(&mut d, "INDOOR_MEASUREMENT").await;
    let mut c = inspector(&app).await;

    // An unknown ticket: NOT_FOUND TICKET_NOT_FOUND, as everywhere (one
    // reason, one code).
    let mut req = visit_req("HH-TKT", at(10, 0, 0));
    req.ticket_id = uuid::Uuid::new_v4().to_string();
    let s = c.start_inspection(req).await.unwrap_err();
    assert_status(&s, Code::NotFound, "TICKET_NOT_FOUND", None);

    let mut req = visit_req("HH-TKT", at(10, 0, 0));
    req.ticket_id = ticket.id.clone();
    let visit = start_visit(&mut c, req).await;
    assert_eq!(visit.ticket_id, ticket.id);
    record_reading(
        &mut c,
        reading_req(
            &visit.id,
            "bedroom",
            Room::Bedroom,
            at(10, 20, 0),
            at(10, 30, 0),
            16.5,
        ),
    )
    .await;
    assert!(
        !events(&app, &ticket.id)
            .await
            .iter()
            .any(|e| e.kind == "INSPECTION_FINISHED"),
        "not before the sign-off"
    );
    let done = finish_visit(&mut c, finish_req(&visit.id, Outcome::Signed, "")).await;
    assert_eq!(done.verdict, VV::NonCompliant as i32);

    let evs = events(&app, &ticket.id).await;
    let finished: Vec<_> = evs
        .iter()
        .filter(|e| e.kind == "INSPECTION_FINISHED")
        .collect();
    assert_eq!(finished.len(), 1, "{evs:#?}");
    let e = finished[0];
    assert_eq!(e.ticket_id, ticket.id);
    assert_eq!(e.actor_sub, "i1");
    let details: serde_json::Value = serde_json::from_str(&e.details_json).unwrap();
    assert_eq!(details["verdict"], "NON_COMPLIANT", "{details}");
    assert_eq!(details["inspection_id"], visit.id.as_str(), "{details}");
    // The ticket itself stays where it was.
    let t = get(&app, &ticket.id).await;
    assert_eq!(t.state, ticket.state);
    assert_eq!(t.version, e.ticket_version);

    // Dispatch finds the visit by its ticket.
    let mut di = inspections_for(&app, "d1", &[Role::Dispatcher], "hq").await;
    let listed = di
        .list_inspections(pb::ListInspectionsRequest {
            ticket_id: ticket.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .inspections;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, visit.id);
    assert_eq!(listed[0].verdict, VV::NonCompliant as i32);
}

type ReadingEdit = fn(&mut pb::RecordRoomReadingRequest);
type StartEdit = fn(&mut pb::StartInspectionRequest);

/// Malformed readings and visits are INVALID_ARGUMENT with a field path and
/// store nothing (unlike a protocol breach, which is stored INVALID).
#[tokio::test]
async fn malformed_input_is_invalid_argument_and_stores_nothing() {
    let app = spawn_app().await;
    app.clock.set(at(12, 0, 0));
    let mut c = inspector(&app).await;
    let visit = start_visit(&mut c, visit_req("HH-BAD", at(10, 0, 0))).await;
    let good = || {
        reading_req(
            &visit.id,
            "bedroom",
            Room::Bedroom,
            at(10, 20, 0),
            at(10, 30, 0),
            19.0,
        )
    };
    record_reading(&mut c, good()).await;
    let version = get_visit(&mut c, &visit.id).await.version;

    #[rustfmt::skip]
    let bad: Vec<(&str, &str, &str, ReadingEdit)> = vec![
        ("NaN", "temperature_c", "OUT_OF_RANGE", |r| r.temperature_c = f64::NAN),
        ("+inf", "temperature_c", "OUT_OF_RANGE", |r| r.temperature_c = f64::INFINITY),
        ("60.1", "temperature_c", "OUT_OF_RANGE", |r| r.temperature_c = 60.1),
        ("-40.1", "temperature_c", "OUT_OF_RANGE", |r| r.temperature_c = -40.1),
        ("ended before started", "ended_at", "OUT_OF_RANGE", |r| r.ended_at = Some(ts(at(10, 19, 59)))),
        ("no started_at", "started_at", "MISSING_FIELD", |r| r.started_at = None),
        ("room type UNSPECIFIED", "room_type", "MISSING_FIELD", |r| r.room_type = Room::Unspecified as i32),
        ("room type 99", "room_type", "INVALID_FIELD", |r| r.room_type = 99),
        ("blank room name", "room_name", "MISSING_FIELD", |r| r.room_name = " ".into()),
        ("height 10.1", "height_m", "OUT_OF_RANGE", |r| r.height_m = 10.1),
        ("more than 24 h ahead of the server clock", "started_at", "OCCURRED_AT_IN_FUTURE", |r| {
            r.started_at = Some(ts(at(12, 0, 1) + Duration::hours(24)));
            r.ended_at = Some(ts(at(12, 10, 1) + Duration::hours(24)));
        }),
        ("inspection id not a UUID", "inspection_id", "INVALID_FIELD", |r| r.inspection_id = "visit-1".into()),
    ];
    for (label, field, reason, edit) in bad {
        let mut req = good();
        edit(&mut req);
        let s = c.record_room_reading(req).await.expect_err(label);
        assert_status(&s, Code::InvalidArgument, reason, Some(field));
        let now = get_visit(&mut c, &visit.id).await;
        assert_eq!(now.readings.len(), 1, "{label}: nothing stored");
        assert_eq!(now.version, version, "{label}: visit unchanged");
    }
    // An unknown visit: NOT_FOUND, the code GetInspection gives it too.
    let mut req = good();
    req.inspection_id = uuid::Uuid::new_v4().to_string();
    let s = c.record_room_reading(req).await.unwrap_err();
    assert_status(&s, Code::NotFound, "INSPECTION_NOT_FOUND", None);
    assert_eq!(get_visit(&mut c, &visit.id).await.readings.len(), 1);

    // The bounds themselves are accepted: −40 °C, 60 °C, exactly 24 h ahead.
    let ok: Vec<ReadingEdit> = vec![
        |r| r.temperature_c = -40.0,
        |r| r.temperature_c = 60.0,
        |r| {
            r.started_at = Some(ts(at(12, 0, 0) + Duration::hours(24)));
            r.ended_at = Some(ts(at(12, 0, 0) + Duration::hours(24)));
        },
    ];
    for edit in ok {
        let mut req = good();
        edit(&mut req);
        record_reading(&mut c, req).await;
    }
    assert_eq!(get_visit(&mut c, &visit.id).await.readings.len(), 4);

    // StartInspection.
    let visits = async |c: &mut Inspections| {
        c.list_inspections(pb::ListInspectionsRequest::default())
            .await
            .unwrap()
            .into_inner()
            .inspections
            .len()
    };
    assert_eq!(visits(&mut c).await, 1);
    #[rustfmt::skip]
    let bad: Vec<(&str, &str, &str, StartEdit)> = vec![
        ("no dwelling", "dwelling", "MISSING_FIELD", |v| v.dwelling = None),
        ("blank dwelling", "dwelling", "MISSING_FIELD", |v| v.dwelling = Some(pb::Dwelling { household_id: " ".into(), address: "".into() })),
        ("calibration_due 2026-13-01", "calibration_due", "INVALID_FIELD", |v| v.calibration_due = "2026-13-01".into()),
        ("calibration_due 31/12/2026", "calibration_due", "INVALID_FIELD", |v| v.calibration_due = "31/12/2026".into()),
        ("no calibration_due", "calibration_due", "MISSING_FIELD", |v| v.calibration_due = "".into()),
        ("observed EXTREME_COLD", "observed_exemptions[0]", "INVALID_FIELD", |v| v.observed_exemptions = vec![Ex::ExtremeCold as i32]),
        ("observed EXTREME_COLD second", "observed_exemptions[1]", "INVALID_FIELD", |v| {
            v.observed_exemptions = vec![Ex::StructureAltered as i32, Ex::ExtremeCold as i32]
        }),
        ("observed exemption 42", "observed_exemptions[0]", "INVALID_FIELD", |v| v.observed_exemptions = vec![42]),
        ("outdoor NaN", "outdoor_temp_c", "OUT_OF_RANGE", |v| v.outdoor_temp_c = Some(f64::NAN)),
        ("no thermometer", "thermometer_serial", "MISSING_FIELD", |v| v.thermometer_serial = "".into()),
        ("no entered_at", "entered_at", "MISSING_FIELD", |v| v.entered_at = None),
    ];
    for (label, field, reason, edit) in bad {
        let mut req = visit_req("HH-BAD-2", at(10, 0, 0));
        edit(&mut req);
        let s = c.start_inspection(req).await.expect_err(label);
        assert_status(&s, Code::InvalidArgument, reason, Some(field));
    }
    assert_eq!(visits(&mut c).await, 1, "no visit was created");
}

/// R-TMP-10: a NON_COMPLIANT visit puts the dwelling in the cold-household
/// archive; it is due again from the first day of the next calendar month
/// (Asia/Shanghai), and a COMPLIANT visit resolves it.
#[tokio::test]
async fn r_tmp_10_cold_households_monthly_due_and_resolved() {
    let app = spawn_app().await;
    app.clock.set(at(12, 0, 0));
    let mut c = inspector(&app).await;

    // A compliant dwelling never enters the archive.
    let warm = start_visit(&mut c, visit_req("HH-WARM", at(10, 0, 0))).await;
    record_reading(
        &mut c,
        reading_req(
            &warm.id,
            "bedroom",
            Room::Bedroom,
            at(10, 20, 0),
            at(10, 30, 0),
            21.0,
        ),
    )
    .await;
    finish_visit(&mut c, finish_req(&warm.id, Outcome::Signed, "")).await;

    // An in-progress cold visit does not count yet.
    let cold = start_visit(&mut c, visit_req("HH-COLD", at(10, 0, 0))).await;
    record_reading(
        &mut c,
        reading_req(
            &cold.id,
            "bedroom",
            Room::Bedroom,
            at(10, 20, 0),
            at(10, 30, 0),
            16.0,
        ),
    )
    .await;
    assert!(cold_households(&app, false, true).await.is_empty());
    let done = finish_visit(&mut c, finish_req(&cold.id, Outcome::Signed, "")).await;
    assert_eq!(done.verdict, VV::NonCompliant as i32);

    let list = cold_households(&app, false, false).await;
    assert_eq!(list.len(), 1, "{list:#?}");
    let h = find_household(&list, "HH-COLD").expect("listed");
    assert!(h.active);
    assert_eq!(h.last_verdict, VV::NonCompliant as i32);
    assert_eq!(h.last_inspection_id, cold.id);
    assert_eq!(time(&h.last_visit_time), at(10, 0, 0));
    assert_eq!(time(&h.first_non_compliant_time), at(10, 0, 0));
    assert!(!h.due_this_month, "visited this month");
    assert!(cold_households(&app, true, false).await.is_empty());
    assert!(find_household(&cold_households(&app, false, true).await, "HH-WARM").is_none());

    // Only supervisors, dispatchers and the back office read the archive.
    let s = c
        .list_cold_households(pb::ListColdHouseholdsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::PermissionDenied);

    // The last second of December, local time: still visited this month.
    app.clock.set(local(2026, 12, 31, 23, 59, 59));
    let h = cold_households(&app, false, false).await;
    assert!(!find_household(&h, "HH-COLD").unwrap().due_this_month);
    assert!(cold_households(&app, true, false).await.is_empty());

    // 1 January 00:00 local (still 31 December 16:00 UTC): due.
    app.clock.set(local(2027, 1, 1, 0, 0, 0));
    let h = cold_households(&app, false, false).await;
    assert!(find_household(&h, "HH-COLD").unwrap().due_this_month);
    let due = cold_households(&app, true, false).await;
    assert_eq!(due.len(), 1);
    let h = find_household(&due, "HH-COLD").expect("due this month");
    assert!(h.active && h.due_this_month);
    assert_eq!(h.last_inspection_id, cold.id);

    // A compliant visit of the same household (address written differently) resolves it.
    app.clock.set(local(2027, 1, 5, 12, 0, 0));
    let mut req = visit_req("HH-COLD", local(2027, 1, 5, 10, 0, 0));
    req.dwelling.as_mut().unwrap().address = "1 heping road, flat 501".into();
    let again = start_visit(&mut c, req).await;
    record_reading(
        &mut c,
        reading_req(
            &again.id,
            "bedroom",
            Room::Bedroom,
            local(2027, 1, 5, 10, 20, 0),
            local(2027, 1, 5, 10, 30, 0),
            18.0,
        ),
    )
    .await;
    let done = finish_visit(&mut c, finish_req(&again.id, Outcome::Signed, "")).await;
    assert_eq!(done.verdict, VV::Compliant as i32);

    assert!(find_household(&cold_households(&app, false, false).await, "HH-COLD").is_none());
    assert!(cold_households(&app, true, false).await.is_empty());
    assert!(cold_households(&app, true, true).await.is_empty());
    let all = cold_households(&app, false, true).await;
    assert_eq!(all.len(), 1, "{all:#?}");
    let h = find_household(&all, "HH-COLD").expect("kept as resolved");
    assert!(!h.active);
    assert!(!h.due_this_month);
    assert_eq!(h.last_verdict, VV::Compliant as i32);
    assert_eq!(h.last_inspection_id, again.id);
    assert_eq!(time(&h.last_visit_time), local(2027, 1, 5, 10, 0, 0));
    assert_eq!(time(&h.first_non_compliant_time), at(10, 0, 0));
}

/// One room of the handheld's script.
struct Step {
    room: &'static str,
    room_type: Room,
    open_to_balcony: bool,
    start: DateTime<Utc>,
    temp: f64,
    height: f64,
}

fn script() -> Vec<Step> {
    let step = |room, room_type, open_to_balcony, start, temp, height| Step {
        room,
        room_type,
        open_to_balcony,
        start,
        temp,
        height,
    };
    vec![
        step(
            "north bedroom",
            Room::Bedroom,
            false,
            at(10, 0, 0),
            19.2,
            1.5,
        ),
        step(
            "living room",
            Room::LivingRoom,
            true,
            at(10, 12, 0),
            16.5,
            1.45,
        ),
        step("kitchen", Room::Kitchen, false, at(10, 24, 0), 15.4, 1.5),
        step("bathroom", Room::Bathroom, false, at(10, 36, 0), 22.0, 1.3),
        step("hall", Room::Hall, false, at(10, 48, 0), 17.0, 1.55),
    ]
}

impl Step {
    fn request(&self, inspection_id: &str) -> pb::RecordRoomReadingRequest {
        pb::RecordRoomReadingRequest {
            open_to_balcony: self.open_to_balcony,
            height_m: self.height,
            ..reading_req(
                inspection_id,
                self.room,
                self.room_type,
                self.start,
                self.start + Duration::minutes(10),
                self.temp,
            )
        }
    }
}

/// End to end from a handheld: a visit recorded live (the server clock
/// follows the readings) and the same visit sent in one burst hours later
/// after coming back online, with the inspection id chosen offline. Device
/// times decide (R-TMP-2, R-TMP-4, R-TMP-5), so both give identical
/// verdicts (R-TMP-1, R-TMP-6, R-TMP-9).
#[tokio::test]
async fn handheld_live_and_offline_burst_give_identical_verdicts() {
    let app = spawn_app().await;
    let mut c = inspector(&app).await;
    let entered = at(9, 40, 0);
    let expected = [
        RV::Compliant,
        RV::Compliant,
        RV::NonCompliant,
        RV::Invalid,
        RV::Compliant,
    ];

    // Live.
    app.clock.set(entered + Duration::seconds(30));
    let live = start_visit(&mut c, visit_req("HH-LIVE", entered)).await;
    let mut live_readings = Vec::new();
    for s in script() {
        let received = s.start + Duration::minutes(10) + Duration::seconds(20);
        app.clock.set(received);
        let r = record_reading(&mut c, s.request(&live.id)).await;
        assert_eq!(time(&r.receive_time), received);
        live_readings.push(r);
    }
    app.clock.set(at(11, 5, 0));
    let live_done = finish_visit(&mut c, finish_req(&live.id, Outcome::Signed, "")).await;

    // Offline: the handheld chose the id and sends everything at 18:00 local.
    app.clock.set(at(18, 0, 0));
    let offline_id = uuid::Uuid::new_v4().to_string();
    let mut req = visit_req("HH-OFFLINE", entered);
    req.inspection_id = offline_id.clone();
    let offline = start_visit(&mut c, req).await;
    assert_eq!(offline.id, offline_id);
    let mut offline_readings = Vec::new();
    for s in script() {
        let r = record_reading(&mut c, s.request(&offline_id)).await;
        assert_eq!(time(&r.receive_time), at(18, 0, 0), "received late");
        offline_readings.push(r);
    }
    let offline_done = finish_visit(&mut c, finish_req(&offline_id, Outcome::Signed, "")).await;

    for ((l, o), want) in live_readings.iter().zip(&offline_readings).zip(expected) {
        assert_eq!(l.room_name, o.room_name);
        assert_eq!(l.verdict, want as i32, "{}: {l:#?}", l.room_name);
        assert_eq!(o.verdict, l.verdict, "{}", l.room_name);
        assert_eq!(o.required_c, l.required_c, "{}", l.room_name);
        assert_eq!(o.violations, l.violations, "{}", l.room_name);
        assert_eq!(o.started_at, l.started_at, "{}", l.room_name);
        assert_eq!(o.ended_at, l.ended_at, "{}", l.room_name);
    }
    assert_eq!(violations(&live_readings[3]), vec![R6_HEIGHT]);
    assert_eq!(
        live_readings[1].required_c, 16.0,
        "living room open to a balcony"
    );

    for done in [&live_done, &offline_done] {
        assert_eq!(
            done.verdict,
            VV::NonCompliant as i32,
            "{}",
            done.verdict_explanation
        );
        assert!(done.exemptions.is_empty());
        assert_eq!(time(&done.entered_at), entered);
        assert_eq!(done.readings.len(), 5);
    }
    assert_eq!(
        live_done.verdict_explanation,
        offline_done.verdict_explanation
    );

    // GetInspection agrees, reading by reading.
    for (id, sent) in [(&live.id, &live_readings), (&offline_id, &offline_readings)] {
        let stored = get_visit(&mut c, id).await;
        assert_eq!(stored.verdict, VV::NonCompliant as i32);
        for r in sent {
            let s = stored
                .readings
                .iter()
                .find(|s| s.id == r.id)
                .expect("stored");
            assert_eq!(s, r);
        }
    }

    // R-TMP-10: both dwellings are cold, dated by the visit, not by the sync.
    let list = cold_households(&app, false, false).await;
    for h in ["HH-LIVE", "HH-OFFLINE"] {
        let h = find_household(&list, h).expect("cold household");
        assert_eq!(time(&h.last_visit_time), entered);
    }
}

/// A client-chosen inspection id: usable at once, and unique.
#[tokio::test]
async fn client_chosen_inspection_id_is_kept_and_unique() {
    let app = spawn_app().await;
    app.clock.set(at(12, 0, 0));
    let mut c = inspector(&app).await;
    let id = uuid::Uuid::new_v4().to_string();
    let mut req = visit_req("HH-ID", at(10, 0, 0));
    req.inspection_id = id.clone();
    let visit = start_visit(&mut c, req.clone()).await;
    assert_eq!(visit.id, id);
    let got = get_visit(&mut c, &id).await;
    assert_eq!(got.id, id);
    assert_eq!(got.dwelling.as_ref().unwrap().household_id, "HH-ID");
    assert_eq!(got.inspector, "i1");
    assert_eq!(got.unit, "north");

    // Replay with the same request_id: the same visit.
    assert_eq!(start_visit(&mut c, req.clone()).await, visit);

    // The same id with a new request_id (another dwelling, even).
    let mut other = visit_req("HH-OTHER", at(10, 5, 0));
    other.inspection_id = id.clone();
    let s = c.start_inspection(other).await.unwrap_err();
    assert_status(&s, Code::AlreadyExists, "INSPECTION_EXISTS", None);
    req.request_id = rid();
    let s = c.start_inspection(req).await.unwrap_err();
    assert_status(&s, Code::AlreadyExists, "INSPECTION_EXISTS", None);
    let got = get_visit(&mut c, &id).await;
    assert_eq!(got.dwelling.as_ref().unwrap().household_id, "HH-ID");
    assert_eq!(got.version, visit.version);

    // Not a UUID.
    let mut bad = visit_req("HH-ID-2", at(10, 0, 0));
    bad.inspection_id = "visit-1".into();
    let s = c.start_inspection(bad).await.unwrap_err();
    assert_status(
        &s,
        Code::InvalidArgument,
        "INVALID_FIELD",
        Some("inspection_id"),
    );

    // GetInspection of an unknown id is NOT_FOUND.
    let s = c
        .get_inspection(pb::GetInspectionRequest {
            inspection_id: uuid::Uuid::new_v4().to_string(),
        })
        .await
        .unwrap_err();
    assert_status(&s, Code::NotFound, "INSPECTION_NOT_FOUND", None);
}

/// R-TMP-12: each reading may name its own thermometer. In a visit whose
/// thermometer was due for calibration the day before, a reading taken
/// with another thermometer due that very day is valid, and the reading
/// shows which one it was; a reading with the visit's thermometer is
/// INVALID; a serial without its due date (or the reverse) is refused.
#[tokio::test]
async fn r_tmp_12_a_reading_names_its_own_thermometer() {
    let app = spawn_app().await;
    app.clock.set(at(22, 0, 0));
    let mut c = inspector(&app).await;
    let visit = start_visit(
        &mut c,
        pb::StartInspectionRequest {
            calibration_due: "2026-12-09".into(),
            ..visit_req("H-TH-12", at(10, 0, 0))
        },
    )
    .await;
    let own = pb::RecordRoomReadingRequest {
        thermometer_serial: "TH-0777".into(),
        calibration_due: "2026-12-10".into(),
        ..reading_req(
            &visit.id,
            "bedroom",
            Room::Bedroom,
            at(10, 20, 0),
            at(10, 30, 0),
            20.0,
        )
    };
    let r = record_reading(&mut c, own.clone()).await;
    assert_eq!(r.verdict, pb::ReadingVerdict::Compliant as i32, "{r:?}");
    assert_eq!(
        (r.thermometer_serial.as_str(), r.calibration_due.as_str()),
        ("TH-0777", "2026-12-10")
    );
    let with_the_visits = record_reading(
        &mut c,
        reading_req(
            &visit.id,
            "living room",
            Room::LivingRoom,
            at(10, 35, 0),
            at(10, 45, 0),
            20.0,
        ),
    )
    .await;
    assert_eq!(with_the_visits.verdict, pb::ReadingVerdict::Invalid as i32);
    assert_eq!(
        violations(&with_the_visits),
        vec![("R-TMP-12", "INSTRUMENT_UNCALIBRATED")]
    );
    assert!(with_the_visits.thermometer_serial.is_empty());
    for (field, bad) in [
        (
            "calibration_due",
            pb::RecordRoomReadingRequest {
                request_id: rid(),
                calibration_due: String::new(),
                ..own.clone()
            },
        ),
        (
            "thermometer_serial",
            pb::RecordRoomReadingRequest {
                request_id: rid(),
                thermometer_serial: String::new(),
                ..own.clone()
            },
        ),
    ] {
        let e = c.record_room_reading(bad).await.unwrap_err();
        assert_status(
            &e,
            tonic::Code::InvalidArgument,
            "MISSING_FIELD",
            Some(field),
        );
    }
    let e = c
        .record_room_reading(pb::RecordRoomReadingRequest {
            request_id: rid(),
            calibration_due: "10/12/2026".into(),
            ..own.clone()
        })
        .await
        .unwrap_err();
    assert_status(
        &e,
        tonic::Code::InvalidArgument,
        "INVALID_FIELD",
        Some("calibration_due"),
    );
    assert_eq!(
        get_visit(&mut c, &visit.id).await.readings.len(),
        2,
        "refusals stored nothing"
    );
}

/// A cold visit to `household` by inspector `sub` of `unit`, signed off.
async fn cold_visit(app: &TestApp, sub: &str, unit: &str, household: &str) {
    let mut c = inspections_for(app, sub, &[Role::Inspector], unit).await;
    let v = start_visit(&mut c, visit_req(household, at(10, 0, 0))).await;
    let reading = reading_req(
        &v.id,
        "bedroom",
        Room::Bedroom,
        at(10, 20, 0),
        at(10, 30, 0),
        15.0,
    );
    record_reading(&mut c, reading).await;
    finish_visit(&mut c, finish_req(&v.id, Outcome::Signed, "")).await;
}

async fn households_seen_by(app: &TestApp, sub: &str, roles: &[Role], unit: &str) -> Vec<String> {
    let mut s = inspections_for(app, sub, roles, unit).await;
    let mut ids: Vec<String> = s
        .list_cold_households(pb::ListColdHouseholdsRequest {
            page_size: 100,
            include_resolved: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .households
        .into_iter()
        .map(|h| h.dwelling.unwrap().household_id)
        .collect();
    ids.sort();
    ids
}

/// R-TMP-10: a unit's head (a supervisor whose unit is a service unit) sees
/// his unit's cold households; dispatch-centre supervisors, dispatchers and
/// the back office see all.
#[tokio::test]
async fn r_tmp_10_a_units_head_sees_his_units_cold_households() {
    let app = spawn_app().await;
    app.clock.set(at(12, 0, 0));
    cold_visit(&app, "i1", "north", "HH-N").await;
    cold_visit(&app, "i2", "south", "HH-S").await;
    let both = vec!["HH-N".to_string(), "HH-S".to_string()];
    assert_eq!(
        households_seen_by(&app, "s-n", &[Role::Supervisor], "north").await,
        ["HH-N"]
    );
    assert_eq!(
        households_seen_by(&app, "s-s", &[Role::Supervisor], "south").await,
        ["HH-S"]
    );
    assert_eq!(
        households_seen_by(&app, "s1", &[Role::Supervisor], "hq").await,
        both
    );
    assert_eq!(
        households_seen_by(&app, "d1", &[Role::Dispatcher], "north").await,
        both
    );
    assert_eq!(
        households_seen_by(&app, "b1", &[Role::Backoffice], "north").await,
        both
    );
    let desk_and_head = [Role::Supervisor, Role::Dispatcher];
    assert_eq!(
        households_seen_by(&app, "sd", &desk_and_head, "north").await,
        both
    );
}

fn void_req(visit: &str, reading: &str, reason: &str) -> pb::VoidRoomReadingRequest {
    pb::VoidRoomReadingRequest {
        request_id: rid(),
        inspection_id: visit.into(),
        reading_id: reading.into(),
        reason: reason.into(),
        device_id: "handheld-7".into(),
        expected_version: 0,
    }
}

fn abandon_req(visit: &str, reason: pb::NoAccessReason) -> pb::AbandonInspectionRequest {
    pb::AbandonInspectionRequest {
        request_id: rid(),
        inspection_id: visit.into(),
        reason: reason as i32,
        note: "card left in the door".into(),
        device_id: "handheld-7".into(),
        expected_version: 0,
    }
}

async fn visit_audit(app: &TestApp, id: &str) -> Vec<(String, serde_json::Value)> {
    use fieldops::storage::entities::audit_events;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    let db = fieldops::storage::Db::connect(&db_settings(&app.store))
        .await
        .unwrap();
    audit_events::Entity::find()
        .filter(audit_events::Column::EntityType.eq("inspection"))
        .filter(audit_events::Column::EntityId.eq(id))
        .order_by_asc(audit_events::Column::Sequence)
        .all(db.reader())
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.kind, serde_json::from_str(&m.details).unwrap()))
        .collect()
}

/// R-TMP-9: a reading recorded by mistake is voided with a reason: it stays
/// on the record, marked, and no longer counts; the trail keeps what it
/// measured. Only while the visit is open, only by its inspector, once.
#[tokio::test]
async fn r_tmp_9_a_voided_reading_stays_on_record_and_no_longer_counts() {
    use fieldops::error::reason;
    let app = spawn_app().await;
    app.clock.set(at(12, 0, 0));
    let mut c = inspector(&app).await;
    let v = start_visit(&mut c, visit_req("HH-VOID", at(10, 0, 0))).await;
    // 15 °C "in the bedroom": it was the unheated store room.
    let wrong = record_reading(
        &mut c,
        reading_req(
            &v.id,
            "bedroom",
            Room::Bedroom,
            at(10, 20, 0),
            at(10, 30, 0),
            15.0,
        ),
    )
    .await;
    assert_eq!(wrong.verdict, RV::NonCompliant as i32);
    let voided = c
        .void_room_reading(void_req(
            &v.id,
            &wrong.id,
            "measured the store room, not the bedroom",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        voided.void_reason,
        "measured the store room, not the bedroom"
    );
    assert_eq!(
        voided.verdict,
        RV::NonCompliant as i32,
        "what it measured stays"
    );
    assert!(voided.void_time.is_some());
    // No reading counts now: the provisional verdict says so.
    let mut d = inspections_for(&app, "d1", &[Role::Dispatcher], "north").await;
    let get = |d: &mut Inspections| {
        let mut d = d.clone();
        let id = v.id.clone();
        async move {
            d.get_inspection(pb::GetInspectionRequest { inspection_id: id })
                .await
                .unwrap()
                .into_inner()
        }
    };
    let now = get(&mut d).await;
    assert_eq!(now.verdict, VV::Inconclusive as i32);
    assert_eq!(now.readings.len(), 1, "kept on the record");

    // Once only; not a reading of this visit; not without a reason; not by
    // another inspector.
    let again = c
        .void_room_reading(void_req(&v.id, &wrong.id, "again"))
        .await
        .unwrap_err();
    assert_status(
        &again,
        Code::FailedPrecondition,
        reason::READING_VOIDED,
        None,
    );
    let other = c
        .void_room_reading(void_req(&v.id, &uuid::Uuid::new_v4().to_string(), "x"))
        .await
        .unwrap_err();
    assert_status(&other, Code::NotFound, reason::READING_NOT_FOUND, None);
    let blank = c
        .void_room_reading(void_req(&v.id, &wrong.id, "  "))
        .await
        .unwrap_err();
    assert_status(
        &blank,
        Code::InvalidArgument,
        reason::MISSING_FIELD,
        Some("reason"),
    );
    let mut i2 = inspections_for(&app, "i2", &[Role::Inspector], "north").await;
    let not_his = i2
        .void_room_reading(void_req(&v.id, &wrong.id, "x"))
        .await
        .unwrap_err();
    assert_status(&not_his, Code::NotFound, reason::INSPECTION_NOT_FOUND, None);

    // The bedroom measured properly: the visit is COMPLIANT, the voided
    // reading does not drag it down.
    let right = record_reading(
        &mut c,
        reading_req(
            &v.id,
            "bedroom",
            Room::Bedroom,
            at(10, 35, 0),
            at(10, 50, 0),
            19.5,
        ),
    )
    .await;
    assert_eq!(right.verdict, RV::Compliant as i32);
    let done = finish_visit(&mut c, finish_req(&v.id, Outcome::Signed, "")).await;
    assert_eq!(done.verdict, VV::Compliant as i32);
    assert!(
        cold_households(&app, false, true).await.is_empty(),
        "never cold"
    );
    // A signed record is never altered.
    let late = c
        .void_room_reading(void_req(&v.id, &right.id, "x"))
        .await
        .unwrap_err();
    assert_status(
        &late,
        Code::FailedPrecondition,
        reason::INSPECTION_FINISHED,
        None,
    );

    // The trail keeps the old value and the reason.
    let trail = visit_audit(&app, &v.id).await;
    let (kind, details) = trail.iter().find(|(k, _)| k == "READING_VOIDED").unwrap();
    assert_eq!(kind, "READING_VOIDED");
    assert_eq!(details["temperature_c"], 15.0);
    assert_eq!(details["measured_verdict"], "NON_COMPLIANT");
    assert_eq!(details["visit_verdict_before"], "NON_COMPLIANT");
    assert_eq!(details["visit_verdict_after"], "INCONCLUSIVE");
}

/// R-TMP-9, R-TMP-10, R-TMP-11: a visit where nobody was home is closed
/// NO_ACCESS: in the report's visits but in no rate, and a cold household
/// it was to re-measure stays due. Offline too (Push).
#[tokio::test]
async fn r_tmp_11_an_abandoned_visit_counts_in_no_rate_and_leaves_the_household_due() {
    use fieldops::error::reason;
    let app = spawn_app().await;
    app.clock.set(at(12, 0, 0));
    let mut c = inspector(&app).await;
    // December: a cold visit puts HH-A in the archive.
    cold_visit(&app, "i1", "north", "HH-A").await;
    // January: it is due; nobody is home.
    app.clock.set(local(2027, 1, 12, 12, 0, 0));
    assert!(find_household(&cold_households(&app, true, false).await, "HH-A").is_some());
    let v = start_visit(&mut c, visit_req("HH-A", local(2027, 1, 12, 10, 0, 0))).await;
    let done = c
        .abandon_inspection(abandon_req(&v.id, pb::NoAccessReason::ResidentAbsent))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.verdict, VV::NoAccess as i32);
    assert_eq!(done.state, pb::InspectionState::Finished as i32);
    assert_eq!(
        done.no_access_reason,
        pb::NoAccessReason::ResidentAbsent as i32
    );
    assert_eq!(done.no_access_note, "card left in the door");
    assert!(
        done.verdict_explanation.contains("nobody was at home"),
        "{}",
        done.verdict_explanation
    );
    // Still due: nothing was measured.
    let h = find_household(&cold_households(&app, true, false).await, "HH-A")
        .expect("still due")
        .clone();
    assert_eq!(h.last_verdict, VV::NonCompliant as i32);
    // Closed: no reading, no second abandon.
    let again = c
        .abandon_inspection(abandon_req(&v.id, pb::NoAccessReason::EntryRefused))
        .await
        .unwrap_err();
    assert_status(
        &again,
        Code::FailedPrecondition,
        reason::INSPECTION_FINISHED,
        None,
    );
    let missing = c
        .abandon_inspection(abandon_req(&v.id, pb::NoAccessReason::Unspecified))
        .await
        .unwrap_err();
    assert_status(
        &missing,
        Code::InvalidArgument,
        reason::MISSING_FIELD,
        Some("reason"),
    );

    // Offline: entry refused, queued on the handheld, pushed later.
    let v2 = start_visit(&mut c, visit_req("HH-B", local(2027, 1, 12, 11, 0, 0))).await;
    let mut sync = fieldops::grpc::pb::sync_service_client::SyncServiceClient::with_interceptor(
        app.channel().await,
        bearer_for("i1", &[Role::Inspector], "north"),
    );
    let pushed = sync
        .push(pb::PushRequest {
            client_id: "handheld-7".into(),
            mutations: vec![pb::Mutation {
                mutation_id: 1,
                request: Some(pb::mutation::Request::AbandonInspection(abandon_req(
                    &v2.id,
                    pb::NoAccessReason::EntryRefused,
                ))),
            }],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        pushed.results[0].outcome,
        pb::MutationOutcome::Applied as i32
    );

    // The month's report: two visits where nobody let us in, in no rate.
    let mut reports =
        fieldops::grpc::pb::report_service_client::ReportServiceClient::with_interceptor(
            app.channel().await,
            bearer_for("s1", &[Role::Supervisor], "hq"),
        );
    let report = reports
        .get_service_report(pb::GetServiceReportRequest {
            unit: "north".into(),
            period: Some(pb::ReportPeriod {
                period: Some(pb::report_period::Period::Range(pb::TimeRange {
                    start_time: Some(ts(local(2027, 1, 1, 0, 0, 0))),
                    end_time: Some(ts(local(2027, 2, 1, 0, 0, 0))),
                })),
            }),
        })
        .await
        .unwrap()
        .into_inner();
    let t = report.temperature.unwrap();
    assert_eq!((t.visits, t.no_access), (2, 2), "{t:?}");
    assert_eq!((t.compliant, t.non_compliant), (0, 0));
    assert_eq!(
        t.compliance_rate, None,
        "no rate from visits that measured nothing"
    );
}

/// R-TMP-9: a visit that measured something is not abandoned: a cold room
/// would vanish from the rate and the archive. Voided readings do not count.
#[tokio::test]
async fn r_tmp_9_a_measured_visit_is_not_abandoned() {
    use fieldops::error::reason;
    let app = spawn_app().await;
    app.clock.set(at(12, 0, 0));
    let mut c = inspector(&app).await;
    let v = start_visit(&mut c, visit_req("HH-M", at(10, 0, 0))).await;
    let r = record_reading(
        &mut c,
        reading_req(
            &v.id,
            "bedroom",
            Room::Bedroom,
            at(10, 20, 0),
            at(10, 30, 0),
            15.0,
        ),
    )
    .await;
    let err = c
        .abandon_inspection(abandon_req(&v.id, pb::NoAccessReason::EntryRefused))
        .await
        .unwrap_err();
    assert_status(&err, Code::FailedPrecondition, reason::VISIT_MEASURED, None);
    // The reading was a mistake (the neighbour's flat): voided, the visit
    // measured nothing and is abandoned.
    c.void_room_reading(void_req(&v.id, &r.id, "the neighbour's flat"))
        .await
        .unwrap();
    let done = c
        .abandon_inspection(abandon_req(&v.id, pb::NoAccessReason::EntryRefused))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.verdict, VV::NoAccess as i32);
    assert_eq!(
        done.readings.len(),
        1,
        "the voided reading stays on the record"
    );
}
