//! Tracking ingest and reads, the retention purge, usage marks and rows.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use super::{MemoryStore, in_company, page_time_id};
use crate::audit::NewAuditEvent;
use crate::error::{Error, Result};
use crate::paging::{Page, PageRequest};
use crate::store::*;
use crate::tracking::{ActivityEvent, Screenshot, WorkSession};
use crate::work::CompanyUsageDaily;

#[async_trait]
impl TrackingStore for MemoryStore {
    async fn insert_session(&self, session: &WorkSession) -> Result<Ingested<WorkSession>> {
        let mut s = self.lock();
        let key = (session.company_id, session.id);
        if let Some(existing) = s.sessions.get(&key) {
            return Ok(Ingested {
                stored: existing.clone(),
                inserted: false,
            });
        }
        s.sessions.insert(key, session.clone());
        Ok(Ingested {
            stored: session.clone(),
            inserted: true,
        })
    }

    async fn stop_session(
        &self,
        company: CompanyId,
        id: WorkSessionId,
        stopped_at: DateTime<Utc>,
    ) -> Result<WorkSession> {
        let mut s = self.lock();
        let session = s
            .sessions
            .get_mut(&(company, id))
            .ok_or(Error::not_found("work session"))?;
        if session.stopped_at.is_none() {
            session.stopped_at = Some(stopped_at);
        }
        Ok(session.clone())
    }

    async fn list_sessions(
        &self,
        company: CompanyId,
        filter: &TrackingFilter,
        page: &PageRequest,
    ) -> Result<Page<WorkSession>> {
        let s = self.lock();
        let items = in_company(&s.sessions, company)
            .filter(|x| filter.matches(x.user_id, x.id.0, x.started_at))
            .collect();
        page_time_id(items, page, |x| (x.started_at, x.id.0))
    }

    async fn insert_activity(&self, batch: &EventBatch) -> Result<IngestCount> {
        let company = batch.company();
        let mut s = self.lock();
        let mut count = IngestCount::default();
        for e in batch.events() {
            match s.activity.entry((company, (e.user_id, e.id))) {
                std::collections::btree_map::Entry::Occupied(_) => count.duplicates += 1,
                std::collections::btree_map::Entry::Vacant(slot) => {
                    slot.insert(e.clone());
                    count.inserted += 1;
                    s.mark(company, event_dates([e]));
                }
            }
        }
        Ok(count)
    }

    async fn list_activity(
        &self,
        company: CompanyId,
        filter: &TrackingFilter,
        page: &PageRequest,
    ) -> Result<Page<ActivityEvent>> {
        let s = self.lock();
        let items = in_company(&s.activity, company)
            .filter(|x| filter.matches(x.user_id, x.id.0, x.started_at))
            .collect();
        page_time_id(items, page, |x| (x.started_at, x.id.0))
    }

    async fn insert_screenshot(
        &self,
        shot: &Screenshot,
        storage_limit: u64,
    ) -> Result<Ingested<Screenshot>> {
        let mut s = self.lock();
        let key = (shot.company_id, shot.id);
        if let Some(existing) = s.screenshots.get(&key) {
            return Ok(Ingested {
                stored: existing.clone(),
                inserted: false,
            });
        }
        if s.storage(shot.company_id).saturating_add(shot.size_bytes) > storage_limit {
            return Err(Error::StorageLimitReached {
                limit_bytes: storage_limit,
            });
        }
        s.screenshots.insert(key, shot.clone());
        s.mark(shot.company_id, [shot.taken_at.date_naive()]);
        Ok(Ingested {
            stored: shot.clone(),
            inserted: true,
        })
    }

    async fn list_screenshots(
        &self,
        company: CompanyId,
        filter: &TrackingFilter,
        page: &PageRequest,
    ) -> Result<Page<Screenshot>> {
        let s = self.lock();
        let items = in_company(&s.screenshots, company)
            .filter(|x| filter.matches(x.user_id, x.id.0, x.taken_at))
            .collect();
        page_time_id(items, page, |x| (x.taken_at, x.id.0))
    }
}

#[async_trait]
impl RetentionStore for MemoryStore {
    async fn purge_tracking(&self, company: CompanyId, batch: &PurgeBatch) -> Result<PurgeCounts> {
        let mut s = self.lock();
        let mut counts = PurgeCounts::default();
        for id in &batch.screenshots {
            if let Some(shot) = s.screenshots.get(&(company, *id))
                && shot.taken_at < batch.screenshots_before.unwrap_or(batch.before)
                && batch.covers(shot.user_id)
            {
                counts.screenshots += 1;
                counts.screenshot_bytes += shot.size_bytes;
                s.screenshots.remove(&(company, *id));
            }
        }
        let mut events: Vec<_> = in_company(&s.activity, company)
            .filter(|e| e.ended_at() <= batch.before && batch.covers(e.user_id))
            .map(|e| (e.started_at, e.user_id, e.id))
            .collect();
        events.sort();
        events.truncate(batch.limit as usize);
        for (_, user, id) in &events {
            s.activity.remove(&(company, (*user, *id)));
        }
        counts.events = events.len() as u64;
        let mut sessions: Vec<_> = in_company(&s.sessions, company)
            .filter(|x| {
                let cut = batch.sessions_before.unwrap_or(batch.before);
                x.started_at < cut
                    && x.stopped_at.is_none_or(|t| t <= cut)
                    && batch.covers(x.user_id)
            })
            .map(|x| (x.started_at, x.id))
            .collect();
        sessions.sort();
        sessions.truncate(batch.limit as usize);
        for (_, id) in &sessions {
            s.sessions.remove(&(company, *id));
        }
        counts.sessions = sessions.len() as u64;
        if let Some(cut) = batch.details_before {
            let mut detailed: Vec<_> = in_company(&s.activity, company)
                .filter(|e| {
                    e.started_at < cut
                        && (e.url.is_some() || e.window_title.is_some())
                        && batch.covers(e.user_id)
                })
                .map(|e| (e.started_at, e.user_id, e.id))
                .collect();
            detailed.sort();
            detailed.truncate(batch.limit as usize);
            for (_, user, id) in &detailed {
                if let Some(e) = s.activity.get_mut(&(company, (*user, *id))) {
                    e.url = None;
                    e.window_title = None;
                }
            }
            counts.details = detailed.len() as u64;
        }
        let old_reads: Vec<_> = in_company(&s.access, company)
            .filter(|r| r.day < batch.before_date && batch.covers(r.subject_id))
            .map(|r| r.id)
            .collect();
        for id in &old_reads {
            s.access.remove(&(company, *id));
        }
        counts.access_records = old_reads.len() as u64;
        if let (Some(user), true) = (batch.user, batch.personal) {
            let theirs: Vec<_> = in_company(&s.corrections, company)
                .filter(|c| c.user_id == user)
                .map(|c| c.id)
                .collect();
            for id in &theirs {
                s.corrections.remove(&(company, *id));
            }
            counts.corrections = theirs.len() as u64;
            for ((c, _), task) in s.tasks.iter_mut() {
                if *c == company && task.assignee_id == user && task.completion_note.is_some() {
                    task.completion_note = None;
                    counts.task_notes += 1;
                }
            }
        }
        if counts.is_empty() || batch.user.is_some() {
            return Ok(counts);
        }
        s.purges
            .entry(company)
            .or_insert_with(|| PurgeProgress {
                company_id: company,
                before: batch.before,
                before_date: batch.before_date,
                started_at: batch.started_at,
                counts: PurgeCounts::default(),
            })
            .counts
            .add(&counts);
        Ok(counts)
    }

    async fn purge_progress(&self, company: CompanyId) -> Result<Option<PurgeProgress>> {
        Ok(self.lock().purges.get(&company).cloned())
    }

    async fn finish_purge(&self, company: CompanyId, audit: NewAuditEvent) -> Result<()> {
        let mut s = self.lock();
        s.append(audit);
        s.purges.remove(&company);
        Ok(())
    }
}

#[async_trait]
impl UsageStore for MemoryStore {
    async fn upsert_usage(&self, rows: &[CompanyUsageDaily]) -> Result<()> {
        let mut s = self.lock();
        for r in rows {
            s.usage.insert((r.company_id, r.date), r.clone());
        }
        Ok(())
    }

    async fn list_usage(
        &self,
        company: Option<CompanyId>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<CompanyUsageDaily>> {
        Ok(self
            .lock()
            .usage
            .values()
            .filter(|r| company.is_none_or(|c| r.company_id == c))
            .filter(|r| r.date >= from && r.date <= to)
            .cloned()
            .collect())
    }

    async fn pending_usage_days(&self, company: CompanyId) -> Result<Vec<PendingUsageDay>> {
        Ok(self
            .lock()
            .usage_pending
            .range((company, NaiveDate::MIN)..=(company, NaiveDate::MAX))
            .map(|((_, date), version)| PendingUsageDay {
                date: *date,
                version: *version,
            })
            .collect())
    }

    async fn clear_pending_usage(
        &self,
        company: CompanyId,
        days: &[PendingUsageDay],
    ) -> Result<()> {
        let mut s = self.lock();
        for d in days {
            if s.usage_pending.get(&(company, d.date)) == Some(&d.version) {
                s.usage_pending.remove(&(company, d.date));
            }
        }
        Ok(())
    }
}
