//! Minimisation: what the policy keeps of URLs and window titles, applied
//! on ingest before anything is stored.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use regex::{Regex, RegexBuilder};

use crate::policy::{TitleRule, TrackingPolicy, UrlDetail};

/// What replaces a redacted part of a window title.
pub const REDACTED: &str = "[redacted]";

/// Compiled size allowed to one pattern: enough for any reasonable rule,
/// small enough that a pattern cannot make ingest slow (matching is
/// linear in the title with this engine).
const PATTERN_SIZE_LIMIT: usize = 64 * 1024;

/// Compiles a title pattern (case-insensitive), or says why it is refused.
pub fn compile(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .case_insensitive(true)
        .size_limit(PATTERN_SIZE_LIMIT)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(_) => "is too complex a pattern".to_owned(),
            other => format!("is not a valid pattern: {}", first_line(&other.to_string())),
        })
}

fn first_line(s: &str) -> &str {
    s.lines().last().unwrap_or(s).trim()
}

/// Compiled pattern lists, by list.
type Compiled = HashMap<Vec<String>, Arc<Vec<Regex>>>;

/// The compiled patterns of a policy, kept per process so a batch does not
/// compile them again. Bounded: cleared when it holds too many lists.
fn patterns(list: &[String]) -> Arc<Vec<Regex>> {
    static CACHE: OnceLock<Mutex<Compiled>> = OnceLock::new();
    let cache = CACHE.get_or_init(Mutex::default);
    let mut map = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(found) = map.get(list) {
        return found.clone();
    }
    if map.len() >= 256 {
        map.clear();
    }
    // Stored policies were validated; a pattern that no longer compiles
    // (an engine change) redacts the whole title rather than nothing.
    let compiled: Vec<Regex> = list
        .iter()
        .map(|p| compile(p).unwrap_or_else(|_| Regex::new("(?s).+").expect("a literal pattern")))
        .collect();
    let compiled = Arc::new(compiled);
    map.insert(list.to_vec(), compiled.clone());
    compiled
}

/// `url` cut to `detail`. User names and passwords in a URL are dropped
/// unless the whole URL is kept.
pub fn url(url: &str, detail: UrlDetail) -> String {
    if detail == UrlDetail::Full {
        return url.to_owned();
    }
    let (scheme, rest) = match url.find("://") {
        Some(at) => (&url[..at + 3], &url[at + 3..]),
        None => ("", url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    match detail {
        UrlDetail::Domain => format!("{scheme}{host}"),
        _ => {
            let tail = &rest[authority_end..];
            let path = &tail[..tail.find(['?', '#']).unwrap_or(tail.len())];
            format!("{scheme}{host}{path}")
        }
    }
}

/// What `rule` keeps of `title`, with `list` its patterns.
pub fn title(title: &str, rule: TitleRule, list: &[String]) -> Option<String> {
    match rule {
        TitleRule::Keep => Some(title.to_owned()),
        TitleRule::Drop => None,
        TitleRule::Redact => {
            let mut kept = title.to_owned();
            for re in patterns(list).iter() {
                if re.is_match(&kept) {
                    kept = re.replace_all(&kept, REDACTED).into_owned();
                }
            }
            Some(kept)
        }
    }
}

/// The URL and window title of one event as `policy` keeps them.
pub fn event_details(
    policy: &TrackingPolicy,
    url_in: Option<&str>,
    title_in: Option<&str>,
) -> (Option<String>, Option<String>) {
    let kept_url = url_in
        .filter(|_| policy.website_tracking_enabled)
        .map(|u| url(u, policy.url_detail));
    let kept_title = title_in
        .filter(|_| policy.app_tracking_enabled)
        .and_then(|t| title(t, policy.window_titles, &policy.title_patterns));
    (kept_url, kept_title)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_cut_to_the_detail_asked() {
        let u = "https://bob:secret@mail.example.com/inbox/42?search=salary#top";
        assert_eq!(url(u, UrlDetail::Full), u);
        assert_eq!(url(u, UrlDetail::Path), "https://mail.example.com/inbox/42");
        assert_eq!(url(u, UrlDetail::Domain), "https://mail.example.com");
        assert_eq!(url("docs.rs/serde?x=1", UrlDetail::Path), "docs.rs/serde");
        assert_eq!(url("docs.rs/serde?x=1", UrlDetail::Domain), "docs.rs");
        assert_eq!(
            url("https://a.example?q", UrlDetail::Path),
            "https://a.example"
        );
        assert_eq!(url("", UrlDetail::Domain), "");
    }

    #[test]
    fn titles_are_kept_dropped_or_redacted() {
        let pats = vec!["salary \\w+".to_owned(), "INBOX".to_owned()];
        let t = "Inbox (3) - salary review.xlsx";
        assert_eq!(title(t, TitleRule::Keep, &pats).as_deref(), Some(t));
        assert_eq!(title(t, TitleRule::Drop, &pats), None);
        assert_eq!(
            title(t, TitleRule::Redact, &pats).as_deref(),
            Some("[redacted] (3) - [redacted].xlsx")
        );
    }

    #[test]
    fn bad_and_huge_patterns_are_refused_with_a_reason() {
        assert!(
            compile("(unclosed")
                .unwrap_err()
                .contains("not a valid pattern")
        );
        assert_eq!(
            compile("\\w{1000}{1000}").unwrap_err(),
            "is too complex a pattern"
        );
        assert!(compile("payroll|salary").is_ok());
    }
}
