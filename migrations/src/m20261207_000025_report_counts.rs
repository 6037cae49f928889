//! The service report's counts kept as the tickets are written (issue 19):
//! per UTC day of receipt and unit, how many tickets add to each figure.
//! Writers only append deltas (no row is updated, so concurrent writers never
//! wait on each other or deadlock); housekeeping folds the deltas into
//! `report_counts`. A report sums both tables over whole days.
use crate::columns::*;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum ReportCounts {
    Table,
    Day,
    Unit,
    Figure,
    Value,
    N,
}

#[derive(DeriveIden, Clone, Copy)]
enum ReportCountDeltas {
    Table,
    Id,
    Day,
    Unit,
    Figure,
    Value,
    N,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        use ReportCountDeltas as D;
        use ReportCounts as C;
        m.create_table(
            Table::create()
                .table(C::Table)
                .if_not_exists()
                .col(micros(C::Day))
                .col(text(C::Unit))
                .col(text(C::Figure))
                .col(text(C::Value))
                .col(micros(C::N))
                .primary_key(
                    Index::create()
                        .col(C::Day)
                        .col(C::Unit)
                        .col(C::Figure)
                        .col(C::Value),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(D::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(D::Id)
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(micros(D::Day))
                .col(text(D::Unit))
                .col(text(D::Figure))
                .col(text(D::Value))
                .col(micros(D::N))
                .to_owned(),
        )
        .await?;
        // Covering: a report reads both tables by a range of days from these
        // indexes alone.
        index(
            m,
            "idx_report_counts_day",
            C::Table,
            vec![
                C::Day.into_iden(),
                C::Unit.into_iden(),
                C::Figure.into_iden(),
                C::Value.into_iden(),
                C::N.into_iden(),
            ],
        )
        .await?;
        index(
            m,
            "idx_report_count_deltas_day",
            D::Table,
            vec![
                D::Day.into_iden(),
                D::Unit.into_iden(),
                D::Figure.into_iden(),
                D::Value.into_iden(),
                D::N.into_iden(),
            ],
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(ReportCountDeltas::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(ReportCounts::Table).to_owned())
            .await
    }
}
