//! Evidence uploads and downloads (R-REC-1). An upload is idempotent by
//! its attachment id: a stream that broke leaves its stored chunks, the
//! next stream with the same header resumes at `received`, and a finished
//! upload sent again answers the stored attachment. Each chunk is an
//! object of its own until the last byte arrives; then the whole is
//! hashed, checked against its stated type, stored under its hash, and the
//! parts dropped, in that order, so a crash at any point leaves either the
//! parts (resumable) or the finished file.
use crate::domain::attachment::{self, Attachment, ChunkPlan, Header, SubjectType};
use crate::domain::{Caller, Method, Role, access};
use crate::error::{AppError, AppResult, reason};
use crate::service::{Clock, InspectionService, OutageService, TicketService};
use crate::storage::audit::{self, AuditEntry};
use crate::storage::objects::Objects;
use crate::storage::{Db, attachments as store};
use bytes::Bytes;
use futures_util::stream::BoxStream;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use uuid::Uuid;

#[derive(Clone)]
pub struct AttachmentService {
    db: Db,
    objects: Objects,
    clock: Arc<dyn Clock>,
    tickets: TicketService,
    inspections: InspectionService,
    outages: OutageService,
    /// Finishing holds a whole file (up to 20 MiB) in memory: a few at once.
    finishing: Arc<tokio::sync::Semaphore>,
}

/// Uploads finished at once per instance (memory: this × 20 MiB at most).
const FINISHING_AT_ONCE: usize = 4;

/// An upload under way on one stream.
pub struct Upload {
    pub attachment: Attachment,
    role: Role,
}

impl Upload {
    pub fn received(&self) -> i64 {
        self.attachment.received
    }

    pub fn finished(&self) -> bool {
        self.attachment.completed_at.is_some()
    }
}

fn not_found(id: Uuid) -> AppError {
    AppError::not_found(
        reason::ATTACHMENT_NOT_FOUND,
        format!("attachment {id} not found"),
    )
}

impl AttachmentService {
    pub fn new(
        db: Db,
        objects: Objects,
        clock: Arc<dyn Clock>,
        tickets: TicketService,
        inspections: InspectionService,
        outages: OutageService,
    ) -> AttachmentService {
        AttachmentService {
            db,
            objects,
            clock,
            tickets,
            inspections,
            outages,
            finishing: Arc::new(tokio::sync::Semaphore::new(FINISHING_AT_ONCE)),
        }
    }

    /// May the caller read the subject, and does he see its personal data
    /// (R-TKT-13)? A subject out of his scope is, to him, not there: the
    /// subject's own NOT_FOUND.
    async fn subject(&self, caller: &Caller, ty: SubjectType, id: Uuid) -> AppResult<bool> {
        Ok(match ty {
            SubjectType::Ticket => {
                let t = self.tickets.get(caller, id).await?;
                access::sees_caller_details(caller, &t)
            }
            SubjectType::Inspection => {
                let v = self.inspections.get(caller, id).await?;
                v.inspector == caller.sub
                    || caller.has(Role::Dispatcher)
                    || caller.has(Role::Supervisor)
            }
            // An outage names no resident.
            SubjectType::Outage => {
                self.outages.get(caller, id).await?;
                true
            }
        })
    }

    /// Open (or resume) an upload: the header is checked, the subject must
    /// be the caller's to read, and an id already used must describe the
    /// same file by the same person.
    pub async fn begin(&self, caller: &Caller, header: Header) -> AppResult<Upload> {
        let role = access::authorize(caller, Method::UploadAttachment)?;
        header.check()?;
        self.subject(caller, header.subject_type, header.subject_id)
            .await?;
        let (sub, now) = (caller.sub.clone(), self.clock.now());
        let wanted = header.clone();
        let stored = self
            .db
            .write(move |tx| {
                Box::pin(async move { store::begin(tx, &wanted, &sub, role.as_str(), now).await })
            })
            .await?;
        if !stored.header.same_file(&header) || stored.uploaded_by != caller.sub {
            return Err(AppError::AlreadyExists {
                reason: reason::ATTACHMENT_ID_REUSED,
                message: format!(
                    "attachment {} names another file; choose a new id",
                    header.id
                ),
                info: vec![("attachment_id", header.id.to_string())],
            });
        }
        Ok(Upload {
            attachment: stored,
            role,
        })
    }

    /// Take one chunk: store its new bytes as a part and move the resume
    /// point. When another stream of the same upload moved it first, the
    /// chunk is planned again against the new point (often: held already).
    pub async fn put_chunk(&self, up: &mut Upload, offset: i64, data: Bytes) -> AppResult<()> {
        let id = up.attachment.header.id;
        for _ in 0..3 {
            if up.finished() {
                return Ok(());
            }
            let plan = attachment::plan_chunk(
                up.attachment.received,
                up.attachment.header.size,
                offset,
                data.len(),
            )?;
            let ChunkPlan::Store { skip, at } = plan else {
                return Ok(());
            };
            let part = data.slice(skip..);
            let len = part.len() as i64;
            let key = format!("uploads/{id}/{}", Uuid::new_v4());
            self.objects.put(&key, part).await?;
            let k = key.clone();
            let recorded = self
                .db
                .write(move |tx| {
                    Box::pin(async move { store::add_part(tx, id, at, len, &k).await })
                })
                .await?;
            if recorded {
                up.attachment.received = at + len;
                return Ok(());
            }
            self.objects.delete(&key).await?;
            up.attachment = store::get(self.db.reader(), id)
                .await?
                .ok_or_else(|| not_found(id))?;
        }
        Err(AppError::aborted(
            reason::CONCURRENT_MODIFICATION,
            "another stream of this upload keeps storing first; ask GetUploadStatus and resume",
        ))
    }

    /// The stream ended: finish the upload if every byte is held.
    pub async fn finish(&self, caller: &Caller, mut up: Upload) -> AppResult<Attachment> {
        let id = up.attachment.header.id;
        if up.finished() {
            return Ok(up.attachment);
        }
        // Another stream may have brought the rest.
        up.attachment = store::get(self.db.reader(), id)
            .await?
            .ok_or_else(|| not_found(id))?;
        if up.finished() {
            return Ok(up.attachment);
        }
        let (received, size) = (up.attachment.received, up.attachment.header.size);
        if received < size {
            return Err(AppError::precondition(
                reason::ATTACHMENT_INCOMPLETE,
                "attachment",
                format!("the server holds {received} of {size} bytes: send the rest"),
            )
            .with_info("received_bytes", received));
        }
        let _permit = self
            .finishing
            .acquire()
            .await
            .map_err(|e| AppError::internal(anyhow::Error::from(e)))?;
        // A racing stream may finish it and drop the parts under us: then
        // its result is ours, whatever we read.
        let (file, hash) = match self.assemble(id, size).await {
            Ok(whole) => whole,
            Err(e) => return self.finished_elsewhere(id).await?.ok_or(e),
        };
        let h = &up.attachment.header;
        let refused = if hash != h.sha256 {
            Some(AppError::invalid(
                "header.sha256",
                reason::ATTACHMENT_HASH_MISMATCH,
                "the bytes received do not have the stated SHA-256; they were dropped: upload again",
            ))
        } else if !h
            .media_type
            .matches(&file[..file.len().min(attachment::MediaType::SNIFF_BYTES)])
        {
            Some(AppError::invalid(
                "header.media_type",
                reason::ATTACHMENT_TYPE_NOT_ALLOWED,
                format!("the file is not {}", h.media_type.as_str()),
            ))
        } else {
            None
        };
        if let Some(e) = refused {
            if let Some(done) = self.finished_elsewhere(id).await? {
                return Ok(done);
            }
            self.drop_parts(id, true).await?;
            return Err(e);
        }
        self.objects
            .put(&up.attachment.object_key(), Bytes::from(file))
            .await?;
        let (caller, role, now, done) = (
            caller.clone(),
            up.role,
            self.clock.now(),
            up.attachment.clone(),
        );
        let finished = self
            .db
            .write(move |tx| {
                Box::pin(async move {
                    if store::complete(tx, id, now).await? {
                        let h = &done.header;
                        // R-REC-1: the trail names the file by its hash.
                        audit::append(
                            tx,
                            AuditEntry {
                                entity_type: "attachment",
                                entity_id: id.to_string(),
                                entity_version: 1,
                                kind: "ATTACHED",
                                caller: &caller,
                                role: role.as_str(),
                                request_id: id,
                                device_id: h.device_id.as_deref(),
                                at: now,
                                details: serde_json::json!({
                                    "subject_type": h.subject_type.as_str(),
                                    "subject_id": h.subject_id,
                                    "kind": h.kind.as_str(),
                                    "media_type": h.media_type.as_str(),
                                    "size_bytes": h.size,
                                    "sha256": h.sha256,
                                    "file_name": h.file_name,
                                }),
                            },
                        )
                        .await?;
                    }
                    store::get(tx, id).await?.ok_or_else(|| not_found(id))
                })
            })
            .await?;
        self.drop_parts(id, false).await?;
        Ok(finished)
    }

    /// The whole file from its parts, and its hex SHA-256. The parts must
    /// tile the file exactly (they do, unless another stream finished it
    /// and dropped them meanwhile).
    async fn assemble(&self, id: Uuid, size: i64) -> AppResult<(Vec<u8>, String)> {
        let mut file = Vec::with_capacity(size as usize);
        let mut hasher = Sha256::new();
        for (offset, len, key) in store::parts(self.db.reader(), id).await? {
            let bytes = self.objects.get(&key).await?;
            if offset != file.len() as i64 || len != bytes.len() as i64 {
                break;
            }
            hasher.update(&bytes);
            file.extend_from_slice(&bytes);
        }
        if file.len() as i64 != size {
            return Err(AppError::internal(anyhow::anyhow!(
                "attachment {id}: its parts hold {} of {size} bytes",
                file.len()
            )));
        }
        Ok((file, format!("{:x}", hasher.finalize())))
    }

    /// The attachment, if another stream finished it.
    async fn finished_elsewhere(&self, id: Uuid) -> AppResult<Option<Attachment>> {
        Ok(store::get(self.db.reader(), id)
            .await?
            .filter(|a| a.completed_at.is_some()))
    }

    async fn drop_parts(&self, id: Uuid, restart: bool) -> AppResult<()> {
        let keys = self
            .db
            .write(move |tx| Box::pin(async move { store::drop_parts(tx, id, restart).await }))
            .await?;
        for key in keys {
            self.objects.delete(&key).await?;
        }
        Ok(())
    }

    /// GetUploadStatus: the uploader's own uploads only.
    pub async fn status(&self, caller: &Caller, id: Uuid) -> AppResult<Attachment> {
        access::authorize(caller, Method::GetUploadStatus)?;
        store::get(self.db.reader(), id)
            .await?
            .filter(|a| a.uploaded_by == caller.sub)
            .ok_or_else(|| not_found(id))
    }

    /// GetAttachment: a finished attachment of a subject the caller reads;
    /// a signature only with the personal view (R-TKT-13).
    pub async fn open(
        &self,
        caller: &Caller,
        id: Uuid,
    ) -> AppResult<(Attachment, BoxStream<'static, AppResult<Bytes>>)> {
        access::authorize(caller, Method::GetAttachment)?;
        let a = store::get(self.db.reader(), id)
            .await?
            .filter(|a| a.completed_at.is_some())
            .ok_or_else(|| not_found(id))?;
        let personal = self
            .subject(caller, a.header.subject_type, a.header.subject_id)
            .await
            .map_err(|e| match e {
                AppError::NotFound { .. } | AppError::PermissionDenied { .. } => not_found(id),
                e => e,
            })?;
        if !attachment::may_fetch(a.header.kind, personal) {
            return Err(AppError::denied(
                reason::SIGNATURE_MASKED,
                "a signature is the resident's personal data, which your role sees masked",
            ));
        }
        let bytes = self.objects.stream(&a.object_key()).await?;
        Ok((a, bytes))
    }

    /// ListAttachments of a subject the caller reads.
    pub async fn list(
        &self,
        caller: &Caller,
        ty: SubjectType,
        id: Uuid,
    ) -> AppResult<Vec<Attachment>> {
        access::authorize(caller, Method::ListAttachments)?;
        self.subject(caller, ty, id).await?;
        store::of_subject(self.db.reader(), ty, id).await
    }
}
