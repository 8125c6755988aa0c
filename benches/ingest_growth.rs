//! How ingest holds up as the SQLite database grows: realistic batches of
//! 1,000 events (the load generator's workload: ids minted at recording
//! time by 999 agents, a tenth of batches resending the tail of the one
//! before, a skewed mix of apps, titles and URLs) through the store from
//! four uploaders, with the rate printed for each million events stored.
//!
//! Run: `cargo bench --bench ingest_growth` (20 million events, about
//! three minutes here). `TRACKER_GROWTH_EVENTS` sets another total.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Utc};
use tracker_core::store::{EventBatch, Store};
use tracker_core::*;
use tracker_sqlite::SqliteStore;

mod common;

use common::workload::Recorder;

// The largest plan has 1,000 seats, one of them the ADMIN's.
const AGENTS: usize = 999;
const UPLOADERS: usize = 4;
const BATCH: usize = 1_000;
const STEP: u64 = 1_000_000;

/// Where the last million started, and the first million's rate.
struct Progress {
    mark: Instant,
    first: Option<f64>,
}

fn main() {
    // `cargo test --all-targets` runs this once as a test: keep that quick.
    let benching = std::env::args().any(|a| a == "--bench");
    let total: u64 = std::env::var("TRACKER_GROWTH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if benching { 20_000_000 } else { 20_000 });
    let step = STEP.min(total / 2).max(1);
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path().join("growth.db")).expect("open");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let world = rt.block_on(common::build_with(store, AGENTS, 0));
    let company = world.company;
    let users = Arc::new(world.users.clone());
    let tracker = Arc::new(world.tracker);
    let start: DateTime<Utc> = Utc::now() - chrono::Duration::days(300);
    let recorders: Arc<Vec<Mutex<Recorder>>> = Arc::new(
        common::recorders(AGENTS, start)
            .into_iter()
            .map(Mutex::new)
            .collect(),
    );
    let stored = Arc::new(AtomicU64::new(0));
    let next = Arc::new(AtomicU64::new(0));
    let progress = Arc::new(Mutex::new(Progress {
        mark: Instant::now(),
        first: None,
    }));
    println!("| events stored | events/s over the last {step} | of the first's |");
    println!("|---|---|---|");
    let began = Instant::now();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..UPLOADERS {
            let (tracker, users, recorders) = (tracker.clone(), users.clone(), recorders.clone());
            let (stored, next, progress) = (stored.clone(), next.clone(), progress.clone());
            tasks.push(tokio::spawn(async move {
                while stored.load(Ordering::Relaxed) < total {
                    // Agents in a scrambled order, as uploads arrive.
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let agent = (n.wrapping_mul(7_919) % AGENTS as u64) as usize;
                    let user = users[agent];
                    let events: Vec<ActivityEvent> = {
                        let mut r = recorders[agent].lock().expect("recorder");
                        r.batch(BATCH)
                            .iter()
                            .map(|e| common::recorded(company, user, e))
                            .collect()
                    };
                    let batch = EventBatch::new(company, user, events).expect("one user's events");
                    let count = tracker
                        .store()
                        .tracking()
                        .insert_activity(&batch)
                        .await
                        .expect("ingest");
                    let before = stored.fetch_add(count.inserted, Ordering::Relaxed);
                    let after = before + count.inserted;
                    // The uploader that crosses a step reports it.
                    if before / step != after / step {
                        let mut p = progress.lock().expect("progress");
                        let rate = step as f64 / p.mark.elapsed().as_secs_f64();
                        let first = *p.first.get_or_insert(rate);
                        println!(
                            "| {:.1} million | {rate:.0} | {:.0}% |",
                            after as f64 / 1e6,
                            100.0 * rate / first
                        );
                        p.mark = Instant::now();
                    }
                }
            }));
        }
        for t in tasks {
            t.await.expect("uploader");
        }
    });
    eprintln!(
        "{} events in {:.0?}",
        stored.load(Ordering::Relaxed),
        began.elapsed()
    );
}
