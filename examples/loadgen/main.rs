//! The load generator: many simulated agents against a running server.
//!
//! ```text
//! cargo run --release --example reference_server -- --bench-baseline --rate-per-ip 0 --rate-per-company-key 0 \
//!     --owner-password loadgen-owner &
//! cargo run --release --example loadgen -- --owner-password loadgen-owner
//! ```
//!
//! It makes (once, cached in `--cache`) companies with `--agents` users,
//! each with a token of its own, then runs five phases of `--seconds`
//! each and prints requests per second and p50/p99 latency per route:
//!
//! 1. the baseline: `POST /bench/baseline` (the server parses the
//!    heartbeat JSON and answers, no authentication, no storage);
//! 2. and 3. heartbeats alone, then batches alone (calibration, run
//!    first);
//! 4. heartbeats on `--connections` connections while batches run at a
//!    tenth of their rate from phase 3. Phases 1 and 4 take `--rounds`
//!    turns, alternating, so that a machine whose speed drifts during the
//!    run weighs on both alike;
//! 5. batches of `--batch-size` events on `--batch-connections`
//!    connections while heartbeats run at a tenth of their rate from
//!    phase 2. Events per second count what the server stored
//!    (`inserted`, deduplicated by client id).
//!
//! Batches are shaped like real agents' by default: ids minted when each
//! event is recorded, interleaving across agents, some batches resending
//! the tail of the one before, a mix of apps, titles and URLs
//! (`examples/common/workload.rs`). `--in-order` sends the older, kinder
//! workload whose ids arrive in order.
//!
//! `--fleet` runs a fleet instead: every agent at real agents' rates,
//! time compressed, with the cost per agent-month (`fleet.rs`).
//!
//! `--server` takes several nodes of one deployment, comma-separated:
//! each connection goes to the next. `--acknowledged FILE` writes the id
//! of every event of every batch answered 200, so a run that kills a node
//! can check that the deployment stored all it acknowledged.

#[path = "../common/mod.rs"]
mod common;
mod fleet;
mod raw;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use clap::Parser;
use common::workload::{Mix, Recorder, tracker_body};
use common::{AgentCreds, Error, Http};

/// The load generator of tracker.
#[derive(Debug, Parser, Clone)]
#[command(about)]
struct Args {
    /// The server (started with `--bench-baseline` and without rate
    /// limits), or several nodes of one deployment, comma-separated: each
    /// connection goes to the next in turn, and the agents are made
    /// through the first.
    #[arg(
        long,
        env = "TRACKER_SERVER",
        default_value = "http://127.0.0.1:8080",
        value_delimiter = ','
    )]
    server: Vec<String>,
    /// The OWNER's username.
    #[arg(long, env = "TRACKER_OWNER_USERNAME", default_value = "owner")]
    owner_username: String,
    /// The OWNER's password.
    #[arg(long, env = "TRACKER_OWNER_PASSWORD", hide_env_values = true)]
    owner_password: String,
    /// Simulated agents, each with its own token.
    #[arg(long, default_value_t = 1_000)]
    agents: usize,
    /// Connections of the heartbeat and baseline phases.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Connections of the batch phase.
    #[arg(long, default_value_t = 4)]
    batch_connections: usize,
    /// Events per batch.
    #[arg(long, default_value_t = 1_000)]
    batch_size: usize,
    /// Seconds of each measured phase (calibration takes half).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Where the agents' tokens are kept between runs.
    #[arg(long, default_value = "loadgen-agents.json")]
    cache: PathBuf,
    /// Turns the baseline and phase 4 take, alternating, within their
    /// `--seconds` each.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Batches of the old, kinder workload: one app, title and URL, ids
    /// minted as the batch is written (so they arrive in order) and no
    /// resends. By default batches are shaped like real agents' (see
    /// `examples/common/workload.rs`).
    #[arg(long)]
    in_order: bool,
    /// Run one kind of request alone for `--seconds` instead of the five
    /// phases (for profiling the server under one load).
    #[arg(long, value_enum)]
    only: Option<Kind>,
    /// Run a fleet instead of the phases: every agent at real agents'
    /// rates (a heartbeat every 5 minutes, a batch of 20 to 40 events
    /// every minute, the policy every hour), time compressed by
    /// `--compression`, for `--seconds`; prints each route's rate and p99
    /// and the cost per agent-month.
    #[arg(long)]
    fleet: bool,
    /// Simulated seconds per real second in `--fleet`.
    #[arg(long, default_value_t = 10.0)]
    compression: f64,
    /// `--fleet`: a server process whose CPU time to count (repeat for
    /// several nodes).
    #[arg(long)]
    server_pid: Vec<u32>,
    /// `--fleet`: the SQLite database file whose growth to measure.
    #[arg(long)]
    sqlite_file: Option<PathBuf>,
    /// The PostgreSQL database: `--fleet` measures its growth (in
    /// `--postgres-schema`), and the phases measure raw multi-row INSERTs
    /// of the same batches in a scratch schema, the batch phase's
    /// baseline.
    #[arg(long)]
    postgres_url: Option<String>,
    /// The store's schema in `--postgres-url`.
    #[arg(long, default_value = "tracker")]
    postgres_schema: String,
    /// Write the id of every event of every batch answered 200 to this
    /// file, one per line: what the deployment acknowledged, for a check
    /// that all of it was stored (after a node was killed, say).
    #[arg(long)]
    acknowledged: Option<PathBuf>,
}

/// Latencies of one route in one phase.
#[derive(Default)]
struct Samples {
    micros: Vec<u64>,
    errors: u64,
    events: u64,
}

impl Samples {
    fn merge(&mut self, other: Samples) {
        self.micros.extend(other.micros);
        self.errors += other.errors;
        self.events += other.events;
    }

    fn quantile(sorted: &[u64], q: f64) -> f64 {
        if sorted.is_empty() {
            return 0.0;
        }
        let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
        sorted[i] as f64 / 1000.0
    }
}

/// What a phase measured for one route.
struct Line {
    phase: &'static str,
    route: &'static str,
    requests: usize,
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
    events_per_sec: f64,
}

fn line(phase: &'static str, route: &'static str, mut s: Samples, secs: f64) -> Line {
    s.micros.sort_unstable();
    Line {
        phase,
        route,
        requests: s.micros.len(),
        rate: s.micros.len() as f64 / secs,
        p50_ms: Samples::quantile(&s.micros, 0.50),
        p99_ms: Samples::quantile(&s.micros, 0.99),
        errors: s.errors,
        events_per_sec: s.events as f64 / secs,
    }
}

/// The shared state of the workers.
struct Load {
    servers: Vec<String>,
    /// The next worker's server.
    next_server: AtomicU64,
    /// Ids of the events of acknowledged batches, when asked to keep them.
    acknowledged: Option<std::sync::Mutex<Vec<uuid::Uuid>>>,
    agents: Vec<AgentCreds>,
    next: AtomicU64,
    batch_size: usize,
    /// Each agent's activity timeline moves forward, batch after batch.
    cursor: Vec<AtomicU64>,
    /// Each agent's recorder, for the default workload.
    recorders: Vec<std::sync::Mutex<Recorder>>,
    in_order: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Kind {
    /// `POST /bench/baseline`.
    Baseline,
    /// `POST /api/v1/agent/heartbeat`.
    Heartbeat,
    /// `POST /api/v1/agent/activity` with `--batch-size` events.
    Batch,
}

impl Load {
    fn agent(&self) -> usize {
        (self.next.fetch_add(1, Ordering::Relaxed) % self.agents.len() as u64) as usize
    }

    /// The server of the next worker.
    fn server(&self) -> &str {
        let n = self.next_server.fetch_add(1, Ordering::Relaxed) as usize;
        &self.servers[n % self.servers.len()]
    }

    /// A batch of this agent's next events, as JSON, and their ids when
    /// acknowledgements are kept.
    fn batch(&self, agent: usize) -> (Bytes, Vec<uuid::Uuid>) {
        if !self.in_order {
            let mut recorder = self.recorders[agent]
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let events = recorder.batch(self.batch_size);
            let ids = match self.acknowledged {
                Some(_) => events.iter().map(|e| e.id).collect(),
                None => Vec::new(),
            };
            return (tracker_body(&events), ids);
        }
        use std::fmt::Write;
        let n = self.batch_size as u64;
        let start = self.cursor[agent].fetch_add(n * 2, Ordering::Relaxed);
        let mut body = String::with_capacity(self.batch_size * 190);
        let mut ids = Vec::new();
        body.push_str("{\"events\":[");
        for i in 0..n {
            let at = DateTime::<Utc>::from_timestamp((start + i * 2) as i64, 0).unwrap_or_default();
            let kind = if i % 5 == 4 { "idle" } else { "active" };
            let id = uuid::Uuid::now_v7();
            if self.acknowledged.is_some() {
                ids.push(id);
            }
            let _ = write!(
                body,
                "{}{{\"id\":\"{}\",\"started_at\":\"{}\",\"duration_seconds\":2,\"kind\":\"{kind}\",\"app\":\"editor\",\"window_title\":\"report.md\",\"url\":\"https://docs.example.com/a\"}}",
                if i == 0 { "" } else { "," },
                id,
                // Not `format("%Y…")`, which parses its pattern for every event.
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            );
        }
        body.push_str("]}");
        (Bytes::from(body), ids)
    }

    /// One request of `kind`; its latency, or `None` on failure.
    async fn one(self: &Arc<Self>, http: &mut Http, kind: Kind, s: &mut Samples) {
        let agent = self.agent();
        let creds = &self.agents[agent];
        let bearer = format!("Bearer {}", creds.token);
        let headers = [
            ("content-type", "application/json"),
            ("authorization", bearer.as_str()),
            ("x-company-key", creds.key.as_str()),
        ];
        let (path, body, ids) = match kind {
            Kind::Baseline => ("/bench/baseline", Bytes::from_static(HEARTBEAT), Vec::new()),
            Kind::Heartbeat => (
                "/api/v1/agent/heartbeat",
                Bytes::from_static(HEARTBEAT),
                Vec::new(),
            ),
            Kind::Batch => {
                // Writing a batch takes a millisecond: off the workers that
                // drive the other connections, so it does not hold them up.
                let load = Arc::clone(self);
                match tokio::task::spawn_blocking(move || load.batch(agent)).await {
                    Ok((body, ids)) => ("/api/v1/agent/activity", body, ids),
                    Err(_) => {
                        s.errors += 1;
                        return;
                    }
                }
            }
        };
        let began = Instant::now();
        match http.send("POST", path, &headers, body).await {
            Ok(reply) if reply.status == 200 => {
                s.micros.push(began.elapsed().as_micros() as u64);
                if kind == Kind::Batch {
                    s.events += reply.json()["inserted"].as_u64().unwrap_or(0);
                }
                if let Some(kept) = &self.acknowledged {
                    kept.lock().unwrap_or_else(|e| e.into_inner()).extend(ids);
                }
            }
            _ => {
                s.errors += 1;
                // A node that is down refuses at once: not a busy loop.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

const HEARTBEAT: &[u8] = br#"{"policy_version":1,"agent_version":"loadgen-1.0"}"#;

/// The samples of every worker, together.
async fn gather(workers: Vec<tokio::task::JoinHandle<Samples>>) -> Samples {
    let mut all = Samples::default();
    for w in workers {
        if let Ok(s) = w.await {
            all.merge(s);
        }
    }
    all
}

/// `connections` closed-loop workers for `secs`.
async fn closed(load: &Arc<Load>, kind: Kind, connections: usize, secs: f64) -> Samples {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let load = Arc::clone(load);
            tokio::spawn(async move {
                let mut s = Samples::default();
                let Ok(mut http) = Http::new(load.server()) else {
                    return s;
                };
                while Instant::now() < deadline {
                    load.one(&mut http, kind, &mut s).await;
                }
                s
            })
        })
        .collect();
    gather(workers).await
}

/// Paced load at `rate` requests per second for `secs`, spread over
/// `connections` connections so that a slow answer on one does not hold
/// the others back.
async fn paced(load: &Arc<Load>, kind: Kind, rate: f64, connections: usize, secs: f64) -> Samples {
    if rate < 0.1 {
        return Samples::default();
    }
    let connections = connections.max(1);
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let per_worker = Duration::from_secs_f64(connections as f64 / rate);
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let load = Arc::clone(load);
            tokio::spawn(async move {
                let mut s = Samples::default();
                let Ok(mut http) = Http::new(load.server()) else {
                    return s;
                };
                let mut tick = tokio::time::interval(per_worker);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                while Instant::now() < deadline {
                    tick.tick().await;
                    load.one(&mut http, kind, &mut s).await;
                }
                s
            })
        })
        .collect();
    gather(workers).await
}

fn print(lines: &[Line]) {
    println!(
        "{:<34} {:<22} {:>9} {:>10} {:>8} {:>8} {:>7} {:>11}",
        "phase", "route", "requests", "req/s", "p50 ms", "p99 ms", "errors", "events/s"
    );
    for l in lines {
        println!(
            "{:<34} {:<22} {:>9} {:>10.0} {:>8.2} {:>8.2} {:>7} {:>11.0}",
            l.phase, l.route, l.requests, l.rate, l.p50_ms, l.p99_ms, l.errors, l.events_per_sec
        );
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args = Args::parse();
    let agents = common::agents(
        &args.server[0],
        &args.owner_username,
        &args.owner_password,
        args.agents,
        &args.cache,
    )
    .await?;
    // Timelines start 13 days back (the server takes 14) at a point of
    // this run's own, so runs on the same agents rarely overlap.
    let base = Utc::now().timestamp() as u64 - 13 * 86_400;
    let spread = (Utc::now().timestamp() as u64 % 100) * 8_000;
    let load = Arc::new(Load {
        servers: args.server.clone(),
        next_server: AtomicU64::new(0),
        acknowledged: args
            .acknowledged
            .as_ref()
            .map(|_| std::sync::Mutex::new(Vec::new())),
        next: AtomicU64::new(0),
        batch_size: args.batch_size,
        cursor: (0..agents.len())
            .map(|_| AtomicU64::new(base + spread))
            .collect(),
        recorders: (0..agents.len())
            .map(|i| {
                std::sync::Mutex::new(Recorder {
                    mix: Mix(i as u64 ^ spread),
                    clock: DateTime::from_timestamp((base + spread) as i64, 0).unwrap_or_default(),
                    last: Vec::new(),
                })
            })
            .collect(),
        in_order: args.in_order,
        agents,
    });
    if args.fleet {
        let fleet = fleet::Fleet {
            compression: args.compression,
            seconds: args.seconds,
            connections: args.connections,
            server_pids: args.server_pid.clone(),
            sqlite_file: args.sqlite_file.clone(),
            postgres: args
                .postgres_url
                .clone()
                .map(|url| (url, args.postgres_schema.clone())),
        };
        return fleet::run(load, fleet).await;
    }
    let secs = args.seconds as f64;
    let mut lines = Vec::new();
    if let Some(kind) = args.only {
        let (route, connections) = match kind {
            Kind::Baseline => ("/bench/baseline", args.connections),
            Kind::Heartbeat => ("/agent/heartbeat", args.connections),
            Kind::Batch => ("/agent/activity", args.batch_connections),
        };
        let s = closed(&load, kind, connections, secs).await;
        print(&[line("alone", route, s, secs)]);
        return write_acknowledged(&load, args.acknowledged.as_deref());
    }

    let hb = closed(&load, Kind::Heartbeat, args.connections, secs / 2.0).await;
    let hb_alone = line("2 heartbeats alone", "/agent/heartbeat", hb, secs / 2.0);
    let batches = closed(&load, Kind::Batch, args.batch_connections, secs / 2.0).await;
    let batch_alone = line("3 batches alone", "/agent/activity", batches, secs / 2.0);
    let (hb_rate, batch_rate) = (hb_alone.rate, batch_alone.rate);
    // The batches' baseline: the same rows as raw INSERTs, when the
    // database is at hand.
    let raw = match &args.postgres_url {
        Some(url) => {
            let s = raw::phase(&load, url, args.batch_connections, secs / 2.0).await?;
            Some(line(
                "3r raw INSERT, same batches",
                "(PostgreSQL)",
                s,
                secs / 2.0,
            ))
        }
        None => None,
    };
    let batch_events = batch_alone.events_per_sec;

    // The baseline and phase 4 take turns, so that both see the machine
    // alike: a shared machine's speed drifts over a run, and measured one
    // after the other their ratio would carry that drift.
    let rounds = args.rounds.max(1);
    let slice = secs / rounds as f64;
    let (mut baseline, mut hb, mut bg) =
        (Samples::default(), Samples::default(), Samples::default());
    for _ in 0..rounds {
        baseline.merge(closed(&load, Kind::Baseline, args.connections, slice).await);
        let (h, b) = tokio::join!(
            closed(&load, Kind::Heartbeat, args.connections, slice),
            paced(
                &load,
                Kind::Batch,
                batch_rate / 10.0,
                args.batch_connections,
                slice
            ),
        );
        hb.merge(h);
        bg.merge(b);
    }
    if baseline.micros.is_empty() {
        println!("note: no baseline (start the server with --bench-baseline)");
    }
    lines.push(line("1 baseline alone", "/bench/baseline", baseline, secs));
    lines.push(hb_alone);
    lines.push(batch_alone);
    let raw_events = raw.as_ref().map(|r| r.events_per_sec);
    lines.extend(raw);
    lines.push(line(
        "4 heartbeats + batches at 1/10",
        "/agent/heartbeat",
        hb,
        secs,
    ));
    lines.push(line("4 (background)", "/agent/activity", bg, secs));

    let (batches, bg) = tokio::join!(
        closed(&load, Kind::Batch, args.batch_connections, secs),
        paced(
            &load,
            Kind::Heartbeat,
            hb_rate / 10.0,
            args.connections,
            secs
        ),
    );
    lines.push(line(
        "5 batches + heartbeats at 1/10",
        "/agent/activity",
        batches,
        secs,
    ));
    lines.push(line("5 (background)", "/agent/heartbeat", bg, secs));

    print(&lines);
    let base_rate = lines[0].rate;
    if base_rate > 0.0 {
        println!(
            "heartbeats under load: {:.0}% of the baseline rate",
            100.0 * lines[3 + usize::from(raw_events.is_some())].rate / base_rate
        );
    }
    if let Some(raw) = raw_events.filter(|r| *r > 0.0) {
        println!(
            "batches alone: {:.0}% of the raw INSERT's events/s",
            100.0 * batch_events / raw
        );
    }
    write_acknowledged(&load, args.acknowledged.as_deref())
}

/// Writes the acknowledged events' ids, one per line.
fn write_acknowledged(load: &Load, path: Option<&std::path::Path>) -> Result<(), Error> {
    let (Some(path), Some(kept)) = (path, &load.acknowledged) else {
        return Ok(());
    };
    let ids = kept.lock().unwrap_or_else(|e| e.into_inner());
    let mut text = String::with_capacity(ids.len() * 37);
    for id in ids.iter() {
        text.push_str(&id.to_string());
        text.push('\n');
    }
    std::fs::write(path, text)?;
    println!(
        "{} acknowledged event ids written to {}",
        ids.len(),
        path.display()
    );
    Ok(())
}
