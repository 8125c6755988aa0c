//! The reference server: the whole product as one HTTP service.
//!
//! ```text
//! cargo run --release --example reference_server
//! ```
//!
//! starts on 127.0.0.1:8080 with a SQLite file (`./tracker.db`) and needs
//! nothing else: the web console is at `/`, the JSON API under `/api/v1`.
//! On first start it creates an OWNER account and prints its password
//! once. `--database-url postgres://…` uses PostgreSQL instead;
//! `--demo` also creates a demo company and prints its key and tokens.
//! Every flag has an environment variable (`--help` lists them).
//!
//! On SQLite it answers heartbeats before their commit and writes them
//! together within 50 ms (`--heartbeat-delay-ms`, whose help says what a
//! crash can lose): heartbeats are liveness, sent every 5 minutes, and a
//! fleet's then take one commit per 50 ms instead of one per few requests.
//!
//! The background jobs run on their own intervals (`--usage-every`,
//! `--expiry-every`, `--retention-every`, `--alerts-every`, in minutes):
//! usage aggregation, trial and subscription expiry, the retention purge,
//! and the alert checks, whose webhooks go out signed
//! (`--webhook-hosts` restricts where). Each run is logged; `/readyz`
//! shows the last run of each job and `/metrics` has them as
//! `tracker_job_*`. On PostgreSQL every node runs every job: advisory
//! locks give each company's share of a job to one node at a time.

mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::routing::post;
use axum::serve::ListenerExt;
use chrono::Utc;
use clap::Parser;
use tracker::audit::AuditKey;
use tracker::lease::JobLeases;
use tracker::protocol::{
    CreateCompany, HeartbeatRequest, HeartbeatResponse, LoginRequest, NewTeam, NewUser,
};
use tracker::store::Store;
use tracker::tracking::IngestLimits;
use tracker::{CompanyStatus, FsBlobStore, Identity, Principal, Role, Tracker, TrackerConfig};
use tracker_axum::{HttpConfig, RateLimit};
use tracker_console::ConsoleConfig;
use tracker_imaging::ImageBlur;
use tracker_jobs::scheduler::{JobBoard, JobSchedule, spawn_jobs};
use tracker_jobs::webhook::{WebhookConfig, WebhookNotifier};

// Requests allocate on the executor's threads and the SQLite writer frees
// much of it; mimalloc handles that far cheaper than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The reference server of tracker.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Where the data lives: `sqlite:PATH` or `postgres://user@host/db`.
    #[arg(
        long,
        env = "TRACKER_DATABASE_URL",
        default_value = "sqlite:tracker.db"
    )]
    database_url: String,
    /// PostgreSQL: the schema of the store's tables (one per deployment
    /// when several share a database). Every node of a deployment names
    /// the same.
    #[arg(long, env = "TRACKER_DATABASE_SCHEMA", default_value = "tracker")]
    database_schema: String,
    /// PostgreSQL: enforce row-level security by working as this role,
    /// which must not own the tables and which the login user must be a
    /// member of (`CREATE ROLE tracker_app NOLOGIN; GRANT tracker_app TO
    /// tracker;`). Every query then sees only the rows of the company it
    /// works for.
    #[arg(long, env = "TRACKER_ROW_SECURITY_ROLE")]
    row_security_role: Option<String>,
    /// Address to listen on.
    #[arg(long, env = "TRACKER_BIND", default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// Directory of screenshot images.
    #[arg(long, env = "TRACKER_BLOB_DIR", default_value = "tracker-blobs")]
    blob_dir: PathBuf,
    /// Username of the OWNER account made on first start.
    #[arg(long, env = "TRACKER_OWNER_USERNAME", default_value = "owner")]
    owner_username: String,
    /// Its password (default: a random one, printed once).
    #[arg(long, env = "TRACKER_OWNER_PASSWORD", hide_env_values = true)]
    owner_password: Option<String>,
    /// Also create a demo company with an admin, a manager, a team and two
    /// employees, and print their key and tokens.
    #[arg(long, env = "TRACKER_DEMO")]
    demo: bool,
    /// Largest JSON body in bytes.
    #[arg(long, env = "TRACKER_JSON_LIMIT", default_value_t = 1 << 20)]
    json_limit: usize,
    /// Largest screenshot upload in bytes.
    #[arg(long, env = "TRACKER_SCREENSHOT_LIMIT", default_value_t = (10 << 20) + (16 << 10))]
    screenshot_limit: usize,
    /// Seconds a request may take before it is answered 408.
    #[arg(long, env = "TRACKER_REQUEST_TIMEOUT", default_value_t = 30)]
    request_timeout: u64,
    /// Requests per second per client address (0: no limit).
    #[arg(long, env = "TRACKER_RATE_PER_IP", default_value_t = 100)]
    rate_per_ip: u32,
    /// Requests per second per company key (0: no limit).
    #[arg(long, env = "TRACKER_RATE_PER_COMPANY_KEY", default_value_t = 200)]
    rate_per_company_key: u32,
    /// Networks of the proxies in front of the server, comma-separated
    /// (`10.0.0.0/8,192.0.2.10/32`): from them the client address is read
    /// from `Forwarded` or `X-Forwarded-For`. Unset: no proxy is trusted.
    #[arg(long, env = "TRACKER_TRUSTED_PROXIES", value_delimiter = ',')]
    trusted_proxies: Vec<ipnet::IpNet>,
    /// Minutes between usage aggregations (0: never).
    #[arg(long, env = "TRACKER_USAGE_EVERY", default_value_t = 15)]
    usage_every: u64,
    /// Minutes between expiry checks (0: never).
    #[arg(long, env = "TRACKER_EXPIRY_EVERY", default_value_t = 5)]
    expiry_every: u64,
    /// Minutes between retention purges (0: never).
    #[arg(long, env = "TRACKER_RETENTION_EVERY", default_value_t = 60)]
    retention_every: u64,
    /// Minutes between alert checks (0: never).
    #[arg(long, env = "TRACKER_ALERTS_EVERY", default_value_t = 5)]
    alerts_every: u64,
    /// Minutes between checks for audit chain heads due a signed
    /// checkpoint (0: never).
    #[arg(long, env = "TRACKER_CHECKPOINTS_EVERY", default_value_t = 1)]
    checkpoints_every: u64,
    /// The ed25519 key (PKCS#8 PEM) that signs audit checkpoints and
    /// exports. Made on first start if the file is missing; keep it where
    /// only the operator reads it, or in a secret store.
    #[arg(long, env = "TRACKER_AUDIT_KEY", default_value = "tracker-audit.key")]
    audit_key: PathBuf,
    /// The key that signs the console's session cookies and CSRF tokens
    /// (64 hex digits). Made on first start if the file is missing; give
    /// every node the same file, or a session started on one node is
    /// refused on the others.
    #[arg(
        long,
        env = "TRACKER_CONSOLE_KEY",
        default_value = "tracker-console.key"
    )]
    console_key: PathBuf,
    /// The key `--audit-key` replaces: at start, every chain it signed last
    /// is handed over to the new key by a checkpoint both keys sign.
    #[arg(long, env = "TRACKER_AUDIT_PREVIOUS_KEY")]
    audit_previous_key: Option<PathBuf>,
    /// Rows of each kind one retention step deletes.
    #[arg(long, env = "TRACKER_PURGE_BATCH", default_value_t = tracker::DEFAULT_PURGE_BATCH)]
    purge_batch: u32,
    /// Hosts webhooks may be sent to, comma-separated (`.example.com`
    /// allows its subdomains); unset allows any host.
    #[arg(long, env = "TRACKER_WEBHOOK_HOSTS", value_delimiter = ',')]
    webhook_hosts: Option<Vec<String>>,
    /// Let webhooks reach loopback, private and link-local addresses
    /// (refused by default: a webhook is an outside service).
    #[arg(long, env = "TRACKER_WEBHOOK_ALLOW_PRIVATE")]
    webhook_allow_private: bool,
    /// SQLite: milliseconds a heartbeat may be held, and answered, before
    /// it is written with others (0: each is committed before it is
    /// answered, as the store does by default). Held, one commit serves a
    /// fleet's heartbeats and none waits behind an activity batch; a crash
    /// of the process loses those of the last delay, which the agents send
    /// again within 5 minutes, and a stop writes them. PostgreSQL: any
    /// value but 0 answers heartbeats once committed but before their WAL
    /// is flushed, so only a crash of the database server can lose the
    /// last few hundred milliseconds of them.
    #[arg(long, env = "TRACKER_HEARTBEAT_DELAY_MS", default_value_t = 50)]
    heartbeat_delay_ms: u64,
    /// SQLite: page cache of each connection, in MiB (the store's default
    /// when left out). The file is also read through a memory map, so a
    /// larger cache mostly helps writes to large databases.
    #[arg(long, env = "TRACKER_SQLITE_CACHE_MIB")]
    sqlite_cache_mib: Option<i64>,
    /// Oldest activity accepted, in days: an agent's offline queue must be
    /// sent within it.
    #[arg(long, env = "TRACKER_MAX_EVENT_AGE_DAYS", default_value_t = 14)]
    max_event_age_days: u32,
    /// Serve `POST /bench/baseline`: parses a heartbeat and answers 200
    /// without authentication or storage, for the load generator.
    #[arg(long)]
    bench_baseline: bool,
    /// Mark the console's cookies `Secure`: set it when the server is
    /// reached over HTTPS (directly or through a proxy).
    #[arg(long, env = "TRACKER_SECURE_COOKIES")]
    secure_cookies: bool,
    /// Serve HTTPS with this PEM certificate chain (with `--tls-key`).
    /// The console's cookies are then `Secure`, and every answer carries
    /// `Strict-Transport-Security`.
    #[arg(long, env = "TRACKER_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of `--tls-cert`.
    #[arg(long, env = "TRACKER_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The audit key in `path`, or a new one written there, readable by the
/// operator only.
/// The secret in the file at `path`, or a new one from `make` written
/// there (readable by its owner alone) when the file does not exist.
fn read_or_make(
    path: &std::path::Path,
    what: &str,
    make: impl FnOnce() -> Result<String, Error>,
) -> Result<String, Error> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let text = make()?;
            let mut file = std::fs::OpenOptions::new();
            file.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut file, 0o600);
            std::io::Write::write_all(&mut file.open(path)?, text.as_bytes())?;
            tracing::info!(path = %path.display(), "made a new {what}");
            Ok(text)
        }
        Err(e) => Err(format!("{}: {e}", path.display()).into()),
    }
}

fn load_or_make_key(path: &std::path::Path) -> Result<AuditKey, Error> {
    let pem = read_or_make(path, "audit signing key", || {
        Ok(AuditKey::generate()?.to_pem()?)
    })?;
    let key = AuditKey::from_pem(&pem).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("Audit public key (ed25519): {}", key.public_key());
    Ok(key)
}

/// The console's session key: 32 bytes as 64 hex digits.
fn load_or_make_console_key(path: &std::path::Path) -> Result<[u8; 32], Error> {
    let text = read_or_make(path, "console session key", || {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| format!("the OS random source: {e}"))?;
        Ok(hex::encode(key))
    })?;
    let mut key = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut key)
        .map_err(|e| format!("{}: not 64 hex digits: {e}", path.display()))?;
    Ok(key)
}

/// Rotates from `--audit-previous-key` if given; otherwise warns of chains
/// another key signed last, whose next checkpoints no verifier will link
/// to the old key.
async fn hand_over_audit_key(tracker: &Tracker, args: &Args) -> Result<(), Error> {
    if let Some(path) = &args.audit_previous_key {
        let pem = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let old = AuditKey::from_pem(&pem).map_err(|e| format!("{}: {e}", path.display()))?;
        let run = tracker.rotate_audit_key(&old).await?;
        tracing::info!(chains = run.signed, from = %old.public_key(), "audit key rotated");
        return Ok(());
    }
    let foreign = tracker.chains_signed_by_other_keys().await?;
    if !foreign.is_empty() {
        tracing::warn!(
            chains = foreign.len(),
            "audit chains were last signed by another key: start with --audit-previous-key \
             naming it to hand them over, or their next checkpoints will not verify from it"
        );
    }
    Ok(())
}

/// The store, and on PostgreSQL the job leases every node shares.
async fn open_store(
    args: &Args,
    heartbeat_delay: Duration,
) -> Result<(Arc<dyn Store>, Option<Arc<dyn JobLeases>>), Error> {
    let (url, cache_mib) = (args.database_url.as_str(), args.sqlite_cache_mib);
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let config = tracker_sqlx::PgConfig {
            schema: args.database_schema.clone(),
            durable_heartbeats: heartbeat_delay.is_zero(),
            row_security_role: args.row_security_role.clone(),
            ..tracker_sqlx::PgConfig::default()
        };
        let store = tracker_sqlx::PgStore::connect(url, config).await?;
        let leases = Arc::new(store.job_leases());
        return Ok((Arc::new(store), Some(leases)));
    }
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or("--database-url must be sqlite:PATH or postgres://…")?;
    let defaults = tracker_sqlite::SqliteOptions::default();
    let options = tracker_sqlite::SqliteOptions {
        heartbeat_delay,
        cache_mib: cache_mib.unwrap_or(defaults.cache_mib),
        ..defaults
    };
    let store = tracker_sqlite::SqliteStore::open_with(path, &options)?;
    Ok((Arc::new(store), None))
}

fn random_secret() -> String {
    // 128 random bits from the OS generator, as hex.
    uuid::Uuid::new_v4().simple().to_string()
}

/// The OWNER as a principal, for what the server does on its own.
async fn owner(tracker: &Tracker, username: &str) -> Result<Principal, Error> {
    let user = tracker
        .store()
        .users()
        .user_by_username(None, username)
        .await?
        .ok_or_else(|| format!("no OWNER named {username:?}"))?;
    Ok(tracker
        .resolve(Identity {
            user_id: user.id,
            company_id: None,
        })
        .await?)
}

/// Makes the OWNER on first start; prints the password it chose.
/// The lease of the first start's work, waited for at most a minute.
async fn lease_first_start(leases: &dyn JobLeases) -> Result<tracker::lease::Lease, Error> {
    let key = tracker::lease::LeaseKey {
        job: "first start",
        company: tracker::CompanyId(uuid::Uuid::nil()),
    };
    for _ in 0..600 {
        if let Some(lease) = leases.try_lease(&key).await? {
            return Ok(lease);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err("another node held the first start's lease for a minute".into())
}

async fn first_start(tracker: &Tracker, args: &Args) -> Result<(), Error> {
    tracker.ensure_default_plans().await?;
    if tracker.store().users().has_owner().await? {
        return Ok(());
    }
    let password = args.owner_password.clone().unwrap_or_else(random_secret);
    tracker
        .bootstrap_owner(&args.owner_username, &password)
        .await?;
    println!("Created the OWNER account (shown once):");
    println!("  username: {}", args.owner_username);
    if args.owner_password.is_some() {
        println!("  password: (as given)");
    } else {
        println!("  password: {password}");
    }
    Ok(())
}

async fn login(
    tracker: &Tracker,
    key: &str,
    username: &str,
    password: &str,
) -> Result<String, Error> {
    let reply = tracker
        .login(
            LoginRequest {
                company_key: Some(key.to_owned()),
                username: username.to_owned(),
                password: password.to_owned(),
            },
            None,
        )
        .await?;
    Ok(reply.token.expose().to_owned())
}

/// The demo company, made once.
async fn demo(tracker: &Tracker, args: &Args) -> Result<(), Error> {
    const NAME: &str = "Demo Co";
    let all = tracker.store().tenants().all_companies().await?;
    if all.iter().any(|c| c.name == NAME) {
        println!("The demo company exists already; its key was printed when it was made.");
        return Ok(());
    }
    let owner = owner(tracker, &args.owner_username).await?;
    let person = |username: &str, role| NewUser {
        username: username.to_owned(),
        password: random_secret(),
        email: Some(format!("{username}@demo.example")),
        display_name: None,
        role: Some(role),
    };
    let admin = person("admin", Role::Admin);
    let created = tracker
        .create_company(
            &owner,
            CreateCompany {
                name: NAME.to_owned(),
                plan: Some("PRO".to_owned()),
                timezone: Some("UTC".to_owned()),
                trial_days: Some(0),
                retention_days: None,
                admin: admin.clone(),
            },
        )
        .await?;
    let key = created.company_key.expose().to_owned();
    let admin_token = login(tracker, &key, "admin", &admin.password).await?;
    let admin_principal = tracker.authenticate(&admin_token).await?;
    let mut people = vec![("admin", admin.password.clone(), admin_token)];
    let mut ids = Vec::new();
    for (username, role) in [
        ("manager", Role::Manager),
        ("alice", Role::Employee),
        ("bob", Role::Employee),
    ] {
        let new = person(username, role);
        let user = tracker.create_user(&admin_principal, new.clone()).await?;
        ids.push(user.id);
        let token = login(tracker, &key, username, &new.password).await?;
        people.push((username, new.password, token));
    }
    tracker
        .create_team(
            &admin_principal,
            NewTeam {
                name: "Engineering".to_owned(),
                managers: vec![ids[0]],
                members: ids[1..].to_vec(),
            },
        )
        .await?;
    println!("Demo company {NAME:?} (shown once):");
    println!("  company key: {key}");
    for (username, password, token) in people {
        println!("  {username:<8} password {password}  token {token}");
    }
    Ok(())
}

/// `POST /bench/baseline`: the heartbeat's parse and answer, nothing else.
async fn baseline(Json(_): Json<HeartbeatRequest>) -> Json<HeartbeatResponse> {
    Json(HeartbeatResponse {
        server_time: Utc::now(),
        tracking_allowed: true,
        policy_version: 1,
        policy_changed: false,
        company_status: CompanyStatus::Active,
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let heartbeat_delay = Duration::from_millis(args.heartbeat_delay_ms);
    let (store, leases) = open_store(&args, heartbeat_delay).await?;
    let job_leases = leases.clone();
    let blobs = Arc::new(FsBlobStore::new(&args.blob_dir)?);
    let notifier = WebhookNotifier::new(WebhookConfig {
        allowed_hosts: args.webhook_hosts.clone(),
        allow_private: args.webhook_allow_private,
        ..WebhookConfig::default()
    })?;
    let audit_key = load_or_make_key(&args.audit_key)?;
    let mut builder = Tracker::builder_shared(store);
    if let Some(leases) = job_leases {
        builder = builder.job_leases(leases);
    }
    let tracker = Arc::new(
        builder
            .audit_key(audit_key)
            .config(TrackerConfig {
                ingest: IngestLimits {
                    max_age: chrono::Duration::days(i64::from(args.max_event_age_days)),
                    ..IngestLimits::default()
                },
                ..TrackerConfig::default()
            })
            .blobs(blobs)
            .blur(Arc::new(ImageBlur::default()))
            .notifier(Arc::new(notifier))
            .build(),
    );
    // Nodes started together on a new database take turns making the
    // plans and the OWNER, so there is one of each.
    let first = match &leases {
        Some(leases) => Some(lease_first_start(leases.as_ref()).await?),
        None => None,
    };
    first_start(&tracker, &args).await?;
    if let Some(lease) = first {
        lease.release().await;
    }
    hand_over_audit_key(&tracker, &args).await?;
    if args.demo {
        demo(&tracker, &args).await?;
    }
    let config = HttpConfig {
        json_limit: args.json_limit,
        screenshot_limit: args.screenshot_limit,
        request_timeout: Duration::from_secs(args.request_timeout),
        rate_per_ip: RateLimit::per_second(args.rate_per_ip, args.rate_per_ip.saturating_mul(2)),
        rate_per_company_key: RateLimit::per_second(
            args.rate_per_company_key,
            args.rate_per_company_key.saturating_mul(2),
        ),
        metrics: true,
        trusted_proxies: args.trusted_proxies.clone(),
    };
    let board = JobBoard::default();
    let minutes = |m: u64| (m > 0).then(|| Duration::from_secs(m * 60));
    let schedule = JobSchedule {
        usage_every: minutes(args.usage_every),
        expiry_every: minutes(args.expiry_every),
        retention_every: minutes(args.retention_every),
        alerts_every: minutes(args.alerts_every),
        checkpoints_every: minutes(args.checkpoints_every),
        purge_batch: args.purge_batch,
    };
    let _jobs = spawn_jobs(Arc::clone(&tracker), schedule, board.clone());
    let mut app = tracker_axum::Api::new(Arc::clone(&tracker))
        .config(config)
        .jobs(board)
        .router();
    if args.bench_baseline {
        app = app.route("/bench/baseline", post(baseline));
    }
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(tls::config(cert, key)?),
        _ => None,
    };
    // The console answers every path the API does not: `/` and its pages.
    let console = tracker_console::Console::new(Arc::clone(&tracker))
        .config(ConsoleConfig {
            secure_cookies: args.secure_cookies || tls.is_some(),
            key: Some(load_or_make_console_key(&args.console_key)?),
            ..ConsoleConfig::default()
        })
        .router();
    let app = app.fallback_service(console);
    let tcp = tokio::net::TcpListener::bind(args.bind).await?;
    tracing::info!(address = %args.bind, database = %redact(&args.database_url), tls = tls.is_some(), "serving");
    match tls {
        Some(config) => {
            println!("Listening on https://{}: the console is at /", args.bind);
            // Browsers that reached the server over HTTPS keep to it.
            let app = app.layer(axum::middleware::map_response(
                |mut response: axum::response::Response| async move {
                    response.headers_mut().insert(
                        axum::http::header::STRICT_TRANSPORT_SECURITY,
                        axum::http::HeaderValue::from_static("max-age=31536000"),
                    );
                    response
                },
            ));
            // `tap_io` gives the connections their peer address as
            // `ConnectInfo`, as a plain TCP listener does.
            let listener = tls::TlsListener::new(tcp, config)?.tap_io(|_| {});
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(shutdown_signal())
            .await?;
        }
        None => {
            println!("Listening on http://{}: the console is at /", args.bind);
            axum::serve(tcp, app.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(shutdown_signal())
                .await?;
        }
    }
    Ok(())
}

/// The database URL without its password, for the log.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => match url[scheme + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..]),
            None => url.to_owned(),
        },
        _ => url.to_owned(),
    }
}
