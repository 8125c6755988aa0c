//! Our reference server and ActivityWatch's aw-server-rust side by side,
//! on the same data, taking turns, over HTTP. `benches/versus-aw.sh`
//! starts both servers on fresh databases and runs this; see
//! BENCHMARKS.md for what it measures and the figures.
//!
//! Both get the same workload, shaped like real agents': `--agents`
//! agents record events of a mix of apps, window titles and URLs with
//! realistic repetition, each event's id a UUIDv7 of its start (what the
//! agent protocol asks for), so the ids of one upload interleave with
//! every other agent's. An agent resends the tail of its last batch now
//! and then (a timeout), so some events arrive twice: we count them once
//! by id, aw-server-rust stores them again. On aw-server-rust each agent
//! is a bucket of its own.
//!
//! Phases, each taking `--rounds` turns on each server, alternating:
//! batches of `--batch-size` events on 1 and on 4 connections; one event
//! per request on 16 connections (ours: a batch of one, aw: an inserting
//! heartbeat); then one heavy user's day by app (`--day-events` events
//! that day) and `--report-days` days by app, as the median of several
//! reads.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{NaiveDate, Utc};
use clap::Parser;
use common::workload::{Event, Mix, Recorder, aw_body, tracker_body};
use common::{AgentCreds, Auth, Error, Http};
use serde_json::json;

/// Drives our server and aw-server-rust through the same workload.
#[derive(Debug, Parser, Clone)]
#[command(about)]
struct Args {
    /// Our reference server (without rate limits, `--max-event-age-days`
    /// above `--report-days`).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    tracker: String,
    /// aw-server-rust.
    #[arg(long, default_value = "http://127.0.0.1:5600")]
    aw: String,
    /// Our OWNER's password.
    #[arg(long, env = "TRACKER_OWNER_PASSWORD", hide_env_values = true)]
    owner_password: String,
    /// Agents.
    #[arg(long, default_value_t = 1_000)]
    agents: usize,
    /// Events per batch.
    #[arg(long, default_value_t = 1_000)]
    batch_size: usize,
    /// Connections of the batch phases, one phase each (0: skip them).
    #[arg(long, value_delimiter = ',', default_value = "1,4")]
    uploaders: Vec<usize>,
    /// Connections of the one-event phase (0: skip it).
    #[arg(long, default_value_t = 16)]
    single_connections: usize,
    /// Seconds of each phase on each server.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Turns each phase takes on each server.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Events of the heavy user's days (0: skip the reports).
    #[arg(long, default_value_t = 33_000)]
    day_events: usize,
    /// Days of the heavy user (the long report's span).
    #[arg(long, default_value_t = 30)]
    report_days: u32,
    /// Where our agents' tokens are kept between runs.
    #[arg(long, default_value = "versus-agents.json")]
    cache: PathBuf,
}

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Tracker,
    Aw,
}

/// The shared state of a run.
struct Run {
    args: Args,
    agents: Vec<AgentCreds>,
    /// Each agent's recorder, per server, so both see the same events.
    recorders: Vec<std::sync::Mutex<[Recorder; 2]>>,
    next: AtomicU64,
}

/// What one phase measured on one server.
#[derive(Default)]
struct Tally {
    micros: Vec<u64>,
    events: u64,
    errors: u64,
    secs: f64,
}

impl Tally {
    fn merge(&mut self, o: Tally) {
        self.micros.extend(o.micros);
        self.events += o.events;
        self.errors += o.errors;
        self.secs += o.secs;
    }

    fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.secs.max(1e-9)
    }

    fn requests_per_sec(&self) -> f64 {
        self.micros.len() as f64 / self.secs.max(1e-9)
    }

    fn quantile_ms(&mut self, q: f64) -> f64 {
        self.micros.sort_unstable();
        match self.micros.len() {
            0 => 0.0,
            n => self.micros[((n as f64 - 1.0) * q).round() as usize] as f64 / 1000.0,
        }
    }
}

impl Run {
    /// The next agent to upload: any but the heavy user.
    fn agent(&self) -> usize {
        (self.next.fetch_add(1, Ordering::Relaxed) % (self.agents.len() as u64 - 1)) as usize
    }

    /// The heavy user of the reports, who uploads nothing else.
    fn heavy(&self) -> usize {
        self.agents.len() - 1
    }

    /// The next batch of `agent` for `side`.
    fn batch(&self, agent: usize, side: Side, n: usize) -> (Bytes, u64) {
        let mut recorders = self.recorders[agent]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let events = recorders[side as usize].batch(n);
        // Only the body this side is sent: the driver shares the cores.
        let body = match side {
            Side::Tracker => tracker_body(&events),
            Side::Aw => aw_body(&events),
        };
        (body, events.len() as u64)
    }

    /// One upload of `n` events by the next agent.
    async fn upload(&self, http: &mut Http, side: Side, n: usize, t: &mut Tally) {
        let agent = self.agent();
        let (body, count) = self.batch(agent, side, n);
        let creds = &self.agents[agent];
        let bearer = format!("Bearer {}", creds.token);
        let bucket;
        let (path, headers): (&str, Vec<(&str, &str)>) = match (side, n) {
            (Side::Tracker, _) => (
                "/api/v1/agent/activity",
                vec![
                    ("content-type", "application/json"),
                    ("authorization", bearer.as_str()),
                    ("x-company-key", creds.key.as_str()),
                ],
            ),
            (Side::Aw, 1) => {
                // The single event as an inserting heartbeat: pulsetime 0
                // never merges it into the one before.
                bucket = format!("/api/0/buckets/agent{agent}/heartbeat?pulsetime=0");
                (bucket.as_str(), vec![("content-type", "application/json")])
            }
            (Side::Aw, _) => {
                bucket = format!("/api/0/buckets/agent{agent}/events");
                (bucket.as_str(), vec![("content-type", "application/json")])
            }
        };
        let body = if side == Side::Aw && n == 1 {
            // A heartbeat is one event, not an array of one.
            body.slice(1..body.len() - 1)
        } else {
            body
        };
        let began = Instant::now();
        match http.send("POST", path, &headers, body).await {
            Ok(r) if r.status == 200 => {
                t.micros.push(began.elapsed().as_micros() as u64);
                t.events += count;
            }
            _ => t.errors += 1,
        }
    }
}

/// `connections` closed-loop uploaders of `n` events for `secs`.
async fn uploads(run: &Arc<Run>, side: Side, n: usize, connections: usize, secs: f64) -> Tally {
    let base = match side {
        Side::Tracker => run.args.tracker.clone(),
        Side::Aw => run.args.aw.clone(),
    };
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let (run, base) = (Arc::clone(run), base.clone());
            tokio::spawn(async move {
                let mut t = Tally::default();
                let Ok(mut http) = Http::new(&base) else {
                    return t;
                };
                while Instant::now() < deadline {
                    run.upload(&mut http, side, n, &mut t).await;
                }
                t
            })
        })
        .collect();
    let mut all = Tally {
        secs,
        ..Tally::default()
    };
    for w in workers {
        if let Ok(t) = w.await {
            all.merge(Tally { secs: 0.0, ..t });
        }
    }
    all
}

/// One phase on both servers, taking turns.
async fn both(run: &Arc<Run>, n: usize, connections: usize) -> [Tally; 2] {
    let rounds = run.args.rounds.max(1);
    let slice = run.args.seconds as f64;
    let mut out = [Tally::default(), Tally::default()];
    for _ in 0..rounds {
        for side in [Side::Tracker, Side::Aw] {
            out[side as usize].merge(uploads(run, side, n, connections, slice).await);
        }
    }
    out
}

/// Creates one aw-server-rust bucket per agent.
async fn buckets(aw: &str, count: usize) -> Result<(), Error> {
    let mut http = Http::new(aw)?;
    for i in 0..count {
        let body = json!({ "id": format!("agent{i}"), "type": "currentwindow",
            "client": "versus", "hostname": "versus" });
        let r = http
            .json(
                "POST",
                &format!("/api/0/buckets/agent{i}"),
                &Auth::default(),
                Some(&body),
            )
            .await?;
        // 304: made by an earlier run.
        if r.status != 200 && r.status != 304 {
            return Err(r.error("bucket").into());
        }
    }
    Ok(())
}

/// Loads the heavy user's days into both servers, ending yesterday.
async fn load_heavy(run: &Arc<Run>) -> Result<(NaiveDate, NaiveDate), Error> {
    let days = run.args.report_days.max(1);
    let today = Utc::now().date_naive();
    let first = today - chrono::Duration::days(i64::from(days));
    let last = today - chrono::Duration::days(1);
    let per_day = run.args.day_events;
    let spacing = 86_400.0 / per_day as f64;
    let mut mix = Mix(7);
    let mut events = Vec::with_capacity(per_day * days as usize);
    for d in 0..days {
        let day = first + chrono::Duration::days(i64::from(d));
        let start = day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
        for i in 0..per_day {
            let at = start + chrono::Duration::milliseconds((i as f64 * spacing * 1000.0) as i64);
            let seconds = (spacing.floor() as u32).max(1);
            events.push(Event::new(&mut mix, at, seconds));
        }
    }
    let creds = &run.agents[run.heavy()];
    let bucket = format!("/api/0/buckets/agent{}/events", run.heavy());
    let bearer = format!("Bearer {}", creds.token);
    let mut ours = Http::new(&run.args.tracker)?;
    let mut theirs = Http::new(&run.args.aw)?;
    for chunk in events.chunks(1_000) {
        let (a, b) = (tracker_body(chunk), aw_body(chunk));
        let r = ours
            .send(
                "POST",
                "/api/v1/agent/activity",
                &[
                    ("content-type", "application/json"),
                    ("authorization", &bearer),
                    ("x-company-key", &creds.key),
                ],
                a,
            )
            .await?;
        if r.status != 200 {
            return Err(r.error("heavy user's batch").into());
        }
        let r = theirs
            .send("POST", &bucket, &[("content-type", "application/json")], b)
            .await?;
        if r.status != 200 {
            return Err(format!("aw heavy batch: HTTP {}", r.status).into());
        }
    }
    Ok((first, last))
}

/// The median of `reads` timings of one report on each server.
async fn report(
    run: &Run,
    from: NaiveDate,
    to: NaiveDate,
    reads: usize,
) -> Result<[f64; 2], Error> {
    let creds = &run.agents[run.heavy()];
    let mut ours = Http::new(&run.args.tracker)?;
    let me = ours
        .json(
            "GET",
            "/api/v1/me",
            &Auth {
                token: Some(creds.token.clone()),
                key: None,
            },
            None,
        )
        .await?;
    let user = me.json()["id"].as_str().ok_or("no user id")?.to_owned();
    let admin = common::login(&mut ours, Some(&creds.key), "admin", common::ADMIN_PASSWORD).await?;
    let admin = Auth { key: None, ..admin };
    let path = format!("/api/v1/company/reports/apps?from={from}&to={to}&user_id={user}");
    let mut theirs = Http::new(&run.args.aw)?;
    let end = to + chrono::Duration::days(1);
    let query = json!({
        "timeperiods": [format!("{from}T00:00:00+00:00/{end}T00:00:00+00:00")],
        "query": [
            format!("events = query_bucket(\"agent{}\");", run.heavy()),
            "events = merge_events_by_keys(events, [\"app\"]);",
            "RETURN = sort_by_duration(events);",
        ],
    });
    let mut times = [Vec::new(), Vec::new()];
    for _ in 0..reads {
        let began = Instant::now();
        let r = ours.json("GET", &path, &admin, None).await?;
        if r.status != 200 {
            return Err(r.error("our report").into());
        }
        times[0].push(began.elapsed().as_secs_f64() * 1000.0);
        let began = Instant::now();
        let r = theirs
            .json("POST", "/api/0/query/", &Auth::default(), Some(&query))
            .await?;
        if r.status != 200 {
            return Err(format!("aw query: HTTP {}", r.status).into());
        }
        times[1].push(began.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(times.map(|mut t| {
        t.sort_by(f64::total_cmp);
        t[t.len() / 2]
    }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args = Args::parse();
    let agents = common::agents(
        &args.tracker,
        "owner",
        &args.owner_password,
        args.agents,
        &args.cache,
    )
    .await?;
    buckets(&args.aw, agents.len()).await?;
    // Every agent records the same recent hours, from 12 days back.
    let start = Utc::now() - chrono::Duration::days(12);
    let recorders = (0..agents.len())
        .map(|i| {
            let recorder = |seed: u64| Recorder {
                mix: Mix(seed),
                clock: start + chrono::Duration::milliseconds((i as i64 * 7_919) % 60_000),
                last: Vec::new(),
            };
            std::sync::Mutex::new([recorder(i as u64), recorder(i as u64)])
        })
        .collect();
    let run = Arc::new(Run {
        args: args.clone(),
        agents,
        recorders,
        next: AtomicU64::new(1),
    });

    println!("| workload | aw-server-rust | ours | ours / aw |");
    println!("|---|---|---|---|");
    let n = args.batch_size;
    for &connections in args.uploaders.iter().filter(|&&c| c > 0) {
        let [mut ours, mut theirs] = both(&run, n, connections).await;
        println!(
            "| batches of {n}, {connections} uploaders: events/s (p99 ms) | {:.0} ({:.0}) | {:.0} ({:.0}) | {:.2} |",
            theirs.events_per_sec(),
            theirs.quantile_ms(0.99),
            ours.events_per_sec(),
            ours.quantile_ms(0.99),
            ours.events_per_sec() / theirs.events_per_sec().max(1e-9),
        );
        report_errors(&ours, &theirs);
    }
    if args.single_connections > 0 {
        let c = args.single_connections;
        let [ours, theirs] = both(&run, 1, c).await;
        println!(
            "| one event per request, {c} connections: requests/s | {:.0} | {:.0} | {:.2} |",
            theirs.requests_per_sec(),
            ours.requests_per_sec(),
            ours.requests_per_sec() / theirs.requests_per_sec().max(1e-9),
        );
        report_errors(&ours, &theirs);
    }

    if args.day_events > 0 {
        let (first, last) = load_heavy(&run).await?;
        let [ours, theirs] = report(&run, last, last, 21).await?;
        println!(
            "| one day by app, {} events that day: ms | {theirs:.1} | {ours:.1} | {:.2} |",
            args.day_events,
            ours / theirs
        );
        let [ours, theirs] = report(&run, first, last, 5).await?;
        println!(
            "| {} days by app, same user: ms | {theirs:.1} | {ours:.1} | {:.2} |",
            args.report_days,
            ours / theirs
        );
    }
    Ok(())
}

fn report_errors(ours: &Tally, theirs: &Tally) {
    if ours.errors + theirs.errors > 0 {
        eprintln!("errors: ours {}, aw {}", ours.errors, theirs.errors);
    }
}
