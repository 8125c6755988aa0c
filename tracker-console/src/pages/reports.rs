//! Reports for ADMINs and MANAGERs, in the company's timezone: a person's
//! day, the month as a heat map of hours per person and day, apps and
//! websites over a range, the company's usage by day (ADMIN), and the
//! timesheet export. A MANAGER's reports cover the people of its teams.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Query, State as Extract};
use axum::http::header;
use axum::response::Response;
use axum::routing::get;
use chrono::{Datelike, Duration, NaiveDate};
use maud::{Markup, html};
use serde::Deserialize;
use tracker_core::report::{local_date, month_bounds, timesheet_csv};
use tracker_core::{Role, ScreenshotId, UserId};

use super::company::{all, refused_unless_staff, staff_page};
use super::filter::{self, day_picker, people};
use crate::State;
use crate::chart::{self, HeatRow};
use crate::format::{self, tz_of};
use crate::page::PageError;
use crate::session::Session;

pub(super) fn routes() -> Router<State> {
    Router::new()
        .route("/company/reports", get(month))
        .route("/company/reports/day", get(day))
        .route("/company/reports/usage", get(usage))
        .route("/company/reports/company", get(company))
        .route("/company/exports", get(exports))
        .route("/company/exports/timesheet.csv", get(timesheet))
}

/// The reports' own navigation.
fn tabs(s: &Session, current: &str) -> Markup {
    let mut tabs = vec![
        ("/company/reports", "Month"),
        ("/company/reports/day", "A person's day"),
        ("/company/reports/usage", "Apps and websites"),
    ];
    if s.principal.role() == Role::Admin {
        tabs.push(("/company/reports/company", "Company usage"));
    }
    tabs.push(("/company/exports", "Timesheet export"));
    html! {
        nav aria-label="Reports" {
            ul.subnav {
                @for (path, label) in tabs {
                    li { a href=(s.base.at(path)) aria-current=[(path == current).then_some("page")] { (label) } }
                }
            }
        }
    }
}

/// Today in the company's timezone.
fn today(shared: &State, s: &Session) -> NaiveDate {
    local_date(tz_of(&s.principal), shared.tracker.now())
}

#[derive(Debug, Default, Deserialize)]
struct MonthQuery {
    #[serde(default)]
    month: Option<String>,
}

async fn month(
    Extract(shared): Extract<State>,
    s: Session,
    Query(q): Query<MonthQuery>,
) -> Response {
    staff_page(&s, "Reports", month_body(&shared, &s, &q)).await
}

/// A `YYYY-MM` month, or this one.
fn month_of(v: &Option<String>, today: NaiveDate) -> Result<(i32, u32), PageError> {
    let Some(text) = filter::given(v) else {
        return Ok((today.year(), today.month()));
    };
    let bad = || PageError::BadForm(format!("The month {text:?} is not a month (YYYY-MM)."));
    let (y, m) = text.split_once('-').ok_or_else(bad)?;
    let (y, m) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    month_bounds(y, m).ok_or_else(bad)?;
    Ok((y, m))
}

/// The heat map of a month: one row per person the caller sees.
async fn month_body(shared: &State, s: &Session, q: &MonthQuery) -> Result<Markup, PageError> {
    let t = &shared.tracker;
    let p = &s.principal;
    let (year, month) = month_of(&q.month, today(shared, s))?;
    let grid = t.monthly_report(p, year, month, None).await?;
    let users = t.list_users(p, Some(true), &all()).await?.items;
    let (first, last) = month_bounds(year, month).unwrap_or_default();
    let days: Vec<NaiveDate> = first.iter_days().take_while(|d| *d <= last).collect();
    let mut seconds: BTreeMap<UserId, Vec<u64>> = BTreeMap::new();
    for cell in &grid.cells {
        let row = seconds
            .entry(cell.user_id)
            .or_insert_with(|| vec![0; days.len()]);
        if let Some(i) = days.iter().position(|d| *d == cell.date) {
            row[i] = cell.totals.active_seconds;
        }
    }
    let rows: Vec<HeatRow> = users
        .iter()
        .map(|u| HeatRow {
            name: u.username.clone(),
            link: s
                .base
                .at(&format!("/company/reports/day?user={}&date={first}", u.id)),
            seconds: seconds.remove(&u.id).unwrap_or_else(|| vec![0; days.len()]),
        })
        .collect();
    let total: u64 = rows.iter().flat_map(|r| r.seconds.iter()).sum();
    let previous = first - Duration::days(1);
    let next = last + Duration::days(1);
    let label = first.format("%B %Y").to_string();
    Ok(html! {
        (tabs(s, "/company/reports"))
        form.inline method="get" action=(s.base.at("/company/reports")) {
            label { "Month" input type="month" name="month" value=(format!("{year:04}-{month:02}")) data-autosubmit; }
            button.secondary type="submit" { "Show" }
            a href=(s.base.at(&format!("/company/reports?month={}", previous.format("%Y-%m")))) { "Previous month" }
            a href=(s.base.at(&format!("/company/reports?month={}", next.format("%Y-%m")))) { "Next month" }
        }
        div.kpis {
            div.kpi { b { (format::duration(total)) } span { "active in " (label) } }
            div.kpi { b { (rows.len()) } span { "people" } }
        }
        p.legend {
            span { "Active hours a day:" }
            span { i.h1 {} "under 2" } span { i.h2 {} "2 to 4" } span { i.h3 {} "4 to 6" } span { i.h4 {} "6 or more" }
            span.hint { "Days in " (tz_of(p).name()) ", corrections applied. Select a name for the person's day." }
        }
        (chart::heat_map(&format!("Active hours per person and day, {label}"), &days, &rows))
    })
}

#[derive(Debug, Default, Deserialize)]
struct DayQuery {
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    date: Option<String>,
}

async fn day(Extract(shared): Extract<State>, s: Session, Query(q): Query<DayQuery>) -> Response {
    staff_page(&s, "A person's day", day_body(&shared, &s, &q)).await
}

async fn day_body(shared: &State, s: &Session, q: &DayQuery) -> Result<Markup, PageError> {
    let t = &shared.tracker;
    let p = &s.principal;
    let users = t.list_users(p, None, &all()).await?.items;
    let date = filter::date(&q.date, "day")?.unwrap_or_else(|| today(shared, s));
    let chosen = match filter::person(&q.user)? {
        Some(id) => Some(id),
        None => users.iter().find(|u| u.active).map(|u| u.id),
    };
    let picker = html! {
        (tabs(s, "/company/reports/day"))
        form.inline method="get" action=(s.base.at("/company/reports/day")) {
            (people(&users, chosen, None))
            (day_picker("date", "Day", Some(date)))
            button.secondary type="submit" { "Show" }
        }
    };
    let Some(user) = chosen else {
        return Ok(html! { (picker) p { "Nobody to show yet." } });
    };
    let my = t.person_day(p, user, Some(date)).await?;
    let pictures = |id: ScreenshotId| {
        (
            s.base.at(&format!("/company/screenshots/{id}/thumbnail")),
            s.base.at(&format!("/company/screenshots/{id}")),
        )
    };
    let view = super::me::day_view(shared, s, user, &my, &pictures).await?;
    let step = |days: i64| {
        s.base.at(&format!(
            "/company/reports/day?user={user}&date={}",
            date + Duration::days(days)
        ))
    };
    Ok(html! {
        (picker)
        p { a href=(step(-1)) { "Previous day" } " · " a href=(step(1)) { "Next day" } }
        (view)
    })
}

#[derive(Debug, Default, Deserialize)]
struct RangeQuery {
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
}

/// A range of the query string, checked, or the `days` days to today.
fn range_of(
    q: &RangeQuery,
    today: NaiveDate,
    days: i64,
    most: i64,
) -> Result<(NaiveDate, NaiveDate), PageError> {
    let to = filter::date(&q.to, "last day")?.unwrap_or(today);
    let from = filter::date(&q.from, "first day")?.unwrap_or(to - Duration::days(days - 1));
    filter::range(from, to, most)?;
    Ok((from, to))
}

async fn usage(
    Extract(shared): Extract<State>,
    s: Session,
    Query(q): Query<RangeQuery>,
) -> Response {
    staff_page(&s, "Apps and websites", usage_body(&shared, &s, &q)).await
}

async fn usage_body(shared: &State, s: &Session, q: &RangeQuery) -> Result<Markup, PageError> {
    let t = &shared.tracker;
    let p = &s.principal;
    let (from, to) = range_of(q, today(shared, s), 7, 93)?;
    let user = filter::person(&q.user)?;
    let users = t.list_users(p, None, &all()).await?.items;
    let top = |report: tracker_core::UsageReport| {
        let mut sum: BTreeMap<String, u64> = BTreeMap::new();
        for entry in report.by_user.into_values().flatten() {
            *sum.entry(entry.name).or_default() += entry.seconds;
        }
        let mut list: Vec<(String, u64)> = sum.into_iter().collect();
        list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        list.truncate(15);
        list
    };
    let apps = top(t.usage_report(p, from, to, user, false).await?);
    let sites = top(t.usage_report(p, from, to, user, true).await?);
    Ok(html! {
        (tabs(s, "/company/reports/usage"))
        form.inline method="get" action=(s.base.at("/company/reports/usage")) {
            (people(&users, user, Some("everyone")))
            (day_picker("from", "From", Some(from)))
            (day_picker("to", "To", Some(to)))
            button.secondary type="submit" { "Show" }
        }
        p.hint { "Active time from " (from) " to " (to) " (at most 93 days), the 15 largest of each." }
        section {
            h2 { "Apps" }
            @if apps.is_empty() { p { "No app time in this range." } }
            @else { (chart::bars("Apps by active time", &apps)) }
            h2 { "Websites" }
            @if sites.is_empty() { p { "No website time in this range." } }
            @else { (chart::bars("Websites by active time", &sites)) }
        }
    })
}

async fn company(
    Extract(shared): Extract<State>,
    s: Session,
    Query(q): Query<RangeQuery>,
) -> Response {
    staff_page(&s, "Company usage", company_body(&shared, &s, &q)).await
}

async fn company_body(shared: &State, s: &Session, q: &RangeQuery) -> Result<Markup, PageError> {
    let (from, to) = range_of(q, today(shared, s), 30, 366)?;
    let rows = shared.tracker.company_usage(&s.principal, from, to).await?;
    let hours: Vec<(NaiveDate, f64)> = rows
        .iter()
        .map(|r| (r.date, r.active_seconds as f64 / 3600.0))
        .collect();
    Ok(html! {
        (tabs(s, "/company/reports/company"))
        form.inline method="get" action=(s.base.at("/company/reports/company")) {
            (day_picker("from", "From", Some(from)))
            (day_picker("to", "To", Some(to)))
            button.secondary type="submit" { "Show" }
        }
        p.hint { "The daily numbers are computed in the background after each day; today's may be partial." }
        @if rows.is_empty() { p { "No usage numbers in this range yet." } }
        @else {
            section {
                h2 { "Active hours by day" }
                (chart::columns("Active hours by day", "hours", &hours))
            }
            div.table-wrap { table {
                thead { tr { th { "Day" } th { "Active" } th { "Idle" } th { "Active people" } th { "Screenshots" } th { "Storage" } } }
                tbody {
                    @for r in rows.iter().rev() {
                        tr {
                            td { (r.date) }
                            td { (format::duration(r.active_seconds)) }
                            td { (format::duration(r.idle_seconds)) }
                            td { (r.active_users) }
                            td { (r.screenshots) }
                            td { (format::bytes(r.storage_bytes)) }
                        }
                    }
                }
            } }
        }
    })
}

async fn exports(
    Extract(shared): Extract<State>,
    s: Session,
    Query(q): Query<RangeQuery>,
) -> Response {
    staff_page(&s, "Exports", exports_body(&shared, &s, &q)).await
}

async fn exports_body(shared: &State, s: &Session, q: &RangeQuery) -> Result<Markup, PageError> {
    let (from, to) = range_of(q, today(shared, s), 7, 93)?;
    let user = filter::person(&q.user)?;
    let users = shared
        .tracker
        .list_users(&s.principal, None, &all())
        .await?
        .items;
    Ok(html! {
        (tabs(s, "/company/exports"))
        section {
            h2 { "Timesheet" }
            p { "One row per person and day: active, idle and corrected time, first and last seen, in the company's timezone." }
            form.inline method="get" action=(s.base.at("/company/exports/timesheet.csv")) {
                (people(&users, user, Some("everyone")))
                (day_picker("from", "From", Some(from)))
                (day_picker("to", "To", Some(to)))
                button type="submit" { "Download CSV" }
            }
            p.hint { "At most 93 days." }
        }
    })
}

async fn timesheet(
    Extract(shared): Extract<State>,
    s: Session,
    Query(q): Query<RangeQuery>,
) -> Response {
    if let Some(refused) = refused_unless_staff(&s) {
        return refused;
    }
    let rows = async {
        let (from, to) = range_of(&q, today(&shared, &s), 7, 93)?;
        let user = filter::person(&q.user)?;
        let rows = shared
            .tracker
            .timesheet(&s.principal, from, to, user)
            .await?;
        Ok::<_, PageError>((from, to, rows))
    }
    .await;
    match rows {
        Ok((from, to, rows)) => s.respond((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"timesheet-{from}-{to}.csv\""),
                ),
            ],
            timesheet_csv(&rows),
        )),
        Err(e) => s.error(e),
    }
}
