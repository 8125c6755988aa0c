//! `--fleet`: agents at real agents' rates, time compressed, and what the
//! deployment costs per agent-month.
//!
//! Each agent sends a heartbeat every 5 minutes, a batch of 20 to 40
//! events every minute and fetches its policy every hour, each schedule
//! divided by `--compression` and started at a random phase, so the
//! fleet's requests spread as a real fleet's do. The run reports each
//! route's rate and p99, and, per agent-month of simulated time, the CPU
//! seconds of the server processes (`--server-pid`), of PostgreSQL (every
//! process named `postgres`), and the growth of the database
//! (`--sqlite-file`, or `--postgres-url` with `--postgres-schema`).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::Semaphore;

use crate::common::Http;
use crate::common::workload::{Mix, tracker_body};
use crate::{Load, Samples, line, print};

/// Seconds in the month the figures are per (30 days).
const MONTH: f64 = 30.0 * 86_400.0;

/// What `--fleet` is told.
pub struct Fleet {
    /// Simulated seconds per real second.
    pub compression: f64,
    /// How long it runs, in real seconds.
    pub seconds: u64,
    /// Connections the fleet's requests share.
    pub connections: usize,
    /// Processes whose CPU is the server's.
    pub server_pids: Vec<u32>,
    /// The SQLite database file (its `-wal` is counted too).
    pub sqlite_file: Option<PathBuf>,
    /// A PostgreSQL URL and the store's schema, to measure its size.
    pub postgres: Option<(String, String)>,
}

/// Kept-alive connections, lent to one request at a time.
struct Connections {
    free: Mutex<Vec<Http>>,
    permits: Semaphore,
}

impl Connections {
    fn new(servers: &[String], n: usize) -> Result<Self, crate::Error> {
        let free = (0..n)
            .map(|i| Http::new(&servers[i % servers.len()]))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            free: Mutex::new(free),
            permits: Semaphore::new(n),
        })
    }

    /// Sends one request on a free connection; its latency when answered
    /// 200.
    async fn send(
        &self,
        path: &str,
        method: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Option<Duration> {
        let _permit = self.permits.acquire().await.ok()?;
        let mut http = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop()?;
        let began = Instant::now();
        let ok = matches!(http.send(method, path, headers, body).await, Ok(r) if r.status == 200);
        let took = began.elapsed();
        self.free
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(http);
        ok.then_some(took)
    }
}

/// The samples of each route.
#[derive(Default)]
struct Routes {
    heartbeat: Samples,
    batch: Samples,
    policy: Samples,
}

/// One agent's life until `deadline`.
async fn agent(
    load: Arc<Load>,
    conns: Arc<Connections>,
    routes: Arc<Mutex<Routes>>,
    n: usize,
    compression: f64,
    deadline: Instant,
) {
    let creds = &load.agents[n];
    let bearer = format!("Bearer {}", creds.token);
    let headers = [
        ("content-type", "application/json"),
        ("authorization", bearer.as_str()),
        ("x-company-key", creds.key.as_str()),
    ];
    let every = |secs: f64| Duration::from_secs_f64(secs / compression);
    let (hb, batch, policy) = (every(300.0), every(60.0), every(3_600.0));
    let mut mix = Mix(0x5EED ^ n as u64);
    let start = Instant::now();
    let phase =
        |mix: &mut Mix, period: Duration| period.mul_f64((mix.next() % 1_000) as f64 / 1_000.0);
    let mut next = [
        start + phase(&mut mix, hb),
        start + phase(&mut mix, batch),
        start + phase(&mut mix, policy),
    ];
    loop {
        let (which, at) = next
            .iter()
            .enumerate()
            .min_by_key(|(_, at)| **at)
            .map(|(i, at)| (i, *at))
            .unwrap_or((0, deadline));
        if at >= deadline {
            return;
        }
        tokio::time::sleep_until(at.into()).await;
        let (path, method, body, events) = match which {
            0 => (
                "/api/v1/agent/heartbeat",
                "POST",
                Bytes::from_static(crate::HEARTBEAT),
                0,
            ),
            1 => {
                let size = 20 + (mix.next() % 21) as usize;
                let events = load.recorders[n]
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .batch(size);
                (
                    "/api/v1/agent/activity",
                    "POST",
                    tracker_body(&events),
                    events.len() as u64,
                )
            }
            _ => ("/api/v1/agent/policy", "GET", Bytes::new(), 0),
        };
        next[which] += [hb, batch, policy][which];
        let took = conns.send(path, method, &headers, body).await;
        let mut r = routes.lock().unwrap_or_else(|e| e.into_inner());
        let s = match which {
            0 => &mut r.heartbeat,
            1 => &mut r.batch,
            _ => &mut r.policy,
        };
        match took {
            Some(t) => {
                s.micros.push(t.as_micros() as u64);
                s.events += events;
            }
            None => s.errors += 1,
        }
    }
}

/// CPU seconds (user and system) of the processes given, and of every
/// process named `postgres`.
fn cpu(pids: &[u32]) -> (f64, f64) {
    let ticks = 100.0; // USER_HZ on Linux
    let of = |pid: &str| -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let fields: Vec<&str> = stat.rsplit_once(") ")?.1.split(' ').collect();
        let (user, system): (f64, f64) =
            (fields.get(11)?.parse().ok()?, fields.get(12)?.parse().ok()?);
        Some((user + system) / ticks)
    };
    let server = pids.iter().filter_map(|p| of(&p.to_string())).sum();
    let mut postgres = 0.0;
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let pid = entry.file_name().to_string_lossy().into_owned();
            let named = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if named.trim() == "postgres" {
                postgres += of(&pid).unwrap_or(0.0);
            }
        }
    }
    (server, postgres)
}

/// The database's size in bytes, as far as the flags tell where it is.
async fn size(fleet: &Fleet) -> Option<u64> {
    if let Some(file) = &fleet.sqlite_file {
        let wal = PathBuf::from(format!("{}-wal", file.display()));
        let len = |p: &PathBuf| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        return Some(len(file) + len(&wal));
    }
    let (url, schema) = fleet.postgres.as_ref()?;
    let pool = sqlx::PgPool::connect(url).await.ok()?;
    let bytes: Option<i64> = sqlx::query_scalar(
        "SELECT sum(pg_total_relation_size(c.oid))::bigint FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = $1 AND c.relkind IN ('r', 'm')",
    )
    .bind(schema)
    .fetch_one(&pool)
    .await
    .ok()?;
    pool.close().await;
    bytes.map(|b| b as u64)
}

/// Runs the fleet and prints what it cost.
pub async fn run(load: Arc<Load>, fleet: Fleet) -> Result<(), crate::Error> {
    let conns = Arc::new(Connections::new(&load.servers, fleet.connections)?);
    let routes = Arc::new(Mutex::new(Routes::default()));
    let (size0, cpu0) = (size(&fleet).await, cpu(&fleet.server_pids));
    let began = Instant::now();
    let deadline = began + Duration::from_secs(fleet.seconds);
    let agents: Vec<_> = (0..load.agents.len())
        .map(|n| {
            tokio::spawn(agent(
                load.clone(),
                conns.clone(),
                routes.clone(),
                n,
                fleet.compression,
                deadline,
            ))
        })
        .collect();
    for a in agents {
        let _ = a.await;
    }
    let real = began.elapsed().as_secs_f64();
    let (size1, cpu1) = (size(&fleet).await, cpu(&fleet.server_pids));
    let routes = std::mem::take(&mut *routes.lock().unwrap_or_else(|e| e.into_inner()));
    print(&[
        line("fleet", "/agent/heartbeat", routes.heartbeat, real),
        line("fleet", "/agent/activity", routes.batch, real),
        line("fleet", "/agent/policy", routes.policy, real),
    ]);
    let months = load.agents.len() as f64 * real * fleet.compression / MONTH;
    println!(
        "{} agents, {:.0} s at x{} = {:.2} agent-months",
        load.agents.len(),
        real,
        fleet.compression,
        months
    );
    println!(
        "CPU seconds per agent-month: server {:.2}, PostgreSQL {:.2}",
        (cpu1.0 - cpu0.0) / months,
        (cpu1.1 - cpu0.1) / months
    );
    if let (Some(a), Some(b)) = (size0, size1) {
        println!(
            "database growth per agent-month: {:.1} MB ({:.1} MB in all)",
            b.saturating_sub(a) as f64 / 1e6 / months,
            b.saturating_sub(a) as f64 / 1e6
        );
    }
    Ok(())
}
