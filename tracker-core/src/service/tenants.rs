//! Plans and the company lifecycle (OWNER), and companies by numbers.

use std::collections::BTreeMap;

use chrono::Duration;

use super::people::validate_new_user;
use super::*;
use crate::audit::*;
use crate::authz::{Action, Principal, Target, authorize};
use crate::error::{Error, Result, Validator};
use crate::identity::*;
use crate::paging::{Page, PageRequest};
use crate::policy::TrackingPolicy;
use crate::protocol::*;
use crate::report::local_date;
use crate::secret::*;
use crate::store::*;
use crate::tenancy::*;

impl<S: Store + ?Sized> Tracker<S> {
    /// Creates FREE, PRO and ENTERPRISE if no plan exists yet (setup, not audited
    /// per plan beyond the plan_created events).
    pub async fn ensure_default_plans(&self) -> Result<Vec<Plan>> {
        let existing = self.store.tenants().list_plans().await?;
        if !existing.is_empty() {
            return Ok(existing);
        }
        for new in NewPlan::defaults() {
            let plan = new.into_plan();
            let event = NewAuditEvent {
                chain: AuditChain::Platform,
                actor: Actor::System,
                action: AuditAction::PlanCreated,
                description: format!("plan {} created", plan.code),
                details: serde_json::to_value(&plan).unwrap_or_default(),
                client_ip: None,
                at: self.now(),
            };
            self.store.tenants().insert_plan(&plan, event).await?;
        }
        self.store.tenants().list_plans().await
    }

    /// An OWNER creates a plan.
    pub async fn create_plan(&self, p: &Principal, new: NewPlan) -> Result<Plan> {
        authorize(p, Action::CompanyLifecycle, Target::Platform)?;
        new.validate()?;
        let plan = new.into_plan();
        let event = self.event(
            p,
            AuditChain::Platform,
            AuditAction::PlanCreated,
            format!("plan {} created", plan.code),
            serde_json::to_value(&plan).unwrap_or_default(),
        );
        self.store.tenants().insert_plan(&plan, event).await?;
        Ok(plan)
    }

    /// Every plan (OWNER).
    pub async fn list_plans(&self, p: &Principal) -> Result<Vec<Plan>> {
        authorize(p, Action::CompanyAggregates, Target::Platform)?;
        self.store.tenants().list_plans().await
    }

    /// An OWNER creates a company with its policy, first ADMIN and key.
    /// The key is in the answer and nowhere else.
    pub async fn create_company(
        &self,
        p: &Principal,
        req: CreateCompany,
    ) -> Result<CompanyCreated> {
        authorize(p, Action::CompanyLifecycle, Target::Platform)?;
        let mut v = Validator::new();
        validate_company_fields(
            &mut v,
            Some(&req.name),
            req.timezone.as_deref(),
            req.retention_days,
        );
        if let Some(days) = req.trial_days {
            v.range("trial_days", days, 0, 365);
        }
        validate_new_user(&mut v, "admin.", &req.admin);
        if req.admin.role.is_some_and(|r| r != Role::Admin) {
            v.push("admin.role", "the first user of a company is an ADMIN");
        }
        v.finish()?;
        let code = req.plan.clone().unwrap_or_else(|| "FREE".into());
        let plan = self
            .store
            .tenants()
            .plan_by_code(&code)
            .await?
            .ok_or_else(|| Self::plan_error(&code))?;

        let now = self.now();
        let key = CompanyKey::generate()?;
        let trial_days = req.trial_days.unwrap_or(self.config.default_trial_days);
        let trial_ends_at = (trial_days > 0).then(|| now + Duration::days(i64::from(trial_days)));
        let company = Company {
            id: CompanyId::new(),
            name: req.name.trim().to_owned(),
            status: if trial_days > 0 {
                CompanyStatus::Trial
            } else {
                CompanyStatus::Active
            },
            plan_id: plan.id,
            trial_ends_at,
            subscription_expires_at: None,
            status_before_suspension: None,
            timezone: req.timezone.clone().unwrap_or_else(|| "UTC".into()),
            retention_days: req
                .retention_days
                .unwrap_or(self.config.default_retention_days),
            last_sync_at: None,
            created_at: now,
            key_hash: key.hash(),
            legal_hold: None,
        };
        let admin = self.make_user(company.id, &req.admin, Role::Admin)?;
        let subscription = Subscription {
            id: SubscriptionId::new(),
            company_id: company.id,
            plan_id: plan.id,
            amount_cents: if trial_days > 0 {
                0
            } else {
                plan.price_monthly_cents
            },
            starts_at: now,
            ends_at: trial_ends_at,
            created_by: Some(p.user_id()),
            created_at: now,
        };
        let event = self.event(
            p,
            AuditChain::Platform,
            AuditAction::CompanyCreated,
            format!("company {:?} created on plan {}", company.name, plan.code),
            serde_json::json!({
                "company_id": company.id,
                "plan": plan.code,
                "status": company.status,
            }),
        );
        // In the company's chain the operator is not named: its users never
        // learn who runs the platform.
        let admin_audit = NewAuditEvent {
            actor: Actor::System,
            client_ip: None,
            ..self.event(
                p,
                AuditChain::Company(company.id),
                AuditAction::EmployeeCreated,
                format!("user {} created as {} with the company", admin.username, admin.role),
                serde_json::json!({ "user_id": admin.id, "username": admin.username, "role": admin.role }),
            )
        };
        let new = NewCompany {
            company: company.clone(),
            policy: TrackingPolicy::default_for(company.id, now),
            admin: admin.clone(),
            subscription,
            admin_audit,
        };
        self.store.tenants().insert_company(&new, event).await?;
        Ok(CompanyCreated {
            company,
            company_key: key,
            admin,
        })
    }

    pub(super) async fn owned_company(&self, p: &Principal, id: CompanyId) -> Result<Company> {
        authorize(p, Action::CompanyLifecycle, Target::Company(id))?;
        self.store
            .tenants()
            .get_company(id)
            .await?
            .ok_or(Error::not_found("company"))
    }

    pub(super) async fn plan_of(&self, company: &Company) -> Result<Plan> {
        self.store
            .tenants()
            .get_plan(company.plan_id)
            .await?
            .ok_or(Error::not_found("plan"))
    }

    pub(super) async fn summary(
        &self,
        company: Company,
        plans: &BTreeMap<crate::ids::PlanId, Plan>,
    ) -> Result<CompanySummary> {
        let now = self.now();
        let seats_used = self.store.users().count_seats(company.id).await?;
        let plan = plans.get(&company.plan_id);
        Ok(CompanySummary {
            effective_status: company.effective_status(now),
            plan_code: plan.map(|p| p.code.clone()).unwrap_or_default(),
            seats_used,
            seats_limit: plan.map_or(0, |p| p.max_employees),
            no_sync: company.is_no_sync(now),
            company,
        })
    }

    pub(super) async fn plan_map(&self) -> Result<BTreeMap<crate::ids::PlanId, Plan>> {
        Ok(self
            .store
            .tenants()
            .list_plans()
            .await?
            .into_iter()
            .map(|p| (p.id, p))
            .collect())
    }

    /// Companies with their numbers (OWNER), ordered by id.
    pub async fn list_companies(
        &self,
        p: &Principal,
        page: &PageRequest,
    ) -> Result<Page<CompanySummary>> {
        authorize(p, Action::CompanyAggregates, Target::Platform)?;
        let plans = self.plan_map().await?;
        let companies = self
            .store
            .tenants()
            .list_companies(&CompanyFilter::default(), page)
            .await?;
        let mut items = Vec::with_capacity(companies.items.len());
        for c in companies.items {
            items.push(self.summary(c, &plans).await?);
        }
        Ok(Page {
            items,
            next_cursor: companies.next_cursor,
        })
    }

    /// One company in detail (OWNER): numbers, billing, 30 days of usage.
    pub async fn company_detail(&self, p: &Principal, id: CompanyId) -> Result<CompanyDetail> {
        authorize(p, Action::CompanyAggregates, Target::Company(id))?;
        if p.role() != Role::Owner {
            return Err(Error::Forbidden {
                action: Action::CompanyLifecycle.name(),
            });
        }
        let company = self
            .store
            .tenants()
            .get_company(id)
            .await?
            .ok_or(Error::not_found("company"))?;
        let plan = self.plan_of(&company).await?;
        let today = local_date(company.tz(), self.now());
        let usage = self
            .store
            .usage()
            .list_usage(Some(id), today - Duration::days(29), today)
            .await?;
        let storage_used_bytes = self.store.tracking().storage_used(id).await?;
        let subscriptions = self.store.tenants().list_subscriptions(id).await?;
        let plans = BTreeMap::from([(plan.id, plan.clone())]);
        Ok(CompanyDetail {
            summary: self.summary(company, &plans).await?,
            plan,
            storage_used_bytes,
            subscriptions,
            usage,
        })
    }

    /// Changes or renews a company's plan (OWNER). Refused with
    /// `PlanTooSmall` if the seats in use or the storage used exceed the new
    /// plan. A TRIAL or EXPIRED company becomes ACTIVE; a SUSPENDED one stays
    /// suspended and returns to ACTIVE on reactivation.
    pub async fn change_plan(
        &self,
        p: &Principal,
        id: CompanyId,
        req: ChangePlan,
    ) -> Result<Company> {
        let company = self.owned_company(p, id).await?;
        let now = self.now();
        if req.expires_at.is_some_and(|e| e <= now) {
            return Err(Error::invalid("expires_at", "must be in the future"));
        }
        // Stores keep amounts as signed 64-bit integers.
        if req.amount_cents.is_some_and(|a| a > i64::MAX as u64) {
            return Err(Error::invalid(
                "amount_cents",
                format!("must be at most {}", i64::MAX),
            ));
        }
        let plan = self
            .store
            .tenants()
            .plan_by_code(&req.plan)
            .await?
            .ok_or_else(|| Self::plan_error(&req.plan))?;
        let seats = self.store.users().count_seats(id).await?;
        let storage = self.store.tracking().storage_used(id).await?;
        check_plan_fits(&plan, seats, storage)?;
        let old_plan = self
            .plan_of(&company)
            .await
            .map(|p| p.code)
            .unwrap_or_default();
        let mut updated = company.clone();
        updated.plan_id = plan.id;
        updated.subscription_expires_at = req.expires_at;
        updated.trial_ends_at = None;
        if company.status == CompanyStatus::Suspended {
            updated.status_before_suspension = Some(CompanyStatus::Active);
        } else {
            updated.status = CompanyStatus::Active;
        }
        let amount = req.amount_cents.unwrap_or(plan.price_monthly_cents);
        let subscription = Subscription {
            id: SubscriptionId::new(),
            company_id: id,
            plan_id: plan.id,
            amount_cents: amount,
            starts_at: now,
            ends_at: req.expires_at,
            created_by: Some(p.user_id()),
            created_at: now,
        };
        let audit = self.event(
            p,
            AuditChain::Platform,
            AuditAction::PlanChanged,
            format!(
                "plan of {:?} changed from {old_plan} to {}",
                company.name, plan.code
            ),
            serde_json::json!({
                "company_id": id,
                "old_plan": old_plan,
                "new_plan": plan.code,
                "expires_at": req.expires_at,
                "amount_cents": amount,
            }),
        );
        self.store
            .tenants()
            .update_company(&CompanyChange {
                company: updated.clone(),
                subscription: Some(subscription),
                max_seats: Some(plan.max_employees),
                max_storage_bytes: Some(plan.max_storage_bytes),
                expect_status: None,
                audit,
            })
            .await?;
        Ok(updated)
    }

    /// Suspends a company (OWNER): every company-user call is refused until
    /// reactivation.
    pub async fn suspend_company(
        &self,
        p: &Principal,
        id: CompanyId,
        reason: Option<String>,
    ) -> Result<Company> {
        let company = self.owned_company(p, id).await?;
        if let Some(r) = &reason {
            let mut v = Validator::new();
            v.max_len("reason", r, 2_000);
            v.finish()?;
        }
        let updated = company.suspended(self.now())?;
        let audit = self.event(
            p,
            AuditChain::Platform,
            AuditAction::CompanySuspended,
            format!("company {:?} suspended", company.name),
            serde_json::json!({ "company_id": id, "reason": reason, "previous_status": company.status }),
        );
        self.change_company(&updated, Some(company.status), audit)
            .await?;
        Ok(updated)
    }

    /// Reactivates a suspended company (OWNER).
    pub async fn reactivate_company(&self, p: &Principal, id: CompanyId) -> Result<Company> {
        let company = self.owned_company(p, id).await?;
        let updated = company.reactivated()?;
        let audit = self.event(
            p,
            AuditChain::Platform,
            AuditAction::CompanyReactivated,
            format!("company {:?} reactivated", company.name),
            serde_json::json!({ "company_id": id, "status": updated.status }),
        );
        self.change_company(&updated, Some(company.status), audit)
            .await?;
        Ok(updated)
    }

    /// Rotates a company's key (OWNER): the old key stops working at once;
    /// the new one is in the answer and nowhere else.
    pub async fn rotate_company_key(&self, p: &Principal, id: CompanyId) -> Result<CompanyKey> {
        let company = self.owned_company(p, id).await?;
        let key = CompanyKey::generate()?;
        let mut updated = company.clone();
        updated.key_hash = key.hash();
        let audit = self.event(
            p,
            AuditChain::Platform,
            AuditAction::KeyRotated,
            format!("key of company {:?} rotated", company.name),
            serde_json::json!({ "company_id": id }),
        );
        self.save_company(&updated, audit).await?;
        Ok(key)
    }

    /// Sets a company's retention in days, 1 to 3650 (OWNER).
    pub async fn set_retention(&self, p: &Principal, id: CompanyId, days: u32) -> Result<Company> {
        let company = self.owned_company(p, id).await?;
        let mut v = Validator::new();
        validate_company_fields(&mut v, None, None, Some(days));
        v.finish()?;
        let mut updated = company.clone();
        updated.retention_days = days;
        let audit = self.event(
            p,
            AuditChain::Platform,
            AuditAction::RetentionChanged,
            format!("retention of {:?} changed to {days} days", company.name),
            serde_json::json!({ "company_id": id, "old": company.retention_days, "new": days }),
        );
        self.save_company(&updated, audit).await?;
        Ok(updated)
    }

    /// ACTIVE companies without sync for 24 hours (OWNER): numbers only,
    /// ordered by company id.
    pub async fn no_sync_companies(
        &self,
        p: &Principal,
        page: &PageRequest,
    ) -> Result<Page<NoSyncCompany>> {
        authorize(p, Action::CompanyAggregates, Target::Platform)?;
        let now = self.now();
        let alerts = self.open_no_sync_alerts().await?;
        let companies = self
            .store
            .tenants()
            .all_companies()
            .await?
            .into_iter()
            .filter(|c| c.is_no_sync(now))
            .map(|c| NoSyncCompany {
                company_id: c.id,
                hours_without_sync: (now - c.last_sync_at.unwrap_or(c.created_at)).num_hours(),
                alert_raised_at: alerts.get(&c.id).copied(),
                name: c.name,
                last_sync_at: c.last_sync_at,
            })
            .collect();
        Page::of_all(companies, page, |c| c.company_id.0.to_string())
    }

    pub(super) async fn save_company(&self, company: &Company, audit: NewAuditEvent) -> Result<()> {
        self.change_company(company, None, audit).await
    }

    /// Stores `company` if its stored status is still `from` (a status
    /// transition happens once), else `InvalidState`.
    async fn change_company(
        &self,
        company: &Company,
        from: Option<CompanyStatus>,
        audit: NewAuditEvent,
    ) -> Result<()> {
        self.store
            .tenants()
            .update_company(&CompanyChange {
                company: company.clone(),
                subscription: None,
                max_seats: None,
                max_storage_bytes: None,
                expect_status: from,
                audit,
            })
            .await
    }
}
