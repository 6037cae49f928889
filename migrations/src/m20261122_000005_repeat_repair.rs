//! R-TKT-11: the normalised address a repeat repair is matched on, the link
//! to the earlier repair, and the index that finds it.
use crate::columns::{add_columns, drop_columns, drop_index, index, text_null};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Tickets {
    Table,
    Category,
    AddressKey,
    ResolvedAt,
    RepeatOf,
}

const INDEX: &str = "idx_tickets_repeat";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let cols = vec![text_null(Tickets::AddressKey), text_null(Tickets::RepeatOf)];
        add_columns(m, Tickets::Table, cols).await?;
        let key = [Tickets::Category, Tickets::AddressKey, Tickets::ResolvedAt];
        index(
            m,
            INDEX,
            Tickets::Table,
            key.map(IntoIden::into_iden).to_vec(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop_index(m, INDEX, Tickets::Table).await?;
        let cols = vec![
            Tickets::RepeatOf.into_iden(),
            Tickets::AddressKey.into_iden(),
        ];
        drop_columns(m, Tickets::Table, cols).await
    }
}
