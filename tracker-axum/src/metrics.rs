//! Prometheus metrics: requests and latencies by route and status, and
//! what the agents sent.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    limit: &'static str,
}

/// The metrics of one router.
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    events: Family<OutcomeLabels, Counter>,
    heartbeats: Counter,
    screenshots: Family<OutcomeLabels, Counter>,
    limited: Family<LimitLabels, Counter>,
}

fn latency_histogram() -> Histogram {
    // 0.25 ms to about 8 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

impl Metrics {
    pub(crate) fn new(jobs: Option<&crate::jobs::JobBoard>) -> Self {
        let mut registry = Registry::with_prefix("tracker");
        if let Some(board) = jobs {
            board.register(&mut registry);
        }
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let events = Family::<OutcomeLabels, Counter>::default();
        let heartbeats = Counter::default();
        let screenshots = Family::<OutcomeLabels, Counter>::default();
        let limited = Family::<LimitLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by method and route",
            latency.clone(),
        );
        registry.register(
            "ingest_events",
            "Activity events received, by outcome (inserted, duplicate)",
            events.clone(),
        );
        registry.register(
            "heartbeats",
            "Agent heartbeats accepted",
            heartbeats.clone(),
        );
        registry.register(
            "ingest_screenshots",
            "Screenshots received, by outcome (inserted, duplicate)",
            screenshots.clone(),
        );
        registry.register(
            "rate_limited",
            "Requests refused by a rate limit, by limit (ip, company_key)",
            limited.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            events,
            heartbeats,
            screenshots,
            limited,
        }
    }

    pub(crate) fn ingested(&self, inserted: u64, duplicates: u64) {
        let outcome = |outcome| OutcomeLabels { outcome };
        self.events
            .get_or_create(&outcome("inserted"))
            .inc_by(inserted);
        self.events
            .get_or_create(&outcome("duplicate"))
            .inc_by(duplicates);
    }

    pub(crate) fn heartbeat(&self) {
        self.heartbeats.inc();
    }

    pub(crate) fn screenshot(&self, inserted: bool) {
        let outcome = if inserted { "inserted" } else { "duplicate" };
        self.screenshots
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    pub(crate) fn rate_limited(&self, limit: &'static str) {
        self.limited.get_or_create(&LimitLabels { limit }).inc();
    }

    fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The middleware: one count and one latency sample per request, labelled
/// by the route's template (never the raw path, which would carry ids).
pub(crate) async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(req).await;
    let elapsed = started.elapsed().as_secs_f64();
    let metrics = &state.metrics;
    metrics
        .latency
        .get_or_create(&RouteLabels {
            method: method.clone(),
            route: route.clone(),
        })
        .observe(elapsed);
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status: response.status().as_u16(),
        })
        .inc();
    response
}

/// `GET /metrics`: Prometheus/OpenMetrics text.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "operations",
    responses(
        (status = 200, description = "Requests and latencies by route and status, and what agents sent.",
            body = String, content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8"),
    )
)]
pub(crate) async fn serve(State(state): State<AppState>) -> Response {
    let mut response = state.metrics.encode().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}
