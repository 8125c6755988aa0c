//! Tasks, corrections and alerts.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{MemoryStore, in_company, page_id};
use crate::audit::NewAuditEvent;
use crate::error::{Error, Result};
use crate::notify::{Alert, AlertFilter, AlertSettings, DeliveryRecord};
use crate::paging::{Page, PageRequest};
use crate::store::*;
use crate::work::{CorrectionRequest, CorrectionStatus, Task, TaskStatus};

#[async_trait]
impl TaskStore for MemoryStore {
    async fn save_task(&self, task: &Task, audit: NewAuditEvent) -> Result<()> {
        let mut s = self.lock();
        let key = (task.company_id, task.id);
        if s.tasks
            .get(&key)
            .is_some_and(|t| t.status == TaskStatus::Done)
        {
            return Err(Error::invalid_state("the task is already done"));
        }
        s.tasks.insert(key, task.clone());
        s.append(audit);
        Ok(())
    }

    async fn list_tasks(
        &self,
        company: CompanyId,
        filter: &TaskFilter,
        page: &PageRequest,
    ) -> Result<Page<Task>> {
        let s = self.lock();
        let items = in_company(&s.tasks, company)
            .filter(|t| filter.matches(t))
            .collect();
        page_id(items, page, |t| t.id.0)
    }
}

#[async_trait]
impl CorrectionStore for MemoryStore {
    async fn save_correction(
        &self,
        correction: &CorrectionRequest,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let mut s = self.lock();
        let key = (correction.company_id, correction.id);
        match s.corrections.get(&key) {
            None if correction.status != CorrectionStatus::Pending => {
                return Err(Error::not_found("correction"));
            }
            Some(c) if c.status != CorrectionStatus::Pending => {
                return Err(Error::invalid_state(format!(
                    "the correction is already {}",
                    c.status.as_str()
                )));
            }
            _ => {}
        }
        s.corrections.insert(key, correction.clone());
        if correction.status == CorrectionStatus::Approved {
            s.mark(
                correction.company_id,
                utc_dates(correction.starts_at, correction.ends_at),
            );
        }
        s.append(audit);
        Ok(())
    }

    async fn list_corrections(
        &self,
        company: CompanyId,
        filter: &CorrectionFilter,
        page: &PageRequest,
    ) -> Result<Page<CorrectionRequest>> {
        let s = self.lock();
        let items = in_company(&s.corrections, company)
            .filter(|c| filter.matches(c))
            .collect();
        page_id(items, page, |c| c.id.0)
    }
}

#[async_trait]
impl AlertStore for MemoryStore {
    async fn open_alert(&self, alert: &Alert) -> Result<Ingested<Alert>> {
        let mut s = self.lock();
        if let Some(open) = in_company(&s.alerts, alert.company_id)
            .find(|a| a.is_open() && a.kind == alert.kind && a.user_id == alert.user_id)
        {
            return Ok(Ingested {
                stored: open.clone(),
                inserted: false,
            });
        }
        s.alerts.insert((alert.company_id, alert.id), alert.clone());
        Ok(Ingested {
            stored: alert.clone(),
            inserted: true,
        })
    }

    async fn list_alerts(
        &self,
        company: Option<CompanyId>,
        filter: &AlertFilter,
        page: &PageRequest,
    ) -> Result<Page<Alert>> {
        page.after_id()?; // a cursor must be an alert id
        let s = self.lock();
        let items: Vec<Alert> = s
            .alerts
            .values()
            .filter(|a| company.is_none_or(|c| a.company_id == c) && filter.matches(a))
            .cloned()
            .collect();
        Page::of_all(items, page, |a| a.id.to_string())
    }

    async fn resolve_alert(
        &self,
        company: CompanyId,
        id: AlertId,
        at: DateTime<Utc>,
    ) -> Result<Option<Alert>> {
        let mut s = self.lock();
        match s.alerts.get_mut(&(company, id)) {
            Some(a) if a.is_open() => {
                a.resolved_at = Some(at);
                Ok(Some(a.clone()))
            }
            _ => Ok(None),
        }
    }

    async fn get_alert_settings(&self, company: CompanyId) -> Result<Option<AlertSettings>> {
        Ok(self.lock().alert_settings.get(&company).cloned())
    }

    async fn put_alert_settings(
        &self,
        settings: &AlertSettings,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let mut s = self.lock();
        if !s.companies.contains_key(&settings.company_id) {
            return Err(Error::not_found("company"));
        }
        s.alert_settings
            .insert(settings.company_id, settings.clone());
        s.append(audit);
        Ok(())
    }

    async fn insert_deliveries(&self, records: &[DeliveryRecord]) -> Result<()> {
        let mut s = self.lock();
        for r in records {
            s.deliveries
                .entry((r.company_id, r.id))
                .or_insert_with(|| r.clone());
        }
        Ok(())
    }

    async fn list_deliveries(
        &self,
        company: CompanyId,
        alert: AlertId,
    ) -> Result<Vec<DeliveryRecord>> {
        Ok(in_company(&self.lock().deliveries, company)
            .filter(|d| d.alert_id == alert)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl AccessLogStore for MemoryStore {
    async fn record_access(&self, company: CompanyId, records: &[AccessRecord]) -> Result<()> {
        let mut s = self.lock();
        for r in records.iter().filter(|r| r.company_id == company) {
            let merged = match s.access.get(&(company, r.id)) {
                Some(stored) => stored.merged(r),
                None => r.clone(),
            };
            s.access.insert((company, r.id), merged);
        }
        Ok(())
    }

    async fn list_access(
        &self,
        company: CompanyId,
        filter: &AccessFilter,
        page: &PageRequest,
    ) -> Result<Page<AccessRecord>> {
        let s = self.lock();
        let items = in_company(&s.access, company)
            .filter(|r| filter.matches(r))
            .collect();
        super::page_time_id(items, page, |r| (r.first_at, r.id))
    }
}
