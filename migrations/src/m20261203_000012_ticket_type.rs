//! R-TKT-14: every ticket's type, beside its category (rows from before
//! read as a general help request), indexed for the list filter.
use crate::columns::{add_columns, drop_columns, drop_index, index, text_null};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Tickets {
    Table,
    TicketType,
}

const INDEX: &str = "idx_tickets_type";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        add_columns(m, Tickets::Table, vec![text_null(Tickets::TicketType)]).await?;
        m.get_connection()
            .execute_unprepared(
                "UPDATE tickets SET ticket_type = 'HELP_GENERAL' WHERE ticket_type IS NULL",
            )
            .await?;
        index(
            m,
            INDEX,
            Tickets::Table,
            vec![Tickets::TicketType.into_iden()],
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop_index(m, INDEX, Tickets::Table).await?;
        drop_columns(m, Tickets::Table, vec![Tickets::TicketType.into_iden()]).await
    }
}
