//! What happened, on the change feed: each change names the trail event
//! that made the entity's new state (its kind, actor, role and reference),
//! and the staff members it newly keeps the entity from (R-TKT-13: they get
//! a tombstone of it). Nullable: changes logged before name none.
use crate::columns::*;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum ChangeLog {
    Table,
    Kind,
    Actor,
    ActorRole,
    Event,
    NewlyHidden,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        add_columns(
            m,
            ChangeLog::Table,
            vec![
                text_null(ChangeLog::Kind),
                text_null(ChangeLog::Actor),
                text_null(ChangeLog::ActorRole),
                text_null(ChangeLog::Event),
                text_null(ChangeLog::NewlyHidden),
            ],
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop_columns(
            m,
            ChangeLog::Table,
            vec![
                ChangeLog::Kind.into_iden(),
                ChangeLog::Actor.into_iden(),
                ChangeLog::ActorRole.into_iden(),
                ChangeLog::Event.into_iden(),
                ChangeLog::NewlyHidden.into_iden(),
            ],
        )
        .await
    }
}
