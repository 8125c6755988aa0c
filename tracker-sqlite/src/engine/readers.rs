//! Read-only connections: the reader threads that serve scans, and the
//! pool of connections that answer key lookups on the caller's thread.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::thread;

use crossbeam_channel::{Receiver, Sender};
use rusqlite::{Connection, OpenFlags};

use super::conn::{Tuning, configure, open_file};
use super::jobs::ReadJob;
use crate::error::SqliteError;

/// Starts `tuning.readers` reader threads on the file at `path`, each with
/// a read-only connection, serving the jobs sent to the returned queue.
pub(super) fn start(
    path: &Path,
    tuning: &Tuning,
    threads: &mut Vec<thread::JoinHandle<()>>,
) -> Result<Sender<ReadJob>, SqliteError> {
    let (tx, rx) = crossbeam_channel::unbounded::<ReadJob>();
    for i in 0..tuning.readers {
        let conn = open_file(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        configure(&conn, tuning, false).map_err(SqliteError::from)?;
        let rx = rx.clone();
        threads.push(
            thread::Builder::new()
                .name(format!("tracker-sqlite-reader-{i}"))
                .spawn(move || reader_loop(conn, rx))
                .map_err(SqliteError::Thread)?,
        );
    }
    Ok(tx)
}

fn reader_loop(conn: Connection, rx: Receiver<ReadJob>) {
    while let Ok(job) = rx.recv() {
        job(&conn);
    }
}

/// Read-only connections that answer key lookups on the caller's thread.
pub(super) struct PointPool {
    path: PathBuf,
    tuning: Tuning,
    idle: Mutex<Vec<Connection>>,
}

impl PointPool {
    /// An empty pool of the file at `path`: connections open on demand.
    pub(super) fn new(path: &Path, tuning: &Tuning) -> Self {
        Self {
            path: path.to_owned(),
            tuning: tuning.clone(),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// An idle connection, or a new one.
    pub(super) fn take(&self) -> Result<Connection, SqliteError> {
        if let Some(conn) = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop() {
            return Ok(conn);
        }
        let conn = open_file(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        configure(&conn, &self.tuning, false)?;
        Ok(conn)
    }

    /// Keeps a connection for the next lookup.
    pub(super) fn give_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        // As many as threads ask at once, which is about the executor's
        // worker count; a burst beyond the readers' count is closed again.
        if idle.len() < self.tuning.readers.max(1) {
            idle.push(conn);
        }
    }
}
