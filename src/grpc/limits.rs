//! Bounds on every request field (proto/fieldops/v1/field_limits.proto),
//! read once from the API's own descriptor and checked on the encoded
//! request before it is decoded: a string's length in characters, that it
//! is UTF-8 without NUL characters (which PostgreSQL cannot store, and
//! SQLite would store where no screen shows them), a repeated field's count;
//! nested messages (a Push batch's requests) are checked the same way, with
//! their paths. A field without limits of its own has the defaults.
use crate::error::{AppError, reason};
use prost::encoding::{WireType, decode_key, decode_varint};
use prost_reflect::{DescriptorPool, Kind, Value};
use std::collections::HashMap;
use std::sync::LazyLock;

/// A string field without `max_chars`.
pub const DEFAULT_MAX_CHARS: usize = 256;
/// A repeated field without `max_items`.
pub const DEFAULT_MAX_ITEMS: usize = 100;
/// Nested messages deeper than this are refused (no request nests half as deep).
const MAX_DEPTH: usize = 16;

/// What the check knows of one field.
#[derive(Debug, Clone)]
struct Field {
    name: String,
    shape: Shape,
    /// For a repeated field, the most items.
    max_items: Option<usize>,
}

#[derive(Debug, Clone)]
enum Shape {
    Text {
        max_chars: usize,
    },
    Bytes {
        max_bytes: usize,
    },
    Message(String),
    /// Numbers, booleans, enums: their own decoding bounds them.
    Scalar,
}

type Rules = HashMap<String, HashMap<u32, Field>>;

static RULES: LazyLock<Rules> = LazyLock::new(|| rules(super::FILE_DESCRIPTOR_SET));

fn rules(descriptor_set: &[u8]) -> Rules {
    let pool = DescriptorPool::decode(descriptor_set).expect("the API's own descriptor decodes");
    let ext = pool.get_extension_by_name("fieldops.v1.limits");
    let mut out = Rules::new();
    for message in pool.all_messages() {
        let mut fields = HashMap::new();
        for f in message.fields() {
            let (mut max_chars, mut max_items) = (None, None);
            if let Some(ext) = &ext {
                let options = f.options();
                if options.has_extension(ext)
                    && let Value::Message(limits) = options.get_extension(ext).as_ref()
                {
                    let get = |name: &str| match limits.get_field_by_name(name).as_deref() {
                        Some(Value::U32(n)) if *n > 0 => Some(*n as usize),
                        _ => None,
                    };
                    max_chars = get("max_chars");
                    max_items = get("max_items");
                }
            }
            let shape = match f.kind() {
                Kind::String => Shape::Text {
                    max_chars: max_chars.unwrap_or(DEFAULT_MAX_CHARS),
                },
                Kind::Bytes => Shape::Bytes {
                    max_bytes: max_chars.unwrap_or(DEFAULT_MAX_CHARS),
                },
                Kind::Message(m) => Shape::Message(m.full_name().to_string()),
                _ => Shape::Scalar,
            };
            let max_items = f.is_list().then(|| max_items.unwrap_or(DEFAULT_MAX_ITEMS));
            fields.insert(
                f.number(),
                Field {
                    name: f.name().to_string(),
                    shape,
                    max_items,
                },
            );
        }
        out.insert(message.full_name().to_string(), fields);
    }
    out
}

/// Full names of the API's request messages by their short names.
static REQUESTS: LazyLock<HashMap<&'static str, &'static str>> = LazyLock::new(|| {
    RULES
        .keys()
        .filter_map(|full| {
            let short = full.strip_prefix("fieldops.v1.")?;
            short.ends_with("Request").then_some((short, full.as_str()))
        })
        .collect()
});

/// The protobuf name of a generated fieldops request type (its Rust name
/// ends in `Request`), or None for anything else (replies, other packages).
/// Asked once per call: no allocation, no lock.
pub fn proto_name<U>() -> Option<&'static str> {
    let rust = std::any::type_name::<U>();
    let short = rust.strip_prefix("fieldops::grpc::pb::")?;
    REQUESTS.get(short).copied()
}

/// Check an encoded `message` against its limits.
pub fn check(message: &str, body: &[u8]) -> Result<(), AppError> {
    walk(message, body, "", 0)
}

fn malformed() -> AppError {
    AppError::invalid(
        "",
        reason::MALFORMED_REQUEST,
        "the request body is not a valid message of this method",
    )
}

fn walk(message: &str, mut buf: &[u8], path: &str, depth: usize) -> Result<(), AppError> {
    if depth > MAX_DEPTH {
        return Err(malformed());
    }
    let Some(fields) = RULES.get(message) else {
        return Ok(());
    };
    let mut counts: HashMap<u32, usize> = HashMap::new();
    while !buf.is_empty() {
        let (number, wire) = decode_key(&mut buf).map_err(|_| malformed())?;
        let field = fields.get(&number);
        let value: &[u8] = match wire {
            WireType::Varint => {
                decode_varint(&mut buf).map_err(|_| malformed())?;
                count(field, number, 1, &mut counts, path)?;
                continue;
            }
            WireType::SixtyFourBit | WireType::ThirtyTwoBit => {
                let n = if wire == WireType::SixtyFourBit { 8 } else { 4 };
                if buf.len() < n {
                    return Err(malformed());
                }
                buf = &buf[n..];
                count(field, number, 1, &mut counts, path)?;
                continue;
            }
            WireType::LengthDelimited => {
                let len = decode_varint(&mut buf).map_err(|_| malformed())?;
                let len = usize::try_from(len).map_err(|_| malformed())?;
                if buf.len() < len {
                    return Err(malformed());
                }
                let (value, rest) = buf.split_at(len);
                buf = rest;
                value
            }
            WireType::StartGroup | WireType::EndGroup => return Err(malformed()),
        };
        let Some(field) = field else { continue };
        let index = counts.get(&number).copied().unwrap_or(0);
        let at = |path: &str| {
            let mut p = path.to_string();
            if !p.is_empty() {
                p.push('.');
            }
            p.push_str(&field.name);
            if field.max_items.is_some() {
                p.push_str(&format!("[{index}]"));
            }
            p
        };
        match &field.shape {
            Shape::Text { max_chars } => {
                count(Some(field), number, 1, &mut counts, path)?;
                let text = std::str::from_utf8(value).map_err(|_| {
                    AppError::invalid(at(path), reason::INVALID_TEXT, "text is not valid UTF-8")
                })?;
                if text.contains('\0') {
                    return Err(AppError::invalid(
                        at(path),
                        reason::INVALID_TEXT,
                        "text must not contain NUL characters",
                    ));
                }
                if value.len() > *max_chars && text.chars().count() > *max_chars {
                    return Err(AppError::invalid(
                        at(path),
                        reason::FIELD_TOO_LONG,
                        format!("at most {max_chars} characters"),
                    ));
                }
            }
            Shape::Bytes { max_bytes } => {
                count(Some(field), number, 1, &mut counts, path)?;
                if value.len() > *max_bytes {
                    return Err(AppError::invalid(
                        at(path),
                        reason::FIELD_TOO_LONG,
                        format!("at most {max_bytes} bytes"),
                    ));
                }
            }
            Shape::Message(inner) => {
                count(Some(field), number, 1, &mut counts, path)?;
                walk(inner, value, &at(path), depth + 1)?;
            }
            Shape::Scalar => {
                // A packed repeated field: count its items.
                let mut items = value;
                let mut n = 0;
                while !items.is_empty() {
                    decode_varint(&mut items).map_err(|_| malformed())?;
                    n += 1;
                }
                count(Some(field), number, n, &mut counts, path)?;
            }
        }
    }
    Ok(())
}

/// Count `n` more items of a repeated field; refuse past its maximum.
fn count(
    field: Option<&Field>,
    number: u32,
    n: usize,
    counts: &mut HashMap<u32, usize>,
    path: &str,
) -> Result<(), AppError> {
    let Some(field) = field else { return Ok(()) };
    let Some(max) = field.max_items else {
        return Ok(());
    };
    let c = counts.entry(number).or_default();
    *c += n;
    if *c > max {
        let name = if path.is_empty() {
            field.name.clone()
        } else {
            format!("{path}.{}", field.name)
        };
        return Err(AppError::invalid(
            name,
            reason::TOO_MANY_ITEMS,
            format!("at most {max} items"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grpc::pb;
    use prost::Message;

    fn violation(message: &str, body: &[u8]) -> (String, &'static str) {
        match check(message, body).unwrap_err() {
            AppError::InvalidArgument { reason, violations } => {
                (violations[0].field.clone(), reason)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn limits_come_from_the_descriptor() {
        let t = &RULES["fieldops.v1.CreateTicketRequest"];
        let content = t.values().find(|f| f.name == "content").unwrap();
        assert!(matches!(content.shape, Shape::Text { max_chars: 4000 }));
        let id = t.values().find(|f| f.name == "request_id").unwrap();
        assert!(matches!(
            id.shape,
            Shape::Text {
                max_chars: DEFAULT_MAX_CHARS
            }
        ));
        let push = &RULES["fieldops.v1.PushRequest"];
        assert_eq!(
            push.values()
                .find(|f| f.name == "mutations")
                .unwrap()
                .max_items,
            Some(500)
        );
    }

    #[test]
    fn text_at_its_limit_passes_and_one_more_is_refused() {
        let mut req = pb::CreateTicketRequest {
            content: "热".repeat(4000),
            ..Default::default()
        };
        check("fieldops.v1.CreateTicketRequest", &req.encode_to_vec()).unwrap();
        req.content.push('热');
        let (field, reason) = violation("fieldops.v1.CreateTicketRequest", &req.encode_to_vec());
        assert_eq!(
            (field.as_str(), reason),
            ("content", reason::FIELD_TOO_LONG)
        );
    }

    #[test]
    fn nested_requests_are_checked_with_their_path() {
        let push = pb::PushRequest {
            client_id: "c".into(),
            mutations: vec![
                pb::Mutation::default(),
                pb::Mutation {
                    mutation_id: 2,
                    request: Some(pb::mutation::Request::Completion(
                        pb::CompleteRepairRequest {
                            resolution: Some(pb::Resolution {
                                notes: "x".repeat(2001),
                                ..Default::default()
                            }),
                            ..Default::default()
                        },
                    )),
                },
            ],
        };
        let (field, reason) = violation("fieldops.v1.PushRequest", &push.encode_to_vec());
        assert_eq!(field, "mutations[1].completion.resolution.notes");
        assert_eq!(reason, reason::FIELD_TOO_LONG);
    }

    #[test]
    fn nul_and_bad_utf8_and_counts_are_refused() {
        let req = pb::GetTicketRequest {
            ticket_id: "a\0b".into(),
        };
        let (field, reason) = violation("fieldops.v1.GetTicketRequest", &req.encode_to_vec());
        assert_eq!(
            (field.as_str(), reason),
            ("ticket_id", reason::INVALID_TEXT)
        );
        // Field 1, length 2, bytes 0xff 0xfe.
        let (field, reason) = violation("fieldops.v1.GetTicketRequest", &[0x0a, 2, 0xff, 0xfe]);
        assert_eq!(
            (field.as_str(), reason),
            ("ticket_id", reason::INVALID_TEXT)
        );
        let parts = pb::Resolution {
            parts: vec!["p".into(); 51],
            ..Default::default()
        };
        let (field, reason) = violation("fieldops.v1.Resolution", &parts.encode_to_vec());
        assert_eq!((field.as_str(), reason), ("parts", reason::TOO_MANY_ITEMS));
        // Truncated: a length beyond the body.
        let (_, reason) = violation("fieldops.v1.GetTicketRequest", &[0x0a, 9, b'a']);
        assert_eq!(reason, reason::MALFORMED_REQUEST);
    }

    #[test]
    fn only_fieldops_requests_have_a_proto_name() {
        assert_eq!(
            proto_name::<pb::CreateTicketRequest>(),
            Some("fieldops.v1.CreateTicketRequest")
        );
        assert_eq!(proto_name::<pb::Ticket>(), None);
        assert_eq!(proto_name::<prost_types::Timestamp>(), None);
    }
}
