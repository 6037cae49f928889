//! R-TKT-13 recusal: the staff members a ticket is kept away from (the one
//! a complaint concerns and those recused for a conflict of interest), in
//! the encoding the change feed's `hidden_from` uses, so ticket lists filter
//! by it as the feed does. Existing complaints about a staff member are
//! backfilled from `subject_staff_id`.
use crate::columns::{add_columns, drop_columns, text_null};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Tickets {
    Table,
    HiddenFrom,
    SubjectStaffId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        add_columns(m, Tickets::Table, vec![text_null(Tickets::HiddenFrom)]).await?;
        let backfill = Query::update()
            .table(Tickets::Table)
            .value(Tickets::HiddenFrom, Expr::col(Tickets::SubjectStaffId))
            .and_where(Expr::col(Tickets::SubjectStaffId).is_not_null())
            .to_owned();
        m.exec_stmt(backfill).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop_columns(m, Tickets::Table, vec![Tickets::HiddenFrom.into_iden()]).await
    }
}
