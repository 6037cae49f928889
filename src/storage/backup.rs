//! Backups of the embedded SQLite store, taken while the server runs, and
//! their restore. `VACUUM INTO` copies the database as of one read
//! transaction (one commit: WAL readers never block the writer, nor it
//! them) into a new, compact file; the copy is then checked
//! (`PRAGMA integrity_check`) and counted. PostgreSQL is backed up with its
//! own tools (pg_dump; README "Backups").
use anyhow::Context;
use sea_orm::sqlx::sqlite::SqliteConnectOptions;
use sea_orm::sqlx::{Connection, Row, SqliteConnection};
use std::path::Path;
use std::str::FromStr;

/// What a backup or a restore holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contents {
    pub tickets: i64,
    pub ticket_events: i64,
    pub audit_events: i64,
    pub changes: i64,
}

impl std::fmt::Display for Contents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} tickets, {} ticket events, {} audit events, {} feed changes",
            self.tickets, self.ticket_events, self.audit_events, self.changes
        )
    }
}

/// The SQLite file of a `sqlite:PATH` URL.
fn sqlite_path(url: &str) -> anyhow::Result<&str> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "backup copies the embedded SQLite store; for PostgreSQL use pg_dump \
                 (README \"Backups\")"
            )
        })?;
    Ok(path.split('?').next().unwrap_or(path))
}

/// Copy the store at `url` into `to` (which must not exist), while the
/// server may be writing; the copy is checked before this returns.
pub async fn backup(url: &str, to: &Path) -> anyhow::Result<Contents> {
    let from = sqlite_path(url)?;
    anyhow::ensure!(
        Path::new(from).exists(),
        "no database at {from} (is --data-dir the server's?)"
    );
    anyhow::ensure!(
        !to.exists(),
        "{} exists already: back up into a new file",
        to.display()
    );
    let to_text = to
        .to_str()
        .ok_or_else(|| anyhow::anyhow!("{}: not a UTF-8 path", to.display()))?;
    let mut conn = SqliteConnection::connect_with(
        &SqliteConnectOptions::from_str(&format!("sqlite:{from}"))?.read_only(true),
    )
    .await
    .with_context(|| format!("opening {from}"))?;
    sea_orm::sqlx::query("VACUUM INTO ?")
        .bind(to_text)
        .execute(&mut conn)
        .await
        .with_context(|| format!("copying {from} into {}", to.display()))?;
    conn.close().await?;
    check(to).await
}

/// Put the backup `from` in place of the store at `url`, which must not
/// exist (stop the server and move the old file aside first); the backup
/// is checked first.
pub async fn restore(from: &Path, url: &str) -> anyhow::Result<Contents> {
    let to = Path::new(sqlite_path(url)?);
    anyhow::ensure!(
        !to.exists(),
        "{} exists: stop the server and move it aside before restoring",
        to.display()
    );
    let contents = check(from).await?;
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::copy(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    Ok(contents)
}

/// `PRAGMA integrity_check` and the counts of a database file.
async fn check(file: &Path) -> anyhow::Result<Contents> {
    let mut conn =
        SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(file).read_only(true))
            .await
            .with_context(|| format!("opening {}", file.display()))?;
    let verdict: String = sea_orm::sqlx::query("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await?
        .try_get(0)?;
    anyhow::ensure!(
        verdict == "ok",
        "{}: integrity check: {verdict}",
        file.display()
    );
    let mut count = async |table: &str| -> anyhow::Result<i64> {
        let n: i64 = sea_orm::sqlx::query(sea_orm::sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM {table}"
        )))
        .fetch_one(&mut conn)
        .await
        .with_context(|| {
            format!(
                "{}: no table {table} (not a fieldops database?)",
                file.display()
            )
        })?
        .try_get(0)?;
        Ok(n)
    };
    let contents = Contents {
        tickets: count("tickets").await?,
        ticket_events: count("ticket_events").await?,
        audit_events: count("audit_events").await?,
        changes: count("change_log").await?,
    };
    conn.close().await?;
    Ok(contents)
}
