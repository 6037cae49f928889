//! R-REC-1: evidence attachments. The database holds what is known about
//! each file (its subject, kind, size, SHA-256, who uploaded it) and, while
//! an upload is under way, where its stored parts are; the bytes live in
//! the object store (the data directory, or S3-compatible storage).
//!
//! `received_bytes` is the resume point. A chunk is stored as its own
//! object first, then recorded with a compare-and-set on `received_bytes`
//! together with its part row, so two streams of one upload (a handheld
//! that reconnected before the first stream died) never tile the file
//! twice: the loser's part is dropped.
use crate::columns::*;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Attachments {
    Table,
    Id,
    SubjectType,
    SubjectId,
    Kind,
    MediaType,
    SizeBytes,
    Sha256,
    FileName,
    Caption,
    TakenAt,
    DeviceId,
    UploadedBy,
    UploaderRole,
    ReceivedBytes,
    CreatedAt,
    CompletedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum AttachmentParts {
    Table,
    AttachmentId,
    Offset,
    Length,
    ObjectKey,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        use Attachments as A;
        m.create_table(
            Table::create()
                .table(A::Table)
                .if_not_exists()
                .col(key(A::Id))
                .col(text(A::SubjectType))
                .col(text(A::SubjectId))
                .col(text(A::Kind))
                .col(text(A::MediaType))
                .col(micros(A::SizeBytes))
                .col(text(A::Sha256))
                .col(text(A::FileName))
                .col(text(A::Caption))
                .col(micros_null(A::TakenAt))
                .col(text_null(A::DeviceId))
                .col(text(A::UploadedBy))
                .col(text(A::UploaderRole))
                .col(micros(A::ReceivedBytes))
                .col(micros(A::CreatedAt))
                .col(micros_null(A::CompletedAt))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "idx_attachments_subject",
            A::Table,
            vec![
                A::SubjectType.into_iden(),
                A::SubjectId.into_iden(),
                A::CreatedAt.into_iden(),
            ],
        )
        .await?;
        use AttachmentParts as P;
        m.create_table(
            Table::create()
                .table(P::Table)
                .if_not_exists()
                .col(text(P::AttachmentId))
                .col(micros(P::Offset))
                .col(micros(P::Length))
                .col(text(P::ObjectKey))
                .primary_key(Index::create().col(P::AttachmentId).col(P::Offset))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            AttachmentParts::Table.into_iden(),
            Attachments::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
