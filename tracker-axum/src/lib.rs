//! The HTTP adapter of `tracker`: [`router`] serves the [`Tracker`] service
//! as JSON under `/api/v1`, with RFC 9457 problem documents for every
//! error.
//!
//! ```
//! use std::sync::Arc;
//! use tracker_core::{MemoryStore, Tracker, store::Store};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
//! let tracker = Arc::new(Tracker::builder_shared(store).build());
//! // Nest it under a prefix of your own, or serve it as it is.
//! let app = axum::Router::new().nest("/tracking", tracker_axum::router(tracker));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! # let serve = async move {
//! axum::serve(listener, app).await
//! # };
//! # drop(serve);
//! # Ok(())
//! # }
//! ```
//!
//! # What the router does
//!
//! Served so far: `POST /auth/login`, `POST /auth/logout`, the agent
//! routes (`/agent/heartbeat`, `/agent/policy`, `/agent/sessions`,
//! `/agent/sessions/{id}/stop`, `/agent/activity`, `/agent/tasks`,
//! `/agent/sync-status`), `/healthz` and `/readyz`. The company, self-service
//! and owner routes of the design follow.
//!
//! - Company users and owners send `Authorization: Bearer <token>` (the
//!   `Token` scheme is accepted too); agent routes also need
//!   `X-Company-Key`, which must be the key of the token's company.
//! - JSON bodies must be `application/json`: another media type is 415, a
//!   body over [`HttpConfig::json_limit`] 413, malformed JSON 400, and JSON
//!   of the wrong shape (wrong type, missing or unknown field) 422 with the
//!   field's path.
//! - Errors are `application/problem+json` with a stable `code`; the
//!   status of each code is [`error::status_of`]. A storage failure is the
//!   only 500, and its body says nothing of the cause (the log does).
//! - `GET /agent/policy` answers 304 to an `If-None-Match` naming the
//!   current version.
//! - Every request gets an `x-request-id` (kept if the client sent one), a
//!   tracing span, and a timeout ([`HttpConfig::request_timeout`]).
//! - `GET /healthz` and `GET /readyz` (the store answers) sit at the root
//!   of the router.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod error;
pub mod extract;
mod routes;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, StatusCode};
use axum::routing::{get, post};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tracker_core::Tracker;

pub use crate::error::ApiError;

/// Limits of the HTTP layer.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Largest JSON body in bytes. Default 1 MiB (a batch of 1,000 events
    /// with long titles and URLs fits).
    pub json_limit: usize,
    /// Longest a request may take before it is answered 408. Default 30 s.
    pub request_timeout: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            json_limit: 1 << 20,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// What every handler sees.
#[derive(Clone)]
pub struct AppState {
    tracker: Arc<Tracker>,
    config: Arc<HttpConfig>,
}

/// The router with default limits.
pub fn router(tracker: Arc<Tracker>) -> Router {
    router_with(tracker, HttpConfig::default())
}

/// The router with limits of the caller's choice.
pub fn router_with(tracker: Arc<Tracker>, config: HttpConfig) -> Router {
    let state = AppState {
        tracker,
        config: Arc::new(config.clone()),
    };
    let api = Router::new()
        .route("/auth/login", post(routes::auth::login))
        .route("/auth/logout", post(routes::auth::logout))
        .route("/agent/heartbeat", post(routes::agent::heartbeat))
        .route("/agent/policy", get(routes::agent::policy))
        .route("/agent/sessions", post(routes::agent::start_session))
        .route(
            "/agent/sessions/{id}/stop",
            post(routes::agent::stop_session),
        )
        .route("/agent/activity", post(routes::agent::activity))
        .route("/agent/tasks", get(routes::agent::tasks))
        .route("/agent/sync-status", get(routes::agent::sync_status))
        .fallback(|| async { ApiError::NoRoute })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed });
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .nest("/api/v1", api)
        .route("/healthz", get(routes::ops::healthz))
        .route("/readyz", get(routes::ops::readyz))
        .fallback(|| async { ApiError::NoRoute })
        .with_state(state)
        .layer(DefaultBodyLimit::max(config.json_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            config.request_timeout,
        ))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}
