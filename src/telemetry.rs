//! Logging with `tracing`: an env filter (`RUST_LOG`, default `info` for our
//! crate and `warn` elsewhere, so no SQL statement logging), text or JSON;
//! and, when an OTLP endpoint is given, every call's span exported as an
//! OpenTelemetry trace, joined to the caller's trace by its W3C
//! `traceparent`.
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::sync::atomic::{AtomicBool, Ordering};
use tracing::Level;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// Whether spans leave the process (an OTLP endpoint was given).
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Flushes the exported spans when dropped (at the end of `main`).
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(p) = self.provider.take()
            && let Err(e) = p.shutdown()
        {
            eprintln!("warning: traces not all exported at exit: {e}");
        }
    }
}

/// Install the process's subscriber. `otlp_endpoint`: an OTLP/gRPC
/// collector (`http://127.0.0.1:4317`); its batch exporter needs a Tokio
/// runtime, so call this inside one.
pub fn init(json: bool, otlp_endpoint: Option<&str>) -> anyhow::Result<Telemetry> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn,fieldops=info"));
    let provider = match otlp_endpoint {
        Some(endpoint) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .build()
                .map_err(|e| anyhow::anyhow!("--otlp-endpoint {endpoint}: {e}"))?;
            let resource = opentelemetry_sdk::Resource::builder()
                .with_service_name("fieldops")
                .build();
            Some(
                SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_resource(resource)
                    .build(),
            )
        }
        None => None,
    };
    // Traces do not depend on the log level: our crate's spans are
    // exported even when RUST_LOG keeps the log to errors.
    let otel = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("fieldops"))
            .with_filter(Targets::new().with_target("fieldops", Level::INFO))
    });
    let log = if json {
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .with_filter(filter)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(filter)
            .boxed()
    };
    // A second init (e.g. in tests) is harmless: keep the first subscriber.
    let installed = tracing_subscriber::registry()
        .with(log)
        .with(otel)
        .try_init()
        .is_ok();
    EXPORTING.store(installed && provider.is_some(), Ordering::Relaxed);
    Ok(Telemetry { provider })
}

/// Whether calls' spans are exported (then they carry OpenTelemetry's
/// naming fields and join the caller's trace).
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// The caller's trace context from its W3C `traceparent` / `tracestate`
/// headers (an empty context when it sent none or a malformed one).
pub fn remote_context(headers: &http::HeaderMap) -> opentelemetry::Context {
    TraceContextPropagator::new().extract(&Headers(headers))
}

struct Headers<'a>(&'a http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}
