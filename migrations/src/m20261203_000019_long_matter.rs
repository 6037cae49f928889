//! R-SLA-6: the on-time outcome of the 7-day clock (resolved, or a
//! supervisor's approval to take longer, within 7 days of the call) for the
//! service report.
use crate::columns::{add_columns, drop_columns};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Tickets {
    Table,
    LongMatterOnTime,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let col = ColumnDef::new(Tickets::LongMatterOnTime)
            .boolean()
            .null()
            .to_owned();
        add_columns(m, Tickets::Table, vec![col]).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let cols = vec![Tickets::LongMatterOnTime.into_iden()];
        drop_columns(m, Tickets::Table, cols).await
    }
}
