//! What the retention purge needs: bounded steps, resumable after a crash.

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use crate::audit::NewAuditEvent;
use crate::error::Result;
use crate::ids::{CompanyId, ScreenshotId, UserId};

/// One step of a retention purge (see [`RetentionStore::purge_tracking`]).
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
    /// Listed screenshots taken before this instant go (`None`: `before`).
    pub screenshots_before: Option<DateTime<Utc>>,
    /// Sessions that started before this instant go (`None`: `before`).
    pub sessions_before: Option<DateTime<Utc>>,
    /// Events that started before this instant keep their times and lose
    /// their URL and window title, at most `limit` per step (`None`: none).
    pub details_before: Option<DateTime<Utc>>,
    /// Only this user's rows: an erasure. The company's purge progress is
    /// neither read nor written, and the access log's records go where the
    /// user is the subject.
    pub user: Option<UserId>,
    /// Rows of these users stay, whatever their age (legal holds).
    pub keep: BTreeSet<UserId>,
    /// With `user`: also that user's corrections, and the completion
    /// notes of the tasks assigned to them.
    pub personal: bool,
}

impl PurgeBatch {
    /// Whether a row of `user` is this batch's to delete.
    pub fn covers(&self, user: UserId) -> bool {
        self.user.is_none_or(|u| u == user) && !self.keep.contains(&user)
    }
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
    /// Records of the access log.
    #[serde(default)]
    pub access_records: u64,
    /// Corrections (an erasure's only).
    #[serde(default)]
    pub corrections: u64,
    /// Task completion notes blanked (an erasure's only).
    #[serde(default)]
    pub task_notes: u64,
    /// Events whose URL and window title were blanked (retention by kind).
    #[serde(default)]
    pub details: u64,
}

impl PurgeCounts {
    /// Whether nothing was deleted.
    pub fn is_empty(&self) -> bool {
        self.events
            + self.sessions
            + self.screenshots
            + self.daily_rows
            + self.access_records
            + self.corrections
            + self.task_notes
            + self.details
            == 0
    }

    /// Adds `other` to these counts.
    pub fn add(&mut self, other: &PurgeCounts) {
        self.events += other.events;
        self.sessions += other.sessions;
        self.screenshots += other.screenshots;
        self.screenshot_bytes += other.screenshot_bytes;
        self.daily_rows += other.daily_rows;
        self.access_records += other.access_records;
        self.corrections += other.corrections;
        self.task_notes += other.task_notes;
        self.details += other.details;
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

/// The retention purge's steps and progress. The screenshots to purge are
/// read with [`TrackingStore::list_screenshots`](super::TrackingStore::list_screenshots),
/// so their blobs go before their rows.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait RetentionStore: Send + Sync + 'static {
    /// One bounded step of a retention purge, in one transaction: deletes
    /// the listed screenshots (only those taken before
    /// `batch.screenshots_before`, or `batch.before`), up
    /// to `batch.limit` activity events that ended by `batch.before`, up to
    /// `batch.limit` sessions that started before `batch.sessions_before`
    /// (or `batch.before`) and are stopped by then or were never stopped,
    /// blanks the URL and window title of up to `batch.limit` events that
    /// started before `batch.details_before` (keeping their times), the store's own per-user
    /// daily rows and the access log's records dated before
    /// `batch.before_date`, of the users the batch
    /// [covers](PurgeBatch::covers) (and with `batch.personal` that user's
    /// corrections and task completion notes); adds the counts to the
    /// company's [`PurgeProgress`] (made from `batch` if there is none) and
    /// returns the counts of this step (an erasure's, with `batch.user`,
    /// touch no progress). Rows of other companies are never touched.
    async fn purge_tracking(&self, company: CompanyId, batch: &PurgeBatch) -> Result<PurgeCounts>;
    /// The company's unfinished purge, if a previous run stopped before
    /// [`finish_purge`](Self::finish_purge).
    async fn purge_progress(&self, company: CompanyId) -> Result<Option<PurgeProgress>>;
    /// Appends `audit` and forgets the company's purge progress, in one
    /// transaction.
    async fn finish_purge(&self, company: CompanyId, audit: NewAuditEvent) -> Result<()>;
}
