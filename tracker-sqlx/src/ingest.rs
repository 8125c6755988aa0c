//! Activity ingest with per-day rollups, one statement per batch.
//!
//! The batch travels as arrays (`UNNEST`) and is inserted with
//! `ON CONFLICT DO NOTHING`. The split of each event at local midnights of
//! the company's timezone is computed here, with the same rules reports use
//! (so PostgreSQL's own timezone data never disagrees with them), and sent
//! along as "pieces"; the statement adds the pieces of the events it really
//! inserted to `activity_daily`. If a new event overlaps another event of
//! the same user, the user's days of the batch are marked inexact so reports
//! compute them from the events instead of the sums.
//!
//! The same statement marks the UTC dates of the inserted events pending
//! for the usage job (`usage_pending`), so the marks commit with the events.
//!
//! The statement checks that the company's timezone is still the one the
//! pieces were cut in; if it is not, nothing is inserted and the batch is
//! cut again.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use sqlx::Row;
use tracker_core::report::{day_bounds, span_dates};
use tracker_core::store::{EventBatch, IngestCount, utc_dates};
use tracker_core::{ActivityEvent, ActivityKind};
use uuid::Uuid;

use crate::PgStore;
use crate::codec::{R, int32};
use crate::error::db;
use crate::scope::Scope;
use crate::tx::finish;

const INGEST: &str = "
WITH input AS (
    SELECT * FROM UNNEST($2::uuid[], $3::uuid[], $4::uuid[], $5::timestamptz[], $6::int[],
                         $7::text[], $8::text[], $9::text[], $10::text[])
        AS t(id, user_id, session_id, started_at, duration_seconds, kind, app, window_title, url)
),
zone AS (
    SELECT $11::text IS NOT DISTINCT FROM (SELECT timezone FROM companies WHERE id = $1) AS ok
),
ins AS (
    INSERT INTO activity_events (company_id, id, user_id, session_id, started_at, duration_seconds, kind, app, window_title, url)
    SELECT $1, id, user_id, session_id, started_at, duration_seconds, kind, app, window_title, url
    FROM input WHERE (SELECT ok FROM zone)
    ON CONFLICT (company_id, user_id, id) DO NOTHING
    RETURNING id, user_id, started_at, started_at + duration_seconds * interval '1 second' AS ended_at
),
bounds AS (
    SELECT user_id, min(started_at) AS lo, max(started_at + duration_seconds * interval '1 second') AS hi
    FROM input WHERE user_id IN (SELECT user_id FROM ins) GROUP BY user_id
),
spans AS (
    SELECT user_id, started_at, ended_at FROM ins
    UNION ALL
    -- LATERAL: one index range per user of the batch, never a scan of the
    -- company's events.
    SELECT b.user_id, e.started_at, e.ended_at
    FROM bounds b CROSS JOIN LATERAL (
        SELECT started_at, started_at + duration_seconds * interval '1 second' AS ended_at
        FROM activity_events
        WHERE company_id = $1 AND user_id = b.user_id
          AND started_at >= b.lo - interval '1 day' AND started_at < b.hi
        OFFSET 0 -- keeps the planner from flattening this into a hash join over a scan
    ) e
    WHERE e.ended_at > b.lo
),
overlap AS (
    SELECT user_id, coalesce(bool_or(started_at < prev_end), false) AS found
    FROM (SELECT user_id, started_at,
                 max(ended_at) OVER (PARTITION BY user_id ORDER BY started_at, ended_at
                                     ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_end
          FROM spans) s
    GROUP BY user_id
),
pieces AS (
    SELECT * FROM UNNEST($12::uuid[], $13::date[], $14::bigint[], $15::bigint[], $16::timestamptz[], $17::timestamptz[])
        AS p(event_id, date, active_us, idle_us, first_at, last_at)
),
days AS (
    INSERT INTO activity_daily (company_id, user_id, date, active_us, idle_us, first_at, last_at, exact)
    SELECT $1, i.user_id, p.date, sum(p.active_us)::bigint, sum(p.idle_us)::bigint, min(p.first_at), max(p.last_at),
           NOT coalesce(bool_or(o.found), false)
    FROM pieces p JOIN ins i ON i.id = p.event_id LEFT JOIN overlap o ON o.user_id = i.user_id
    GROUP BY i.user_id, p.date
    ON CONFLICT (company_id, user_id, date) DO UPDATE SET
        active_us = activity_daily.active_us + excluded.active_us,
        idle_us = activity_daily.idle_us + excluded.idle_us,
        first_at = least(activity_daily.first_at, excluded.first_at),
        last_at = greatest(activity_daily.last_at, excluded.last_at),
        exact = activity_daily.exact AND excluded.exact
),
marks AS (
    -- The UTC dates of the events really inserted, each once and in order:
    -- an upsert cannot touch a row twice, and concurrent batches of the
    -- company lock its dates in one order.
    INSERT INTO usage_pending (company_id, date, version)
    SELECT $1, date, nextval('usage_mark_seq') FROM (
        SELECT DISTINCT m.date
        FROM UNNEST($18::uuid[], $19::date[]) AS m(event_id, date) JOIN ins i ON i.id = m.event_id
    ) d
    ORDER BY date
    ON CONFLICT (company_id, date) DO UPDATE SET version = excluded.version
)
SELECT (SELECT count(*) FROM ins) AS inserted, (SELECT ok FROM zone) AS zone_ok";

/// The batch as column arrays.
#[derive(Default)]
struct Columns {
    id: Vec<Uuid>,
    user_id: Vec<Uuid>,
    session_id: Vec<Option<Uuid>>,
    started_at: Vec<DateTime<Utc>>,
    duration: Vec<i32>,
    kind: Vec<&'static str>,
    app: Vec<Option<String>>,
    window_title: Vec<Option<String>>,
    url: Vec<Option<String>>,
}

/// Each event's UTC dates, as the usage marks count them.
#[derive(Default)]
struct Marks {
    event_id: Vec<Uuid>,
    date: Vec<NaiveDate>,
}

fn utc_marks(events: &[ActivityEvent]) -> Marks {
    let mut m = Marks::default();
    for e in events {
        for date in utc_dates(e.started_at, e.ended_at()) {
            m.event_id.push(e.id.0);
            m.date.push(date);
        }
    }
    m
}

/// Each event's time clipped to each local day it touches.
#[derive(Default)]
struct Pieces {
    event_id: Vec<Uuid>,
    date: Vec<NaiveDate>,
    active_us: Vec<i64>,
    idle_us: Vec<i64>,
    first_at: Vec<DateTime<Utc>>,
    last_at: Vec<DateTime<Utc>>,
}

fn cut(tz: Tz, events: &[ActivityEvent]) -> Pieces {
    let mut p = Pieces::default();
    for e in events {
        let end = e.ended_at();
        for date in span_dates(tz, e.started_at, end) {
            let (day_start, day_end) = day_bounds(tz, date);
            let (s, t) = (e.started_at.max(day_start), end.min(day_end));
            let us = (t - s).num_microseconds().unwrap_or(0);
            if us <= 0 {
                continue;
            }
            let (active, idle) = match e.kind {
                ActivityKind::Active => (us, 0),
                ActivityKind::Idle => (0, us),
            };
            p.event_id.push(e.id.0);
            p.date.push(date);
            p.active_us.push(active);
            p.idle_us.push(idle);
            p.first_at.push(s);
            p.last_at.push(t);
        }
    }
    p
}

/// Stores a batch, ignoring ids stored before; `duplicates` counts those.
pub(crate) async fn ingest(store: &PgStore, batch: &EventBatch) -> R<IngestCount> {
    let company = batch.company();
    // Each id is in the batch once (`EventBatch` drops repeats).
    let events = batch.events();
    if events.is_empty() {
        return Ok(IngestCount::default());
    }

    let mut cols = Columns::default();
    for e in events {
        cols.id.push(e.id.0);
        cols.user_id.push(e.user_id.0);
        cols.session_id.push(e.session_id.map(|s| s.0));
        cols.started_at.push(e.started_at);
        cols.duration.push(int32(e.duration_seconds));
        cols.kind.push(e.kind.as_str());
        cols.app.push(e.app.clone());
        cols.window_title.push(e.window_title.clone());
        cols.url.push(e.url.clone());
    }
    let marks = utc_marks(events);
    let mut users: Vec<Uuid> = cols.user_id.clone();
    users.sort_unstable();
    users.dedup();

    // A second pass only happens when the timezone changed since it was cached.
    for _ in 0..2 {
        let zone = store.zones.zone(store, company).await?;
        let pieces = cut(zone.tz, events);
        // Not `in_tx`: a stale timezone rolls back and goes round again.
        let mut tx = store.begin(Scope::of(company)).await?;
        let r = async {
            // Per-user locks in a fixed order: the overlap check of a batch sees
            // every batch of the same users committed before it.
            sqlx::query(
                "SELECT pg_advisory_xact_lock(hashtextextended($1::text || u::text, 2))
             FROM (SELECT u FROM unnest($2::uuid[]) AS u ORDER BY u) AS s",
            )
            .bind(company.0)
            .bind(&users)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            let row = sqlx::query(INGEST)
                .bind(company.0)
                .bind(&cols.id)
                .bind(&cols.user_id)
                .bind(&cols.session_id)
                .bind(&cols.started_at)
                .bind(&cols.duration)
                .bind(&cols.kind)
                .bind(&cols.app)
                .bind(&cols.window_title)
                .bind(&cols.url)
                .bind(zone.name.as_deref())
                .bind(&pieces.event_id)
                .bind(&pieces.date)
                .bind(&pieces.active_us)
                .bind(&pieces.idle_us)
                .bind(&pieces.first_at)
                .bind(&pieces.last_at)
                .bind(&marks.event_id)
                .bind(&marks.date)
                .fetch_one(&mut *tx)
                .await
                .map_err(db)?;
            let zone_ok: bool = row.try_get("zone_ok").map_err(db)?;
            let inserted: i64 = row.try_get("inserted").map_err(db)?;
            Ok((zone_ok, inserted))
        }
        .await;
        if let Ok((false, _)) = r {
            // Nothing was inserted; let the locks go and cut the batch again.
            let _ = tx.rollback().await;
            store.zones.forget(company);
            continue;
        }
        let (_, inserted) = finish(tx, r).await?;
        let inserted = u64::try_from(inserted).unwrap_or(0);
        return Ok(IngestCount {
            inserted,
            duplicates: events.len() as u64 - inserted,
        });
    }
    Err(tracker_core::Error::invalid_state(
        "the company's timezone changed during ingest; send the batch again",
    ))
}
