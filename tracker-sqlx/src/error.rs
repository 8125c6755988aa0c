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
    /// The store cannot work as the row security role, or the role would
    /// not be held by the policies.
    #[error("row security role {role:?}: {reason}")]
    RowSecurity {
        /// The role named.
        role: String,
        /// What is wrong, and what to do about it.
        reason: String,
    },
    /// The row security role's name is not a plain lowercase identifier.
    #[error(
        "invalid row security role {role:?}: use lowercase ASCII letters, digits and '_', starting with a letter, at most 63 bytes"
    )]
    InvalidRole {
        /// The name given.
        role: String,
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

/// Seconds a client is told to wait when the database cannot be reached:
/// about what a restart or a failover takes, and under the pool's wait.
pub(crate) const RETRY_AFTER_SECS: u64 = 5;

/// Converts a sqlx error met while serving a call. A database out of
/// reach is [`Unavailable`](tracker_core::Error::Unavailable) (503 with
/// `Retry-After`), not a failure of the request: the pool reconnects by
/// itself once the server is back.
pub(crate) fn db(e: sqlx::Error) -> tracker_core::Error {
    if out_of_reach(&e) {
        return tracker_core::Error::Unavailable {
            retry_after_secs: RETRY_AFTER_SECS,
        };
    }
    PgError::Database(e).into()
}

/// Whether `e` says the server is unreachable, refusing connections or
/// going away, rather than that a statement failed.
fn out_of_reach(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        // Class 08: connection exceptions; 57P01-57P03: the server is
        // shutting down, crashed, or not accepting connections yet.
        sqlx::Error::Database(d) => d
            .code()
            .is_some_and(|c| c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03")),
        _ => false,
    }
}

/// The name of the unique constraint a statement violated, if that is
/// why it failed.
pub(crate) fn unique_violation(e: &sqlx::Error) -> Option<&str> {
    match e {
        sqlx::Error::Database(d) if d.is_unique_violation() => Some(d.constraint().unwrap_or("")),
        _ => None,
    }
}
