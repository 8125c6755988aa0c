//! [`RetentionStore`]: the retention purge, in bounded steps that resume
//! after a crash, and at its end the strings only purged events named.
//! The screenshots to purge are listed through
//! `TrackingStore::list_screenshots`, so their blobs go first.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use tracker_core::CompanyId;
use tracker_core::audit::NewAuditEvent;
use tracker_core::error::Result;
use tracker_core::store::{PurgeBatch, PurgeCounts, PurgeProgress, RetentionStore};

use crate::SqliteStore;
use crate::codec::{self, R, int, ts};
use crate::error::db;
use crate::rollup::{Deleted, forget_events};
use crate::rows::{append, owners};
use crate::sql::{count, exec, one};

/// Deletes the strings no event or usage row of the company names any
/// more (the apps, titles and URLs of purged events): one scan of the
/// company's events, once at the end of a purge that deleted any.
fn forget_texts(c: &Connection, company: CompanyId) -> R<()> {
    exec(
        c,
        "DELETE FROM activity_texts WHERE company_id = ?1 AND key NOT IN (
             SELECT app FROM activity WHERE owner IN (SELECT key FROM activity_owners WHERE company_id = ?1) AND app IS NOT NULL
             UNION SELECT window_title FROM activity WHERE owner IN (SELECT key FROM activity_owners WHERE company_id = ?1) AND window_title IS NOT NULL
             UNION SELECT url FROM activity WHERE owner IN (SELECT key FROM activity_owners WHERE company_id = ?1) AND url IS NOT NULL
             UNION SELECT name FROM activity_usage WHERE owner IN (SELECT key FROM activity_owners WHERE company_id = ?1))",
        params![company.0],
    )
    .map(drop)
}

/// One retention purge step (see [`RetentionStore::purge_tracking`]), in the
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

    // Owner by owner, each one range of the table (ordered by owner and
    // start) bounded by `started_at < before`: only events that also ended
    // by then go, each user's oldest first, at most `limit` in all.
    let mut deleted: Vec<Deleted> = Vec::new();
    let mut events = c
        .prepare_cached(
            "DELETE FROM activity WHERE owner = ?1 AND (started_at, id) IN (
                 SELECT started_at, id FROM activity
                 WHERE owner = ?1 AND started_at < ?2
                   AND started_at + duration_seconds * 1000000 <= ?2
                 ORDER BY started_at, id LIMIT ?3)
             RETURNING started_at, duration_seconds",
        )
        .map_err(db)?;
    for (owner, user) in owners(c, company)? {
        let room = limit - deleted.len() as i64;
        if room <= 0 {
            break;
        }
        let rows = events
            .query_map(params![owner, before, room], |r| {
                let start: i64 = r.get(0)?;
                let secs: i64 = r.get(1)?;
                Ok((user, start, start + secs * 1_000_000))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(db)?;
        deleted.extend(rows);
    }
    counts.events = deleted.len() as u64;
    forget_events(c, company, batch.before_date, &deleted)?;

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
        exec(
            c,
            "DELETE FROM activity_usage WHERE owner IN (SELECT key FROM activity_owners WHERE company_id = ?1)
               AND by_domain IN (0, 1) AND date < ?2",
            params![company.0, batch.before_date.to_string()],
        )?;
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

#[async_trait]
impl RetentionStore for SqliteStore {
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
        // A heavy job: collecting the strings scans the company's events.
        self.engine
            .write_heavy(move |c| {
                let purged = count(
                    c,
                    "SELECT coalesce(sum(events), 0) FROM purge_progress WHERE company_id = ?1",
                    params![company.0],
                )?;
                if purged > 0 {
                    forget_texts(c, company)?;
                }
                exec(
                    c,
                    "DELETE FROM purge_progress WHERE company_id = ?1",
                    params![company.0],
                )?;
                append(c, audit).map(drop)
            })
            .await
    }
}
