//! The OpenAPI 3.1 document of the router, derived from the handlers'
//! `#[utoipa::path]` annotations and the core's message types, so it
//! describes what is served and cannot drift from it.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::OpenApiVersion;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::Problem;
use crate::responses::TooManyRequests;
use crate::routes::{agent, alerts, auth, company, me, ops, owner, privacy};

/// The document: every route of [`crate::router`], with the paths as the
/// router serves them (under `/api/v1`, probes and metrics at the root).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "tracker",
        version = env!("CARGO_PKG_VERSION"),
        description = "Multi-tenant employee activity tracking: agents, company administration, \
            self-service and the operator's platform routes. Errors are RFC 9457 problem \
            documents (`application/problem+json`) with a stable `code`."
    ),
    paths(
        auth::login,
        auth::logout,
        agent::heartbeat,
        agent::policy,
        agent::start_session,
        agent::stop_session,
        agent::activity,
        agent::screenshot,
        agent::tasks,
        agent::sync_status,
        company::policy,
        company::update_policy,
        company::employees,
        company::create_employee,
        company::employee,
        company::update_employee,
        company::deactivate_employee,
        company::reactivate_employee,
        company::teams,
        company::create_team,
        company::update_team,
        company::delete_team,
        company::agents,
        company::sessions,
        company::activity,
        company::screenshots,
        company::screenshot_image,
        company::daily_report,
        company::monthly_report,
        company::apps_report,
        company::websites_report,
        company::usage,
        company::timesheet,
        company::tasks,
        company::create_task,
        company::corrections,
        company::approve_correction,
        company::reject_correction,
        company::audit,
        company::verify_audit,
        company::audit_export,
        alerts::alerts,
        alerts::alert,
        alerts::settings,
        alerts::update_settings,
        me::me,
        me::day,
        me::sessions,
        me::tasks,
        me::complete_task,
        me::policy,
        privacy::acknowledge_policy,
        privacy::my_access_log,
        privacy::archive,
        privacy::policy_acknowledgements,
        privacy::company_access_log,
        privacy::place_person_hold,
        privacy::release_person_hold,
        privacy::erase_employee,
        privacy::place_company_hold,
        privacy::release_company_hold,
        privacy::owner_place_company_hold,
        privacy::owner_release_company_hold,
        me::request_correction,
        me::export,
        owner::create_company,
        owner::companies,
        owner::company,
        owner::change_plan,
        owner::suspend,
        owner::reactivate,
        owner::rotate_key,
        owner::retention,
        owner::report,
        owner::no_sync,
        owner::audit,
        owner::verify_audit,
        owner::audit_export,
        owner::audit_public_key,
        ops::healthz,
        ops::readyz,
        crate::metrics::serve,
        document,
    ),
    components(schemas(
        // Problem responses refer to `Problem` by name (see `problem`) and
        // query parameters to the ids and enums below: neither is
        // collected from a request or response body.
        Problem,
        tracker_core::FieldError,
        tracker_core::UserId,
        tracker_core::AuditAction,
        tracker_core::TaskStatus,
        tracker_core::CorrectionStatus,
        tracker_core::AlertKind,
    )),
    modifiers(&SecuritySchemes, &StoreUnavailable),
    tags(
        (name = "auth", description = "Login and logout."),
        (name = "agent", description = "Desktop agents: bearer token and `X-Company-Key`."),
        (name = "company", description = "ADMINs and MANAGERs, as the permission matrix allows."),
        (name = "me", description = "Every company user, about themselves."),
        (name = "owner", description = "The OWNER: company lifecycle and platform numbers."),
        (name = "operations", description = "Probes, metrics and this document."),
    )
)]
struct ApiDoc;

/// The names the routes' `security(...)` use.
const BEARER: &str = "bearer";
const COMPANY_KEY: &str = "company_key";

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        components.add_security_scheme(
            COMPANY_KEY,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Company-Key",
                "The company key; on agent routes it must be the key of the token's company.",
            ))),
        );
    }
}

/// Every route that reads or writes the store may answer 503 while its
/// database cannot be reached: listed once here rather than on each route.
struct StoreUnavailable;

/// The routes that never touch the store.
const STORELESS: [&str; 3] = ["/healthz", "/metrics", "/api/v1/openapi.json"];

impl Modify for StoreUnavailable {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::IntoResponses as _;
        let responses = crate::responses::ServiceUnavailable::responses();
        for (path, item) in openapi.paths.paths.iter_mut() {
            if STORELESS.contains(&path.as_str()) {
                continue;
            }
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                for (status, response) in &responses {
                    operation
                        .responses
                        .responses
                        .entry(status.clone())
                        .or_insert_with(|| response.clone());
                }
            }
        }
    }
}

/// The OpenAPI 3.1 document of every route the router serves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    // 3.1 whatever utoipa's default becomes: the test checks it too.
    doc.openapi = OpenApiVersion::Version31;
    doc
}

/// The document as JSON, built once.
fn document_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        // A document made of derived types always serializes.
        openapi().to_json().unwrap_or_default()
    })
}

/// `GET /api/v1/openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    operation_id = "openapi_document",
    tag = "operations",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document of the API.", body = Object,
            content_type = "application/json"),
        TooManyRequests,
    )
)]
pub(crate) async fn document() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        document_json(),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_served_document_is_openapi_3_1() {
        // An empty string here would mean serialization failed.
        let doc: serde_json::Value = serde_json::from_str(super::document_json()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        assert!(doc["paths"].as_object().is_some_and(|p| p.len() > 50));
    }
}
