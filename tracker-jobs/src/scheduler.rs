//! The background jobs on tokio intervals, with their last-run status for
//! `/readyz` and `/metrics`.
//!
//! The jobs themselves are library functions of [`Tracker`]
//! ([`expire_companies`](Tracker::expire_companies),
//! [`aggregate_pending_usage`](Tracker::aggregate_pending_usage),
//! [`purge_expired_data`](Tracker::purge_expired_data),
//! [`check_alerts`](Tracker::check_alerts)); an integrator with a
//! scheduler of its own calls them directly. [`spawn_jobs`] runs each on
//! its own interval and records every run on a [`JobBoard`]; give the same
//! board to `tracker_axum::Api::jobs` to expose it.
//!
//! ```no_run
//! use std::sync::Arc;
//! use tracker_jobs::scheduler::{JobBoard, JobSchedule, spawn_jobs};
//! use tracker_core::{MemoryStore, Tracker};
//!
//! # #[tokio::main] async fn main() {
//! let tracker: Arc<Tracker> = Arc::new(Tracker::builder_shared(Arc::new(MemoryStore::new()) as Arc<dyn tracker_core::store::Store>).build());
//! let board = JobBoard::default();
//! let jobs = spawn_jobs(tracker.clone(), JobSchedule::default(), board.clone());
//! // With tracker-axum: `Api::new(tracker).jobs(board)` shows the board.
//! # drop(jobs);
//! # }
//! ```
//!
//! Every node of a cluster may run every job. Each job takes the
//! [lease](tracker_core::lease) of a company's share before working on
//! it and skips the companies whose lease another runner holds, so give
//! the service leases that hold across nodes
//! ([`TrackerBuilder::job_leases`](tracker_core::TrackerBuilder::job_leases);
//! the PostgreSQL store's `job_leases()` are advisory locks). Audit
//! checkpoints need none: a checkpoint number is stored once.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::Serialize;
use tokio::task::JoinHandle;
use tracker_core::Tracker;

/// How often each job runs (`None`: never). The first run is at start.
#[derive(Debug, Clone)]
pub struct JobSchedule {
    /// Usage aggregation of the days that received data. Default 15 minutes.
    pub usage_every: Option<Duration>,
    /// Persisting trial and subscription expiry. Default 5 minutes.
    pub expiry_every: Option<Duration>,
    /// Retention purge. Default 1 hour.
    pub retention_every: Option<Duration>,
    /// Alert checks (no-sync, agent offline, high idle). Default 5 minutes.
    pub alerts_every: Option<Duration>,
    /// Signing the audit chains' heads that are due (see
    /// [`Tracker::sign_audit_checkpoints`](tracker_core::Tracker::sign_audit_checkpoints)).
    /// Default 1 minute: the check is two reads per chain.
    pub checkpoints_every: Option<Duration>,
    /// Rows of each kind one purge step deletes. Default
    /// [`DEFAULT_PURGE_BATCH`](tracker_core::DEFAULT_PURGE_BATCH).
    pub purge_batch: u32,
}

impl Default for JobSchedule {
    fn default() -> Self {
        let minutes = |m: u64| Some(Duration::from_secs(60 * m));
        Self {
            usage_every: minutes(15),
            expiry_every: minutes(5),
            retention_every: minutes(60),
            alerts_every: minutes(5),
            checkpoints_every: minutes(1),
            purge_batch: tracker_core::DEFAULT_PURGE_BATCH,
        }
    }
}

/// The last run of one job.
#[derive(Debug, Clone, Default, Serialize)]
pub struct JobStatus {
    /// Runs so far.
    pub runs: u64,
    /// Runs that failed.
    pub failures: u64,
    /// Start of the last run.
    pub last_started_at: Option<DateTime<Utc>>,
    /// How long the last run took, in milliseconds.
    pub last_duration_ms: u64,
    /// Whether the last run succeeded.
    pub last_ok: bool,
    /// What the last successful run did (its report as JSON).
    pub last_result: serde_json::Value,
    /// Why the last run failed, if it did.
    pub last_error: Option<String>,
    /// End of the last successful run.
    pub last_success_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    job: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    job: &'static str,
    outcome: &'static str,
}

/// Last-run status of every job, shared by the scheduler, `/readyz` and
/// `/metrics`. Cheap to clone.
#[derive(Clone, Default)]
pub struct JobBoard {
    status: Arc<Mutex<BTreeMap<&'static str, JobStatus>>>,
    runs: Family<RunLabels, Counter>,
    last_run: Family<JobLabels, Gauge<f64, AtomicU64>>,
    last_success: Family<JobLabels, Gauge<f64, AtomicU64>>,
    duration: Family<JobLabels, Gauge<f64, AtomicU64>>,
}

impl std::fmt::Debug for JobBoard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobBoard")
            .field("status", &self.snapshot())
            .finish()
    }
}

impl JobBoard {
    /// Records a run of `job` that started at `started` and took `took`.
    pub fn record(
        &self,
        job: &'static str,
        started: DateTime<Utc>,
        took: Duration,
        outcome: Result<serde_json::Value, String>,
    ) {
        let ok = outcome.is_ok();
        {
            let mut map = self.status.lock().unwrap_or_else(|e| e.into_inner());
            let s = map.entry(job).or_default();
            s.runs += 1;
            s.last_started_at = Some(started);
            s.last_duration_ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
            s.last_ok = ok;
            match outcome {
                Ok(result) => {
                    s.last_result = result;
                    s.last_error = None;
                    s.last_success_at = Some(Utc::now());
                }
                Err(e) => {
                    s.failures += 1;
                    s.last_error = Some(e);
                }
            }
        }
        let labels = JobLabels { job };
        let outcome = if ok { "ok" } else { "error" };
        self.runs.get_or_create(&RunLabels { job, outcome }).inc();
        let seconds = |at: DateTime<Utc>| at.timestamp_millis() as f64 / 1000.0;
        self.last_run.get_or_create(&labels).set(seconds(started));
        if ok {
            self.last_success
                .get_or_create(&labels)
                .set(seconds(Utc::now()));
        }
        self.duration.get_or_create(&labels).set(took.as_secs_f64());
    }

    /// The status of every job that ran, by name.
    pub fn snapshot(&self) -> BTreeMap<&'static str, JobStatus> {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Registers the jobs' run counters and last-run gauges in `registry`
    /// (`tracker-axum` serves them at `/metrics`).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "job_runs",
            "Background job runs, by job and outcome (ok, error)",
            self.runs.clone(),
        );
        registry.register(
            "job_last_run_timestamp_seconds",
            "Start of each job's last run, Unix time",
            self.last_run.clone(),
        );
        registry.register(
            "job_last_success_timestamp_seconds",
            "End of each job's last successful run, Unix time",
            self.last_success.clone(),
        );
        registry.register(
            "job_last_duration_seconds",
            "How long each job's last run took",
            self.duration.clone(),
        );
    }
}

/// The running jobs; dropping it (or [`stop`](Self::stop)) stops them.
#[derive(Debug)]
pub struct JobRunner {
    tasks: Vec<JoinHandle<()>>,
}

impl JobRunner {
    /// Stops every job (a run in progress is cut at its next await).
    pub fn stop(self) {}
}

impl Drop for JobRunner {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Starts each scheduled job on its own interval on the current tokio
/// runtime, recording every run on `board` and in the log.
pub fn spawn_jobs(tracker: Arc<Tracker>, schedule: JobSchedule, board: JobBoard) -> JobRunner {
    let mut tasks = Vec::new();
    let batch = schedule.purge_batch;
    let mut every = |name: &'static str, period: Option<Duration>, job: JobFn| {
        if let Some(period) = period {
            tasks.push(tokio::spawn(run_every(
                name,
                period,
                tracker.clone(),
                board.clone(),
                job,
            )));
        }
    };
    every(
        "usage",
        schedule.usage_every,
        Box::new(|t| Box::pin(async move { json(t.aggregate_pending_usage().await) })),
    );
    every(
        "expiry",
        schedule.expiry_every,
        Box::new(|t| Box::pin(async move { json(t.expire_companies().await) })),
    );
    every(
        "retention",
        schedule.retention_every,
        Box::new(move |t| Box::pin(async move { json(t.purge_expired_data(batch).await) })),
    );
    every(
        "alerts",
        schedule.alerts_every,
        Box::new(|t| Box::pin(async move { json(t.check_alerts().await) })),
    );
    every(
        "checkpoints",
        schedule.checkpoints_every,
        Box::new(|t| Box::pin(async move { json(t.sign_audit_checkpoints().await) })),
    );
    JobRunner { tasks }
}

type JobFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<serde_json::Value, String>> + Send>>;
type JobFn = Box<dyn Fn(Arc<Tracker>) -> JobFuture + Send + Sync>;

fn json<T: Serialize>(r: tracker_core::Result<T>) -> Result<serde_json::Value, String> {
    r.map(|v| serde_json::to_value(v).unwrap_or_default())
        .map_err(|e| format!("{}: {e}", e.code()))
}

async fn run_every(
    name: &'static str,
    period: Duration,
    tracker: Arc<Tracker>,
    board: JobBoard,
    job: JobFn,
) {
    let mut tick = tokio::time::interval(period);
    // A run longer than the period delays the next one rather than bunching them.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let started = Utc::now();
        let clock = Instant::now();
        let outcome = job(tracker.clone()).await;
        let took = clock.elapsed();
        match &outcome {
            Ok(result) => {
                tracing::info!(job = name, took_ms = took.as_millis() as u64, %result, "job finished")
            }
            Err(e) => tracing::error!(job = name, error = %e, "job failed"),
        }
        board.record(name, started, took, outcome);
    }
}
