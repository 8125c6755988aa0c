//! The scale-out store of `tracker`: every storage port of `tracker-core`
//! on PostgreSQL through sqlx, for many stateless nodes sharing one
//! database.
//!
//! Connect a [`PgStore`] and hand it to the service; it creates its schema
//! and applies its migrations on the way:
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
//! [`PgConfig`] sizes the pool and names the schema; [`migrator`] runs the
//! migrations from a deployment's own flow instead; the `testing` feature
//! adds `testing::TestStore`, a store in a fresh schema for tests.
//!
//! # Where to look
//!
//! One module per port of `tracker_core::store`, over a layer of helpers
//! that never calls back into them:
//!
//! | module | what it holds |
//! |---|---|
//! | `store::{tenants, users, teams, agents, policy, audit}` | plans and companies, users and owners, teams, tokens and heartbeats, policies, the audit trail |
//! | `store::{tracking, retention, usage, tasks, alerts}` | sessions, events and screenshots, the retention purge, usage aggregates and marks, tasks and corrections, alerts |
//! | `ingest` | the one-statement activity ingest with its daily rollups |
//! | `tx`, `chain`, `shared` | the transaction frame and advisory locks, the audit append, statements several ports share |
//! | `sql`, `codec`, `zones` | query building and paging, row decoding, the timezone cache |
//! | `config`, `connect`, `error` | [`PgConfig`] and the migrations, [`PgStore`] itself, [`PgError`] |
//! | `lease` | [`PgLeases`]: job leases as advisory locks, for many nodes |
//! | `scope`, `contexts`, `beats` | row-level security's scope of each call, the token context cache, the heartbeat writer |
//!
//! Every write of more than one statement runs in one transaction
//! (`PgStore::in_tx`; the ingest frames its own, to retry), so an audited
//! change and its audit event commit together or not at all.
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
//!   `teams`, `policies`, `audit_events`, `audit_heads`,
//!   `audit_checkpoints`, `agent_states`,
//!   `work_sessions`, `activity_events`, `activity_daily`, `screenshots`,
//!   `tasks`, `corrections`, `usage_daily`, `usage_pending`,
//!   `purge_progress`, `alerts`, `alert_settings`, `alert_deliveries`; and
//!   `companies` by its `id`, the tenant key itself;
//! - reference table (small, read everywhere): `plans`.
//!
//! Two lookups do not know the company yet and would fan out to every shard:
//! a token by digest and a company by key digest (both indexed). Platform rows
//! (OWNER accounts and the platform audit chain) use the all-zero company id
//! and land on one shard. What is not a row of a table stays on the
//! coordinator: the `usage_mark_seq` sequence (a mark's version only has
//! to be new, so per-shard sequences would do as well), the job leases'
//! advisory locks and the `tracker_directory` channel.
//!
//! # Several nodes
//!
//! Any number of stateless nodes may share one database and schema:
//!
//! - Jobs: [`PgStore::job_leases`] gives each company's share of a job to
//!   one node at a time (session advisory locks, released when the share
//!   is done or its node's connection ends), so every node may run every
//!   job; hand them to `TrackerBuilder::job_leases`.
//! - Tokens: each node keeps tokens' contexts (token, user, company,
//!   policy) in memory for at most [`PgConfig::token_cache`], so an
//!   authenticated request reads nothing from the database. Triggers
//!   (migration 6) announce every change of those rows on the channel
//!   `tracker_directory` at commit, and each node's listener forgets that
//!   company's contexts: a sign-out, deactivation, password change, key
//!   rotation or suspension made on one node is refused on the others
//!   within the notification's delivery (about 2 ms between two nodes on
//!   one machine; the test allows 1 s). A node whose listener is not
//!   connected caches nothing, and drops what it held when the
//!   connection is lost. A heartbeat patches its own node's copy; other
//!   nodes show its sync time once their copy expires.
//! - Timezones: each node caches company timezones; the ingest statement
//!   checks the cached name, so a change made elsewhere is never missed.
//!
//! # Row-level security
//!
//! Every query names its company already; migration 8 adds a second wall.
//! Each tenant table has a policy that admits only the rows of the company
//! in the setting `tracker.scope` (or every row when it says `platform`).
//! With [`PgConfig::row_security_role`] the store's connections work as
//! that role (`SET ROLE`), which owns nothing and so cannot pass the
//! policies, and every call names its scope: in the `BEGIN` of its
//! transaction, or in one statement before a read. A query that forgot its
//! company then still sees only that company's rows. The platform's own
//! reads across companies (company lists, lookups by token or key digest,
//! the heartbeat writer, the jobs' sweeps) name `platform`. The login user
//! must be a member of the role; the store grants the role the schema's
//! tables and sequences when it applies the migrations. The conformance
//! kit and the isolation attack run with it enforced, and a test runs
//! unscoped queries through the store's own connections.
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
//!   same statement (screenshots and approved corrections: the same
//!   transaction), each mark with a version from the `usage_mark_seq`
//!   sequence that the usage job compares before it clears the mark, so
//!   data arriving while the job computes keeps its date pending (migration
//!   5: versions restarted at 1 after a clear). Marks are
//!   upserted in date order, so concurrent batches of one company never
//!   deadlock on them.
//! - A partial unique index allows one open alert per company, kind and
//!   subject; a raise that loses the race reads the winner's alert.
//! - Policy versions and correction decisions are compare-and-set updates.
//! - Heartbeats are written together: one writer task per store takes
//!   every heartbeat queued while its last statement ran and writes them
//!   in one statement, locking rows in key order so writers of several
//!   nodes never deadlock; each caller is answered once that statement
//!   committed. A heartbeat moves the company's `last_sync_at` at most
//!   once a second: every agent of a company shares that row, and writing
//!   it on each heartbeat would queue them all on its lock.
//!
//! # Latency over TCP
//!
//! sqlx 0.9.0 opened TCP connections without `TCP_NODELAY` (sqlx issue
//! #4335): a message larger than about 32 KiB, such as an activity batch
//! of a hundred events, waited about 40 ms for the server's delayed
//! acknowledgement. This crate needs sqlx 0.9.1, which sets it again: on
//! the benchmark machine a batch of 100 events takes 2.7 ms over
//! `127.0.0.1` (44 ms before) and 2.1 ms over the Unix socket
//! (BENCHMARKS.md).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod beats;
mod chain;
mod codec;
mod config;
mod connect;
mod contexts;
mod error;
mod ingest;
mod lease;
mod scope;
mod shared;
mod sql;
mod store;
#[cfg(feature = "testing")]
pub mod testing;
mod tx;
mod zones;

pub use crate::config::{MIGRATOR, PgConfig, migrator};
pub use crate::connect::PgStore;
pub use crate::error::PgError;
pub use crate::lease::PgLeases;
