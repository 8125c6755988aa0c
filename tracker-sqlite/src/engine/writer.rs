//! The writer thread: owns the only read-write connection and commits the
//! queued write jobs in groups, one transaction each (group commit), with
//! the deferred writes ahead of them when they are due or may be read.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};
use rusqlite::Connection;

use super::checkpointer::Kick;
use super::jobs::{CommitOutcome, Deferred, Kind, Reply, WriteJob};
use crate::error::SqliteError;

/// What the writer's queue carries.
pub(super) enum Msg {
    /// A write job.
    Job(Queued),
    /// A deferred write waits: the writer sets its clock by its due time.
    Wake,
}

/// A write job as queued, with how it runs.
pub(super) struct Queued {
    pub(super) kind: Kind,
    pub(super) job: WriteJob,
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

/// The writer thread: its connection and what it serves.
pub(super) struct Writer {
    pub(super) conn: Connection,
    pub(super) rx: Receiver<Msg>,
    pub(super) max_group: usize,
    /// Wakes the checkpointer after a commit.
    pub(super) kick: Option<Kick>,
    /// See [`Engine::directory_version`](super::Engine::directory_version).
    pub(super) directory: Arc<AtomicU64>,
    /// Writes taken outside the queue, and the count committed.
    pub(super) deferred: Option<(Arc<dyn Deferred>, Arc<AtomicU64>)>,
}

impl Writer {
    /// When the deferred writes must be written, if any wait.
    fn deferred_due(&self) -> Option<Instant> {
        let (deferred, _) = self.deferred.as_ref()?;
        deferred.due()
    }

    /// Serves the queue until every sender is gone, then writes what is
    /// deferred.
    pub(super) fn run(self) {
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
/// directory too: the cache built on
/// [`Engine::directory_version`](super::Engine::directory_version) must
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
