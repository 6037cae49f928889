//! Keys every instance sharing the database must agree on, kept in the
//! database itself (`server_secrets`): the first instance to start creates
//! one, every other reads the same.
use super::{db_err, to_micros};
use crate::error::{AppError, AppResult};
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, Statement};

/// The secret named `name`, created from `fresh` if there is none yet.
pub async fn get_or_create<C: ConnectionTrait>(
    db: &C,
    name: &str,
    fresh: Vec<u8>,
    now: DateTime<Utc>,
) -> AppResult<Vec<u8>> {
    let backend = db.get_database_backend();
    let (insert, select) = match backend {
        DbBackend::Postgres => (
            "INSERT INTO server_secrets (name, secret, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
            "SELECT secret FROM server_secrets WHERE name = $1",
        ),
        _ => (
            "INSERT INTO server_secrets (name, secret, created_at) VALUES (?, ?, ?) \
             ON CONFLICT (name) DO NOTHING",
            "SELECT secret FROM server_secrets WHERE name = ?",
        ),
    };
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        insert,
        [name.into(), fresh.into(), to_micros(now).into()],
    ))
    .await
    .map_err(db_err)?;
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            select,
            [name.into()],
        ))
        .await
        .map_err(db_err)?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("server secret {name} missing")))?;
    row.try_get::<Vec<u8>>("", "secret").map_err(db_err)
}
