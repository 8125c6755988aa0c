//! Heartbeats written together: every heartbeat that arrives while the
//! previous write is in flight goes into the next one, as one statement.
//!
//! Heartbeats are most of a fleet's writes, and each was a statement and
//! a commit of its own. One writer task per store takes what has queued
//! (at most [`MAX_BATCH`]) and writes it in one statement; each caller is
//! answered when that statement has committed, so a heartbeat is durable
//! before its answer as before. Under light load a batch is one heartbeat
//! and costs a channel hop; under heavy load batches grow with the queue.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres};
use tokio::sync::{mpsc, oneshot};
use tracker_core::{AgentState, CompanyId, Error, Result, UserId};
use uuid::Uuid;

use crate::codec::int;
use crate::error::db;
use crate::scope::Scope;

/// Most heartbeats one statement writes.
const MAX_BATCH: usize = 1_000;

/// A heartbeat and who waits for its outcome: `Ok(true)` stored,
/// `Ok(false)` no such user of the company.
type Queued = (AgentState, oneshot::Sender<Result<bool>>);

/// The queue of a store's writer task, and the task.
pub(crate) struct Heartbeats {
    queue: mpsc::UnboundedSender<Queued>,
    writer: tokio::task::AbortHandle,
}

impl Heartbeats {
    /// Starts the writer task on the current runtime; it ends with the
    /// last sender.
    pub(crate) fn spawn(pool: PgPool, durable: bool, row_security: bool) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let writer = Writer {
            pool,
            durable,
            row_security,
        };
        let writer = tokio::spawn(writer.write_batches(rx)).abort_handle();
        Self { queue: tx, writer }
    }

    /// Stops the writer, which lets its connection go: the pool's close
    /// waits for every connection to come back.
    pub(crate) fn stop(&self) {
        self.writer.abort();
    }

    /// Records `state` with the next batch; whether the user is of the
    /// company.
    pub(crate) async fn record(&self, state: &AgentState) -> Result<bool> {
        let (done, outcome) = oneshot::channel();
        self.queue.send((state.clone(), done)).map_err(|_| gone())?;
        outcome.await.map_err(|_| gone())?
    }
}

/// The writer stops only when the store closes: the call may be made
/// again once a store is open (503, not 500).
fn gone() -> Error {
    Error::Unavailable {
        retry_after_secs: crate::error::RETRY_AFTER_SECS,
    }
}

/// The writer task's settings.
struct Writer {
    pool: PgPool,
    durable: bool,
    row_security: bool,
}

impl Writer {
    /// One batch in flight at a time: with two, batches of one node fought
    /// over the same rows and heartbeats fell from 10,400/s to 7,900/s.
    async fn write_batches(self, mut queue: mpsc::UnboundedReceiver<Queued>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        // The writer's own connection, kept between batches (its scope is
        // entered once); a failed batch lets it go.
        let mut conn = None;
        while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
            let states: Vec<&AgentState> = batch.iter().map(|(s, _)| s).collect();
            let written = self.write(&mut conn, &states).await;
            if written.is_err() {
                conn = None;
            }
            match written {
                Ok(found) => {
                    for (state, done) in batch.drain(..) {
                        let key = (state.company_id, state.user_id);
                        let _ = done.send(Ok(found.contains(&key)));
                    }
                }
                Err(e) => {
                    for (_, done) in batch.drain(..) {
                        let _ = done.send(Err(shared(&e)));
                    }
                }
            }
        }
    }

    /// Writes the batch in one call of migration 7's `record_heartbeats`
    /// (the last heartbeat of a user wins); the users found, each of their
    /// company.
    async fn write(
        &self,
        conn: &mut Option<PoolConnection<Postgres>>,
        states: &[&AgentState],
    ) -> Result<BTreeSet<(CompanyId, UserId)>> {
        // In key order: the function locks rows in the order given, so
        // writers of several nodes never deadlock.
        let latest: BTreeMap<(Uuid, Uuid), &AgentState> = states
            .iter()
            .map(|s| ((s.company_id.0, s.user_id.0), *s))
            .collect();
        let column = |f: fn(&AgentState) -> Uuid| latest.values().map(|s| f(s)).collect::<Vec<_>>();
        let query = sqlx::query_as::<_, (Uuid, Uuid)>(
            "SELECT company_id, user_id FROM record_heartbeats($1, $2, $3, $4, $5, $6)",
        )
        .bind(column(|s| s.company_id.0))
        .bind(column(|s| s.user_id.0))
        .bind(
            latest
                .values()
                .map(|s| s.last_heartbeat_at)
                .collect::<Vec<_>>(),
        )
        .bind(
            latest
                .values()
                .map(|s| s.policy_version.map(int))
                .collect::<Vec<_>>(),
        )
        .bind(
            latest
                .values()
                .map(|s| s.agent_version.clone())
                .collect::<Vec<_>>(),
        )
        .bind(self.durable);
        // The batch crosses companies: the platform's scope (see `scope`).
        let conn = match conn {
            Some(conn) => conn,
            None => {
                let mut fresh = self.pool.acquire().await.map_err(db)?;
                if self.row_security {
                    Scope::Platform.enter(&mut fresh).await?;
                }
                conn.insert(fresh)
            }
        };
        let rows = query.fetch_all(&mut **conn).await.map_err(db)?;
        Ok(rows
            .into_iter()
            .map(|(c, u)| (CompanyId(c), UserId(u)))
            .collect())
    }
}

/// The same failure for each waiter of a batch.
fn shared(e: &Error) -> Error {
    match e {
        Error::Unavailable { retry_after_secs } => Error::Unavailable {
            retry_after_secs: *retry_after_secs,
        },
        other => Error::Storage {
            backend: "postgres",
            source: other.to_string().into(),
        },
    }
}
