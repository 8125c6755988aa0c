//! Errors of the SQLite adapter, and their conversion into the core error.

use std::path::PathBuf;
use std::sync::Arc;

use rusqlite::ErrorCode;

/// What can go wrong in the SQLite adapter.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqliteError {
    /// The database file could not be opened (missing directory, permissions).
    #[error("cannot open SQLite database {path}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: rusqlite::Error,
    },
    /// The file exists but is not a SQLite database.
    #[error("{path} is not a SQLite database")]
    NotADatabase {
        /// The file.
        path: PathBuf,
    },
    /// The database is read-only (file permissions or a read-only filesystem).
    #[error("the SQLite database is read-only")]
    ReadOnly,
    /// The disk is full.
    #[error("the disk holding the SQLite database is full")]
    DiskFull,
    /// The database was written by a newer version of this crate.
    #[error(
        "the database schema is newer than this version of tracker-sqlite supports; upgrade tracker-sqlite"
    )]
    SchemaTooNew,
    /// Applying the schema failed.
    #[error("applying the database schema failed")]
    Migration(#[source] rusqlite_migration::Error),
    /// WAL mode could not be enabled.
    #[error("the database refused WAL journal mode (it reports {mode:?})")]
    NoWal {
        /// The journal mode in force.
        mode: String,
    },
    /// A worker thread could not be started.
    #[error("cannot start a database thread")]
    Thread(#[source] std::io::Error),
    /// The group transaction failed to commit; nothing of it was stored.
    #[error("the transaction failed to commit; nothing of it was stored")]
    Commit(#[source] Arc<SqliteError>),
    /// SQLite rolled the transaction back by itself (after a full disk or an
    /// I/O error); nothing of it was stored.
    #[error("SQLite rolled the transaction back")]
    RolledBack,
    /// Held heartbeats could not be written (a full disk, an I/O error);
    /// they are tried again later, and a read that must see them fails
    /// until then.
    #[error("held heartbeats could not be written yet")]
    Deferred,
    /// The store's threads are gone.
    #[error("the SQLite store is closed")]
    Closed,
    /// A query panicked (a bug); the transaction part was rolled back.
    #[error("a database job panicked")]
    Panicked,
    /// A row held a value this version cannot read.
    #[error("corrupt value in column {column}: {reason}")]
    Corrupt {
        /// The column.
        column: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Any other SQLite error.
    #[error("SQLite error")]
    Sqlite(#[source] rusqlite::Error),
}

impl From<rusqlite::Error> for SqliteError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(ErrorCode::ReadOnly) => SqliteError::ReadOnly,
            Some(ErrorCode::DiskFull) => SqliteError::DiskFull,
            _ => SqliteError::Sqlite(e),
        }
    }
}

impl From<SqliteError> for tracker_core::Error {
    fn from(e: SqliteError) -> Self {
        tracker_core::Error::storage("sqlite", e)
    }
}

/// Converts a rusqlite error met while serving a call.
pub(crate) fn db(e: rusqlite::Error) -> tracker_core::Error {
    SqliteError::from(e).into()
}
