//! Plans, companies and their billing history.

use std::collections::BTreeSet;

use async_trait::async_trait;

use super::collect_pages;
use crate::audit::NewAuditEvent;
use crate::error::Result;
use crate::identity::User;
use crate::ids::{CompanyId, PlanId};
use crate::paging::{Page, PageRequest};
use crate::policy::TrackingPolicy;
use crate::secret::SecretHash;
use crate::tenancy::{Company, CompanyStatus, Plan, Subscription};

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
    /// The first ADMIN's creation, for the company's own chain (the
    /// company's creation goes to the platform's, which names no person).
    pub admin_audit: NewAuditEvent,
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
    /// The stored status the change was computed from: when given, a
    /// store whose company has another status MUST refuse with
    /// `InvalidState` and write nothing, so a suspension or reactivation
    /// happens once however many callers race ([`check_status`](Self::check_status)).
    pub expect_status: Option<CompanyStatus>,
    /// The audit event.
    pub audit: NewAuditEvent,
}

impl CompanyChange {
    /// The status rule every store applies inside its transaction, given
    /// the stored status.
    pub fn check_status(&self, stored: CompanyStatus) -> Result<()> {
        match self.expect_status {
            Some(expected) if expected != stored => {
                Err(crate::error::Error::invalid_state(format!(
                    "the company is {} now: another request changed it first",
                    stored.as_str()
                )))
            }
            _ => Ok(()),
        }
    }

    /// The limit rule every store applies inside its transaction, given the
    /// seats in use and the screenshot bytes stored there.
    pub fn check_limits(&self, seats_in_use: u32, storage_used: u64) -> Result<()> {
        if let Some(max) = self.max_seats
            && seats_in_use > max
        {
            return Err(crate::error::Error::PlanTooSmall {
                reason: format!("{seats_in_use} seats in use, the plan allows {max}"),
            });
        }
        if let Some(max) = self.max_storage_bytes
            && storage_used > max
        {
            return Err(crate::error::Error::PlanTooSmall {
                reason: format!("{storage_used} bytes stored, the plan allows {max}"),
            });
        }
        Ok(())
    }
}

/// Filter of a company list. Every field narrows the list; the default
/// lists every company.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompanyFilter {
    /// Only these companies.
    pub ids: Option<BTreeSet<CompanyId>>,
    /// Only the company whose key has this digest.
    pub key_hash: Option<SecretHash>,
}

impl CompanyFilter {
    /// Whether `company` passes the filter.
    pub fn matches(&self, company: &Company) -> bool {
        self.ids
            .as_ref()
            .is_none_or(|ids| ids.contains(&company.id))
            && self
                .key_hash
                .as_ref()
                .is_none_or(|h| h.ct_eq(&company.key_hash))
    }
}

/// Plans, companies and their billing history.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait TenantStore: Send + Sync + 'static {
    /// Stores a plan. MUST fail with `AlreadyExists` if the code is taken.
    async fn insert_plan(&self, plan: &Plan, audit: NewAuditEvent) -> Result<()>;
    /// Every plan, ordered by code.
    async fn list_plans(&self) -> Result<Vec<Plan>>;
    /// Stores a new company with its policy, first admin and subscription,
    /// appending `audit` and `new.admin_audit` in the same transaction.
    /// MUST fail with `UsernameTaken` if the admin's username cannot be
    /// stored, leaving nothing behind.
    async fn insert_company(&self, new: &NewCompany, audit: NewAuditEvent) -> Result<()>;
    /// Companies passing `filter`, ordered by id.
    async fn list_companies(
        &self,
        filter: &CompanyFilter,
        page: &PageRequest,
    ) -> Result<Page<Company>>;
    /// Replaces the company record (status, plan, key, retention…), adds the
    /// subscription row if any, after checking `max_seats` and
    /// `max_storage_bytes`. MUST fail with `NotFound` for an unknown company.
    async fn update_company(&self, change: &CompanyChange) -> Result<()>;
    /// The company's billing history, oldest first.
    async fn list_subscriptions(&self, company: CompanyId) -> Result<Vec<Subscription>>;

    /// A plan by id. Provided over [`list_plans`](Self::list_plans).
    async fn get_plan(&self, id: PlanId) -> Result<Option<Plan>> {
        Ok(self.list_plans().await?.into_iter().find(|p| p.id == id))
    }
    /// A plan by code. Provided over [`list_plans`](Self::list_plans).
    async fn plan_by_code(&self, code: &str) -> Result<Option<Plan>> {
        Ok(self
            .list_plans()
            .await?
            .into_iter()
            .find(|p| p.code == code))
    }
    /// A company by id. Provided over [`list_companies`](Self::list_companies).
    async fn get_company(&self, id: CompanyId) -> Result<Option<Company>> {
        let filter = CompanyFilter {
            ids: Some(BTreeSet::from([id])),
            ..CompanyFilter::default()
        };
        let page = self.list_companies(&filter, &PageRequest::first(1)).await?;
        Ok(page.items.into_iter().next())
    }
    /// The company whose key has this digest. Provided over
    /// [`list_companies`](Self::list_companies).
    async fn company_by_key_hash(&self, key_hash: &SecretHash) -> Result<Option<Company>> {
        let filter = CompanyFilter {
            key_hash: Some(key_hash.clone()),
            ..CompanyFilter::default()
        };
        let page = self.list_companies(&filter, &PageRequest::first(1)).await?;
        Ok(page.items.into_iter().next())
    }
    /// Every company, ordered by id (jobs, owner reports). Provided over
    /// [`list_companies`](Self::list_companies).
    async fn all_companies(&self) -> Result<Vec<Company>> {
        let filter = &CompanyFilter::default();
        collect_pages(|page| async move { self.list_companies(filter, &page).await }).await
    }
}
