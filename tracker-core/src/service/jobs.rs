//! Background jobs: library functions an integrator calls from its own
//! scheduler (the reference server runs them on tokio intervals). Each is
//! safe to run again at any time, and to run again after a crash. Each
//! takes the [lease](crate::lease) of a company's share before working on
//! it, so runners on one node, or on many with cluster-wide leases, never
//! work on the same company's share at once: a company whose lease another
//! runner holds is skipped and counted.

use std::collections::BTreeSet;
use std::future::Future;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::{Actor, AuditAction, AuditChain, NewAuditEvent};
use crate::error::Result;
use crate::ids::CompanyId;
use crate::lease::LeaseKey;
use crate::paging::{MAX_LIMIT, PageRequest};
use crate::policy::RetentionByKind;
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
    /// Companies skipped because another runner held their share.
    pub skipped: u32,
}

/// What a run of [`Tracker::expire_companies`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiryRun {
    /// Companies now stored as EXPIRED.
    pub expired: Vec<CompanyId>,
    /// Companies skipped because another runner held their share.
    pub skipped: u32,
}

/// What a run of [`Tracker::purge_expired_data`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionRun {
    /// Companies that had data deleted.
    pub companies: u32,
    /// Rows deleted, over every company.
    pub counts: PurgeCounts,
    /// Companies skipped because another runner held their share.
    pub skipped: u32,
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
    /// Companies skipped because another runner held their share.
    pub skipped: u32,
}

impl AlertRun {
    pub(super) fn add(&mut self, other: &AlertRun) {
        self.raised += other.raised;
        self.resolved += other.resolved;
        self.delivered += other.delivered;
        self.failed += other.failed;
        self.skipped += other.skipped;
    }
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
            if !expires(&company, now) {
                continue;
            }
            // Read again under the lease: another runner may have expired
            // it since the list was read.
            let expired = self.leased("expiry", company.id, async {
                match self.store.tenants().get_company(company.id).await? {
                    Some(c) if expires(&c, now) => self.expire(c, now).await.map(Some),
                    _ => Ok(None),
                }
            });
            match expired.await? {
                Some(Some(id)) => run.expired.push(id),
                Some(None) => {}
                None => run.skipped += 1,
            }
        }
        Ok(run)
    }

    async fn expire(&self, company: Company, now: DateTime<Utc>) -> Result<CompanyId> {
        let stored = company.status;
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
        Ok(company.id)
    }

    /// Runs `work` under the lease of `job` for `company`; `None` when
    /// another runner holds it.
    pub(super) async fn leased<T>(
        &self,
        job: &'static str,
        company: CompanyId,
        work: impl Future<Output = Result<T>>,
    ) -> Result<Option<T>> {
        let key = LeaseKey { job, company };
        let Some(lease) = self.leases.try_lease(&key).await? else {
            return Ok(None);
        };
        let done = work.await;
        lease.release().await;
        done.map(Some)
    }

    /// Recomputes the usage rows of the local days that received tracking
    /// data since the last run (the store marks them at ingest), for every
    /// company. Days before a company's retention window are not
    /// recomputed: their data is purged, their aggregates are kept.
    pub async fn aggregate_pending_usage(&self) -> Result<UsageRun> {
        let now = self.now();
        let mut run = UsageRun::default();
        for company in self.store.tenants().all_companies().await? {
            let usage = self.store.usage();
            if usage.pending_usage_days(company.id).await?.is_empty() {
                continue;
            }
            match self
                .leased("usage", company.id, self.aggregate_company(&company, now))
                .await?
            {
                Some(None) => {}
                Some(Some(days)) => {
                    run.companies += 1;
                    run.days += days;
                }
                None => run.skipped += 1,
            }
        }
        Ok(run)
    }

    /// Recomputes one company's marked days: how many local days, `None`
    /// when none was marked.
    async fn aggregate_company(
        &self,
        company: &Company,
        now: DateTime<Utc>,
    ) -> Result<Option<u32>> {
        // Read under the lease: a runner that held it before may have
        // cleared some of the marks.
        let pending = self.store.usage().pending_usage_days(company.id).await?;
        if pending.is_empty() {
            return Ok(None);
        }
        let tz = company.tz();
        let first_kept = retention_start(company, now, company.retention_days).1;
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
        Ok(Some(u32::try_from(local.len()).unwrap_or(u32::MAX)))
    }

    /// Deletes the tracking data older than each company's retention
    /// window (see [`purge_company`](Self::purge_company)).
    pub async fn purge_expired_data(&self, batch: u32) -> Result<RetentionRun> {
        let mut run = RetentionRun::default();
        for company in self.store.tenants().all_companies().await? {
            let purge = self.purge_leased(company.id, batch).await?;
            match purge {
                Some(counts) if !counts.is_empty() => {
                    run.companies += 1;
                    run.counts.add(&counts);
                }
                Some(_) => {}
                None => run.skipped += 1,
            }
        }
        Ok(run)
    }

    async fn purge_leased(&self, company: CompanyId, batch: u32) -> Result<Option<PurgeCounts>> {
        self.leased("retention", company, self.purge_unleased(company, batch))
            .await
    }

    /// Deletes a company's events, sessions, screenshots (and their blobs)
    /// and per-user daily rows older than the start of the local day
    /// `retention_days` before today, in steps of at most `batch` rows so
    /// no step holds a long lock. Usage aggregates and the audit log are
    /// kept. The purge is recorded as it goes: after a crash the next run
    /// resumes it with the same cutoff and adds to the same counts, and the
    /// finished purge is audited once, with its counts. Returns the counts
    /// of the purge it finished (steps of a stopped run included); a run
    /// with nothing to delete writes nothing. Each kind of data goes at
    /// the age the policy's retention by kind sets; a company under a
    /// legal hold is skipped whole, and people under one keep their rows. Refused with
    /// [`Error::InvalidState`](crate::Error::InvalidState) while another
    /// runner purges the company.
    pub async fn purge_company(&self, company: CompanyId, batch: u32) -> Result<PurgeCounts> {
        self.purge_leased(company, batch).await?.ok_or_else(|| {
            crate::error::Error::invalid_state("another runner is purging this company")
        })
    }

    async fn purge_unleased(&self, company: CompanyId, batch: u32) -> Result<PurgeCounts> {
        let batch = batch.clamp(1, 100_000);
        let Some(c) = self.store.tenants().get_company(company).await? else {
            return Err(crate::error::Error::not_found("company"));
        };
        let now = self.now();
        let retention = self.store.retention();
        // A company under a legal hold keeps everything until it is released.
        if c.legal_hold.is_some() {
            return Ok(PurgeCounts::default());
        }
        // People under a legal hold keep everything until it is released:
        // their screenshots are not even listed.
        let (keep, others) = self.held_users(company).await?;
        // Each kind at its own age (never past the company's retention),
        // reckoned from the purge's start so a resumed purge cuts the same.
        let kinds = self.load_policy(company).await?.retention;
        let progress = retention.purge_progress(company).await?;
        let started_at = progress.as_ref().map_or(now, |p| p.started_at);
        let cut = |kind: Option<u32>| {
            retention_start(
                &c,
                started_at,
                RetentionByKind::days(kind, c.retention_days),
            )
        };
        let (before, before_date) = match &progress {
            Some(p) => (p.before, p.before_date),
            None => cut(kinds.activity_days),
        };
        let shots_before = cut(kinds.screenshots_days).0;
        let sessions_before = cut(kinds.sessions_days).0;
        let details_before = kinds.details_days.map(|d| cut(Some(d)).0);
        loop {
            let old = TrackingFilter {
                to: Some(shots_before),
                users: others.clone(),
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
                        user: None,
                        keep: keep.clone(),
                        personal: false,
                        screenshots_before: Some(shots_before),
                        sessions_before: Some(sessions_before),
                        details_before,
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
                "retention_by_kind": kinds,
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
/// Whether the company is stored as TRIAL or ACTIVE but its access rule
/// already says EXPIRED.
fn expires(company: &Company, now: DateTime<Utc>) -> bool {
    matches!(company.status, CompanyStatus::Trial | CompanyStatus::Active)
        && company.effective_status(now) == CompanyStatus::Expired
}

pub(super) fn retention_start(
    company: &Company,
    now: DateTime<Utc>,
    days: u32,
) -> (DateTime<Utc>, NaiveDate) {
    let tz = company.tz();
    let today = local_date(tz, now);
    let first = today - Duration::days(i64::from(days));
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
