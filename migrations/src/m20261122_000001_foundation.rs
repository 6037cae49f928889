//! Units, tickets, the append-only ticket audit trail (R-TKT-12) and the
//! idempotency records of mutating requests (AIP-155).
use crate::columns::*;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Units {
    Table,
    Id,
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Tickets {
    Table,
    Id,
    Version,
    State,
    Category,
    Priority,
    Profile,
    Source,
    CallerName,
    CallerPhone,
    Address,
    Latitude,
    Longitude,
    Content,
    ReceivedBy,
    ReceivedAt,
    SubjectStaffId,
    Unit,
    Assignee,
    CreatedAt,
    UpdatedAt,
    DispatchedAt,
    ClaimedAt,
    ArrivedAt,
    ResolvedAt,
    ClosedAt,
    AcceptBy,
    ArriveBy,
    ResolveBy,
    RevisitBy,
    AppointmentAt,
    EscalationLevel,
    ReturnCount,
    SupervisionCount,
    Breached,
    Arrival,
    Resolution,
    RevisitOutcome,
    Extension,
    ExtendedBySecs,
    LastEventAt,
}

#[derive(DeriveIden)]
enum TicketEvents {
    Table,
    Sequence,
    TicketId,
    TicketVersion,
    Kind,
    ActorSub,
    ActorRole,
    ActorUnit,
    DeviceId,
    RequestId,
    OccurredAt,
    EffectiveAt,
    ReceivedAt,
    TimeUntrusted,
    FromState,
    ToState,
    Details,
}

#[derive(DeriveIden)]
enum IdempotencyRecords {
    Table,
    RequestId,
    CallerSub,
    Method,
    Fingerprint,
    Response,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Units::Table)
                .if_not_exists()
                .col(ColumnDef::new(Units::Id).string().not_null().primary_key())
                .col(text(Units::Name))
                .col(micros(Units::CreatedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Tickets::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(Tickets::Id)
                        .string()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(Tickets::Version).big_integer().not_null())
                .col(text(Tickets::State))
                .col(text(Tickets::Category))
                .col(text(Tickets::Priority))
                .col(text(Tickets::Profile))
                .col(text(Tickets::Source))
                .col(text(Tickets::CallerName))
                .col(text(Tickets::CallerPhone))
                .col(text(Tickets::Address))
                .col(ColumnDef::new(Tickets::Latitude).double().null())
                .col(ColumnDef::new(Tickets::Longitude).double().null())
                .col(text(Tickets::Content))
                .col(text(Tickets::ReceivedBy))
                .col(micros(Tickets::ReceivedAt))
                .col(text_null(Tickets::SubjectStaffId))
                .col(text_null(Tickets::Unit))
                .col(text_null(Tickets::Assignee))
                .col(micros(Tickets::CreatedAt))
                .col(micros(Tickets::UpdatedAt))
                .col(micros_null(Tickets::DispatchedAt))
                .col(micros_null(Tickets::ClaimedAt))
                .col(micros_null(Tickets::ArrivedAt))
                .col(micros_null(Tickets::ResolvedAt))
                .col(micros_null(Tickets::ClosedAt))
                .col(micros_null(Tickets::AcceptBy))
                .col(micros_null(Tickets::ArriveBy))
                .col(micros_null(Tickets::ResolveBy))
                .col(micros_null(Tickets::RevisitBy))
                .col(micros_null(Tickets::AppointmentAt))
                .col(int(Tickets::EscalationLevel))
                .col(int(Tickets::ReturnCount))
                .col(int(Tickets::SupervisionCount))
                .col(
                    ColumnDef::new(Tickets::Breached)
                        .boolean()
                        .not_null()
                        .default(false),
                )
                .col(text_null(Tickets::Arrival))
                .col(text_null(Tickets::Resolution))
                .col(text_null(Tickets::RevisitOutcome))
                .col(text_null(Tickets::Extension))
                .col(
                    ColumnDef::new(Tickets::ExtendedBySecs)
                        .big_integer()
                        .not_null()
                        .default(0),
                )
                .col(micros(Tickets::LastEventAt))
                .to_owned(),
        )
        .await?;
        for (name, cols) in [
            (
                "idx_tickets_unit_state",
                vec![Tickets::Unit, Tickets::State],
            ),
            ("idx_tickets_assignee", vec![Tickets::Assignee]),
            ("idx_tickets_state", vec![Tickets::State]),
            ("idx_tickets_updated_at", vec![Tickets::UpdatedAt]),
        ] {
            let mut idx = Index::create();
            idx.name(name).table(Tickets::Table).if_not_exists();
            for c in cols {
                idx.col(c);
            }
            m.create_index(idx.to_owned()).await?;
        }

        m.create_table(
            Table::create()
                .table(TicketEvents::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(TicketEvents::Sequence)
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(text(TicketEvents::TicketId))
                .col(
                    ColumnDef::new(TicketEvents::TicketVersion)
                        .big_integer()
                        .not_null(),
                )
                .col(text(TicketEvents::Kind))
                .col(text(TicketEvents::ActorSub))
                .col(text(TicketEvents::ActorRole))
                .col(text(TicketEvents::ActorUnit))
                .col(text_null(TicketEvents::DeviceId))
                .col(text_null(TicketEvents::RequestId))
                .col(micros_null(TicketEvents::OccurredAt))
                .col(micros(TicketEvents::EffectiveAt))
                .col(micros(TicketEvents::ReceivedAt))
                .col(
                    ColumnDef::new(TicketEvents::TimeUntrusted)
                        .boolean()
                        .not_null()
                        .default(false),
                )
                .col(text_null(TicketEvents::FromState))
                .col(text(TicketEvents::ToState))
                .col(text(TicketEvents::Details))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_ticket_events_ticket")
                .table(TicketEvents::Table)
                .col(TicketEvents::TicketId)
                .col(TicketEvents::Sequence)
                .if_not_exists()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(IdempotencyRecords::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(IdempotencyRecords::RequestId)
                        .string()
                        .not_null()
                        .primary_key(),
                )
                .col(text(IdempotencyRecords::CallerSub))
                .col(text(IdempotencyRecords::Method))
                .col(text(IdempotencyRecords::Fingerprint))
                .col(text_null(IdempotencyRecords::Response))
                .col(micros(IdempotencyRecords::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_idempotency_created_at")
                .table(IdempotencyRecords::Table)
                .col(IdempotencyRecords::CreatedAt)
                .if_not_exists()
                .to_owned(),
        )
        .await?;

        // R-TKT-12: the audit trail is append-only, enforced by the database itself.
        let db = m.get_connection();
        match m.get_database_backend() {
            DbBackend::Sqlite => {
                db.execute_unprepared(
                    "CREATE TRIGGER IF NOT EXISTS ticket_events_no_update BEFORE UPDATE ON ticket_events \
                     BEGIN SELECT RAISE(ABORT, 'ticket_events is append-only (R-TKT-12)'); END;",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER IF NOT EXISTS ticket_events_no_delete BEFORE DELETE ON ticket_events \
                     BEGIN SELECT RAISE(ABORT, 'ticket_events is append-only (R-TKT-12)'); END;",
                )
                .await?;
            }
            DbBackend::Postgres => {
                db.execute_unprepared(
                    "CREATE OR REPLACE FUNCTION fieldops_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ \
                     BEGIN RAISE EXCEPTION '% is append-only (R-TKT-12)', TG_TABLE_NAME; END $$;",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER ticket_events_append_only BEFORE UPDATE OR DELETE ON ticket_events \
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
            IdempotencyRecords::Table.into_iden(),
            TicketEvents::Table.into_iden(),
            Tickets::Table.into_iden(),
            Units::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
