//! Self-enforcing clocks: each ticket's recorded breaches, and the instant its
//! next running deadline passes, indexed so the monitor never scans the table.
use crate::columns::{add_columns, drop_columns, drop_index, index, micros_null, text_null};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Tickets {
    Table,
    Breaches,
    NextDeadlineAt,
}

const INDEX: &str = "idx_tickets_next_deadline";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let cols = vec![
            text_null(Tickets::Breaches),
            micros_null(Tickets::NextDeadlineAt),
        ];
        add_columns(m, Tickets::Table, cols).await?;
        index(
            m,
            INDEX,
            Tickets::Table,
            vec![Tickets::NextDeadlineAt.into_iden()],
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop_index(m, INDEX, Tickets::Table).await?;
        let cols = vec![
            Tickets::NextDeadlineAt.into_iden(),
            Tickets::Breaches.into_iden(),
        ];
        drop_columns(m, Tickets::Table, cols).await
    }
}
