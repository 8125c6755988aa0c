//! A simulated desktop agent.
//!
//! ```text
//! cargo run --example agent_sim -- --company-key company_… --username alice --password …
//! ```
//!
//! It logs in with the company key, fetches the policy (conditionally,
//! with the ETag it holds), heartbeats, and puts everything it sends into
//! an on-disk queue (`--queue-dir`): the work session's start and stop,
//! activity batches, screenshots. The queue is sent in order; an upload
//! leaves it only when the server has taken it, so stopping the agent (or
//! the server) loses nothing: the queue waits, backing off (and keeping to
//! `Retry-After` on 429 and 503), and the server counts every event once.
//! When the policy says tracking is not allowed (company suspended or
//! expired, user deactivated) the agent stops.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use clap::Parser;
use common::{Auth, Error, Http};
use serde_json::{Value, json};

/// A simulated desktop agent of tracker.
#[derive(Debug, Parser)]
#[command(about)]
struct Args {
    /// The server.
    #[arg(long, env = "TRACKER_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// The company key.
    #[arg(long, env = "TRACKER_COMPANY_KEY")]
    company_key: String,
    /// The user the agent tracks.
    #[arg(long, env = "TRACKER_USERNAME")]
    username: String,
    /// Its password.
    #[arg(long, env = "TRACKER_PASSWORD", hide_env_values = true)]
    password: String,
    /// The offline queue.
    #[arg(long, default_value = "agent-queue")]
    queue_dir: PathBuf,
    /// Seconds between ticks (a real agent heartbeats every 300).
    #[arg(long, default_value_t = 5)]
    tick_secs: u64,
    /// Stop after this many ticks (default: run until Ctrl-C).
    #[arg(long)]
    ticks: Option<u64>,
    /// Refetch the policy every this many ticks (a real agent: hourly).
    #[arg(long, default_value_t = 12)]
    policy_every: u64,
}

/// The policy as the agent applies it.
#[derive(Debug, Default)]
struct Policy {
    etag: Option<String>,
    version: Option<u64>,
    tracking_allowed: bool,
    screenshots: bool,
    websites: bool,
    apps: bool,
}

struct Agent {
    http: Http,
    auth: Auth,
    queue: PathBuf,
    policy: Policy,
    /// When the queue may be sent again after the server could not take it.
    retry_at: Option<tokio::time::Instant>,
    /// The wait after the next failure: doubled each time, up to a minute.
    backoff: Duration,
}

/// What a queued upload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Upload {
    Activity,
    SessionStart,
    SessionStop,
    Screenshot,
}

impl Upload {
    fn name(self) -> &'static str {
        match self {
            Upload::Activity => "activity",
            Upload::SessionStart => "session_start",
            Upload::SessionStop => "session_stop",
            Upload::Screenshot => "screenshot",
        }
    }

    /// A queued file's kind; a batch of an earlier version has none.
    fn of(item: &Value) -> Option<Upload> {
        match item["kind"].as_str() {
            None | Some("activity") => Some(Upload::Activity),
            Some("session_start") => Some(Upload::SessionStart),
            Some("session_stop") => Some(Upload::SessionStop),
            Some("screenshot") => Some(Upload::Screenshot),
            Some(_) => None,
        }
    }
}

const APPS: [(&str, &str, &str); 4] = [
    ("editor", "main.rs", "https://docs.rs/tokio"),
    (
        "browser",
        "Pull request #42",
        "https://github.com/example/repo/pull/42",
    ),
    ("terminal", "cargo test", "https://crates.io/crates/axum"),
    ("chat", "#team", "https://chat.example.com/team"),
];

/// A 1x1 PNG, the simulated screen.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0A, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
    0x42, 0x60, 0x82,
];

/// Writes a file whole or not at all.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(tmp, path)
}

impl Agent {
    async fn fetch_policy(&mut self) -> Result<(), Error> {
        let mut headers = vec![
            ("x-company-key", self.auth.key.clone().unwrap_or_default()),
            (
                "authorization",
                format!("Bearer {}", self.auth.token.clone().unwrap_or_default()),
            ),
        ];
        if let Some(etag) = &self.policy.etag {
            headers.push(("if-none-match", etag.clone()));
        }
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let reply = self
            .http
            .send("GET", "/api/v1/agent/policy", &headers, Bytes::new())
            .await?;
        match reply.status {
            304 => println!("policy unchanged (version {:?})", self.policy.version),
            200 => {
                let body = reply.json();
                let p = &body["policy"];
                self.policy = Policy {
                    etag: reply.header("etag").map(str::to_owned),
                    version: p["version"].as_u64(),
                    tracking_allowed: body["tracking_allowed"].as_bool().unwrap_or(false),
                    screenshots: p["screenshots_enabled"].as_bool().unwrap_or(false),
                    websites: p["website_tracking_enabled"].as_bool().unwrap_or(false),
                    apps: p["app_tracking_enabled"].as_bool().unwrap_or(false),
                };
                println!(
                    "policy version {:?}: {:?}",
                    self.policy.version, self.policy
                );
            }
            _ => return Err(reply.error("policy").into()),
        }
        Ok(())
    }

    /// Heartbeat; `Ok(false)` when the agent must stop tracking.
    async fn heartbeat(&mut self) -> Result<bool, Error> {
        let body = json!({ "policy_version": self.policy.version, "agent_version": "sim-1.0" });
        let reply = self
            .http
            .json("POST", "/api/v1/agent/heartbeat", &self.auth, Some(&body))
            .await?;
        if reply.status != 200 {
            // A suspended company answers 403: tracking is not allowed.
            println!("{}", reply.error("heartbeat"));
            return Ok(reply.status != 403 && reply.status != 401);
        }
        let answer = reply.json();
        if answer["policy_changed"] == true {
            self.fetch_policy().await?;
        }
        Ok(answer["tracking_allowed"] == true && self.policy.tracking_allowed)
    }

    /// Records the activity since `from` into the queue; `false` when less
    /// than a second passed, which the next tick records with its own.
    fn record(&self, from: DateTime<Utc>, to: DateTime<Utc>, tick: u64) -> Result<bool, Error> {
        let seconds = (to - from).num_seconds();
        if seconds <= 0 {
            return Ok(false);
        }
        let pieces = seconds.clamp(1, 6);
        let events: Vec<Value> = (0..pieces)
            .map(|i| {
                let start = from + chrono::Duration::seconds(seconds * i / pieces);
                let end = from + chrono::Duration::seconds(seconds * (i + 1) / pieces);
                let (app, title, url) = APPS[((tick + i as u64) % APPS.len() as u64) as usize];
                let idle = (tick + i as u64) % 7 == 6;
                let mut event = json!({
                    "id": uuid::Uuid::now_v7(),
                    "started_at": start,
                    "duration_seconds": (end - start).num_seconds(),
                    "kind": if idle { "idle" } else { "active" },
                });
                // What the policy disables is not even collected.
                if self.policy.apps && !idle {
                    event["app"] = json!(app);
                    event["window_title"] = json!(title);
                }
                if self.policy.websites && !idle {
                    event["url"] = json!(url);
                }
                event
            })
            .filter(|e| e["duration_seconds"].as_i64() > Some(0))
            .collect();
        println!("recorded {} events", events.len());
        self.enqueue(Upload::Activity, json!({ "events": events }), None)?;
        Ok(true)
    }

    /// Puts an upload at the end of the queue (a screenshot with its image
    /// beside it).
    fn enqueue(&self, kind: Upload, body: Value, image: Option<&[u8]>) -> Result<(), Error> {
        let id = uuid::Uuid::now_v7();
        if let Some(bytes) = image {
            write_atomic(&self.queue.join(format!("{id}.png")), bytes)?;
        }
        let item = json!({ "kind": kind.name(), "body": body });
        write_atomic(
            &self.queue.join(format!("{id}.json")),
            item.to_string().as_bytes(),
        )?;
        Ok(())
    }

    /// Sends the queue, oldest first; stops at the first upload the server
    /// cannot take now (it stays queued, and the queue waits a while).
    async fn flush(&mut self) -> Result<(), Error> {
        if self
            .retry_at
            .is_some_and(|at| tokio::time::Instant::now() < at)
        {
            return Ok(());
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.queue)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().is_some_and(|x| x == "json")
                    && p.file_name() != Some("cursor.json".as_ref())
            })
            .collect();
        files.sort();
        for file in files {
            let item: Value = serde_json::from_slice(&std::fs::read(&file)?)?;
            let name = file
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let Some(kind) = Upload::of(&item) else {
                self.set_aside(&file, &format!("{name}: not an upload this agent knows"))?;
                continue;
            };
            let reply = match self.send(kind, &item, &file).await {
                Ok(reply) => reply,
                Err(e) => {
                    self.wait(None);
                    println!("server unreachable ({e}); the queue waits");
                    return Ok(());
                }
            };
            match reply.status {
                200 | 201 | 204 => {
                    self.backoff = Duration::ZERO;
                    self.retry_at = None;
                    if kind == Upload::Activity {
                        let report = reply.json();
                        println!(
                            "uploaded {name}: {} new, {} already stored",
                            report["inserted"], report["duplicates"]
                        );
                    } else {
                        println!("uploaded {name} ({})", kind.name());
                    }
                    std::fs::remove_file(&file)?;
                    let _ = std::fs::remove_file(file.with_extension("png"));
                }
                400 | 403 | 404 | 409 | 413 | 415 | 422 => {
                    // The server will never take it: keep it aside for a human.
                    self.set_aside(&file, &reply.error(kind.name()))?;
                }
                _ => {
                    let after = reply.header("retry-after").and_then(|v| v.parse().ok());
                    self.wait(after.map(Duration::from_secs));
                    println!("{}; the queue waits", reply.error(kind.name()));
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// One queued upload, as its route wants it.
    async fn send(
        &mut self,
        kind: Upload,
        item: &Value,
        file: &Path,
    ) -> Result<common::Response, Error> {
        // A queue of an earlier version holds the bare batch.
        let body = if item.get("kind").is_some() {
            &item["body"]
        } else {
            item
        };
        match kind {
            Upload::Activity => {
                self.http
                    .json("POST", "/api/v1/agent/activity", &self.auth, Some(body))
                    .await
            }
            Upload::SessionStart => {
                self.http
                    .json("POST", "/api/v1/agent/sessions", &self.auth, Some(body))
                    .await
            }
            Upload::SessionStop => {
                let path = format!(
                    "/api/v1/agent/sessions/{}/stop",
                    body["id"].as_str().unwrap_or_default()
                );
                let stop = json!({ "stopped_at": body["stopped_at"] });
                self.http.json("POST", &path, &self.auth, Some(&stop)).await
            }
            Upload::Screenshot => {
                let image = std::fs::read(file.with_extension("png"))?;
                let path = format!(
                    "/api/v1/agent/screenshots?id={}&taken_at={}",
                    body["id"].as_str().unwrap_or_default(),
                    body["taken_at"].as_str().unwrap_or_default()
                );
                let bearer = format!("Bearer {}", self.auth.token.clone().unwrap_or_default());
                let key = self.auth.key.clone().unwrap_or_default();
                let headers = [
                    ("authorization", bearer.as_str()),
                    ("x-company-key", key.as_str()),
                    ("content-type", "image/png"),
                ];
                self.http
                    .send("POST", &path, &headers, Bytes::from(image))
                    .await
            }
        }
    }

    /// Waits `after` (the server's `Retry-After`) or the next backoff step.
    fn wait(&mut self, after: Option<Duration>) {
        self.backoff = (self.backoff * 2).clamp(Duration::from_secs(1), Duration::from_secs(60));
        self.retry_at = Some(tokio::time::Instant::now() + after.unwrap_or(self.backoff));
    }

    /// Moves a queued upload the server refused for good out of the queue.
    fn set_aside(&self, file: &Path, why: &str) -> Result<(), Error> {
        println!("{why}; set aside");
        let rejected = self.queue.join("rejected");
        std::fs::create_dir_all(&rejected)?;
        for path in [file.to_path_buf(), file.with_extension("png")] {
            if path.exists() {
                std::fs::rename(&path, rejected.join(path.file_name().unwrap_or_default()))?;
            }
        }
        Ok(())
    }

    /// Takes a screenshot into the queue, when the policy wants them.
    fn screenshot(&self) -> Result<(), Error> {
        if !self.policy.screenshots {
            return Ok(());
        }
        let meta = json!({
            "id": uuid::Uuid::now_v7(),
            "taken_at": Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        });
        self.enqueue(Upload::Screenshot, meta, Some(PNG))
    }
}

/// The end of a span recorded from `from` to `to` in whole seconds: the
/// fraction left over starts the next span.
fn from_whole_seconds(from: DateTime<Utc>, to: DateTime<Utc>) -> DateTime<Utc> {
    from + chrono::Duration::seconds((to - from).num_seconds())
}

/// Where the recorded activity ends, kept across restarts so that a
/// restarted agent never records the same span twice.
fn load_cursor(queue: &Path) -> DateTime<Utc> {
    std::fs::read(queue.join("cursor.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<DateTime<Utc>>(&b).ok())
        .filter(|at| *at <= Utc::now())
        .unwrap_or_else(Utc::now)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.queue_dir)?;
    let mut http = Http::new(&args.server)?;
    let auth = common::login(
        &mut http,
        Some(&args.company_key),
        &args.username,
        &args.password,
    )
    .await?;
    println!("logged in as {}", args.username);
    let mut agent = Agent {
        http,
        auth,
        queue: args.queue_dir.clone(),
        policy: Policy::default(),
        retry_at: None,
        backoff: Duration::ZERO,
    };
    agent.fetch_policy().await?;
    // What an earlier run left in the queue goes first.
    agent.flush().await?;
    let session = uuid::Uuid::now_v7();
    agent.enqueue(
        Upload::SessionStart,
        json!({ "id": session, "started_at": Utc::now() }),
        None,
    )?;
    let mut cursor = load_cursor(&agent.queue);
    let mut tick = 0u64;
    let mut every = tokio::time::interval(Duration::from_secs(args.tick_secs.max(1)));
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = tokio::signal::ctrl_c() => {
                println!("stopping; the queue keeps what was not uploaded");
                break;
            }
        }
        if tick > 0
            && tick.is_multiple_of(args.policy_every.max(1))
            && let Err(e) = agent.fetch_policy().await
        {
            println!("policy not fetched ({e}); the one held applies");
        }
        let allowed = match agent.heartbeat().await {
            Ok(allowed) => allowed,
            Err(e) => {
                println!("heartbeat failed ({e}); tracking offline");
                true
            }
        };
        if !allowed {
            println!("tracking is not allowed now: the agent stops");
            break;
        }
        // The span recorded ends where the next begins: none is lost or
        // recorded twice, across restarts too.
        let now = Utc::now();
        if agent.record(cursor, now, tick)? {
            cursor = from_whole_seconds(cursor, now);
            write_atomic(
                &agent.queue.join("cursor.json"),
                serde_json::to_string(&cursor)?.as_bytes(),
            )?;
        }
        agent.flush().await?;
        if tick.is_multiple_of(6) {
            agent.screenshot()?;
        }
        tick += 1;
        if args.ticks.is_some_and(|n| tick >= n) {
            break;
        }
    }
    agent.enqueue(
        Upload::SessionStop,
        json!({ "id": session, "stopped_at": Utc::now() }),
        None,
    )?;
    // A last try; what the server cannot take now waits for the next run.
    agent.retry_at = None;
    agent.flush().await?;
    Ok(())
}
