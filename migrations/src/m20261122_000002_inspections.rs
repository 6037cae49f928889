//! Inspection visits and their room readings (R-TMP-*), the cold-household
//! archive (R-TMP-10), meter readings and exchanges (R-MTR-*), and a general
//! append-only audit trail for records other than tickets (R-TKT-12 spirit).
use crate::columns::*;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Inspections {
    Table,
    Id,
    Version,
    State,
    HouseholdId,
    Address,
    DwellingKey,
    TicketId,
    Inspector,
    Unit,
    Facts,
    ResidentName,
    ResidentPhone,
    Verdict,
    Result,
    SignOff,
    ObjectionTicketId,
    CreatedAt,
    UpdatedAt,
    FinishedAt,
}

#[derive(DeriveIden)]
enum RoomReadings {
    Table,
    Id,
    InspectionId,
    RoomName,
    RoomType,
    Measurement,
    Verdict,
    Result,
    ReceivedAt,
}

#[derive(DeriveIden)]
enum ColdHouseholds {
    Table,
    DwellingKey,
    HouseholdId,
    Address,
    Unit,
    Active,
    LastVerdict,
    LastInspectionId,
    LastVisitAt,
    FirstNonCompliantAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum MeterReadings {
    Table,
    Id,
    Version,
    MeterId,
    Value,
    Unit,
    ReadAt,
    Inspector,
    Rollback,
    ReceivedAt,
}

#[derive(DeriveIden)]
enum MeterExchanges {
    Table,
    Id,
    MeterId,
    OldSerial,
    NewSerial,
    OldFinalValue,
    NewInitialValue,
    Unit,
    ExchangedAt,
    ReaderPresent,
    CustomerPresent,
    Flagged,
    Inspector,
    ReceivedAt,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Sequence,
    EntityType,
    EntityId,
    EntityVersion,
    Kind,
    ActorSub,
    ActorRole,
    ActorUnit,
    DeviceId,
    RequestId,
    ReceivedAt,
    Details,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Inspections::Table)
                .if_not_exists()
                .col(key(Inspections::Id))
                .col(
                    ColumnDef::new(Inspections::Version)
                        .big_integer()
                        .not_null(),
                )
                .col(text(Inspections::State))
                .col(text_null(Inspections::HouseholdId))
                .col(text_null(Inspections::Address))
                .col(text(Inspections::DwellingKey))
                .col(text_null(Inspections::TicketId))
                .col(text(Inspections::Inspector))
                .col(text(Inspections::Unit))
                .col(text(Inspections::Facts))
                .col(text(Inspections::ResidentName))
                .col(text(Inspections::ResidentPhone))
                .col(text(Inspections::Verdict))
                .col(text(Inspections::Result))
                .col(text_null(Inspections::SignOff))
                .col(text_null(Inspections::ObjectionTicketId))
                .col(micros(Inspections::CreatedAt))
                .col(micros(Inspections::UpdatedAt))
                .col(micros_null(Inspections::FinishedAt))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "idx_inspections_created",
            Inspections::Table,
            vec![
                Inspections::CreatedAt.into_iden(),
                Inspections::Id.into_iden(),
            ],
        )
        .await?;
        index(
            m,
            "idx_inspections_ticket",
            Inspections::Table,
            vec![Inspections::TicketId.into_iden()],
        )
        .await?;
        index(
            m,
            "idx_inspections_dwelling",
            Inspections::Table,
            vec![Inspections::DwellingKey.into_iden()],
        )
        .await?;
        index(
            m,
            "idx_inspections_inspector",
            Inspections::Table,
            vec![Inspections::Inspector.into_iden()],
        )
        .await?;

        m.create_table(
            Table::create()
                .table(RoomReadings::Table)
                .if_not_exists()
                .col(key(RoomReadings::Id))
                .col(text(RoomReadings::InspectionId))
                .col(text(RoomReadings::RoomName))
                .col(text(RoomReadings::RoomType))
                .col(text(RoomReadings::Measurement))
                .col(text(RoomReadings::Verdict))
                .col(text(RoomReadings::Result))
                .col(micros(RoomReadings::ReceivedAt))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "idx_room_readings_inspection",
            RoomReadings::Table,
            vec![RoomReadings::InspectionId.into_iden()],
        )
        .await?;

        m.create_table(
            Table::create()
                .table(ColdHouseholds::Table)
                .if_not_exists()
                .col(key(ColdHouseholds::DwellingKey))
                .col(text_null(ColdHouseholds::HouseholdId))
                .col(text_null(ColdHouseholds::Address))
                .col(text(ColdHouseholds::Unit))
                .col(flag(ColdHouseholds::Active))
                .col(text(ColdHouseholds::LastVerdict))
                .col(text(ColdHouseholds::LastInspectionId))
                .col(micros(ColdHouseholds::LastVisitAt))
                .col(micros(ColdHouseholds::FirstNonCompliantAt))
                .col(micros(ColdHouseholds::UpdatedAt))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "idx_cold_households_active",
            ColdHouseholds::Table,
            vec![
                ColdHouseholds::Active.into_iden(),
                ColdHouseholds::LastVisitAt.into_iden(),
            ],
        )
        .await?;

        m.create_table(
            Table::create()
                .table(MeterReadings::Table)
                .if_not_exists()
                .col(key(MeterReadings::Id))
                .col(
                    ColumnDef::new(MeterReadings::Version)
                        .big_integer()
                        .not_null(),
                )
                .col(text(MeterReadings::MeterId))
                .col(double(MeterReadings::Value))
                .col(text(MeterReadings::Unit))
                .col(micros(MeterReadings::ReadAt))
                .col(text(MeterReadings::Inspector))
                .col(flag(MeterReadings::Rollback))
                .col(micros(MeterReadings::ReceivedAt))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "idx_meter_readings_meter",
            MeterReadings::Table,
            vec![
                MeterReadings::MeterId.into_iden(),
                MeterReadings::ReadAt.into_iden(),
            ],
        )
        .await?;

        m.create_table(
            Table::create()
                .table(MeterExchanges::Table)
                .if_not_exists()
                .col(key(MeterExchanges::Id))
                .col(text(MeterExchanges::MeterId))
                .col(text(MeterExchanges::OldSerial))
                .col(text(MeterExchanges::NewSerial))
                .col(double(MeterExchanges::OldFinalValue))
                .col(double(MeterExchanges::NewInitialValue))
                .col(text(MeterExchanges::Unit))
                .col(micros(MeterExchanges::ExchangedAt))
                .col(flag(MeterExchanges::ReaderPresent))
                .col(flag(MeterExchanges::CustomerPresent))
                .col(flag(MeterExchanges::Flagged))
                .col(text(MeterExchanges::Inspector))
                .col(micros(MeterExchanges::ReceivedAt))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "idx_meter_exchanges_meter",
            MeterExchanges::Table,
            vec![
                MeterExchanges::MeterId.into_iden(),
                MeterExchanges::ExchangedAt.into_iden(),
            ],
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AuditEvents::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(AuditEvents::Sequence)
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(text(AuditEvents::EntityType))
                .col(text(AuditEvents::EntityId))
                .col(
                    ColumnDef::new(AuditEvents::EntityVersion)
                        .big_integer()
                        .not_null(),
                )
                .col(text(AuditEvents::Kind))
                .col(text(AuditEvents::ActorSub))
                .col(text(AuditEvents::ActorRole))
                .col(text(AuditEvents::ActorUnit))
                .col(text_null(AuditEvents::DeviceId))
                .col(text_null(AuditEvents::RequestId))
                .col(micros(AuditEvents::ReceivedAt))
                .col(text(AuditEvents::Details))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "idx_audit_events_entity",
            AuditEvents::Table,
            vec![
                AuditEvents::EntityType.into_iden(),
                AuditEvents::EntityId.into_iden(),
                AuditEvents::Sequence.into_iden(),
            ],
        )
        .await?;

        let db = m.get_connection();
        match m.get_database_backend() {
            DbBackend::Sqlite => {
                for op in ["UPDATE", "DELETE"] {
                    db.execute_unprepared(&format!(
                        "CREATE TRIGGER IF NOT EXISTS audit_events_no_{op} BEFORE {op} ON audit_events \
                         BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;"
                    ))
                    .await?;
                }
            }
            DbBackend::Postgres => {
                db.execute_unprepared(
                    "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events \
                     FOR EACH ROW EXECUTE FUNCTION fieldops_append_only();",
                )
                .await?;
            }
            _ => {}
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            AuditEvents::Table.into_iden(),
            MeterExchanges::Table.into_iden(),
            MeterReadings::Table.into_iden(),
            ColdHouseholds::Table.into_iden(),
            RoomReadings::Table.into_iden(),
            Inspections::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
