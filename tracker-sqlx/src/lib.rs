//! The scale-out store of `tracker`: every storage port of `tracker-core`
//! on PostgreSQL through sqlx, for many stateless nodes sharing one
//! database.
//!
//! ```
//! use tracker_core::{Argon2Hasher, Tracker};
//! use tracker_sqlx::{PgConfig, PgStore};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let Ok(url) = std::env::var("DATABASE_URL") else { return Ok(()) };
//! # let schema = format!("doc_{}", uuid::Uuid::new_v4().simple());
//! # let config = PgConfig { schema: schema.clone(), ..PgConfig::default() };
//! # /*
//! let config = PgConfig::default(); // schema "tracker", migrations on connect
//! # */
//! let store = PgStore::connect(&url, config).await?;
//! let tracker = Tracker::builder(store)
//!     .password_hasher(Argon2Hasher::insecure_fast())
//!     .build();
//! let plans = tracker.ensure_default_plans().await?;
//! assert_eq!(plans.len(), 3);
//! # tracker.store().drop_schema().await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Schema and migrations
//!
//! Everything lives in one PostgreSQL schema of its own ([`PgConfig::schema`],
//! default `tracker`), including sqlx's migration history, so the store never
//! touches the host application's tables or its `_sqlx_migrations`. Every
//! connection of the pool puts that schema first on its `search_path`.
//! [`PgStore::connect`] applies pending migrations unless
//! [`PgConfig::run_migrations`] is off; an integrator with a migration flow
//! of their own runs [`migrator`] there instead (the SQL files are in this
//! crate's `migrations/` folder). Queries are checked at run time, so a build
//! never needs a database.
//!
//! # Distribution by company
//!
//! Every tenant table leads its primary key with `company_id`, so the schema
//! can be distributed by company id unchanged (Citus and the like):
//!
//! - distributed by `company_id`: `subscriptions`, `users`, `tokens`,
//!   `teams`, `policies`, `audit_events`, `audit_heads`, `agent_states`,
//!   `work_sessions`, `activity_events`, `activity_daily`, `screenshots`,
//!   `tasks`, `corrections`, `usage_daily`, `usage_pending`,
//!   `purge_progress`, `alerts`, `alert_settings`, `alert_deliveries`; and
//!   `companies` by its `id`, the tenant key itself;
//! - reference table (small, read everywhere): `plans`.
//!
//! Two lookups do not know the company yet and would fan out to every shard:
//! a token by digest and a company by key digest (both indexed). Platform rows
//! (OWNER accounts and the platform audit chain) use the all-zero company id
//! and land on one shard.
//!
//! # Concurrency
//!
//! - Audit appends lock their chain's head row (`audit_heads`), so
//!   concurrent writers of one chain take turns and never fork it; the
//!   primary key `(company_id, seq)` refuses a reused sequence number.
//!   Triggers refuse `UPDATE`, `DELETE` and `TRUNCATE` on `audit_events`.
//! - Seat and storage limits are checked under a per-company advisory lock,
//!   so concurrent user creations or uploads never overshoot a plan.
//! - Activity batches travel in one statement (arrays through `UNNEST`),
//!   inserted with `ON CONFLICT DO NOTHING`; per-user advisory locks make
//!   the overlap check of the daily rollups see every earlier batch.
//! - The UTC dates an ingest touched are marked in `usage_pending` by the
//!   same statement (screenshots: the same transaction), each mark with a
//!   version the usage job compares before it clears the mark, so data
//!   arriving while the job computes keeps its date pending. Marks are
//!   upserted in date order, so concurrent batches of one company never
//!   deadlock on them.
//! - A partial unique index allows one open alert per company, kind and
//!   subject; a raise that loses the race reads the winner's alert.
//! - Policy versions and correction decisions are compare-and-set updates.
//! - A heartbeat writes its agent's rows, and moves the company's
//!   `last_sync_at` at most once a second: every agent of a company shares
//!   that row, and writing it on each heartbeat would queue them all on
//!   its lock.
//!
//! # Latency over TCP
//!
//! sqlx 0.9.0 opens TCP connections without `TCP_NODELAY` (sqlx issue
//! #4335, fixed upstream after that release). A message larger than about
//! 32 KiB, such as an activity batch of a hundred events or more, then
//! waits about 40 ms for the server's delayed acknowledgement: on the
//! benchmark machine a batch of 100 events took 44 ms over `127.0.0.1` and
//! 2.1 ms over the Unix socket (BENCHMARKS.md). When the database runs on
//! the same machine, connect through its socket
//! (`postgres://user@localhost/db?host=/var/run/postgresql`); a sqlx release
//! with the fix removes the stall everywhere with `cargo update`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod codec;
mod error;
mod ingest;
mod store;
#[cfg(feature = "testing")]
pub mod testing;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use tracker_core::CompanyId;

pub use crate::error::PgError;

/// The migrations of this crate, as written in `migrations/`. Runs in the
/// current schema with sqlx's default history table; [`migrator`] places
/// both in a schema of their own, as the store does.
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// The migrations with their history table in `schema`, creating the schema
/// first if it is missing. Run it on connections whose `search_path` starts
/// with `schema` (as the store's own are), so the tables land there too.
pub fn migrator(schema: &str) -> Result<Migrator, PgError> {
    check_schema_name(schema)?;
    let mut m = Migrator::with_migrations(MIGRATOR.iter().cloned().collect());
    m.create_schema(schema.to_owned());
    m.dangerous_set_table_name(format!("\"{schema}\"._sqlx_migrations"));
    Ok(m)
}

/// Settings of the store and its connection pool.
#[derive(Debug, Clone)]
pub struct PgConfig {
    /// The schema holding every table of the store and its migration
    /// history: lowercase ASCII letters, digits and `_`, starting with a
    /// letter, at most 63 bytes. Default `tracker`.
    pub schema: String,
    /// Apply pending migrations on connect. Default true.
    pub run_migrations: bool,
    /// Most connections the pool opens. Default 16.
    pub max_connections: u32,
    /// Connections the pool keeps open when idle. Default 0.
    pub min_connections: u32,
    /// How long a call waits for a free connection before failing.
    /// Default 5 s.
    pub acquire_timeout: Duration,
    /// Idle connections are closed after this long. Default 10 min.
    pub idle_timeout: Option<Duration>,
    /// Connections are replaced after this long. Default 30 min.
    pub max_lifetime: Option<Duration>,
    /// The server cancels a statement running longer than this
    /// (`statement_timeout`). Default 30 s.
    pub statement_timeout: Option<Duration>,
    /// The server fails a statement waiting longer than this for a lock
    /// (`lock_timeout`). Default 10 s.
    pub lock_timeout: Option<Duration>,
    /// `application_name` shown in `pg_stat_activity`. Default `tracker`.
    pub application_name: String,
}

impl Default for PgConfig {
    fn default() -> Self {
        Self {
            schema: "tracker".to_owned(),
            run_migrations: true,
            max_connections: 16,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(5),
            idle_timeout: Some(Duration::from_secs(600)),
            max_lifetime: Some(Duration::from_secs(1800)),
            statement_timeout: Some(Duration::from_secs(30)),
            lock_timeout: Some(Duration::from_secs(10)),
            application_name: "tracker".to_owned(),
        }
    }
}

fn check_schema_name(schema: &str) -> Result<(), PgError> {
    let ok = schema.len() <= 63
        && schema.starts_with(|c: char| c.is_ascii_lowercase())
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(PgError::InvalidSchema {
            schema: schema.to_owned(),
        })
    }
}

/// Every storage port of `tracker-core` on PostgreSQL. Cheap to share
/// behind an `Arc`; the pool inside is shared by every call.
pub struct PgStore {
    pool: PgPool,
    schema: String,
    /// Company timezones for cutting rollup days. A cached name is checked
    /// by the ingest statement itself, so a stale entry is never used.
    timezones: Mutex<HashMap<CompanyId, ingest::CompanyZone>>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("schema", &self.schema)
            .field("pool_size", &self.pool.size())
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to the database at `url` (a `postgres://` URL) with
    /// `config`, and applies pending migrations unless told not to.
    pub async fn connect(url: &str, config: PgConfig) -> Result<Self, PgError> {
        let options: PgConnectOptions = url.parse().map_err(PgError::Connect)?;
        Self::connect_with(options, config).await
    }

    /// Like [`connect`](Self::connect), with connection options built by the
    /// caller (TLS files, a socket, a password from a secret store…).
    pub async fn connect_with(
        options: PgConnectOptions,
        config: PgConfig,
    ) -> Result<Self, PgError> {
        check_schema_name(&config.schema)?;
        let mut settings = vec![("search_path", format!("\"{}\"", config.schema))];
        if let Some(t) = config.statement_timeout {
            settings.push(("statement_timeout", t.as_millis().to_string()));
        }
        if let Some(t) = config.lock_timeout {
            settings.push(("lock_timeout", t.as_millis().to_string()));
        }
        let options = options
            .application_name(&config.application_name)
            .options(settings);
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .min_connections(config.min_connections)
            .acquire_timeout(config.acquire_timeout)
            .idle_timeout(config.idle_timeout)
            .max_lifetime(config.max_lifetime)
            .connect_with(options)
            .await
            .map_err(PgError::Connect)?;
        if config.run_migrations {
            migrator(&config.schema)?
                .run(&pool)
                .await
                .map_err(PgError::Migrate)?;
        }
        Ok(Self {
            pool,
            schema: config.schema,
            timezones: Mutex::new(HashMap::new()),
        })
    }

    /// The connection pool (every connection has the store's schema first
    /// on its `search_path`).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The schema holding the store's tables.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Whether the database answers (for readiness probes).
    pub async fn ping(&self) -> Result<(), PgError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(PgError::Database)
    }

    /// Drops the store's schema with every table in it, then closes the
    /// pool. Irreversible: for tests and teardown scripts.
    pub async fn drop_schema(&self) -> Result<(), PgError> {
        let sql = format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.schema);
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&self.pool)
            .await
            .map_err(PgError::Database)?;
        self.pool.close().await;
        Ok(())
    }

    /// Closes every connection, waiting for calls in flight.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_checked() {
        for ok in ["tracker", "t", "tracker_2", &"a".repeat(63)] {
            assert!(check_schema_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Tracker",
            "1tracker",
            "_t",
            "tr-acker",
            "t\"; DROP",
            &"a".repeat(64),
        ] {
            assert!(
                matches!(check_schema_name(bad), Err(PgError::InvalidSchema { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_migrator_keeps_its_history_in_the_schema() {
        let m = migrator("tenant_data").unwrap();
        assert_eq!(m.table_name, "\"tenant_data\"._sqlx_migrations");
        assert_eq!(m.create_schemas.as_ref(), ["tenant_data"]);
        assert_eq!(m.iter().count(), MIGRATOR.iter().count());
        assert!(migrator("Bad").is_err());
    }
}
