//! Server hygiene: health and reflection for generic clients, graceful
//! shutdown on SIGTERM, request limits.
mod common;

use common::*;
use fieldops::grpc::pb;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_stream::StreamExt;

#[tokio::test]
async fn health_reports_serving_without_a_token() {
    let app = spawn_app().await;
    let mut h = tonic_health::pb::health_client::HealthClient::new(app.channel().await);
    for service in ["", "fieldops.v1.TicketService"] {
        let r = h
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            r.status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32
        );
    }
}

#[tokio::test]
async fn reflection_v1_and_v1alpha_list_the_ticket_service() {
    let app = spawn_app().await;
    let names = reflected_services(&app).await;
    assert!(
        names.contains(&"fieldops.v1.TicketService".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"grpc.health.v1.Health".to_string()),
        "{names:?}"
    );
    {
        use tonic_reflection::pb::v1alpha::{
            ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
            server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
        };
        let mut c = ServerReflectionClient::new(app.channel().await);
        let req = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::FileContainingSymbol(
                "fieldops.v1.Ticket".into(),
            )),
        };
        let mut stream = c
            .server_reflection_info(tokio_stream::iter([req]))
            .await
            .unwrap()
            .into_inner();
        let resp = stream.next().await.unwrap().unwrap();
        assert!(
            matches!(resp.message_response, Some(MessageResponse::FileDescriptorResponse(ref f)) if !f.file_descriptor_proto.is_empty()),
            "{resp:?}"
        );
    }
}

#[tokio::test]
async fn oversized_messages_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let mut d = app.dispatcher().await;
    let mut req = create_req("BUILDING_NO_HEAT");
    req.content = "x".repeat(5 << 20);
    let before = d
        .list_tickets(pb::ListTicketsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .tickets
        .len();
    let e = d.create_ticket(req).await.unwrap_err();
    // tonic answers a message over the configured limit with OUT_OF_RANGE.
    assert_eq!(e.code(), tonic::Code::OutOfRange, "{e:?}");
    let after = d
        .list_tickets(pb::ListTicketsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .tickets
        .len();
    assert_eq!(before, after);
}

#[tokio::test]
async fn stop_returns_cleanly() {
    let app = spawn_app().await;
    let mut d = app.dispatcher().await;
    create(&mut d, "BUILDING_NO_HEAT").await;
    app.stop().await; // asserts run() returned Ok
}

/// SIGTERM: the process stops serving, finishes and exits with status 0.
#[cfg(unix)]
#[tokio::test]
async fn sigterm_shuts_down_gracefully() {
    let dir = std::env::temp_dir().join(format!("fieldops-term-{}", uuid::Uuid::new_v4().simple()));
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_fieldops"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("FIELDOPS_DATA_DIR", &dir)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next_line().await.unwrap().unwrap();
    assert!(
        first.starts_with("fieldops listening on 127.0.0.1:"),
        "{first}"
    );
    // It tells a newcomer how to get a token.
    let mut printed = String::new();
    while let Some(l) = lines.next_line().await.unwrap() {
        printed.push_str(&l);
        if l.starts_with("Stop with") {
            break;
        }
    }
    assert!(printed.contains("token --role dispatcher"), "{printed}");
    let pid = child.id().unwrap().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(std::time::Duration::from_secs(20), child.wait())
        .await
        .expect("server exits after SIGTERM")
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    let _ = std::fs::remove_dir_all(dir);
}

/// Compression is negotiated: a client that sends gzip and accepts it gets
/// gzip back (`grpc-encoding: gzip`); one that does not, plain messages.
#[tokio::test]
async fn gzip_is_accepted_and_sent_when_asked_for() {
    use tonic::codec::CompressionEncoding::Gzip;
    let app = spawn_app().await;
    let mut zipped = app
        .dispatcher()
        .await
        .send_compressed(Gzip)
        .accept_compressed(Gzip);
    let mut req = create_req("BUILDING_NO_HEAT");
    req.content = "暖气不热。".repeat(200);
    let r = zipped.create_ticket(req).await.unwrap();
    assert_eq!(r.metadata().get("grpc-encoding").unwrap(), "gzip");
    let id = r.into_inner().id;
    let mut plain = app.dispatcher().await;
    let r = plain
        .get_ticket(pb::GetTicketRequest {
            ticket_id: id.clone(),
        })
        .await
        .unwrap();
    assert!(r.metadata().get("grpc-encoding").is_none());
    assert_eq!(r.into_inner().content, "暖气不热。".repeat(200));
}

/// Health names every service the server offers, and at shutdown every
/// name turns NOT_SERVING before the server goes: a load balancer watching
/// any of them stops sending calls while in-flight calls finish.
#[tokio::test]
async fn health_covers_every_service_and_turns_not_serving_at_shutdown() {
    use tonic_health::pb::health_check_response::ServingStatus;
    let app = spawn_app().await;
    // Every fieldops service reflection lists, and "" for the server.
    let mut names: Vec<String> = reflected_services(&app)
        .await
        .into_iter()
        .filter(|n| n.starts_with("fieldops."))
        .collect();
    assert_eq!(names.len(), 9, "{names:?}");
    names.push(String::new());
    let mut h = tonic_health::pb::health_client::HealthClient::new(app.channel().await);
    let mut watches = Vec::new();
    for name in &names {
        let mut w = h
            .watch(tonic_health::pb::HealthCheckRequest {
                service: name.clone(),
            })
            .await
            .unwrap_or_else(|e| panic!("{name:?}: {e}"))
            .into_inner();
        let first = w.next().await.unwrap().unwrap();
        assert_eq!(first.status, ServingStatus::Serving as i32, "{name:?}");
        watches.push((name.clone(), w));
    }
    let stopping = tokio::spawn(app.stop());
    for (name, mut w) in watches {
        let next = tokio::time::timeout(std::time::Duration::from_secs(10), w.next())
            .await
            .unwrap_or_else(|_| panic!("{name:?}: no status within 10 s of the shutdown"));
        let status = next.expect("a status").expect("a status").status;
        assert_eq!(status, ServingStatus::NotServing as i32, "{name:?}");
    }
    tokio::time::timeout(std::time::Duration::from_secs(30), stopping)
        .await
        .expect("the server stops with health watches open")
        .unwrap();
}

/// The services reflection (v1) lists.
async fn reflected_services(app: &TestApp) -> Vec<String> {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let mut c = ServerReflectionClient::new(app.channel().await);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = c
        .server_reflection_info(tokio_stream::iter([req]))
        .await
        .unwrap()
        .into_inner();
    let resp = stream.next().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response else {
        panic!("unexpected reflection answer")
    };
    list.service.into_iter().map(|s| s.name).collect()
}
