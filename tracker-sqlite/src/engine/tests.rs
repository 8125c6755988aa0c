//! The engine's group commit, heavy-job and deferred-write rules, on
//! in-memory and file databases.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use futures::FutureExt;
use rusqlite::Connection;
use tracker_core::Error as CoreError;

use super::{CommitOutcome, Deferred, Engine, Location, Tuning};
use crate::error::SqliteError;

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
