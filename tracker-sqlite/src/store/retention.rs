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

/// The condition on `col` (a user id) that keeps to the users a batch
/// covers, its parameters numbered from `first`.
fn covered(batch: &PurgeBatch, col: &str, first: usize) -> (String, Vec<uuid::Uuid>) {
    match batch.user {
        Some(user) => (format!(" AND {col} = ?{first}"), vec![user.0]),
        None if batch.keep.is_empty() => (String::new(), Vec::new()),
        None => {
            let marks: Vec<String> = (0..batch.keep.len())
                .map(|i| format!("?{}", first + i))
                .collect();
            (
                format!(" AND {col} NOT IN ({})", marks.join(", ")),
                batch.keep.iter().map(|u| u.0).collect(),
            )
        }
    }
}

/// Runs `sql` with `params` followed by the covered users' ids.
fn exec_covered(
    c: &Connection,
    sql: &str,
    params: &[&dyn rusqlite::ToSql],
    users: &[uuid::Uuid],
) -> R<usize> {
    let mut all: Vec<&dyn rusqlite::ToSql> = params.to_vec();
    all.extend(users.iter().map(|u| u as &dyn rusqlite::ToSql));
    exec(c, sql, &all)
}

/// One retention purge step (see [`RetentionStore::purge_tracking`]), in the
/// writer's transaction.
fn purge_step(c: &Connection, company: CompanyId, batch: &PurgeBatch) -> R<PurgeCounts> {
    let before = ts(batch.before);
    let shots_before = ts(batch.screenshots_before.unwrap_or(batch.before));
    let sessions_before = ts(batch.sessions_before.unwrap_or(batch.before));
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
    let mut owner_of = c
        .prepare_cached("SELECT user_id FROM screenshots WHERE company_id = ?1 AND id = ?2")
        .map_err(db)?;
    for id in &batch.screenshots {
        let owner: Option<uuid::Uuid> = owner_of
            .query_row(params![company.0, id.0], |r| r.get(0))
            .optional()
            .map_err(db)?;
        if !owner.is_some_and(|u| batch.covers(tracker_core::UserId(u))) {
            continue;
        }
        let size: Option<i64> = shots
            .query_row(params![company.0, id.0, shots_before], |r| r.get(0))
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
        if !batch.covers(user) {
            continue;
        }
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

    // Older events keep their times and lose their titles and URLs; the
    // strings no event names any more go when the purge finishes.
    if let Some(cut) = batch.details_before {
        let mut blank = c
            .prepare_cached(
                "UPDATE activity SET window_title = NULL, url = NULL WHERE owner = ?1 AND (started_at, id) IN (
                     SELECT started_at, id FROM activity
                     WHERE owner = ?1 AND started_at < ?2 AND (window_title IS NOT NULL OR url IS NOT NULL)
                     ORDER BY started_at, id LIMIT ?3)",
            )
            .map_err(db)?;
        for (owner, user) in owners(c, company)? {
            let room = limit - counts.details as i64;
            if room <= 0 {
                break;
            }
            if batch.covers(user) {
                counts.details += blank.execute(params![owner, ts(cut), room]).map_err(db)? as u64;
            }
        }
    }

    let (who, users) = covered(batch, "user_id", 4);
    let sessions = exec_covered(
        c,
        &format!(
            "DELETE FROM work_sessions WHERE company_id = ?1 AND id IN (
                 SELECT id FROM work_sessions
                 WHERE company_id = ?1 AND started_at < ?2 AND (stopped_at IS NULL OR stopped_at <= ?2){who}
                 ORDER BY started_at, id LIMIT ?3)"
        ),
        params![company.0, sessions_before, limit],
        &users,
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
    if !started || batch.user.is_some() || counts.events < u64::from(batch.limit) {
        let date = batch.before_date.to_string();
        let (who, users) = covered(batch, "user_id", 3);
        let n = exec_covered(
            c,
            &format!("DELETE FROM activity_daily WHERE company_id = ?1 AND date < ?2{who}"),
            params![company.0, date],
            &users,
        )?;
        counts.daily_rows = n as u64;
        let (whose, users) = covered(batch, "subject_id", 3);
        counts.access_records = exec_covered(
            c,
            &format!("DELETE FROM access_log WHERE company_id = ?1 AND day < ?2{whose}"),
            params![company.0, date],
            &users,
        )? as u64;
        exec_covered(
            c,
            &format!(
                "DELETE FROM activity_usage WHERE owner IN (SELECT key FROM activity_owners WHERE company_id = ?1{who})
                   AND by_domain IN (0, 1) AND date < ?2"
            ),
            params![company.0, date],
            &users,
        )?;
    }
    if let (Some(user), true) = (batch.user, batch.personal) {
        counts.corrections = exec(
            c,
            "DELETE FROM corrections WHERE company_id = ?1 AND user_id = ?2",
            params![company.0, user.0],
        )? as u64;
        counts.task_notes = exec(
            c,
            "UPDATE tasks SET completion_note = NULL
             WHERE company_id = ?1 AND assignee_id = ?2 AND completion_note IS NOT NULL",
            params![company.0, user.0],
        )? as u64;
    }
    if batch.user.is_some() {
        // An erasure keeps no progress, and leaves none of the person's
        // titles and URLs in the company's strings.
        if counts.events > 0 {
            forget_texts(c, company)?;
        }
        return Ok(counts);
    }
    if counts.is_empty() {
        return Ok(counts);
    }
    exec(
        c,
        "INSERT INTO purge_progress (company_id, before_at, before_date, started_at,
           events, sessions, screenshots, screenshot_bytes, daily_rows, access_records, details)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (company_id) DO UPDATE SET
           events = events + excluded.events,
           sessions = sessions + excluded.sessions,
           screenshots = screenshots + excluded.screenshots,
           screenshot_bytes = screenshot_bytes + excluded.screenshot_bytes,
           daily_rows = daily_rows + excluded.daily_rows,
           access_records = access_records + excluded.access_records,
           details = details + excluded.details",
        params![
            company.0,
            before,
            batch.before_date.to_string(),
            ts(batch.started_at),
            int(counts.events),
            int(counts.sessions),
            int(counts.screenshots),
            int(counts.screenshot_bytes),
            int(counts.daily_rows),
            int(counts.access_records),
            int(counts.details)
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
                    "SELECT coalesce(sum(events + details), 0) FROM purge_progress WHERE company_id = ?1",
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
