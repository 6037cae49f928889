//! Issue 19: a Pull beyond the feed window reads from indexes, not rows.
//!
//! A page of the feed is first read as positions (`feed::positions_after`):
//! which changes after the cursor the reader may see. That needs the
//! position and the columns the visibility rule reads, all in
//! `idx_change_log_page`, so the page walks one compact index instead of
//! each change's row (with its payload): SQLite read a page of the file per
//! change. The recusal check (R-TKT-13: has any change of this ticket hidden
//! it from the reader?) looks only at the changes that hide their ticket
//! from someone, a few: `idx_change_log_hidden` holds just those. Without
//! it PostgreSQL read the whole change log for every page, and SQLite each
//! ticket's row.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// SQLite keeps the recusal sets in the indexes too, so neither query
/// reads a row. PostgreSQL refuses an index entry over about 2.7 kB, and a
/// recusal set has no such bound: there the indexes stop short of it, and
/// the few rows they select are read for it.
const SQLITE: [&str; 2] = [
    "CREATE INDEX IF NOT EXISTS idx_change_log_page ON change_log \
     (seq, ordinal, entity_type, entity_id, unit, prev_unit, owner, hidden_from, newly_hidden)",
    "CREATE INDEX IF NOT EXISTS idx_change_log_hidden ON change_log \
     (entity_id, entity_type, hidden_from) WHERE hidden_from IS NOT NULL",
];

const POSTGRES: [&str; 2] = [
    "CREATE INDEX IF NOT EXISTS idx_change_log_page ON change_log \
     (seq, ordinal, entity_type, entity_id, unit, prev_unit, owner)",
    "CREATE INDEX IF NOT EXISTS idx_change_log_hidden ON change_log \
     (entity_id, entity_type) WHERE hidden_from IS NOT NULL",
];

const DROP: [&str; 2] = [
    "DROP INDEX IF EXISTS idx_change_log_page",
    "DROP INDEX IF EXISTS idx_change_log_hidden",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let create = match m.get_database_backend() {
            DbBackend::Postgres => POSTGRES,
            _ => SQLITE,
        };
        for sql in create {
            m.get_connection().execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for sql in DROP {
            m.get_connection().execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
