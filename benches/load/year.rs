//! A year of tickets for the report benchmarks (`report_query`, and the load
//! benchmark's Report scenario): 1,000,000 calls spread over 2025, each
//! through the domain's own commands with seeded random timings, so their
//! on-time outcomes, returns, redos and notices look like a real year.
use chrono::{DateTime, Duration, TimeZone, Utc};
use fieldops::domain::assessment::{self, AssessmentItem, ItemStatus};
use fieldops::domain::geo::GeoPoint;
use fieldops::domain::ticket::{
    CheckIn, Ctx, FaultParty, NewTicket, Resolution, RevisitOutcome, SourceChannel,
};
use fieldops::domain::{Caller, Policy, Role, Ticket};
use fieldops::storage::entities::{assessment_items, tickets};
use fieldops::storage::{self, Db};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::{EntityTrait, IntoActiveModel, TransactionTrait};
use std::time::Instant;
use uuid::Uuid;

pub const UNITS: [&str; 8] = [
    "north", "south", "east", "west", "centre", "harbour", "hills", "airport",
];
/// Rows per INSERT: under SQLite's 32,766 bound parameters whatever the
/// number of columns the tickets table has grown to.
fn batch() -> usize {
    32_000 / <tickets::Column as sea_orm::Iterable>::iter().count()
}

pub fn year_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap()
}

fn caller(sub: &str, role: Role, unit: &str) -> Caller {
    Caller {
        sub: sub.into(),
        roles: vec![role],
        unit: unit.into(),
    }
}

/// One ticket's year, decided by the dice, through the domain's commands.
fn simulate(
    policy: &Policy,
    categories: &[String],
    i: usize,
    n: usize,
    rng: &mut StdRng,
) -> Ticket {
    let span = Duration::days(365).num_seconds();
    let received = year_start() + Duration::seconds(span * i as i64 / n as i64);
    let unit = UNITS[rng.random_range(0..UNITS.len())];
    let d = caller("d1", Role::Dispatcher, "hq");
    let c = caller(
        &format!("{unit}-c{}", rng.random_range(0..20)),
        Role::Crew,
        unit,
    );
    let ctx = |who, now| ctx(policy, who, now);
    let category = categories[rng.random_range(0..categories.len())].clone();
    let input = NewTicket {
        category,
        ticket_type: None,
        source: SourceChannel::ALL[rng.random_range(0..4)],
        caller_name: "name".into(),
        caller_phone: format!("138{:08}", rng.random_range(0..5_000_000)),
        caller_organisation: String::new(),
        feedback_method: None,
        address: format!("{} Heping Rd, flat {}", rng.random_range(1..400), i % 97),
        location: None,
        content: "bench".into(),
        received_at: None,
        subject_staff_id: None,
        answered_on_call: rng.random_bool(0.05),
        complex: false,
        pipe_diameter_mm: None,
        referral: None,
        major: None,
        district: String::new(),
        time_limit_told: false,
    };
    let mut t = Ticket::create(&ctx(&d, received), Uuid::now_v7(), input)
        .unwrap()
        .ticket;
    if !t.state.is_open() {
        return t;
    }
    if rng.random_bool(0.03) {
        return t
            .cancel(&ctx(&d, received + Duration::minutes(5)), "duplicate")
            .unwrap()
            .ticket;
    }
    let mut now = received + Duration::seconds(rng.random_range(30..600));
    t = t.dispatch(&ctx(&d, now), unit, None).unwrap().ticket;
    // Accept: mostly within 3 minutes.
    let slowest = if rng.random_bool(0.9) { 170 } else { 900 };
    now += Duration::seconds(rng.random_range(10..slowest));
    t = t.claim(&ctx(&c, now), None).unwrap().ticket;
    let arrive_by = t.deadlines.arrive_by.unwrap();
    let to_arrive = (arrive_by - now).num_seconds().max(60);
    now += Duration::seconds(rng.random_range(30..to_arrive * 11 / 10 + 60));
    let here = GeoPoint::new(39.9, 116.4, "location").unwrap();
    let check_in = CheckIn {
        location: here,
        accuracy_m: 10.0,
        pipe_diameter_mm: None,
        occurred_at: None,
    };
    t = t.arrive(&ctx(&c, now), &check_in).unwrap().ticket;
    let resolve_by = t.deadlines.resolve_by.unwrap();
    let to_resolve = (resolve_by - now).num_seconds().max(600);
    now += Duration::seconds(rng.random_range(300..to_resolve * 11 / 10 + 600));
    let resolution = Resolution {
        code: "FIXED".into(),
        notes: String::new(),
        parts: vec![],
        cause: FaultParty::Utility,
        customer_acknowledged: true,
    };
    t = t.complete(&ctx(&c, now), resolution, None).unwrap().ticket;
    if rng.random_bool(0.08) {
        return t; // never called back
    }
    now += Duration::hours(rng.random_range(1..30));
    let outcome = match rng.random_range(0..100) {
        0..90 => RevisitOutcome::Satisfied,
        90..95 => RevisitOutcome::NotSatisfiedOther,
        _ => RevisitOutcome::NotSatisfiedUnitFault,
    };
    t.record_revisit(&ctx(&d, now), outcome, "").unwrap().ticket
}

fn ctx<'a>(policy: &'a Policy, caller: &'a Caller, now: DateTime<Utc>) -> Ctx<'a> {
    Ctx {
        policy,
        caller,
        now,
    }
}

/// R-ASM-1: the deduction items a simulated ticket's late events raise, as
/// the service would; about 2 % contested, 1 % waived.
fn items_of(policy: &Policy, t: &Ticket, rng: &mut StdRng) -> Vec<AssessmentItem> {
    assessment::ticket_items(None, t)
        .into_iter()
        .filter_map(|n| {
            let at = n.occurred_at;
            AssessmentItem::deduction(Uuid::now_v7(), n, &policy.assessment, at)
        })
        .map(|mut i| {
            i.status = match rng.random_range(0..100) {
                0..2 => ItemStatus::Contested,
                2..3 => ItemStatus::Waived,
                _ => ItemStatus::Raised,
            };
            i
        })
        .collect()
}

/// Seed `n` tickets (and, `with_items`, the assessment items their late
/// events raise); returns the number of items.
pub async fn seed(db: &Db, policy: &Policy, n: usize, with_items: bool) -> anyhow::Result<usize> {
    let categories: Vec<String> = policy.categories.keys().cloned().collect();
    let mut rng = StdRng::seed_from_u64(20261122);
    let started = Instant::now();
    let item_batch = 32_000 / <assessment_items::Column as sea_orm::Iterable>::iter().count();
    let (mut i, mut items) = (0, 0);
    while i < n {
        let tx = db.writer().begin().await?;
        for _ in 0..20 {
            if i >= n {
                break;
            }
            let mut raised = Vec::new();
            let rows: Vec<_> = (i..(i + batch()).min(n))
                .map(|k| {
                    let t = simulate(policy, &categories, k, n, &mut rng);
                    if with_items {
                        raised.extend(items_of(policy, &t, &mut rng));
                    }
                    storage::tickets::to_model(&t).into_active_model()
                })
                .collect();
            i += rows.len();
            tickets::Entity::insert_many(rows)
                .exec_without_returning(&tx)
                .await?;
            items += raised.len();
            for chunk in raised.chunks(item_batch) {
                let rows = chunk
                    .iter()
                    .map(|i| storage::assessment::to_model(i).into_active_model());
                assessment_items::Entity::insert_many(rows)
                    .exec_without_returning(&tx)
                    .await?;
            }
        }
        tx.commit().await?;
    }
    println!(
        "  seeded {n} tickets and {items} assessment items in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(items)
}
