//! The schema, versioned and forward-only.

use rusqlite::Connection;
use rusqlite_migration::{M, MigrationDefinitionError, Migrations};

use crate::error::SqliteError;

const MIGRATIONS: &[M<'static>] = &[
    M::up(include_str!("../migrations/001_initial.sql")),
    M::up(include_str!("../migrations/002_jobs_alerts.sql")),
    M::up(include_str!(
        "../migrations/003_events_without_time_index.sql"
    )),
    M::up(include_str!(
        "../migrations/004_user_sync_from_agent_state.sql"
    )),
];

/// The schema version this crate writes.
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// Brings the database to the latest schema; refuses a newer one.
pub(crate) fn apply(conn: &mut Connection) -> Result<(), SqliteError> {
    let migrations = Migrations::from_slice(MIGRATIONS);
    match migrations.to_latest(conn) {
        Ok(()) => Ok(()),
        Err(rusqlite_migration::Error::MigrationDefinition(
            MigrationDefinitionError::DatabaseTooFarAhead,
        )) => Err(SqliteError::SchemaTooNew),
        Err(rusqlite_migration::Error::RusqliteError { err, .. }) => Err(SqliteError::from(err)),
        Err(e) => Err(SqliteError::Migration(e)),
    }
}
