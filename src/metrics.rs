//! Prometheus metrics: every name in one place, the process's recorder, and
//! the plain-HTTP listener that serves them (`--metrics-listen`, off by
//! default). Code anywhere records through the `metrics` facade; until a
//! server enables metrics the facade has no recorder and recording costs
//! nothing.
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Calls answered, by `method` (the gRPC path) and `code`.
pub const REQUESTS: &str = "fieldops_grpc_requests_total";
/// Time to the reply's start, by `method`.
pub const REQUEST_SECONDS: &str = "fieldops_grpc_request_duration_seconds";
/// Database connections by `pool` (writer, reader; one `pool` on
/// PostgreSQL) and `state` (idle, in_use), sampled when scraped.
pub const DB_CONNECTIONS: &str = "fieldops_db_pool_connections";
/// Largest number of connections each pool may open.
pub const DB_CONNECTIONS_MAX: &str = "fieldops_db_pool_max_connections";
/// Breaches the deadline monitor recorded (tickets and outages).
pub const MONITOR_BREACHES: &str = "fieldops_monitor_breaches_total";
/// Monitor passes, by `outcome` (ok, failed).
pub const MONITOR_PASSES: &str = "fieldops_monitor_passes_total";
/// How long a monitor pass took.
pub const MONITOR_PASS_SECONDS: &str = "fieldops_monitor_pass_duration_seconds";
/// Seconds since this process's monitor last finished a pass (its lag:
/// a deadline is recorded at most this late plus the pass interval).
pub const MONITOR_LAG_SECONDS: &str = "fieldops_monitor_lag_seconds";
/// Changes and bytes in this instance's feed window.
pub const FEED_WINDOW_CHANGES: &str = "fieldops_feed_window_changes";
pub const FEED_WINDOW_BYTES: &str = "fieldops_feed_window_bytes";
/// Tickets whose latest version this instance holds in memory.
pub const TICKETS_HELD: &str = "fieldops_tickets_held";
/// Ticket reads (GetTicket and the reads behind it) by `source` (memory,
/// database).
pub const TICKET_READS: &str = "fieldops_ticket_reads_total";
/// SQLite: transactions the one writer committed, and the writes they
/// held (group commit: fewer transactions than writes under load).
pub const WRITE_COMMITS: &str = "fieldops_write_commits_total";
pub const WRITES_COMMITTED: &str = "fieldops_writes_committed_total";
/// Watch streams open on this instance.
pub const WATCH_STREAMS: &str = "fieldops_watch_streams";
/// Push batches received.
pub const PUSH_BATCHES: &str = "fieldops_push_batches_total";
/// Pushed mutations by `outcome` (the MutationOutcome name).
pub const PUSH_MUTATIONS: &str = "fieldops_push_mutations_total";

/// Latency buckets (seconds): a cached read takes well under a
/// millisecond, a year's report a second or more.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// How often histograms are folded into their buckets when nobody scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static RECORDER: OnceLock<PrometheusHandle> = OnceLock::new();
/// Unix seconds when the monitor last finished a pass (0: never).
static MONITOR_LAST_PASS: AtomicI64 = AtomicI64::new(0);

/// The process's recorder, installed on first use.
pub fn recorder() -> anyhow::Result<PrometheusHandle> {
    if let Some(h) = RECORDER.get() {
        return Ok(h.clone());
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)?
        .build_recorder();
    let handle = recorder.handle();
    // Two servers starting at once in one process (tests): the first wins.
    if metrics::set_global_recorder(recorder).is_ok() {
        describe();
        let _ = RECORDER.set(handle);
    }
    RECORDER
        .get()
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("another metrics recorder is installed in this process"))
}

/// The `# HELP` lines.
fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(REQUESTS, "Calls answered, by method and gRPC code.");
    describe_histogram!(
        REQUEST_SECONDS,
        Unit::Seconds,
        "Time to the reply's start, by method."
    );
    describe_gauge!(
        DB_CONNECTIONS,
        "Database connections by pool and state, at scrape."
    );
    describe_gauge!(DB_CONNECTIONS_MAX, "Most connections each pool may open.");
    describe_counter!(MONITOR_BREACHES, "Deadline breaches the monitor recorded.");
    describe_counter!(MONITOR_PASSES, "Deadline-monitor passes, by outcome.");
    describe_histogram!(
        MONITOR_PASS_SECONDS,
        Unit::Seconds,
        "Duration of a monitor pass."
    );
    describe_gauge!(
        MONITOR_LAG_SECONDS,
        Unit::Seconds,
        "Seconds since the monitor last finished a pass."
    );
    describe_gauge!(
        FEED_WINDOW_CHANGES,
        "Changes held in this instance's feed window."
    );
    describe_gauge!(
        FEED_WINDOW_BYTES,
        Unit::Bytes,
        "Bytes held in this instance's feed window."
    );
    describe_gauge!(
        TICKETS_HELD,
        "Tickets whose latest version this instance holds in memory."
    );
    describe_counter!(TICKET_READS, "Ticket reads, by source (memory, database).");
    describe_counter!(
        WRITE_COMMITS,
        "SQLite: transactions the one writer committed (group commit)."
    );
    describe_counter!(
        WRITES_COMMITTED,
        "SQLite: writes those transactions committed."
    );
    describe_gauge!(WATCH_STREAMS, "Watch streams open on this instance.");
    describe_counter!(PUSH_BATCHES, "Push batches received.");
    describe_counter!(PUSH_MUTATIONS, "Pushed mutations, by outcome.");
}

/// The monitor finished a pass at `unix_seconds`.
pub fn monitor_passed(unix_seconds: i64) {
    MONITOR_LAST_PASS.store(unix_seconds, Ordering::Relaxed);
}

/// Values read when scraped, from one server's state.
pub struct Sample {
    /// (pool, open, idle, max) per database pool.
    pub pools: Vec<(&'static str, u32, usize, u32)>,
    /// (changes, bytes) in the feed window.
    pub window: (usize, usize),
    /// Tickets held in memory.
    pub tickets_held: usize,
    /// SQLite: (transactions, writes) committed by the writer.
    pub write_groups: Option<(u64, u64)>,
}

/// Serve `GET /metrics` on `listener` until `stop`; `sample` is taken at
/// each scrape.
pub async fn serve(
    listener: TcpListener,
    handle: PrometheusHandle,
    sample: impl Fn() -> Sample + Clone + Send + Sync + 'static,
    mut stop: watch::Receiver<bool>,
) {
    let upkeep = {
        let (handle, mut stop) = (handle.clone(), stop.clone());
        async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(UPKEEP_EVERY) => handle.run_upkeep(),
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
        }
    };
    let scrape = move || {
        let (handle, sample) = (handle.clone(), sample.clone());
        async move {
            let s = sample();
            for (pool, open, idle, max) in s.pools {
                let in_use = (open as usize).saturating_sub(idle);
                metrics::gauge!(DB_CONNECTIONS, "pool" => pool, "state" => "idle").set(idle as f64);
                metrics::gauge!(DB_CONNECTIONS, "pool" => pool, "state" => "in_use")
                    .set(in_use as f64);
                metrics::gauge!(DB_CONNECTIONS_MAX, "pool" => pool).set(max as f64);
            }
            metrics::gauge!(FEED_WINDOW_CHANGES).set(s.window.0 as f64);
            metrics::gauge!(FEED_WINDOW_BYTES).set(s.window.1 as f64);
            metrics::gauge!(TICKETS_HELD).set(s.tickets_held as f64);
            if let Some((commits, writes)) = s.write_groups {
                metrics::counter!(WRITE_COMMITS).absolute(commits);
                metrics::counter!(WRITES_COMMITTED).absolute(writes);
            }
            let last = MONITOR_LAST_PASS.load(Ordering::Relaxed);
            if last > 0 {
                let lag = chrono::Utc::now().timestamp().saturating_sub(last);
                metrics::gauge!(MONITOR_LAG_SECONDS).set(lag.max(0) as f64);
            }
            handle.run_upkeep();
            (
                [(
                    http::header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                )],
                handle.render(),
            )
        }
    };
    let router = axum::Router::new().route("/metrics", axum::routing::get(scrape));
    let served = axum::serve(listener, router).with_graceful_shutdown(async move {
        let _ = stop.wait_for(|s| *s).await;
    });
    let (served, ()) = tokio::join!(served, upkeep);
    if let Err(e) = served {
        tracing::warn!(error = %e, "metrics listener failed");
    }
}
