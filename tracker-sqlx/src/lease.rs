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
use sha2::{Digest, Sha256};
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
    /// The advisory lock key of `key`: advisory locks are database-wide,
    /// so the schema is part of it. 64 bits of SHA-256; a collision would
    /// only make two shares take turns.
    fn lock_key(&self, key: &LeaseKey) -> i64 {
        let digest = Sha256::new()
            .chain_update(b"tracker job lease\0")
            .chain_update(self.schema.as_bytes())
            .chain_update(b"\0")
            .chain_update(key.job.as_bytes())
            .chain_update(b"\0")
            .chain_update(key.company.as_uuid().as_bytes())
            .finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        i64::from_be_bytes(first)
    }
}

#[async_trait]
impl JobLeases for PgLeases {
    async fn try_lease(&self, key: &LeaseKey) -> Result<Option<Lease>> {
        let lock = self.lock_key(key);
        let mut conn = self.pool.acquire().await.map_err(db)?;
        let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(lock)
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
