//! Threads and connections: one writer with group commit, a pool of readers.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use futures_channel::oneshot;
use rusqlite::{Connection, OpenFlags};
use tracker_core::Error as CoreError;

use crate::error::SqliteError;
use crate::migrations;

/// Result of the whole group's COMMIT, handed to every job of the group.
pub(crate) type CommitOutcome = Result<(), Arc<SqliteError>>;
/// What a job leaves to do once the group committed (or failed to).
type Reply = Box<dyn FnOnce(CommitOutcome) + Send>;
/// A write job: runs inside the group transaction, or is told why it could not.
type WriteJob = Box<dyn FnOnce(Result<&Connection, Arc<SqliteError>>) -> Reply + Send>;
/// A read job.
type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

/// Where the database lives.
#[derive(Debug, Clone)]
pub(crate) enum Location {
    File(PathBuf),
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

/// Writes a store takes outside the writer's queue, many per group: the
/// store may answer them before their commit, or after it (see
/// [`Deferred::settled`]). The writer writes them into a group's
/// transaction before the group's jobs when they are due, and when a job
/// may read them (every job but the tracking writes). Reads wait for them
/// first ([`Engine::point`], [`Engine::read`]), so a caller reads what it
/// was told is recorded.
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

/// What the writer's queue carries.
enum Msg {
    Job(Queued),
    /// A deferred write waits: the writer sets its clock by its due time.
    Wake,
}

/// How a write job runs.
#[derive(Clone, Copy)]
struct Kind {
    /// See [`Engine::write_heavy`].
    heavy: bool,
    /// May change the directory (see [`Engine::directory_version`]).
    directory: bool,
    /// Runs in a savepoint of its own, so that its failure undoes only its
    /// own changes. A job of one statement is atomic without it.
    savepoint: bool,
    /// May read what deferred writes change: they are written before it.
    /// Tracking jobs (sessions, batches, purge steps) read none of it, so
    /// a stream of them does not write the deferred writes ahead of their
    /// delay (see [`Deferred`]).
    sees_deferred: bool,
}

impl Kind {
    /// A small write that may change or read anything.
    const WRITE: Kind = Kind {
        heavy: false,
        directory: true,
        savepoint: true,
        sees_deferred: true,
    };
    /// A small write of tracking rows only.
    const TRACKING: Kind = Kind {
        heavy: false,
        directory: false,
        savepoint: true,
        sees_deferred: false,
    };
    /// A read, or a wait for the deferred writes: changes nothing.
    const READ: Kind = Kind {
        heavy: false,
        directory: false,
        savepoint: false,
        sees_deferred: true,
    };
}

/// A write job as queued, with how it runs.
struct Queued {
    kind: Kind,
    job: WriteJob,
}

/// A job of a group, with how it runs.
type Grouped = (Kind, WriteJob);

impl Queued {
    fn sort_into(self, light: &mut Vec<Grouped>, heavy: &mut VecDeque<Grouped>) {
        let job = (self.kind, self.job);
        match self.kind.heavy {
            true => heavy.push_back(job),
            false => light.push(job),
        }
    }
}

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

/// Read-only connections that answer key lookups on the caller's thread.
struct PointPool {
    path: PathBuf,
    tuning: Tuning,
    idle: Mutex<Vec<Connection>>,
}

impl PointPool {
    fn take(&self) -> Result<Connection, SqliteError> {
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

    fn give_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        // As many as threads ask at once, which is about the executor's
        // worker count; a burst beyond the readers' count is closed again.
        if idle.len() < self.tuning.readers.max(1) {
            idle.push(conn);
        }
    }
}

fn configure(conn: &Connection, t: &Tuning, write: bool) -> rusqlite::Result<()> {
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

fn open_file(path: &Path, flags: OpenFlags) -> Result<Connection, SqliteError> {
    Connection::open_with_flags(path, flags).map_err(|source| SqliteError::Open {
        path: path.to_owned(),
        source,
    })
}

impl Engine {
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
                .map_err(|e| SqliteError::classify_open(location, e))?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(SqliteError::NoWal { mode });
            }
        }
        configure(&writer, tuning, true).map_err(|e| SqliteError::classify_open(location, e))?;
        migrations::apply(&mut writer)?;

        let mut threads = Vec::new();
        let points = match location {
            Location::File(path) => Some(PointPool {
                path: path.clone(),
                tuning: tuning.clone(),
                idle: Mutex::new(Vec::new()),
            }),
            Location::Memory => None,
        };
        let readers = match location {
            Location::File(path) if tuning.readers > 0 => {
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
                Some(tx)
            }
            // An in-memory database lives in one connection: the writer serves reads too.
            _ => None,
        };

        // Checkpoints run on a thread of their own, so the writer's commits
        // only append to the WAL: a checkpoint copies pages into the
        // database file and syncs it, which would stall every queued write.
        let kick = match location {
            Location::File(path) => {
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
                threads.push(
                    thread::Builder::new()
                        .name("tracker-sqlite-checkpointer".into())
                        .spawn(move || checkpointer_loop(conn, kicked, &pending))
                        .map_err(SqliteError::Thread)?,
                );
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

/// WAL pages after which the writer checkpoints by itself, should the
/// checkpointer fall behind (SQLite's default is 1,000).
const WAL_BACKSTOP_PAGES: i64 = 16_384;
/// Least time between two checkpoints, so that one copies many commits.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// How the writer tells the checkpointer that it committed.
struct Kick {
    /// Set by the first commit after a checkpoint began: later commits
    /// find it set and wake no thread, so a stream of small commits costs
    /// the checkpointer one wake per interval, not one per commit.
    pending: Arc<AtomicBool>,
    tx: Sender<()>,
}

impl Kick {
    fn kick(&self) {
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

/// The writer thread: its connection and what it serves.
struct Writer {
    conn: Connection,
    rx: Receiver<Msg>,
    max_group: usize,
    /// Wakes the checkpointer after a commit.
    kick: Option<Kick>,
    /// See [`Engine::directory_version`].
    directory: Arc<AtomicU64>,
    /// Writes taken outside the queue, and the count committed.
    deferred: Option<(Arc<dyn Deferred>, Arc<AtomicU64>)>,
}

impl Writer {
    /// When the deferred writes must be written, if any wait.
    fn deferred_due(&self) -> Option<Instant> {
        let (deferred, _) = self.deferred.as_ref()?;
        deferred.due()
    }

    fn run(self) {
        let mut foreign = ForeignCommits::new(&self.conn);
        let mut group: Vec<Grouped> = Vec::with_capacity(self.max_group);
        // Heavy jobs taken off the queue, oldest first.
        let mut heavy: VecDeque<Grouped> = VecDeque::new();
        let mut last_had_heavy = false;
        loop {
            if heavy.is_empty() {
                let now = Instant::now();
                let due = self.deferred_due();
                // Deferred writes that are due make a group of their own.
                if due.is_none_or(|due| due > now) {
                    let wait = due.map_or(FOREIGN_CHECK_EVERY, |due| {
                        (due - now).min(FOREIGN_CHECK_EVERY)
                    });
                    match self.rx.recv_timeout(wait) {
                        Ok(Msg::Job(q)) => q.sort_into(&mut group, &mut heavy),
                        Ok(Msg::Wake) => continue,
                        Err(RecvTimeoutError::Timeout) => {
                            foreign.check(&self.conn, &self.directory);
                            continue;
                        }
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
            }
            // Group commit: everything already queued shares one transaction.
            while group.len() < self.max_group {
                match self.rx.try_recv() {
                    Ok(Msg::Job(q)) => q.sort_into(&mut group, &mut heavy),
                    Ok(Msg::Wake) => {}
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            }
            let due = self.deferred_due().is_some_and(|due| due <= Instant::now());
            // At most one heavy job per group, and never in two groups running:
            // a small write, or a deferred write that is due, waits for at
            // most one heavy job before its commit.
            last_had_heavy = if !last_had_heavy || (group.is_empty() && !due) {
                match heavy.pop_front() {
                    Some(job) => {
                        group.push(job);
                        true
                    }
                    None => false,
                }
            } else {
                false
            };
            foreign.check(&self.conn, &self.directory);
            self.commit_group(&mut group, due);
        }
        // Closing: what was acknowledged is written before the thread ends.
        if self.deferred_due().is_some() {
            self.commit_group(&mut group, true);
        }
    }

    /// Runs a group (the deferred writes first, if they are due or a job
    /// sees them), commits it, and answers its jobs.
    fn commit_group(&self, group: &mut Vec<Grouped>, due: bool) {
        let changes_directory = group.iter().any(|(kind, _)| kind.directory);
        let deferred = match due || group.iter().any(|(kind, _)| kind.sees_deferred) {
            true => self.deferred.as_ref().map(|(d, _)| d.as_ref()),
            false => None,
        };
        let (commit, wrote, replies) =
            run_group(&self.conn, deferred, group.drain(..).map(|(_, job)| job));
        if let (Ok(()), Some(kick)) = (&commit, &self.kick) {
            kick.kick();
        }
        if let (Some(acked), Some((deferred, durable))) = (wrote, &self.deferred) {
            if commit.is_ok() {
                durable.fetch_max(acked, Ordering::AcqRel);
            }
            deferred.settled(&commit);
        }
        if changes_directory {
            // Before any answer: whoever saw this write finish must not
            // be served the rows it replaced (also when it failed).
            self.directory.fetch_add(1, Ordering::AcqRel);
        }
        for reply in replies {
            reply(commit.clone());
        }
    }
}

/// How often an idle writer looks for commits made to the file by other
/// connections (another process, another store).
const FOREIGN_CHECK_EVERY: Duration = Duration::from_millis(100);

/// Commits to the file by connections other than the writer. The writer
/// sees every write of this engine, but another process may change the
/// directory too: the cache built on [`Engine::directory_version`] must
/// hear of that as well, within [`FOREIGN_CHECK_EVERY`] or before the
/// writer's next group.
struct ForeignCommits {
    /// `PRAGMA data_version` as last read: it moves only when another
    /// connection commits.
    seen: Option<i64>,
}

impl ForeignCommits {
    fn new(conn: &Connection) -> Self {
        Self {
            seen: Self::read(conn),
        }
    }

    fn read(conn: &Connection) -> Option<i64> {
        conn.prepare_cached("PRAGMA data_version")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .ok()
    }

    /// Moves the directory version if another connection committed since
    /// the last check (or if that cannot be told).
    fn check(&mut self, conn: &Connection, directory: &AtomicU64) {
        let now = Self::read(conn);
        if now != self.seen || now.is_none() {
            self.seen = now;
            directory.fetch_add(1, Ordering::AcqRel);
        }
    }
}

/// Runs the deferred writes and a group's jobs in one transaction and
/// commits it: the commit's outcome, what [`Deferred::write`] answered,
/// and what each job leaves to do with the outcome.
fn run_group(
    conn: &Connection,
    deferred: Option<&dyn Deferred>,
    jobs: impl ExactSizeIterator<Item = WriteJob>,
) -> (CommitOutcome, Option<u64>, Vec<Reply>) {
    let mut replies: Vec<Reply> = Vec::with_capacity(jobs.len());
    // Cached, like every statement a group runs: parsing one this short
    // costs about as much as running it.
    let begin = conn
        .prepare_cached("BEGIN IMMEDIATE")
        .and_then(|mut s| s.execute([]));
    if let Err(e) = begin {
        let e = Arc::new(SqliteError::from(e));
        if let Some(d) = deferred {
            d.postponed(&e);
        }
        replies.extend(jobs.map(|job| job(Err(e.clone()))));
        return (Err(e), None, replies);
    }
    // First, so that every job of the group sees them.
    let wrote = deferred.and_then(|d| d.write(conn));
    let mut lost: Option<Arc<SqliteError>> = None;
    if conn.is_autocommit() {
        lost = Some(Arc::new(SqliteError::RolledBack));
    }
    for job in jobs {
        if let Some(e) = &lost {
            // Never run a job outside the transaction it was promised.
            replies.push(job(Err(e.clone())));
            continue;
        }
        replies.push(job(Ok(conn)));
        if conn.is_autocommit() {
            lost = Some(Arc::new(SqliteError::RolledBack));
        }
    }
    let commit = match lost {
        Some(e) => Err(e),
        None => conn
            .prepare_cached("COMMIT")
            .and_then(|mut s| s.execute([]))
            .map(drop)
            .map_err(|e| {
                let _ = conn.execute_batch("ROLLBACK");
                Arc::new(SqliteError::from(e))
            }),
    };
    (commit, wrote, replies)
}

fn reader_loop(conn: Connection, rx: Receiver<ReadJob>) {
    while let Ok(job) = rx.recv() {
        job(&conn);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use futures::FutureExt;

    use super::*;

    fn in_memory(deferred: Option<Arc<dyn Deferred>>) -> Engine {
        let tuning = Tuning {
            readers: 0,
            busy_timeout: Duration::from_secs(5),
            cache_kib: 1024,
            max_group: 512,
            max_db_mib: None,
            mmap_bytes: 0,
        };
        Engine::open(&Location::Memory, &tuning, deferred).unwrap()
    }

    fn engine() -> Engine {
        in_memory(None)
    }

    /// Starts a heavy job that records "a" and runs until the returned
    /// sender sends.
    fn heavy_in_progress(e: &Engine, log: &Arc<Mutex<Vec<&'static str>>>) -> mpsc::Sender<()> {
        let (started_tx, started) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        let first = Arc::clone(log);
        let blocked = e
            .write_heavy(move |_: &Connection| {
                first.lock().unwrap().push("a");
                let _ = started_tx.send(());
                let _ = released.recv();
                Ok(())
            })
            .now_or_never();
        assert!(blocked.is_none());
        started.recv().unwrap();
        release
    }

    /// Queues a job that records `name` when the writer runs it; the
    /// answer is not awaited (the job runs all the same).
    fn queue(
        e: &Engine,
        heavy: bool,
        name: &'static str,
        log: &Arc<Mutex<Vec<&'static str>>>,
        ran: mpsc::Sender<()>,
    ) {
        let log = Arc::clone(log);
        let job = move |_: &Connection| {
            log.lock().unwrap().push(name);
            let _ = ran.send(());
            Ok(())
        };
        let sent = match heavy {
            true => e.write_heavy(job).now_or_never(),
            false => e.write(job).now_or_never(),
        };
        assert!(sent.is_none(), "{name} waits for its commit");
    }

    /// Only writes that may change the directory move its version, and
    /// they move it before their caller is answered.
    #[test]
    fn directory_writes_move_the_version_before_answering() {
        let e = engine();
        let version = e.directory_version();
        let now = || version.load(Ordering::Acquire);
        futures::executor::block_on(e.write_tracking(|_: &Connection| Ok(()), |_| ())).unwrap();
        futures::executor::block_on(e.write_heavy(|_: &Connection| Ok(()))).unwrap();
        futures::executor::block_on(e.read(|_: &Connection| Ok(()))).unwrap();
        assert_eq!(now(), 0, "tracking writes and reads leave it");
        futures::executor::block_on(e.write(|_: &Connection| Ok(()))).unwrap();
        assert_eq!(now(), 1, "seen as soon as the write is answered");
        let failed: Result<(), CoreError> =
            futures::executor::block_on(e.write(|_: &Connection| Err(CoreError::not_found("x"))));
        assert!(failed.is_err());
        assert_eq!(now(), 2, "a failed directory write moves it too");
        let seen = Arc::new(AtomicU64::new(u64::MAX));
        let during = Arc::clone(&seen);
        let v = e.directory_version();
        futures::executor::block_on(e.write_tracking(
            |_: &Connection| Ok(7),
            move |n: &i32| {
                assert_eq!(*n, 7);
                during.store(v.load(Ordering::Acquire), Ordering::Release);
            },
        ))
        .unwrap();
        assert_eq!(seen.load(Ordering::Acquire), 2, "the hook ran on commit");
    }

    /// A small write queued behind heavy jobs runs right after the heavy
    /// job in progress, before the heavy jobs queued ahead of it.
    #[test]
    fn small_writes_wait_for_one_heavy_job_at_most() {
        let e = engine();
        let log = Arc::new(Mutex::new(Vec::new()));
        let release = heavy_in_progress(&e, &log);
        let (ran, done) = mpsc::channel();
        queue(&e, true, "b", &log, ran.clone());
        queue(&e, true, "c", &log, ran.clone());
        queue(&e, false, "light", &log, ran);
        release.send(()).unwrap();
        for _ in 0..3 {
            done.recv().unwrap();
        }
        let order = log.lock().unwrap().clone();
        assert_eq!(order, vec!["a", "light", "b", "c"]);
    }

    /// Deferred writes that are due wait for the heavy job in progress,
    /// not for the heavy jobs queued: they commit in a group of their own.
    #[test]
    fn due_deferred_writes_wait_for_one_heavy_job_at_most() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let rows = Arc::new(Rows {
            log: Some(Arc::clone(&log)),
            ..Rows::default()
        });
        let e = in_memory(Some(rows.clone()));
        futures::executor::block_on(e.write(|c: &Connection| {
            c.execute_batch("CREATE TABLE t (n INTEGER PRIMARY KEY)")
                .map_err(SqliteError::from)?;
            Ok(())
        }))
        .unwrap();
        let release = heavy_in_progress(&e, &log);
        let (ran, done) = mpsc::channel();
        queue(&e, true, "b", &log, ran.clone());
        queue(&e, true, "c", &log, ran);
        rows.ack();
        e.wake();
        release.send(()).unwrap();
        for _ in 0..2 {
            done.recv().unwrap();
        }
        let order = log.lock().unwrap().clone();
        assert_eq!(order, vec!["a", "rows", "committed", "b", "c"]);
    }

    /// Deferred writes as a store keeps them: one row of `t` each.
    #[derive(Default)]
    struct Rows {
        /// Waiting rows and since when.
        waiting: Mutex<(u64, Option<Instant>)>,
        /// How long they may wait.
        delay: Duration,
        acked: AtomicU64,
        in_flight: Mutex<u64>,
        fail: std::sync::atomic::AtomicBool,
        /// Where writes and commits of rows are told, if anywhere.
        log: Option<Arc<Mutex<Vec<&'static str>>>>,
    }

    impl Rows {
        fn ack(&self) {
            let mut w = self.waiting.lock().unwrap();
            w.0 += 1;
            w.1.get_or_insert_with(Instant::now);
            self.acked.fetch_add(1, Ordering::AcqRel);
        }

        fn restore(&self, n: u64) {
            let mut w = self.waiting.lock().unwrap();
            w.0 += n;
            w.1 = Some(Instant::now());
        }
    }

    impl Deferred for Rows {
        fn due(&self) -> Option<Instant> {
            Some(self.waiting.lock().unwrap().1? + self.delay)
        }

        fn acked(&self) -> u64 {
            self.acked.load(Ordering::Acquire)
        }

        fn write(&self, conn: &Connection) -> Option<u64> {
            let (n, acked) = {
                let mut w = self.waiting.lock().unwrap();
                let n = std::mem::take(&mut w.0);
                w.1 = None;
                (n, self.acked())
            };
            if n == 0 {
                return Some(acked);
            }
            if self.fail.load(Ordering::Acquire) {
                self.restore(n);
                return None;
            }
            for _ in 0..n {
                conn.execute("INSERT INTO t DEFAULT VALUES", []).unwrap();
            }
            if let Some(log) = &self.log {
                log.lock().unwrap().push("rows");
            }
            *self.in_flight.lock().unwrap() = n;
            Some(acked)
        }

        fn postponed(&self, _: &Arc<SqliteError>) {
            let mut w = self.waiting.lock().unwrap();
            if w.1.is_some() {
                w.1 = Some(Instant::now());
            }
        }

        fn settled(&self, outcome: &CommitOutcome) {
            let n = std::mem::take(&mut *self.in_flight.lock().unwrap());
            if let (Some(log), true) = (&self.log, n > 0) {
                log.lock().unwrap().push("committed");
            }
            if outcome.is_err() {
                self.restore(n);
            }
        }
    }

    fn rows_in(conn: &Connection) -> Result<i64, CoreError> {
        Ok(conn
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .map_err(SqliteError::from)?)
    }

    /// Deferred writes come before every job of a group, reads wait for
    /// them (and fail while they cannot be written), and closing writes
    /// them.
    #[test]
    fn deferred_writes_are_seen_by_every_read_and_job() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("engine.db");
        let tuning = Tuning {
            readers: 1,
            busy_timeout: Duration::from_secs(5),
            cache_kib: 1024,
            max_group: 512,
            max_db_mib: None,
            mmap_bytes: 0,
        };
        let rows = Arc::new(Rows {
            // Longer than the test: only groups and reads write them.
            delay: Duration::from_secs(3600),
            ..Rows::default()
        });
        let deferred: Arc<dyn Deferred> = rows.clone();
        let e = Engine::open(&Location::File(path.clone()), &tuning, Some(deferred)).unwrap();
        use futures::executor::block_on as run;
        run(e.write(|c: &Connection| {
            c.execute_batch("CREATE TABLE t (n INTEGER PRIMARY KEY)")
                .map_err(SqliteError::from)?;
            Ok(())
        }))
        .unwrap();

        rows.ack();
        rows.ack();
        e.wake();
        assert_eq!(run(e.read(rows_in)).unwrap(), 2, "a read waits for them");
        rows.ack();
        assert_eq!(run(e.point(rows_in)).unwrap(), 3, "a lookup too");
        rows.ack();
        assert_eq!(
            run(e.write_tracking(rows_in, |_| ())).unwrap(),
            3,
            "a tracking write reads none of them, so it does not wait for them"
        );
        assert_eq!(
            run(e.write(rows_in)).unwrap(),
            4,
            "any other job runs after them"
        );

        rows.fail.store(true, Ordering::Release);
        rows.ack();
        assert!(run(e.read(rows_in)).is_err(), "not written: the read fails");
        assert_eq!(
            run(e.point_unsettled(rows_in)).unwrap(),
            4,
            "an unsettled lookup does not wait"
        );
        rows.fail.store(false, Ordering::Release);
        assert_eq!(run(e.read(rows_in)).unwrap(), 5, "tried again");

        rows.ack();
        drop(e);
        let raw = Connection::open(&path).unwrap();
        assert_eq!(rows_in(&raw).unwrap(), 6, "closing writes them");
    }
}
