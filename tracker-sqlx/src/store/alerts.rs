//! [`AlertStore`]: alerts (one open per company, kind and subject, kept by
//! a partial unique index), their settings and webhook deliveries.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tracker_core::audit::NewAuditEvent;
use tracker_core::notify::{AlertFilter, DeliveryRecord};
use tracker_core::paging::{Page, PageRequest};
use tracker_core::rows;
use tracker_core::store::{AlertStore, Ingested};
use tracker_core::{Alert, AlertId, AlertKind, AlertSettings, CompanyId, Error, Result};

use crate::PgStore;
use crate::chain::append;
use crate::codec::{self, int32};
use crate::scope::Scope;
use crate::sql::{Select, exec, one, q};

#[async_trait]
impl AlertStore for PgStore {
    async fn open_alert(&self, alert: &Alert) -> Result<Ingested<Alert>> {
        let a = alert;
        let subject = rows::alert_subject(a.user_id);
        let mut conn = self.conn(Scope::of(alert.company_id)).await?;
        // Outside a transaction each statement reads the latest commits: the
        // read after a conflict sees the open alert of a concurrent writer.
        // If that alert is resolved between the two statements, try again.
        for _ in 0..3 {
            let inserted = one(
                &mut conn,
                q("INSERT INTO alerts (company_id, id, kind, subject, user_id, message, details, raised_at, resolved_at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                   ON CONFLICT DO NOTHING RETURNING *")
                .bind(a.company_id.0)
                .bind(a.id.0)
                .bind(a.kind.as_str())
                .bind(subject)
                .bind(a.user_id.map(|u| u.0))
                .bind(a.message.clone())
                .bind(a.details.clone())
                .bind(a.raised_at)
                .bind(a.resolved_at),
                codec::alert,
            )
            .await?;
            if let Some(stored) = inserted {
                return Ok(Ingested {
                    stored,
                    inserted: true,
                });
            }
            // The open alert of the subject, else the alert stored before
            // under this id (a retried call).
            let existing = one(
                &mut conn,
                q("SELECT * FROM alerts
                   WHERE company_id = $1
                     AND ((kind = $2 AND subject = $3 AND resolved_at IS NULL) OR id = $4)
                   ORDER BY resolved_at IS NOT NULL LIMIT 1")
                .bind(a.company_id.0)
                .bind(a.kind.as_str())
                .bind(subject)
                .bind(a.id.0),
                codec::alert,
            )
            .await?;
            if let Some(stored) = existing {
                return Ok(Ingested {
                    stored,
                    inserted: false,
                });
            }
        }
        Err(Error::invalid_state(
            "the open alert kept changing meanwhile; try again",
        ))
    }

    async fn list_alerts(
        &self,
        company: Option<CompanyId>,
        filter: &AlertFilter,
        page: &PageRequest,
    ) -> Result<Page<Alert>> {
        let select = "SELECT * FROM alerts";
        let s = match company {
            Some(c) => Select::new(select, c.0),
            None => Select::all(select),
        };
        let (s, limit) = s
            .and_opt("id = ", filter.id.map(|id| id.0))
            .and_opt("kind = ", filter.kind.map(AlertKind::as_str))
            .and_opt("(resolved_at IS NULL) = ", filter.open)
            .page_id(page)?;
        Ok(Page::from_overfetch(
            s.run(self, codec::alert).await?,
            limit,
            |a| a.id.to_string(),
        ))
    }

    async fn resolve_alert(
        &self,
        company: CompanyId,
        id: AlertId,
        at: DateTime<Utc>,
    ) -> Result<Option<Alert>> {
        // Compare and set: only an open alert is resolved, once.
        self.read_one(
            Scope::of(company),
            q("UPDATE alerts SET resolved_at = $3
               WHERE company_id = $1 AND id = $2 AND resolved_at IS NULL RETURNING *")
            .bind(company.0)
            .bind(id.0)
            .bind(at),
            codec::alert,
        )
        .await
    }

    async fn get_alert_settings(&self, company: CompanyId) -> Result<Option<AlertSettings>> {
        self.read_one(
            Scope::of(company),
            q("SELECT company_id, settings FROM alert_settings WHERE company_id = $1")
                .bind(company.0),
            codec::alert_settings,
        )
        .await
    }

    async fn put_alert_settings(
        &self,
        settings: &AlertSettings,
        audit: NewAuditEvent,
    ) -> Result<()> {
        let doc = serde_json::to_value(settings)
            .map_err(|e| codec::corrupt("settings", e.to_string()))?;
        self.in_tx(Scope::of(settings.company_id), async |tx| {
            // Written only for a known company, in the statement that checks it.
            let written = exec(
                tx,
                q(
                    "INSERT INTO alert_settings (company_id, settings, updated_at)
                   SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM companies WHERE id = $1)
                   ON CONFLICT (company_id) DO UPDATE SET
                     settings = excluded.settings, updated_at = excluded.updated_at",
                )
                .bind(settings.company_id.0)
                .bind(doc)
                .bind(settings.updated_at),
            )
            .await?;
            if written == 0 {
                return Err(Error::not_found("company"));
            }
            append(tx, audit).await?;
            Ok(())
        })
        .await
    }

    async fn insert_deliveries(&self, records: &[DeliveryRecord]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        // One statement; a record stored already (a retried call) is kept.
        exec(
            &mut *self.conn(Scope::of_all(records.iter().map(|r| r.company_id))).await?,
            q("INSERT INTO alert_deliveries (company_id, id, alert_id, event, url, attempt, at, status, error, delivered)
               SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::int[],
                                    $7::timestamptz[], $8::int[], $9::text[], $10::bool[])
               ON CONFLICT (company_id, id) DO NOTHING")
            .bind(records.iter().map(|r| r.company_id.0).collect::<Vec<_>>())
            .bind(records.iter().map(|r| r.id.0).collect::<Vec<_>>())
            .bind(records.iter().map(|r| r.alert_id.0).collect::<Vec<_>>())
            .bind(records.iter().map(|r| r.event.as_str()).collect::<Vec<_>>())
            .bind(records.iter().map(|r| r.url.clone()).collect::<Vec<_>>())
            .bind(records.iter().map(|r| int32(r.attempt)).collect::<Vec<_>>())
            .bind(records.iter().map(|r| r.at).collect::<Vec<_>>())
            .bind(records.iter().map(|r| r.status.map(i32::from)).collect::<Vec<_>>())
            .bind(records.iter().map(|r| r.error.clone()).collect::<Vec<_>>())
            .bind(records.iter().map(|r| r.delivered).collect::<Vec<_>>()),
        )
        .await
        .map(drop)
    }

    async fn list_deliveries(
        &self,
        company: CompanyId,
        alert: AlertId,
    ) -> Result<Vec<DeliveryRecord>> {
        self.read_all(
            Scope::of(company),
            q("SELECT * FROM alert_deliveries WHERE company_id = $1 AND alert_id = $2 ORDER BY id")
                .bind(company.0)
                .bind(alert.0),
            codec::delivery,
        )
        .await
    }

    async fn get_alert(&self, company: CompanyId, id: AlertId) -> Result<Option<Alert>> {
        self.by_key("alerts", company, id.0, codec::alert).await
    }

    async fn open_alerts(&self, company: Option<CompanyId>, kind: AlertKind) -> Result<Vec<Alert>> {
        match company {
            Some(c) => {
                self.read_all(
                    Scope::of(c),
                    q("SELECT * FROM alerts WHERE company_id = $1 AND kind = $2 AND resolved_at IS NULL
                       ORDER BY id")
                    .bind(c.0)
                    .bind(kind.as_str()),
                    codec::alert,
                )
                .await
            }
            // The alert job's sweep over every company: open alerts are few,
            // and the partial unique index holds only them.
            None => {
                self.read_all(
                    Scope::Platform,
                    q("SELECT * FROM alerts WHERE kind = $1 AND resolved_at IS NULL
                       ORDER BY company_id, id")
                    .bind(kind.as_str()),
                    codec::alert,
                )
                .await
            }
        }
    }
}
