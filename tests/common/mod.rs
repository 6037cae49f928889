//! Test harness: a real server over real gRPC on 127.0.0.1:0 with a real
//! database. SQLite (a fresh file per app) by default; PostgreSQL when
//! FIELDOPS_TEST_DATABASE_URL is set, each app in its own fresh schema.
#![allow(dead_code)]

pub mod process;
pub mod proxy;
pub mod raw;
pub mod scrape;

use chrono::{DateTime, Duration, DurationRound, TimeZone, Utc};
use fieldops::auth::{Claims, Issuer, KeySource};
use fieldops::config::Config;
use fieldops::domain::{Policy, Role};
use fieldops::grpc::pb;
use fieldops::grpc::pb::ticket_service_client::TicketServiceClient;
use fieldops::service::ManualClock;
use fieldops::storage::DbSettings;
use sea_orm::ConnectionTrait;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::oneshot;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;

pub const SECRET: &[u8] = b"test-secret-test-secret-test-secret!";
pub const ISSUER: &str = "fieldops";
pub const AUDIENCE: &str = "fieldops";

/// Where an app keeps its data, so a second instance can share it.
#[derive(Clone, Debug)]
pub struct Store {
    pub url: String,
    pub pg_schema: Option<String>,
    pub dir: Option<PathBuf>,
}

pub struct TestApp {
    pub addr: std::net::SocketAddr,
    pub clock: Arc<ManualClock>,
    pub store: Store,
    /// The server's deadline monitor and housekeeping: they never run by
    /// themselves in tests; a test runs a pass and asserts after it.
    pub handles: fieldops::app::Handles,
    /// The server's certificate (self-signed, for "localhost") when it
    /// serves TLS: `channel` then trusts it and speaks TLS.
    pub tls_cert: Option<Vec<u8>>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

pub fn is_postgres() -> bool {
    std::env::var("FIELDOPS_TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres"))
}

/// A fresh, empty store: a new SQLite file, or a new PostgreSQL schema.
pub async fn fresh_store() -> Store {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    match std::env::var("FIELDOPS_TEST_DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => {
            let schema = format!("t_{tag}");
            let conn = sea_orm::Database::connect(url.as_str())
                .await
                .expect("connect to PostgreSQL");
            conn.execute_unprepared(&format!("CREATE SCHEMA {schema}"))
                .await
                .expect("create schema");
            conn.close().await.ok();
            Store {
                url,
                pg_schema: Some(schema),
                dir: None,
            }
        }
        _ => {
            let dir = std::env::temp_dir().join(format!("fieldops-test-{tag}"));
            std::fs::create_dir_all(&dir).unwrap();
            Store {
                url: format!("sqlite:{}", dir.join("fieldops.db").display()),
                pg_schema: None,
                dir: Some(dir),
            }
        }
    }
}

/// The tests' start time: now, to the second (tokens use the real clock).
pub fn start_time() -> DateTime<Utc> {
    Utc::now().duration_trunc(Duration::seconds(1)).unwrap()
}

pub async fn spawn_app() -> TestApp {
    spawn_with("heating", fresh_store().await).await
}

pub async fn spawn_app_with_policy(policy: &str) -> TestApp {
    spawn_with(policy, fresh_store().await).await
}

/// A second server instance on the same database (shares nothing else).
pub async fn spawn_sharing(other: &TestApp) -> TestApp {
    spawn_with("heating", other.store.clone()).await
}

pub async fn spawn_with(policy: &str, store: Store) -> TestApp {
    spawn_tuned(policy, store, |_| {}).await
}

/// A water-profile server for the deadline-monitor tests, which run its
/// passes with `TestApp::run_monitor`.
pub async fn spawn_with_monitor(store: Store) -> TestApp {
    spawn_with("water", store).await
}

/// How the tests open `store`.
pub fn db_settings(store: &Store) -> DbSettings {
    DbSettings {
        url: store.url.clone(),
        sqlite_synchronous: "normal".into(),
        sqlite_busy_timeout: std::time::Duration::from_secs(10),
        read_pool_size: 4,
        max_connections: 8,
        pg_schema: store.pg_schema.clone(),
        timeouts: Default::default(),
    }
}

/// The tests' settings for a server on `store` (heating policy, its own
/// manual clock), for a test that builds the server itself.
/// The attachments' directory of a store.
pub fn objects_dir(store: &Store) -> PathBuf {
    match (&store.dir, &store.pg_schema) {
        (Some(dir), _) => dir.join("attachments"),
        (None, Some(schema)) => std::env::temp_dir().join(format!("fieldops-objects-{schema}")),
        (None, None) => std::env::temp_dir().join("fieldops-objects"),
    }
}

pub fn test_config(store: &Store) -> Config {
    config_with("heating", store, Arc::new(ManualClock::new(start_time())))
}

fn config_with(policy: &str, store: &Store, clock: Arc<ManualClock>) -> Config {
    Config {
        db: db_settings(store),
        policy: Policy::builtin(policy).expect("built-in policy"),
        timezone: chrono_tz::Asia::Shanghai,
        default_language: fieldops::grpc::language::Language::ZhCn,
        jwt_key: KeySource::Secret(SECRET.to_vec()),
        jwt_issuer: ISSUER.into(),
        jwt_audience: AUDIENCE.into(),
        units: vec!["north".into(), "south".into()],
        request_timeout: std::time::Duration::from_secs(30),
        max_message_bytes: 4 << 20,
        net: Default::default(),
        edge: Default::default(),
        watch_poll: std::time::Duration::from_millis(50),
        watch_checkpoint: std::time::Duration::from_millis(300),
        feed_window: 20_000,
        feed_window_bytes: 64 << 20,
        ticket_cache: 20_000,
        monitor_interval: None,
        maintenance_interval: None,
        audit_anchors: None,
        // Beside the store, so instances sharing it share the files too.
        attachments_url: format!("file://{}", objects_dir(store).display()),
        clock: clock.clone(),
    }
}

/// A server with the tests' settings, changed by `tune`. Its deadline
/// monitor and housekeeping never run by themselves: a test that needs them
/// runs a pass (`run_monitor`, `run_maintenance`), so nothing in the
/// background races what the test writes or asserts.
pub async fn spawn_tuned(policy: &str, store: Store, tune: impl FnOnce(&mut Config)) -> TestApp {
    let clock = Arc::new(ManualClock::new(start_time()));
    let mut config = config_with(policy, &store, clock.clone());
    tune(&mut config);
    let tls_cert = config.edge.tls.as_ref().map(|(cert, _)| cert.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = fieldops::app::App::build(config)
        .await
        .expect("server starts");
    let handles = server.handles();
    let task = tokio::spawn(server.serve(listener, async {
        let _ = stopped.await;
    }));
    let app = TestApp {
        addr,
        clock,
        store,
        handles,
        tls_cert,
        stop: Some(stop),
        task: Some(task),
    };
    app.wait_ready().await;
    app
}

#[derive(Clone)]
pub struct Bearer(pub Option<MetadataValue<tonic::metadata::Ascii>>);

/// An interceptor sending `sub`'s token, for any service's client.
pub fn bearer_for(sub: &str, roles: &[Role], unit: &str) -> Bearer {
    let value = format!("Bearer {}", token(sub, roles, unit));
    Bearer(Some(value.parse().unwrap()))
}

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

pub type Client = TicketServiceClient<InterceptedService<Channel, Bearer>>;

pub fn token(sub: &str, roles: &[Role], unit: &str) -> String {
    Issuer::new(SECRET, ISSUER, AUDIENCE)
        .issue(sub, roles, unit, Duration::hours(1))
        .unwrap()
}

pub fn sign(claims: &Claims) -> String {
    Issuer::new(SECRET, ISSUER, AUDIENCE).sign(claims).unwrap()
}

impl TestApp {
    pub fn url(&self) -> String {
        match self.tls_cert {
            Some(_) => format!("https://{}", self.addr),
            None => format!("http://{}", self.addr),
        }
    }

    /// A channel to the server, not yet connected.
    fn endpoint(&self) -> tonic::transport::Endpoint {
        let endpoint = Channel::from_shared(self.url()).unwrap();
        match &self.tls_cert {
            Some(cert) => endpoint
                .tls_config(
                    tonic::transport::ClientTlsConfig::new()
                        .ca_certificate(tonic::transport::Certificate::from_pem(cert))
                        .domain_name("localhost"),
                )
                .unwrap(),
            None => endpoint,
        }
    }

    pub async fn channel(&self) -> Channel {
        self.endpoint().connect().await.unwrap()
    }

    async fn wait_ready(&self) {
        for _ in 0..200 {
            if let Ok(ch) = self.endpoint().connect().await {
                let mut h = tonic_health::pb::health_client::HealthClient::new(ch);
                let req = tonic_health::pb::HealthCheckRequest {
                    service: "fieldops.v1.TicketService".into(),
                };
                if let Ok(r) = h.check(req).await
                    && r.into_inner().status
                        == tonic_health::pb::health_check_response::ServingStatus::Serving as i32
                {
                    return;
                }
            }
            if self.task.as_ref().is_some_and(|t| t.is_finished()) {
                panic!("server task ended during start-up");
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("server did not become ready");
    }

    /// A client sending a raw authorization value (or none).
    pub async fn raw_client(&self, authorization: Option<&str>) -> Client {
        let value = authorization.map(|a| a.parse().unwrap());
        TicketServiceClient::with_interceptor(self.channel().await, Bearer(value))
    }

    pub async fn client_for(&self, sub: &str, roles: &[Role], unit: &str) -> Client {
        let t = token(sub, roles, unit);
        self.raw_client(Some(&format!("Bearer {t}"))).await
    }

    pub async fn dispatcher(&self) -> Client {
        self.client_for("d1", &[Role::Dispatcher], "hq").await
    }

    pub async fn crew(&self, sub: &str, unit: &str) -> Client {
        self.client_for(sub, &[Role::Crew], unit).await
    }

    pub async fn supervisor(&self) -> Client {
        self.client_for("s1", &[Role::Supervisor], "hq").await
    }

    pub fn now(&self) -> DateTime<Utc> {
        use fieldops::service::Clock;
        self.clock.now()
    }

    /// One deadline-monitor pass at the app's clock, to its end; returns
    /// how many tickets got a breach.
    pub async fn run_monitor(&self) -> usize {
        self.handles.monitor.tick().await.expect("monitor pass")
    }

    /// One housekeeping pass at the app's clock, to its end.
    pub async fn run_maintenance(&self) -> fieldops::service::maintenance::Purged {
        self.handles
            .maintenance
            .pass()
            .await
            .expect("maintenance pass")
    }

    /// Stop the server and wait until it has finished.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap().unwrap();
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

pub fn rid() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub fn ts(t: DateTime<Utc>) -> prost_types::Timestamp {
    fieldops::grpc::convert::ts(t)
}

pub fn dur(d: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: d.num_seconds(),
        nanos: 0,
    }
}

pub fn point(lat: f64, lon: f64) -> Option<pb::GeoPoint> {
    Some(pb::GeoPoint {
        latitude: lat,
        longitude: lon,
    })
}

/// The ticket location every helper uses.
pub const HOME: (f64, f64) = (39.9042, 116.4074);

/// A call from another flat each time, so fixtures are not repeat
/// complaints (R-TKT-10) unless a test makes them so.
pub fn create_req(category: &str) -> pb::CreateTicketRequest {
    static FLAT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(101);
    let flat = FLAT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    pb::CreateTicketRequest {
        request_id: rid(),
        category: category.into(),
        source: pb::SourceChannel::Hotline as i32,
        caller_name: "张三".into(),
        caller_phone: "13812345678".into(),
        address: format!("1 Heping Rd, Building 3, Unit 2, Flat {flat}"),
        location: point(HOME.0, HOME.1),
        content: "radiators cold since yesterday".into(),
        ..Default::default()
    }
}

pub async fn create(d: &mut Client, category: &str) -> pb::Ticket {
    d.create_ticket(create_req(category))
        .await
        .unwrap()
        .into_inner()
}

pub async fn dispatch(d: &mut Client, id: &str, unit: &str) -> pb::Ticket {
    d.dispatch_ticket(pb::DispatchTicketRequest {
        request_id: rid(),
        ticket_id: id.into(),
        unit: unit.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
}

pub async fn claim(c: &mut Client, id: &str) -> Result<pb::Ticket, Status> {
    c.claim_ticket(pb::ClaimTicketRequest {
        request_id: rid(),
        ticket_id: id.into(),
        ..Default::default()
    })
    .await
    .map(|r| r.into_inner())
}

pub async fn arrive(c: &mut Client, id: &str) -> pb::Ticket {
    c.record_arrival(pb::RecordArrivalRequest {
        request_id: rid(),
        ticket_id: id.into(),
        location: point(HOME.0, HOME.1),
        accuracy_m: 8.0,
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
}

pub fn resolution() -> Option<pb::Resolution> {
    Some(pb::Resolution {
        code: "AIR_VENTED".into(),
        notes: "bled radiators".into(),
        parts: vec![],
        cause: pb::FaultParty::Utility as i32,
        customer_acknowledged: true,
    })
}

/// A call back to the caller by phone (`result`: the matter is settled).
pub async fn call_back(c: &mut Client, id: &str, result: bool) -> Result<pb::Ticket, Status> {
    c.record_contact(pb::RecordContactRequest {
        request_id: rid(),
        ticket_id: id.into(),
        counterpart: pb::Counterpart::Caller as i32,
        channel: pb::ContactChannel::Phone as i32,
        summary: "called back".into(),
        result,
        ..Default::default()
    })
    .await
    .map(|r| r.into_inner())
}

pub async fn complete(c: &mut Client, id: &str) -> pb::Ticket {
    c.complete_repair(pb::CompleteRepairRequest {
        request_id: rid(),
        ticket_id: id.into(),
        resolution: resolution(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
}

/// R-TKT-7: book an appointment at `when`.
pub async fn schedule(c: &mut Client, id: &str, when: DateTime<Utc>) -> pb::Ticket {
    c.schedule_appointment(pb::ScheduleAppointmentRequest {
        request_id: rid(),
        ticket_id: id.into(),
        appointment_time: Some(ts(when)),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
}

/// How many tickets a dispatcher sees (all of them fit one page).
pub async fn ticket_count(app: &TestApp) -> usize {
    let mut d = app.dispatcher().await;
    let page = d
        .list_tickets(pb::ListTicketsRequest {
            page_size: 500,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        page.next_page_token.is_empty(),
        "more tickets than one page"
    );
    page.tickets.len()
}

/// Every ticket `client` may list, page by page (with the number of pages).
pub async fn all_tickets(client: &mut Client) -> (Vec<pb::Ticket>, usize) {
    let (mut all, mut token, mut pages) = (Vec::new(), String::new(), 0);
    loop {
        let page = client
            .list_tickets(pb::ListTicketsRequest {
                page_size: 500,
                page_token: token,
                ..Default::default()
            })
            .await
            .expect("every page of the list")
            .into_inner();
        pages += 1;
        all.extend(page.tickets);
        token = page.next_page_token;
        if token.is_empty() {
            return (all, pages);
        }
    }
}

/// A ticket created and dispatched to `north`.
pub async fn dispatched_ticket(app: &TestApp, category: &str) -> pb::Ticket {
    let mut d = app.dispatcher().await;
    let t = create(&mut d, category).await;
    dispatch(&mut d, &t.id, "north").await
}

pub async fn events(app: &TestApp, id: &str) -> Vec<pb::TicketEvent> {
    let mut d = app.dispatcher().await;
    d.list_ticket_events(pb::ListTicketEventsRequest {
        ticket_id: id.into(),
        page_size: 500,
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .events
}

pub async fn get(app: &TestApp, id: &str) -> pb::Ticket {
    let mut d = app.dispatcher().await;
    d.get_ticket(pb::GetTicketRequest {
        ticket_id: id.into(),
    })
    .await
    .unwrap()
    .into_inner()
}

/// Assert a status: its code, ErrorInfo reason and, if given, the first field violation.
pub fn assert_status(s: &Status, code: Code, reason: &str, field: Option<&str>) {
    assert_eq!(s.code(), code, "status: {s:?}");
    let d = s.get_error_details();
    let info = d
        .error_info()
        .unwrap_or_else(|| panic!("no ErrorInfo in {s:?}"));
    assert_eq!(info.reason, reason, "status: {s:?}");
    if let Some(f) = field {
        let br = d
            .bad_request()
            .unwrap_or_else(|| panic!("no BadRequest in {s:?}"));
        assert!(
            br.field_violations.iter().any(|v| v.field == f),
            "no violation for {f} in {:?}",
            br.field_violations
        );
    }
}

// ---- Clocks and the deadline monitor (section 3) ----

pub fn time(t: &Option<prost_types::Timestamp>) -> DateTime<Utc> {
    let t = t.as_ref().expect("timestamp set");
    Utc.timestamp_opt(t.seconds, t.nanos as u32).unwrap()
}

pub async fn breach_events(app: &TestApp, id: &str) -> Vec<pb::TicketEvent> {
    events(app, id)
        .await
        .into_iter()
        .filter(|e| e.kind == "BREACHED")
        .collect()
}

/// Run one monitor pass, then the ticket's breach events; at least `n`.
pub async fn wait_for_breaches(app: &TestApp, id: &str, n: usize) -> Vec<pb::TicketEvent> {
    app.run_monitor().await;
    let b = breach_events(app, id).await;
    assert!(
        b.len() >= n,
        "ticket {id} has {} breach events, not {n}",
        b.len()
    );
    b
}

/// Assert the clock `kind` breaches exactly once: not at its deadline, once
/// just after, and not again on a later pass. Returns the new breach event.
pub async fn breaches_once_after(
    app: &TestApp,
    id: &str,
    deadline: DateTime<Utc>,
    kind: &str,
    already: usize,
) -> pb::TicketEvent {
    app.clock.set(deadline);
    app.run_monitor().await;
    assert_eq!(
        breach_events(app, id).await.len(),
        already,
        "{kind}: no breach at the deadline itself"
    );
    app.clock.set(deadline + Duration::seconds(1));
    app.run_monitor().await;
    app.run_monitor().await;
    let b = breach_events(app, id).await;
    assert_eq!(b.len(), already + 1, "{kind}: recorded exactly once");
    let e = b[already].clone();
    assert!(e.details_json.contains(kind), "{kind}: {}", e.details_json);
    e
}

/// Breach events of ticket `id` that name clock `kind` (e.g. "REPLY").
pub async fn breaches_of(app: &TestApp, id: &str, kind: &str) -> usize {
    let needle = format!("\"clock\":\"{kind}\"");
    breach_events(app, id)
        .await
        .iter()
        .filter(|e| e.details_json.contains(&needle))
        .count()
}

/// Clock `kind` of `id`: not breached at `deadline`, breached exactly once
/// one second later, however often the monitor runs.
pub async fn clock_breaches_once_at(app: &TestApp, id: &str, deadline: DateTime<Utc>, kind: &str) {
    app.clock.set(deadline);
    app.run_monitor().await;
    assert_eq!(
        breaches_of(app, id, kind).await,
        0,
        "{kind}: kept at the deadline"
    );
    app.clock.set(deadline + Duration::seconds(1));
    app.run_monitor().await;
    app.run_monitor().await;
    assert_eq!(breaches_of(app, id, kind).await, 1, "{kind}: breached once");
}

/// A handheld of `sub` (a supervisor) pushes `requests` as one queue, then
/// replays the same queue: the outcomes of the first push and of the replay.
pub async fn push_and_replay(
    app: &TestApp,
    sub: &str,
    role: Role,
    requests: Vec<pb::mutation::Request>,
) -> (Vec<pb::MutationOutcome>, Vec<pb::MutationOutcome>) {
    let mut sync = pb::sync_service_client::SyncServiceClient::with_interceptor(
        app.channel().await,
        bearer_for(sub, &[role], "hq"),
    );
    let push = pb::PushRequest {
        client_id: uuid::Uuid::now_v7().to_string(),
        mutations: requests
            .into_iter()
            .enumerate()
            .map(|(i, r)| pb::Mutation {
                mutation_id: i as i64 + 1,
                request: Some(r),
            })
            .collect(),
    };
    let mut outcomes = Vec::new();
    for _ in 0..2 {
        let r = sync.push(push.clone()).await.unwrap().into_inner();
        outcomes.push(r.results.iter().map(|x| x.outcome()).collect::<Vec<_>>());
    }
    let replay = outcomes.pop().unwrap();
    (outcomes.pop().unwrap(), replay)
}
