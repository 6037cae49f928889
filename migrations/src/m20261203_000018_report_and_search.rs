//! R-RPT-2, R-TKT-17: whether a ticket is a major matter, as a column the
//! service report counts (the flag's details live in the follow-up
//! document); and R-TKT-15: an index that finds a platform's reference
//! whatever the platform, newest first (the unique index leads with the
//! source, so it serves only lookups that name the platform).
use crate::columns::{add_columns, drop_columns, drop_index, flag, index};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Tickets {
    Table,
    Major,
    PlatformReference,
    Id,
}

const REFERENCE_INDEX: &str = "idx_tickets_platform_reference";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        add_columns(m, Tickets::Table, vec![flag(Tickets::Major)]).await?;
        let cols = vec![
            Tickets::PlatformReference.into_iden(),
            Tickets::Id.into_iden(),
        ];
        index(m, REFERENCE_INDEX, Tickets::Table, cols).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop_index(m, REFERENCE_INDEX, Tickets::Table).await?;
        drop_columns(m, Tickets::Table, vec![Tickets::Major.into_iden()]).await
    }
}
