//! R-TKT-11: the normalised address a repeat repair is matched on, the link
//! to the earlier repair, and the index that finds it.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tickets {
    Table,
    Category,
    AddressKey,
    ResolvedAt,
    RepeatOf,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for col in [Tickets::AddressKey, Tickets::RepeatOf] {
            m.alter_table(
                Table::alter()
                    .table(Tickets::Table)
                    .add_column(ColumnDef::new(col).text().null())
                    .to_owned(),
            )
            .await?;
        }
        m.create_index(
            Index::create()
                .name("idx_tickets_repeat")
                .table(Tickets::Table)
                .col(Tickets::Category)
                .col(Tickets::AddressKey)
                .col(Tickets::ResolvedAt)
                .if_not_exists()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("idx_tickets_repeat")
                .table(Tickets::Table)
                .to_owned(),
        )
        .await?;
        for col in [Tickets::RepeatOf, Tickets::AddressKey] {
            m.alter_table(
                Table::alter()
                    .table(Tickets::Table)
                    .drop_column(col)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
