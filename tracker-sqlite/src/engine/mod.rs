//! Threads and connections: one writer with group commit, a pool of
//! readers, a checkpointer. The store hands each query to the [`Engine`]
//! as a closure over a [`Connection`]: a key lookup runs on the caller's
//! thread ([`Engine::point`]), a scan on a reader thread
//! ([`Engine::read`]), a write on the writer thread ([`Engine::write`]
//! and its variants), answered after the commit of its group.
//!
//! - `conn`: where the database lives and how a connection is set up.
//! - `jobs`: the jobs the writer runs, their savepoint, and the writes a
//!   store defers outside the queue ([`Deferred`]).
//! - `writer`: the writer thread and its group commit.
//! - `checkpointer`: the thread that copies the WAL into the file.
//! - `readers`: the reader threads and the lookup connection pool.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

use crossbeam_channel::Sender;
use futures_channel::oneshot;
use rusqlite::{Connection, OpenFlags};
use tracker_core::Error as CoreError;

use crate::error::SqliteError;
use crate::migrations;

mod checkpointer;
mod conn;
mod jobs;
mod readers;
mod writer;

pub(crate) use conn::{Location, Tuning};
pub(crate) use jobs::{CommitOutcome, Deferred, in_savepoint};

use conn::{classify_open, configure, open_file};
use jobs::{Kind, ReadJob, WriteJob};
use readers::PointPool;
use writer::{Msg, Queued, Writer};

/// The database's threads and connections, and the queues to them.
pub(crate) struct Engine {
    /// `None` once dropped (see the `Drop` impl).
    writer: Option<Sender<Msg>>,
    readers: Option<Sender<ReadJob>>,
    /// Every thread of the engine, joined on drop.
    threads: Vec<thread::JoinHandle<()>>,
    /// Idle read-only connections for [`Engine::point`], file databases only.
    points: Option<PointPool>,
    /// See [`Engine::directory_version`].
    directory: Arc<AtomicU64>,
    /// Writes taken outside the queue (see [`Deferred`]), and how many of
    /// them have committed.
    deferred: Option<(Arc<dyn Deferred>, Arc<AtomicU64>)>,
}

impl Engine {
    /// Opens the database at `location`, applies the schema, and starts
    /// the threads.
    pub(crate) fn open(
        location: &Location,
        tuning: &Tuning,
        deferred: Option<Arc<dyn Deferred>>,
    ) -> Result<Engine, SqliteError> {
        let mut writer = match location {
            Location::File(path) => open_file(
                path,
                OpenFlags::SQLITE_OPEN_READ_WRITE
                    | OpenFlags::SQLITE_OPEN_CREATE
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?,
            Location::Memory => Connection::open_in_memory().map_err(SqliteError::Sqlite)?,
        };
        if let Location::File(_) = location {
            let mode: String = writer
                .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
                .map_err(|e| classify_open(location, e))?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(SqliteError::NoWal { mode });
            }
        }
        configure(&writer, tuning, true).map_err(|e| classify_open(location, e))?;
        migrations::apply(&mut writer)?;

        let mut threads = Vec::new();
        let points = match location {
            Location::File(path) => Some(PointPool::new(path, tuning)),
            Location::Memory => None,
        };
        let readers = match location {
            Location::File(path) if tuning.readers > 0 => {
                Some(readers::start(path, tuning, &mut threads)?)
            }
            // An in-memory database lives in one connection: the writer serves reads too.
            _ => None,
        };
        let kick = match location {
            Location::File(path) => {
                let (kick, thread) = checkpointer::start(path, tuning, &writer)?;
                threads.push(thread);
                Some(kick)
            }
            Location::Memory => None,
        };

        let (tx, rx) = crossbeam_channel::unbounded::<Msg>();
        let directory = Arc::new(AtomicU64::new(0));
        let deferred = deferred.map(|d| (d, Arc::new(AtomicU64::new(0))));
        let writer_state = Writer {
            conn: writer,
            rx,
            max_group: tuning.max_group.max(1),
            kick,
            directory: Arc::clone(&directory),
            deferred: deferred.clone(),
        };
        threads.push(
            thread::Builder::new()
                .name("tracker-sqlite-writer".into())
                .spawn(move || writer_state.run())
                .map_err(SqliteError::Thread)?,
        );
        Ok(Engine {
            writer: Some(tx),
            threads,
            readers,
            points,
            directory,
            deferred,
        })
    }

    /// Tells the writer that a deferred write waits (call it when the
    /// first one starts waiting), so that it writes it when it is due
    /// even when nothing else is queued.
    pub(crate) fn wake(&self) {
        if let Some(writer) = &self.writer {
            let _ = writer.send(Msg::Wake);
        }
    }

    /// Waits until every deferred write acknowledged so far has committed:
    /// reads come after it, so they see what their callers were told is
    /// recorded.
    async fn settle(&self) -> Result<(), CoreError> {
        let Some((deferred, durable)) = &self.deferred else {
            return Ok(());
        };
        let acked = deferred.acked();
        if durable.load(Ordering::Acquire) >= acked {
            return Ok(());
        }
        // A group with a job that sees them writes the deferred writes
        // first: an empty one's group takes every one acknowledged before it
        // was queued.
        self.submit(Kind::READ, |_: &Connection| Ok(()), |_| ())
            .await?;
        if durable.load(Ordering::Acquire) >= acked {
            Ok(())
        } else {
            Err(SqliteError::Deferred.into())
        }
    }

    /// The count of commits that may have changed the directory (tokens, users,
    /// companies, plans, policies) so far. Every write does, except the
    /// jobs that say they only touch tracking rows
    /// ([`Engine::write_tracking`], [`Engine::write_heavy`]). It moves
    /// after the commit and before any job of the group is answered, so a
    /// cache that drops what it holds when the version moves never answers
    /// a caller with rows older than a write the caller saw finish.
    pub(crate) fn directory_version(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.directory)
    }

    /// Runs a key lookup (a few index pages, microseconds) on the caller's
    /// thread with a pooled read-only connection: a hop to a reader thread
    /// and back would cost more than the query. Anything that scans goes
    /// through [`Engine::read`]. In memory, the writer answers.
    pub(crate) async fn point<T, F>(&self, f: F) -> Result<T, CoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, CoreError> + Send + 'static,
    {
        // In memory the writer answers, after the deferred writes.
        if self.points.is_some() {
            self.settle().await?;
        }
        self.point_unsettled(f).await
    }

    /// [`Engine::point`] without waiting for deferred writes, for a lookup
    /// they cannot change.
    pub(crate) async fn point_unsettled<T, F>(&self, f: F) -> Result<T, CoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, CoreError> + Send + 'static,
    {
        let Some(pool) = &self.points else {
            return self.read_on_writer(f).await;
        };
        let conn = pool.take()?;
        let out = catch_unwind(AssertUnwindSafe(|| f(&conn)))
            .unwrap_or_else(|_| Err(SqliteError::Panicked.into()));
        pool.give_back(conn);
        out
    }

    /// Runs `f` in the writer's transaction, inside a savepoint of its own,
    /// and answers after the group has committed. An error of `f` rolls back
    /// only `f`'s changes.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T, CoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, CoreError> + Send + 'static,
    {
        self.submit(Kind::WRITE, f, |_| ()).await
    }

    /// [`Engine::write`] for a job that changes no directory row (see
    /// [`Engine::directory_version`]), with `committed`, which runs on the
    /// writer thread once the job's group has committed, in commit order,
    /// before the caller is answered.
    pub(crate) async fn write_tracking<T, F, C>(&self, f: F, committed: C) -> Result<T, CoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, CoreError> + Send + 'static,
        C: FnOnce(&T) + Send + 'static,
    {
        self.submit(Kind::TRACKING, f, committed).await
    }

    /// [`Engine::write_tracking`] for a job that writes with one statement
    /// (reads aside), atomic by itself: it runs without a savepoint of its
    /// own.
    pub(crate) async fn write_statement<T, F, C>(&self, f: F, committed: C) -> Result<T, CoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, CoreError> + Send + 'static,
        C: FnOnce(&T) + Send + 'static,
    {
        let kind = Kind {
            savepoint: false,
            ..Kind::TRACKING
        };
        self.submit(kind, f, committed).await
    }

    /// [`Engine::write`] for a job that takes milliseconds (a batch of
    /// events, a purge step): a group holds at most one such job, so the
    /// small writes queued behind it wait for one, not for several. A heavy
    /// job changes no directory row.
    pub(crate) async fn write_heavy<T, F>(&self, f: F) -> Result<T, CoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, CoreError> + Send + 'static,
    {
        let kind = Kind {
            heavy: true,
            ..Kind::TRACKING
        };
        self.submit(kind, f, |_| ()).await
    }

    async fn submit<T, F, C>(&self, kind: Kind, f: F, committed: C) -> Result<T, CoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, CoreError> + Send + 'static,
        C: FnOnce(&T) + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<T, CoreError>>();
        let job: WriteJob = Box::new(move |conn| {
            let result = match conn {
                Ok(conn) if kind.savepoint => in_savepoint(conn, f),
                Ok(conn) => catch_unwind(AssertUnwindSafe(|| f(conn)))
                    .unwrap_or_else(|_| Err(SqliteError::Panicked.into())),
                Err(e) => Err(SqliteError::Commit(e).into()),
            };
            Box::new(move |commit: CommitOutcome| {
                let out = match (commit, result) {
                    (Ok(()), r) => r,
                    // A job that failed by itself keeps its own error.
                    (Err(_), Err(e)) => Err(e),
                    (Err(e), Ok(_)) => Err(SqliteError::Commit(e).into()),
                };
                if let Ok(value) = &out {
                    committed(value);
                }
                let _ = tx.send(out);
            })
        });
        self.writer
            .as_ref()
            .ok_or(SqliteError::Closed)?
            .send(Msg::Job(Queued { kind, job }))
            .map_err(|_| SqliteError::Closed)?;
        rx.await.map_err(|_| SqliteError::Closed)?
    }

    /// A read served by the writer (in memory, where it holds the only
    /// connection): it changes nothing, the directory included.
    async fn read_on_writer<T, F>(&self, f: F) -> Result<T, CoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, CoreError> + Send + 'static,
    {
        // No savepoint: a read has nothing to undo, and a transaction SQLite
        // rolls back by itself is caught by the group.
        self.submit(Kind::READ, f, |_| ()).await
    }

    /// Runs `f` on a reader connection (the writer for in-memory databases).
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T, CoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, CoreError> + Send + 'static,
    {
        let Some(readers) = &self.readers else {
            return self.read_on_writer(f).await;
        };
        self.settle().await?;
        let (tx, rx) = oneshot::channel::<Result<T, CoreError>>();
        let job: ReadJob = Box::new(move |conn| {
            let out = catch_unwind(AssertUnwindSafe(|| f(conn)))
                .unwrap_or_else(|_| Err(SqliteError::Panicked.into()));
            let _ = tx.send(out);
        });
        readers.send(job).map_err(|_| SqliteError::Closed)?;
        rx.await.map_err(|_| SqliteError::Closed)?
    }
}

impl Drop for Engine {
    /// Closes the queues and waits for the threads: queued writes commit,
    /// and every connection is closed when the store is gone, so the file
    /// can be reopened (or removed) right away.
    fn drop(&mut self) {
        self.writer = None;
        self.readers = None;
        self.points = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests;
