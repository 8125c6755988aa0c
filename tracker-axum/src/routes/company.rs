//! What ADMINs and MANAGERs call: policy, people, tracking data, reports,
//! tasks, corrections and the company's audit log.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use tracker_core::protocol::{
    AgentStatus, AuditQuery, CorrectionQuery, DateRangeQuery, DayQuery, Decision, MonthQuery,
    NewTask, NewTeam, NewUser, NoFilter, PolicyResponse, TaskQuery, TeamChanges, TrackingQuery,
    UserChanges, UserQuery,
};
use tracker_core::report::{DailyReport, MonthGrid, timesheet_csv};

use tracker_core::{
    ActivityEvent, AuditEvent, ChainVerification, CompanyUsageDaily, CorrectionId,
    CorrectionRequest, Page, PolicyUpdate, Screenshot, ScreenshotId, Task, Team, TeamId,
    TrackingPolicy, UsageReport, User, UserId, WorkSession,
};

use super::{Id, bytes_response, csv_response};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Caller, JsonBody, Listing, OptionalJson, Params};

type ApiResult<T> = Result<Json<T>, ApiError>;

/// `GET /company/policy`.
pub(crate) async fn policy(
    State(s): State<AppState>,
    Caller(p): Caller,
) -> ApiResult<PolicyResponse> {
    Ok(Json(s.tracker.policy(&p).await?))
}

/// `PUT /company/policy` (ADMIN): changes the fields sent, audited.
pub(crate) async fn update_policy(
    State(s): State<AppState>,
    Caller(p): Caller,
    JsonBody(update): JsonBody<PolicyUpdate>,
) -> ApiResult<TrackingPolicy> {
    Ok(Json(s.tracker.update_policy(&p, update).await?))
}

/// `GET /company/employees`.
pub(crate) async fn employees(
    State(s): State<AppState>,
    Caller(p): Caller,
    q: Listing<UserQuery>,
) -> ApiResult<Page<User>> {
    Ok(Json(
        s.tracker.list_users(&p, q.filter.active, &q.page).await?,
    ))
}

/// `POST /company/employees` (ADMIN): 201 with the user.
pub(crate) async fn create_employee(
    State(s): State<AppState>,
    Caller(p): Caller,
    JsonBody(new): JsonBody<NewUser>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(s.tracker.create_user(&p, new).await?),
    ))
}

/// `GET /company/employees/{id}`.
pub(crate) async fn employee(
    State(s): State<AppState>,
    Caller(p): Caller,
    Id(id): Id<UserId>,
) -> ApiResult<User> {
    Ok(Json(s.tracker.get_user(&p, id).await?))
}

/// `PATCH /company/employees/{id}` (ADMIN).
pub(crate) async fn update_employee(
    State(s): State<AppState>,
    Caller(p): Caller,
    Id(id): Id<UserId>,
    JsonBody(changes): JsonBody<UserChanges>,
) -> ApiResult<User> {
    Ok(Json(s.tracker.update_user(&p, id, changes).await?))
}

/// `POST /company/employees/{id}/deactivate` (ADMIN): revokes its tokens.
pub(crate) async fn deactivate_employee(
    State(s): State<AppState>,
    Caller(p): Caller,
    Id(id): Id<UserId>,
) -> ApiResult<User> {
    Ok(Json(s.tracker.deactivate_user(&p, id).await?))
}

/// `POST /company/employees/{id}/reactivate` (ADMIN): takes a seat.
pub(crate) async fn reactivate_employee(
    State(s): State<AppState>,
    Caller(p): Caller,
    Id(id): Id<UserId>,
) -> ApiResult<User> {
    Ok(Json(s.tracker.reactivate_user(&p, id).await?))
}

/// `GET /company/teams`.
pub(crate) async fn teams(
    State(s): State<AppState>,
    Caller(p): Caller,
    q: Listing<NoFilter>,
) -> ApiResult<Page<Team>> {
    Ok(Json(s.tracker.list_teams(&p, &q.page).await?))
}

/// `POST /company/teams` (ADMIN).
pub(crate) async fn create_team(
    State(s): State<AppState>,
    Caller(p): Caller,
    JsonBody(new): JsonBody<NewTeam>,
) -> Result<(StatusCode, Json<Team>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(s.tracker.create_team(&p, new).await?),
    ))
}

/// `PATCH /company/teams/{id}` (ADMIN).
pub(crate) async fn update_team(
    State(s): State<AppState>,
    Caller(p): Caller,
    Id(id): Id<TeamId>,
    JsonBody(changes): JsonBody<TeamChanges>,
) -> ApiResult<Team> {
    Ok(Json(s.tracker.update_team(&p, id, changes).await?))
}

/// `DELETE /company/teams/{id}` (ADMIN).
pub(crate) async fn delete_team(
    State(s): State<AppState>,
    Caller(p): Caller,
    Id(id): Id<TeamId>,
) -> Result<StatusCode, ApiError> {
    s.tracker.delete_team(&p, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /company/agents`: liveness and policy version of each agent.
pub(crate) async fn agents(
    State(s): State<AppState>,
    Caller(p): Caller,
    q: Listing<NoFilter>,
) -> ApiResult<Page<AgentStatus>> {
    Ok(Json(s.tracker.agents(&p, &q.page).await?))
}

/// `GET /company/sessions`.
pub(crate) async fn sessions(
    State(s): State<AppState>,
    Caller(p): Caller,
    q: Listing<TrackingQuery>,
) -> ApiResult<Page<WorkSession>> {
    Ok(Json(s.tracker.sessions(&p, &q.filter, &q.page).await?))
}

/// `GET /company/activity`.
pub(crate) async fn activity(
    State(s): State<AppState>,
    Caller(p): Caller,
    q: Listing<TrackingQuery>,
) -> ApiResult<Page<ActivityEvent>> {
    Ok(Json(s.tracker.activity(&p, &q.filter, &q.page).await?))
}

/// `GET /company/screenshots`: metadata.
pub(crate) async fn screenshots(
    State(s): State<AppState>,
    Caller(p): Caller,
    q: Listing<TrackingQuery>,
) -> ApiResult<Page<Screenshot>> {
    Ok(Json(s.tracker.screenshots(&p, &q.filter, &q.page).await?))
}

/// `GET /company/screenshots/{id}/image`: the image bytes.
pub(crate) async fn screenshot_image(
    State(s): State<AppState>,
    Caller(p): Caller,
    Id(id): Id<ScreenshotId>,
) -> Result<Response, ApiError> {
    let (shot, bytes) = s.tracker.screenshot_image(&p, id).await?;
    Ok(bytes_response(&shot.content_type, bytes))
}

/// `GET /company/reports/daily?user_id&date`.
pub(crate) async fn daily_report(
    State(s): State<AppState>,
    Caller(p): Caller,
    Params(q): Params<DayQuery>,
) -> ApiResult<DailyReport> {
    Ok(Json(s.tracker.daily_report(&p, q.user_id, q.date).await?))
}

/// `GET /company/reports/monthly?year&month[&user_id]`.
pub(crate) async fn monthly_report(
    State(s): State<AppState>,
    Caller(p): Caller,
    Params(q): Params<MonthQuery>,
) -> ApiResult<MonthGrid> {
    Ok(Json(
        s.tracker
            .monthly_report(&p, q.year, q.month, q.user_id)
            .await?,
    ))
}

/// `GET /company/reports/apps?from&to[&user_id]`.
pub(crate) async fn apps_report(
    State(s): State<AppState>,
    Caller(p): Caller,
    Params(q): Params<DateRangeQuery>,
) -> ApiResult<UsageReport> {
    Ok(Json(
        s.tracker
            .usage_report(&p, q.from, q.to, q.user_id, false)
            .await?,
    ))
}

/// `GET /company/reports/websites?from&to[&user_id]`.
pub(crate) async fn websites_report(
    State(s): State<AppState>,
    Caller(p): Caller,
    Params(q): Params<DateRangeQuery>,
) -> ApiResult<UsageReport> {
    Ok(Json(
        s.tracker
            .usage_report(&p, q.from, q.to, q.user_id, true)
            .await?,
    ))
}

/// `GET /company/usage?from&to` (ADMIN): the company's daily numbers.
pub(crate) async fn usage(
    State(s): State<AppState>,
    Caller(p): Caller,
    Params(q): Params<DateRangeQuery>,
) -> ApiResult<Vec<CompanyUsageDaily>> {
    if q.user_id.is_some() {
        return Err(ApiError::InvalidQuery {
            field: "user_id".to_owned(),
            message: "usage is per company, not per user".to_owned(),
        });
    }
    Ok(Json(s.tracker.company_usage(&p, q.from, q.to).await?))
}

/// `GET /company/exports/timesheet.csv?from&to[&user_id]`: one row per
/// user per day, corrections applied.
pub(crate) async fn timesheet(
    State(s): State<AppState>,
    Caller(p): Caller,
    Params(q): Params<DateRangeQuery>,
) -> Result<Response, ApiError> {
    let rows = s.tracker.timesheet(&p, q.from, q.to, q.user_id).await?;
    Ok(csv_response("timesheet.csv", timesheet_csv(&rows)))
}

/// `GET /company/tasks`.
pub(crate) async fn tasks(
    State(s): State<AppState>,
    Caller(p): Caller,
    q: Listing<TaskQuery>,
) -> ApiResult<Page<Task>> {
    Ok(Json(s.tracker.tasks(&p, &q.filter, &q.page).await?))
}

/// `POST /company/tasks` (ADMIN; a MANAGER to its team members).
pub(crate) async fn create_task(
    State(s): State<AppState>,
    Caller(p): Caller,
    JsonBody(new): JsonBody<NewTask>,
) -> Result<(StatusCode, Json<Task>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(s.tracker.create_task(&p, new).await?),
    ))
}

/// `GET /company/corrections`.
pub(crate) async fn corrections(
    State(s): State<AppState>,
    Caller(p): Caller,
    q: Listing<CorrectionQuery>,
) -> ApiResult<Page<CorrectionRequest>> {
    Ok(Json(
        s.tracker
            .corrections(&p, q.filter.status, q.filter.user_id, &q.page)
            .await?,
    ))
}

/// `POST /company/corrections/{id}/approve`: the body (a note) is optional.
pub(crate) async fn approve_correction(
    State(s): State<AppState>,
    Caller(p): Caller,
    Id(id): Id<CorrectionId>,
    OptionalJson(d): OptionalJson<Decision>,
) -> ApiResult<CorrectionRequest> {
    Ok(Json(s.tracker.approve_correction(&p, id, d).await?))
}

/// `POST /company/corrections/{id}/reject`: the body (a note) is optional.
pub(crate) async fn reject_correction(
    State(s): State<AppState>,
    Caller(p): Caller,
    Id(id): Id<CorrectionId>,
    OptionalJson(d): OptionalJson<Decision>,
) -> ApiResult<CorrectionRequest> {
    Ok(Json(s.tracker.reject_correction(&p, id, d).await?))
}

/// `GET /company/audit` (ADMIN).
pub(crate) async fn audit(
    State(s): State<AppState>,
    Caller(p): Caller,
    q: Listing<AuditQuery>,
) -> ApiResult<Page<AuditEvent>> {
    Ok(Json(
        s.tracker
            .company_audit(&p, &q.filter.into(), &q.page)
            .await?,
    ))
}

/// `GET /company/audit/verify` (ADMIN): the first broken link, if any.
pub(crate) async fn verify_audit(
    State(s): State<AppState>,
    Caller(p): Caller,
) -> ApiResult<ChainVerification> {
    Ok(Json(s.tracker.verify_company_audit(&p).await?))
}
