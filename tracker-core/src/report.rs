//! Report computations: days cut in the company's timezone, totals with
//! approved corrections applied, the My Day timeline, month grids, app and
//! website usage, timesheets and daily company aggregates.
//!
//! Time is measured as a union of intervals, so overlapping events from a
//! confused agent are never counted twice, and active time (including
//! approved corrections) takes precedence over idle time.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, LocalResult, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::ids::{CompanyId, UserId};
use crate::tracking::{ActivityEvent, ActivityKind};
use crate::work::{CompanyUsageDaily, CorrectionRequest};

/// The first instant of `date` in `tz`, in UTC. Where midnight does not
/// exist (a DST gap at midnight), the day starts at the first local time
/// that does.
pub fn day_start(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let midnight = date.and_time(chrono::NaiveTime::MIN);
    for minutes in (0..=24 * 60).step_by(15) {
        // Checked: the last representable day has no room after midnight.
        let Some(local) = midnight.checked_add_signed(Duration::minutes(minutes)) else {
            break;
        };
        match tz.from_local_datetime(&local) {
            LocalResult::Single(t) => return t.with_timezone(&Utc),
            LocalResult::Ambiguous(first, _) => return first.with_timezone(&Utc),
            LocalResult::None => {}
        }
    }
    // Unreachable for real zones; fall back to UTC midnight.
    Utc.from_utc_datetime(&midnight)
}

/// `[start, end)` of `date` in `tz`, in UTC (23, 24 or 25 hours long).
pub fn day_bounds(tz: Tz, date: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let next = date.succ_opt().unwrap_or(date);
    (day_start(tz, date), day_start(tz, next))
}

/// The local date of `at` in `tz`.
pub fn local_date(tz: Tz, at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

/// Every date from `from` to `to`, both included.
pub fn dates(from: NaiveDate, to: NaiveDate) -> impl Iterator<Item = NaiveDate> {
    from.iter_days().take_while(move |d| *d <= to)
}

/// The first and last day of a month; `None` for an invalid month.
pub fn month_bounds(year: i32, month: u32) -> Option<(NaiveDate, NaiveDate)> {
    let first = NaiveDate::from_ymd_opt(year, month, 1)?;
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)?
    };
    Some((first, next.pred_opt()?))
}

/// Sorted, disjoint `[start, end)` intervals in microseconds since the epoch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Intervals(Vec<(i64, i64)>);

impl Intervals {
    /// The union of the given intervals; empty ones are dropped.
    pub fn from_unsorted(mut v: Vec<(i64, i64)>) -> Self {
        v.retain(|(s, e)| e > s);
        v.sort_unstable();
        let mut out: Vec<(i64, i64)> = Vec::with_capacity(v.len());
        for (s, e) in v {
            match out.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => out.push((s, e)),
            }
        }
        Self(out)
    }

    /// The union with `other`.
    pub fn union(&self, other: &Intervals) -> Intervals {
        let mut v = self.0.clone();
        v.extend_from_slice(&other.0);
        Self::from_unsorted(v)
    }

    /// This set without `other`.
    pub fn minus(&self, other: &Intervals) -> Intervals {
        let mut out = Vec::new();
        let mut j = 0;
        for &(s, e) in &self.0 {
            let mut start = s;
            while j < other.0.len() && other.0[j].1 <= start {
                j += 1;
            }
            let mut k = j;
            while k < other.0.len() && other.0[k].0 < e {
                let (os, oe) = other.0[k];
                if os > start {
                    out.push((start, os));
                }
                start = start.max(oe);
                if start >= e {
                    break;
                }
                k += 1;
            }
            if start < e {
                out.push((start, e));
            }
        }
        Self(out)
    }

    /// Total length in whole seconds.
    pub fn seconds(&self) -> u64 {
        let micros: i64 = self.0.iter().map(|(s, e)| e - s).sum();
        (micros / 1_000_000).unsigned_abs()
    }

    /// The intervals.
    pub fn spans(&self) -> &[(i64, i64)] {
        &self.0
    }
}

fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

fn from_micros(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

fn clip(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    window: (DateTime<Utc>, DateTime<Utc>),
) -> (i64, i64) {
    (micros(start.max(window.0)), micros(end.min(window.1)))
}

/// Active and idle time of one user in one window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Totals {
    /// Active seconds, approved corrections included.
    pub active_seconds: u64,
    /// Idle seconds not covered by active time.
    pub idle_seconds: u64,
    /// Seconds that approved corrections added to active time.
    pub corrected_seconds: u64,
    /// First event in the window.
    pub first_seen: Option<DateTime<Utc>>,
    /// End of the last event in the window.
    pub last_seen: Option<DateTime<Utc>>,
}

struct Sets {
    active: Intervals,
    idle: Intervals,
    recorded_active: Intervals,
}

fn sets<'a>(
    events: impl IntoIterator<Item = &'a ActivityEvent>,
    corrections: impl IntoIterator<Item = &'a CorrectionRequest>,
    window: (DateTime<Utc>, DateTime<Utc>),
) -> (Sets, Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let mut active = Vec::new();
    let mut idle = Vec::new();
    let mut first: Option<i64> = None;
    let mut last: Option<i64> = None;
    for e in events {
        let (s, t) = clip(e.started_at, e.ended_at(), window);
        if t <= s {
            continue;
        }
        first = Some(first.map_or(s, |f| f.min(s)));
        last = Some(last.map_or(t, |l| l.max(t)));
        match e.kind {
            ActivityKind::Active => active.push((s, t)),
            ActivityKind::Idle => idle.push((s, t)),
        }
    }
    let recorded_active = Intervals::from_unsorted(active);
    let corrected = Intervals::from_unsorted(
        corrections
            .into_iter()
            .map(|c| clip(c.starts_at, c.ends_at, window))
            .collect(),
    );
    let active = recorded_active.union(&corrected);
    let idle = Intervals::from_unsorted(idle).minus(&active);
    (
        Sets {
            active,
            idle,
            recorded_active,
        },
        first.map(from_micros),
        last.map(from_micros),
    )
}

/// Totals of one user's `events` in `window`, with the approved
/// `corrections` counted as active time.
pub fn totals<'a>(
    events: impl IntoIterator<Item = &'a ActivityEvent>,
    corrections: impl IntoIterator<Item = &'a CorrectionRequest>,
    window: (DateTime<Utc>, DateTime<Utc>),
) -> Totals {
    let (s, first_seen, last_seen) = sets(events, corrections, window);
    let active_seconds = s.active.seconds();
    Totals {
        active_seconds,
        idle_seconds: s.idle.seconds(),
        corrected_seconds: active_seconds.saturating_sub(s.recorded_active.seconds()),
        first_seen,
        last_seen,
    }
}

/// A block of the My Day timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TimelineBlock {
    /// Start.
    pub start: DateTime<Utc>,
    /// End.
    pub end: DateTime<Utc>,
    /// Active or idle.
    pub kind: ActivityKind,
    /// Length in seconds.
    pub seconds: u64,
}

/// Blocks of the same kind separated by less than this are merged.
pub const TIMELINE_MERGE_GAP_SECONDS: i64 = 60;

/// The My Day timeline: active and idle blocks in time order, with
/// neighbouring blocks of the same kind merged across short gaps.
pub fn timeline<'a>(
    events: impl IntoIterator<Item = &'a ActivityEvent>,
    corrections: impl IntoIterator<Item = &'a CorrectionRequest>,
    window: (DateTime<Utc>, DateTime<Utc>),
) -> Vec<TimelineBlock> {
    let (s, _, _) = sets(events, corrections, window);
    let mut spans: Vec<(i64, i64, ActivityKind)> = s
        .active
        .spans()
        .iter()
        .map(|&(a, b)| (a, b, ActivityKind::Active))
        .chain(
            s.idle
                .spans()
                .iter()
                .map(|&(a, b)| (a, b, ActivityKind::Idle)),
        )
        .collect();
    spans.sort_unstable_by_key(|&(a, _, _)| a);
    let gap = TIMELINE_MERGE_GAP_SECONDS * 1_000_000;
    let mut blocks: Vec<(i64, i64, ActivityKind, i64)> = Vec::new();
    for (a, b, kind) in spans {
        match blocks.last_mut() {
            Some(last) if last.2 == kind && a - last.1 < gap => {
                last.1 = b;
                last.3 += b - a;
            }
            _ => blocks.push((a, b, kind, b - a)),
        }
    }
    blocks
        .into_iter()
        .map(|(a, b, kind, len)| TimelineBlock {
            start: from_micros(a),
            end: from_micros(b),
            kind,
            seconds: (len / 1_000_000).unsigned_abs(),
        })
        .collect()
}

/// Seconds spent on one app or website.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageEntry {
    /// App name or domain.
    pub name: String,
    /// Active seconds.
    pub seconds: u64,
}

/// The host of a URL, lower case, without `www.`; `None` if it has none.
pub fn domain_of(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host.starts_with('[') {
        host.split_inclusive(']').next().unwrap_or(host)
    } else {
        host.split(':').next().unwrap_or(host)
    };
    let host = host.trim_end_matches('.').to_lowercase();
    let host = host.strip_prefix("www.").map(str::to_owned).unwrap_or(host);
    (!host.is_empty()).then_some(host)
}

/// Active seconds by app (or by domain with `by_domain`), largest first,
/// over the events clipped to `window`.
pub fn usage_by<'a>(
    events: impl IntoIterator<Item = &'a ActivityEvent>,
    window: (DateTime<Utc>, DateTime<Utc>),
    by_domain: bool,
) -> Vec<UsageEntry> {
    let mut acc: HashMap<String, i64> = HashMap::new();
    for e in events {
        if e.kind != ActivityKind::Active {
            continue;
        }
        let key = if by_domain {
            e.url.as_deref().and_then(domain_of)
        } else {
            e.app.clone()
        };
        let Some(key) = key else { continue };
        let (s, t) = clip(e.started_at, e.ended_at(), window);
        if t > s {
            *acc.entry(key).or_default() += t - s;
        }
    }
    usage_entries(acc)
}

/// Usage entries, largest first, from active microseconds per name (as
/// [`usage_by`] adds them up, or a store's per-day sums).
pub fn usage_entries(micros: impl IntoIterator<Item = (String, i64)>) -> Vec<UsageEntry> {
    let mut out: Vec<UsageEntry> = micros
        .into_iter()
        .map(|(name, us)| UsageEntry {
            name,
            seconds: (us / 1_000_000).unsigned_abs(),
        })
        .collect();
    out.sort_by(|a, b| b.seconds.cmp(&a.seconds).then_with(|| a.name.cmp(&b.name)));
    out
}

/// One user's day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DailyReport {
    /// User.
    pub user_id: UserId,
    /// Local date.
    pub date: NaiveDate,
    /// Totals.
    #[serde(flatten)]
    pub totals: Totals,
    /// Top apps (at most 10).
    pub top_apps: Vec<UsageEntry>,
    /// Top domains (at most 10).
    pub top_domains: Vec<UsageEntry>,
    /// Screenshots taken.
    pub screenshots: u64,
}

/// The daily report of one user from its events, approved corrections and
/// screenshot count of that day.
pub fn daily_report(
    user_id: UserId,
    date: NaiveDate,
    tz: Tz,
    events: &[ActivityEvent],
    corrections: &[CorrectionRequest],
    screenshots: u64,
) -> DailyReport {
    let window = day_bounds(tz, date);
    let mut top_apps = usage_by(events, window, false);
    top_apps.truncate(10);
    let mut top_domains = usage_by(events, window, true);
    top_domains.truncate(10);
    DailyReport {
        user_id,
        date,
        totals: totals(events, corrections, window),
        top_apps,
        top_domains,
        screenshots,
    }
}

/// One cell of a grid: a user's totals on a date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DayCell {
    /// User.
    pub user_id: UserId,
    /// Local date.
    pub date: NaiveDate,
    /// Totals.
    #[serde(flatten)]
    pub totals: Totals,
}

/// Totals per user per local date over `[from, to]`, for every user in
/// `users` and every date (empty days included, so grids have no holes).
/// Events and corrections may be of any of the users, in any order.
pub fn day_grid(
    tz: Tz,
    from: NaiveDate,
    to: NaiveDate,
    users: &[UserId],
    events: &[ActivityEvent],
    corrections: &[CorrectionRequest],
) -> Vec<DayCell> {
    // Events are at most a few hours long and corrections at most a day, so
    // bucketing each under the local dates of its start and end is exact.
    let mut ev: HashMap<(UserId, NaiveDate), Vec<&ActivityEvent>> = HashMap::new();
    for e in events {
        for d in span_dates(tz, e.started_at, e.ended_at()) {
            ev.entry((e.user_id, d)).or_default().push(e);
        }
    }
    let mut co: HashMap<(UserId, NaiveDate), Vec<&CorrectionRequest>> = HashMap::new();
    for c in corrections {
        for d in span_dates(tz, c.starts_at, c.ends_at) {
            co.entry((c.user_id, d)).or_default().push(c);
        }
    }
    let mut out = Vec::new();
    for &user_id in users {
        for date in dates(from, to) {
            let window = day_bounds(tz, date);
            let e = ev
                .get(&(user_id, date))
                .map(Vec::as_slice)
                .unwrap_or_default();
            let c = co
                .get(&(user_id, date))
                .map(Vec::as_slice)
                .unwrap_or_default();
            out.push(DayCell {
                user_id,
                date,
                totals: totals(e.iter().copied(), c.iter().copied(), window),
            });
        }
    }
    out
}

/// The local dates a span `[start, end)` touches in `tz`.
pub fn span_dates(tz: Tz, start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<NaiveDate> {
    let first = local_date(tz, start);
    let last = local_date(tz, (end - Duration::microseconds(1)).max(start));
    dates(first, last).collect()
}

/// A month of day totals for a set of users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MonthGrid {
    /// Year.
    pub year: i32,
    /// Month, 1 to 12.
    pub month: u32,
    /// One cell per user per day.
    pub cells: Vec<DayCell>,
    /// Active seconds per user over the month.
    pub user_totals: BTreeMap<UserId, u64>,
}

impl MonthGrid {
    /// Builds the grid of `cells` (as made by [`day_grid`]) for a month.
    pub fn new(year: i32, month: u32, cells: Vec<DayCell>) -> Self {
        let mut user_totals = BTreeMap::new();
        for c in &cells {
            *user_totals.entry(c.user_id).or_insert(0) += c.totals.active_seconds;
        }
        Self {
            year,
            month,
            cells,
            user_totals,
        }
    }
}

/// One row of a timesheet export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimesheetRow {
    /// User.
    pub user_id: UserId,
    /// Username.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// Local date.
    pub date: NaiveDate,
    /// Totals with corrections applied.
    #[serde(flatten)]
    pub totals: Totals,
}

/// Renders timesheet rows as CSV (RFC 4180), one row per user per day.
/// Cells that a spreadsheet would run as a formula are prefixed with `'`.
pub fn timesheet_csv(rows: &[TimesheetRow]) -> String {
    fn cell(s: &str) -> String {
        let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            format!("'{s}")
        } else {
            s.to_owned()
        };
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s
        }
    }
    let fmt_time = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339()).unwrap_or_default();
    let mut out = String::from(
        "date,user_id,username,display_name,active_seconds,idle_seconds,corrected_seconds,first_seen,last_seen\r\n",
    );
    for r in rows {
        let fields = [
            r.date.to_string(),
            r.user_id.to_string(),
            cell(&r.username),
            cell(&r.display_name),
            r.totals.active_seconds.to_string(),
            r.totals.idle_seconds.to_string(),
            r.totals.corrected_seconds.to_string(),
            fmt_time(r.totals.first_seen),
            fmt_time(r.totals.last_seen),
        ];
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    out
}

/// The company's numbers for one day from its users' cells of that day and
/// the screenshots taken (count and bytes).
pub fn company_usage(
    company_id: CompanyId,
    date: NaiveDate,
    cells: &[DayCell],
    screenshots: u64,
    storage_bytes: u64,
) -> CompanyUsageDaily {
    let day: Vec<&DayCell> = cells.iter().filter(|c| c.date == date).collect();
    CompanyUsageDaily {
        company_id,
        date,
        active_seconds: day.iter().map(|c| c.totals.active_seconds).sum(),
        idle_seconds: day.iter().map(|c| c.totals.idle_seconds).sum(),
        screenshots,
        storage_bytes,
        active_users: u32::try_from(day.iter().filter(|c| c.totals.active_seconds > 0).count())
            .unwrap_or(u32::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ActivityId, CorrectionId};
    use crate::work::CorrectionStatus;
    use chrono::Datelike;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn ev(user: UserId, start: &str, secs: u32, kind: ActivityKind) -> ActivityEvent {
        ActivityEvent {
            id: ActivityId::new(),
            company_id: CompanyId::nil(),
            user_id: user,
            session_id: None,
            started_at: at(start),
            duration_seconds: secs,
            kind,
            app: Some("editor".into()),
            window_title: None,
            url: Some("https://www.Example.com:8443/x?y".into()),
        }
    }

    fn correction(user: UserId, start: &str, end: &str) -> CorrectionRequest {
        CorrectionRequest {
            id: CorrectionId::new(),
            company_id: CompanyId::nil(),
            user_id: user,
            starts_at: at(start),
            ends_at: at(end),
            reason: "meeting".into(),
            status: CorrectionStatus::Approved,
            decided_by: None,
            decided_at: None,
            decision_note: None,
            created_at: at(start),
        }
    }

    #[test]
    fn days_follow_the_timezone_including_dst() {
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let (s, e) = day_bounds(tz, NaiveDate::from_ymd_opt(2026, 1, 10).unwrap());
        assert_eq!(s, at("2026-01-09T23:00:00Z"));
        assert_eq!(e - s, Duration::hours(24));
        let (s, e) = day_bounds(tz, NaiveDate::from_ymd_opt(2026, 3, 29).unwrap());
        assert_eq!(e - s, Duration::hours(23), "spring forward");
        let (s, e) = day_bounds(tz, NaiveDate::from_ymd_opt(2026, 10, 25).unwrap());
        assert_eq!(e - s, Duration::hours(25), "fall back");
        // A zone whose DST gap is at midnight: the day starts at 01:00.
        let tz: Tz = "America/Santiago".parse().unwrap();
        let (s, _) = day_bounds(tz, NaiveDate::from_ymd_opt(2026, 9, 6).unwrap());
        assert_eq!(
            local_date(tz, s),
            NaiveDate::from_ymd_opt(2026, 9, 6).unwrap()
        );
    }

    #[test]
    fn the_edges_of_the_calendar_do_not_panic() {
        for tz in [
            Tz::UTC,
            "Pacific/Kiritimati".parse().unwrap(),
            "America/Adak".parse().unwrap(),
        ] {
            for date in [NaiveDate::MAX, NaiveDate::MIN] {
                let (s, e) = day_bounds(tz, date);
                assert!(s <= e, "{tz} {date}");
            }
        }
    }

    #[test]
    fn overlaps_count_once_and_active_beats_idle() {
        let u = UserId::new();
        let events = [
            ev(u, "2026-01-10T09:00:00Z", 600, ActivityKind::Active),
            ev(u, "2026-01-10T09:05:00Z", 600, ActivityKind::Active),
            ev(u, "2026-01-10T09:10:00Z", 600, ActivityKind::Idle),
        ];
        let window = day_bounds(Tz::UTC, NaiveDate::from_ymd_opt(2026, 1, 10).unwrap());
        let t = totals(&events, &[], window);
        assert_eq!(t.active_seconds, 900);
        assert_eq!(t.idle_seconds, 300);
        assert_eq!(t.first_seen, Some(at("2026-01-10T09:00:00Z")));
        assert_eq!(t.last_seen, Some(at("2026-01-10T09:20:00Z")));
    }

    #[test]
    fn approved_corrections_turn_gaps_and_idle_into_active() {
        let u = UserId::new();
        let events = [ev(u, "2026-01-10T09:00:00Z", 3600, ActivityKind::Idle)];
        let c = [correction(
            u,
            "2026-01-10T09:30:00Z",
            "2026-01-10T11:00:00Z",
        )];
        let window = day_bounds(Tz::UTC, NaiveDate::from_ymd_opt(2026, 1, 10).unwrap());
        let t = totals(&events, &c, window);
        assert_eq!(t.active_seconds, 5400);
        assert_eq!(t.corrected_seconds, 5400);
        assert_eq!(t.idle_seconds, 1800);
    }

    #[test]
    fn events_across_midnight_are_split_between_days() {
        let u = UserId::new();
        let tz: Tz = "America/New_York".parse().unwrap();
        // 23:30 to 00:30 local on 2026-01-10/11 (UTC-5).
        let events = [ev(u, "2026-01-11T04:30:00Z", 3600, ActivityKind::Active)];
        let d10 = NaiveDate::from_ymd_opt(2026, 1, 10).unwrap();
        let d11 = NaiveDate::from_ymd_opt(2026, 1, 11).unwrap();
        let grid = day_grid(tz, d10, d11, &[u], &events, &[]);
        assert_eq!(grid.len(), 2);
        assert_eq!(grid[0].totals.active_seconds, 1800);
        assert_eq!(grid[1].totals.active_seconds, 1800);
        let month = MonthGrid::new(2026, 1, grid);
        assert_eq!(month.user_totals[&u], 3600);
    }

    #[test]
    fn timeline_merges_short_gaps_of_the_same_kind() {
        let u = UserId::new();
        let events = [
            ev(u, "2026-01-10T09:00:00Z", 300, ActivityKind::Active),
            ev(u, "2026-01-10T09:05:30Z", 300, ActivityKind::Active),
            ev(u, "2026-01-10T09:10:30Z", 300, ActivityKind::Idle),
            ev(u, "2026-01-10T09:20:00Z", 60, ActivityKind::Active),
        ];
        let window = day_bounds(Tz::UTC, NaiveDate::from_ymd_opt(2026, 1, 10).unwrap());
        let blocks = timeline(&events, &[], window);
        let kinds: Vec<_> = blocks.iter().map(|b| (b.kind, b.seconds)).collect();
        assert_eq!(
            kinds,
            [
                (ActivityKind::Active, 600),
                (ActivityKind::Idle, 300),
                (ActivityKind::Active, 60)
            ]
        );
    }

    #[test]
    fn usage_by_app_and_domain() {
        let u = UserId::new();
        let mut other = ev(u, "2026-01-10T10:00:00Z", 60, ActivityKind::Active);
        other.app = Some("browser".into());
        other.url = Some("http://user:pw@docs.rs/x".into());
        let events = [
            ev(u, "2026-01-10T09:00:00Z", 120, ActivityKind::Active),
            other,
        ];
        let window = day_bounds(Tz::UTC, NaiveDate::from_ymd_opt(2026, 1, 10).unwrap());
        let apps = usage_by(&events, window, false);
        assert_eq!(
            apps[0],
            UsageEntry {
                name: "editor".into(),
                seconds: 120
            }
        );
        let domains = usage_by(&events, window, true);
        assert_eq!(domains[0].name, "example.com");
        assert_eq!(domains[1].name, "docs.rs");
        assert_eq!(domain_of("not a url"), Some("not a url".into()));
        assert_eq!(domain_of(""), None);
    }

    #[test]
    fn interval_difference() {
        let a = Intervals::from_unsorted(vec![(0, 10), (20, 30)]);
        let b = Intervals::from_unsorted(vec![(5, 25)]);
        assert_eq!(a.minus(&b).spans(), &[(0, 5), (25, 30)]);
        assert_eq!(b.minus(&a).spans(), &[(10, 20)]);
        assert_eq!(a.minus(&a).spans(), &[]);
    }

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        let row = TimesheetRow {
            user_id: UserId::nil(),
            username: "=cmd".into(),
            display_name: "Doe, \"J\"".into(),
            date: NaiveDate::from_ymd_opt(2026, 1, 10).unwrap(),
            totals: Totals::default(),
        };
        let csv = timesheet_csv(&[row]);
        let line = csv.lines().nth(1).unwrap();
        assert!(line.contains(",'=cmd,\"Doe, \"\"J\"\"\","), "{line}");
    }

    #[test]
    fn month_bounds_handle_december_and_invalid_months() {
        let (a, b) = month_bounds(2026, 12).unwrap();
        assert_eq!((a.day(), b.day(), b.month()), (1, 31, 12));
        assert_eq!(month_bounds(2026, 2).unwrap().1.day(), 28);
        assert!(month_bounds(2026, 13).is_none());
    }
}
