//! Login and logout.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use tracker_core::protocol::{LoginRequest, LoginResponse};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{ClientIp, JsonBody, bearer};

/// `POST /auth/login`: a token for username and password (company users
/// send their company key in the body).
pub(crate) async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    JsonBody(req): JsonBody<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    Ok(Json(state.tracker.login(req, ip).await?))
}

/// `POST /auth/logout`: revokes the bearer token.
pub(crate) async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let token = bearer(&headers)?;
    // Only a valid token can be logged out: an unknown one is 401.
    state.tracker.authenticate(token).await?;
    state.tracker.logout(token).await?;
    Ok(StatusCode::NO_CONTENT)
}
