//! One mapping from errors to RFC 9457 problem documents.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tracker_core::error::FieldError;

/// Everything a request can fail with: the core's errors, and what the
/// transport itself refuses before the core sees the request.
#[derive(Debug)]
#[non_exhaustive]
pub enum ApiError {
    /// An error of the service.
    Core(tracker_core::Error),
    /// The body is not JSON (a syntax error or a truncated document). 400.
    MalformedJson {
        /// Where and what, as the parser says it.
        detail: String,
    },
    /// The body is JSON of the wrong shape: a wrong type, a missing or an
    /// unknown field. 422, naming the field.
    InvalidBody {
        /// Path of the field (`events[0].duration_seconds`).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// A multipart body cannot be read. 400.
    MalformedMultipart {
        /// What the parser says.
        detail: String,
    },
    /// Too many requests from this company key or address. 429 with
    /// `Retry-After`.
    RateLimited {
        /// Seconds until a request will be taken again.
        retry_after_secs: u64,
    },
    /// The body is not of the media type the route takes. 415.
    UnsupportedMediaType {
        /// The media type the route takes.
        expected: &'static str,
    },
    /// The body is larger than the route allows. 413.
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// A query string parameter is malformed, missing or unknown. 400,
    /// naming it.
    InvalidQuery {
        /// The parameter.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The request took longer than [`HttpConfig::request_timeout`]. 408.
    ///
    /// [`HttpConfig::request_timeout`]: crate::HttpConfig::request_timeout
    Timeout {
        /// The limit, in seconds.
        after_secs: f64,
    },
    /// No route has this path. 404.
    NoRoute,
    /// The route does not take this method. 405.
    MethodNotAllowed,
}

impl ApiError {
    /// The same error about a field nested in `parent` (a JSON part of a
    /// multipart body).
    pub fn within(self, parent: &str) -> Self {
        match self {
            ApiError::InvalidBody { field, message } => ApiError::InvalidBody {
                field: format!("{parent}.{field}"),
                message,
            },
            other => other,
        }
    }
}

impl From<tracker_core::Error> for ApiError {
    fn from(e: tracker_core::Error) -> Self {
        ApiError::Core(e)
    }
}

/// An RFC 9457 problem document with the stable `code` of the error.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem: `urn:tracker:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind.
    pub title: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// What happened in this request.
    pub detail: String,
    /// The stable error code clients switch on.
    pub code: &'static str,
    /// The fields at fault, for validation errors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// The status of each core error code: the table of DESIGN.md §4.
pub fn status_of(code: &str) -> StatusCode {
    match code {
        "unauthenticated" | "invalid_credentials" | "invalid_company_key" => {
            StatusCode::UNAUTHORIZED
        }
        "forbidden" | "company_suspended" | "company_expired" | "policy_disabled" => {
            StatusCode::FORBIDDEN
        }
        "not_found" | "no_route" => StatusCode::NOT_FOUND,
        "username_taken"
        | "already_exists"
        | "seat_limit_reached"
        | "plan_too_small"
        | "storage_limit_reached"
        | "invalid_state" => StatusCode::CONFLICT,
        "validation" | "invalid_body" => StatusCode::UNPROCESSABLE_ENTITY,
        "malformed_json" | "malformed_multipart" | "invalid_query" => StatusCode::BAD_REQUEST,
        "rate_limited" | "too_many_attempts" => StatusCode::TOO_MANY_REQUESTS,
        "unsupported_media_type" => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "payload_too_large" => StatusCode::PAYLOAD_TOO_LARGE,
        "method_not_allowed" => StatusCode::METHOD_NOT_ALLOWED,
        "request_timeout" => StatusCode::REQUEST_TIMEOUT,
        "unavailable" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn title_of(status: StatusCode) -> &'static str {
    status.canonical_reason().unwrap_or("Error")
}

impl ApiError {
    /// The stable code of the error.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Core(e) => e.code(),
            ApiError::MalformedJson { .. } => "malformed_json",
            ApiError::MalformedMultipart { .. } => "malformed_multipart",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::InvalidBody { .. } => "invalid_body",
            ApiError::UnsupportedMediaType { .. } => "unsupported_media_type",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::InvalidQuery { .. } => "invalid_query",
            ApiError::Timeout { .. } => "request_timeout",
            ApiError::NoRoute => "no_route",
            ApiError::MethodNotAllowed => "method_not_allowed",
        }
    }

    /// The problem document of the error.
    pub fn problem(&self) -> Problem {
        let code = self.code();
        let status = status_of(code);
        let (detail, errors) = match self {
            ApiError::Core(tracker_core::Error::Validation { errors }) => {
                ("the request is invalid".to_owned(), errors.clone())
            }
            // Never tell a client what broke inside; the log has it.
            ApiError::Core(tracker_core::Error::Storage { .. }) => (
                "the server could not complete the request".to_owned(),
                vec![],
            ),
            ApiError::Core(e) => (e.to_string(), vec![]),
            ApiError::MalformedJson { detail } => (format!("malformed JSON: {detail}"), vec![]),
            ApiError::MalformedMultipart { detail } => {
                (format!("malformed multipart body: {detail}"), vec![])
            }
            ApiError::RateLimited { retry_after_secs } => (
                format!("too many requests; retry in {retry_after_secs} s"),
                vec![],
            ),
            ApiError::InvalidBody { field, message } => (
                format!("{field}: {message}"),
                vec![FieldError::new(field.clone(), message.clone())],
            ),
            ApiError::UnsupportedMediaType { expected } => {
                (format!("the body must be {expected}"), vec![])
            }
            ApiError::PayloadTooLarge { limit } => {
                (format!("the body is larger than {limit} bytes"), vec![])
            }
            ApiError::InvalidQuery { field, message } => (
                format!("query parameter {field}: {message}"),
                vec![FieldError::new(field.clone(), message.clone())],
            ),
            ApiError::Timeout { after_secs } => (
                format!("the request took longer than {after_secs} s"),
                vec![],
            ),
            ApiError::NoRoute => ("no such route".to_owned(), vec![]),
            ApiError::MethodNotAllowed => {
                ("the route does not take this method".to_owned(), vec![])
            }
        };
        Problem {
            kind: format!("urn:tracker:problem:{code}"),
            title: title_of(status),
            status: status.as_u16(),
            detail,
            code,
            errors,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Core(e @ tracker_core::Error::Storage { .. }) => {
                tracing::error!(error = %e, source = ?std::error::Error::source(e), "storage failure");
            }
            ApiError::Core(e @ tracker_core::Error::Unavailable { .. }) => {
                tracing::warn!(error = %e, "the store cannot be reached");
            }
            _ => {}
        }
        let problem = self.problem();
        let status =
            StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(problem)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let ApiError::RateLimited { retry_after_secs }
        | ApiError::Core(
            tracker_core::Error::TooManyAttempts { retry_after_secs }
            | tracker_core::Error::Unavailable { retry_after_secs },
        ) = &self
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_core_code_has_the_status_of_the_design() {
        // Every kind the core can return, so a new one cannot silently
        // become a 500: only a storage failure is one.
        for e in tracker_core::Error::every_kind() {
            let code = e.code();
            let status = match code {
                "unauthenticated" | "invalid_credentials" | "invalid_company_key" => 401,
                "forbidden" | "company_suspended" | "company_expired" | "policy_disabled" => 403,
                "not_found" => 404,
                "username_taken"
                | "already_exists"
                | "seat_limit_reached"
                | "plan_too_small"
                | "storage_limit_reached"
                | "invalid_state" => 409,
                "validation" => 422,
                "too_many_attempts" => 429,
                "unavailable" => 503,
                "storage" => 500,
                other => panic!("{other}: give the new code its status in the design and here"),
            };
            let p = ApiError::Core(e).problem();
            assert_eq!(p.status, status, "{code}");
            assert_eq!(p.code, code);
            assert_eq!(p.kind, format!("urn:tracker:problem:{code}"));
        }
    }

    #[test]
    fn storage_failures_say_nothing_of_their_cause() {
        let e = tracker_core::Error::storage("postgres", std::io::Error::other("password=hunter2"));
        let p = ApiError::Core(e).problem();
        assert!(!p.detail.contains("hunter2") && !p.detail.contains("postgres"));
    }

    #[test]
    fn validation_errors_name_their_fields() {
        let p = ApiError::Core(tracker_core::Error::invalid("events[2].app", "too long")).problem();
        assert_eq!(p.errors[0].field, "events[2].app");
        let p = ApiError::InvalidBody {
            field: "policy_version".into(),
            message: "invalid type".into(),
        }
        .problem();
        assert_eq!(
            (p.status, p.errors[0].field.as_str()),
            (422, "policy_version")
        );
    }
}
