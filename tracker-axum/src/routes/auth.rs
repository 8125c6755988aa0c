//! Login and logout.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use tracker_core::protocol::{LoginRequest, LoginResponse};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{ClientIp, JsonBody, bearer};
use crate::responses::{
    BadRequest, Forbidden, PayloadTooLarge, TooManyRequests, Unauthorized, UnprocessableEntity,
    UnsupportedMediaType,
};

/// `POST /auth/login`: a token for username and password (company users
/// send their company key in the body).
#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    operation_id = "login",
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in: the bearer token, shown once.", body = LoginResponse),
        BadRequest,
        Unauthorized,
        Forbidden,
        PayloadTooLarge,
        UnsupportedMediaType,
        UnprocessableEntity,
        TooManyRequests,
    )
)]
pub(crate) async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    JsonBody(req): JsonBody<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    Ok(Json(state.tracker.login(req, ip).await?))
}

/// `POST /auth/logout`: revokes the bearer token.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    operation_id = "logout",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The token is revoked."),
        Unauthorized,
        TooManyRequests,
    )
)]
pub(crate) async fn logout(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let token = bearer(&headers)?;
    // Only a valid token can be logged out: an unknown one is 401.
    state.tracker.authenticate(token).await?;
    state.tracker.logout(token, ip).await?;
    Ok(StatusCode::NO_CONTENT)
}
