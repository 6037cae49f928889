//! What a scenario needs before it is measured, written straight into the
//! store (the server is not running yet): tickets made by the domain's own
//! commands (intake, dispatch to `north`, optionally claimed by crew `c1`),
//! open inspections of inspector `i1`, each with its change-feed entry, as the
//! real requests would have left them.
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use fieldops::domain::geo::GeoPoint;
use fieldops::domain::inspection::{Dwelling, Inspection, InspectionState};
use fieldops::domain::protocol::VisitFacts;
use fieldops::domain::ticket::{Ctx, NewTicket, SourceChannel};
use fieldops::domain::{Caller, Policy, Role, Ticket};
use fieldops::storage::entities::tickets;
use fieldops::storage::feed::{self, ChangeDraft};
use fieldops::storage::{self, Db};
use sea_orm::{EntityTrait, IntoActiveModel, TransactionTrait};
use uuid::Uuid;

/// Rows per INSERT of the narrower tables.
const BATCH: usize = 500;

/// Ticket rows per INSERT: under SQLite's 32,766 bound parameters whatever
/// the number of columns the tickets table has grown to.
fn ticket_rows_per_insert() -> usize {
    32_000 / <tickets::Column as sea_orm::Iterable>::iter().count()
}
/// Where every ticket is (check-ins are made here too).
pub const HOME: (f64, f64) = (39.9042, 116.4074);
pub const UNIT: &str = "north";
pub const CREW: &str = "c1";
pub const INSPECTOR: &str = "i1";
pub const DISPATCHER: &str = "d1";

pub fn caller(sub: &str, role: Role, unit: &str) -> Caller {
    Caller {
        sub: sub.into(),
        roles: vec![role],
        unit: unit.into(),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TicketState {
    /// Dispatched to `north`, waiting to be claimed.
    Dispatched,
    /// Claimed by crew `c1`, waiting for the check-in.
    Claimed,
}

/// One ticket through the domain's commands, at `now`.
pub fn ticket(policy: &Policy, i: usize, state: TicketState, now: DateTime<Utc>) -> Ticket {
    let d = caller(DISPATCHER, Role::Dispatcher, "hq");
    let c = caller(CREW, Role::Crew, UNIT);
    let ctx = |who| Ctx {
        policy,
        caller: who,
        now,
    };
    let input = NewTicket {
        category: "BUILDING_NO_HEAT".into(),
        ticket_type: None,
        source: SourceChannel::Hotline,
        caller_name: "张三".into(),
        caller_phone: format!("138{:08}", i % 100_000_000),
        caller_organisation: String::new(),
        feedback_method: None,
        address: format!(
            "{} Heping Rd, Building 3, Unit 2, Flat {}",
            i / 97 + 1,
            i % 97
        ),
        location: Some(GeoPoint::new(HOME.0, HOME.1, "location").expect("valid point")),
        content: "radiators cold since yesterday".into(),
        received_at: None,
        subject_staff_id: None,
        answered_on_call: false,
        complex: false,
        pipe_diameter_mm: None,
        referral: None,
        major: None,
        district: String::new(),
        time_limit_told: false,
    };
    let t = Ticket::create(&ctx(&d), Uuid::now_v7(), input)
        .expect("valid ticket")
        .ticket;
    let t = t.dispatch(&ctx(&d), UNIT, None).expect("dispatch").ticket;
    match state {
        TicketState::Dispatched => t,
        TicketState::Claimed => t.claim(&ctx(&c), None).expect("claim").ticket,
    }
}

/// How the seeded tickets' changes go on the feed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// One sequence number per ticket, as its own transaction would have
    /// written it (for Pull and Watch, which read the feed).
    PerTicket,
    /// One sequence number per 500 tickets: much faster to seed, for pools
    /// whose feed entries nobody reads.
    Batched,
}

/// `n` tickets in `state`, with their change-feed entries. Returns their ids.
pub async fn tickets(
    db: &Db,
    policy: &Policy,
    n: usize,
    state: TicketState,
    feed_mode: Feed,
) -> anyhow::Result<Vec<Uuid>> {
    let now = Utc::now();
    let mut ids = Vec::with_capacity(n);
    let mut i = 0;
    while i < n {
        let tx = db.writer().begin().await?;
        for _ in 0..20 {
            if i >= n {
                break;
            }
            let batch: Vec<Ticket> = (i..(i + ticket_rows_per_insert()).min(n))
                .map(|k| ticket(policy, k, state, now))
                .collect();
            i += batch.len();
            ids.extend(batch.iter().map(|t| t.id));
            let rows: Vec<_> = batch
                .iter()
                .map(|t| storage::tickets::to_model(t).into_active_model())
                .collect();
            tickets::Entity::insert_many(rows)
                .exec_without_returning(&tx)
                .await?;
            match feed_mode {
                Feed::PerTicket => {
                    for t in &batch {
                        feed::append(&tx, vec![ChangeDraft::ticket(t, None, &seeded())], now)
                            .await?;
                    }
                }
                Feed::Batched => {
                    let drafts = batch
                        .iter()
                        .map(|t| ChangeDraft::ticket(t, None, &seeded()))
                        .collect();
                    feed::append(&tx, drafts, now).await?;
                }
            }
        }
        tx.commit().await?;
    }
    Ok(ids)
}

/// The local day the readings are dated: yesterday in Asia/Shanghai, so
/// every device time is in the past and inside the 08:00-21:00 window.
pub fn reading_day() -> NaiveDate {
    Utc::now().with_timezone(&Shanghai).date_naive() - Duration::days(1)
}

/// A local (Asia/Shanghai) time on `day`.
pub fn local(day: NaiveDate, h: u32, m: u32) -> DateTime<Utc> {
    Shanghai
        .from_local_datetime(&day.and_hms_opt(h, m, 0).expect("valid time"))
        .single()
        .expect("no DST in Shanghai")
        .with_timezone(&Utc)
}

/// Entered at 09:00 local; readings are 09:20-09:32 (settle 15 min, 10 min long).
pub fn visit_entered_at() -> DateTime<Utc> {
    local(reading_day(), 9, 0)
}

/// `n` open visits run by inspector `i1`, with their change-feed entries.
pub async fn inspections(db: &Db, policy: &Policy, n: usize) -> anyhow::Result<Vec<Uuid>> {
    let now = Utc::now();
    let day = reading_day();
    let facts = VisitFacts {
        entered_at: visit_entered_at(),
        doors_windows_closed: true,
        outdoor_temp_c: Some(-5.0),
        observed_exemptions: vec![],
        thermometer_serial: "TH-0042".into(),
        calibration_due: day + Duration::days(365),
        outage: None,
    };
    let result = policy.temperature.judge_visit(&facts, &[], None);
    let mut ids = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(BATCH) {
        let tx = db.writer().begin().await?;
        for &k in chunk {
            let visit = Inspection {
                id: Uuid::now_v7(),
                version: 1,
                state: InspectionState::InProgress,
                dwelling: Dwelling {
                    household_id: Some(format!("HH-{k:06}")),
                    address: Some(format!("{} Heping Rd, Flat {}", k / 97 + 1, k % 97)),
                },
                ticket_id: None,
                inspector: INSPECTOR.into(),
                unit: UNIT.into(),
                facts: facts.clone(),
                resident_name: "李四".into(),
                resident_phone: "13900001111".into(),
                result: result.clone(),
                sign_off: None,
                objection_ticket_id: None,
                created_at: now,
                updated_at: now,
                finished_at: None,
                personal_data_removed_at: None,
                readings: Vec::new(),
            };
            storage::inspections::insert(&tx, &visit).await?;
            feed::append(&tx, vec![ChangeDraft::inspection(&visit, &seeded())], now).await?;
            ids.push(visit.id);
        }
        tx.commit().await?;
    }
    Ok(ids)
}

/// The feed cause of a seeded record: the seed writes no trail events.
fn seeded() -> feed::Cause {
    feed::Cause::audit_event(0, "SEEDED", "bench:seed", "admin")
}
