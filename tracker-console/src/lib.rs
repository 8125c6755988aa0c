//! The web console of `tracker`: server-rendered pages for the OWNER,
//! company ADMINs and MANAGERs, and every employee, as an axum [`Router`]
//! to mount at `/` or nest under any prefix.
//!
//! ```
//! use std::sync::Arc;
//! use tracker_core::{MemoryStore, Tracker, store::Store};
//!
//! let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
//! let tracker = Arc::new(Tracker::builder_shared(store).build());
//! let app: axum::Router = axum::Router::new()
//!     .nest("/api/v1", tracker_axum::router(tracker.clone()).into())
//!     .merge(tracker_console::Console::new(tracker).router());
//! # drop(app);
//! ```
//!
//! Every page calls the [`Tracker`] service with the signed-in
//! [`Principal`](tracker_core::Principal): the same permission matrix and
//! company-access rule as the JSON API, and nothing reads a store. Pages
//! are HTML from [maud](https://docs.rs/maud) templates (every value is
//! escaped), charts are SVG drawn on the server, and the stylesheet and the
//! one small script are served from the binary.
//!
//! # Sessions and safety
//!
//! - Signing in makes an API token of the user; the session cookie holds it
//!   with a stamp of the last request, signed with the console's key. The
//!   cookie is `HttpOnly` and `SameSite=Strict` (`Secure` when
//!   [`ConsoleConfig::secure_cookies`]). A session idle for longer than
//!   [`ConsoleConfig::idle_timeout`] ends, and, being a token, it dies
//!   with deactivation, a password change and company suspension.
//! - Every form carries a CSRF token derived from the session (the sign-in
//!   form: from a cookie of its own); a POST without it is refused.
//! - Every answer sends a `Content-Security-Policy` without inline scripts
//!   or styles, `X-Frame-Options: DENY`, `Referrer-Policy: same-origin` and
//!   `X-Content-Type-Options: nosniff`.
//!
//! # Map
//!
//! `session` (cookies, stamps, CSRF), `page` (the layout, navigation by
//! role, error pages), `chart` (SVG timeline, bars and columns, the heat
//! map table), `format` (durations, times in the company's timezone),
//! `thumbnail` (gallery pictures, drawn once and kept by the service), and
//! the pages under `pages`: one module per portal, the company's split into
//! people, teams, tracking lists, reports and alerts, with `filter` for the
//! query strings and paging links they share and `privacy` for who looked
//! at whose data, each person's archive, legal holds and erasure.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod assets;
mod chart;
mod format;
mod page;
mod pages;
mod request;
mod session;
mod thumbnail;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use tracker_core::Tracker;

/// Settings of the console.
#[derive(Clone)]
pub struct ConsoleConfig {
    /// Mark the cookies `Secure`: set it when the console is served over
    /// HTTPS (directly or behind a proxy). Default false.
    pub secure_cookies: bool,
    /// A session with no request for this long ends. Default 30 minutes.
    pub idle_timeout: Duration,
    /// The key that signs session stamps and CSRF tokens. Default: random
    /// at start, so sessions end with a restart; give every node the same
    /// key for sessions that survive restarts and cross nodes.
    pub key: Option<[u8; 32]>,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            secure_cookies: false,
            idle_timeout: Duration::from_secs(30 * 60),
            key: None,
        }
    }
}

impl std::fmt::Debug for ConsoleConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleConfig")
            .field("secure_cookies", &self.secure_cookies)
            .field("idle_timeout", &self.idle_timeout)
            .field("key", &self.key.map(|_| "[redacted]"))
            .finish()
    }
}

/// What every page handler shares.
pub(crate) struct Shared {
    pub(crate) tracker: Arc<Tracker>,
    pub(crate) config: ConsoleConfig,
    pub(crate) key: [u8; 32],
}

/// The handlers' state.
pub(crate) type State = Arc<Shared>;

/// Builds the console's router over a [`Tracker`].
pub struct Console {
    tracker: Arc<Tracker>,
    config: ConsoleConfig,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Console {
    /// The console over `tracker`, with the default settings.
    pub fn new(tracker: Arc<Tracker>) -> Self {
        Self {
            tracker,
            config: ConsoleConfig::default(),
        }
    }

    /// Replaces the settings.
    pub fn config(mut self, config: ConsoleConfig) -> Self {
        self.config = config;
        self
    }

    /// The router: pages, the sign-in form and the assets.
    ///
    /// # Panics
    ///
    /// When no key is configured and the operating system gives no random
    /// bytes for one.
    pub fn router(self) -> Router {
        let key = self.config.key.unwrap_or_else(|| {
            let mut key = [0u8; 32];
            getrandom::fill(&mut key).expect("the OS random source");
            key
        });
        let state: State = Arc::new(Shared {
            tracker: self.tracker,
            config: self.config,
            key,
        });
        pages::routes()
            .merge(assets::routes())
            .layer(middleware::from_fn(security_headers))
            .with_state(state)
    }
}

/// The console over `tracker` with the default settings (see [`Console`]).
pub fn router(tracker: Arc<Tracker>) -> Router {
    Console::new(tracker).router()
}

/// The content security policy: nothing inline, nothing from elsewhere.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}
