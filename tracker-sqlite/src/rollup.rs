//! Activity ingest with per-day rollups.
//!
//! Each batch is inserted with `ON CONFLICT DO NOTHING`; the events that
//! were new are added to `activity_daily`, split at local midnights of the
//! company's timezone. If a new event overlaps another event of the same
//! user, the days of the batch are marked inexact so that reports compute
//! them from the events (interval union) instead of the sums.
//!
//! The same transaction marks the UTC dates of the new events in
//! `usage_pending` for the usage job. A retention purge that deletes events
//! of a day it keeps rebuilds that day's rows from the events left
//! ([`forget_events`]).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate};
use chrono_tz::Tz;
use rusqlite::{Connection, OptionalExtension, params};
use tracker_core::report::{day_bounds, span_dates};
use tracker_core::store::{IngestCount, event_dates};
use tracker_core::tracking::MAX_EVENT_SECONDS;
use tracker_core::{ActivityEvent, ActivityKind, CompanyId, UserId, tenancy::parse_timezone};
use uuid::Uuid;

use crate::codec::{R, corrupt, ts};
use crate::error::db;
use crate::rows::mark_usage;

#[derive(Default)]
struct Day {
    active_us: i64,
    idle_us: i64,
    first_us: i64,
    last_us: i64,
    exact: bool,
}

/// The company's timezone (UTC if it is unknown), which cuts rollup days.
fn company_tz(c: &Connection, company: CompanyId) -> R<Tz> {
    Ok(
        c.prepare_cached("SELECT timezone FROM companies WHERE id = ?1")
            .and_then(|mut s| {
                s.query_row(params![company.0], |r| r.get::<_, String>(0))
                    .optional()
            })
            .map_err(db)?
            .and_then(|name| parse_timezone(&name))
            .unwrap_or(Tz::UTC),
    )
}

pub(crate) fn ingest(
    c: &Connection,
    company: CompanyId,
    events: &[ActivityEvent],
) -> R<IngestCount> {
    let tz = company_tz(c, company)?;

    // What each user already has around the batch, read before inserting.
    let mut by_user: BTreeMap<UserId, Vec<&ActivityEvent>> = BTreeMap::new();
    for e in events {
        by_user.entry(e.user_id).or_default().push(e);
    }
    let mut existing: BTreeMap<UserId, Vec<(i64, i64)>> = BTreeMap::new();
    {
        let mut stmt = c
            .prepare_cached(
                "SELECT started_at, duration_seconds FROM activity_events
                 WHERE company_id = ?1 AND user_id = ?2 AND started_at >= ?3 AND started_at < ?4
                   AND started_at + duration_seconds * 1000000 > ?5",
            )
            .map_err(db)?;
        for (user, evs) in &by_user {
            let lo = evs.iter().map(|e| ts(e.started_at)).min().unwrap_or(0);
            let hi = evs.iter().map(|e| ts(e.ended_at())).max().unwrap_or(0);
            let scan_from = lo - i64::from(MAX_EVENT_SECONDS) * 1_000_000;
            let rows = stmt
                .query_map(params![company.0, user.0, scan_from, hi, lo], |r| {
                    let start: i64 = r.get(0)?;
                    let secs: i64 = r.get(1)?;
                    Ok((start, start + secs * 1_000_000))
                })
                .map_err(db)?;
            let spans = rows.collect::<Result<Vec<_>, _>>().map_err(db)?;
            existing.insert(*user, spans);
        }
    }

    let mut insert = c
        .prepare_cached(
            "INSERT INTO activity_events (company_id, id, user_id, session_id, started_at, duration_seconds, kind, app, window_title, url)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (company_id, id) DO NOTHING",
        )
        .map_err(db)?;
    let mut count = IngestCount::default();
    let mut fresh: BTreeMap<UserId, Vec<&ActivityEvent>> = BTreeMap::new();
    for e in events {
        let n = insert
            .execute(params![
                company.0,
                e.id.0,
                e.user_id.0,
                e.session_id.map(|s| s.0),
                ts(e.started_at),
                e.duration_seconds,
                e.kind.as_str(),
                e.app,
                e.window_title,
                e.url
            ])
            .map_err(db)?;
        if n == 1 {
            count.inserted += 1;
            fresh.entry(e.user_id).or_default().push(e);
        } else {
            // A replay of one's own event is a duplicate; another user's id
            // fails the batch (the savepoint rolls back what went before).
            let owner: Uuid = c
                .prepare_cached(
                    "SELECT user_id FROM activity_events WHERE company_id = ?1 AND id = ?2",
                )
                .and_then(|mut s| s.query_row(params![company.0, e.id.0], |r| r.get(0)))
                .map_err(db)?;
            if owner != e.user_id.0 {
                return Err(tracker_core::Error::AlreadyExists {
                    entity: "activity event",
                    value: e.id.to_string(),
                });
            }
            count.duplicates += 1;
        }
    }

    // The usage job recomputes the UTC dates that received new events.
    mark_usage(c, company, event_dates(fresh.values().flatten().copied()))?;

    let mut days: BTreeMap<(UserId, NaiveDate), Day> = BTreeMap::new();
    for (user, evs) in &fresh {
        let mut spans: Vec<(i64, i64)> = evs
            .iter()
            .map(|e| (ts(e.started_at), ts(e.ended_at())))
            .collect();
        spans.extend(existing.get(user).into_iter().flatten().copied());
        let overlap = overlaps(&mut spans);
        let mut touched = BTreeSet::new();
        for e in evs {
            for date in span_dates(tz, e.started_at, e.ended_at()) {
                let (day_start, day_end) = day_bounds(tz, date);
                let s = ts(e.started_at.max(day_start));
                let t = ts(e.ended_at().min(day_end));
                if t <= s {
                    continue;
                }
                touched.insert(date);
                let d = days.entry((*user, date)).or_insert_with(|| Day {
                    first_us: i64::MAX,
                    last_us: i64::MIN,
                    exact: true,
                    ..Day::default()
                });
                match e.kind {
                    ActivityKind::Active => d.active_us += t - s,
                    ActivityKind::Idle => d.idle_us += t - s,
                }
                d.first_us = d.first_us.min(s);
                d.last_us = d.last_us.max(t);
            }
        }
        if overlap {
            for date in touched {
                if let Some(d) = days.get_mut(&(*user, date)) {
                    d.exact = false;
                }
            }
        }
    }

    let mut upsert = c
        .prepare_cached(
            "INSERT INTO activity_daily (company_id, user_id, date, active_us, idle_us, first_us, last_us, exact)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (company_id, user_id, date) DO UPDATE SET
               active_us = active_us + excluded.active_us,
               idle_us = idle_us + excluded.idle_us,
               first_us = min(first_us, excluded.first_us),
               last_us = max(last_us, excluded.last_us),
               exact = exact AND excluded.exact",
        )
        .map_err(db)?;
    for ((user, date), d) in days {
        upsert
            .execute(params![
                company.0,
                user.0,
                date.to_string(),
                d.active_us,
                d.idle_us,
                d.first_us,
                d.last_us,
                d.exact
            ])
            .map_err(db)?;
    }
    Ok(count)
}

/// Whether any two spans overlap (sorts them).
fn overlaps(spans: &mut [(i64, i64)]) -> bool {
    spans.sort_unstable();
    let mut max_end = i64::MIN;
    for &(s, e) in spans.iter() {
        if s < max_end {
            return true;
        }
        max_end = max_end.max(e);
    }
    false
}

/// An activity event deleted by a purge: user, start and end in microseconds.
pub(crate) type Deleted = (UserId, i64, i64);

/// Keeps the rollups of kept days equal to their events after a purge
/// deleted `deleted`: rows of local dates from `keep_from` on that a
/// deleted event touched are rebuilt from the events left. A purge cut at
/// the start of `keep_from` (as the retention job cuts) touches none.
pub(crate) fn forget_events(
    c: &Connection,
    company: CompanyId,
    keep_from: NaiveDate,
    deleted: &[Deleted],
) -> R<()> {
    if deleted.is_empty() {
        return Ok(());
    }
    let tz = company_tz(c, company)?;
    let first_kept_us = ts(day_bounds(tz, keep_from).0);
    let mut touched: BTreeSet<(UserId, NaiveDate)> = BTreeSet::new();
    for &(user, start, end) in deleted.iter().filter(|d| d.2 > first_kept_us) {
        let (Some(start), Some(end)) = (
            DateTime::from_timestamp_micros(start),
            DateTime::from_timestamp_micros(end),
        ) else {
            return Err(corrupt(
                "started_at",
                format!("instant {start} out of range"),
            ));
        };
        for date in span_dates(tz, start, end) {
            if date >= keep_from {
                touched.insert((user, date));
            }
        }
    }
    for (user, date) in touched {
        rebuild_day(c, company, tz, user, date)?;
    }
    Ok(())
}

/// Recomputes one user's rollup row of one local day from the stored events.
fn rebuild_day(c: &Connection, company: CompanyId, tz: Tz, user: UserId, date: NaiveDate) -> R<()> {
    let (day_start, day_end) = day_bounds(tz, date);
    let (lo, hi) = (ts(day_start), ts(day_end));
    let mut stmt = c
        .prepare_cached(
            "SELECT started_at, duration_seconds, kind FROM activity_events
             WHERE company_id = ?1 AND user_id = ?2 AND started_at >= ?3 AND started_at < ?4
               AND started_at + duration_seconds * 1000000 > ?5",
        )
        .map_err(db)?;
    let scan_from = lo - i64::from(MAX_EVENT_SECONDS) * 1_000_000;
    let rows = stmt
        .query_map(params![company.0, user.0, scan_from, hi, lo], |r| {
            let start: i64 = r.get(0)?;
            let secs: i64 = r.get(1)?;
            Ok((start, start + secs * 1_000_000, r.get::<_, String>(2)?))
        })
        .map_err(db)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db)?;
    let mut d = Day {
        first_us: i64::MAX,
        last_us: i64::MIN,
        ..Day::default()
    };
    let mut spans = Vec::with_capacity(rows.len());
    for (start, end, kind) in rows {
        let (s, t) = (start.max(lo), end.min(hi));
        if t <= s {
            continue;
        }
        spans.push((start, end));
        match ActivityKind::parse(&kind) {
            Some(ActivityKind::Active) => d.active_us += t - s,
            Some(ActivityKind::Idle) => d.idle_us += t - s,
            None => return Err(corrupt("kind", format!("unknown value {kind:?}"))),
        }
        d.first_us = d.first_us.min(s);
        d.last_us = d.last_us.max(t);
    }
    if spans.is_empty() {
        c.prepare_cached(
            "DELETE FROM activity_daily WHERE company_id = ?1 AND user_id = ?2 AND date = ?3",
        )
        .and_then(|mut s| s.execute(params![company.0, user.0, date.to_string()]))
        .map_err(db)?;
        return Ok(());
    }
    d.exact = !overlaps(&mut spans);
    c.prepare_cached(
        "INSERT INTO activity_daily (company_id, user_id, date, active_us, idle_us, first_us, last_us, exact)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (company_id, user_id, date) DO UPDATE SET
           active_us = excluded.active_us, idle_us = excluded.idle_us,
           first_us = excluded.first_us, last_us = excluded.last_us, exact = excluded.exact",
    )
    .and_then(|mut s| {
        s.execute(params![
            company.0,
            user.0,
            date.to_string(),
            d.active_us,
            d.idle_us,
            d.first_us,
            d.last_us,
            d.exact
        ])
    })
    .map_err(db)?;
    Ok(())
}
