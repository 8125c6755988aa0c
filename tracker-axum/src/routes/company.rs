//! What ADMINs and MANAGERs call: policy, people, tracking data, reports,
//! tasks, corrections and the company's audit log.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use tracker_core::protocol::{
    AgentStatus, AuditExportQuery, AuditQuery, CorrectionQuery, DateRangeQuery, DateSpanQuery,
    DayQuery, Decision, MonthQuery, NewTask, NewTeam, NewUser, NoFilter, PolicyResponse, TaskQuery,
    TeamChanges, TrackingQuery, UserChanges, UserQuery,
};
use tracker_core::report::{DailyReport, MonthGrid, timesheet_csv};

use tracker_core::{
    ActivityEvent, AuditEvent, ChainVerification, CompanyUsageDaily, CorrectionId,
    CorrectionRequest, Page, PageRequest, PolicyUpdate, Screenshot, ScreenshotId, Task, Team,
    TeamId, TrackingPolicy, UsageReport, User, UserId, WorkSession,
};

use super::{Id, audit_export_response, bytes_response, csv_response};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Caller, JsonBody, Listing, OptionalJson, Params};
use crate::responses::{
    AuditExported, BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, TooManyRequests,
    Unauthorized, UnprocessableEntity, UnsupportedMediaType,
};

type ApiResult<T> = Result<Json<T>, ApiError>;

/// `GET /company/policy`: the company's tracking policy.
#[utoipa::path(
    get,
    path = "/api/v1/company/policy",
    operation_id = "company_policy",
    tag = "company",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The tracking policy and whether tracking is allowed now.", body = PolicyResponse),
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
pub(crate) async fn policy(
    State(s): State<AppState>,
    Caller(p): Caller,
) -> ApiResult<PolicyResponse> {
    Ok(Json(s.tracker.policy(&p).await?))
}

/// `PUT /company/policy` (ADMIN): changes the fields sent, audited.
#[utoipa::path(
    put,
    path = "/api/v1/company/policy",
    operation_id = "company_update_policy",
    tag = "company",
    security(("bearer" = [])),
    request_body = PolicyUpdate,
    responses(
        (status = 200, description = "The policy with the changes, in a new version.", body = TrackingPolicy),
        BadRequest,
        PayloadTooLarge,
        UnsupportedMediaType,
        UnprocessableEntity,
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
pub(crate) async fn update_policy(
    State(s): State<AppState>,
    Caller(p): Caller,
    JsonBody(update): JsonBody<PolicyUpdate>,
) -> ApiResult<TrackingPolicy> {
    Ok(Json(s.tracker.update_policy(&p, update).await?))
}

/// `GET /company/employees`: the users the caller sees.
#[utoipa::path(
    get,
    path = "/api/v1/company/employees",
    operation_id = "company_employees",
    tag = "company",
    security(("bearer" = [])),
    params(crate::routes::paging::IdPage, UserQuery),
    responses(
        (status = 200, description = "The users the caller sees, a page.", body = Page<User>),
        BadRequest,
        UnprocessableEntity,
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
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
#[utoipa::path(
    post,
    path = "/api/v1/company/employees",
    operation_id = "company_create_employee",
    tag = "company",
    security(("bearer" = [])),
    request_body = NewUser,
    responses(
        (status = 201, description = "The user is created.", body = User),
        BadRequest,
        PayloadTooLarge,
        UnsupportedMediaType,
        UnprocessableEntity,
        Conflict,
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
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

/// `GET /company/employees/{id}`: one user.
#[utoipa::path(
    get,
    path = "/api/v1/company/employees/{id}",
    operation_id = "company_employee",
    tag = "company",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user's id.")),
    responses(
        (status = 200, description = "The user.", body = User),
        NotFound,
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
pub(crate) async fn employee(
    State(s): State<AppState>,
    Caller(p): Caller,
    Id(id): Id<UserId>,
) -> ApiResult<User> {
    Ok(Json(s.tracker.get_user(&p, id).await?))
}

/// `PATCH /company/employees/{id}` (ADMIN): changes the fields sent. An
/// ADMIN changing its own role is a 409 conflict.
#[utoipa::path(
    patch,
    path = "/api/v1/company/employees/{id}",
    operation_id = "company_update_employee",
    tag = "company",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user's id.")),
    request_body = UserChanges,
    responses(
        (status = 200, description = "The user with the changes.", body = User),
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
pub(crate) async fn update_employee(
    State(s): State<AppState>,
    Caller(p): Caller,
    Id(id): Id<UserId>,
    JsonBody(changes): JsonBody<UserChanges>,
) -> ApiResult<User> {
    Ok(Json(s.tracker.update_user(&p, id, changes).await?))
}

/// `POST /company/employees/{id}/deactivate` (ADMIN): revokes its tokens.
#[utoipa::path(
    post,
    path = "/api/v1/company/employees/{id}/deactivate",
    operation_id = "company_deactivate_employee",
    tag = "company",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user's id.")),
    responses(
        (status = 200, description = "The user, deactivated; its tokens are revoked.", body = User),
        NotFound,
        Conflict,
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
pub(crate) async fn deactivate_employee(
    State(s): State<AppState>,
    Caller(p): Caller,
    Id(id): Id<UserId>,
) -> ApiResult<User> {
    Ok(Json(s.tracker.deactivate_user(&p, id).await?))
}

/// `POST /company/employees/{id}/reactivate` (ADMIN): takes a seat.
#[utoipa::path(
    post,
    path = "/api/v1/company/employees/{id}/reactivate",
    operation_id = "company_reactivate_employee",
    tag = "company",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user's id.")),
    responses(
        (status = 200, description = "The user, active again.", body = User),
        NotFound,
        Conflict,
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
pub(crate) async fn reactivate_employee(
    State(s): State<AppState>,
    Caller(p): Caller,
    Id(id): Id<UserId>,
) -> ApiResult<User> {
    Ok(Json(s.tracker.reactivate_user(&p, id).await?))
}

/// `GET /company/teams`: the teams the caller sees.
#[utoipa::path(
    get,
    path = "/api/v1/company/teams",
    operation_id = "company_teams",
    tag = "company",
    security(("bearer" = [])),
    params(PageRequest, NoFilter),
    responses(
        (status = 200, description = "The teams the caller sees, a page.", body = Page<Team>),
        BadRequest,
        UnprocessableEntity,
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
pub(crate) async fn teams(
    State(s): State<AppState>,
    Caller(p): Caller,
    q: Listing<NoFilter>,
) -> ApiResult<Page<Team>> {
    Ok(Json(s.tracker.list_teams(&p, &q.page).await?))
}

/// `POST /company/teams` (ADMIN): 201 with the team.
#[utoipa::path(
    post,
    path = "/api/v1/company/teams",
    operation_id = "company_create_team",
    tag = "company",
    security(("bearer" = [])),
    request_body = NewTeam,
    responses(
        (status = 201, description = "The team is created.", body = Team),
        BadRequest,
        PayloadTooLarge,
        UnsupportedMediaType,
        UnprocessableEntity,
        Conflict,
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
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

/// `PATCH /company/teams/{id}` (ADMIN): changes the fields sent.
#[utoipa::path(
    patch,
    path = "/api/v1/company/teams/{id}",
    operation_id = "company_update_team",
    tag = "company",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The team's id.")),
    request_body = TeamChanges,
    responses(
        (status = 200, description = "The team with the changes.", body = Team),
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
pub(crate) async fn update_team(
    State(s): State<AppState>,
    Caller(p): Caller,
    Id(id): Id<TeamId>,
    JsonBody(changes): JsonBody<TeamChanges>,
) -> ApiResult<Team> {
    Ok(Json(s.tracker.update_team(&p, id, changes).await?))
}

/// `DELETE /company/teams/{id}` (ADMIN): deletes the team, not its people.
#[utoipa::path(
    delete,
    path = "/api/v1/company/teams/{id}",
    operation_id = "company_delete_team",
    tag = "company",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The team's id.")),
    responses(
        (status = 204, description = "The team is deleted."),
        NotFound,
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
pub(crate) async fn delete_team(
    State(s): State<AppState>,
    Caller(p): Caller,
    Id(id): Id<TeamId>,
) -> Result<StatusCode, ApiError> {
    s.tracker.delete_team(&p, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /company/agents`: liveness and policy version of each agent.
#[utoipa::path(
    get,
    path = "/api/v1/company/agents",
    operation_id = "company_agents",
    tag = "company",
    security(("bearer" = [])),
    params(PageRequest, NoFilter),
    responses(
        (status = 200, description = "Liveness and policy version of each agent, a page.", body = Page<AgentStatus>),
        BadRequest,
        UnprocessableEntity,
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
pub(crate) async fn agents(
    State(s): State<AppState>,
    Caller(p): Caller,
    q: Listing<NoFilter>,
) -> ApiResult<Page<AgentStatus>> {
    Ok(Json(s.tracker.agents(&p, &q.page).await?))
}

/// `GET /company/sessions`: work sessions of the people the caller sees.
#[utoipa::path(
    get,
    path = "/api/v1/company/sessions",
    operation_id = "company_sessions",
    tag = "company",
    security(("bearer" = [])),
    params(crate::routes::paging::TimePage, TrackingQuery),
    responses(
        (status = 200, description = "Work sessions, a page.", body = Page<WorkSession>),
        BadRequest,
        UnprocessableEntity,
        Unauthorized,
        Forbidden,
        NotFound,
        TooManyRequests,
    )
)]
pub(crate) async fn sessions(
    State(s): State<AppState>,
    Caller(p): Caller,
    q: Listing<TrackingQuery>,
) -> ApiResult<Page<WorkSession>> {
    Ok(Json(s.tracker.sessions(&p, &q.filter, &q.page).await?))
}

/// `GET /company/activity`: activity events of the people the caller sees.
#[utoipa::path(
    get,
    path = "/api/v1/company/activity",
    operation_id = "company_activity",
    tag = "company",
    security(("bearer" = [])),
    params(crate::routes::paging::TimePage, TrackingQuery),
    responses(
        (status = 200, description = "Activity events, a page.", body = Page<ActivityEvent>),
        BadRequest,
        UnprocessableEntity,
        Unauthorized,
        Forbidden,
        NotFound,
        TooManyRequests,
    )
)]
pub(crate) async fn activity(
    State(s): State<AppState>,
    Caller(p): Caller,
    q: Listing<TrackingQuery>,
) -> ApiResult<Page<ActivityEvent>> {
    Ok(Json(s.tracker.activity(&p, &q.filter, &q.page).await?))
}

/// `GET /company/screenshots`: metadata.
#[utoipa::path(
    get,
    path = "/api/v1/company/screenshots",
    operation_id = "company_screenshots",
    tag = "company",
    security(("bearer" = [])),
    params(crate::routes::paging::TimePage, TrackingQuery),
    responses(
        (status = 200, description = "Screenshot metadata, a page.", body = Page<Screenshot>),
        BadRequest,
        UnprocessableEntity,
        Unauthorized,
        Forbidden,
        NotFound,
        TooManyRequests,
    )
)]
pub(crate) async fn screenshots(
    State(s): State<AppState>,
    Caller(p): Caller,
    q: Listing<TrackingQuery>,
) -> ApiResult<Page<Screenshot>> {
    Ok(Json(s.tracker.screenshots(&p, &q.filter, &q.page).await?))
}

/// `GET /company/screenshots/{id}/image`: the image bytes.
#[utoipa::path(
    get,
    path = "/api/v1/company/screenshots/{id}/image",
    operation_id = "company_screenshot_image",
    tag = "company",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The screenshot's id.")),
    responses(
        (status = 200, description = "The image, of the media type detected at upload.",
            content(("image/png"), ("image/jpeg"), ("image/webp"))),
        NotFound,
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
pub(crate) async fn screenshot_image(
    State(s): State<AppState>,
    Caller(p): Caller,
    Id(id): Id<ScreenshotId>,
) -> Result<Response, ApiError> {
    let (shot, bytes) = s.tracker.screenshot_image(&p, id).await?;
    Ok(bytes_response(&shot.content_type, bytes))
}

/// `GET /company/reports/daily?user_id&date`: one user's day.
#[utoipa::path(
    get,
    path = "/api/v1/company/reports/daily",
    operation_id = "company_daily_report",
    tag = "company",
    security(("bearer" = [])),
    params(DayQuery),
    responses(
        (status = 200, description = "One user's day in the company's timezone.", body = DailyReport),
        BadRequest,
        NotFound,
        UnprocessableEntity,
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
pub(crate) async fn daily_report(
    State(s): State<AppState>,
    Caller(p): Caller,
    Params(q): Params<DayQuery>,
) -> ApiResult<DailyReport> {
    Ok(Json(s.tracker.daily_report(&p, q.user_id, q.date).await?))
}

/// `GET /company/reports/monthly?year&month[&user_id]`: a month grid.
#[utoipa::path(
    get,
    path = "/api/v1/company/reports/monthly",
    operation_id = "company_monthly_report",
    tag = "company",
    security(("bearer" = [])),
    params(MonthQuery),
    responses(
        (status = 200, description = "A month of days per user.", body = MonthGrid),
        BadRequest,
        NotFound,
        UnprocessableEntity,
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
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

/// `GET /company/reports/apps?from&to[&user_id]`: application usage.
#[utoipa::path(
    get,
    path = "/api/v1/company/reports/apps",
    operation_id = "company_apps_report",
    tag = "company",
    security(("bearer" = [])),
    params(DateRangeQuery),
    responses(
        (status = 200, description = "Application usage per user.", body = UsageReport),
        BadRequest,
        NotFound,
        UnprocessableEntity,
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
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

/// `GET /company/reports/websites?from&to[&user_id]`: website usage.
#[utoipa::path(
    get,
    path = "/api/v1/company/reports/websites",
    operation_id = "company_websites_report",
    tag = "company",
    security(("bearer" = [])),
    params(DateRangeQuery),
    responses(
        (status = 200, description = "Website usage per user.", body = UsageReport),
        BadRequest,
        NotFound,
        UnprocessableEntity,
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
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
#[utoipa::path(
    get,
    path = "/api/v1/company/usage",
    operation_id = "company_usage",
    tag = "company",
    security(("bearer" = [])),
    params(DateSpanQuery),
    responses(
        (status = 200, description = "The company's daily numbers.", body = Vec<CompanyUsageDaily>),
        BadRequest,
        UnprocessableEntity,
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
pub(crate) async fn usage(
    State(s): State<AppState>,
    Caller(p): Caller,
    Params(q): Params<DateSpanQuery>,
) -> ApiResult<Vec<CompanyUsageDaily>> {
    Ok(Json(s.tracker.company_usage(&p, q.from, q.to).await?))
}

/// `GET /company/exports/timesheet.csv?from&to[&user_id]`: one row per
/// user per day, corrections applied.
#[utoipa::path(
    get,
    path = "/api/v1/company/exports/timesheet.csv",
    operation_id = "company_timesheet",
    tag = "company",
    security(("bearer" = [])),
    params(DateRangeQuery),
    responses(
        (status = 200, description = "One row per user per day, corrections applied.", body = String,
            content_type = "text/csv",
            headers(("Content-Disposition" = String, description = "An attachment named `timesheet.csv`."))),
        BadRequest,
        NotFound,
        UnprocessableEntity,
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
pub(crate) async fn timesheet(
    State(s): State<AppState>,
    Caller(p): Caller,
    Params(q): Params<DateRangeQuery>,
) -> Result<Response, ApiError> {
    let rows = s.tracker.timesheet(&p, q.from, q.to, q.user_id).await?;
    Ok(csv_response("timesheet.csv", timesheet_csv(&rows)))
}

/// `GET /company/tasks`: the tasks the caller sees.
#[utoipa::path(
    get,
    path = "/api/v1/company/tasks",
    operation_id = "company_tasks",
    tag = "company",
    security(("bearer" = [])),
    params(crate::routes::paging::IdPage, TaskQuery),
    responses(
        (status = 200, description = "The tasks the caller sees, a page.", body = Page<Task>),
        BadRequest,
        UnprocessableEntity,
        Unauthorized,
        Forbidden,
        NotFound,
        TooManyRequests,
    )
)]
pub(crate) async fn tasks(
    State(s): State<AppState>,
    Caller(p): Caller,
    q: Listing<TaskQuery>,
) -> ApiResult<Page<Task>> {
    Ok(Json(s.tracker.tasks(&p, &q.filter, &q.page).await?))
}

/// `POST /company/tasks` (ADMIN; a MANAGER to its team members).
#[utoipa::path(
    post,
    path = "/api/v1/company/tasks",
    operation_id = "company_create_task",
    tag = "company",
    security(("bearer" = [])),
    request_body = NewTask,
    responses(
        (status = 201, description = "The task is created and assigned.", body = Task),
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

/// `GET /company/corrections`: correction requests the caller may decide or see.
#[utoipa::path(
    get,
    path = "/api/v1/company/corrections",
    operation_id = "company_corrections",
    tag = "company",
    security(("bearer" = [])),
    params(crate::routes::paging::IdPage, CorrectionQuery),
    responses(
        (status = 200, description = "Correction requests, a page.", body = Page<CorrectionRequest>),
        BadRequest,
        UnprocessableEntity,
        Unauthorized,
        Forbidden,
        NotFound,
        TooManyRequests,
    )
)]
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
#[utoipa::path(
    post,
    path = "/api/v1/company/corrections/{id}/approve",
    operation_id = "company_approve_correction",
    tag = "company",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The correction's id.")),
    request_body(content = Option<Decision>, description = "Optional: a note for the requester."),
    responses(
        (status = 200, description = "The request, approved: reports count the span.", body = CorrectionRequest),
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
pub(crate) async fn approve_correction(
    State(s): State<AppState>,
    Caller(p): Caller,
    Id(id): Id<CorrectionId>,
    OptionalJson(d): OptionalJson<Decision>,
) -> ApiResult<CorrectionRequest> {
    Ok(Json(s.tracker.approve_correction(&p, id, d).await?))
}

/// `POST /company/corrections/{id}/reject`: the body (a note) is optional.
#[utoipa::path(
    post,
    path = "/api/v1/company/corrections/{id}/reject",
    operation_id = "company_reject_correction",
    tag = "company",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The correction's id.")),
    request_body(content = Option<Decision>, description = "Optional: a note for the requester."),
    responses(
        (status = 200, description = "The request, rejected.", body = CorrectionRequest),
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
pub(crate) async fn reject_correction(
    State(s): State<AppState>,
    Caller(p): Caller,
    Id(id): Id<CorrectionId>,
    OptionalJson(d): OptionalJson<Decision>,
) -> ApiResult<CorrectionRequest> {
    Ok(Json(s.tracker.reject_correction(&p, id, d).await?))
}

/// `GET /company/audit` (ADMIN): the company's audit log.
#[utoipa::path(
    get,
    path = "/api/v1/company/audit",
    operation_id = "company_audit",
    tag = "company",
    security(("bearer" = [])),
    params(crate::routes::paging::SeqPage, AuditQuery),
    responses(
        (status = 200, description = "The company's audit events, a page.", body = Page<AuditEvent>),
        BadRequest,
        UnprocessableEntity,
        Unauthorized,
        Forbidden,
        NotFound,
        TooManyRequests,
    )
)]
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

/// `GET /company/audit/export?from&to` (ADMIN): the company's audit chain
/// as an export an auditor verifies offline with `tracker-audit-verify`.
#[utoipa::path(
    get,
    path = "/api/v1/company/audit/export",
    operation_id = "company_audit_export",
    tag = "company",
    security(("bearer" = [])),
    params(AuditExportQuery),
    responses(
        AuditExported,
        BadRequest,
        UnprocessableEntity,
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
pub(crate) async fn audit_export(
    State(s): State<AppState>,
    Caller(p): Caller,
    Params(q): Params<AuditExportQuery>,
) -> Result<Response, ApiError> {
    let export = s.tracker.company_audit_export(&p, q.from, q.to).await?;
    Ok(audit_export_response("audit.ndjson", export))
}

/// `GET /company/audit/verify` (ADMIN): the first broken link, if any.
#[utoipa::path(
    get,
    path = "/api/v1/company/audit/verify",
    operation_id = "company_verify_audit",
    tag = "company",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The company's audit chain checked: the first broken link, if any.", body = ChainVerification),
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
pub(crate) async fn verify_audit(
    State(s): State<AppState>,
    Caller(p): Caller,
) -> ApiResult<ChainVerification> {
    Ok(Json(s.tracker.verify_company_audit(&p).await?))
}
