//! The JSON Schemas of the messages' text fields, made from the patterns
//! and limits the validators hold to ([`crate::text`]), so the OpenAPI
//! document states exactly what the server accepts. Each function is named
//! in a field's `#[schema(schema_with = …)]`.

use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};

use crate::text::{
    EMAIL_MAX, EMAIL_PATTERN, PLAN_CODE_PATTERN, TEXT_PATTERN, USERNAME_PATTERN, WEBHOOK_URL_MAX,
    WEBHOOK_URL_PATTERN,
};

/// A string of `min..=max` characters matching `pattern`; `nullable` when
/// the field may be `null` (or left out).
fn string(min: usize, max: usize, pattern: &str, nullable: bool, description: &str) -> Object {
    let ty: SchemaType = if nullable {
        [Type::String, Type::Null].into_iter().collect()
    } else {
        Type::String.into()
    };
    ObjectBuilder::new()
        .schema_type(ty)
        .min_length((min > 0).then_some(min))
        .max_length(Some(max))
        .pattern((!pattern.is_empty()).then_some(pattern))
        .description(Some(description))
        .build()
}

macro_rules! text_schemas {
    ($($name:ident => ($min:expr, $max:expr, $pattern:expr, $nullable:expr, $description:expr);)*) => {$(
        #[doc = concat!("The schema of: ", $description)]
        pub fn $name() -> Object {
            string($min, $max, $pattern, $nullable, $description)
        }
    )*};
}

text_schemas! {
    username => (3, 64, USERNAME_PATTERN, false,
        "Username: 3 to 64 of A-Z, a-z, 0-9, '.', '_', '-', '@'; stored in lower case.");
    password => (8, 1024, "", false, "Password: 8 to 1024 characters.");
    new_password => (8, 1024, "", true, "New password: 8 to 1024 characters.");
    email => (0, EMAIL_MAX, EMAIL_PATTERN, true,
        "Email address: one '@' with text on both sides, no white space.");
    display_name => (0, 200, "", true, "Display name, at most 200 characters.");
    new_display_name => (1, 200, TEXT_PATTERN, true,
        "New display name: 1 to 200 characters, not blank, no control characters.");
    name => (1, 200, TEXT_PATTERN, false,
        "Name: 1 to 200 characters, not blank, no control characters.");
    new_name => (1, 200, TEXT_PATTERN, true,
        "New name: 1 to 200 characters, not blank, no control characters.");
    title => (1, 200, TEXT_PATTERN, false,
        "Title: 1 to 200 characters, not blank, no control characters.");
    description => (0, 5_000, "", true, "Description, at most 5000 characters.");
    task_note => (0, 5_000, "", true, "What was done, at most 5000 characters.");
    decision_note => (0, 2_000, "", true, "A note for the requester, at most 2000 characters.");
    reason => (1, 2_000, TEXT_PATTERN, false,
        "Reason: 1 to 2000 characters, not blank, no control characters.");
    suspend_reason => (0, 2_000, "", true, "The reason, for the audit log: at most 2000 characters.");
    agent_version => (1, 64, TEXT_PATTERN, true,
        "The agent's version: 1 to 64 characters, not blank, no control characters.");
    webhook_url => (0, WEBHOOK_URL_MAX, WEBHOOK_URL_PATTERN, false,
        "An http:// or https:// URL with a host and no credentials, at most 2048 characters; \
         the deployment may refuse hosts it is not allowed to reach.");
    webhook_secret => (16, 256, TEXT_PATTERN, true,
        "Signing secret: 16 to 256 characters, not blank, no control characters. Write-only.");
    plan_code => (1, 32, PLAN_CODE_PATTERN, false,
        "Code of a plan of the catalog: 1 to 32 of A-Z, 0-9, '_'.");
    optional_plan_code => (1, 32, PLAN_CODE_PATTERN, true,
        "Code of a plan of the catalog (default FREE): 1 to 32 of A-Z, 0-9, '_'.");
}

/// The roles a company user can be given: every role but OWNER, which
/// exists only on the platform.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "UPPERCASE")]
#[allow(dead_code)] // Only its schema is used.
pub enum CompanyRole {
    /// Administers the company.
    Admin,
    /// Sees the teams it manages.
    Manager,
    /// Is tracked and sees itself.
    Employee,
}

/// The role of a company's first user.
#[derive(utoipa::ToSchema, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
#[allow(dead_code)] // Only its schema is used.
pub enum AdminRole {
    /// Administers the company.
    Admin,
}

/// A company's first user, as [`crate::protocol::CreateCompany`] takes it:
/// a [`crate::protocol::NewUser`] whose role, if given, is ADMIN.
#[derive(utoipa::ToSchema, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // Only its schema is used.
pub struct NewAdmin {
    #[schema(schema_with = username)]
    username: String,
    #[schema(schema_with = password)]
    password: String,
    #[serde(default)]
    #[schema(schema_with = email)]
    email: Option<String>,
    /// Display name; the username if absent.
    #[serde(default)]
    #[schema(schema_with = display_name)]
    display_name: Option<String>,
    /// ADMIN, the default.
    #[serde(default)]
    role: Option<AdminRole>,
}
