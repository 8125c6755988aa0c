//! [`TenantStore`]: plans, companies and their billing history.

use async_trait::async_trait;
use tracker_core::audit::NewAuditEvent;
use tracker_core::paging::{Page, PageRequest};
use tracker_core::secret::SecretHash;
use tracker_core::store::{CompanyChange, CompanyFilter, NewCompany, TenantStore};
use tracker_core::{Company, CompanyId, Error, Plan, PlanId, Result, Subscription};

use crate::PgStore;
use crate::chain::append;
use crate::codec::{self, int, int32};
use crate::scope::Scope;
use crate::shared::{policy_query, seats, storage, username_taken, write_user};
use crate::sql::{Q, Select, exec, one, q};
use crate::tx::{Lock, lock};

/// A company statement with the company's columns bound as `$1`…`$13`.
fn company_query(sql: &'static str, c: &Company) -> Q {
    q(sql)
        .bind(c.id.0)
        .bind(c.name.clone())
        .bind(c.status.as_str())
        .bind(c.plan_id.0)
        .bind(c.trial_ends_at)
        .bind(c.subscription_expires_at)
        .bind(c.status_before_suspension.map(|s| s.as_str()))
        .bind(c.timezone.clone())
        .bind(int32(c.retention_days))
        .bind(c.last_sync_at)
        .bind(c.created_at)
        .bind(c.key_hash.as_str().to_owned())
        .bind(tracker_core::rows::company_hold(c))
}

fn subscription_query(s: &Subscription) -> Q {
    q("INSERT INTO subscriptions (company_id, id, plan_id, amount_cents, starts_at, ends_at, created_by, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
    .bind(s.company_id.0)
    .bind(s.id.0)
    .bind(s.plan_id.0)
    .bind(int(s.amount_cents))
    .bind(s.starts_at)
    .bind(s.ends_at)
    .bind(s.created_by.map(|u| u.0))
    .bind(s.created_at)
}

#[async_trait]
impl TenantStore for PgStore {
    async fn insert_plan(&self, plan: &Plan, audit: NewAuditEvent) -> Result<()> {
        self.in_tx(Scope::Platform, async |tx| {
            let inserted = exec(
                tx,
                q("INSERT INTO plans (id, code, max_employees, max_storage_bytes, price_monthly_cents)
                   VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING")
                .bind(plan.id.0)
                .bind(plan.code.clone())
                .bind(int32(plan.max_employees))
                .bind(int(plan.max_storage_bytes))
                .bind(int(plan.price_monthly_cents)),
            )
            .await?;
            if inserted == 0 {
                return Err(Error::AlreadyExists {
                    entity: "plan",
                    value: plan.code.clone(),
                });
            }
            append(tx, audit).await?;
            Ok(())
        })
        .await
    }

    async fn list_plans(&self) -> Result<Vec<Plan>> {
        self.read_all(
            Scope::Platform,
            q("SELECT * FROM plans ORDER BY code COLLATE \"C\""),
            codec::plan,
        )
        .await
    }

    async fn get_plan(&self, id: PlanId) -> Result<Option<Plan>> {
        self.read_one(
            Scope::Platform,
            q("SELECT * FROM plans WHERE id = $1").bind(id.0),
            codec::plan,
        )
        .await
    }

    async fn plan_by_code(&self, code: &str) -> Result<Option<Plan>> {
        self.read_one(
            Scope::Platform,
            q("SELECT * FROM plans WHERE code = $1").bind(code.to_owned()),
            codec::plan,
        )
        .await
    }

    async fn insert_company(&self, new: &NewCompany, audit: NewAuditEvent) -> Result<()> {
        self.in_tx(Scope::Platform, async |tx| {
            let inserted = exec(
                tx,
                company_query(
                    "INSERT INTO companies (id, name, status, plan_id, trial_ends_at, subscription_expires_at, status_before_suspension,
                       timezone, retention_days, last_sync_at, created_at, key_hash, legal_hold)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT DO NOTHING",
                    &new.company,
                ),
            )
            .await?;
            if inserted == 0 {
                return Err(Error::AlreadyExists {
                    entity: "company",
                    value: new.company.id.to_string(),
                });
            }
            if username_taken(tx, &new.admin).await? {
                return Err(Error::UsernameTaken {
                    username: new.admin.username.clone(),
                });
            }
            exec(
                tx,
                policy_query(
                    "INSERT INTO policies (company_id, screenshots_enabled, screenshot_interval_seconds, website_tracking_enabled,
                       app_tracking_enabled, idle_threshold_seconds, blur_screenshots, version, updated_at,
                       privacy, revision)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                    &new.policy,
                ),
            )
            .await?;
            write_user(tx, &new.admin).await?;
            exec(tx, subscription_query(&new.subscription)).await?;
            append(tx, audit).await?;
            append(tx, new.admin_audit.clone()).await?;
            Ok(())
        })
        .await
    }

    async fn list_companies(
        &self,
        filter: &CompanyFilter,
        page: &PageRequest,
    ) -> Result<Page<Company>> {
        let (s, limit) = Select::all("SELECT * FROM companies")
            .any("id", filter.ids.as_ref())
            .and_opt(
                "key_hash = ",
                filter.key_hash.as_ref().map(|h| h.as_str().to_owned()),
            )
            .page_id(page)?;
        let mut rows = s.run(self, codec::company).await?;
        if filter.key_hash.is_some() {
            // The index finds the row; the comparison that decides is constant-time.
            rows.retain(|c| filter.matches(c));
        }
        Ok(Page::from_overfetch(rows, limit, |c| c.id.to_string()))
    }

    async fn get_company(&self, id: CompanyId) -> Result<Option<Company>> {
        self.read_one(
            Scope::of(id),
            q("SELECT * FROM companies WHERE id = $1").bind(id.0),
            codec::company,
        )
        .await
    }

    async fn company_by_key_hash(&self, key_hash: &SecretHash) -> Result<Option<Company>> {
        let found = self
            .read_one(
                Scope::Platform,
                q("SELECT * FROM companies WHERE key_hash = $1").bind(key_hash.as_str().to_owned()),
                codec::company,
            )
            .await?;
        // The index finds the row; the comparison that decides is constant-time.
        Ok(found.filter(|c| c.key_hash.ct_eq(key_hash)))
    }

    async fn all_companies(&self) -> Result<Vec<Company>> {
        self.read_all(
            Scope::Platform,
            q("SELECT * FROM companies ORDER BY id"),
            codec::company,
        )
        .await
    }

    async fn update_company(&self, change: &CompanyChange) -> Result<()> {
        let id = change.company.id;
        let written = self.in_tx(Scope::Platform, async |tx| {
            if change.expect_status.is_some() {
                // The row lock makes racing transitions take turns: each
                // reads the status the one before it left.
                let stored = one(
                    tx,
                    q("SELECT * FROM companies WHERE id = $1 FOR UPDATE").bind(id.0),
                    codec::company,
                )
                .await?
                .ok_or(Error::not_found("company"))?;
                change.check_status(stored.status)?;
            }
            // Counted only when a limit applies: key rotations and suspensions skip it.
            if change.max_seats.is_some() || change.max_storage_bytes.is_some() {
                lock(tx, Lock::Limits, id).await?;
                let seats_in_use = seats(tx, id).await?;
                let stored = storage(tx, id).await?;
                change.check_limits(seats_in_use, stored)?;
            }
            let updated = exec(
                tx,
                company_query(
                    "UPDATE companies SET name = $2, status = $3, plan_id = $4, trial_ends_at = $5, subscription_expires_at = $6,
                       status_before_suspension = $7, timezone = $8, retention_days = $9,
                       -- Only heartbeats move it, and never back: a change made from an
                       -- older copy of the row (a cached context) must not undo one.
                       last_sync_at = GREATEST(companies.last_sync_at, $10), created_at = $11,
                       key_hash = $12, legal_hold = $13
                     WHERE id = $1",
                    &change.company,
                ),
            )
            .await?;
            if updated == 0 {
                return Err(Error::not_found("company"));
            }
            if let Some(s) = &change.subscription {
                exec(tx, subscription_query(s)).await?;
            }
            append(tx, change.audit.clone()).await?;
            Ok(())
        })
        .await;
        // The timezone may have changed: the next ingest reads it again.
        self.zones.forget(id);
        self.forgetting(Some(id), written)
    }

    async fn list_subscriptions(&self, company: CompanyId) -> Result<Vec<Subscription>> {
        self.read_all(
            Scope::of(company),
            q("SELECT * FROM subscriptions WHERE company_id = $1 ORDER BY created_at, id")
                .bind(company.0),
            codec::subscription,
        )
        .await
    }
}
