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
//! Every route of the design under `/api/v1`: `auth/login` and
//! `auth/logout`; the agent routes (`agent/heartbeat`, `agent/policy`,
//! `agent/sessions`, `agent/sessions/{id}/stop`, `agent/activity`,
//! `agent/screenshots`, `agent/tasks`, `agent/sync-status`); the company
//! routes for ADMINs and MANAGERs (`company/policy` and
//! `company/policy/acknowledgements`, `company/employees` with their
//! `legal-hold` and `erase`, `company/legal-hold`, `company/access-log`,
//! `company/teams`, `company/agents`, `company/sessions`,
//! `company/activity`, `company/screenshots`, `company/reports/{daily,
//! monthly,apps,websites}`, `company/usage`, `company/tasks`,
//! `company/corrections`, `company/audit`, `company/alerts` and
//! `company/alerts/settings`, `company/exports/timesheet.csv`);
//! the self-service routes (`me`, `me/day`, `me/sessions`, `me/tasks`,
//! `me/policy` and `me/policy/acknowledge`, `me/access-log`,
//! `me/archive`, `me/corrections`, `me/export`); the OWNER's routes
//! (`owner/companies` and their `plan`, `suspend`, `reactivate`,
//! `rotate-key`, `retention`, `legal-hold`; `owner/reports`, `owner/no-sync`,
//! `owner/audit`); and `openapi.json`, the OpenAPI document. `/healthz`,
//! `/readyz` and `/metrics` sit at the root of the router.
//!
//! - Company users and owners send `Authorization: Bearer <token>` (the
//!   `Token` scheme is accepted too); agent routes also need
//!   `X-Company-Key`, which must be the key of the token's company. A key
//!   sent on any other route must match too. [`Api::authenticator`] puts
//!   the integrator's own sign-in in place of the built-in tokens.
//! - JSON bodies must be `application/json`: another media type is 415, a
//!   body over [`HttpConfig::json_limit`] 413, malformed JSON 400, and JSON
//!   of the wrong shape (wrong type, missing or unknown field, an array
//!   where an object is documented, at any depth) 422 with the field's path
//!   and a message in JSON's words. Query parameters are as strict: a malformed, missing or
//!   unknown one is 400, named. A body of 64 KiB or more (an activity
//!   batch) is parsed on tokio's blocking pool, so it does not hold up the
//!   small requests sharing its worker.
//! - Every list pages by cursor: `?limit=` (1 to 500, default 50) and the
//!   `next_cursor` of the previous page as `?cursor=`.
//! - Errors are `application/problem+json` with a stable `code`; the
//!   status of each code is [`error::status_of`]. A storage failure is the
//!   only 500, and its body says nothing of the cause (the log does).
//! - `GET /agent/policy` answers 304 to an `If-None-Match` naming the
//!   current version.
//! - `POST /agent/screenshots` takes the image as the body
//!   (`image/png`, `image/jpeg`, `image/webp`) with `?id=…&taken_at=…`, or
//!   `multipart/form-data` with a `metadata` JSON part and an `image` part;
//!   the bytes decide the format, [`HttpConfig::screenshot_limit`] the size.
//! - Every request gets an `x-request-id` (the client's, if short and plain), a
//!   tracing span (`request`, at DEBUG; a 5xx answer is logged at ERROR),
//!   and a timeout ([`HttpConfig::request_timeout`]) past which it is
//!   answered 408 with code `request_timeout`.
//! - Rate limits per client address and per `X-Company-Key`
//!   ([`HttpConfig::rate_per_ip`], [`HttpConfig::rate_per_company_key`])
//!   answer 429 with `Retry-After`; probes are never limited. Serve with
//!   `into_make_service_with_connect_info::<SocketAddr>()` so the address
//!   is known; behind a load balancer, name it in
//!   [`HttpConfig::trusted_proxies`] and the client's address is read from
//!   its `Forwarded` or `X-Forwarded-For` header (from no one else's).
//! - `GET /metrics` (Prometheus/OpenMetrics text): requests and latency by
//!   method, route template and status; heartbeats, events and
//!   screenshots ingested; requests refused by a rate limit.
//! - `GET /api/v1/openapi.json` (no credentials): the OpenAPI 3.1 document
//!   of every route, also available as [`openapi()`]. It is derived from
//!   the handlers' annotations and the core's message types, so it
//!   describes what is served: paths, parameters, bodies, every status a
//!   route answers (problems as `application/problem+json`) and the
//!   `bearer` and `company_key` security schemes. Paths are as this
//!   router serves them: under a prefix of your own, add a `servers`
//!   entry to the document.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod archive;
mod edge;
pub mod error;
pub mod extract;
mod limit;
mod metrics;
mod openapi;
mod responses;
mod routes;
mod strict;
#[cfg(feature = "testing")]
pub mod testing;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, patch, post, put};
use tracker_core::{Authenticator, Tracker};

pub use crate::archive::archive_response;
pub use crate::error::ApiError;
pub use crate::limit::RateLimit;
pub use crate::openapi::openapi;
pub use crate::routes::audit_export_response;

/// Limits of the HTTP layer.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Largest JSON body in bytes. Default 1 MiB (a batch of 1,000 events
    /// with long titles and URLs fits).
    pub json_limit: usize,
    /// Largest screenshot upload in bytes, multipart framing included.
    /// Default 10 MiB and 16 KiB.
    pub screenshot_limit: usize,
    /// Longest a request may take before it is answered 408. Default 30 s.
    pub request_timeout: Duration,
    /// Requests per client address (`None`: no limit). Rate limits are
    /// counted in this process: behind a load balancer over N nodes a
    /// client gets up to N times the rate, so set them per node. Default 100 per
    /// second with bursts of 200: an office of a thousand agents behind
    /// one address sends about 20.
    pub rate_per_ip: Option<RateLimit>,
    /// Requests per `X-Company-Key` (`None`: no limit). Default 200 per
    /// second with bursts of 400.
    pub rate_per_company_key: Option<RateLimit>,
    /// Serve `GET /metrics` (Prometheus text). Default on.
    pub metrics: bool,
    /// The networks of the proxies in front of the server (a load
    /// balancer's). A request whose peer is one of them has its client
    /// address read from `Forwarded` (or else `X-Forwarded-For`): the
    /// nearest address that is not itself a trusted proxy. It feeds the
    /// per-address rate limit and the audit log. Default none: the peer is
    /// the client, and the headers are ignored (anyone can write them).
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            json_limit: 1 << 20,
            screenshot_limit: (10 << 20) + (16 << 10),
            request_timeout: Duration::from_secs(30),
            rate_per_ip: RateLimit::per_second(100, 200),
            rate_per_company_key: RateLimit::per_second(200, 400),
            metrics: true,
            trusted_proxies: Vec::new(),
        }
    }
}

/// What every handler sees.
///
/// One shared allocation: axum clones the state for every extractor and
/// middleware of every request, so a clone is one reference count.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] shares: the service, the limits, the metrics.
#[doc(hidden)]
pub struct Shared {
    tracker: Arc<Tracker>,
    config: Arc<HttpConfig>,
    authenticator: Option<Arc<dyn Authenticator>>,
    limiters: Option<Arc<limit::Limiters>>,
    metrics: Arc<metrics::Metrics>,
    jobs: Option<tracker_jobs::scheduler::JobBoard>,
}

/// Builds the router: the service, limits, and optionally the
/// integrator's own sign-in.
pub struct Api {
    tracker: Arc<Tracker>,
    config: HttpConfig,
    authenticator: Option<Arc<dyn Authenticator>>,
    jobs: Option<tracker_jobs::scheduler::JobBoard>,
}

impl Api {
    /// An API over `tracker` with default limits.
    pub fn new(tracker: Arc<Tracker>) -> Self {
        Self {
            tracker,
            config: HttpConfig::default(),
            authenticator: None,
            jobs: None,
        }
    }

    /// Other limits.
    pub fn config(mut self, config: HttpConfig) -> Self {
        self.config = config;
        self
    }

    /// Bring your own identity: company, self-service and owner routes
    /// take the bearer credential to `authenticator` (a JWT, a session id
    /// of the integrator's product) instead of the built-in tokens. Agent
    /// routes keep the built-in agent login.
    pub fn authenticator(mut self, authenticator: Arc<dyn Authenticator>) -> Self {
        self.authenticator = Some(authenticator);
        self
    }

    /// Shows the background jobs' last runs (see [`spawn_jobs`](tracker_jobs::scheduler::spawn_jobs)) in
    /// `/readyz` and `/metrics`.
    pub fn jobs(mut self, board: tracker_jobs::scheduler::JobBoard) -> Self {
        self.jobs = Some(board);
        self
    }

    /// The router.
    pub fn router(self) -> Router {
        build(self)
    }
}

/// The router with default limits.
pub fn router(tracker: Arc<Tracker>) -> Router {
    Api::new(tracker).router()
}

/// The router with limits of the caller's choice.
pub fn router_with(tracker: Arc<Tracker>, config: HttpConfig) -> Router {
    Api::new(tracker).config(config).router()
}

fn build(api: Api) -> Router {
    use routes::{agent, alerts, auth, company, me, owner, privacy};
    let config = api.config;
    let state = AppState(Arc::new(Shared {
        tracker: api.tracker,
        config: Arc::new(config.clone()),
        authenticator: api.authenticator,
        limiters: limit::Limiters::new(config.rate_per_ip, config.rate_per_company_key)
            .map(Arc::new),
        metrics: Arc::new(metrics::Metrics::new(api.jobs.as_ref())),
        jobs: api.jobs,
    }));
    let api = Router::new()
        .route("/auth/login", post(auth::login))
        .route("/auth/logout", post(auth::logout))
        // Agents.
        .route("/agent/heartbeat", post(agent::heartbeat))
        .route("/agent/policy", get(agent::policy))
        .route("/agent/sessions", post(agent::start_session))
        .route("/agent/sessions/{id}/stop", post(agent::stop_session))
        .route("/agent/activity", post(agent::activity))
        .route(
            "/agent/screenshots",
            post(agent::screenshot).layer(DefaultBodyLimit::max(config.screenshot_limit)),
        )
        .route("/agent/tasks", get(agent::tasks))
        .route("/agent/sync-status", get(agent::sync_status))
        // ADMIN and MANAGER.
        .route(
            "/company/policy",
            get(company::policy).put(company::update_policy),
        )
        .route(
            "/company/policy/acknowledgements",
            get(privacy::policy_acknowledgements),
        )
        .route("/company/access-log", get(privacy::company_access_log))
        .route(
            "/company/legal-hold",
            post(privacy::place_company_hold).delete(privacy::release_company_hold),
        )
        .route(
            "/company/employees",
            get(company::employees).post(company::create_employee),
        )
        .route(
            "/company/employees/{id}",
            get(company::employee).patch(company::update_employee),
        )
        .route(
            "/company/employees/{id}/deactivate",
            post(company::deactivate_employee),
        )
        .route(
            "/company/employees/{id}/reactivate",
            post(company::reactivate_employee),
        )
        .route(
            "/company/employees/{id}/legal-hold",
            post(privacy::place_person_hold).delete(privacy::release_person_hold),
        )
        .route(
            "/company/employees/{id}/erase",
            post(privacy::erase_employee),
        )
        .route(
            "/company/teams",
            get(company::teams).post(company::create_team),
        )
        .route(
            "/company/teams/{id}",
            patch(company::update_team).delete(company::delete_team),
        )
        .route("/company/agents", get(company::agents))
        .route("/company/sessions", get(company::sessions))
        .route("/company/activity", get(company::activity))
        .route("/company/screenshots", get(company::screenshots))
        .route(
            "/company/screenshots/{id}/image",
            get(company::screenshot_image),
        )
        .route("/company/reports/daily", get(company::daily_report))
        .route("/company/reports/monthly", get(company::monthly_report))
        .route("/company/reports/apps", get(company::apps_report))
        .route("/company/reports/websites", get(company::websites_report))
        .route("/company/usage", get(company::usage))
        .route(
            "/company/tasks",
            get(company::tasks).post(company::create_task),
        )
        .route("/company/corrections", get(company::corrections))
        .route(
            "/company/corrections/{id}/approve",
            post(company::approve_correction),
        )
        .route(
            "/company/corrections/{id}/reject",
            post(company::reject_correction),
        )
        .route("/company/audit", get(company::audit))
        .route("/company/audit/verify", get(company::verify_audit))
        .route("/company/audit/export", get(company::audit_export))
        .route("/company/exports/timesheet.csv", get(company::timesheet))
        .route("/company/alerts", get(alerts::alerts))
        .route(
            "/company/alerts/settings",
            get(alerts::settings).put(alerts::update_settings),
        )
        .route("/company/alerts/{id}", get(alerts::alert))
        // Every company user, about themselves.
        .route("/me", get(me::me))
        .route("/me/day", get(me::day))
        .route("/me/sessions", get(me::sessions))
        .route("/me/tasks", get(me::tasks))
        .route("/me/tasks/{id}/complete", post(me::complete_task))
        .route("/me/policy", get(me::policy))
        .route("/me/policy/acknowledge", post(privacy::acknowledge_policy))
        .route("/me/access-log", get(privacy::my_access_log))
        .route("/me/archive", get(privacy::archive))
        .route("/me/corrections", post(me::request_correction))
        .route("/me/export", get(me::export))
        // OWNER.
        .route(
            "/owner/companies",
            get(owner::companies).post(owner::create_company),
        )
        .route("/owner/companies/{id}", get(owner::company))
        .route("/owner/companies/{id}/plan", post(owner::change_plan))
        .route("/owner/companies/{id}/suspend", post(owner::suspend))
        .route("/owner/companies/{id}/reactivate", post(owner::reactivate))
        .route("/owner/companies/{id}/rotate-key", post(owner::rotate_key))
        .route("/owner/companies/{id}/retention", put(owner::retention))
        .route(
            "/owner/companies/{id}/legal-hold",
            post(privacy::owner_place_company_hold).delete(privacy::owner_release_company_hold),
        )
        .route("/owner/reports", get(owner::report))
        .route("/owner/no-sync", get(owner::no_sync))
        .route("/owner/audit", get(owner::audit))
        .route("/owner/audit/verify", get(owner::verify_audit))
        .route("/owner/audit/export", get(owner::audit_export))
        .route("/audit/public-key", get(owner::audit_public_key))
        // Operations.
        .route("/openapi.json", get(openapi::document))
        .fallback(|| async { ApiError::NoRoute })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed });
    // Without limits, no layer: every layer costs each request a clone of it.
    let api = match state.limiters {
        Some(_) => api.layer(middleware::from_fn_with_state(state.clone(), limit::limit)),
        None => api,
    };
    let mut root = Router::new()
        .nest("/api/v1", api)
        .route("/healthz", get(routes::ops::healthz))
        .route("/readyz", get(routes::ops::readyz));
    if config.metrics {
        root = root.route("/metrics", get(metrics::serve));
    }
    let edge = edge::Edge::new(
        Arc::clone(&state.metrics),
        config.request_timeout,
        config.trusted_proxies.clone(),
    );
    root.fallback(|| async { ApiError::NoRoute })
        .with_state(state)
        .layer(DefaultBodyLimit::max(config.json_limit))
        .layer(edge)
}
