//! Tracking policies, one per company.

use async_trait::async_trait;

use crate::audit::NewAuditEvent;
use crate::error::Result;
use crate::ids::CompanyId;
use crate::policy::TrackingPolicy;

/// Tracking policies, one per company, created with it.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait PolicyStore: Send + Sync + 'static {
    /// The policy of a company.
    async fn get_policy(&self, company: CompanyId) -> Result<Option<TrackingPolicy>>;
    /// Replaces the policy of `policy.company_id`, pending change
    /// included. MUST fail with `InvalidState` if the stored
    /// [`revision`](TrackingPolicy::revision) is not
    /// `policy.revision() - 1` (a concurrent change won), and `NotFound`
    /// for an unknown company.
    async fn update_policy(&self, policy: &TrackingPolicy, audit: NewAuditEvent) -> Result<()>;
}
