//! The access log: who read whose tracking data.

use async_trait::async_trait;

use crate::access::{AccessFilter, AccessRecord};
use crate::error::Result;
use crate::ids::CompanyId;
use crate::paging::{Page, PageRequest};

/// Reads of one person's tracking data by someone else, coalesced to one
/// record per actor, subject, kind and day. Nothing deletes a record but
/// the retention purge ([`purge_tracking`](super::RetentionStore::purge_tracking)).
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait AccessLogStore: Send + Sync + 'static {
    /// Adds each record of `company` to the stored one with its id: the
    /// counts add up, `first_at` is the earlier and `last_at` the later of
    /// both; a record not stored yet is stored as given. Records of
    /// another company than `company` MUST be ignored. Callers racing on
    /// one record MUST all be counted.
    async fn record_access(&self, company: CompanyId, records: &[AccessRecord]) -> Result<()>;
    /// Records of `company` passing `filter`, ordered by (`first_at`, id).
    async fn list_access(
        &self,
        company: CompanyId,
        filter: &AccessFilter,
        page: &PageRequest,
    ) -> Result<Page<AccessRecord>>;
}
