//! Background jobs: library functions an integrator calls from its own
//! scheduler (the reference server runs them on tokio intervals). Each is
//! safe to run again at any time, and to run again after a crash; run
//! each on one node at a time (two usage runs at once may clear a mark
//! the other has not recomputed).

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::{Actor, AuditAction, AuditChain, NewAuditEvent};
use crate::error::Result;
use crate::ids::CompanyId;
use crate::paging::{MAX_LIMIT, PageRequest};
use crate::report::{day_bounds, local_date};
use crate::store::{PurgeBatch, PurgeCounts, Store, TrackingFilter};
use crate::tenancy::{Company, CompanyStatus};

use super::Tracker;

/// What a run of [`Tracker::aggregate_pending_usage`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRun {
    /// Companies with days recomputed.
    pub companies: u32,
    /// Local days recomputed.
    pub days: u32,
}

/// What a run of [`Tracker::expire_companies`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiryRun {
    /// Companies now stored as EXPIRED.
    pub expired: Vec<CompanyId>,
}

/// What a run of [`Tracker::purge_expired_data`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionRun {
    /// Companies that had data deleted.
    pub companies: u32,
    /// Rows deleted, over every company.
    pub counts: PurgeCounts,
}

/// What a run of [`Tracker::check_alerts`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRun {
    /// Alerts raised.
    pub raised: u32,
    /// Alerts resolved.
    pub resolved: u32,
    /// Webhook deliveries that succeeded (after retries).
    pub delivered: u32,
    /// Webhook deliveries that failed every try.
    pub failed: u32,
}

/// Most rows of each kind one purge step deletes, so that no step holds
/// the store's write lock for long.
pub const DEFAULT_PURGE_BATCH: u32 = 1_000;

impl<S: Store + ?Sized> Tracker<S> {
    /// Persists EXPIRED for every TRIAL past its `trial_ends_at` and every
    /// ACTIVE past its `subscription_expires_at` (the access rule already
    /// refuses them), each audited in the platform chain as a system action.
    pub async fn expire_companies(&self) -> Result<ExpiryRun> {
        let now = self.now();
        let mut run = ExpiryRun::default();
        for company in self.store.tenants().all_companies().await? {
            let stored = company.status;
            if !matches!(stored, CompanyStatus::Trial | CompanyStatus::Active)
                || company.effective_status(now) != CompanyStatus::Expired
            {
                continue;
            }
            let mut updated = company.clone();
            updated.status = CompanyStatus::Expired;
            let ended_at = match stored {
                CompanyStatus::Trial => company.trial_ends_at,
                _ => company.subscription_expires_at,
            };
            let audit = system_event(
                AuditChain::Platform,
                AuditAction::CompanyExpired,
                format!("company {:?} expired", company.name),
                serde_json::json!({
                    "company_id": company.id,
                    "previous_status": stored,
                    "ended_at": ended_at,
                }),
                now,
            );
            self.save_company(&updated, audit).await?;
            run.expired.push(company.id);
        }
        Ok(run)
    }

    /// Recomputes the usage rows of the local days that received tracking
    /// data since the last run (the store marks them at ingest), for every
    /// company. Days before a company's retention window are not
    /// recomputed: their data is purged, their aggregates are kept.
    pub async fn aggregate_pending_usage(&self) -> Result<UsageRun> {
        let now = self.now();
        let mut run = UsageRun::default();
        for company in self.store.tenants().all_companies().await? {
            let pending = self.store.usage().pending_usage_days(company.id).await?;
            if pending.is_empty() {
                continue;
            }
            let tz = company.tz();
            let first_kept = retention_start(&company, now).1;
            let mut local: BTreeSet<NaiveDate> = BTreeSet::new();
            for day in &pending {
                let start = day.date.and_time(chrono::NaiveTime::MIN).and_utc();
                let end = start + Duration::days(1) - Duration::microseconds(1);
                local.extend(crate::report::dates(
                    local_date(tz, start),
                    local_date(tz, end),
                ));
            }
            local.retain(|d| *d >= first_kept);
            for (from, to) in runs_of(&local) {
                self.aggregate_usage(company.id, from, to).await?;
            }
            self.store
                .usage()
                .clear_pending_usage(company.id, &pending)
                .await?;
            run.companies += 1;
            run.days += u32::try_from(local.len()).unwrap_or(u32::MAX);
        }
        Ok(run)
    }

    /// Deletes the tracking data older than each company's retention
    /// window (see [`purge_company`](Self::purge_company)).
    pub async fn purge_expired_data(&self, batch: u32) -> Result<RetentionRun> {
        let mut run = RetentionRun::default();
        for company in self.store.tenants().all_companies().await? {
            let counts = self.purge_company(company.id, batch).await?;
            if !counts.is_empty() {
                run.companies += 1;
                run.counts.add(&counts);
            }
        }
        Ok(run)
    }

    /// Deletes a company's events, sessions, screenshots (and their blobs)
    /// and per-user daily rows older than the start of the local day
    /// `retention_days` before today, in steps of at most `batch` rows so
    /// no step holds a long lock. Usage aggregates and the audit log are
    /// kept. The purge is recorded as it goes: after a crash the next run
    /// resumes it with the same cutoff and adds to the same counts, and the
    /// finished purge is audited once, with its counts. Returns the counts
    /// of the purge it finished (steps of a stopped run included); a run
    /// with nothing to delete writes nothing.
    pub async fn purge_company(&self, company: CompanyId, batch: u32) -> Result<PurgeCounts> {
        let batch = batch.clamp(1, 100_000);
        let Some(c) = self.store.tenants().get_company(company).await? else {
            return Err(crate::error::Error::not_found("company"));
        };
        let now = self.now();
        let retention = self.store.retention();
        let (before, before_date, started_at) = match retention.purge_progress(company).await? {
            Some(p) => (p.before, p.before_date, p.started_at),
            None => {
                let (before, before_date) = retention_start(&c, now);
                (before, before_date, now)
            }
        };
        loop {
            let old = TrackingFilter {
                to: Some(before),
                ..TrackingFilter::default()
            };
            let shots = self
                .store
                .tracking()
                .list_screenshots(company, &old, &PageRequest::first(batch.min(MAX_LIMIT)))
                .await?
                .items;
            // Blobs go first: a crash in between leaves rows whose blobs
            // are gone, which the next run deletes; never an orphan blob.
            for s in &shots {
                self.blobs.delete(&s.thumbnail_key()).await?;
                self.blobs.delete(&s.blob_key).await?;
            }
            let step = retention
                .purge_tracking(
                    company,
                    &PurgeBatch {
                        before,
                        before_date,
                        screenshots: shots.iter().map(|s| s.id).collect(),
                        limit: batch,
                        started_at,
                    },
                )
                .await?;
            if step.is_empty() {
                break;
            }
        }
        let Some(progress) = retention.purge_progress(company).await? else {
            return Ok(PurgeCounts::default());
        };
        let n = progress.counts;
        let audit = system_event(
            AuditChain::Company(company),
            AuditAction::DataPurged,
            format!(
                "retention purge: {} events, {} sessions, {} screenshots older than {}",
                n.events, n.sessions, n.screenshots, progress.before
            ),
            serde_json::json!({
                "before": progress.before,
                "before_date": progress.before_date,
                "retention_days": c.retention_days,
                "started_at": progress.started_at,
                "counts": n,
            }),
            now,
        );
        retention.finish_purge(company, audit).await?;
        Ok(n)
    }
}

/// The start of a company's retention window at `now`: the instant and the
/// local date of the start of the local day `retention_days` before today.
pub(super) fn retention_start(company: &Company, now: DateTime<Utc>) -> (DateTime<Utc>, NaiveDate) {
    let tz = company.tz();
    let today = local_date(tz, now);
    let first = today - Duration::days(i64::from(company.retention_days));
    (day_bounds(tz, first).0, first)
}

pub(super) fn system_event(
    chain: AuditChain,
    action: AuditAction,
    description: String,
    details: serde_json::Value,
    at: DateTime<Utc>,
) -> NewAuditEvent {
    NewAuditEvent {
        chain,
        actor: Actor::System,
        action,
        description,
        details,
        client_ip: None,
        at,
    }
}

/// Consecutive dates as `(first, last)` runs of at most 366 days.
fn runs_of(dates: &BTreeSet<NaiveDate>) -> Vec<(NaiveDate, NaiveDate)> {
    let mut runs: Vec<(NaiveDate, NaiveDate)> = Vec::new();
    for &d in dates {
        match runs.last_mut() {
            Some((first, last)) if last.succ_opt() == Some(d) && (d - *first).num_days() < 366 => {
                *last = d
            }
            _ => runs.push((d, d)),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_group_into_runs() {
        let d = |n: u32| NaiveDate::from_ymd_opt(2026, 3, n).unwrap();
        let set: BTreeSet<_> = [d(1), d(2), d(3), d(5), d(7), d(8)].into();
        assert_eq!(runs_of(&set), [(d(1), d(3)), (d(5), d(5)), (d(7), d(8))]);
        assert!(runs_of(&BTreeSet::new()).is_empty());
    }
}
