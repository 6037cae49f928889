//! Authorization over gRPC: the role matrix of every TicketService RPC
//! (DOMAIN.md section 1), bearer-token checks, unit and holder rules
//! (R-TKT-4), caller masking and recusal (R-TKT-13).
mod common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use common::*;
use fieldops::auth::{Claims, Issuer};
use fieldops::domain::Role;
use fieldops::error::reason;
use fieldops::grpc::pb;
use tonic::{Code, Status};
use tonic_types::StatusExt;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Rpc {
    CreateTicket,
    GetTicket,
    ListTickets,
    DispatchTicket,
    ClaimTicket,
    ReturnTicket,
    ScheduleAppointment,
    RecordArrival,
    CompleteRepair,
    RequestExtension,
    DecideExtension,
    RecordRevisit,
    Supervise,
    CancelTicket,
    ListTicketEvents,
}

impl Rpc {
    const ALL: [Rpc; 15] = [
        Rpc::CreateTicket,
        Rpc::GetTicket,
        Rpc::ListTickets,
        Rpc::DispatchTicket,
        Rpc::ClaimTicket,
        Rpc::ReturnTicket,
        Rpc::ScheduleAppointment,
        Rpc::RecordArrival,
        Rpc::CompleteRepair,
        Rpc::RequestExtension,
        Rpc::DecideExtension,
        Rpc::RecordRevisit,
        Rpc::Supervise,
        Rpc::CancelTicket,
        Rpc::ListTicketEvents,
    ];

    /// DOMAIN.md section 1, as implemented in src/domain/ticket.rs.
    fn allowed(self) -> &'static [Role] {
        use Rpc::*;
        match self {
            // R-TKT-1: whoever first receives a caller records the ticket.
            CreateTicket => &[
                Role::Dispatcher,
                Role::Crew,
                Role::Inspector,
                Role::Supervisor,
            ],
            DispatchTicket | DecideExtension | RecordRevisit | CancelTicket => &[Role::Dispatcher],
            ClaimTicket | ScheduleAppointment | RecordArrival | CompleteRepair
            | RequestExtension => &[Role::Crew],
            ReturnTicket => &[Role::Crew, Role::Dispatcher],
            Supervise => &[Role::Supervisor],
            GetTicket | ListTickets | ListTicketEvents => &Role::ALL,
        }
    }

    fn mutates(self) -> bool {
        !matches!(
            self,
            Rpc::GetTicket | Rpc::ListTickets | Rpc::ListTicketEvents
        )
    }
}

/// Call `rpc` on ticket `t` with a request that is valid for the ticket's
/// state, so only the caller's rights can make it fail.
async fn call(
    c: &mut Client,
    rpc: Rpc,
    t: Option<&pb::Ticket>,
    now: DateTime<Utc>,
) -> Result<(), Status> {
    let id = t.map(|t| t.id.clone()).unwrap_or_default();
    let ticket_id = id.clone();
    let request_id = rid();
    match rpc {
        Rpc::CreateTicket => c.create_ticket(create_req("BLOCKAGE")).await.map(drop),
        Rpc::GetTicket => c
            .get_ticket(pb::GetTicketRequest { ticket_id })
            .await
            .map(drop),
        Rpc::ListTickets => c
            .list_tickets(pb::ListTicketsRequest::default())
            .await
            .map(drop),
        Rpc::DispatchTicket => c
            .dispatch_ticket(pb::DispatchTicketRequest {
                request_id,
                ticket_id,
                unit: "north".into(),
                ..Default::default()
            })
            .await
            .map(drop),
        Rpc::ClaimTicket => c
            .claim_ticket(pb::ClaimTicketRequest {
                request_id,
                ticket_id,
                ..Default::default()
            })
            .await
            .map(drop),
        Rpc::ReturnTicket => c
            .return_ticket(pb::ReturnTicketRequest {
                request_id,
                ticket_id,
                reason: "not our network".into(),
                ..Default::default()
            })
            .await
            .map(drop),
        Rpc::ScheduleAppointment => c
            .schedule_appointment(pb::ScheduleAppointmentRequest {
                request_id,
                ticket_id,
                appointment_time: Some(ts(now + Duration::hours(1))),
                ..Default::default()
            })
            .await
            .map(drop),
        Rpc::RecordArrival => c
            .record_arrival(pb::RecordArrivalRequest {
                request_id,
                ticket_id,
                location: point(HOME.0, HOME.1),
                accuracy_m: 8.0,
                ..Default::default()
            })
            .await
            .map(drop),
        Rpc::CompleteRepair => c
            .complete_repair(pb::CompleteRepairRequest {
                request_id,
                ticket_id,
                resolution: resolution(),
                ..Default::default()
            })
            .await
            .map(drop),
        Rpc::RequestExtension => c
            .request_extension(pb::RequestExtensionRequest {
                request_id,
                ticket_id,
                reason: "parts on order".into(),
                extend_by: Some(dur(Duration::hours(1))),
                ..Default::default()
            })
            .await
            .map(drop),
        Rpc::DecideExtension => c
            .decide_extension(pb::DecideExtensionRequest {
                request_id,
                ticket_id,
                approve: true,
                note: "ok".into(),
                ..Default::default()
            })
            .await
            .map(drop),
        Rpc::RecordRevisit => c
            .record_revisit(pb::RecordRevisitRequest {
                request_id,
                ticket_id,
                outcome: pb::RevisitOutcome::Satisfied as i32,
                notes: "warm now".into(),
                ..Default::default()
            })
            .await
            .map(drop),
        Rpc::Supervise => c
            .supervise(pb::SuperviseRequest {
                request_id,
                ticket_id,
                notice: "no progress reported".into(),
                resolve_within: Some(dur(Duration::hours(1))),
                ..Default::default()
            })
            .await
            .map(drop),
        Rpc::CancelTicket => c
            .cancel_ticket(pb::CancelTicketRequest {
                request_id,
                ticket_id,
                reason: "duplicate".into(),
                ..Default::default()
            })
            .await
            .map(drop),
        Rpc::ListTicketEvents => c
            .list_ticket_events(pb::ListTicketEventsRequest {
                ticket_id,
                ..Default::default()
            })
            .await
            .map(drop),
    }
}

/// A `category` ticket dispatched to north and claimed by crew c1.
async fn claimed(app: &TestApp, category: &str) -> pb::Ticket {
    let t = dispatched_ticket(app, category).await;
    claim(&mut app.crew("c1", "north").await, &t.id)
        .await
        .unwrap()
}

/// A BLOCKAGE ticket with crew c1 on site.
async fn on_site(app: &TestApp) -> pb::Ticket {
    let t = claimed(app, "BLOCKAGE").await;
    arrive(&mut app.crew("c1", "north").await, &t.id).await
}

/// A ticket in the state where `rpc` is legal for its allowed role (None: CreateTicket).
async fn ticket_for(app: &TestApp, rpc: Rpc) -> Option<pb::Ticket> {
    let mut d = app.dispatcher().await;
    let mut c1 = app.crew("c1", "north").await;
    Some(match rpc {
        Rpc::CreateTicket => return None,
        Rpc::DispatchTicket | Rpc::CancelTicket => create(&mut d, "BLOCKAGE").await,
        Rpc::GetTicket
        | Rpc::ListTickets
        | Rpc::ListTicketEvents
        | Rpc::ClaimTicket
        | Rpc::ReturnTicket
        | Rpc::Supervise => dispatched_ticket(app, "BLOCKAGE").await,
        // R-TKT-7: INDOOR_MEASUREMENT allows appointments under the heating policy.
        Rpc::ScheduleAppointment | Rpc::RecordArrival => claimed(app, "INDOOR_MEASUREMENT").await,
        Rpc::CompleteRepair => on_site(app).await,
        // BLOCKAGE resolves in 24 h, so 1 h more stays within the 5-day cap (R-SLA-5).
        Rpc::RequestExtension => claimed(app, "BLOCKAGE").await,
        Rpc::DecideExtension => {
            let t = claimed(app, "BLOCKAGE").await;
            call(&mut c1, Rpc::RequestExtension, Some(&t), app.now())
                .await
                .unwrap();
            get(app, &t.id).await
        }
        Rpc::RecordRevisit => {
            let t = on_site(app).await;
            complete(&mut c1, &t.id).await
        }
    })
}

/// A client holding exactly `role`, of unit north; the crew member is c1,
/// who holds the tickets `ticket_for` claims.
async fn client_as(app: &TestApp, role: Role) -> Client {
    let sub = match role {
        Role::Crew => "c1",
        other => other.as_str(),
    };
    app.client_for(sub, &[role], "north").await
}

/// The ticket's version and event count, as a dispatcher sees them.
async fn snapshot(app: &TestApp, id: &str) -> (i64, usize) {
    (get(app, id).await.version, events(app, id).await.len())
}

/// The status's code and ErrorInfo reason, or a message naming `what`.
fn check_status<T: std::fmt::Debug>(
    res: Result<T, Status>,
    code: Code,
    want: &str,
    what: &str,
) -> Result<(), String> {
    let s = match res {
        Ok(v) => return Err(format!("{what}: expected {code:?} {want}, got OK {v:?}")),
        Err(s) => s,
    };
    let got = s.get_error_details().error_info().map(|i| i.reason.clone());
    if s.code() != code || got.as_deref() != Some(want) {
        return Err(format!(
            "{what}: expected {code:?} {want}, got {:?} {got:?} ({})",
            s.code(),
            s.message()
        ));
    }
    Ok(())
}

/// No existence oracle: a call on a ticket outside the caller's scope
/// answers exactly as the same call on an id that does not exist (NOT_FOUND
/// TICKET_NOT_FOUND, the same message but for the id).
async fn assert_hidden<F, Fut, T>(call: F, ticket: &pb::Ticket, what: &str)
where
    F: Fn(pb::Ticket) -> Fut,
    Fut: std::future::Future<Output = Result<T, Status>>,
    T: std::fmt::Debug,
{
    let unknown = pb::Ticket {
        id: uuid::Uuid::now_v7().to_string(),
        ..ticket.clone()
    };
    let hidden = call(ticket.clone()).await.expect_err(what);
    let absent = call(unknown.clone()).await.expect_err(what);
    let reason_of = |s: &Status| {
        s.get_error_details()
            .error_info()
            .map(|i| i.reason.clone())
            .unwrap_or_default()
    };
    assert_eq!(
        (hidden.code(), reason_of(&hidden)),
        (Code::NotFound, reason::TICKET_NOT_FOUND.to_string()),
        "{what}: {hidden:?}"
    );
    assert_eq!(
        (absent.code(), reason_of(&absent)),
        (hidden.code(), reason_of(&hidden)),
        "{what}: an unknown id answers the same"
    );
    assert_eq!(
        hidden.message().replace(&ticket.id, "<id>"),
        absent.message().replace(&unknown.id, "<id>"),
        "{what}: the same message"
    );
}

#[track_caller]
fn assert_refused<T: std::fmt::Debug>(res: Result<T, Status>, code: Code, want: &str, what: &str) {
    if let Err(e) = check_status(res, code, want, what) {
        panic!("{e}");
    }
}

/// One cell of the matrix.
async fn matrix_cell(app: &TestApp, rpc: Rpc, role: Role) -> Result<(), String> {
    let what = format!("{rpc:?} as {role}");
    let t = ticket_for(app, rpc).await;
    let before = match &t {
        Some(t) => snapshot(app, &t.id).await,
        None => (0, ticket_count(app).await),
    };
    let res = call(&mut client_as(app, role).await, rpc, t.as_ref(), app.now()).await;
    let allowed = rpc.allowed().contains(&role);
    if allowed {
        res.map_err(|s| format!("{what}: expected OK, got {s:?}"))?;
    } else {
        check_status(res, Code::PermissionDenied, reason::ROLE_NOT_ALLOWED, &what)?;
    }
    let after = match &t {
        Some(t) => snapshot(app, &t.id).await,
        None => (0, ticket_count(app).await),
    };
    let expected = match (allowed && rpc.mutates(), &t) {
        (false, _) => before,
        (true, Some(_)) => (before.0 + 1, before.1 + 1),
        (true, None) => (0, before.1 + 1),
    };
    if after != expected {
        return Err(format!(
            "{what}: (version, events|tickets) {before:?} -> {after:?}, expected {expected:?}"
        ));
    }
    Ok(())
}

// Section 1: every RPC x every role. The allowed role succeeds (a mutation adds
// exactly one version and one event, R-TKT-12); every other role gets
// PERMISSION_DENIED ROLE_NOT_ALLOWED and changes nothing.
#[tokio::test]
async fn role_matrix_of_every_rpc() {
    let app = spawn_app().await;
    let mut failures = Vec::new();
    for rpc in Rpc::ALL {
        for role in Role::ALL {
            if let Err(e) = matrix_cell(&app, rpc, role).await {
                failures.push(e);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cells failed:\n{}",
        failures.len(),
        Rpc::ALL.len() * Role::ALL.len(),
        failures.join("\n")
    );
    app.stop().await;
}

fn claims() -> Claims {
    let now = Utc::now().timestamp();
    Claims {
        sub: "d1".into(),
        roles: vec!["dispatcher".into()],
        unit: "hq".into(),
        exp: now + 600,
        nbf: None,
        iat: Some(now),
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
    }
}

fn bearer(claims: &Claims) -> Option<String> {
    Some(format!("Bearer {}", sign(claims)))
}

// Every claim of the token is checked: signature, exp, nbf, iss, aud, unit,
// roles. A refused token is UNAUTHENTICATED on reads and mutations alike.
#[tokio::test]
async fn bad_tokens_are_unauthenticated() {
    let app = spawn_app().await;
    let t = dispatched_ticket(&app, "BLOCKAGE").await;
    let now = Utc::now().timestamp();
    let alg_none = format!(
        "Bearer {}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims()).unwrap())
    );
    let other_key = Issuer::new(b"another-secret-another-secret-1234", ISSUER, AUDIENCE)
        .sign(&claims())
        .unwrap();
    // Signed with the right key, but without `exp`: once answered with
    // serde's "missing field `exp` at line 1 column ...".
    let mut no_exp = serde_json::to_value(claims()).unwrap();
    no_exp.as_object_mut().unwrap().remove("exp");
    let no_exp = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &no_exp,
        &jsonwebtoken::EncodingKey::from_secret(SECRET),
    )
    .unwrap();
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("no authorization", None, reason::UNAUTHENTICATED),
        (
            "no exp claim",
            Some(format!("Bearer {no_exp}")),
            reason::TOKEN_INVALID,
        ),
        (
            "not base64",
            Some("Bearer a!b.c$d.e%f".into()),
            reason::TOKEN_INVALID,
        ),
        (
            "garbage",
            Some("Bearer garbage".into()),
            reason::TOKEN_INVALID,
        ),
        (
            "expired 2 h ago",
            bearer(&Claims {
                exp: now - 7200,
                ..claims()
            }),
            reason::TOKEN_EXPIRED,
        ),
        (
            "not valid for 1 h",
            bearer(&Claims {
                nbf: Some(now + 3600),
                exp: now + 7200,
                ..claims()
            }),
            reason::TOKEN_INVALID,
        ),
        (
            "another key",
            Some(format!("Bearer {other_key}")),
            reason::TOKEN_INVALID,
        ),
        ("alg none", Some(alg_none), reason::TOKEN_INVALID),
        (
            "wrong audience",
            bearer(&Claims {
                aud: "billing".into(),
                ..claims()
            }),
            reason::TOKEN_INVALID,
        ),
        (
            "wrong issuer",
            bearer(&Claims {
                iss: "someone-else".into(),
                ..claims()
            }),
            reason::TOKEN_INVALID,
        ),
        (
            "missing a role",
            bearer(&Claims {
                roles: vec![],
                ..claims()
            }),
            reason::TOKEN_INVALID,
        ),
        (
            "unknown role",
            bearer(&Claims {
                roles: vec!["dispatcher".into(), "king".into()],
                ..claims()
            }),
            reason::TOKEN_INVALID,
        ),
        (
            "missing unit",
            bearer(&Claims {
                unit: "".into(),
                ..claims()
            }),
            reason::TOKEN_INVALID,
        ),
        (
            "missing subject",
            bearer(&Claims {
                sub: " ".into(),
                ..claims()
            }),
            reason::TOKEN_INVALID,
        ),
    ];
    let tickets = ticket_count(&app).await;
    for (label, auth, want) in &cases {
        let mut c = app.raw_client(auth.as_deref()).await;
        let got = c
            .get_ticket(pb::GetTicketRequest {
                ticket_id: t.id.clone(),
            })
            .await;
        // One plain sentence, never the JWT parser's text (issue 11).
        if let Err(s) = &got {
            let m = s.message();
            assert!(
                ![
                    "line ",
                    "column",
                    "Base64",
                    "base64",
                    "missing field",
                    "Error"
                ]
                .iter()
                .any(|x| m.contains(x))
                    && !m.contains('\n')
                    && m.len() < 120,
                "GetTicket, {label}: {m:?}"
            );
        }
        assert_refused(
            got,
            Code::Unauthenticated,
            want,
            &format!("GetTicket, {label}"),
        );
        let got = c.create_ticket(create_req("BLOCKAGE")).await;
        assert_refused(
            got,
            Code::Unauthenticated,
            want,
            &format!("CreateTicket, {label}"),
        );
    }
    assert_eq!(
        ticket_count(&app).await,
        tickets,
        "a refused token created a ticket"
    );
    assert_eq!(snapshot(&app, &t.id).await, (2, 2));

    // Control: the unchanged base claims are accepted.
    let mut c = app.raw_client(bearer(&claims()).as_deref()).await;
    c.get_ticket(pb::GetTicketRequest {
        ticket_id: t.id.clone(),
    })
    .await
    .expect("the base claims are valid");

    // Health needs no token.
    let mut h = tonic_health::pb::health_client::HealthClient::new(app.channel().await);
    let r = h
        .check(tonic_health::pb::HealthCheckRequest {
            service: "fieldops.v1.TicketService".into(),
        })
        .await
        .expect("health without a token")
        .into_inner();
    assert_eq!(
        r.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    app.stop().await;
}

// R-TKT-4: a crew member sees and claims only his unit's tickets.
#[tokio::test]
async fn r_tkt_4_crew_is_confined_to_its_unit() {
    let app = spawn_app().await;
    let mut d = app.dispatcher().await;
    let north = dispatched_ticket(&app, "BLOCKAGE").await;
    let south = create(&mut d, "BLOCKAGE").await;
    let south = dispatch(&mut d, &south.id, "south").await;
    let mut c9 = app.crew("c9", "south").await;
    let now = app.now();

    // Another unit's ticket does not exist for him.
    let before = snapshot(&app, &north.id).await;
    for rpc in [
        Rpc::ClaimTicket,
        Rpc::ReturnTicket,
        Rpc::GetTicket,
        Rpc::ListTicketEvents,
        Rpc::ScheduleAppointment,
        Rpc::RecordArrival,
        Rpc::CompleteRepair,
        Rpc::RequestExtension,
    ] {
        let what = format!("{rpc:?} of a north ticket by south crew");
        let c9 = &c9;
        assert_hidden(
            |t| {
                let mut c = c9.clone();
                async move { call(&mut c, rpc, Some(&t), now).await }
            },
            &north,
            &what,
        )
        .await;
        assert_eq!(snapshot(&app, &north.id).await, before, "{what} changed it");
    }

    let listed: Vec<_> = c9
        .list_tickets(pb::ListTicketsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .tickets
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert!(listed.contains(&south.id), "south crew lists south tickets");
    assert!(
        !listed.contains(&north.id),
        "south crew must not list north tickets"
    );
    let res = c9
        .list_tickets(pb::ListTicketsRequest {
            unit: "north".into(),
            ..Default::default()
        })
        .await;
    assert_refused(
        res,
        Code::PermissionDenied,
        reason::WRONG_UNIT,
        "ListTickets unit=north by south crew",
    );
    app.stop().await;
}

// R-TKT-4: on a claimed ticket only its holder acts; a ticket named for one
// crew member cannot be claimed by another.
#[tokio::test]
async fn r_tkt_4_only_the_holder_acts_on_a_claimed_ticket() {
    let app = spawn_app().await;
    let mut d = app.dispatcher().await;
    let mut c2 = app.crew("c2", "north").await;
    let now = app.now();
    let held = claimed(&app, "INDOOR_MEASUREMENT").await;
    let held_on_site = on_site(&app).await;
    assert_eq!(held.assignee, "c1");

    for (rpc, t) in [
        (Rpc::ScheduleAppointment, &held),
        (Rpc::RecordArrival, &held),
        (Rpc::RequestExtension, &held),
        (Rpc::ReturnTicket, &held),
        (Rpc::CompleteRepair, &held_on_site),
    ] {
        let before = snapshot(&app, &t.id).await;
        let res = call(&mut c2, rpc, Some(t), now).await;
        let what = format!("{rpc:?} by c2 on a ticket c1 holds");
        assert_refused(
            res,
            Code::PermissionDenied,
            reason::NOT_TICKET_HOLDER,
            &what,
        );
        assert_eq!(snapshot(&app, &t.id).await, before, "{what} changed it");
    }

    // Claiming a held ticket: "already claimed" (R-TKT-4), nothing changes.
    let before = snapshot(&app, &held.id).await;
    assert_refused(
        claim(&mut c2, &held.id).await,
        Code::Aborted,
        reason::TICKET_ALREADY_CLAIMED,
        "second claim",
    );
    assert_eq!(snapshot(&app, &held.id).await, before);

    // Dispatched naming c1: c2 of the same unit may not claim it.
    let named = create(&mut d, "BLOCKAGE").await;
    let named = d
        .dispatch_ticket(pb::DispatchTicketRequest {
            request_id: rid(),
            ticket_id: named.id.clone(),
            unit: "north".into(),
            assignee: "c1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let before = snapshot(&app, &named.id).await;
    assert_refused(
        claim(&mut c2, &named.id).await,
        Code::PermissionDenied,
        reason::NOT_TICKET_HOLDER,
        "claim of a ticket named for c1 by c2",
    );
    assert_eq!(snapshot(&app, &named.id).await, before);
    app.stop().await;
}

// R-TKT-13: caller name and phone are clear for dispatch, supervisors and the
// holder; masked for everyone else, in GetTicket and ListTickets alike.
#[tokio::test]
async fn r_tkt_13_caller_details_are_masked_unless_entitled() {
    let app = spawn_app().await;
    let mut d = app.dispatcher().await;
    let t = d
        .create_ticket(pb::CreateTicketRequest {
            caller_name: "张三丰".into(),
            caller_phone: "13812345678".into(),
            ..create_req("BLOCKAGE")
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!t.caller_masked);
    dispatch(&mut d, &t.id, "north").await;

    let mut c1 = app.crew("c1", "north").await;
    let before_claim = c1
        .get_ticket(pb::GetTicketRequest {
            ticket_id: t.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        before_claim.caller_masked,
        "crew who does not (yet) hold it sees the caller masked"
    );
    let claimed = claim(&mut c1, &t.id).await.unwrap();
    assert_eq!(
        (claimed.caller_name.as_str(), claimed.caller_masked),
        ("张三丰", false)
    );

    let viewers = [
        ("dispatcher", app.dispatcher().await, true),
        ("supervisor", app.supervisor().await, true),
        ("holder c1", app.crew("c1", "north").await, true),
        (
            "inspector",
            app.client_for("i1", &[Role::Inspector], "north").await,
            false,
        ),
        (
            "backoffice",
            app.client_for("b1", &[Role::Backoffice], "hq").await,
            false,
        ),
        (
            "admin",
            app.client_for("a1", &[Role::Admin], "hq").await,
            false,
        ),
        ("north crew c2", app.crew("c2", "north").await, false),
    ];
    for (who, mut c, clear) in viewers {
        let got = c
            .get_ticket(pb::GetTicketRequest {
                ticket_id: t.id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        let listed = c
            .list_tickets(pb::ListTicketsRequest::default())
            .await
            .unwrap()
            .into_inner()
            .tickets
            .into_iter()
            .find(|x| x.id == t.id)
            .unwrap_or_else(|| panic!("{who} does not list the ticket"));
        let want = if clear {
            ("张三丰", "13812345678", false)
        } else {
            ("张**", "138****5678", true)
        };
        for (how, v) in [("GetTicket", got), ("ListTickets", listed)] {
            assert_eq!(
                (
                    v.caller_name.as_str(),
                    v.caller_phone.as_str(),
                    v.caller_masked
                ),
                want,
                "{how} as {who}"
            );
        }
    }
    app.stop().await;
}

// R-TKT-13 recusal: a complaint about c1 is never assigned to, shown to or
// claimable by c1; who it is about is known only to dispatch and supervisors.
#[tokio::test]
async fn r_tkt_13_complaint_recusal() {
    let app = spawn_app().await;
    let mut d = app.dispatcher().await;
    let t = d
        .create_ticket(pb::CreateTicketRequest {
            subject_staff_id: "c1".into(),
            ..create_req("STAFF_COMPLAINT")
        })
        .await
        .unwrap()
        .into_inner();

    let before = snapshot(&app, &t.id).await;
    let res = d
        .dispatch_ticket(pb::DispatchTicketRequest {
            request_id: rid(),
            ticket_id: t.id.clone(),
            unit: "north".into(),
            assignee: "c1".into(),
            ..Default::default()
        })
        .await;
    assert_refused(
        res,
        Code::PermissionDenied,
        reason::RECUSED,
        "dispatch of a complaint about c1 to c1",
    );
    assert_eq!(snapshot(&app, &t.id).await, before);
    let t = dispatch(&mut d, &t.id, "north").await;

    let mut c1 = app.crew("c1", "north").await;
    let now = app.now();
    let before = snapshot(&app, &t.id).await;
    // R-TKT-13: a complaint about him does not exist for him.
    for rpc in [
        Rpc::GetTicket,
        Rpc::ListTicketEvents,
        Rpc::ClaimTicket,
        Rpc::ReturnTicket,
    ] {
        let what = format!("{rpc:?} by c1 of a complaint about c1");
        let c1 = &c1;
        assert_hidden(
            |x| {
                let mut c = c1.clone();
                async move { call(&mut c, rpc, Some(&x), now).await }
            },
            &t,
            &what,
        )
        .await;
        assert_eq!(snapshot(&app, &t.id).await, before, "{what} changed it");
    }
    let ids = |r: pb::ListTicketsResponse| r.tickets.into_iter().map(|t| t.id).collect::<Vec<_>>();
    let c1_list = ids(c1
        .list_tickets(pb::ListTicketsRequest::default())
        .await
        .unwrap()
        .into_inner());
    assert!(!c1_list.contains(&t.id), "c1 lists the complaint about him");
    let mut c2 = app.crew("c2", "north").await;
    let c2_list = ids(c2
        .list_tickets(pb::ListTicketsRequest::default())
        .await
        .unwrap()
        .into_inner());
    assert!(c2_list.contains(&t.id), "c2 of the same unit lists it");

    let viewers = [
        ("dispatcher", app.dispatcher().await, "c1"),
        ("supervisor", app.supervisor().await, "c1"),
        (
            "inspector",
            app.client_for("i1", &[Role::Inspector], "north").await,
            "",
        ),
        (
            "backoffice",
            app.client_for("b1", &[Role::Backoffice], "hq").await,
            "",
        ),
        (
            "admin",
            app.client_for("a1", &[Role::Admin], "hq").await,
            "",
        ),
        ("north crew c2", c2, ""),
    ];
    for (who, mut c, want) in viewers {
        let got = c
            .get_ticket(pb::GetTicketRequest {
                ticket_id: t.id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(got.subject_staff_id, want, "subject_staff_id as {who}");
    }
    app.stop().await;
}

// R-TKT-13 recusal applies to every staff member, not only crew: a dispatcher
// or supervisor a complaint is about may not read it (the server does refuse
// that), nor act on it: a mutation would show him the ticket in its response
// and let him steer the complaint, e.g. cancel it.
#[tokio::test]
async fn r_tkt_13_recusal_binds_dispatchers_and_supervisors() {
    let app = spawn_app().await;
    let mut d = app.dispatcher().await;
    let now = app.now();
    let mut failures = Vec::new();
    for (subject, role, rpc) in [
        ("d2", Role::Dispatcher, Rpc::DispatchTicket),
        ("d2", Role::Dispatcher, Rpc::CancelTicket),
        ("s2", Role::Supervisor, Rpc::Supervise),
    ] {
        let t = d
            .create_ticket(pb::CreateTicketRequest {
                subject_staff_id: subject.into(),
                ..create_req("STAFF_COMPLAINT")
            })
            .await
            .unwrap()
            .into_inner();
        let c = app.client_for(subject, &[role], "hq").await;
        let before = snapshot(&app, &t.id).await;
        for rpc in [Rpc::GetTicket, rpc] {
            let what = format!("{rpc:?} by {subject} of a complaint about {subject}");
            let c = &c;
            assert_hidden(
                |x| {
                    let mut c = c.clone();
                    async move { call(&mut c, rpc, Some(&x), now).await }
                },
                &t,
                &what,
            )
            .await;
        }
        let what = format!("{rpc:?} by {subject} of a complaint about {subject}");
        let after = snapshot(&app, &t.id).await;
        if after != before {
            failures.push(format!("{what} changed it: {before:?} -> {after:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    app.stop().await;
}

/// R-TKT-10: a unit's head supervises his unit's tickets only; a
/// dispatch-centre supervisor (unit not a service unit) any.
#[tokio::test]
async fn r_tkt_10_a_units_head_supervises_his_units_tickets() {
    let app = spawn_app().await;
    let mut d = app.dispatcher().await;
    let north = create(&mut d, "BUILDING_NO_HEAT").await;
    dispatch(&mut d, &north.id, "north").await;
    let south = create(&mut d, "BUILDING_NO_HEAT").await;
    dispatch(&mut d, &south.id, "south").await;
    let notice = |id: &str| pb::SuperviseRequest {
        request_id: rid(),
        ticket_id: id.into(),
        notice: "report progress by noon".into(),
        resolve_within: Some(dur(Duration::hours(4))),
        ..Default::default()
    };
    let mut head = app.client_for("s-n", &[Role::Supervisor], "north").await;
    let t = head
        .supervise(notice(&north.id))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(t.supervision_count, 1);
    let err = head.supervise(notice(&south.id)).await.unwrap_err();
    assert_status(&err, Code::PermissionDenied, reason::WRONG_UNIT, None);
    assert_eq!(
        get(&app, &south.id).await.version,
        south.version + 1,
        "unchanged"
    );
    // The dispatch centre's supervisor supervises any unit's.
    let mut centre = app.supervisor().await;
    let t = centre
        .supervise(notice(&south.id))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(t.supervision_count, 1);
}
