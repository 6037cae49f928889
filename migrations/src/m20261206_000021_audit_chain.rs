//! R-REC-2: the audit trail becomes tamper-evident. Each event of
//! `ticket_events` and `audit_events` carries the hash of its content and of
//! the previous event of its chain; both tables get the full set of
//! append-only guards (PostgreSQL's row triggers let TRUNCATE through).
//!
//! Events written before this migration keep NULL hashes: they form an
//! unsealed prefix of their chains, which `fieldops audit verify` counts
//! and anchors cover by their content.
use crate::append_only;
use crate::columns::{add_columns, drop_columns, text_null};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Chain {
    PrevHash,
    Hash,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in append_only::TABLES {
            let cols = vec![text_null(Chain::PrevHash), text_null(Chain::Hash)];
            add_columns(m, Alias::new(table), cols).await?;
        }
        append_only::install(m.get_connection(), None).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in append_only::TABLES {
            let cols = vec![Chain::PrevHash.into_iden(), Chain::Hash.into_iden()];
            drop_columns(m, Alias::new(table), cols).await?;
        }
        Ok(())
    }
}
