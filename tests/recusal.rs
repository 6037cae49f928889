//! Recusal for a conflict of interest (DOMAIN.md R-TKT-13): a dispatcher or
//! supervisor keeps a staff member away from a complaint; from then on he
//! never sees it, by any read path or the change feed (its earlier changes
//! included), and can never be assigned it. Run with the feed window and
//! without it (every Pull then reads the database).
mod common;

use common::*;
use fieldops::domain::Role;
use fieldops::grpc::pb;
use fieldops::grpc::pb::sync_service_client::SyncServiceClient;
use fieldops::grpc::pb::watch_response::Event;
use std::time::Duration;
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

type Sync = SyncServiceClient<InterceptedService<Channel, Bearer>>;

async fn recuse(k: &mut Client, id: &str, staff: &str) -> Result<pb::Ticket, tonic::Status> {
    k.recuse_staff(pb::RecuseStaffRequest {
        request_id: rid(),
        ticket_id: id.into(),
        staff_id: staff.into(),
        reason: "a neighbour of the complainant".into(),
        ..Default::default()
    })
    .await
    .map(|r| r.into_inner())
}

async fn sync_for(app: &TestApp, sub: &str, role: Role, unit: &str) -> Sync {
    SyncServiceClient::with_interceptor(app.channel().await, bearer_for(sub, &[role], unit))
}

/// The changes of a Pull from `cursor` (one page holds them all here).
async fn pulled(s: &mut Sync, cursor: &str) -> Vec<pb::Change> {
    let page = s
        .pull(pb::PullRequest {
            cursor: cursor.into(),
            limit: 5000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!page.has_more);
    page.changes
}

/// Ticket ids among the changes of a Pull from `cursor`.
async fn pulled_tickets(s: &mut Sync, cursor: &str) -> Vec<String> {
    pulled(s, cursor)
        .await
        .into_iter()
        .filter_map(|c| match c.entity {
            Some(pb::change::Entity::Ticket(t)) => Some(t.id),
            _ => None,
        })
        .collect()
}

/// (ticket id, version, kind of change) of the tombstones among the
/// changes of a Pull from `cursor`.
async fn pulled_tombstones(s: &mut Sync, cursor: &str) -> Vec<(String, i64, String)> {
    pulled(s, cursor)
        .await
        .into_iter()
        .filter_map(|c| match c.entity {
            Some(pb::change::Entity::Tombstone(g)) => Some((g.entity_id, g.entity_version, c.kind)),
            _ => None,
        })
        .collect()
}

/// A cursor at the feed's end now (a dispatcher's Pull from the start).
async fn feed_end(app: &TestApp) -> String {
    sync_for(app, "d1", Role::Dispatcher, "hq")
        .await
        .pull(pb::PullRequest::default())
        .await
        .unwrap()
        .into_inner()
        .cursor
}

async fn listed(k: &mut Client) -> Vec<String> {
    let (tickets, _) = all_tickets(k).await;
    tickets.into_iter().map(|t| t.id).collect()
}

async fn note(k: &mut Client, id: &str) {
    k.record_contact(pb::RecordContactRequest {
        request_id: rid(),
        ticket_id: id.into(),
        counterpart: pb::Counterpart::Caller as i32,
        summary: "called back".into(),
        ..Default::default()
    })
    .await
    .unwrap();
}

async fn recusal_hides_the_ticket_everywhere(app: TestApp) {
    // A cursor taken before anything happened: Pulls and the Watch from it
    // are answered from the feed window when there is one (from an empty
    // cursor they start in the database).
    let mut d = app.dispatcher().await;
    let start = feed_end(&app).await;
    let complaint = pb::CreateTicketRequest {
        r#type: pb::TicketType::Complaint as i32,
        ..create_req("METER_FAULT")
    };
    let t = d.create_ticket(complaint).await.unwrap().into_inner();
    dispatch(&mut d, &t.id, "north").await;
    let other = dispatched_ticket(&app, "METER_FAULT").await;
    let mut c2 = app.crew("c2", "north").await;
    let mut s2 = app.client_for("s2", &[Role::Supervisor], "hq").await;
    let mut c2_sync = sync_for(&app, "c2", Role::Crew, "north").await;
    let mut s2_sync = sync_for(&app, "s2", Role::Supervisor, "hq").await;
    // Before: both see it.
    assert!(listed(&mut c2).await.contains(&t.id));
    assert!(pulled_tickets(&mut s2_sync, &start).await.contains(&t.id));

    let c2_gone = recuse(&mut d, &t.id, "c2").await.unwrap();
    let after = recuse(&mut d, &t.id, "s2").await.unwrap();
    let staff: Vec<_> = after.recusals.iter().map(|r| r.staff_id.as_str()).collect();
    assert_eq!(staff, ["c2", "s2"]);
    assert_eq!(after.recusals[0].recused_by, "d1");
    let mut c1 = app.crew("c1", "north").await;
    let seen = c1
        .get_ticket(pb::GetTicketRequest {
            ticket_id: t.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        seen.recusals.is_empty(),
        "only dispatch and supervisors see who is recused"
    );

    for (who, k) in [("c2", &mut c2), ("s2", &mut s2)] {
        let e = k
            .get_ticket(pb::GetTicketRequest {
                ticket_id: t.id.clone(),
            })
            .await
            .unwrap_err();
        assert_status(&e, Code::NotFound, "TICKET_NOT_FOUND", None);
        let e = k
            .list_ticket_events(pb::ListTicketEventsRequest {
                ticket_id: t.id.clone(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_status(&e, Code::NotFound, "TICKET_NOT_FOUND", None);
        let ids = listed(k).await;
        assert!(!ids.contains(&t.id), "{who}: listed");
        assert!(ids.contains(&other.id), "{who}: the list still works");
    }
    for (who, s, version) in [
        ("c2", &mut c2_sync, c2_gone.version),
        ("s2", &mut s2_sync, after.version),
    ] {
        for from in ["", start.as_str()] {
            // Issue 17: the recusal that hid it reaches him once, as a
            // tombstone (his handheld or console drops what it cached),
            // which does not say it was a recusal nor who made it;
            // nothing else of the ticket does, before or after.
            assert_eq!(
                pulled_tombstones(s, from).await,
                [(t.id.clone(), version, "OUT_OF_SCOPE".to_string())],
                "{who} from {from:?}: the tombstone of his recusal"
            );
            let ids = pulled_tickets(s, from).await;
            assert!(
                !ids.contains(&t.id),
                "{who} from {from:?}: pulled, earlier changes included"
            );
            assert!(
                ids.contains(&other.id),
                "{who} from {from:?}: the feed still works"
            );
        }
    }
    // A recused staff member can never be assigned it.
    let e = d
        .dispatch_ticket(pb::DispatchTicketRequest {
            request_id: rid(),
            ticket_id: t.id.clone(),
            unit: "north".into(),
            assignee: "c2".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_status(&e, Code::PermissionDenied, "RECUSED", None);

    // Watch from the start: the catch-up skips it, and so does the live
    // feed: a change of the ticket committed before one of another ticket
    // arrives as the other's alone.
    let mut w = s2_sync
        .watch(pb::WatchRequest {
            cursor: start.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), w.message())
            .await
            .expect("catch-up within 10 s")
            .unwrap()
            .expect("stream open");
        match m.event.unwrap() {
            Event::Checkpoint(_) => break,
            Event::Change(c) => {
                if let Some(pb::change::Entity::Ticket(x)) = c.entity {
                    assert_ne!(x.id, t.id, "watched in the catch-up");
                }
            }
        }
    }
    note(&mut d, &t.id).await;
    note(&mut d, &other.id).await;
    let next = loop {
        let m = tokio::time::timeout(Duration::from_secs(10), w.message())
            .await
            .expect("a change within 10 s")
            .unwrap()
            .expect("stream open");
        if let Event::Change(c) = m.event.unwrap() {
            break c;
        }
    };
    match next.entity {
        Some(pb::change::Entity::Ticket(x)) => assert_eq!(x.id, other.id, "live"),
        e => panic!("{e:?}"),
    }
}

/// R-TKT-13: GetTicket, ListTickets, ListTicketEvents, Pull and Watch, from
/// the feed window.
#[tokio::test]
async fn r_tkt_13_recusal_hides_the_ticket_everywhere() {
    recusal_hides_the_ticket_everywhere(spawn_app_with_policy("water").await).await;
}

/// The same, every feed read from the database (no window).
#[tokio::test]
async fn r_tkt_13_recusal_hides_the_ticket_everywhere_without_the_window() {
    let app = spawn_tuned("water", fresh_store().await, |c| {
        c.feed_window = 0;
        c.feed_window_bytes = 0;
    })
    .await;
    recusal_hides_the_ticket_everywhere(app).await;
}

/// R-TKT-13 with a feed window that is behind: instance B's window holds a
/// ticket's changes but not the recusal committed on instance A (B's
/// tailer polls only hourly here, and A's commit does not wake it). A Pull
/// on B from a cursor inside the window must not show the recused staff
/// member the ticket's earlier changes: a window that has not read the
/// whole snapshot leaves the page to the database.
#[tokio::test]
async fn r_tkt_13_a_window_behind_a_recusal_does_not_leak_the_ticket() {
    let a = spawn_app_with_policy("water").await;
    let mut d = a.dispatcher().await;
    let start = feed_end(&a).await;
    let t = dispatched_ticket(&a, "METER_FAULT").await;
    let other = dispatched_ticket(&a, "METER_FAULT").await;
    // B starts now: its window loads both tickets' changes, then never
    // looks at the database again unless B itself commits.
    let b = spawn_tuned("water", a.store.clone(), |c| {
        c.watch_poll = std::time::Duration::from_secs(3600);
    })
    .await;
    let mut c2_on_b = sync_for(&b, "c2", Role::Crew, "north").await;
    assert!(pulled_tickets(&mut c2_on_b, &start).await.contains(&t.id));
    recuse(&mut d, &t.id, "c2").await.unwrap();
    let seen = pulled_tickets(&mut c2_on_b, &start).await;
    assert!(
        !seen.contains(&t.id),
        "c2 pulled the ticket he is recused from"
    );
    assert!(seen.contains(&other.id), "the feed still works");
    b.stop().await;
    a.stop().await;
}

/// RecuseStaff's refusals change nothing; the holder of a ticket at work
/// must be relieved of it first; one merely named at dispatch is released.
#[tokio::test]
async fn recuse_staff_refusals() {
    let app = spawn_app_with_policy("water").await;
    let mut d = app.dispatcher().await;
    let t = dispatched_ticket(&app, "METER_FAULT").await;
    let mut c1 = app.crew("c1", "north").await;
    let e = recuse(&mut c1, &t.id, "c2").await.unwrap_err();
    assert_status(&e, Code::PermissionDenied, "ROLE_NOT_ALLOWED", None);
    let e = recuse(&mut d, &t.id, " ").await.unwrap_err();
    assert_status(&e, Code::InvalidArgument, "MISSING_FIELD", Some("staff_id"));
    claim(&mut c1, &t.id).await.unwrap();
    let e = recuse(&mut d, &t.id, "c1").await.unwrap_err();
    assert_status(&e, Code::FailedPrecondition, "RECUSED_HOLDS_TICKET", None);
    recuse(&mut d, &t.id, "c3").await.unwrap();
    let e = recuse(&mut d, &t.id, "c3").await.unwrap_err();
    assert_status(&e, Code::FailedPrecondition, "ALREADY_RECUSED", None);
    assert_eq!(get(&app, &t.id).await.recusals.len(), 1);

    let named = create(&mut d, "METER_FAULT").await;
    let named = d
        .dispatch_ticket(pb::DispatchTicketRequest {
            request_id: rid(),
            ticket_id: named.id,
            unit: "north".into(),
            assignee: "c2".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let released = recuse(&mut d, &named.id, "c2").await.unwrap();
    assert_eq!(released.assignee, "", "released");
    let mut c2 = app.crew("c2", "north").await;
    let e = claim(&mut c2, &named.id).await.unwrap_err();
    assert_status(&e, Code::NotFound, "TICKET_NOT_FOUND", None);
}

/// A supervisor recuses through Push; the replay is answered from the first
/// time and records nothing twice.
#[tokio::test]
async fn recusal_through_push_with_replays() {
    let app = spawn_app_with_policy("water").await;
    let t = dispatched_ticket(&app, "METER_FAULT").await;
    let recuse = pb::mutation::Request::Recuse(pb::RecuseStaffRequest {
        request_id: rid(),
        ticket_id: t.id.clone(),
        staff_id: "c2".into(),
        reason: "the complainant's son".into(),
        ..Default::default()
    });
    let (first, replay) = push_and_replay(&app, "s1", Role::Supervisor, vec![recuse]).await;
    assert_eq!(first, [pb::MutationOutcome::Applied]);
    assert_eq!(replay, [pb::MutationOutcome::Duplicate]);
    assert_eq!(get(&app, &t.id).await.recusals.len(), 1);
}
