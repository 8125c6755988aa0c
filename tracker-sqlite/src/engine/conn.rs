//! Connections: where the database lives, how each connection is opened
//! and configured.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};

use crate::error::SqliteError;

/// Where the database lives.
#[derive(Debug, Clone)]
pub(crate) enum Location {
    /// A database file.
    File(PathBuf),
    /// A private in-memory database: one connection, the writer's.
    Memory,
}

/// Tuning of an engine.
#[derive(Debug, Clone)]
pub(crate) struct Tuning {
    pub readers: usize,
    pub busy_timeout: Duration,
    pub cache_kib: i64,
    pub max_group: usize,
    pub max_db_mib: Option<u64>,
    pub mmap_bytes: i64,
}

/// Applies the tuning to a new connection (`write`: the writer's).
pub(super) fn configure(conn: &Connection, t: &Tuning, write: bool) -> rusqlite::Result<()> {
    conn.busy_timeout(t.busy_timeout)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "cache_size", -t.cache_kib)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // Pages read through the map cost no system call and no copy; a reader
    // that finds the database changed since its last read starts with an
    // empty page cache, so that is most of its reads.
    conn.pragma_update(None, "mmap_size", t.mmap_bytes)?;
    if write {
        // NORMAL is durable in WAL mode up to the last checkpoint-safe commit
        // of a power loss; a process crash loses no committed write.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        if let Some(mib) = t.max_db_mib {
            let page_size: i64 = conn.pragma_query_value(None, "page_size", |r| r.get(0))?;
            let pages =
                i64::try_from(mib).unwrap_or(i64::MAX / 2) * 1024 * 1024 / page_size.max(512);
            conn.pragma_update(None, "max_page_count", pages)?;
        }
    }
    conn.set_prepared_statement_cache_capacity(128);
    // `col IN rarray(?)` passes id sets without building SQL text.
    rusqlite::vtab::array::load_module(conn)?;
    Ok(())
}

/// Opens the database file, naming it in the error.
pub(super) fn open_file(path: &Path, flags: OpenFlags) -> Result<Connection, SqliteError> {
    Connection::open_with_flags(path, flags).map_err(|source| SqliteError::Open {
        path: path.to_owned(),
        source,
    })
}

/// An error met while opening and setting up the database, named by what
/// went wrong where it can be told.
pub(super) fn classify_open(location: &Location, e: rusqlite::Error) -> SqliteError {
    match (e.sqlite_error_code(), location) {
        (Some(ErrorCode::NotADatabase), Location::File(path)) => {
            SqliteError::NotADatabase { path: path.clone() }
        }
        (Some(ErrorCode::ReadOnly), _) => SqliteError::ReadOnly,
        (Some(ErrorCode::DiskFull), _) => SqliteError::DiskFull,
        _ => SqliteError::Sqlite(e),
    }
}
