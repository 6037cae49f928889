//! Command line and environment configuration (clap), and the resolved
//! runtime `Config` that `app::run` takes.
use crate::auth::{self, KeySource};
use crate::domain::{Policy, Role};
use crate::grpc::language::Language;
use crate::service::{Clock, SystemClock};
use crate::storage::{DbSettings, DbTimeouts};
use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "fieldops",
    version,
    about = "gRPC backend for water and district-heating field service"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log as JSON lines instead of text (the level is set by RUST_LOG).
    #[arg(long, env = "FIELDOPS_LOG_JSON", global = true)]
    pub log_json: bool,
    /// Export every call's span as an OpenTelemetry trace to this OTLP/gRPC
    /// collector (`http://127.0.0.1:4317`). Off by default.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", global = true)]
    pub otlp_endpoint: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the gRPC server (creates and migrates the database if needed).
    Serve(Box<ServeArgs>),
    /// Apply database migrations and exit.
    Migrate(StoreArgs),
    /// Print a signed JWT (HS256, the server's secret) for a staff member.
    Token(TokenArgs),
    /// Copy the embedded SQLite store into a new file, while the server runs.
    Backup(BackupArgs),
    /// Put a backup in place of a missing SQLite store (server stopped).
    Restore(RestoreArgs),
    /// The audit trail's tamper evidence (R-REC-2): verify, anchor, repair guards.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Records past their retention (R-REC-3): archive them and clear the
    /// callers' personal data.
    #[command(subcommand)]
    Retention(RetentionCommand),
}

#[derive(Subcommand, Debug, Clone)]
pub enum RetentionCommand {
    /// Archive every finished record older than the policy's retention (5
    /// years) to a new file and clear its personal data from the live store.
    Run(RetentionArgs),
    /// Check an archive: every line, every record's sealed event chain.
    VerifyArchive {
        /// The archive a run wrote.
        archive: PathBuf,
    },
}

#[derive(Args, Debug, Clone)]
pub struct RetentionArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The policy whose `record_retention` applies (as for `serve`).
    #[arg(long, env = "FIELDOPS_POLICY", default_value = "heating")]
    pub policy: String,
    /// Report what is due; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The archive to write (must not exist). Default:
    /// archive/retention-<UTC time>.jsonl in the data dir.
    #[arg(long)]
    pub archive: Option<PathBuf>,
    /// Records per transaction.
    #[arg(long, default_value_t = 500)]
    pub batch: u64,
}

impl RetentionArgs {
    pub fn policy(&self) -> anyhow::Result<Policy> {
        load_policy(&self.policy)
    }
}

#[derive(Subcommand, Debug, Clone)]
pub enum AuditCommand {
    /// Check every event's seal and chain link, every anchor, and the
    /// append-only triggers; report the first broken link of each chain.
    /// Exits non-zero when anything fails.
    Verify(AuditArgs),
    /// Append an anchor (the digest of the trail so far) to the anchor file.
    Anchor(AuditArgs),
    /// Re-create the append-only triggers that are missing or disabled.
    /// Run `verify` first: the triggers' absence may have let events change.
    ReinstateTriggers(AuditArgs),
}

#[derive(Args, Debug, Clone)]
pub struct AuditArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The anchor file (JSON lines). Default: audit-anchors.jsonl in the data dir.
    #[arg(long, env = "FIELDOPS_AUDIT_ANCHORS")]
    pub anchors: Option<PathBuf>,
}

impl AuditArgs {
    pub fn anchor_file(&self) -> PathBuf {
        anchor_file(&self.store.data_dir, self.anchors.as_deref())
    }
}

fn anchor_file(data_dir: &Path, given: Option<&Path>) -> PathBuf {
    given
        .map(Path::to_path_buf)
        .unwrap_or_else(|| data_dir.join("audit-anchors.jsonl"))
}

#[derive(Args, Debug, Clone)]
pub struct BackupArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The new file to write (it must not exist).
    #[arg(long)]
    pub to: PathBuf,
}

#[derive(Args, Debug, Clone)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The backup to restore.
    #[arg(long)]
    pub from: PathBuf,
}

/// Where data lives.
#[derive(Args, Debug, Clone)]
pub struct StoreArgs {
    /// Directory for the embedded SQLite database and the generated JWT secret.
    #[arg(long, env = "FIELDOPS_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Database URL: `sqlite:PATH` or `postgres://user@host/db`. Default: SQLite file in the data dir.
    #[arg(long, env = "FIELDOPS_DATABASE_URL")]
    pub database_url: Option<String>,
    /// SQLite `synchronous` pragma: FULL (an acknowledged write survives power loss), NORMAL, OFF, EXTRA.
    #[arg(
        long,
        env = "FIELDOPS_SQLITE_SYNCHRONOUS",
        default_value = "full",
        value_parser = ["full", "normal", "off", "extra"],
        ignore_case = true
    )]
    pub sqlite_synchronous: String,
    /// Read connections for SQLite.
    #[arg(long, env = "FIELDOPS_READ_POOL_SIZE", default_value_t = 4)]
    pub read_pool_size: u32,
    /// Connection pool size for PostgreSQL.
    #[arg(long, env = "FIELDOPS_MAX_CONNECTIONS", default_value_t = 16)]
    pub max_connections: u32,
    /// Longest wait for a pooled database connection (then UNAVAILABLE).
    #[arg(long, env = "FIELDOPS_DB_ACQUIRE_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub db_acquire_timeout: Duration,
    /// Longest write transaction, BEGIN to COMMIT, and (PostgreSQL) longest
    /// statement; past it the work is rolled back and the call is UNAVAILABLE.
    #[arg(long, env = "FIELDOPS_DB_TRANSACTION_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub db_transaction_timeout: Duration,
    /// PostgreSQL `lock_timeout`: longest wait for another transaction's lock.
    #[arg(long, env = "FIELDOPS_DB_LOCK_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub db_lock_timeout: Duration,
    /// PostgreSQL `idle_in_transaction_session_timeout`: the database ends a
    /// session that went silent inside a transaction, releasing its locks.
    #[arg(long, env = "FIELDOPS_DB_IDLE_IN_TRANSACTION_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub db_idle_in_transaction_timeout: Duration,
}

/// How tokens are checked.
#[derive(Args, Debug, Clone)]
pub struct JwtArgs {
    /// HS256 shared secret. Default: generated once into DATA_DIR/jwt-secret (mode 0600).
    #[arg(long, env = "FIELDOPS_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// PEM public key file for RS256 or EdDSA tokens (production); replaces the HS256 secret.
    #[arg(long, env = "FIELDOPS_JWT_PUBLIC_KEY")]
    pub jwt_public_key: Option<PathBuf>,
    /// JSON Web Key Set of the identity provider: a file, or an http(s) URL
    /// (its JWKS endpoint). Replaces the HS256 secret and --jwt-public-key;
    /// tokens name their key by `kid`.
    #[arg(long, env = "FIELDOPS_JWT_JWKS", conflicts_with = "jwt_public_key")]
    pub jwt_jwks: Option<String>,
    /// How often the key set is read again (key rotation).
    #[arg(long, env = "FIELDOPS_JWT_JWKS_REFRESH", default_value = "5m", value_parser = humantime::parse_duration)]
    pub jwt_jwks_refresh: Duration,
    /// Algorithm of the public key: RS256 or EdDSA.
    #[arg(long, env = "FIELDOPS_JWT_ALGORITHM", default_value = "RS256")]
    pub jwt_algorithm: String,
    /// Required `iss` claim.
    #[arg(long, env = "FIELDOPS_JWT_ISSUER", default_value = "fieldops")]
    pub jwt_issuer: String,
    /// Required `aud` claim.
    #[arg(long, env = "FIELDOPS_JWT_AUDIENCE", default_value = "fieldops")]
    pub jwt_audience: String,
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub jwt: JwtArgs,
    /// Address to listen on.
    #[arg(long, env = "FIELDOPS_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// Service-level policy: `heating`, `water`, or a TOML file of the same shape.
    #[arg(long, env = "FIELDOPS_POLICY", default_value = "heating")]
    pub policy: String,
    /// Time zone for local-time rules (IANA name).
    #[arg(long, env = "FIELDOPS_TIMEZONE", default_value = "Asia/Shanghai")]
    pub timezone: chrono_tz::Tz,
    /// Language of the errors' LocalizedMessage when a call's
    /// `accept-language` names none the server speaks.
    #[arg(
        long,
        env = "FIELDOPS_DEFAULT_LANGUAGE",
        value_enum,
        default_value = "zh-CN"
    )]
    pub default_language: Language,
    /// Units registered at start (comma-separated codes); tickets can be dispatched only to known units.
    #[arg(
        long,
        env = "FIELDOPS_UNITS",
        value_delimiter = ',',
        default_value = "north,south,east,west"
    )]
    pub units: Vec<String>,
    /// Longest time one call may take, e.g. `30s`.
    #[arg(long, env = "FIELDOPS_REQUEST_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub request_timeout: Duration,
    /// How often the deadline monitor looks for passed deadlines.
    #[arg(long, env = "FIELDOPS_MONITOR_INTERVAL", default_value = "1s", value_parser = humantime::parse_duration)]
    pub monitor_interval: Duration,
    /// How often to look for changes committed by other instances (Watch).
    #[arg(long, env = "FIELDOPS_WATCH_POLL", default_value = "250ms", value_parser = humantime::parse_duration)]
    pub watch_poll: Duration,
    /// Recent changes each instance holds in memory for Watch and Pull
    /// (0: none, every read goes to the database).
    #[arg(long, env = "FIELDOPS_FEED_WINDOW", default_value_t = 20_000)]
    pub feed_window: usize,
    /// The most bytes of changes (as stored) each instance's window holds.
    #[arg(long, env = "FIELDOPS_FEED_WINDOW_BYTES", default_value_t = 64 << 20)]
    pub feed_window_bytes: usize,
    /// Tickets whose latest version each instance holds in memory for
    /// GetTicket (0: none, every read goes to the database).
    #[arg(long, env = "FIELDOPS_TICKET_CACHE", default_value_t = 20_000)]
    pub ticket_cache: usize,
    /// Watch: checkpoint interval while idle.
    #[arg(long, env = "FIELDOPS_WATCH_CHECKPOINT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub watch_checkpoint: Duration,
    /// Largest accepted or sent message, in bytes.
    #[arg(long, env = "FIELDOPS_MAX_MESSAGE_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_message_bytes: usize,
    /// How often to anchor the audit trail (R-REC-2); `0s`: never.
    #[arg(long, env = "FIELDOPS_AUDIT_ANCHOR_EVERY", default_value = "10m", value_parser = humantime::parse_duration)]
    pub audit_anchor_every: Duration,
    /// The anchor file. Default: audit-anchors.jsonl in the data dir.
    #[arg(long, env = "FIELDOPS_AUDIT_ANCHORS")]
    pub audit_anchors: Option<PathBuf>,
    /// Where attachments' bytes are kept (R-REC-1): `file:///dir`,
    /// `s3://bucket/prefix` (credentials from AWS_* variables). Default:
    /// attachments/ in the data dir. Instances sharing a database must share it.
    #[arg(long, env = "FIELDOPS_ATTACHMENTS_URL")]
    pub attachments_url: Option<String>,
    #[command(flatten)]
    pub net: NetArgs,
    #[command(flatten)]
    pub edge: EdgeArgs,
}

/// How browsers, TLS clients and Prometheus reach the server (README
/// "Operating fieldops").
#[derive(Args, Debug, Clone, Default)]
pub struct EdgeArgs {
    /// Browser origins (`https://console.example.com`) whose pages may call
    /// the API with grpc-web (CORS), comma-separated; `*` allows any. Empty:
    /// only pages served from the API's own origin.
    #[arg(long, env = "FIELDOPS_CORS_ALLOW_ORIGINS", value_delimiter = ',')]
    pub cors_allow_origin: Vec<String>,
    /// PEM certificate chain: serve gRPC and grpc-web over TLS (with --tls-key).
    #[arg(long, env = "FIELDOPS_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "FIELDOPS_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve Prometheus metrics (GET /metrics, plain HTTP) on this address.
    /// Off by default; keep it on a private address.
    #[arg(long, env = "FIELDOPS_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Do not serve the dispatch console (the web page at `/` of the API's
    /// own address).
    #[arg(long, env = "FIELDOPS_NO_CONSOLE")]
    pub no_console: bool,
}

/// The resolved `EdgeArgs`: files read, origins checked.
#[derive(Clone, Default)]
pub struct Edge {
    /// Allowed browser origins; `["*"]` for any; empty for none.
    pub cors_origins: Vec<http::HeaderValue>,
    /// (certificate chain, private key), PEM.
    pub tls: Option<(Vec<u8>, Vec<u8>)>,
    pub metrics_listen: Option<SocketAddr>,
    /// Serve the dispatch console (`grpc::console`) at `/`.
    pub console: bool,
}

/// Never the private key's bytes.
impl std::fmt::Debug for Edge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Edge")
            .field("cors_origins", &self.cors_origins)
            .field("tls", &self.tls.as_ref().map(|_| "(certificate and key)"))
            .field("metrics_listen", &self.metrics_listen)
            .field("console", &self.console)
            .finish()
    }
}

impl EdgeArgs {
    pub fn resolve(&self) -> anyhow::Result<Edge> {
        let mut cors_origins = Vec::new();
        for o in self.cors_allow_origin.iter().map(|o| o.trim()) {
            if o.is_empty() {
                continue;
            }
            let ok = o == "*"
                || ((o.starts_with("http://") || o.starts_with("https://"))
                    && !o.ends_with('/')
                    && o.split("://")
                        .nth(1)
                        .is_some_and(|h| !h.is_empty() && !h.contains('/')));
            anyhow::ensure!(
                ok,
                "--cors-allow-origin {o:?}: an origin is scheme://host[:port] without a path, or *"
            );
            cors_origins.push(http::HeaderValue::from_str(o)?);
        }
        let read = |flag: &str, path: &Path| {
            std::fs::read(path).with_context(|| format!("{flag} {}: cannot read", path.display()))
        };
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some((read("--tls-cert", cert)?, read("--tls-key", key)?)),
            _ => None,
        };
        Ok(Edge {
            cors_origins,
            tls,
            metrics_listen: self.metrics_listen,
            console: !self.no_console,
        })
    }
}

/// Connection hygiene (README "Reliability").
#[derive(Args, Debug, Clone, Copy)]
pub struct NetArgs {
    /// Most client connections open at once; one more is closed at once.
    #[arg(
        long,
        env = "FIELDOPS_MAX_CLIENT_CONNECTIONS",
        default_value_t = 10_000
    )]
    pub max_client_connections: usize,
    /// A connection that sends nothing this long after it opened is closed.
    #[arg(long, env = "FIELDOPS_SILENT_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub silent_timeout: Duration,
    /// A connection with no call in flight this long is closed.
    #[arg(long, env = "FIELDOPS_IDLE_TIMEOUT", default_value = "5m", value_parser = humantime::parse_duration)]
    pub idle_timeout: Duration,
    /// HTTP/2 keepalive: the server pings a connection this often and closes
    /// it when a ping is not answered within 10 s.
    #[arg(long, env = "FIELDOPS_HTTP2_KEEPALIVE", default_value = "30s", value_parser = humantime::parse_duration)]
    pub http2_keepalive: Duration,
    /// Most calls in flight on one connection (HTTP/2 streams).
    #[arg(
        long,
        env = "FIELDOPS_MAX_STREAMS_PER_CONNECTION",
        default_value_t = 256
    )]
    pub max_streams_per_connection: u32,
    /// Most calls in flight in the whole server; more are refused at once
    /// with RESOURCE_EXHAUSTED instead of queueing.
    #[arg(long, env = "FIELDOPS_MAX_CONCURRENT_CALLS", default_value_t = 4096)]
    pub max_concurrent_calls: usize,
}

impl Default for NetArgs {
    fn default() -> NetArgs {
        NetArgs {
            max_client_connections: 10_000,
            silent_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            http2_keepalive: Duration::from_secs(30),
            max_streams_per_connection: 256,
            max_concurrent_calls: 4096,
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct TokenArgs {
    /// Data directory holding the server's generated secret.
    #[arg(long, env = "FIELDOPS_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub jwt: JwtArgs,
    /// Role(s): dispatcher, crew, inspector, supervisor, backoffice, admin. Repeat for several.
    #[arg(long = "role", required = true, value_parser = parse_role)]
    pub roles: Vec<Role>,
    /// The staff member's unit.
    #[arg(long)]
    pub unit: String,
    /// The staff member's id.
    #[arg(long)]
    pub sub: String,
    /// Validity, e.g. `12h`.
    #[arg(long, default_value = "12h", value_parser = humantime::parse_duration)]
    pub ttl: Duration,
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| format!("unknown role {s:?}"))
}

/// Everything `app::run` needs, resolved.
pub struct Config {
    pub db: DbSettings,
    pub policy: Policy,
    pub timezone: chrono_tz::Tz,
    /// R-TKT-1's users are Chinese: zh-CN unless configured otherwise.
    pub default_language: Language,
    pub jwt_key: KeySource,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    pub units: Vec<String>,
    pub request_timeout: Duration,
    pub max_message_bytes: usize,
    pub net: NetArgs,
    pub edge: Edge,
    pub watch_poll: Duration,
    pub watch_checkpoint: Duration,
    pub feed_window: usize,
    pub feed_window_bytes: usize,
    pub ticket_cache: usize,
    /// How often the deadline monitor runs; None: never by itself (tests run
    /// passes through `app::Handles`).
    pub monitor_interval: Option<Duration>,
    /// How often housekeeping runs after its pass at start; None: never by itself.
    pub maintenance_interval: Option<Duration>,
    /// Where and how often to anchor the audit trail; None: never by itself.
    pub audit_anchors: Option<(PathBuf, Duration)>,
    /// The object store of attachments' bytes (`storage::objects`).
    pub attachments_url: String,
    pub clock: Arc<dyn Clock>,
}

impl StoreArgs {
    pub fn db_settings(&self) -> anyhow::Result<DbSettings> {
        let url = match &self.database_url {
            Some(u) => u.clone(),
            None => {
                std::fs::create_dir_all(&self.data_dir)
                    .with_context(|| format!("creating data dir {}", self.data_dir.display()))?;
                format!("sqlite:{}", self.data_dir.join("fieldops.db").display())
            }
        };
        Ok(DbSettings {
            url,
            sqlite_synchronous: self.sqlite_synchronous.clone(),
            sqlite_busy_timeout: Duration::from_secs(5),
            read_pool_size: self.read_pool_size,
            max_connections: self.max_connections,
            pg_schema: None,
            timeouts: DbTimeouts {
                acquire: self.db_acquire_timeout,
                transaction: self.db_transaction_timeout,
                lock: self.db_lock_timeout,
                idle_in_transaction: self.db_idle_in_transaction_timeout,
                ..DbTimeouts::default()
            },
        })
    }
}

impl JwtArgs {
    pub fn key_source(&self, data_dir: &Path) -> anyhow::Result<KeySource> {
        if let Some(spec) = &self.jwt_jwks {
            anyhow::ensure!(
                self.jwt_jwks_refresh >= Duration::from_secs(10),
                "--jwt-jwks-refresh must be at least 10s"
            );
            return Ok(KeySource::Jwks {
                source: crate::jwks::JwksSource::parse(spec)?,
                refresh: self.jwt_jwks_refresh,
            });
        }
        if let Some(path) = &self.jwt_public_key {
            let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let algorithm = match self.jwt_algorithm.to_ascii_uppercase().as_str() {
                "RS256" => jsonwebtoken::Algorithm::RS256,
                "EDDSA" => jsonwebtoken::Algorithm::EdDSA,
                other => anyhow::bail!("--jwt-algorithm {other}: use RS256 or EdDSA"),
            };
            return Ok(KeySource::PublicKeyPem { algorithm, pem });
        }
        Ok(KeySource::Secret(self.secret(data_dir)?))
    }

    pub fn secret(&self, data_dir: &Path) -> anyhow::Result<Vec<u8>> {
        match &self.jwt_secret {
            Some(s) if s.len() >= 32 => Ok(s.as_bytes().to_vec()),
            Some(_) => anyhow::bail!("--jwt-secret must be at least 32 bytes"),
            None => auth::load_or_create_secret(data_dir),
        }
    }

    /// The secret a token is signed with: the one given, or the one the
    /// server generated into `data_dir`. Never a new one: a token signed
    /// with a secret no server knows would be refused without a clue why.
    pub fn existing_secret(&self, data_dir: &Path) -> anyhow::Result<Vec<u8>> {
        if self.jwt_secret.is_some() {
            return self.secret(data_dir);
        }
        auth::load_secret(data_dir)?.ok_or_else(|| {
            anyhow::anyhow!(
                "no JWT secret in {}: start `fieldops serve` with this --data-dir first (it creates one), \
                 or pass the server's --jwt-secret / FIELDOPS_JWT_SECRET",
                auth::secret_path(data_dir).display()
            )
        })
    }
}

/// `heating`, `water`, or a path to a TOML policy file.
pub fn load_policy(spec: &str) -> anyhow::Result<Policy> {
    if let Some(p) = Policy::builtin(spec) {
        return Ok(p);
    }
    // YAML was read until serde_yaml was deprecated: say so rather than
    // fail on TOML syntax errors.
    anyhow::ensure!(
        !(spec.ends_with(".yaml") || spec.ends_with(".yml")),
        "--policy {spec}: policy files are TOML (the same keys as \
         src/domain/policies/heating.toml); YAML is no longer read"
    );
    let text = std::fs::read_to_string(spec).with_context(|| {
        format!("--policy {spec:?} is neither `heating`, `water` nor a readable file")
    })?;
    Policy::from_toml(&text).map_err(|e| anyhow::anyhow!("policy file {spec}: {e}"))
}

impl ServeArgs {
    pub fn config(&self) -> anyhow::Result<Config> {
        // A page holds three quarters of a message; the largest ticket must fit.
        anyhow::ensure!(
            self.max_message_bytes >= 256 << 10,
            "--max-message-bytes must be at least 256 KiB"
        );
        Ok(Config {
            db: self.store.db_settings()?,
            policy: load_policy(&self.policy)?,
            timezone: self.timezone,
            default_language: self.default_language,
            jwt_key: self.jwt.key_source(&self.store.data_dir)?,
            jwt_issuer: self.jwt.jwt_issuer.clone(),
            jwt_audience: self.jwt.jwt_audience.clone(),
            units: self
                .units
                .iter()
                .map(|u| u.trim().to_string())
                .filter(|u| !u.is_empty())
                .collect(),
            request_timeout: self.request_timeout,
            max_message_bytes: self.max_message_bytes,
            net: self.net,
            edge: self.edge.resolve()?,
            watch_poll: self.watch_poll,
            watch_checkpoint: self.watch_checkpoint,
            feed_window: self.feed_window,
            feed_window_bytes: self.feed_window_bytes,
            ticket_cache: self.ticket_cache,
            monitor_interval: Some(self.monitor_interval),
            maintenance_interval: Some(crate::app::MAINTENANCE_EVERY),
            audit_anchors: (!self.audit_anchor_every.is_zero()).then(|| {
                (
                    anchor_file(&self.store.data_dir, self.audit_anchors.as_deref()),
                    self.audit_anchor_every,
                )
            }),
            attachments_url: match &self.attachments_url {
                Some(url) => url.clone(),
                None => {
                    let dir = std::path::absolute(self.store.data_dir.join("attachments"))?;
                    format!("file://{}", dir.display())
                }
            },
            clock: Arc::new(SystemClock),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_yaml_policy_file_is_refused_with_a_pointer_to_toml() {
        let e = load_policy("./my-policy.yaml").unwrap_err().to_string();
        assert!(e.contains("TOML") && e.contains("my-policy.yaml"), "{e}");
        assert!(load_policy("heating").is_ok());
        let e = load_policy("./missing.toml").unwrap_err().to_string();
        assert!(e.contains("missing.toml"), "{e}");
    }
}
