//! Issue 5: the feedback and supervision clocks (R-SLA-6, R-TKT-10), the
//! redo count, pipe diameter (R-SLA-4), each clock's on-time outcome as a
//! column the service report aggregates (R-RPT-1), and the indexes that keep
//! the report and the repeat-complaint lookup off a table scan.
use crate::columns::{
    add_columns, drop_columns, drop_index, flag, index, int, micros_null, text_null,
};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Tickets {
    Table,
    Category,
    AddressKey,
    ReceivedAt,
    FeedbackBy,
    SuperviseBy,
    RedoCount,
    PipeDiameterMm,
    Complex,
    Supervision,
    ClockStops,
    CallerKey,
    PromisedResolveBy,
    AcceptOnTime,
    ArriveOnTime,
    ResolveOnTime,
    RevisitOnTime,
    FeedbackOnTime,
    SupervisionOnTime,
}

#[derive(DeriveIden, Clone, Copy)]
enum Inspections {
    Table,
    FinishedAt,
}

const ON_TIME: [Tickets; 6] = [
    Tickets::AcceptOnTime,
    Tickets::ArriveOnTime,
    Tickets::ResolveOnTime,
    Tickets::RevisitOnTime,
    Tickets::FeedbackOnTime,
    Tickets::SupervisionOnTime,
];

fn new_columns() -> Vec<ColumnDef> {
    let mut cols = vec![
        micros_null(Tickets::FeedbackBy),
        micros_null(Tickets::SuperviseBy),
        micros_null(Tickets::PromisedResolveBy),
        int(Tickets::RedoCount),
        ColumnDef::new(Tickets::PipeDiameterMm)
            .integer()
            .null()
            .to_owned(),
        flag(Tickets::Complex),
        text_null(Tickets::Supervision),
        text_null(Tickets::ClockStops),
        text_null(Tickets::CallerKey),
    ];
    // NULL: the clock has not concluded (or never ran).
    cols.extend(ON_TIME.map(|c| ColumnDef::new(c).boolean().null().to_owned()));
    cols
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        add_columns(m, Tickets::Table, new_columns()).await?;
        index(
            m,
            "idx_tickets_received",
            Tickets::Table,
            vec![Tickets::ReceivedAt.into_iden()],
        )
        .await?;
        index(
            m,
            "idx_tickets_complaints",
            Tickets::Table,
            vec![
                Tickets::Category.into_iden(),
                Tickets::AddressKey.into_iden(),
                Tickets::CallerKey.into_iden(),
                Tickets::ReceivedAt.into_iden(),
            ],
        )
        .await?;
        index(
            m,
            "idx_inspections_finished",
            Inspections::Table,
            vec![Inspections::FinishedAt.into_iden()],
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop_index(m, "idx_inspections_finished", Inspections::Table).await?;
        drop_index(m, "idx_tickets_complaints", Tickets::Table).await?;
        drop_index(m, "idx_tickets_received", Tickets::Table).await?;
        let names = new_columns()
            .iter()
            .map(|c| c.get_column_name())
            .collect::<Vec<_>>();
        let cols = names
            .into_iter()
            .map(|n| Alias::new(n).into_iden())
            .collect();
        drop_columns(m, Tickets::Table, cols).await
    }
}
