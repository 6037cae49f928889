//! Assessment items (DOMAIN.md section 8, R-ASM-1..4): one row per item,
//! unique per cause so that however often and by whichever instance a
//! cause is seen, one item is raised. The figures are copied from the
//! policy when the item is raised. The monthly sheet is one grouped pass
//! over a month's rows: the covering index on (occurred_at, unit, person,
//! reward, status, figures) answers it without touching the table.
use crate::columns::*;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum AssessmentItems {
    Table,
    Id,
    Version,
    CauseKey,
    Kind,
    Reward,
    Unit,
    Person,
    HiddenFrom,
    TicketId,
    OutageId,
    CauseVersion,
    OccurredAt,
    RaisedAt,
    Points,
    UnitYuan,
    PersonYuan,
    Status,
    Body,
}

const CAUSE: &str = "idx_assessment_items_cause";
const SHEET: &str = "idx_assessment_items_sheet";
const UNIT: &str = "idx_assessment_items_unit";
const PERSON: &str = "idx_assessment_items_person";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        use AssessmentItems as A;
        m.create_table(
            Table::create()
                .table(A::Table)
                .if_not_exists()
                .col(key(A::Id))
                .col(micros(A::Version))
                .col(text(A::CauseKey))
                .col(text(A::Kind))
                .col(flag(A::Reward))
                .col(text(A::Unit))
                .col(text_null(A::Person))
                .col(text_null(A::HiddenFrom))
                .col(text_null(A::TicketId))
                .col(text_null(A::OutageId))
                .col(micros(A::CauseVersion))
                .col(micros(A::OccurredAt))
                .col(micros(A::RaisedAt))
                .col(int(A::Points))
                .col(micros(A::UnitYuan))
                .col(micros(A::PersonYuan))
                .col(text(A::Status))
                .col(text(A::Body))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name(CAUSE)
                .table(A::Table)
                .col(A::CauseKey)
                .unique()
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        let sheet = [
            A::OccurredAt,
            A::Unit,
            A::Person,
            A::Reward,
            A::Status,
            A::Points,
            A::UnitYuan,
            A::PersonYuan,
        ];
        index(m, SHEET, A::Table, sheet.map(IntoIden::into_iden).to_vec()).await?;
        let unit = vec![A::Unit.into_iden(), A::Id.into_iden()];
        index(m, UNIT, A::Table, unit).await?;
        let person = vec![A::Person.into_iden(), A::Id.into_iden()];
        index(m, PERSON, A::Table, person).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(
            Table::drop()
                .table(AssessmentItems::Table)
                .if_exists()
                .to_owned(),
        )
        .await
    }
}
