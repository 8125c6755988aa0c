//! Reports: days, month grids, app and website usage, timesheets, My Day, usage numbers.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::*;
use crate::authz::{Action, Principal, Target, authorize};
use crate::error::{Error, Result};
use crate::identity::*;
use crate::paging::{MAX_LIMIT, PageRequest};
use crate::protocol::*;
use crate::report::{
    self, DailyReport, MonthGrid, TimesheetRow, UsageEntry, day_bounds, local_date,
};
use crate::store::*;
use crate::tenancy::*;
use crate::tracking::*;
use crate::work::*;

/// App or website usage per user over a date range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageReport {
    /// First day.
    pub from: NaiveDate,
    /// Last day.
    pub to: NaiveDate,
    /// Entries per user, largest first.
    pub by_user: BTreeMap<UserId, Vec<UsageEntry>>,
}

impl<S: Store + ?Sized> Tracker<S> {
    /// One user's day in the company's timezone.
    pub async fn daily_report(
        &self,
        p: &Principal,
        user: UserId,
        date: NaiveDate,
    ) -> Result<DailyReport> {
        self.scope(p, Action::ReadTracking, Some(user)).await?;
        let company = Self::company_of(p, Action::ReadTracking)?;
        let (events, corrections, shots) = self.day_data(company, user, date).await?;
        self.record_reads(p, AccessKind::DayReport, [user]).await?;
        Ok(report::daily_report(
            user,
            date,
            company.tz(),
            &events,
            &corrections,
            shots,
        ))
    }

    /// Users whose data a report covers: one requested user, or every
    /// active user the caller may see.
    pub(super) async fn report_users(
        &self,
        p: &Principal,
        user: Option<UserId>,
    ) -> Result<(CompanyId, Vec<User>)> {
        let (company, ids) = self.scope(p, Action::ReadTracking, user).await?;
        let active = if user.is_some() { None } else { Some(true) };
        let users = self
            .all_users(
                company,
                &UserFilter {
                    ids,
                    active,
                    ..UserFilter::default()
                },
            )
            .await?;
        Ok((company, users))
    }

    /// The month grid: active time per user per day for the users the
    /// caller may see (or one of them).
    pub async fn monthly_report(
        &self,
        p: &Principal,
        year: i32,
        month: u32,
        user: Option<UserId>,
    ) -> Result<MonthGrid> {
        if !(1..=9999).contains(&year) {
            return Err(Error::invalid("year", "must be from 1 to 9999"));
        }
        let (from, to) = report::month_bounds(year, month)
            .ok_or_else(|| Error::invalid("month", "must be a month from 1 to 12"))?;
        let (_, users) = self.report_users(p, user).await?;
        let company = Self::company_of(p, Action::ReadTracking)?;
        let cells = self.grid(company, &users, from, to).await?;
        self.record_reads(p, AccessKind::Timesheet, users.iter().map(|u| u.id))
            .await?;
        Ok(MonthGrid::new(year, month, cells))
    }

    /// App usage (or, with `by_domain`, website usage) per user over at most 93 days.
    pub async fn usage_report(
        &self,
        p: &Principal,
        from: NaiveDate,
        to: NaiveDate,
        user: Option<UserId>,
        by_domain: bool,
    ) -> Result<UsageReport> {
        date_range(from, to, 93)?;
        let (company_id, users) = self.report_users(p, user).await?;
        let company = Self::company_of(p, Action::ReadTracking)?;
        let tz = company.tz();
        let window = (day_bounds(tz, from).0, day_bounds(tz, to).1);
        let ids: Option<BTreeSet<UserId>> = Some(users.iter().map(|u| u.id).collect());
        let tracking = self.store.tracking();
        let mut per_user: BTreeMap<UserId, Vec<UsageEntry>> = match tracking
            .usage_sums(company_id, ids.as_ref(), from, to, by_domain)
            .await?
        {
            Some(sums) => {
                let mut micros: BTreeMap<UserId, Vec<(String, i64)>> = BTreeMap::new();
                for s in sums {
                    micros
                        .entry(s.user_id)
                        .or_default()
                        .push((s.name, s.active_micros));
                }
                micros
                    .into_iter()
                    .map(|(user, m)| (user, report::usage_entries(m)))
                    .collect()
            }
            None => {
                let events = tracking
                    .activity_between(company_id, ids.as_ref(), window.0, window.1)
                    .await?;
                let mut events_of: BTreeMap<UserId, Vec<ActivityEvent>> = BTreeMap::new();
                for e in events {
                    events_of.entry(e.user_id).or_default().push(e);
                }
                events_of
                    .into_iter()
                    .map(|(user, evs)| (user, report::usage_by(&evs, window, by_domain)))
                    .collect()
            }
        };
        let by_user = users
            .iter()
            .map(|u| (u.id, per_user.remove(&u.id).unwrap_or_default()))
            .collect();
        self.record_reads(p, AccessKind::Activity, users.iter().map(|u| u.id))
            .await?;
        Ok(UsageReport { from, to, by_user })
    }

    /// Timesheet rows (one per user per day, corrections applied) for the
    /// users the caller may see, over at most 93 days.
    pub async fn timesheet(
        &self,
        p: &Principal,
        from: NaiveDate,
        to: NaiveDate,
        user: Option<UserId>,
    ) -> Result<Vec<TimesheetRow>> {
        date_range(from, to, 93)?;
        let (_, users) = self.report_users(p, user).await?;
        let company = Self::company_of(p, Action::ReadTracking)?;
        let cells = self.grid(company, &users, from, to).await?;
        self.record_reads(p, AccessKind::Timesheet, cells.iter().map(|c| c.user_id))
            .await?;
        let names: BTreeMap<UserId, &User> = users.iter().map(|u| (u.id, u)).collect();
        let mut rows: Vec<TimesheetRow> = cells
            .into_iter()
            .filter_map(|c| {
                let u = names.get(&c.user_id)?;
                Some(TimesheetRow {
                    user_id: c.user_id,
                    username: u.username.clone(),
                    display_name: u.display_name.clone(),
                    date: c.date,
                    totals: c.totals,
                })
            })
            .collect();
        rows.sort_by(|a, b| {
            a.date
                .cmp(&b.date)
                .then_with(|| a.username.cmp(&b.username))
        });
        Ok(rows)
    }

    /// The company's daily usage numbers (ADMIN), over at most 366 days.
    pub async fn company_usage(
        &self,
        p: &Principal,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<CompanyUsageDaily>> {
        let company = Self::company_for(p, Action::CompanyAggregates)?.id;
        date_range(from, to, 366)?;
        self.store.usage().list_usage(Some(company), from, to).await
    }

    /// Recomputes and stores a company's daily usage numbers for
    /// `[from, to]` from its tracking data. Idempotent. For integrators'
    /// schedulers; no caller check (it reads no data out).
    pub async fn aggregate_usage(
        &self,
        company: CompanyId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<CompanyUsageDaily>> {
        date_range(from, to, 366)?;
        let company = self
            .store
            .tenants()
            .get_company(company)
            .await?
            .ok_or(Error::not_found("company"))?;
        let users = self.all_users(company.id, &UserFilter::default()).await?;
        let cells = self.grid(&company, &users, from, to).await?;
        let tz = company.tz();
        let mut rows = Vec::new();
        for date in report::dates(from, to) {
            let window = day_bounds(tz, date);
            let filter = TrackingFilter {
                users: None,
                from: Some(window.0),
                to: Some(window.1),
                ..TrackingFilter::default()
            };
            let (mut shots, mut bytes) = (0, 0);
            let mut page = PageRequest::first(MAX_LIMIT);
            loop {
                let p = self
                    .store
                    .tracking()
                    .list_screenshots(company.id, &filter, &page)
                    .await?;
                shots += p.items.len() as u64;
                bytes += p.items.iter().map(|s| s.size_bytes).sum::<u64>();
                match p.next_cursor {
                    Some(c) => page = PageRequest::after(c, MAX_LIMIT),
                    None => break,
                }
            }
            rows.push(report::company_usage(
                company.id, date, &cells, shots, bytes,
            ));
        }
        self.store.usage().upsert_usage(&rows).await?;
        Ok(rows)
    }

    /// The caller's own day (today in the company's timezone by default):
    /// totals, the merged timeline, top apps and sites, and what is tracked.
    pub async fn my_day(&self, p: &Principal, date: Option<NaiveDate>) -> Result<MyDay> {
        self.person_day(p, p.user_id(), date).await
    }

    /// One person's day as [`my_day`](Self::my_day) shows it, for whoever
    /// may read that person's tracking (an ADMIN, the person's MANAGER, the
    /// person); anyone else gets "not found".
    pub async fn person_day(
        &self,
        p: &Principal,
        user: UserId,
        date: Option<NaiveDate>,
    ) -> Result<MyDay> {
        let company = Self::company_of(p, Action::ReadTracking)?;
        authorize(p, Action::ReadTracking, Target::user(company.id, user))?;
        if user != p.user_id() {
            self.scope(p, Action::ReadTracking, Some(user)).await?;
        }
        let tz = company.tz();
        let date = date.unwrap_or_else(|| local_date(tz, self.now()));
        let (events, corrections, screenshots) = self.day_data(company, user, date).await?;
        self.record_reads(p, AccessKind::DayReport, [user]).await?;
        let window = day_bounds(tz, date);
        let daily = report::daily_report(user, date, tz, &events, &corrections, screenshots);
        Ok(MyDay {
            date,
            totals: daily.totals,
            blocks: report::timeline(&events, &corrections, window),
            top_apps: daily.top_apps,
            top_domains: daily.top_domains,
            screenshots,
            policy: self.load_policy(company.id).await?,
        })
    }

    /// The caller's own timesheet rows.
    pub async fn my_export(
        &self,
        p: &Principal,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<TimesheetRow>> {
        self.timesheet(p, from, to, Some(p.user_id())).await
    }

    /// The platform report (OWNER): usage by company, plan distribution,
    /// monthly recurring revenue, over at most 366 days.
    pub async fn owner_report(
        &self,
        p: &Principal,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<OwnerReport> {
        authorize(p, Action::CompanyAggregates, Target::Platform)?;
        date_range(from, to, 366)?;
        let now = self.now();
        let plans = self.plan_map().await?;
        let companies = self.store.tenants().all_companies().await?;
        let usage = self.store.usage().list_usage(None, from, to).await?;
        let mut by_company: BTreeMap<CompanyId, CompanyUsageTotal> = companies
            .iter()
            .map(|c| {
                (
                    c.id,
                    CompanyUsageTotal {
                        company_id: c.id,
                        name: c.name.clone(),
                        active_seconds: 0,
                        screenshots: 0,
                        peak_active_users: 0,
                        storage_bytes: 0,
                    },
                )
            })
            .collect();
        for row in &usage {
            if let Some(t) = by_company.get_mut(&row.company_id) {
                t.active_seconds += row.active_seconds;
                t.screenshots += row.screenshots;
                t.peak_active_users = t.peak_active_users.max(row.active_users);
                // Rows come by date: the last one holds the latest storage.
                t.storage_bytes = row.storage_bytes;
            }
        }
        let mut companies_by_usage: Vec<_> = by_company.into_values().collect();
        companies_by_usage.sort_by(|a, b| {
            b.active_seconds
                .cmp(&a.active_seconds)
                .then(a.name.cmp(&b.name))
        });
        let mut plan_distribution = BTreeMap::new();
        let mut status_counts = BTreeMap::new();
        let mut mrr_cents = 0;
        for c in &companies {
            let plan = plans.get(&c.plan_id);
            *plan_distribution
                .entry(plan.map(|p| p.code.clone()).unwrap_or_default())
                .or_insert(0) += 1;
            let status = c.effective_status(now);
            *status_counts.entry(status.as_str().to_owned()).or_insert(0) += 1;
            if status == CompanyStatus::Active {
                // What the company pays now: the amount of its latest
                // billing row (a plan change may agree another price than
                // the list price), or the plan's price without one.
                let subscriptions = self.store.tenants().list_subscriptions(c.id).await?;
                mrr_cents += match subscriptions.iter().max_by_key(|s| s.starts_at) {
                    Some(current) => current.amount_cents,
                    None => plan.map_or(0, |p| p.price_monthly_cents),
                };
            }
        }
        Ok(OwnerReport {
            from,
            to,
            companies_by_usage,
            plan_distribution,
            mrr_cents,
            status_counts,
        })
    }

    pub(super) async fn day_data(
        &self,
        company: &Company,
        user: UserId,
        date: NaiveDate,
    ) -> Result<(Vec<ActivityEvent>, Vec<CorrectionRequest>, u64)> {
        let window = day_bounds(company.tz(), date);
        let users = Some(BTreeSet::from([user]));
        let events = self
            .store
            .tracking()
            .activity_between(company.id, users.as_ref(), window.0, window.1)
            .await?;
        let corrections = self
            .store
            .corrections()
            .approved_corrections(company.id, users.as_ref(), window.0, window.1)
            .await?;
        let shots = self.screenshot_count(company.id, user, window).await?;
        Ok((events, corrections, shots))
    }

    pub(super) async fn grid(
        &self,
        company: &Company,
        users: &[User],
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<report::DayCell>> {
        let tz = company.tz();
        let (start, _) = day_bounds(tz, from);
        let (_, end) = day_bounds(tz, to);
        let ids: Option<BTreeSet<UserId>> = Some(users.iter().map(|u| u.id).collect());
        let order: Vec<UserId> = users.iter().map(|u| u.id).collect();
        let corrections = self
            .store
            .corrections()
            .approved_corrections(company.id, ids.as_ref(), start, end)
            .await?;
        let Some(rollups) = self
            .store
            .tracking()
            .day_rollups(company.id, ids.as_ref(), from, to)
            .await?
        else {
            let events = self
                .store
                .tracking()
                .activity_between(company.id, ids.as_ref(), start, end)
                .await?;
            return Ok(report::day_grid(
                tz,
                from,
                to,
                &order,
                &events,
                &corrections,
            ));
        };
        // Rollups answer most days; a day with overlapping events or an
        // approved correction is computed from its events.
        let mut recompute: BTreeSet<(UserId, NaiveDate)> = rollups
            .iter()
            .filter(|r| !r.exact)
            .map(|r| (r.user_id, r.date))
            .collect();
        for c in &corrections {
            for d in report::span_dates(tz, c.starts_at, c.ends_at) {
                recompute.insert((c.user_id, d));
            }
        }
        let mut cells: BTreeMap<(UserId, NaiveDate), report::Totals> = rollups
            .into_iter()
            .map(|r| {
                let totals = report::Totals {
                    active_seconds: r.active_seconds,
                    idle_seconds: r.idle_seconds,
                    corrected_seconds: 0,
                    first_seen: r.first_seen,
                    last_seen: r.last_seen,
                };
                ((r.user_id, r.date), totals)
            })
            .collect();
        for &(user, date) in &recompute {
            if date < from || date > to {
                continue;
            }
            let window = day_bounds(tz, date);
            let one = Some(BTreeSet::from([user]));
            let events = self
                .store
                .tracking()
                .activity_between(company.id, one.as_ref(), window.0, window.1)
                .await?;
            let mine: Vec<CorrectionRequest> = corrections
                .iter()
                .filter(|c| c.user_id == user)
                .cloned()
                .collect();
            let cell = report::day_grid(tz, date, date, &[user], &events, &mine);
            if let Some(c) = cell.into_iter().next() {
                cells.insert((user, date), c.totals);
            }
        }
        let mut out = Vec::with_capacity(order.len() * 31);
        for &user_id in &order {
            for date in report::dates(from, to) {
                out.push(report::DayCell {
                    user_id,
                    date,
                    totals: cells.remove(&(user_id, date)).unwrap_or_default(),
                });
            }
        }
        Ok(out)
    }

    pub(super) async fn screenshot_count(
        &self,
        company: CompanyId,
        user: UserId,
        window: (DateTime<Utc>, DateTime<Utc>),
    ) -> Result<u64> {
        let filter = TrackingFilter {
            users: Some(BTreeSet::from([user])),
            from: Some(window.0),
            to: Some(window.1),
            ..TrackingFilter::default()
        };
        let mut n = 0;
        let mut page = PageRequest::first(MAX_LIMIT);
        loop {
            let p = self
                .store
                .tracking()
                .list_screenshots(company, &filter, &page)
                .await?;
            n += p.items.len() as u64;
            match p.next_cursor {
                Some(c) => page = PageRequest::after(c, MAX_LIMIT),
                None => return Ok(n),
            }
        }
    }
}
