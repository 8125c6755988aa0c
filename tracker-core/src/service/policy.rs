//! The tracking policy: read by every company user, changed by ADMINs.

use super::*;
use crate::audit::*;
use crate::authz::{Action, Principal};
use crate::error::{Error, Result};
use crate::policy::{PolicyUpdate, TrackingPolicy};
use crate::protocol::*;
use crate::store::*;
use crate::tenancy::*;

impl<S: Store + ?Sized> Tracker<S> {
    /// The company's tracking policy (every company user: transparency).
    pub async fn policy(&self, p: &Principal) -> Result<PolicyResponse> {
        let company = Self::company_for(p, Action::ReadPolicy)?;
        let policy = self.load_policy(company.id).await?;
        Ok(self.policy_response(p, company, policy))
    }

    /// Changes the tracking policy (ADMIN); audited with old and new values.
    pub async fn update_policy(
        &self,
        p: &Principal,
        update: PolicyUpdate,
    ) -> Result<TrackingPolicy> {
        let company = Self::company_for(p, Action::ChangePolicy)?.id;
        let old = self.load_policy(company).await?;
        let new = old.apply(&update, self.now())?;
        let audit = self.event(
            p,
            AuditChain::Company(company),
            AuditAction::PolicyUpdated,
            format!("tracking policy changed to version {}", new.version),
            serde_json::json!({ "old": old.audit_values(), "new": new.audit_values() }),
        );
        self.store.policies().update_policy(&new, audit).await?;
        Ok(new)
    }

    pub(super) async fn load_policy(&self, company: CompanyId) -> Result<TrackingPolicy> {
        self.store
            .policies()
            .get_policy(company)
            .await?
            .ok_or(Error::not_found("policy"))
    }

    /// The policy as a user of `company` reads it, with whether it may track now.
    pub(super) fn policy_response(
        &self,
        p: &Principal,
        company: &Company,
        policy: TrackingPolicy,
    ) -> PolicyResponse {
        PolicyResponse {
            tracking_allowed: company.check_access(self.now()).is_ok() && p.user().active,
            etag: policy.etag(),
            policy,
        }
    }
}
