//! The change feed (commit-ordered) and the offline push log.
//!
//! `feed_state` holds one row. Every writing transaction that changes
//! something bumps `last_seq` as its very last statement before COMMIT and
//! stamps its change rows with the new value; the row lock on `feed_state`
//! is held until COMMIT, so sequence numbers are handed out, and become
//! visible, in commit order. A reader that has seen sequence N can never
//! later find a newly committed row below N.
use crate::columns::*;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum FeedState {
    Table,
    Id,
    LastSeq,
    PurgedSeq,
}

#[derive(DeriveIden)]
enum ChangeLog {
    Table,
    Seq,
    Ordinal,
    EntityType,
    EntityId,
    EntityVersion,
    Unit,
    PrevUnit,
    Owner,
    HiddenFrom,
    Payload,
    CommittedAt,
}

#[derive(DeriveIden)]
enum SyncClients {
    Table,
    ClientId,
    OwnerSub,
    LastMutationId,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ClientMutations {
    Table,
    ClientId,
    MutationId,
    Fingerprint,
    Outcome,
    Response,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(FeedState::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(FeedState::Id)
                        .integer()
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(FeedState::LastSeq)
                        .big_integer()
                        .not_null()
                        .default(0),
                )
                .col(
                    ColumnDef::new(FeedState::PurgedSeq)
                        .big_integer()
                        .not_null()
                        .default(0),
                )
                .to_owned(),
        )
        .await?;
        m.exec_stmt(
            Query::insert()
                .into_table(FeedState::Table)
                .columns([FeedState::Id, FeedState::LastSeq, FeedState::PurgedSeq])
                .values_panic([1.into(), 0.into(), 0.into()])
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(ChangeLog::Table)
                .if_not_exists()
                .col(ColumnDef::new(ChangeLog::Seq).big_integer().not_null())
                .col(ColumnDef::new(ChangeLog::Ordinal).integer().not_null())
                .col(text(ChangeLog::EntityType))
                .col(text(ChangeLog::EntityId))
                .col(
                    ColumnDef::new(ChangeLog::EntityVersion)
                        .big_integer()
                        .not_null(),
                )
                .col(text_null(ChangeLog::Unit))
                .col(text_null(ChangeLog::PrevUnit))
                .col(text_null(ChangeLog::Owner))
                .col(text_null(ChangeLog::HiddenFrom))
                .col(text(ChangeLog::Payload))
                .col(micros(ChangeLog::CommittedAt))
                .primary_key(Index::create().col(ChangeLog::Seq).col(ChangeLog::Ordinal))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "idx_change_log_entity",
            ChangeLog::Table,
            vec![
                ChangeLog::EntityType.into_iden(),
                ChangeLog::EntityId.into_iden(),
                ChangeLog::Seq.into_iden(),
            ],
        )
        .await?;
        index(
            m,
            "idx_change_log_unit",
            ChangeLog::Table,
            vec![ChangeLog::Unit.into_iden(), ChangeLog::Seq.into_iden()],
        )
        .await?;
        index(
            m,
            "idx_change_log_owner",
            ChangeLog::Table,
            vec![ChangeLog::Owner.into_iden(), ChangeLog::Seq.into_iden()],
        )
        .await?;
        index(
            m,
            "idx_change_log_committed",
            ChangeLog::Table,
            vec![ChangeLog::CommittedAt.into_iden()],
        )
        .await?;

        m.create_table(
            Table::create()
                .table(SyncClients::Table)
                .if_not_exists()
                .col(key(SyncClients::ClientId))
                .col(text(SyncClients::OwnerSub))
                .col(
                    ColumnDef::new(SyncClients::LastMutationId)
                        .big_integer()
                        .not_null()
                        .default(0),
                )
                .col(micros(SyncClients::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ClientMutations::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(ClientMutations::ClientId)
                        .string()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(ClientMutations::MutationId)
                        .big_integer()
                        .not_null(),
                )
                .col(text(ClientMutations::Fingerprint))
                .col(text(ClientMutations::Outcome))
                .col(text(ClientMutations::Response))
                .col(micros(ClientMutations::CreatedAt))
                .primary_key(
                    Index::create()
                        .col(ClientMutations::ClientId)
                        .col(ClientMutations::MutationId),
                )
                .to_owned(),
        )
        .await?;
        index(
            m,
            "idx_client_mutations_created",
            ClientMutations::Table,
            vec![ClientMutations::CreatedAt.into_iden()],
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            ClientMutations::Table.into_iden(),
            SyncClients::Table.into_iden(),
            ChangeLog::Table.into_iden(),
            FeedState::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
