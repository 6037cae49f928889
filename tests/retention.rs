//! R-REC-3: records are kept five years; a retention run archives what is
//! older and clears the callers' personal data, nothing younger, once.
//! The fixture spans six years on the server's (manual) clock: records are
//! written in the past, then the run happens "today".
mod common;

use chrono::Duration;
use common::*;
use fieldops::domain::{Policy, Role};
use fieldops::grpc::pb;
use fieldops::grpc::pb::inspection_service_client::InspectionServiceClient;
use fieldops::service::retention::{Retention, verify_archive};
use fieldops::storage::entities::audit_events;
use fieldops::storage::{Db, chain};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use std::sync::Arc;

/// A ticket received at `at` and (unless `open`) cancelled then.
async fn ticket_at(app: &TestApp, at: chrono::DateTime<chrono::Utc>, open: bool) -> String {
    app.clock.set(at);
    let mut d = app.dispatcher().await;
    let t = create(&mut d, "BUILDING_NO_HEAT").await;
    if !open {
        d.cancel_ticket(pb::CancelTicketRequest {
            request_id: rid(),
            ticket_id: t.id.clone(),
            reason: "duplicate call".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    t.id
}

/// A visit signed off at `at`.
async fn visit_at(app: &TestApp, at: chrono::DateTime<chrono::Utc>) -> String {
    app.clock.set(at);
    let mut i = InspectionServiceClient::with_interceptor(
        app.channel().await,
        bearer_for("i1", &[Role::Inspector], "north"),
    );
    let v = i
        .start_inspection(pb::StartInspectionRequest {
            request_id: rid(),
            dwelling: Some(pb::Dwelling {
                household_id: format!("H-{}", at.timestamp()),
                address: "8 Heping Rd, Building 2, Flat 301".into(),
            }),
            entered_at: Some(ts(at - Duration::minutes(60))),
            doors_windows_closed: true,
            outdoor_temp_c: Some(-5.0),
            thermometer_serial: "TH-0001".into(),
            calibration_due: "2099-06-30".into(),
            resident_name: "李四".into(),
            resident_phone: "13900001111".into(),
            device_id: "handheld-7".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    i.finish_inspection(pb::FinishInspectionRequest {
        request_id: rid(),
        inspection_id: v.id.clone(),
        inspector_signature: "signed: inspector".into(),
        resident_outcome: pb::ResidentOutcome::Signed as i32,
        device_id: "handheld-7".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    v.id
}

async fn visit(app: &TestApp, id: &str) -> pb::Inspection {
    let mut d = InspectionServiceClient::with_interceptor(
        app.channel().await,
        bearer_for("d1", &[Role::Dispatcher], "north"),
    );
    d.get_inspection(pb::GetInspectionRequest {
        inspection_id: id.into(),
    })
    .await
    .unwrap()
    .into_inner()
}

#[tokio::test]
async fn r_rec_3_exactly_the_old_records_are_archived_and_cleared_once() {
    let app = spawn_app().await;
    let today = app.now();
    let policy = Policy::builtin("heating").unwrap();
    let cutoff = today - policy.record_retention;
    let second = Duration::seconds(1);

    // Due: six years old; a day past five years; one second before the cutoff.
    let six = ticket_at(&app, today - Duration::days(6 * 365), false).await;
    let five_and_a_day = ticket_at(&app, cutoff - Duration::days(1), false).await;
    let just_past = ticket_at(&app, cutoff - second, false).await;
    // Kept: at the cutoff itself; six years old but still open; last year's.
    let at_edge = ticket_at(&app, cutoff, false).await;
    let open = ticket_at(&app, today - Duration::days(6 * 365), true).await;
    let recent = ticket_at(&app, today - Duration::days(365), false).await;
    let old_visit = visit_at(&app, today - Duration::days(6 * 365)).await;
    let new_visit = visit_at(&app, today - Duration::days(30)).await;
    app.clock.set(today);

    let db = Db::connect(&db_settings(&app.store)).await.unwrap();
    let run = Retention::new(db.clone(), Arc::new(policy), app.clock.clone());
    // The dry run says what would happen and changes nothing.
    let due = run.due().await.unwrap();
    assert_eq!((due.tickets, due.inspections), (3, 1), "{due:?}");
    assert_eq!(due.cutoff, cutoff);
    assert_eq!(get(&app, &six).await.caller_phone, "13812345678");

    let dir = std::env::temp_dir().join(format!("fieldops-archive-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let archive = dir.join("retention-1.jsonl");
    let out = run.run(&archive, 2).await.unwrap();
    assert_eq!((out.tickets, out.inspections), (3, 1), "{out:?}");

    // Cleared: name, phone, exact address, map point; an event says so.
    for id in [&six, &five_and_a_day, &just_past] {
        let t = get(&app, id).await;
        assert_eq!(
            (t.caller_name.as_str(), t.caller_phone.as_str()),
            ("", ""),
            "{id}"
        );
        assert!(!t.address.contains("Heping"), "{}", t.address);
        assert!(t.location.is_none());
        let trail = events(&app, id).await;
        assert_eq!(trail.last().unwrap().kind, "PERSONAL_DATA_REMOVED");
        assert_eq!(trail.last().unwrap().actor_sub, "system:retention");
    }
    // Kept whole.
    for id in [&at_edge, &open, &recent] {
        let t = get(&app, id).await;
        assert_eq!(t.caller_phone, "13812345678", "{id}");
        assert!(t.address.contains("Heping"));
    }
    assert_eq!(visit(&app, &old_visit).await.resident_phone, "");
    assert_eq!(visit(&app, &new_visit).await.resident_phone, "13900001111");

    // The archive holds what was cleared, and verifies on its own.
    let check = verify_archive(&archive).unwrap();
    assert_eq!((check.tickets, check.inspections), (3, 1));
    assert!(check.events >= 3 * 2 + 2, "{check:?}");
    assert_eq!(Some(check.sha256.clone()), out.archive_sha256);
    let text = std::fs::read_to_string(&archive).unwrap();
    assert_eq!(text.matches("13812345678").count(), 3);
    assert_eq!(text.matches("13900001111").count(), 1);
    // The run is on the trail, naming the archive by its hash.
    let runs = audit_events::Entity::find()
        .filter(audit_events::Column::Kind.eq("RETENTION_RUN"))
        .all(db.reader())
        .await
        .unwrap();
    assert_eq!(runs.len(), 1);
    let details: serde_json::Value = serde_json::from_str(&runs[0].details).unwrap();
    assert_eq!(details["archive_sha256"], check.sha256);
    assert_eq!(details["tickets"], 3);
    assert!(chain::verify(&db, &[]).await.unwrap().clean());

    // An archive altered afterwards does not verify.
    let tampered = dir.join("tampered.jsonl");
    std::fs::write(
        &tampered,
        text.replacen("duplicate call", "never called", 1),
    )
    .unwrap();
    assert!(verify_archive(&tampered).is_err());

    // A second run does nothing.
    let again = run.run(&dir.join("retention-2.jsonl"), 2).await.unwrap();
    assert_eq!((again.tickets, again.inspections), (0, 0));
    assert_eq!(
        std::fs::read(dir.join("retention-2.jsonl")).unwrap().len(),
        0
    );
    assert_eq!(
        events(&app, &six).await.len(),
        3,
        "created, cancelled, cleared"
    );
    // An archive is never overwritten.
    assert!(run.run(&archive, 2).await.is_err());
}

/// Cleared records leave the change feed too: a reader syncing from
/// scratch gets the cleared state only.
#[tokio::test]
async fn r_rec_3_the_feed_keeps_no_old_personal_data() {
    let app = spawn_app().await;
    let today = app.now();
    let old = ticket_at(&app, today - Duration::days(6 * 365), false).await;
    app.clock.set(today);
    let db = Db::connect(&db_settings(&app.store)).await.unwrap();
    let run = Retention::new(
        db.clone(),
        Arc::new(Policy::builtin("heating").unwrap()),
        app.clock.clone(),
    );
    let dir = std::env::temp_dir().join(format!("fieldops-archive-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    run.run(&dir.join("a.jsonl"), 10).await.unwrap();
    let rows = fieldops::storage::entities::change_log::Entity::find()
        .all(db.reader())
        .await
        .unwrap();
    assert!(rows.iter().any(|r| r.entity_id == old));
    assert!(
        rows.iter().all(|r| !r.payload.contains("13812345678")),
        "a change still holds the phone"
    );
}

/// `fieldops retention run --dry-run`, `run` and `verify-archive`, as typed.
#[tokio::test]
async fn the_retention_commands_work_as_written() {
    if is_postgres() {
        return; // The commands' store here is the SQLite file.
    }
    let app = spawn_app().await;
    let dir = app.store.dir.clone().unwrap();
    let data = dir.to_str().unwrap().to_string();
    let run = |extra: &[&str]| {
        let mut a: Vec<String> = vec![
            "retention".into(),
            "run".into(),
            "--data-dir".into(),
            data.clone(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let (ok, out, err) = common::process::fieldops(run(&["--dry-run"])).await;
    assert!(
        ok && out.contains("dry run: 0 tickets and 0 visits"),
        "{out}{err}"
    );
    let archive = dir.join("archive-cli.jsonl");
    let (ok, out, err) =
        common::process::fieldops(run(&["--archive", archive.to_str().unwrap()])).await;
    assert!(ok && out.contains("archive sha256"), "{out}{err}");
    let (ok, out, err) = common::process::fieldops(vec![
        "retention".into(),
        "verify-archive".into(),
        archive.to_str().unwrap().into(),
    ])
    .await;
    assert!(ok && out.contains("every chain intact"), "{out}{err}");
    // Without --archive the run writes under the data dir's archive/.
    let (ok, out, err) = common::process::fieldops(run(&[])).await;
    assert!(ok, "{out}{err}");
    assert_eq!(std::fs::read_dir(dir.join("archive")).unwrap().count(), 1);
}
