//! [`TrackingStore`]: work sessions, activity events with their daily
//! rollups ([`crate::rollup`]), screenshot metadata.
//!
//! Activity events are stored per user (migration 5, see
//! [`crate::rollup`]) and read through the view `activity_events`: a
//! company-wide read in time order merges one range per user.

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{Connection, params};
use tracker_core::error::{Error, Result};
use tracker_core::paging::{Page, PageRequest};
use tracker_core::store::{
    DayRollup, EventBatch, IngestCount, Ingested, TrackingFilter, TrackingStore, UsageSum,
};
use tracker_core::{
    ActivityEvent, CompanyId, Screenshot, ScreenshotId, UserId, WorkSession, WorkSessionId,
};
use uuid::Uuid;

use super::TimeList;
use crate::SqliteStore;
use crate::codec::{self, R, date_bound, int, ts, ts_opt};
use crate::error::db;
use crate::rows::{event_users, mark_usage, storage};
use crate::sql::{Query, exec, one, time_page};

/// Batches of at most this many events are written as small jobs.
const SMALL_BATCH: usize = 16;

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

    async fn open_sessions(&self, company: CompanyId) -> Result<Vec<WorkSession>> {
        self.in_company(
            "SELECT * FROM work_sessions WHERE company_id = ?1 AND stopped_at IS NULL ORDER BY started_at, id",
            company,
            codec::session,
        )
        .await
    }

    async fn insert_activity(&self, batch: &EventBatch) -> Result<IngestCount> {
        let batch = batch.clone();
        let small = batch.events().len() <= SMALL_BATCH;
        let job = move |c: &Connection| {
            crate::rollup::ingest(c, batch.company(), batch.events()).map(|n| (n, batch))
        };
        // A few events take microseconds: they share a commit with other
        // small writes, as heartbeats do. Only a large batch is a heavy
        // job, of which a commit holds at most one.
        let (count, batch) = if small {
            self.engine.write_tracking(job, |_| ()).await?
        } else {
            self.engine.write_heavy(job).await?
        };
        // Freed here rather than on the writer thread, which all writes share.
        drop(batch);
        Ok(count)
    }

    async fn list_activity(
        &self,
        company: CompanyId,
        filter: &TrackingFilter,
        page: &PageRequest,
    ) -> Result<Page<ActivityEvent>> {
        if filter.ids.is_some() {
            // Named events: key lookups on each owner's unique ids, not a
            // merge of whole user ranges.
            return self
                .by_time(
                    TimeList {
                        table: "activity_events_by_id",
                        col: "started_at",
                        company,
                        filter: filter.clone(),
                        page: page.clone(),
                    },
                    codec::activity,
                    |e| (e.started_at, e.id.0),
                )
                .await;
        }
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

    // Provided methods, overridden with key lookups and single queries;
    // `day_rollups` reads the rows `rollup` keeps at ingest.

    async fn get_session(
        &self,
        company: CompanyId,
        id: WorkSessionId,
    ) -> Result<Option<WorkSession>> {
        self.by_key("work_sessions", company, id.0, codec::session)
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

    async fn activity_between<'a>(
        &self,
        company: CompanyId,
        users: Option<&'a BTreeSet<UserId>>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ActivityEvent>> {
        let users = users.cloned();
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

    async fn storage_used(&self, company: CompanyId) -> Result<u64> {
        self.engine.read(move |c| storage(c, company)).await
    }

    async fn day_rollups<'a>(
        &self,
        company: CompanyId,
        users: Option<&'a BTreeSet<UserId>>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Option<Vec<DayRollup>>> {
        let users = users.cloned();
        self.engine
            .read(move |c| {
                Query::new("SELECT * FROM activity_daily", company)
                    .in_set("user_id", users.as_ref())
                    .and("date >= ?", date_bound(from))
                    .and("date <= ?", date_bound(to))
                    .run(c, codec::rollup)
                    .map(Some)
            })
            .await
    }

    async fn usage_sums<'a>(
        &self,
        company: CompanyId,
        users: Option<&'a BTreeSet<UserId>>,
        from: NaiveDate,
        to: NaiveDate,
        by_domain: bool,
    ) -> Result<Option<Vec<UsageSum>>> {
        let users = users.cloned();
        self.engine
            .read(move |c| {
                // The owners of the company, each one range of its usage rows.
                Query::new(
                    "SELECT user_id, name, sum(active_us) AS active_micros FROM (
                         SELECT o.company_id, o.user_id, u.by_domain, u.date, u.active_us, t.text AS name
                         FROM activity_owners o
                         JOIN activity_usage u ON u.owner = o.key
                         JOIN activity_texts t ON t.key = u.name)",
                    company,
                )
                .in_set("user_id", users.as_ref())
                .and("by_domain = ?", by_domain)
                .and("date >= ?", date_bound(from))
                .and("date <= ?", date_bound(to))
                .tail(" GROUP BY user_id, name")
                .run(c, codec::usage_sum)
                .map(Some)
            })
            .await
    }
}
