//! Storage ports.
//!
//! One trait per concern, joined by [`Store`]. Each trait's docs are its
//! contract, written as sentences the [conformance kit](crate::testkit)
//! checks. Rules that hold for every trait:
//!
//! - Every method that touches tenant data takes the [`CompanyId`] and MUST
//!   only read or change rows of that company: an id of another company is
//!   answered as absent (`None`, an empty list, or
//!   [`Error::NotFound`]).
//! - Every audited mutation takes its [`NewAuditEvent`]
//!   and MUST write the change and the event in one transaction: both or
//!   neither. The traits are therefore not a menu to mix backends from:
//!   every trait that takes an audit event, and [`AuditStore`] itself,
//!   belong to one transactional store.
//! - Ingest methods MUST ignore a row whose (company, id) was already
//!   stored, and report it as a duplicate.
//! - Lists are ordered as each method says and paged with [`PageRequest`];
//!   the cursor is the key of the last item returned.
//!
//! # Required and provided methods
//!
//! Each collection has one required read, a list with a filter struct;
//! lookups by id or by another key, and "all" beside "a page of", are
//! provided methods over it. A store MAY override a provided method with a
//! faster one (the SQL stores do); the kit checks the method either way.
//! The required methods of all traits together are at most 50 (a unit
//! test counts them): an integrator implements the port in an afternoon.
//!
//! # Implementing your own store
//!
//! Implement every trait on one type; [`Store`] then comes for free and
//! [`Tracker`](crate::Tracker) runs on it. `tracker_core::async_trait` is
//! re-exported, so the port needs no other dependency. The
//! [`guide`](crate::guide) module holds a complete store of a few hundred
//! lines that passes the conformance kit.

use std::future::Future;

use crate::paging::MAX_LIMIT;

mod access;
mod agents;
mod alerts;
mod audit;
mod policy;
mod retention;
mod tasks;
mod teams;
mod tenants;
mod tracking;
mod usage;
mod users;

pub use crate::tracking::EventBatch;

// What the ports' signatures name, so a store compiles with
// `use tracker_core::store::*;` alone.
pub use crate::access::{AccessFilter, AccessKind, AccessRecord};
pub use crate::audit::{AuditChain, AuditEvent, NewAuditEvent};
pub use crate::error::{Error, Result};
pub use crate::identity::{Team, TokenRecord, User};
pub use crate::ids::*;
pub use crate::notify::{Alert, AlertFilter, AlertKind, AlertSettings, DeliveryRecord};
pub use crate::paging::{Page, PageRequest};
pub use crate::policy::TrackingPolicy;
pub use crate::secret::SecretHash;
pub use crate::tenancy::{Company, Plan, Subscription};
pub use crate::tracking::{ActivityEvent, AgentState, Screenshot, WorkSession};
pub use crate::work::{CompanyUsageDaily, CorrectionRequest, Task};
pub use access::AccessLogStore;
pub use agents::{AgentStore, ContextRows, TokenContext};
pub use alerts::AlertStore;
pub use audit::{AuditFilter, AuditStore};
pub use policy::PolicyStore;
pub use retention::{PurgeBatch, PurgeCounts, PurgeProgress, RetentionStore};
pub use tasks::{CorrectionFilter, CorrectionStore, TaskFilter, TaskStore};
pub use teams::TeamStore;
pub use tenants::{CompanyChange, CompanyFilter, NewCompany, TenantStore};
pub use tracking::{DayRollup, TrackingFilter, TrackingStore, UsageSum};
pub use usage::{PendingUsageDay, UsageStore, event_dates, utc_dates};
pub use users::{UserFilter, UserStore, UserUpdate};

#[cfg(test)]
pub use access::MockAccessLogStore;
#[cfg(test)]
pub use agents::MockAgentStore;
#[cfg(test)]
pub use alerts::MockAlertStore;
#[cfg(test)]
pub use audit::MockAuditStore;
#[cfg(test)]
pub use policy::MockPolicyStore;
#[cfg(test)]
pub use retention::MockRetentionStore;
#[cfg(test)]
pub use tasks::{MockCorrectionStore, MockTaskStore};
#[cfg(test)]
pub use teams::MockTeamStore;
#[cfg(test)]
pub use tenants::MockTenantStore;
#[cfg(test)]
pub use tracking::MockTrackingStore;
#[cfg(test)]
pub use usage::MockUsageStore;
#[cfg(test)]
pub use users::MockUserStore;

/// What an idempotent insert did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingested<T> {
    /// The stored row: the new one, or the one stored before.
    pub stored: T,
    /// Whether this call inserted it.
    pub inserted: bool,
}

/// Counts of a batch insert.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IngestCount {
    /// New rows.
    pub inserted: u64,
    /// Rows whose id was already stored.
    pub duplicates: u64,
}

/// Every page of a list, in order: what the provided "all of" methods are
/// made of.
pub async fn collect_pages<T, F, Fut>(mut list: F) -> Result<Vec<T>>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: Future<Output = Result<Page<T>>>,
{
    let mut all = Vec::new();
    let mut page = PageRequest::first(MAX_LIMIT);
    loop {
        let Page { items, next_cursor } = list(page).await?;
        all.extend(items);
        match next_cursor {
            Some(cursor) => page = PageRequest::after(cursor, MAX_LIMIT),
            None => return Ok(all),
        }
    }
}

/// Walks a list a page at a time, for lists too long to hold whole (an
/// archive, an erasure's digest): ask for [`next_page`](Self::next_page)
/// while it gives one, list it, and [`take`](Self::take) its items.
#[derive(Debug, Default)]
pub struct Pages {
    next: Option<PageRequest>,
    done: bool,
}

impl Pages {
    /// The next page to ask for; `None` once the last one was taken.
    pub fn next_page(&mut self) -> Option<PageRequest> {
        if self.done {
            return None;
        }
        Some(
            self.next
                .take()
                .unwrap_or_else(|| PageRequest::first(MAX_LIMIT)),
        )
    }

    /// The items of a page just read, noting where the next one starts.
    pub fn take<T>(&mut self, page: Page<T>) -> Vec<T> {
        match page.next_cursor {
            Some(cursor) => self.next = Some(PageRequest::after(cursor, MAX_LIMIT)),
            None => self.done = true,
        }
        page.items
    }
}

/// A complete store: access to every port, for the service to hold as
/// `Arc<dyn Store>`. Implemented for any type that implements every port.
/// Implementing the accessors by hand is for decorators and test doubles
/// that hand each call to one underlying store, not for mixing backends
/// (see the [module docs](self)).
pub trait Store: Send + Sync + 'static {
    /// Plans, companies and billing.
    fn tenants(&self) -> &dyn TenantStore;
    /// Users.
    fn users(&self) -> &dyn UserStore;
    /// Teams.
    fn teams(&self) -> &dyn TeamStore;
    /// Tokens, their context, heartbeats and agent states.
    fn agents(&self) -> &dyn AgentStore;
    /// Tracking policies.
    fn policies(&self) -> &dyn PolicyStore;
    /// The audit trail.
    fn audit(&self) -> &dyn AuditStore;
    /// Tracking ingest and reads.
    fn tracking(&self) -> &dyn TrackingStore;
    /// What the retention purge needs.
    fn retention(&self) -> &dyn RetentionStore;
    /// Usage aggregates and the days waiting for them.
    fn usage(&self) -> &dyn UsageStore;
    /// Tasks.
    fn tasks(&self) -> &dyn TaskStore;
    /// Time corrections.
    fn corrections(&self) -> &dyn CorrectionStore;
    /// Alerts, their settings and webhook deliveries.
    fn alerts(&self) -> &dyn AlertStore;
    /// Who read whose tracking data.
    fn access(&self) -> &dyn AccessLogStore;
}

impl<T> Store for T
where
    T: TenantStore
        + UserStore
        + TeamStore
        + AgentStore
        + PolicyStore
        + AuditStore
        + TrackingStore
        + RetentionStore
        + UsageStore
        + TaskStore
        + CorrectionStore
        + AlertStore
        + AccessLogStore,
{
    fn tenants(&self) -> &dyn TenantStore {
        self
    }
    fn users(&self) -> &dyn UserStore {
        self
    }
    fn teams(&self) -> &dyn TeamStore {
        self
    }
    fn agents(&self) -> &dyn AgentStore {
        self
    }
    fn policies(&self) -> &dyn PolicyStore {
        self
    }
    fn audit(&self) -> &dyn AuditStore {
        self
    }
    fn tracking(&self) -> &dyn TrackingStore {
        self
    }
    fn retention(&self) -> &dyn RetentionStore {
        self
    }
    fn usage(&self) -> &dyn UsageStore {
        self
    }
    fn tasks(&self) -> &dyn TaskStore {
        self
    }
    fn corrections(&self) -> &dyn CorrectionStore {
        self
    }
    fn alerts(&self) -> &dyn AlertStore {
        self
    }
    fn access(&self) -> &dyn AccessLogStore {
        self
    }
}

// Every port must stay object safe.
const _: Option<&dyn Store> = None;
const _: Option<&dyn TenantStore> = None;
const _: Option<&dyn UserStore> = None;
const _: Option<&dyn TeamStore> = None;
const _: Option<&dyn AgentStore> = None;
const _: Option<&dyn PolicyStore> = None;
const _: Option<&dyn AuditStore> = None;
const _: Option<&dyn TrackingStore> = None;
const _: Option<&dyn RetentionStore> = None;
const _: Option<&dyn UsageStore> = None;
const _: Option<&dyn TaskStore> = None;
const _: Option<&dyn CorrectionStore> = None;
const _: Option<&dyn AlertStore> = None;
const _: Option<&dyn AccessLogStore> = None;

#[cfg(test)]
mod tests {
    /// The sources of every port, to count what an implementer must write.
    const PORTS: [&str; 12] = [
        include_str!("access.rs"),
        include_str!("agents.rs"),
        include_str!("alerts.rs"),
        include_str!("audit.rs"),
        include_str!("policy.rs"),
        include_str!("retention.rs"),
        include_str!("tasks.rs"),
        include_str!("teams.rs"),
        include_str!("tenants.rs"),
        include_str!("tracking.rs"),
        include_str!("usage.rs"),
        include_str!("users.rs"),
    ];

    /// A method is required when its signature ends in `;`, not a body.
    fn required(source: &str) -> usize {
        source
            .match_indices("    async fn ")
            .filter(|(at, _)| {
                let rest = &source[*at..];
                rest.find(';').unwrap_or(usize::MAX) < rest.find('{').unwrap_or(usize::MAX)
            })
            .count()
    }

    #[test]
    fn the_port_asks_at_most_fifty_methods() {
        assert_eq!(
            required("    async fn a(&self) -> R;\n    async fn b(&self) -> R {}"),
            1
        );
        let total: usize = PORTS.iter().map(|s| required(s)).sum();
        assert!(
            total <= 50,
            "{total} required methods; the design allows 50"
        );
    }
}
