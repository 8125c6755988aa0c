//! The storage ports on SQLite.

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::types::ToSql;
use rusqlite::{Connection, OptionalExtension, Row, params};
use tracker_core::audit::{AuditChain, AuditEvent, ChainHead, NewAuditEvent};
use tracker_core::identity::TokenRecord;
use tracker_core::notify::{AlertFilter, DeliveryRecord};
use tracker_core::paging::{Page, PageRequest, encode_time_id};
use tracker_core::secret::SecretHash;
use tracker_core::store::*;
use tracker_core::tenancy::check_seat_available;
use tracker_core::*;
use uuid::Uuid;

use crate::SqliteStore;
use crate::beats::{Hold, user_of_company, write_beat};
use crate::codec::{
    self, R, chain_key, company_key, date_bound, id_array, ids_json, int, ts, ts_opt,
};
use crate::error::{SqliteError, db};
use crate::owners::Cached;

type Mapper<T> = fn(&Row<'_>) -> R<T>;

fn all<T>(conn: &Connection, sql: &str, params: &[&dyn ToSql], map: Mapper<T>) -> R<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql).map_err(db)?;
    let mut rows = stmt.query(params).map_err(db)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(db)? {
        out.push(map(row)?);
    }
    Ok(out)
}

fn one<T>(conn: &Connection, sql: &str, params: &[&dyn ToSql], map: Mapper<T>) -> R<Option<T>> {
    let mut stmt = conn.prepare_cached(sql).map_err(db)?;
    let mut rows = stmt.query(params).map_err(db)?;
    match rows.next().map_err(db)? {
        Some(row) => map(row).map(Some),
        None => Ok(None),
    }
}

pub(crate) fn exec(conn: &Connection, sql: &str, params: &[&dyn ToSql]) -> R<usize> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute(params))
        .map_err(db)
}

pub(crate) fn count(conn: &Connection, sql: &str, params: &[&dyn ToSql]) -> R<i64> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.query_row(params, |r| r.get(0)))
        .map_err(db)
}

/// Appends an event after its chain's head. Runs on the writer thread,
/// inside the caller's transaction, so appends never fork a chain.
pub(crate) fn append(conn: &Connection, event: NewAuditEvent) -> R<AuditEvent> {
    let key = chain_key(event.chain);
    let head = conn
        .prepare_cached(
            "SELECT seq, hash FROM audit_events WHERE company_id = ?1 ORDER BY seq DESC LIMIT 1",
        )
        .and_then(|mut s| {
            s.query_row([key], |r| {
                Ok(ChainHead {
                    seq: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                    hash: r.get(1)?,
                })
            })
            .optional()
        })
        .map_err(db)?;
    let e = event.link(head.as_ref());
    let actor =
        serde_json::to_string(&e.actor).map_err(|err| codec::corrupt("actor", err.to_string()))?;
    exec(
        conn,
        "INSERT INTO audit_events (company_id, seq, id, actor, action, description, details, client_ip, at, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            key,
            int(e.seq),
            e.id.0,
            actor,
            e.action.as_str(),
            e.description,
            e.details.to_string(),
            e.client_ip,
            ts(e.at),
            e.prev_hash,
            e.hash
        ],
    )?;
    Ok(e)
}

/// Marks UTC dates pending for the usage job, bumping the version of a
/// date already marked. Runs inside the caller's transaction, so a mark
/// commits with the data that caused it.
pub(crate) fn mark_usage(
    conn: &Connection,
    company: CompanyId,
    dates: impl IntoIterator<Item = NaiveDate>,
) -> R<()> {
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO usage_pending (company_id, date, version) VALUES (?1, ?2, 1)
             ON CONFLICT (company_id, date) DO UPDATE SET version = version + 1",
        )
        .map_err(db)?;
    for date in dates {
        stmt.execute(params![company.0, date.to_string()])
            .map_err(db)?;
    }
    Ok(())
}

// Key lookups of one row each, shared by the single lookups and
// `token_owner`.

fn token_row(c: &Connection, hash: &SecretHash) -> R<Option<TokenRecord>> {
    one(
        c,
        "SELECT * FROM tokens WHERE hash = ?1",
        params![hash.as_str()],
        codec::token,
    )
}

fn user_row(c: &Connection, company: Option<CompanyId>, id: UserId) -> R<Option<User>> {
    one(
        c,
        "SELECT * FROM user_rows WHERE company_id = ?1 AND id = ?2",
        params![company_key(company), id.0],
        codec::user,
    )
}

fn company_row(c: &Connection, id: CompanyId) -> R<Option<Company>> {
    one(
        c,
        "SELECT * FROM companies WHERE id = ?1",
        params![id.0],
        codec::company,
    )
}

fn policy_row(c: &Connection, company: CompanyId) -> R<Option<TrackingPolicy>> {
    one(
        c,
        "SELECT * FROM policies WHERE company_id = ?1",
        params![company.0],
        codec::policy,
    )
}

/// Runs `f` in one read transaction, so that its queries see one snapshot
/// and the connection takes its WAL read lock once.
fn read_together<T>(c: &Connection, f: impl FnOnce(&Connection) -> R<T>) -> R<T> {
    // A savepoint, not BEGIN: in memory this runs inside the writer's
    // transaction, where a savepoint nests.
    c.prepare_cached("SAVEPOINT read_together")
        .and_then(|mut s| s.execute([]))
        .map_err(db)?;
    let out = f(c);
    // Ends the transaction whatever `f` did: the connection goes back to
    // its pool after this.
    let end = c
        .prepare_cached("RELEASE read_together")
        .and_then(|mut s| s.execute([]));
    let out = out?;
    end.map_err(db)?;
    Ok(out)
}

/// The users that have activity events in a company, in id order: a loose
/// scan of the per-user index, one seek per user however many events each
/// has.
pub(crate) fn event_users(c: &Connection, company: CompanyId) -> R<Vec<UserId>> {
    c.prepare_cached(
        "WITH RECURSIVE u(id) AS (
             SELECT (SELECT min(user_id) FROM activity_events WHERE company_id = ?1)
             UNION ALL
             SELECT (SELECT min(user_id) FROM activity_events WHERE company_id = ?1 AND user_id > u.id)
             FROM u WHERE u.id IS NOT NULL)
         SELECT id FROM u WHERE id IS NOT NULL",
    )
    .and_then(|mut s| {
        s.query_map(params![company.0], |r| r.get(0).map(UserId))?
            .collect()
    })
    .map_err(db)
}

/// Up to `take` events of `users` in (started_at, id) order after `after`,
/// within the filter's time bounds: one cursor per user on the per-user
/// index, merged lazily, so a page reads about `take` rows plus one per
/// user however long the history.
fn merge_user_events(
    c: &Connection,
    company: CompanyId,
    users: &[UserId],
    filter: &TrackingFilter,
    after: Option<(DateTime<Utc>, Uuid)>,
    take: usize,
) -> R<Vec<ActivityEvent>> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    const SQL: &str = "SELECT * FROM activity_events
         WHERE company_id = ?1 AND user_id = ?2 AND started_at >= ?3 AND started_at < ?4
           AND (started_at, id) > (?5, ?6)
         ORDER BY started_at, id";
    let from = filter.from.map(ts).unwrap_or(i64::MIN);
    let to = filter.to.map(ts).unwrap_or(i64::MAX);
    // An empty blob sorts before every id, so "after nothing" is the start.
    let (after_at, after_id): (i64, Vec<u8>) = match after {
        Some((at, id)) => (ts(at), id.as_bytes().to_vec()),
        None => (i64::MIN, Vec::new()),
    };
    let mut stmts = Vec::with_capacity(users.len());
    for _ in users {
        stmts.push(c.prepare(SQL).map_err(db)?);
    }
    let mut cursors = Vec::with_capacity(users.len());
    for (stmt, user) in stmts.iter_mut().zip(users) {
        cursors.push(
            stmt.query(params![company.0, user.0, from, to, after_at, after_id])
                .map_err(db)?,
        );
    }
    let mut heads: Vec<Option<ActivityEvent>> = Vec::with_capacity(cursors.len());
    let mut heap = BinaryHeap::new();
    for (i, rows) in cursors.iter_mut().enumerate() {
        let head = rows.next().map_err(db)?.map(codec::activity).transpose()?;
        if let Some(e) = &head {
            heap.push(Reverse((e.started_at, e.id, i)));
        }
        heads.push(head);
    }
    let mut out = Vec::with_capacity(take.min(1024));
    while out.len() < take {
        let Some(Reverse((_, _, i))) = heap.pop() else {
            break;
        };
        let next = cursors[i]
            .next()
            .map_err(db)?
            .map(codec::activity)
            .transpose()?;
        if let Some(e) = &next {
            heap.push(Reverse((e.started_at, e.id, i)));
        }
        if let Some(e) = std::mem::replace(&mut heads[i], next) {
            out.push(e);
        }
    }
    Ok(out)
}

/// One retention purge step (see [`TrackingStore::purge_tracking`]), in the
/// writer's transaction.
fn purge_step(c: &Connection, company: CompanyId, batch: &PurgeBatch) -> R<PurgeCounts> {
    let before = ts(batch.before);
    let limit = i64::from(batch.limit);
    let mut counts = PurgeCounts::default();

    // Only listed rows of this company that are really old: a stale or
    // mistaken list never deletes newer screenshots. One key lookup each.
    let mut shots = c
        .prepare_cached(
            "DELETE FROM screenshots WHERE company_id = ?1 AND id = ?2 AND taken_at < ?3
             RETURNING size_bytes",
        )
        .map_err(db)?;
    for id in &batch.screenshots {
        let size: Option<i64> = shots
            .query_row(params![company.0, id.0, before], |r| r.get(0))
            .optional()
            .map_err(db)?;
        if let Some(size) = size {
            counts.screenshots += 1;
            counts.screenshot_bytes += u64::try_from(size).unwrap_or(0);
        }
    }

    // User by user, each one range of the per-user index bounded by
    // `started_at < before`: only events that also ended by then go, each
    // user's oldest first, at most `limit` in all.
    let mut deleted: Vec<crate::rollup::Deleted> = Vec::new();
    let mut events = c
        .prepare_cached(
            "DELETE FROM activity_events WHERE rowid IN (
                 SELECT rowid FROM activity_events
                 WHERE company_id = ?1 AND user_id = ?2 AND started_at < ?3
                   AND started_at + duration_seconds * 1000000 <= ?3
                 ORDER BY started_at, id LIMIT ?4)
             RETURNING started_at, duration_seconds",
        )
        .map_err(db)?;
    for user in event_users(c, company)? {
        let room = limit - deleted.len() as i64;
        if room <= 0 {
            break;
        }
        let rows = events
            .query_map(params![company.0, user.0, before, room], |r| {
                let start: i64 = r.get(0)?;
                let secs: i64 = r.get(1)?;
                Ok((user, start, start + secs * 1_000_000))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(db)?;
        deleted.extend(rows);
    }
    counts.events = deleted.len() as u64;
    crate::rollup::forget_events(c, company, batch.before_date, &deleted)?;

    let sessions = exec(
        c,
        "DELETE FROM work_sessions WHERE company_id = ?1 AND id IN (
             SELECT id FROM work_sessions
             WHERE company_id = ?1 AND started_at < ?2 AND (stopped_at IS NULL OR stopped_at <= ?2)
             ORDER BY started_at, id LIMIT ?3)",
        params![company.0, before, limit],
    )?;
    counts.sessions = sessions as u64;

    // The daily rows have no index on date alone, so deleting them scans the
    // company's rows: done on the first step of a purge and once the events
    // are exhausted (which the final, empty step always is), not on every step.
    let started = count(
        c,
        "SELECT count(*) FROM purge_progress WHERE company_id = ?1",
        params![company.0],
    )? > 0;
    if !started || counts.events < u64::from(batch.limit) {
        let n = exec(
            c,
            "DELETE FROM activity_daily WHERE company_id = ?1 AND date < ?2",
            params![company.0, batch.before_date.to_string()],
        )?;
        counts.daily_rows = n as u64;
    }

    if counts.is_empty() {
        return Ok(counts);
    }
    exec(
        c,
        "INSERT INTO purge_progress (company_id, before_at, before_date, started_at,
           events, sessions, screenshots, screenshot_bytes, daily_rows)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (company_id) DO UPDATE SET
           events = events + excluded.events,
           sessions = sessions + excluded.sessions,
           screenshots = screenshots + excluded.screenshots,
           screenshot_bytes = screenshot_bytes + excluded.screenshot_bytes,
           daily_rows = daily_rows + excluded.daily_rows",
        params![
            company.0,
            before,
            batch.before_date.to_string(),
            ts(batch.started_at),
            int(counts.events),
            int(counts.sessions),
            int(counts.screenshots),
            int(counts.screenshot_bytes),
            int(counts.daily_rows)
        ],
    )?;
    Ok(counts)
}

fn seats(conn: &Connection, company: CompanyId) -> R<u32> {
    let n = count(
        conn,
        "SELECT count(*) FROM users WHERE company_id = ?1 AND active = 1",
        params![company.0],
    )?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

fn storage(conn: &Connection, company: CompanyId) -> R<u64> {
    let n = count(
        conn,
        "SELECT coalesce(sum(size_bytes), 0) FROM screenshots WHERE company_id = ?1",
        params![company.0],
    )?;
    Ok(u64::try_from(n).unwrap_or(0))
}

fn user_company(u: &User) -> Uuid {
    company_key(u.company_id)
}

fn username_taken(conn: &Connection, u: &User) -> R<bool> {
    Ok(count(
        conn,
        "SELECT count(*) FROM users WHERE company_id = ?1 AND username = ?2 AND id <> ?3",
        params![user_company(u), u.username, u.id.0],
    )? > 0)
}

fn write_user(conn: &Connection, u: &User) -> R<()> {
    exec(
        conn,
        // The last agent sync is the agent state's (migration 4).
        "INSERT INTO users (company_id, id, role, username, email, display_name, active, password_hash, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (company_id, id) DO UPDATE SET
           role = excluded.role, username = excluded.username, email = excluded.email,
           display_name = excluded.display_name, active = excluded.active,
           password_hash = excluded.password_hash",
        params![
            user_company(u),
            u.id.0,
            u.role.as_str(),
            u.username,
            u.email,
            u.display_name,
            u.active,
            u.password_hash,
            ts(u.created_at)
        ],
    )?;
    Ok(())
}

fn write_company(conn: &Connection, c: &Company, insert: bool) -> R<()> {
    let sql = if insert {
        "INSERT INTO companies (id, name, status, plan_id, trial_ends_at, subscription_expires_at, status_before_suspension,
           timezone, retention_days, last_sync_at, created_at, key_hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
    } else {
        "UPDATE companies SET name = ?2, status = ?3, plan_id = ?4, trial_ends_at = ?5, subscription_expires_at = ?6,
           status_before_suspension = ?7, timezone = ?8, retention_days = ?9, last_sync_at = ?10, created_at = ?11, key_hash = ?12
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
            c.key_hash.as_str()
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

fn write_policy(conn: &Connection, p: &TrackingPolicy) -> R<()> {
    exec(
        conn,
        "INSERT INTO policies (company_id, screenshots_enabled, screenshot_interval_seconds, website_tracking_enabled,
           app_tracking_enabled, idle_threshold_seconds, blur_screenshots, version, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (company_id) DO UPDATE SET
           screenshots_enabled = excluded.screenshots_enabled,
           screenshot_interval_seconds = excluded.screenshot_interval_seconds,
           website_tracking_enabled = excluded.website_tracking_enabled,
           app_tracking_enabled = excluded.app_tracking_enabled,
           idle_threshold_seconds = excluded.idle_threshold_seconds,
           blur_screenshots = excluded.blur_screenshots,
           version = excluded.version, updated_at = excluded.updated_at",
        params![
            p.company_id.0,
            p.screenshots_enabled,
            p.screenshot_interval_seconds,
            p.website_tracking_enabled,
            p.app_tracking_enabled,
            p.idle_threshold_seconds,
            p.blur_screenshots,
            int(p.version),
            ts(p.updated_at)
        ],
    )?;
    Ok(())
}

fn write_team(conn: &Connection, t: &Team) -> R<()> {
    exec(
        conn,
        "INSERT INTO teams (company_id, id, name, managers, members, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (company_id, id) DO UPDATE SET name = excluded.name, managers = excluded.managers, members = excluded.members",
        params![
            t.company_id.0,
            t.id.0,
            t.name,
            ids_json(&t.managers),
            ids_json(&t.members),
            ts(t.created_at)
        ],
    )?;
    Ok(())
}

fn team_name_taken(conn: &Connection, t: &Team) -> R<bool> {
    Ok(count(
        conn,
        "SELECT count(*) FROM teams WHERE company_id = ?1 AND name = ?2 AND id <> ?3",
        params![t.company_id.0, t.name, t.id.0],
    )? > 0)
}

/// A WHERE clause under construction with its parameters.
struct Query {
    sql: String,
    params: Vec<Box<dyn ToSql>>,
}

impl Query {
    fn new(select: &str, company: CompanyId) -> Self {
        Self {
            sql: format!("{select} WHERE company_id = ?1"),
            params: vec![Box::new(company.0)],
        }
    }

    fn and(self, cond: &str, value: impl ToSql + 'static) -> Self {
        self.and_all(cond, vec![Box::new(value)])
    }

    /// Appends ` AND cond`, numbering its `?` placeholders after the
    /// existing parameters, one value per placeholder in order.
    fn and_all(mut self, cond: &str, values: Vec<Box<dyn ToSql>>) -> Self {
        let mut values = values.into_iter();
        self.sql.push_str(" AND ");
        for ch in cond.chars() {
            if ch == '?'
                && let Some(v) = values.next()
            {
                self.params.push(v);
                self.sql.push_str(&format!("?{}", self.params.len()));
            } else {
                self.sql.push(ch);
            }
        }
        self
    }

    fn and_opt<V: ToSql + 'static>(self, cond: &str, value: Option<V>) -> Self {
        match value {
            Some(v) => self.and(cond, v),
            None => self,
        }
    }

    fn users(self, col: &str, users: &Option<BTreeSet<UserId>>) -> Self {
        match users {
            Some(set) => self.and(
                &format!("{col} IN rarray(?)"),
                id_array(set.iter().copied()),
            ),
            None => self,
        }
    }

    /// Keyset paging on (time column, id) and the limit.
    fn page_time(self, col: &str, page: &PageRequest) -> R<(Self, usize)> {
        let limit = page.limit()?;
        let q = match page.after_time_id()? {
            Some((at, id)) => self.and_all(
                &format!("({col}, id) > (?, ?)"),
                vec![Box::new(ts(at)), Box::new(id)],
            ),
            None => self,
        };
        Ok((
            q.tail(&format!(" ORDER BY {col}, id LIMIT {}", limit + 1)),
            limit,
        ))
    }

    /// Keyset paging on id and the limit.
    fn page_id(self, page: &PageRequest) -> R<(Self, usize)> {
        let limit = page.limit()?;
        let q = self.and_opt("id > ?", page.after_id()?);
        Ok((q.tail(&format!(" ORDER BY id LIMIT {}", limit + 1)), limit))
    }

    fn tail(mut self, s: &str) -> Self {
        self.sql.push_str(s);
        self
    }

    fn run<T>(&self, conn: &Connection, map: Mapper<T>) -> R<Vec<T>> {
        let params: Vec<&dyn ToSql> = self
            .params
            .iter()
            .map(|b| b.as_ref() as &dyn ToSql)
            .collect();
        all(conn, &self.sql, &params, map)
    }
}

fn time_page<T>(rows: Vec<T>, limit: usize, key: impl Fn(&T) -> (DateTime<Utc>, Uuid)) -> Page<T> {
    Page::from_overfetch(rows, limit, |t| {
        let (at, id) = key(t);
        encode_time_id(at, id)
    })
}

/// A (time, id) paged list of one tracking table.
struct TimeList {
    table: &'static str,
    col: &'static str,
    company: CompanyId,
    filter: TrackingFilter,
    page: PageRequest,
}

impl SqliteStore {
    /// Every row a query over one company returns (`?1` is the company).
    async fn in_company<T: Send + 'static>(
        &self,
        sql: &'static str,
        company: CompanyId,
        map: Mapper<T>,
    ) -> Result<Vec<T>> {
        self.engine
            .read(move |c| all(c, sql, params![company.0], map))
            .await
    }

    /// One row of a tenant table by (company, id).
    async fn by_key<T: Send + 'static>(
        &self,
        table: &'static str,
        company: CompanyId,
        id: Uuid,
        map: Mapper<T>,
    ) -> Result<Option<T>> {
        self.engine
            .read(move |c| {
                let sql = format!("SELECT * FROM {table} WHERE company_id = ?1 AND id = ?2");
                one(c, &sql, params![company.0, id], map)
            })
            .await
    }

    /// A page of a tracking list ordered by (time, id).
    async fn by_time<T: Send + 'static>(
        &self,
        list: TimeList,
        map: Mapper<T>,
        key: fn(&T) -> (DateTime<Utc>, Uuid),
    ) -> Result<Page<T>> {
        self.engine
            .read(move |c| {
                let select = format!("SELECT * FROM {}", list.table);
                let (q, limit) = tracking_query(&select, list.company, &list.filter, list.col)
                    .page_time(list.col, &list.page)?;
                Ok(time_page(q.run(c, map)?, limit, key))
            })
            .await
    }
}

const COMPANY_COLS: &str = "SELECT * FROM companies";

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
                append(c, audit).map(drop)
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

    async fn list_companies(&self, page: &PageRequest) -> Result<Page<Company>> {
        let page = page.clone();
        self.engine
            .read(move |c| {
                let limit = page.limit()?;
                let rows = match page.after_id()? {
                    Some(after) => all(
                        c,
                        &format!(
                            "{COMPANY_COLS} WHERE id > ?1 ORDER BY id LIMIT {}",
                            limit + 1
                        ),
                        params![after],
                        codec::company,
                    )?,
                    None => all(
                        c,
                        &format!("{COMPANY_COLS} ORDER BY id LIMIT {}", limit + 1),
                        &[],
                        codec::company,
                    )?,
                };
                Ok(Page::from_overfetch(rows, limit, |c| c.id.to_string()))
            })
            .await
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

    async fn update_company(&self, change: &CompanyChange) -> Result<()> {
        let change = change.clone();
        self.engine
            .write(move |c| {
                let id = change.company.id;
                if count(
                    c,
                    "SELECT count(*) FROM companies WHERE id = ?1",
                    params![id.0],
                )? == 0
                {
                    return Err(Error::not_found("company"));
                }
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
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn insert_user(
        &self,
        user: &User,
        seat_limit: Option<u32>,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let user = user.clone();
        self.engine
            .write(move |c| {
                if let Some(company) = user.company_id
                    && count(
                        c,
                        "SELECT count(*) FROM companies WHERE id = ?1",
                        params![company.0],
                    )? == 0
                {
                    return Err(Error::not_found("company"));
                }
                if username_taken(c, &user)? {
                    return Err(Error::UsernameTaken {
                        username: user.username,
                    });
                }
                if let (Some(limit), Some(company)) = (seat_limit, user.company_id)
                    && user.active
                {
                    check_seat_available(limit, seats(c, company)?)?;
                }
                write_user(c, &user)?;
                append(c, audit).map(drop)
            })
            .await
    }

    async fn get_user(&self, company: Option<CompanyId>, id: UserId) -> Result<Option<User>> {
        self.engine.point(move |c| user_row(c, company, id)).await
    }

    async fn user_by_username(
        &self,
        company: Option<CompanyId>,
        username: &str,
    ) -> Result<Option<User>> {
        let key = company_key(company);
        let username = username.to_owned();
        self.engine
            .read(move |c| {
                one(
                    c,
                    "SELECT * FROM user_rows WHERE company_id = ?1 AND username = ?2",
                    params![key, username],
                    codec::user,
                )
            })
            .await
    }

    async fn list_users(
        &self,
        company: CompanyId,
        filter: &UserFilter,
        page: &PageRequest,
    ) -> Result<Page<User>> {
        let (filter, page) = (filter.clone(), page.clone());
        self.engine
            .read(move |c| {
                let q = Query::new("SELECT * FROM user_rows", company)
                    .users("id", &filter.ids)
                    .and_opt("active = ?", filter.active);
                let (q, limit) = q.page_id(&page)?;
                Ok(Page::from_overfetch(q.run(c, codec::user)?, limit, |u| {
                    u.id.to_string()
                }))
            })
            .await
    }

    async fn count_seats(&self, company: CompanyId) -> Result<u32> {
        self.engine.read(move |c| seats(c, company)).await
    }

    async fn has_owner(&self) -> Result<bool> {
        self.engine
            .read(|c| {
                Ok(count(
                    c,
                    "SELECT count(*) FROM users WHERE company_id = ?1",
                    params![codec::PLATFORM],
                )? > 0)
            })
            .await
    }

    async fn update_user(
        &self,
        user: &User,
        update: &UserUpdate,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let (user, update) = (user.clone(), update.clone());
        self.engine
            .write(move |c| {
                let old = user_row(c, user.company_id, user.id)?.ok_or(Error::not_found("user"))?;
                if username_taken(c, &user)? {
                    return Err(Error::UsernameTaken {
                        username: user.username,
                    });
                }
                if let (Some(limit), Some(company)) = (update.seat_limit, user.company_id)
                    && user.active
                    && !old.active
                {
                    check_seat_available(limit, seats(c, company)?)?;
                }
                write_user(c, &user)?;
                if update.revoke_tokens {
                    exec(
                        c,
                        "DELETE FROM tokens WHERE company_id = ?1 AND user_id = ?2",
                        params![user_company(&user), user.id.0],
                    )?;
                }
                append(c, audit).map(drop)
            })
            .await
    }

    async fn insert_token(&self, token: &TokenRecord) -> Result<()> {
        let t = token.clone();
        self.engine
            .write(move |c| {
                exec(
                    c,
                    "INSERT INTO tokens (hash, company_id, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        t.hash.as_str(),
                        company_key(t.company_id),
                        t.user_id.0,
                        ts(t.created_at),
                        ts(t.expires_at)
                    ],
                )
                .map(drop)
            })
            .await
    }

    async fn token_by_hash(&self, hash: &SecretHash) -> Result<Option<TokenRecord>> {
        let hash = hash.clone();
        self.engine.point(move |c| token_row(c, &hash)).await
    }

    async fn token_owner(&self, hash: &SecretHash) -> Result<Option<TokenOwner>> {
        let ticket = match self.owners.get(hash.as_str()) {
            Cached::Hit(owner) => return Ok(Some(owner)),
            Cached::Miss(ticket) => ticket,
        };
        let hash = hash.clone();
        let owner = self
            .engine
            .point(move |c| {
                // One read transaction: the four rows of one snapshot.
                read_together(c, |c| {
                    let Some(token) = token_row(c, &hash)? else {
                        return Ok(None);
                    };
                    let user = user_row(c, token.company_id, token.user_id)?;
                    let (company, policy) = match token.company_id {
                        Some(id) => (company_row(c, id)?, policy_row(c, id)?),
                        None => (None, None),
                    };
                    Ok(Some(TokenOwner {
                        token,
                        user,
                        company,
                        policy,
                    }))
                })
            })
            .await?;
        if let Some(owner) = &owner {
            self.owners.fill(ticket, owner);
        }
        Ok(owner)
    }

    async fn delete_token(&self, hash: &SecretHash) -> Result<()> {
        let hash = hash.clone();
        self.engine
            .write(move |c| {
                exec(
                    c,
                    "DELETE FROM tokens WHERE hash = ?1",
                    params![hash.as_str()],
                )
                .map(drop)
            })
            .await
    }

    async fn record_heartbeat(&self, state: &AgentState) -> Result<()> {
        let s = state.clone();
        let (company, user, at) = (s.company_id, s.user_id, s.last_heartbeat_at);
        // Checked now, written with the writer's next group (see `beats`).
        let held = match self.beats.hold(s, &self.owners, false) {
            Hold::Unknown(s) if self.beats.answers_after_commit() => {
                // Checked by the write itself, a job of its own, as the
                // owners in memory do not tell (a caller that did not
                // look its token up first): no lookup ahead of it.
                let owners = std::sync::Arc::clone(&self.owners);
                return self
                    .engine
                    .write_statement(
                        move |c| match write_beat(c, &s)? {
                            true => Ok(()),
                            false => Err(Error::not_found("user")),
                        },
                        move |()| owners.heartbeat(company, user, at),
                    )
                    .await;
            }
            Hold::Unknown(s) => {
                let known = self
                    .engine
                    .point_unsettled(move |c| user_of_company(c, company, user))
                    .await?;
                match known {
                    true => self.beats.hold(s, &self.owners, true),
                    false => Hold::NotOfCompany,
                }
            }
            held => held,
        };
        let Hold::Held { first, committed } = held else {
            return Err(Error::not_found("user"));
        };
        if first {
            self.engine.wake();
        }
        match committed {
            None => Ok(()),
            Some(committed) => match committed.await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(SqliteError::Commit(e).into()),
                Err(_) => Err(SqliteError::Closed.into()),
            },
        }
    }

    async fn list_agent_states(&self, company: CompanyId) -> Result<Vec<AgentState>> {
        self.in_company(
            "SELECT * FROM agent_states WHERE company_id = ?1 ORDER BY user_id",
            company,
            codec::agent_state,
        )
        .await
    }

    async fn agent_state(&self, company: CompanyId, user: UserId) -> Result<Option<AgentState>> {
        self.engine
            .point(move |c| {
                one(
                    c,
                    "SELECT * FROM agent_states WHERE company_id = ?1 AND user_id = ?2",
                    params![company.0, user.0],
                    codec::agent_state,
                )
            })
            .await
    }

    async fn insert_team(&self, team: &Team, audit: NewAuditEvent) -> Result<()> {
        let team = team.clone();
        self.engine
            .write(move |c| {
                if team_name_taken(c, &team)? {
                    return Err(Error::AlreadyExists {
                        entity: "team",
                        value: team.name,
                    });
                }
                write_team(c, &team)?;
                append(c, audit).map(drop)
            })
            .await
    }

    async fn get_team(&self, company: CompanyId, id: TeamId) -> Result<Option<Team>> {
        self.by_key("teams", company, id.0, codec::team).await
    }

    async fn list_teams(&self, company: CompanyId) -> Result<Vec<Team>> {
        self.in_company(
            "SELECT * FROM teams WHERE company_id = ?1 ORDER BY name",
            company,
            codec::team,
        )
        .await
    }

    async fn update_team(&self, team: &Team, audit: NewAuditEvent) -> Result<()> {
        let team = team.clone();
        self.engine
            .write(move |c| {
                let exists = count(
                    c,
                    "SELECT count(*) FROM teams WHERE company_id = ?1 AND id = ?2",
                    params![team.company_id.0, team.id.0],
                )?;
                if exists == 0 {
                    return Err(Error::not_found("team"));
                }
                if team_name_taken(c, &team)? {
                    return Err(Error::AlreadyExists {
                        entity: "team",
                        value: team.name,
                    });
                }
                write_team(c, &team)?;
                append(c, audit).map(drop)
            })
            .await
    }

    async fn delete_team(
        &self,
        company: CompanyId,
        id: TeamId,
        audit: NewAuditEvent,
    ) -> Result<()> {
        self.engine
            .write(move |c| {
                let n = exec(
                    c,
                    "DELETE FROM teams WHERE company_id = ?1 AND id = ?2",
                    params![company.0, id.0],
                )?;
                if n == 0 {
                    return Err(Error::not_found("team"));
                }
                append(c, audit).map(drop)
            })
            .await
    }
}

#[async_trait]
impl PolicyStore for SqliteStore {
    async fn get_policy(&self, company: CompanyId) -> Result<Option<TrackingPolicy>> {
        self.engine.point(move |c| policy_row(c, company)).await
    }

    async fn update_policy(&self, policy: &TrackingPolicy, audit: NewAuditEvent) -> Result<()> {
        let policy = policy.clone();
        self.engine
            .write(move |c| {
                let current: Option<i64> = c
                    .prepare_cached("SELECT version FROM policies WHERE company_id = ?1")
                    .and_then(|mut s| {
                        s.query_row(params![policy.company_id.0], |r| r.get(0))
                            .optional()
                    })
                    .map_err(db)?;
                let current = current.ok_or(Error::not_found("policy"))?;
                if current + 1 != int(policy.version) {
                    return Err(Error::invalid_state(format!(
                        "the policy changed meanwhile (now version {current})"
                    )));
                }
                write_policy(c, &policy)?;
                append(c, audit).map(drop)
            })
            .await
    }
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_audit(&self, event: NewAuditEvent) -> Result<AuditEvent> {
        self.engine.write(move |c| append(c, event)).await
    }

    async fn list_audit(
        &self,
        chain: AuditChain,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEvent>> {
        let (filter, page) = (filter.clone(), page.clone());
        self.engine
            .read(move |c| {
                let limit = page.limit()?;
                let q = Query {
                    sql: "SELECT * FROM audit_events WHERE company_id = ?1".into(),
                    params: vec![Box::new(chain_key(chain))],
                }
                .and_opt("seq > ?", page.after_seq()?.map(int))
                .and_opt("action = ?", filter.action.map(|a| a.as_str()))
                .and_opt(
                    "json_extract(actor, '$.id') = ?",
                    filter.actor.map(|a| a.to_string()),
                )
                .and_opt("at >= ?", filter.from.map(ts))
                .and_opt("at < ?", filter.to.map(ts))
                .tail(&format!(" ORDER BY seq LIMIT {}", limit + 1));
                Ok(Page::from_overfetch(
                    q.run(c, codec::audit_event)?,
                    limit,
                    |e| e.seq.to_string(),
                ))
            })
            .await
    }

    async fn read_chain(
        &self,
        chain: AuditChain,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<AuditEvent>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.engine
            .read(move |c| {
                all(
                    c,
                    "SELECT * FROM audit_events WHERE company_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
                    params![chain_key(chain), int(after_seq), limit],
                    codec::audit_event,
                )
            })
            .await
    }
}

#[async_trait]
impl TrackingStore for SqliteStore {
    async fn insert_session(&self, session: &WorkSession) -> Result<Ingested<WorkSession>> {
        let s = session.clone();
        self.engine
            .write_tracking(move |c| {
                let n = exec(
                    c,
                    "INSERT INTO work_sessions (company_id, id, user_id, started_at, stopped_at) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (company_id, id) DO NOTHING",
                    params![s.company_id.0, s.id.0, s.user_id.0, ts(s.started_at), ts_opt(s.stopped_at)],
                )?;
                let stored = one(
                    c,
                    "SELECT * FROM work_sessions WHERE company_id = ?1 AND id = ?2",
                    params![s.company_id.0, s.id.0],
                    codec::session,
                )?
                .ok_or(Error::not_found("work session"))?;
                Ok(Ingested { stored, inserted: n == 1 })
            }, |_| ())
            .await
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
        self.engine
            .write_tracking(move |c| {
                exec(
                    c,
                    "UPDATE work_sessions SET stopped_at = ?3 WHERE company_id = ?1 AND id = ?2 AND stopped_at IS NULL",
                    params![company.0, id.0, ts(stopped_at)],
                )?;
                one(
                    c,
                    "SELECT * FROM work_sessions WHERE company_id = ?1 AND id = ?2",
                    params![company.0, id.0],
                    codec::session,
                )?
                .ok_or(Error::not_found("work session"))
            }, |_| ())
            .await
    }

    async fn list_sessions(
        &self,
        company: CompanyId,
        filter: &TrackingFilter,
        page: &PageRequest,
    ) -> Result<Page<WorkSession>> {
        self.by_time(
            TimeList {
                table: "work_sessions",
                col: "started_at",
                company,
                filter: filter.clone(),
                page: page.clone(),
            },
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
        let events = events.to_vec();
        let (count, events) = self
            .engine
            .write_heavy(move |c| crate::rollup::ingest(c, company, &events).map(|n| (n, events)))
            .await?;
        // Freed here rather than on the writer thread, which all writes share.
        drop(events);
        Ok(count)
    }

    async fn day_rollups(
        &self,
        company: CompanyId,
        users: &Option<BTreeSet<UserId>>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Option<Vec<DayRollup>>> {
        let users = users.clone();
        self.engine
            .read(move |c| {
                Query::new("SELECT * FROM activity_daily", company)
                    .users("user_id", &users)
                    .and("date >= ?", date_bound(from))
                    .and("date <= ?", date_bound(to))
                    .run(c, codec::rollup)
                    .map(Some)
            })
            .await
    }

    async fn list_activity(
        &self,
        company: CompanyId,
        filter: &TrackingFilter,
        page: &PageRequest,
    ) -> Result<Page<ActivityEvent>> {
        let (filter, page) = (filter.clone(), page.clone());
        self.engine
            .read(move |c| {
                let limit = page.limit()?;
                let users = match &filter.users {
                    Some(set) => set.iter().copied().collect(),
                    None => event_users(c, company)?,
                };
                let rows = merge_user_events(
                    c,
                    company,
                    &users,
                    &filter,
                    page.after_time_id()?,
                    limit + 1,
                )?;
                Ok(time_page(rows, limit, |e| (e.started_at, e.id.0)))
            })
            .await
    }

    async fn activity_between(
        &self,
        company: CompanyId,
        users: &Option<BTreeSet<UserId>>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ActivityEvent>> {
        let users = users.clone();
        // Events are at most a day long (MAX_EVENT_SECONDS), so a start after
        // `from - 1 day` bounds the index scan.
        let lower = ts(from) - i64::from(tracker_core::tracking::MAX_EVENT_SECONDS) * 1_000_000;
        self.engine
            .read(move |c| {
                let users = match users {
                    Some(set) => set.into_iter().collect(),
                    None => event_users(c, company)?,
                };
                // One range of the per-user index per user (there is no
                // company-wide time index, see migration 3).
                let mut stmt = c
                    .prepare_cached(
                        "SELECT * FROM activity_events
                         WHERE company_id = ?1 AND user_id = ?2 AND started_at >= ?3 AND started_at < ?4
                           AND started_at + duration_seconds * 1000000 > ?5",
                    )
                    .map_err(db)?;
                let mut out = Vec::new();
                for user in users {
                    let mut rows = stmt
                        .query(params![company.0, user.0, lower, ts(to), ts(from)])
                        .map_err(db)?;
                    while let Some(row) = rows.next().map_err(db)? {
                        out.push(codec::activity(row)?);
                    }
                }
                out.sort_by_key(|e| (e.started_at, e.id));
                Ok(out)
            })
            .await
    }

    async fn insert_screenshot(
        &self,
        shot: &Screenshot,
        storage_limit: u64,
    ) -> Result<Ingested<Screenshot>> {
        let s = shot.clone();
        self.engine
            .write(move |c| {
                let existing = one(
                    c,
                    "SELECT * FROM screenshots WHERE company_id = ?1 AND id = ?2",
                    params![s.company_id.0, s.id.0],
                    codec::screenshot,
                )?;
                if let Some(stored) = existing {
                    return Ok(Ingested { stored, inserted: false });
                }
                if storage(c, s.company_id)?.saturating_add(s.size_bytes) > storage_limit {
                    return Err(Error::StorageLimitReached {
                        limit_bytes: storage_limit,
                    });
                }
                exec(
                    c,
                    "INSERT INTO screenshots (company_id, id, user_id, taken_at, size_bytes, sha256, content_type, blurred, blob_key)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        s.company_id.0,
                        s.id.0,
                        s.user_id.0,
                        ts(s.taken_at),
                        int(s.size_bytes),
                        s.sha256,
                        s.content_type,
                        s.blurred,
                        s.blob_key
                    ],
                )?;
                mark_usage(c, s.company_id, [s.taken_at.date_naive()])?;
                Ok(Ingested { stored: s, inserted: true })
            })
            .await
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
            TimeList {
                table: "screenshots",
                col: "taken_at",
                company,
                filter: filter.clone(),
                page: page.clone(),
            },
            codec::screenshot,
            |x| (x.taken_at, x.id.0),
        )
        .await
    }

    async fn storage_used(&self, company: CompanyId) -> Result<u64> {
        self.engine.read(move |c| storage(c, company)).await
    }

    async fn open_sessions(&self, company: CompanyId) -> Result<Vec<WorkSession>> {
        self.in_company(
            "SELECT * FROM work_sessions WHERE company_id = ?1 AND stopped_at IS NULL ORDER BY started_at, id",
            company,
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
        self.engine
            .read(move |c| {
                all(
                    c,
                    "SELECT * FROM screenshots WHERE company_id = ?1 AND taken_at < ?2
                     ORDER BY taken_at, id LIMIT ?3",
                    params![company.0, ts(before), i64::from(limit)],
                    codec::screenshot,
                )
            })
            .await
    }

    async fn purge_tracking(&self, company: CompanyId, batch: &PurgeBatch) -> Result<PurgeCounts> {
        let batch = batch.clone();
        self.engine
            .write_heavy(move |c| purge_step(c, company, &batch))
            .await
    }

    async fn purge_progress(&self, company: CompanyId) -> Result<Option<PurgeProgress>> {
        self.engine
            .read(move |c| {
                one(
                    c,
                    "SELECT * FROM purge_progress WHERE company_id = ?1",
                    params![company.0],
                    codec::purge_progress,
                )
            })
            .await
    }

    async fn finish_purge(&self, company: CompanyId, audit: NewAuditEvent) -> Result<()> {
        self.engine
            .write(move |c| {
                exec(
                    c,
                    "DELETE FROM purge_progress WHERE company_id = ?1",
                    params![company.0],
                )?;
                append(c, audit).map(drop)
            })
            .await
    }

    async fn pending_usage_days(&self, company: CompanyId) -> Result<Vec<PendingUsageDay>> {
        self.in_company(
            "SELECT date, version FROM usage_pending WHERE company_id = ?1 ORDER BY date",
            company,
            codec::pending_day,
        )
        .await
    }

    async fn mark_usage_days(&self, company: CompanyId, dates: &[NaiveDate]) -> Result<()> {
        let dates = dates.to_vec();
        self.engine
            .write(move |c| mark_usage(c, company, dates))
            .await
    }

    async fn clear_pending_usage(
        &self,
        company: CompanyId,
        days: &[PendingUsageDay],
    ) -> Result<()> {
        let days = days.to_vec();
        self.engine
            .write(move |c| {
                for d in &days {
                    // A date marked again since it was read has a newer version and stays.
                    exec(
                        c,
                        "DELETE FROM usage_pending WHERE company_id = ?1 AND date = ?2 AND version = ?3",
                        params![company.0, d.date.to_string(), int(d.version)],
                    )?;
                }
                Ok(())
            })
            .await
    }
}

fn tracking_query(select: &str, company: CompanyId, filter: &TrackingFilter, col: &str) -> Query {
    Query::new(select, company)
        .users("user_id", &filter.users)
        .and_opt(&format!("{col} >= ?"), filter.from.map(ts))
        .and_opt(&format!("{col} < ?"), filter.to.map(ts))
}

#[async_trait]
impl WorkStore for SqliteStore {
    async fn insert_task(&self, task: &Task, audit: NewAuditEvent) -> Result<()> {
        let t = task.clone();
        self.engine
            .write(move |c| {
                write_task(c, &t, true)?;
                append(c, audit).map(drop)
            })
            .await
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
        let (filter, page) = (filter.clone(), page.clone());
        self.engine
            .read(move |c| {
                let (q, limit) = Query::new("SELECT * FROM tasks", company)
                    .users("assignee_id", &filter.assignees)
                    .and_opt("status = ?", filter.status.map(|s| s.as_str()))
                    .page_id(&page)?;
                Ok(Page::from_overfetch(q.run(c, codec::task)?, limit, |t| {
                    t.id.to_string()
                }))
            })
            .await
    }

    async fn update_task(&self, task: &Task) -> Result<()> {
        let t = task.clone();
        self.engine.write(move |c| write_task(c, &t, false)).await
    }

    async fn insert_correction(&self, correction: &CorrectionRequest) -> Result<()> {
        let r = correction.clone();
        self.engine
            .write(move |c| {
                exec(
                    c,
                    "INSERT INTO corrections (company_id, id, user_id, starts_at, ends_at, reason, status, decided_by, decided_at, decision_note, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    params![
                        r.company_id.0,
                        r.id.0,
                        r.user_id.0,
                        ts(r.starts_at),
                        ts(r.ends_at),
                        r.reason,
                        r.status.as_str(),
                        r.decided_by.map(|u| u.0),
                        ts_opt(r.decided_at),
                        r.decision_note,
                        ts(r.created_at)
                    ],
                )
                .map(drop)
            })
            .await
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
        let (filter, page) = (filter.clone(), page.clone());
        self.engine
            .read(move |c| {
                let (q, limit) = Query::new("SELECT * FROM corrections", company)
                    .users("user_id", &filter.users)
                    .and_opt("status = ?", filter.status.map(|s| s.as_str()))
                    .page_id(&page)?;
                Ok(Page::from_overfetch(
                    q.run(c, codec::correction)?,
                    limit,
                    |r| r.id.to_string(),
                ))
            })
            .await
    }

    async fn decide_correction(
        &self,
        correction: &CorrectionRequest,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let r = correction.clone();
        self.engine
            .write(move |c| {
                let current: Option<String> = c
                    .prepare_cached("SELECT status FROM corrections WHERE company_id = ?1 AND id = ?2")
                    .and_then(|mut s| s.query_row(params![r.company_id.0, r.id.0], |row| row.get(0)).optional())
                    .map_err(db)?;
                match current.as_deref() {
                    None => return Err(Error::not_found("correction")),
                    Some("pending") => {}
                    Some(other) => {
                        return Err(Error::invalid_state(format!("the correction is already {other}")));
                    }
                }
                exec(
                    c,
                    "UPDATE corrections SET status = ?3, decided_by = ?4, decided_at = ?5, decision_note = ?6
                     WHERE company_id = ?1 AND id = ?2",
                    params![
                        r.company_id.0,
                        r.id.0,
                        r.status.as_str(),
                        r.decided_by.map(|u| u.0),
                        ts_opt(r.decided_at),
                        r.decision_note
                    ],
                )?;
                append(c, audit).map(drop)
            })
            .await
    }

    async fn approved_corrections(
        &self,
        company: CompanyId,
        users: &Option<BTreeSet<UserId>>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<CorrectionRequest>> {
        let users = users.clone();
        self.engine
            .read(move |c| {
                Query::new("SELECT * FROM corrections", company)
                    .users("user_id", &users)
                    .and("status = ?", "approved")
                    .and("starts_at < ?", ts(to))
                    .and("ends_at > ?", ts(from))
                    .tail(" ORDER BY starts_at, id")
                    .run(c, codec::correction)
            })
            .await
    }
}

fn write_task(c: &Connection, t: &Task, insert: bool) -> R<()> {
    let sql = if insert {
        "INSERT INTO tasks (company_id, id, title, description, assignee_id, created_by, status, due_on, completion_note, completed_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
    } else {
        "UPDATE tasks SET title = ?3, description = ?4, assignee_id = ?5, created_by = ?6, status = ?7, due_on = ?8,
           completion_note = ?9, completed_at = ?10, created_at = ?11
         WHERE company_id = ?1 AND id = ?2"
    };
    let n = exec(
        c,
        sql,
        params![
            t.company_id.0,
            t.id.0,
            t.title,
            t.description,
            t.assignee_id.0,
            t.created_by.0,
            t.status.as_str(),
            t.due_on.map(|d| d.to_string()),
            t.completion_note,
            ts_opt(t.completed_at),
            ts(t.created_at)
        ],
    )?;
    if n == 0 {
        return Err(Error::not_found("task"));
    }
    Ok(())
}

#[async_trait]
impl UsageStore for SqliteStore {
    async fn upsert_usage(&self, rows: &[CompanyUsageDaily]) -> Result<()> {
        let rows = rows.to_vec();
        self.engine
            .write(move |c| {
                for r in &rows {
                    exec(
                        c,
                        "INSERT INTO usage_daily (company_id, date, active_seconds, idle_seconds, screenshots, storage_bytes, active_users)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                         ON CONFLICT (company_id, date) DO UPDATE SET active_seconds = excluded.active_seconds,
                           idle_seconds = excluded.idle_seconds, screenshots = excluded.screenshots,
                           storage_bytes = excluded.storage_bytes, active_users = excluded.active_users",
                        params![
                            r.company_id.0,
                            r.date.to_string(),
                            int(r.active_seconds),
                            int(r.idle_seconds),
                            int(r.screenshots),
                            int(r.storage_bytes),
                            r.active_users
                        ],
                    )?;
                }
                Ok(())
            })
            .await
    }

    async fn list_usage(
        &self,
        company: Option<CompanyId>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<CompanyUsageDaily>> {
        self.engine
            .read(move |c| match company {
                Some(id) => all(
                    c,
                    "SELECT * FROM usage_daily WHERE company_id = ?1 AND date >= ?2 AND date <= ?3 ORDER BY date",
                    params![id.0, date_bound(from), date_bound(to)],
                    codec::usage,
                ),
                None => all(
                    c,
                    "SELECT * FROM usage_daily WHERE date >= ?1 AND date <= ?2 ORDER BY company_id, date",
                    params![date_bound(from), date_bound(to)],
                    codec::usage,
                ),
            })
            .await
    }
}

/// Stores an alert unless its id or an open alert of its subject exists.
const ALERT_INSERT: &str = "INSERT INTO alerts (company_id, id, kind, subject, user_id, message, details, raised_at, resolved_at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
     ON CONFLICT DO NOTHING";

#[async_trait]
impl AlertStore for SqliteStore {
    async fn open_alert(&self, alert: &Alert) -> Result<Ingested<Alert>> {
        let a = alert.clone();
        self.engine
            .write(move |c| {
                let subject = tracker_core::rows::alert_subject(a.user_id);
                // The partial unique index refuses a second open alert of the
                // subject; the one that is open is then returned.
                let n = exec(
                    c,
                    ALERT_INSERT,
                    params![
                        a.company_id.0,
                        a.id.0,
                        a.kind.as_str(),
                        subject,
                        a.user_id.map(|u| u.0),
                        a.message,
                        a.details.to_string(),
                        ts(a.raised_at),
                        ts_opt(a.resolved_at)
                    ],
                )?;
                let stored = if n == 1 {
                    one(
                        c,
                        "SELECT * FROM alerts WHERE company_id = ?1 AND id = ?2",
                        params![a.company_id.0, a.id.0],
                        codec::alert,
                    )?
                } else {
                    one(
                        c,
                        "SELECT * FROM alerts WHERE company_id = ?1 AND kind = ?2 AND subject = ?3
                           AND resolved_at IS NULL",
                        params![a.company_id.0, a.kind.as_str(), subject],
                        codec::alert,
                    )?
                };
                match stored {
                    Some(stored) => Ok(Ingested {
                        stored,
                        inserted: n == 1,
                    }),
                    // Nothing open, so the id itself was taken (by a resolved alert).
                    None => Err(Error::AlreadyExists {
                        entity: "alert",
                        value: a.id.to_string(),
                    }),
                }
            })
            .await
    }

    async fn get_alert(&self, company: CompanyId, id: AlertId) -> Result<Option<Alert>> {
        self.by_key("alerts", company, id.0, codec::alert).await
    }

    async fn open_alerts(&self, company: Option<CompanyId>, kind: AlertKind) -> Result<Vec<Alert>> {
        self.engine
            .read(move |c| match company {
                // INDEXED BY: without ANALYZE statistics SQLite prefers the
                // primary key's company range, resolved alerts included.
                Some(id) => all(
                    c,
                    "SELECT * FROM alerts INDEXED BY alerts_open
                     WHERE company_id = ?1 AND kind = ?2 AND resolved_at IS NULL ORDER BY id",
                    params![id.0, kind.as_str()],
                    codec::alert,
                ),
                // The jobs' cross-company view scans the partial index, which
                // holds the open alerts only, instead of every alert ever raised.
                None => all(
                    c,
                    "SELECT * FROM alerts INDEXED BY alerts_open
                     WHERE kind = ?1 AND resolved_at IS NULL ORDER BY company_id, id",
                    params![kind.as_str()],
                    codec::alert,
                ),
            })
            .await
    }

    async fn resolve_alert(
        &self,
        company: CompanyId,
        id: AlertId,
        at: DateTime<Utc>,
    ) -> Result<Option<Alert>> {
        self.engine
            .write(move |c| {
                let n = exec(
                    c,
                    "UPDATE alerts SET resolved_at = ?3 WHERE company_id = ?1 AND id = ?2 AND resolved_at IS NULL",
                    params![company.0, id.0, ts(at)],
                )?;
                if n == 0 {
                    return Ok(None);
                }
                one(
                    c,
                    "SELECT * FROM alerts WHERE company_id = ?1 AND id = ?2",
                    params![company.0, id.0],
                    codec::alert,
                )
            })
            .await
    }

    async fn list_alerts(
        &self,
        company: CompanyId,
        filter: &AlertFilter,
        page: &PageRequest,
    ) -> Result<Page<Alert>> {
        let (filter, page) = (*filter, page.clone());
        self.engine
            .read(move |c| {
                let q = Query::new("SELECT * FROM alerts", company)
                    .and_opt("kind = ?", filter.kind.map(|k| k.as_str()));
                let q = match filter.open {
                    Some(true) => q.and_all("resolved_at IS NULL", Vec::new()),
                    Some(false) => q.and_all("resolved_at IS NOT NULL", Vec::new()),
                    None => q,
                };
                let (q, limit) = q.page_id(&page)?;
                Ok(Page::from_overfetch(q.run(c, codec::alert)?, limit, |a| {
                    a.id.to_string()
                }))
            })
            .await
    }

    async fn get_alert_settings(&self, company: CompanyId) -> Result<Option<AlertSettings>> {
        self.engine
            .read(move |c| {
                one(
                    c,
                    "SELECT * FROM alert_settings WHERE company_id = ?1",
                    params![company.0],
                    codec::alert_settings,
                )
            })
            .await
    }

    async fn put_alert_settings(
        &self,
        settings: &AlertSettings,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let s = settings.clone();
        self.engine
            .write(move |c| {
                if count(
                    c,
                    "SELECT count(*) FROM companies WHERE id = ?1",
                    params![s.company_id.0],
                )? == 0
                {
                    return Err(Error::not_found("company"));
                }
                let json = serde_json::to_string(&s)
                    .map_err(|e| codec::corrupt("settings", e.to_string()))?;
                exec(
                    c,
                    "INSERT INTO alert_settings (company_id, settings, updated_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (company_id) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at",
                    params![s.company_id.0, json, ts(s.updated_at)],
                )?;
                append(c, audit).map(drop)
            })
            .await
    }

    async fn insert_deliveries(&self, records: &[DeliveryRecord]) -> Result<()> {
        let records = records.to_vec();
        self.engine
            .write(move |c| {
                for r in &records {
                    // An attempt is a fact: a replayed id keeps the first record.
                    exec(
                        c,
                        "INSERT INTO alert_deliveries (company_id, id, alert_id, event, url, attempt, at, status, error, delivered)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                         ON CONFLICT (company_id, id) DO NOTHING",
                        params![
                            r.company_id.0,
                            r.id.0,
                            r.alert_id.0,
                            r.event.as_str(),
                            r.url,
                            r.attempt,
                            ts(r.at),
                            r.status,
                            r.error,
                            r.delivered
                        ],
                    )?;
                }
                Ok(())
            })
            .await
    }

    async fn list_deliveries(
        &self,
        company: CompanyId,
        alert: AlertId,
    ) -> Result<Vec<DeliveryRecord>> {
        self.engine
            .read(move |c| {
                // INDEXED BY: without ANALYZE statistics SQLite would scan the
                // company's every delivery by primary key.
                all(
                    c,
                    "SELECT * FROM alert_deliveries INDEXED BY alert_deliveries_by_alert
                     WHERE company_id = ?1 AND alert_id = ?2 ORDER BY id",
                    params![company.0, alert.0],
                    codec::delivery,
                )
            })
            .await
    }
}
