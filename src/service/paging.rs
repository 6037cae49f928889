//! Page sizes and opaque page tokens (AIP-158).
use crate::error::{AppError, AppResult, reason};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub const DEFAULT_PAGE_SIZE: u64 = 50;
pub const MAX_PAGE_SIZE: u64 = 500;

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

/// A token is `kind:key`, base64url-encoded; `kind` stops a token of one list
/// being used on another.
pub fn encode(kind: &str, key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}:{key}"))
}

pub fn decode(kind: &str, token: &str) -> AppResult<Option<String>> {
    if token.is_empty() {
        return Ok(None);
    }
    let bad = || {
        AppError::invalid(
            "page_token",
            reason::INVALID_PAGE_TOKEN,
            "page_token is not valid for this list",
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let key = text
        .strip_prefix(kind)
        .and_then(|r| r.strip_prefix(':'))
        .ok_or_else(bad)?;
    Ok(Some(key.to_string()))
}

/// Keyset tokens over (time in micros, id) for lists ordered newest first.
pub fn encode_pair(kind: &str, at: i64, id: &str) -> String {
    encode(kind, &format!("{at}/{id}"))
}

pub fn decode_pair(kind: &str, token: &str) -> AppResult<Option<(i64, String)>> {
    let Some(key) = decode(kind, token)? else {
        return Ok(None);
    };
    let bad = || {
        AppError::invalid(
            "page_token",
            reason::INVALID_PAGE_TOKEN,
            "page_token is not valid for this list",
        )
    };
    let (at, id) = key.split_once('/').ok_or_else(bad)?;
    Ok(Some((at.parse().map_err(|_| bad())?, id.to_string())))
}

/// A page of results and the token of the next page ("" at the end).
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_page_token: String,
}

/// Trim `limit + 1` fetched rows to a page; the token names the last item kept.
pub fn page<T>(mut items: Vec<T>, limit: u64, token_of: impl Fn(&T) -> String) -> Page<T> {
    let next_page_token = if items.len() as u64 > limit {
        items.truncate(limit as usize);
        items.last().map(&token_of).unwrap_or_default()
    } else {
        String::new()
    };
    Page {
        items,
        next_page_token,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(page_size(0).unwrap(), 50);
        assert_eq!(page_size(7).unwrap(), 7);
        assert_eq!(page_size(10_000).unwrap(), 500);
        assert!(page_size(-1).is_err());
    }

    #[test]
    fn tokens_round_trip_and_are_kind_checked() {
        let t = encode("tickets", "abc");
        assert_eq!(decode("tickets", &t).unwrap().as_deref(), Some("abc"));
        assert!(decode("events", &t).is_err());
        assert!(decode("tickets", "!!!").is_err());
        assert_eq!(decode("tickets", "").unwrap(), None);
    }
}
