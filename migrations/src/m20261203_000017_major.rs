//! R-TKT-17: the on-time outcomes of a major matter's clocks (the daily
//! report to the leadership, the leader's deadline) for the service report.
//! The flag itself lives in the ticket's follow-up document.
use crate::columns::{add_columns, drop_columns};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Tickets {
    Table,
    LeadershipOnTime,
    InstructionOnTime,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let cols = [Tickets::LeadershipOnTime, Tickets::InstructionOnTime]
            .map(|c| ColumnDef::new(c).boolean().null().to_owned())
            .to_vec();
        add_columns(m, Tickets::Table, cols).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let cols = [Tickets::LeadershipOnTime, Tickets::InstructionOnTime];
        drop_columns(m, Tickets::Table, cols.map(IntoIden::into_iden).to_vec()).await
    }
}
