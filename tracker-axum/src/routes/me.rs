//! What every company user calls about themselves.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use tracker_core::protocol::{
    CompleteTask, DateSpanQuery, MyDay, MyDayQuery, MyTasksQuery, NewCorrection, NoFilter,
    PolicyResponse,
};
use tracker_core::report::timesheet_csv;
use tracker_core::{CorrectionRequest, Page, Task, TaskId, User, WorkSession};

use super::{Id, csv_response};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Caller, JsonBody, Listing, OptionalJson, Params};
use crate::responses::{
    BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, TooManyRequests, Unauthorized,
    UnprocessableEntity, UnsupportedMediaType,
};

/// `GET /me`: the caller's own account.
#[utoipa::path(
    get,
    path = "/api/v1/me",
    operation_id = "me",
    tag = "me",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's own account.", body = User),
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
pub(crate) async fn me(
    State(s): State<AppState>,
    Caller(p): Caller,
) -> Result<Json<User>, ApiError> {
    Ok(Json(s.tracker.get_user(&p, p.user_id()).await?))
}

/// `GET /me/day[?date]`: the caller's timeline, today by default.
#[utoipa::path(
    get,
    path = "/api/v1/me/day",
    operation_id = "me_day",
    tag = "me",
    security(("bearer" = [])),
    params(MyDayQuery),
    responses(
        (status = 200, description = "The caller's timeline of a day.", body = MyDay),
        BadRequest,
        UnprocessableEntity,
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
pub(crate) async fn day(
    State(s): State<AppState>,
    Caller(p): Caller,
    Params(q): Params<MyDayQuery>,
) -> Result<Json<MyDay>, ApiError> {
    Ok(Json(s.tracker.my_day(&p, q.date).await?))
}

/// `GET /me/sessions`: the caller's work sessions.
#[utoipa::path(
    get,
    path = "/api/v1/me/sessions",
    operation_id = "me_sessions",
    tag = "me",
    security(("bearer" = [])),
    params(crate::routes::paging::TimePage, NoFilter),
    responses(
        (status = 200, description = "The caller's work sessions, a page.", body = Page<WorkSession>),
        BadRequest,
        UnprocessableEntity,
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
pub(crate) async fn sessions(
    State(s): State<AppState>,
    Caller(p): Caller,
    q: Listing<NoFilter>,
) -> Result<Json<Page<WorkSession>>, ApiError> {
    Ok(Json(s.tracker.my_sessions(&p, &q.page).await?))
}

/// `GET /me/tasks[?status]`: the caller's tasks.
#[utoipa::path(
    get,
    path = "/api/v1/me/tasks",
    operation_id = "me_tasks",
    tag = "me",
    security(("bearer" = [])),
    params(crate::routes::paging::IdPage, MyTasksQuery),
    responses(
        (status = 200, description = "The caller's tasks, a page.", body = Page<Task>),
        BadRequest,
        UnprocessableEntity,
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
pub(crate) async fn tasks(
    State(s): State<AppState>,
    Caller(p): Caller,
    q: Listing<MyTasksQuery>,
) -> Result<Json<Page<Task>>, ApiError> {
    Ok(Json(
        s.tracker.my_tasks(&p, q.filter.status, &q.page).await?,
    ))
}

/// `POST /me/tasks/{id}/complete`: the body (a note) is optional.
#[utoipa::path(
    post,
    path = "/api/v1/me/tasks/{id}/complete",
    operation_id = "me_complete_task",
    tag = "me",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The task's id.")),
    request_body(content = Option<CompleteTask>, description = "Optional: what was done."),
    responses(
        (status = 200, description = "The task, completed.", body = Task),
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
pub(crate) async fn complete_task(
    State(s): State<AppState>,
    Caller(p): Caller,
    Id(id): Id<TaskId>,
    OptionalJson(req): OptionalJson<CompleteTask>,
) -> Result<Json<Task>, ApiError> {
    Ok(Json(s.tracker.complete_task(&p, id, req).await?))
}

/// `GET /me/policy`: what is tracked (transparency).
#[utoipa::path(
    get,
    path = "/api/v1/me/policy",
    operation_id = "me_policy",
    tag = "me",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "What is tracked, and whether tracking is allowed now.", body = PolicyResponse),
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
pub(crate) async fn policy(
    State(s): State<AppState>,
    Caller(p): Caller,
) -> Result<Json<PolicyResponse>, ApiError> {
    Ok(Json(s.tracker.policy(&p).await?))
}

/// `POST /me/corrections`: 201 with the pending request.
#[utoipa::path(
    post,
    path = "/api/v1/me/corrections",
    operation_id = "me_request_correction",
    tag = "me",
    security(("bearer" = [])),
    request_body = NewCorrection,
    responses(
        (status = 201, description = "The request, pending.", body = CorrectionRequest),
        BadRequest,
        PayloadTooLarge,
        UnsupportedMediaType,
        UnprocessableEntity,
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
pub(crate) async fn request_correction(
    State(s): State<AppState>,
    Caller(p): Caller,
    JsonBody(req): JsonBody<NewCorrection>,
) -> Result<(StatusCode, Json<CorrectionRequest>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(s.tracker.request_correction(&p, req).await?),
    ))
}

/// `GET /me/export?from&to`: one's own timesheet as CSV.
#[utoipa::path(
    get,
    path = "/api/v1/me/export",
    operation_id = "me_export",
    tag = "me",
    security(("bearer" = [])),
    params(DateSpanQuery),
    responses(
        (status = 200, description = "The caller's own timesheet, one row per day.", body = String,
            content_type = "text/csv",
            headers(("Content-Disposition" = String, description = "An attachment named `my-timesheet.csv`."))),
        BadRequest,
        UnprocessableEntity,
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
pub(crate) async fn export(
    State(s): State<AppState>,
    Caller(p): Caller,
    Params(q): Params<DateSpanQuery>,
) -> Result<Response, ApiError> {
    let rows = s.tracker.my_export(&p, q.from, q.to).await?;
    Ok(csv_response("my-timesheet.csv", timesheet_csv(&rows)))
}
