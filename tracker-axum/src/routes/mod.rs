//! Handlers, one module per audience.

pub(crate) mod agent;
pub(crate) mod alerts;
pub(crate) mod auth;
pub(crate) mod company;
pub(crate) mod me;
pub(crate) mod ops;
pub(crate) mod owner;
pub(crate) mod paging;
pub(crate) mod privacy;

use axum::body::Body;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use tracker_core::AuditExport;

use crate::error::ApiError;

/// The `{id}` of a path as a typed id. An id that is not a UUID names no
/// object: 404, like an id of another company.
pub(crate) struct Id<T>(pub T);

impl<T: From<uuid::Uuid>, S: Send + Sync> FromRequestParts<S> for Id<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NoRoute)?;
        let id = raw
            .parse::<uuid::Uuid>()
            .map_err(|_| tracker_core::Error::not_found("object"))?;
        Ok(Id(T::from(id)))
    }
}

/// Raw bytes with their media type.
pub(crate) fn bytes_response(content_type: &str, bytes: Vec<u8>) -> Response {
    let mut response = bytes.into_response();
    let value = HeaderValue::from_str(content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    response.headers_mut().insert(header::CONTENT_TYPE, value);
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    // Stored bytes are served as what the upload was found to be, never
    // sniffed into something else, and run nothing if opened as a page.
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    response
}

/// A CSV download.
/// An audit export as an HTTP response: streamed a page at a time as
/// newline-delimited JSON, an attachment named `filename`. A store failure
/// midway ends the stream without its signed end, which every verifier
/// reports as a truncated export. For any router over the same service
/// (the console serves the same exports).
pub fn audit_export_response(filename: &'static str, export: AuditExport) -> Response {
    let chunks = futures::stream::unfold(Some(export), |state| async move {
        let mut export = state?;
        loop {
            match export.next_chunk().await {
                Ok(Some(chunk)) if !chunk.is_empty() => return Some((Ok(chunk), Some(export))),
                Ok(Some(_)) => {}
                Ok(None) => return None,
                Err(e) => {
                    tracing::error!(error = %e, "an audit export stopped midway");
                    return Some((Err(std::io::Error::other(e.to_string())), None));
                }
            }
        }
    });
    attachment(
        Body::from_stream(chunks).into_response(),
        "application/x-ndjson",
        filename,
    )
}

pub(crate) fn csv_response(filename: &'static str, body: String) -> Response {
    attachment(body.into_response(), "text/csv; charset=utf-8", filename)
}

/// `response` as a download of `content_type` named `filename`.
pub(crate) fn attachment(
    mut response: Response,
    content_type: &'static str,
    filename: &str,
) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}
