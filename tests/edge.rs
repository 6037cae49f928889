//! How browsers and TLS clients reach the server (issue 16): grpc-web over
//! HTTP/1.1 (a unary call, an error with its details, a Watch stream);
//! CORS answered for the configured origins only; TLS with the certificate
//! the server is given; TLS files that cannot work refused at start.
mod common;

use common::*;
use fieldops::domain::Role;
use fieldops::grpc::pb;
use fieldops::grpc::pb::sync_service_client::SyncServiceClient;
use fieldops::grpc::pb::ticket_service_client::TicketServiceClient;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio_stream::StreamExt;
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic_types::StatusExt;
use tonic_web::{GrpcWebCall, GrpcWebClientLayer, GrpcWebClientService};
use tower::Layer;

/// What a browser's grpc-web library does: HTTP/1.1, `application/grpc-web`.
type Web = InterceptedService<
    GrpcWebClientService<HttpClient<HttpConnector, GrpcWebCall<tonic::body::Body>>>,
    Bearer,
>;

fn web(sub: &str, roles: &[Role], unit: &str) -> Web {
    let http = HttpClient::builder(TokioExecutor::new()).build_http();
    InterceptedService::new(
        GrpcWebClientLayer::new().layer(http),
        bearer_for(sub, roles, unit),
    )
}

fn origin(app: &TestApp) -> http::Uri {
    app.url().parse().unwrap()
}

#[tokio::test]
async fn a_browser_calls_over_grpc_web_reads_errors_and_watches() {
    let app = spawn_app().await;
    let mut desk =
        TicketServiceClient::with_origin(web("d1", &[Role::Dispatcher], "hq"), origin(&app));
    let mut watch =
        SyncServiceClient::with_origin(web("d1", &[Role::Dispatcher], "hq"), origin(&app));
    let mut stream = watch
        .watch(pb::WatchRequest::default())
        .await
        .expect("Watch over grpc-web")
        .into_inner();
    // The first event of a caught-up stream is its checkpoint.
    let first = stream.next().await.unwrap().unwrap();
    assert!(matches!(
        first.event,
        Some(pb::watch_response::Event::Checkpoint(_))
    ));

    let created = desk
        .create_ticket(create_req("BUILDING_NO_HEAT"))
        .await
        .expect("CreateTicket over grpc-web")
        .into_inner();
    let got = desk
        .get_ticket(pb::GetTicketRequest {
            ticket_id: created.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.id, created.id);

    // An error arrives with its code and details (grpc-web puts them in
    // the body's trailer frame), in the default language.
    let e = desk
        .create_ticket(pb::CreateTicketRequest {
            address: String::new(),
            ..create_req("BUILDING_NO_HEAT")
        })
        .await
        .unwrap_err();
    assert_status(&e, Code::InvalidArgument, "MISSING_FIELD", Some("address"));
    let m = e.get_error_details().localized_message().cloned().unwrap();
    assert_eq!(m.locale, "zh-CN");

    // The Watch stream carries the new ticket.
    loop {
        let event = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
            .await
            .expect("a change within 10 s")
            .unwrap()
            .unwrap();
        if let Some(pb::watch_response::Event::Change(c)) = event.event
            && let Some(pb::change::Entity::Ticket(t)) = c.entity
        {
            assert_eq!(t.id, created.id);
            break;
        }
    }
    app.stop().await;
}

/// A CORS preflight as a browser sends it before a cross-origin grpc-web call.
async fn preflight(app: &TestApp, from: &str) -> http::Response<hyper::body::Incoming> {
    let http: HttpClient<HttpConnector, tonic::body::Body> =
        HttpClient::builder(TokioExecutor::new()).build_http();
    let req = http::Request::builder()
        .method("OPTIONS")
        .uri(format!(
            "{}/fieldops.v1.TicketService/CreateTicket",
            app.url()
        ))
        .header("origin", from)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type,x-grpc-web,accept-language",
        )
        .body(tonic::body::Body::empty())
        .unwrap();
    http.request(req).await.unwrap()
}

/// A grpc-web call from a page on `from` (no token: it is refused, with
/// the CORS headers a page needs to read why).
async fn cross_origin_call(app: &TestApp, from: &str) -> http::Response<hyper::body::Incoming> {
    let http: HttpClient<HttpConnector, tonic::body::Body> =
        HttpClient::builder(TokioExecutor::new()).build_http();
    let req = http::Request::builder()
        .method("POST")
        .uri(format!(
            "{}/fieldops.v1.TicketService/CreateTicket",
            app.url()
        ))
        .header("origin", from)
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .body(tonic::body::Body::new(http_body_util::Full::new(
            bytes::Bytes::from_static(&[0, 0, 0, 0, 0]),
        )))
        .unwrap();
    http.request(req).await.unwrap()
}

fn allowed_origin(r: &http::Response<hyper::body::Incoming>) -> Option<String> {
    r.headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap().to_string())
}

#[tokio::test]
async fn cors_answers_the_configured_origins_only() {
    let console = "https://console.example.cn";
    let app = spawn_tuned("heating", fresh_store().await, |c| {
        c.edge.cors_origins = vec![http::HeaderValue::from_static(console)];
    })
    .await;
    let ok = preflight(&app, console).await;
    assert!(ok.status().is_success(), "{:?}", ok.status());
    assert_eq!(allowed_origin(&ok).as_deref(), Some(console));
    let headers = ok.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_string();
    for h in ["authorization", "x-grpc-web", "accept-language"] {
        assert!(headers.contains(h), "{h} in {headers}");
    }
    // The call itself: the page may read the status and its details.
    let call = cross_origin_call(&app, console).await;
    assert_eq!(allowed_origin(&call).as_deref(), Some(console));
    let exposed = call.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_string();
    for h in ["grpc-status", "grpc-message", "grpc-status-details-bin"] {
        assert!(exposed.contains(h), "{h} in {exposed}");
    }

    let other = preflight(&app, "https://elsewhere.example.com").await;
    assert_eq!(allowed_origin(&other), None);
    app.stop().await;

    // No origin configured: no page on another origin may call.
    let plain = spawn_app().await;
    assert_eq!(allowed_origin(&preflight(&plain, console).await), None);
    plain.stop().await;
}

fn self_signed() -> (Vec<u8>, Vec<u8>) {
    let c = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    (
        c.cert.pem().into_bytes(),
        c.signing_key.serialize_pem().into_bytes(),
    )
}

#[tokio::test]
async fn tls_serves_grpc_with_the_given_certificate() {
    let (cert, key) = self_signed();
    let app = spawn_tuned("heating", fresh_store().await, |c| {
        c.edge.tls = Some((cert.clone(), key.clone()));
    })
    .await;
    // The harness's channel trusts the certificate and speaks TLS.
    let created = app
        .dispatcher()
        .await
        .create_ticket(create_req("BUILDING_NO_HEAT"))
        .await
        .expect("a call over TLS")
        .into_inner();
    assert!(!created.id.is_empty());
    // A plaintext client gets nowhere.
    let plain = tonic::transport::Channel::from_shared(format!("http://{}", app.addr))
        .unwrap()
        .connect()
        .await;
    if let Ok(ch) = plain {
        let mut c = TicketServiceClient::new(ch);
        let got = c
            .get_ticket(pb::GetTicketRequest {
                ticket_id: created.id.clone(),
            })
            .await;
        assert!(got.is_err(), "a plaintext call was answered: {got:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn tls_files_that_cannot_work_are_refused_before_serving() {
    let (cert, _) = self_signed();
    let (_, other_key) = self_signed();
    for (what, files) in [
        (
            "garbage",
            (b"not a certificate".to_vec(), b"not a key".to_vec()),
        ),
        ("a key of another certificate", (cert, other_key)),
    ] {
        let store = fresh_store().await;
        let mut config = test_config(&store);
        config.edge.tls = Some(files);
        let e = match fieldops::app::App::build(config).await {
            Ok(_) => panic!("{what}: the server started"),
            Err(e) => format!("{e:#}"),
        };
        assert!(e.contains("--tls-cert"), "{what}: {e}");
    }
}

/// A grpc-web call over HTTP/1.1 refused before its body is read (here: no
/// token) still reads the body: the client, sending it late as a slow
/// handheld would, gets the refusal with its details rather than a broken
/// pipe, and the connection stays open for the next call.
#[tokio::test]
async fn a_refused_http1_call_keeps_its_connection() {
    use http_body_util::BodyExt;
    use prost::Message;
    let app = spawn_app().await;
    let mut sender = http1_connection(&app).await;
    let message = create_req("BUILDING_NO_HEAT").encode_to_vec();
    let mut framed = vec![0u8];
    framed.extend_from_slice(&(message.len() as u32).to_be_bytes());
    framed.extend_from_slice(&message);
    for round in 0..3 {
        sender
            .ready()
            .await
            .unwrap_or_else(|e| panic!("round {round}: the connection was closed: {e}"));
        let (tx, rx) = tokio::sync::mpsc::channel::<Chunk>(1);
        let req = http::Request::post(format!(
            "http://{}/fieldops.v1.TicketService/CreateTicket",
            app.addr
        ))
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .header("content-length", framed.len())
        .body(http_body_util::StreamBody::new(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        ))
        .unwrap();
        let answer = tokio::spawn(sender.send_request(req));
        // The body follows the headers later.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        tx.send(Ok(http_body::Frame::data(framed.clone().into())))
            .await
            .unwrap();
        drop(tx);
        let response = answer.await.unwrap().expect("an answer, not a broken pipe");
        let (parts, body) = response.into_parts();
        let trailers = body.collect().await.unwrap();
        // grpc-web: the status in the headers (trailers-only) or in the
        // body's trailer frame.
        let status = parts
            .headers
            .get("grpc-status")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_else(|| {
                let text = String::from_utf8_lossy(&trailers.to_bytes()).to_string();
                text.lines()
                    .find_map(|l| l.strip_prefix("grpc-status:").map(|v| v.trim().to_string()))
                    .unwrap_or_default()
            });
        assert_eq!(status, "16", "round {round}: UNAUTHENTICATED");
    }
    app.stop().await;
}

/// An HTTP/1.1 body is read before the call, so its size is bounded
/// before anything else: a declared length beyond the message limit is
/// refused at once, before a byte of it is read.
#[tokio::test]
async fn an_oversized_http1_body_is_refused_before_it_is_read() {
    let app = spawn_app().await;
    let mut sender = http1_connection(&app).await;
    // The body never comes: the answer must not wait for it.
    let (_tx, rx) = tokio::sync::mpsc::channel::<Chunk>(1);
    let req = http::Request::post(format!(
        "http://{}/fieldops.v1.TicketService/CreateTicket",
        app.addr
    ))
    .header("content-type", "application/grpc-web+proto")
    .header("content-length", 100usize << 20)
    .body(http_body_util::StreamBody::new(
        tokio_stream::wrappers::ReceiverStream::new(rx),
    ))
    .unwrap();
    let response =
        tokio::time::timeout(std::time::Duration::from_secs(10), sender.send_request(req))
            .await
            .expect("an answer without the body")
            .unwrap();
    assert_eq!(response.status(), http::StatusCode::PAYLOAD_TOO_LARGE);
    app.stop().await;
}

/// A piece of a request body sent by hand.
type Chunk = Result<http_body::Frame<bytes::Bytes>, std::convert::Infallible>;
type SlowBody = http_body_util::StreamBody<tokio_stream::wrappers::ReceiverStream<Chunk>>;

/// One HTTP/1.1 connection to the server, whose requests' bodies the test
/// sends when it chooses.
async fn http1_connection(app: &TestApp) -> hyper::client::conn::http1::SendRequest<SlowBody> {
    let tcp = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    sender
}

/// A plain HTTP/1.1 request, as a browser opening the console sends it.
async fn browse(app: &TestApp, method: &str, path: &str) -> (http::response::Parts, bytes::Bytes) {
    use http_body_util::BodyExt;
    let http: HttpClient<HttpConnector, tonic::body::Body> =
        HttpClient::builder(TokioExecutor::new()).build_http();
    let req = http::Request::builder()
        .method(method)
        .uri(format!("{}{path}", app.url()))
        .body(tonic::body::Body::empty())
        .unwrap();
    let (parts, body) = http.request(req).await.unwrap().into_parts();
    (parts, body.collect().await.unwrap().to_bytes())
}

/// Issue 18: the console is served on the API's own port over HTTP/1.1:
/// the page and its files are the committed bundle (console/dist), with a
/// policy keeping the page to its own origin; the API answers beside it;
/// `--no-console` serves none of it.
#[tokio::test]
async fn the_console_is_served_beside_the_api() {
    let app = spawn_tuned("heating", fresh_store().await, |c| c.edge.console = true).await;
    let dist = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("console/dist");
    for (path, file, media) in [
        ("/", "index.html", "text/html"),
        ("/index.html", "index.html", "text/html"),
        ("/app.js", "app.js", "text/javascript"),
        ("/style.css", "style.css", "text/css"),
    ] {
        let (parts, body) = browse(&app, "GET", path).await;
        assert_eq!(parts.status, 200, "{path}");
        let header = |h: &str| parts.headers[h].to_str().unwrap().to_string();
        assert!(header("content-type").starts_with(media), "{path}");
        assert!(header("content-security-policy").contains("connect-src 'self'"));
        assert_eq!(header("x-content-type-options"), "nosniff");
        assert_eq!(body, std::fs::read(dist.join(file)).unwrap(), "{path}");
    }
    let (parts, body) = browse(&app, "HEAD", "/app.js").await;
    assert_eq!(parts.status, 200);
    assert!(body.is_empty());
    let (parts, _) = browse(&app, "GET", "/app.js.map").await;
    assert_ne!(parts.status, 200, "only the bundle's own files are served");
    // The API beside it.
    let created = create(&mut app.dispatcher().await, "NETWORK_LEAK").await;
    assert!(!created.id.is_empty());
    app.stop().await;

    let app = spawn_tuned("heating", fresh_store().await, |c| c.edge.console = false).await;
    let (parts, body) = browse(&app, "GET", "/").await;
    assert!(
        parts
            .headers
            .get("content-type")
            .is_none_or(|t| !t.to_str().unwrap().starts_with("text/html")),
        "--no-console still served the page"
    );
    assert_ne!(body, std::fs::read(dist.join("index.html")).unwrap());
    app.stop().await;
}
