//! Supply interruptions (DOMAIN.md section 6): one row per outage. The whole
//! record (area, valves, estimates, notices, breaches) is a JSON document;
//! the columns beside it are what queries filter, order and aggregate on:
//! the monitor's next deadline, the window an intake or a visit is matched
//! against, and the clock outcomes the service report sums (R-OUT-7).
//! Tickets gain the outage a call is linked to (R-OUT-5).
use crate::columns::*;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Outages {
    Table,
    Id,
    Version,
    Kind,
    State,
    Unit,
    Households,
    StartedAt,
    RestoredAt,
    InForceFrom,
    InForceUntil,
    NextDeadlineAt,
    ReportedAt,
    UpdatedAt,
    EscalationLevel,
    ReportsOnTime,
    ReportsLate,
    NoticesOnTime,
    NoticesLate,
    EstimatesKept,
    EstimatesMissed,
    Body,
}

#[derive(DeriveIden, Clone, Copy)]
enum Tickets {
    Table,
    OutageId,
}

const DEADLINE: &str = "idx_outages_next_deadline";
const IN_FORCE: &str = "idx_outages_in_force";
const STARTED: &str = "idx_outages_started";
const TICKET_OUTAGE: &str = "idx_tickets_outage";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Outages::Table)
                .if_not_exists()
                .col(key(Outages::Id))
                .col(micros(Outages::Version))
                .col(text(Outages::Kind))
                .col(text(Outages::State))
                .col(text(Outages::Unit))
                .col(micros(Outages::Households))
                .col(micros_null(Outages::StartedAt))
                .col(micros_null(Outages::RestoredAt))
                .col(micros_null(Outages::InForceFrom))
                .col(micros_null(Outages::InForceUntil))
                .col(micros_null(Outages::NextDeadlineAt))
                .col(micros(Outages::ReportedAt))
                .col(micros(Outages::UpdatedAt))
                .col(int(Outages::EscalationLevel))
                .col(int(Outages::ReportsOnTime))
                .col(int(Outages::ReportsLate))
                .col(int(Outages::NoticesOnTime))
                .col(int(Outages::NoticesLate))
                .col(int(Outages::EstimatesKept))
                .col(int(Outages::EstimatesMissed))
                .col(text(Outages::Body))
                .to_owned(),
        )
        .await?;
        let t = Outages::Table;
        index(m, DEADLINE, t, vec![Outages::NextDeadlineAt.into_iden()]).await?;
        let window = vec![
            Outages::InForceUntil.into_iden(),
            Outages::InForceFrom.into_iden(),
        ];
        index(m, IN_FORCE, t, window).await?;
        index(m, STARTED, t, vec![Outages::StartedAt.into_iden()]).await?;
        add_columns(m, Tickets::Table, vec![text_null(Tickets::OutageId)]).await?;
        index(
            m,
            TICKET_OUTAGE,
            Tickets::Table,
            vec![Tickets::OutageId.into_iden()],
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop_index(m, TICKET_OUTAGE, Tickets::Table).await?;
        drop_columns(m, Tickets::Table, vec![Tickets::OutageId.into_iden()]).await?;
        m.drop_table(Table::drop().table(Outages::Table).if_exists().to_owned())
            .await
    }
}
