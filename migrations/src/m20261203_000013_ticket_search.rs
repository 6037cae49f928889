//! Ticket search: a caller's phone (as digits, `caller_key`) finds his
//! tickets through an index, newest first, without a table scan.
use crate::columns::{drop_index, index};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Tickets {
    Table,
    CallerKey,
    Id,
}

const INDEX: &str = "idx_tickets_caller";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let cols = vec![Tickets::CallerKey.into_iden(), Tickets::Id.into_iden()];
        index(m, INDEX, Tickets::Table, cols).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop_index(m, INDEX, Tickets::Table).await
    }
}
