//! Issue 6: the change log's entity index leads with `entity_id`.
//!
//! As `(entity_type, entity_id, seq)` it matched a crew's feed filter
//! (`entity_type = 'ticket'`), so SQLite read every ticket change through it
//! and sorted them for each Pull page instead of walking the primary key from
//! the cursor. Compaction, the one query that needs the index, matches on
//! both columns and is served as well by `(entity_id, entity_type, seq)`.
use crate::columns::{drop_index, index};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum ChangeLog {
    Table,
    EntityType,
    EntityId,
    Seq,
}

const NAME: &str = "idx_change_log_entity";

async fn recreate(m: &SchemaManager<'_>, cols: [ChangeLog; 3]) -> Result<(), DbErr> {
    drop_index(m, NAME, ChangeLog::Table).await?;
    index(
        m,
        NAME,
        ChangeLog::Table,
        cols.map(IntoIden::into_iden).to_vec(),
    )
    .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        use ChangeLog::*;
        recreate(m, [EntityId, EntityType, Seq]).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        use ChangeLog::*;
        recreate(m, [EntityType, EntityId, Seq]).await
    }
}
