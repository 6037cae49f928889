//! The in-memory feed window (src/service/feed_window.rs) is a cache: Pull
//! and Watch must answer exactly what the database holds, whatever the
//! window's size, and an instance whose window lags must still Pull every
//! commit another instance made. Runs on SQLite, and on PostgreSQL when
//! FIELDOPS_TEST_DATABASE_URL is set.
mod common;

use common::*;
use fieldops::domain::Role;
use fieldops::grpc::pb::{self, sync_service_client::SyncServiceClient};
use fieldops::storage::feed::{self, Cause, ChangeDraft, ChangeMeta, Position, Visibility};
use fieldops::storage::{self, Db};
use std::time::Duration;
use tokio::time::timeout;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

type Sync = SyncServiceClient<InterceptedService<Channel, Bearer>>;

async fn sync_as(app: &TestApp, sub: &str, roles: &[Role], unit: &str) -> Sync {
    let bearer = Bearer(Some(
        format!("Bearer {}", token(sub, roles, unit))
            .parse()
            .unwrap(),
    ));
    SyncServiceClient::with_interceptor(app.channel().await, bearer)
}

/// (ticket id, version) of each change, in order (a tombstone: "-" and
/// the version that took the ticket out of the reader's reach).
fn keys(cs: &[pb::Change]) -> Vec<(String, i64)> {
    cs.iter()
        .map(|c| match &c.entity {
            Some(pb::change::Entity::Ticket(t)) => (t.id.clone(), t.version),
            Some(pb::change::Entity::Tombstone(t)) => {
                (format!("-{}", t.entity_id), t.entity_version)
            }
            other => panic!("expected ticket changes only, got {other:?}"),
        })
        .collect()
}

/// Page through the whole feed from `cursor` with pages of `limit`.
async fn page_through(s: &mut Sync, cursor: &str, limit: i32) -> (Vec<pb::Change>, String) {
    let (mut all, mut cursor) = (Vec::new(), cursor.to_string());
    loop {
        let page = s
            .pull(pb::PullRequest {
                cursor: cursor.clone(),
                limit,
                ..Default::default()
            })
            .await
            .unwrap_or_else(|e| panic!("Pull(limit {limit}): {e:?}"))
            .into_inner();
        all.extend(page.changes);
        cursor = page.cursor;
        if !page.has_more {
            return (all, cursor);
        }
    }
}

/// Tickets in both units, some moved between them (prev_unit), some
/// complaints about a crew member (hidden from him, R-TKT-13).
async fn mixed_tickets(app: &TestApp, n: usize) {
    let mut d = app.dispatcher().await;
    for i in 0..n {
        let mut req = create_req("NETWORK_LEAK");
        if i % 5 == 0 {
            req.subject_staff_id = "c-north".into();
        }
        let t = d.create_ticket(req).await.expect("create").into_inner();
        let unit = if i % 2 == 0 { "north" } else { "south" };
        dispatch(&mut d, &t.id, unit).await;
        if i % 3 == 0 {
            // Dispatched again, to the other unit: its old unit still sees the move.
            let mut c = app.crew(&format!("r-{unit}"), unit).await;
            c.return_ticket(pb::ReturnTicketRequest {
                ticket_id: t.id.clone(),
                reason: "not ours".into(),
                request_id: rid(),
                ..Default::default()
            })
            .await
            .expect("return");
            let other = if unit == "north" { "south" } else { "north" };
            dispatch(&mut d, &t.id, other).await;
        }
    }
}

/// The viewers the window must filter for exactly as the database does.
fn viewers() -> Vec<(&'static str, Vec<Role>, &'static str)> {
    vec![
        ("d1", vec![Role::Dispatcher], "hq"),
        ("c-north", vec![Role::Crew], "north"),
        ("c-south", vec![Role::Crew], "south"),
        ("b1", vec![Role::Backoffice], "hq"),
    ]
}

#[tokio::test]
async fn pull_is_the_same_with_any_window_size() {
    let store = fresh_store().await;
    let big = spawn_tuned("heating", store.clone(), |c| c.feed_window = 20_000).await;
    mixed_tickets(&big, 24).await;
    // Loaded after the commits (window holds all / the last 7 / nothing),
    // plus the instance that followed them as they happened.
    let small = spawn_tuned("heating", store.clone(), |c| c.feed_window = 7).await;
    let none = spawn_tuned("heating", store.clone(), |c| c.feed_window = 0).await;
    let fresh = spawn_tuned("heating", store.clone(), |c| c.feed_window = 20_000).await;
    // No window, and changes read from the database kept decoded within a
    // few changes' bytes: every page evicts what the one before kept.
    let tiny = spawn_tuned("heating", store.clone(), |c| {
        c.feed_window = 0;
        c.feed_window_bytes = 4096;
    })
    .await;
    for (sub, roles, unit) in viewers() {
        let mut reference = sync_as(&none, sub, &roles, unit).await;
        let (want, want_cursor) = page_through(&mut reference, "", 5000).await;
        assert!(!want.is_empty(), "{sub} sees some changes");
        for app in [&big, &small, &none, &fresh, &tiny] {
            for limit in [1, 3, 7, 500] {
                let mut s = sync_as(app, sub, &roles, unit).await;
                let (got, cursor) = page_through(&mut s, "", limit).await;
                assert_eq!(keys(&got), keys(&want), "{sub}, limit {limit}");
                // Whole changes, as each viewer may see them (masked or not).
                assert_eq!(got, want, "{sub}, limit {limit}");
                // From the end there is nothing more, wherever the window ends.
                let (rest, _) = page_through(&mut s, &cursor, limit).await;
                assert!(rest.is_empty(), "{sub}: nothing after the end");
                let (rest, _) = page_through(&mut s, &want_cursor, limit).await;
                assert!(rest.is_empty(), "{sub}: nothing after the reference end");
            }
        }
    }
    for app in [big, small, none, fresh, tiny] {
        app.stop().await;
    }
}

#[tokio::test]
async fn an_instance_whose_window_lags_still_pulls_every_commit() {
    let a = spawn_app().await;
    // B never polls: on SQLite only its own commits move its window (on
    // PostgreSQL A's NOTIFY may move it too; the answers must not differ).
    let b = spawn_tuned("heating", a.store.clone(), |c| {
        c.watch_poll = Duration::from_secs(3600)
    })
    .await;
    let mut on_b = sync_as(&b, "d1", &[Role::Dispatcher], "hq").await;
    let (before, cursor) = page_through(&mut on_b, "", 500).await;
    mixed_tickets(&a, 6).await;
    let mut on_a = sync_as(&a, "d1", &[Role::Dispatcher], "hq").await;
    let (made, _) = page_through(&mut on_a, &cursor, 500).await;
    assert!(!made.is_empty());
    // Read-your-writes across instances: B answers from its database snapshot.
    let (seen, _) = page_through(&mut on_b, &cursor, 2).await;
    assert_eq!(keys(&seen), keys(&made));
    let (all, _) = page_through(&mut on_b, "", 500).await;
    assert_eq!(all.len(), before.len() + made.len());
    a.stop().await;
    b.stop().await;
}

/// PostgreSQL: a commit on one instance reaches a Watch on another at once
/// (LISTEN/NOTIFY, storage::notify), not at the next poll: B here polls
/// once an hour, so without the notification nothing would arrive.
#[tokio::test]
async fn a_commit_on_one_instance_wakes_watchers_on_another() {
    if !is_postgres() {
        eprintln!("skipped: NOTIFY is PostgreSQL's (one SQLite file has one writer)");
        return;
    }
    let a = spawn_app().await;
    let b = spawn_tuned("heating", a.store.clone(), |c| {
        c.watch_poll = Duration::from_secs(3600)
    })
    .await;
    let mut on_b = sync_as(&b, "d1", &[Role::Dispatcher], "hq").await;
    let mut watch = on_b
        .watch(pb::WatchRequest::default())
        .await
        .expect("watch")
        .into_inner();
    let mut next = async || {
        watch
            .message()
            .await
            .expect("the watch goes on")
            .expect("the watch is open")
            .event
    };
    // Caught up: what follows is live.
    while !matches!(next().await, Some(pb::watch_response::Event::Checkpoint(_))) {}
    let mut d = a.dispatcher().await;
    for _ in 0..3 {
        let t = create(&mut d, "BUILDING_NO_HEAT").await;
        // A liveness bound, not a speed check: without the notification B
        // would see the ticket at its next poll, an hour away (checkpoints
        // keep coming meanwhile, so the bound is on the whole wait).
        timeout(Duration::from_secs(10), async {
            loop {
                if let Some(pb::watch_response::Event::Change(c)) = next().await
                    && matches!(&c.entity, Some(pb::change::Entity::Ticket(x)) if x.id == t.id)
                {
                    return;
                }
            }
        })
        .await
        .expect("B's watcher gets A's commit within 10 s");
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_watcher_behind_a_tiny_window_misses_nothing() {
    let app = spawn_tuned("heating", fresh_store().await, |c| c.feed_window = 3).await;
    let mut s = sync_as(&app, "c-north", &[Role::Crew], "north").await;
    let mut watch = s
        .watch(pb::WatchRequest::default())
        .await
        .expect("watch")
        .into_inner();
    // Created while the watcher is not reading: the window moves far past it.
    mixed_tickets(&app, 30).await;
    let mut reference = sync_as(&app, "c-north", &[Role::Crew], "north").await;
    let (want, _) = page_through(&mut reference, "", 5000).await;
    let mut got = Vec::new();
    while got.len() < want.len() {
        let msg = timeout(Duration::from_secs(10), watch.message())
            .await
            .expect("a watch event within 10 s")
            .expect("the watch goes on")
            .expect("the watch is open");
        if let Some(pb::watch_response::Event::Change(c)) = msg.event {
            got.push(c);
        }
    }
    assert_eq!(keys(&got), keys(&want));
    app.stop().await;
}

// ----------------------------------------------- one rule, two spellings

const TYPES: [&str; 4] = [
    feed::TICKET,
    feed::INSPECTION,
    feed::METER_READING,
    feed::ASSESSMENT_ITEM,
];
const UNITS: [Option<&str>; 3] = [None, Some("north"), Some("south")];
const PEOPLE: [Option<&str>; 3] = [None, Some("ann"), Some("bob")];

/// Every combination of what decides visibility, three changes per commit.
fn metas() -> Vec<ChangeMeta> {
    let mut out = Vec::new();
    for entity_type in TYPES {
        for unit in UNITS {
            for prev_unit in UNITS {
                for owner in PEOPLE {
                    // R-TKT-13: one member, several (recusals), a member
                    // differing only in case and one with LIKE's wildcards.
                    let hidden = [
                        None,
                        Some("ann".to_string()),
                        Some("carl".to_string()),
                        feed::hidden_from(["ann", "bob"].into_iter()),
                        feed::hidden_from(["ANN", "da_e", "x%"].into_iter()),
                        feed::hidden_from(["bob", "carl", "dave"].into_iter()),
                    ];
                    for hidden_from in hidden {
                        // A later change, the change that hid it from all
                        // of them (a recusal), or from one of several.
                        let mut newly = vec![None];
                        if hidden_from.is_some() {
                            newly.push(hidden_from.clone());
                        }
                        if hidden_from
                            .as_deref()
                            .is_some_and(|h| feed::hides(h, "dave"))
                        {
                            newly.push(feed::hidden_from(["carl"].into_iter()));
                        }
                        for newly_hidden in newly {
                            out.push(ChangeMeta {
                                entity_type: entity_type.to_string(),
                                unit: unit.map(str::to_string),
                                prev_unit: prev_unit.map(str::to_string),
                                owner: owner.map(str::to_string),
                                hidden_from: hidden_from.clone(),
                                newly_hidden,
                            });
                        }
                    }
                }
            }
        }
    }
    out
}

fn visibilities() -> Vec<Visibility> {
    let mut out = Vec::new();
    for (all, all_items) in [(false, false), (true, false), (true, true)] {
        for crew_unit in UNITS {
            for owner in PEOPLE {
                for sub in ["ann", "carl", "dave"] {
                    out.push(Visibility {
                        all,
                        crew_unit: crew_unit.map(str::to_string),
                        owner: owner.map(str::to_string),
                        sub: sub.to_string(),
                        all_items,
                    });
                }
            }
        }
    }
    out
}

/// R-TKT-13 and the Pull/Watch scopes: `Visibility::admits` (the window) and
/// `Visibility::condition` (SQL) select the same changes, from any cursor,
/// including cursors inside one commit.
#[tokio::test]
async fn window_and_database_apply_the_same_visibility_rule() {
    let store = fresh_store().await;
    let settings = db_settings(&store);
    let db = Db::connect(&settings).await.expect("connect");
    storage::migrate(&db, &settings).await.expect("migrate");
    let metas = metas();
    for commit in metas.chunks(3) {
        let drafts: Vec<ChangeDraft> = commit
            .iter()
            .map(|m| ChangeDraft {
                entity_type: TYPES.into_iter().find(|t| *t == m.entity_type).unwrap(),
                entity_id: uuid::Uuid::new_v4().to_string(),
                entity_version: 1,
                unit: m.unit.clone(),
                prev_unit: m.prev_unit.clone(),
                owner: m.owner.clone(),
                hidden_from: m.hidden_from.clone(),
                newly_hidden: m.newly_hidden.clone(),
                payload: "{}".into(),
                cause: Cause::audit_event(1, "TEST", "someone", "dispatcher"),
            })
            .collect();
        db.write(move |tx| Box::pin(async move { feed::append(tx, drafts, start_time()).await }))
            .await
            .expect("append");
    }
    let everything = feed::read_after(db.reader(), Position::default(), None, 10_000)
        .await
        .expect("read all");
    assert_eq!(everything.len(), metas.len());
    let cursors = [0, 1, 2, 100, 200, everything.len() - 1].map(|i| {
        if i == 0 {
            Position::default()
        } else {
            everything[i - 1].position
        }
    });
    for vis in visibilities() {
        for after in cursors {
            let want: Vec<Position> = everything
                .iter()
                .filter(|c| c.position > after && vis.admits(&c.meta))
                .map(|c| c.position)
                .collect();
            let got: Vec<Position> = feed::read_after(db.reader(), after, Some(&vis), 10_000)
                .await
                .expect("read")
                .iter()
                .map(|c| c.position)
                .collect();
            assert_eq!(got, want, "{vis:?} after {after:?}");
            let limited = feed::read_after(db.reader(), after, Some(&vis), 5)
                .await
                .expect("read");
            assert_eq!(
                limited.len(),
                want.len().min(5),
                "{vis:?} after {after:?}, limit 5"
            );
        }
    }
    db.close().await;
}

/// R-TKT-13 through the window: a change is encoded once per view, and each
/// reader gets its own view whoever read the change first.
#[tokio::test]
async fn r_tkt_13_each_reader_gets_its_own_view_of_a_shared_change() {
    let app = spawn_app().await;
    let mut d = app.dispatcher().await;
    let mut req = create_req("NETWORK_LEAK");
    req.subject_staff_id = "x9".into();
    let t = d.create_ticket(req).await.expect("create").into_inner();
    dispatch(&mut d, &t.id, "north").await;
    let mut holder = app.crew("c1", "north").await;
    claim(&mut holder, &t.id).await.expect("claim");
    // Started now, this instance's window holds every change from the start.
    let reader_app = spawn_sharing(&app).await;
    // (reader, sees caller details, sees the subject), the masked reader first.
    let readers = [
        ("c2", vec![Role::Crew], "north", false, false),
        ("d1", vec![Role::Dispatcher], "hq", true, true),
        ("c1", vec![Role::Crew], "north", true, false),
        ("b1", vec![Role::Backoffice], "hq", false, false),
        ("s1", vec![Role::Supervisor], "hq", true, true),
    ];
    for round in 0..2 {
        for (sub, roles, unit, details, subject) in &readers {
            let mut s = sync_as(&reader_app, sub, roles, unit).await;
            let (changes, _) = page_through(&mut s, "", 500).await;
            let last = changes
                .iter()
                .rev()
                .find_map(|c| match &c.entity {
                    Some(pb::change::Entity::Ticket(x)) if x.id == t.id => Some(x.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| panic!("{sub} sees the ticket"));
            assert_eq!(last.caller_masked, !details, "{sub}, round {round}");
            assert_eq!(
                last.caller_phone == t.caller_phone,
                *details,
                "{sub}, round {round}"
            );
            let want_subject = if *subject { "x9" } else { "" };
            assert_eq!(last.subject_staff_id, want_subject, "{sub}, round {round}");
        }
    }
    reader_app.stop().await;
    app.stop().await;
}
