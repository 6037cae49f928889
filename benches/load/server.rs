//! The server under test: the real `fieldops serve` binary as a child
//! process (so its peak RSS is its own), on a fresh store per scenario: a new
//! SQLite file in a temporary directory, or a new PostgreSQL schema. Both are
//! removed when their guard is dropped, also on a panic.
use anyhow::Context;
use fieldops::storage::{self, Db, DbSettings};
use sea_orm::ConnectionTrait;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tonic::transport::{Channel, Endpoint};

pub const SECRET: &str = "bench-secret-bench-secret-bench-secret";
pub const UNITS: &str = "north,south,east,west";

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn label(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// The PostgreSQL run in progress, for the Ctrl-C handler.
pub static ACTIVE_PG: Mutex<Option<std::sync::Arc<PgRun>>> = Mutex::new(None);

/// Every PostgreSQL schema this run created, dropped at the end of the run.
pub struct PgRun {
    pub url: String,
    pub prefix: String,
    created: Mutex<Vec<String>>,
}

impl PgRun {
    pub fn new(url: String) -> PgRun {
        let prefix = format!("bench_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        PgRun {
            url,
            prefix,
            created: Mutex::new(Vec::new()),
        }
    }

    async fn create_schema(&self) -> anyhow::Result<String> {
        let n = self.created.lock().unwrap().len();
        let schema = format!("{}_{n}", self.prefix);
        let conn = sea_orm::Database::connect(self.url.as_str())
            .await
            .with_context(|| format!("connecting to PostgreSQL at {}", self.url))?;
        conn.execute_unprepared(&format!("CREATE SCHEMA {schema}"))
            .await?;
        conn.close().await.ok();
        self.created.lock().unwrap().push(schema.clone());
        Ok(schema)
    }

    /// Drop every schema of this run (idempotent).
    pub async fn drop_all(&self) -> anyhow::Result<()> {
        let schemas: Vec<String> = std::mem::take(&mut *self.created.lock().unwrap());
        if schemas.is_empty() {
            return Ok(());
        }
        let conn = sea_orm::Database::connect(self.url.as_str()).await?;
        for s in schemas {
            conn.execute_unprepared(&format!("DROP SCHEMA IF EXISTS {s} CASCADE"))
                .await?;
        }
        conn.close().await.ok();
        Ok(())
    }
}

/// A fresh, empty database for one scenario.
pub struct Store {
    pub backend: Backend,
    /// What `serve --database-url` gets; for PostgreSQL the schema rides in
    /// the URL (`options[search_path]`), since `serve` has no schema flag.
    pub url: String,
    pub pg_schema: Option<String>,
    /// SQLite: the data directory (removed on drop).
    pub dir: PathBuf,
}

impl Store {
    pub async fn fresh(backend: Backend, pg: Option<&PgRun>) -> anyhow::Result<Store> {
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let dir = std::env::temp_dir().join(format!("fieldops-load-{tag}"));
        std::fs::create_dir_all(&dir)?;
        match backend {
            Backend::Sqlite => Ok(Store {
                backend,
                url: format!("sqlite:{}", dir.join("fieldops.db").display()),
                pg_schema: None,
                dir,
            }),
            Backend::Postgres => {
                let pg = pg.context("PostgreSQL store without a PostgreSQL run")?;
                let schema = pg.create_schema().await?;
                let sep = if pg.url.contains('?') { '&' } else { '?' };
                Ok(Store {
                    backend,
                    url: format!("{}{sep}options[search_path]={schema}", pg.url),
                    pg_schema: Some(schema),
                    dir,
                })
            }
        }
    }

    /// The settings `serve` uses by default (synchronous=full, 4 readers,
    /// 16 PostgreSQL connections, 5 s busy timeout).
    pub fn settings(&self) -> DbSettings {
        DbSettings {
            url: self.url.clone(),
            sqlite_synchronous: "full".into(),
            sqlite_busy_timeout: Duration::from_secs(5),
            read_pool_size: 4,
            max_connections: 16,
            pg_schema: self.pg_schema.clone(),
            timeouts: Default::default(),
        }
    }

    /// Open and migrate, as the server would.
    pub async fn open(&self) -> anyhow::Result<Db> {
        self.open_with(self.settings()).await
    }

    /// Open for seeding in bulk: transactions of minutes.
    pub async fn open_for_bulk(&self) -> anyhow::Result<Db> {
        let mut s = self.settings();
        s.timeouts.transaction = Duration::from_secs(3600);
        self.open_with(s).await
    }

    async fn open_with(&self, s: DbSettings) -> anyhow::Result<Db> {
        let db = Db::connect(&s).await?;
        storage::migrate(&db, &s).await?;
        Ok(db)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A running `fieldops serve`; killed when dropped.
pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
    log: PathBuf,
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

impl ServerProcess {
    /// `fieldops serve` with its default settings on `store`.
    pub async fn start(store: &Store) -> anyhow::Result<ServerProcess> {
        Self::start_with(store, &[]).await
    }

    /// `fieldops serve` on `store`, with `args` beside the defaults.
    pub async fn start_with(store: &Store, args: &[&str]) -> anyhow::Result<ServerProcess> {
        let port = free_port()?;
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
        let log = store.dir.join("server.log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_fieldops"));
        cmd.arg("serve")
            .args(["--listen", &addr.to_string()])
            .arg("--data-dir")
            .arg(&store.dir)
            .args(["--jwt-secret", SECRET])
            .args(["--units", UNITS]);
        if store.backend == Backend::Postgres {
            cmd.args(["--database-url", &store.url]);
        }
        cmd.args(args);
        Self::spawn(cmd, addr, log, "fieldops.v1.TicketService").await
    }

    /// Any child serving gRPC health on `addr` (the echo baseline too).
    pub async fn spawn(
        mut cmd: Command,
        addr: SocketAddr,
        log: PathBuf,
        health_service: &str,
    ) -> anyhow::Result<ServerProcess> {
        let out = std::fs::File::create(&log)?;
        // If the bench dies without unwinding (SIGINT, SIGKILL), the kernel
        // kills the server too.
        // SAFETY: prctl is async-signal-safe; nothing else runs before exec.
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        cmd.stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .env_remove("FIELDOPS_DATABASE_URL");
        let child = cmd.spawn().context("starting the server process")?;
        let mut server = ServerProcess { child, addr, log };
        server.wait_ready(health_service).await?;
        Ok(server)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    async fn wait_ready(&mut self, service: &str) -> anyhow::Result<()> {
        let started = Instant::now();
        // A store seeded in bulk is counted for the report at start (a year
        // of tickets: seconds to tens of seconds).
        while started.elapsed() < Duration::from_secs(300) {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!(
                    "server exited during start-up ({status}):\n{}",
                    self.log_tail()
                );
            }
            if let Ok(ch) = Endpoint::from_shared(self.url())?.connect().await {
                let mut h = tonic_health::pb::health_client::HealthClient::new(ch);
                let req = tonic_health::pb::HealthCheckRequest {
                    service: service.into(),
                };
                if let Ok(r) = h.check(req).await
                    && r.into_inner().status
                        == tonic_health::pb::health_check_response::ServingStatus::Serving as i32
                {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        anyhow::bail!("server not ready after 300 s:\n{}", self.log_tail())
    }

    /// Peak resident set size so far (VmHWM), in MiB.
    pub fn peak_rss_mib(&self) -> Option<f64> {
        status_kib(self.pid(), "VmHWM:").map(|k| k as f64 / 1024.0)
    }

    /// Current resident set size (VmRSS), in MiB.
    pub fn rss_mib(&self) -> Option<f64> {
        status_kib(self.pid(), "VmRSS:").map(|k| k as f64 / 1024.0)
    }

    /// `connections` HTTP/2 connections to this server.
    pub async fn channels(&self, connections: usize) -> anyhow::Result<Vec<Channel>> {
        let mut out = Vec::with_capacity(connections);
        for _ in 0..connections {
            out.push(connect(&self.url()).await?);
        }
        Ok(out)
    }

    /// Fail if the server died during the scenario.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            anyhow::bail!("server exited ({status}):\n{}", self.log_tail());
        }
        Ok(())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn connect(url: &str) -> anyhow::Result<Channel> {
    Ok(Endpoint::from_shared(url.to_string())?
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(10))
        .connect()
        .await?)
}

fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
