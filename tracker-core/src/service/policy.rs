//! The tracking policy: read by every company user, changed by ADMINs
//! under the privacy ratchet, acknowledged by employees.

use super::*;
use crate::audit::*;
use crate::authz::{Action, Principal};
use crate::error::{Error, Result, Validator};
use crate::policy::{PolicyUpdate, RetentionByKind, TrackingPolicy};
use crate::protocol::*;
use crate::store::*;
use crate::tenancy::*;

impl<S: Store + ?Sized> Tracker<S> {
    /// The tracking policy as it applies to the caller, with any announced
    /// change not yet applying to them and what is stored about them, in
    /// plain words (every company user: transparency).
    pub async fn policy(&self, p: &Principal) -> Result<PolicyResponse> {
        let company = Self::company_for(p, Action::ReadPolicy)?;
        let record = self.load_policy(company.id).await?;
        Ok(self.policy_response(p, company, &record))
    }

    /// The company's policy record: the policy in force and the pending
    /// change (ADMIN).
    pub async fn policy_record(&self, p: &Principal) -> Result<TrackingPolicy> {
        let company = Self::company_for(p, Action::ChangePolicy)?;
        self.load_policy(company.id).await
    }

    /// Changes the tracking policy (ADMIN) under the privacy ratchet
    /// ([`TrackingPolicy::change`]): a change that collects more waits for
    /// the notice period. Audited with old and new values. Returns the
    /// record: the policy in force and the pending change.
    pub async fn update_policy(
        &self,
        p: &Principal,
        update: PolicyUpdate,
    ) -> Result<TrackingPolicy> {
        let company = Self::company_for(p, Action::ChangePolicy)?;
        update.validate()?;
        Self::check_retention(update.retention.as_ref(), company.retention_days)?;
        let old = self.load_policy(company.id).await?;
        let now = self.now();
        let new = old.change(&update, now)?;
        let description = match &new.pending {
            Some(pending) => format!(
                "tracking policy version {} announced, to apply from {}",
                pending.policy.version,
                pending.applies_at.format("%Y-%m-%d %H:%M UTC")
            ),
            None => format!("tracking policy changed to version {}", new.version),
        };
        let audit = self.event(
            p,
            AuditChain::Company(company.id),
            AuditAction::PolicyUpdated,
            description,
            serde_json::json!({ "old": old.audit_values(), "new": new.audit_values() }),
        );
        self.store.policies().update_policy(&new, audit).await?;
        Ok(new)
    }

    /// Refuses a retention by kind longer than the company's.
    fn check_retention(retention: Option<&RetentionByKind>, company_days: u32) -> Result<()> {
        let mut v = Validator::new();
        for (name, days) in retention.map(RetentionByKind::kinds).unwrap_or_default() {
            if let Some(d) = days {
                v.check(
                    d <= company_days,
                    format!("retention.{name}"),
                    format!("must be at most the company's retention of {company_days} days"),
                );
            }
        }
        v.finish()
    }

    /// Records that the caller read and acknowledges policy `version`,
    /// which must be the newest announced one (`InvalidState` otherwise,
    /// naming it). Audited once; acknowledging it again changes nothing.
    pub async fn acknowledge_policy(
        &self,
        p: &Principal,
        req: AcknowledgePolicy,
    ) -> Result<PolicyResponse> {
        let company = Self::company_for(p, Action::ReadPolicy)?;
        let record = self.load_policy(company.id).await?;
        let newest = record.revision();
        if req.version != newest {
            return Err(Error::invalid_state(format!(
                "version {} is not the policy to acknowledge: the newest is version {newest}",
                req.version
            )));
        }
        let mut user = self
            .store
            .users()
            .get_user(Some(company.id), p.user_id())
            .await?
            .ok_or(Error::not_found("user"))?;
        if user.privacy.acknowledged_version != Some(newest) {
            user.privacy.acknowledged_version = Some(newest);
            user.privacy.acknowledged_at = Some(self.now());
            let audit = self.event(
                p,
                AuditChain::Company(company.id),
                AuditAction::PolicyAcknowledged,
                format!(
                    "{} acknowledged tracking policy version {newest}",
                    user.username
                ),
                serde_json::json!({ "user_id": user.id, "version": newest }),
            );
            self.store
                .users()
                .update_user(&user, &UserUpdate::default(), audit)
                .await?;
        }
        let p = p.with_user(user);
        Ok(self.policy_response(&p, company, &record))
    }

    /// Who acknowledged the newest announced policy (ADMIN): every active
    /// user of the company.
    pub async fn policy_acknowledgements(&self, p: &Principal) -> Result<Acknowledgements> {
        let company = Self::company_for(p, Action::ChangePolicy)?;
        let version = self.load_policy(company.id).await?.revision();
        let filter = UserFilter {
            active: Some(true),
            ..UserFilter::default()
        };
        let users = collect_pages(|page| {
            let filter = &filter;
            async move {
                self.store
                    .users()
                    .list_users(Some(company.id), filter, &page)
                    .await
            }
        })
        .await?;
        Ok(Acknowledgements {
            version,
            users: users
                .into_iter()
                .map(|u| UserAcknowledgement {
                    current: u.privacy.acknowledged_version == Some(version),
                    acknowledged_version: u.privacy.acknowledged_version,
                    acknowledged_at: u.privacy.acknowledged_at,
                    user_id: u.id,
                    username: u.username,
                    display_name: u.display_name,
                })
                .collect(),
        })
    }

    pub(super) async fn load_policy(&self, company: CompanyId) -> Result<TrackingPolicy> {
        self.store
            .policies()
            .get_policy(company)
            .await?
            .ok_or(Error::not_found("policy"))
    }

    /// The policy as a user of `company` reads it: what applies to them,
    /// whether they may track now, and the change announced to them.
    pub(super) fn policy_response(
        &self,
        p: &Principal,
        company: &Company,
        record: &TrackingPolicy,
    ) -> PolicyResponse {
        let now = self.now();
        let acknowledged = p.user().privacy.acknowledged_version;
        let policy = record.effective(acknowledged, now);
        let pending = record
            .pending
            .as_ref()
            .filter(|_| !record.pending_applies(acknowledged, now))
            .map(|pending| PolicyNotice {
                collects_more: pending
                    .policy
                    .more_than(&policy)
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
                policy: pending.policy.clone(),
                applies_at: pending.applies_at,
                acknowledgement_required: pending.requires_acknowledgement,
                acknowledged: acknowledged.is_some_and(|v| v >= pending.policy.version),
            });
        PolicyResponse {
            tracking_allowed: company.check_access(now).is_ok() && p.user().active,
            etag: policy.etag(),
            explanation: policy.explain(company.retention_days),
            policy,
            pending,
        }
    }
}
