//! What the OWNER (the SaaS operator) calls: company lifecycle, platform
//! numbers and the platform audit log.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use tracker_core::protocol::{
    AuditQuery, ChangePlan, CompanyCreated, CompanyDetail, CompanySummary, CreateCompany,
    DateRangeQuery, KeyRotated, NoFilter, NoSyncCompany, OwnerReport, SetRetention, SuspendCompany,
};
use tracker_core::{AuditEvent, ChainVerification, Company, CompanyId, Page};

use super::Id;
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Caller, JsonBody, Listing, OptionalJson, Params};

type ApiResult<T> = Result<Json<T>, ApiError>;

/// `POST /owner/companies`: 201 with the company, its first ADMIN and its
/// key (shown this once).
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

/// `GET /owner/companies`.
pub(crate) async fn companies(
    State(s): State<AppState>,
    Caller(p): Caller,
    q: Listing<NoFilter>,
) -> ApiResult<Page<CompanySummary>> {
    Ok(Json(s.tracker.list_companies(&p, &q.page).await?))
}

/// `GET /owner/companies/{id}`: numbers, billing and usage.
pub(crate) async fn company(
    State(s): State<AppState>,
    Caller(p): Caller,
    Id(id): Id<CompanyId>,
) -> ApiResult<CompanyDetail> {
    Ok(Json(s.tracker.company_detail(&p, id).await?))
}

/// `POST /owner/companies/{id}/plan`.
pub(crate) async fn change_plan(
    State(s): State<AppState>,
    Caller(p): Caller,
    Id(id): Id<CompanyId>,
    JsonBody(req): JsonBody<ChangePlan>,
) -> ApiResult<Company> {
    Ok(Json(s.tracker.change_plan(&p, id, req).await?))
}

/// `POST /owner/companies/{id}/suspend`: the body (a reason) is optional.
pub(crate) async fn suspend(
    State(s): State<AppState>,
    Caller(p): Caller,
    Id(id): Id<CompanyId>,
    OptionalJson(req): OptionalJson<SuspendCompany>,
) -> ApiResult<Company> {
    Ok(Json(s.tracker.suspend_company(&p, id, req.reason).await?))
}

/// `POST /owner/companies/{id}/reactivate`.
pub(crate) async fn reactivate(
    State(s): State<AppState>,
    Caller(p): Caller,
    Id(id): Id<CompanyId>,
) -> ApiResult<Company> {
    Ok(Json(s.tracker.reactivate_company(&p, id).await?))
}

/// `POST /owner/companies/{id}/rotate-key`: the new key, shown this once;
/// the old one stops working at once.
pub(crate) async fn rotate_key(
    State(s): State<AppState>,
    Caller(p): Caller,
    Id(id): Id<CompanyId>,
) -> ApiResult<KeyRotated> {
    let company_key = s.tracker.rotate_company_key(&p, id).await?;
    Ok(Json(KeyRotated { company_key }))
}

/// `PUT /owner/companies/{id}/retention`.
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
pub(crate) async fn report(
    State(s): State<AppState>,
    Caller(p): Caller,
    Params(q): Params<DateRangeQuery>,
) -> ApiResult<OwnerReport> {
    if q.user_id.is_some() {
        return Err(ApiError::InvalidQuery {
            field: "user_id".to_owned(),
            message: "the platform report has no per-user view".to_owned(),
        });
    }
    Ok(Json(s.tracker.owner_report(&p, q.from, q.to).await?))
}

/// `GET /owner/no-sync`: ACTIVE companies without sync for 24 hours.
pub(crate) async fn no_sync(
    State(s): State<AppState>,
    Caller(p): Caller,
    q: Listing<NoFilter>,
) -> ApiResult<Page<NoSyncCompany>> {
    Ok(Json(s.tracker.no_sync_companies(&p, &q.page).await?))
}

/// `GET /owner/audit`.
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

/// `GET /owner/audit/verify`.
pub(crate) async fn verify_audit(
    State(s): State<AppState>,
    Caller(p): Caller,
) -> ApiResult<ChainVerification> {
    Ok(Json(s.tracker.verify_platform_audit(&p).await?))
}
