//! [`RetentionStore`]: the retention purge in bounded steps, each one
//! transaction that also records the progress, so a crash resumes it.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;
use tracker_core::audit::NewAuditEvent;
use tracker_core::store::{PurgeBatch, PurgeCounts, PurgeProgress, RetentionStore};
use tracker_core::{CompanyId, Result};

use crate::PgStore;
use crate::chain::append;
use crate::codec::{self, R, bound_date, bound_time, int, uuids};
use crate::error::db;
use crate::scope::Scope;
use crate::sql::{exec, q};

#[async_trait]
impl RetentionStore for PgStore {
    async fn purge_tracking(&self, company: CompanyId, batch: &PurgeBatch) -> Result<PurgeCounts> {
        let before = bound_time(batch.before);
        let shots_before = bound_time(batch.screenshots_before.unwrap_or(batch.before));
        let sessions_before = bound_time(batch.sessions_before.unwrap_or(batch.before));
        let limit = i64::from(batch.limit);
        // Every statement keeps to the users the batch covers: `$4` one
        // user (an erasure) or null, `$5` the users whose rows stay.
        let only = batch.user.map(|u| u.0);
        let keep = uuids(batch.keep.iter().copied());
        self.in_tx(Scope::of(company), async |tx| {
            let shots = q("WITH d AS (
                     DELETE FROM screenshots WHERE company_id = $1 AND id = ANY($2) AND taken_at < $3
                       AND ($4::uuid IS NULL OR user_id = $4) AND NOT (user_id = ANY($5))
                     RETURNING size_bytes)
                 SELECT count(*) AS n, coalesce(sum(size_bytes), 0)::bigint AS bytes FROM d")
            .bind(company.0)
            .bind(uuids(batch.screenshots.iter().copied()))
            .bind(shots_before)
            .bind(only)
            .bind(keep.clone())
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
                tx,
                q("DELETE FROM activity_events WHERE company_id = $1 AND id IN (
                       SELECT id FROM activity_events
                       WHERE company_id = $1 AND started_at < $2
                         AND started_at + duration_seconds * interval '1 second' <= $2
                         AND ($4::uuid IS NULL OR user_id = $4) AND NOT (user_id = ANY($5))
                       ORDER BY started_at, id LIMIT $3)
                     AND ($4::uuid IS NULL OR user_id = $4) AND NOT (user_id = ANY($5))")
                .bind(company.0)
                .bind(before)
                .bind(limit)
                .bind(only)
                .bind(keep.clone()),
            )
            .await?;
            counts.sessions = exec(
                tx,
                q("DELETE FROM work_sessions WHERE company_id = $1 AND id IN (
                       SELECT id FROM work_sessions
                       WHERE company_id = $1 AND started_at < $2
                         AND (stopped_at IS NULL OR stopped_at <= $2)
                         AND ($4::uuid IS NULL OR user_id = $4) AND NOT (user_id = ANY($5))
                       ORDER BY started_at, id LIMIT $3)")
                .bind(company.0)
                .bind(sessions_before)
                .bind(limit)
                .bind(only)
                .bind(keep.clone()),
            )
            .await?;
            // Older events keep their times and lose their titles and URLs.
            if let Some(cut) = batch.details_before {
                counts.details = exec(
                    tx,
                    q("UPDATE activity_events SET window_title = NULL, url = NULL
                       WHERE company_id = $1 AND id IN (
                         SELECT id FROM activity_events
                         WHERE company_id = $1 AND started_at < $2
                           AND (window_title IS NOT NULL OR url IS NOT NULL)
                           AND ($4::uuid IS NULL OR user_id = $4) AND NOT (user_id = ANY($5))
                         ORDER BY started_at, id LIMIT $3)
                       AND ($4::uuid IS NULL OR user_id = $4) AND NOT (user_id = ANY($5))")
                    .bind(company.0)
                    .bind(bound_time(cut))
                    .bind(limit)
                    .bind(only)
                    .bind(keep.clone()),
                )
                .await?;
            }
            counts.daily_rows = exec(
                tx,
                q("DELETE FROM activity_daily WHERE company_id = $1 AND date < $2
                     AND ($3::uuid IS NULL OR user_id = $3) AND NOT (user_id = ANY($4))")
                    .bind(company.0)
                    .bind(bound_date(batch.before_date))
                    .bind(only)
                    .bind(keep.clone()),
            )
            .await?;
            counts.access_records = exec(
                tx,
                q("DELETE FROM access_log WHERE company_id = $1 AND day < $2
                     AND ($3::uuid IS NULL OR subject_id = $3) AND NOT (subject_id = ANY($4))")
                    .bind(company.0)
                    .bind(bound_date(batch.before_date))
                    .bind(only)
                    .bind(keep.clone()),
            )
            .await?;
            if let (Some(user), true) = (only, batch.personal) {
                counts.corrections = exec(
                    tx,
                    q("DELETE FROM corrections WHERE company_id = $1 AND user_id = $2")
                        .bind(company.0)
                        .bind(user),
                )
                .await?;
                counts.task_notes = exec(
                    tx,
                    q("UPDATE tasks SET completion_note = NULL
                       WHERE company_id = $1 AND assignee_id = $2 AND completion_note IS NOT NULL")
                        .bind(company.0)
                        .bind(user),
                )
                .await?;
            }
            // An erasure keeps no progress.
            if counts.is_empty() || only.is_some() {
                return Ok(counts);
            }
            exec(
                tx,
                q("INSERT INTO purge_progress (company_id, before_at, before_date, started_at,
                     events, sessions, screenshots, screenshot_bytes, daily_rows, access_records, details)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                   ON CONFLICT (company_id) DO UPDATE SET
                     events = purge_progress.events + excluded.events,
                     sessions = purge_progress.sessions + excluded.sessions,
                     screenshots = purge_progress.screenshots + excluded.screenshots,
                     screenshot_bytes = purge_progress.screenshot_bytes + excluded.screenshot_bytes,
                     daily_rows = purge_progress.daily_rows + excluded.daily_rows,
                     access_records = purge_progress.access_records + excluded.access_records,
                     details = purge_progress.details + excluded.details")
                .bind(company.0)
                .bind(batch.before)
                .bind(batch.before_date)
                .bind(batch.started_at)
                .bind(int(counts.events))
                .bind(int(counts.sessions))
                .bind(int(counts.screenshots))
                .bind(int(counts.screenshot_bytes))
                .bind(int(counts.daily_rows))
                .bind(int(counts.access_records))
                .bind(int(counts.details)),
            )
            .await?;
            Ok(counts)
        })
        .await
    }

    async fn purge_progress(&self, company: CompanyId) -> Result<Option<PurgeProgress>> {
        self.read_one(
            Scope::of(company),
            q("SELECT * FROM purge_progress WHERE company_id = $1").bind(company.0),
            codec::purge_progress,
        )
        .await
    }

    async fn finish_purge(&self, company: CompanyId, audit: NewAuditEvent) -> Result<()> {
        self.in_tx(Scope::of(company), async |tx| {
            append(tx, audit).await?;
            exec(
                tx,
                q("DELETE FROM purge_progress WHERE company_id = $1").bind(company.0),
            )
            .await
            .map(drop)
        })
        .await
    }
}
