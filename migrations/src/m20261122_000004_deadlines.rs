//! Self-enforcing clocks: each ticket's recorded breaches, and the instant its
//! next running deadline passes, indexed so the monitor never scans the table.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tickets {
    Table,
    Breaches,
    NextDeadlineAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        m.alter_table(
            Table::alter()
                .table(Tickets::Table)
                .add_column(ColumnDef::new(Tickets::Breaches).text().null())
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Tickets::Table)
                .add_column(ColumnDef::new(Tickets::NextDeadlineAt).big_integer().null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_tickets_next_deadline")
                .table(Tickets::Table)
                .col(Tickets::NextDeadlineAt)
                .if_not_exists()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("idx_tickets_next_deadline")
                .table(Tickets::Table)
                .to_owned(),
        )
        .await?;
        for c in [Tickets::NextDeadlineAt, Tickets::Breaches] {
            m.alter_table(
                Table::alter()
                    .table(Tickets::Table)
                    .drop_column(c)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
