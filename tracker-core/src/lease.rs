//! Job leases: one runner at a time for each company's share of a
//! background job, on one node or many.
//!
//! Every node of a cluster may run every job. Before a job works on a
//! company it takes the lease on (job, company) with
//! [`JobLeases::try_lease`]; when another runner holds it, the job skips
//! that company for this run, and the holder finishes it. A lease ends
//! when its holder [releases](Lease::release) or drops it, and when the
//! holder dies: what it left undone is found by the next run on any node.
//!
//! [`LocalLeases`], the default of [`TrackerBuilder`](crate::TrackerBuilder),
//! serializes the runners that share it (a service and its clones), which is all a single-node store
//! needs. A store shared by several processes brings its own (the
//! PostgreSQL store's are advisory locks) through
//! [`TrackerBuilder::job_leases`](crate::TrackerBuilder::job_leases).
//!
//! ```
//! use tracker_core::lease::{JobLeases, LeaseKey, LocalLeases};
//! use tracker_core::CompanyId;
//!
//! # futures::executor::block_on(async {
//! let leases = LocalLeases::default();
//! let key = LeaseKey { job: "usage", company: CompanyId::new() };
//! let held = leases.try_lease(&key).await?.expect("nobody holds it");
//! assert!(leases.try_lease(&key).await?.is_none(), "one holder at a time");
//! held.release().await;
//! assert!(leases.try_lease(&key).await?.is_some());
//! # Ok::<(), tracker_core::Error>(())
//! # }).unwrap();
//! ```

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::error::Result;
use crate::ids::CompanyId;

/// What a lease is for: one job's share of one company.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LeaseKey {
    /// The job's name (`usage`, `expiry`, `retention`, `alerts`).
    pub job: &'static str,
    /// The company whose share it is.
    pub company: CompanyId,
}

/// Hands out leases, at most one holder per key at a time.
#[async_trait]
pub trait JobLeases: Send + Sync + 'static {
    /// Takes the lease on `key`, or answers `None` when another runner
    /// holds it. Never waits for the holder.
    async fn try_lease(&self, key: &LeaseKey) -> Result<Option<Lease>>;
}

/// What ends a lease, supplied by a [`JobLeases`] implementation.
#[async_trait]
pub trait LeaseHolder: Send {
    /// Ends the lease. Dropping the holder without calling this must end
    /// it too, at the latest when the process exits.
    async fn release(self: Box<Self>);
}

/// A held lease: released by [`release`](Self::release) or on drop.
#[must_use = "a lease is released when it is dropped"]
pub struct Lease(Option<Box<dyn LeaseHolder>>);

impl Lease {
    /// A lease that `holder` ends.
    pub fn new(holder: Box<dyn LeaseHolder>) -> Self {
        Self(Some(holder))
    }

    /// Ends the lease now, so another runner may take it at once.
    pub async fn release(mut self) {
        if let Some(holder) = self.0.take() {
            holder.release().await;
        }
    }
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Lease")
    }
}

/// Leases among the runners of one process. Clones share the leases.
#[derive(Debug, Clone, Default)]
pub struct LocalLeases {
    held: Arc<Mutex<HashSet<LeaseKey>>>,
}

struct LocalHolder {
    held: Arc<Mutex<HashSet<LeaseKey>>>,
    key: LeaseKey,
}

impl Drop for LocalHolder {
    fn drop(&mut self) {
        self.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.key);
    }
}

#[async_trait]
impl LeaseHolder for LocalHolder {
    async fn release(self: Box<Self>) {}
}

#[async_trait]
impl JobLeases for LocalLeases {
    async fn try_lease(&self, key: &LeaseKey) -> Result<Option<Lease>> {
        let taken = self
            .held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(*key);
        Ok(taken.then(|| {
            Lease::new(Box::new(LocalHolder {
                held: self.held.clone(),
                key: *key,
            }))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_lease_is_free_again_and_keys_are_independent() {
        futures::executor::block_on(async {
            let leases = LocalLeases::default();
            let (a, b) = (CompanyId::new(), CompanyId::new());
            let usage_a = LeaseKey {
                job: "usage",
                company: a,
            };
            let held = leases.try_lease(&usage_a).await.unwrap();
            assert!(held.is_some());
            for other in [
                LeaseKey {
                    job: "alerts",
                    company: a,
                },
                LeaseKey {
                    job: "usage",
                    company: b,
                },
            ] {
                assert!(leases.try_lease(&other).await.unwrap().is_some());
            }
            assert!(leases.clone().try_lease(&usage_a).await.unwrap().is_none());
            drop(held);
            assert!(leases.try_lease(&usage_a).await.unwrap().is_some());
        });
    }
}
