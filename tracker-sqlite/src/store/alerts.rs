//! [`AlertStore`]: alerts (one open per subject), their settings and
//! webhook deliveries.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::params;
use tracker_core::audit::NewAuditEvent;
use tracker_core::error::{Error, Result};
use tracker_core::notify::{AlertFilter, DeliveryRecord};
use tracker_core::paging::{Page, PageRequest};
use tracker_core::store::{AlertStore, Ingested};
use tracker_core::{Alert, AlertId, AlertKind, AlertSettings, CompanyId};

use crate::SqliteStore;
use crate::codec::{self, ts, ts_opt};
use crate::rows::append;
use crate::sql::{Query, all, count, exec, one};

/// Stores an alert unless its id or an open alert of its subject exists.
const ALERT_INSERT: &str = "INSERT INTO alerts (company_id, id, kind, subject, user_id, message, details, raised_at, resolved_at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
     ON CONFLICT DO NOTHING";

#[async_trait]
impl AlertStore for SqliteStore {
    async fn open_alert(&self, alert: &Alert) -> Result<Ingested<Alert>> {
        let a = alert.clone();
        self.engine
            .write(move |c| {
                let subject = tracker_core::rows::alert_subject(a.user_id);
                // The partial unique index refuses a second open alert of the
                // subject; the one that is open is then returned.
                let n = exec(
                    c,
                    ALERT_INSERT,
                    params![
                        a.company_id.0,
                        a.id.0,
                        a.kind.as_str(),
                        subject,
                        a.user_id.map(|u| u.0),
                        a.message,
                        a.details.to_string(),
                        ts(a.raised_at),
                        ts_opt(a.resolved_at)
                    ],
                )?;
                let stored = if n == 1 {
                    one(
                        c,
                        "SELECT * FROM alerts WHERE company_id = ?1 AND id = ?2",
                        params![a.company_id.0, a.id.0],
                        codec::alert,
                    )?
                } else {
                    one(
                        c,
                        "SELECT * FROM alerts WHERE company_id = ?1 AND kind = ?2 AND subject = ?3
                           AND resolved_at IS NULL",
                        params![a.company_id.0, a.kind.as_str(), subject],
                        codec::alert,
                    )?
                };
                match stored {
                    Some(stored) => Ok(Ingested {
                        stored,
                        inserted: n == 1,
                    }),
                    // Nothing open, so the id itself was taken (by a resolved alert).
                    None => Err(Error::AlreadyExists {
                        entity: "alert",
                        value: a.id.to_string(),
                    }),
                }
            })
            .await
    }

    async fn resolve_alert(
        &self,
        company: CompanyId,
        id: AlertId,
        at: DateTime<Utc>,
    ) -> Result<Option<Alert>> {
        self.engine
            .write(move |c| {
                let n = exec(
                    c,
                    "UPDATE alerts SET resolved_at = ?3 WHERE company_id = ?1 AND id = ?2 AND resolved_at IS NULL",
                    params![company.0, id.0, ts(at)],
                )?;
                if n == 0 {
                    return Ok(None);
                }
                one(
                    c,
                    "SELECT * FROM alerts WHERE company_id = ?1 AND id = ?2",
                    params![company.0, id.0],
                    codec::alert,
                )
            })
            .await
    }

    async fn list_alerts(
        &self,
        company: Option<CompanyId>,
        filter: &AlertFilter,
        page: &PageRequest,
    ) -> Result<Page<Alert>> {
        let (filter, page) = (*filter, page.clone());
        self.engine
            .read(move |c| {
                let q = match company {
                    Some(id) => Query::new("SELECT * FROM alerts", id),
                    None => Query::unscoped("SELECT * FROM alerts"),
                };
                let q = q
                    .and_opt("id = ?", filter.id.map(|id| id.0))
                    .and_opt("kind = ?", filter.kind.map(|k| k.as_str()));
                let q = match filter.open {
                    Some(true) => q.and_all("resolved_at IS NULL", Vec::new()),
                    Some(false) => q.and_all("resolved_at IS NOT NULL", Vec::new()),
                    None => q,
                };
                let (q, limit) = q.page_id(&page)?;
                Ok(Page::from_overfetch(q.run(c, codec::alert)?, limit, |a| {
                    a.id.to_string()
                }))
            })
            .await
    }

    async fn get_alert_settings(&self, company: CompanyId) -> Result<Option<AlertSettings>> {
        self.engine
            .read(move |c| {
                one(
                    c,
                    "SELECT * FROM alert_settings WHERE company_id = ?1",
                    params![company.0],
                    codec::alert_settings,
                )
            })
            .await
    }

    async fn put_alert_settings(
        &self,
        settings: &AlertSettings,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let s = settings.clone();
        self.engine
            .write(move |c| {
                if count(
                    c,
                    "SELECT count(*) FROM companies WHERE id = ?1",
                    params![s.company_id.0],
                )? == 0
                {
                    return Err(Error::not_found("company"));
                }
                let json = serde_json::to_string(&s)
                    .map_err(|e| codec::corrupt("settings", e.to_string()))?;
                exec(
                    c,
                    "INSERT INTO alert_settings (company_id, settings, updated_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (company_id) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at",
                    params![s.company_id.0, json, ts(s.updated_at)],
                )?;
                append(c, audit).map(drop)
            })
            .await
    }

    async fn insert_deliveries(&self, records: &[DeliveryRecord]) -> Result<()> {
        let records = records.to_vec();
        self.engine
            .write(move |c| {
                for r in &records {
                    // An attempt is a fact: a replayed id keeps the first record.
                    exec(
                        c,
                        "INSERT INTO alert_deliveries (company_id, id, alert_id, event, url, attempt, at, status, error, delivered)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                         ON CONFLICT (company_id, id) DO NOTHING",
                        params![
                            r.company_id.0,
                            r.id.0,
                            r.alert_id.0,
                            r.event.as_str(),
                            r.url,
                            r.attempt,
                            ts(r.at),
                            r.status,
                            r.error,
                            r.delivered
                        ],
                    )?;
                }
                Ok(())
            })
            .await
    }

    async fn list_deliveries(
        &self,
        company: CompanyId,
        alert: AlertId,
    ) -> Result<Vec<DeliveryRecord>> {
        self.engine
            .read(move |c| {
                // INDEXED BY: without ANALYZE statistics SQLite would scan the
                // company's every delivery by primary key.
                all(
                    c,
                    "SELECT * FROM alert_deliveries INDEXED BY alert_deliveries_by_alert
                     WHERE company_id = ?1 AND alert_id = ?2 ORDER BY id",
                    params![company.0, alert.0],
                    codec::delivery,
                )
            })
            .await
    }

    // Provided methods, overridden with one key lookup and a scan of the
    // open alerts' partial index.

    async fn get_alert(&self, company: CompanyId, id: AlertId) -> Result<Option<Alert>> {
        self.by_key("alerts", company, id.0, codec::alert).await
    }

    async fn open_alerts(&self, company: Option<CompanyId>, kind: AlertKind) -> Result<Vec<Alert>> {
        self.engine
            .read(move |c| match company {
                // INDEXED BY: without ANALYZE statistics SQLite prefers the
                // primary key's company range, resolved alerts included.
                Some(id) => all(
                    c,
                    "SELECT * FROM alerts INDEXED BY alerts_open
                     WHERE company_id = ?1 AND kind = ?2 AND resolved_at IS NULL ORDER BY id",
                    params![id.0, kind.as_str()],
                    codec::alert,
                ),
                // The jobs' cross-company view scans the partial index, which
                // holds the open alerts only, instead of every alert ever raised.
                None => all(
                    c,
                    "SELECT * FROM alerts INDEXED BY alerts_open
                     WHERE kind = ?1 AND resolved_at IS NULL ORDER BY company_id, id",
                    params![kind.as_str()],
                    codec::alert,
                ),
            })
            .await
    }
}
