//! R-TKT-1: the caller's organisation and how the caller wants to hear back,
//! and the forwarding clock of a ticket recorded outside dispatch (its
//! deadline, and its on-time outcome for the service report).
use crate::columns::{add_columns, drop_columns, micros_null, text_null};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Tickets {
    Table,
    CallerOrganisation,
    FeedbackMethod,
    ForwardBy,
    ForwardOnTime,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let cols = vec![
            text_null(Tickets::CallerOrganisation),
            text_null(Tickets::FeedbackMethod),
            micros_null(Tickets::ForwardBy),
            ColumnDef::new(Tickets::ForwardOnTime)
                .boolean()
                .null()
                .to_owned(),
        ];
        add_columns(m, Tickets::Table, cols).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let cols = [
            Tickets::ForwardOnTime,
            Tickets::ForwardBy,
            Tickets::FeedbackMethod,
            Tickets::CallerOrganisation,
        ];
        drop_columns(m, Tickets::Table, cols.map(IntoIden::into_iden).to_vec()).await
    }
}
