//! [`TenantStore`]: plans, companies and their billing history.

use async_trait::async_trait;
use rusqlite::{Connection, params};
use tracker_core::audit::NewAuditEvent;
use tracker_core::error::{Error, Result};
use tracker_core::paging::{Page, PageRequest};
use tracker_core::secret::SecretHash;
use tracker_core::store::{CompanyChange, CompanyFilter, NewCompany, TenantStore};
use tracker_core::{Company, CompanyId, Plan, PlanId, Subscription};

use crate::SqliteStore;
use crate::codec::{self, R, int, ts, ts_opt};
use crate::rows::{append, company_row, seats, storage, username_taken, write_policy, write_user};
use crate::sql::{Query, all, count, exec, one};

fn write_company(conn: &Connection, c: &Company, insert: bool) -> R<()> {
    let sql = if insert {
        "INSERT INTO companies (id, name, status, plan_id, trial_ends_at, subscription_expires_at, status_before_suspension,
           timezone, retention_days, last_sync_at, created_at, key_hash, legal_hold)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
    } else {
        "UPDATE companies SET name = ?2, status = ?3, plan_id = ?4, trial_ends_at = ?5, subscription_expires_at = ?6,
           status_before_suspension = ?7, timezone = ?8, retention_days = ?9, last_sync_at = ?10, created_at = ?11, key_hash = ?12,
           legal_hold = ?13
         WHERE id = ?1"
    };
    exec(
        conn,
        sql,
        params![
            c.id.0,
            c.name,
            c.status.as_str(),
            c.plan_id.0,
            ts_opt(c.trial_ends_at),
            ts_opt(c.subscription_expires_at),
            c.status_before_suspension.map(|s| s.as_str()),
            c.timezone,
            c.retention_days,
            ts_opt(c.last_sync_at),
            ts(c.created_at),
            c.key_hash.as_str(),
            tracker_core::rows::company_hold(c).to_string()
        ],
    )?;
    Ok(())
}

fn write_subscription(conn: &Connection, s: &Subscription) -> R<()> {
    exec(
        conn,
        "INSERT INTO subscriptions (company_id, id, plan_id, amount_cents, starts_at, ends_at, created_by, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            s.company_id.0,
            s.id.0,
            s.plan_id.0,
            int(s.amount_cents),
            ts(s.starts_at),
            ts_opt(s.ends_at),
            s.created_by.map(|u| u.0),
            ts(s.created_at)
        ],
    )?;
    Ok(())
}

#[async_trait]
impl TenantStore for SqliteStore {
    async fn insert_plan(&self, plan: &Plan, audit: NewAuditEvent) -> Result<()> {
        let plan = plan.clone();
        self.engine
            .write(move |c| {
                if count(c, "SELECT count(*) FROM plans WHERE code = ?1", params![plan.code])? > 0 {
                    return Err(Error::AlreadyExists {
                        entity: "plan",
                        value: plan.code,
                    });
                }
                exec(
                    c,
                    "INSERT INTO plans (id, code, max_employees, max_storage_bytes, price_monthly_cents) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        plan.id.0,
                        plan.code,
                        plan.max_employees,
                        int(plan.max_storage_bytes),
                        int(plan.price_monthly_cents)
                    ],
                )?;
                append(c, audit).map(drop)
            })
            .await
    }

    async fn list_plans(&self) -> Result<Vec<Plan>> {
        self.engine
            .read(|c| all(c, "SELECT * FROM plans ORDER BY code", &[], codec::plan))
            .await
    }

    async fn insert_company(&self, new: &NewCompany, audit: NewAuditEvent) -> Result<()> {
        let new = new.clone();
        self.engine
            .write(move |c| {
                if count(
                    c,
                    "SELECT count(*) FROM companies WHERE id = ?1",
                    params![new.company.id.0],
                )? > 0
                {
                    return Err(Error::AlreadyExists {
                        entity: "company",
                        value: new.company.id.to_string(),
                    });
                }
                if username_taken(c, &new.admin)? {
                    return Err(Error::UsernameTaken {
                        username: new.admin.username,
                    });
                }
                write_company(c, &new.company, true)?;
                write_policy(c, &new.policy)?;
                write_user(c, &new.admin)?;
                write_subscription(c, &new.subscription)?;
                append(c, audit)?;
                append(c, new.admin_audit).map(drop)
            })
            .await
    }

    async fn list_companies(
        &self,
        filter: &CompanyFilter,
        page: &PageRequest,
    ) -> Result<Page<Company>> {
        let (filter, page) = (filter.clone(), page.clone());
        self.engine
            .read(move |c| {
                let q = Query::unscoped("SELECT * FROM companies")
                    .in_set("id", filter.ids.as_ref())
                    .and_opt(
                        "key_hash = ?",
                        filter.key_hash.as_ref().map(|h| h.as_str().to_owned()),
                    );
                let (q, limit) = q.page_id(&page)?;
                let mut rows = q.run(c, codec::company)?;
                // The index finds the row; the comparison that decides is
                // constant-time (and drops nothing the query kept).
                rows.retain(|company| filter.matches(company));
                Ok(Page::from_overfetch(rows, limit, |c| c.id.to_string()))
            })
            .await
    }

    async fn update_company(&self, change: &CompanyChange) -> Result<()> {
        let change = change.clone();
        self.engine
            .write(move |c| {
                let id = change.company.id;
                let stored = company_row(c, id)?.ok_or(Error::not_found("company"))?;
                change.check_status(stored.status)?;
                // Counted only when a limit applies: key rotations and suspensions skip it.
                let seats_in_use = if change.max_seats.is_some() {
                    seats(c, id)?
                } else {
                    0
                };
                let stored = if change.max_storage_bytes.is_some() {
                    storage(c, id)?
                } else {
                    0
                };
                change.check_limits(seats_in_use, stored)?;
                write_company(c, &change.company, false)?;
                if let Some(s) = &change.subscription {
                    write_subscription(c, s)?;
                }
                append(c, change.audit).map(drop)
            })
            .await
    }

    async fn list_subscriptions(&self, company: CompanyId) -> Result<Vec<Subscription>> {
        self.in_company(
            "SELECT * FROM subscriptions WHERE company_id = ?1 ORDER BY created_at, id",
            company,
            codec::subscription,
        )
        .await
    }

    // Provided methods, overridden with one key lookup or one query.

    async fn get_plan(&self, id: PlanId) -> Result<Option<Plan>> {
        self.engine
            .point(move |c| {
                one(
                    c,
                    "SELECT * FROM plans WHERE id = ?1",
                    params![id.0],
                    codec::plan,
                )
            })
            .await
    }

    async fn plan_by_code(&self, code: &str) -> Result<Option<Plan>> {
        let code = code.to_owned();
        self.engine
            .read(move |c| {
                one(
                    c,
                    "SELECT * FROM plans WHERE code = ?1",
                    params![code],
                    codec::plan,
                )
            })
            .await
    }

    async fn get_company(&self, id: CompanyId) -> Result<Option<Company>> {
        self.engine.point(move |c| company_row(c, id)).await
    }

    async fn company_by_key_hash(&self, key_hash: &SecretHash) -> Result<Option<Company>> {
        let hash = key_hash.clone();
        let found = self
            .engine
            .read(move |c| {
                one(
                    c,
                    "SELECT * FROM companies WHERE key_hash = ?1",
                    params![hash.as_str()],
                    codec::company,
                )
            })
            .await?;
        // The index finds the row; the comparison that decides is constant-time.
        Ok(found.filter(|c| c.key_hash.ct_eq(key_hash)))
    }

    async fn all_companies(&self) -> Result<Vec<Company>> {
        self.engine
            .read(|c| {
                all(
                    c,
                    "SELECT * FROM companies ORDER BY id",
                    &[],
                    codec::company,
                )
            })
            .await
    }
}
