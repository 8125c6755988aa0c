//! [`TrackingStore`]: work sessions, activity events (ingest in
//! [`ingest`](crate::ingest)) and screenshot metadata, with the per-day
//! rollups the ingest keeps.

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use tracker_core::paging::{Page, PageRequest};
use tracker_core::store::{
    DayRollup, EventBatch, IngestCount, Ingested, TrackingFilter, TrackingStore,
};
use tracker_core::tracking::MAX_EVENT_SECONDS;
use tracker_core::{
    ActivityEvent, CompanyId, Error, Result, Screenshot, ScreenshotId, UserId, WorkSession,
    WorkSessionId,
};

use crate::PgStore;
use crate::codec::{self, bound_date, bound_time, int};
use crate::scope::Scope;
use crate::shared::{mark_days, storage};
use crate::sql::{Select, exec, one, q};
use crate::tx::{Lock, lock};

#[async_trait]
impl TrackingStore for PgStore {
    async fn insert_session(&self, session: &WorkSession) -> Result<Ingested<WorkSession>> {
        let mut conn = self.conn(Scope::of(session.company_id)).await?;
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

    async fn stop_session(
        &self,
        company: CompanyId,
        id: WorkSessionId,
        stopped_at: DateTime<Utc>,
    ) -> Result<WorkSession> {
        // Sets the stop once; a session already stopped is returned as stored.
        self.read_one(
            Scope::of(company),
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

    async fn open_sessions(&self, company: CompanyId) -> Result<Vec<WorkSession>> {
        self.read_all(
            Scope::of(company),
            q("SELECT * FROM work_sessions WHERE company_id = $1 AND stopped_at IS NULL ORDER BY started_at, id")
                .bind(company.0),
            codec::session,
        )
        .await
    }

    async fn insert_activity(&self, batch: &EventBatch) -> Result<IngestCount> {
        crate::ingest::ingest(self, batch).await
    }

    async fn list_activity(
        &self,
        company: CompanyId,
        filter: &TrackingFilter,
        page: &PageRequest,
    ) -> Result<Page<ActivityEvent>> {
        // Events named by id: one key range per user (ids are unique per
        // user, so no index leads with the id).
        let table = if filter.ids.is_some() {
            "activity_events_by_owner"
        } else {
            "activity_events"
        };
        self.by_time(
            table,
            "started_at",
            (company, filter, page),
            codec::activity,
            |x| (x.started_at, x.id.0),
        )
        .await
    }

    async fn insert_screenshot(
        &self,
        shot: &Screenshot,
        storage_limit: u64,
    ) -> Result<Ingested<Screenshot>> {
        self.in_tx(Scope::of(shot.company_id), async |tx| {
            lock(tx, Lock::Limits, shot.company_id).await?;
            let existing = one(
                tx,
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
            if storage(tx, shot.company_id)
                .await?
                .saturating_add(shot.size_bytes)
                > storage_limit
            {
                return Err(Error::StorageLimitReached {
                    limit_bytes: storage_limit,
                });
            }
            exec(
                tx,
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
            mark_days(tx, shot.company_id, [shot.taken_at.date_naive()]).await?;
            Ok(Ingested {
                stored: shot.clone(),
                inserted: true,
            })
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
            "screenshots",
            "taken_at",
            (company, filter, page),
            codec::screenshot,
            |x| (x.taken_at, x.id.0),
        )
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
        // Events are at most a day long (MAX_EVENT_SECONDS), so a start after
        // `from - 1 day` bounds the index scan.
        let (from, to) = (bound_time(from), bound_time(to));
        let lower = from
            .checked_sub_signed(chrono::Duration::seconds(i64::from(MAX_EVENT_SECONDS)))
            .unwrap_or(from);
        Select::new("SELECT * FROM activity_events", company.0)
            .any("user_id", users)
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

    async fn storage_used(&self, company: CompanyId) -> Result<u64> {
        storage(&mut *self.conn(Scope::of(company)).await?, company).await
    }

    async fn day_rollups<'a>(
        &self,
        company: CompanyId,
        users: Option<&'a BTreeSet<UserId>>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Option<Vec<DayRollup>>> {
        Select::new("SELECT * FROM activity_daily", company.0)
            .any("user_id", users)
            .and("date >= ", bound_date(from))
            .and("date <= ", bound_date(to))
            .run(self, codec::rollup)
            .await
            .map(Some)
    }
}
