//! The storage ports on PostgreSQL.

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{PgConnection, Postgres, QueryBuilder};
use tracker_core::audit::{AuditChain, AuditEvent, ChainHead, NewAuditEvent};
use tracker_core::identity::TokenRecord;
use tracker_core::notify::{AlertFilter, DeliveryRecord};
use tracker_core::paging::{Page, PageRequest, encode_time_id};
use tracker_core::rows;
use tracker_core::secret::SecretHash;
use tracker_core::store::*;
use tracker_core::tenancy::check_seat_available;
use tracker_core::*;
use uuid::Uuid;

use crate::PgStore;
use crate::codec::{self, R, bound_date, bound_time, chain_key, company_key, int, int32, uuids};
use crate::error::{db, unique_violation};

type Mapper<T> = fn(&PgRow) -> R<T>;
type Q = Query<'static, Postgres, PgArguments>;

fn q(sql: &'static str) -> Q {
    sqlx::query(sql)
}

fn decode_all<T>(rows: &[PgRow], map: Mapper<T>) -> R<Vec<T>> {
    rows.iter().map(map).collect()
}

async fn one<T>(conn: &mut PgConnection, query: Q, map: Mapper<T>) -> R<Option<T>> {
    let row = query.fetch_optional(conn).await.map_err(db)?;
    row.as_ref().map(map).transpose()
}

async fn exec(conn: &mut PgConnection, query: Q) -> R<u64> {
    Ok(query.execute(conn).await.map_err(db)?.rows_affected())
}

async fn scalar_i64(conn: &mut PgConnection, query: Q) -> R<i64> {
    use sqlx::Row;
    let row = query.fetch_one(conn).await.map_err(db)?;
    row.try_get(0).map_err(db)
}

/// Runs a statement, turning a violation of the named unique constraint
/// into `err` (a concurrent writer may pass a check made before it).
async fn exec_unique(
    conn: &mut PgConnection,
    query: Q,
    constraint: &str,
    err: impl FnOnce() -> Error,
) -> R<u64> {
    match query.execute(conn).await {
        Ok(done) => Ok(done.rows_affected()),
        Err(e) if unique_violation(&e).is_some_and(|c| c == constraint) => Err(err()),
        Err(e) => Err(db(e)),
    }
}

/// Advisory locks taken inside a transaction, released at its end.
#[derive(Clone, Copy)]
enum Lock {
    /// Seat and storage limits of a company.
    Limits = 1,
}

async fn lock(conn: &mut PgConnection, what: Lock, company: CompanyId) -> R<()> {
    q("SELECT pg_advisory_xact_lock(hashtextextended($1::text, $2))")
        .bind(company.0)
        .bind(what as i64)
        .execute(conn)
        .await
        .map_err(db)
        .map(drop)
}

/// Appends an event after its chain's head, inside the caller's
/// transaction. The upsert locks the head row, so concurrent appends to one
/// chain take turns; the primary key refuses a reused sequence number.
pub(crate) async fn append(conn: &mut PgConnection, event: NewAuditEvent) -> R<AuditEvent> {
    use sqlx::Row;
    let key = chain_key(event.chain);
    let row = q(
        "INSERT INTO audit_heads (company_id, seq, hash) VALUES ($1, 0, '')
         ON CONFLICT (company_id) DO UPDATE SET seq = audit_heads.seq
         RETURNING seq, hash",
    )
    .bind(key)
    .fetch_one(&mut *conn)
    .await
    .map_err(db)?;
    let seq: i64 = row.try_get("seq").map_err(db)?;
    let head = (seq > 0)
        .then(|| -> R<ChainHead> {
            Ok(ChainHead {
                seq: u64::try_from(seq).unwrap_or(0),
                hash: row.try_get("hash").map_err(db)?,
            })
        })
        .transpose()?;
    let e = event.link(head.as_ref());
    let actor =
        serde_json::to_value(&e.actor).map_err(|err| codec::corrupt("actor", err.to_string()))?;
    q("WITH event AS (
           INSERT INTO audit_events (company_id, seq, id, actor, action, description, details, client_ip, at, prev_hash, hash)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11))
       UPDATE audit_heads SET seq = $2, hash = $11 WHERE company_id = $1")
    .bind(key)
    .bind(int(e.seq))
    .bind(e.id.0)
    .bind(actor)
    .bind(e.action.as_str())
    .bind(e.description.clone())
    .bind(e.details.clone())
    .bind(e.client_ip.clone())
    .bind(e.at)
    .bind(e.prev_hash.clone())
    .bind(e.hash.clone())
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(e)
}

async fn seats(conn: &mut PgConnection, company: CompanyId) -> R<u32> {
    let n = scalar_i64(
        conn,
        q("SELECT count(*) FROM users WHERE company_id = $1 AND active").bind(company.0),
    )
    .await?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

async fn storage(conn: &mut PgConnection, company: CompanyId) -> R<u64> {
    let n = scalar_i64(
        conn,
        q("SELECT coalesce(sum(size_bytes), 0)::bigint FROM screenshots WHERE company_id = $1")
            .bind(company.0),
    )
    .await?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Marks UTC dates of a company as pending for the usage job, bumping the
/// version of a date marked already.
async fn mark_days(conn: &mut PgConnection, company: CompanyId, dates: &[NaiveDate]) -> R<()> {
    // Sorted and distinct: an upsert cannot touch one row twice, and
    // concurrent markers lock the company's dates in one order, so they
    // never deadlock.
    let dates: Vec<NaiveDate> = dates
        .iter()
        .map(|d| bound_date(*d))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if dates.is_empty() {
        return Ok(());
    }
    exec(
        conn,
        q("INSERT INTO usage_pending (company_id, date, version)
           SELECT $1, d, 1 FROM UNNEST($2::date[]) AS d ORDER BY d
           ON CONFLICT (company_id, date) DO UPDATE SET version = usage_pending.version + 1")
        .bind(company.0)
        .bind(dates),
    )
    .await
    .map(drop)
}

async fn exists(conn: &mut PgConnection, query: Q) -> R<bool> {
    Ok(query.fetch_optional(conn).await.map_err(db)?.is_some())
}

async fn company_exists(conn: &mut PgConnection, company: CompanyId) -> R<bool> {
    exists(
        conn,
        q("SELECT 1 FROM companies WHERE id = $1").bind(company.0),
    )
    .await
}

async fn username_taken(conn: &mut PgConnection, u: &User) -> R<bool> {
    exists(
        conn,
        q("SELECT 1 FROM users WHERE company_id = $1 AND username = $2 AND id <> $3")
            .bind(company_key(u.company_id))
            .bind(u.username.clone())
            .bind(u.id.0),
    )
    .await
}

async fn write_user(conn: &mut PgConnection, u: &User) -> R<()> {
    let query = q("INSERT INTO users (company_id, id, role, username, email, display_name, active, last_agent_sync_at, password_hash, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (company_id, id) DO UPDATE SET
           role = excluded.role, username = excluded.username, email = excluded.email,
           display_name = excluded.display_name, active = excluded.active,
           password_hash = excluded.password_hash")
    .bind(company_key(u.company_id))
    .bind(u.id.0)
    .bind(u.role.as_str())
    .bind(u.username.clone())
    .bind(u.email.clone())
    .bind(u.display_name.clone())
    .bind(u.active)
    .bind(u.last_agent_sync_at)
    .bind(u.password_hash.clone())
    .bind(u.created_at);
    let username = u.username.clone();
    exec_unique(conn, query, "users_username_key", || Error::UsernameTaken {
        username,
    })
    .await
    .map(drop)
}

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
}

async fn write_subscription(conn: &mut PgConnection, s: &Subscription) -> R<()> {
    exec(
        conn,
        q("INSERT INTO subscriptions (company_id, id, plan_id, amount_cents, starts_at, ends_at, created_by, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
        .bind(s.company_id.0)
        .bind(s.id.0)
        .bind(s.plan_id.0)
        .bind(int(s.amount_cents))
        .bind(s.starts_at)
        .bind(s.ends_at)
        .bind(s.created_by.map(|u| u.0))
        .bind(s.created_at),
    )
    .await
    .map(drop)
}

fn policy_query(sql: &'static str, p: &TrackingPolicy) -> Q {
    q(sql)
        .bind(p.company_id.0)
        .bind(p.screenshots_enabled)
        .bind(int32(p.screenshot_interval_seconds))
        .bind(p.website_tracking_enabled)
        .bind(p.app_tracking_enabled)
        .bind(int32(p.idle_threshold_seconds))
        .bind(p.blur_screenshots)
        .bind(int(p.version))
        .bind(p.updated_at)
}

async fn team_name_taken(conn: &mut PgConnection, t: &Team) -> R<bool> {
    exists(
        conn,
        q("SELECT 1 FROM teams WHERE company_id = $1 AND name = $2 AND id <> $3")
            .bind(t.company_id.0)
            .bind(t.name.clone())
            .bind(t.id.0),
    )
    .await
}

async fn write_team(conn: &mut PgConnection, t: &Team) -> R<()> {
    let query = q("INSERT INTO teams (company_id, id, name, managers, members, created_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (company_id, id) DO UPDATE SET name = excluded.name, managers = excluded.managers, members = excluded.members")
    .bind(t.company_id.0)
    .bind(t.id.0)
    .bind(t.name.clone())
    .bind(uuids(t.managers.iter().copied()))
    .bind(uuids(t.members.iter().copied()))
    .bind(t.created_at);
    let name = t.name.clone();
    exec_unique(conn, query, "teams_name_key", || Error::AlreadyExists {
        entity: "team",
        value: name,
    })
    .await
    .map(drop)
}

/// A query over one company's rows under construction.
struct Select(QueryBuilder<Postgres>);

impl Select {
    fn new(select: &str, company: Uuid) -> Self {
        let mut qb = QueryBuilder::new(format!("{select} WHERE company_id = "));
        qb.push_bind(company);
        Self(qb)
    }

    /// Appends ` AND {cond}{value}`.
    fn and<T>(mut self, cond: &str, value: T) -> Self
    where
        T: for<'q> sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres>,
    {
        self.0.push(" AND ").push(cond).push_bind(value);
        self
    }

    fn and_opt<T>(self, cond: &str, value: Option<T>) -> Self
    where
        T: for<'q> sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres>,
    {
        match value {
            Some(v) => self.and(cond, v),
            None => self,
        }
    }

    fn users(mut self, col: &str, users: &Option<BTreeSet<UserId>>) -> Self {
        if let Some(set) = users {
            self.0.push(format!(" AND {col} = ANY("));
            self.0.push_bind(uuids(set.iter().copied()));
            self.0.push(")");
        }
        self
    }

    /// Keyset paging on (time column, id) and the limit.
    fn page_time(mut self, col: &str, page: &PageRequest) -> R<(Self, usize)> {
        let limit = page.limit()?;
        if let Some((at, id)) = page.after_time_id()? {
            self.0.push(format!(" AND ({col}, id) > ("));
            self.0.push_bind(at).push(", ").push_bind(id).push(")");
        }
        self.0
            .push(format!(" ORDER BY {col}, id LIMIT {}", limit + 1));
        Ok((self, limit))
    }

    /// Keyset paging on id and the limit.
    fn page_id(self, page: &PageRequest) -> R<(Self, usize)> {
        let limit = page.limit()?;
        let mut s = self.and_opt("id > ", page.after_id()?);
        s.0.push(format!(" ORDER BY id LIMIT {}", limit + 1));
        Ok((s, limit))
    }

    fn tail(mut self, s: &str) -> Self {
        self.0.push(s);
        self
    }

    async fn run<T>(mut self, store: &PgStore, map: Mapper<T>) -> R<Vec<T>> {
        let rows = self.0.build().fetch_all(&store.pool).await.map_err(db)?;
        decode_all(&rows, map)
    }
}

fn time_page<T>(rows: Vec<T>, limit: usize, key: impl Fn(&T) -> (DateTime<Utc>, Uuid)) -> Page<T> {
    Page::from_overfetch(rows, limit, |t| {
        let (at, id) = key(t);
        encode_time_id(at, id)
    })
}

fn tracking_select(table: &str, company: CompanyId, filter: &TrackingFilter, col: &str) -> Select {
    Select::new(&format!("SELECT * FROM {table}"), company.0)
        .users("user_id", &filter.users)
        .and_opt(&format!("{col} >= "), filter.from.map(bound_time))
        .and_opt(&format!("{col} < "), filter.to.map(bound_time))
}

impl PgStore {
    async fn read_all<T>(&self, query: Q, map: Mapper<T>) -> R<Vec<T>> {
        let rows = query.fetch_all(&self.pool).await.map_err(db)?;
        decode_all(&rows, map)
    }

    async fn read_one<T>(&self, query: Q, map: Mapper<T>) -> R<Option<T>> {
        let row = query.fetch_optional(&self.pool).await.map_err(db)?;
        row.as_ref().map(map).transpose()
    }

    /// One row of a tenant table by (company, id).
    async fn by_key<T>(
        &self,
        table: &'static str,
        company: CompanyId,
        id: Uuid,
        map: Mapper<T>,
    ) -> R<Option<T>> {
        let sql = format!("SELECT * FROM {table} WHERE company_id = $1 AND id = $2");
        self.read_one(
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(company.0)
                .bind(id),
            map,
        )
        .await
    }

    /// A page of a tracking list ordered by (time, id).
    async fn by_time<T>(
        &self,
        table: &str,
        col: &str,
        (company, filter, page): (CompanyId, &TrackingFilter, &PageRequest),
        map: Mapper<T>,
        key: fn(&T) -> (DateTime<Utc>, Uuid),
    ) -> R<Page<T>> {
        let (s, limit) = tracking_select(table, company, filter, col).page_time(col, page)?;
        Ok(time_page(s.run(self, map).await?, limit, key))
    }

    async fn begin(&self) -> R<sqlx::Transaction<'static, Postgres>> {
        self.pool.begin().await.map_err(db)
    }
}

/// Commits on success; on failure rolls back at once, so no row or
/// advisory lock outlives the call on a connection idling in the pool.
pub(crate) async fn finish<T>(tx: sqlx::Transaction<'static, Postgres>, r: R<T>) -> R<T> {
    match r {
        Ok(v) => {
            tx.commit().await.map_err(db)?;
            Ok(v)
        }
        Err(e) => {
            // A failed rollback means a broken connection, which the pool drops.
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

#[async_trait]
impl TenantStore for PgStore {
    async fn insert_plan(&self, plan: &Plan, audit: NewAuditEvent) -> Result<()> {
        let mut tx = self.begin().await?;
        let r = async {
            let code = plan.code.clone();
            let already = || Error::AlreadyExists {
                entity: "plan",
                value: code,
            };
            let inserted = exec(
            &mut tx,
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
                return Err(already());
            }
            append(&mut tx, audit).await?;
            Ok(())
        }
        .await;
        finish(tx, r).await
    }

    async fn get_plan(&self, id: PlanId) -> Result<Option<Plan>> {
        self.read_one(
            q("SELECT * FROM plans WHERE id = $1").bind(id.0),
            codec::plan,
        )
        .await
    }

    async fn plan_by_code(&self, code: &str) -> Result<Option<Plan>> {
        self.read_one(
            q("SELECT * FROM plans WHERE code = $1").bind(code.to_owned()),
            codec::plan,
        )
        .await
    }

    async fn list_plans(&self) -> Result<Vec<Plan>> {
        self.read_all(
            q("SELECT * FROM plans ORDER BY code COLLATE \"C\""),
            codec::plan,
        )
        .await
    }

    async fn insert_company(&self, new: &NewCompany, audit: NewAuditEvent) -> Result<()> {
        let mut tx = self.begin().await?;
        let r = async {
        let inserted = exec(
            &mut tx,
            company_query(
                "INSERT INTO companies (id, name, status, plan_id, trial_ends_at, subscription_expires_at, status_before_suspension,
                   timezone, retention_days, last_sync_at, created_at, key_hash)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING",
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
        if username_taken(&mut tx, &new.admin).await? {
            return Err(Error::UsernameTaken {
                username: new.admin.username.clone(),
            });
        }
        exec(
            &mut tx,
            policy_query(
                "INSERT INTO policies (company_id, screenshots_enabled, screenshot_interval_seconds, website_tracking_enabled,
                   app_tracking_enabled, idle_threshold_seconds, blur_screenshots, version, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &new.policy,
            ),
        )
        .await?;
        write_user(&mut tx, &new.admin).await?;
        write_subscription(&mut tx, &new.subscription).await?;
        append(&mut tx, audit).await?;
            Ok(())
        }
        .await;
        finish(tx, r).await
    }

    async fn get_company(&self, id: CompanyId) -> Result<Option<Company>> {
        self.read_one(
            q("SELECT * FROM companies WHERE id = $1").bind(id.0),
            codec::company,
        )
        .await
    }

    async fn company_by_key_hash(&self, key_hash: &SecretHash) -> Result<Option<Company>> {
        let found = self
            .read_one(
                q("SELECT * FROM companies WHERE key_hash = $1").bind(key_hash.as_str().to_owned()),
                codec::company,
            )
            .await?;
        // The index finds the row; the comparison that decides is constant-time.
        Ok(found.filter(|c| c.key_hash.ct_eq(key_hash)))
    }

    async fn list_companies(&self, page: &PageRequest) -> Result<Page<Company>> {
        let limit = page.limit()?;
        let mut qb = QueryBuilder::<Postgres>::new("SELECT * FROM companies");
        if let Some(after) = page.after_id()? {
            qb.push(" WHERE id > ").push_bind(after);
        }
        qb.push(format!(" ORDER BY id LIMIT {}", limit + 1));
        let rows = qb.build().fetch_all(&self.pool).await.map_err(db)?;
        Ok(Page::from_overfetch(
            decode_all(&rows, codec::company)?,
            limit,
            |c| c.id.to_string(),
        ))
    }

    async fn all_companies(&self) -> Result<Vec<Company>> {
        self.read_all(q("SELECT * FROM companies ORDER BY id"), codec::company)
            .await
    }

    async fn update_company(&self, change: &CompanyChange) -> Result<()> {
        let id = change.company.id;
        let mut tx = self.begin().await?;
        let r = async {
        // Counted only when a limit applies: key rotations and suspensions skip it.
        if change.max_seats.is_some() || change.max_storage_bytes.is_some() {
            lock(&mut tx, Lock::Limits, id).await?;
            let seats_in_use = seats(&mut tx, id).await?;
            let stored = storage(&mut tx, id).await?;
            change.check_limits(seats_in_use, stored)?;
        }
        let updated = exec(
            &mut tx,
            company_query(
                "UPDATE companies SET name = $2, status = $3, plan_id = $4, trial_ends_at = $5, subscription_expires_at = $6,
                   status_before_suspension = $7, timezone = $8, retention_days = $9, last_sync_at = $10, created_at = $11,
                   key_hash = $12
                 WHERE id = $1",
                &change.company,
            ),
        )
        .await?;
        if updated == 0 {
            return Err(Error::not_found("company"));
        }
        if let Some(s) = &change.subscription {
            write_subscription(&mut tx, s).await?;
        }
        append(&mut tx, change.audit.clone()).await?;
            Ok(())
        }
        .await;
        finish(tx, r).await?;
        self.forget_timezone(id);
        Ok(())
    }

    async fn list_subscriptions(&self, company: CompanyId) -> Result<Vec<Subscription>> {
        self.read_all(
            q("SELECT * FROM subscriptions WHERE company_id = $1 ORDER BY created_at, id")
                .bind(company.0),
            codec::subscription,
        )
        .await
    }
}

#[async_trait]
impl UserStore for PgStore {
    async fn insert_user(
        &self,
        user: &User,
        seat_limit: Option<u32>,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let r = async {
            if let Some(company) = user.company_id
                && !company_exists(&mut tx, company).await?
            {
                return Err(Error::not_found("company"));
            }
            if username_taken(&mut tx, user).await? {
                return Err(Error::UsernameTaken {
                    username: user.username.clone(),
                });
            }
            if let (Some(limit), Some(company)) = (seat_limit, user.company_id)
                && user.active
            {
                lock(&mut tx, Lock::Limits, company).await?;
                check_seat_available(limit, seats(&mut tx, company).await?)?;
            }
            write_user(&mut tx, user).await?;
            append(&mut tx, audit).await?;
            Ok(())
        }
        .await;
        finish(tx, r).await
    }

    async fn get_user(&self, company: Option<CompanyId>, id: UserId) -> Result<Option<User>> {
        self.read_one(
            q("SELECT * FROM users WHERE company_id = $1 AND id = $2")
                .bind(company_key(company))
                .bind(id.0),
            codec::user,
        )
        .await
    }

    async fn user_by_username(
        &self,
        company: Option<CompanyId>,
        username: &str,
    ) -> Result<Option<User>> {
        self.read_one(
            q("SELECT * FROM users WHERE company_id = $1 AND username = $2")
                .bind(company_key(company))
                .bind(username.to_owned()),
            codec::user,
        )
        .await
    }

    async fn list_users(
        &self,
        company: CompanyId,
        filter: &UserFilter,
        page: &PageRequest,
    ) -> Result<Page<User>> {
        let (s, limit) = Select::new("SELECT * FROM users", company.0)
            .users("id", &filter.ids)
            .and_opt("active = ", filter.active)
            .page_id(page)?;
        Ok(Page::from_overfetch(
            s.run(self, codec::user).await?,
            limit,
            |u| u.id.to_string(),
        ))
    }

    async fn count_seats(&self, company: CompanyId) -> Result<u32> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        seats(&mut conn, company).await
    }

    async fn has_owner(&self) -> Result<bool> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        exists(
            &mut conn,
            q("SELECT 1 FROM users WHERE company_id = $1 LIMIT 1").bind(codec::PLATFORM),
        )
        .await
    }

    async fn update_user(
        &self,
        user: &User,
        update: &UserUpdate,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let key = company_key(user.company_id);
        let mut tx = self.begin().await?;
        let r = async {
            let old = one(
                &mut tx,
                q("SELECT * FROM users WHERE company_id = $1 AND id = $2 FOR UPDATE")
                    .bind(key)
                    .bind(user.id.0),
                codec::user,
            )
            .await?
            .ok_or(Error::not_found("user"))?;
            if username_taken(&mut tx, user).await? {
                return Err(Error::UsernameTaken {
                    username: user.username.clone(),
                });
            }
            if let (Some(limit), Some(company)) = (update.seat_limit, user.company_id)
                && user.active
                && !old.active
            {
                lock(&mut tx, Lock::Limits, company).await?;
                check_seat_available(limit, seats(&mut tx, company).await?)?;
            }
            write_user(&mut tx, user).await?;
            if update.revoke_tokens {
                exec(
                    &mut tx,
                    q("DELETE FROM tokens WHERE company_id = $1 AND user_id = $2")
                        .bind(key)
                        .bind(user.id.0),
                )
                .await?;
            }
            append(&mut tx, audit).await?;
            Ok(())
        }
        .await;
        finish(tx, r).await
    }

    async fn insert_token(&self, token: &TokenRecord) -> Result<()> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        exec(
            &mut conn,
            q("INSERT INTO tokens (company_id, hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(company_key(token.company_id))
                .bind(token.hash.as_str().to_owned())
                .bind(token.user_id.0)
                .bind(token.created_at)
                .bind(token.expires_at),
        )
        .await
        .map(drop)
    }

    async fn token_by_hash(&self, hash: &SecretHash) -> Result<Option<TokenRecord>> {
        self.read_one(
            q("SELECT * FROM tokens WHERE hash = $1").bind(hash.as_str().to_owned()),
            codec::token,
        )
        .await
    }

    async fn token_owner(&self, hash: &SecretHash) -> Result<Option<TokenOwner>> {
        // One statement, one round trip: each table's row comes back as one
        // JSON object (their column names overlap), read by the same
        // decoders as the single lookups.
        let row = q(
            "SELECT to_jsonb(t) AS t, to_jsonb(u) AS u, to_jsonb(c) AS c, to_jsonb(p) AS p
                   FROM tokens t
                   LEFT JOIN users u ON u.company_id = t.company_id AND u.id = t.user_id
                   LEFT JOIN companies c ON c.id = t.company_id
                   LEFT JOIN policies p ON p.company_id = t.company_id
                   WHERE t.hash = $1",
        )
        .bind(hash.as_str().to_owned())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let Some(token) = codec::json_row(&row, "t", |c| rows::token(c))? else {
            return Err(codec::corrupt("t", "no token row"));
        };
        Ok(Some(TokenOwner {
            token,
            user: codec::json_row(&row, "u", |c| rows::user(c))?,
            company: codec::json_row(&row, "c", |c| rows::company(c))?,
            policy: codec::json_row(&row, "p", |c| rows::policy(c))?,
        }))
    }

    async fn delete_token(&self, hash: &SecretHash) -> Result<()> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        exec(
            &mut conn,
            q("DELETE FROM tokens WHERE hash = $1").bind(hash.as_str().to_owned()),
        )
        .await
        .map(drop)
    }

    async fn record_heartbeat(&self, state: &AgentState) -> Result<()> {
        // One statement: the three writes commit together or not at all.
        let found = self
            .read_one(
                q("WITH u AS (
                       UPDATE users SET last_agent_sync_at = $3 WHERE company_id = $1 AND id = $2 RETURNING 1),
                   -- Every agent of a company shares this row: writing it at most once a
                   -- second per company keeps heartbeats from queueing on its lock.
                   c AS (
                       UPDATE companies SET last_sync_at = $3
                       WHERE id = $1 AND EXISTS (SELECT 1 FROM u)
                         AND (last_sync_at IS NULL OR last_sync_at < $3 - interval '1 second')),
                   a AS (
                       INSERT INTO agent_states (company_id, user_id, last_heartbeat_at, policy_version, agent_version)
                       SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM u)
                       ON CONFLICT (company_id, user_id) DO UPDATE SET last_heartbeat_at = excluded.last_heartbeat_at,
                         policy_version = excluded.policy_version, agent_version = excluded.agent_version)
                   SELECT 1 FROM u")
                .bind(state.company_id.0)
                .bind(state.user_id.0)
                .bind(state.last_heartbeat_at)
                .bind(state.policy_version.map(int))
                .bind(state.agent_version.clone()),
                |_| Ok(()),
            )
            .await?;
        found.ok_or(Error::not_found("user"))
    }

    async fn list_agent_states(&self, company: CompanyId) -> Result<Vec<AgentState>> {
        self.read_all(
            q("SELECT * FROM agent_states WHERE company_id = $1 ORDER BY user_id").bind(company.0),
            codec::agent_state,
        )
        .await
    }

    async fn agent_state(&self, company: CompanyId, user: UserId) -> Result<Option<AgentState>> {
        self.read_one(
            q("SELECT * FROM agent_states WHERE company_id = $1 AND user_id = $2")
                .bind(company.0)
                .bind(user.0),
            codec::agent_state,
        )
        .await
    }

    async fn insert_team(&self, team: &Team, audit: NewAuditEvent) -> Result<()> {
        let mut tx = self.begin().await?;
        let r = async {
            if team_name_taken(&mut tx, team).await? {
                return Err(Error::AlreadyExists {
                    entity: "team",
                    value: team.name.clone(),
                });
            }
            write_team(&mut tx, team).await?;
            append(&mut tx, audit).await?;
            Ok(())
        }
        .await;
        finish(tx, r).await
    }

    async fn get_team(&self, company: CompanyId, id: TeamId) -> Result<Option<Team>> {
        self.by_key("teams", company, id.0, codec::team).await
    }

    async fn list_teams(&self, company: CompanyId) -> Result<Vec<Team>> {
        self.read_all(
            q("SELECT * FROM teams WHERE company_id = $1 ORDER BY name COLLATE \"C\"")
                .bind(company.0),
            codec::team,
        )
        .await
    }

    async fn update_team(&self, team: &Team, audit: NewAuditEvent) -> Result<()> {
        let mut tx = self.begin().await?;
        let r = async {
            let found = exists(
                &mut tx,
                q("SELECT 1 FROM teams WHERE company_id = $1 AND id = $2 FOR UPDATE")
                    .bind(team.company_id.0)
                    .bind(team.id.0),
            )
            .await?;
            if !found {
                return Err(Error::not_found("team"));
            }
            if team_name_taken(&mut tx, team).await? {
                return Err(Error::AlreadyExists {
                    entity: "team",
                    value: team.name.clone(),
                });
            }
            write_team(&mut tx, team).await?;
            append(&mut tx, audit).await?;
            Ok(())
        }
        .await;
        finish(tx, r).await
    }

    async fn delete_team(
        &self,
        company: CompanyId,
        id: TeamId,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let r = async {
            let deleted = exec(
                &mut tx,
                q("DELETE FROM teams WHERE company_id = $1 AND id = $2")
                    .bind(company.0)
                    .bind(id.0),
            )
            .await?;
            if deleted == 0 {
                return Err(Error::not_found("team"));
            }
            append(&mut tx, audit).await?;
            Ok(())
        }
        .await;
        finish(tx, r).await
    }
}

#[async_trait]
impl PolicyStore for PgStore {
    async fn get_policy(&self, company: CompanyId) -> Result<Option<TrackingPolicy>> {
        self.read_one(
            q("SELECT * FROM policies WHERE company_id = $1").bind(company.0),
            codec::policy,
        )
        .await
    }

    async fn update_policy(&self, policy: &TrackingPolicy, audit: NewAuditEvent) -> Result<()> {
        let mut tx = self.begin().await?;
        let r = async {
        // Compare and set: only the version after the stored one is written.
        let updated = exec(
            &mut tx,
            policy_query(
                "UPDATE policies SET screenshots_enabled = $2, screenshot_interval_seconds = $3,
                   website_tracking_enabled = $4, app_tracking_enabled = $5, idle_threshold_seconds = $6,
                   blur_screenshots = $7, version = $8, updated_at = $9
                 WHERE company_id = $1 AND version = $8 - 1",
                policy,
            ),
        )
        .await?;
        if updated == 0 {
            let current = scalar_opt_i64(
                &mut tx,
                q("SELECT version FROM policies WHERE company_id = $1").bind(policy.company_id.0),
            )
            .await?;
            return Err(match current {
                None => Error::not_found("policy"),
                Some(v) => Error::invalid_state(format!(
                    "the policy changed meanwhile (now version {v})"
                )),
            });
        }
        append(&mut tx, audit).await?;
            Ok(())
        }
        .await;
        finish(tx, r).await
    }
}

async fn scalar_opt_i64(conn: &mut PgConnection, query: Q) -> R<Option<i64>> {
    use sqlx::Row;
    match query.fetch_optional(conn).await.map_err(db)? {
        Some(row) => row.try_get(0).map(Some).map_err(db),
        None => Ok(None),
    }
}

#[async_trait]
impl AuditStore for PgStore {
    async fn append_audit(&self, event: NewAuditEvent) -> Result<AuditEvent> {
        let mut tx = self.begin().await?;
        let r = async { append(&mut tx, event).await }.await;
        finish(tx, r).await
    }

    async fn list_audit(
        &self,
        chain: AuditChain,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>> {
        let limit = page.limit()?;
        let s = Select::new("SELECT * FROM audit_events", chain_key(chain))
            .and_opt("seq > ", page.after_seq()?.map(int))
            .and_opt("action = ", filter.action.map(|a| a.as_str()))
            .and_opt("actor->>'id' = ", filter.actor.map(|a| a.to_string()))
            .and_opt("at >= ", filter.from.map(bound_time))
            .and_opt("at < ", filter.to.map(bound_time))
            .tail(&format!(" ORDER BY seq LIMIT {}", limit + 1));
        Ok(Page::from_overfetch(
            s.run(self, codec::audit_event).await?,
            limit,
            |e| e.seq.to_string(),
        ))
    }

    async fn read_chain(
        &self,
        chain: AuditChain,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<AuditEvent>> {
        self.read_all(
            q("SELECT * FROM audit_events WHERE company_id = $1 AND seq > $2 ORDER BY seq LIMIT $3")
                .bind(chain_key(chain))
                .bind(int(after_seq))
                .bind(i64::try_from(limit).unwrap_or(i64::MAX)),
            codec::audit_event,
        )
        .await
    }
}

#[async_trait]
impl TrackingStore for PgStore {
    async fn insert_session(&self, session: &WorkSession) -> Result<Ingested<WorkSession>> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        let inserted = exec(
            &mut conn,
            q("INSERT INTO work_sessions (company_id, id, user_id, started_at, stopped_at) VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (company_id, id) DO NOTHING")
            .bind(session.company_id.0)
            .bind(session.id.0)
            .bind(session.user_id.0)
            .bind(session.started_at)
            .bind(session.stopped_at),
        )
        .await?;
        let stored = one(
            &mut conn,
            q("SELECT * FROM work_sessions WHERE company_id = $1 AND id = $2")
                .bind(session.company_id.0)
                .bind(session.id.0),
            codec::session,
        )
        .await?
        .ok_or(Error::not_found("work session"))?;
        Ok(Ingested {
            stored,
            inserted: inserted == 1,
        })
    }

    async fn get_session(
        &self,
        company: CompanyId,
        id: WorkSessionId,
    ) -> Result<Option<WorkSession>> {
        self.by_key("work_sessions", company, id.0, codec::session)
            .await
    }

    async fn stop_session(
        &self,
        company: CompanyId,
        id: WorkSessionId,
        stopped_at: DateTime<Utc>,
    ) -> Result<WorkSession> {
        // Sets the stop once; a session already stopped is returned as stored.
        self.read_one(
            q("WITH s AS (
                   UPDATE work_sessions SET stopped_at = $3
                   WHERE company_id = $1 AND id = $2 AND stopped_at IS NULL RETURNING *)
               SELECT * FROM s
               UNION ALL
               SELECT * FROM work_sessions
               WHERE company_id = $1 AND id = $2 AND NOT EXISTS (SELECT 1 FROM s)")
            .bind(company.0)
            .bind(id.0)
            .bind(stopped_at),
            codec::session,
        )
        .await?
        .ok_or(Error::not_found("work session"))
    }

    async fn list_sessions(
        &self,
        company: CompanyId,
        filter: &TrackingFilter,
        page: &PageRequest,
    ) -> Result<Page<WorkSession>> {
        self.by_time(
            "work_sessions",
            "started_at",
            (company, filter, page),
            codec::session,
            |x| (x.started_at, x.id.0),
        )
        .await
    }

    async fn insert_activity(
        &self,
        company: CompanyId,
        events: &[ActivityEvent],
    ) -> Result<IngestCount> {
        tracker_core::tracking::check_batch_company(company, events)?;
        crate::ingest::ingest(self, company, events).await
    }

    async fn list_activity(
        &self,
        company: CompanyId,
        filter: &TrackingFilter,
        page: &PageRequest,
    ) -> Result<Page<ActivityEvent>> {
        self.by_time(
            "activity_events",
            "started_at",
            (company, filter, page),
            codec::activity,
            |x| (x.started_at, x.id.0),
        )
        .await
    }

    async fn activity_between(
        &self,
        company: CompanyId,
        users: &Option<BTreeSet<UserId>>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ActivityEvent>> {
        // Events are at most a day long (MAX_EVENT_SECONDS), so a start after
        // `from - 1 day` bounds the index scan.
        let (from, to) = (bound_time(from), bound_time(to));
        let lower = from
            .checked_sub_signed(chrono::Duration::seconds(i64::from(
                tracker_core::tracking::MAX_EVENT_SECONDS,
            )))
            .unwrap_or(from);
        Select::new("SELECT * FROM activity_events", company.0)
            .users("user_id", users)
            .and("started_at >= ", lower)
            .and("started_at < ", to)
            .and(
                "started_at + duration_seconds * interval '1 second' > ",
                from,
            )
            .tail(" ORDER BY started_at, id")
            .run(self, codec::activity)
            .await
    }

    async fn insert_screenshot(
        &self,
        shot: &Screenshot,
        storage_limit: u64,
    ) -> Result<Ingested<Screenshot>> {
        let mut tx = self.begin().await?;
        let r = async {
        lock(&mut tx, Lock::Limits, shot.company_id).await?;
        let existing = one(
            &mut tx,
            q("SELECT * FROM screenshots WHERE company_id = $1 AND id = $2")
                .bind(shot.company_id.0)
                .bind(shot.id.0),
            codec::screenshot,
        )
        .await?;
        if let Some(stored) = existing {
            return Ok(Ingested {
                stored,
                inserted: false,
            });
        }
        if storage(&mut tx, shot.company_id)
            .await?
            .saturating_add(shot.size_bytes)
            > storage_limit
        {
            return Err(Error::StorageLimitReached {
                limit_bytes: storage_limit,
            });
        }
        exec(
            &mut tx,
            q("INSERT INTO screenshots (company_id, id, user_id, taken_at, size_bytes, sha256, content_type, blurred, blob_key)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
            .bind(shot.company_id.0)
            .bind(shot.id.0)
            .bind(shot.user_id.0)
            .bind(shot.taken_at)
            .bind(int(shot.size_bytes))
            .bind(shot.sha256.clone())
            .bind(shot.content_type.clone())
            .bind(shot.blurred)
            .bind(shot.blob_key.clone()),
        )
        .await?;
        mark_days(&mut tx, shot.company_id, &[shot.taken_at.date_naive()]).await?;
        Ok(Ingested {
            stored: shot.clone(),
            inserted: true,
        })
        }
        .await;
        finish(tx, r).await
    }

    async fn get_screenshot(
        &self,
        company: CompanyId,
        id: ScreenshotId,
    ) -> Result<Option<Screenshot>> {
        self.by_key("screenshots", company, id.0, codec::screenshot)
            .await
    }

    async fn list_screenshots(
        &self,
        company: CompanyId,
        filter: &TrackingFilter,
        page: &PageRequest,
    ) -> Result<Page<Screenshot>> {
        self.by_time(
            "screenshots",
            "taken_at",
            (company, filter, page),
            codec::screenshot,
            |x| (x.taken_at, x.id.0),
        )
        .await
    }

    async fn storage_used(&self, company: CompanyId) -> Result<u64> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        storage(&mut conn, company).await
    }

    async fn open_sessions(&self, company: CompanyId) -> Result<Vec<WorkSession>> {
        self.read_all(
            q("SELECT * FROM work_sessions WHERE company_id = $1 AND stopped_at IS NULL ORDER BY started_at, id")
                .bind(company.0),
            codec::session,
        )
        .await
    }

    async fn screenshots_before(
        &self,
        company: CompanyId,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Screenshot>> {
        self.read_all(
            q("SELECT * FROM screenshots WHERE company_id = $1 AND taken_at < $2 ORDER BY taken_at, id LIMIT $3")
            .bind(company.0)
            .bind(bound_time(before))
            .bind(i64::from(limit)),
            codec::screenshot,
        )
        .await
    }

    async fn purge_tracking(&self, company: CompanyId, batch: &PurgeBatch) -> Result<PurgeCounts> {
        let before = bound_time(batch.before);
        let limit = i64::from(batch.limit);
        let mut tx = self.begin().await?;
        let r = async {
            use sqlx::Row;
            let shots = q("WITH d AS (
                     DELETE FROM screenshots WHERE company_id = $1 AND id = ANY($2) AND taken_at < $3
                     RETURNING size_bytes)
                 SELECT count(*) AS n, coalesce(sum(size_bytes), 0)::bigint AS bytes FROM d")
            .bind(company.0)
            .bind(uuids(batch.screenshots.iter().copied()))
            .bind(before)
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
            let count = |row: &PgRow, col: &'static str| -> R<u64> {
                let n: i64 = row.try_get(col).map_err(db)?;
                Ok(u64::try_from(n).unwrap_or(0))
            };
            let mut counts = PurgeCounts {
                screenshots: count(&shots, "n")?,
                screenshot_bytes: count(&shots, "bytes")?,
                ..PurgeCounts::default()
            };
            // Candidates come in key order from the (company_id, started_at, id)
            // index; an event still running at the cutoff started within a day
            // of it (MAX_EVENT_SECONDS), so few rows are skipped.
            counts.events = exec(
                &mut tx,
                q("DELETE FROM activity_events WHERE company_id = $1 AND id IN (
                       SELECT id FROM activity_events
                       WHERE company_id = $1 AND started_at < $2
                         AND started_at + duration_seconds * interval '1 second' <= $2
                       ORDER BY started_at, id LIMIT $3)")
                .bind(company.0)
                .bind(before)
                .bind(limit),
            )
            .await?;
            counts.sessions = exec(
                &mut tx,
                q("DELETE FROM work_sessions WHERE company_id = $1 AND id IN (
                       SELECT id FROM work_sessions
                       WHERE company_id = $1 AND started_at < $2
                         AND (stopped_at IS NULL OR stopped_at <= $2)
                       ORDER BY started_at, id LIMIT $3)")
                .bind(company.0)
                .bind(before)
                .bind(limit),
            )
            .await?;
            counts.daily_rows = exec(
                &mut tx,
                q("DELETE FROM activity_daily WHERE company_id = $1 AND date < $2")
                    .bind(company.0)
                    .bind(bound_date(batch.before_date)),
            )
            .await?;
            if counts.is_empty() {
                return Ok(counts);
            }
            exec(
                &mut tx,
                q("INSERT INTO purge_progress (company_id, before_at, before_date, started_at,
                     events, sessions, screenshots, screenshot_bytes, daily_rows)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                   ON CONFLICT (company_id) DO UPDATE SET
                     events = purge_progress.events + excluded.events,
                     sessions = purge_progress.sessions + excluded.sessions,
                     screenshots = purge_progress.screenshots + excluded.screenshots,
                     screenshot_bytes = purge_progress.screenshot_bytes + excluded.screenshot_bytes,
                     daily_rows = purge_progress.daily_rows + excluded.daily_rows")
                .bind(company.0)
                .bind(batch.before)
                .bind(batch.before_date)
                .bind(batch.started_at)
                .bind(int(counts.events))
                .bind(int(counts.sessions))
                .bind(int(counts.screenshots))
                .bind(int(counts.screenshot_bytes))
                .bind(int(counts.daily_rows)),
            )
            .await?;
            Ok(counts)
        }
        .await;
        finish(tx, r).await
    }

    async fn purge_progress(&self, company: CompanyId) -> Result<Option<PurgeProgress>> {
        self.read_one(
            q("SELECT * FROM purge_progress WHERE company_id = $1").bind(company.0),
            codec::purge_progress,
        )
        .await
    }

    async fn finish_purge(&self, company: CompanyId, audit: NewAuditEvent) -> Result<()> {
        let mut tx = self.begin().await?;
        let r = async {
            append(&mut tx, audit).await?;
            exec(
                &mut tx,
                q("DELETE FROM purge_progress WHERE company_id = $1").bind(company.0),
            )
            .await
            .map(drop)
        }
        .await;
        finish(tx, r).await
    }

    async fn pending_usage_days(&self, company: CompanyId) -> Result<Vec<PendingUsageDay>> {
        self.read_all(
            q("SELECT date, version FROM usage_pending WHERE company_id = $1 ORDER BY date")
                .bind(company.0),
            codec::pending_day,
        )
        .await
    }

    async fn mark_usage_days(&self, company: CompanyId, dates: &[NaiveDate]) -> Result<()> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        mark_days(&mut conn, company, dates).await
    }

    async fn clear_pending_usage(
        &self,
        company: CompanyId,
        days: &[PendingUsageDay],
    ) -> Result<()> {
        if days.is_empty() {
            return Ok(());
        }
        let mut conn = self.pool.acquire().await.map_err(db)?;
        // Compare and delete: a date marked again since it was read keeps
        // its newer version, and stays pending.
        exec(
            &mut conn,
            q("DELETE FROM usage_pending p
               USING UNNEST($2::date[], $3::bigint[]) AS c(date, version)
               WHERE p.company_id = $1 AND p.date = c.date AND p.version = c.version")
            .bind(company.0)
            .bind(days.iter().map(|d| bound_date(d.date)).collect::<Vec<_>>())
            .bind(days.iter().map(|d| int(d.version)).collect::<Vec<_>>()),
        )
        .await
        .map(drop)
    }

    async fn day_rollups(
        &self,
        company: CompanyId,
        users: &Option<BTreeSet<UserId>>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Option<Vec<DayRollup>>> {
        Select::new("SELECT * FROM activity_daily", company.0)
            .users("user_id", users)
            .and("date >= ", bound_date(from))
            .and("date <= ", bound_date(to))
            .run(self, codec::rollup)
            .await
            .map(Some)
    }
}

fn task_query(sql: &'static str, t: &Task) -> Q {
    q(sql)
        .bind(t.company_id.0)
        .bind(t.id.0)
        .bind(t.title.clone())
        .bind(t.description.clone())
        .bind(t.assignee_id.0)
        .bind(t.created_by.0)
        .bind(t.status.as_str())
        .bind(t.due_on)
        .bind(t.completion_note.clone())
        .bind(t.completed_at)
        .bind(t.created_at)
}

#[async_trait]
impl WorkStore for PgStore {
    async fn insert_task(&self, task: &Task, audit: NewAuditEvent) -> Result<()> {
        let mut tx = self.begin().await?;
        let r = async {
        exec(
            &mut tx,
            task_query(
                "INSERT INTO tasks (company_id, id, title, description, assignee_id, created_by, status, due_on,
                   completion_note, completed_at, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                task,
            ),
        )
        .await?;
        append(&mut tx, audit).await?;
            Ok(())
        }
        .await;
        finish(tx, r).await
    }

    async fn get_task(&self, company: CompanyId, id: TaskId) -> Result<Option<Task>> {
        self.by_key("tasks", company, id.0, codec::task).await
    }

    async fn list_tasks(
        &self,
        company: CompanyId,
        filter: &TaskFilter,
        page: &PageRequest,
    ) -> Result<Page<Task>> {
        let (s, limit) = Select::new("SELECT * FROM tasks", company.0)
            .users("assignee_id", &filter.assignees)
            .and_opt("status = ", filter.status.map(|s| s.as_str()))
            .page_id(page)?;
        Ok(Page::from_overfetch(
            s.run(self, codec::task).await?,
            limit,
            |t| t.id.to_string(),
        ))
    }

    async fn update_task(&self, task: &Task) -> Result<()> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        let updated = exec(
            &mut conn,
            task_query(
                "UPDATE tasks SET title = $3, description = $4, assignee_id = $5, created_by = $6, status = $7,
                   due_on = $8, completion_note = $9, completed_at = $10, created_at = $11
                 WHERE company_id = $1 AND id = $2",
                task,
            ),
        )
        .await?;
        if updated == 0 {
            return Err(Error::not_found("task"));
        }
        Ok(())
    }

    async fn insert_correction(&self, correction: &CorrectionRequest) -> Result<()> {
        let r = correction;
        let mut conn = self.pool.acquire().await.map_err(db)?;
        exec(
            &mut conn,
            q("INSERT INTO corrections (company_id, id, user_id, starts_at, ends_at, reason, status, decided_by,
                 decided_at, decision_note, created_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")
            .bind(r.company_id.0)
            .bind(r.id.0)
            .bind(r.user_id.0)
            .bind(r.starts_at)
            .bind(r.ends_at)
            .bind(r.reason.clone())
            .bind(r.status.as_str())
            .bind(r.decided_by.map(|u| u.0))
            .bind(r.decided_at)
            .bind(r.decision_note.clone())
            .bind(r.created_at),
        )
        .await
        .map(drop)
    }

    async fn get_correction(
        &self,
        company: CompanyId,
        id: CorrectionId,
    ) -> Result<Option<CorrectionRequest>> {
        self.by_key("corrections", company, id.0, codec::correction)
            .await
    }

    async fn list_corrections(
        &self,
        company: CompanyId,
        filter: &CorrectionFilter,
        page: &PageRequest,
    ) -> Result<Page<CorrectionRequest>> {
        let (s, limit) = Select::new("SELECT * FROM corrections", company.0)
            .users("user_id", &filter.users)
            .and_opt("status = ", filter.status.map(|s| s.as_str()))
            .page_id(page)?;
        Ok(Page::from_overfetch(
            s.run(self, codec::correction).await?,
            limit,
            |r| r.id.to_string(),
        ))
    }

    async fn decide_correction(
        &self,
        correction: &CorrectionRequest,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let r = correction;
        let mut tx = self.begin().await?;
        let r = async {
        // Compare and set: only a pending request is decided.
        let updated = exec(
            &mut tx,
            q("UPDATE corrections SET status = $3, decided_by = $4, decided_at = $5, decision_note = $6
               WHERE company_id = $1 AND id = $2 AND status = 'pending'")
            .bind(r.company_id.0)
            .bind(r.id.0)
            .bind(r.status.as_str())
            .bind(r.decided_by.map(|u| u.0))
            .bind(r.decided_at)
            .bind(r.decision_note.clone()),
        )
        .await?;
        if updated == 0 {
            let current = one(
                &mut tx,
                q("SELECT status FROM corrections WHERE company_id = $1 AND id = $2")
                    .bind(r.company_id.0)
                    .bind(r.id.0),
                |row| tracker_core::rows::Columns::text(&codec::Cols(row), "status"),
            )
            .await?;
            return Err(match current {
                None => Error::not_found("correction"),
                Some(status) => Error::invalid_state(format!("the correction is already {status}")),
            });
        }
        append(&mut tx, audit).await?;
            Ok(())
        }
        .await;
        finish(tx, r).await
    }

    async fn approved_corrections(
        &self,
        company: CompanyId,
        users: &Option<BTreeSet<UserId>>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<CorrectionRequest>> {
        Select::new("SELECT * FROM corrections", company.0)
            .users("user_id", users)
            .and("status = ", "approved")
            .and("starts_at < ", bound_time(to))
            .and("ends_at > ", bound_time(from))
            .tail(" ORDER BY starts_at, id")
            .run(self, codec::correction)
            .await
    }
}

#[async_trait]
impl UsageStore for PgStore {
    async fn upsert_usage(&self, rows: &[CompanyUsageDaily]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        // One statement; the last row wins when a (company, date) repeats.
        let mut latest = std::collections::BTreeMap::new();
        for r in rows {
            latest.insert((r.company_id, r.date), r);
        }
        let rows: Vec<&CompanyUsageDaily> = latest.into_values().collect();
        let mut conn = self.pool.acquire().await.map_err(db)?;
        exec(
            &mut conn,
            q("INSERT INTO usage_daily (company_id, date, active_seconds, idle_seconds, screenshots, storage_bytes, active_users)
               SELECT * FROM UNNEST($1::uuid[], $2::date[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::int[])
               ON CONFLICT (company_id, date) DO UPDATE SET active_seconds = excluded.active_seconds,
                 idle_seconds = excluded.idle_seconds, screenshots = excluded.screenshots,
                 storage_bytes = excluded.storage_bytes, active_users = excluded.active_users")
            .bind(rows.iter().map(|r| r.company_id.0).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.date).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| int(r.active_seconds)).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| int(r.idle_seconds)).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| int(r.screenshots)).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| int(r.storage_bytes)).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| int32(r.active_users)).collect::<Vec<_>>()),
        )
        .await
        .map(drop)
    }

    async fn list_usage(
        &self,
        company: Option<CompanyId>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<CompanyUsageDaily>> {
        let (from, to) = (bound_date(from), bound_date(to));
        match company {
            Some(id) => {
                self.read_all(
                    q("SELECT * FROM usage_daily WHERE company_id = $1 AND date >= $2 AND date <= $3 ORDER BY date")
                        .bind(id.0)
                        .bind(from)
                        .bind(to),
                    codec::usage,
                )
                .await
            }
            None => {
                self.read_all(
                    q("SELECT * FROM usage_daily WHERE date >= $1 AND date <= $2 ORDER BY company_id, date")
                        .bind(from)
                        .bind(to),
                    codec::usage,
                )
                .await
            }
        }
    }
}

#[async_trait]
impl AlertStore for PgStore {
    async fn open_alert(&self, alert: &Alert) -> Result<Ingested<Alert>> {
        let a = alert;
        let subject = rows::alert_subject(a.user_id);
        let mut conn = self.pool.acquire().await.map_err(db)?;
        // Outside a transaction each statement reads the latest commits: the
        // read after a conflict sees the open alert of a concurrent writer.
        // If that alert is resolved between the two statements, try again.
        for _ in 0..3 {
            let inserted = one(
                &mut conn,
                q("INSERT INTO alerts (company_id, id, kind, subject, user_id, message, details, raised_at, resolved_at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                   ON CONFLICT DO NOTHING RETURNING *")
                .bind(a.company_id.0)
                .bind(a.id.0)
                .bind(a.kind.as_str())
                .bind(subject)
                .bind(a.user_id.map(|u| u.0))
                .bind(a.message.clone())
                .bind(a.details.clone())
                .bind(a.raised_at)
                .bind(a.resolved_at),
                codec::alert,
            )
            .await?;
            if let Some(stored) = inserted {
                return Ok(Ingested {
                    stored,
                    inserted: true,
                });
            }
            // The open alert of the subject, else the alert stored before
            // under this id (a retried call).
            let existing = one(
                &mut conn,
                q("SELECT * FROM alerts
                   WHERE company_id = $1
                     AND ((kind = $2 AND subject = $3 AND resolved_at IS NULL) OR id = $4)
                   ORDER BY resolved_at IS NOT NULL LIMIT 1")
                .bind(a.company_id.0)
                .bind(a.kind.as_str())
                .bind(subject)
                .bind(a.id.0),
                codec::alert,
            )
            .await?;
            if let Some(stored) = existing {
                return Ok(Ingested {
                    stored,
                    inserted: false,
                });
            }
        }
        Err(Error::invalid_state(
            "the open alert kept changing meanwhile; try again",
        ))
    }

    async fn get_alert(&self, company: CompanyId, id: AlertId) -> Result<Option<Alert>> {
        self.by_key("alerts", company, id.0, codec::alert).await
    }

    async fn open_alerts(&self, company: Option<CompanyId>, kind: AlertKind) -> Result<Vec<Alert>> {
        match company {
            Some(c) => {
                self.read_all(
                    q("SELECT * FROM alerts WHERE company_id = $1 AND kind = $2 AND resolved_at IS NULL
                       ORDER BY id")
                    .bind(c.0)
                    .bind(kind.as_str()),
                    codec::alert,
                )
                .await
            }
            // The alert job's sweep over every company: open alerts are few,
            // and the partial unique index holds only them.
            None => {
                self.read_all(
                    q("SELECT * FROM alerts WHERE kind = $1 AND resolved_at IS NULL
                       ORDER BY company_id, id")
                    .bind(kind.as_str()),
                    codec::alert,
                )
                .await
            }
        }
    }

    async fn resolve_alert(
        &self,
        company: CompanyId,
        id: AlertId,
        at: DateTime<Utc>,
    ) -> Result<Option<Alert>> {
        // Compare and set: only an open alert is resolved, once.
        self.read_one(
            q("UPDATE alerts SET resolved_at = $3
               WHERE company_id = $1 AND id = $2 AND resolved_at IS NULL RETURNING *")
            .bind(company.0)
            .bind(id.0)
            .bind(at),
            codec::alert,
        )
        .await
    }

    async fn list_alerts(
        &self,
        company: CompanyId,
        filter: &AlertFilter,
        page: &PageRequest,
    ) -> Result<Page<Alert>> {
        let (s, limit) = Select::new("SELECT * FROM alerts", company.0)
            .and_opt("kind = ", filter.kind.map(AlertKind::as_str))
            .and_opt("(resolved_at IS NULL) = ", filter.open)
            .page_id(page)?;
        Ok(Page::from_overfetch(
            s.run(self, codec::alert).await?,
            limit,
            |a| a.id.to_string(),
        ))
    }

    async fn get_alert_settings(&self, company: CompanyId) -> Result<Option<AlertSettings>> {
        self.read_one(
            q("SELECT company_id, settings FROM alert_settings WHERE company_id = $1")
                .bind(company.0),
            codec::alert_settings,
        )
        .await
    }

    async fn put_alert_settings(
        &self,
        settings: &AlertSettings,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let doc = serde_json::to_value(settings)
            .map_err(|e| codec::corrupt("settings", e.to_string()))?;
        let mut tx = self.begin().await?;
        let r = async {
            // Written only for a known company, in the statement that checks it.
            let written = exec(
                &mut tx,
                q(
                    "INSERT INTO alert_settings (company_id, settings, updated_at)
                   SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM companies WHERE id = $1)
                   ON CONFLICT (company_id) DO UPDATE SET
                     settings = excluded.settings, updated_at = excluded.updated_at",
                )
                .bind(settings.company_id.0)
                .bind(doc)
                .bind(settings.updated_at),
            )
            .await?;
            if written == 0 {
                return Err(Error::not_found("company"));
            }
            append(&mut tx, audit).await?;
            Ok(())
        }
        .await;
        finish(tx, r).await
    }

    async fn insert_deliveries(&self, records: &[DeliveryRecord]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut conn = self.pool.acquire().await.map_err(db)?;
        // One statement; a record stored already (a retried call) is kept.
        exec(
            &mut conn,
            q("INSERT INTO alert_deliveries (company_id, id, alert_id, event, url, attempt, at, status, error, delivered)
               SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::int[],
                                    $7::timestamptz[], $8::int[], $9::text[], $10::bool[])
               ON CONFLICT (company_id, id) DO NOTHING")
            .bind(records.iter().map(|r| r.company_id.0).collect::<Vec<_>>())
            .bind(records.iter().map(|r| r.id.0).collect::<Vec<_>>())
            .bind(records.iter().map(|r| r.alert_id.0).collect::<Vec<_>>())
            .bind(records.iter().map(|r| r.event.as_str()).collect::<Vec<_>>())
            .bind(records.iter().map(|r| r.url.clone()).collect::<Vec<_>>())
            .bind(records.iter().map(|r| int32(r.attempt)).collect::<Vec<_>>())
            .bind(records.iter().map(|r| r.at).collect::<Vec<_>>())
            .bind(records.iter().map(|r| r.status.map(i32::from)).collect::<Vec<_>>())
            .bind(records.iter().map(|r| r.error.clone()).collect::<Vec<_>>())
            .bind(records.iter().map(|r| r.delivered).collect::<Vec<_>>()),
        )
        .await
        .map(drop)
    }

    async fn list_deliveries(
        &self,
        company: CompanyId,
        alert: AlertId,
    ) -> Result<Vec<DeliveryRecord>> {
        self.read_all(
            q("SELECT * FROM alert_deliveries WHERE company_id = $1 AND alert_id = $2 ORDER BY id")
                .bind(company.0)
                .bind(alert.0),
            codec::delivery,
        )
        .await
    }
}
