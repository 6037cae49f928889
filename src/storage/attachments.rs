//! Attachments' metadata and upload progress (R-REC-1). The bytes are in
//! `objects`; see the attachments migration for the compare-and-set that
//! keeps two streams of one upload from tiling the file twice.
use super::entities::{attachment_parts, attachments};
use super::{db_err, from_micros, to_micros};
use crate::domain::attachment::{Attachment, Header, Kind, MediaType, SubjectType};
use crate::error::{AppError, AppResult};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    sea_query::OnConflict,
};
use uuid::Uuid;

fn corrupt(what: &str, v: &str) -> AppError {
    AppError::internal(anyhow::anyhow!("stored attachment has a bad {what}: {v:?}"))
}

fn from_model(m: attachments::Model) -> AppResult<Attachment> {
    let id = |s: &str, what| Uuid::parse_str(s).map_err(|_| corrupt(what, s));
    Ok(Attachment {
        header: Header {
            id: id(&m.id, "id")?,
            subject_type: SubjectType::parse(&m.subject_type)
                .ok_or_else(|| corrupt("subject type", &m.subject_type))?,
            subject_id: id(&m.subject_id, "subject id")?,
            kind: Kind::parse(&m.kind).ok_or_else(|| corrupt("kind", &m.kind))?,
            media_type: MediaType::parse(&m.media_type)
                .ok_or_else(|| corrupt("media type", &m.media_type))?,
            size: m.size_bytes,
            sha256: m.sha256,
            file_name: m.file_name,
            caption: m.caption,
            taken_at: m.taken_at.map(from_micros),
            device_id: m.device_id,
        },
        uploaded_by: m.uploaded_by,
        uploader_role: m.uploader_role,
        received: m.received_bytes,
        created_at: from_micros(m.created_at),
        completed_at: m.completed_at.map(from_micros),
    })
}

/// Record a new upload; an id that exists already keeps its row. The row
/// as stored either way.
pub async fn begin<C: ConnectionTrait>(
    db: &C,
    h: &Header,
    uploaded_by: &str,
    role: &str,
    now: DateTime<Utc>,
) -> AppResult<Attachment> {
    let am = attachments::Model {
        id: h.id.to_string(),
        subject_type: h.subject_type.as_str().to_string(),
        subject_id: h.subject_id.to_string(),
        kind: h.kind.as_str().to_string(),
        media_type: h.media_type.as_str().to_string(),
        size_bytes: h.size,
        sha256: h.sha256.clone(),
        file_name: h.file_name.clone(),
        caption: h.caption.clone(),
        taken_at: h.taken_at.map(to_micros),
        device_id: h.device_id.clone(),
        uploaded_by: uploaded_by.to_string(),
        uploader_role: role.to_string(),
        received_bytes: 0,
        created_at: to_micros(now),
        completed_at: None,
    }
    .into_active_model();
    attachments::Entity::insert(am)
        .on_conflict(
            OnConflict::column(attachments::Column::Id)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await
        .map_err(db_err)?;
    get(db, h.id)
        .await?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("attachment {} vanished", h.id)))
}

pub async fn get<C: ConnectionTrait>(db: &C, id: Uuid) -> AppResult<Option<Attachment>> {
    attachments::Entity::find_by_id(id.to_string())
        .one(db)
        .await
        .map_err(db_err)?
        .map(from_model)
        .transpose()
}

/// Record a stored part `[at, at + len)` if the upload still holds exactly
/// `at` bytes and is unfinished: false when another stream moved it first.
pub async fn add_part<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
    at: i64,
    len: i64,
    object_key: &str,
) -> AppResult<bool> {
    let moved = attachments::Entity::update_many()
        .col_expr(attachments::Column::ReceivedBytes, Expr::value(at + len))
        .filter(attachments::Column::Id.eq(id.to_string()))
        .filter(attachments::Column::ReceivedBytes.eq(at))
        .filter(attachments::Column::CompletedAt.is_null())
        .exec(db)
        .await
        .map_err(db_err)?
        .rows_affected;
    if moved != 1 {
        return Ok(false);
    }
    let part = attachment_parts::Model {
        attachment_id: id.to_string(),
        offset: at,
        length: len,
        object_key: object_key.to_string(),
    };
    attachment_parts::Entity::insert(part.into_active_model())
        .exec_without_returning(db)
        .await
        .map_err(db_err)?;
    Ok(true)
}

/// The stored parts of an unfinished upload, in file order: (offset, length, key).
pub async fn parts<C: ConnectionTrait>(db: &C, id: Uuid) -> AppResult<Vec<(i64, i64, String)>> {
    Ok(attachment_parts::Entity::find()
        .filter(attachment_parts::Column::AttachmentId.eq(id.to_string()))
        .order_by_asc(attachment_parts::Column::Offset)
        .all(db)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(|p| (p.offset, p.length, p.object_key))
        .collect())
}

/// Forget an upload's parts: finished, or dropped to start over (`restart`
/// sets the resume point back to 0). The parts' object keys, to delete.
pub async fn drop_parts<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
    restart: bool,
) -> AppResult<Vec<String>> {
    let keys = parts(db, id).await?.into_iter().map(|p| p.2).collect();
    attachment_parts::Entity::delete_many()
        .filter(attachment_parts::Column::AttachmentId.eq(id.to_string()))
        .exec(db)
        .await
        .map_err(db_err)?;
    if restart {
        attachments::Entity::update_many()
            .col_expr(attachments::Column::ReceivedBytes, Expr::value(0i64))
            .filter(attachments::Column::Id.eq(id.to_string()))
            .filter(attachments::Column::CompletedAt.is_null())
            .exec(db)
            .await
            .map_err(db_err)?;
    }
    Ok(keys)
}

/// Mark the upload finished; false when it was already.
pub async fn complete<C: ConnectionTrait>(db: &C, id: Uuid, now: DateTime<Utc>) -> AppResult<bool> {
    Ok(attachments::Entity::update_many()
        .col_expr(
            attachments::Column::CompletedAt,
            Expr::value(to_micros(now)),
        )
        .filter(attachments::Column::Id.eq(id.to_string()))
        .filter(attachments::Column::CompletedAt.is_null())
        .filter(
            Expr::col(attachments::Column::ReceivedBytes).equals(attachments::Column::SizeBytes),
        )
        .exec(db)
        .await
        .map_err(db_err)?
        .rows_affected
        == 1)
}

/// The finished attachments of one subject, oldest first.
pub async fn of_subject<C: ConnectionTrait>(
    db: &C,
    subject_type: SubjectType,
    subject_id: Uuid,
) -> AppResult<Vec<Attachment>> {
    attachments::Entity::find()
        .filter(attachments::Column::SubjectType.eq(subject_type.as_str()))
        .filter(attachments::Column::SubjectId.eq(subject_id.to_string()))
        .filter(attachments::Column::CompletedAt.is_not_null())
        .order_by_asc(attachments::Column::CreatedAt)
        .order_by_asc(attachments::Column::Id)
        .all(db)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(from_model)
        .collect()
}
