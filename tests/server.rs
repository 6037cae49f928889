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
    {
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
        let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
        assert!(
            names.contains(&"fieldops.v1.TicketService".to_string()),
            "{names:?}"
        );
        assert!(
            names.contains(&"grpc.health.v1.Health".to_string()),
            "{names:?}"
        );
    }
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

/// Captured log output of the calls in one test (its own subscriber).
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

/// Every call ends with one log line: method, the caller's sub, roles and
/// unit, the request id, the code, the reason and the latency; DEBUG for a
/// success, INFO for a refusal; never the caller's name or phone (R-TKT-13).
#[tokio::test]
async fn each_call_logs_one_line_without_personal_data() {
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("fieldops=debug")
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let app = spawn_app().await;
    let mut d = app.dispatcher().await;
    let ok = create_req("BUILDING_NO_HEAT");
    d.create_ticket(ok.clone()).await.unwrap();
    let mut c = app.crew("c7", "north").await;
    let refused = create_req("BUILDING_NO_HEAT");
    c.create_ticket(refused.clone()).await.unwrap_err();
    app.stop().await;

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let line = |needle: &str| {
        text.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle} in:\n{text}"))
            .to_string()
    };
    let success = line(&format!("request_id=\"{}\"", ok.request_id));
    for want in [
        "DEBUG",
        "CreateTicket",
        "sub=\"d1\"",
        "code=\"OK\"",
        "latency_ms",
    ] {
        assert!(success.contains(want), "{want} in {success}");
    }
    let refusal = line(&format!("request_id=\"{}\"", refused.request_id));
    for want in [
        "INFO",
        "call refused",
        "sub=\"c7\"",
        "roles=\"crew\"",
        "unit=\"north\"",
        "code=\"PermissionDenied\"",
        "reason=\"ROLE_NOT_ALLOWED\"",
    ] {
        assert!(refusal.contains(want), "{want} in {refusal}");
    }
    assert!(
        !text.contains("张三") && !text.contains("13812345678"),
        "personal data logged"
    );
}
