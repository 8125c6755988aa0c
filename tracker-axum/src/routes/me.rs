//! What every company user calls about themselves.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use tracker_core::protocol::{
    CompleteTask, DateRangeQuery, MyDay, MyDayQuery, MyTasksQuery, NewCorrection, NoFilter,
    PolicyResponse,
};
use tracker_core::report::timesheet_csv;
use tracker_core::{CorrectionRequest, Page, Task, TaskId, User, WorkSession};

use super::{Id, csv_response};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Caller, JsonBody, Listing, OptionalJson, Params};

/// `GET /me`: the caller's own account.
pub(crate) async fn me(
    State(s): State<AppState>,
    Caller(p): Caller,
) -> Result<Json<User>, ApiError> {
    Ok(Json(s.tracker.get_user(&p, p.user_id()).await?))
}

/// `GET /me/day[?date]`: the caller's timeline, today by default.
pub(crate) async fn day(
    State(s): State<AppState>,
    Caller(p): Caller,
    Params(q): Params<MyDayQuery>,
) -> Result<Json<MyDay>, ApiError> {
    Ok(Json(s.tracker.my_day(&p, q.date).await?))
}

/// `GET /me/sessions`.
pub(crate) async fn sessions(
    State(s): State<AppState>,
    Caller(p): Caller,
    q: Listing<NoFilter>,
) -> Result<Json<Page<WorkSession>>, ApiError> {
    Ok(Json(s.tracker.my_sessions(&p, &q.page).await?))
}

/// `GET /me/tasks[?status]`.
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
pub(crate) async fn complete_task(
    State(s): State<AppState>,
    Caller(p): Caller,
    Id(id): Id<TaskId>,
    OptionalJson(req): OptionalJson<CompleteTask>,
) -> Result<Json<Task>, ApiError> {
    Ok(Json(s.tracker.complete_task(&p, id, req).await?))
}

/// `GET /me/policy`: what is tracked (transparency).
pub(crate) async fn policy(
    State(s): State<AppState>,
    Caller(p): Caller,
) -> Result<Json<PolicyResponse>, ApiError> {
    Ok(Json(s.tracker.policy(&p).await?))
}

/// `POST /me/corrections`: 201 with the pending request.
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
pub(crate) async fn export(
    State(s): State<AppState>,
    Caller(p): Caller,
    Params(q): Params<DateRangeQuery>,
) -> Result<Response, ApiError> {
    if q.user_id.is_some_and(|u| u != p.user_id()) {
        return Err(tracker_core::Error::not_found("user").into());
    }
    let rows = s.tracker.my_export(&p, q.from, q.to).await?;
    Ok(csv_response("my-timesheet.csv", timesheet_csv(&rows)))
}
