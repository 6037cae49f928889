//! The service report (DOMAIN.md section 7, R-RPT-1) over gRPC: every figure
//! of GetServiceReport against a fixture built by hand on a manual clock and
//! reasoned ticket by ticket; local calendar periods (week, month, season in
//! Asia/Shanghai); bad input; who may read; the CSV export; temperature
//! figures (R-TMP-9..11). The servers run with the deadline monitor idle, so
//! a clock is late only when its event came after its deadline.
mod common;

use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use common::*;
use fieldops::domain::Role;
use fieldops::error::reason;
use fieldops::grpc::pb;
use pb::inspection_service_client::InspectionServiceClient;
use pb::report_period::Period;
use pb::report_service_client::ReportServiceClient;
use pb::{PeriodKind as Kind, RevisitOutcome as Revisit, SourceChannel as Source};
use std::collections::BTreeMap;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;

type Reports = ReportServiceClient<InterceptedService<Channel, Bearer>>;
type Inspections = InspectionServiceClient<InterceptedService<Channel, Bearer>>;

fn bearer(sub: &str, roles: &[Role], unit: &str) -> Bearer {
    let auth = format!("Bearer {}", token(sub, roles, unit));
    Bearer(Some(auth.parse().unwrap()))
}

async fn reports_as(app: &TestApp, roles: &[Role]) -> Reports {
    ReportServiceClient::with_interceptor(app.channel().await, bearer("r1", roles, "hq"))
}

/// The unit head reading reports in most tests.
async fn reports(app: &TestApp) -> Reports {
    reports_as(app, &[Role::Supervisor]).await
}

/// A local (Asia/Shanghai, UTC+8) wall-clock time as a UTC instant.
fn local(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    let t = Shanghai.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap();
    t.with_timezone(&Utc)
}

fn utc(y: i32, mo: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, 0, 0).unwrap()
}

fn range(start: DateTime<Utc>, end: DateTime<Utc>) -> Option<pb::ReportPeriod> {
    let (start_time, end_time) = (Some(ts(start)), Some(ts(end)));
    let period = Some(Period::Range(pb::TimeRange {
        start_time,
        end_time,
    }));
    Some(pb::ReportPeriod { period })
}

fn calendar(kind: Kind, anchor_date: &str) -> Option<pb::ReportPeriod> {
    let (kind, anchor_date) = (kind as i32, anchor_date.to_string());
    let period = Some(Period::Calendar(pb::CalendarPeriod { kind, anchor_date }));
    Some(pb::ReportPeriod { period })
}

/// The local month the server's clock is in.
fn this_month(app: &TestApp) -> Option<pb::ReportPeriod> {
    let today = app.now().with_timezone(&Shanghai).format("%Y-%m-%d");
    calendar(Kind::Month, &today.to_string())
}

async fn try_report(
    r: &mut Reports,
    unit: &str,
    period: Option<pb::ReportPeriod>,
) -> Result<pb::ServiceReport, Status> {
    let unit = unit.to_string();
    let req = pb::GetServiceReportRequest { unit, period };
    r.get_service_report(req).await.map(|r| r.into_inner())
}

async fn report(
    r: &mut Reports,
    unit: &str,
    period: Option<pb::ReportPeriod>,
) -> pb::ServiceReport {
    try_report(r, unit, period).await.unwrap()
}

/// All CSV lines of ExportServiceReport, or the error it starts with.
async fn export(
    r: &mut Reports,
    unit: &str,
    period: Option<pb::ReportPeriod>,
) -> Result<Vec<String>, Status> {
    let unit = unit.to_string();
    let req = pb::ExportServiceReportRequest { unit, period };
    let mut stream = r.export_service_report(req).await?.into_inner();
    let mut lines = Vec::new();
    while let Some(m) = stream.message().await? {
        lines.push(m.line);
    }
    Ok(lines)
}

// ---------------------------------------------------------------------------
// The hand-built fixture of R-RPT-1.

/// One thing done to a ticket, by whoever does it.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// Minutes pass on the manual clock.
    Wait(i64),
    Claim,
    Arrive,
    Complete,
    /// Claim now, on site 10 min later, repaired 30 min after that: in
    /// time for every category's accept, arrive and resolve clocks.
    Work,
    /// The dispatcher's call-back (R-TKT-9).
    CallBack(Revisit),
    /// The crew of the ticket's unit returns it to dispatch (R-TKT-5).
    Return,
    Dispatch(&'static str),
    /// A supervisor's notice, due in 4 h (R-TKT-10).
    Supervise,
    Cancel,
}
use Step::*;

/// Dispatch desk, supervisor and one crew per unit, all on one server.
struct Desk<'a> {
    app: &'a TestApp,
    d: Client,
    s: Client,
    north: Client,
    south: Client,
}

impl<'a> Desk<'a> {
    async fn open(app: &'a TestApp) -> Desk<'a> {
        let (d, s) = (app.dispatcher().await, app.supervisor().await);
        let (north, south) = (app.crew("c1", "north").await, app.crew("c2", "south").await);
        Desk {
            app,
            d,
            s,
            north,
            south,
        }
    }

    fn crew(&mut self, unit: &str) -> &mut Client {
        match unit {
            "north" => &mut self.north,
            "south" => &mut self.south,
            other => panic!("no crew in {other:?}"),
        }
    }

    /// A call taken now and dispatched to `unit` at once; returns its id.
    async fn call(&mut self, req: pb::CreateTicketRequest, unit: &str) -> String {
        let t = self.d.create_ticket(req).await.unwrap().into_inner();
        dispatch(&mut self.d, &t.id, unit).await;
        t.id
    }

    /// Runs `steps` on ticket `id`, now in `unit`.
    async fn run(&mut self, id: &str, mut unit: &'static str, steps: &[Step]) {
        let steps = steps.iter().flat_map(|s| match s {
            Work => vec![Claim, Wait(10), Arrive, Wait(30), Complete],
            s => vec![*s],
        });
        for step in steps {
            let (request_id, ticket_id) = (rid(), id.to_string());
            match step {
                Wait(m) => self.app.clock.advance(Duration::minutes(m)),
                Work => unreachable!("expanded above"),
                Claim => _ = claim(self.crew(unit), id).await.unwrap(),
                Arrive => _ = arrive(self.crew(unit), id).await,
                Complete => _ = complete(self.crew(unit), id).await,
                Dispatch(to) => {
                    dispatch(&mut self.d, id, to).await;
                    unit = to;
                }
                CallBack(outcome) => {
                    let outcome = outcome as i32;
                    let req = pb::RecordRevisitRequest {
                        request_id,
                        ticket_id,
                        outcome,
                        ..Default::default()
                    };
                    self.d.record_revisit(req).await.unwrap();
                }
                Return => {
                    let reason = "not our network".into();
                    let req = pb::ReturnTicketRequest {
                        request_id,
                        ticket_id,
                        reason,
                        ..Default::default()
                    };
                    self.crew(unit).return_ticket(req).await.unwrap();
                }
                Supervise => {
                    let (notice, within) =
                        ("report progress".into(), Some(dur(Duration::hours(4))));
                    let req = pb::SuperviseRequest {
                        request_id,
                        ticket_id,
                        notice,
                        resolve_within: within,
                        ..Default::default()
                    };
                    self.s.supervise(req).await.unwrap();
                }
                Cancel => {
                    let reason = "duplicate".into();
                    let req = pb::CancelTicketRequest {
                        request_id,
                        ticket_id,
                        reason,
                        ..Default::default()
                    };
                    self.d.cancel_ticket(req).await.unwrap();
                }
            }
        }
    }

    /// Takes each planned call, runs its steps and returns the ids in order.
    async fn build(&mut self, plan: Vec<Planned>) -> Vec<String> {
        let mut ids = Vec::new();
        for (req, unit, steps, _) in plan {
            let id = self.call(req, unit).await;
            self.run(&id, unit, &steps).await;
            ids.push(id);
        }
        ids
    }
}

fn via(source: Source, category: &str) -> pb::CreateTicketRequest {
    let mut req = create_req(category);
    req.source = source as i32;
    req
}

fn at_jianshe() -> pb::CreateTicketRequest {
    let mut req = create_req("BLOCKAGE");
    req.address = "8 Jianshe St, Flat 2".into();
    req
}

/// A call, the unit it is dispatched to, what happens to it, and the row it
/// must count as: "unit category priority source clocks outcome returns
/// redos notices repeat_repair", where unit "-" is none (back at dispatch);
/// clocks are accept, arrive, resolve, revisit, feedback (R-SLA-6) and
/// supervision: 'o' on time, 'L' late, '-' not concluded; outcome is 'X'
/// cancelled, '-' unresolved, 'R' resolved and not called back, 'S' called
/// back satisfied, 'N' called back not satisfied.
type Planned = (
    pb::CreateTicketRequest,
    &'static str,
    Vec<Step>,
    &'static str,
);

/// The fixture, in the order it is built: each ticket fully before the next.
/// Heating policy (section 3): accept 3 min after dispatch, whatever the
/// source (R-SLA-3); EMERGENCY arrive 30 min, resolve 24 h; URGENT arrive 12 h, resolve
/// 24 h (AIR_LOCK: 3 h from arrival); revisit 2 days after the repair;
/// feedback 2 days after the call.
#[rustfmt::skip]
fn fixture() -> Vec<Planned> {
    use Revisit::{NotSatisfiedOther as Other, NotSatisfiedUnitFault as Fault, Satisfied as Yes};
    vec![
        // T1: worked at once, called back 1 h later, satisfied: every clock kept.
        (create_req("BLOCKAGE"), "north", vec![Work, Wait(60), CallBack(Yes)],
         "north BLOCKAGE URGENT HOTLINE ooooo- S 0 0 0 false"),
        // T2: claimed 4 min after dispatch (accept late), then in time; not called back yet.
        (create_req("BLOCKAGE"), "north", vec![Wait(4), Work],
         "north BLOCKAGE URGENT HOTLINE Loo--- R 0 0 0 false"),
        // T3: on site 40 min after the call (30 min: late); not satisfied for another cause: closed.
        (create_req("NETWORK_LEAK"), "north",
         vec![Claim, Wait(40), Arrive, Wait(30), Complete, CallBack(Other)],
         "north NETWORK_LEAK EMERGENCY HOTLINE oLooo- N 0 0 0 false"),
        // T4: repaired 4 h after arrival (3 h: late); called back 3 days later (revisit, feedback late).
        (create_req("AIR_LOCK"), "north",
         vec![Claim, Wait(10), Arrive, Wait(240), Complete, Wait(3 * 1440), CallBack(Yes)],
         "north AIR_LOCK URGENT HOTLINE ooLLL- S 0 0 0 false"),
        // T5: not satisfied, the unit's fault: reopened, re-dispatched, redone in time, satisfied.
        (create_req("BLOCKAGE"), "north",
         vec![Work, Wait(60), CallBack(Fault), Dispatch("north"), Work, Wait(60), CallBack(Yes)],
         "north BLOCKAGE URGENT HOTLINE ooooo- S 0 1 0 false"),
        // T6: north's crew returns it after 2 min; sent to south and worked there in time.
        (create_req("FITTING_DRIP"), "north", vec![Wait(2), Return, Dispatch("south"), Work],
         "south FITTING_DRIP URGENT HOTLINE ooo--- R 1 0 0 false"),
        // T7: two notices while claimed, then repaired within the notice's 4 h: supervision kept.
        (create_req("DIRT_SEPARATOR"), "north",
         vec![Claim, Supervise, Wait(5), Supervise, Wait(10), Arrive, Wait(30), Complete],
         "north DIRT_SEPARATOR URGENT HOTLINE ooo--o R 0 0 2 false"),
        // T8: a 12345 referral claimed after 2 min (3 min, as any call), all in time.
        (via(Source::CityHotline, "CUSTOMER_LEAK"), "south", vec![Wait(2), Work, Wait(60), CallBack(Yes)],
         "south CUSTOMER_LEAK EMERGENCY CITY_HOTLINE ooooo- S 0 0 0 false"),
        // T9: claimed at once, nothing more yet.
        (create_req("BLOCKAGE"), "south", vec![Claim],
         "south BLOCKAGE URGENT HOTLINE o----- - 0 0 0 false"),
        // T10: only dispatched: no clock concluded (no monitor, so no breach).
        (create_req("BLOCKAGE"), "south", vec![],
         "south BLOCKAGE URGENT HOTLINE ------ - 0 0 0 false"),
        // T11: cancelled as a duplicate after dispatch: only in `cancelled`.
        (via(Source::WalkIn, "AREA_RECHECK"), "north", vec![Cancel],
         "north AREA_RECHECK GENERAL WALK_IN ------ X 0 0 0 false"),
        // T12: repaired in time at 8 Jianshe St, Flat 2.
        (at_jianshe(), "south", vec![Work, Wait(60)],
         "south BLOCKAGE URGENT HOTLINE ooo--- R 0 0 0 false"),
        // T13: same address and category after T12's repair: a repeat repair (R-TKT-11).
        (at_jianshe(), "south", vec![],
         "south BLOCKAGE URGENT HOTLINE ------ - 0 0 0 true"),
        // T14: returned twice by north's crew, still at dispatch: only in the all-units report.
        (via(Source::Online, "INDOOR_MEASUREMENT"), "north",
         vec![Wait(1), Return, Dispatch("north"), Wait(1), Return],
         "- INDOOR_MEASUREMENT GENERAL ONLINE ------ - 2 0 0 false"),
        // T15: on site after 45 min (late), repaired 25 h 45 min after the call (late), called back.
        (create_req("BUILDING_NO_HEAT"), "south",
         vec![Claim, Wait(45), Arrive, Wait(25 * 60), Complete, CallBack(Yes)],
         "south BUILDING_NO_HEAT EMERGENCY HOTLINE oLLoo- S 0 0 0 false"),
        // T16: a 12319 referral done in time, satisfied; a notice then reopens it (not yet answered).
        (via(Source::SupervisionHotline, "SAME_DAY_MEASUREMENT"), "south",
         vec![Work, CallBack(Yes), Supervise],
         "south SAME_DAY_MEASUREMENT URGENT SUPERVISION_HOTLINE ooooo- S 0 0 1 false"),
    ]
}

/// A ticket described as a fixture row, from its own fields.
fn row_of(t: &pb::Ticket) -> String {
    let clock = |kind| match t.clock_outcomes.iter().find(|c| c.clock == kind) {
        Some(c) if c.on_time => 'o',
        Some(_) => 'L',
        None => '-',
    };
    let clocks: String = (1..=6).map(clock).collect();
    let outcome = match Revisit::try_from(t.revisit_outcome).unwrap() {
        _ if t.state == pb::TicketState::Cancelled as i32 => 'X',
        Revisit::Satisfied => 'S',
        Revisit::Unspecified if t.resolve_time.is_some() => 'R',
        Revisit::Unspecified => '-',
        _ => 'N',
    };
    let source = Source::try_from(t.source).unwrap().as_str_name();
    let unit = if t.unit.is_empty() { "-" } else { &t.unit };
    let (category, priority) = (&t.category, &t.priority);
    let source = source.trim_start_matches("SOURCE_CHANNEL_");
    let (returns, redos, notices) = (t.return_count, t.redo_count, t.supervision_count);
    let repeat = t.repeat_repair;
    format!(
        "{unit} {category} {priority} {source} {clocks} {outcome} {returns} {redos} {notices} {repeat}"
    )
}

fn rate(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn counts(m: BTreeMap<String, i64>) -> Vec<pb::CountByKey> {
    m.into_iter()
        .map(|(key, count)| pb::CountByKey { key, count })
        .collect()
}

/// The ticket figures the rows give for `unit` (None: all units).
fn expected(rows: &[&str], unit: Option<&str>) -> pb::ServiceReport {
    let mut e = pb::ServiceReport::default();
    let mut by: [BTreeMap<String, i64>; 3] = Default::default();
    let mut clocks = [(0, 0); 6];
    for row in rows {
        let f: Vec<&str> = row.split_whitespace().collect();
        if unit.is_some_and(|u| u != f[0]) {
            continue;
        }
        let outcome = f[5].chars().next().unwrap();
        if outcome == 'X' {
            e.cancelled += 1;
            continue;
        }
        e.tickets += 1;
        for (i, key) in f[1..4].iter().enumerate() {
            *by[i].entry(key.to_string()).or_default() += 1;
        }
        for (i, c) in f[4].chars().enumerate() {
            clocks[i].0 += i64::from(c == 'o');
            clocks[i].1 += i64::from(c == 'L');
        }
        let [returns, redos, notices]: [i64; 3] =
            std::array::from_fn(|i| f[6 + i].parse().unwrap());
        e.resolved += i64::from(matches!(outcome, 'R' | 'S' | 'N'));
        e.revisited += i64::from(matches!(outcome, 'S' | 'N'));
        e.satisfied += i64::from(outcome == 'S');
        e.returned_tickets += i64::from(returns > 0);
        e.returns += returns;
        e.redos += redos;
        e.supervised_tickets += i64::from(notices > 0);
        e.supervision_notices += notices;
        e.repeat_repairs += i64::from(f[9] == "true");
        // R-TKT-15: a call from a referring platform.
        e.referrals += i64::from(matches!(f[3], "CITY_HOTLINE" | "SUPERVISION_HOTLINE"));
    }
    let clock = |i: usize| {
        let (on_time, late) = clocks[i];
        let on_time_rate = rate(on_time, on_time + late);
        Some(pb::ClockFigure {
            on_time,
            late,
            on_time_rate,
        })
    };
    let [by_category, by_priority, by_source] = by.map(counts);
    pb::ServiceReport {
        by_category,
        by_source,
        by_priority,
        accept: clock(0),
        arrive: clock(1),
        resolve: clock(2),
        revisit: clock(3),
        feedback: clock(4),
        supervision: clock(5),
        // R-TKT-14: the fixture's calls name no type: general help requests.
        by_type: (e.tickets > 0)
            .then(|| pb::CountByKey {
                key: "HELP_GENERAL".into(),
                count: e.tickets,
            })
            .into_iter()
            .collect(),
        // Every fixture call is recorded by dispatch: no forwarding clock (R-TKT-1).
        forward: Some(pb::ClockFigure::default()),
        // R-SLA-6: a general help request's 3-day update is stopped by the
        // call-back, the event that stops the 2-day feedback clock too; no
        // call-back of the fixture falls between 2 and 3 days after its
        // call, so the two conclude alike.
        caller_update: clock(4),
        // Nothing else of R-RPT-2 happens in the fixture: no contact with a
        // referrer, no phone-handled matter, no major matter, no district.
        reply: Some(pb::ClockFigure::default()),
        callback: Some(pb::ClockFigure::default()),
        unit_report: Some(pb::ClockFigure::default()),
        result: Some(pb::ClockFigure::default()),
        referrer_update: Some(pb::ClockFigure::default()),
        leadership: Some(pb::ClockFigure::default()),
        instruction: Some(pb::ClockFigure::default()),
        // R-SLA-6: every repair of the fixture is done within hours of its
        // call: each resolved ticket kept its 7-day clock, none missed it.
        long_matter: Some(pb::ClockFigure {
            on_time: e.resolved,
            late: 0,
            on_time_rate: rate(e.resolved, e.resolved),
        }),
        revisit_rate: rate(e.revisited, e.resolved),
        satisfaction_rate: rate(e.satisfied, e.revisited),
        ..e
    }
}

/// The report's ticket figures only (no unit, times or temperature).
fn ticket_figures(r: &pb::ServiceReport) -> pb::ServiceReport {
    let mut t = r.clone();
    (t.unit, t.time_zone) = (String::new(), String::new());
    (t.start_time, t.end_time, t.generate_time, t.temperature) = (None, None, None, None);
    t
}

/// R-RPT-1, R-TKT-5, R-TKT-9..11, section 3: per unit and for all units,
/// every ticket figure of a period equals the one reasoned by hand from the
/// fixture; tickets received outside [start, end) do not count.
#[tokio::test]
async fn r_rpt_1_report_equals_hand_computed_figures() {
    let app = spawn_app().await;
    let mut k = Desk::open(&app).await;
    let start = local(2026, 12, 7, 9, 0, 0);
    // Received one second before the range: not counted.
    app.clock.set(start - Duration::seconds(1));
    k.call(create_req("BLOCKAGE"), "north").await;
    app.clock.set(start);
    let plan = fixture();
    let rows: Vec<&str> = plan.iter().map(|p| p.3).collect();
    let ids = k.build(plan).await;
    // Received at the range's (exclusive) end: not counted.
    app.clock.advance(Duration::hours(1));
    let end = app.now();
    k.call(create_req("BLOCKAGE"), "north").await;

    // Each ticket is what its row says, so a mismatch below is the report's.
    for (i, (id, row)) in ids.iter().zip(&rows).enumerate() {
        assert_eq!(row_of(&get(&app, id).await), *row, "T{}", i + 1);
    }

    let mut rep = reports(&app).await;
    for unit in [Some("north"), Some("south"), None] {
        let got = report(&mut rep, unit.unwrap_or(""), range(start, end)).await;
        assert_eq!(got.unit, unit.unwrap_or(""));
        assert_eq!((time(&got.start_time), time(&got.end_time)), (start, end));
        assert_eq!(time(&got.generate_time), app.now());
        assert_eq!(got.time_zone, "Asia/Shanghai");
        assert_eq!(got.breached_tickets, 0, "no monitor ran");
    }
    // The fixture spans days: the whole UTC days come from the counts kept
    // as the tickets were written, the hours at both edges from the tickets.
    assert_figures(&app, &rows, start, end).await;

    // The rows' sums for all units, written out.
    let all = report(&mut rep, "", range(start, end)).await;
    let clock = |c: Option<pb::ClockFigure>| c.map(|c| (c.on_time, c.late)).unwrap();
    assert_eq!((all.tickets, all.cancelled), (15, 1));
    assert_eq!(clock(all.accept), (11, 1));
    assert_eq!(clock(all.arrive), (9, 2));
    assert_eq!(clock(all.resolve), (9, 2));
    assert_eq!(clock(all.revisit), (6, 1));
    assert_eq!(all.accept.unwrap().on_time_rate, Some(11.0 / 12.0));
    assert_eq!((all.resolved, all.revisited, all.satisfied), (11, 7, 6));
    assert_eq!(all.revisit_rate, Some(7.0 / 11.0));
    assert_eq!(all.satisfaction_rate, Some(6.0 / 7.0));
    assert_eq!((all.returned_tickets, all.returns, all.redos), (2, 3, 1));
    assert_eq!((all.supervised_tickets, all.supervision_notices), (2, 3));
    assert_eq!(all.repeat_repairs, 1);
    let sources: Vec<_> = all
        .by_source
        .iter()
        .map(|c| format!("{}={}", c.key, c.count))
        .collect();
    let want = "CITY_HOTLINE=1 HOTLINE=12 ONLINE=1 SUPERVISION_HOTLINE=1";
    assert_eq!(sources.join(" "), want);

    // One second wider on both sides takes in the two outside tickets.
    let wider = range(start - Duration::seconds(1), end + Duration::seconds(1));
    let wide = report(&mut rep, "north", wider).await;
    assert_eq!(wide.tickets, expected(&rows, Some("north")).tickets + 2);

    // The same figures once housekeeping has folded the counts...
    assert!(app.run_maintenance().await.report_deltas > 0);
    assert_figures(&app, &rows, start, end).await;
    // ...and once they are computed afresh from the tickets at start, as
    // after an upgrade from a store that kept none.
    let store = app.store.clone();
    app.stop().await;
    let db = fieldops::storage::Db::connect(&db_settings(&store))
        .await
        .unwrap();
    use sea_orm::ConnectionTrait;
    for table in ["report_counts", "report_count_deltas"] {
        let sql = format!("DELETE FROM {table}");
        db.writer().execute_unprepared(&sql).await.unwrap();
    }
    db.close().await;
    let app = spawn_with("heating", store).await;
    assert_figures(&app, &rows, start, end).await;
}

/// Every ticket figure of [start, end) per unit and for all units equals
/// the one reasoned from the fixture's rows.
async fn assert_figures(app: &TestApp, rows: &[&str], start: DateTime<Utc>, end: DateTime<Utc>) {
    let mut rep = reports(app).await;
    for unit in [Some("north"), Some("south"), None] {
        let got = report(&mut rep, unit.unwrap_or(""), range(start, end)).await;
        assert_eq!(ticket_figures(&got), expected(rows, unit), "unit {unit:?}");
    }
}

/// R-RPT-1 under load: writers on two instances race (creating, claiming,
/// cancelling, correcting a category) while housekeeping folds the counts
/// over and over; afterwards every figure equals what the tickets
/// themselves say, read one by one.
#[tokio::test]
async fn r_rpt_1_counts_stay_exact_under_racing_writers_and_housekeeping() {
    let a = spawn_app().await;
    let b = spawn_sharing(&a).await;
    // Noon UTC: the tickets fall in a whole UTC day of the range, so the
    // figures come from the counts, not from the edges' tickets.
    let noon = utc(2026, 12, 8, 12);
    a.clock.set(noon);
    b.clock.set(noon);
    let (start, end) = (noon - Duration::hours(13), noon + Duration::days(2));
    const WRITERS: usize = 8;
    const EACH: usize = 6;
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(WRITERS + 1));
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let app = if w % 2 == 0 { &a } else { &b };
        let (mut d, mut c) = (app.dispatcher().await, app.crew("c1", "north").await);
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            for i in 0..EACH {
                let t = create(&mut d, "BLOCKAGE").await;
                match (w + i) % 3 {
                    0 => {
                        dispatch(&mut d, &t.id, "north").await;
                        claim(&mut c, &t.id).await.unwrap();
                    }
                    1 => {
                        let req = pb::CancelTicketRequest {
                            request_id: rid(),
                            ticket_id: t.id.clone(),
                            reason: "duplicate".into(),
                            ..Default::default()
                        };
                        d.cancel_ticket(req).await.unwrap();
                    }
                    _ => {
                        let req = pb::CorrectTicketRequest {
                            request_id: rid(),
                            ticket_id: t.id.clone(),
                            category: "AIR_LOCK".into(),
                            reason: "misheard".into(),
                            ..Default::default()
                        };
                        d.correct_ticket(req).await.unwrap();
                    }
                }
            }
        }));
    }
    let folding = {
        let handles = a.handles.clone();
        let barrier = barrier.clone();
        tokio::spawn(async move {
            barrier.wait().await;
            for _ in 0..20 {
                handles.maintenance.pass().await.unwrap();
                tokio::task::yield_now().await;
            }
        })
    };
    for t in tasks {
        t.await.unwrap();
    }
    folding.await.unwrap();

    let (all, _) = all_tickets(&mut a.dispatcher().await).await;
    assert_eq!(all.len(), WRITERS * EACH);
    let cancelled = all
        .iter()
        .filter(|t| t.state == pb::TicketState::Cancelled as i32)
        .count();
    let claimed = all
        .iter()
        .filter(|t| t.state == pb::TicketState::Claimed as i32)
        .count();
    let air_lock = all.iter().filter(|t| t.category == "AIR_LOCK").count();
    assert!(cancelled > 0 && claimed > 0 && air_lock > 0);
    for app in [&a, &b] {
        for _fold in 0..2 {
            let got = report(&mut reports(app).await, "", range(start, end)).await;
            assert_eq!(got.cancelled as usize, cancelled);
            assert_eq!(got.tickets as usize, WRITERS * EACH - cancelled);
            let key = |k: &str| {
                got.by_category
                    .iter()
                    .find(|c| c.key == k)
                    .map_or(0, |c| c.count)
            };
            assert_eq!(key("AIR_LOCK") as usize, air_lock);
            assert_eq!(
                key("BLOCKAGE") as usize,
                WRITERS * EACH - cancelled - air_lock
            );
            assert_eq!(got.accept.unwrap().on_time as usize, claimed);
            app.run_maintenance().await;
        }
    }
}

// ---------------------------------------------------------------------------

/// R-RPT-1: week (ISO, Monday to Monday), month and season (policy
/// `report.season_starts`, heating: 11-01 and 04-01) are local periods in
/// Asia/Shanghai; a ticket counts in the period containing its local
/// receipt time and in no neighbouring one.
#[tokio::test]
async fn r_rpt_1_calendar_periods_are_local() {
    let app = spawn_app().await;
    let mut d = app.dispatcher().await;
    // Local Monday 00:00 is Sunday 16:00 UTC; the year turns in local time.
    for t in [
        local(2026, 12, 7, 0, 0, 0),
        local(2026, 12, 13, 23, 59, 59),
        local(2026, 12, 31, 23, 59, 59),
        local(2027, 1, 1, 0, 0, 0),
    ] {
        app.clock.set(t);
        create(&mut d, "BLOCKAGE").await;
    }
    let mut r = reports(&app).await;
    #[rustfmt::skip]
    let cases = [
        (Kind::Week, "2026-12-06", 0), (Kind::Week, "2026-12-07", 2), (Kind::Week, "2026-12-13", 2),
        (Kind::Week, "2026-12-14", 0), (Kind::Week, "2026-12-31", 2),
        (Kind::Month, "2026-11-30", 0), (Kind::Month, "2026-12-01", 3), (Kind::Month, "2026-12-31", 3),
        (Kind::Month, "2027-01-01", 1), (Kind::Month, "2027-02-01", 0),
        (Kind::Season, "2027-01-15", 4), (Kind::Season, "2026-10-31", 0), (Kind::Season, "2027-04-01", 0),
    ];
    for (kind, anchor, n) in cases {
        let got = report(&mut r, "", calendar(kind, anchor)).await;
        assert_eq!(got.tickets, n, "{kind:?} of {anchor}");
    }

    let span = |r: &pb::ServiceReport| (time(&r.start_time), time(&r.end_time));
    let week = report(&mut r, "", calendar(Kind::Week, "2026-12-09")).await;
    assert_eq!(span(&week), (utc(2026, 12, 6, 16), utc(2026, 12, 13, 16)));
    let month = report(&mut r, "north", calendar(Kind::Month, "2026-12-31")).await;
    assert_eq!(span(&month), (utc(2026, 11, 30, 16), utc(2026, 12, 31, 16)));
    assert_eq!((month.unit.as_str(), month.tickets), ("north", 0));
    let season = report(&mut r, "", calendar(Kind::Season, "2027-01-15")).await;
    assert_eq!(span(&season), (utc(2026, 10, 31, 16), utc(2027, 3, 31, 16)));
    let rest = report(&mut r, "", calendar(Kind::Season, "2026-10-31")).await;
    assert_eq!(span(&rest), (utc(2026, 3, 31, 16), utc(2026, 10, 31, 16)));
    assert_eq!(season.time_zone, "Asia/Shanghai");
    assert_eq!(time(&season.generate_time), app.now());
}

// ---------------------------------------------------------------------------

/// R-RPT-1: a request without a valid period or with an unknown unit is
/// refused with the reason and the field at fault, on both RPCs; reading
/// changes nothing.
#[tokio::test]
async fn r_rpt_1_bad_input_is_refused_clearly() {
    let app = spawn_app().await;
    create(&mut app.dispatcher().await, "BLOCKAGE").await;
    let mut r = reports(&app).await;
    let before = ticket_figures(&report(&mut r, "", this_month(&app)).await);
    assert_eq!(before.tickets, 1);

    let t0 = utc(2026, 1, 1, 0);
    let (start_time, end_time) = (Some(ts(t0)), None);
    let open = Period::Range(pb::TimeRange {
        start_time,
        end_time,
    });
    let (anchor, kind) = ("period.calendar.anchor_date", "period.calendar.kind");
    let (missing, invalid, out) = (
        reason::MISSING_FIELD,
        reason::INVALID_FIELD,
        reason::OUT_OF_RANGE,
    );
    #[rustfmt::skip]
    let cases = [
        ("", None, missing, "period"),
        ("", Some(pb::ReportPeriod { period: None }), missing, "period"),
        ("", calendar(Kind::Unspecified, "2026-12-01"), missing, kind),
        ("", calendar(Kind::Month, ""), missing, anchor),
        ("", calendar(Kind::Month, "2026-13-01"), invalid, anchor),
        ("", calendar(Kind::Week, "2026-02-30"), invalid, anchor),
        ("", calendar(Kind::Season, "1 Dec 2026"), invalid, anchor),
        ("", Some(pb::ReportPeriod { period: Some(open) }), missing, "period.range.end_time"),
        ("", range(t0, t0), out, "period.range.end_time"),
        ("", range(t0, t0 - Duration::hours(1)), out, "period.range.end_time"),
        ("", range(t0, t0 + Duration::days(800)), out, "period.range"),
        ("east", range(t0, t0 + Duration::days(1)), reason::UNIT_NOT_FOUND, "unit"),
    ];
    for (unit, period, why, field) in cases {
        let what = format!("unit {unit:?}, {period:?}");
        let e = try_report(&mut r, unit, period.clone())
            .await
            .expect_err(&what);
        assert_status(&e, Code::InvalidArgument, why, Some(field));
        let e = export(&mut r, unit, period).await.expect_err(&what);
        assert_status(&e, Code::InvalidArgument, why, Some(field));
    }
    // A kind this server does not know.
    let mut unknown = calendar(Kind::Week, "2026-12-01");
    if let Some(Period::Calendar(c)) = unknown.as_mut().and_then(|p| p.period.as_mut()) {
        c.kind = 42;
    }
    let e = try_report(&mut r, "", unknown).await.unwrap_err();
    assert_status(&e, Code::InvalidArgument, invalid, Some(kind));

    // Exactly two calendar years (731 days, over a 29 February) are allowed.
    let two_years = range(utc(2027, 3, 1, 0), utc(2029, 3, 1, 0));
    assert_eq!(report(&mut r, "", two_years).await.tickets, 0);
    // Spaces around a unit id are not part of it.
    assert_eq!(
        report(&mut r, " north ", this_month(&app)).await.unit,
        "north"
    );

    assert_eq!(
        ticket_figures(&report(&mut r, "", this_month(&app)).await),
        before
    );
}

/// R-RPT-1: an anchor date at the edge of the calendar is refused as bad
/// input on the field the caller sent, and the server goes on answering.
#[tokio::test]
async fn r_rpt_1_anchor_dates_at_the_calendar_edge_are_refused() {
    let app = spawn_app().await;
    let mut r = reports(&app).await;
    #[rustfmt::skip]
    let cases = [
        (Kind::Week, "+262142-12-31"), (Kind::Week, "-262143-01-01"),
        (Kind::Season, "+262142-12-31"), (Kind::Month, "-262143-01-01"),
        (Kind::Month, "+262142-12-31"),
    ];
    for (kind, anchor) in cases {
        let e = try_report(&mut r, "", calendar(kind, anchor))
            .await
            .unwrap_err();
        let details = e.get_error_details();
        let violations = details
            .bad_request()
            .into_iter()
            .flat_map(|b| &b.field_violations);
        let fields: Vec<&str> = violations.map(|v| v.field.as_str()).collect();
        let got = (e.code(), fields);
        let want = (Code::InvalidArgument, vec!["period.calendar.anchor_date"]);
        assert_eq!(got, want, "{kind:?} {anchor}: {e:?}");
    }
    assert!(try_report(&mut r, "", this_month(&app)).await.is_ok());
}

/// R-RPT-1, DOMAIN.md section 1: supervisors, dispatchers, the back office
/// and admins read reports; crews and inspectors may not; no token, no report.
#[tokio::test]
async fn r_rpt_1_who_may_read_reports() {
    let app = spawn_app().await;
    for role in [
        Role::Supervisor,
        Role::Dispatcher,
        Role::Backoffice,
        Role::Admin,
    ] {
        let mut r = reports_as(&app, &[role]).await;
        let got = try_report(&mut r, "north", this_month(&app)).await;
        let got = got.unwrap_or_else(|e| panic!("{role:?}: {e:?}"));
        assert_eq!(got.unit, "north");
        let lines = export(&mut r, "north", this_month(&app)).await;
        let lines = lines.unwrap_or_else(|e| panic!("{role:?}: {e:?}"));
        assert_eq!(lines[0], "figure,key,value", "{role:?}");
    }
    let anonymous = ReportServiceClient::with_interceptor(app.channel().await, Bearer(None));
    let denied = (Code::PermissionDenied, reason::ROLE_NOT_ALLOWED);
    let refused = [
        (reports_as(&app, &[Role::Crew]).await, denied),
        (reports_as(&app, &[Role::Inspector]).await, denied),
        (anonymous, (Code::Unauthenticated, reason::UNAUTHENTICATED)),
    ];
    for (mut r, (code, why)) in refused {
        let e = try_report(&mut r, "north", this_month(&app))
            .await
            .unwrap_err();
        assert_status(&e, code, why, None);
        let e = export(&mut r, "north", this_month(&app)).await.unwrap_err();
        assert_status(&e, code, why, None);
    }
}

// ---------------------------------------------------------------------------

/// The CSV lines after the header as (figure, key) -> value; no pair twice.
fn csv_values(lines: &[String]) -> BTreeMap<(String, String), String> {
    let mut out = BTreeMap::new();
    for line in &lines[1..] {
        assert!(
            !line.contains(['"', '\n', '\r']),
            "no quoting needed: {line}"
        );
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), 3, "{line}");
        let old = out.insert((f[0].into(), f[1].into()), f[2].to_string());
        assert!(old.is_none(), "{line} twice");
    }
    out
}

fn text(v: Option<impl ToString>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// Every figure of `r` but the period's times, as the CSV export gives it.
fn figures_of(r: &pb::ServiceReport) -> BTreeMap<(String, String), String> {
    let mut m = BTreeMap::new();
    let mut put = |figure: &str, key: &str, value: String| {
        m.insert((figure.to_string(), key.to_string()), value);
    };
    put("unit", "", r.unit.clone());
    put("time_zone", "", r.time_zone.clone());
    let lists = [
        ("by_category", &r.by_category),
        ("by_source", &r.by_source),
        ("by_priority", &r.by_priority),
        ("by_type", &r.by_type),
        ("by_district", &r.by_district),
    ];
    for (name, list) in lists {
        for c in list {
            put(name, &c.key, c.count.to_string());
        }
    }
    let clocks = [
        ("accept", r.accept),
        ("arrive", r.arrive),
        ("resolve", r.resolve),
        ("revisit", r.revisit),
        ("feedback", r.feedback),
        ("supervision", r.supervision),
        ("forward", r.forward),
        ("reply", r.reply),
        ("callback", r.callback),
        ("unit_report", r.unit_report),
        ("result", r.result),
        ("caller_update", r.caller_update),
        ("referrer_update", r.referrer_update),
        ("leadership", r.leadership),
        ("instruction", r.instruction),
        ("long_matter", r.long_matter),
    ];
    for (name, c) in clocks {
        let c = c.expect("every clock figure is present");
        put(name, "on_time", c.on_time.to_string());
        put(name, "late", c.late.to_string());
        put(name, "on_time_rate", text(c.on_time_rate));
    }
    #[rustfmt::skip]
    let plain = [
        ("tickets", r.tickets), ("cancelled", r.cancelled), ("resolved", r.resolved),
        ("revisited", r.revisited), ("satisfied", r.satisfied), ("returned_tickets", r.returned_tickets),
        ("returns", r.returns), ("redos", r.redos), ("supervised_tickets", r.supervised_tickets),
        ("supervision_notices", r.supervision_notices), ("repeat_repairs", r.repeat_repairs),
        ("breached_tickets", r.breached_tickets), ("referrals", r.referrals),
        ("suspended_tickets", r.suspended_tickets), ("suspensions", r.suspensions),
        ("major_matters", r.major_matters),
    ];
    for (name, v) in plain {
        put(name, "", v.to_string());
    }
    put("revisit_rate", "", text(r.revisit_rate));
    put("satisfaction_rate", "", text(r.satisfaction_rate));
    let t = r.temperature.expect("temperature figures are present");
    #[rustfmt::skip]
    let temp = [
        ("visits", t.visits), ("compliant", t.compliant), ("non_compliant", t.non_compliant),
        ("deemed_compliant", t.deemed_compliant), ("exempt", t.exempt), ("inconclusive", t.inconclusive),
        ("cold_households", t.cold_households), ("new_cold_households", t.new_cold_households),
    ];
    for (key, v) in temp {
        put("temperature", key, v.to_string());
    }
    put("temperature", "compliance_rate", text(t.compliance_rate));
    put("temperature", "target", t.target.to_string());
    put("temperature", "target_met", text(t.target_met));
    m
}

/// R-RPT-1: ExportServiceReport streams the same report as CSV lines: the
/// header "figure,key,value", then one line per figure, agreeing with
/// GetServiceReport for the same request.
#[tokio::test]
async fn r_rpt_1_export_agrees_with_the_report() {
    let app = spawn_app().await;
    let start = local(2026, 12, 7, 9, 0, 0);
    app.clock.set(start);
    let mut k = Desk::open(&app).await;
    let plan: Vec<Planned> = vec![
        (
            create_req("BLOCKAGE"),
            "north",
            vec![Work, CallBack(Revisit::Satisfied)],
            "",
        ),
        // A referral claimed after 25 min: accept late.
        (
            via(Source::CityHotline, "NETWORK_LEAK"),
            "north",
            vec![Wait(25), Claim],
            "",
        ),
        (create_req("AIR_LOCK"), "north", vec![Cancel], ""),
        (create_req("AIR_LOCK"), "south", vec![], ""),
    ];
    k.build(plan).await;
    let end = start + Duration::days(1);

    let mut r = reports_as(&app, &[Role::Backoffice]).await;
    for unit in ["north", ""] {
        let got = report(&mut r, unit, range(start, end)).await;
        let lines = export(&mut r, unit, range(start, end)).await.unwrap();
        assert_eq!(lines[0], "figure,key,value");
        let mut csv = csv_values(&lines);
        let times = ["start_time", "end_time"].map(|f| csv.remove(&(f.into(), String::new())));
        let times = times.map(|t| DateTime::parse_from_rfc3339(&t.unwrap()).unwrap().to_utc());
        assert_eq!(times, [start, end]);
        assert_eq!(csv, figures_of(&got), "unit {unit:?}");
    }
    // Spot checks against the fixture itself.
    let lines = export(&mut r, "north", range(start, end)).await.unwrap();
    #[rustfmt::skip]
    let wanted = [
        "unit,,north", "tickets,,2", "cancelled,,1", "by_category,BLOCKAGE,1", "by_source,CITY_HOTLINE,1",
        "accept,on_time,1", "accept,late,1", "accept,on_time_rate,0.5", "revisit_rate,,1",
        "temperature,compliance_rate,", "temperature,target,0.98",
    ];
    for line in wanted {
        assert!(
            lines.iter().any(|l| l == line),
            "no line {line:?} in {lines:#?}"
        );
    }
}

// ---------------------------------------------------------------------------
// Temperature figures (R-TMP-9..11).

async fn inspector(app: &TestApp, unit: &str) -> Inspections {
    let auth = bearer("i1", &[Role::Inspector], unit);
    InspectionServiceClient::with_interceptor(app.channel().await, auth)
}

/// A signed visit on 2026-12-10 local: entered 10:00, doors closed, one
/// bedroom read 10:20..10:30 at its centre, 1.5 m up (R-TMP-2..6, R-TMP-12).
async fn visit(c: &mut Inspections, household: &str, temperature_c: f64) -> pb::Inspection {
    let at = |h, mi| Some(ts(local(2026, 12, 10, h, mi, 0)));
    let address = format!("{household}, 1 Heping Rd");
    let dwelling = Some(pb::Dwelling {
        household_id: household.into(),
        address,
    });
    let start = pb::StartInspectionRequest {
        request_id: rid(),
        dwelling,
        entered_at: at(10, 0),
        doors_windows_closed: true,
        outdoor_temp_c: Some(-5.0),
        thermometer_serial: "TH-0042".into(),
        calibration_due: "2027-06-30".into(),
        resident_phone: "13900001111".into(),
        ..Default::default()
    };
    let v = c.start_inspection(start).await.unwrap().into_inner();
    let reading = pb::RecordRoomReadingRequest {
        request_id: rid(),
        inspection_id: v.id.clone(),
        room_name: "bedroom".into(),
        room_type: pb::RoomType::Bedroom as i32,
        started_at: at(10, 20),
        ended_at: at(10, 30),
        temperature_c,
        height_m: 1.5,
        at_room_centre: true,
        ..Default::default()
    };
    c.record_room_reading(reading).await.unwrap();
    let finish = pb::FinishInspectionRequest {
        request_id: rid(),
        inspection_id: v.id,
        inspector_signature: "王五".into(),
        resident_outcome: pb::ResidentOutcome::Signed as i32,
        ..Default::default()
    };
    c.finish_inspection(finish).await.unwrap().into_inner()
}

/// (visits, compliant, non_compliant, compliance_rate, target_met, cold, new cold).
type Temp = (i64, i64, i64, Option<f64>, Option<bool>, i64, i64);

fn temp_of(r: &pb::ServiceReport) -> Temp {
    let t = r.temperature.unwrap();
    assert_eq!(t.target, 0.98, "R-TMP-11 default target");
    assert_eq!((t.deemed_compliant, t.exempt, t.inconclusive), (0, 0, 0));
    let (visits, ok, cold) = (t.visits, t.compliant, t.non_compliant);
    (
        visits,
        ok,
        cold,
        t.compliance_rate,
        t.target_met,
        t.cold_households,
        t.new_cold_households,
    )
}

/// R-RPT-1, R-TMP-9..11: visits finished in the period by verdict, the
/// compliance rate against the 98 % target per unit, cold households in the
/// archive now and those that joined in the period.
#[tokio::test]
async fn r_tmp_11_temperature_figures_per_unit_and_period() {
    let app = spawn_app().await;
    app.clock.set(local(2026, 12, 10, 12, 0, 0));
    let mut north = inspector(&app, "north").await;
    let warm = visit(&mut north, "HH-WARM", 21.0).await;
    assert_eq!(warm.verdict, pb::VisitVerdict::Compliant as i32);
    let cold = visit(&mut north, "HH-COLD", 16.0).await;
    assert_eq!(cold.verdict, pb::VisitVerdict::NonCompliant as i32);
    visit(&mut inspector(&app, "south").await, "HH-SOUTH", 20.0).await;

    let mut r = reports(&app).await;
    let december = || calendar(Kind::Month, "2026-12-10");
    let north_dec = temp_of(&report(&mut r, "north", december()).await);
    assert_eq!(north_dec, (2, 1, 1, Some(0.5), Some(false), 1, 1));
    let south_dec = temp_of(&report(&mut r, "south", december()).await);
    assert_eq!(south_dec, (1, 1, 0, Some(1.0), Some(true), 0, 0));
    let all_dec = temp_of(&report(&mut r, "", december()).await);
    assert_eq!(all_dec, (3, 2, 1, Some(2.0 / 3.0), Some(false), 1, 1));
    // Next month: no visit, so no rate; the household is still in the archive, not new.
    let january = calendar(Kind::Month, "2027-01-10");
    let north_jan = temp_of(&report(&mut r, "north", january).await);
    assert_eq!(north_jan, (0, 0, 0, None, None, 1, 0));
    // The heating season holds December.
    let season = calendar(Kind::Season, "2027-01-10");
    assert_eq!(temp_of(&report(&mut r, "north", season).await), north_dec);
}
