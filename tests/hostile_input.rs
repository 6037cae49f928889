//! Hostile input over real gRPC (issue 11, findings 3-5): fields beyond
//! their limits, NUL characters and invalid UTF-8, out-of-range times,
//! bodies that are not the message at all, each answered INVALID_ARGUMENT
//! with a field path and a stable reason, storing nothing; and a list page
//! of the largest tickets still fits the message limit.
mod common;

use bytes::Bytes;
use common::raw::{RawCodec, as_caller};
use common::*;
use fieldops::domain::Role;
use fieldops::error::reason;
use fieldops::grpc::pb;
use prost::Message;
use tonic::Code;

/// Send `body` to `method` (e.g. "/fieldops.v1.TicketService/CreateTicket") as `who`.
pub async fn raw_unary(
    app: &TestApp,
    who: (&str, Role, &str),
    method: &str,
    body: Bytes,
) -> Result<Bytes, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(app.channel().await);
    grpc.ready().await.unwrap();
    grpc.unary(as_caller(who, body), method.parse().unwrap(), RawCodec)
        .await
        .map(|r| r.into_inner())
}

const CREATE: &str = "/fieldops.v1.TicketService/CreateTicket";
const DISPATCHER: (&str, Role, &str) = ("d1", Role::Dispatcher, "hq");

#[tokio::test]
async fn fields_beyond_their_limits_are_refused_with_their_path_and_store_nothing() {
    let app = spawn_app().await;
    let mut d = app.dispatcher().await;
    let base = ticket_count(&app).await;
    // At each limit: accepted.
    let mut at_limit = create_req("BUILDING_NO_HEAT");
    at_limit.content = "暖".repeat(4000);
    at_limit.caller_name = "张".repeat(100);
    at_limit.address = "路".repeat(500);
    at_limit.caller_phone = "1".repeat(32);
    d.create_ticket(at_limit.clone()).await.unwrap();
    // One character past each: refused, with the field.
    type Grow = fn(&mut pb::CreateTicketRequest);
    let cases: [(&str, Grow); 5] = [
        ("content", |r| r.content.push('暖')),
        ("caller_name", |r| r.caller_name.push('张')),
        ("address", |r| r.address.push('路')),
        ("caller_phone", |r| r.caller_phone.push('1')),
        ("category", |r| r.category = "X".repeat(257)),
    ];
    for (field, grow) in cases {
        let mut req = at_limit.clone();
        req.request_id = rid();
        grow(&mut req);
        let e = d.create_ticket(req).await.unwrap_err();
        assert_status(
            &e,
            Code::InvalidArgument,
            reason::FIELD_TOO_LONG,
            Some(field),
        );
        assert!(
            e.message().len() < 200,
            "{field}: the error echoes the input"
        );
    }
    // A 3.9 MB content, once accepted and then unreadable in every list.
    let mut huge = create_req("BUILDING_NO_HEAT");
    huge.content = "x".repeat(3_900_000);
    let e = d.create_ticket(huge).await.unwrap_err();
    assert_status(
        &e,
        Code::InvalidArgument,
        reason::FIELD_TOO_LONG,
        Some("content"),
    );
    assert!(e.metadata().as_ref().len() < 2048, "the error stays small");
    // An unknown category 64 KB long is not echoed back.
    let mut cat = create_req("BUILDING_NO_HEAT");
    cat.category = "Q".repeat(200);
    let e = d.create_ticket(cat).await.unwrap_err();
    assert_status(
        &e,
        Code::InvalidArgument,
        reason::UNKNOWN_CATEGORY,
        Some("category"),
    );
    assert!(e.message().len() < 150, "{}", e.message());
    // Nested: a Push batch's request, with its path.
    let mut push = pb::sync_service_client::SyncServiceClient::with_interceptor(
        app.channel().await,
        Bearer(Some(
            format!("Bearer {}", token("c1", &[Role::Crew], "north"))
                .parse()
                .unwrap(),
        )),
    );
    let e = push
        .push(pb::PushRequest {
            client_id: "hh-1".into(),
            mutations: vec![pb::Mutation {
                mutation_id: 1,
                request: Some(pb::mutation::Request::ReturnTicket(
                    pb::ReturnTicketRequest {
                        request_id: rid(),
                        ticket_id: uuid::Uuid::now_v7().to_string(),
                        reason: "理".repeat(1001),
                        ..Default::default()
                    },
                )),
            }],
        })
        .await
        .unwrap_err();
    assert_status(
        &e,
        Code::InvalidArgument,
        reason::FIELD_TOO_LONG,
        Some("mutations[0].return_ticket.reason"),
    );
    let e = push
        .push(pb::PushRequest {
            client_id: "hh-1".into(),
            mutations: (1..=501)
                .map(|i| pb::Mutation {
                    mutation_id: i,
                    request: None,
                })
                .collect(),
        })
        .await
        .unwrap_err();
    assert_status(
        &e,
        Code::InvalidArgument,
        reason::TOO_MANY_ITEMS,
        Some("mutations"),
    );
    assert_eq!(
        ticket_count(&app).await,
        base + 1,
        "only the ticket at the limits"
    );
    app.stop().await;
}

#[tokio::test]
async fn nul_characters_and_invalid_utf8_are_refused_the_same_on_every_database() {
    let app = spawn_app().await;
    let mut d = app.dispatcher().await;
    let base = ticket_count(&app).await;
    let mut req = create_req("BUILDING_NO_HEAT");
    req.caller_name = "张\0三".into();
    let e = d.create_ticket(req).await.unwrap_err();
    assert_status(
        &e,
        Code::InvalidArgument,
        reason::INVALID_TEXT,
        Some("caller_name"),
    );
    // Field 8 (content) holding bytes that are not UTF-8.
    let mut body = create_req("BUILDING_NO_HEAT").encode_to_vec();
    body.extend_from_slice(&[0x42, 3, 0xe6, 0x9a, 0xff]);
    let e = raw_unary(&app, DISPATCHER, CREATE, body.into())
        .await
        .unwrap_err();
    assert_status(
        &e,
        Code::InvalidArgument,
        reason::INVALID_TEXT,
        Some("content"),
    );
    assert_eq!(ticket_count(&app).await, base);
    app.stop().await;
}

#[tokio::test]
async fn bodies_that_are_not_the_message_are_invalid_argument() {
    let app = spawn_app().await;
    let base = ticket_count(&app).await;
    for body in [
        vec![0xff; 7],          // a key with no end
        vec![0x42, 0x7f, b'a'], // a length beyond the body
        vec![0x0b, 0x01, 0x0c], // a group, which proto3 has not
        vec![0x0f],             // wire type 7
        vec![
            0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01,
        ], // an 11-byte varint
    ] {
        let e = raw_unary(&app, DISPATCHER, CREATE, body.clone().into())
            .await
            .unwrap_err();
        assert_status(&e, Code::InvalidArgument, reason::MALFORMED_REQUEST, None);
        assert!(
            !e.message().contains("buffer"),
            "no parser text: {}",
            e.message()
        );
    }
    assert_eq!(ticket_count(&app).await, base);
    app.stop().await;
}

#[tokio::test]
async fn times_out_of_range_are_refused() {
    let app = spawn_app().await;
    let mut d = app.dispatcher().await;
    let base = ticket_count(&app).await;
    for seconds in [-1, 253_402_300_800, i64::MAX, i64::MIN] {
        let mut req = create_req("BUILDING_NO_HEAT");
        req.received_at = Some(prost_types::Timestamp { seconds, nanos: 0 });
        let e = d.create_ticket(req).await.unwrap_err();
        assert_status(
            &e,
            Code::InvalidArgument,
            reason::OUT_OF_RANGE,
            Some("received_at"),
        );
    }
    assert_eq!(ticket_count(&app).await, base);
    app.stop().await;
}

/// Sixty tickets with every text field at its limit, in four-byte
/// characters: a list page and a Pull page are cut to fit a server whose
/// message limit is 256 KiB, and together hold every ticket once.
#[tokio::test]
async fn a_page_of_the_largest_tickets_fits_the_message_limit() {
    const LIMIT: usize = 256 << 10;
    let app = spawn_tuned("heating", fresh_store().await, |c| {
        c.max_message_bytes = LIMIT;
    })
    .await;
    let mut d = app.dispatcher().await;
    let mut ids = std::collections::BTreeSet::new();
    for _ in 0..60 {
        let mut req = create_req("BUILDING_NO_HEAT");
        req.content = "𠀀".repeat(4000);
        req.caller_name = "𠀀".repeat(100);
        req.address = format!("{}{}", ids.len(), "𠀀".repeat(490));
        ids.insert(d.create_ticket(req).await.unwrap().into_inner().id);
    }
    let bearer = Bearer(Some(
        format!("Bearer {}", token("d1", &[Role::Dispatcher], "hq"))
            .parse()
            .unwrap(),
    ));
    // A client that takes no message larger than the server's limit.
    let mut lists = pb::ticket_service_client::TicketServiceClient::with_interceptor(
        app.channel().await,
        bearer.clone(),
    )
    .max_decoding_message_size(LIMIT);
    let (listed, pages) = all_tickets(&mut lists).await;
    let seen: Vec<_> = listed.into_iter().map(|t| t.id).collect();
    assert!(pages > 1, "the pages were cut by bytes");
    assert_eq!(seen.len(), ids.len(), "each ticket once");
    assert_eq!(
        seen.into_iter().collect::<std::collections::BTreeSet<_>>(),
        ids
    );

    let mut sync =
        pb::sync_service_client::SyncServiceClient::with_interceptor(app.channel().await, bearer)
            .max_decoding_message_size(LIMIT);
    let (mut changes, mut cursor, mut pulls) = (0, String::new(), 0);
    loop {
        let page = sync
            .pull(pb::PullRequest {
                cursor,
                limit: 5000,
                ..Default::default()
            })
            .await
            .expect("every Pull page fits the client's limit")
            .into_inner();
        pulls += 1;
        changes += page.changes.len();
        cursor = page.cursor;
        if !page.has_more {
            break;
        }
    }
    assert!(pulls > 1, "Pull pages were cut by bytes");
    assert_eq!(changes, 60);
    app.stop().await;
}
