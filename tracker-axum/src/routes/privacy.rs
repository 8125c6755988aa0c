//! The privacy routes: consent to the policy, who read whose data, each
//! person's archive, legal holds and erasure.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use tracker_core::protocol::{
    AccessEntry, AccessQuery, AcknowledgePolicy, Acknowledgements, LegalHoldRequest, NoFilter,
    PolicyResponse,
};
use tracker_core::{Company, CompanyId, ErasureReceipt, Page, User, UserId};

use super::Id;
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Caller, JsonBody, Listing};
use crate::responses::{
    BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, TooManyRequests, Unauthorized,
    UnprocessableEntity, UnsupportedMediaType,
};

type ApiResult<T> = Result<Json<T>, ApiError>;

/// `GET /me/access-log`: who read the caller's tracking data.
#[utoipa::path(
    get,
    path = "/api/v1/me/access-log",
    operation_id = "me_access_log",
    tag = "me",
    security(("bearer" = [])),
    params(crate::routes::paging::TimePage, NoFilter),
    responses(
        (status = 200, description = "Reads of the caller's data by others, one entry per reader, kind and day, a page.", body = Page<AccessEntry>),
        BadRequest,
        UnprocessableEntity,
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
pub(crate) async fn my_access_log(
    State(s): State<AppState>,
    Caller(p): Caller,
    q: Listing<NoFilter>,
) -> Result<Json<Page<AccessEntry>>, ApiError> {
    Ok(Json(s.tracker.my_access_log(&p, &q.page).await?))
}

/// `POST /me/policy/acknowledge`: the caller acknowledges the newest
/// announced policy version; answers the policy as it now applies.
#[utoipa::path(
    post,
    path = "/api/v1/me/policy/acknowledge",
    operation_id = "me_acknowledge_policy",
    tag = "me",
    security(("bearer" = [])),
    request_body = AcknowledgePolicy,
    responses(
        (status = 200, description = "The policy as it applies after the acknowledgement.", body = PolicyResponse),
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
pub(crate) async fn acknowledge_policy(
    State(s): State<AppState>,
    Caller(p): Caller,
    JsonBody(req): JsonBody<AcknowledgePolicy>,
) -> Result<Json<PolicyResponse>, ApiError> {
    Ok(Json(s.tracker.acknowledge_policy(&p, req).await?))
}

/// `GET /me/archive`: everything kept about the caller, as a tar file.
#[utoipa::path(
    get,
    path = "/api/v1/me/archive",
    operation_id = "me_archive",
    tag = "me",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Everything kept about the caller: profile, policy, sessions, activity and screenshots (a month per file), images, tasks, corrections, the audit events that name them, who read their data, and last `manifest.json` with every file's item count, size and SHA-256. Streamed.", body = Vec<u8>,
            content_type = "application/x-tar",
            headers(("Content-Disposition" = String, description = "An attachment named `my-data.tar`."))),
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
pub(crate) async fn archive(
    State(s): State<AppState>,
    Caller(p): Caller,
) -> Result<Response, ApiError> {
    crate::archive::archive_response(s.tracker.clone(), p, "my-data.tar").await
}

/// `GET /company/policy/acknowledgements` (ADMIN): each active user's
/// newest acknowledged policy version.
#[utoipa::path(
    get,
    path = "/api/v1/company/policy/acknowledgements",
    operation_id = "company_policy_acknowledgements",
    tag = "company",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Who acknowledged the newest announced version.", body = Acknowledgements),
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
pub(crate) async fn policy_acknowledgements(
    State(s): State<AppState>,
    Caller(p): Caller,
) -> ApiResult<Acknowledgements> {
    Ok(Json(s.tracker.policy_acknowledgements(&p).await?))
}

/// `GET /company/access-log` (ADMIN): who read whose tracking data.
#[utoipa::path(
    get,
    path = "/api/v1/company/access-log",
    operation_id = "company_access_log",
    tag = "company",
    security(("bearer" = [])),
    params(crate::routes::paging::TimePage, AccessQuery),
    responses(
        (status = 200, description = "Reads of people's data by others, one entry per reader, person, kind and day, a page.", body = Page<AccessEntry>),
        BadRequest,
        UnprocessableEntity,
        Unauthorized,
        Forbidden,
        NotFound,
        TooManyRequests,
    )
)]
pub(crate) async fn company_access_log(
    State(s): State<AppState>,
    Caller(p): Caller,
    q: Listing<AccessQuery>,
) -> ApiResult<Page<AccessEntry>> {
    Ok(Json(
        s.tracker
            .company_access_log(&p, &q.filter.into(), &q.page)
            .await?,
    ))
}

/// `POST /company/employees/{id}/legal-hold` (ADMIN): the person's data
/// is neither purged nor erased until the hold is released.
#[utoipa::path(
    post,
    path = "/api/v1/company/employees/{id}/legal-hold",
    operation_id = "company_place_legal_hold",
    tag = "company",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user's id.")),
    request_body = LegalHoldRequest,
    responses(
        (status = 200, description = "The user, under the hold.", body = User),
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
pub(crate) async fn place_person_hold(
    State(s): State<AppState>,
    Caller(p): Caller,
    Id(id): Id<UserId>,
    JsonBody(req): JsonBody<LegalHoldRequest>,
) -> ApiResult<User> {
    Ok(Json(s.tracker.place_legal_hold(&p, id, &req.reason).await?))
}

/// `DELETE /company/employees/{id}/legal-hold` (ADMIN): releases it.
#[utoipa::path(
    delete,
    path = "/api/v1/company/employees/{id}/legal-hold",
    operation_id = "company_release_legal_hold",
    tag = "company",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user's id.")),
    responses(
        (status = 200, description = "The user, without the hold.", body = User),
        NotFound,
        Conflict,
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
pub(crate) async fn release_person_hold(
    State(s): State<AppState>,
    Caller(p): Caller,
    Id(id): Id<UserId>,
) -> ApiResult<User> {
    Ok(Json(s.tracker.release_legal_hold(&p, id).await?))
}

/// `POST /company/legal-hold` (ADMIN): nothing of the company is purged
/// or erased until the hold is released.
#[utoipa::path(
    post,
    path = "/api/v1/company/legal-hold",
    operation_id = "company_place_company_hold",
    tag = "company",
    security(("bearer" = [])),
    request_body = LegalHoldRequest,
    responses(
        (status = 200, description = "The company, under the hold.", body = Company),
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
pub(crate) async fn place_company_hold(
    State(s): State<AppState>,
    Caller(p): Caller,
    JsonBody(req): JsonBody<LegalHoldRequest>,
) -> ApiResult<Company> {
    Ok(Json(
        s.tracker.place_company_hold(&p, None, &req.reason).await?,
    ))
}

/// `DELETE /company/legal-hold` (ADMIN): releases it.
#[utoipa::path(
    delete,
    path = "/api/v1/company/legal-hold",
    operation_id = "company_release_company_hold",
    tag = "company",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The company, without the hold.", body = Company),
        Conflict,
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
pub(crate) async fn release_company_hold(
    State(s): State<AppState>,
    Caller(p): Caller,
) -> ApiResult<Company> {
    Ok(Json(s.tracker.release_company_hold(&p, None).await?))
}

/// `POST /company/employees/{id}/erase` (ADMIN): a right-to-erasure
/// request. Answers the receipt recorded in the audit chain.
#[utoipa::path(
    post,
    path = "/api/v1/company/employees/{id}/erase",
    operation_id = "company_erase_employee",
    tag = "company",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user's id.")),
    responses(
        (status = 200, description = "The person's data is deleted and their record is a tombstone; the receipt (counts and a digest, never the data) is in the audit chain.", body = ErasureReceipt),
        NotFound,
        Conflict,
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
pub(crate) async fn erase_employee(
    State(s): State<AppState>,
    Caller(p): Caller,
    Id(id): Id<UserId>,
) -> ApiResult<ErasureReceipt> {
    Ok(Json(s.tracker.erase_person(&p, id).await?))
}

/// `POST /owner/companies/{id}/legal-hold`: nothing of the company is
/// purged or erased until the hold is released.
#[utoipa::path(
    post,
    path = "/api/v1/owner/companies/{id}/legal-hold",
    operation_id = "owner_place_legal_hold",
    tag = "owner",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The company's id.")),
    request_body = LegalHoldRequest,
    responses(
        (status = 200, description = "The company, under the hold.", body = Company),
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
pub(crate) async fn owner_place_company_hold(
    State(s): State<AppState>,
    Caller(p): Caller,
    Id(id): Id<CompanyId>,
    JsonBody(req): JsonBody<LegalHoldRequest>,
) -> ApiResult<Company> {
    Ok(Json(
        s.tracker
            .place_company_hold(&p, Some(id), &req.reason)
            .await?,
    ))
}

/// `DELETE /owner/companies/{id}/legal-hold`: releases it.
#[utoipa::path(
    delete,
    path = "/api/v1/owner/companies/{id}/legal-hold",
    operation_id = "owner_release_legal_hold",
    tag = "owner",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The company's id.")),
    responses(
        (status = 200, description = "The company, without the hold.", body = Company),
        NotFound,
        Conflict,
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
pub(crate) async fn owner_release_company_hold(
    State(s): State<AppState>,
    Caller(p): Caller,
    Id(id): Id<CompanyId>,
) -> ApiResult<Company> {
    Ok(Json(s.tracker.release_company_hold(&p, Some(id)).await?))
}
