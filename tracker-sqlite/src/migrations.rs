//! The schema, versioned and forward-only: the SQL files of `migrations/`,
//! applied in order on open.
//!
//! Migration 1 is the schema of every port.
//!
//! Migration 2 adds the tables of the background jobs and alerts:
//!
//! - `usage_pending`: UTC dates whose tracking data changed, marked with a
//!   version by the transaction that stored the data, for the usage job.
//! - `purge_progress`: the cutoff and running counts of an unfinished
//!   retention purge, so a purge stopped by a crash resumes.
//! - `alerts`: raised alerts; a partial unique index on (company, kind,
//!   subject) of the open ones keeps one open alert per subject even when
//!   callers race.
//! - `alert_settings`: each company's alert settings as JSON, webhook
//!   secrets included (they sign the webhook bodies).
//! - `alert_deliveries`: every webhook delivery attempt, per alert.
//!
//! Migration 3 drops the company-wide time index of activity events. The
//! agents of a company upload at the same time, so every batch fell between
//! the other agents' events in that index and dirtied about one page per
//! event. Company-wide reads in time order now merge one range of the
//! per-user index (company, user, time, id) per user that has events, and
//! the retention purge walks that index user by user.
//!
//! Migration 4 makes a heartbeat one row. A user's last agent sync is its
//! agent state's last heartbeat (the `user_rows` view joins them; the
//! column of `users` is gone, so an update of the user cannot write back
//! an older instant), and a trigger moves the company's last sync from the
//! agent state, by a second or more and never back.

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
