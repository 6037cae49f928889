//! Load benchmark (issue 6): the first cold snap, every crew's handheld
//! syncing at once, against the real `fieldops serve` binary over real gRPC,
//! every figure next to a baseline measured in the same run on this machine.
//!
//!   cargo bench --bench load                     # full suite, SQLite and PostgreSQL (~14 min)
//!   cargo bench --bench load -- --stores sqlite  # SQLite only
//!   cargo bench --bench load -- --only echo,GetTicket --secs 3
//!   cargo test --bench load                      # smoke run: ~1 s per phase, SQLite, small sizes
//!
//! Options (after `--`; environment variables in brackets):
//!   --connections N   HTTP/2 connections (16)                [FIELDOPS_BENCH_CONNECTIONS]
//!   --streams N       concurrent requests per connection (4) [FIELDOPS_BENCH_STREAMS]
//!   --warmup S        seconds of warm-up per phase (1)
//!   --secs S          seconds measured per phase (5)
//!   --open-share X    open-loop rate as a share of the closed-loop peak (0.5)
//!   --watchers N      Watch streams (1000)
//!   --idle N          idle handheld connections, each with a Watch stream (10000)
//!   --report-tickets N tickets in the year of the Report scenario (1000000)
//!   --stores LIST     sqlite,postgres                        [FIELDOPS_BENCH_STORES]
//!   --only LIST       scenarios to run [FIELDOPS_BENCH_ONLY]: ClaimTicket, RecordArrival,
//!                     RecordRoomReading, GetTicket, PullWindow (10,000 changes from the feed
//!                     window), Pull (the same from the database: a server keeping no window),
//!                     Mix, Watch,
//!                     WatchAcross (PostgreSQL: commits on one instance, watchers on another),
//!                     Idle, Report (the year's service report), echo, echo-pull, echo-fanout,
//!                     echo-idle (the SQL baselines always run: they size the pools)
//!   PostgreSQL: FIELDOPS_BENCH_PG (postgres://postgres@127.0.0.1:5432/test);
//!   every scenario gets a fresh schema, all dropped at the end of the run.
//!
//! Per scenario the server is started afresh (so its peak RSS, VmHWM, is
//! that scenario's) on a fresh store seeded directly with what the scenario
//! needs. Closed loop (connections x streams workers) gives peak throughput
//! and is compared with the baseline's closed-loop peak; open loop at 50 % of
//! that peak gives latency without coordinated omission, and the baseline is
//! then driven open-loop at exactly the same rate (`<baseline>@<scenario>`
//! rows) so latencies are compared at equal load. Baselines: (a) a bare tonic
//! echo server with the same message sizes and server settings; (b) SQLite
//! and (c) PostgreSQL: the claim and reading paths' SQL statements in a tight
//! loop without gRPC, plus the cost of a bare durable commit. The table is
//! printed and written as JSON to target/bench/load.json.
#[path = "load/baseline.rs"]
mod baseline;
#[path = "load/echo.rs"]
mod echo;
#[path = "load/fanout.rs"]
mod fanout;
#[path = "load/report.rs"]
mod report;
#[path = "load/runner.rs"]
mod runner;
#[path = "load/scenarios.rs"]
mod scenarios;
#[path = "load/seed.rs"]
mod seed;
#[path = "load/server.rs"]
mod server;
#[path = "load/year.rs"]
mod year;

use fanout::{Commit, Deliveries, StartWatcher};
use fieldops::domain::{Policy, Role};
use fieldops::grpc::{convert, pb};
use fieldops::storage::Db;
use prost::Message;
use report::{Mode, Row, Target};
use runner::{Op, Stats, closed_loop, open_loop};
use scenarios::{Clients, Pool, Pools};
use seed::{Feed, TicketState};
use server::{Backend, PgRun, ServerProcess, Store};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_stream::StreamExt;

#[derive(Debug, Clone, serde::Serialize)]
struct Settings {
    full: bool,
    connections: usize,
    streams: usize,
    warmup: Duration,
    measure: Duration,
    /// Open loop: this share of the closed-loop peak.
    open_share: f64,
    watchers: usize,
    /// Watch: commits per second.
    watch_rate: f64,
    idle_connections: usize,
    /// Report: tickets received in the year reported on.
    report_tickets: usize,
    pull_changes: usize,
    pull_page: i32,
    /// Full Pulls in flight at once in the closed loop (each is a chain of
    /// `pull_changes / pull_page` calls).
    pull_workers: usize,
    stores: Vec<Backend>,
    #[serde(skip)]
    pg_url: String,
    only: Vec<String>,
}

impl Settings {
    fn parse() -> anyhow::Result<Settings> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        // `cargo bench` passes --bench; `cargo test --benches` does not: smoke run.
        let full = args.iter().any(|a| a == "--bench");
        let mut s = Settings {
            full,
            connections: 16,
            streams: 4,
            warmup: Duration::from_secs(1),
            measure: Duration::from_secs(5),
            open_share: 0.5,
            watchers: 1000,
            watch_rate: 20.0,
            idle_connections: 10_000,
            report_tickets: 1_000_000,
            pull_changes: 10_000,
            pull_page: 500,
            pull_workers: 4,
            stores: vec![Backend::Sqlite, Backend::Postgres],
            pg_url: String::new(),
            only: vec![],
        };
        if !full {
            s = Settings {
                connections: 4,
                streams: 2,
                warmup: Duration::from_millis(200),
                measure: Duration::from_millis(800),
                watchers: 20,
                idle_connections: 20,
                report_tickets: 2_000,
                pull_changes: 1000,
                pull_page: 100,
                pull_workers: 2,
                stores: vec![Backend::Sqlite],
                ..s
            };
        }
        s.pg_url = std::env::var("FIELDOPS_BENCH_PG")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        const KEYS: [&str; 10] = [
            "connections",
            "streams",
            "warmup",
            "secs",
            "open-share",
            "watchers",
            "idle",
            "report-tickets",
            "stores",
            "only",
        ];
        let mut opts: Vec<(String, String)> = Vec::new();
        for (k, env) in [
            ("connections", "FIELDOPS_BENCH_CONNECTIONS"),
            ("streams", "FIELDOPS_BENCH_STREAMS"),
            ("stores", "FIELDOPS_BENCH_STORES"),
            ("only", "FIELDOPS_BENCH_ONLY"),
        ] {
            if let Ok(v) = std::env::var(env) {
                opts.push((k.into(), v));
            }
        }
        let mut it = args.iter();
        while let Some(a) = it.next() {
            if let Some(k) = a.strip_prefix("--")
                && KEYS.contains(&k)
            {
                let v = it
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("{a} needs a value"))?;
                opts.push((k.into(), v.clone()));
            }
        }
        let list = |v: &str| -> Vec<String> {
            v.split(',')
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect()
        };
        for (k, v) in opts {
            match k.as_str() {
                "connections" => s.connections = v.parse()?,
                "streams" => s.streams = v.parse()?,
                "warmup" => s.warmup = Duration::from_secs_f64(v.parse()?),
                "secs" => s.measure = Duration::from_secs_f64(v.parse()?),
                "open-share" => s.open_share = v.parse()?,
                "watchers" => s.watchers = v.parse()?,
                "idle" => s.idle_connections = v.parse()?,
                "report-tickets" => s.report_tickets = v.parse()?,
                "only" => s.only = list(&v),
                "stores" => {
                    s.stores = list(&v)
                        .iter()
                        .map(|x| match x.as_str() {
                            "sqlite" => Ok(Backend::Sqlite),
                            "postgres" | "postgresql" => Ok(Backend::Postgres),
                            other => Err(anyhow::anyhow!("unknown store {other}")),
                        })
                        .collect::<anyhow::Result<_>>()?
                }
                _ => unreachable!(),
            }
        }
        Ok(s)
    }

    fn workers(&self) -> usize {
        self.connections * self.streams
    }

    fn wants(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| o.eq_ignore_ascii_case(name))
    }

    /// Phase length (warm-up + measured) in seconds.
    fn phase_secs(&self) -> f64 {
        (self.warmup + self.measure).as_secs_f64()
    }

    /// Ids used up by `phases` phases at `rate`, with room to spare.
    fn pool_for(&self, rate: f64, phases: f64) -> usize {
        (rate * self.phase_secs() * phases * 1.5) as usize + 20 * self.workers() + 200
    }
}

/// Wire sizes of the real messages, for the echo baseline.
#[derive(Debug, serde::Serialize)]
struct Sizes {
    get_request: usize,
    ticket: usize,
    pull_request: usize,
    change: usize,
    pull_pages: Vec<usize>,
}

impl Sizes {
    fn of(policy: &Policy, s: &Settings) -> Sizes {
        let now = chrono::Utc::now();
        let t = seed::ticket(policy, 1, TicketState::Dispatched, now);
        let crew = seed::caller(seed::CREW, Role::Crew, seed::UNIT);
        let ticket = convert::ticket(&t, &crew);
        // Any key: the cursor's size is what counts here.
        let signer = fieldops::service::paging::Pager::new(&[0; 32], 1 << 20);
        let cursor = fieldops::service::sync::encode_cursor(
            &signer,
            fieldops::storage::feed::Position {
                seq: s.pull_changes as i64,
                ordinal: 0,
            },
        );
        let change = pb::Change {
            cursor: cursor.clone(),
            commit_time: Some(convert::ts(now)),
            entity: Some(pb::change::Entity::Ticket(ticket.clone())),
            kind: "CLAIMED".into(),
            actor: "crew-0001".into(),
            actor_role: "crew".into(),
            audit_event_id: format!("ticket-events/{}", s.pull_changes),
        };
        let per_change = change.encoded_len() + 3;
        let page = s.pull_page as usize;
        let pull_pages = (0..s.pull_changes.div_ceil(page))
            .map(|i| page.min(s.pull_changes - i * page) * per_change + cursor.len() + 4)
            .collect();
        Sizes {
            get_request: pb::GetTicketRequest {
                ticket_id: t.id.to_string(),
            }
            .encoded_len(),
            ticket: ticket.encoded_len(),
            pull_request: pb::PullRequest {
                cursor,
                limit: s.pull_page,
                ..Default::default()
            }
            .encoded_len(),
            change: change.encoded_len(),
            pull_pages,
        }
    }
}

/// The echo server kept running for the whole run, for open-loop baselines
/// at the rate of each scenario.
struct EchoBaseline {
    _server: ServerProcess,
    get: Op,
    pull: Op,
}

/// What a scenario's open-loop row is compared with: `op` driven open-loop
/// at the same rate, reported as `<name>@<scenario>`.
struct Matched<'a> {
    name: &'a str,
    op: Op,
}

/// One closed/open measurement of a unary scenario.
struct Unary<'a> {
    name: &'a str,
    db: &'a str,
    op: Op,
    /// Closed-loop workers (default: connections x streams).
    workers: Option<usize>,
    closed_baseline: Option<(&'a str, &'a str)>,
    closed_target: Target,
    open_target: Target,
    matched: Option<Matched<'a>>,
}

/// Everything a suite needs.
struct Bench {
    s: Settings,
    policy: Arc<Policy>,
    sizes: Sizes,
    echo: Option<EchoBaseline>,
    /// Closed-loop ops/s per (scenario, db), to size later pools.
    rates: std::sync::Mutex<HashMap<(String, String), f64>>,
}

impl Bench {
    fn rate(&self, scenario: &str, db: &str) -> Option<f64> {
        self.rates
            .lock()
            .unwrap()
            .get(&(scenario.to_string(), db.to_string()))
            .copied()
    }

    fn say(&self, what: &str) {
        eprintln!("[{:>6.1} s] {what}", START.elapsed().as_secs_f64());
    }

    async fn closed(&self, op: Op, workers: usize) -> Stats {
        closed_loop(op, workers, self.s.warmup, self.s.measure).await
    }

    async fn open(&self, op: Op, rate: f64) -> Stats {
        open_loop(op, self.s.workers(), rate, self.s.warmup, self.s.measure).await
    }

    /// A closed-loop-only row (baselines).
    async fn closed_row(&self, name: &str, db: &str, op: Op, workers: usize) -> Row {
        let closed = self.closed(op, workers).await;
        self.rates
            .lock()
            .unwrap()
            .insert((name.into(), db.into()), closed.ops_per_s());
        self.say(&format!(
            "{name} ({db}): closed {:.0} ops/s p99 {:.2} ms, errors {}",
            closed.ops_per_s(),
            closed.ms(0.99),
            closed.errors
        ));
        Row::new(name, db, Mode::Closed, Some(&closed))
    }

    /// Closed loop, open loop at `open_share` of its peak, and the matched
    /// baseline at that same rate. `rss` is read after the scenario's own
    /// phases.
    async fn unary(&self, u: Unary<'_>, server: Option<&ServerProcess>) -> Vec<Row> {
        let workers = u.workers.unwrap_or(self.s.workers());
        let closed = self.closed(u.op.clone(), workers).await;
        self.rates
            .lock()
            .unwrap()
            .insert((u.name.into(), u.db.into()), closed.ops_per_s());
        let rate = closed.ops_per_s() * self.s.open_share;
        let open = self.open(u.op, rate).await;
        let rss = server.and_then(ServerProcess::peak_rss_mib);
        let mut c = Row::new(u.name, u.db, Mode::Closed, Some(&closed)).rss(rss);
        let mut o = Row::new(u.name, u.db, Mode::Open, Some(&open)).rss(rss);
        if workers != self.s.workers() {
            c.note = format!("{workers} in flight");
        }
        o.offered_rate = Some(rate);
        c = match u.closed_baseline {
            Some((b, bdb)) => c.against(b, bdb, u.closed_target),
            None => c.target(u.closed_target),
        };
        let mut rows = vec![c];
        let mut line = format!(
            "{} ({}): closed {:.0} ops/s p99 {:.2} ms, open {:.0}/s p99 {:.2} ms, errors {}",
            u.name,
            u.db,
            closed.ops_per_s(),
            closed.ms(0.99),
            rate,
            open.ms(0.99),
            closed.errors + open.errors
        );
        match u.matched {
            Some(m) => {
                let base = self.open(m.op, rate).await;
                let short = match u.name {
                    "ClaimTicket" => "Claim",
                    "RecordArrival" => "Arrival",
                    "RecordRoomReading" => "Reading",
                    "GetTicket" => "Get",
                    n if n.starts_with("Pull") => "Pull",
                    n => n,
                };
                let name = format!("{}@{short}", m.name);
                line += &format!("; {name} p99 {:.2} ms", base.ms(0.99));
                let mut b = Row::new(&name, u.db, Mode::Open, Some(&base));
                b.offered_rate = Some(rate);
                o = o.against(&name, u.db, u.open_target);
                rows.push(o);
                rows.push(b);
            }
            None => rows.push(o.target(u.open_target)),
        }
        self.say(&line);
        rows
    }
}

static START: std::sync::LazyLock<Instant> = std::sync::LazyLock::new(Instant::now);

fn main() -> std::process::ExitCode {
    if let Ok(addr) = std::env::var(echo::ADDR_ENV) {
        return match echo::serve_forever(&addr) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("echo server: {e:#}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    let _ = *START;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let outcome = rt.block_on(async {
        tokio::select! {
            r = run() => r,
            _ = tokio::signal::ctrl_c() => {
                // The servers die with their guards when the runtime drops
                // the suite's tasks; the schemas need a word with PostgreSQL.
                let pg = server::ACTIVE_PG.lock().unwrap().take();
                if let Some(pg) = pg {
                    let _ = pg.drop_all().await;
                }
                Err(anyhow::anyhow!("interrupted"))
            }
        }
    });
    drop(rt);
    match outcome {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("load: some calls failed (see the errors column)");
            std::process::ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("load: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<bool> {
    let s = Settings::parse()?;
    let policy = Arc::new(Policy::builtin("heating").expect("built-in policy"));
    let sizes = Sizes::of(&policy, &s);
    let dir = tempdir()?;
    let mut bench = Bench {
        s,
        policy,
        sizes,
        echo: None,
        rates: Default::default(),
    };
    bench.say(&format!(
        "load: {} run, {} connections x {} streams, {:?} warm-up + {:?} per phase, stores {:?}; \
         Ticket {} B, GetTicketRequest {} B, Pull page {} B",
        if bench.s.full { "full" } else { "smoke" },
        bench.s.connections,
        bench.s.streams,
        bench.s.warmup,
        bench.s.measure,
        bench.s.stores,
        bench.sizes.ticket,
        bench.sizes.get_request,
        bench.sizes.pull_pages.first().copied().unwrap_or(0),
    ));
    let mut rows = echo_suite(&bench, &dir).await?;
    // The long-lived echo server for the matched open-loop baselines.
    let server = echo::start(&dir).await?;
    let channels = Arc::new(server.channels(bench.s.connections).await?);
    bench.echo = Some(EchoBaseline {
        get: echo::echo_op(
            channels.clone(),
            bench.sizes.get_request,
            bench.sizes.ticket,
        ),
        pull: echo::paged_op(
            channels,
            bench.sizes.pull_request,
            Arc::new(bench.sizes.pull_pages.clone()),
        ),
        _server: server,
    });
    let bench = Arc::new(bench);
    for backend in bench.s.stores.clone() {
        let pg =
            (backend == Backend::Postgres).then(|| Arc::new(PgRun::new(bench.s.pg_url.clone())));
        *server::ACTIVE_PG.lock().unwrap() = pg.clone();
        // On its own task, so that a panic still reaches the schema cleanup.
        let task = tokio::spawn(db_suite(bench.clone(), backend, pg.clone()));
        let result = task.await;
        server::ACTIVE_PG.lock().unwrap().take();
        if let Some(pg) = &pg
            && let Err(e) = pg.drop_all().await
        {
            eprintln!("load: dropping the bench schemas {}_*: {e:#}", pg.prefix);
        }
        match result {
            Ok(r) => rows.extend(r?),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    drop(dir);
    report::evaluate(&mut rows);
    let wall = START.elapsed().as_secs_f64();
    println!();
    println!("{}", machine());
    println!("command: {}", command(&bench.s));
    println!(
        "ratio: closed = ops/s / baseline ops/s; open (at {:.0} % of the closed-loop peak) and \
         fan-out = p99 / baseline p99 at the same rate; idle = RSS / baseline RSS",
        bench.s.open_share * 100.0
    );
    println!("{}", report::table(&rows));
    for r in rows.iter().filter(|r| !r.error_samples.is_empty()) {
        println!(
            "errors in {} ({}, {}): {:?}",
            r.scenario,
            r.db,
            r.mode.label(),
            r.error_samples
        );
    }
    println!("wall time {wall:.0} s");
    let dir = std::env::var("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
        .join("bench");
    std::fs::create_dir_all(&dir)?;
    let file = dir.join(if bench.s.full {
        "load.json"
    } else {
        "load-smoke.json"
    });
    let json = serde_json::json!({
        "command": command(&bench.s),
        "machine": machine(),
        "settings": &bench.s,
        "sizes": &bench.sizes,
        "wall_time_s": wall,
        "rows": &rows,
    });
    std::fs::write(&file, serde_json::to_string_pretty(&json)?)?;
    println!("wrote {}", file.display());
    Ok(rows.iter().all(|r| r.errors == 0))
}

fn command(s: &Settings) -> String {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    match (s.full, args.is_empty()) {
        (true, true) => "cargo bench --bench load".into(),
        (true, false) => format!("cargo bench --bench load -- {}", args.join(" ")),
        (false, _) => "cargo test --bench load".into(),
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<u64>().ok())
        })
        .map(|k| format!("{:.0} GiB", k as f64 / 1024.0 / 1024.0))
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    format!(
        "machine: {cpu}, {cores} cores, {mem} RAM, Linux {kernel}; server and load generator on the same machine"
    )
}

/// A temporary directory, removed when dropped (also on a panic or Ctrl-C).
struct TempDir(std::path::PathBuf);

impl std::ops::Deref for TempDir {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempdir() -> anyhow::Result<TempDir> {
    let dir = std::env::temp_dir().join(format!("fieldops-load-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    Ok(TempDir(dir))
}

// ---------------------------------------------------------------- baseline (a)

/// The echo server's peaks, each on a fresh echo process (for its RSS).
async fn echo_suite(b: &Bench, dir: &std::path::Path) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    let s = &b.s;
    if s.wants("echo") {
        let server = echo::start(dir).await?;
        let channels = Arc::new(server.channels(s.connections).await?);
        let op = echo::echo_op(channels, b.sizes.get_request, b.sizes.ticket);
        let row = b.closed_row("echo", "-", op, s.workers()).await;
        rows.push(row.rss(server.peak_rss_mib()));
    }
    if s.wants("echo-pull") {
        let server = echo::start(dir).await?;
        let channels = Arc::new(server.channels(s.connections).await?);
        let pages = Arc::new(b.sizes.pull_pages.clone());
        let op = echo::paged_op(channels, b.sizes.pull_request, pages);
        let mut row = b.closed_row("echo-pull", "-", op, s.pull_workers).await;
        row.note = format!("{} in flight", s.pull_workers);
        rows.push(row.rss(server.peak_rss_mib()));
    }
    if s.wants("echo-fanout") {
        let server = echo::start(dir).await?;
        let channels = Arc::new(server.channels(s.connections).await?);
        let start: StartWatcher = {
            let channels = channels.clone();
            Arc::new(move |i| {
                let sub = echo::subscribe(&channels[i % channels.len()]);
                Box::pin(async move {
                    let stream = sub.await.map_err(|e| format!("Subscribe: {e}"))?;
                    let d: Deliveries = Box::pin(stream.map(|e| match e {
                        Ok(e) if e.sent_unix_micros == 0 => Ok(None),
                        Ok(e) => Ok(Some(e.sent_unix_micros)),
                        Err(s) => Err(format!("Subscribe stream: {s}")),
                    }));
                    Ok(d)
                })
            })
        };
        let bytes = b.sizes.change;
        let commit: Commit = {
            let ch = channels[0].clone();
            Arc::new(move |_i, sent| {
                let ch = ch.clone();
                Box::pin(async move {
                    echo::publish(&ch, sent, bytes)
                        .await
                        .map_err(|e| format!("Publish: {e}"))
                })
            })
        };
        let f = fanout::measure(start, commit, s.watchers, s.watch_rate, s.warmup, s.measure).await;
        rows.push(fanout_row(
            b,
            "echo-fanout",
            "-",
            &f,
            server.peak_rss_mib(),
            None,
        ));
    }
    if s.wants("echo-idle") {
        let server = echo::start(dir).await?;
        let (row, _held) = idle(
            b,
            "echo-idle",
            "-",
            &server,
            "fieldops.bench.v1.EchoService",
            false,
        )
        .await;
        rows.push(row);
    }
    Ok(rows)
}

fn fanout_row(
    b: &Bench,
    name: &str,
    db: &str,
    f: &fanout::Fanout,
    rss: Option<f64>,
    target: Option<Target>,
) -> Row {
    b.say(&format!(
        "{name} ({db}): {} watchers (caught up in {:.1} s), {} commits, {} deliveries \
         (all in {:.1} s), p99 {:.2} ms, errors {}",
        f.watchers,
        f.ready_after.as_secs_f64(),
        f.commits,
        f.stats.ops,
        f.drained_after.as_secs_f64(),
        f.stats.ms(0.99),
        f.stats.errors
    ));
    let mut row = Row::new(name, db, Mode::Fanout, Some(&f.stats)).rss(rss);
    row.note = format!(
        "{} watchers x {} commits at {}/s; ops/s = deliveries/s",
        f.watchers, f.commits, b.s.watch_rate
    );
    match target {
        Some(t) => row.against("echo-fanout", "-", t),
        None => row,
    }
}

/// What an idle connection holds open.
type Held = (
    Vec<tonic::transport::Channel>,
    Vec<tonic::Streaming<pb::WatchResponse>>,
);

/// Hold `idle_connections` HTTP/2 connections, each with one health check
/// and, for fieldops (`watch`), a handheld's Watch stream left open as a
/// crew member's handheld does, and read the server's RSS.
async fn idle(
    b: &Bench,
    name: &str,
    db: &str,
    server: &ServerProcess,
    service: &str,
    watch: bool,
) -> (Row, Held) {
    let before = server.rss_mib();
    let mut channels = Vec::with_capacity(b.s.idle_connections);
    let mut streams = Vec::new();
    let errors = runner::Errors::default();
    for _ in 0..b.s.idle_connections {
        match server::connect(&server.url()).await {
            Ok(ch) => {
                let mut h = tonic_health::pb::health_client::HealthClient::new(ch.clone());
                let req = tonic_health::pb::HealthCheckRequest {
                    service: service.into(),
                };
                if let Err(e) = h.check(req).await {
                    errors.record(format!("health check: {e}"));
                }
                channels.push(ch);
            }
            Err(e) => errors.record(format!("connect: {e}")),
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    // The connections alone, then each with its Watch: the two costs apart.
    let connected = server.rss_mib();
    if watch {
        let crew = scenarios::Bearer::new(seed::CREW, Role::Crew, seed::UNIT);
        for ch in &channels {
            let mut sync = pb::sync_service_client::SyncServiceClient::with_interceptor(
                ch.clone(),
                crew.clone(),
            );
            match sync.watch(pb::WatchRequest::default()).await {
                Ok(r) => streams.push(r.into_inner()),
                Err(e) => errors.record(format!("Watch: {e}")),
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let (now, peak) = (server.rss_mib(), server.peak_rss_mib());
    let mut row = Row::new(name, db, Mode::Idle, None).rss(peak);
    row.errors = errors.count();
    row.error_samples = errors.samples();
    let mib = |m: Option<f64>| m.unwrap_or(0.0);
    row.note = if watch {
        format!(
            "{} idle connections, then a Watch on each: RSS {:.1} MiB before, {:.1} MiB \
             connected, {:.1} MiB watching",
            b.s.idle_connections,
            mib(before),
            mib(connected),
            mib(now)
        )
    } else {
        format!(
            "{} idle connections: RSS {:.1} MiB before, {:.1} MiB with them",
            b.s.idle_connections,
            mib(before),
            mib(now)
        )
    };
    b.say(&format!("{name} ({db}): {}", row.note));
    if db != "-" {
        // Issue 19: 10,000 idle handhelds, each watching, in 256 MiB.
        row = row.against("echo-idle", "-", Target::MaxRssMib(256.0));
    }
    (row, (channels, streams))
}

// ------------------------------------------------------------- the scenarios

/// A fresh store, seeded by `seed` while the server is down, then the server.
struct Booted {
    server: ServerProcess,
    clients: Arc<Clients>,
    _store: Store,
}

async fn boot<T>(
    b: &Bench,
    backend: Backend,
    pg: Option<&PgRun>,
    seed: impl AsyncFnOnce(&Db) -> anyhow::Result<T>,
) -> anyhow::Result<(Booted, T)> {
    boot_with(b, backend, pg, &[], seed).await
}

/// `boot`, the server started with `args` beside its defaults.
async fn boot_with<T>(
    b: &Bench,
    backend: Backend,
    pg: Option<&PgRun>,
    args: &[&str],
    seed: impl AsyncFnOnce(&Db) -> anyhow::Result<T>,
) -> anyhow::Result<(Booted, T)> {
    let store = Store::fresh(backend, pg).await?;
    let db = store.open().await?;
    let seeded = seed(&db).await?;
    if backend == Backend::Postgres {
        // What autovacuum does to any live database: statistics for the
        // planner, and the visibility map that lets it answer from an index
        // alone. Without them a prepared statement's generic plan guesses
        // (a Pull page read the change log's whole page index twice).
        sea_orm::ConnectionTrait::execute_unprepared(db.writer(), "VACUUM ANALYZE").await?;
    }
    db.close().await;
    let server = ServerProcess::start_with(&store, args).await?;
    let clients = Clients::new(server.channels(b.s.connections).await?);
    Ok((
        Booted {
            server,
            clients,
            _store: store,
        },
        seeded,
    ))
}

/// A server for the Watch scenarios, seeded with enough dispatched tickets
/// for every commit of the warm-up and measured phases.
async fn watch_boot(
    b: &Bench,
    backend: Backend,
    pg: Option<&PgRun>,
) -> anyhow::Result<(Booted, Vec<uuid::Uuid>)> {
    let commits = (b.s.watch_rate * b.s.phase_secs() * 2.0) as usize + 100;
    boot(b, backend, pg, async |d: &Db| {
        seed::tickets(
            d,
            &b.policy,
            commits,
            TicketState::Dispatched,
            Feed::PerTicket,
        )
        .await
    })
    .await
}

/// Each commit a claim of a ticket of `pool`, through the server `c` talks to.
fn claims_through(c: Arc<Clients>, pool: Arc<Pool>) -> Commit {
    Arc::new(move |i, _sent| {
        let (c, pool) = (c.clone(), pool.clone());
        Box::pin(async move { scenarios::claim(&c, i, &pool).await })
    })
}

/// Watch streams of the dispatcher on the server `c` talks to, from
/// `cursor`; each delivery carries its change's commit time.
fn watchers_on(c: Arc<Clients>, cursor: String) -> StartWatcher {
    Arc::new(move |i| {
        let (c, cursor) = (c.clone(), cursor.clone());
        Box::pin(async move {
            let stream = c
                .sync(i, &c.dispatcher)
                .watch(pb::WatchRequest {
                    cursor,
                    ..Default::default()
                })
                .await
                .map_err(|s| format!("Watch: {s}"))?
                .into_inner();
            let d: Deliveries = Box::pin(stream.map(|r| match r {
                Ok(pb::WatchResponse {
                    event: Some(pb::watch_response::Event::Change(ch)),
                }) => {
                    let t = ch.commit_time.unwrap_or_default();
                    Ok(Some(t.seconds * 1_000_000 + i64::from(t.nanos) / 1000))
                }
                Ok(_) => Ok(None),
                Err(s) => Err(format!("Watch stream: {s}")),
            }));
            Ok(d)
        })
    })
}

/// Issue 19: the service report of a year of `report_tickets` tickets (all
/// units), asked by one supervisor again and again; the median at most 1 s.
async fn report_year(b: &Bench, backend: Backend, pg: Option<&PgRun>) -> anyhow::Result<Row> {
    let db = backend.label();
    let n = b.s.report_tickets;
    let store = Store::fresh(backend, pg).await?;
    let conn = store.open_for_bulk().await?;
    let started = Instant::now();
    year::seed(&conn, &b.policy, n, false).await?;
    let seeded = started.elapsed();
    let analyze = match backend {
        Backend::Sqlite => "ANALYZE",
        Backend::Postgres => "ANALYZE tickets",
    };
    sea_orm::ConnectionTrait::execute_unprepared(conn.writer(), analyze).await?;
    conn.close().await;
    // The server counts the bulk-loaded year for the report at start.
    let started = Instant::now();
    let mut server = ServerProcess::start(&store).await?;
    let ready = started.elapsed();
    let clients = Clients::new(server.channels(1).await?);
    let (start, end) = (
        year::year_start(),
        year::year_start() + chrono::Duration::days(365),
    );
    let op = scenarios::op(move |w| {
        let c = clients.clone();
        async move { scenarios::year_report(&c, w, start, end, n as i64).await }
    });
    let stats = b.closed(op, 1).await;
    server.check_alive()?;
    let name = format!("Report{}", thousands(n));
    let mut row = Row::new(&name, db, Mode::Closed, Some(&stats))
        .rss(server.peak_rss_mib())
        .target(Target::MaxP50Ms(1000.0));
    row.note = format!(
        "the year's service report over {n} tickets, one at a time; seeded in {:.0} s, \
         server ready (the year counted) in {:.1} s",
        seeded.as_secs_f64(),
        ready.as_secs_f64()
    );
    b.say(&format!(
        "{name} ({db}): p50 {:.1} ms, p99 {:.1} ms, {} reports, errors {}; {}",
        stats.ms(0.5),
        stats.ms(0.99),
        stats.hist.len(),
        stats.errors,
        row.note
    ));
    Ok(row)
}

/// 1000000 -> "1M", 2000 -> "2k".
fn thousands(n: usize) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1000 => format!("{}k", n / 1000),
        n => n.to_string(),
    }
}

/// Baselines (b)/(c), kept open for the whole database suite so the write
/// scenarios can be matched at their own rate.
struct SqlBaseline {
    _store: Store,
    conn: Db,
    claim: Op,
    reading: Op,
}

async fn sql_baselines(
    b: &Bench,
    backend: Backend,
    pg: Option<&PgRun>,
    rows: &mut Vec<Row>,
) -> anyhow::Result<SqlBaseline> {
    let db = backend.label();
    let tag = match backend {
        Backend::Sqlite => "(b)",
        Backend::Postgres => "(c)",
    };
    let store = Store::fresh(backend, pg).await?;
    let conn = store.open().await?;
    // The bare durable commit first: no write path can beat it, so it sizes the pools.
    let floor_name = format!("commit-floor{tag}");
    let rows_floor = b
        .unary(
            Unary {
                name: &floor_name,
                db,
                op: baseline::commit_floor_op(conn.clone()),
                workers: None,
                closed_baseline: None,
                closed_target: Target::NoErrors,
                open_target: Target::NoErrors,
                matched: None,
            },
            None,
        )
        .await;
    let floor = b.rate(&floor_name, db).unwrap_or(1000.0);
    rows.extend(rows_floor.into_iter().map(|mut r| {
        r.note = "one single-row INSERT per transaction: a durable commit".into();
        r
    }));
    // Enough for the closed phase and two matched open phases (claim,
    // arrival): a claim costs several commits' worth, so 40 % of the floor
    // is a generous bound on its rate.
    let n = b.s.pool_for((floor * 0.4).min(1500.0), 2.0);
    let started = Instant::now();
    let tickets =
        seed::tickets(&conn, &b.policy, n, TicketState::Dispatched, Feed::Batched).await?;
    let visits = seed::inspections(&conn, &b.policy, n / 8 + 1).await?;
    b.say(&format!(
        "{db}: seeded {n} tickets and {} visits in {:.1} s",
        n / 8 + 1,
        started.elapsed().as_secs_f64()
    ));
    // Closed and reopened, so the loops start like the server does: on a
    // checkpointed database with fresh connections.
    conn.close().await;
    let conn = store.open().await?;
    let claim = baseline::claim_op(
        conn.clone(),
        b.policy.clone(),
        Pool::new("baseline ticket", tickets),
    );
    let reading = baseline::reading_op(
        conn.clone(),
        b.policy.clone(),
        Pool::new("baseline visit", visits),
    );
    let claim_name = format!("claim-sql{tag}");
    let reading_name = format!("reading-sql{tag}");
    rows.push(
        b.closed_row(&claim_name, db, claim.clone(), b.s.workers())
            .await,
    );
    rows.push(
        b.closed_row(&reading_name, db, reading.clone(), b.s.workers())
            .await,
    );
    Ok(SqlBaseline {
        _store: store,
        conn,
        claim,
        reading,
    })
}

async fn db_suite(
    b: Arc<Bench>,
    backend: Backend,
    pg: Option<Arc<PgRun>>,
) -> anyhow::Result<Vec<Row>> {
    let db = backend.label();
    let pg = pg.as_deref();
    let echo = b.echo.as_ref().expect("echo baseline running");
    let mut rows = Vec::new();
    let (write_ratio, p99_unary, tag) = match backend {
        // Writes on SQLite >= 80 % of (b); open-loop p99 <= 5 ms on SQLite.
        Backend::Sqlite => (0.80, Target::MaxP99Ms(5.0), "(b)"),
        // Writes on PostgreSQL >= 70 % of (c).
        Backend::Postgres => (0.70, Target::NoErrors, "(c)"),
    };
    let claim_sql = format!("claim-sql{tag}");
    let reading_sql = format!("reading-sql{tag}");
    let sql = sql_baselines(&b, backend, pg, &mut rows).await?;
    let write_rate = |name: &str| b.rate(name, db).unwrap_or(1000.0);

    // Claim and check-in: the same shape, on tickets seeded in the state each needs.
    for (name, state, what) in [
        ("ClaimTicket", TicketState::Dispatched, "dispatched ticket"),
        ("RecordArrival", TicketState::Claimed, "claimed ticket"),
    ] {
        if !b.s.wants(name) {
            continue;
        }
        let n = b.s.pool_for(write_rate(&claim_sql), 2.0);
        let (mut srv, ids) = boot(&b, backend, pg, async |d: &Db| {
            seed::tickets(d, &b.policy, n, state, Feed::Batched).await
        })
        .await?;
        let (c, pool) = (srv.clients.clone(), Pool::new(what, ids));
        let op = scenarios::op(move |w| {
            let (c, pool) = (c.clone(), pool.clone());
            async move {
                match state {
                    TicketState::Dispatched => scenarios::claim(&c, w, &pool).await,
                    _ => scenarios::arrive(&c, w, &pool).await,
                }
            }
        });
        let u = Unary {
            name,
            db,
            op,
            workers: None,
            closed_baseline: Some((&claim_sql, db)),
            closed_target: Target::MinRatio(write_ratio),
            open_target: p99_unary.clone(),
            matched: Some(Matched {
                name: &claim_sql,
                op: sql.claim.clone(),
            }),
        };
        rows.extend(b.unary(u, Some(&srv.server)).await);
        srv.server.check_alive()?;
    }
    if b.s.wants("RecordRoomReading") {
        // About eight readings per visit by the end, as in a real flat.
        let n = b.s.pool_for(write_rate(&reading_sql), 2.0) / 8 + 1;
        let (mut srv, ids) = boot(&b, backend, pg, async |d: &Db| {
            seed::inspections(d, &b.policy, n).await
        })
        .await?;
        let (c, pool) = (srv.clients.clone(), Pool::new("visit", ids));
        let op = scenarios::op(move |w| {
            let (c, pool) = (c.clone(), pool.clone());
            async move { scenarios::reading(&c, w, &pool).await }
        });
        let u = Unary {
            name: "RecordRoomReading",
            db,
            op,
            workers: None,
            closed_baseline: Some((&reading_sql, db)),
            closed_target: Target::MinRatio(write_ratio),
            open_target: p99_unary.clone(),
            matched: Some(Matched {
                name: &reading_sql,
                op: sql.reading.clone(),
            }),
        };
        rows.extend(b.unary(u, Some(&srv.server)).await);
        srv.server.check_alive()?;
    }
    sql.conn.close().await;
    if b.s.wants("GetTicket") {
        let (mut srv, ids) = boot(&b, backend, pg, async |d: &Db| {
            seed::tickets(d, &b.policy, 100, TicketState::Dispatched, Feed::Batched).await
        })
        .await?;
        let (c, pool) = (srv.clients.clone(), Pool::new("readable ticket", ids));
        let op = scenarios::op(move |w| {
            let (c, pool) = (c.clone(), pool.clone());
            async move { scenarios::get(&c, w, &pool).await }
        });
        let u = Unary {
            name: "GetTicket",
            db,
            op,
            workers: None,
            closed_baseline: Some(("echo", "-")),
            closed_target: Target::MinRatio(0.50),
            open_target: p99_unary.clone(),
            matched: Some(Matched {
                name: "echo",
                op: echo.get.clone(),
            }),
        };
        rows.extend(b.unary(u, Some(&srv.server)).await);
        srv.server.check_alive()?;
    }
    // The same changes Pulled from the window (the server holds the whole
    // log it starts on) and from the database (a server keeping no window):
    // issue 19 wants the second at least half as fast as the first.
    let window_name = format!("PullWindow{}k", b.s.pull_changes / 1000);
    let db_name = format!("Pull{}k", b.s.pull_changes / 1000);
    for (name, args, closed_baseline, closed_target) in [
        (&window_name, &[][..], ("echo-pull", "-"), Target::NoErrors),
        (
            &db_name,
            &["--feed-window", "0"][..],
            (window_name.as_str(), db),
            Target::MinRatio(0.5),
        ),
    ] {
        let scenario = if name == &window_name {
            "PullWindow"
        } else {
            "Pull"
        };
        if !b.s.wants(scenario) {
            continue;
        }
        let n = b.s.pull_changes;
        let (mut srv, _) = boot_with(&b, backend, pg, args, async |d: &Db| {
            seed::tickets(d, &b.policy, n, TicketState::Dispatched, Feed::PerTicket).await
        })
        .await?;
        let (c, page) = (srv.clients.clone(), b.s.pull_page);
        let op = scenarios::op(move |w| {
            let c = c.clone();
            async move { scenarios::pull_all(&c, w, page, n).await }
        });
        let u = Unary {
            name,
            db,
            op,
            workers: Some(b.s.pull_workers),
            closed_baseline: Some(closed_baseline),
            closed_target,
            open_target: Target::MaxP99Ms(50.0),
            matched: Some(Matched {
                name: "echo-pull",
                op: echo.pull.clone(),
            }),
        };
        rows.extend(b.unary(u, Some(&srv.server)).await);
        srv.server.check_alive()?;
    }
    if b.s.wants("Mix") {
        // Pools for the writes at the rate the mix may reach.
        let get = b.rate("GetTicket", db).unwrap_or(5000.0);
        let write = b
            .rate("ClaimTicket", db)
            .unwrap_or_else(|| write_rate(&claim_sql));
        let mix = 1.0 / (0.6 / get + 0.4 / write);
        let (claims, arrivals) = (b.s.pool_for(mix * 0.15, 1.0), b.s.pool_for(mix * 0.15, 1.0));
        let visits = b.s.pool_for(mix * 0.10, 1.0) / 8 + 1;
        let (mut srv, pools) = boot(&b, backend, pg, async |d: &Db| -> anyhow::Result<Pools> {
            let p = &b.policy;
            Ok(Pools {
                dispatched: Pool::new(
                    "dispatched ticket",
                    seed::tickets(d, p, claims, TicketState::Dispatched, Feed::Batched).await?,
                ),
                claimed: Pool::new(
                    "claimed ticket",
                    seed::tickets(d, p, arrivals, TicketState::Claimed, Feed::Batched).await?,
                ),
                visits: Pool::new("visit", seed::inspections(d, p, visits).await?),
                readable: Pool::new(
                    "readable ticket",
                    seed::tickets(d, p, 100, TicketState::Dispatched, Feed::Batched).await?,
                ),
            })
        })
        .await?;
        let u = Unary {
            name: "Mix60/40",
            db,
            op: scenarios::mix_op(srv.clients.clone(), Arc::new(pools)),
            workers: None,
            closed_baseline: None,
            closed_target: Target::NoErrors,
            open_target: p99_unary.clone(),
            matched: None,
        };
        let mut two = b.unary(u, Some(&srv.server)).await;
        two[0].note =
            "reads 60 % (Get 45, List 15), writes 40 % (Claim 15, Arrival 15, Reading 10)".into();
        rows.extend(two);
        srv.server.check_alive()?;
    }
    if b.s.wants("Watch") {
        let (mut srv, ids) = watch_boot(&b, backend, pg).await?;
        let pool = Pool::new("dispatched ticket", ids);
        let cursor = scenarios::current_cursor(&srv.clients).await?;
        let start = watchers_on(srv.clients.clone(), cursor);
        let commit = claims_through(srv.clients.clone(), pool);
        let s = &b.s;
        let f = fanout::measure(start, commit, s.watchers, s.watch_rate, s.warmup, s.measure).await;
        srv.server.check_alive()?;
        let name = format!("Watch{}", s.watchers);
        let rss = srv.server.peak_rss_mib();
        rows.push(fanout_row(
            &b,
            &name,
            db,
            &f,
            rss,
            Some(Target::MaxP99Ms(50.0)),
        ));
    }
    // Issue 19: a commit on instance A delivered to watchers on instance B
    // (PostgreSQL only: instances share a store there). B's tailer is woken
    // by A's NOTIFY; before it, B found A's commits by polling (250 ms).
    if backend == Backend::Postgres && b.s.wants("WatchAcross") {
        let (mut srv, ids) = watch_boot(&b, backend, pg).await?;
        let mut other = ServerProcess::start(&srv._store).await?;
        let on_b = Clients::new(other.channels(b.s.connections).await?);
        let pool = Pool::new("dispatched ticket", ids);
        let cursor = scenarios::current_cursor(&on_b).await?;
        let start = watchers_on(on_b, cursor);
        let commit = claims_through(srv.clients.clone(), pool);
        let s = &b.s;
        let f = fanout::measure(start, commit, s.watchers, s.watch_rate, s.warmup, s.measure).await;
        srv.server.check_alive()?;
        other.check_alive()?;
        let name = format!("WatchAcross{}", s.watchers);
        let rss = other.peak_rss_mib();
        let mut row = fanout_row(&b, &name, db, &f, rss, Some(Target::MaxP99Ms(50.0)));
        row.note = format!(
            "commits on instance A, watchers on instance B; {}",
            row.note
        );
        rows.push(row);
    }
    if b.s.wants("Report") {
        rows.push(report_year(&b, backend, pg).await?);
    }
    if b.s.wants("Idle") {
        // The handhelds and the bench's own connections, within the cap
        // (10,000 by default) as an operator of that many handhelds sets it.
        let cap = (b.s.idle_connections + b.s.connections + 100).to_string();
        let args = ["--max-client-connections", cap.as_str()];
        let (srv, ()) = boot_with(&b, backend, pg, &args, async |_d: &Db| Ok(())).await?;
        let name = format!("Idle{}", b.s.idle_connections);
        let (row, _held) = idle(
            &b,
            &name,
            db,
            &srv.server,
            "fieldops.v1.TicketService",
            true,
        )
        .await;
        rows.push(row);
    }
    Ok(rows)
}
