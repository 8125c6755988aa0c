//! The PostgreSQL store's hot paths over a database of 1,000,000 events
//! (100 users, 30 days), with a raw multi-row INSERT baseline in the same
//! run, against the server at `DATABASE_URL` (each run in a schema of its
//! own, dropped afterwards).
//!
//! Run: `DATABASE_URL=postgres://… cargo bench --bench postgres_store`.
//! Figures and the machine are in BENCHMARKS.md.
//! `TRACKER_BENCH_EVENTS_PER_DAY` shrinks the database for a quick look
//! (default 334 per user per day).

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tracker_core::store::{AgentStore, EventBatch, TrackingStore};
use tracker_core::*;

mod common;
use common::*;
use tracker_sqlx::PgConfig;
use tracker_sqlx::testing::TestStore;

fn config() -> PgConfig {
    PgConfig {
        max_connections: 16,
        ..PgConfig::default()
    }
}

/// Raw multi-row INSERTs of the same rows into the same table and indexes
/// (in a schema of its own): one statement per batch, no rollups.
async fn raw_insert(raw: &TestStore, events: &[ActivityEvent]) {
    let mut qb = sqlx::QueryBuilder::new(
        "INSERT INTO activity_events (company_id, id, user_id, session_id, started_at, duration_seconds, kind, app, window_title, url) ",
    );
    qb.push_values(events, |mut row, e| {
        row.push_bind(e.company_id.0)
            .push_bind(e.id.0)
            .push_bind(e.user_id.0)
            .push_bind(e.session_id.map(|s| s.0))
            .push_bind(e.started_at)
            .push_bind(e.duration_seconds as i32)
            .push_bind(e.kind.as_str())
            .push_bind(e.app.clone())
            .push_bind(e.window_title.clone())
            .push_bind(e.url.clone());
    });
    qb.build().execute(raw.pool()).await.unwrap();
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let Some(store) = rt.block_on(TestStore::with_config(config())) else {
        return;
    };
    let Some(raw_db) = rt.block_on(TestStore::with_config(config())) else {
        return;
    };
    let w = rt.block_on(build(store));
    let store = w.tracker.store();

    let mut g = c.benchmark_group("pg_heartbeat");
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
            rt.block_on(store.record_heartbeat(&state)).unwrap();
        })
    });
    g.bench_function("16_callers", |b| {
        b.iter_custom(|iters| {
            let per_task = iters.div_ceil(16);
            let start = Instant::now();
            // 16 callers in flight at once, sharing the pool.
            rt.block_on(futures::future::join_all((0..16).map(|t| {
                let user = w.users[t];
                async move {
                    for _ in 0..per_task {
                        let state = AgentState {
                            company_id: w.company,
                            user_id: user,
                            last_heartbeat_at: now(),
                            policy_version: Some(1),
                            agent_version: None,
                        };
                        store.record_heartbeat(&state).await.unwrap();
                    }
                }
            })));
            start
                .elapsed()
                .mul_f64(iters as f64 / (per_task * 16) as f64)
        })
    });
    g.finish();

    let mut g = c.benchmark_group("pg_ingest");
    let mut day = 0i64;
    // A fresh user-day per batch, so nothing is a duplicate; only the insert is timed.
    let mut next_batch = |size: usize| {
        day += 1;
        let user = w.users[day as usize % USERS];
        let start = now() + chrono::Duration::days(day);
        let events = (0..size)
            .map(|i| {
                event(
                    w.company,
                    user,
                    start + chrono::Duration::seconds(i as i64 * 30),
                    30,
                    i,
                )
            })
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
                    black_box(rt.block_on(store.insert_activity(&events)).unwrap());
                    total += t.elapsed();
                }
                total
            })
        });
        g.bench_with_input(
            BenchmarkId::new("raw_multirow_insert", size),
            &size,
            |b, &size| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let events = next_batch(size);
                        let t = Instant::now();
                        rt.block_on(raw_insert(&raw_db, events.events()));
                        total += t.elapsed();
                    }
                    total
                })
            },
        );
    }
    g.finish();

    let mut g = c.benchmark_group("pg_report");
    let date = NaiveDate::from_ymd_opt(2026, 4, 15).unwrap_or_default();
    g.bench_function("daily_one_user", |b| {
        b.iter(|| {
            black_box(
                rt.block_on(w.tracker.daily_report(&w.admin, w.users[7], date))
                    .unwrap(),
            )
        })
    });
    g.bench_function("month_grid_100_users_30_days", |b| {
        b.iter(|| {
            black_box(
                rt.block_on(w.tracker.monthly_report(&w.admin, 2026, 4, None))
                    .unwrap(),
            )
        })
    });
    g.finish();
    // The schemas are dropped with the stores, inside the runtime's lifetime.
    drop(w);
    drop(raw_db);
}

criterion_group! {
    name = postgres;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = benches
}
criterion_main!(postgres);
