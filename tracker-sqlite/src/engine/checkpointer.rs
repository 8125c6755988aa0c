//! The checkpointer thread: copies committed WAL frames into the database
//! file, so that the writer's commits only append to the WAL. A checkpoint
//! copies pages into the file and syncs it, which would stall every queued
//! write if the writer did it.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use rusqlite::{Connection, OpenFlags};

use super::conn::{Tuning, open_file};
use crate::error::SqliteError;

/// WAL pages after which the writer checkpoints by itself, should the
/// checkpointer fall behind (SQLite's default is 1,000).
const WAL_BACKSTOP_PAGES: i64 = 16_384;
/// Least time between two checkpoints, so that one copies many commits.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// How the writer tells the checkpointer that it committed.
pub(super) struct Kick {
    /// Set by the first commit after a checkpoint began: later commits
    /// find it set and wake no thread, so a stream of small commits costs
    /// the checkpointer one wake per interval, not one per commit.
    pending: Arc<AtomicBool>,
    tx: Sender<()>,
}

impl Kick {
    /// Tells the checkpointer that the writer committed.
    pub(super) fn kick(&self) {
        if !self.pending.swap(true, Ordering::AcqRel) {
            let _ = self.tx.try_send(());
        }
    }
}

/// Copies committed WAL frames into the database file after commits
/// (PASSIVE: it never waits for, nor blocks, the writer or the readers).
/// Ends when the writer does.
fn checkpointer_loop(conn: Connection, kicked: Receiver<()>, pending: &AtomicBool) {
    let mut next = Instant::now();
    while kicked.recv().is_ok() {
        // Commits until the interval ends wait for it, so that one
        // checkpoint copies many of them; none kicks meanwhile.
        if let Err(RecvTimeoutError::Disconnected) = kicked.recv_deadline(next) {
            return;
        }
        // Cleared before the checkpoint: a commit it misses kicks again.
        pending.store(false, Ordering::Release);
        // A failed checkpoint leaves the frames in the WAL, where readers
        // find them; the next one (or the writer's backstop) copies them.
        let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        next = Instant::now() + CHECKPOINT_EVERY;
    }
}

/// Starts the checkpointer of the file at `path` and hands the writer's
/// own automatic checkpoints over to it (the writer keeps a backstop).
pub(super) fn start(
    path: &Path,
    tuning: &Tuning,
    writer: &Connection,
) -> Result<(Kick, thread::JoinHandle<()>), SqliteError> {
    let conn = open_file(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(tuning.busy_timeout)
        .map_err(SqliteError::from)?;
    writer
        .pragma_update(None, "wal_autocheckpoint", WAL_BACKSTOP_PAGES)
        .map_err(SqliteError::from)?;
    let (tx, kicked) = crossbeam_channel::bounded::<()>(1);
    let kick = Kick {
        pending: Arc::new(AtomicBool::new(false)),
        tx,
    };
    let pending = Arc::clone(&kick.pending);
    let thread = thread::Builder::new()
        .name("tracker-sqlite-checkpointer".into())
        .spawn(move || checkpointer_loop(conn, kicked, &pending))
        .map_err(SqliteError::Thread)?;
    Ok((kick, thread))
}
