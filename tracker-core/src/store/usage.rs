//! Daily usage aggregates and the days waiting for them.

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use crate::error::Result;
use crate::ids::CompanyId;
use crate::tracking::ActivityEvent;
use crate::work::CompanyUsageDaily;

/// A UTC date whose tracking data changed since usage was last computed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct PendingUsageDay {
    /// The UTC date.
    pub date: NaiveDate,
    /// Changed by every new mark, to a value the date never had before
    /// (also after a clear), so a run that read this mark clears only it.
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

/// Daily usage aggregates, and the marks of the UTC dates whose tracking
/// data changed since they were computed.
///
/// Marks are set by the writes that change tracking data, in their own
/// transaction: [`insert_activity`](super::TrackingStore::insert_activity)
/// marks the UTC dates a new event covers (start to end, see
/// [`event_dates`]), [`insert_screenshot`](super::TrackingStore::insert_screenshot)
/// the date of a new screenshot, and
/// [`save_correction`](super::CorrectionStore::save_correction) the
/// dates an approved correction covers (see [`utc_dates`]). Every mark
/// gives the date a version it never had before, also when it was cleared
/// in between: the memory store counts, SQLite keeps a counter row and
/// PostgreSQL a sequence. A version that restarted could be cleared by a
/// run that read the earlier mark, leaving the day stale.
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
    /// The marked UTC dates of a company, ordered by date.
    async fn pending_usage_days(&self, company: CompanyId) -> Result<Vec<PendingUsageDay>>;
    /// Clears the marks whose version is still the one given, so a date
    /// marked again meanwhile stays pending.
    async fn clear_pending_usage(&self, company: CompanyId, days: &[PendingUsageDay])
    -> Result<()>;
}
