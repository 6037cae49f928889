//! R-TKT-16 and R-RPT-2: how often a ticket was suspended (the report counts
//! suspensions) and the administrative district of its address (the report
//! and the search break down by it), with an index for the district filter.
use crate::columns::{add_columns, drop_columns, drop_index, index, int, text_null};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Tickets {
    Table,
    Suspensions,
    District,
    Id,
}

const DISTRICT_INDEX: &str = "idx_tickets_district";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let cols = vec![int(Tickets::Suspensions), text_null(Tickets::District)];
        add_columns(m, Tickets::Table, cols).await?;
        let cols = vec![Tickets::District.into_iden(), Tickets::Id.into_iden()];
        index(m, DISTRICT_INDEX, Tickets::Table, cols).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop_index(m, DISTRICT_INDEX, Tickets::Table).await?;
        let cols = [Tickets::District, Tickets::Suspensions];
        drop_columns(m, Tickets::Table, cols.map(IntoIden::into_iden).to_vec()).await
    }
}
