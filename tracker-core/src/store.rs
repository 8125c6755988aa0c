//! Storage ports.
//!
//! Small capability traits, joined by [`Store`]. The contract of each method
//! is written as sentences the [conformance kit](crate::testkit) checks:
//!
//! - Every method that touches tenant data takes the [`CompanyId`] and MUST
//!   only read or change rows of that company: an id of another company is
//!   answered as absent (`None`, an empty list, or [`Error::NotFound`](crate::Error::NotFound)).
//! - Every audited mutation takes its [`NewAuditEvent`] and MUST write the
//!   change and the event in one transaction: both or neither.
//! - Appending to an audit chain MUST link the event after the current
//!   head of its chain ([`NewAuditEvent::link`]); concurrent appends MUST
//!   never fork a chain or reuse a sequence number.
//! - There is no method to change or delete an audit event.
//! - Ingest methods MUST ignore a row whose (company, id) was already
//!   stored, and report it as a duplicate.
//! - Lists are ordered as each method says and paged with
//!   [`PageRequest`]; the cursor is the key of the last item returned.
//!
//! # Implementing your own store
//!
//! Implement each capability trait; [`Store`] then comes for free for a type
//! that implements all of them. A store may also be assembled from parts by
//! implementing [`Store`]'s accessors, as long as every audited mutation
//! still writes its event into the same store's [`AuditStore`]. Here the
//! usage aggregates live in a store of their own (say, a warehouse) and the
//! rest in the memory store; the conformance kit (feature `testkit`) checks
//! the contract of any such assembly.
//!
//! ```
//! use std::{collections::BTreeMap, sync::{Arc, Mutex}};
//! use async_trait::async_trait;
//! use chrono::NaiveDate;
//! use tracker_core::{store::*, CompanyId, CompanyUsageDaily, MemoryStore, Result, Tracker};
//!
//! #[derive(Default)]
//! struct Warehouse(Mutex<BTreeMap<(CompanyId, NaiveDate), CompanyUsageDaily>>);
//!
//! #[async_trait]
//! impl UsageStore for Warehouse {
//!     async fn upsert_usage(&self, rows: &[CompanyUsageDaily]) -> Result<()> {
//!         let mut map = self.0.lock().unwrap();
//!         for r in rows {
//!             map.insert((r.company_id, r.date), r.clone());
//!         }
//!         Ok(())
//!     }
//!
//!     async fn list_usage(&self, company: Option<CompanyId>, from: NaiveDate, to: NaiveDate)
//!         -> Result<Vec<CompanyUsageDaily>> {
//!         let map = self.0.lock().unwrap();
//!         Ok(map.values()
//!             .filter(|r| company.is_none_or(|c| r.company_id == c))
//!             .filter(|r| r.date >= from && r.date <= to)
//!             .cloned()
//!             .collect())
//!     }
//! }
//!
//! struct Assembled { main: MemoryStore, usage: Warehouse }
//!
//! impl Store for Assembled {
//!     fn tenants(&self) -> &dyn TenantStore { &self.main }
//!     fn users(&self) -> &dyn UserStore { &self.main }
//!     fn policies(&self) -> &dyn PolicyStore { &self.main }
//!     fn audit(&self) -> &dyn AuditStore { &self.main }
//!     fn tracking(&self) -> &dyn TrackingStore { &self.main }
//!     fn work(&self) -> &dyn WorkStore { &self.main }
//!     fn usage(&self) -> &dyn UsageStore { &self.usage }
//!     fn alerts(&self) -> &dyn AlertStore { &self.main }
//! }
//!
//! // Any store, also behind `Arc<dyn Store>`, runs the same service.
//! let store: Arc<dyn Store> = Arc::new(Assembled { main: MemoryStore::new(), usage: Warehouse::default() });
//! let tracker: Tracker = Tracker::builder_shared(store).build();
//! let day = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
//! let rows = futures::executor::block_on(tracker.store().usage().list_usage(None, day, day)).unwrap();
//! assert!(rows.is_empty());
//! ```

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use crate::audit::{AuditAction, AuditChain, AuditEvent, NewAuditEvent};
use crate::error::Result;
use crate::identity::{Team, TokenRecord, User};
use crate::ids::*;
use crate::notify::{Alert, AlertFilter, AlertKind, AlertSettings, DeliveryRecord};
use crate::paging::{Page, PageRequest};
use crate::policy::TrackingPolicy;
use crate::secret::SecretHash;
use crate::tenancy::{Company, Plan, Subscription};
use crate::tracking::{ActivityEvent, AgentState, Screenshot, WorkSession};
use crate::work::{CompanyUsageDaily, CorrectionRequest, CorrectionStatus, Task, TaskStatus};

/// Everything a new company starts with, written in one transaction.
#[derive(Debug, Clone)]
pub struct NewCompany {
    /// The company.
    pub company: Company,
    /// Its default policy.
    pub policy: TrackingPolicy,
    /// Its first ADMIN.
    pub admin: User,
    /// The first billing row.
    pub subscription: Subscription,
}

/// A change of a company record, with its audit event.
#[derive(Debug, Clone)]
pub struct CompanyChange {
    /// The company as it must be stored.
    pub company: Company,
    /// A billing row to add (plan changes).
    pub subscription: Option<Subscription>,
    /// Refuse with `PlanTooSmall` if the active seats exceed this.
    pub max_seats: Option<u32>,
    /// Refuse with `PlanTooSmall` if stored screenshot bytes exceed this.
    pub max_storage_bytes: Option<u64>,
    /// The audit event.
    pub audit: NewAuditEvent,
}

impl CompanyChange {
    /// The limit rule every store applies inside its transaction, given the
    /// seats in use and the screenshot bytes stored there.
    pub fn check_limits(&self, seats_in_use: u32, storage_used: u64) -> Result<()> {
        if let Some(max) = self.max_seats
            && seats_in_use > max
        {
            return Err(crate::Error::PlanTooSmall {
                reason: format!("{seats_in_use} seats in use, the plan allows {max}"),
            });
        }
        if let Some(max) = self.max_storage_bytes
            && storage_used > max
        {
            return Err(crate::Error::PlanTooSmall {
                reason: format!("{storage_used} bytes stored, the plan allows {max}"),
            });
        }
        Ok(())
    }
}

/// Plans and companies.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait TenantStore: Send + Sync + 'static {
    /// Stores a plan. MUST fail with `AlreadyExists` if the code is taken.
    async fn insert_plan(&self, plan: &Plan, audit: NewAuditEvent) -> Result<()>;
    /// A plan by id.
    async fn get_plan(&self, id: PlanId) -> Result<Option<Plan>>;
    /// A plan by code.
    async fn plan_by_code(&self, code: &str) -> Result<Option<Plan>>;
    /// Every plan, by code.
    async fn list_plans(&self) -> Result<Vec<Plan>>;
    /// Stores a new company with its policy, first admin and subscription.
    /// MUST fail with `UsernameTaken` if the admin's username cannot be
    /// stored, leaving nothing behind.
    async fn insert_company(&self, new: &NewCompany, audit: NewAuditEvent) -> Result<()>;
    /// A company by id.
    async fn get_company(&self, id: CompanyId) -> Result<Option<Company>>;
    /// The company whose key has this digest.
    async fn company_by_key_hash(&self, key_hash: &SecretHash) -> Result<Option<Company>>;
    /// Companies ordered by id.
    async fn list_companies(&self, page: &PageRequest) -> Result<Page<Company>>;
    /// Every company, ordered by id (jobs, owner reports).
    async fn all_companies(&self) -> Result<Vec<Company>>;
    /// Replaces the company record (status, plan, key, retention…), adds the
    /// subscription row if any, after checking `max_seats` and
    /// `max_storage_bytes`. MUST fail with `NotFound` for an unknown company.
    async fn update_company(&self, change: &CompanyChange) -> Result<()>;
    /// The company's billing history, oldest first.
    async fn list_subscriptions(&self, company: CompanyId) -> Result<Vec<Subscription>>;
}

/// Filter of a user list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFilter {
    /// Only these users (a manager's scope).
    pub ids: Option<BTreeSet<UserId>>,
    /// Only active (or inactive) users.
    pub active: Option<bool>,
}

/// Options of a user update.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserUpdate {
    /// When the update makes the user hold a seat again, refuse with
    /// `SeatLimitReached` if this many seats are already held.
    pub seat_limit: Option<u32>,
    /// Delete every token of the user in the same transaction.
    pub revoke_tokens: bool,
}

/// Users, teams, tokens and agent heartbeats.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait UserStore: Send + Sync + 'static {
    /// Stores a user. MUST fail with `UsernameTaken` if the username exists
    /// in the same company (or among owners), and with `SeatLimitReached`
    /// if `seat_limit` is given and that many active company users exist.
    async fn insert_user(
        &self,
        user: &User,
        seat_limit: Option<u32>,
        audit: NewAuditEvent,
    ) -> Result<()>;
    /// A user of `company` (`None`: an owner) by id.
    async fn get_user(&self, company: Option<CompanyId>, id: UserId) -> Result<Option<User>>;
    /// A user of `company` (`None`: an owner) by normalized username.
    async fn user_by_username(
        &self,
        company: Option<CompanyId>,
        username: &str,
    ) -> Result<Option<User>>;
    /// Users of a company ordered by id.
    async fn list_users(
        &self,
        company: CompanyId,
        filter: &UserFilter,
        page: &PageRequest,
    ) -> Result<Page<User>>;
    /// Active users of a company: the seats in use.
    async fn count_seats(&self, company: CompanyId) -> Result<u32>;
    /// Whether any owner account exists.
    async fn has_owner(&self) -> Result<bool>;
    /// Replaces a user record (MUST fail with `NotFound` if it is not a
    /// user of its company), optionally revoking its tokens. The stored
    /// `last_agent_sync_at` is kept: only heartbeats move it, so an update
    /// made from an older read cannot take it back.
    async fn update_user(
        &self,
        user: &User,
        update: &UserUpdate,
        audit: NewAuditEvent,
    ) -> Result<()>;
    /// Stores a token digest.
    async fn insert_token(&self, token: &TokenRecord) -> Result<()>;
    /// A token by digest.
    async fn token_by_hash(&self, hash: &SecretHash) -> Result<Option<TokenRecord>>;
    /// A token by digest together with what every request of it needs: its
    /// user, the user's company and that company's policy (see
    /// [`TokenOwner`]). Every authenticated request starts here, so a store
    /// SHOULD read them together (one transaction, one round trip). `None`
    /// when the token is unknown.
    async fn token_owner(&self, hash: &SecretHash) -> Result<Option<TokenOwner>>;
    /// Deletes a token; deleting an unknown token is not an error.
    async fn delete_token(&self, hash: &SecretHash) -> Result<()>;
    /// Records a heartbeat: the agent state, the user's
    /// `last_agent_sync_at` and the company's `last_sync_at`. MUST fail
    /// with `NotFound` if the user is not of the company. A store MAY skip
    /// moving the company's `last_sync_at` forward by less than a second
    /// (every agent of the company writes that one row); such a store never
    /// moves it back.
    ///
    /// A store MAY answer before the heartbeat is durable (heartbeats are
    /// most of an agent fleet's writes, and each replaces the last), if
    /// every later read and write through it sees the heartbeat, it commits
    /// within a bounded delay and when the store is closed, and it says so:
    /// a crash may then lose the heartbeats of that delay.
    async fn record_heartbeat(&self, state: &AgentState) -> Result<()>;
    /// Agent states of a company, ordered by user id.
    async fn list_agent_states(&self, company: CompanyId) -> Result<Vec<AgentState>>;
    /// The agent state of one user of a company (`None` if it never sent a
    /// heartbeat, or is not of the company). Agents poll their own sync
    /// status through it. The provided version filters
    /// [`list_agent_states`](Self::list_agent_states); a store SHOULD read
    /// the one row instead.
    async fn agent_state(&self, company: CompanyId, user: UserId) -> Result<Option<AgentState>> {
        Ok(self
            .list_agent_states(company)
            .await?
            .into_iter()
            .find(|s| s.user_id == user))
    }
    /// Stores a team. MUST fail with `AlreadyExists` if the name is taken in the company.
    async fn insert_team(&self, team: &Team, audit: NewAuditEvent) -> Result<()>;
    /// A team of a company.
    async fn get_team(&self, company: CompanyId, id: TeamId) -> Result<Option<Team>>;
    /// Teams of a company ordered by name.
    async fn list_teams(&self, company: CompanyId) -> Result<Vec<Team>>;
    /// Replaces a team. MUST fail with `NotFound` if it is not of its company,
    /// `AlreadyExists` if the new name is taken.
    async fn update_team(&self, team: &Team, audit: NewAuditEvent) -> Result<()>;
    /// Deletes a team. MUST fail with `NotFound` if it is not of the company.
    async fn delete_team(&self, company: CompanyId, id: TeamId, audit: NewAuditEvent)
    -> Result<()>;
}

/// Tracking policies.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait PolicyStore: Send + Sync + 'static {
    /// The policy of a company.
    async fn get_policy(&self, company: CompanyId) -> Result<Option<TrackingPolicy>>;
    /// Replaces the policy of `policy.company_id`. MUST fail with
    /// `InvalidState` if the stored version is not `policy.version - 1`
    /// (a concurrent change won), and `NotFound` for an unknown company.
    async fn update_policy(&self, policy: &TrackingPolicy, audit: NewAuditEvent) -> Result<()>;
}

/// Filter of an audit list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only this action.
    pub action: Option<AuditAction>,
    /// Only this actor.
    pub actor: Option<UserId>,
    /// From this instant, included.
    pub from: Option<DateTime<Utc>>,
    /// Until this instant, excluded.
    pub to: Option<DateTime<Utc>>,
}

/// The audit trail: append and read, nothing else.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
    /// Appends an event to its chain and returns it linked.
    async fn append_audit(&self, event: NewAuditEvent) -> Result<AuditEvent>;
    /// Events of a chain ordered by seq, filtered.
    async fn list_audit(
        &self,
        chain: AuditChain,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>>;
    /// Up to `limit` events of a chain with seq greater than `after_seq`,
    /// ordered by seq (for verification).
    async fn read_chain(
        &self,
        chain: AuditChain,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<AuditEvent>>;
}

/// Filter of tracking lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackingFilter {
    /// Only these users; `None` is every user of the company.
    pub users: Option<BTreeSet<UserId>>,
    /// Items starting at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Items starting before this instant.
    pub to: Option<DateTime<Utc>>,
}

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

/// One user's recorded time on one local day, as a store keeps it in a
/// rollup (see [`TrackingStore::day_rollups`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DayRollup {
    /// User.
    pub user_id: UserId,
    /// Local date in the company's timezone.
    pub date: NaiveDate,
    /// Sum of active event time clipped to the day, in seconds.
    pub active_seconds: u64,
    /// Sum of idle event time clipped to the day, in seconds.
    pub idle_seconds: u64,
    /// Start of the first event of the day.
    pub first_seen: Option<DateTime<Utc>>,
    /// End of the last event of the day.
    pub last_seen: Option<DateTime<Utc>>,
    /// Whether no two events of the user overlap on that day, so the sums
    /// equal the interval union that reports use. When false, reports
    /// compute the day from its events.
    pub exact: bool,
}

/// Sessions, activity, screenshots.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait TrackingStore: Send + Sync + 'static {
    /// Inserts a session unless its id is stored for the company already;
    /// returns the stored one.
    async fn insert_session(&self, session: &WorkSession) -> Result<Ingested<WorkSession>>;
    /// A session of a company.
    async fn get_session(
        &self,
        company: CompanyId,
        id: WorkSessionId,
    ) -> Result<Option<WorkSession>>;
    /// Sets `stopped_at` if not set yet; returns the stored session.
    /// MUST fail with `NotFound` if it is not of the company.
    async fn stop_session(
        &self,
        company: CompanyId,
        id: WorkSessionId,
        stopped_at: DateTime<Utc>,
    ) -> Result<WorkSession>;
    /// Sessions ordered by (started_at, id).
    async fn list_sessions(
        &self,
        company: CompanyId,
        filter: &TrackingFilter,
        page: &PageRequest,
    ) -> Result<Page<WorkSession>>;
    /// Inserts events of one company in one transaction, ignoring ids
    /// already stored. Every event MUST have `company_id == company`.
    async fn insert_activity(
        &self,
        company: CompanyId,
        events: &[ActivityEvent],
    ) -> Result<IngestCount>;
    /// Events ordered by (started_at, id).
    async fn list_activity(
        &self,
        company: CompanyId,
        filter: &TrackingFilter,
        page: &PageRequest,
    ) -> Result<Page<ActivityEvent>>;
    /// Every event of the users that overlaps `[from, to)`, ordered by
    /// (started_at, id), for reports.
    async fn activity_between(
        &self,
        company: CompanyId,
        users: &Option<BTreeSet<UserId>>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ActivityEvent>>;
    /// Inserts screenshot metadata unless its id is stored; a new one MUST
    /// be refused with `StorageLimitReached` if the company's stored bytes
    /// plus its size exceed `storage_limit`.
    async fn insert_screenshot(
        &self,
        shot: &Screenshot,
        storage_limit: u64,
    ) -> Result<Ingested<Screenshot>>;
    /// A screenshot of a company.
    async fn get_screenshot(
        &self,
        company: CompanyId,
        id: ScreenshotId,
    ) -> Result<Option<Screenshot>>;
    /// Screenshots ordered by (taken_at, id).
    async fn list_screenshots(
        &self,
        company: CompanyId,
        filter: &TrackingFilter,
        page: &PageRequest,
    ) -> Result<Page<Screenshot>>;
    /// Bytes of screenshots stored by a company.
    async fn storage_used(&self, company: CompanyId) -> Result<u64>;

    /// Work sessions of a company not stopped yet, ordered by (started_at, id)
    /// (the agent-offline alert).
    async fn open_sessions(&self, company: CompanyId) -> Result<Vec<WorkSession>>;

    /// Up to `limit` screenshots of a company taken before `before`,
    /// ordered by (taken_at, id): the retention purge deletes their blobs
    /// before it deletes them with [`purge_tracking`](Self::purge_tracking).
    async fn screenshots_before(
        &self,
        company: CompanyId,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Screenshot>>;

    /// One bounded step of a retention purge, in one transaction: deletes
    /// the listed screenshots (only those taken before `batch.before`), up
    /// to `batch.limit` activity events that ended by `batch.before`, up to
    /// `batch.limit` sessions that started before `batch.before` and are
    /// stopped by then or were never stopped, and the store's own per-user
    /// daily rows dated before `batch.before_date`; adds the counts to the
    /// company's [`PurgeProgress`] (made from `batch` if there is none) and
    /// returns the counts of this step. Rows of other companies are never
    /// touched.
    async fn purge_tracking(&self, company: CompanyId, batch: &PurgeBatch) -> Result<PurgeCounts>;

    /// The company's unfinished purge, if a previous run stopped before
    /// [`finish_purge`](Self::finish_purge).
    async fn purge_progress(&self, company: CompanyId) -> Result<Option<PurgeProgress>>;

    /// Appends `audit` and forgets the company's purge progress, in one
    /// transaction.
    async fn finish_purge(&self, company: CompanyId, audit: NewAuditEvent) -> Result<()>;

    /// The UTC dates of a company whose tracking data changed since their
    /// marks were last cleared, ordered by date. The store marks, in the
    /// transaction that writes them, the UTC dates an inserted activity
    /// event covers (start to end, see [`event_dates`]) and the date of an
    /// inserted screenshot; marking a date again bumps its version.
    async fn pending_usage_days(&self, company: CompanyId) -> Result<Vec<PendingUsageDay>>;
    /// Marks dates as pending (or bumps them), for changes other than
    /// ingest (an approved correction).
    async fn mark_usage_days(&self, company: CompanyId, dates: &[NaiveDate]) -> Result<()>;
    /// Clears the marks whose version is still the one given, so a date
    /// marked again meanwhile stays pending.
    async fn clear_pending_usage(&self, company: CompanyId, days: &[PendingUsageDay])
    -> Result<()>;

    /// Per-day rollups of the users' activity for local dates in
    /// `[from, to]` (days are cut in the company's timezone), if this store
    /// keeps them; `None` if it does not, and reports then compute from the
    /// events. A store that keeps them MUST return, for every user and
    /// date with events, sums equal to the clipped durations of those
    /// events, and MUST set `exact` to false for a day where two of the
    /// user's events overlap. Days without events may be absent.
    async fn day_rollups(
        &self,
        company: CompanyId,
        users: &Option<BTreeSet<UserId>>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Option<Vec<DayRollup>>> {
        let _ = (company, users, from, to);
        Ok(None)
    }
}

/// Filter of task lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskFilter {
    /// Only tasks assigned to these users.
    pub assignees: Option<BTreeSet<UserId>>,
    /// Only tasks in this status.
    pub status: Option<TaskStatus>,
}

/// Filter of correction lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorrectionFilter {
    /// Only requests of these users.
    pub users: Option<BTreeSet<UserId>>,
    /// Only requests in this status.
    pub status: Option<CorrectionStatus>,
}

/// Tasks and time corrections.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait WorkStore: Send + Sync + 'static {
    /// Stores a task.
    async fn insert_task(&self, task: &Task, audit: NewAuditEvent) -> Result<()>;
    /// A task of a company.
    async fn get_task(&self, company: CompanyId, id: TaskId) -> Result<Option<Task>>;
    /// Tasks ordered by id.
    async fn list_tasks(
        &self,
        company: CompanyId,
        filter: &TaskFilter,
        page: &PageRequest,
    ) -> Result<Page<Task>>;
    /// Replaces a task. MUST fail with `NotFound` if it is not of its company.
    async fn update_task(&self, task: &Task) -> Result<()>;
    /// Stores a correction request.
    async fn insert_correction(&self, correction: &CorrectionRequest) -> Result<()>;
    /// A correction of a company.
    async fn get_correction(
        &self,
        company: CompanyId,
        id: CorrectionId,
    ) -> Result<Option<CorrectionRequest>>;
    /// Corrections ordered by id.
    async fn list_corrections(
        &self,
        company: CompanyId,
        filter: &CorrectionFilter,
        page: &PageRequest,
    ) -> Result<Page<CorrectionRequest>>;
    /// Records the decision on a pending correction. MUST fail with
    /// `InvalidState` if it is no longer pending, `NotFound` if not of its company.
    async fn decide_correction(
        &self,
        correction: &CorrectionRequest,
        audit: NewAuditEvent,
    ) -> Result<()>;
    /// Approved corrections of the users overlapping `[from, to)`.
    async fn approved_corrections(
        &self,
        company: CompanyId,
        users: &Option<BTreeSet<UserId>>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<CorrectionRequest>>;
}

/// Daily usage aggregates.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait UsageStore: Send + Sync + 'static {
    /// Inserts or replaces rows keyed by (company, date).
    async fn upsert_usage(&self, rows: &[CompanyUsageDaily]) -> Result<()>;
    /// Rows of one company (or of all with `None`) with dates in
    /// `[from, to]`, ordered by (company, date).
    async fn list_usage(
        &self,
        company: Option<CompanyId>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<CompanyUsageDaily>>;
}

/// A UTC date whose tracking data changed since usage was last computed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct PendingUsageDay {
    /// The UTC date.
    pub date: NaiveDate,
    /// Bumped on every new mark.
    pub version: u64,
}

/// The UTC dates `[from, to]` touches (`to` inclusive: an event ending at
/// midnight marks the day it ends on too, which only costs a recomputation).
pub fn utc_dates(from: DateTime<Utc>, to: DateTime<Utc>) -> impl Iterator<Item = NaiveDate> {
    let last = to.max(from).date_naive();
    from.date_naive()
        .iter_days()
        .take_while(move |d| *d <= last)
}

/// The UTC dates the events cover, each once.
pub fn event_dates<'a>(events: impl IntoIterator<Item = &'a ActivityEvent>) -> BTreeSet<NaiveDate> {
    events
        .into_iter()
        .flat_map(|e| utc_dates(e.started_at, e.ended_at()))
        .collect()
}

/// One step of a retention purge (see [`TrackingStore::purge_tracking`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeBatch {
    /// Data older than this instant goes.
    pub before: DateTime<Utc>,
    /// The company's local date of `before`: daily rows dated earlier go.
    pub before_date: NaiveDate,
    /// Screenshots whose blobs are already deleted.
    pub screenshots: Vec<ScreenshotId>,
    /// Most events, and most sessions, deleted by this step.
    pub limit: u32,
    /// When the purge started (kept in its progress).
    pub started_at: DateTime<Utc>,
}

/// Rows deleted by a retention purge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PurgeCounts {
    /// Activity events.
    pub events: u64,
    /// Work sessions.
    pub sessions: u64,
    /// Screenshots (rows and blobs).
    pub screenshots: u64,
    /// Bytes of the deleted screenshots.
    pub screenshot_bytes: u64,
    /// Per-user daily rows the store keeps (rollups).
    pub daily_rows: u64,
}

impl PurgeCounts {
    /// Whether nothing was deleted.
    pub fn is_empty(&self) -> bool {
        self.events + self.sessions + self.screenshots + self.daily_rows == 0
    }

    /// Adds `other` to these counts.
    pub fn add(&mut self, other: &PurgeCounts) {
        self.events += other.events;
        self.sessions += other.sessions;
        self.screenshots += other.screenshots;
        self.screenshot_bytes += other.screenshot_bytes;
        self.daily_rows += other.daily_rows;
    }
}

/// A purge that has started and not finished: what it deletes and what it
/// deleted so far. A purge stopped by a crash resumes from it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PurgeProgress {
    /// Company.
    pub company_id: CompanyId,
    /// Data older than this instant goes.
    pub before: DateTime<Utc>,
    /// Daily rows dated before this go.
    pub before_date: NaiveDate,
    /// When the purge started.
    pub started_at: DateTime<Utc>,
    /// Rows deleted so far.
    pub counts: PurgeCounts,
}

/// Alerts, alert settings and webhook deliveries.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait AlertStore: Send + Sync + 'static {
    /// Stores `alert` unless an open alert of the same company, kind and
    /// subject (`user_id`) exists; returns the open one. Two concurrent
    /// calls MUST NOT leave two open alerts.
    async fn open_alert(&self, alert: &Alert) -> Result<Ingested<Alert>>;
    /// An alert of a company.
    async fn get_alert(&self, company: CompanyId, id: AlertId) -> Result<Option<Alert>>;
    /// Open alerts of a kind, of one company or of all with `None`,
    /// ordered by (company, id).
    async fn open_alerts(&self, company: Option<CompanyId>, kind: AlertKind) -> Result<Vec<Alert>>;
    /// Sets `resolved_at` of an open alert and returns it; `None` if it is
    /// not open (or not of the company).
    async fn resolve_alert(
        &self,
        company: CompanyId,
        id: AlertId,
        at: DateTime<Utc>,
    ) -> Result<Option<Alert>>;
    /// Alerts of a company ordered by id, newest last.
    async fn list_alerts(
        &self,
        company: CompanyId,
        filter: &AlertFilter,
        page: &PageRequest,
    ) -> Result<Page<Alert>>;
    /// The company's alert settings, if ever saved.
    async fn get_alert_settings(&self, company: CompanyId) -> Result<Option<AlertSettings>>;
    /// Saves the settings of `settings.company_id` with their audit event.
    /// MUST fail with `NotFound` for an unknown company. Webhook secrets
    /// are kept as given: the notifier needs them to sign, so they cannot
    /// be hashed; they never leave through [`AlertSettings::view`].
    async fn put_alert_settings(
        &self,
        settings: &AlertSettings,
        audit: NewAuditEvent,
    ) -> Result<()>;
    /// Stores delivery attempts; a record whose id is already stored is
    /// ignored (as every SQL store does), so a retried write changes nothing.
    async fn insert_deliveries(&self, records: &[DeliveryRecord]) -> Result<()>;
    /// Delivery attempts of an alert, ordered by id.
    async fn list_deliveries(
        &self,
        company: CompanyId,
        alert: AlertId,
    ) -> Result<Vec<DeliveryRecord>>;
}

/// A token with its user, the user's company and the company's tracking
/// policy, as [`UserStore::token_owner`] reads them. Each part is what the
/// store holds now; the service decides what is missing or inactive.
#[derive(Debug, Clone)]
pub struct TokenOwner {
    /// The token.
    pub token: TokenRecord,
    /// The token's user (of the token's company), if it exists.
    pub user: Option<User>,
    /// The token's company (`None` for an OWNER's token, or if it is gone).
    pub company: Option<Company>,
    /// That company's tracking policy, if it has one.
    pub policy: Option<TrackingPolicy>,
}

/// A complete store: access to every capability. Implemented automatically
/// for any type that implements all of them; a store may also be assembled
/// from separate parts by implementing the accessors.
pub trait Store: Send + Sync + 'static {
    /// Plans and companies.
    fn tenants(&self) -> &dyn TenantStore;
    /// Users, teams, tokens, heartbeats.
    fn users(&self) -> &dyn UserStore;
    /// Policies.
    fn policies(&self) -> &dyn PolicyStore;
    /// The audit trail.
    fn audit(&self) -> &dyn AuditStore;
    /// Tracking data.
    fn tracking(&self) -> &dyn TrackingStore;
    /// Tasks and corrections.
    fn work(&self) -> &dyn WorkStore;
    /// Usage aggregates.
    fn usage(&self) -> &dyn UsageStore;
    /// Alerts and their settings.
    fn alerts(&self) -> &dyn AlertStore;
}

impl<T> Store for T
where
    T: TenantStore
        + UserStore
        + PolicyStore
        + AuditStore
        + TrackingStore
        + WorkStore
        + UsageStore
        + AlertStore,
{
    fn tenants(&self) -> &dyn TenantStore {
        self
    }
    fn users(&self) -> &dyn UserStore {
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
    fn work(&self) -> &dyn WorkStore {
        self
    }
    fn usage(&self) -> &dyn UsageStore {
        self
    }
    fn alerts(&self) -> &dyn AlertStore {
        self
    }
}

// Every port must stay object safe.
const _: Option<&dyn Store> = None;
const _: Option<&dyn TenantStore> = None;
const _: Option<&dyn UserStore> = None;
const _: Option<&dyn PolicyStore> = None;
const _: Option<&dyn AuditStore> = None;
const _: Option<&dyn TrackingStore> = None;
const _: Option<&dyn WorkStore> = None;
const _: Option<&dyn UsageStore> = None;
const _: Option<&dyn AlertStore> = None;
