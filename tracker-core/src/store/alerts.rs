//! Alerts, their settings and webhook deliveries.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Ingested, collect_pages};
use crate::audit::NewAuditEvent;
use crate::error::Result;
use crate::ids::{AlertId, CompanyId};
use crate::notify::{Alert, AlertFilter, AlertKind, AlertSettings, DeliveryRecord};
use crate::paging::{Page, PageRequest};

/// Alerts, their settings and webhook deliveries.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait AlertStore: Send + Sync + 'static {
    /// Stores `alert` unless an open alert of the same company, kind and
    /// subject (`user_id`) exists; returns the open one. Two concurrent
    /// calls MUST NOT leave two open alerts.
    async fn open_alert(&self, alert: &Alert) -> Result<Ingested<Alert>>;
    /// Alerts of a company (of every company with `None`, for the jobs)
    /// passing `filter`, ordered by id, newest last.
    async fn list_alerts(
        &self,
        company: Option<CompanyId>,
        filter: &AlertFilter,
        page: &PageRequest,
    ) -> Result<Page<Alert>>;
    /// Sets `resolved_at` of an open alert and returns it; `None` if it is
    /// not open (or not of the company).
    async fn resolve_alert(
        &self,
        company: CompanyId,
        id: AlertId,
        at: DateTime<Utc>,
    ) -> Result<Option<Alert>>;
    /// The company's alert settings, if ever saved.
    async fn get_alert_settings(&self, company: CompanyId) -> Result<Option<AlertSettings>>;
    /// Saves the settings of `settings.company_id` with their audit event.
    /// MUST fail with `NotFound` for an unknown company. Webhook secrets
    /// are kept as given: the notifier needs them to sign, so they cannot
    /// be hashed; they never leave through [`AlertSettings::view`].
    async fn put_alert_settings(
        &self,
        settings: &AlertSettings,
        audit: NewAuditEvent,
    ) -> Result<()>;
    /// Stores delivery attempts; a record whose id is already stored is
    /// ignored, so a retried write changes nothing.
    async fn insert_deliveries(&self, records: &[DeliveryRecord]) -> Result<()>;
    /// Delivery attempts of an alert, ordered by id.
    async fn list_deliveries(
        &self,
        company: CompanyId,
        alert: AlertId,
    ) -> Result<Vec<DeliveryRecord>>;

    /// An alert of a company. Provided over [`list_alerts`](Self::list_alerts).
    async fn get_alert(&self, company: CompanyId, id: AlertId) -> Result<Option<Alert>> {
        let filter = AlertFilter {
            id: Some(id),
            ..AlertFilter::default()
        };
        let page = self
            .list_alerts(Some(company), &filter, &PageRequest::first(1))
            .await?;
        Ok(page.items.into_iter().next())
    }
    /// Open alerts of a kind, of one company or of all with `None`,
    /// ordered by (company, id). Provided over
    /// [`list_alerts`](Self::list_alerts).
    async fn open_alerts(&self, company: Option<CompanyId>, kind: AlertKind) -> Result<Vec<Alert>> {
        let filter = &AlertFilter {
            open: Some(true),
            kind: Some(kind),
            ..AlertFilter::default()
        };
        let mut open =
            collect_pages(|page| async move { self.list_alerts(company, filter, &page).await })
                .await?;
        open.sort_by_key(|a| (a.company_id, a.id));
        Ok(open)
    }
}
