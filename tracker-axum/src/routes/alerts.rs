//! What ADMINs call about alerts: the list, one alert with its webhook
//! deliveries, and the settings.

use axum::Json;
use axum::extract::State;
use tracker_core::notify::{Alert, AlertSettingsUpdate, AlertSettingsView};
use tracker_core::protocol::AlertQuery;
use tracker_core::{AlertDetail, AlertId, Page};

use super::Id;
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Caller, JsonBody, Listing};
use crate::responses::{
    BadRequest, Forbidden, NotFound, PayloadTooLarge, TooManyRequests, Unauthorized,
    UnprocessableEntity, UnsupportedMediaType,
};

type ApiResult<T> = Result<Json<T>, ApiError>;

/// `GET /company/alerts` (ADMIN): the company's alerts, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/company/alerts",
    operation_id = "company_alerts",
    tag = "company",
    security(("bearer" = [])),
    params(crate::routes::paging::IdPage, AlertQuery),
    responses(
        (status = 200, description = "Alerts (no-sync, agent offline, high idle), a page.", body = Page<Alert>),
        BadRequest,
        Unauthorized,
        Forbidden,
        UnprocessableEntity,
        TooManyRequests,
    )
)]
pub(crate) async fn alerts(
    State(s): State<AppState>,
    Caller(p): Caller,
    q: Listing<AlertQuery>,
) -> ApiResult<Page<Alert>> {
    Ok(Json(s.tracker.alerts(&p, &q.filter, &q.page).await?))
}

/// `GET /company/alerts/{id}` (ADMIN): one alert and every webhook delivery attempt.
#[utoipa::path(
    get,
    path = "/api/v1/company/alerts/{id}",
    operation_id = "company_alert",
    tag = "company",
    security(("bearer" = [])),
    params(("id" = AlertId, Path, description = "Alert id.")),
    responses(
        (status = 200, description = "The alert and its deliveries.", body = AlertDetail),
        NotFound,
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
pub(crate) async fn alert(
    State(s): State<AppState>,
    Caller(p): Caller,
    Id(id): Id<AlertId>,
) -> ApiResult<AlertDetail> {
    Ok(Json(s.tracker.alert(&p, id).await?))
}

/// `GET /company/alerts/settings` (ADMIN): which alerts are raised, their
/// thresholds, and the webhooks (never their secrets).
#[utoipa::path(
    get,
    path = "/api/v1/company/alerts/settings",
    operation_id = "company_alert_settings",
    tag = "company",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The alert settings.", body = AlertSettingsView),
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
pub(crate) async fn settings(
    State(s): State<AppState>,
    Caller(p): Caller,
) -> ApiResult<AlertSettingsView> {
    Ok(Json(s.tracker.alert_settings(&p).await?))
}

/// `PUT /company/alerts/settings` (ADMIN): changes the fields sent, audited.
/// A `webhooks` list replaces the stored one; a webhook sent without a
/// secret keeps the one stored for its URL.
#[utoipa::path(
    put,
    path = "/api/v1/company/alerts/settings",
    operation_id = "company_update_alert_settings",
    tag = "company",
    security(("bearer" = [])),
    request_body = AlertSettingsUpdate,
    responses(
        (status = 200, description = "The settings with the changes.", body = AlertSettingsView),
        BadRequest,
        PayloadTooLarge,
        UnsupportedMediaType,
        UnprocessableEntity,
        Unauthorized,
        Forbidden,
        TooManyRequests,
    )
)]
pub(crate) async fn update_settings(
    State(s): State<AppState>,
    Caller(p): Caller,
    JsonBody(update): JsonBody<AlertSettingsUpdate>,
) -> ApiResult<AlertSettingsView> {
    Ok(Json(s.tracker.update_alert_settings(&p, update).await?))
}
