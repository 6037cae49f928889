//! Wiring: database, services, gRPC server. `run` is what `serve` and the
//! integration tests both start.
use crate::auth::Verifier;
use crate::config::Config;
use crate::grpc::assessment::AssessmentApi;
use crate::grpc::attachments::AttachmentApi;
use crate::grpc::auth::AuthInterceptor;
use crate::grpc::console::ConsoleLayer;
use crate::grpc::guard::GuardLayer;
use crate::grpc::http1::Http1BodyLayer;
use crate::grpc::inspections::InspectionApi;
use crate::grpc::outages::OutageApi;
use crate::grpc::pb::assessment_service_server::AssessmentServiceServer;
use crate::grpc::pb::attachment_service_server::AttachmentServiceServer;
use crate::grpc::pb::inspection_service_server::InspectionServiceServer;
use crate::grpc::pb::outage_service_server::OutageServiceServer;
use crate::grpc::pb::policy_service_server::PolicyServiceServer;
use crate::grpc::pb::reading_service_server::ReadingServiceServer;
use crate::grpc::pb::report_service_server::ReportServiceServer;
use crate::grpc::pb::ticket_service_server::TicketServiceServer;
use crate::grpc::policy::PolicyApi;
use crate::grpc::readings::ReadingApi;
use crate::grpc::reports::ReportApi;
use crate::grpc::sync::{SyncApi, WatchSettings};
use crate::grpc::tickets::TicketApi;
use crate::grpc::transport::{self, ConnLimits};
use crate::grpc::wire::server::sync_service_server::SyncServiceServer;
use crate::service::command::Commands;
use crate::service::feed_window::FeedWindow;
use crate::service::maintenance::Maintenance;
use crate::service::paging::Pager;
use crate::service::policy::PolicyService;
use crate::service::{
    AssessmentService, DeadlineMonitor, InspectionService, MeterService, OutageService,
    ReportService, SyncService, TicketService,
};
use crate::storage::{self, Db, units};
use anyhow::Context;
use metrics_exporter_prometheus::PrometheusHandle;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Identity, Server, ServerTlsConfig};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// How often the housekeeping pass runs after the one at start.
pub const MAINTENANCE_EVERY: Duration = Duration::from_secs(3600);

/// Hooks into a server's background work, so a caller (the tests, an
/// operator's tool) can run one pass itself and know when it is done.
#[derive(Clone)]
pub struct Handles {
    pub monitor: DeadlineMonitor,
    pub maintenance: Maintenance,
    /// The server's database (for an operator's tool: a storage quota).
    pub store: Db,
    /// Signs and checks page tokens and feed cursors with the key shared
    /// by every instance on the database.
    pub pager: Pager,
    /// Where the Prometheus metrics are served, when they are.
    pub metrics_addr: Option<SocketAddr>,
    /// Checks tokens; `refresh` reads a JSON Web Key Set again.
    pub verifier: Arc<Verifier>,
    /// The feed window and the tickets held in memory (what a read is
    /// served from; tests compare it with the database).
    pub window: Arc<FeedWindow>,
}

/// A server with its database open and migrated, not yet serving.
pub struct App {
    config: Config,
    db: Db,
    policy: Arc<crate::domain::Policy>,
    verifier: Arc<Verifier>,
    handles: Handles,
    tls: Option<ServerTlsConfig>,
    metrics: Option<(TcpListener, PrometheusHandle)>,
    /// Attachments' bytes (R-REC-1).
    objects: storage::objects::Objects,
}

/// Serve on `listener` until `shutdown` completes; in-flight calls finish first.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    App::build(config).await?.serve(listener, shutdown).await
}

impl App {
    /// Open and migrate the database, register the units, check the keys.
    pub async fn build(config: Config) -> anyhow::Result<App> {
        let tls = match &config.edge.tls {
            Some((cert, key)) => {
                let tls = ServerTlsConfig::new().identity(Identity::from_pem(cert, key));
                // Built now, so a key that is not a key, or does not fit its
                // certificate, fails before "listening".
                Server::builder()
                    .tls_config(tls.clone())
                    .map_err(|e| anyhow::anyhow!("--tls-cert / --tls-key: {e}"))?;
                Some(tls)
            }
            None => None,
        };
        let metrics = match config.edge.metrics_listen {
            Some(addr) => {
                let listener = TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr} (--metrics-listen)"))?;
                Some((listener, crate::metrics::recorder()?))
            }
            None => None,
        };
        let db = Db::connect(&config.db).await?;
        storage::migrate(&db, &config.db).await?;
        // R-REC-2: never serve on a trail that can be rewritten unnoticed,
        // and never repair it behind the operator's back.
        let missing = storage::chain::missing_guards(db.writer()).await?;
        anyhow::ensure!(
            missing.is_empty(),
            "the audit trail's append-only triggers are missing or disabled: {}. \
             fieldops does not re-create them by itself: run `fieldops audit verify` \
             to see whether events were altered, then `fieldops audit reinstate-triggers`",
            missing.join(", ")
        );
        let now = config.clock.now();
        for unit in &config.units {
            units::ensure(db.writer(), unit, unit, now).await?;
        }
        let policy = Arc::new(config.policy.clone());
        let verifier = Arc::new(
            Verifier::load(&config.jwt_key, &config.jwt_issuer, &config.jwt_audience).await?,
        );
        // Pages leave a quarter of the message limit for the reply's framing.
        let key = storage::secrets::get_or_create(
            db.writer(),
            "page_tokens",
            rand::random::<[u8; 32]>().to_vec(),
            now,
        )
        .await?;
        let pager = Pager::new(&key, config.max_message_bytes / 4 * 3);
        let window = FeedWindow::load(
            db.clone(),
            config.feed_window,
            config.feed_window_bytes,
            config.ticket_cache,
        )
        .await?;
        let handles = Handles {
            window,
            monitor: DeadlineMonitor::new(db.clone(), policy.clone(), config.clock.clone()),
            maintenance: Maintenance::new(db.clone(), config.clock.clone(), &policy),
            store: db.clone(),
            pager,
            verifier: verifier.clone(),
            metrics_addr: match &metrics {
                Some((l, _)) => Some(l.local_addr()?),
                None => None,
            },
        };
        let objects = storage::objects::Objects::open(&config.attachments_url)?;
        Ok(App {
            config,
            db,
            policy,
            verifier,
            handles,
            tls,
            metrics,
            objects,
        })
    }

    pub fn handles(&self) -> Handles {
        self.handles.clone()
    }

    /// Serve on `listener` until `shutdown` completes; in-flight calls finish first.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let App {
            config,
            db,
            policy,
            verifier,
            handles,
            tls,
            metrics,
            objects,
        } = self;
        let pager = handles.pager.clone();
        let window = handles.window.clone();
        let tickets = TicketService::new(
            db.clone(),
            policy.clone(),
            config.clock.clone(),
            pager.clone(),
            window.clone(),
        );
        let inspections = InspectionService::new(
            db.clone(),
            policy.clone(),
            config.timezone,
            config.clock.clone(),
            pager.clone(),
        );
        let meters = MeterService::new(
            db.clone(),
            policy.clone(),
            config.clock.clone(),
            pager.clone(),
        );
        let outages = OutageService::new(
            db.clone(),
            policy.clone(),
            config.clock.clone(),
            pager.clone(),
        );
        let attachments = crate::service::AttachmentService::new(
            db.clone(),
            objects,
            config.clock.clone(),
            tickets.clone(),
            inspections.clone(),
            outages.clone(),
        );
        let assessment = AssessmentService::new(
            db.clone(),
            policy.clone(),
            config.timezone,
            config.clock.clone(),
            pager.clone(),
        );
        let sync = SyncService::new(db.clone(), config.clock.clone(), window.clone(), pager);
        let reports = ReportService::new(
            db.clone(),
            policy.clone(),
            config.timezone,
            config.clock.clone(),
        );

        let policy_api = PolicyServiceServer::new(PolicyApi::new(PolicyService::new(
            policy.clone(),
            config.timezone,
        )))
        .accept_compressed(GZIP)
        .send_compressed(GZIP);
        let (health, health_service) = tonic_health::server::health_reporter();
        set_health(&health, true).await;
        // The google.rpc error details too, so grpcurl and buf curl decode
        // ErrorInfo, BadRequest, PreconditionFailure and LocalizedMessage.
        let reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(crate::grpc::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
            .build_v1()?;
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(crate::grpc::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
            .build_v1alpha()?;

        let (stop_tx, stop_rx) = watch::channel(false);
        // Every mutation, unary or pushed, runs through these commands.
        let commands = Commands::new(
            tickets.clone(),
            inspections.clone(),
            meters.clone(),
            outages.clone(),
            assessment.clone(),
        );
        let (ticket_handlers, inspection_handlers, reading_handlers) = (
            Arc::new(TicketApi::new(tickets, commands.clone())),
            Arc::new(InspectionApi::new(inspections, commands.clone())),
            Arc::new(ReadingApi::new(meters, commands.clone())),
        );
        let outage_api = OutageServiceServer::new(OutageApi::new(outages, commands.clone()))
            .max_decoding_message_size(config.max_message_bytes)
            .max_encoding_message_size(config.max_message_bytes)
            .accept_compressed(GZIP)
            .send_compressed(GZIP);
        let attachment_api = AttachmentServiceServer::new(AttachmentApi::new(attachments))
            .max_decoding_message_size(config.max_message_bytes)
            .max_encoding_message_size(config.max_message_bytes);
        let assessment_api =
            AssessmentServiceServer::new(AssessmentApi::new(assessment, commands.clone()))
                .max_decoding_message_size(config.max_message_bytes)
                .max_encoding_message_size(config.max_message_bytes)
                .accept_compressed(GZIP)
                .send_compressed(GZIP);
        let sync_handlers = SyncApi::new(
            sync,
            commands,
            WatchSettings {
                checkpoint: config.watch_checkpoint,
            },
            stop_rx.clone(),
        );
        let limit = config.max_message_bytes;
        let ticket_api = TicketServiceServer::from_arc(ticket_handlers)
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit)
            .accept_compressed(GZIP)
            .send_compressed(GZIP);
        let inspection_api = InspectionServiceServer::from_arc(inspection_handlers)
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit)
            .accept_compressed(GZIP)
            .send_compressed(GZIP);
        let reading_api = ReadingServiceServer::from_arc(reading_handlers)
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit)
            .accept_compressed(GZIP)
            .send_compressed(GZIP);
        let sync_api = SyncServiceServer::new(sync_handlers)
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit)
            .accept_compressed(GZIP)
            .send_compressed(GZIP);
        let report_api = ReportServiceServer::new(ReportApi::new(reports))
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit)
            .accept_compressed(GZIP)
            .send_compressed(GZIP);
        let interceptor = AuthInterceptor::new(verifier.clone());

        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        let monitor = config
            .monitor_interval
            .map(|every| tokio::spawn(watch_deadlines(handles.monitor, every, stop_rx.clone())));
        let store_health = tokio::spawn(follow_store(db.clone(), health.clone(), stop_rx.clone()));
        let maintenance = config
            .maintenance_interval
            .map(|every| tokio::spawn(maintain(handles.maintenance, every, stop_rx.clone())));
        let anchors = config.audit_anchors.clone().map(|(file, every)| {
            let file = crate::service::trail::AnchorFile::new(file);
            tokio::spawn(anchor_trail(
                db.clone(),
                config.clock.clone(),
                file,
                every,
                stop_rx.clone(),
            ))
        });
        let keys = match &config.jwt_key {
            crate::auth::KeySource::Jwks { refresh, .. } => Some(tokio::spawn(refresh_keys(
                verifier.clone(),
                *refresh,
                stop_rx.clone(),
            ))),
            _ => None,
        };
        let metrics = metrics.map(|(listener, handle)| {
            let (db, window) = (db.clone(), window.clone());
            let sample = move || crate::metrics::Sample {
                pools: db.pool_stats(),
                window: window.size(),
                tickets_held: window.tickets_held(),
                write_groups: db.group_stats(),
            };
            tokio::spawn(crate::metrics::serve(
                listener,
                handle,
                sample,
                stop_rx.clone(),
            ))
        });
        let tailer = tokio::spawn(window.follow(db.changed(), config.watch_poll, stop_rx.clone()));
        // Other instances' commits wake the tailer at once (PostgreSQL).
        let listening = tokio::spawn(crate::storage::notify::follow(
            db.clone(),
            db.listen_settings(),
            stop_rx.clone(),
        ));

        tracing::info!(
            addr = %listener.local_addr()?,
            profile = %policy.profile,
            timezone = %config.timezone,
            "fieldops serving"
        );
        let mut stop = stop_rx.clone();
        let net = config.net;
        let incoming = transport::incoming(
            listener,
            ConnLimits {
                max_connections: net.max_client_connections,
                silent_timeout: net.silent_timeout,
                idle_timeout: net.idle_timeout,
            },
        );
        let mut server = Server::builder();
        if let Some(tls) = tls {
            server = server.tls_config(tls)?;
        }
        server
            .http2_keepalive_interval(Some(net.http2_keepalive))
            .http2_keepalive_timeout(Some(HTTP2_KEEPALIVE_TIMEOUT))
            .max_concurrent_streams(net.max_streams_per_connection)
            // A client resetting streams as fast as it opens them is cut off.
            .http2_max_pending_accept_reset_streams(Some(64))
            // Browsers: grpc-web over HTTP/1.1 or HTTP/2, translated to gRPC
            // before the guard, so it sees, limits and logs every call alike.
            .accept_http1(true)
            .layer(ConsoleLayer::new(config.edge.console))
            .layer(tower::util::option_layer(cors(&config.edge.cors_origins)))
            .layer(Http1BodyLayer::new(
                config.max_message_bytes,
                config.request_timeout,
            ))
            .layer(tonic_web::GrpcWebLayer::new())
            .layer(GuardLayer::new(
                config.request_timeout,
                net.max_concurrent_calls,
                config.default_language,
            ))
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(InterceptedService::new(ticket_api, interceptor.clone()))
            .add_service(InterceptedService::new(inspection_api, interceptor.clone()))
            .add_service(InterceptedService::new(reading_api, interceptor.clone()))
            .add_service(InterceptedService::new(report_api, interceptor.clone()))
            .add_service(InterceptedService::new(outage_api, interceptor.clone()))
            .add_service(InterceptedService::new(policy_api, interceptor.clone()))
            .add_service(InterceptedService::new(assessment_api, interceptor.clone()))
            .add_service(InterceptedService::new(attachment_api, interceptor.clone()))
            .add_service(InterceptedService::new(sync_api, interceptor))
            .serve_with_incoming_shutdown(incoming, async move {
                let _ = stop.wait_for(|s| *s).await;
                set_health(&health, false).await;
            })
            .await?;
        for task in [maintenance, monitor, keys, anchors].into_iter().flatten() {
            let _ = task.await;
        }
        // A scraper's connection stuck mid-request must not hold the exit.
        if let Some(mut task) = metrics
            && tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
        let _ = tailer.await;
        let _ = listening.await;
        let _ = store_health.await;
        db.close().await;
        tracing::info!("fieldops stopped");
        Ok(())
    }
}

/// CORS for browser pages on the configured origins: grpc-web's headers
/// and ours (a bearer token, the language, a request id) may be sent, and
/// the status trailers, which grpc-web puts in headers or body, may be read.
/// None when no origin is configured: only same-origin pages then.
fn cors(origins: &[http::HeaderValue]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().cloned())
    };
    let names = |names: &[&'static str]| -> Vec<http::HeaderName> {
        names
            .iter()
            .map(|n| http::HeaderName::from_static(n))
            .collect()
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([http::Method::POST, http::Method::OPTIONS])
            .allow_headers(names(&[
                "content-type",
                "x-grpc-web",
                "x-user-agent",
                "grpc-timeout",
                "grpc-accept-encoding",
                "authorization",
                "accept-language",
                "x-request-id",
                "traceparent",
                "tracestate",
            ]))
            .expose_headers(names(&[
                "grpc-status",
                "grpc-message",
                "grpc-status-details-bin",
                "grpc-encoding",
                "x-request-id",
            ]))
            .max_age(Duration::from_secs(24 * 3600)),
    )
}

/// Compression: gzip accepted from clients, and sent to those that say they
/// accept it (`grpc-accept-encoding`); others get plain messages.
const GZIP: tonic::codec::CompressionEncoding = tonic::codec::CompressionEncoding::Gzip;

/// Every service the health service reports on, and "" for the server.
const HEALTH_NAMES: [&str; 10] = [
    "",
    <TicketServiceServer<TicketApi> as tonic::server::NamedService>::NAME,
    <InspectionServiceServer<InspectionApi> as tonic::server::NamedService>::NAME,
    <ReadingServiceServer<ReadingApi> as tonic::server::NamedService>::NAME,
    <ReportServiceServer<ReportApi> as tonic::server::NamedService>::NAME,
    <OutageServiceServer<OutageApi> as tonic::server::NamedService>::NAME,
    <PolicyServiceServer<PolicyApi> as tonic::server::NamedService>::NAME,
    <AssessmentServiceServer<AssessmentApi> as tonic::server::NamedService>::NAME,
    <AttachmentServiceServer<AttachmentApi> as tonic::server::NamedService>::NAME,
    <SyncServiceServer<SyncApi> as tonic::server::NamedService>::NAME,
];

/// An HTTP/2 ping not answered this long closes its connection.
const HTTP2_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// How often a store that refused writes is tried again.
const PROBE_EVERY: Duration = Duration::from_secs(1);

async fn set_health(health: &HealthReporter, serving: bool) {
    let status = if serving {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    };
    for name in HEALTH_NAMES {
        health.set_service_status(name, status).await;
    }
}

/// Health follows the store: NOT_SERVING while it cannot take writes (a
/// full disk, a lost database), so a load balancer sends writes elsewhere;
/// meanwhile a probe write every `PROBE_EVERY` finds when space or the
/// database is back, and any commit (a probe's or a client's) puts the
/// server back in service. Reads keep being served throughout.
async fn follow_store(db: Db, health: HealthReporter, mut stop: watch::Receiver<bool>) {
    let mut writable = db.writable();
    loop {
        let ok = { *writable.borrow_and_update() };
        set_health(&health, ok).await;
        if ok {
            tracing::debug!("store takes writes");
        } else {
            tracing::warn!("store refuses writes: health NOT_SERVING until a write commits");
        }
        loop {
            let probe = tokio::select! {
                changed = writable.changed() => {
                    if changed.is_err() { return }
                    false
                }
                _ = tokio::time::sleep(PROBE_EVERY), if !ok => true,
                _ = stop.wait_for(|s| *s) => return,
            };
            if !probe {
                break;
            }
            if let Err(e) = db.probe().await {
                tracing::debug!(error = %e, "store probe failed");
            }
        }
    }
}

/// Sleep `every`, unless the server stops first: true when it did.
async fn stopped_within(every: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(every) => false,
        _ = stop.wait_for(|s| *s) => true,
    }
}

/// The deadline monitor's loop (section 3), in every instance.
async fn watch_deadlines(
    monitor: DeadlineMonitor,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if stopped_within(every, &mut stop).await {
            return;
        }
        match monitor.tick().await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(tickets = n, "deadline breaches recorded"),
            Err(e) => tracing::warn!(error = %e, "deadline monitor pass failed"),
        }
    }
}

/// The identity provider's key set, read again every `every`, so a key it
/// publishes ahead of a rotation is known before the first token it signs.
async fn refresh_keys(verifier: Arc<Verifier>, every: Duration, mut stop: watch::Receiver<bool>) {
    loop {
        if stopped_within(every, &mut stop).await {
            return;
        }
        let refreshed = tokio::select! {
            r = verifier.refresh() => r,
            _ = stop.wait_for(|s| *s) => return,
        };
        match refreshed {
            Ok(n) => tracing::debug!(keys = n, "JWKS refreshed"),
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "JWKS refresh failed; the keys in use stay")
            }
        }
    }
}

/// R-REC-2: an anchor of the audit trail every `every` (the first after
/// one interval: a restart does not add a line).
async fn anchor_trail(
    db: Db,
    clock: Arc<dyn crate::service::Clock>,
    file: crate::service::trail::AnchorFile,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if stopped_within(every, &mut stop).await {
            return;
        }
        if let Err(e) = crate::service::trail::take_anchor(&db, &file, clock.now()).await {
            tracing::error!(error = %e, file = %file.path().display(), "audit anchor failed");
        }
    }
}

/// Periodic housekeeping: a pass at start, then one every `every`.
async fn maintain(maintenance: Maintenance, every: Duration, mut stop: watch::Receiver<bool>) {
    loop {
        match maintenance.pass().await {
            Ok(p) if !p.removed_any() => {
                tracing::debug!(deltas = p.report_deltas, "report deltas folded");
            }
            Ok(p) => tracing::info!(
                idem = p.idempotency_records,
                pushes = p.push_outcomes,
                changes = p.changes,
                "retention: old records removed"
            ),
            Err(e) => tracing::warn!(error = %e, "retention purge failed"),
        }
        if stopped_within(every, &mut stop).await {
            return;
        }
    }
}
