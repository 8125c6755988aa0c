//! Activity ingest with per-day rollups.
//!
//! Events are stored per user (migration 5): each (company, user) has an
//! owner key ([`owner_key`]), and app names, window titles, URLs and
//! website domains are stored once per company ([`Texts`]). Each batch is
//! inserted with `ON CONFLICT DO NOTHING` on the user's ids; the events
//! that were new are added to `activity_daily` (time per user per local
//! day) and `activity_usage` (active time per user per local day per app
//! and per website domain), split at local midnights of the company's
//! timezone. If a new event overlaps another event of the same user, the
//! days of the batch are marked inexact in `activity_daily` so that reports
//! compute them from the events (interval union) instead of the sums; the
//! usage sums add overlapping events in full, as app reports do.
//!
//! The same transaction marks the UTC dates of the new events in
//! `usage_pending` for the usage job. A retention purge that deletes events
//! of a day it keeps rebuilds that day's rows from the events left
//! ([`forget_events`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use rusqlite::{Connection, OptionalExtension, params};
use tracker_core::report::{day_bounds, domain_of, span_dates};
use tracker_core::store::{IngestCount, event_dates};
use tracker_core::tracking::MAX_EVENT_SECONDS;
use tracker_core::{ActivityEvent, ActivityKind, CompanyId, UserId, tenancy::parse_timezone};

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

impl Day {
    fn empty() -> Self {
        Day {
            first_us: i64::MAX,
            last_us: i64::MIN,
            exact: true,
            ..Day::default()
        }
    }
}

/// Active microseconds per (by_domain, local date, name key) of one owner.
type Usage = BTreeMap<(bool, NaiveDate, i64), i64>;

/// The company's timezone (UTC if it is unknown), which cuts rollup days.
pub(crate) fn company_tz(c: &Connection, company: CompanyId) -> R<Tz> {
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

/// The owner key of a user's events, if the user has had any.
pub(crate) fn find_owner(c: &Connection, company: CompanyId, user: UserId) -> R<Option<i64>> {
    c.prepare_cached("SELECT key FROM activity_owners WHERE company_id = ?1 AND user_id = ?2")
        .and_then(|mut s| {
            s.query_row(params![company.0, user.0], |r| r.get(0))
                .optional()
        })
        .map_err(db)
}

/// The owner key of a user's events, made on the user's first event, and
/// the longest event stored before `longest`, which it records.
fn owner_key(c: &Connection, company: CompanyId, user: UserId, longest: u32) -> R<(i64, i64)> {
    let found: Option<(i64, i64)> = c
        .prepare_cached(
            "SELECT key, max_seconds FROM activity_owners WHERE company_id = ?1 AND user_id = ?2",
        )
        .and_then(|mut s| {
            s.query_row(params![company.0, user.0], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(db)?;
    let longest = i64::from(longest);
    match found {
        Some((key, max)) => {
            if longest > max {
                c.prepare_cached("UPDATE activity_owners SET max_seconds = ?2 WHERE key = ?1")
                    .and_then(|mut s| s.execute(params![key, longest]))
                    .map_err(db)?;
            }
            Ok((key, max))
        }
        None => c
            .prepare_cached(
                "INSERT INTO activity_owners (company_id, user_id, max_seconds) VALUES (?1, ?2, ?3)
                 RETURNING key",
            )
            .and_then(|mut s| s.query_row(params![company.0, user.0, longest], |r| r.get(0)))
            .map(|key| (key, 0))
            .map_err(db),
    }
}

/// The keys of a company's strings, looked up or added, remembered for one
/// batch (a batch repeats its apps and titles).
pub(crate) struct Texts<'c> {
    c: &'c Connection,
    company: CompanyId,
    known: HashMap<String, i64>,
    /// Each URL's website domain (most URLs of a batch repeat).
    domains: HashMap<String, Option<String>>,
}

impl<'c> Texts<'c> {
    pub(crate) fn new(c: &'c Connection, company: CompanyId) -> Self {
        Self {
            c,
            company,
            known: HashMap::new(),
            domains: HashMap::new(),
        }
    }

    /// The website domains of `urls`, each once, remembered for
    /// [`domain_key`](Self::domain_key).
    fn domains_of<'u>(&mut self, urls: impl IntoIterator<Item = &'u str>) -> BTreeSet<String> {
        urls.into_iter()
            .filter_map(|url| {
                self.domains
                    .entry(url.to_owned())
                    .or_insert_with(|| domain_of(url))
                    .clone()
            })
            .collect()
    }

    /// The key of a URL's website domain, if it has one.
    fn domain_key(&mut self, url: Option<&str>) -> R<Option<i64>> {
        let Some(url) = url else { return Ok(None) };
        let domain = match self.domains.get(url) {
            Some(domain) => domain.clone(),
            None => {
                let domain = domain_of(url);
                self.domains.insert(url.to_owned(), domain.clone());
                domain
            }
        };
        self.key_opt(domain.as_deref())
    }

    pub(crate) fn key(&mut self, text: &str) -> R<i64> {
        if let Some(key) = self.known.get(text) {
            return Ok(*key);
        }
        let found: Option<i64> = self
            .c
            .prepare_cached("SELECT key FROM activity_texts WHERE company_id = ?1 AND text = ?2")
            .and_then(|mut s| {
                s.query_row(params![self.company.0, text], |r| r.get(0))
                    .optional()
            })
            .map_err(db)?;
        let key = match found {
            Some(key) => key,
            None => self
                .c
                .prepare_cached(
                    "INSERT INTO activity_texts (company_id, text) VALUES (?1, ?2) RETURNING key",
                )
                .and_then(|mut s| s.query_row(params![self.company.0, text], |r| r.get(0)))
                .map_err(db)?,
        };
        self.known.insert(text.to_owned(), key);
        Ok(key)
    }

    fn key_opt(&mut self, text: Option<&str>) -> R<Option<i64>> {
        text.map(|t| self.key(t)).transpose()
    }

    /// Looks up the keys of `texts` not known yet in one statement (a
    /// batch names hundreds of strings, most of them stored before); those
    /// not stored are added by [`key`](Self::key) when first asked for.
    fn preload<'t>(&mut self, texts: impl IntoIterator<Item = &'t str>) -> R<()> {
        let wanted: std::collections::BTreeSet<&str> = texts
            .into_iter()
            .filter(|t| !self.known.contains_key(*t))
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let array: rusqlite::vtab::array::Array = std::rc::Rc::new(
            wanted
                .into_iter()
                .map(|t| rusqlite::types::Value::Text(t.to_owned()))
                .collect(),
        );
        let mut stmt = self
            .c
            .prepare_cached(
                "SELECT text, key FROM activity_texts WHERE company_id = ?1 AND text IN rarray(?2)",
            )
            .map_err(db)?;
        let mut rows = stmt.query(params![self.company.0, array]).map_err(db)?;
        while let Some(row) = rows.next().map_err(db)? {
            let (text, key): (String, i64) = (row.get(0).map_err(db)?, row.get(1).map_err(db)?);
            self.known.insert(text, key);
        }
        Ok(())
    }
}

/// Splits `[start_us, end_us)` at the local midnights of `tz`: each local
/// date with the part of the span on it, in microseconds.
fn day_pieces(tz: Tz, start_us: i64, end_us: i64) -> R<Vec<(NaiveDate, i64, i64)>> {
    let (Some(start), Some(end)) = (
        DateTime::<Utc>::from_timestamp_micros(start_us),
        DateTime::<Utc>::from_timestamp_micros(end_us),
    ) else {
        return Err(corrupt(
            "started_at",
            format!("instant {start_us} out of range"),
        ));
    };
    let mut out = Vec::new();
    for date in span_dates(tz, start, end) {
        let (day_start, day_end) = day_bounds(tz, date);
        let (s, t) = (start_us.max(ts(day_start)), end_us.min(ts(day_end)));
        if t > s {
            out.push((date, s, t));
        }
    }
    Ok(out)
}

/// Adds an active piece of a day to the usage sums of its app and domain.
fn add_usage(usage: &mut Usage, date: NaiveDate, us: i64, app: Option<i64>, domain: Option<i64>) {
    if let Some(app) = app {
        *usage.entry((false, date, app)).or_default() += us;
    }
    if let Some(domain) = domain {
        *usage.entry((true, date, domain)).or_default() += us;
    }
}

pub(crate) fn ingest(
    c: &Connection,
    company: CompanyId,
    events: &[ActivityEvent],
) -> R<IngestCount> {
    let tz = company_tz(c, company)?;
    let mut texts = Texts::new(c, company);

    let mut by_user: BTreeMap<UserId, Vec<&ActivityEvent>> = BTreeMap::new();
    for e in events {
        by_user.entry(e.user_id).or_default().push(e);
    }
    let mut scan = c
        .prepare_cached(
            "SELECT started_at, duration_seconds FROM activity
             WHERE owner = ?1 AND started_at >= ?2 AND started_at < ?3
               AND started_at + duration_seconds * 1000000 > ?4",
        )
        .map_err(db)?;
    let mut insert = c
        .prepare_cached(
            "INSERT INTO activity (owner, started_at, id, duration_seconds, idle, app, window_title, url, session_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT DO NOTHING",
        )
        .map_err(db)?;
    // Each distinct URL's domain once, then every string's key at once.
    let urls: BTreeSet<&str> = events.iter().filter_map(|e| e.url.as_deref()).collect();
    let domains = texts.domains_of(urls.iter().copied());
    texts.preload(
        events
            .iter()
            .flat_map(|e| [&e.app, &e.window_title])
            .filter_map(|t| t.as_deref())
            .chain(urls.iter().copied())
            .chain(domains.iter().map(String::as_str)),
    )?;
    let mut count = IngestCount::default();
    let mut fresh_all: Vec<&ActivityEvent> = Vec::new();
    let mut days: BTreeMap<(UserId, NaiveDate), Day> = BTreeMap::new();
    let mut usage: BTreeMap<i64, Usage> = BTreeMap::new();
    for (user, evs) in &by_user {
        let longest = evs.iter().map(|e| e.duration_seconds).max().unwrap_or(0);
        let (owner, stored_longest) = owner_key(c, company, *user, longest)?;
        // What the user already has around the batch, read before
        // inserting: no stored event is longer than `stored_longest`.
        let lo = evs.iter().map(|e| ts(e.started_at)).min().unwrap_or(0);
        let hi = evs.iter().map(|e| ts(e.ended_at())).max().unwrap_or(0);
        let scan_from = lo - stored_longest * 1_000_000;
        let mut spans = scan
            .query_map(params![owner, scan_from, hi, lo], |r| {
                let start: i64 = r.get(0)?;
                let secs: i64 = r.get(1)?;
                Ok((start, start + secs * 1_000_000))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(db)?;

        let mut fresh = Vec::new();
        for e in evs {
            let app = texts.key_opt(e.app.as_deref())?;
            let title = texts.key_opt(e.window_title.as_deref())?;
            let url = texts.key_opt(e.url.as_deref())?;
            let n = insert
                .execute(params![
                    owner,
                    ts(e.started_at),
                    e.id.0,
                    e.duration_seconds,
                    e.kind == ActivityKind::Idle,
                    app,
                    title,
                    url,
                    e.session_id.map(|s| s.0),
                ])
                .map_err(db)?;
            if n == 1 {
                count.inserted += 1;
                fresh.push((*e, app));
            } else {
                count.duplicates += 1;
            }
        }

        spans.extend(
            fresh
                .iter()
                .map(|(e, _)| (ts(e.started_at), ts(e.ended_at()))),
        );
        let overlap = overlaps(&mut spans);
        let sums = usage.entry(owner).or_default();
        for (e, app) in &fresh {
            fresh_all.push(e);
            let domain = match e.kind {
                ActivityKind::Active => texts.domain_key(e.url.as_deref())?,
                ActivityKind::Idle => None,
            };
            for (date, s, t) in day_pieces(tz, ts(e.started_at), ts(e.ended_at()))? {
                let d = days.entry((*user, date)).or_insert_with(Day::empty);
                match e.kind {
                    ActivityKind::Active => {
                        d.active_us += t - s;
                        add_usage(sums, date, t - s, *app, domain);
                    }
                    ActivityKind::Idle => d.idle_us += t - s,
                }
                d.first_us = d.first_us.min(s);
                d.last_us = d.last_us.max(t);
                d.exact &= !overlap;
            }
        }
    }

    // The usage job recomputes the UTC dates that received new events.
    mark_usage(c, company, event_dates(fresh_all))?;

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
    for (owner, sums) in &usage {
        write_usage(c, *owner, sums)?;
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
        for (date, _, _) in day_pieces(tz, start, end)? {
            if date >= keep_from {
                touched.insert((user, date));
            }
        }
    }
    let mut texts = Texts::new(c, company);
    for (user, date) in touched {
        rebuild_day(c, company, tz, &mut texts, user, date)?;
    }
    Ok(())
}

/// One stored event as the rollups read it: start and end in microseconds,
/// idle or not, app key and URL.
type Stored = (i64, i64, bool, Option<i64>, Option<String>);

/// The events of an owner that overlap `[lo, hi)` (microseconds).
fn stored_events(c: &Connection, owner: i64, lo: i64, hi: i64) -> R<Vec<Stored>> {
    let scan_from = lo.saturating_sub(i64::from(MAX_EVENT_SECONDS) * 1_000_000);
    c.prepare_cached(
        "SELECT e.started_at, e.duration_seconds, e.idle, e.app, u.text
         FROM activity e LEFT JOIN activity_texts u ON u.key = e.url
         WHERE e.owner = ?1 AND e.started_at >= ?2 AND e.started_at < ?3
           AND e.started_at + e.duration_seconds * 1000000 > ?4",
    )
    .and_then(|mut s| {
        s.query_map(params![owner, scan_from, hi, lo], |r| {
            let start: i64 = r.get(0)?;
            let secs: i64 = r.get(1)?;
            Ok((
                start,
                start + secs * 1_000_000,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
            ))
        })?
        .collect()
    })
    .map_err(db)
}

/// Recomputes one user's rollup rows of one local day from the stored events.
fn rebuild_day(
    c: &Connection,
    company: CompanyId,
    tz: Tz,
    texts: &mut Texts<'_>,
    user: UserId,
    date: NaiveDate,
) -> R<()> {
    let (day_start, day_end) = day_bounds(tz, date);
    let (lo, hi) = (ts(day_start), ts(day_end));
    let Some(owner) = find_owner(c, company, user)? else {
        return Ok(());
    };
    let mut d = Day::empty();
    let mut usage = Usage::new();
    let mut spans = Vec::new();
    for (start, end, idle, app, url) in stored_events(c, owner, lo, hi)? {
        let (s, t) = (start.max(lo), end.min(hi));
        if t <= s {
            continue;
        }
        spans.push((start, end));
        if idle {
            d.idle_us += t - s;
        } else {
            d.active_us += t - s;
            let domain = texts.domain_key(url.as_deref())?;
            add_usage(&mut usage, date, t - s, app, domain);
        }
        d.first_us = d.first_us.min(s);
        d.last_us = d.last_us.max(t);
    }
    c.prepare_cached(
        "DELETE FROM activity_usage WHERE owner = ?1 AND by_domain IN (0, 1) AND date = ?2",
    )
    .and_then(|mut s| s.execute(params![owner, date.to_string()]))
    .map_err(db)?;
    write_usage(c, owner, &usage)?;
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

/// Adds `usage` to an owner's usage rows.
fn write_usage(c: &Connection, owner: i64, usage: &Usage) -> R<()> {
    let mut add = c
        .prepare_cached(
            "INSERT INTO activity_usage (owner, by_domain, date, name, active_us)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT DO UPDATE SET active_us = active_us + excluded.active_us",
        )
        .map_err(db)?;
    for ((by_domain, date, name), us) in usage {
        add.execute(params![owner, by_domain, date.to_string(), name, us])
            .map_err(db)?;
    }
    Ok(())
}

/// Fills `activity_usage` from the stored events, owner by owner (the
/// step of migration 5 after its SQL).
pub(crate) fn backfill_usage(c: &Connection) -> R<()> {
    let owners: Vec<(i64, CompanyId)> = c
        .prepare("SELECT key, company_id FROM activity_owners ORDER BY key")
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, CompanyId(r.get(1)?))))?
                .collect()
        })
        .map_err(db)?;
    for (owner, company) in owners {
        let tz = company_tz(c, company)?;
        let mut texts = Texts::new(c, company);
        let mut usage = Usage::new();
        for (start, end, idle, app, url) in stored_events(c, owner, i64::MIN / 2, i64::MAX)? {
            if idle {
                continue;
            }
            let domain = texts.domain_key(url.as_deref())?;
            for (date, s, t) in day_pieces(tz, start, end)? {
                add_usage(&mut usage, date, t - s, app, domain);
            }
        }
        write_usage(c, owner, &usage)?;
    }
    Ok(())
}
