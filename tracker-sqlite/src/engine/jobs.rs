//! What the writer runs: write and read jobs, how each write job runs
//! ([`Kind`]), the savepoint a job runs in, and the writes a store defers
//! outside the queue ([`Deferred`]).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Instant;

use rusqlite::Connection;
use tracker_core::Error as CoreError;

use crate::error::SqliteError;

/// Result of the whole group's COMMIT, handed to every job of the group.
pub(crate) type CommitOutcome = Result<(), Arc<SqliteError>>;
/// What a job leaves to do once the group committed (or failed to).
pub(super) type Reply = Box<dyn FnOnce(CommitOutcome) + Send>;
/// A write job: runs inside the group transaction, or is told why it could not.
pub(super) type WriteJob = Box<dyn FnOnce(Result<&Connection, Arc<SqliteError>>) -> Reply + Send>;
/// A read job.
pub(super) type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

/// Writes a store takes outside the writer's queue, many per group: the
/// store may answer them before their commit, or after it (see
/// [`Deferred::settled`]). The writer writes them into a group's
/// transaction before the group's jobs when they are due, and when a job
/// may read them (every job but the tracking writes). Reads wait for them
/// first ([`Engine::point`], [`Engine::read`]), so a caller reads what it
/// was told is recorded.
///
/// [`Engine::point`]: super::Engine::point
/// [`Engine::read`]: super::Engine::read
pub(crate) trait Deferred: Send + Sync {
    /// When what waits must be written; `None` if nothing waits.
    fn due(&self) -> Option<Instant>;
    /// Writes taken so far, counted before any is answered (a count that
    /// only grows).
    fn acked(&self) -> u64;
    /// Writes what waits into the open transaction. `Some(n)`: every write
    /// of the first `n` acknowledged is written, now or by an earlier
    /// group, and [`Deferred::settled`] follows with the commit's outcome.
    /// `None`: the write failed, and what it took waits again.
    fn write(&self, conn: &Connection) -> Option<u64>;
    /// The outcome of the commit of what [`Deferred::write`] wrote, before
    /// any job of the group is answered: on failure the writes wait again.
    fn settled(&self, outcome: &CommitOutcome);
    /// The group that was to write them could not begin (the file is
    /// locked by another process, or refuses writes): they wait again, not
    /// due at once, so that the writer does not retry in a loop.
    fn postponed(&self, failure: &Arc<SqliteError>);
}

/// How a write job runs.
#[derive(Clone, Copy)]
pub(super) struct Kind {
    /// See [`Engine::write_heavy`](super::Engine::write_heavy).
    pub(super) heavy: bool,
    /// May change the directory (see
    /// [`Engine::directory_version`](super::Engine::directory_version)).
    pub(super) directory: bool,
    /// Runs in a savepoint of its own, so that its failure undoes only its
    /// own changes. A job of one statement is atomic without it.
    pub(super) savepoint: bool,
    /// May read what deferred writes change: they are written before it.
    /// Tracking jobs (sessions, batches, purge steps) read none of it, so
    /// a stream of them does not write the deferred writes ahead of their
    /// delay (see [`Deferred`]).
    pub(super) sees_deferred: bool,
}

impl Kind {
    /// A small write that may change or read anything.
    pub(super) const WRITE: Kind = Kind {
        heavy: false,
        directory: true,
        savepoint: true,
        sees_deferred: true,
    };
    /// A small write of tracking rows only.
    pub(super) const TRACKING: Kind = Kind {
        heavy: false,
        directory: false,
        savepoint: true,
        sees_deferred: false,
    };
    /// A read, or a wait for the deferred writes: changes nothing.
    pub(super) const READ: Kind = Kind {
        heavy: false,
        directory: false,
        savepoint: false,
        sees_deferred: true,
    };
}

/// Runs `f` in a savepoint of the open transaction: its failure (or
/// panic) undoes its own changes only.
pub(crate) fn in_savepoint<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<T, CoreError>,
) -> Result<T, CoreError> {
    conn.prepare_cached("SAVEPOINT job")
        .and_then(|mut s| s.execute([]))
        .map_err(SqliteError::from)?;
    let out = catch_unwind(AssertUnwindSafe(|| f(conn)))
        .unwrap_or_else(|_| Err(SqliteError::Panicked.into()));
    if conn.is_autocommit() {
        // SQLite rolled the whole transaction back by itself (a full disk, an
        // I/O error): the savepoint is gone and so is the group's work.
        return Err(out.err().unwrap_or_else(|| SqliteError::RolledBack.into()));
    }
    let end = if out.is_ok() {
        conn.prepare_cached("RELEASE job")
            .and_then(|mut s| s.execute([]))
    } else {
        conn.prepare_cached("ROLLBACK TO job")
            .and_then(|mut s| s.execute([]))
            .and_then(|_| conn.prepare_cached("RELEASE job")?.execute([]))
    };
    end.map_err(SqliteError::from)?;
    out
}
