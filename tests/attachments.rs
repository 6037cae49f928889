//! R-REC-1: evidence attachments, uploaded in resumable chunks over real
//! gRPC streams, stored in the object store (a directory beside the test's
//! store, shared by instances), fetched back byte for byte, masked like the
//! caller's details (R-TKT-13), and named by hash on the audit trail.
mod common;

use common::*;
use fieldops::domain::Role;
use fieldops::error::reason;
use fieldops::grpc::pb;
use fieldops::grpc::pb::attachment_service_client::AttachmentServiceClient;
use fieldops::storage::entities::audit_events;
use fieldops::storage::{Db, chain};
use pb::upload_attachment_request::Part;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tokio::sync::{Barrier, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Code, Status};

type Files = AttachmentServiceClient<InterceptedService<Channel, Bearer>>;

const CHUNK: usize = 64 << 10;

async fn files_as(app: &TestApp, sub: &str, roles: &[Role], unit: &str) -> Files {
    AttachmentServiceClient::with_interceptor(app.channel().await, bearer_for(sub, roles, unit))
}

/// A PNG-looking file of `len` bytes (the signature, then varied bytes).
fn png(len: usize) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
    b.extend((0..len.saturating_sub(8)).map(|i| (i * 7 % 251) as u8));
    b.truncate(len);
    b
}

fn sha(b: &[u8]) -> String {
    format!("{:x}", Sha256::digest(b))
}

fn header(
    id: &uuid::Uuid,
    subject: (pb::SubjectType, &str),
    kind: pb::AttachmentKind,
    file: &[u8],
) -> pb::AttachmentHeader {
    pb::AttachmentHeader {
        attachment_id: id.to_string(),
        subject_type: subject.0 as i32,
        subject_id: subject.1.into(),
        kind: kind as i32,
        media_type: "image/png".into(),
        size_bytes: file.len() as i64,
        sha256: sha(file),
        file_name: "slip.png".into(),
        device_id: "handheld-7".into(),
        caption: "repair slip".into(),
        ..Default::default()
    }
}

fn chunk(file: &[u8], offset: usize, len: usize) -> pb::UploadAttachmentRequest {
    let end = (offset + len).min(file.len());
    pb::UploadAttachmentRequest {
        part: Some(Part::Chunk(pb::AttachmentChunk {
            offset: offset as i64,
            data: file[offset..end].to_vec().into(),
        })),
    }
}

fn head(h: &pb::AttachmentHeader) -> pb::UploadAttachmentRequest {
    pb::UploadAttachmentRequest {
        part: Some(Part::Header(h.clone())),
    }
}

/// A new attachment of one chunk, uploaded in one stream.
async fn upload_whole(
    c: &mut Files,
    subject: (pb::SubjectType, &str),
    kind: pb::AttachmentKind,
    file: &[u8],
) -> pb::Attachment {
    let h = header(&uuid::Uuid::new_v4(), subject, kind, file);
    upload(c, &h, vec![chunk(file, 0, CHUNK)]).await.unwrap()
}

/// One stream: the header, then `parts`, then the end of the stream.
async fn upload(
    c: &mut Files,
    h: &pb::AttachmentHeader,
    parts: Vec<pb::UploadAttachmentRequest>,
) -> Result<pb::Attachment, Status> {
    let msgs: Vec<_> = std::iter::once(head(h)).chain(parts).collect();
    c.upload_attachment(tokio_stream::iter(msgs))
        .await
        .map(|r| r.into_inner())
}

/// The bytes the server holds of an upload (0 before its first stream).
async fn received(c: &mut Files, id: &uuid::Uuid) -> i64 {
    match c
        .get_upload_status(pb::GetUploadStatusRequest {
            attachment_id: id.to_string(),
        })
        .await
    {
        Ok(r) => r.into_inner().received_bytes,
        Err(s) if s.code() == Code::NotFound => 0,
        Err(s) => panic!("{s:?}"),
    }
}

/// One stream that breaks: the header and `parts` are sent, and once the
/// server holds `expect` bytes the call is dropped mid-stream (the
/// connection's stream is reset), as when a handheld loses the network.
async fn upload_cut(
    c: &mut Files,
    h: &pb::AttachmentHeader,
    parts: Vec<pb::UploadAttachmentRequest>,
    expect: i64,
) {
    let (tx, rx) = mpsc::channel(16);
    let mut caller = c.clone();
    let call = tokio::spawn(async move { caller.upload_attachment(ReceiverStream::new(rx)).await });
    tx.send(head(h)).await.unwrap();
    for p in parts {
        tx.send(p).await.unwrap();
    }
    let id: uuid::Uuid = h.attachment_id.parse().unwrap();
    // Wait for the server to have stored what was sent (the stream stays
    // open): each status call is a round trip to the server, no sleep.
    tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while received(c, &id).await < expect {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the server never stored {expect} bytes"));
    call.abort();
    let _ = call.await;
    drop(tx);
}

async fn download(c: &mut Files, id: &str) -> Result<(pb::Attachment, Vec<u8>), Status> {
    let mut s = c
        .get_attachment(pb::GetAttachmentRequest {
            attachment_id: id.into(),
        })
        .await?
        .into_inner();
    use pb::attachment_content::Part as P;
    let first = s.message().await?.and_then(|m| m.part);
    let Some(P::Attachment(a)) = first else {
        panic!("the first message is the description")
    };
    let mut bytes = Vec::new();
    while let Some(m) = s.message().await? {
        match m.part {
            Some(P::Data(d)) => {
                assert!(d.len() <= 1 << 20, "chunks of at most 1 MiB");
                bytes.extend_from_slice(&d);
            }
            _ => panic!("data after the description"),
        }
    }
    Ok((a, bytes))
}

/// A ticket claimed by crew member c1 of north.
async fn claimed_ticket(app: &TestApp) -> String {
    let t = dispatched_ticket(app, "BUILDING_NO_HEAT").await;
    claim(&mut app.crew("c1", "north").await, &t.id)
        .await
        .unwrap();
    t.id
}

async fn attached_entries(app: &TestApp, id: &str) -> Vec<audit_events::Model> {
    let db = Db::connect(&db_settings(&app.store)).await.unwrap();
    audit_events::Entity::find()
        .filter(audit_events::Column::EntityType.eq("attachment"))
        .filter(audit_events::Column::EntityId.eq(id))
        .all(db.reader())
        .await
        .unwrap()
}

#[tokio::test]
async fn r_rec_1_an_upload_cut_at_every_chunk_boundary_resumes_whole() {
    let app = spawn_app().await;
    let ticket = claimed_ticket(&app).await;
    let mut c = files_as(&app, "c1", &[Role::Crew], "north").await;
    // Four chunks, the last one short.
    let file = png(3 * CHUNK + 1000);
    let id = uuid::Uuid::new_v4();
    let h = header(
        &id,
        (pb::SubjectType::Ticket, &ticket),
        pb::AttachmentKind::Photo,
        &file,
    );
    let n = file.len().div_ceil(CHUNK);
    for boundary in 1..n {
        let held = received(&mut c, &id).await as usize;
        assert_eq!(held, (boundary - 1) * CHUNK);
        // Each stream re-sends the chunk before the resume point (a client
        // unsure what arrived) and the next one, then breaks.
        let from = held.saturating_sub(CHUNK);
        let parts = vec![chunk(&file, from, CHUNK), chunk(&file, held, CHUNK)];
        upload_cut(&mut c, &h, parts, (boundary * CHUNK) as i64).await;
        assert_eq!(received(&mut c, &id).await, (boundary * CHUNK) as i64);
    }
    // A stream that ends (half-closes) early is told where to go on from.
    let err = upload(&mut c, &h, vec![]).await.unwrap_err();
    assert_status(
        &err,
        Code::FailedPrecondition,
        reason::ATTACHMENT_INCOMPLETE,
        None,
    );
    // The last stream finishes it.
    let last = (n - 1) * CHUNK;
    let a = upload(&mut c, &h, vec![chunk(&file, last, CHUNK)])
        .await
        .unwrap();
    assert_eq!(
        (a.id.as_str(), a.size_bytes),
        (id.to_string().as_str(), file.len() as i64)
    );
    assert_eq!(a.sha256, sha(&file));
    assert_eq!(
        (a.uploaded_by.as_str(), a.uploader_role.as_str()),
        ("c1", "crew")
    );

    let (got, bytes) = download(&mut c, &a.id).await.unwrap();
    assert_eq!(got, a);
    assert_eq!(bytes, file, "the stored bytes are the original");
    assert_eq!(sha(&bytes), a.sha256);
    // Parts are gone once the file is whole; the file is stored once, by hash.
    let objects = objects_dir(&app.store);
    assert!(!objects.join("uploads").join(id.to_string()).exists());
    assert!(
        objects
            .join("sha256")
            .join(&a.sha256[..2])
            .join(&a.sha256)
            .exists()
    );

    // Uploading it again answers the stored attachment: no second entry.
    let again = upload(&mut c, &h, vec![chunk(&file, 0, CHUNK)])
        .await
        .unwrap();
    assert_eq!(again, a);
    let entries = attached_entries(&app, &a.id).await;
    assert_eq!(entries.len(), 1);
    let details: serde_json::Value = serde_json::from_str(&entries[0].details).unwrap();
    assert_eq!(
        details["sha256"], a.sha256,
        "the trail names the file by hash"
    );
    assert_eq!(details["subject_id"], ticket);
    // Listed on its ticket.
    let list = c
        .list_attachments(pb::ListAttachmentsRequest {
            subject_type: pb::SubjectType::Ticket as i32,
            subject_id: ticket.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .attachments;
    assert_eq!(list, vec![a]);
    let db = Db::connect(&db_settings(&app.store)).await.unwrap();
    assert!(chain::verify(&db, &[]).await.unwrap().clean());
}

#[tokio::test]
async fn r_rec_1_a_wrong_hash_is_refused_and_the_bytes_dropped() {
    let app = spawn_app().await;
    let ticket = claimed_ticket(&app).await;
    let mut c = files_as(&app, "c1", &[Role::Crew], "north").await;
    let file = png(CHUNK + 10);
    let id = uuid::Uuid::new_v4();
    let h = header(
        &id,
        (pb::SubjectType::Ticket, &ticket),
        pb::AttachmentKind::Photo,
        &file,
    );
    // One byte flipped on the way.
    let mut corrupted = file.clone();
    corrupted[CHUNK + 3] ^= 0xFF;
    let err = upload(&mut c, &h, vec![chunk(&corrupted, 0, 2 * CHUNK)])
        .await
        .unwrap_err();
    assert_status(
        &err,
        Code::InvalidArgument,
        reason::ATTACHMENT_HASH_MISMATCH,
        Some("header.sha256"),
    );
    assert_eq!(received(&mut c, &id).await, 0, "dropped: start over");
    assert!(
        download(&mut c, &id.to_string()).await.is_err(),
        "nothing to fetch"
    );
    assert!(attached_entries(&app, &id.to_string()).await.is_empty());
    // The same header with the right bytes goes through.
    let a = upload(&mut c, &h, vec![chunk(&file, 0, 2 * CHUNK)])
        .await
        .unwrap();
    assert_eq!(download(&mut c, &a.id).await.unwrap().1, file);
}

#[tokio::test]
async fn r_rec_1_types_sizes_and_chunks_are_checked() {
    let app = spawn_app().await;
    let ticket = claimed_ticket(&app).await;
    let mut c = files_as(&app, "c1", &[Role::Crew], "north").await;
    let subject = (pb::SubjectType::Ticket, ticket.as_str());
    let file = png(1000);

    // A PDF is no signature: refused at the header, nothing stored.
    let id = uuid::Uuid::new_v4();
    let mut h = header(&id, subject, pb::AttachmentKind::Signature, &file);
    h.media_type = "application/pdf".into();
    let err = upload(&mut c, &h, vec![chunk(&file, 0, CHUNK)])
        .await
        .unwrap_err();
    assert_status(
        &err,
        Code::InvalidArgument,
        reason::ATTACHMENT_TYPE_NOT_ALLOWED,
        Some("header.media_type"),
    );
    let status = c
        .get_upload_status(pb::GetUploadStatusRequest {
            attachment_id: id.to_string(),
        })
        .await
        .unwrap_err();
    assert_status(&status, Code::NotFound, reason::ATTACHMENT_NOT_FOUND, None);

    // A renamed executable is not a PNG: refused when its bytes are in.
    let exe: Vec<u8> = b"MZ\x90\x00".iter().copied().chain(png(996)).collect();
    let id = uuid::Uuid::new_v4();
    let h = header(&id, subject, pb::AttachmentKind::Photo, &exe);
    let err = upload(&mut c, &h, vec![chunk(&exe, 0, CHUNK)])
        .await
        .unwrap_err();
    assert_status(
        &err,
        Code::InvalidArgument,
        reason::ATTACHMENT_TYPE_NOT_ALLOWED,
        Some("header.media_type"),
    );

    // Size: 20 MiB is the edge, one byte more is refused.
    let id = uuid::Uuid::new_v4();
    let mut h = header(&id, subject, pb::AttachmentKind::Photo, &file);
    h.size_bytes = (20 << 20) + 1;
    let err = upload(&mut c, &h, vec![]).await.unwrap_err();
    assert_status(
        &err,
        Code::InvalidArgument,
        reason::OUT_OF_RANGE,
        Some("header.size_bytes"),
    );
    h.size_bytes = 20 << 20;
    let err = upload(&mut c, &h, vec![]).await.unwrap_err();
    assert_status(
        &err,
        Code::FailedPrecondition,
        reason::ATTACHMENT_INCOMPLETE,
        None,
    );

    // A gap: a chunk past what is held names the resume point.
    let id = uuid::Uuid::new_v4();
    let big = png(3 * CHUNK);
    let h = header(&id, subject, pb::AttachmentKind::Photo, &big);
    let err = upload(
        &mut c,
        &h,
        vec![chunk(&big, 0, CHUNK), chunk(&big, 2 * CHUNK, CHUNK)],
    )
    .await
    .unwrap_err();
    assert_status(
        &err,
        Code::FailedPrecondition,
        reason::ATTACHMENT_CHUNK_GAP,
        None,
    );
    assert_eq!(
        received(&mut c, &id).await,
        CHUNK as i64,
        "the first chunk stays"
    );

    // The same id for another file is refused.
    let other = png(CHUNK);
    let h2 = header(&id, subject, pb::AttachmentKind::Photo, &other);
    let err = upload(&mut c, &h2, vec![]).await.unwrap_err();
    assert_status(
        &err,
        Code::AlreadyExists,
        reason::ATTACHMENT_ID_REUSED,
        None,
    );

    // A chunk before the header; a ticket out of scope; back office uploads.
    let err = c
        .upload_attachment(tokio_stream::iter(vec![chunk(&file, 0, 10)]))
        .await
        .unwrap_err();
    assert_status(
        &err,
        Code::InvalidArgument,
        reason::INVALID_FIELD,
        Some("header"),
    );
    let mut south = files_as(&app, "c9", &[Role::Crew], "south").await;
    let h = header(
        &uuid::Uuid::new_v4(),
        subject,
        pb::AttachmentKind::Photo,
        &file,
    );
    let err = upload(&mut south, &h, vec![chunk(&file, 0, CHUNK)])
        .await
        .unwrap_err();
    assert_status(&err, Code::NotFound, reason::TICKET_NOT_FOUND, None);
    let mut bo = files_as(&app, "b1", &[Role::Backoffice], "hq").await;
    let err = upload(&mut bo, &h, vec![]).await.unwrap_err();
    assert_status(&err, Code::PermissionDenied, reason::ROLE_NOT_ALLOWED, None);
}

#[tokio::test]
async fn r_rec_1_a_masked_reader_cannot_fetch_a_callers_signature() {
    let app = spawn_app().await;
    let ticket = claimed_ticket(&app).await;
    let mut crew = files_as(&app, "c1", &[Role::Crew], "north").await;
    let subject = (pb::SubjectType::Ticket, ticket.as_str());
    let (sig, photo) = (png(5000), png(7000));
    let s = upload_whole(&mut crew, subject, pb::AttachmentKind::Signature, &sig).await;
    let p = upload_whole(&mut crew, subject, pb::AttachmentKind::Photo, &photo).await;

    // The crew holding the ticket and dispatch see the caller: they fetch it.
    assert_eq!(download(&mut crew, &s.id).await.unwrap().1, sig);
    let mut desk = files_as(&app, "d1", &[Role::Dispatcher], "north").await;
    assert_eq!(download(&mut desk, &s.id).await.unwrap().1, sig);
    // An inspector sees the caller masked: the photo, not the signature.
    let mut insp = files_as(&app, "i1", &[Role::Inspector], "north").await;
    assert_eq!(download(&mut insp, &p.id).await.unwrap().1, photo);
    let err = download(&mut insp, &s.id).await.unwrap_err();
    assert_status(&err, Code::PermissionDenied, reason::SIGNATURE_MASKED, None);
    // A crew member of the unit who does not hold it sees it masked too.
    let mut mate = files_as(&app, "c2", &[Role::Crew], "north").await;
    let err = download(&mut mate, &s.id).await.unwrap_err();
    assert_status(&err, Code::PermissionDenied, reason::SIGNATURE_MASKED, None);
    // Another unit's crew: the ticket is not there, nor its files.
    let mut south = files_as(&app, "c9", &[Role::Crew], "south").await;
    let err = download(&mut south, &p.id).await.unwrap_err();
    assert_status(&err, Code::NotFound, reason::ATTACHMENT_NOT_FOUND, None);
    // Only the uploader asks an upload's status.
    let err = insp
        .get_upload_status(pb::GetUploadStatusRequest {
            attachment_id: s.id.clone(),
        })
        .await
        .unwrap_err();
    assert_status(&err, Code::NotFound, reason::ATTACHMENT_NOT_FOUND, None);
}

/// Two streams of one upload at once (a handheld that reconnected while
/// its first stream still ran), on two instances: one file, once, whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn r_rec_1_two_streams_of_one_upload_racing_store_it_once() {
    let app = spawn_app().await;
    let other = spawn_sharing(&app).await;
    let ticket = claimed_ticket(&app).await;
    let file = png(6 * CHUNK + 77);
    let id = uuid::Uuid::new_v4();
    let h = header(
        &id,
        (pb::SubjectType::Ticket, &ticket),
        pb::AttachmentKind::Document,
        &file,
    );
    let barrier = Arc::new(Barrier::new(4));
    let mut tasks = Vec::new();
    for i in 0..4 {
        let mut c = files_as(
            if i % 2 == 0 { &app } else { &other },
            "c1",
            &[Role::Crew],
            "north",
        )
        .await;
        let (barrier, h, file) = (barrier.clone(), h.clone(), file.clone());
        tasks.push(tokio::spawn(async move {
            let parts: Vec<_> = (0..file.len())
                .step_by(CHUNK)
                .map(|o| chunk(&file, o, CHUNK))
                .collect();
            barrier.wait().await;
            upload(&mut c, &h, parts).await
        }));
    }
    let mut done = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(a) => done.push(a),
            // A stream that lost every round to the others may give up.
            Err(s) => assert!(
                s.code() == Code::Aborted || s.code() == Code::FailedPrecondition,
                "{s:?}"
            ),
        }
    }
    assert!(!done.is_empty());
    assert!(done.windows(2).all(|w| w[0] == w[1]));
    let mut c = files_as(&other, "c1", &[Role::Crew], "north").await;
    assert_eq!(download(&mut c, &id.to_string()).await.unwrap().1, file);
    assert_eq!(attached_entries(&app, &id.to_string()).await.len(), 1);
}
