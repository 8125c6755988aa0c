//! Errors of the PostgreSQL adapter, and their conversion into the core error.

/// What can go wrong in the PostgreSQL adapter.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgError {
    /// The URL is malformed or the server could not be reached.
    #[error("cannot connect to PostgreSQL")]
    Connect(#[source] sqlx::Error),
    /// Applying the migrations failed (or the database holds migrations this
    /// version does not know: it was written by a newer version).
    #[error("applying the PostgreSQL migrations failed")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// The configured schema name is not a plain lowercase identifier.
    #[error(
        "invalid schema name {schema:?}: use lowercase ASCII letters, digits and '_', starting with a letter, at most 63 bytes"
    )]
    InvalidSchema {
        /// The name given.
        schema: String,
    },
    /// A row held a value this version cannot read.
    #[error("corrupt value in column {column}: {reason}")]
    Corrupt {
        /// The column.
        column: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A statement failed.
    #[error("PostgreSQL error")]
    Database(#[source] sqlx::Error),
}

impl From<PgError> for tracker_core::Error {
    fn from(e: PgError) -> Self {
        tracker_core::Error::storage("postgres", e)
    }
}

/// Converts a sqlx error met while serving a call.
pub(crate) fn db(e: sqlx::Error) -> tracker_core::Error {
    PgError::Database(e).into()
}

/// The name of the unique constraint a statement violated, if that is
/// why it failed.
pub(crate) fn unique_violation(e: &sqlx::Error) -> Option<&str> {
    match e {
        sqlx::Error::Database(d) if d.is_unique_violation() => Some(d.constraint().unwrap_or("")),
        _ => None,
    }
}
