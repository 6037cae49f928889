//! R-REC-2: the audit trail is tamper-evident. Each event is sealed onto its
//! chain (a ticket's events; one entity's general audit entries) in the
//! writing transaction; anchors outside the database cover whole tables.
//! Tampering is done here as an operator with the application's database
//! role would: a second connection, raw SQL, triggers dropped or disabled
//! first. Verification is the library function `fieldops audit verify`
//! runs; the command itself is driven in `a_tampered_store_fails_the_command`
//! (SQLite) and in tests/backup.rs.
mod common;

use common::process::fieldops;
use common::*;
use fieldops::domain::Role;
use fieldops::grpc::pb;
use fieldops::grpc::pb::reading_service_client::ReadingServiceClient;
use fieldops::service::trail::{AnchorFile, take_anchor};
use fieldops::storage::entities::{audit_events, ticket_events};
use fieldops::storage::{Db, chain};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use std::sync::Arc;
use tokio::sync::Barrier;

struct Trail {
    app: TestApp,
    db: Db,
    anchors: AnchorFile,
    tickets: Vec<String>,
}

/// A store with history: three tickets through claim, arrival and two
/// contacts; meter readings, one rolling back (entries of the general trail).
async fn trail() -> Trail {
    let app = spawn_app().await;
    let mut d = app.dispatcher().await;
    let mut crew = app.crew("c1", "north").await;
    let mut tickets = Vec::new();
    for _ in 0..3 {
        let t = create(&mut d, "BUILDING_NO_HEAT").await;
        dispatch(&mut d, &t.id, "north").await;
        claim(&mut crew, &t.id).await.unwrap();
        arrive(&mut crew, &t.id).await;
        for _ in 0..2 {
            call_back(&mut d, &t.id, true).await.unwrap();
        }
        tickets.push(t.id);
    }
    let mut r = ReadingServiceClient::with_interceptor(
        app.channel().await,
        bearer_for("i1", &[Role::Inspector], "north"),
    );
    for value in [100.0, 120.0, 90.0] {
        r.record_meter_reading(pb::RecordMeterReadingRequest {
            request_id: rid(),
            meter_id: "M-1".into(),
            value,
            unit: pb::MeterUnit::CubicMetre as i32,
            read_time: Some(ts(app.now())),
            device_id: "handheld-7".into(),
            reading_id: String::new(),
        })
        .await
        .unwrap();
        app.clock.advance(chrono::Duration::minutes(5));
    }
    let db = Db::connect(&db_settings(&app.store)).await.unwrap();
    let anchors = AnchorFile::new(
        std::env::temp_dir().join(format!("fieldops-anchors-{}.jsonl", uuid::Uuid::new_v4())),
    );
    Trail {
        app,
        db,
        anchors,
        tickets,
    }
}

impl Trail {
    async fn verify(&self) -> chain::Report {
        chain::verify(&self.db, &self.anchors.read().unwrap())
            .await
            .unwrap()
    }

    async fn anchor(&self) {
        take_anchor(&self.db, &self.anchors, self.app.now())
            .await
            .unwrap();
    }

    /// Raw SQL as the application's database role.
    async fn sql(&self, sql: &str) -> Result<(), sea_orm::DbErr> {
        self.db.writer().execute_unprepared(sql).await.map(|_| ())
    }

    /// The sequence numbers of a ticket's events.
    async fn events_of(&self, ticket: &str) -> Vec<i64> {
        ticket_events::Entity::find()
            .filter(ticket_events::Column::TicketId.eq(ticket))
            .order_by_asc(ticket_events::Column::Sequence)
            .all(self.db.reader())
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.sequence)
            .collect()
    }

    /// Each event's seal as ListTicketEvents reports it, read in pages of
    /// `page` (a page after the first starts from the event before it).
    async fn seals(&self, ticket: &str, page: i32) -> Vec<(i64, pb::SealCheck)> {
        let mut d = self.app.dispatcher().await;
        let (mut out, mut token) = (Vec::new(), String::new());
        loop {
            let r = d
                .list_ticket_events(pb::ListTicketEventsRequest {
                    ticket_id: ticket.into(),
                    page_size: page,
                    page_token: token,
                })
                .await
                .unwrap()
                .into_inner();
            out.extend(r.events.iter().map(|e| (e.sequence, e.seal())));
            if r.next_page_token.is_empty() {
                return out;
            }
            token = r.next_page_token;
        }
    }

    /// Take away the guard of `table` against `op` ("UPDATE", "DELETE",
    /// "TRUNCATE"): dropped on SQLite; disabled (UPDATE/DELETE) or dropped
    /// (TRUNCATE) on PostgreSQL. The guard's name.
    async fn unguard(&self, table: &str, op: &str) -> String {
        if is_postgres() {
            let name = if op == "TRUNCATE" {
                format!("{table}_no_truncate")
            } else {
                format!("{table}_append_only")
            };
            let sql = if op == "TRUNCATE" {
                format!("DROP TRIGGER {name} ON {table}")
            } else {
                format!("ALTER TABLE {table} DISABLE TRIGGER {name}")
            };
            self.sql(&sql).await.unwrap();
            name
        } else {
            let name = format!("{table}_no_{}", op.to_lowercase());
            self.sql(&format!("DROP TRIGGER {name}")).await.unwrap();
            name
        }
    }

    /// The server refuses to start on this store, saying why.
    async fn start_refused(&self, guard: &str) {
        let err = match fieldops::app::App::build(test_config(&self.app.store)).await {
            Ok(_) => panic!("the server started without the guard {guard}"),
            Err(e) => e.to_string(),
        };
        assert!(
            err.contains("append-only") && err.contains(guard) && err.contains("reinstate"),
            "{err}"
        );
    }
}

fn only_finding(r: &chain::Report) -> &chain::Finding {
    assert_eq!(r.findings.len(), 1, "{:#?}", r.findings);
    &r.findings[0]
}

#[tokio::test]
async fn r_rec_2_an_untouched_trail_verifies_with_and_without_anchors() {
    let t = trail().await;
    let r = t.verify().await;
    assert!(r.clean(), "{r:#?}");
    // 3 tickets × (create, dispatch, claim, arrive, 2 contacts).
    let ticket_events = 18;
    assert!(r.events >= ticket_events + 3, "{r:#?}");
    assert!(r.chains >= 3 + 3, "{r:#?}");
    assert_eq!((r.unsealed, r.anchors_checked), (0, 0));

    t.anchor().await;
    let mut d = t.app.dispatcher().await;
    call_back(&mut d, &t.tickets[0], true).await.unwrap();
    t.anchor().await;
    let r = t.verify().await;
    assert!(r.clean(), "{r:#?}");
    assert_eq!(r.anchors_checked, 4, "two anchors of two tables");
    let anchors = t.anchors.read().unwrap();
    let te = |i: usize| {
        anchors[i]
            .tables
            .iter()
            .find(|x| x.table == "ticket_events")
            .unwrap()
            .clone()
    };
    assert_eq!(
        te(1).count,
        te(0).count + 1,
        "the second anchor carries the first on"
    );
    // An anchor with nothing new is the same digest.
    t.anchor().await;
    let anchors = t.anchors.read().unwrap();
    assert_eq!(anchors[2].tables, anchors[1].tables);
}

#[tokio::test]
async fn r_rec_2_an_altered_event_is_found_at_that_event() {
    let t = trail().await;
    let seqs = t.events_of(&t.tickets[1]).await;
    // The guard holds first: the alteration is refused and nothing changes.
    let alter = format!(
        "UPDATE ticket_events SET details = '{{\"summary\":\"never called\"}}' WHERE sequence = {}",
        seqs[4]
    );
    assert!(t.sql(&alter).await.is_err());
    assert!(t.verify().await.clean());

    let guard = t.unguard("ticket_events", "UPDATE").await;
    t.sql(&alter).await.unwrap();
    let r = t.verify().await;
    assert_eq!(r.missing_guards, vec![guard.clone()]);
    let f = only_finding(&r);
    assert_eq!(f.table, "ticket_events");
    assert_eq!(f.chain, format!("ticket {}", t.tickets[1]));
    assert_eq!(f.sequence, seqs[4], "the altered event itself");
    assert!(f.problem.contains("altered"), "{f}");
    // The trail as a reader lists it says the same, at that event only,
    // whether the altered event opens a page or sits inside one.
    let expected: Vec<_> = seqs
        .iter()
        .map(|&q| {
            let seal = if q == seqs[4] {
                pb::SealCheck::Altered
            } else {
                pb::SealCheck::Intact
            };
            (q, seal)
        })
        .collect();
    for page in [500, 2, 3] {
        assert_eq!(
            t.seals(&t.tickets[1], page).await,
            expected,
            "pages of {page}"
        );
    }
    // Another ticket's chain is untouched.
    let other = t.seals(&t.tickets[0], 500).await;
    assert!(
        other.iter().all(|(_, s)| *s == pb::SealCheck::Intact),
        "{other:?}"
    );
    t.start_refused(&guard).await;

    // Reinstating the guard lets the server start; the broken link stays.
    assert_eq!(chain::reinstate_guards(&t.db).await.unwrap(), vec![guard]);
    assert!(chain::reinstate_guards(&t.db).await.unwrap().is_empty());
    let r = t.verify().await;
    assert!(r.missing_guards.is_empty());
    assert_eq!(only_finding(&r).sequence, seqs[4]);
    assert!(t.sql(&alter).await.is_err(), "the guard is back");
}

#[tokio::test]
async fn r_rec_2_a_removed_event_breaks_the_next_link() {
    let t = trail().await;
    let seqs = t.events_of(&t.tickets[0]).await;
    let guard = t.unguard("ticket_events", "DELETE").await;
    t.sql(&format!(
        "DELETE FROM ticket_events WHERE sequence = {}",
        seqs[2]
    ))
    .await
    .unwrap();
    let r = t.verify().await;
    assert_eq!(r.missing_guards, vec![guard.clone()]);
    let f = only_finding(&r);
    assert_eq!(f.chain, format!("ticket {}", t.tickets[0]));
    assert_eq!(f.sequence, seqs[3], "the event after the removed one");
    assert!(f.problem.contains("removed"), "{f}");
    // Listed: the event after the gap is unlinked; a page that starts at it
    // is checked against the event before the gap all the same.
    for page in [500, 2] {
        let seals = t.seals(&t.tickets[0], page).await;
        let broken: Vec<_> = seals
            .iter()
            .filter(|(_, s)| *s != pb::SealCheck::Intact)
            .collect();
        assert_eq!(
            broken,
            vec![&(seqs[3], pb::SealCheck::Unlinked)],
            "pages of {page}"
        );
        assert_eq!(seals.len(), seqs.len() - 1);
    }
    t.start_refused(&guard).await;
}

#[tokio::test]
async fn r_rec_2_stripped_seals_are_found_in_pages_of_any_size() {
    let t = trail().await;
    let seqs = t.events_of(&t.tickets[2]).await;
    t.unguard("ticket_events", "UPDATE").await;
    t.sql(&format!(
        "UPDATE ticket_events SET hash = NULL WHERE sequence IN ({}, {})",
        seqs[2], seqs[3]
    ))
    .await
    .unwrap();
    let f = only_finding(&t.verify().await).clone();
    assert_eq!(f.sequence, seqs[2], "{f}");
    // Listed: both stripped events are unsealed (not "from before sealing",
    // even when a page starts right after one), and the next event no
    // longer follows the last seal.
    use pb::SealCheck::{Intact, Unlinked, Unsealed};
    let expected: Vec<_> = seqs
        .iter()
        .zip([Intact, Intact, Unsealed, Unsealed, Unlinked, Intact])
        .map(|(q, s)| (*q, s))
        .collect();
    for page in [500, 1, 2, 3] {
        assert_eq!(
            t.seals(&t.tickets[2], page).await,
            expected,
            "pages of {page}"
        );
    }
}

#[tokio::test]
async fn r_rec_2_a_removed_tail_is_found_by_the_anchor_that_covers_it() {
    let t = trail().await;
    t.anchor().await;
    // One event after the anchor: not covered by it.
    let mut d = t.app.dispatcher().await;
    call_back(&mut d, &t.tickets[2], true).await.unwrap();
    let seqs = t.events_of(&t.tickets[2]).await;
    let (anchored_tail, newer) = (seqs[seqs.len() - 2], seqs[seqs.len() - 1]);
    t.unguard("ticket_events", "DELETE").await;

    // One step past the anchor: removing the newer tail leaves every chain
    // intact and every anchor true. Anchors see only what they cover.
    t.sql(&format!(
        "DELETE FROM ticket_events WHERE sequence = {newer}"
    ))
    .await
    .unwrap();
    let r = t.verify().await;
    assert!(r.findings.is_empty(), "{r:#?}");

    // At the anchor's edge: the tail it covers is gone.
    t.sql(&format!(
        "DELETE FROM ticket_events WHERE sequence = {anchored_tail}"
    ))
    .await
    .unwrap();
    let r = t.verify().await;
    let f = only_finding(&r);
    assert_eq!(f.table, "ticket_events");
    assert!(f.chain.starts_with("anchor "), "{f}");
    assert!(f.problem.contains("removed"), "{f}");

    // A whole chain removed is the same finding.
    let t2 = trail().await;
    t2.anchor().await;
    t2.unguard("ticket_events", "DELETE").await;
    t2.sql(&format!(
        "DELETE FROM ticket_events WHERE ticket_id = '{}'",
        t2.tickets[1]
    ))
    .await
    .unwrap();
    assert!(
        only_finding(&t2.verify().await)
            .chain
            .starts_with("anchor ")
    );
}

#[tokio::test]
async fn r_rec_2_truncation_is_refused_and_when_forced_found() {
    let t = trail().await;
    t.anchor().await;
    let wipe = if is_postgres() {
        "TRUNCATE ticket_events"
    } else {
        // SQLite has no TRUNCATE; an unqualified DELETE is its equivalent.
        "DELETE FROM ticket_events"
    };
    assert!(t.sql(wipe).await.is_err(), "the guard refuses it");
    assert_eq!(t.events_of(&t.tickets[0]).await.len(), 6);

    let op = if is_postgres() { "TRUNCATE" } else { "DELETE" };
    let guard = t.unguard("ticket_events", op).await;
    t.sql(wipe).await.unwrap();
    let r = t.verify().await;
    assert_eq!(r.missing_guards, vec![guard.clone()]);
    let f = only_finding(&r);
    assert!(f.chain.starts_with("anchor "), "{f}");
    assert!(f.problem.contains("(0 now"), "{f}");
    t.start_refused(&guard).await;
}

#[tokio::test]
async fn r_rec_2_the_general_trail_is_chained_too() {
    let t = trail().await;
    let rows = audit_events::Entity::find()
        .order_by_asc(audit_events::Column::Sequence)
        .all(t.db.reader())
        .await
        .unwrap();
    assert!(rows.len() >= 3);
    assert!(rows.iter().all(|m| m.hash.is_some()));
    let victim = &rows[1];
    t.unguard("audit_events", "UPDATE").await;
    t.sql(&format!(
        "UPDATE audit_events SET actor_sub = 'someone-else' WHERE sequence = {}",
        victim.sequence
    ))
    .await
    .unwrap();
    let r = t.verify().await;
    let f = only_finding(&r);
    assert_eq!(f.table, "audit_events");
    assert_eq!(
        f.chain,
        format!("{} {}", victim.entity_type, victim.entity_id)
    );
    assert_eq!(f.sequence, victim.sequence);
}

/// Many writers on one ticket, on two instances: the ticket's row lock
/// orders its chain, so every event links to the one before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn r_rec_2_racing_writers_on_two_instances_keep_one_chain() {
    let t = trail().await;
    let other = spawn_sharing(&t.app).await;
    let id = t.tickets[0].clone();
    let before = t.events_of(&id).await.len();
    let n = 16;
    let barrier = Arc::new(Barrier::new(n));
    let mut tasks = Vec::new();
    for i in 0..n {
        let mut d = if i % 2 == 0 {
            t.app.dispatcher().await
        } else {
            other.dispatcher().await
        };
        let (barrier, id) = (barrier.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            call_back(&mut d, &id, true).await
        }));
    }
    let mut ok = 0;
    for task in tasks {
        if task.await.unwrap().is_ok() {
            ok += 1;
        }
    }
    assert!(ok > 0);
    assert_eq!(t.events_of(&id).await.len(), before + ok);
    let r = t.verify().await;
    assert!(r.clean(), "{r:#?}");
}

/// `fieldops audit anchor` and `fieldops audit verify`, as typed.
#[tokio::test]
async fn a_tampered_store_fails_the_command() {
    if is_postgres() {
        return; // The commands' store here is the SQLite file; PostgreSQL is covered above.
    }
    let t = trail().await;
    let dir = t.app.store.dir.clone().unwrap();
    let args = |cmd: &str| -> Vec<String> {
        vec![
            "audit".into(),
            cmd.into(),
            "--data-dir".into(),
            dir.to_str().unwrap().into(),
        ]
    };
    let (ok, out, err) = fieldops(args("anchor")).await;
    assert!(ok, "{out}{err}");
    assert!(dir.join("audit-anchors.jsonl").exists());
    let (ok, out, err) = fieldops(args("verify")).await;
    assert!(ok && out.contains("audit trail verified"), "{out}{err}");

    t.unguard("ticket_events", "DELETE").await;
    let seqs = t.events_of(&t.tickets[0]).await;
    t.sql(&format!(
        "DELETE FROM ticket_events WHERE sequence = {}",
        seqs[1]
    ))
    .await
    .unwrap();
    let (ok, out, err) = fieldops(args("verify")).await;
    assert!(!ok, "{out}");
    assert!(
        out.contains("MISSING append-only trigger: ticket_events_no_delete"),
        "{out}"
    );
    assert!(
        out.contains(&format!("BROKEN ticket_events ticket {}", t.tickets[0])),
        "{out}"
    );
    assert!(err.contains("does not verify"), "{err}");

    let (ok, out, _) = fieldops(args("reinstate-triggers")).await;
    assert!(
        ok && out.contains("reinstated: ticket_events_no_delete"),
        "{out}"
    );
}

/// Anchors taken while two instances write: each anchor reads its table's
/// maximum under a lock that lets open writers commit first, so no event
/// appears below an anchor afterwards and every anchor still verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn r_rec_2_anchors_taken_during_writes_still_verify() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let t = trail().await;
    let other = spawn_sharing(&t.app).await;
    let (stop, acked) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    );
    let mut writers = Vec::new();
    for i in 0..4 {
        let mut d = if i % 2 == 0 {
            t.app.dispatcher().await
        } else {
            other.dispatcher().await
        };
        let (stop, acked, id) = (stop.clone(), acked.clone(), t.tickets[i % 3].clone());
        writers.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                create(&mut d, "BUILDING_NO_HEAT").await;
                if call_back(&mut d, &id, true).await.is_ok() {
                    acked.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    for _ in 0..5 {
        // Some writes between anchors.
        let seen = acked.load(Ordering::SeqCst);
        while acked.load(Ordering::SeqCst) < seen + 3 {
            tokio::task::yield_now().await;
        }
        t.anchor().await;
    }
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.await.unwrap();
    }
    t.anchor().await;
    let r = t.verify().await;
    assert!(r.clean(), "{r:#?}");
    assert_eq!(r.anchors_checked, 12, "six anchors of two tables");
}
