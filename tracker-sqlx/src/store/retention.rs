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
        let limit = i64::from(batch.limit);
        self.in_tx(Scope::of(company), async |tx| {
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
                tx,
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
                tx,
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
                tx,
                q("DELETE FROM activity_daily WHERE company_id = $1 AND date < $2")
                    .bind(company.0)
                    .bind(bound_date(batch.before_date)),
            )
            .await?;
            if counts.is_empty() {
                return Ok(counts);
            }
            exec(
                tx,
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
