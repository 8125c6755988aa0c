//! The one error type of the domain, with stable machine codes.

use std::fmt;

use serde::Serialize;

/// One invalid field of a request: where it is and what is wrong with it.
///
/// `field` is a path into the request as the client sent it, for example
/// `screenshot_interval_seconds` or `events[3].duration_seconds`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    /// Path of the offending field.
    pub field: String,
    /// What is wrong, in words a client developer understands.
    pub message: String,
}

impl FieldError {
    /// A field error for `field` with `message`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Boxed source of a storage failure.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Every failure a [`Tracker`](crate::Tracker) operation or a port can report.
///
/// Each variant has a stable [`code`](Error::code); the comment on the
/// variant says how a web layer should answer it. The HTTP adapter maps
/// codes to statuses in one table.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No credentials, or a token that is unknown, expired or revoked. HTTP 401.
    #[error("authentication required: the token is missing, unknown, expired or revoked")]
    Unauthenticated,
    /// Username and password do not match an active account. HTTP 401.
    #[error("invalid username or password")]
    InvalidCredentials,
    /// The company key is unknown, rotated, or not the key of the token's company. HTTP 401.
    #[error("invalid company key")]
    InvalidCompanyKey,
    /// The caller's role may not perform this action. HTTP 403.
    #[error("forbidden: {action} is not allowed for this role")]
    Forbidden {
        /// The refused action, as its stable name.
        action: &'static str,
    },
    /// The company is suspended; every company-user call is refused. HTTP 403.
    #[error("the company is suspended")]
    CompanySuspended,
    /// The company's trial or subscription has ended. HTTP 403.
    #[error("the company's trial or subscription has expired")]
    CompanyExpired,
    /// The tracking policy disables what was sent (for example screenshots). HTTP 403.
    #[error("the tracking policy disables {what}")]
    PolicyDisabled {
        /// What the policy disables.
        what: &'static str,
    },
    /// The object does not exist, or belongs to another tenant. HTTP 404.
    #[error("{entity} not found")]
    NotFound {
        /// The kind of object that was looked for.
        entity: &'static str,
    },
    /// The username is already taken in its company (or among owners). HTTP 409.
    #[error("username {username:?} is already taken")]
    UsernameTaken {
        /// The refused username.
        username: String,
    },
    /// A unique name or code is already in use. HTTP 409.
    #[error("{entity} {value:?} already exists")]
    AlreadyExists {
        /// The kind of object.
        entity: &'static str,
        /// The conflicting value.
        value: String,
    },
    /// Creating or reactivating a user would exceed the plan's seats. HTTP 409.
    #[error("seat limit reached: the plan allows {limit} active users")]
    SeatLimitReached {
        /// The plan's max_employees.
        limit: u32,
    },
    /// The new plan has fewer seats or less storage than the company uses. HTTP 409.
    #[error("plan too small: {reason}")]
    PlanTooSmall {
        /// Which limit the company's usage exceeds.
        reason: String,
    },
    /// The plan's screenshot storage is full. HTTP 409.
    #[error("storage limit reached: the plan allows {limit_bytes} bytes")]
    StorageLimitReached {
        /// The plan's max_storage_bytes.
        limit_bytes: u64,
    },
    /// The object is not in a state that allows the operation
    /// (a decided correction, a completed task, an expired company to reactivate). HTTP 409.
    #[error("invalid state: {message}")]
    InvalidState {
        /// What state prevents the operation.
        message: String,
    },
    /// Too many failed sign-ins for this account lately; it may try again
    /// after `retry_after_secs`. HTTP 429.
    #[error("too many failed sign-ins for this account; try again in {retry_after_secs} s")]
    TooManyAttempts {
        /// Seconds until the next attempt is taken.
        retry_after_secs: u64,
    },
    /// The store cannot be reached for now (its database is down or
    /// restarting); the same request may succeed after `retry_after_secs`.
    /// HTTP 503.
    #[error("the store cannot be reached for now; try again in {retry_after_secs} s")]
    Unavailable {
        /// Seconds a client should wait before trying again.
        retry_after_secs: u64,
    },
    /// One or more fields are invalid; each is named. HTTP 422.
    #[error("validation failed: {}", join(.errors))]
    Validation {
        /// Every invalid field found.
        errors: Vec<FieldError>,
    },
    /// A storage backend failed. HTTP 500 (and logged): the only code that is.
    #[error("storage backend {backend} failed")]
    Storage {
        /// The backend that failed (`memory`, `sqlite`, `postgres`, a blob store…).
        backend: &'static str,
        /// The backend's error.
        #[source]
        source: BoxError,
    },
}

fn join(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    /// The stable machine code of this error, one per variant.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Unauthenticated => "unauthenticated",
            Error::InvalidCredentials => "invalid_credentials",
            Error::InvalidCompanyKey => "invalid_company_key",
            Error::Forbidden { .. } => "forbidden",
            Error::CompanySuspended => "company_suspended",
            Error::CompanyExpired => "company_expired",
            Error::PolicyDisabled { .. } => "policy_disabled",
            Error::NotFound { .. } => "not_found",
            Error::UsernameTaken { .. } => "username_taken",
            Error::AlreadyExists { .. } => "already_exists",
            Error::SeatLimitReached { .. } => "seat_limit_reached",
            Error::PlanTooSmall { .. } => "plan_too_small",
            Error::StorageLimitReached { .. } => "storage_limit_reached",
            Error::InvalidState { .. } => "invalid_state",
            Error::TooManyAttempts { .. } => "too_many_attempts",
            Error::Unavailable { .. } => "unavailable",
            Error::Validation { .. } => "validation",
            Error::Storage { .. } => "storage",
        }
    }

    /// One error of every kind, for a transport to test its mapping of
    /// every code (a new kind then cannot silently become a server error).
    pub fn every_kind() -> Vec<Error> {
        vec![
            Error::Unauthenticated,
            Error::InvalidCredentials,
            Error::InvalidCompanyKey,
            Error::Forbidden { action: "example" },
            Error::CompanySuspended,
            Error::CompanyExpired,
            Error::PolicyDisabled {
                what: "screenshots",
            },
            Error::not_found("example"),
            Error::UsernameTaken {
                username: "example".into(),
            },
            Error::AlreadyExists {
                entity: "example",
                value: "example".into(),
            },
            Error::SeatLimitReached { limit: 1 },
            Error::PlanTooSmall {
                reason: "example".into(),
            },
            Error::StorageLimitReached { limit_bytes: 1 },
            Error::invalid_state("example"),
            Error::TooManyAttempts {
                retry_after_secs: 1,
            },
            Error::invalid("example", "example"),
            Error::storage("example", std::io::Error::other("example")),
            Error::Unavailable {
                retry_after_secs: 1,
            },
        ]
    }

    /// A validation error for one field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Validation {
            errors: vec![FieldError::new(field, message)],
        }
    }

    /// A not-found error for `entity`.
    pub fn not_found(entity: &'static str) -> Self {
        Error::NotFound { entity }
    }

    /// An invalid-state error.
    pub fn invalid_state(message: impl Into<String>) -> Self {
        Error::InvalidState {
            message: message.into(),
        }
    }

    /// Wraps a backend failure.
    pub fn storage(backend: &'static str, source: impl Into<BoxError>) -> Self {
        Error::Storage {
            backend,
            source: source.into(),
        }
    }

    /// The field errors of a validation error, empty for any other error.
    pub fn field_errors(&self) -> &[FieldError] {
        match self {
            Error::Validation { errors } => errors,
            _ => &[],
        }
    }
}

/// Result with the domain [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Collects field errors while a request is validated, so that every bad
/// field is reported at once instead of the first one only.
#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an error for `field`.
    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    /// Records an error for `field` unless `ok`.
    pub fn check(&mut self, ok: bool, field: impl Into<String>, message: impl Into<String>) {
        if !ok {
            self.push(field, message);
        }
    }

    /// Records an error when the text is longer than `max` characters.
    pub fn max_len(&mut self, field: &str, value: &str, max: usize) {
        if value.chars().count() > max {
            self.push(field, format!("must be at most {max} characters"));
        }
    }

    /// Records an error unless the text has between `min` and `max`
    /// characters, is not only white space and holds no control
    /// character: the rule [`crate::text::TEXT_PATTERN`] and a length say in a schema.
    pub fn text(&mut self, field: &str, value: &str, min: usize, max: usize) {
        let n = value.chars().count();
        if n < min || n > max {
            self.push(
                field,
                format!("must be between {min} and {max} characters, got {n}"),
            );
        } else if value.chars().any(char::is_control) {
            self.push(field, "must not contain control characters");
        } else if value.trim().is_empty() {
            self.push(field, "must not be blank");
        }
    }

    /// Records an error unless `min <= value <= max`.
    pub fn range<T: PartialOrd + fmt::Display>(&mut self, field: &str, value: T, min: T, max: T) {
        if value < min || value > max {
            self.push(
                field,
                format!("must be between {min} and {max}, got {value}"),
            );
        }
    }

    /// Whether nothing was recorded so far.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// `Ok(())` when nothing was recorded, else the validation error naming every field.
    pub fn finish(self) -> Result<()> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation {
                errors: self.errors,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each variant's place; the match has no wildcard, so a new variant
    /// does not compile until it is given one here (and in `every_kind`).
    fn variant(e: &Error) -> usize {
        match e {
            Error::Unauthenticated => 0,
            Error::InvalidCredentials => 1,
            Error::InvalidCompanyKey => 2,
            Error::Forbidden { .. } => 3,
            Error::CompanySuspended => 4,
            Error::CompanyExpired => 5,
            Error::PolicyDisabled { .. } => 6,
            Error::NotFound { .. } => 7,
            Error::UsernameTaken { .. } => 8,
            Error::AlreadyExists { .. } => 9,
            Error::SeatLimitReached { .. } => 10,
            Error::PlanTooSmall { .. } => 11,
            Error::StorageLimitReached { .. } => 12,
            Error::InvalidState { .. } => 13,
            Error::TooManyAttempts { .. } => 14,
            Error::Validation { .. } => 15,
            Error::Storage { .. } => 16,
            Error::Unavailable { .. } => 17,
        }
    }

    #[test]
    fn every_kind_holds_each_variant_once() {
        let places: Vec<usize> = Error::every_kind().iter().map(variant).collect();
        assert_eq!(places, (0..=17).collect::<Vec<_>>());
    }

    #[test]
    fn error_is_send_sync_static() {
        fn assert_bounds<T: Send + Sync + 'static + std::error::Error>() {}
        assert_bounds::<Error>();
    }

    #[test]
    fn validator_names_every_field() {
        let mut v = Validator::new();
        v.range("a", 5, 10, 20);
        v.text("b", "", 1, 3);
        v.text("c", "ok", 1, 3);
        let err = v.finish().unwrap_err();
        let fields: Vec<_> = err
            .field_errors()
            .iter()
            .map(|e| e.field.as_str())
            .collect();
        assert_eq!(fields, ["a", "b"]);
        assert_eq!(err.code(), "validation");
        assert!(
            err.to_string()
                .contains("a: must be between 10 and 20, got 5")
        );
    }

    #[test]
    fn storage_error_keeps_its_source() {
        let io = std::io::Error::other("disk on fire");
        let err = Error::storage("memory", io);
        let source = std::error::Error::source(&err).expect("source kept");
        assert_eq!(source.to_string(), "disk on fire");
    }
}
