//! OpenTelemetry traces (issue 16): with `--otlp-endpoint` the server
//! exports every call's span over OTLP/gRPC, named by its method, a server
//! span, joined to the caller's trace by its W3C `traceparent`, marked as
//! an error when the call failed; spans still buffered are flushed when the
//! server stops. The collector is a small OTLP receiver in this test.
mod common;

use common::process::{dispatcher_at, start_binary};
use common::*;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::{Span, span::SpanKind, status::StatusCode};
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<ExportTraceServiceRequest>>>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        req: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0.lock().unwrap().push(req.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

impl Collector {
    /// Every span received, with its resource's `service.name`.
    fn spans(&self) -> Vec<(String, Span)> {
        let mut out = Vec::new();
        for req in self.0.lock().unwrap().iter() {
            for rs in &req.resource_spans {
                let service = rs
                    .resource
                    .iter()
                    .flat_map(|r| &r.attributes)
                    .find(|a| a.key == "service.name")
                    .and_then(|a| a.value.as_ref())
                    .map(|v| format!("{:?}", v.value))
                    .unwrap_or_default();
                for ss in &rs.scope_spans {
                    for s in &ss.spans {
                        out.push((service.clone(), s.clone()));
                    }
                }
            }
        }
        out
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_exported_as_spans_in_the_callers_trace() {
    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let otlp = listener.local_addr().unwrap();
    let serving = collector.clone();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(serving))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
    });

    let store = fresh_store().await;
    let dir = std::env::temp_dir().join(format!("fieldops-traces-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let endpoint = format!("http://{otlp}");
    let (mut server, addr) = start_binary(&store, &dir, &["--otlp-endpoint", &endpoint], None);
    let mut desk = dispatcher_at(addr).await;

    // The caller's trace: a handheld's or the console's span.
    let (trace_id, parent_id) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let traceparent = format!("00-{trace_id}-{parent_id}-01");
    let mut ok = tonic::Request::new(create_req("BUILDING_NO_HEAT"));
    ok.metadata_mut()
        .insert("traceparent", traceparent.parse().unwrap());
    desk.create_ticket(ok).await.unwrap();
    // A refused call, in no caller's trace.
    let refused = desk
        .create_ticket(fieldops::grpc::pb::CreateTicketRequest {
            address: String::new(),
            ..create_req("BUILDING_NO_HEAT")
        })
        .await;
    assert!(refused.is_err());

    // Stopping flushes what the batch exporter still holds.
    // SAFETY: sending SIGTERM to our own child.
    unsafe { libc::kill(server.id() as i32, libc::SIGTERM) };
    let status = tokio::task::spawn_blocking(move || server.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");

    let spans = collector.spans();
    let create: Vec<_> = spans
        .iter()
        .filter(|(_, s)| s.name == "fieldops.v1.TicketService/CreateTicket")
        .collect();
    assert_eq!(create.len(), 2, "{spans:#?}");
    let (service, joined) = create
        .iter()
        .find(|(_, s)| hex(&s.trace_id) == trace_id)
        .unwrap_or_else(|| panic!("no span in the caller's trace: {create:#?}"));
    assert!(service.contains("fieldops"), "{service}");
    assert_eq!(hex(&joined.parent_span_id), parent_id);
    assert_eq!(joined.kind, SpanKind::Server as i32);
    assert_ne!(
        joined.status.as_ref().map(|s| s.code),
        Some(StatusCode::Error as i32)
    );
    let (_, failed) = create
        .iter()
        .find(|(_, s)| hex(&s.trace_id) != trace_id)
        .unwrap();
    assert!(failed.parent_span_id.is_empty(), "a root span");
    assert_eq!(
        failed.status.as_ref().map(|s| s.code),
        Some(StatusCode::Error as i32),
        "{failed:#?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
