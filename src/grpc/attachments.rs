//! AttachmentService handlers (R-REC-1): the upload stream's header and
//! chunks go to the service one by one; a download is the description,
//! then the bytes in chunks of at most 1 MiB.
use super::auth::caller;
use super::convert::{self as cv, ts};
use super::pb::{self, attachment_service_server::AttachmentService as Api};
use crate::domain::attachment::{Attachment, Header, Kind, MediaType, SubjectType};
use crate::error::{AppError, AppResult, reason};
use crate::service::AttachmentService;
use bytes::Bytes;
use futures_util::StreamExt;
use std::pin::Pin;
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

pub struct AttachmentApi {
    svc: AttachmentService,
}

impl AttachmentApi {
    pub fn new(svc: AttachmentService) -> AttachmentApi {
        AttachmentApi { svc }
    }
}

type Reply<T> = Result<Response<T>, Status>;
type ContentStream = Pin<Box<dyn Stream<Item = Result<pb::AttachmentContent, Status>> + Send>>;

fn subject_type(v: i32, field: &str) -> AppResult<SubjectType> {
    cv::from_wire(SubjectType::ALL, v, field)?.ok_or_else(|| AppError::missing(field))
}

fn header(h: &pb::AttachmentHeader) -> AppResult<Header> {
    let media = h.media_type.trim().to_ascii_lowercase();
    Ok(Header {
        id: cv::id(&h.attachment_id, "header.attachment_id")?,
        subject_type: subject_type(h.subject_type, "header.subject_type")?,
        subject_id: cv::id(&h.subject_id, "header.subject_id")?,
        kind: cv::from_wire(Kind::ALL, h.kind, "header.kind")?
            .ok_or_else(|| AppError::missing("header.kind"))?,
        media_type: MediaType::parse(&media).ok_or_else(|| {
            let all: Vec<_> = MediaType::ALL.iter().map(|m| m.as_str()).collect();
            AppError::invalid(
                "header.media_type",
                reason::ATTACHMENT_TYPE_NOT_ALLOWED,
                format!("the media type is one of: {}", all.join(", ")),
            )
        })?,
        size: h.size_bytes,
        sha256: h.sha256.trim().to_string(),
        file_name: h.file_name.trim().to_string(),
        caption: h.caption.trim().to_string(),
        taken_at: cv::time(h.taken_time.as_ref(), "header.taken_time")?,
        device_id: cv::non_empty(h.device_id.trim()),
    })
}

pub fn attachment_pb(a: &Attachment) -> pb::Attachment {
    let h = &a.header;
    pb::Attachment {
        id: h.id.to_string(),
        subject_type: cv::to_wire(SubjectType::ALL, h.subject_type),
        subject_id: h.subject_id.to_string(),
        kind: cv::to_wire(Kind::ALL, h.kind),
        media_type: h.media_type.as_str().to_string(),
        size_bytes: h.size,
        sha256: h.sha256.clone(),
        file_name: h.file_name.clone(),
        taken_time: h.taken_at.map(ts),
        device_id: h.device_id.clone().unwrap_or_default(),
        caption: h.caption.clone(),
        uploaded_by: a.uploaded_by.clone(),
        uploader_role: a.uploader_role.clone(),
        uploaded_time: a.completed_at.map(ts),
    }
}

fn only_first() -> AppError {
    AppError::invalid(
        "header",
        reason::INVALID_FIELD,
        "the header comes first, once per stream, then chunks",
    )
}

#[tonic::async_trait]
impl Api for AttachmentApi {
    async fn upload_attachment(
        &self,
        req: Request<Streaming<pb::UploadAttachmentRequest>>,
    ) -> Reply<pb::Attachment> {
        use pb::upload_attachment_request::Part;
        let who = caller(&req)?;
        let mut stream = req.into_inner();
        let first = stream.message().await?.and_then(|m| m.part);
        let Some(Part::Header(h)) = first else {
            return Err(only_first().into());
        };
        let mut up = self.svc.begin(&who, header(&h)?).await?;
        // What arrived is stored chunk by chunk: a stream that breaks here
        // leaves its chunks for the next one to resume after.
        while !up.finished() {
            let Some(msg) = stream.message().await? else {
                break;
            };
            match msg.part {
                Some(Part::Chunk(c)) => self.svc.put_chunk(&mut up, c.offset, c.data).await?,
                _ => return Err(only_first().into()),
            }
        }
        Ok(Response::new(attachment_pb(
            &self.svc.finish(&who, up).await?,
        )))
    }

    async fn get_upload_status(
        &self,
        req: Request<pb::GetUploadStatusRequest>,
    ) -> Reply<pb::UploadStatus> {
        let who = caller(&req)?;
        let id = cv::id(&req.get_ref().attachment_id, "attachment_id")?;
        let a = self.svc.status(&who, id).await?;
        Ok(Response::new(pb::UploadStatus {
            attachment_id: id.to_string(),
            received_bytes: a.received,
            size_bytes: a.header.size,
            attachment: a.completed_at.is_some().then(|| attachment_pb(&a)),
        }))
    }

    type GetAttachmentStream = ContentStream;

    async fn get_attachment(
        &self,
        req: Request<pb::GetAttachmentRequest>,
    ) -> Reply<Self::GetAttachmentStream> {
        use pb::attachment_content::Part;
        let who = caller(&req)?;
        let id = cv::id(&req.get_ref().attachment_id, "attachment_id")?;
        let (a, bytes) = self.svc.open(&who, id).await?;
        let head = futures_util::stream::once(async move {
            Ok(pb::AttachmentContent {
                part: Some(Part::Attachment(attachment_pb(&a))),
            })
        });
        // The store's pieces, cut to at most one chunk each.
        let body = bytes.flat_map(|piece| {
            let out: Vec<Result<pb::AttachmentContent, Status>> = match piece {
                Ok(b) => split(b)
                    .map(|data| {
                        Ok(pb::AttachmentContent {
                            part: Some(Part::Data(data)),
                        })
                    })
                    .collect(),
                Err(e) => vec![Err(e.into())],
            };
            futures_util::stream::iter(out)
        });
        Ok(Response::new(Box::pin(head.chain(body))))
    }

    async fn list_attachments(
        &self,
        req: Request<pb::ListAttachmentsRequest>,
    ) -> Reply<pb::ListAttachmentsResponse> {
        let who = caller(&req)?;
        let m = req.get_ref();
        let ty = subject_type(m.subject_type, "subject_type")?;
        let id = cv::id(&m.subject_id, "subject_id")?;
        let list = self.svc.list(&who, ty, id).await?;
        Ok(Response::new(pb::ListAttachmentsResponse {
            attachments: list.iter().map(attachment_pb).collect(),
        }))
    }
}

/// Download messages: a quarter of the smallest message limit the server
/// can be configured with (`--max-message-bytes` >= 256 KiB), so a download
/// works under any configuration.
const SEND_CHUNK: usize = 64 << 10;

fn split(b: Bytes) -> impl Iterator<Item = Bytes> {
    let n = b.len().div_ceil(SEND_CHUNK);
    (0..n).map(move |i| b.slice(i * SEND_CHUNK..((i + 1) * SEND_CHUNK).min(b.len())))
}
