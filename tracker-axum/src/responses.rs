//! The responses the OpenAPI document lists for each route: one problem
//! type per status, and the multipart screenshot form. Routes name them in
//! their `responses(...)`; the document module collects the routes.

use std::collections::BTreeMap;

use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::response::{Response as ApiResponse, ResponseBuilder};
use utoipa::openapi::{Content, Object, Ref, RefOr, Type};
use utoipa::{IntoResponses, ToSchema};

use crate::error::Problem;

/// A multipart screenshot upload: a `metadata` JSON part and an `image`
/// part.
#[derive(ToSchema)]
// Never built: the handler reads the parts one by one; this only names
// them for the document.
#[allow(dead_code)]
pub(crate) struct ScreenshotForm {
    /// The metadata, as JSON.
    metadata: tracker_core::protocol::ScreenshotUpload,
    /// The image: PNG, JPEG or WebP, told by its bytes.
    #[schema(value_type = String, content_media_type = "application/octet-stream")]
    image: Vec<u8>,
}

/// A problem response with `description`.
fn problem(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/problem+json",
        Content::new(Some(Ref::from_schema_name(Problem::name()))),
    )
}

fn typed_header(kind: Type, description: &str) -> Header {
    HeaderBuilder::new()
        .schema(Some(Object::with_type(kind)))
        .description(Some(description))
        .build()
}

/// One problem response type per status, listed in each route's
/// `responses(...)` where the route can answer it.
macro_rules! problem_responses {
    ($($(#[$doc:meta])* $name:ident => $status:literal, $description:literal $(, $header:literal: $kind:ident, $header_doc:literal)?;)*) => {
        $(
            $(#[$doc])*
            pub(crate) struct $name;

            impl IntoResponses for $name {
                fn responses() -> BTreeMap<String, RefOr<ApiResponse>> {
                    let response = problem($description);
                    $(let response = response.header($header, typed_header(Type::$kind, $header_doc));)?
                    BTreeMap::from([($status.to_owned(), response.into())])
                }
            }
        )*
    };
}

problem_responses! {
    /// 400.
    BadRequest => "400",
    "Malformed JSON or multipart body, or a malformed, missing or unknown query parameter (named in `errors`).";
    /// 401.
    Unauthorized => "401",
    "No credentials, a token that is unknown, expired or revoked, or a company key that is unknown or not the token's company's.",
    "WWW-Authenticate": String, "`Bearer`.";
    /// 403.
    Forbidden => "403",
    "The caller's role may not do this, the company is suspended or expired, or the tracking policy disables it.";
    /// 404.
    NotFound => "404",
    "No such object, or one the caller may not see (another company's is never told apart).";
    /// 409.
    Conflict => "409",
    "The request conflicts with the current state: a name or username in use, the plan's seats or storage, or an object already in the requested state.";
    /// 413.
    PayloadTooLarge => "413",
    "The body is larger than the route allows.";
    /// 415.
    UnsupportedMediaType => "415",
    "The body is not of a media type the route takes.";
    /// 422.
    UnprocessableEntity => "422",
    "A value is invalid, or JSON of the wrong shape (a wrong type, a missing or unknown field); each field is named in `errors`.";
    /// 429.
    TooManyRequests => "429",
    "Too many requests from this address or company key.",
    "Retry-After": Integer, "Seconds until a request will be taken again.";
    /// 503.
    ServiceUnavailable => "503",
    "The store's database cannot be reached for now; the same request may succeed after `Retry-After`.",
    "Retry-After": Integer, "Seconds to wait before trying again.";
}

/// 200 of the audit exports: newline-delimited JSON, streamed.
pub(crate) struct AuditExported;

impl IntoResponses for AuditExported {
    fn responses() -> BTreeMap<String, RefOr<ApiResponse>> {
        let response = ResponseBuilder::new()
            .description(
                "Newline-delimited JSON, streamed: a header, the chain's checkpoints, the events \
                 with the checkpoints that sign them, and an end signed by the deployment's audit \
                 key. `tracker-audit-verify` checks it offline.",
            )
            .content(
                "application/x-ndjson",
                Content::new(Some(Object::with_type(Type::String))),
            )
            .header(
                "Content-Disposition",
                typed_header(Type::String, "An attachment named after the chain."),
            );
        BTreeMap::from([("200".to_owned(), response.into())])
    }
}
