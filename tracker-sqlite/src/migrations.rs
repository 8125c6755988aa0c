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
//!
//! Migration 5 stores activity events per user: ids unique per user,
//! owner keys instead of company and user ids, repeated strings once per
//! company, and per-day usage sums per app and website domain, which a
//! step in Rust fills from the events. The file says why. It reads and
//! rewrites every activity event in the one transaction of the first
//! open, so that open takes time in proportion to the events stored
//! (about 8 s for a million on a 2-core machine) and needs free disk of
//! about the events' size; the old table's pages stay in the file for
//! later writes (`VACUUM` returns them: 242 MB became 327 MB there).
//!
//! Migration 6 adds the signed checkpoints of the audit chains.
//!
//! Migration 7 draws the usage marks' versions from one counter, so a date
//! cleared and marked again never gets back a version a running usage job
//! read (it restarted at 1, and that job's clear could then drop the new
//! mark).
//!
//! Migration 8 adds privacy: a `privacy` JSON document on policies
//! (minimisation, notice, retention by kind, the pending change) and on
//! users (acknowledgement, legal hold, erasure), and the policy's
//! `revision`, on which changes compare and set.

use rusqlite::{Connection, Transaction};
use rusqlite_migration::{HookError, M, MigrationDefinitionError, Migrations};

use crate::error::SqliteError;

fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(include_str!("../migrations/001_initial.sql")),
        M::up(include_str!("../migrations/002_jobs_alerts.sql")),
        M::up(include_str!(
            "../migrations/003_events_without_time_index.sql"
        )),
        M::up(include_str!(
            "../migrations/004_user_sync_from_agent_state.sql"
        )),
        M::up_with_hook(
            include_str!("../migrations/005_activity_by_user.sql"),
            |tx: &Transaction<'_>| {
                crate::rollup::backfill_usage(tx).map_err(|e| HookError::Hook(e.to_string()))
            },
        ),
        M::up(include_str!("../migrations/006_audit_checkpoints.sql")),
        M::up(include_str!("../migrations/007_usage_mark_versions.sql")),
        M::up(include_str!("../migrations/008_privacy.sql")),
    ])
}

/// The schema version this crate writes.
pub const SCHEMA_VERSION: usize = 8;

/// Brings the database to the latest schema; refuses a newer one.
pub(crate) fn apply(conn: &mut Connection) -> Result<(), SqliteError> {
    match migrations().to_latest(conn) {
        Ok(()) => Ok(()),
        Err(rusqlite_migration::Error::MigrationDefinition(
            MigrationDefinitionError::DatabaseTooFarAhead,
        )) => Err(SqliteError::SchemaTooNew),
        Err(rusqlite_migration::Error::RusqliteError { err, .. }) => Err(SqliteError::from(err)),
        Err(e) => Err(SqliteError::Migration(e)),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_version_counts_the_migrations() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        super::apply(&mut conn).unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, super::SCHEMA_VERSION as i64);
    }
}
