//! Tracking ingest and reads: work sessions, activity events, screenshots.

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use uuid::Uuid;

use super::{IngestCount, Ingested, collect_pages};
use crate::error::Result;
use crate::ids::{CompanyId, ScreenshotId, UserId, WorkSessionId};
use crate::paging::{Page, PageRequest};
use crate::tracking::{ActivityEvent, EventBatch, MAX_EVENT_SECONDS, Screenshot, WorkSession};

/// Filter of tracking lists. Every field narrows the list; the default
/// lists every row of the company.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackingFilter {
    /// Only rows of these users; `None` is every user of the company.
    pub users: Option<BTreeSet<UserId>>,
    /// Only rows starting (taken) at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Only rows starting (taken) before this instant.
    pub to: Option<DateTime<Utc>>,
    /// Only rows with these ids (the session's, event's or screenshot's own).
    pub ids: Option<BTreeSet<Uuid>>,
}

impl TrackingFilter {
    /// Whether a row of `user` with `id`, starting at `at`, passes.
    pub fn matches(&self, user: UserId, id: Uuid, at: DateTime<Utc>) -> bool {
        self.users.as_ref().is_none_or(|u| u.contains(&user))
            && self.ids.as_ref().is_none_or(|ids| ids.contains(&id))
            && self.from.is_none_or(|f| at >= f)
            && self.to.is_none_or(|t| at < t)
    }

    fn one(id: Uuid) -> Self {
        Self {
            ids: Some(BTreeSet::from([id])),
            ..Self::default()
        }
    }
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

/// One user's active time on one app or website over a range of days, as
/// a store sums it (see [`TrackingStore::usage_sums`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UsageSum {
    /// User.
    pub user_id: UserId,
    /// App name or website domain.
    pub name: String,
    /// Active time in microseconds.
    pub active_micros: i64,
}

/// Work sessions, activity events and screenshot metadata.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait TrackingStore: Send + Sync + 'static {
    /// Inserts a session unless its id is stored for the company already;
    /// returns the stored one.
    async fn insert_session(&self, session: &WorkSession) -> Result<Ingested<WorkSession>>;
    /// Sets `stopped_at` if not set yet; returns the stored session.
    /// MUST fail with `NotFound` if it is not of the company.
    async fn stop_session(
        &self,
        company: CompanyId,
        id: WorkSessionId,
        stopped_at: DateTime<Utc>,
    ) -> Result<WorkSession>;
    /// Sessions passing `filter` (by `started_at`), ordered by
    /// (started_at, id).
    async fn list_sessions(
        &self,
        company: CompanyId,
        filter: &TrackingFilter,
        page: &PageRequest,
    ) -> Result<Page<WorkSession>>;
    /// Inserts the batch in one transaction, ignoring ids the event's user
    /// already stored, and counts both. Event ids are unique per user: the
    /// same id sent by two users is two events, neither of which tells the
    /// other anything. The store marks the UTC dates the
    /// new events cover as pending usage (see
    /// [`UsageStore::pending_usage_days`](super::UsageStore::pending_usage_days))
    /// in the same transaction.
    async fn insert_activity(&self, batch: &EventBatch) -> Result<IngestCount>;
    /// Events passing `filter` (by `started_at`), ordered by
    /// (started_at, id). Ids are unique per user only: events of two users
    /// with the same start and id (a client reusing another's ids) may
    /// come in either order, and a page that ends between them skips the
    /// second.
    async fn list_activity(
        &self,
        company: CompanyId,
        filter: &TrackingFilter,
        page: &PageRequest,
    ) -> Result<Page<ActivityEvent>>;
    /// Inserts screenshot metadata unless its id is stored; a new one MUST
    /// be refused with `StorageLimitReached` if the company's stored bytes
    /// plus its size exceed `storage_limit`. The store marks its UTC date
    /// as pending usage in the same transaction.
    async fn insert_screenshot(
        &self,
        shot: &Screenshot,
        storage_limit: u64,
    ) -> Result<Ingested<Screenshot>>;
    /// Screenshots passing `filter` (by `taken_at`), ordered by
    /// (taken_at, id).
    async fn list_screenshots(
        &self,
        company: CompanyId,
        filter: &TrackingFilter,
        page: &PageRequest,
    ) -> Result<Page<Screenshot>>;

    /// Work sessions of a company not stopped yet, ordered by
    /// (started_at, id) (the agent-offline alert). Provided over
    /// [`list_sessions`](Self::list_sessions), which it reads whole; a
    /// store SHOULD read only the open ones.
    async fn open_sessions(&self, company: CompanyId) -> Result<Vec<WorkSession>> {
        let filter = &TrackingFilter::default();
        let all =
            super::collect_pages(
                |page| async move { self.list_sessions(company, filter, &page).await },
            )
            .await?;
        Ok(all.into_iter().filter(|s| s.stopped_at.is_none()).collect())
    }
    /// A session of a company. Provided over
    /// [`list_sessions`](Self::list_sessions).
    async fn get_session(
        &self,
        company: CompanyId,
        id: WorkSessionId,
    ) -> Result<Option<WorkSession>> {
        let filter = TrackingFilter::one(id.as_uuid());
        let page = self
            .list_sessions(company, &filter, &PageRequest::first(1))
            .await?;
        Ok(page.items.into_iter().next())
    }
    /// A screenshot of a company. Provided over
    /// [`list_screenshots`](Self::list_screenshots).
    async fn get_screenshot(
        &self,
        company: CompanyId,
        id: ScreenshotId,
    ) -> Result<Option<Screenshot>> {
        let filter = TrackingFilter::one(id.as_uuid());
        let page = self
            .list_screenshots(company, &filter, &PageRequest::first(1))
            .await?;
        Ok(page.items.into_iter().next())
    }
    /// Every event of the users that overlaps `[from, to)`, ordered by
    /// (started_at, id), for reports. Provided over
    /// [`list_activity`](Self::list_activity): no event is longer than
    /// [`MAX_EVENT_SECONDS`], so one that overlaps starts at most that long
    /// before `from`.
    async fn activity_between<'a>(
        &self,
        company: CompanyId,
        users: Option<&'a BTreeSet<UserId>>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ActivityEvent>> {
        let reach = Duration::seconds(i64::from(MAX_EVENT_SECONDS));
        let filter = &TrackingFilter {
            users: users.cloned(),
            from: Some(from.checked_sub_signed(reach).unwrap_or(from)),
            to: Some(to),
            ids: None,
        };
        let mut events =
            collect_pages(|page| async move { self.list_activity(company, filter, &page).await })
                .await?;
        events.retain(|e| e.ended_at() > from);
        Ok(events)
    }
    /// Bytes of screenshots stored by a company. Provided over
    /// [`list_screenshots`](Self::list_screenshots).
    async fn storage_used(&self, company: CompanyId) -> Result<u64> {
        let filter = &TrackingFilter::default();
        let shots =
            collect_pages(
                |page| async move { self.list_screenshots(company, filter, &page).await },
            )
            .await?;
        Ok(shots.iter().map(|s| s.size_bytes).sum())
    }
    /// Per-day rollups of the users' activity for local dates in
    /// `[from, to]` (days are cut in the company's timezone), if this store
    /// keeps them; `None` if it does not, and reports then compute from the
    /// events. A store that keeps them MUST return, for every user and
    /// date with events, sums equal to the clipped durations of those
    /// events, and MUST set `exact` to false for a day where two of the
    /// user's events overlap. Days without events may be absent.
    async fn day_rollups<'a>(
        &self,
        company: CompanyId,
        users: Option<&'a BTreeSet<UserId>>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Option<Vec<DayRollup>>> {
        let _ = (company, users, from, to);
        Ok(None)
    }
    /// Active time per user and app (or, with `by_domain`, per user and
    /// website domain as [`domain_of`](crate::report::domain_of) names it)
    /// over the local dates `[from, to]`, if this store keeps per-day sums;
    /// `None` if it does not, and reports then compute from the events. A
    /// store that keeps them MUST return, for every user with active events
    /// on an app (domain) in the range, the sum of those events' durations
    /// clipped to the range's local days, in microseconds, as
    /// [`usage_by`](crate::report::usage_by) adds them up (overlapping
    /// events count in full; corrections do not apply). Users and names
    /// without time may be absent.
    async fn usage_sums<'a>(
        &self,
        company: CompanyId,
        users: Option<&'a BTreeSet<UserId>>,
        from: NaiveDate,
        to: NaiveDate,
        by_domain: bool,
    ) -> Result<Option<Vec<UsageSum>>> {
        let _ = (company, users, from, to, by_domain);
        Ok(None)
    }
}
