//! [`MemoryStore`]: a complete, faithful store in process memory.
//!
//! Every method takes one lock over the whole state, checks everything it
//! must refuse before it changes anything, and so is atomic like a
//! transaction. It passes the whole conformance kit; use it for tests,
//! demos and prototypes. Its data dies with the process.
//!
//! It implements only the required methods of each port, one file per
//! group of ports, so it doubles as the worked example of the
//! [guide](crate::guide): `people.rs` (tenants, users, teams, agents,
//! policies, audit), `tracking.rs` (tracking, retention, usage) and
//! `work.rs` (tasks, corrections, alerts).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, NaiveDate, Utc};

use crate::audit::{AuditChain, AuditEvent, Checkpoint, NewAuditEvent};
use crate::error::Result;
use crate::identity::{Team, TokenRecord, User};
use crate::ids::*;
use crate::notify::{Alert, AlertSettings, DeliveryRecord};
use crate::paging::{Page, PageRequest, encode_time_id};
use crate::policy::TrackingPolicy;
use crate::store::PurgeProgress;
use crate::tenancy::{Company, Plan, Subscription};
use crate::tracking::{ActivityEvent, AgentState, Screenshot, WorkSession};
use crate::work::{CompanyUsageDaily, CorrectionRequest, Task};

mod people;
mod tracking;
mod work;

#[derive(Default)]
pub(super) struct State {
    pub(super) plans: BTreeMap<PlanId, Plan>,
    pub(super) companies: BTreeMap<CompanyId, Company>,
    pub(super) subscriptions: Vec<Subscription>,
    pub(super) users: BTreeMap<UserId, User>,
    pub(super) tokens: HashMap<String, TokenRecord>,
    pub(super) teams: BTreeMap<TeamId, Team>,
    pub(super) policies: HashMap<CompanyId, TrackingPolicy>,
    pub(super) audit: BTreeMap<AuditChain, Vec<AuditEvent>>,
    pub(super) checkpoints: BTreeMap<AuditChain, Vec<Checkpoint>>,
    pub(super) agents: BTreeMap<(CompanyId, UserId), AgentState>,
    pub(super) sessions: BTreeMap<(CompanyId, WorkSessionId), WorkSession>,
    /// Keyed by user and id: event ids are unique per user.
    pub(super) activity: BTreeMap<(CompanyId, (UserId, ActivityId)), ActivityEvent>,
    pub(super) screenshots: BTreeMap<(CompanyId, ScreenshotId), Screenshot>,
    pub(super) tasks: BTreeMap<(CompanyId, TaskId), Task>,
    pub(super) corrections: BTreeMap<(CompanyId, CorrectionId), CorrectionRequest>,
    pub(super) usage: BTreeMap<(CompanyId, NaiveDate), CompanyUsageDaily>,
    pub(super) usage_pending: BTreeMap<(CompanyId, NaiveDate), u64>,
    /// The last mark's version: versions are never reused.
    pub(super) usage_marks: u64,
    pub(super) purges: HashMap<CompanyId, PurgeProgress>,
    pub(super) alerts: BTreeMap<(CompanyId, AlertId), Alert>,
    pub(super) access: BTreeMap<(CompanyId, uuid::Uuid), crate::access::AccessRecord>,
    pub(super) alert_settings: HashMap<CompanyId, AlertSettings>,
    pub(super) deliveries: BTreeMap<(CompanyId, DeliveryId), DeliveryRecord>,
}

impl State {
    pub(super) fn append(&mut self, event: NewAuditEvent) -> AuditEvent {
        let chain = self.audit.entry(event.chain).or_default();
        let linked = event.link(chain.last().map(AuditEvent::head).as_ref());
        chain.push(linked.clone());
        linked
    }

    pub(super) fn seats(&self, company: CompanyId) -> u32 {
        let n = self
            .users
            .values()
            .filter(|u| u.company_id == Some(company) && u.active)
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    pub(super) fn username_taken(&self, user: &User) -> bool {
        self.users.values().any(|u| {
            u.id != user.id && u.company_id == user.company_id && u.username == user.username
        })
    }

    pub(super) fn mark(&mut self, company: CompanyId, dates: impl IntoIterator<Item = NaiveDate>) {
        self.usage_marks += 1;
        for d in dates {
            self.usage_pending.insert((company, d), self.usage_marks);
        }
    }

    pub(super) fn storage(&self, company: CompanyId) -> u64 {
        self.screenshots
            .range((company, ScreenshotId::nil())..)
            .take_while(|((c, _), _)| *c == company)
            .map(|(_, s)| s.size_bytes)
            .sum()
    }
}

/// The in-memory store. See the [module docs](self).
#[derive(Default)]
pub struct MemoryStore {
    pub(super) state: Mutex<State>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        // Methods check before they mutate, so a panicked holder leaves a consistent state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub(super) fn in_company<K: Ord + Copy, V: Clone>(
    map: &BTreeMap<(CompanyId, K), V>,
    company: CompanyId,
) -> impl Iterator<Item = &V> {
    map.iter()
        .filter(move |((c, _), _)| *c == company)
        .map(|(_, v)| v)
}

/// Pages items already sorted by their (time, id) key.
pub(super) fn page_time_id<T: Clone>(
    mut items: Vec<&T>,
    page: &PageRequest,
    key: impl Fn(&T) -> (DateTime<Utc>, uuid::Uuid),
) -> Result<Page<T>> {
    let limit = page.limit()?;
    let after = page.after_time_id()?;
    items.sort_by_key(|t| key(t));
    let rest: Vec<T> = items
        .into_iter()
        .filter(|t| after.is_none_or(|a| key(t) > a))
        .take(limit + 1)
        .cloned()
        .collect();
    Ok(Page::from_overfetch(rest, limit, |t| {
        let (at, id) = key(t);
        encode_time_id(at, id)
    }))
}

/// Pages items by their uuid key.
pub(super) fn page_id<T: Clone>(
    mut items: Vec<&T>,
    page: &PageRequest,
    key: impl Fn(&T) -> uuid::Uuid,
) -> Result<Page<T>> {
    let limit = page.limit()?;
    let after = page.after_id()?;
    items.sort_by_key(|t| key(t));
    let rest: Vec<T> = items
        .into_iter()
        .filter(|t| after.is_none_or(|a| key(t) > a))
        .take(limit + 1)
        .cloned()
        .collect();
    Ok(Page::from_overfetch(rest, limit, |t| key(t).to_string()))
}
