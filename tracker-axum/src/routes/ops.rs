//! Health and readiness probes.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::AppState;

/// `GET /healthz`: the process answers.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "operations",
    responses(
        (status = 200, description = "The process answers.", body = Object,
            example = json!({ "status": "ok" })),
    )
)]
pub(crate) async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: the store answers a read. With a job board, the last run
/// of each background job is in `jobs` (a failed job does not make the
/// node unready: it is retried on its schedule).
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    tag = "operations",
    responses(
        (status = 200, description = "The store answers a read; the jobs' last runs.", body = Object,
            example = json!({ "status": "ready", "store": "ok", "jobs": { "alerts": { "runs": 3, "failures": 0, "last_ok": true } } })),
        (status = 503, description = "The store does not answer; its error code is given.", body = Object,
            example = json!({ "status": "unavailable", "store": "storage" })),
    )
)]
pub(crate) async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let jobs = state.jobs.as_ref().map(|b| b.snapshot());
    match state.tracker.store().tenants().list_plans().await {
        Ok(_) => {
            let mut body = json!({ "status": "ready", "store": "ok" });
            if let Some(jobs) = jobs {
                body["jobs"] = json!(jobs);
            }
            (StatusCode::OK, Json(body))
        }
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "store": e.code() })),
            )
        }
    }
}
