//! Pages (AIP-158): their sizes, and the opaque tokens and feed cursors a
//! client hands back to continue. Tokens carry an HMAC-SHA256 tag made with
//! a key every instance sharing the database reads from it, so any instance
//! accepts what another gave out and nobody can forge one: a token the
//! server did not issue is INVALID_ARGUMENT. A page is bounded by bytes as
//! well as by count, so it always fits the message limit whatever its items
//! hold.
use crate::error::{AppError, AppResult, reason};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::Arc;
use uuid::Uuid;

pub const DEFAULT_PAGE_SIZE: u64 = 50;
pub const MAX_PAGE_SIZE: u64 = 500;

/// Bytes of the tag kept in a token: 128 bits.
const TAG: usize = 16;
/// What a repeated field adds to each item on the wire (tag and length).
const ITEM_OVERHEAD: usize = 6;

/// 0 means the default; above the maximum is coerced down; negative is bad input.
pub fn page_size(requested: i32) -> AppResult<u64> {
    match requested {
        n if n < 0 => Err(AppError::invalid(
            "page_size",
            reason::OUT_OF_RANGE,
            "page_size must not be negative",
        )),
        0 => Ok(DEFAULT_PAGE_SIZE),
        n => Ok((n as u64).min(MAX_PAGE_SIZE)),
    }
}

/// Signs and checks tokens, and cuts pages to size.
#[derive(Clone)]
pub struct Pager {
    key: Arc<[u8]>,
    /// The most bytes of items one page may carry.
    page_bytes: usize,
}

impl Pager {
    pub fn new(key: &[u8], page_bytes: usize) -> Pager {
        Pager {
            key: key.into(),
            page_bytes,
        }
    }

    pub fn page_bytes(&self) -> usize {
        self.page_bytes
    }

    fn tag(&self, text: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(text);
        mac
    }

    /// A token is `kind:key` and its tag, base64url-encoded; `kind` stops a
    /// token of one list being used on another.
    pub fn encode(&self, kind: &str, key: &str) -> String {
        let text = format!("{kind}:{key}");
        let tag = self.tag(text.as_bytes()).finalize().into_bytes();
        let mut raw = text.into_bytes();
        raw.extend_from_slice(&tag[..TAG]);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// The key of a token this server issued for `kind`; None for "".
    pub fn decode(&self, kind: &str, token: &str) -> AppResult<Option<String>> {
        if token.is_empty() {
            return Ok(None);
        }
        let bad = bad_token;
        let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
        if raw.len() < TAG {
            return Err(bad());
        }
        let (text, tag) = raw.split_at(raw.len() - TAG);
        self.tag(text)
            .verify_truncated_left(tag)
            .map_err(|_| bad())?;
        let text = std::str::from_utf8(text).map_err(|_| bad())?;
        let key = text
            .strip_prefix(kind)
            .and_then(|r| r.strip_prefix(':'))
            .ok_or_else(bad)?;
        Ok(Some(key.to_string()))
    }

    /// The record id (a UUID, as text) a token of `kind` names; None for "".
    pub fn decode_id(&self, kind: &str, token: &str) -> AppResult<Option<String>> {
        self.decode(kind, token)?
            .map(|k| Uuid::parse_str(&k).map(|id| id.to_string()))
            .transpose()
            .map_err(|_| bad_token())
    }

    /// Keyset tokens over (time in micros, id) for lists ordered newest first.
    pub fn encode_pair(&self, kind: &str, at: i64, id: &str) -> String {
        self.encode(kind, &format!("{at}/{id}"))
    }

    pub fn decode_pair(&self, kind: &str, token: &str) -> AppResult<Option<(i64, String)>> {
        let Some(key) = self.decode(kind, token)? else {
            return Ok(None);
        };
        let bad = bad_token;
        let (at, id) = key.split_once('/').ok_or_else(bad)?;
        Ok(Some((at.parse().map_err(|_| bad())?, id.to_string())))
    }

    /// Trim `limit + 1` fetched rows to a page: at most `limit` items and
    /// at most `page_bytes` of them by `size_of` (the item as the reply
    /// encodes it), at least one. The token names the last item kept.
    pub fn page<T>(
        &self,
        mut items: Vec<T>,
        limit: u64,
        size_of: impl Fn(&T) -> usize,
        token_of: impl Fn(&T) -> String,
    ) -> Page<T> {
        let keep = self.fitting(&items, limit as usize, size_of);
        let next_page_token = if items.len() > keep {
            items.truncate(keep);
            items.last().map(&token_of).unwrap_or_default()
        } else {
            String::new()
        };
        Page {
            items,
            next_page_token,
        }
    }

    /// How many of `items` (at most `limit`, at least one) fit the page's bytes.
    pub fn fitting<T>(&self, items: &[T], limit: usize, size_of: impl Fn(&T) -> usize) -> usize {
        let mut used = 0;
        for (i, item) in items.iter().take(limit).enumerate() {
            used += size_of(item) + ITEM_OVERHEAD;
            if used > self.page_bytes && i > 0 {
                return i;
            }
        }
        items.len().min(limit)
    }
}

fn bad_token() -> AppError {
    AppError::invalid(
        "page_token",
        reason::INVALID_PAGE_TOKEN,
        "page_token is not valid for this list",
    )
}

/// A page of results and the token of the next page ("" at the end).
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_page_token: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pager() -> Pager {
        Pager::new(b"test key", 100)
    }

    #[test]
    fn sizes() {
        assert_eq!(page_size(0).unwrap(), 50);
        assert_eq!(page_size(7).unwrap(), 7);
        assert_eq!(page_size(10_000).unwrap(), 500);
        assert!(page_size(-1).is_err());
    }

    #[test]
    fn tokens_round_trip_and_are_kind_checked() {
        let p = pager();
        let t = p.encode("tickets", "abc");
        assert_eq!(p.decode("tickets", &t).unwrap().as_deref(), Some("abc"));
        assert!(p.decode("events", &t).is_err());
        assert!(p.decode("tickets", "!!!").is_err());
        assert_eq!(p.decode("tickets", "").unwrap(), None);
    }

    #[test]
    fn forged_or_foreign_tokens_are_refused() {
        let p = pager();
        let t = p.encode("tickets", "abc");
        // Another key (another deployment), an unsigned token, a changed key.
        assert!(Pager::new(b"other key", 100).decode("tickets", &t).is_err());
        assert!(
            p.decode("tickets", &URL_SAFE_NO_PAD.encode("tickets:abc"))
                .is_err()
        );
        let mut raw = URL_SAFE_NO_PAD.decode(&t).unwrap();
        raw[9] = b'x';
        assert!(p.decode("tickets", &URL_SAFE_NO_PAD.encode(raw)).is_err());
    }

    #[test]
    fn pages_are_cut_by_bytes_too() {
        let p = pager();
        // 30 + 6 bytes an item: two fit in 100, the third does not.
        let page = p.page(vec![1, 2, 3, 4], 10, |_| 30, |i| i.to_string());
        assert_eq!(page.items, [1, 2]);
        assert_eq!(page.next_page_token, "2");
        // One item larger than a page still makes a page of one.
        let page = p.page(vec![1, 2], 10, |_| 500, |i| i.to_string());
        assert_eq!(page.items, [1]);
        // By count.
        let page = p.page(vec![1, 2, 3], 2, |_| 1, |i| i.to_string());
        assert_eq!((page.items, page.next_page_token), (vec![1, 2], "2".into()));
        let page = p.page(vec![1, 2], 2, |_| 1, |i| i.to_string());
        assert_eq!(
            (page.items, page.next_page_token),
            (vec![1, 2], String::new())
        );
    }
}
