//! What every page starts from: where the console is mounted ([`Base`])
//! and what can go wrong on it ([`PageError`], drawn by `page`).

use axum::extract::NestedPath;
use axum::http::request::Parts;

/// Where the console is mounted: `""` at the root, or the prefix it is
/// nested under.
#[derive(Debug, Clone, Default)]
pub(crate) struct Base(String);

impl Base {
    /// The base of a request: the path the console is nested under, if
    /// it is (axum records it on the request).
    pub(crate) fn of(parts: &Parts) -> Self {
        let prefix = parts
            .extensions
            .get::<NestedPath>()
            .map_or("", |n| n.as_str())
            .trim_end_matches('/');
        Self(prefix.to_owned())
    }

    /// The prefix, without a trailing slash (`""` at the root).
    pub(crate) fn prefix(&self) -> &str {
        &self.0
    }

    /// A path of the console.
    pub(crate) fn at(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }

    /// The console's start page (`/`, or the prefix itself: a nested
    /// router has no path with a trailing slash).
    pub(crate) fn home(&self) -> String {
        if self.0.is_empty() {
            "/".to_owned()
        } else {
            self.0.clone()
        }
    }

    /// The cookies' path.
    pub(crate) fn cookie_path(&self) -> &str {
        if self.0.is_empty() { "/" } else { &self.0 }
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Base {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::of(parts))
    }
}

/// What can go wrong on a page.
#[derive(Debug)]
pub(crate) enum PageError {
    /// The service refused or failed.
    Core(tracker_core::Error),
    /// A form without its CSRF token, or with another session's.
    Csrf,
    /// A form field the console could not read.
    BadForm(String),
}

impl From<tracker_core::Error> for PageError {
    fn from(e: tracker_core::Error) -> Self {
        PageError::Core(e)
    }
}
