//! Prometheus metrics: requests and latencies by route and status, and
//! what the agents sent.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::AppState;

// Labels are static or shared text: a request's labels are made without
// allocating.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: Arc<str>,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: Arc<str>,
}

/// A method's label: the methods of RFC 9110 by name, any other as
/// `OTHER` (a client choosing a new method per request must not grow the
/// metrics without bound).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
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
    /// Route templates seen, each shared by its labels. The router's
    /// templates and `unmatched`: a bounded set.
    routes: RwLock<HashSet<Arc<str>>>,
}

fn latency_histogram() -> Histogram {
    // 0.25 ms to about 8 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

impl Metrics {
    pub(crate) fn new(jobs: Option<&tracker_jobs::scheduler::JobBoard>) -> Self {
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
            routes: RwLock::default(),
        }
    }

    /// The shared text of a route template.
    fn route(&self, route: &str) -> Arc<str> {
        let held = self.routes.read().unwrap_or_else(|e| e.into_inner());
        if let Some(route) = held.get(route) {
            return Arc::clone(route);
        }
        drop(held);
        let mut held = self.routes.write().unwrap_or_else(|e| e.into_inner());
        if let Some(route) = held.get(route) {
            return Arc::clone(route);
        }
        let route: Arc<str> = Arc::from(route);
        held.insert(Arc::clone(&route));
        route
    }

    /// One request answered: a count and a latency sample, labelled by the
    /// route's template (never the raw path, which would carry ids).
    pub(crate) fn request(&self, method: &Method, route: &str, status: u16, elapsed: Duration) {
        let labels = RouteLabels {
            method: method_label(method),
            route: self.route(route),
        };
        self.latency
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        let RouteLabels { method, route } = labels;
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route,
                status,
            })
            .inc();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_outside_rfc_9110_share_one_label() {
        assert_eq!(method_label(&Method::POST), "POST");
        for name in ["FOO", "BREW", "PROPFIND"] {
            let method = Method::from_bytes(name.as_bytes()).expect("a valid token");
            assert_eq!(method_label(&method), "OTHER", "{name}");
        }
    }
}
