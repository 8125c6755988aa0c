//! [`PgLeases`]: job leases as PostgreSQL advisory locks, so every node of
//! a cluster may run every job and each company's share of a job has one
//! runner at a time.
//!
//! A lease is a session-level `pg_try_advisory_lock` held by one pooled
//! connection for as long as the share runs. Released, it is unlocked and
//! the connection goes back to the pool; dropped without release (a
//! cancelled run), the connection is closed, which ends the lock with its
//! session. A node that dies ends its sessions the same way, so another
//! node's next run finds the work it left.

use async_trait::async_trait;
use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres};
use tracker_core::Result;
use tracker_core::lease::{JobLeases, Lease, LeaseHolder, LeaseKey};

use crate::PgStore;
use crate::error::db;

/// Job leases on the store's database, for
/// [`TrackerBuilder::job_leases`](tracker_core::TrackerBuilder::job_leases).
/// Stores in different schemas of one database never share a lease.
#[derive(Debug, Clone)]
pub struct PgLeases {
    pool: PgPool,
    schema: String,
}

impl PgStore {
    /// Job leases held as advisory locks on this store's database.
    pub fn job_leases(&self) -> PgLeases {
        PgLeases {
            pool: self.pool.clone(),
            schema: self.schema().to_owned(),
        }
    }
}

impl PgLeases {
    /// What the advisory lock key is hashed from: advisory locks are
    /// database-wide, so the schema is part of it.
    fn lock_name(&self, key: &LeaseKey) -> String {
        format!(
            "tracker job lease/{}/{}/{}",
            self.schema, key.job, key.company.0
        )
    }
}

#[async_trait]
impl JobLeases for PgLeases {
    async fn try_lease(&self, key: &LeaseKey) -> Result<Option<Lease>> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        // 64 bits of PostgreSQL's own text hash, as the seat and storage
        // locks are keyed; a collision would only make two shares take
        // turns.
        let (taken, lock): (bool, i64) = sqlx::query_as(
            "SELECT pg_try_advisory_lock(k), k FROM (SELECT hashtextextended($1, 0) AS k) l",
        )
        .bind(self.lock_name(key))
        .fetch_one(&mut *conn)
        .await
        .map_err(db)?;
        Ok(taken.then(|| {
            Lease::new(Box::new(PgHolder {
                conn: Some(conn),
                lock,
            }))
        }))
    }
}

struct PgHolder {
    conn: Option<PoolConnection<Postgres>>,
    lock: i64,
}

impl Drop for PgHolder {
    fn drop(&mut self) {
        // Not released: close the session rather than pool a connection
        // that still holds the lock.
        if let Some(conn) = self.conn.as_mut() {
            conn.close_on_drop();
        }
    }
}

#[async_trait]
impl LeaseHolder for PgHolder {
    async fn release(mut self: Box<Self>) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        let unlocked = sqlx::query_scalar::<_, bool>("SELECT pg_advisory_unlock($1)")
            .bind(self.lock)
            .fetch_one(&mut *conn)
            .await;
        if !matches!(unlocked, Ok(true)) {
            conn.close_on_drop();
        }
    }
}
