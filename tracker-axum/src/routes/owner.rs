//! What the OWNER (the SaaS operator) calls: company lifecycle, platform
//! numbers and the platform audit log.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use tracker_core::protocol::{
    AuditExportQuery, AuditPublicKey, AuditQuery, ChangePlan, CompanyCreated, CompanyDetail,
    CompanySummary, CreateCompany, DateSpanQuery, KeyRotated, NoFilter, NoSyncCompany, OwnerReport,
    SetRetention, SuspendCompany,
};
use tracker_core::{AuditEvent, ChainVerification, Company, CompanyId, Page, PageRequest};

use super::Id;
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Caller, JsonBody, Listing, OptionalJson, Params};
use crate::responses::{
    AuditExported, BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, TooManyRequests,
    Unauthorized, UnprocessableEntity, UnsupportedMediaType,
};

type ApiResult<T> = Result<Json<T>, ApiError>;

/// `POST /owner/companies`: 201 with the company, its first ADMIN and its
/// key (shown this once).
#[utoipa::path(
    post,
    path = "/api/v1/owner/companies",
    operation_id = "owner_create_company",
    tag = "owner",
    security(("bearer" = [])),
    request_body = CreateCompany,
    responses(
        (status = 201, description = "The company, its first ADMIN and its key, shown this once.", body = CompanyCreated),
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
pub(crate) async fn create_company(
    State(s): State<AppState>,
    Caller(p): Caller,
    JsonBody(req): JsonBody<CreateCompany>,
) -> Result<(StatusCode, Json<CompanyCreated>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(s.tracker.create_company(&p, req).await?),
    ))
}

/// `GET /owner/companies`: every company with its numbers.
#[utoipa::path(
    get,
    path = "/api/v1/owner/companies",
    operation_id = "owner_companies",
    tag = "owner",
    security(("bearer" = [])),
    params(crate::routes::paging::IdPage, NoFilter),
    responses(
        (status = 200, description = "Companies with their numbers, a page.", body = Page<CompanySummary>),
        BadRequest,
        UnprocessableEntity,
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
pub(crate) async fn companies(
    State(s): State<AppState>,
    Caller(p): Caller,
    q: Listing<NoFilter>,
) -> ApiResult<Page<CompanySummary>> {
    Ok(Json(s.tracker.list_companies(&p, &q.page).await?))
}

/// `GET /owner/companies/{id}`: numbers, billing and usage.
#[utoipa::path(
    get,
    path = "/api/v1/owner/companies/{id}",
    operation_id = "owner_company",
    tag = "owner",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The company's id.")),
    responses(
        (status = 200, description = "The company: numbers, billing and usage.", body = CompanyDetail),
        NotFound,
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
pub(crate) async fn company(
    State(s): State<AppState>,
    Caller(p): Caller,
    Id(id): Id<CompanyId>,
) -> ApiResult<CompanyDetail> {
    Ok(Json(s.tracker.company_detail(&p, id).await?))
}

/// `POST /owner/companies/{id}/plan`: changes or renews the plan.
#[utoipa::path(
    post,
    path = "/api/v1/owner/companies/{id}/plan",
    operation_id = "owner_change_plan",
    tag = "owner",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The company's id.")),
    request_body = ChangePlan,
    responses(
        (status = 200, description = "The company on its new plan.", body = Company),
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
pub(crate) async fn change_plan(
    State(s): State<AppState>,
    Caller(p): Caller,
    Id(id): Id<CompanyId>,
    JsonBody(req): JsonBody<ChangePlan>,
) -> ApiResult<Company> {
    Ok(Json(s.tracker.change_plan(&p, id, req).await?))
}

/// `POST /owner/companies/{id}/suspend`: the body (a reason) is optional.
#[utoipa::path(
    post,
    path = "/api/v1/owner/companies/{id}/suspend",
    operation_id = "owner_suspend",
    tag = "owner",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The company's id.")),
    request_body(content = Option<SuspendCompany>, description = "Optional: the reason, for the audit log."),
    responses(
        (status = 200, description = "The company, suspended.", body = Company),
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
pub(crate) async fn suspend(
    State(s): State<AppState>,
    Caller(p): Caller,
    Id(id): Id<CompanyId>,
    OptionalJson(req): OptionalJson<SuspendCompany>,
) -> ApiResult<Company> {
    Ok(Json(s.tracker.suspend_company(&p, id, req.reason).await?))
}

/// `POST /owner/companies/{id}/reactivate`: lifts a suspension.
#[utoipa::path(
    post,
    path = "/api/v1/owner/companies/{id}/reactivate",
    operation_id = "owner_reactivate",
    tag = "owner",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The company's id.")),
    responses(
        (status = 200, description = "The company, reactivated.", body = Company),
        NotFound,
        Conflict,
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
pub(crate) async fn reactivate(
    State(s): State<AppState>,
    Caller(p): Caller,
    Id(id): Id<CompanyId>,
) -> ApiResult<Company> {
    Ok(Json(s.tracker.reactivate_company(&p, id).await?))
}

/// `POST /owner/companies/{id}/rotate-key`: the new key, shown this once;
/// the old one stops working at once.
#[utoipa::path(
    post,
    path = "/api/v1/owner/companies/{id}/rotate-key",
    operation_id = "owner_rotate_key",
    tag = "owner",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The company's id.")),
    responses(
        (status = 200, description = "The new key, shown this once; the old one no longer works.", body = KeyRotated),
        NotFound,
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
pub(crate) async fn rotate_key(
    State(s): State<AppState>,
    Caller(p): Caller,
    Id(id): Id<CompanyId>,
) -> ApiResult<KeyRotated> {
    let company_key = s.tracker.rotate_company_key(&p, id).await?;
    Ok(Json(KeyRotated { company_key }))
}

/// `PUT /owner/companies/{id}/retention`: how long tracking data is kept.
#[utoipa::path(
    put,
    path = "/api/v1/owner/companies/{id}/retention",
    operation_id = "owner_retention",
    tag = "owner",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The company's id.")),
    request_body = SetRetention,
    responses(
        (status = 200, description = "The company with its new retention.", body = Company),
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
pub(crate) async fn retention(
    State(s): State<AppState>,
    Caller(p): Caller,
    Id(id): Id<CompanyId>,
    JsonBody(req): JsonBody<SetRetention>,
) -> ApiResult<Company> {
    Ok(Json(
        s.tracker.set_retention(&p, id, req.retention_days).await?,
    ))
}

/// `GET /owner/reports?from&to`: usage ranking, plan distribution, MRR.
#[utoipa::path(
    get,
    path = "/api/v1/owner/reports",
    operation_id = "owner_report",
    tag = "owner",
    security(("bearer" = [])),
    params(DateSpanQuery),
    responses(
        (status = 200, description = "Usage ranking, plan distribution and recurring revenue.", body = OwnerReport),
        BadRequest,
        UnprocessableEntity,
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
pub(crate) async fn report(
    State(s): State<AppState>,
    Caller(p): Caller,
    Params(q): Params<DateSpanQuery>,
) -> ApiResult<OwnerReport> {
    Ok(Json(s.tracker.owner_report(&p, q.from, q.to).await?))
}

/// `GET /owner/no-sync`: ACTIVE companies without sync for 24 hours.
#[utoipa::path(
    get,
    path = "/api/v1/owner/no-sync",
    operation_id = "owner_no_sync",
    tag = "owner",
    security(("bearer" = [])),
    params(PageRequest, NoFilter),
    responses(
        (status = 200, description = "ACTIVE companies without sync for 24 hours, a page.", body = Page<NoSyncCompany>),
        BadRequest,
        UnprocessableEntity,
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
pub(crate) async fn no_sync(
    State(s): State<AppState>,
    Caller(p): Caller,
    q: Listing<NoFilter>,
) -> ApiResult<Page<NoSyncCompany>> {
    Ok(Json(s.tracker.no_sync_companies(&p, &q.page).await?))
}

/// `GET /owner/audit`: the platform audit log.
#[utoipa::path(
    get,
    path = "/api/v1/owner/audit",
    operation_id = "owner_audit",
    tag = "owner",
    security(("bearer" = [])),
    params(crate::routes::paging::SeqPage, AuditQuery),
    responses(
        (status = 200, description = "Platform audit events, a page.", body = Page<AuditEvent>),
        BadRequest,
        UnprocessableEntity,
        Unauthorized,
        Forbidden,
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
            .platform_audit(&p, &q.filter.into(), &q.page)
            .await?,
    ))
}

/// `GET /owner/audit/export?from&to`: the platform's audit chain as an
/// export an auditor verifies offline with `tracker-audit-verify`.
#[utoipa::path(
    get,
    path = "/api/v1/owner/audit/export",
    operation_id = "owner_audit_export",
    tag = "owner",
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
) -> Result<axum::response::Response, ApiError> {
    let export = s.tracker.platform_audit_export(&p, q.from, q.to).await?;
    Ok(super::audit_export_response(
        "audit-platform.ndjson",
        export,
    ))
}

/// `GET /audit/public-key`: the public half of the deployment's audit
/// signing key, which verifies exports. Public: no credentials needed.
#[utoipa::path(
    get,
    path = "/api/v1/audit/public-key",
    operation_id = "audit_public_key",
    tag = "auth",
    responses(
        (status = 200, description = "The key that signs audit checkpoints and exports.", body = AuditPublicKey),
        NotFound,
        TooManyRequests,
    )
)]
pub(crate) async fn audit_public_key(
    State(s): State<AppState>,
) -> Result<Json<AuditPublicKey>, ApiError> {
    let key = s
        .tracker
        .audit_public_key()
        .ok_or(tracker_core::Error::not_found("audit signing key"))?;
    Ok(Json(key.into()))
}

/// `GET /owner/audit/verify`: the first broken link, if any.
#[utoipa::path(
    get,
    path = "/api/v1/owner/audit/verify",
    operation_id = "owner_verify_audit",
    tag = "owner",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The platform audit chain checked: the first broken link, if any.", body = ChainVerification),
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
pub(crate) async fn verify_audit(
    State(s): State<AppState>,
    Caller(p): Caller,
) -> ApiResult<ChainVerification> {
    Ok(Json(s.tracker.verify_platform_audit(&p).await?))
}
