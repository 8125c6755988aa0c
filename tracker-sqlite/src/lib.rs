//! The embedded default store of `tracker`: every storage port of
//! `tracker-core` on SQLite (bundled, so no system library is needed), in a
//! file or in memory.
//!
//! ```
//! use tracker_core::{Argon2Hasher, Tracker};
//! use tracker_sqlite::SqliteStore;
//!
//! # futures::executor::block_on(async {
//! let dir = tempfile::tempdir().unwrap();
//! let store = SqliteStore::open(dir.path().join("tracker.db"))?;
//! let tracker = Tracker::builder(store)
//!     .password_hasher(Argon2Hasher::insecure_fast())
//!     .build();
//! let plans = tracker.ensure_default_plans().await?;
//! assert_eq!(plans.len(), 3);
//! # Ok::<(), tracker_core::Error>(())
//! # }).unwrap();
//! ```
//!
//! [`SqliteStore`] implements every port, so a `Tracker` runs on it as is.
//! Open a file with [`SqliteStore::open`] (or [`SqliteStore::open_with`]
//! and [`SqliteOptions`]), or a private database with
//! [`SqliteStore::open_in_memory`]. The schema is applied on open; a
//! database written by a newer version is refused with
//! [`SqliteError::SchemaTooNew`]. Dropping the store commits what is
//! queued and closes the file.
//!
//! What to know before you run it:
//!
//! - **Every acknowledged write is committed**, heartbeats included, unless
//!   you set [`SqliteOptions::heartbeat_delay`] above zero: heartbeats are
//!   then answered before their commit, and a crash loses those of the last
//!   delay (the agents send them again within minutes).
//! - **One thread writes.** Writes queue to it and commit together, many
//!   to a transaction; scans run on reader threads, key lookups on the
//!   calling thread, so the async executor runs no query longer than a
//!   key lookup.
//! - **Another process may open the same file** (a backup tool, a second
//!   store): its commits are seen within 100 ms.
//!
//! Below: where each part lives in the source, then the operational
//! detail: how the threads share the work
//! ([Concurrency model](#concurrency-model)) and the [schema](#schema).
//!
//! # Where to look
//!
//! | Source | What it holds |
//! |---|---|
//! | `store/` | one module per port, named as in `tracker_core::store` (`tenants`, `users`, `agents`, `tracking`, …) |
//! | `beats.rs` | the heartbeat protocol: check, hold, write with the writer's next group |
//! | `contexts.rs` | the token contexts kept in memory between requests |
//! | `rollup.rs` | activity ingest (owner keys, strings stored once, per-day rollups and usage sums), and their repair after a purge |
//! | `rows.rs`, `sql.rs` | the SQL the ports share: audit appends, usage marks, key lookups; statement helpers and the `Query` builder |
//! | `engine/` | threads and connections: `writer` (group commit), `readers`, `checkpointer` |
//! | `codec.rs`, `error.rs`, `migrations.rs` | column encodings, [`SqliteError`], the schema (`migrations/*.sql`) |
//!
//! Imports only point down this table: a port module uses what is below
//! it, `rows` and `sql` know no port, and `engine` runs closures without
//! knowing what they query.
//!
//! # Concurrency model
//!
//! - **One writer thread** owns the only read-write connection. Writes are
//!   queued to it; it takes everything queued at that moment (up to
//!   [`SqliteOptions::max_group`] jobs), runs each job in a savepoint of one
//!   `BEGIN IMMEDIATE` transaction, commits once, and only then answers
//!   each caller (group commit). A job that fails rolls back its own
//!   changes only; a failed commit fails every job of the group, and
//!   nothing of it is stored. So every acknowledged write is committed
//!   (heartbeats too, unless they are held: below), and one commit serves
//!   many callers. A group holds at most one heavy job (an activity batch,
//!   a purge step), and two groups in a row never both do, so a write
//!   queued behind batches waits for at most one of them.
//! - **Heartbeats skip the queue.** They are most of the writes of an
//!   agent fleet, and each replaces the agent's last one. A heartbeat's
//!   user is checked in memory (a request looked its token up first) and
//!   the heartbeat is held, replacing one of the same agent; the writer
//!   takes every held heartbeat at once and writes them ahead of its next
//!   group's jobs, in the group's transaction. By default each caller is
//!   answered after the commit that wrote its heartbeat, like every other
//!   write. With [`SqliteOptions::heartbeat_delay`] above zero a heartbeat
//!   is answered once it is held, and the writer writes the held
//!   heartbeats once the oldest has waited the delay, or sooner, ahead of
//!   any write that may read them (all but the tracking writes: sessions,
//!   batches, purge steps). Every read first waits for the held heartbeats
//!   to commit, so a caller never reads less than it was told is recorded.
//!   A crash of the process then loses the heartbeats of the last delay,
//!   which the agents send again within minutes; closing the store writes
//!   them. In return a heartbeat never waits behind an activity batch, and
//!   a thousand agents cost one commit per delay.
//! - **A checkpointer thread** copies committed WAL frames into the database
//!   file (a `PASSIVE` checkpoint, at most every 100 ms, after commits; the
//!   writer wakes it once per interval, not once per commit), so the
//!   writer's commits only append to the WAL and never wait for the
//!   file's sync. Should it fall behind, the writer checkpoints by itself
//!   once the WAL passes 16,384 pages.
//! - **A pool of reader threads** ([`SqliteOptions::readers`], default 4),
//!   each with a read-only connection, serves every read that scans (lists,
//!   reports, exports) from WAL snapshots while the writer works, so those
//!   never block the async executor.
//! - **Key lookups** (a token, a user, a company, a plan, a policy: a few
//!   index pages each) run on the calling thread with a pooled read-only
//!   connection. They take microseconds, less than the hop to a reader
//!   thread and back would.
//! - **Token contexts stay in memory.** Every authenticated request asks
//!   for its token's context (`token_context`: the token, its user, company
//!   and policy). The store keeps those rows between requests and drops
//!   them all whenever a commit may have changed tokens, users, companies,
//!   plans or policies: the writer counts such commits after they commit
//!   and before it answers, so a request that follows a revocation, a
//!   suspension, a key rotation or a policy change never sees the old rows.
//!   Heartbeats change the user's and the company's sync times on every
//!   call; they patch the rows in memory instead, in the order they are
//!   recorded.
//!   Commits made to the file by another connection (another process, or a
//!   second store on the same file) are noticed through
//!   `PRAGMA data_version` before the writer's next group and within 100 ms
//!   when it is idle.
//!
//! An in-memory database has a single connection, so the writer serves its
//! reads too.
//!
//! The database runs in WAL mode with foreign keys on, `synchronous=NORMAL`,
//! a busy timeout, a page cache sized by [`SqliteOptions::cache_mib`] and
//! reads through a memory map of [`SqliteOptions::mmap_mib`].
//!
//! # Schema
//!
//! The schema ships in `migrations/` and is applied on open with
//! `rusqlite_migration` (forward only). A database written by a newer
//! version is refused with [`SqliteError::SchemaTooNew`]. Every tenant table
//! leads its key with `company_id`; audit rows cannot be updated or deleted
//! (triggers abort the statement). Activity events are the exception to
//! the company-led keys: they are stored per user under a small owner key
//! (`activity_owners`, which names the company and user), in start order,
//! with their apps, titles and URLs stored once per company
//! (`activity_texts`); every read goes through the owner's company. Besides
//! the tables of the ports' records the schema keeps `activity_daily`
//! (per-user day rollups, so reports do not sum every event),
//! `activity_usage` (active time per user, day, app and website domain, for
//! app and website reports), `usage_pending` (the UTC dates the usage job must
//! recompute, marked by the transaction that changed them) and
//! `purge_progress` (so a retention purge stopped by a crash resumes).
//! What each migration changes, and why, is noted in `src/migrations.rs`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod beats;
mod codec;
mod contexts;
mod engine;
mod error;
mod migrations;
mod rollup;
mod rows;
mod sql;
mod store;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use error::SqliteError;
pub use migrations::SCHEMA_VERSION;

use engine::{Engine, Location, Tuning};

/// Settings of a [`SqliteStore`].
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Reader threads for a file database (default 4).
    pub readers: usize,
    /// How long a connection waits for a lock held by another process (default 5 s).
    pub busy_timeout: Duration,
    /// Page cache per connection, in MiB (default 8). Reads go through the
    /// memory map ([`mmap_mib`](Self::mmap_mib)), whose pages are the
    /// operating system's file cache rather than the process's memory, so
    /// the cache mostly serves the writer; raise it for write-heavy
    /// databases of many gigabytes.
    pub cache_mib: i64,
    /// Most write jobs committed together (default 512).
    pub max_group: usize,
    /// Cap on the database size in MiB (default none). Writes that would
    /// grow it further fail with [`SqliteError::DiskFull`], as on a full disk.
    pub max_db_mib: Option<u64>,
    /// Bytes of the database file each connection reads through a memory
    /// map, in MiB (default 1024; 0 turns it off). The map only reserves
    /// address space: pages come from the operating system's file cache.
    pub mmap_mib: u64,
    /// Longest a heartbeat is held before it is written (default zero:
    /// the writer takes it at once, and it is answered after its commit,
    /// like every other write). Above zero, a heartbeat is answered once
    /// it is checked; the writer writes the held heartbeats when the
    /// oldest has waited this long, or sooner ahead of a write that may
    /// read them, and a held heartbeat replaces an older one of the same
    /// agent. Every read of the store sees it at once. A crash of the
    /// process loses the heartbeats of this last moment (the agents send
    /// their next one within minutes); closing the store writes them. For
    /// fleets whose heartbeats are most of the writes, 50 ms is a fair
    /// choice, and the reference server's default: on two cores it lets
    /// heartbeats reach about twice the rate of committing each first.
    pub heartbeat_delay: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            readers: 4,
            busy_timeout: Duration::from_secs(5),
            cache_mib: 8,
            max_group: 512,
            max_db_mib: None,
            mmap_mib: 1024,
            heartbeat_delay: Duration::ZERO,
        }
    }
}

impl SqliteOptions {
    fn tuning(&self) -> Tuning {
        Tuning {
            readers: self.readers,
            busy_timeout: self.busy_timeout,
            cache_kib: self.cache_mib.max(1) * 1024,
            max_group: self.max_group,
            max_db_mib: self.max_db_mib,
            mmap_bytes: i64::try_from(self.mmap_mib.saturating_mul(1024 * 1024))
                .unwrap_or(i64::MAX),
        }
    }
}

/// The SQLite store. See the [crate docs](crate).
pub struct SqliteStore {
    engine: Engine,
    /// Token contexts between requests (patched by heartbeats).
    contexts: Arc<contexts::ContextCache>,
    /// Heartbeats on their way to the writer.
    beats: Arc<beats::Beats>,
    path: Option<PathBuf>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (or creates) the database file at `path` with default options,
    /// applying the schema.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, SqliteError> {
        Self::open_with(path, &SqliteOptions::default())
    }

    /// Opens (or creates) the database file at `path`.
    pub fn open_with(path: impl AsRef<Path>, options: &SqliteOptions) -> Result<Self, SqliteError> {
        let path = path.as_ref().to_owned();
        Self::at(Location::File(path.clone()), options, Some(path))
    }

    /// A new, empty in-memory database.
    pub fn open_in_memory() -> Result<Self, SqliteError> {
        Self::open_in_memory_with(&SqliteOptions::default())
    }

    /// A new, empty in-memory database with `options` (the reader and
    /// memory-map settings do not apply: one connection serves all).
    pub fn open_in_memory_with(options: &SqliteOptions) -> Result<Self, SqliteError> {
        Self::at(Location::Memory, options, None)
    }

    fn at(
        location: Location,
        options: &SqliteOptions,
        path: Option<PathBuf>,
    ) -> Result<Self, SqliteError> {
        let beats = Arc::new(beats::Beats::new(options.heartbeat_delay));
        let deferred: Arc<dyn engine::Deferred> = beats.clone();
        let engine = Engine::open(&location, &options.tuning(), Some(deferred))?;
        let contexts = contexts::ContextCache::new(engine.directory_version());
        Ok(Self {
            engine,
            contexts: Arc::new(contexts),
            beats,
            path,
        })
    }

    /// The database file, `None` in memory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}
