//! R-REC-3: when a retention run cleared a record's personal data. The
//! indexes let a run find the records due (not cleared, finished before the
//! cutoff) without reading every record.
use crate::columns::*;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Tickets {
    Table,
    PersonalDataRemovedAt,
    LastEventAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Inspections {
    Table,
    PersonalDataRemovedAt,
    FinishedAt,
}

const TICKETS_DUE: &str = "idx_tickets_retention";
const INSPECTIONS_DUE: &str = "idx_inspections_retention";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        add_columns(
            m,
            Tickets::Table,
            vec![micros_null(Tickets::PersonalDataRemovedAt)],
        )
        .await?;
        add_columns(
            m,
            Inspections::Table,
            vec![micros_null(Inspections::PersonalDataRemovedAt)],
        )
        .await?;
        let cols = vec![
            Tickets::PersonalDataRemovedAt.into_iden(),
            Tickets::LastEventAt.into_iden(),
        ];
        index(m, TICKETS_DUE, Tickets::Table, cols).await?;
        let cols = vec![
            Inspections::PersonalDataRemovedAt.into_iden(),
            Inspections::FinishedAt.into_iden(),
        ];
        index(m, INSPECTIONS_DUE, Inspections::Table, cols).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop_index(m, TICKETS_DUE, Tickets::Table).await?;
        drop_index(m, INSPECTIONS_DUE, Inspections::Table).await?;
        drop_columns(
            m,
            Tickets::Table,
            vec![Tickets::PersonalDataRemovedAt.into_iden()],
        )
        .await?;
        drop_columns(
            m,
            Inspections::Table,
            vec![Inspections::PersonalDataRemovedAt.into_iden()],
        )
        .await
    }
}
