//! R-TKT-11: a repair at the same address and category within 90 days of an
//! earlier one is flagged `repeat_repair`, linked to the earlier one.
mod common;

use chrono::{DateTime, Duration, Utc};
use common::*;
use fieldops::grpc::pb;

async fn intake(app: &TestApp, category: &str, address: &str) -> pb::Ticket {
    let mut d = app.dispatcher().await;
    let mut req = create_req(category);
    req.address = address.into();
    d.create_ticket(req).await.unwrap().into_inner()
}

/// A repair taken through to RESOLVED; returns its resolution time.
async fn repaired(app: &TestApp, category: &str, address: &str) -> (pb::Ticket, DateTime<Utc>) {
    let t = intake(app, category, address).await;
    let mut d = app.dispatcher().await;
    dispatch(&mut d, &t.id, "north").await;
    let mut c = app.crew("c1", "north").await;
    claim(&mut c, &t.id).await.unwrap();
    arrive(&mut c, &t.id).await;
    let t = complete(&mut c, &t.id).await;
    let at = time(&t.resolve_time);
    (t, at)
}

#[tokio::test]
async fn r_tkt_11_repeat_repair_within_90_days() {
    let app = spawn_app().await;
    let (first, resolved_at) = repaired(&app, "BLOCKAGE", "3 Heping Rd, Building 2").await;

    // Same address written differently, same category: a repeat.
    let again = intake(&app, "BLOCKAGE", "  3 heping rd,   BUILDING 2 ").await;
    assert!(again.repeat_repair);
    assert_eq!(again.repeat_of, first.id);
    let created = events(&app, &again.id).await;
    assert!(
        created[0].details_json.contains(&first.id),
        "{}",
        created[0].details_json
    );

    // Another category, or another address: not a repeat.
    assert!(
        !intake(&app, "AIR_LOCK", "3 Heping Rd, Building 2")
            .await
            .repeat_repair
    );
    assert!(
        !intake(&app, "BLOCKAGE", "4 Heping Rd, Building 2")
            .await
            .repeat_repair
    );

    // The window is inclusive: exactly 90 days after the resolution, still a repeat ...
    app.clock.set(resolved_at + Duration::days(90));
    assert_eq!(
        intake(&app, "BLOCKAGE", "3 Heping Rd, Building 2")
            .await
            .repeat_of,
        first.id
    );
    // ... one second later, not.
    app.clock
        .set(resolved_at + Duration::days(90) + Duration::seconds(1));
    assert!(
        !intake(&app, "BLOCKAGE", "3 Heping Rd, Building 2")
            .await
            .repeat_repair
    );
}

#[tokio::test]
async fn r_tkt_11_an_unresolved_earlier_ticket_is_no_repeat() {
    let app = spawn_app().await;
    let open = intake(&app, "BLOCKAGE", "9 Jianshe St").await;
    let second = intake(&app, "BLOCKAGE", "9 Jianshe St").await;
    assert!(!second.repeat_repair, "{} is not resolved yet", open.id);
    // The latest of several earlier repairs is the one linked.
    let (_, _) = repaired(&app, "BLOCKAGE", "9 Jianshe St").await;
    app.clock.advance(Duration::hours(1));
    let (latest, _) = repaired(&app, "BLOCKAGE", "9 Jianshe St").await;
    app.clock.advance(Duration::hours(1));
    assert_eq!(
        intake(&app, "BLOCKAGE", "9 Jianshe St").await.repeat_of,
        latest.id
    );
}
