//! The shapes of text fields, stated once: the validators hold to them and
//! the OpenAPI document states them as JSON Schema patterns. The patterns
//! use explicit character classes only, so ECMA-262, Python's `re` (what
//! API fuzzers generate from) and Rust's `regex` read them alike.

/// Text of a name, title or reason: no control character (Unicode Cc)
/// and at least one character that is not white space. Its length is a
/// separate `minLength`/`maxLength`, counted in characters.
pub const TEXT_PATTERN: &str = r"^[^\u0000-\u001f\u007f-\u009f]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u001f\u007f-\u009f]*$";

/// A username as written: 3 to 64 of `A-Z a-z 0-9 . _ - @`. It is stored
/// and looked up in lower case.
pub const USERNAME_PATTERN: &str = r"^[A-Za-z0-9._@-]{3,64}$";

/// An email address, loosely: one `@` with text on both sides and no white
/// space or control character anywhere; at most [`EMAIL_MAX`] characters.
pub const EMAIL_PATTERN: &str = r"^[^@\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+@[^@\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$";

/// Longest email address, in characters.
pub const EMAIL_MAX: usize = 254;

/// Longest webhook URL, in bytes.
pub const WEBHOOK_URL_MAX: usize = 2048;

/// A webhook URL's outer shape: `http://` or `https://` and no white space
/// or control character. (A host, no credentials, and an address the
/// deployment may reach are checked beside it.)
pub const WEBHOOK_URL_PATTERN: &str =
    r"^https?://[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$";

/// A plan code: 1 to 32 of `A-Z 0-9 _`.
pub const PLAN_CODE_PATTERN: &str = "^[A-Z0-9_]{1,32}$";

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use regex::Regex;

    use super::*;
    use crate::error::Validator;
    use crate::identity::{validate_email, validate_username};

    /// Characters where the rules could disagree: every kind of white
    /// space and control, the pattern's own punctuation, and any other.
    fn tricky() -> impl Strategy<Value = String> {
        let c = prop_oneof![
            Just(' '),
            Just('\t'),
            Just('\n'),
            Just('\u{85}'),
            Just('\u{a0}'),
            Just('\u{1680}'),
            Just('\u{2009}'),
            Just('\u{200b}'),
            Just('\u{202f}'),
            Just('\u{3000}'),
            Just('\u{feff}'),
            Just('\u{7f}'),
            Just('\u{9f}'),
            Just('@'),
            Just('.'),
            Just('K'),
            Just('\u{212a}'),
            Just('a'),
            Just('é'),
            any::<char>(),
        ];
        prop::collection::vec(c, 0..8).prop_map(|cs| cs.into_iter().collect())
    }

    fn passes(check: impl FnOnce(&mut Validator)) -> bool {
        let mut v = Validator::new();
        check(&mut v);
        v.finish().is_ok()
    }

    proptest! {
        #[test]
        fn the_text_pattern_and_length_are_the_text_rule(s in tricky()) {
            let schema = Regex::new(TEXT_PATTERN).unwrap().is_match(&s)
                && (1..=5).contains(&s.chars().count());
            prop_assert_eq!(schema, passes(|v| v.text("f", &s, 1, 5)), "{:?}", s);
        }

        #[test]
        fn the_username_pattern_is_the_username_rule(s in tricky()) {
            let schema = Regex::new(USERNAME_PATTERN).unwrap().is_match(&s);
            prop_assert_eq!(schema, passes(|v| validate_username(v, "f", &s)), "{:?}", s);
        }

        #[test]
        fn the_email_pattern_and_length_are_the_email_rule(s in tricky()) {
            let schema = Regex::new(EMAIL_PATTERN).unwrap().is_match(&s)
                && s.chars().count() <= EMAIL_MAX;
            prop_assert_eq!(schema, passes(|v| validate_email(v, "f", &s)), "{:?}", s);
        }
    }

    #[test]
    fn the_patterns_compile() {
        for p in [
            TEXT_PATTERN,
            USERNAME_PATTERN,
            EMAIL_PATTERN,
            WEBHOOK_URL_PATTERN,
            PLAN_CODE_PATTERN,
        ] {
            Regex::new(p).unwrap();
        }
        assert!(!Regex::new(TEXT_PATTERN).unwrap().is_match("\u{3000} "));
        assert!(
            Regex::new(EMAIL_PATTERN)
                .unwrap()
                .is_match("ada@example.com")
        );
    }
}
