//! Cursor paging, the same on every list and every store.
//!
//! A list is ordered by a key that is unique within it (documented on each
//! store method); the cursor is the key of the last item of a page, and
//! the next page starts strictly after it. Cursors are opaque to clients.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};

/// Default page size.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest page size.
pub const MAX_LIMIT: u32 = 500;

/// Which page to read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct PageRequest {
    /// Start after this cursor; `None` for the first page.
    #[serde(default)]
    pub cursor: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 500))]
    pub limit: Option<u32>,
}

impl PageRequest {
    /// The first page of `limit` items.
    pub fn first(limit: u32) -> Self {
        Self {
            cursor: None,
            limit: Some(limit),
        }
    }

    /// The page after `cursor`.
    pub fn after(cursor: impl Into<String>, limit: u32) -> Self {
        Self {
            cursor: Some(cursor.into()),
            limit: Some(limit),
        }
    }

    /// The page size, validated.
    pub fn limit(&self) -> Result<usize> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT as usize),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n as usize),
            Some(n) => Err(Error::invalid(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}, got {n}"),
            )),
        }
    }

    /// The cursor decoded as an id key ([`ID_CURSOR_PATTERN`]).
    pub fn after_id(&self) -> Result<Option<Uuid>> {
        self.cursor.as_deref().map(decode_id).transpose()
    }

    /// The cursor decoded as a sequence number key ([`SEQ_CURSOR_PATTERN`]).
    pub fn after_seq(&self) -> Result<Option<u64>> {
        self.cursor.as_deref().map(decode_seq).transpose()
    }

    /// The cursor decoded as a (time, id) key ([`TIME_CURSOR_PATTERN`]).
    pub fn after_time_id(&self) -> Result<Option<(DateTime<Utc>, Uuid)>> {
        self.cursor.as_deref().map(decode_time_id).transpose()
    }
}

/// The cursors of lists ordered by id: a hyphenated UUID. Any cursor of
/// this shape is a place in the list, whether or not a page gave it out.
pub const ID_CURSOR_PATTERN: &str =
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

/// The cursors of lists ordered by sequence number (the audit chains).
pub const SEQ_CURSOR_PATTERN: &str = "^[0-9]{1,18}$";

/// The cursors of lists ordered by time, then id: microseconds since the
/// Unix epoch, `_`, and the id's 32 hex digits.
pub const TIME_CURSOR_PATTERN: &str = "^-?[0-9]{1,16}_[0-9a-f]{32}$";

fn bad_cursor() -> Error {
    Error::invalid("cursor", "is not a cursor this list gave out")
}

fn digits(s: &str, max: usize) -> bool {
    (1..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

fn decode_id(c: &str) -> Result<Uuid> {
    // 36 characters that parse are the hyphenated form and no other.
    (c.len() == 36)
        .then(|| Uuid::parse_str(c).ok())
        .flatten()
        .ok_or_else(bad_cursor)
}

fn decode_seq(c: &str) -> Result<u64> {
    // 18 digits stay below i64::MAX, what the SQL stores compare with.
    digits(c, 18)
        .then(|| c.parse().ok())
        .flatten()
        .ok_or_else(bad_cursor)
}

/// Encodes a (time, id) key.
pub fn encode_time_id(at: DateTime<Utc>, id: Uuid) -> String {
    format!("{}_{}", at.timestamp_micros(), id.simple())
}

fn decode_time_id(c: &str) -> Result<(DateTime<Utc>, Uuid)> {
    let (t, id) = c.split_once('_').ok_or_else(bad_cursor)?;
    let well_formed = digits(t.strip_prefix('-').unwrap_or(t), 16)
        && id.len() == 32
        && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !well_formed {
        return Err(bad_cursor());
    }
    let micros: i64 = t.parse().map_err(|_| bad_cursor())?;
    let at = DateTime::from_timestamp_micros(micros).ok_or_else(bad_cursor)?;
    let id = Uuid::parse_str(id).map_err(|_| bad_cursor())?;
    Ok((at, id))
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    /// The items, in list order.
    pub items: Vec<T>,
    /// Cursor of the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` items in list order: the extra
    /// item only tells that a next page exists.
    pub fn from_overfetch(mut items: Vec<T>, limit: usize, key: impl Fn(&T) -> String) -> Self {
        let more = items.len() > limit;
        items.truncate(limit);
        let next_cursor = if more { items.last().map(key) } else { None };
        Self { items, next_cursor }
    }

    /// Pages a list held whole in memory (a company's teams or agents):
    /// orders it by `key`, which must be unique within the list, and
    /// returns the page after the request's cursor, the last key seen.
    pub fn of_all(
        mut items: Vec<T>,
        page: &PageRequest,
        key: impl Fn(&T) -> String,
    ) -> Result<Self> {
        let limit = page.limit()?;
        items.sort_by_cached_key(|item| key(item));
        let start = match page.cursor.as_deref() {
            None => 0,
            Some(after) => items.partition_point(|item| key(item).as_str() <= after),
        };
        let rest: Vec<T> = items.into_iter().skip(start).take(limit + 1).collect();
        Ok(Self::from_overfetch(rest, limit, key))
    }

    /// Maps the items, keeping the cursor.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_cursors_are_validated() {
        assert_eq!(PageRequest::default().limit().unwrap(), 50);
        assert!(PageRequest::first(0).limit().is_err());
        assert!(PageRequest::first(501).limit().is_err());
        let bad = PageRequest::after("garbage", 10);
        assert_eq!(
            bad.after_id().unwrap_err().field_errors()[0].field,
            "cursor"
        );
        assert!(bad.after_seq().is_err());
        assert!(bad.after_time_id().is_err());
        let at = DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap();
        let id = Uuid::new_v4();
        let ok = PageRequest::after(encode_time_id(at, id), 10);
        assert_eq!(ok.after_time_id().unwrap(), Some((at, id)));
    }

    #[test]
    fn overfetch_tells_whether_more_exist() {
        let page = Page::from_overfetch(vec![1, 2, 3], 2, |n| n.to_string());
        assert_eq!(page.items, [1, 2]);
        assert_eq!(page.next_cursor.as_deref(), Some("2"));
        let last = Page::from_overfetch(vec![1, 2], 2, |n| n.to_string());
        assert_eq!(last.next_cursor, None);
    }

    #[test]
    fn whole_lists_page_in_key_order_without_gaps() {
        let names = ["delta", "alpha", "echo", "charlie", "bravo"];
        let items: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut seen = vec![];
        let mut page = PageRequest::first(2);
        loop {
            let p = Page::of_all(items.clone(), &page, |s| s.clone()).unwrap();
            assert!(p.items.len() <= 2);
            seen.extend(p.items);
            match p.next_cursor {
                Some(c) => page = PageRequest::after(c, 2),
                None => break,
            }
        }
        assert_eq!(seen, ["alpha", "bravo", "charlie", "delta", "echo"]);
        // A cursor of an item gone since still resumes in order.
        let p = Page::of_all(items, &PageRequest::after("c", 10), |s| s.clone()).unwrap();
        assert_eq!(p.items, ["charlie", "delta", "echo"]);
        assert!(Page::of_all(vec![1], &PageRequest::first(0), |n| n.to_string()).is_err());
    }

    mod patterns {
        use proptest::prelude::*;
        use regex::Regex;

        use super::super::*;

        /// Strings near the cursors' shapes: digits, hex of both cases,
        /// the separators, and now and then a whole real cursor.
        fn near() -> impl Strategy<Value = String> {
            prop_oneof![
                "[0-9a-fA-F_{}:+ -]{0,40}",
                "-?[0-9]{1,20}_[0-9a-fA-F]{30,34}",
                "[0-9]{15,20}",
                any::<u128>().prop_map(|n| Uuid::from_u128(n).to_string()),
                any::<u128>().prop_map(|n| Uuid::from_u128(n).simple().to_string()),
                any::<u128>().prop_map(|n| Uuid::from_u128(n).braced().to_string()),
                (any::<i64>(), any::<u128>()).prop_map(|(t, n)| format!(
                    "{}_{}",
                    t / 1000,
                    Uuid::from_u128(n).simple()
                )),
            ]
        }

        fn agree(pattern: &str, s: &str, decoded: bool) -> Result<(), TestCaseError> {
            let said = Regex::new(pattern).unwrap().is_match(s);
            prop_assert_eq!(said, decoded, "{} on {:?}", pattern, s);
            Ok(())
        }

        proptest! {
            #[test]
            fn each_pattern_is_what_its_decoder_accepts(s in near()) {
                let page = PageRequest::after(s.clone(), 10);
                agree(ID_CURSOR_PATTERN, &s, page.after_id().is_ok())?;
                agree(SEQ_CURSOR_PATTERN, &s, page.after_seq().is_ok())?;
                agree(TIME_CURSOR_PATTERN, &s, page.after_time_id().is_ok())?;
            }

            #[test]
            fn cursors_given_out_match_their_pattern(n in any::<u128>(), micros in -10_i64.pow(15)..10_i64.pow(16)) {
                let id = Uuid::from_u128(n);
                let at = DateTime::from_timestamp_micros(micros).unwrap();
                prop_assert!(Regex::new(ID_CURSOR_PATTERN).unwrap().is_match(&id.to_string()));
                prop_assert!(Regex::new(TIME_CURSOR_PATTERN).unwrap().is_match(&encode_time_id(at, id)));
            }
        }
    }
}
