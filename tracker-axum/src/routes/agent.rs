//! What desktop agents call: heartbeats, policy, sessions, activity.

use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, Multipart, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tracker_core::protocol::{
    ActivityBatch, HeartbeatRequest, HeartbeatResponse, IngestReport, NoFilter, PolicyResponse,
    ScreenshotUpload, StartSession, StopSession, SyncStatus,
};
use tracker_core::{Page, Screenshot, Task, WorkSession, WorkSessionId};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Agent, JsonBody, Listing, Params, parse_json, read_body};
use crate::responses::{
    BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, ScreenshotForm, TooManyRequests,
    Unauthorized, UnprocessableEntity, UnsupportedMediaType,
};

/// `POST /agent/heartbeat`: the agent is alive and applies a policy version.
#[utoipa::path(
    post,
    path = "/api/v1/agent/heartbeat",
    operation_id = "agent_heartbeat",
    tag = "agent",
    security(("bearer" = [], "company_key" = [])),
    request_body = HeartbeatRequest,
    responses(
        (status = 200, description = "Recorded; whether to track and whether the policy changed.", body = HeartbeatResponse),
        BadRequest,
        PayloadTooLarge,
        UnsupportedMediaType,
        UnprocessableEntity,
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
pub(crate) async fn heartbeat(
    State(state): State<AppState>,
    Agent(agent): Agent,
    JsonBody(req): JsonBody<HeartbeatRequest>,
) -> Result<Json<HeartbeatResponse>, ApiError> {
    let answer = state.tracker.heartbeat(&agent, req).await?;
    state.metrics.heartbeat();
    Ok(Json(answer))
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
#[utoipa::path(
    get,
    path = "/api/v1/agent/policy",
    operation_id = "agent_policy",
    tag = "agent",
    security(("bearer" = [], "company_key" = [])),
    params(
        ("If-None-Match" = Option<String>, Header, description = "The `ETag` of the policy the agent holds."),
    ),
    responses(
        (status = 200, description = "The policy and whether tracking is allowed now.", body = PolicyResponse,
            headers(("ETag" = String, description = "The policy version."))),
        (status = 304, description = "Not modified: `If-None-Match` names the current version.",
            headers(("ETag" = String, description = "The policy version."))),
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
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
///
/// `started_at` is at most 14 days old and at most 5 minutes ahead of the
/// server's clock (422 otherwise). An id another user of the company
/// stored is a 409 conflict.
#[utoipa::path(
    post,
    path = "/api/v1/agent/sessions",
    operation_id = "agent_start_session",
    tag = "agent",
    security(("bearer" = [], "company_key" = [])),
    request_body = StartSession,
    responses(
        (status = 201, description = "The session is opened.", body = WorkSession),
        (status = 200, description = "A replay: the session stored before under this id.", body = WorkSession),
        BadRequest,
        PayloadTooLarge,
        UnsupportedMediaType,
        UnprocessableEntity,
        NotFound,
        Conflict,
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
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

/// `POST /agent/sessions/{id}/stop`: closes one of the agent's sessions.
///
/// `stopped_at` is not before the session's start and at most 5 minutes
/// ahead of the server's clock (422 otherwise).
#[utoipa::path(
    post,
    path = "/api/v1/agent/sessions/{id}/stop",
    operation_id = "agent_stop_session",
    tag = "agent",
    security(("bearer" = [], "company_key" = [])),
    params(("id" = uuid::Uuid, Path, description = "The session's id.")),
    request_body = StopSession,
    responses(
        (status = 200, description = "The session, stopped (stopping it again is harmless).", body = WorkSession),
        BadRequest,
        PayloadTooLarge,
        UnsupportedMediaType,
        UnprocessableEntity,
        NotFound,
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
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
///
/// Each event starts at most 14 days ago and ends at most 5 minutes ahead
/// of the server's clock, and names only the agent's own sessions (422
/// otherwise, naming the event). Event ids are unique per user: the
/// agent's own replays are counted as duplicates, and another user's id
/// is an event of this user's own. The limits shown are the defaults of
/// `IngestLimits`.
#[utoipa::path(
    post,
    path = "/api/v1/agent/activity",
    operation_id = "agent_activity",
    tag = "agent",
    security(("bearer" = [], "company_key" = [])),
    request_body = ActivityBatch,
    responses(
        (status = 200, description = "Stored whole: how many were new and how many replays.", body = IngestReport),
        BadRequest,
        PayloadTooLarge,
        UnsupportedMediaType,
        UnprocessableEntity,
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
pub(crate) async fn activity(
    State(state): State<AppState>,
    Agent(agent): Agent,
    JsonBody(batch): JsonBody<ActivityBatch>,
) -> Result<Json<IngestReport>, ApiError> {
    let report = state.tracker.upload_activity(&agent, batch).await?;
    state.metrics.ingested(report.inserted, report.duplicates);
    Ok(Json(report))
}

/// `GET /agent/tasks`: the agent user's open tasks.
#[utoipa::path(
    get,
    path = "/api/v1/agent/tasks",
    operation_id = "agent_tasks",
    tag = "agent",
    security(("bearer" = [], "company_key" = [])),
    params(crate::routes::paging::IdPage),
    responses(
        (status = 200, description = "The agent user's open tasks, a page.", body = Page<Task>),
        BadRequest,
        UnprocessableEntity,
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
pub(crate) async fn tasks(
    State(state): State<AppState>,
    Agent(agent): Agent,
    Listing { page, .. }: Listing<NoFilter>,
) -> Result<Json<Page<Task>>, ApiError> {
    Ok(Json(state.tracker.agent_tasks(&agent, &page).await?))
}

/// `GET /agent/sync-status`: what the server knows of the agent's sync.
#[utoipa::path(
    get,
    path = "/api/v1/agent/sync-status",
    operation_id = "agent_sync_status",
    tag = "agent",
    security(("bearer" = [], "company_key" = [])),
    responses(
        (status = 200, description = "What the server knows of the agent's sync.", body = SyncStatus),
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
pub(crate) async fn sync_status(
    State(state): State<AppState>,
    Agent(agent): Agent,
) -> Result<Json<SyncStatus>, ApiError> {
    Ok(Json(state.tracker.sync_status(&agent).await?))
}

/// The media types a binary screenshot upload may declare; the bytes
/// themselves decide the format.
const IMAGE_TYPES: [&str; 4] = [
    "image/png",
    "image/jpeg",
    "image/webp",
    "application/octet-stream",
];

/// `POST /agent/screenshots`: the image as the body with its metadata in
/// the query (`?id=…&taken_at=…&blurred=…`), or `multipart/form-data` with
/// a `metadata` JSON part and an `image` part. 201 when stored, 200 when
/// the id was stored before.
#[utoipa::path(
    post,
    path = "/api/v1/agent/screenshots",
    operation_id = "agent_upload_screenshot",
    tag = "agent",
    security(("bearer" = [], "company_key" = [])),
    params(
        ("id" = Option<uuid::Uuid>, Query, description = "Client-generated id; required with an image body."),
        ("taken_at" = Option<chrono::DateTime<chrono::Utc>>, Query, description = "When it was taken; required with an image body."),
        ("blurred" = Option<bool>, Query, description = "Whether the agent blurred it (default false); with an image body."),
    ),
    request_body(
        description = "The image itself (PNG, JPEG or WebP, told by its bytes) with its metadata in the query, \
            or `multipart/form-data` with a `metadata` JSON part and an `image` part.",
        content(
            ("image/png"),
            ("image/jpeg"),
            ("image/webp"),
            ("application/octet-stream"),
            (ScreenshotForm = "multipart/form-data"),
        ),
    ),
    responses(
        (status = 201, description = "Stored.", body = Screenshot),
        (status = 200, description = "A replay: the screenshot stored before under this id.", body = Screenshot),
        BadRequest,
        PayloadTooLarge,
        UnsupportedMediaType,
        UnprocessableEntity,
        NotFound,
        Conflict,
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
pub(crate) async fn screenshot(
    State(state): State<AppState>,
    Agent(agent): Agent,
    req: Request,
) -> Result<(StatusCode, Json<Screenshot>), ApiError> {
    let limit = state.config.screenshot_limit;
    let media = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let (meta, image) = if media == "multipart/form-data" {
        let multipart = Multipart::from_request(req, &state).await.map_err(|e| {
            ApiError::MalformedMultipart {
                detail: e.body_text(),
            }
        })?;
        read_multipart(multipart, limit).await?
    } else if IMAGE_TYPES.contains(&media.as_str()) {
        let (mut parts, body) = req.into_parts();
        let Params(meta) =
            Params::<ScreenshotUpload>::from_request_parts(&mut parts, &state).await?;
        let image = read_body(Request::from_parts(parts, body), &state, limit).await?;
        (meta, image.to_vec())
    } else {
        return Err(ApiError::UnsupportedMediaType {
            expected: "image/png, image/jpeg, image/webp or multipart/form-data",
        });
    };
    let ingested = state.tracker.upload_screenshot(&agent, meta, image).await?;
    state.metrics.screenshot(ingested.inserted);
    let status = if ingested.inserted {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(ingested.stored)))
}

/// The `metadata` and `image` parts of a multipart upload.
async fn read_multipart(
    mut multipart: Multipart,
    limit: usize,
) -> Result<(ScreenshotUpload, Vec<u8>), ApiError> {
    let multipart_error = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge { limit }
        } else {
            ApiError::MalformedMultipart {
                detail: e.body_text(),
            }
        }
    };
    let (mut meta, mut image) = (None, None);
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        match field.name() {
            Some("metadata") => {
                let bytes = field.bytes().await.map_err(multipart_error)?;
                meta =
                    Some(parse_json::<ScreenshotUpload>(&bytes).map_err(|e| e.within("metadata"))?);
            }
            Some("image") => image = Some(field.bytes().await.map_err(multipart_error)?.to_vec()),
            other => {
                return Err(ApiError::InvalidBody {
                    field: other.unwrap_or("").to_owned(),
                    message: "unknown part: expected `metadata` and `image`".to_owned(),
                });
            }
        }
    }
    let missing = |field: &str| ApiError::InvalidBody {
        field: field.to_owned(),
        message: "missing part".to_owned(),
    };
    Ok((
        meta.ok_or_else(|| missing("metadata"))?,
        image.ok_or_else(|| missing("image"))?,
    ))
}
