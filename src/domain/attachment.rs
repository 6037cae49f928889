//! R-REC-1: evidence attached to tickets, visits and outages. What a file
//! may be (kinds, types, sizes), how a resumable upload takes a chunk, and
//! who may fetch a signature. No I/O: the bytes are the storage layer's.
use crate::error::{AppError, AppResult, reason};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The largest file: a phone photo or a scanned report.
pub const MAX_BYTES: i64 = 20 << 20;
/// The largest chunk of an upload, and of a download's messages.
pub const MAX_CHUNK: usize = 1 << 20;

macro_rules! named {
    ($(#[$m:meta])* $name:ident { $($v:ident = $s:literal,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($v,)* }
        impl $name {
            pub const ALL: &[$name] = &[$($name::$v,)*];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$v => $s,)* }
            }
            pub fn parse(s: &str) -> Option<$name> {
                match s { $($s => Some($name::$v),)* _ => None }
            }
        }
    };
}

named!(
    /// What the file is, which says which types it may have.
    Kind {
        Photo = "PHOTO",
        Signature = "SIGNATURE",
        Document = "DOCUMENT",
    }
);

named!(
    /// What the file is attached to.
    SubjectType {
        Ticket = "ticket",
        Inspection = "inspection",
        Outage = "outage",
    }
);

named!(
    /// The file types the server takes, by their media type.
    MediaType {
        Jpeg = "image/jpeg",
        Png = "image/png",
        Webp = "image/webp",
        Heic = "image/heic",
        Pdf = "application/pdf",
    }
);

impl Kind {
    /// The types each kind takes. A signature is a drawn image (a handheld's
    /// signature pad gives PNG) or a photo of a signed slip.
    pub fn media_types(self) -> &'static [MediaType] {
        use MediaType::*;
        match self {
            Kind::Photo => &[Jpeg, Png, Webp, Heic],
            Kind::Signature => &[Png, Jpeg],
            Kind::Document => &[Pdf, Jpeg, Png],
        }
    }
}

impl MediaType {
    /// Do the file's first bytes say it is of this type? (A renamed
    /// executable is not a photo.) At most the first 12 bytes are looked at.
    pub fn matches(self, head: &[u8]) -> bool {
        match self {
            MediaType::Jpeg => head.starts_with(&[0xFF, 0xD8, 0xFF]),
            MediaType::Png => head.starts_with(b"\x89PNG\r\n\x1a\n"),
            MediaType::Webp => head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP",
            // ISO BMFF: a box size, then "ftyp" and a HEIF brand.
            MediaType::Heic => {
                head.len() >= 12
                    && &head[4..8] == b"ftyp"
                    && [&b"heic"[..], b"heix", b"mif1", b"msf1", b"heim", b"heis"]
                        .contains(&&head[8..12])
            }
            MediaType::Pdf => head.starts_with(b"%PDF-"),
        }
    }

    /// How many leading bytes `matches` needs (fewer for a smaller file).
    pub const SNIFF_BYTES: usize = 12;
}

/// What the client states before the first byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub id: Uuid,
    pub subject_type: SubjectType,
    pub subject_id: Uuid,
    pub kind: Kind,
    pub media_type: MediaType,
    pub size: i64,
    /// Lower-case hex SHA-256.
    pub sha256: String,
    pub file_name: String,
    pub caption: String,
    pub taken_at: Option<DateTime<Utc>>,
    pub device_id: Option<String>,
}

impl Header {
    /// The size, type and hash rules, each refused with its field.
    pub fn check(&self) -> AppResult<()> {
        if !(1..=MAX_BYTES).contains(&self.size) {
            return Err(AppError::invalid(
                "header.size_bytes",
                reason::OUT_OF_RANGE,
                format!("an attachment is 1 byte to {} MiB", MAX_BYTES >> 20),
            ));
        }
        if !self.kind.media_types().contains(&self.media_type) {
            let allowed: Vec<_> = self.kind.media_types().iter().map(|m| m.as_str()).collect();
            return Err(AppError::invalid(
                "header.media_type",
                reason::ATTACHMENT_TYPE_NOT_ALLOWED,
                format!(
                    "a {} is one of: {}",
                    self.kind.as_str().to_lowercase(),
                    allowed.join(", ")
                ),
            ));
        }
        if self.sha256.len() != 64
            || !self
                .sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(AppError::invalid(
                "header.sha256",
                reason::INVALID_FIELD,
                "sha256 is 64 lower-case hex digits",
            ));
        }
        Ok(())
    }

    /// Does `other` describe the same file to the same subject? (A resumed
    /// stream repeats the header; caption and device may differ.)
    pub fn same_file(&self, other: &Header) -> bool {
        (
            self.subject_type,
            self.subject_id,
            self.kind,
            self.media_type,
            self.size,
            &self.sha256,
        ) == (
            other.subject_type,
            other.subject_id,
            other.kind,
            other.media_type,
            other.size,
            &other.sha256,
        )
    }
}

/// An attachment as stored: finished, or an upload under way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub header: Header,
    pub uploaded_by: String,
    pub uploader_role: String,
    /// The bytes held, from the start of the file (the resume point).
    pub received: i64,
    pub created_at: DateTime<Utc>,
    /// When the last byte arrived and the hash matched.
    pub completed_at: Option<DateTime<Utc>>,
}

impl Attachment {
    /// Files are stored by their hash: one copy however often attached.
    pub fn object_key(&self) -> String {
        object_key(&self.header.sha256)
    }
}

pub fn object_key(sha256: &str) -> String {
    format!("sha256/{}/{sha256}", &sha256[..2])
}

/// What to do with a chunk, given the bytes held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkPlan {
    /// Store the chunk's bytes from `skip` on, at `at` (= the bytes held).
    Store { skip: usize, at: i64 },
    /// Every byte of it is held already (a re-sent chunk).
    Held,
}

/// R-REC-1: a chunk at `offset` of `len` bytes, when `received` bytes of a
/// `size`-byte file are held. Overlaps are fine (the known part is
/// skipped); a gap is refused, naming the resume point.
pub fn plan_chunk(received: i64, size: i64, offset: i64, len: usize) -> AppResult<ChunkPlan> {
    if len == 0 || len > MAX_CHUNK {
        return Err(AppError::invalid(
            "chunk.data",
            reason::OUT_OF_RANGE,
            format!("a chunk holds 1 byte to {} KiB", MAX_CHUNK >> 10),
        ));
    }
    let end = offset.checked_add(len as i64);
    if offset < 0 || end.is_none_or(|e| e > size) {
        return Err(AppError::invalid(
            "chunk.offset",
            reason::OUT_OF_RANGE,
            format!("the chunk lies outside the file's {size} bytes"),
        ));
    }
    if offset > received {
        return Err(gap(received));
    }
    let end = offset + len as i64;
    if end <= received {
        return Ok(ChunkPlan::Held);
    }
    Ok(ChunkPlan::Store {
        skip: (received - offset) as usize,
        at: received,
    })
}

fn gap(received: i64) -> AppError {
    AppError::precondition(
        reason::ATTACHMENT_CHUNK_GAP,
        "attachment",
        format!("the server holds the first {received} bytes: send from there"),
    )
    .with_info("received_bytes", received)
}

/// R-TKT-13 / R-REC-1: a signature is a resident's personal data; it is
/// fetched only by those who see the subject's personal details.
pub fn may_fetch(kind: Kind, sees_personal_data: bool) -> bool {
    kind != Kind::Signature || sees_personal_data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_rec_1_chunks_resume_at_what_is_held() {
        let size = 10;
        assert_eq!(
            plan_chunk(0, size, 0, 4).unwrap(),
            ChunkPlan::Store { skip: 0, at: 0 }
        );
        // A re-sent chunk, whole or in part.
        assert_eq!(plan_chunk(4, size, 0, 4).unwrap(), ChunkPlan::Held);
        assert_eq!(
            plan_chunk(4, size, 2, 4).unwrap(),
            ChunkPlan::Store { skip: 2, at: 4 }
        );
        // At the edge: exactly at the resume point; one byte past it is a gap.
        assert_eq!(
            plan_chunk(4, size, 4, 6).unwrap(),
            ChunkPlan::Store { skip: 0, at: 4 }
        );
        let e = plan_chunk(4, size, 5, 1).unwrap_err();
        assert_eq!(e.reason(), reason::ATTACHMENT_CHUNK_GAP);
        // Not past the stated size; not empty; not negative.
        assert_eq!(
            plan_chunk(4, size, 4, 7).unwrap_err().reason(),
            reason::OUT_OF_RANGE
        );
        assert_eq!(
            plan_chunk(4, size, 4, 0).unwrap_err().reason(),
            reason::OUT_OF_RANGE
        );
        assert_eq!(
            plan_chunk(0, size, -1, 2).unwrap_err().reason(),
            reason::OUT_OF_RANGE
        );
        assert!(plan_chunk(0, MAX_BYTES, 0, MAX_CHUNK).is_ok());
        assert!(plan_chunk(0, MAX_BYTES, 0, MAX_CHUNK + 1).is_err());
    }

    #[test]
    fn r_rec_1_types_by_kind_and_by_their_first_bytes() {
        assert!(MediaType::Png.matches(b"\x89PNG\r\n\x1a\n...."));
        assert!(!MediaType::Png.matches(b"MZ\x90\x00"));
        assert!(MediaType::Jpeg.matches(&[0xFF, 0xD8, 0xFF, 0xE0]));
        assert!(MediaType::Pdf.matches(b"%PDF-1.7"));
        assert!(MediaType::Webp.matches(b"RIFF\x00\x00\x00\x00WEBPVP8 "));
        assert!(MediaType::Heic.matches(b"\x00\x00\x00\x18ftypheic"));
        assert!(!MediaType::Heic.matches(b"\x00\x00\x00\x18ftypisom"));
        assert!(!Kind::Signature.media_types().contains(&MediaType::Pdf));
        assert!(Kind::Document.media_types().contains(&MediaType::Pdf));
    }

    fn header() -> Header {
        Header {
            id: Uuid::nil(),
            subject_type: SubjectType::Ticket,
            subject_id: Uuid::nil(),
            kind: Kind::Photo,
            media_type: MediaType::Jpeg,
            size: 1,
            sha256: "a".repeat(64),
            file_name: String::new(),
            caption: String::new(),
            taken_at: None,
            device_id: None,
        }
    }

    #[test]
    fn r_rec_1_header_limits_at_their_edges() {
        assert!(header().check().is_ok());
        let sized = |size| Header { size, ..header() };
        assert!(sized(MAX_BYTES).check().is_ok());
        assert_eq!(
            sized(MAX_BYTES + 1).check().unwrap_err().reason(),
            reason::OUT_OF_RANGE
        );
        assert_eq!(sized(0).check().unwrap_err().reason(), reason::OUT_OF_RANGE);
        let pdf_signature = Header {
            kind: Kind::Signature,
            media_type: MediaType::Pdf,
            ..header()
        };
        assert_eq!(
            pdf_signature.check().unwrap_err().reason(),
            reason::ATTACHMENT_TYPE_NOT_ALLOWED
        );
        let upper = Header {
            sha256: "A".repeat(64),
            ..header()
        };
        assert_eq!(upper.check().unwrap_err().reason(), reason::INVALID_FIELD);
        let short = Header {
            sha256: "a".repeat(63),
            ..header()
        };
        assert!(short.check().is_err());
    }

    #[test]
    fn r_rec_1_a_signature_needs_the_personal_view() {
        assert!(may_fetch(Kind::Photo, false));
        assert!(may_fetch(Kind::Signature, true));
        assert!(!may_fetch(Kind::Signature, false));
    }
}
