//! The SQLite store's hot paths over a database of 1,000,000 events
//! (100 users, 30 days), with a raw rusqlite insert baseline in the same run.
//!
//! Run: `cargo bench --bench sqlite_store`. Figures and the machine are in
//! BENCHMARKS.md. `TRACKER_BENCH_EVENTS_PER_DAY` shrinks the database for a
//! quick look (default 334 per user per day).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use futures::executor::block_on;
use tracker_core::store::{AgentStore, EventBatch, TrackingStore};
use tracker_core::*;

mod common;
use common::*;
use tracker_sqlite::SqliteStore;

fn open() -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path().join("bench.db")).expect("open");
    (store, dir)
}

/// A second database with the same schema, written with plain rusqlite:
/// the events' rows only, their owner and strings' keys known in memory.
struct Raw {
    conn: rusqlite::Connection,
    texts: std::collections::HashMap<String, i64>,
    _dir: tempfile::TempDir,
}

fn raw() -> Raw {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("raw.db");
    drop(SqliteStore::open(&path).expect("schema"));
    let conn = rusqlite::Connection::open(&path).expect("open raw");
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "NORMAL").unwrap();
    conn.pragma_update(None, "cache_size", -8 * 1024).unwrap();
    Raw {
        conn,
        texts: std::collections::HashMap::new(),
        _dir: dir,
    }
}

fn raw_insert(raw: &mut Raw, events: &[ActivityEvent]) {
    let tx = raw.conn.transaction().unwrap();
    {
        let mut text = |s: &Option<String>| -> Option<i64> {
            let s = s.as_ref()?;
            let next = raw.texts.len() as i64 + 1;
            let key = *raw.texts.entry(s.clone()).or_insert(next);
            if key == next {
                tx.execute(
                    "INSERT INTO activity_texts (key, company_id, text) VALUES (?1, ?2, ?3)",
                    rusqlite::params![key, events[0].company_id.0.as_bytes().as_slice(), s],
                )
                .unwrap();
            }
            Some(key)
        };
        let mut stmt = tx
            .prepare_cached(
                "INSERT INTO activity (owner, started_at, id, duration_seconds, idle, app, window_title, url, session_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .unwrap();
        for e in events {
            // One owner per user: the user's first id byte is enough here.
            let owner =
                i64::from(e.user_id.0.as_bytes()[0]) << 8 | i64::from(e.user_id.0.as_bytes()[1]);
            stmt.execute(rusqlite::params![
                owner,
                e.started_at.timestamp_micros(),
                e.id.0.as_bytes().as_slice(),
                e.duration_seconds,
                e.kind == ActivityKind::Idle,
                text(&e.app),
                text(&e.window_title),
                text(&e.url),
                e.session_id.map(|s| s.0.as_bytes().to_vec()),
            ])
            .unwrap();
        }
    }
    tx.commit().unwrap();
}

fn benches(c: &mut Criterion) {
    let (store, _dir) = open();
    let w = block_on(build(store));
    let store = w.tracker.store();

    let mut g = c.benchmark_group("heartbeat");
    g.throughput(Throughput::Elements(1));
    g.bench_function("1_caller", |b| {
        let user = w.users[0];
        b.iter(|| {
            let state = AgentState {
                company_id: w.company,
                user_id: user,
                last_heartbeat_at: now(),
                policy_version: Some(1),
                agent_version: Some("1.0.0".into()),
            };
            block_on(store.record_heartbeat(&state)).unwrap();
        })
    });
    g.bench_function("16_callers", |b| {
        b.iter_custom(|iters| {
            let per_thread = iters.div_ceil(16);
            let start = Instant::now();
            std::thread::scope(|s| {
                for t in 0..16 {
                    let user = w.users[t];
                    s.spawn(move || {
                        for _ in 0..per_thread {
                            let state = AgentState {
                                company_id: w.company,
                                user_id: user,
                                last_heartbeat_at: now(),
                                policy_version: Some(1),
                                agent_version: None,
                            };
                            block_on(store.record_heartbeat(&state)).unwrap();
                        }
                    });
                }
            });
            // Scale to the requested count: threads ran per_thread * 16 >= iters.
            start
                .elapsed()
                .mul_f64(iters as f64 / (per_thread * 16) as f64)
        })
    });
    g.finish();

    let mut g = c.benchmark_group("ingest");
    let mut raw_db = raw();
    // Batches as agents send them (the load generator's workload): each
    // user's events follow its own clock from May on, ids minted at
    // recording time, users in turn so ids interleave across them, one
    // batch in ten resending the last quarter of the one before.
    let may = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 5, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    let mut recorders = recorders(USERS, may);
    let mut resend_day = 0i64;
    let mut turn = 0usize;
    let mut next_batch = |size: usize| {
        turn += 1;
        let k = turn % USERS;
        let user = w.users[k];
        let events = recorders[k]
            .batch(size)
            .iter()
            .map(|e| recorded(w.company, user, e))
            .collect::<Vec<_>>();
        EventBatch::new(w.company, user, events).expect("one user's events")
    };
    for size in [100usize, 1000] {
        g.throughput(Throughput::Elements(size as u64));
        g.bench_with_input(BenchmarkId::new("store", size), &size, |b, &size| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let events = next_batch(size);
                    let t = Instant::now();
                    black_box(block_on(store.insert_activity(&events)).unwrap());
                    total += t.elapsed();
                }
                total
            })
        });
        // An agent that resends after a timeout: the last quarter of its
        // previous batch (stored, so duplicates) ahead of new events.
        g.bench_with_input(
            BenchmarkId::new("store_resent_quarter", size),
            &size,
            |b, &size| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        // A timeline of its own (from 2027), apart from the
                        // recorders'.
                        resend_day += 1;
                        let (company, user) = (w.company, w.users[resend_day as usize % USERS]);
                        let from = may + chrono::Duration::days(365 + resend_day);
                        let first = (0..size)
                            .map(|i| {
                                event(
                                    company,
                                    user,
                                    from + chrono::Duration::seconds(i as i64 * 30),
                                    30,
                                    i,
                                )
                            })
                            .collect();
                        let first =
                            EventBatch::new(company, user, first).expect("one user's events");
                        block_on(store.insert_activity(&first)).unwrap();
                        let resent = first.events()[size - size / 4..].iter().cloned();
                        let last = first.events()[size - 1].ended_at();
                        let fresh = (0..size - size / 4).map(|i| {
                            event(
                                company,
                                user,
                                last + chrono::Duration::seconds(i as i64 * 30),
                                30,
                                i,
                            )
                        });
                        let batch = EventBatch::new(company, user, resent.chain(fresh).collect())
                            .expect("one user's events");
                        let t = Instant::now();
                        black_box(block_on(store.insert_activity(&batch)).unwrap());
                        total += t.elapsed();
                    }
                    total
                })
            },
        );
        g.bench_with_input(BenchmarkId::new("raw_rusqlite", size), &size, |b, &size| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let events = next_batch(size);
                    let t = Instant::now();
                    raw_insert(&mut raw_db, events.events());
                    total += t.elapsed();
                }
                total
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("report");
    let date = NaiveDate::from_ymd_opt(2026, 4, 15).unwrap_or_default();
    g.bench_function("daily_one_user", |b| {
        b.iter(|| black_box(block_on(w.tracker.daily_report(&w.admin, w.users[7], date)).unwrap()))
    });
    g.bench_function("month_grid_100_users_30_days", |b| {
        b.iter(|| black_box(block_on(w.tracker.monthly_report(&w.admin, 2026, 4, None)).unwrap()))
    });

    // A heavy user: 33,000 events of 2 s a day (18 hours) in May, on top
    // of the database above, for the app and website reports.
    let heavy = w.users[USERS - 1];
    let per_day = if std::env::args().any(|a| a == "--bench") {
        33_000
    } else {
        33
    };
    for day in 1..=30u32 {
        let from = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 5, day, 0, 30, 0)
            .single()
            .unwrap_or_default();
        for chunk in (0..per_day).collect::<Vec<_>>().chunks(1_000) {
            let events = chunk
                .iter()
                .map(|&i| {
                    event(
                        w.company,
                        heavy,
                        from + chrono::Duration::seconds(i as i64 * 2),
                        2,
                        i,
                    )
                })
                .collect();
            let batch = EventBatch::new(w.company, heavy, events).expect("one user's events");
            block_on(store.insert_activity(&batch)).unwrap();
        }
    }
    let may = |d: u32| NaiveDate::from_ymd_opt(2026, 5, d).unwrap_or_default();
    for (name, to, by_domain) in [
        ("apps_one_day_33000_events", may(15), false),
        ("sites_one_day_33000_events", may(15), true),
        ("apps_30_days_33000_events_a_day", may(30), false),
        ("sites_30_days_33000_events_a_day", may(30), true),
    ] {
        let from = if to == may(15) { may(15) } else { may(1) };
        g.bench_function(name, |b| {
            b.iter(|| {
                black_box(
                    block_on(
                        w.tracker
                            .usage_report(&w.admin, from, to, Some(heavy), by_domain),
                    )
                    .unwrap(),
                )
            })
        });
    }
    g.finish();
    drop(Arc::new(()));
}

criterion_group! {
    name = sqlite;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = benches
}
criterion_main!(sqlite);
