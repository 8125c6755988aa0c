//! What desktop agents call: heartbeats, policy, sessions, activity.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tracker_core::protocol::{
    ActivityBatch, HeartbeatRequest, HeartbeatResponse, IngestReport, StartSession, StopSession,
    SyncStatus,
};
use tracker_core::{Task, WorkSession, WorkSessionId};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Agent, JsonBody};

/// `POST /agent/heartbeat`.
pub(crate) async fn heartbeat(
    State(state): State<AppState>,
    Agent(agent): Agent,
    JsonBody(req): JsonBody<HeartbeatRequest>,
) -> Result<Json<HeartbeatResponse>, ApiError> {
    Ok(Json(state.tracker.heartbeat(&agent, req).await?))
}

/// Whether an `If-None-Match` header names `etag`.
fn matches(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == etag)
}

/// `GET /agent/policy`: the policy, or 304 when `If-None-Match` names the
/// current version.
pub(crate) async fn policy(
    State(state): State<AppState>,
    Agent(agent): Agent,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let policy = state.tracker.agent_policy(&agent).await?;
    let etag = format!("\"{}\"", policy.etag.trim_matches('"'));
    let tag = HeaderValue::from_str(&etag).ok();
    let mut response = if matches(&headers, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        Json(policy).into_response()
    };
    if let Some(tag) = tag {
        response.headers_mut().insert(header::ETAG, tag);
    }
    Ok(response)
}

/// `POST /agent/sessions`: opens a work session (replaying its id is harmless).
pub(crate) async fn start_session(
    State(state): State<AppState>,
    Agent(agent): Agent,
    JsonBody(req): JsonBody<StartSession>,
) -> Result<(StatusCode, Json<WorkSession>), ApiError> {
    let ingested = state.tracker.start_session(&agent, req).await?;
    let status = if ingested.inserted {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(ingested.stored)))
}

/// `POST /agent/sessions/{id}/stop`.
pub(crate) async fn stop_session(
    State(state): State<AppState>,
    Agent(agent): Agent,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<StopSession>,
) -> Result<Json<WorkSession>, ApiError> {
    // An id that is not a UUID names no session.
    let id = WorkSessionId(
        id.parse()
            .map_err(|_| tracker_core::Error::not_found("work session"))?,
    );
    Ok(Json(state.tracker.stop_session(&agent, id, req).await?))
}

/// `POST /agent/activity`: a batch, stored whole or refused whole.
pub(crate) async fn activity(
    State(state): State<AppState>,
    Agent(agent): Agent,
    JsonBody(batch): JsonBody<ActivityBatch>,
) -> Result<Json<IngestReport>, ApiError> {
    Ok(Json(state.tracker.upload_activity(&agent, batch).await?))
}

/// `GET /agent/tasks`: the agent user's open tasks.
pub(crate) async fn tasks(
    State(state): State<AppState>,
    Agent(agent): Agent,
) -> Result<Json<Vec<Task>>, ApiError> {
    Ok(Json(state.tracker.agent_tasks(&agent).await?))
}

/// `GET /agent/sync-status`.
pub(crate) async fn sync_status(
    State(state): State<AppState>,
    Agent(agent): Agent,
) -> Result<Json<SyncStatus>, ApiError> {
    Ok(Json(state.tracker.sync_status(&agent).await?))
}
