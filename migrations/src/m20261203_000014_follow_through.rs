//! R-TKT-15 and R-SLA-6: referrals from other platforms and the contacts
//! that answer them and the callers. The platform's reference has its own
//! column, unique per platform (a second referral of the same matter is
//! refused) and indexed for search; the referral, the contacts and the
//! contact clocks' deadlines are one JSON document; each new clock has its
//! on-time outcome as a column for the service report.
use crate::columns::{add_columns, drop_columns, drop_index, text_null};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Tickets {
    Table,
    Source,
    PlatformReference,
    FollowUp,
    CallbackOnTime,
    UnitReportOnTime,
    ResultOnTime,
    CallerUpdateOnTime,
    ReferrerUpdateOnTime,
    ReplyOnTime,
}

const UNIQUE_REFERENCE: &str = "uq_tickets_platform_reference";

const ON_TIME: [Tickets; 6] = [
    Tickets::CallbackOnTime,
    Tickets::UnitReportOnTime,
    Tickets::ResultOnTime,
    Tickets::CallerUpdateOnTime,
    Tickets::ReferrerUpdateOnTime,
    Tickets::ReplyOnTime,
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let mut cols = vec![
            text_null(Tickets::PlatformReference),
            text_null(Tickets::FollowUp),
        ];
        cols.extend(ON_TIME.map(|c| ColumnDef::new(c).boolean().null().to_owned()));
        add_columns(m, Tickets::Table, cols).await?;
        // NULL (no reference) is distinct from every value in both databases.
        m.create_index(
            Index::create()
                .name(UNIQUE_REFERENCE)
                .table(Tickets::Table)
                .col(Tickets::Source)
                .col(Tickets::PlatformReference)
                .unique()
                .if_not_exists()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop_index(m, UNIQUE_REFERENCE, Tickets::Table).await?;
        let mut cols = vec![
            Tickets::PlatformReference.into_iden(),
            Tickets::FollowUp.into_iden(),
        ];
        cols.extend(ON_TIME.map(IntoIden::into_iden));
        drop_columns(m, Tickets::Table, cols).await
    }
}
